package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Emulator names a way of running the kernel.
type Emulator string

const (
	// QEMU is QEMU TCG loading the kernel with -kernel (multiboot).
	QEMU Emulator = "qemu"
	// QEMUICount is QEMU TCG with -icount shift=0: one TSC tick per
	// emulated instruction, so benchmark figures are instruction counts that
	// repeat exactly from run to run.
	QEMUICount Emulator = "qemu-icount"
	// QEMUKVM is QEMU with KVM, for hosts whose KVM runs ordinary kernels
	// (not this development machine's PVM); with -cpu host the guest gets
	// the host's PKU, VMX (nested) and PCID. Never part of the test table.
	QEMUKVM Emulator = "qemu-kvm"
	// Bochs is Bochs 2.7 booting GRUB from an El Torito CD image; it is the
	// only emulator here with VMX, EPT and PCID.
	Bochs Emulator = "bochs"
)

// Valid reports whether e is one of the emulators above.
func (e Emulator) Valid() bool { return e.IsQEMU() || e == Bochs }

// IsQEMU reports whether e runs under qemu-system-x86_64.
func (e Emulator) IsQEMU() bool { return e == QEMU || e == QEMUICount || e == QEMUKVM }

// Firmware says how the kernel gets loaded.
type Firmware string

const (
	// Direct is the default: QEMU loads the kernel itself (-kernel,
	// multiboot); Bochs runs its BIOS, which boots a minimal GRUB El
	// Torito CD.
	Direct Firmware = ""
	// BIOS is the PC BIOS (QEMU: SeaBIOS) booting the hybrid GRUB ISO
	// of make iso from a CD drive, as a BIOS test machine boots it.
	BIOS Firmware = "bios"
	// UEFI is OVMF (Debian's ovmf package) booting the hybrid GRUB ISO
	// of make iso from a CD drive, as a UEFI test machine boots it.
	UEFI Firmware = "uefi"
)

// Valid reports whether f is one of the firmware choices above.
func (f Firmware) Valid() bool { return f == Direct || f == BIOS || f == UEFI }

// BootsISO reports whether the boot goes through the firmware and the
// hybrid ISO (QEMU -cdrom) rather than QEMU's -kernel loader.
func (f Firmware) BootsISO() bool { return f == BIOS || f == UEFI }

// Expect says how a boot has to end.
type Expect int

const (
	// ExpectPass: the kernel ran its suites and every test got the verdict
	// its manifest gives it (manifest.go), every bench figure the manifest
	// names is under its ceilings, no fault or panic, a final line that
	// agrees with the ok, FAIL and SKIP lines, every pattern seen and, on
	// QEMU, the kernel's exit code (0, or 1 when expected failures FAILed).
	ExpectPass Expect = iota
	// ExpectFail: a deliberate failure. Every pattern must be seen and the
	// run must end failing: on QEMU an exit status other than 1, on Bochs
	// no final line or a fault/panic line. A hang (timeout) is not an
	// acceptable way to fail: a dying kernel must still exit.
	ExpectFail
)

func (e Expect) String() string {
	if e == ExpectFail {
		return "fail"
	}
	return "pass"
}

// Boot is one emulator run and what it must show. The zero values of most
// fields have a sensible meaning, so table entries stay short.
type Boot struct {
	Name    string   // unique; selects the entry with -only
	Emu     Emulator // qemu, qemu-icount or bochs
	CPU     string   // -cpu model, with QEMU +feat/-feat modifiers (e.g. "max,-pku")
	Memory  string   // -m / Bochs megs, with a K, M or G suffix; "" means 128M
	Suites  string   // becomes "suites=<Suites>" on the kernel command line; "" adds nothing
	Append  string   // more kernel command-line words
	Timeout time.Duration
	Expect  Expect
	// Patterns are regular expressions (Go syntax) that must each match at
	// least one console line. Use alternation for "this or that".
	Patterns []string
	// Once are regular expressions that must each match exactly one
	// console line (a report printed once, not once per CPU).
	Once []string
	// Repeat boots the entry this many times (bench only) and requires
	// every bench figure to be identical across the runs.
	Repeat int
	// Firmware is how the kernel is loaded: Direct (""), BIOS or UEFI.
	Firmware Firmware
	// CPUs is the number of processors (QEMU -smp, Bochs cpu count);
	// 0 means 1.
	CPUs int
}

// MaxCPUs bounds Boot.CPUs: the xAPIC IDs QEMU and Bochs hand out.
const MaxCPUs = 255

// cpus returns the number of processors to ask for.
func (b Boot) cpus() int {
	if b.CPUs <= 0 {
		return 1
	}
	return b.CPUs
}

// DefaultMemory is the guest memory when a Boot does not say.
const DefaultMemory = "128M"

