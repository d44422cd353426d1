package kernel

import (
	"beelzebox/cpu"
	"beelzebox/dev/acpipm"
	"beelzebox/dev/debugport"
)

// crashNote is what SetCrashNote last recorded; Exit prints it when the
// machine stops with a failing status.
var (
	crashNote    [256]byte
	crashNoteLen int
)

// SetCrashNote records a short description of what the kernel is doing,
// for a long-running test (the guest fuzzer names the case it runs): a
// fatal report, a panic or the Go runtime dying then ends with a line
// "kernel: crash note: <note>". It copies into a fixed buffer, so the
// report never follows a pointer the caller may be changing; an empty
// note clears it.
func SetCrashNote(note []byte) { crashNoteLen = copy(crashNote[:], note) }

// Exit stops the machine with status code (0 = success). The ways out of
// the emulators, tried in order:
//   - QEMU's isa-debug-exit device at 0xf4: QEMU exits with status
//     (code<<1)|1, so code 0 gives 1 and a crash (status 0) stays apart;
//   - Bochs' shutdown port 0x8900 ("Shutdown" ends the simulation);
//     both in dev/debugport;
//   - ACPI S5 through the PIIX4/ICH9 PM1a control registers QEMU and
//     Bochs place at 0x604 and 0xB004 (dev/acpipm).
//
// On a real machine all of these are harmless and the CPU halts.
func Exit(code int) {
	cpu.DisableInterrupts()
	if code != 0 && crashNoteLen > 0 {
		Print("kernel: crash note: ")
		PrintBytes(crashNote[:crashNoteLen])
		Print("\n")
	}
	drainConsole()
	debugport.Exit(uint32(code))
	acpipm.PowerOff()
	cpu.HaltForever()
}

// Panic prints "kernel: panic: <msg>" and stops the machine with a failing
// status. It is for conditions the kernel cannot continue from: bad boot
// input, exhausted memory in a handler, broken invariants.
func Panic(msg string) {
	stopForPanic()
	Print("kernel: panic: ")
	Print(msg)
	Print("\n")
	Exit(3)
}
