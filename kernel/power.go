package kernel

import "beelzebox/cpu"

// Ways out of the emulators, tried in order:
//   - QEMU's isa-debug-exit device at 0xf4: QEMU exits with status
//     (code<<1)|1, so code 0 gives 1 and a crash (status 0) stays apart;
//   - Bochs' shutdown port 0x8900 ("Shutdown" ends the simulation);
//   - ACPI S5 through the PIIX4/ICH9 PM1a control registers QEMU and
//     Bochs place at 0x604 and 0xB004.
//
// On a real machine all of these are harmless and the CPU halts.
const (
	portDebugExit = 0xf4
	portBochsShut = 0x8900
	portACPIQemu  = 0x604
	portACPIBochs = 0xb004
	acpiSleepS5   = 0x2000
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

// Exit stops the machine with status code (0 = success).
func Exit(code int) {
	cpu.DisableInterrupts()
	if code != 0 && crashNoteLen > 0 {
		Print("kernel: crash note: ")
		PrintBytes(crashNote[:crashNoteLen])
		Print("\n")
	}
	drainConsole()
	cpu.Outl(portDebugExit, uint32(code))
	const shutdown = "Shutdown"
	for i := 0; i < len(shutdown); i++ {
		cpu.Outb(portBochsShut, shutdown[i])
	}
	cpu.Outw(portACPIQemu, acpiSleepS5)
	cpu.Outw(portACPIBochs, acpiSleepS5)
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
