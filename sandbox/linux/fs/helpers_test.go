package fs

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"beelzebox/kernel/initramfs"
	"beelzebox/linux"

	"github.com/u-root/u-root/pkg/cpio"
	"golang.org/x/sys/unix"
)

// fakeTask is a guest thread whose memory is one byte slice at base.
type fakeTask struct {
	mu      sync.Mutex
	base    uint64
	mem     []byte
	next    uint64
	sigpipe int
	intr    chan struct{} // closed: Wait returns EINTR
}

const memBase = 0x10000

func newTask() *fakeTask {
	return &fakeTask{base: memBase, mem: make([]byte, 1<<20), next: memBase, intr: make(chan struct{})}
}

func (t *fakeTask) span(addr uint64, n int) ([]byte, error) {
	if addr < t.base || addr-t.base > uint64(len(t.mem)) || uint64(n) > uint64(len(t.mem))-(addr-t.base) {
		return nil, errors.New("fault")
	}
	return t.mem[addr-t.base : addr-t.base+uint64(n)], nil
}

func (t *fakeTask) ReadMemory(addr uint64, b []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, err := t.span(addr, len(b))
	if err != nil {
		return err
	}
	copy(b, s)
	return nil
}

func (t *fakeTask) WriteMemory(addr uint64, b []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, err := t.span(addr, len(b))
	if err != nil {
		return err
	}
	copy(s, b)
	return nil
}

func (t *fakeTask) Wait(ch <-chan struct{}, deadline time.Time) linux.Errno {
	var tc <-chan time.Time
	if !deadline.IsZero() {
		tm := time.NewTimer(time.Until(deadline))
		defer tm.Stop()
		tc = tm.C
	}
	select {
	case <-ch:
		return 0
	case <-tc:
		return linux.ETIMEDOUT
	case <-t.intr:
		return linux.EINTR
	}
}

func (t *fakeTask) SignalPipe() {
	t.mu.Lock()
	t.sigpipe++
	t.mu.Unlock()
}

// alloc reserves n bytes of guest memory (8-aligned).
func (t *fakeTask) alloc(n int) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.next
	t.next += uint64(n+7) &^ 7
	if t.next-t.base > uint64(len(t.mem)) {
		panic("fake guest out of memory")
	}
	return a
}

func (t *fakeTask) str(s string) uint64 {
	a := t.alloc(len(s) + 1)
	t.WriteMemory(a, append([]byte(s), 0))
	return a
}

func (t *fakeTask) bytesAt(a uint64, n int) []byte {
	b := make([]byte, n)
	if err := t.ReadMemory(a, b); err != nil {
		panic(err)
	}
	return b
}

// fakeConsole records output per stream and serves scripted input.
type fakeConsole struct {
	mu    sync.Mutex
	out   map[int]*bytes.Buffer
	input chan []byte // closed: EOF
}

func newConsole_() *fakeConsole {
	return &fakeConsole{out: map[int]*bytes.Buffer{1: {}, 2: {}}, input: make(chan []byte, 16)}
}

func (c *fakeConsole) Read(p []byte) (int, error) {
	b, ok := <-c.input
	if !ok {
		return 0, io.EOF
	}
	return copy(p, b), nil
}

func (c *fakeConsole) Write(fd int, p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out[fd].Write(p)
	return len(p), nil
}

func (c *fakeConsole) output(fd int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out[fd].String()
}

type fakeProc struct{ pid int }

func (p fakeProc) Exe() string       { return "/bin/busybox" }
func (p fakeProc) Cmdline() []string { return []string{"busybox", "sh"} }
func (p fakeProc) Maps() string      { return "00400000-00401000 r-xp 00000000 00:01 2 /bin/busybox\n" }
func (p fakeProc) Stat() string      { return itoa(p.pid) + " (busybox) R 1\n" }
func (p fakeProc) Status() string    { return "Name:\tbusybox\nPid:\t" + itoa(p.pid) + "\n" }
func (p fakeProc) PID() int          { return p.pid }

