package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTables checks the data in table.go: every entry valid, names unique,
// and the boots the project relies on present with their essentials.
func TestTables(t *testing.T) {
	for _, table := range [][]Boot{testTable, benchTable, fuzzTable} {
		names := map[string]bool{}
		for _, b := range table {
			if err := b.Validate(); err != nil {
				t.Error(err)
			}
			if names[b.Name] {
				t.Errorf("boot name %q used twice", b.Name)
			}
			names[b.Name] = true
		}
	}

	byName := func(name string) Boot {
		for _, b := range append(slices.Clone(testTable), benchTable...) {
			if b.Name == name {
				return b
			}
		}
		t.Fatalf("no boot %q in the tables", name)
		return Boot{}
	}
	if b := byName("qemu-nopku"); b.Expect != ExpectPass || b.CPU != "max,-pku" || b.CommandLine() != "suites=level1,level2,levels" {
		t.Errorf("qemu-nopku = %+v", b)
	}
	if b := byName("qemu-kfault"); b.Expect != ExpectFail || !strings.Contains(b.CommandLine(), "test=kfault") {
		t.Errorf("qemu-kfault = %+v", b)
	}
	if b := byName("qemu-lowmem"); b.Expect != ExpectFail || b.memory() != "32M" {
		t.Errorf("qemu-lowmem = %+v", b)
	}
	if b := byName("bochs-tigerlake"); b.Emu != Bochs || b.CPU != "tigerlake" || !strings.Contains(b.CommandLine(), "console=e9") {
		t.Errorf("bochs-tigerlake = %+v", b)
	}
	if b := byName("bench-qemu-icount"); b.Emu != QEMUICount || b.Repeat != 2 || b.CommandLine() != "suites=bench" {
		t.Errorf("bench-qemu-icount = %+v", b)
	}
}

// TestManifests checks the checked-in manifests against the tables: every
// boot that must pass has one, every manifest belongs to such a boot, and
// every bench figure a manifest names has a ceiling.
func TestManifests(t *testing.T) {
	pass := map[string]bool{}
	for _, b := range slices.Concat(testTable, benchTable, fuzzTable) {
		if b.Expect != ExpectPass {
			continue
		}
		pass[b.Name] = true
		m, err := loadManifest(b.Name)
		switch {
		case err != nil:
			t.Error(err)
		case m == nil:
			t.Errorf("boot %s has no manifest %s/%s.txt (go run ./qemu manifest -write -only %s)", b.Name, manifestDir, b.Name, b.Name)
		case len(m.Tests) == 0:
			t.Errorf("manifest %s lists no tests", b.Name)
		default:
			for _, f := range m.Bench {
				if !hasCeiling(benchCeilings, f) {
					t.Errorf("manifest %s: bench figure %s has no ceiling in benchCeilings", b.Name, f)
				}
			}
		}
	}
	names, err := manifestNames()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if !pass[name] {
			t.Errorf("manifest %s.txt belongs to no boot of the tables that must pass", name)
		}
	}
	for _, c := range benchCeilings {
		if c.Source == "" || c.Max == 0 {
			t.Errorf("ceiling of %s: needs a bound and its source: %+v", c.Figure, c)
		}
		if c.Over != "" && !hasCeiling(benchCeilings, c.Over) {
			t.Errorf("ceiling of %s is relative to %s, which has no ceiling of its own", c.Figure, c.Over)
		}
	}
}

