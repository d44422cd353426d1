package main

import (
	"strings"
	"testing"
)

// sampleManifest is the manifest the run-judging tests hold consoles to.
const sampleManifest = `
# a comment
level1/a ok
level2/b SKIP pku
ring3/xm XFAIL no #XM
bench level1-round-trip
bench level2-round-trip
`

// sampleRun satisfies sampleManifest: one XFAIL, so kernel exit code 1.
const sampleRun = `
ok level1/a
SKIP level2/b: pku CPUID.7.ECX.PKU=0
FAIL ring3/xm: no #XM: the CPU completed an unmasked SSE division by zero
bench level1-round-trip median=711 min=700 unit=cycles ratio=4.87
bench level2-round-trip median=714 min=705 unit=cycles ratio=4.89
kernel: 1 passed, 1 failed, 1 skipped`

// qemuTestsFailed is QEMU's status when the kernel exits with its
// tests-failed code.
var qemuTestsFailed = Outcome{Emu: QEMU, Status: testsFailedExitCode<<1 | 1}

// judge runs console through a checker holding it to manifest.
func judge(t *testing.T, manifest, console string, o Outcome) Verdict {
	t.Helper()
	m, err := ParseManifest(manifest)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewChecker(Boot{Name: "q", Emu: o.Emu, CPU: "max"}, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range transcript(console) {
		c.Observe(l)
	}
	return c.Verdict(o)
}

// TestManifestVerdict proves the runner fails every kind of wrong run
// that a manifest describes.
func TestManifestVerdict(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(sampleRun, old) {
			t.Fatalf("sample run has no %q", old)
		}
		return strings.Replace(sampleRun, old, new, 1)
	}
	tests := []struct {
		name    string
		console string
		outcome Outcome
		want    string // a substring of some problem; "" means the run passes
	}{
		{"the run the manifest describes", sampleRun, qemuTestsFailed, ""},
		{"missing test", replace("ok level1/a\n", ""), qemuTestsFailed,
			"missing test level1/a (the manifest says ok)"},
		{"extra test", replace("ok level1/a\n", "ok level1/a\nok level1/new\n"), qemuTestsFailed,
			"extra test level1/new: ok (not in the manifest)"},
		{"changed verdict: FAIL for ok", replace("ok level1/a", "FAIL level1/a: broke"), qemuTestsFailed,
			"changed verdict level1/a: the manifest says ok, the run says FAIL: broke"},
		{"unexpected SKIP", replace("ok level1/a", "SKIP level1/a: pku gone"), qemuTestsFailed,
			"changed verdict level1/a: the manifest says ok, the run says SKIP pku"},
		{"SKIP of another feature", replace("SKIP level2/b: pku", "SKIP level2/b: vmx"), qemuTestsFailed,
			"changed verdict level2/b: the manifest says SKIP pku, the run says SKIP vmx"},
		{"unknown SKIP token", replace("SKIP level2/b: pku", "SKIP level2/b: simdfp"), qemuTestsFailed,
			`unknown SKIP feature "simdfp"`},
		{"expected failure that passes", replace("FAIL ring3/xm: no #XM: the CPU completed an unmasked SSE division by zero", "ok ring3/xm"), qemuOK,
			"changed verdict ring3/xm: the manifest says XFAIL no #XM, the run says ok"},
		{"expected failure that fails another way", replace("no #XM: the CPU", "#GP instead: the CPU"), qemuTestsFailed,
			"changed verdict ring3/xm: the manifest says XFAIL no #XM"},
		{"test reported twice", replace("ok level1/a\n", "ok level1/a\nok level1/a\n"), qemuTestsFailed,
			"test level1/a reported more than once"},
		{"kernel exit code 0 despite a FAIL", sampleRun, qemuOK, "want 3 (kernel exit code 1)"},
		{"bench figure over its ceiling", replace("level1-round-trip median=711", "level1-round-trip median=791"), qemuTestsFailed,
			"bench level1-round-trip median=791 is over its ceiling 790"},
		{"bench figure over a relative ceiling", replace("level2-round-trip median=714", "level2-round-trip median=728"), qemuTestsFailed,
			"bench level2-round-trip median=728 is over its ceiling level1-round-trip + 16 = 727"},
		{"missing bench figure", replace("bench level2-round-trip median=714 min=705 unit=cycles ratio=4.89\n", ""), qemuTestsFailed,
			"missing bench figure level2-round-trip"},
		{"extra bench figure", replace("kernel: 1", "bench new-figure median=1 min=1 unit=cycles\nkernel: 1"), qemuTestsFailed,
			"extra bench figure new-figure (not in the manifest)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := judge(t, sampleManifest, tt.console, tt.outcome)
			if tt.want == "" {
				if !v.OK {
					t.Fatalf("a run as the manifest says failed:\n%s", joinProblems(v.Problems))
				}
				return
			}
			if v.OK {
				t.Fatalf("passed; want a problem %q", tt.want)
			}
			if !strings.Contains(joinProblems(v.Problems), tt.want) {
				t.Errorf("no problem mentions %q; problems:\n%s", tt.want, joinProblems(v.Problems))
			}
		})
	}
}

