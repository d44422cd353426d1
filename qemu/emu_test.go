package main

import (
	"slices"
	"strings"
	"testing"
)

// argValue returns the argument after flag in args, or "" if absent.
func argValue(args []string, flag string) string {
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		return ""
	}
	return args[i+1]
}

func TestQEMUArgs(t *testing.T) {
	a := Artefacts{Root: "/src", Kernel: "build/kernel.elf", Initrd: "build/initramfs.cpio"}
	b := Boot{Name: "q", Emu: QEMU, CPU: "max,-pku", Memory: "32M", Suites: "level1", Append: "test=kfault"}
	args, err := qemuArgs(b, a, qemuOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{
		"-accel":   "tcg",
		"-cpu":     "max,-pku",
		"-m":       "32M",
		"-smp":     "1",
		"-display": "none",
		"-monitor": "none",
		"-serial":  "stdio",
		"-device":  "isa-debug-exit,iobase=0xf4,iosize=0x04",
		"-kernel":  "build/kernel.elf",
		"-initrd":  "build/initramfs.cpio",
		"-append":  "suites=level1 test=kfault",
	} {
		if got := argValue(args, flag); got != want {
			t.Errorf("%s %q, want %q (args %q)", flag, got, want, args)
		}
	}
	for _, absent := range []string{"-icount", "-debugcon", "-S", "-gdb"} {
		if slices.Contains(args, absent) {
			t.Errorf("plain QEMU boot has %s: %q", absent, args)
		}
	}
	if !slices.Contains(args, "-no-reboot") {
		t.Error("without -no-reboot a triple fault reboots instead of exiting with status 0")
	}
}

func TestQEMUArgsICount(t *testing.T) {
	a := Artefacts{Root: "/src", Kernel: "build/kernel.elf"}
	args, err := qemuArgs(Boot{Emu: QEMUICount, CPU: "max", Suites: "bench"}, a, qemuOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if argValue(args, "-icount") != "shift=0,sleep=off" || argValue(args, "-seed") != "1" ||
		argValue(args, "-rtc") != "base=2025-01-01T00:00:00,clock=vm" || argValue(args, "-smp") != "1" {
		t.Errorf("icount args %q", args)
	}
	if slices.Contains(args, "-initrd") {
		t.Errorf("-initrd without an initramfs: %q", args)
	}
}

func TestQEMUArgsKVM(t *testing.T) {
	a := Artefacts{Root: "/src", Kernel: "build/kernel.elf"}
	args, err := qemuArgs(Boot{Emu: QEMUKVM, CPU: "host", Suites: "all"}, a, qemuOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if argValue(args, "-accel") != "kvm" || argValue(args, "-cpu") != "host" || slices.Contains(args, "-icount") {
		t.Errorf("kvm args %q", args)
	}
}

func TestQEMUArgsE9AndGDB(t *testing.T) {
	a := Artefacts{Root: "/src", Kernel: "k.elf"}
	b := Boot{Emu: QEMU, CPU: "max", Append: "console=e9"}
	args, err := qemuArgs(b, a, qemuOptions{com1File: "/tmp/x/com1.txt", gdb: "127.0.0.1:1234"})
	if err != nil {
		t.Fatal(err)
	}
	if argValue(args, "-debugcon") != "stdio" || argValue(args, "-serial") != "file:/tmp/x/com1.txt" {
		t.Errorf("console=e9 args %q", args)
	}
	if argValue(args, "-gdb") != "tcp:127.0.0.1:1234" || !slices.Contains(args, "-S") {
		t.Errorf("gdb args %q", args)
	}
	if _, err := qemuArgs(b, Artefacts{Kernel: "k", Initrd: "a,b.cpio"}, qemuOptions{}); err == nil {
		t.Error("accepted an initrd path with a comma, which QEMU would split")
	}
}

func TestGRUBConfig(t *testing.T) {
	got := grubEmbedConfig("suites=all console=e9", true)
	want := "set root=(cd)\nmultiboot /boot/kernel.elf suites=all console=e9\nmodule /boot/initramfs.cpio\nboot\n"
	if got != want {
		t.Errorf("embedded config\n%s\nwant\n%s", got, want)
	}
	if got := grubEmbedConfig("", false); got != "set root=(cd)\nmultiboot /boot/kernel.elf\nboot\n" {
		t.Errorf("config without module:\n%s", got)
	}
	menu := grubMenuConfig("bogus== a;b", true, 3)
	wantMenu := "set timeout=3\nset default=0\n\nmenuentry \"beelzebox\" {\n" +
		"\tinsmod all_video\n" +
		"\tif file --is-x86-multiboot2 /boot/kernel.elf; then\n" +
		"\t\tmultiboot2 /boot/kernel.elf bogus== 'a;b'\n" +
		"\t\tmodule2 /boot/initramfs.cpio\n" +
		"\telse\n" +
		"\t\tmultiboot /boot/kernel.elf bogus== 'a;b'\n" +
		"\t\tmodule /boot/initramfs.cpio\n" +
		"\tfi\n" +
		"\tboot\n}\n"
	if menu != wantMenu {
		t.Errorf("menu config\n%s\nwant\n%s", menu, wantMenu)
	}
	menu = grubMenuConfig("", false, 0)
	if !strings.HasPrefix(menu, "set timeout=0\n") || strings.Contains(menu, "module") ||
		!strings.Contains(menu, "\t\tmultiboot2 /boot/kernel.elf\n") || !strings.Contains(menu, "\t\tmultiboot /boot/kernel.elf\n") {
		t.Errorf("menu config without module or command line:\n%s", menu)
	}
}

func TestGRUBQuote(t *testing.T) {
	for in, want := range map[string]string{
		"suites=all":           "suites=all",
		"suites=level1,level2": "suites=level1,level2",
		"bogus==":              "bogus==",
		"a;b":                  "'a;b'",
		"$x":                   "'$x'",
		`it's`:                 `'it'\''s'`,
		"":                     "''",
	} {
		if got := grubQuote(in); got != want {
			t.Errorf("grubQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBochsrc(t *testing.T) {
	rc := bochsrc(bochsConfig{MiB: 256, Model: "tigerlake", ISO: "/w/boot.iso", Log: "/w/bochs.log", COM1: "/dev/fd/4"})
	for _, want := range []string{
		"megs: 256\n",
		"cpu: model=tigerlake, count=1, ips=200000000, reset_on_triple_fault=0\n",
		"romimage: file=/usr/share/bochs/BIOS-bochs-latest, options=fastboot\n",
		"vgaromimage: file=/usr/share/vgabios/vgabios.bin\n",
		"ata0-master: type=cdrom, path=/w/boot.iso, status=inserted\n",
		"boot: cdrom\n",
		"com1: enabled=1, mode=file, dev=/dev/fd/4\n",
		"port_e9_hack: enabled=1\n",
		"display_library: term\n",
		"log: /w/bochs.log\n",
		"panic: action=fatal, term=report\n",
		"clock: sync=none, time0=1735689600\n",
	} {
		if !strings.Contains(rc, want) {
			t.Errorf("bochsrc lacks %q:\n%s", want, rc)
		}
	}
}

func TestBochsScriptCommand(t *testing.T) {
	got := bochsScriptCommand("/w/bochsrc", "/w/cont.rc", "/w/it's.err")
	want := `exec bochs -q -f '/w/bochsrc' -rc '/w/cont.rc' >&3 2>'/w/it'\''s.err' 3>&-`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestBochsNoise(t *testing.T) {
	// What Debian's bochs 2.7 printed on stdout around a kernel's port 0xE9
	// output (from a real run).
	noise := []string{
		"========================================================================",
		"                        Bochs x86 Emulator 2.7",
		"              Built from SVN snapshot on August  1, 2021",
		"                Timestamp: Sun Aug  1 10:07:00 CEST 2021",
		"Next at t=0",
		"(0) [0x0000fffffff0] f000:fff0 (unk. ctxt): jmpf 0xf000:e05b          ; ea5be000f0",
		"(0).[97902912] [0x0000001007d8] 0008:00000000001007d8 (unk. ctxt): out dx, al                ; ee",
		"<bochs:1> c",
	}
	for _, l := range noise {
		if !isBochsNoise(l) {
			t.Errorf("not recognised as bochs output: %q", l)
		}
	}
	console := []string{
		"ok level1/a",
		"kernel: 1 passed, 0 failed, 0 skipped",
		"SKIP vmx/x: vmx",
		"",
		"(0) is not a prefix of kernel lines, but this is fine",
		"== section ==",
		"kernel: fault: vector 14 (#PF) cr2=0x0",
	}
	for _, l := range console {
		if isBochsNoise(l) {
			t.Errorf("console line taken for bochs output: %q", l)
		}
	}
}

func TestBochsPanic(t *testing.T) {
	shutdown := "00146233683p[UNMAP ] >>PANIC<< Shutdown port: shutdown requested\n"
	if got := bochsPanic([]byte("00000i[  ] hello\n" + shutdown)); got != "" {
		t.Errorf("the kernel's shutdown request reported as a panic: %q", got)
	}
	triple := "00012345p[CPU0  ] >>PANIC<< exception(): 3rd (13) exception with no resolution\n"
	if got := bochsPanic([]byte(triple + shutdown)); got != "exception(): 3rd (13) exception with no resolution" {
		t.Errorf("bochsPanic = %q", got)
	}
	if got := bochsPanic([]byte("00114608585p[ACPI  ] >>PANIC<< ACPI control: soft power off\n")); got != "" {
		t.Errorf("an ACPI power-off reported as a panic: %q", got)
	}
	display := "00304246595p[TERM  ] >>PANIC<< 32 bpp graphics mode not supported\n"
	if got := bochsPanic([]byte(display + shutdown)); got != "" {
		t.Errorf("the term display's graphics mode panic reported as the machine's: %q", got)
	}
	if got := bochsPanic([]byte(display + triple)); got != "exception(): 3rd (13) exception with no resolution" {
		t.Errorf("a triple fault after a display panic: bochsPanic = %q", got)
	}
	if got := bochsPanic(nil); got != "" {
		t.Errorf("bochsPanic(nil) = %q", got)
	}
}

func TestCompareBench(t *testing.T) {
	run := func(lines ...string) []BenchResult {
		var rs []BenchResult
		for _, l := range lines {
			p := ParseLine(l)
			if p.Kind != Bench {
				t.Fatalf("%q: %v %s", l, p.Kind, p.Problem)
			}
			rs = append(rs, p.Bench)
		}
		return rs
	}
	a := run("bench null median=308 min=306 unit=cycles", "bench l1 median=900 min=880 unit=cycles ratio=2.92")
	tests := []struct {
		name   string
		second []BenchResult
		want   string
	}{
		{"identical", run("bench null median=308 min=306 unit=cycles", "bench l1 median=900 min=880 unit=cycles ratio=2.92"), ""},
		{"order does not matter", run("bench l1 median=900 min=880 unit=cycles ratio=2.92", "bench null median=308 min=306 unit=cycles"), ""},
		{"median differs", run("bench null median=310 min=306 unit=cycles", "bench l1 median=900 min=880 unit=cycles ratio=2.92"),
			"bench null median differs: 308 in run 1, 310 in run 2"},
		{"ratio differs", run("bench null median=308 min=306 unit=cycles", "bench l1 median=900 min=880 unit=cycles ratio=2.93"),
			"bench l1 ratio differs"},
		{"unit differs", run("bench null median=308 min=306 unit=ns", "bench l1 median=900 min=880 unit=cycles ratio=2.92"),
			"bench null unit differs"},
		{"field missing", run("bench null median=308 min=306 unit=cycles", "bench l1 median=900 min=880 unit=cycles"),
			"bench l1 ratio differs: 2.92 in run 1, (absent) in run 2"},
		{"field added", run("bench null median=308 min=306 unit=cycles ratio=1", "bench l1 median=900 min=880 unit=cycles ratio=2.92"),
			"bench null ratio differs: (absent) in run 1, 1 in run 2"},
		{"line missing", run("bench null median=308 min=306 unit=cycles"), "bench l1: missing from run 2"},
		{"line added", append(slices.Clone(a), run("bench new median=1 min=1 unit=cycles")...), "bench new: missing from run 1"},
		{"duplicate", append(slices.Clone(a), a[0]), "bench null printed twice"},
	}
	for _, tt := range tests {
		err := compareBench(a, tt.second)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: compareBench = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestBochsStdoutFilter(t *testing.T) {
	// Bochs' stdout from a real run: banner, debugger lines, a blank line,
	// then the kernel's port 0xE9 output, then the debugger again.
	in := []string{
		"========================================================================",
		"                        Bochs x86 Emulator 2.7",
		"Next at t=0",
		"(0) [0x0000fffffff0] f000:fff0 (unk. ctxt): jmpf 0xf000:e05b          ; ea5be000f0",
		"",
		"beelzebox: booting",
		"",
		"ok level1/a",
		"kernel: 1 passed, 0 failed, 0 skipped",
		"(0).[97902912] [0x0000001007d8] 0008:00000000001007d8 (unk. ctxt): out dx, al                ; ee",
	}
	var f bochsStdoutFilter
	var got []string
	for _, l := range in {
		if f.keep(l) {
			got = append(got, l)
		}
	}
	want := []string{"beelzebox: booting", "", "ok level1/a", "kernel: 1 passed, 0 failed, 0 skipped"}
	if !slices.Equal(got, want) {
		t.Errorf("kept %q, want %q", got, want)
	}
}

func TestBochsStderrNoise(t *testing.T) {
	for _, l := range []string{
		"00000000000i[PLUGIN] loaded plugin libbx_term_gui.so",
		"ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM default",
		`Bochs connected to screen "/dev/pts/1"`,
		"========================================================================",
	} {
		if !bochsStderrNoise.MatchString(l) {
			t.Errorf("not noise: %q", l)
		}
	}
	for _, l := range []string{
		"[UNMAP ] Shutdown port: shutdown requested",
		"00000000000e[CPU0  ] something failed",
		"Bochs is exiting with the following message:",
	} {
		if bochsStderrNoise.MatchString(l) {
			t.Errorf("useful line taken for noise: %q", l)
		}
	}
}