// TestTablePatternsMatchTheirFailures feeds each expected-failure boot the
// kind of console the kernel is specified to print, so a pattern typo shows
// up here rather than as a mysterious CI failure.
func TestTablePatternsMatchTheirFailures(t *testing.T) {
	consoles := map[string]string{
		"qemu-kfault": "kernel: trap #PF page fault (vector 14) in Go code, thread 1, signal 11\n" +
			"  err=0x2 cr2=0xdead000 rip=0x10d5666 rsp=0x351135956e40 rflags=0x246 cs=0x8\n" +
			"unexpected fault address 0xdead000\nfatal error: fault\n" +
			"beelzebox/tests.FaultInGo()\n\tbeelzebox/tests/faults.go:23 +0x46 fp=0x351135956e68 sp=0x351135956e40 pc=0x10d5666",
		"qemu-hfault": "kernel: fault: #PF page fault (vector 14) thread 1\n" +
			"  err=0x0 cr2=0xdead000 rip=0x10c2144 rsp=0xffffc00000010ee0 rflags=0x2 cs=0x8\n" +
			"kernel: backtrace:\n  0x10c2144 beelzebox/syscall.faultingCall (beelzebox/syscall/call.go:23)",
		"qemu-badcmdline": "kernel: panic: bad command line: \"bogus==\"",
		"qemu-lowmem":     "kernel: panic: not enough memory: 31 MiB, need 64 MiB",
		"qemu-smp-panic":  "kernel: test=smppanic: 2 CPUs panic at once\nkernel: panic: test=smppanic: every CPU panics at once",
	}
	for _, b := range testTable {
		console, ok := consoles[b.Name]
		if !ok {
			if b.Expect == ExpectFail {
				t.Errorf("expected failure %s has no sample console in this test", b.Name)
			}
			continue
		}
		c, err := NewChecker(b, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(console, "\n") {
			c.Observe(l)
		}
		status := 3
		if b.Expect == ExpectPass {
			status = 1
		}
		if v := c.Verdict(Outcome{Emu: b.Emu, Status: status}); !v.OK {
			t.Errorf("%s: sample console fails:\n%s", b.Name, joinProblems(v.Problems))
		}
	}
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		boot Boot
		want string
	}{
		{Boot{Emu: QEMU}, ""},
		{Boot{Emu: QEMU, Suites: "all"}, "suites=all"},
		{Boot{Emu: QEMU, Suites: "level1,level2", Append: " test=kfault  quiet "}, "suites=level1,level2 test=kfault quiet"},
		{Boot{Emu: Bochs, Suites: "all"}, "suites=all console=e9"},
		{Boot{Emu: Bochs, Append: "console=e9"}, "console=e9"},
		{Boot{Emu: QEMU, Append: "bogus=="}, "bogus=="},
	}
	for _, tt := range tests {
		if got := tt.boot.CommandLine(); got != tt.want {
			t.Errorf("%+v.CommandLine() = %q, want %q", tt.boot, got, tt.want)
		}
	}
	if !(Boot{Emu: QEMU, Append: "console=e9"}).usesE9() || (Boot{Emu: QEMU, Append: "console=e9x"}).usesE9() {
		t.Error("usesE9 must match the whole word console=e9")
	}
}

func TestValidate(t *testing.T) {
	good := Boot{Name: "x", Emu: QEMU, CPU: "max"}
	tests := []struct {
		name string
		edit func(*Boot)
		want string
	}{
		{"good", func(*Boot) {}, ""},
		{"no name", func(b *Boot) { b.Name = "" }, "no name"},
		{"bad emulator", func(b *Boot) { b.Emu = "kvm" }, "unknown emulator"},
		{"no cpu", func(b *Boot) { b.CPU = "" }, "no CPU"},
		{"bochs modifiers", func(b *Boot) { b.Emu, b.CPU = Bochs, "tigerlake,-pku" }, "no feature modifiers"},
		{"bad memory", func(b *Boot) { b.Memory = "lots" }, "bad memory size"},
		{"bad pattern", func(b *Boot) { b.Patterns = []string{"("} }, "pattern"},
		{"fail without patterns", func(b *Boot) { b.Expect = ExpectFail }, "needs patterns"},
		{"repeat off icount", func(b *Boot) { b.Repeat = 2 }, "qemu-icount"},
	}
	for _, tt := range tests {
		b := good
		tt.edit(&b)
		err := b.Validate()
		if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestMemoryMiB(t *testing.T) {
	for in, want := range map[string]int{"512M": 512, "512": 512, "1G": 1024, "2g": 2048, "32m": 32, "65536K": 64} {
		if got, err := memoryMiB(in); err != nil || got != want {
			t.Errorf("memoryMiB(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "M", "0M", "-1M", "1.5G", "12T", "1000K", "0x10M"} {
		if got, err := memoryMiB(in); err == nil {
			t.Errorf("memoryMiB(%q) = %d, want an error", in, got)
		}
	}
}

func TestTimeoutDefaults(t *testing.T) {
	if got := (Boot{Emu: QEMU}).timeout(); got != 2*time.Minute {
		t.Errorf("QEMU default timeout %v", got)
	}
	if got := (Boot{Emu: Bochs}).timeout(); got != 10*time.Minute {
		t.Errorf("Bochs default timeout %v", got)
	}
	if got := (Boot{Emu: Bochs, Timeout: time.Second}).timeout(); got != time.Second {
		t.Errorf("explicit timeout %v", got)
	}
}

func TestSelectBoots(t *testing.T) {
	table := []Boot{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	if got, err := selectBoots(table, ""); err != nil || len(got) != 3 {
		t.Errorf("all: %v, %v", got, err)
	}
	if got, err := selectBoots(table, "c,a"); err != nil || len(got) != 2 || got[0].Name != "c" || got[1].Name != "a" {
		t.Errorf("c,a: %v, %v", got, err)
	}
	if _, err := selectBoots(table, "a,zz"); err == nil || !strings.Contains(err.Error(), `"zz"`) || !strings.Contains(err.Error(), "a, b, c") {
		t.Errorf("unknown name: %v", err)
	}
}
