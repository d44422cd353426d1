package fs

import (
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"beelzebox/linux"

	"golang.org/x/sys/unix"
)

// --- /dev ---

type devKind int

const (
	devNull devKind = iota
	devZero
	devFull
	devRandom
)

// devOps is /dev/null, zero, full, random and urandom.
type devOps struct {
	baseOps
	kind devKind
}

func (d *devOps) size(*file) int64 { return 0 }

func (d *devOps) read(t Task, of *file, p []byte, off int64) (int, linux.Errno) {
	switch d.kind {
	case devNull:
		return 0, 0
	case devZero, devFull:
		clear(p)
		return len(p), 0
	}
	Random(p)
	return len(p), 0
}

// Random fills /dev/random and /dev/urandom reads; the host sets the
// kernel's generator (kernel.RandomBytes). The default, for tests, is
// math/rand/v2's.
var Random = func(b []byte) {
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
}

func (d *devOps) write(t Task, of *file, p []byte, off int64) (int, linux.Errno) {
	if d.kind == devFull {
		return 0, linux.ENOSPC
	}
	return len(p), 0
}

func (fsys *FS) makeDevices() {
	root := fsys.dev.root
	chr := func(name string, major, minor uint32, mode uint32, open func(fsys *FS, f *Files, ino *inode, flags uint32) (fileOps, linux.Errno)) *inode {
		n := fsys.newInode(fsys.dev, unix.S_IFCHR|mode)
		n.rdev = linux.Mkdev(major, minor)
		n.openFn = open
		root.kids[name] = n
		return n
	}
	dev := func(k devKind) func(*FS, *Files, *inode, uint32) (fileOps, linux.Errno) {
		return func(*FS, *Files, *inode, uint32) (fileOps, linux.Errno) { return &devOps{kind: k}, 0 }
	}
	chr("null", 1, 3, 0o666, dev(devNull))
	chr("zero", 1, 5, 0o666, dev(devZero))
	chr("full", 1, 7, 0o666, dev(devFull))
	chr("random", 1, 8, 0o666, dev(devRandom))
	chr("urandom", 1, 9, 0o666, dev(devRandom))
	openCon := func(fsys *FS, f *Files, ino *inode, flags uint32) (fileOps, linux.Errno) {
		return &consoleOps{c: fsys.con}, 0
	}
	chr("tty", 5, 0, 0o666, openCon)
	chr("console", 5, 1, 0o600, openCon)
	for i, name := range []string{"stdin", "stdout", "stderr"} {
		l := fsys.newInode(fsys.dev, unix.S_IFLNK|0o777)
		l.target = "/proc/self/fd/" + itoa(i)
		root.kids[name] = l
	}
	fd := fsys.newInode(fsys.dev, unix.S_IFLNK|0o777)
	fd.target = "/proc/self/fd"
	root.kids["fd"] = fd
	fsys.mkdirIn(root, "shm", 0o1777)
	fsys.mkdirIn(root, "pts", 0o755)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [24]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// --- the console ---

// console is the guest's terminal, shared by every console file of the
// sandbox. A goroutine reads Console.Read ahead into buf when a reader
// waits or a poller asks, so that reads can be interrupted and polled.
type console struct {
	con Console
	q   waitQueue

	mu      sync.Mutex
	buf     []byte
	eof     bool // Console.Read said io.EOF: the next read returns 0
	ioerr   bool
	reading bool
	termios linux.Termios
	winsize linux.Winsize
	pgrp    int32
	// line is the line being typed in canonical mode (discipline);
	// interrupt signals a process group (ISIG: Ctrl-C, Ctrl-\).
	line      []byte
	interrupt func(pgrp int32, sig int)
}

// terminal reports whether the console is a terminal, whose input goes
// through the line discipline, rather than pipes.
func (c *console) terminal() bool {
	p, ok := c.con.(Pipes)
	return !ok || !p.Pipes()
}

// discipline takes raw input as a terminal's line discipline does (the
// parts of termios it honours: ICRNL; ISIG with VINTR, VQUIT and VSUSP;
// ICANON with VERASE, VKILL, VEOF and newline; ECHO, ECHOE): what is ready to
// read goes to buf, and it returns what to echo and the signal to send
// to the foreground group (0: none). c.mu is held.
func (c *console) discipline(raw []byte) (echo []byte, sig int) {
	t := &c.termios
	cc := func(i int) byte { return t.Cc[i] }
	for _, ch := range raw {
		if t.Iflag&unix.ICRNL != 0 && ch == '\r' {
			ch = '\n'
		}
		if t.Lflag&unix.ISIG != 0 && (ch == cc(unix.VINTR) || ch == cc(unix.VQUIT) || ch == cc(unix.VSUSP)) && ch != 0 {
			switch ch {
			case cc(unix.VINTR):
				sig = linux.SIGINT
			case cc(unix.VQUIT):
				sig = linux.SIGQUIT
			default:
				sig = linux.SIGTSTP
			}
			c.line = nil
			if t.Lflag&unix.ECHO != 0 {
				echo = append(echo, '^', ch+'@', '\n')
			}
			continue
		}
		if t.Lflag&unix.ICANON == 0 {
			c.buf = append(c.buf, ch)
			if t.Lflag&unix.ECHO != 0 {
				echo = append(echo, ch)
			}
			continue
		}
		switch {
		case ch == cc(unix.VERASE) || ch == '\b':
			if len(c.line) > 0 {
				c.line = c.line[:len(c.line)-1]
				if t.Lflag&unix.ECHO != 0 {
					echo = append(echo, '\b', ' ', '\b')
				}
			}
		case ch == cc(unix.VKILL):
			if t.Lflag&unix.ECHO != 0 {
				for range c.line {
					echo = append(echo, '\b', ' ', '\b')
				}
			}
			c.line = nil
		case ch == cc(unix.VEOF):
			// End of file at the start of a line, else the line so far.
			if len(c.line) == 0 {
				c.eof = true
			}
			c.buf = append(c.buf, c.line...)
			c.line = nil
		case ch == '\n':
			c.buf = append(append(c.buf, c.line...), '\n')
			c.line = nil
			if t.Lflag&unix.ECHO != 0 {
				echo = append(echo, '\n')
			}
		default:
			c.line = append(c.line, ch)
			if t.Lflag&unix.ECHO != 0 {
				echo = append(echo, ch)
			}
		}
	}
	return echo, sig
}

func newConsole(con Console) *console {
	c := &console{con: con, winsize: linux.Winsize{Row: 24, Col: 80}}
	// The defaults of a Linux terminal in cooked mode (stty sane).
	c.termios = linux.Termios{
		Iflag: unix.ICRNL | unix.IXON | unix.IUTF8,
		Oflag: unix.OPOST | unix.ONLCR,
		Cflag: unix.B38400 | unix.CS8 | unix.CREAD | unix.HUPCL,
		Lflag: unix.ISIG | unix.ICANON | unix.ECHO | unix.ECHOE | unix.ECHOK | unix.ECHOCTL | unix.ECHOKE | unix.IEXTEN,
	}
	copy(c.termios.Cc[:], []byte{3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22, 0, 0, 0})
	return c
}

// fill starts a read-ahead if none is running and there is nothing
// buffered. c.mu is held.
func (c *console) fill() {
	if c.con != nil && !c.reading && c.terminal() {
		// A terminal takes its input as it comes, as a tty driver
		// does on each interrupt: Ctrl-C and Ctrl-Z must act while
		// nobody reads.
		c.reading = true
		go c.readTerminal()
		return
	}
	if c.reading || len(c.buf) > 0 || c.eof || c.ioerr || c.con == nil {
		return
	}
	c.reading = true
	go func() {
		b := make([]byte, 4096)
		n, err := c.con.Read(b)
		c.mu.Lock()
		c.reading = false
		if n > 0 {
			c.buf = append(c.buf, b[:n]...)
		} else if err == io.EOF {
			c.eof = true
		} else if err != nil {
			c.ioerr = true
		} else {
			c.eof = true // a 0-byte read without error: treat as end
		}
		c.mu.Unlock()
		c.q.notify()
	}()
}

// readTerminal is a terminal's input loop: everything typed goes through
// the line discipline at once (typed-ahead input beyond maxTypeAhead
// waits in the Console).
func (c *console) readTerminal() {
	const maxTypeAhead = 64 << 10
	b := make([]byte, 4096)
	for {
		n, err := c.con.Read(b)
		c.mu.Lock()
		var echo []byte
		var sig int
		if n > 0 {
			echo, sig = c.discipline(b[:n])
		}
		if err != nil {
			c.eof = true
		}
		pgrp, intr, full := c.pgrp, c.interrupt, len(c.buf) > maxTypeAhead
		c.mu.Unlock()
		if len(echo) > 0 {
			c.con.Write(1, echo)
		}
		if sig != 0 && intr != nil {
			intr(pgrp, sig)
		}
		c.q.notify()
		if err != nil {
			return
		}
		for full {
			time.Sleep(10 * time.Millisecond)
			c.mu.Lock()
			full = len(c.buf) > maxTypeAhead
			c.mu.Unlock()
		}
	}
}

type consoleOps struct {
	baseOps
	c *console
}

func (o *consoleOps) read(t Task, of *file, p []byte, off int64) (int, linux.Errno) {
	c := o.c
	for {
		w := newWaiter()
		c.q.add(w)
		c.mu.Lock()
		switch {
		case len(c.buf) > 0:
			n := copy(p, c.buf)
			c.buf = c.buf[n:]
			if len(c.buf) == 0 {
				c.buf = nil
			}
			c.mu.Unlock()
			c.q.remove(w)
			return n, 0
		case c.eof:
			c.eof = false
			c.mu.Unlock()
			c.q.remove(w)
			return 0, 0
		case c.ioerr:
			c.ioerr = false
			c.mu.Unlock()
			c.q.remove(w)
			return 0, linux.EIO
		case len(p) == 0:
			c.mu.Unlock()
			c.q.remove(w)
			return 0, 0
		}
		if of.nonblock() {
			c.fill()
			c.mu.Unlock()
			c.q.remove(w)
			return 0, linux.EAGAIN
		}
		c.fill()
		c.mu.Unlock()
		if err := c.q.wait(t, w, time.Time{}); err != 0 {
			return 0, err
		}
	}
}

func (o *consoleOps) write(t Task, of *file, p []byte, off int64) (int, linux.Errno) {
	if o.c.con == nil {
		return len(p), 0
	}
	n, err := o.c.con.Write(of.stream, p)
	if n > 0 {
		return n, 0
	}
	if err != nil {
		return 0, linux.EIO
	}
	return 0, 0
}

func (o *consoleOps) events(of *file) uint32 {
	c := o.c
	c.mu.Lock()
	defer c.mu.Unlock()
	ev := uint32(unix.POLLOUT)
	if len(c.buf) > 0 || c.eof {
		ev |= unix.POLLIN
	} else if c.ioerr {
		ev |= unix.POLLIN | unix.POLLERR
	} else {
		c.fill()
	}
	return ev
}

func (o *consoleOps) queue(*file) *waitQueue { return &o.c.q }

func (o *consoleOps) ioctl(t Task, of *file, req, arg uint64) (uint64, linux.Errno) {
	c := o.c
	if p, ok := c.con.(Pipes); ok && p.Pipes() {
		// The console stands for pipes: not a terminal.
		switch req {
		case linux.FIONREAD, linux.FIONBIO, linux.FIOCLEX, linux.FIONCLEX, linux.FIOASYNC:
		default:
			return 0, linux.ENOTTY
		}
	}
	switch req {
	case unix.TCGETS:
		c.mu.Lock()
		tm := c.termios
		c.mu.Unlock()
		var b [linux.SizeofTermios]byte
		tm.Encode(b[:])
		return 0, writeMem(t, arg, b[:])
	case unix.TCSETS, unix.TCSETSW, unix.TCSETSF:
		b, err := readMem(t, arg, linux.SizeofTermios)
		if err != 0 {
			return 0, err
		}
		c.mu.Lock()
		c.termios = linux.DecodeTermios(b)
		if req == unix.TCSETSF {
			c.buf = nil
		}
		c.mu.Unlock()
		return 0, 0
	case unix.TIOCGWINSZ:
		c.mu.Lock()
		ws := c.winsize
		c.mu.Unlock()
		var b [linux.SizeofWinsize]byte
		ws.Encode(b[:])
		return 0, writeMem(t, arg, b[:])
	case unix.TIOCSWINSZ:
		b, err := readMem(t, arg, linux.SizeofWinsize)
		if err != 0 {
			return 0, err
		}
		c.mu.Lock()
		c.winsize = linux.DecodeWinsize(b)
		c.mu.Unlock()
		return 0, 0
	case unix.TIOCGPGRP:
		c.mu.Lock()
		pg := c.pgrp
		c.mu.Unlock()
		if pg == 0 {
			pg = 1
		}
		return 0, writeU32(t, arg, uint32(pg))
	case unix.TIOCSPGRP:
		b, err := readMem(t, arg, 4)
		if err != 0 {
			return 0, err
		}
		pg := int32(le.Uint32(b))
		if pg < 0 {
			return 0, linux.EINVAL
		}
		c.mu.Lock()
		c.pgrp = pg
		c.mu.Unlock()
		return 0, 0
	case unix.TIOCGSID:
		return 0, writeU32(t, arg, 1)
	case linux.FIONREAD:
		c.mu.Lock()
		n := len(c.buf)
		c.mu.Unlock()
		return 0, writeU32(t, arg, uint32(n))
	case unix.TCFLSH:
		if arg > 2 {
			return 0, linux.EINVAL
		}
		if arg == unix.TCIFLUSH || arg == unix.TCIOFLUSH {
			c.mu.Lock()
			c.buf = nil
			c.mu.Unlock()
		}
		return 0, 0
	case unix.TCSBRK, unix.TCXONC, unix.TIOCSCTTY, unix.TIOCNOTTY:
		return 0, 0
	}
	return 0, linux.ENOTTY
}
