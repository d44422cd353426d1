package main

import (
	"fmt"
	"strconv"
	"strings"
)

// Artefacts are the files a boot loads.
type Artefacts struct {
	Root   string // module root; emulators run there
	Kernel string // multiboot-stamped kernel ELF, relative to Root or absolute
	Initrd string // newc cpio passed as the first multiboot module; "" for none
}

// DebugExitPort is where QEMU's isa-debug-exit device listens: a write of
// byte v makes QEMU exit with status (v<<1)|1.
const DebugExitPort = 0xf4

// qemuOptions are the per-run extras of a QEMU command line.
type qemuOptions struct {
	// com1File receives COM1 when the console is on port 0xE9 (QEMU allows
	// only one character device on stdio).
	com1File string
	// gdb, if set, makes QEMU listen for gdb there and wait for it (the
	// loopback form of -s -S, which would listen on every interface).
	gdb string
	// trace, if set, is where QEMU logs every block it translates and
	// executes (-d in_asm,exec,nochain), for the profile subcommand.
	trace string
	// iso is the boot CD of a boot through firmware (Boot.Firmware).
	iso string
	// ovmfCode and ovmfVars are the UEFI firmware's code (read-only) and
	// the run's own writable copy of its variable store.
	ovmfCode, ovmfVars string
}

// qemuArgs returns the qemu-system-x86_64 arguments for b.
func qemuArgs(b Boot, a Artefacts, o qemuOptions) ([]string, error) {
	if strings.Contains(a.Initrd, ",") {
		// QEMU splits the multiboot module list on commas.
		return nil, fmt.Errorf("initrd path %q contains a comma", a.Initrd)
	}
	accel := "tcg"
	if b.Emu == QEMUKVM {
		accel = "kvm"
	}
	args := []string{
		"-accel", accel,
		"-cpu", b.CPU,
		"-m", b.memory(),
		"-smp", strconv.Itoa(b.cpus()),
		"-display", "none",
		"-monitor", "none",
		"-nic", "none",
		"-no-reboot",
	}
	if b.usesE9() {
		com1 := "null"
		if o.com1File != "" {
			com1 = "file:" + o.com1File
		}
		args = append(args, "-debugcon", "stdio", "-serial", com1)
	} else {
		args = append(args, "-serial", "stdio")
	}
	args = append(args, "-device", "isa-debug-exit,iobase=0x"+strconv.FormatInt(DebugExitPort, 16)+",iosize=0x04")
	if b.Emu == QEMUICount {
		// One TSC tick per instruction, no host time leaking in: see
		// ../shared/notes/measuring.md. icount must stay at one vCPU.
		args = append(args,
			"-icount", "shift=0,sleep=off",
			"-seed", "1",
			"-rtc", "base=2025-01-01T00:00:00,clock=vm")
	}
	switch {
	case b.Firmware.BootsISO():
		if o.iso == "" {
			return nil, fmt.Errorf("%s firmware boot without an ISO", b.Firmware)
		}
		if b.Firmware == UEFI {
			if o.ovmfCode == "" || o.ovmfVars == "" {
				return nil, fmt.Errorf("UEFI boot without OVMF code and variables files")
			}
			// OVMF as two flash chips: the firmware read-only, its
			// variable store writable (the run's copy).
			args = append(args,
				"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+o.ovmfCode,
				"-drive", "if=pflash,format=raw,unit=1,file="+o.ovmfVars)
		}
		// The GRUB configuration on the CD carries the command line.
		args = append(args, "-cdrom", o.iso)
	default:
		args = append(args, "-kernel", a.Kernel)
		if a.Initrd != "" {
			args = append(args, "-initrd", a.Initrd)
		}
		args = append(args, "-append", b.CommandLine())
	}
	if o.gdb != "" {
		args = append(args, "-gdb", "tcp:"+o.gdb, "-S")
	}
	if o.trace != "" {
		args = append(args, "-d", "in_asm,exec,nochain", "-D", o.trace)
	}
	return args, nil
}
