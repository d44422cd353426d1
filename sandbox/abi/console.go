package abi

import "io"

// GuestPrefix starts every line of guest output on the host's console:
// whatever a guest writes, it cannot produce a line that reads as the
// kernel's or the test protocol's ("ok ...", "kernel: ...").
const GuestPrefix = "guest: "

// maxLine is the most guest bytes one console line carries; a longer line
// is cut into several.
const maxLine = 256

// console turns a guest's write calls into whole, prefixed lines of
// printable ASCII: bytes outside 0x20-0x7e (escape sequences, carriage
// returns, NULs, UTF-8) are shown as \xNN, so a guest can neither forge
// protocol lines nor drive the terminal.
type console struct {
	out  io.Writer
	line []byte // escaped bytes of the unfinished line
	n    int    // guest bytes in it
}

func (c *console) write(b []byte) {
	for _, ch := range b {
		if ch == '\n' {
			c.flush()
			continue
		}
		if ch >= 0x20 && ch < 0x7f && ch != '\\' {
			c.line = append(c.line, ch)
		} else {
			c.line = append(c.line, '\\', 'x', "0123456789abcdef"[ch>>4], "0123456789abcdef"[ch&15])
		}
		if c.n++; c.n == maxLine {
			c.flush()
		}
	}
}

// flush ends the current line, if any.
func (c *console) flush() {
	if c.n == 0 && len(c.line) == 0 {
		return
	}
	out := make([]byte, 0, len(GuestPrefix)+len(c.line)+1)
	out = append(append(append(out, GuestPrefix...), c.line...), '\n')
	if c.out != nil {
		c.out.Write(out)
	}
	c.line, c.n = c.line[:0], 0
}