// memory returns the guest memory size to ask for.
func (b Boot) memory() string {
	if b.Memory == "" {
		return DefaultMemory
	}
	return b.Memory
}

// timeout returns the boot's time limit, with a per-emulator default: Bochs
// is 5-10 times slower than QEMU TCG and spends about 1.5 s in BIOS and GRUB.
func (b Boot) timeout() time.Duration {
	switch {
	case b.Timeout > 0:
		return b.Timeout
	case b.Emu == Bochs:
		return 10 * time.Minute
	case b.Firmware == UEFI:
		// OVMF takes about 4 s to reach GRUB under TCG, unloaded.
		return 3 * time.Minute
	}
	return 2 * time.Minute
}

// CommandLine is the kernel command line for the boot. Bochs gets
// console=e9 because its emulated UART costs about 0.2 ms of wall time per
// character, while port 0xE9 is free.
func (b Boot) CommandLine() string {
	var words []string
	if b.Suites != "" {
		words = append(words, "suites="+b.Suites)
	}
	words = append(words, strings.Fields(b.Append)...)
	if b.Emu == Bochs && !slices.Contains(words, "console=e9") {
		words = append(words, "console=e9")
	}
	return strings.Join(words, " ")
}

// usesE9 reports whether the kernel will write its console to port 0xE9.
func (b Boot) usesE9() bool {
	return slices.Contains(strings.Fields(b.CommandLine()), "console=e9")
}

// Describe is a one-line summary of how the boot runs.
func (b Boot) Describe() string {
	extra := ""
	if b.Firmware != Direct {
		extra += " -firmware " + string(b.Firmware)
	}
	if b.cpus() > 1 {
		extra += fmt.Sprintf(" -smp %d", b.cpus())
	}
	return fmt.Sprintf("%s%s -cpu %s -m %s -append %q", b.Emu, extra, b.CPU, b.memory(), b.CommandLine())
}

// Validate reports the first thing wrong with b.
func (b Boot) Validate() error {
	if b.Name == "" {
		return fmt.Errorf("boot has no name")
	}
	if !b.Emu.Valid() {
		return fmt.Errorf("%s: unknown emulator %q", b.Name, b.Emu)
	}
	if b.CPU == "" {
		return fmt.Errorf("%s: no CPU model", b.Name)
	}
	if b.Emu == Bochs && strings.ContainsAny(b.CPU, ",+") {
		return fmt.Errorf("%s: Bochs CPU models take no feature modifiers: %q", b.Name, b.CPU)
	}
	if _, err := memoryMiB(b.memory()); err != nil {
		return fmt.Errorf("%s: %v", b.Name, err)
	}
	if !b.Firmware.Valid() {
		return fmt.Errorf("%s: unknown firmware %q (want bios or uefi)", b.Name, b.Firmware)
	}
	if b.Firmware == UEFI && !b.Emu.IsQEMU() {
		return fmt.Errorf("%s: UEFI firmware (OVMF) needs QEMU", b.Name)
	}
	if b.CPUs < 0 || b.CPUs > MaxCPUs {
		return fmt.Errorf("%s: CPU count %d out of range 1..%d", b.Name, b.CPUs, MaxCPUs)
	}
	for _, p := range slices.Concat(b.Patterns, b.Once) {
		if _, err := regexp.Compile(p); err != nil {
			return fmt.Errorf("%s: pattern %q: %v", b.Name, p, err)
		}
	}
	if b.Expect == ExpectFail && len(b.Patterns)+len(b.Once) == 0 {
		return fmt.Errorf("%s: an expected failure needs patterns that show it failed the right way", b.Name)
	}
	if b.Repeat > 1 && b.Emu != QEMUICount {
		return fmt.Errorf("%s: only qemu-icount repeats exactly, Repeat needs it", b.Name)
	}
	return nil
}

// memoryMiB parses a QEMU-style memory size ("512M", "1G", "512") into MiB.
func memoryMiB(s string) (int, error) {
	n, unit := s, byte('M')
	if len(s) > 0 && strings.ContainsRune("KkMmGg", rune(s[len(s)-1])) {
		n, unit = s[:len(s)-1], s[len(s)-1]
	}
	var v int
	if _, err := fmt.Sscanf(n, "%d", &v); err != nil || fmt.Sprint(v) != n || v <= 0 {
		return 0, fmt.Errorf("bad memory size %q", s)
	}
	switch unit {
	case 'K', 'k':
		if v%1024 != 0 {
			return 0, fmt.Errorf("memory size %q is not a whole number of MiB", s)
		}
		return v / 1024, nil
	case 'G', 'g':
		return v * 1024, nil
	}
	return v, nil
}
