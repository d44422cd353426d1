package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// Bochs boots the kernel the way a PC does: BIOS, then GRUB from an El
// Torito CD, then multiboot. GRUB's core image carries its config, so no
// menu or file system module for /boot/grub is needed; this is about 1 s
// faster in Bochs than a full grub-mkrescue image.

// grubModules are the GRUB modules the core image needs to read the CD and
// boot a multiboot kernel with a module.
var grubModules = []string{"biosdisk", "iso9660", "multiboot", "boot"}

// ISO paths of the kernel and the initramfs.
const (
	isoKernel = "/boot/kernel.elf"
	isoInitrd = "/boot/initramfs.cpio"
)

// grubMenuBody is the multiboot stanza: kernel with its command line, then
// the initramfs as the first module.
func grubMenuBody(cmdline string, initrd bool, indent string) string {
	var sb strings.Builder
	sb.WriteString(indent + "multiboot " + isoKernel)
	for _, w := range strings.Fields(cmdline) {
		sb.WriteString(" " + grubQuote(w))
	}
	sb.WriteString("\n")
	if initrd {
		sb.WriteString(indent + "module " + isoInitrd + "\n")
	}
	sb.WriteString(indent + "boot\n")
	return sb.String()
}

// grubEmbedConfig is the config embedded in the El Torito core image. GRUB
// passes the words after the kernel path as the multiboot command line.
func grubEmbedConfig(cmdline string, initrd bool) string {
	return "set root=(cd)\n" + grubMenuBody(cmdline, initrd, "")
}

