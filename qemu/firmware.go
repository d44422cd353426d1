package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Boots through firmware (Boot.Firmware bios or uefi) run the machine the
// way a test machine boots the image of make iso: the firmware finds the
// hybrid GRUB ISO on a CD drive, GRUB reads grub.cfg from it and loads the
// kernel and the initramfs with Multiboot (or Multiboot2, when the kernel
// has that header). The runner writes the ISO per boot, with the boot's
// command line in grub.cfg and no menu delay.
//
// Measured on the development machine (2 cores shared with other work,
// QEMU 7.2 TCG, -cpu max, suites=cpu, the runner's whole boot including
// writing the ISO): OVMF 4.8 s unloaded and up to 12.7 s at a load
// average of 3 (OVMF's own start-up, before its "BdsDxe: loading" line,
// is 4-7 s of that; GRUB about 0.3 s), SeaBIOS 2.9 s, QEMU -kernel 0.8 s;
// Bochs' BIOS with the hybrid image 4.9 s, with the minimal El Torito CD
// 4.1 s. The qemu-uefi boot of the test table (suites cpu, runtime and
// level1) takes 12-13 s against 7.3 s for the same suites with -kernel.

// ovmfPairs are the OVMF builds of Debian's ovmf package that QEMU can
// use as two flash chips, firmware and variable store, best first. A
// variable store only fits the firmware of its own size.
var ovmfPairs = [][2]string{
	{"/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"},
	{"/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"},
}

// findOVMF returns the first OVMF firmware and variable-store template
// that are both installed.
func findOVMF(pairs [][2]string) (code, vars string, err error) {
	for _, p := range pairs {
		_, errCode := os.Stat(p[0])
		_, errVars := os.Stat(p[1])
		if errCode == nil && errVars == nil {
			return p[0], p[1], nil
		}
	}
	return "", "", errors.New("no OVMF firmware found (Debian package ovmf; make deps installs it)")
}

// prepareFirmwareBoot writes the boot's hybrid ISO into dir and, for UEFI,
// a writable copy of OVMF's variable store (OVMF writes its boot entries
// there), and returns the options that make QEMU boot them.
func prepareFirmwareBoot(dir string, b Boot, a Artefacts) (qemuOptions, error) {
	var o qemuOptions
	o.iso = filepath.Join(dir, "boot.iso")
	if err := buildRescueISO(dir, a, b.CommandLine(), o.iso, 0); err != nil {
		return o, err
	}
	if b.Firmware == UEFI {
		code, vars, err := findOVMF(ovmfPairs)
		if err != nil {
			return o, err
		}
		o.ovmfCode = code
		o.ovmfVars = filepath.Join(dir, "ovmf-vars.fd")
		if err := copyFile(vars, o.ovmfVars); err != nil {
			return o, fmt.Errorf("OVMF variable store: %v", err)
		}
	}
	return o, nil
}

// terminalEscapeRE matches the escape sequences that OVMF's serial
// terminal and GRUB's EFI console write: CSI sequences (ESC [ ... final
// byte, ECMA-48 §5.4), character-set choices (ESC ( B) and other
// two-byte escapes.
var terminalEscapeRE = regexp.MustCompile(`\x1b(?:\[[0-?]*[ -/]*[@-~]|[()][0-9A-Za-z]|[@-Z\\-_])`)

// firmwareScreenLine turns one line of a serial console that firmware and
// GRUB shared with the kernel into what a terminal would show at its end:
// escape sequences removed, and of text overwritten after a carriage
// return only the last part. Firmware ends its lines with "\r" but not
// always with "\n", so the kernel's first line can share a line with
// GRUB's last message ("\rerror: no suitable video mode found.\rbeelzebox:
// booting").
func firmwareScreenLine(s string) string {
	s = terminalEscapeRE.ReplaceAllString(s, "")
	s = strings.TrimRight(s, "\r")
	if i := strings.LastIndexByte(s, '\r'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
