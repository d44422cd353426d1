package main

import (
	"strings"
	"testing"
	"time"
)

// transcript splits a console transcript into lines.
func transcript(s string) []string {
	return strings.Split(strings.TrimPrefix(s, "\n"), "\n")
}

const goodRun = `
beelzebox: booting
ok level1/null-syscall
ok level1/getpid
SKIP vmx/launch: vmx no VMX on this CPU
kernel: 2 passed, 0 failed, 1 skipped`

const bochsRun = `
ok vmx/launch
SKIP cpu/avx512: avx512 not on this model
kernel: 1 passed, 0 failed, 1 skipped`

var (
	qemuOK      = Outcome{Emu: QEMU, Status: 1}
	qemuCode1   = Outcome{Emu: QEMU, Status: 3}
	qemuTriple  = Outcome{Emu: QEMU, Status: 0}
	qemuTimeout = Outcome{Emu: QEMU, Status: -1, TimedOut: true, Timeout: time.Minute}
	bochsEnd    = Outcome{Emu: Bochs, Status: 1}
)

func TestVerdict(t *testing.T) {
	qemuMax := Boot{Name: "q", Emu: QEMU, CPU: "max"}
	qemuNoPKU := Boot{Name: "q", Emu: QEMU, CPU: "max,-pku",
		Patterns: []string{`^SKIP level2/.*: pku\b|level 2 needs protection keys`}}
	bochsTL := Boot{Name: "b", Emu: Bochs, CPU: "tigerlake"}
	kfault := Boot{Name: "kf", Emu: QEMU, CPU: "max", Expect: ExpectFail,
		Patterns: []string{`^kernel: fault`, `vector 14|#PF`, `cr2=`, `beelzebox/\S*\.go:\d+`}}
	badCmd := Boot{Name: "bc", Emu: QEMU, CPU: "max", Expect: ExpectFail,
		Patterns: []string{`^kernel: panic: bad command line`}}
	bochsFail := Boot{Name: "bf", Emu: Bochs, CPU: "tigerlake", Expect: ExpectFail,
		Patterns: []string{`^kernel: panic:`}}
	panicOnce := Boot{Name: "po", Emu: QEMU, CPU: "max", Expect: ExpectFail,
		Once: []string{`^kernel: panic:`}}

	const kfaultRun = `
beelzebox: booting
kernel: fault: vector 14 (#PF) err=0x2 cr2=0x0 rip=0x1a2b3c
  beelzebox/kernel/trap.go:88 beelzebox/kernel.kfault
  beelzebox/kernel/main.go:40 beelzebox/kernel.Main`

	tests := []struct {
		name    string
		boot    Boot
		console string
		outcome Outcome
		ok      bool
		// problems are substrings that the verdict's problems must contain,
		// each in some problem.
		problems []string
	}{
		{"clean pass", qemuMax, goodRun, qemuOK, true, nil},
		{"CRLF console", qemuMax, strings.ReplaceAll(goodRun, "\n", "\r\n"), qemuOK, true, nil},
		{"a FAIL line", qemuMax, `
ok level1/a
FAIL level1/b: got 3
kernel: 1 passed, 1 failed, 0 skipped`, qemuCode1, false,
			[]string{"FAIL level1/b: got 3", "kernel exit code 1"}},
		{"FAIL line with a lying final line", qemuMax, `
ok level1/a
FAIL level1/b: got 3
kernel: 2 passed, 0 failed, 0 skipped`, qemuOK, false,
			[]string{"FAIL level1/b", "final line says 2 passed, 0 failed, 0 skipped but the console has 1 ok, 1 FAIL and 0 SKIP lines"}},
		{"missing final line", qemuMax, `
ok level1/a
ok level1/b`, qemuOK, false, []string{"missing final line"}},
		{"final line disagrees: lost output", qemuMax, `
ok level1/a
kernel: 2 passed, 0 failed, 0 skipped`, qemuOK, false, []string{"final line says 2 passed"}},
		{"final line twice", qemuMax, goodRun + "\nkernel: 2 passed, 0 failed, 1 skipped", qemuOK, false,
			[]string{"final line printed 2 times"}},
		{"kernel panic line", qemuMax, `
ok level1/a
kernel: panic: out of page tables
kernel: 1 passed, 0 failed, 0 skipped`, qemuOK, false, []string{"kernel died: kernel: panic: out of page tables"}},
		{"Go runtime fatal error", qemuMax, `
ok level1/a
fatal error: all goroutines are asleep - deadlock!`, qemuCode1, false,
			[]string{"kernel died: fatal error: all goroutines", "missing final line"}},
		{"triple fault", qemuMax, goodRun, qemuTriple, false, []string{"QEMU exit status 0: the guest reset or triple-faulted"}},
		{"nonzero kernel exit code", qemuMax, goodRun, qemuCode1, false, []string{"kernel exit code 1"}},
		{"timeout", qemuMax, "ok level1/a", qemuTimeout, false, []string{"timed out after 1m0s", "missing final line"}},
		{"malformed skip", qemuMax, `
ok level1/a
SKIP level2/b: PKU missing
kernel: 1 passed, 0 failed, 1 skipped`, qemuOK, false,
			[]string{`malformed protocol line "SKIP level2/b: PKU missing"`, "final line says"}},

		// SKIP tokens come from one closed list, manifest or not.
		{"unknown SKIP token", qemuMax, `
ok level1/a
SKIP level2/pkey: pkeys not detected
kernel: 1 passed, 0 failed, 1 skipped`, qemuOK, false,
			[]string{`SKIP level2/pkey: pkeys not detected: unknown SKIP feature "pkeys"`}},
		{"known SKIP token", qemuMax, `
ok level1/a
SKIP cpu/vmx: vmx
kernel: 1 passed, 0 failed, 1 skipped`, qemuOK, true, nil},
		{"max,-pku accepts the level-2 message", qemuNoPKU, `
ok level1/a
level 2 needs protection keys; skipping it
kernel: 1 passed, 0 failed, 0 skipped`, qemuOK, true, nil},
		{"max,-pku without the skip", qemuNoPKU, `
ok level1/a
ok level2/pkey
kernel: 2 passed, 0 failed, 0 skipped`, qemuOK, false, []string{"no console line matches"}},
		{"bochs tigerlake may skip svm", bochsTL, `
ok level1/a
SKIP cpu/svm: vmx Intel model
kernel: 1 passed, 0 failed, 1 skipped`, bochsEnd, true, nil},
		{"bochs exit status does not matter", bochsTL, bochsRun, Outcome{Emu: Bochs, Status: 1}, true, nil},
		{"bochs panic other than shutdown", bochsTL, bochsRun,
			Outcome{Emu: Bochs, Status: 1, Note: "exception(): 3rd (13) exception with no resolution"}, false,
			[]string{"bochs stopped: exception(): 3rd (13)"}},

		// Expected failures.
		{"a report printed once", panicOnce, "kernel: panic: on CPU 1", qemuCode1, true, nil},
		{"a report printed twice", panicOnce, "kernel: panic: on CPU 1\nkernel: panic: on CPU 0", qemuCode1, false,
			[]string{`2 console lines match "^kernel: panic:", want one`}},
		{"a report never printed", panicOnce, "ok level1/a", qemuCode1, false, []string{`no console line matches "^kernel: panic:"`}},
		{"kfault as expected", kfault, kfaultRun, qemuCode1, true, nil},
		{"kfault by triple fault", kfault, kfaultRun, qemuTriple, true, nil},
		{"kfault without a symbolized frame", kfault, `
kernel: fault: vector 14 (#PF) err=0x2 cr2=0x0 rip=0x1a2b3c
  0x1a2b3c ?`, qemuCode1, false, []string{`no console line matches "beelzebox/`}},
		{"kfault that exits with success", kfault, kfaultRun, qemuOK, false,
			[]string{"the run ended in success"}},
		{"kfault that hangs", kfault, kfaultRun, qemuTimeout, false, []string{"timed out"}},
		{"bad command line", badCmd, "kernel: panic: bad command line: bogus==", qemuCode1, true, nil},
		{"bad command line accepted", badCmd, goodRun, qemuOK, false,
			[]string{`no console line matches "^kernel: panic: bad command line"`, "the run ended in success"}},
		{"expected failure on bochs", bochsFail, "kernel: panic: out of memory", bochsEnd, true, nil},
		{"expected failure on bochs that passes", bochsFail, goodRun + "\nkernel: panic: late", bochsEnd, true, nil},
		{"expected failure on bochs without a fault", bochsFail, bochsRun, bochsEnd, false,
			[]string{"without a fault or panic"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewChecker(tt.boot, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range transcript(tt.console) {
				c.Observe(l)
			}
			v := c.Verdict(tt.outcome)
			if v.OK != tt.ok || v.OK != (len(v.Problems) == 0) {
				t.Errorf("OK = %v, want %v; problems:\n%s", v.OK, tt.ok, joinProblems(v.Problems))
			}
			for _, want := range tt.problems {
				found := false
				for _, p := range v.Problems {
					if strings.Contains(p, want) {
						found = true
					}
				}
				if !found {
					t.Errorf("no problem mentions %q; problems:\n%s", want, joinProblems(v.Problems))
				}
			}
		})
	}
}

func TestVerdictListsAtMostSomeFailures(t *testing.T) {
	c, _ := NewChecker(Boot{Name: "q", Emu: QEMU, CPU: "max"}, nil)
	for i := range 20 {
		c.Observe("FAIL s/t" + string(rune('a'+i)) + ": no")
	}
	v := c.Verdict(qemuCode1)
	if len(v.Problems) > maxListed+4 {
		t.Errorf("%d problems for 20 FAIL lines, want them summarised:\n%s", len(v.Problems), joinProblems(v.Problems))
	}
	if !strings.Contains(joinProblems(v.Problems), "and 12 more") {
		t.Errorf("no count of the unlisted failures:\n%s", joinProblems(v.Problems))
	}
}

func TestVerdictSummary(t *testing.T) {
	c, _ := NewChecker(Boot{Name: "q", Emu: QEMU, CPU: "max"}, nil)
	for _, l := range transcript(goodRun) {
		c.Observe(l)
	}
	if got := c.Verdict(qemuOK).Summary(); got != "2 passed, 0 failed, 1 skipped" {
		t.Errorf("Summary = %q", got)
	}
	c2, _ := NewChecker(Boot{Name: "q", Emu: QEMU, CPU: "max"}, nil)
	c2.Observe("ok a/b")
	got := c2.Verdict(qemuTriple).Summary()
	if !strings.HasPrefix(got, "no final line (1 ok, 0 FAIL, 0 SKIP lines); ") || !strings.Contains(got, "(and 1 more)") {
		t.Errorf("Summary = %q", got)
	}
}

func TestVerdictSummaryNamesTheFatalLine(t *testing.T) {
	c, _ := NewChecker(Boot{Name: "q", Emu: QEMU, CPU: "max"}, nil)
	for _, l := range []string{"beelzebox: booting", "kernel: panic: not enough memory", "kernel: panic: again"} {
		c.Observe(l)
	}
	v := c.Verdict(qemuCode1)
	if v.Fatal != "kernel: panic: not enough memory" || !strings.HasPrefix(v.Summary(), "kernel: panic: not enough memory; ") {
		t.Errorf("Fatal %q, Summary %q", v.Fatal, v.Summary())
	}
}

func TestCheckerCollectsBench(t *testing.T) {
	b := Boot{Name: "bench", Emu: QEMUICount, CPU: "max", Suites: "bench"}
	c, _ := NewChecker(b, nil)
	for _, l := range transcript(`
bench null-syscall median=312 min=308 unit=cycles
ok bench/null-syscall
bench level1 median=900 min=880 unit=cycles ratio=2.88
ok bench/level1
kernel: 2 passed, 0 failed, 0 skipped`) {
		c.Observe(l)
	}
	v := c.Verdict(Outcome{Emu: QEMUICount, Status: 1})
	if !v.OK {
		t.Fatalf("problems:\n%s", joinProblems(v.Problems))
	}
	got := c.Bench()
	if len(got) != 2 || got[0].Name != "null-syscall" || got[1].Get("ratio") != "2.88" {
		t.Errorf("Bench() = %+v", got)
	}
}

func TestDescribeQEMUStatus(t *testing.T) {
	for status, want := range map[int]string{
		-1: "killed",
		0:  "triple-faulted",
		1:  "kernel exit code 0",
		3:  "kernel exit code 1",
		9:  "kernel exit code 4",
		2:  "QEMU exit status 2",
	} {
		if got := describeQEMUStatus(status); !strings.Contains(got, want) {
			t.Errorf("describeQEMUStatus(%d) = %q, want it to mention %q", status, got, want)
		}
	}
}