// archive is the test initramfs: the root is under "root/".
func archive(t testing.TB) *initramfs.FS {
	t.Helper()
	link := func(name, content string) cpio.Record {
		return cpio.StaticRecord([]byte(content), cpio.Info{Name: name, Mode: cpio.S_IFREG | 0o755, Ino: 77, NLink: 2, UID: 0, GID: 0, MTime: 1700000000})
	}
	recs := []cpio.Record{
		cpio.Directory("root", 0o755),
		cpio.Directory("root/bin", 0o755),
		link("root/bin/busybox", ""),
		link("root/bin/sh", "\x7fELF busybox"),
		cpio.Symlink("root/bin/ls", "busybox"),
		cpio.Symlink("root/bin/abs", "/etc/passwd"),
		cpio.Symlink("root/bin/loop", "loop"),
		cpio.Symlink("root/bin/dangling", "/nowhere"),
		cpio.StaticRecord([]byte("root:x:0:0::/root:/bin/sh\n"), cpio.Info{Name: "root/etc/passwd", Mode: cpio.S_IFREG | 0o644, UID: 0, GID: 0, MTime: 1600000000}),
		cpio.StaticFile("root/etc/deep/a/b/c", "deep", 0o600),
		cpio.StaticFile("root/etc/noexec", "data", 0o644),
		cpio.Directory("root/tmp", 0o755),
		cpio.StaticFile("root/tmp/seeded", "copied into the tmpfs", 0o644),
		cpio.StaticFile("other/file", "not in the root", 0o644),
	}
	var buf bytes.Buffer
	w := cpio.Newc.Writer(&buf)
	for _, r := range recs {
		if err := w.WriteRecord(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := cpio.WriteTrailer(w); err != nil {
		t.Fatal(err)
	}
	a, err := initramfs.Open(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

type env struct {
	t   *testing.T
	fs  *FS
	f   *Files
	tk  *fakeTask
	con *fakeConsole
}

func newEnv(t *testing.T) *env {
	t.Helper()
	con := newConsole_()
	fsys, err := New(archive(t), "root/", con)
	if err != nil {
		t.Fatal(err)
	}
	f := fsys.NewFiles(fakeProc{pid: 42})
	t.Cleanup(f.Close)
	return &env{t: t, fs: fsys, f: f, tk: newTask(), con: con}
}

type handler func(*Files, Task, [6]uint64) (uint64, linux.Errno)

func (e *env) call(fn handler, args ...uint64) (uint64, linux.Errno) {
	var a [6]uint64
	copy(a[:], args)
	return fn(e.f, e.tk, a)
}

// ok calls fn and fails the test on an error.
func (e *env) ok(fn handler, args ...uint64) uint64 {
	e.t.Helper()
	r, err := e.call(fn, args...)
	if err != 0 {
		e.t.Fatalf("call %v failed: %v", args, err)
	}
	return r
}

// errno calls fn and expects err.
func (e *env) errno(want linux.Errno, fn handler, args ...uint64) {
	e.t.Helper()
	r, err := e.call(fn, args...)
	if err != want {
		e.t.Fatalf("call %v = %d, %v; want %v", args, r, err, want)
	}
}

func (e *env) s(str string) uint64 { return e.tk.str(str) }

func (e *env) open(path string, flags int, mode uint32) int {
	e.t.Helper()
	return int(e.ok((*Files).Open, e.s(path), uint64(flags), uint64(mode)))
}

func (e *env) write(fd int, data string) int {
	e.t.Helper()
	a := e.s(data)
	return int(e.ok((*Files).Write, uint64(fd), a, uint64(len(data))))
}

func (e *env) read(fd int, n int) string {
	e.t.Helper()
	a := e.tk.alloc(n)
	got := e.ok((*Files).Read, uint64(fd), a, uint64(n))
	return string(e.tk.bytesAt(a, int(got)))
}

func (e *env) stat(path string) linux.Stat {
	e.t.Helper()
	buf := e.tk.alloc(linux.SizeofStat)
	e.ok((*Files).Stat, e.s(path), buf)
	return linux.DecodeStat(e.tk.bytesAt(buf, linux.SizeofStat))
}

func (e *env) lstat(path string) linux.Stat {
	e.t.Helper()
	buf := e.tk.alloc(linux.SizeofStat)
	e.ok((*Files).Lstat, e.s(path), buf)
	return linux.DecodeStat(e.tk.bytesAt(buf, linux.SizeofStat))
}

func (e *env) readlink(path string) string {
	e.t.Helper()
	buf := e.tk.alloc(4096)
	n := e.ok((*Files).Readlink, e.s(path), buf, 4096)
	return string(e.tk.bytesAt(buf, int(n)))
}

func (e *env) pipe(flags int) (int, int) {
	e.t.Helper()
	a := e.tk.alloc(8)
	e.ok((*Files).Pipe2, a, uint64(flags))
	b := e.tk.bytesAt(a, 8)
	return int(le.Uint32(b)), int(le.Uint32(b[4:]))
}

func (e *env) readdir(fd int) []string {
	e.t.Helper()
	var names []string
	for {
		buf := e.tk.alloc(512)
		n := e.ok((*Files).Getdents64, uint64(fd), buf, 512)
		if n == 0 {
			return names
		}
		b := e.tk.bytesAt(buf, int(n))
		for len(b) > 0 {
			rl := int(le.Uint16(b[16:]))
			name := b[19:rl]
			names = append(names, string(name[:bytes.IndexByte(name, 0)]))
			b = b[rl:]
		}
	}
}

var _ = unix.O_RDONLY

// atFD is AT_FDCWD as a register value.
var atFD = func() uint64 { v := int32(unix.AT_FDCWD); return uint64(uint32(v)) }()