// grubQuote quotes a command-line word for GRUB's shell-like config
// language: plain words stay as they are, anything else goes in single
// quotes, inside which GRUB takes every character literally.
func grubQuote(w string) string {
	plain := w != ""
	for _, r := range w {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("=,._-/:+@%", r)) {
			plain = false
			break
		}
	}
	if plain {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

// bochsConfig is what varies in a bochsrc.
type bochsConfig struct {
	MiB   int    // guest memory
	Model string // cpu model, e.g. tigerlake
	CPUs  int    // processors (cpu: count=); Debian's Bochs is built with SMP
	ISO   string // boot CD
	Log   string // bochs log file
	COM1  string // file COM1 is written to (a pipe as /dev/fd/N works)
}

// bochsEpoch is the emulated wall clock at power-on (2025-01-01 00:00 UTC),
// fixed so that runs repeat; it matches QEMU's -rtc base for icount.
const bochsEpoch = 1735689600

// bochsrc renders the Bochs configuration. Why each line:
//   - ips=200000000 with clock sync=none: emulated time runs on instruction
//     count, so TSC and timers are deterministic;
//   - reset_on_triple_fault=0: a triple fault panics and ends Bochs instead
//     of rebooting into GRUB again;
//   - options=fastboot: skips the BIOS boot menu delay (about 3 s);
//   - display_library term: Debian has no "nogui"; term opens no socket
//     (rfb listens on every interface) and the runner gives it a pty;
//   - port_e9_hack: the kernel's console=e9 output goes to Bochs' stdout,
//     far cheaper than the emulated 115200-baud UART;
//   - panic: action=fatal: a Bochs panic (including the 0x8900 shutdown
//     port) ends the run instead of asking on the terminal; term=report:
//     but not a panic of the term display itself, which shows text modes
//     only and panics when GRUB sets the graphics mode the kernel's
//     Multiboot2 header asks for (the hybrid ISO of -firmware bios). The
//     emulated machine runs on; bochsPanic passes over these.
func bochsrc(c bochsConfig) string {
	return fmt.Sprintf(`megs: %d
cpu: model=%s, count=%d, ips=200000000, reset_on_triple_fault=0
romimage: file=/usr/share/bochs/BIOS-bochs-latest, options=fastboot
vgaromimage: file=/usr/share/vgabios/vgabios.bin
ata0-master: type=cdrom, path=%s, status=inserted
boot: cdrom
com1: enabled=1, mode=file, dev=%s
port_e9_hack: enabled=1
display_library: term
log: %s
panic: action=fatal, term=report
error: action=report
info: action=report
debug: action=ignore
clock: sync=none, time0=%d
`, c.MiB, c.Model, max(1, c.CPUs), c.ISO, c.COM1, c.Log, bochsEpoch)
}

// bochsDebuggerScript answers Debian's built-in Bochs debugger, which stops
// at the first instruction: continue, and quit when the simulation ends.
const bochsDebuggerScript = "c\nquit\n"

// bochsNoiseRE matches what Bochs itself prints on stdout, which is also
// where port 0xE9 output goes: the banner, the debugger's position reports
// and prompts.
var bochsNoiseRE = regexp.MustCompile(`^(?:=+|\s*Bochs x86 Emulator .*|\s*Built from SVN snapshot.*|\s*Timestamp: .*|Next at t=\d+|\(\d+\)[.\s]*(?:\[\d+\]\s*)?\[0x[0-9a-fA-F]+\] [0-9a-fA-F]{4}:.*|<bochs:\d+>.*)$`)

// isBochsNoise reports whether a line on Bochs' stdout came from Bochs
// rather than from the kernel.
func isBochsNoise(line string) bool {
	return bochsNoiseRE.MatchString(strings.TrimRight(line, "\r"))
}

// bochsNormalStops are the Bochs panic messages of a kernel that ended on
// purpose: the shutdown port 0x8900 and an ACPI soft power-off.
var bochsNormalStops = []string{
	"Shutdown port: shutdown requested",
	"ACPI control: soft power off",
}

// bochsDisplayModule is the log prefix of the term display library, whose
// panics are reported rather than fatal (see bochsrc).
const bochsDisplayModule = "[TERM  ]"

// bochsPanic returns why Bochs stopped, from its log, if that was anything
// but a deliberate shutdown by the kernel or a display the term library
// cannot show.
func bochsPanic(log []byte) string {
	const marker = ">>PANIC<< "
	for _, line := range bytes.Split(log, []byte("\n")) {
		where, msg, ok := bytes.Cut(line, []byte(marker))
		if !ok || bytes.HasSuffix(bytes.TrimSpace(where), []byte(bochsDisplayModule)) {
			continue
		}
		s := strings.TrimSpace(string(msg))
		normal := false
		for _, n := range bochsNormalStops {
			normal = normal || strings.HasPrefix(s, n)
		}
		if !normal {
			return s
		}
	}
	return ""
}

// bochsStdoutFilter separates the kernel's port 0xE9 output from Bochs'
// own output on Bochs' stdout: it drops Bochs' lines, and blank lines until
// the kernel has printed something.
type bochsStdoutFilter struct {
	started bool
}

// keep reports whether line is kernel console output.
func (f *bochsStdoutFilter) keep(line string) bool {
	if isBochsNoise(line) {
		return false
	}
	if !f.started && strings.TrimSpace(line) == "" {
		return false
	}
	f.started = true
	return true
}

// bochsStderrNoise matches stderr lines of Bochs that never explain a
// failure: info-level start-up messages, the sound library probing for a
// card, the term display's pty.
var bochsStderrNoise = regexp.MustCompile(`^(\d+i\[|ALSA lib |Bochs connected to screen|=+$)`)

// shellQuote quotes a word for sh -c (script(1) runs its command that way).
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// bochsScriptCommand is the command script(1) runs: bochs with its stdout
// (port 0xE9 output) moved to fd 3 and its stderr to a file, so the pty
// that script provides carries nothing the runner has to untangle. fd 4 is
// left open for COM1 (/dev/fd/4 in the bochsrc).
func bochsScriptCommand(rc, debugScript, stderrFile string) string {
	return fmt.Sprintf("exec bochs -q -f %s -rc %s >&3 2>%s 3>&-",
		shellQuote(rc), shellQuote(debugScript), shellQuote(stderrFile))
}
