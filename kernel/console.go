// Package kernel holds the machine-independent core of beelzebox: the
// console, the clock and timer, kernel threads and their scheduler,
// signal delivery to the Go runtime, and the trap handler.
package kernel

import (
	"beelzebox/dev/debugport"
	"beelzebox/dev/fb"
	"beelzebox/dev/uart"
)

// The console is COM1 (dev/uart), or Bochs' and QEMU's debug port 0xE9
// (dev/debugport) when the command line says console=e9 (in Bochs a COM1
// character costs about 17k emulated instructions; the debug port costs
// one OUT).
//
// Console functions run in handler context: they do not allocate, and
// take no lock of their own: the kernel prints from handler code, which
// holds the kernel lock (smp.go), or from a panic, which stops the other
// CPUs first.
var consoleE9 bool

// InitConsole programs COM1 for 115200 baud, 8N1, FIFOs on (firmware
// usually leaves it so, but Bochs starts with a 5-bit word length). Where
// there is no COM1 the console prints nothing.
func InitConsole() { uart.Init() }

// ReadConsole takes what COM1 has received, up to len(b) bytes (0 if
// nothing waits, and always under console=e9, which has no input). It
// polls: the kernel does not take COM1's interrupt, so a reader that
// finds nothing sleeps and asks again.
func ReadConsole(b []byte) int {
	if consoleE9 {
		return 0
	}
	n := 0
	for n < len(b) {
		c, ok := uart.Getc()
		if !ok {
			break
		}
		b[n] = c
		n++
	}
	return n
}

// UseE9 switches the console to the debug port.
func UseE9() { consoleE9 = true }

// Putc writes one byte to the console device: the debug port, or COM1
// with a carriage return before each newline.
func Putc(c byte) {
	fb.Putc(c) // the framebuffer console, if fb.Init started one
	if consoleE9 {
		debugport.Putc(c)
		return
	}
	if c == '\n' {
		uart.Putc('\r')
	}
	uart.Putc(c)
}

// Print writes s.
func Print(s string) {
	for i := 0; i < len(s); i++ {
		Putc(s[i])
	}
}

// PrintBytes writes b.
func PrintBytes(b []byte) {
	for _, c := range b {
		Putc(c)
	}
}

// PrintHex writes v as 0x-prefixed hexadecimal.
func PrintHex(v uint64) {
	const digits = "0123456789abcdef"
	var buf [18]byte
	i := len(buf)
	for {
		i--
		buf[i] = digits[v&15]
		v >>= 4
		if v == 0 {
			break
		}
	}
	i--
	buf[i] = 'x'
	i--
	buf[i] = '0'
	PrintBytes(buf[i:])
}

// PrintDec writes v in decimal.
func PrintDec(v uint64) {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	PrintBytes(buf[i:])
}

// drainConsole waits until COM1 has sent its last bit, so that nothing is
// lost when the emulator stops (Bochs models the baud rate).
func drainConsole() {
	if consoleE9 {
		return
	}
	uart.Drain()
}
