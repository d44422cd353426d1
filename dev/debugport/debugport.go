// Package debugport drives the emulators' debug devices: the console at
// port 0xE9 (Bochs' port_e9_hack, QEMU's -debugcon), QEMU's isa-debug-exit
// device at port 0xF4 and Bochs' shutdown port 0x8900. On a real machine
// nothing decodes these ports and writes to them are lost. It is the only
// code that touches them.
package debugport

import "beelzebox/cpu"

// I/O ports.
const (
	portConsole   = 0xe9
	portDebugExit = 0xf4   // QEMU -device isa-debug-exit,iobase=0xf4,iosize=4
	portBochsShut = 0x8900 // Bochs: "Shutdown" written here ends the simulation
)

// Putc writes c to the debug console (one OUT, where a COM1 byte costs
// Bochs about 17k emulated instructions).
func Putc(c byte) { cpu.Outb(portConsole, c) }

// Exit asks the emulator to stop: QEMU's isa-debug-exit, whose status is
// (code<<1)|1, so that code 0 gives 1 and a crash (status 0) stays apart;
// then Bochs' shutdown port. It returns where neither device is there.
func Exit(code uint32) {
	cpu.Outl(portDebugExit, code)
	const shutdown = "Shutdown"
	for i := 0; i < len(shutdown); i++ {
		cpu.Outb(portBochsShut, shutdown[i])
	}
}