func TestParseManifestRefuses(t *testing.T) {
	for text, want := range map[string]string{
		"level1/a ok\nlevel1/a ok":   "line 2",
		"level1/a SKIP simdfp":       `SKIP feature "simdfp" is not in the closed list`,
		"level1/a SKIP":              `SKIP feature ""`,
		"level1/a XFAIL":             "XFAIL needs the text",
		"level1/a passes":            "verdict must be",
		"level1/a ok extra":          "verdict must be",
		"nosuite ok":                 "want",
		"bench":                      "bench <figure>",
		"bench a b":                  "bench <figure>",
		"bench a\nbench a":           "bench figure listed twice",
		"level1/a ok\nlevel1/b FAIL": "verdict must be",
	} {
		if _, err := ParseManifest(text); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseManifest(%q) = %v, want an error with %q", text, err, want)
		}
	}
}

func TestManifestRoundTrip(t *testing.T) {
	m, err := ParseManifest(sampleManifest)
	if err != nil {
		t.Fatal(err)
	}
	text := m.Format([]string{"header"})
	again, err := ParseManifest(text)
	if err != nil || again.Format([]string{"header"}) != text {
		t.Errorf("formatted manifest does not parse back the same:\n%s\nerror %v", text, err)
	}
	if !strings.HasPrefix(text, "# header\nlevel1/a ok\nlevel2/b SKIP pku\nring3/xm XFAIL no #XM\nbench level1-round-trip\n") {
		t.Errorf("Format:\n%s", text)
	}
}

// TestObserved: the manifest printed from a run keeps an expected failure
// but never turns a new failure into one.
func TestObserved(t *testing.T) {
	m, _ := ParseManifest(sampleManifest)
	observe := func(console string, o Outcome) (*Manifest, error) {
		c, _ := NewChecker(Boot{Name: "q", Emu: QEMU, CPU: "max"}, m)
		for _, l := range transcript(console) {
			c.Observe(l)
		}
		return c.Observed(o)
	}
	got, err := observe(sampleRun+"\n", qemuTestsFailed)
	if err != nil || got.Format(nil) != m.Format(nil) {
		t.Errorf("observed %v, %v; want the manifest itself", got, err)
	}
	for name, tc := range map[string]struct {
		console string
		outcome Outcome
		want    string
	}{
		"new failure":   {strings.Replace(sampleRun, "ok level1/a", "FAIL level1/a: broke", 1), qemuTestsFailed, "a new failure"},
		"unknown token": {strings.Replace(sampleRun, "SKIP level2/b: pku", "SKIP level2/b: nope", 1), qemuTestsFailed, "not in the closed list"},
		"no final line": {strings.Replace(sampleRun, "kernel: 1 passed, 1 failed, 1 skipped", "", 1), qemuTestsFailed, "0 final lines"},
		"timeout":       {sampleRun, qemuTimeout, "timed out"},
		"kernel died":   {sampleRun + "\nkernel: panic: boom", qemuTestsFailed, "the kernel died"},
	} {
		if _, err := observe(tc.console, tc.outcome); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Observed error %v, want one with %q", name, err, tc.want)
		}
	}
}
