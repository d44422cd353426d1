package main

import (
	"reflect"
	"testing"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		in   string
		want Line
	}{
		// Passes.
		{"ok level1/null-syscall", Line{Kind: Pass, Test: "level1/null-syscall"}},
		{"ok level1/null-syscall\r", Line{Kind: Pass, Test: "level1/null-syscall"}},
		{"ok mm/pagetable/map 12ms", Line{Kind: Pass, Test: "mm/pagetable/map"}},
		{"ok", Line{Kind: Malformed}},
		{"ok nosuite", Line{Kind: Malformed}},
		{"ok /name", Line{Kind: Malformed}},
		{"okay then", Line{Kind: Other}},
		{"  ok level1/x", Line{Kind: Other}}, // indented: not protocol

		// Failures.
		{"FAIL level1/getpid: returned 0, want 1", Line{Kind: Fail, Test: "level1/getpid", Why: "returned 0, want 1"}},
		{"FAIL level1/getpid:", Line{Kind: Fail, Test: "level1/getpid"}},
		{"FAIL level1/getpid: a: b: c", Line{Kind: Fail, Test: "level1/getpid", Why: "a: b: c"}},
		{"FAIL level1/getpid", Line{Kind: Malformed}},
		{"FAIL", Line{Kind: Malformed}},
		{"FAILED to mount", Line{Kind: Other}},

		// Skips.
		{"SKIP level2/pkey-switch: pku CPUID.7.ECX.PKU=0", Line{Kind: Skip, Test: "level2/pkey-switch", Feature: "pku", Why: "CPUID.7.ECX.PKU=0"}},
		{"SKIP vmx/launch: vmx", Line{Kind: Skip, Test: "vmx/launch", Feature: "vmx"}},
		{"SKIP mm/pcid: invpcid no INVPCID on this CPU", Line{Kind: Skip, Test: "mm/pcid", Feature: "invpcid", Why: "no INVPCID on this CPU"}},
		{"SKIP level2/x: PKU missing", Line{Kind: Malformed}},
		{"SKIP level2/x: ", Line{Kind: Malformed}},
		{"SKIP level2/x", Line{Kind: Malformed}},
		{"SKIPPING nothing", Line{Kind: Other}},

		// The final line.
		{"kernel: 12 passed, 0 failed, 3 skipped", Line{Kind: Final, Counts: Counts{12, 0, 3}}},
		{"kernel: 0 passed, 2 failed, 0 skipped\r", Line{Kind: Final, Counts: Counts{0, 2, 0}}},
		{"kernel: 12 passed, 0 failed", Line{Kind: Malformed}},
		{"kernel: 12 passed, 0 failed, 3 skipped, 1 flaky", Line{Kind: Malformed}},
		{"kernel: starting suites", Line{Kind: Other}},
		{"kernel: 31 MiB of memory available, 48 MiB needed", Line{Kind: Other}},
		{"kernel: 3 passed", Line{Kind: Malformed}},
		{"kernel: 3 passed; 0 failed; 0 skipped", Line{Kind: Malformed}},

		// Fatal lines.
		{"kernel: panic: bad command line: bogus==", Line{Kind: Fatal}},
		{"kernel: fault: vector 14 (#PF) cr2=0x0 rip=0x1234", Line{Kind: Fatal}},
		{"kernel: fault", Line{Kind: Fatal}},
		{"panic: runtime error: index out of range [3] with length 3", Line{Kind: Fatal}},
		{"fatal error: out of memory", Line{Kind: Fatal}},
		{"unexpected fault address 0xdeadbeef", Line{Kind: Fatal}},
		{"panicking about nothing", Line{Kind: Other}},

		// Other text.
		{"", Line{Kind: Other}},
		{"beelzebox: booting, 512 MiB", Line{Kind: Other}},
		{"goroutine 1 [running]:", Line{Kind: Other}},
	}
	for _, tt := range tests {
		got := ParseLine(tt.in)
		if got.Kind != tt.want.Kind || got.Test != tt.want.Test || got.Why != tt.want.Why ||
			got.Feature != tt.want.Feature || got.Counts != tt.want.Counts {
			t.Errorf("ParseLine(%q) = %+v\nwant kind %v test %q why %q feature %q counts %v",
				tt.in, got, tt.want.Kind, tt.want.Test, tt.want.Why, tt.want.Feature, tt.want.Counts)
		}
		if got.Kind == Malformed && got.Problem == "" {
			t.Errorf("ParseLine(%q): malformed without a problem", tt.in)
		}
	}
}

func TestParseLineKeepsText(t *testing.T) {
	l := ParseLine("ok a/b\r\n")
	if l.Text != "ok a/b" {
		t.Errorf("Text = %q, want the line without its line end", l.Text)
	}
}

func TestParseBench(t *testing.T) {
	tests := []struct {
		in     string
		kind   Kind
		name   string
		fields []Field
	}{
		{"bench null-syscall median=312 min=308 unit=cycles", Bench, "null-syscall",
			[]Field{{"median", "312"}, {"min", "308"}, {"unit", "cycles"}}},
		{"bench level1-switch median=900 min=880 unit=instructions ratio=2.88", Bench, "level1-switch",
			[]Field{{"median", "900"}, {"min", "880"}, {"unit", "instructions"}, {"ratio", "2.88"}}},
		{"bench x median=1 min=1 unit=ns batch=4", Bench, "x",
			[]Field{{"median", "1"}, {"min", "1"}, {"unit", "ns"}, {"batch", "4"}}},
		{"bench x median=1 min=1", Malformed, "", nil},
		{"bench x median=1.5 min=1 unit=ns", Malformed, "", nil},
		{"bench x median=1 min=-1 unit=ns", Malformed, "", nil},
		{"bench x median=1 min=1 unit=ns ratio=fast", Malformed, "", nil},
		{"bench x median=1 median=2 min=1 unit=ns", Malformed, "", nil},
		{"bench x", Malformed, "", nil},
		{"bench x median = 1", Malformed, "", nil},
		{"benchmarks start", Other, "", nil},
	}
	for _, tt := range tests {
		l := ParseLine(tt.in)
		if l.Kind != tt.kind {
			t.Errorf("ParseLine(%q).Kind = %v (%s), want %v", tt.in, l.Kind, l.Problem, tt.kind)
			continue
		}
		if tt.kind != Bench {
			continue
		}
		if l.Bench.Name != tt.name || !reflect.DeepEqual(l.Bench.Fields, tt.fields) {
			t.Errorf("ParseLine(%q).Bench = %+v", tt.in, l.Bench)
		}
		// Re-printing gives back the kernel's text after "bench ".
		if got := "bench " + l.Bench.String(); got != tt.in {
			t.Errorf("re-printed %q, want %q", got, tt.in)
		}
	}
}
