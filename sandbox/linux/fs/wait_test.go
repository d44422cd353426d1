package fs

import (
	"math/rand"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"beelzebox/linux"

	"golang.org/x/sys/unix"
)

func TestPipe(t *testing.T) {
	e := newEnv(t)
	r, w := e.pipe(0)
	e.write(w, "abc")
	fr := e.tk.alloc(4)
	e.ok((*Files).Ioctl, uint64(r), linux.FIONREAD, fr)
	if n := le.Uint32(e.tk.bytesAt(fr, 4)); n != 3 {
		t.Errorf("FIONREAD = %d", n)
	}
	if got := e.read(r, 10); got != "abc" {
		t.Errorf("read %q", got)
	}
	e.errno(linux.ESPIPE, (*Files).Lseek, uint64(r), 0, 0)
	e.errno(linux.ESPIPE, (*Files).Pread64, uint64(r), e.tk.alloc(1), 1, 0)
	e.errno(linux.EBADF, (*Files).Write, uint64(r), e.s("x"), 1)
	if fl := e.ok((*Files).Fcntl, uint64(w), unix.F_GETFL); fl != unix.O_WRONLY {
		t.Errorf("pipe F_GETFL %#x", fl)
	}

	// A blocked reader is woken by a writer on another goroutine.
	got := make(chan string)
	go func() {
		tk := newTask()
		a := tk.alloc(64)
		n, err := e.f.Read(tk, [6]uint64{uint64(r), a, 64})
		if err != 0 {
			got <- err.Error()
			return
		}
		got <- string(tk.bytesAt(a, int(n)))
	}()
	time.Sleep(20 * time.Millisecond)
	e.write(w, "wake")
	if s := <-got; s != "wake" {
		t.Errorf("blocked read = %q", s)
	}

	// Fill the pipe: a non-blocking writer gets a partial write, then EAGAIN.
	e.ok((*Files).Fcntl, uint64(w), unix.F_SETFL, unix.O_NONBLOCK)
	big := e.tk.alloc(100000)
	if n := e.ok((*Files).Write, uint64(w), big, 100000); n != PipeCapacity {
		t.Errorf("partial write %d", n)
	}
	e.errno(linux.EAGAIN, (*Files).Write, uint64(w), big, 1)
	// Room for 100 bytes: a 200-byte write (<= PIPE_BUF) is all or
	// nothing, a larger one is partial.
	e.read(r, 100)
	e.errno(linux.EAGAIN, (*Files).Write, uint64(w), big, 200)
	if n := e.ok((*Files).Write, uint64(w), big, linux.PipeBuf+1); n != 100 {
		t.Errorf("partial write of PIPE_BUF+1 = %d", n)
	}
	// A blocking writer blocks until a reader drains.
	e.ok((*Files).Fcntl, uint64(w), unix.F_SETFL, 0)
	wrote := make(chan uint64)
	go func() {
		tk := newTask()
		n, _ := e.f.Write(tk, [6]uint64{uint64(w), tk.alloc(10), 10})
		wrote <- n
	}()
	select {
	case n := <-wrote:
		t.Fatalf("write to a full pipe returned %d", n)
	case <-time.After(30 * time.Millisecond):
	}
	e.read(r, 4096)
	if n := <-wrote; n != 10 {
		t.Errorf("blocked write = %d", n)
	}
	// Non-blocking empty read.
	e.read(r, PipeCapacity)
	e.ok((*Files).Fcntl, uint64(r), unix.F_SETFL, unix.O_NONBLOCK)
	e.errno(linux.EAGAIN, (*Files).Read, uint64(r), e.tk.alloc(1), 1)
	e.ok((*Files).Fcntl, uint64(r), unix.F_SETFL, 0)

	// EOF when the writers are gone (a dup keeps it open).
	w2 := e.ok((*Files).Dup, uint64(w))
	e.ok((*Files).CloseFD, uint64(w))
	e.write(int(w2), "x")
	e.ok((*Files).CloseFD, w2)
	if got := e.read(r, 10); got != "x" {
		t.Errorf("read before EOF %q", got)
	}
	if got := e.read(r, 10); got != "" {
		t.Errorf("EOF read %q", got)
	}

	// EPIPE and SIGPIPE without readers.
	r3, w3 := e.pipe(unix.O_CLOEXEC)
	if e.ok((*Files).Fcntl, uint64(r3), unix.F_GETFD) != unix.FD_CLOEXEC {
		t.Error("pipe2 O_CLOEXEC")
	}
	e.ok((*Files).CloseFD, uint64(r3))
	e.errno(linux.EPIPE, (*Files).Write, uint64(w3), e.s("x"), 1)
	if e.tk.sigpipe != 1 {
		t.Errorf("SignalPipe called %d times", e.tk.sigpipe)
	}
	e.errno(linux.EINVAL, (*Files).Pipe2, e.tk.alloc(8), 0x1)
	e.errno(linux.EFAULT, (*Files).Pipe, 0)

	// A blocked reader is interrupted.
	r4, _ := e.pipe(0)
	done := make(chan linux.Errno)
	go func() {
		_, err := e.call((*Files).Read, uint64(r4), e.tk.alloc(1), 1)
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	close(e.tk.intr)
	if err := <-done; err != linux.EINTR {
		t.Errorf("interrupted read = %v", err)
	}
}

// TestPipeAtomic writes PIPE_BUF-sized records from several goroutines and
// checks that they are never interleaved.
func TestPipeAtomic(t *testing.T) {
	e := newEnv(t)
	r, w := e.pipe(0)
	const writers, each = 4, 40
	var wg sync.WaitGroup
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(c byte) {
			defer wg.Done()
			tk := newTask()
			a := tk.str(strings.Repeat(string(c), linux.PipeBuf))
			for j := 0; j < each; j++ {
				if n, err := e.f.Write(tk, [6]uint64{uint64(w), a, linux.PipeBuf}); n != linux.PipeBuf || err != 0 {
					t.Errorf("write = %d, %v", n, err)
					return
				}
			}
		}(byte('a' + i))
	}
	go func() { wg.Wait(); e.f.CloseFD(newTask(), [6]uint64{uint64(w)}) }()
	tk := newTask()
	buf := tk.alloc(linux.PipeBuf)
	var all []byte
	for {
		// Odd read sizes leave room that is not a multiple of PIPE_BUF.
		n, err := e.f.Read(tk, [6]uint64{uint64(r), buf, 1000})
		if err != 0 {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		all = append(all, tk.bytesAt(buf, int(n))...)
	}
	if len(all) != writers*each*linux.PipeBuf {
		t.Fatalf("read %d bytes", len(all))
	}
	for i := 0; i < len(all); i += linux.PipeBuf {
		rec := all[i : i+linux.PipeBuf]
		if strings.Count(string(rec), string(rec[0])) != linux.PipeBuf {
			t.Fatalf("record %d interleaved", i/linux.PipeBuf)
		}
	}
}

func (e *env) pollfds(fds ...linux.PollFd) uint64 {
	a := e.tk.alloc(8 * len(fds))
	for i, p := range fds {
		p.Encode(e.tk.mem[a-memBase+uint64(8*i):])
	}
	return a
}

func (e *env) revents(a uint64, i int) int16 {
	return linux.DecodePollFd(e.tk.bytesAt(a+uint64(8*i), 8)).Revents
}

func TestPoll(t *testing.T) {
	e := newEnv(t)
	r, w := e.pipe(0)
	file := e.open("/etc/passwd", rd, 0)
	p := e.pollfds(
		linux.PollFd{Fd: int32(r), Events: unix.POLLIN},
		linux.PollFd{Fd: int32(w), Events: unix.POLLOUT},
		linux.PollFd{Fd: int32(file), Events: unix.POLLIN | unix.POLLOUT},
		linux.PollFd{Fd: -1, Events: unix.POLLIN},
		linux.PollFd{Fd: 999, Events: unix.POLLIN},
	)
	if n := e.ok((*Files).Poll, p, 5, 0); n != 3 {
		t.Errorf("poll = %d", n)
	}
	if e.revents(p, 0) != 0 || e.revents(p, 1) != unix.POLLOUT || e.revents(p, 2) != unix.POLLIN|unix.POLLOUT ||
		e.revents(p, 3) != 0 || e.revents(p, 4) != unix.POLLNVAL {
		t.Errorf("revents %d %d %d %d %d", e.revents(p, 0), e.revents(p, 1), e.revents(p, 2), e.revents(p, 3), e.revents(p, 4))
	}
	// Timeout.
	pr := e.pollfds(linux.PollFd{Fd: int32(r), Events: unix.POLLIN})
	start := time.Now()
	if n := e.ok((*Files).Poll, pr, 1, 50); n != 0 {
		t.Errorf("poll timeout = %d", n)
	}
	if d := time.Since(start); d < 40*time.Millisecond || d > 2*time.Second {
		t.Errorf("poll waited %v", d)
	}
	// Wake-up by a writer.
	go func() {
		time.Sleep(20 * time.Millisecond)
		e.f.Write(newTaskWith("x"), [6]uint64{uint64(w), memBase, 1})
	}()
	if n := e.ok((*Files).Poll, pr, 1, uint64(1<<32-1)); n != 1 || e.revents(pr, 0) != unix.POLLIN {
		t.Errorf("poll wake = %d %d", n, e.revents(pr, 0))
	}
	// POLLHUP after the writer closes.
	e.read(r, 1)
	e.ok((*Files).CloseFD, uint64(w))
	if n := e.ok((*Files).Poll, pr, 1, 0); n != 1 || e.revents(pr, 0) != unix.POLLHUP {
		t.Errorf("POLLHUP: %d %d", n, e.revents(pr, 0))
	}
	// ppoll with a timespec; EINVAL on a bad one; nfds limit.
	ts := e.tk.alloc(16)
	linux.Timespec{Sec: 0, Nsec: 1e6}.Encode(e.tk.mem[ts-memBase:])
	r2, _ := e.pipe(0)
	pr2 := e.pollfds(linux.PollFd{Fd: int32(r2), Events: unix.POLLIN})
	if n := e.ok((*Files).Ppoll, pr2, 1, ts); n != 0 {
		t.Errorf("ppoll = %d", n)
	}
	linux.Timespec{Sec: 0, Nsec: 2e9}.Encode(e.tk.mem[ts-memBase:])
	e.errno(linux.EINVAL, (*Files).Ppoll, pr2, 1, ts)
	e.errno(linux.EINVAL, (*Files).Poll, pr2, MaxFDs+1, 0)
	e.errno(linux.EFAULT, (*Files).Poll, 8, 1, 0)
	// EINTR.
	done := make(chan linux.Errno)
	go func() { _, err := e.call((*Files).Poll, pr2, 1, uint64(1<<32-1)); done <- err }()
	time.Sleep(10 * time.Millisecond)
	close(e.tk.intr)
	if err := <-done; err != linux.EINTR {
		t.Errorf("interrupted poll = %v", err)
	}
}

func newTaskWith(s string) *fakeTask {
	tk := newTask()
	tk.str(s)
	return tk
}

func TestSelect(t *testing.T) {
	e := newEnv(t)
	r, w := e.pipe(0)
	set := func(fds ...int) uint64 {
		a := e.tk.alloc(128)
		var b [128]byte
		for _, fd := range fds {
			b[fd/8] |= 1 << (fd % 8)
		}
		e.tk.WriteMemory(a, b[:])
		return a
	}
	isSet := func(a uint64, fd int) bool { return e.tk.bytesAt(a, 128)[fd/8]&(1<<(fd%8)) != 0 }
	rs, ws := set(r), set(w)
	tv := e.tk.alloc(16)
	linux.Timeval{Sec: 0, Usec: 0}.Encode(e.tk.mem[tv-memBase:])
	if n := e.ok((*Files).Select, uint64(w+1), rs, ws, 0, tv); n != 1 || isSet(rs, r) || !isSet(ws, w) {
		t.Errorf("select = %d", n)
	}
	e.write(w, "x")
	rs = set(r)
	linux.Timeval{Sec: 1, Usec: 0}.Encode(e.tk.mem[tv-memBase:])
	if n := e.ok((*Files).Select, uint64(w+1), rs, 0, 0, tv); n != 1 || !isSet(rs, r) {
		t.Errorf("select readable = %d", n)
	}
	e.errno(linux.EBADF, (*Files).Select, 100, set(99), 0, 0, tv)
	e.errno(linux.EINVAL, (*Files).Select, uint64(1<<32-1), 0, 0, 0, tv)
	linux.Timeval{Sec: 0, Usec: 2e6}.Encode(e.tk.mem[tv-memBase:])
	e.errno(linux.EINVAL, (*Files).Select, 1, 0, 0, 0, tv)
	// pselect6 timeout with nothing ready.
	e.read(r, 1)
	ts := e.tk.alloc(16)
	linux.Timespec{Sec: 0, Nsec: 5e6}.Encode(e.tk.mem[ts-memBase:])
	if n := e.ok((*Files).Pselect6, uint64(r+1), set(r), 0, 0, ts, 0); n != 0 {
		t.Errorf("pselect6 = %d", n)
	}
}

func (e *env) epollCtl(ep, op, fd int, events uint32, data uint64) linux.Errno {
	a := e.tk.alloc(12)
	linux.EpollEvent{Events: events, Data: data}.Encode(e.tk.mem[a-memBase:])
	_, err := e.call((*Files).EpollCtl, uint64(ep), uint64(op), uint64(fd), a)
	return err
}

func (e *env) epollWait(ep int, ms int) []linux.EpollEvent {
	e.t.Helper()
	a := e.tk.alloc(12 * 8)
	n := e.ok((*Files).EpollPwait, uint64(ep), a, 8, uint64(uint32(int32(ms))), 0, 8)
	var out []linux.EpollEvent
	for i := 0; i < int(n); i++ {
		out = append(out, linux.DecodeEpollEvent(e.tk.bytesAt(a+uint64(12*i), 12)))
	}
	return out
}

func TestEpoll(t *testing.T) {
	e := newEnv(t)
	ep := int(e.ok((*Files).EpollCreate1, unix.EPOLL_CLOEXEC))
	if e.ok((*Files).Fcntl, uint64(ep), unix.F_GETFD) != unix.FD_CLOEXEC {
		t.Error("EPOLL_CLOEXEC")
	}
	e.errno(linux.EINVAL, (*Files).EpollCreate1, 1)
	e.errno(linux.EINVAL, (*Files).EpollCreate, 0)
	r, w := e.pipe(unix.O_NONBLOCK)
	ev := int(e.ok((*Files).Eventfd2, 0, unix.EFD_NONBLOCK))
	const data = 0x1122334455667788
	if err := e.epollCtl(ep, unix.EPOLL_CTL_ADD, r, unix.EPOLLIN|unix.EPOLLET, data); err != 0 {
		t.Fatal(err)
	}
	if err := e.epollCtl(ep, unix.EPOLL_CTL_ADD, r, unix.EPOLLIN, 0); err != linux.EEXIST {
		t.Errorf("second ADD = %v", err)
	}
	if err := e.epollCtl(ep, unix.EPOLL_CTL_ADD, ev, unix.EPOLLIN, 7); err != 0 {
		t.Fatal(err)
	}
	if err := e.epollCtl(ep, unix.EPOLL_CTL_ADD, e.open("/etc/passwd", rd, 0), unix.EPOLLIN, 0); err != linux.EPERM {
		t.Errorf("ADD regular file = %v", err)
	}
	if err := e.epollCtl(ep, unix.EPOLL_CTL_ADD, ep, unix.EPOLLIN, 0); err != linux.EINVAL {
		t.Errorf("ADD self = %v", err)
	}
	if err := e.epollCtl(ep, unix.EPOLL_CTL_MOD, w, unix.EPOLLIN, 0); err != linux.ENOENT {
		t.Errorf("MOD absent = %v", err)
	}
	if err := e.epollCtl(r, unix.EPOLL_CTL_ADD, w, unix.EPOLLIN, 0); err != linux.EINVAL {
		t.Errorf("epfd not epoll = %v", err)
	}
	if got := e.epollWait(ep, 0); len(got) != 0 {
		t.Errorf("nothing ready: %+v", got)
	}
	start := time.Now()
	if got := e.epollWait(ep, 30); len(got) != 0 || time.Since(start) < 25*time.Millisecond {
		t.Errorf("timeout: %+v after %v", got, time.Since(start))
	}
	// A writer on another goroutine wakes a blocked epoll_wait.
	go func() {
		time.Sleep(10 * time.Millisecond)
		e.f.Write(newTaskWith("xy"), [6]uint64{uint64(w), memBase, 2})
	}()
	got := e.epollWait(ep, -1)
	if len(got) != 1 || got[0].Data != data || got[0].Events != unix.EPOLLIN {
		t.Fatalf("epoll_wait = %+v", got)
	}
	// Edge-triggered: no new report until new data.
	if got := e.epollWait(ep, 0); len(got) != 0 {
		t.Errorf("edge reported again: %+v", got)
	}
	e.write(w, "z")
	if got := e.epollWait(ep, 0); len(got) != 1 {
		t.Errorf("new edge not reported: %+v", got)
	}
	// Level-triggered eventfd: reported until read.
	e.f.Write(newTaskWith("\x05\x00\x00\x00\x00\x00\x00\x00"), [6]uint64{uint64(ev), memBase, 8})
	for i := 0; i < 2; i++ {
		if got := e.epollWait(ep, 0); len(got) != 1 || got[0].Data != 7 {
			t.Errorf("level %d: %+v", i, got)
		}
	}
	b := e.read(ev, 8)
	if le.Uint64([]byte(b)) != 5 {
		t.Errorf("eventfd read %q", b)
	}
	e.errno(linux.EAGAIN, (*Files).Read, uint64(ev), e.tk.alloc(8), 8)
	e.errno(linux.EINVAL, (*Files).Read, uint64(ev), e.tk.alloc(8), 4)
	if got := e.epollWait(ep, 0); len(got) != 0 {
		t.Errorf("after eventfd read: %+v", got)
	}
	// EPOLLONESHOT: one report until MOD re-arms.
	if err := e.epollCtl(ep, unix.EPOLL_CTL_MOD, ev, unix.EPOLLOUT|unix.EPOLLONESHOT, 9); err != 0 {
		t.Fatal(err)
	}
	if got := e.epollWait(ep, 0); len(got) != 1 || got[0].Events != unix.EPOLLOUT || got[0].Data != 9 {
		t.Errorf("oneshot: %+v", got)
	}
	if got := e.epollWait(ep, 0); len(got) != 0 {
		t.Errorf("oneshot fired twice: %+v", got)
	}
	// DEL; closing the last descriptor removes the item too.
	if err := e.epollCtl(ep, unix.EPOLL_CTL_DEL, ev, 0, 0); err != 0 {
		t.Fatal(err)
	}
	if err := e.epollCtl(ep, unix.EPOLL_CTL_DEL, ev, 0, 0); err != linux.ENOENT {
		t.Errorf("second DEL = %v", err)
	}
	e.errno(linux.EINVAL, (*Files).EpollWait, uint64(ep), e.tk.alloc(12), 0, 0)
	e.errno(linux.EFAULT, (*Files).EpollWait, uint64(ep), 8, 1, 0)
	// Hang-up of the pipe is reported.
	e.ok((*Files).CloseFD, uint64(w))
	if got := e.epollWait(ep, 0); len(got) != 1 || got[0].Events&unix.EPOLLHUP == 0 {
		t.Errorf("hang-up: %+v", got)
	}
	e.ok((*Files).CloseFD, uint64(r))
	if got := e.epollWait(ep, 0); len(got) != 0 {
		t.Errorf("closed fd still reported: %+v", got)
	}
	// poll on an epoll fd.
	r5, w5 := e.pipe(0)
	e.epollCtl(ep, unix.EPOLL_CTL_ADD, r5, unix.EPOLLIN, 0)
	p := e.pollfds(linux.PollFd{Fd: int32(ep), Events: unix.POLLIN})
	if n := e.ok((*Files).Poll, p, 1, 0); n != 0 {
		t.Errorf("poll epoll idle = %d", n)
	}
	e.write(w5, "x")
	if n := e.ok((*Files).Poll, p, 1, 0); n != 1 {
		t.Errorf("poll epoll ready = %d", n)
	}
}

func TestEventfdSemaphoreAndBlocking(t *testing.T) {
	e := newEnv(t)
	ev := int(e.ok((*Files).Eventfd2, 2, unix.EFD_SEMAPHORE))
	for i := 0; i < 2; i++ {
		if b := e.read(ev, 8); le.Uint64([]byte(b)) != 1 {
			t.Errorf("semaphore read %q", b)
		}
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		e.f.Write(newTaskWith("\x01\x00\x00\x00\x00\x00\x00\x00"), [6]uint64{uint64(ev), memBase, 8})
	}()
	if b := e.read(ev, 8); le.Uint64([]byte(b)) != 1 {
		t.Errorf("blocked read %q", b)
	}
	e.errno(linux.EINVAL, (*Files).Write, uint64(ev), e.s("\xff\xff\xff\xff\xff\xff\xff\xff"), 8)
	e.errno(linux.EINVAL, (*Files).Eventfd2, 0, 0x4)
}

func TestLocks(t *testing.T) {
	e := newEnv(t)
	fd := e.open("/tmp/l", rdwr|creat, 0o644)
	other := e.fs.NewFiles(fakeProc{pid: 43})
	defer other.Close()
	ofd := int(other.mustOpen(t, e.tk, "/tmp/l", rdwr))
	lk := func(f *Files, fd int, cmd int, typ int16, start, l int64) (linux.Flock, linux.Errno) {
		a := e.tk.alloc(32)
		linux.Flock{Type: typ, Whence: unix.SEEK_SET, Start: start, Len: l}.Encode(e.tk.mem[a-memBase:])
		_, err := f.Fcntl(e.tk, [6]uint64{uint64(fd), uint64(cmd), a})
		return linux.DecodeFlock(e.tk.bytesAt(a, 32)), err
	}
	if _, err := lk(e.f, fd, unix.F_SETLK, unix.F_WRLCK, 0, 10); err != 0 {
		t.Fatal(err)
	}
	if _, err := lk(other, ofd, unix.F_SETLK, unix.F_RDLCK, 5, 1); err != linux.EAGAIN {
		t.Errorf("conflicting lock = %v", err)
	}
	if _, err := lk(other, ofd, unix.F_SETLK, unix.F_WRLCK, 10, 5); err != 0 {
		t.Errorf("adjacent lock = %v", err)
	}
	got, err := lk(other, ofd, unix.F_GETLK, unix.F_WRLCK, 0, 0)
	if err != 0 || got.Type != unix.F_WRLCK || got.Pid != 42 || got.Start != 0 || got.Len != 10 {
		t.Errorf("F_GETLK = %+v, %v", got, err)
	}
	// Unlocking the middle splits the lock.
	lk(e.f, fd, unix.F_SETLK, unix.F_UNLCK, 3, 2)
	if _, err := lk(other, ofd, unix.F_SETLK, unix.F_WRLCK, 3, 2); err != 0 {
		t.Errorf("lock in the hole = %v", err)
	}
	// F_SETLKW waits for the holder.
	done := make(chan linux.Errno)
	go func() { _, err := lk(other, ofd, unix.F_SETLKW, unix.F_WRLCK, 0, 1); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("F_SETLKW did not wait: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	// Closing any descriptor of the file drops the process's locks.
	dup := e.ok((*Files).Dup, uint64(fd))
	e.ok((*Files).CloseFD, dup)
	if err := <-done; err != 0 {
		t.Errorf("F_SETLKW = %v", err)
	}
	if _, err := lk(e.f, fd, unix.F_SETLK, 7, 0, 1); err != linux.EINVAL {
		t.Errorf("bad type = %v", err)
	}
	rfd := e.open("/tmp/l", rd, 0)
	if _, err := lk(e.f, rfd, unix.F_SETLK, unix.F_WRLCK, 100, 1); err != linux.EBADF {
		t.Errorf("write lock on O_RDONLY = %v", err)
	}

	// flock.
	f1 := e.open("/tmp/l", rd, 0)
	f2 := e.open("/tmp/l", rd, 0)
	e.ok((*Files).Flock, uint64(f1), unix.LOCK_SH)
	e.ok((*Files).Flock, uint64(f2), unix.LOCK_SH)
	e.errno(linux.EAGAIN, (*Files).Flock, uint64(f2), unix.LOCK_EX|unix.LOCK_NB)
	e.ok((*Files).CloseFD, uint64(f1))
	e.ok((*Files).Flock, uint64(f2), unix.LOCK_EX|unix.LOCK_NB)
	e.errno(linux.EINVAL, (*Files).Flock, uint64(f2), 0)
}

func (f *Files) mustOpen(t *testing.T, tk *fakeTask, path string, flags int) uint64 {
	fd, err := f.Open(tk, [6]uint64{tk.str(path), uint64(flags)})
	if err != 0 {
		t.Fatal(err)
	}
	return fd
}

func TestClone(t *testing.T) {
	e := newEnv(t)
	fd := e.open("/etc/passwd", rd, 0)
	c := e.f.Clone(fakeProc{pid: 50})
	defer c.Close()
	e.read(fd, 5)
	if off, _ := c.Lseek(e.tk, [6]uint64{uint64(fd), 0, unix.SEEK_CUR}); off != 5 {
		t.Errorf("forked offset %d", off)
	}
	if got := e.readlink("/proc/50/fd/" + itoa(fd)); got != "/etc/passwd" {
		t.Errorf("/proc/50/fd link %q", got)
	}
}

// TestHostilePointers passes unmapped addresses to every handler that
// takes a pointer: each must fail with EFAULT (or an earlier error), never
// panic.
func TestHostilePointers(t *testing.T) {
	e := newEnv(t)
	fd := uint64(e.open("/etc/passwd", rd, 0))
	tf := uint64(e.open("/tmp/x", rdwr|creat, 0o644))
	e.write(int(tf), "data")
	dfd := uint64(e.open("/etc", rd, 0))
	bad := []uint64{0, 8, memBase - 1, memBase + 1<<20, 1<<64 - 1, 1 << 63}
	for _, p := range bad {
		for _, c := range []struct {
			fn   handler
			args []uint64
		}{
			{(*Files).Read, []uint64{fd, p, 10}},
			{(*Files).Write, []uint64{tf, p, 10}},
			{(*Files).Open, []uint64{p, 0}},
			{(*Files).Stat, []uint64{p, memBase}},
			{(*Files).Fstat, []uint64{fd, p}},
			{(*Files).Readv, []uint64{fd, p, 2}},
			{(*Files).Writev, []uint64{tf, p, 2}},
			{(*Files).Pread64, []uint64{fd, p, 10, 0}},
			{(*Files).Getdents64, []uint64{dfd, p, 4096}},
			{(*Files).Getcwd, []uint64{p, 100}},
			{(*Files).Pipe, []uint64{p}},
			{(*Files).Poll, []uint64{p, 1, 0}},
			{(*Files).Statfs, []uint64{e.s("/"), p}},
			{(*Files).Readlink, []uint64{e.s("/bin/ls"), p, 100}},
			{(*Files).Ioctl, []uint64{1, unix.TIOCGWINSZ, p}},
			{(*Files).Statx, []uint64{atFD, e.s("/"), 0, 0, p}},
			{(*Files).Mkdir, []uint64{p, 0o755}},
			{(*Files).Rename, []uint64{p, e.s("/tmp/y")}},
			{(*Files).Rename, []uint64{e.s("/tmp/x"), p}},
			{(*Files).Utimensat, []uint64{atFD, e.s("/tmp/x"), p, 0}},
			{(*Files).Sendfile, []uint64{tf, fd, p, 10}},
			{(*Files).Fcntl, []uint64{tf, unix.F_SETLK, p}},
			{(*Files).EpollCtl, []uint64{3, unix.EPOLL_CTL_ADD, 0, p}},
			{(*Files).Select, []uint64{10, p, 0, 0, 0}},
			{(*Files).Ppoll, []uint64{e.s(""), 0, p}},
		} {
			name := funcName(c.fn)
			if p == 0 && (name == "utimensat" || name == "sendfile" || name == "select" || name == "ppoll") {
				continue // NULL means something there
			}
			_, err := e.call(c.fn, c.args...)
			if err != linux.EFAULT {
				t.Errorf("%s(%#x) = %v, want EFAULT", name, c.args, err)
			}
		}
	}
	// A path that runs into unmapped memory; one that ends just before.
	end := uint64(memBase + 1<<20)
	e.tk.WriteMemory(end-4, []byte("/etc"))
	e.errno(linux.EFAULT, (*Files).Open, end-4, 0)
	e.tk.WriteMemory(end-5, []byte("/etc\x00"))
	e.ok((*Files).Open, end-5, 0)
}

func funcName(fn handler) string {
	for nr, c := range Calls {
		if reflect.ValueOf(c.Fn).Pointer() == reflect.ValueOf(fn).Pointer() {
			return linux.SyscallNames[nr]
		}
	}
	return "?"
}

// TestGarbage throws random arguments at every handler of Calls: no
// panic, no hang (blocking calls get interrupted).
func TestGarbage(t *testing.T) {
	e := newEnv(t)
	e.con.input <- []byte("some input")
	e.open("/etc/passwd", rd, 0)
	e.open("/tmp/g", rdwr|creat, 0o644)
	e.pipe(0)
	e.ok((*Files).EpollCreate1, 0)
	e.ok((*Files).Eventfd2, 1, 0)
	rng := rand.New(rand.NewSource(1))
	// Guest strings and buffers that make sense, mixed with garbage.
	paths := []uint64{e.s("/tmp/g"), e.s("/tmp"), e.s("/proc/self/fd/3"), e.s("/dev/null"), e.s("x"), e.s("/tmp/new"), e.s("")}
	buf := e.tk.alloc(8192)
	nums := []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 0xffffffff, 1<<64 - 1, 1 << 63, 4096, 65536, 1 << 31, atFD, 0x80000, 0x800}
	pick := func() uint64 {
		switch rng.Intn(4) {
		case 0:
			return paths[rng.Intn(len(paths))]
		case 1:
			return buf + uint64(rng.Intn(4096))
		case 2:
			return nums[rng.Intn(len(nums))]
		}
		return rng.Uint64() >> uint(rng.Intn(64))
	}
	nrs := make([]uint64, 0, len(Calls))
	for nr := range Calls {
		nrs = append(nrs, nr)
	}
	// The guest thread: the same memory, and any wait is interrupted at
	// once.
	gt := &fakeTask{base: memBase, mem: e.tk.mem, next: e.tk.next, intr: make(chan struct{})}
	close(gt.intr)
	for i := 0; i < 20000; i++ {
		nr := nrs[rng.Intn(len(nrs))]
		if nr == linux.SysClose && rng.Intn(4) != 0 {
			continue // keep some files open
		}
		var a [6]uint64
		for j := range a {
			a[j] = pick()
		}
		tk := gt
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("%s%#x panicked: %v", linux.SyscallNames[nr], a, r)
				}
			}()
			done := make(chan struct{})
			go func() {
				defer close(done)
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s%#x panicked: %v", linux.SyscallNames[nr], a, r)
					}
				}()
				Calls[nr].Fn(e.f, tk, a)
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatalf("%s%#x hangs", linux.SyscallNames[nr], a)
			}
		}()
	}
}

func TestCallsTable(t *testing.T) {
	for _, nr := range []uint64{linux.SysRead, linux.SysOpenat, linux.SysEpollPwait, linux.SysStatx, linux.SysGetdents64, linux.SysFlock} {
		if Calls[nr].Fn == nil {
			t.Errorf("%s missing", linux.SyscallNames[nr])
		}
	}
	for nr, c := range Calls {
		if (c.Status == Partial) != (c.Missing != "") {
			t.Errorf("%s: status %d with missing %q", linux.SyscallNames[nr], c.Status, c.Missing)
		}
	}
}
