package fs

import (
	"sync"
	"time"

	"beelzebox/linux"

	"golang.org/x/sys/unix"
)

// pipe is the buffer of an anonymous pipe.
type pipe struct {
	q waitQueue

	mu      sync.Mutex
	buf     []byte // len <= PipeCapacity
	readers int
	writers int
}

// pipeOps is one end (or both, for O_RDWR opens of /proc/self/fd/N).
type pipeOps struct {
	baseOps
	p    *pipe
	r, w bool
}

// open makes a new end of the pipe (open of /proc/self/fd/N).
func (p *pipe) open(t Task, flags uint32) (fileOps, linux.Errno) {
	acc := flags & unix.O_ACCMODE
	o := &pipeOps{p: p, r: acc == unix.O_RDONLY || acc == unix.O_RDWR, w: acc == unix.O_WRONLY || acc == unix.O_RDWR}
	p.mu.Lock()
	if o.r {
		p.readers++
	}
	if o.w {
		p.writers++
	}
	p.mu.Unlock()
	p.q.notify()
	return o, 0
}

func (o *pipeOps) release(of *file) {
	p := o.p
	p.mu.Lock()
	if o.r {
		p.readers--
	}
	if o.w {
		p.writers--
	}
	p.mu.Unlock()
	p.q.notify()
}

func (o *pipeOps) queue(*file) *waitQueue { return &o.p.q }

func (o *pipeOps) events(of *file) uint32 {
	p := o.p
	p.mu.Lock()
	defer p.mu.Unlock()
	var ev uint32
	if o.r {
		if len(p.buf) > 0 {
			ev |= unix.POLLIN | linux.POLLRDNORM
		}
		if p.writers == 0 {
			ev |= unix.POLLHUP
		}
	}
	if o.w {
		if PipeCapacity-len(p.buf) >= linux.PipeBuf {
			ev |= unix.POLLOUT | linux.POLLWRNORM
		}
		if p.readers == 0 {
			ev |= unix.POLLERR
		}
	}
	return ev
}

func (o *pipeOps) read(t Task, of *file, b []byte, off int64) (int, linux.Errno) {
	p := o.p
	if len(b) == 0 {
		return 0, 0
	}
	for {
		w := newWaiter()
		p.q.add(w)
		p.mu.Lock()
		if len(p.buf) > 0 {
			n := copy(b, p.buf)
			p.buf = p.buf[n:]
			if len(p.buf) == 0 {
				p.buf = nil
			}
			p.mu.Unlock()
			p.q.remove(w)
			p.q.notify()
			return n, 0
		}
		if p.writers == 0 {
			p.mu.Unlock()
			p.q.remove(w)
			return 0, 0
		}
		p.mu.Unlock()
		if of.nonblock() {
			p.q.remove(w)
			return 0, linux.EAGAIN
		}
		if err := p.q.wait(t, w, time.Time{}); err != 0 {
			return 0, err
		}
	}
}

func (o *pipeOps) write(t Task, of *file, b []byte, off int64) (int, linux.Errno) {
	p := o.p
	done := 0
	for {
		w := newWaiter()
		p.q.add(w)
		p.mu.Lock()
		if p.readers == 0 {
			p.mu.Unlock()
			p.q.remove(w)
			if done > 0 {
				return done, 0
			}
			t.SignalPipe()
			return 0, linux.EPIPE
		}
		room := PipeCapacity - len(p.buf)
		left := len(b) - done
		if left == 0 {
			p.mu.Unlock()
			p.q.remove(w)
			return done, 0
		}
		// Writes of up to PIPE_BUF bytes go in whole or not at all.
		if room > 0 && (len(b) > linux.PipeBuf || room >= left) {
			n := min(room, left)
			p.buf = append(p.buf, b[done:done+n]...)
			done += n
			p.mu.Unlock()
			p.q.remove(w)
			p.q.notify()
			continue
		}
		p.mu.Unlock()
		if of.nonblock() {
			p.q.remove(w)
			if done > 0 {
				return done, 0
			}
			return 0, linux.EAGAIN
		}
		if err := p.q.wait(t, w, time.Time{}); err != 0 {
			if done > 0 {
				return done, 0
			}
			return 0, err
		}
	}
}

func (o *pipeOps) ioctl(t Task, of *file, req, arg uint64) (uint64, linux.Errno) {
	if req == linux.FIONREAD {
		o.p.mu.Lock()
		n := len(o.p.buf)
		o.p.mu.Unlock()
		return 0, writeU32(t, arg, uint32(n))
	}
	return 0, linux.ENOTTY
}

// pipeInode makes the inode of a new anonymous pipe (pipefs).
func (fsys *FS) pipeInode(p *pipe) *inode {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	n := fsys.newAnon(unix.S_IFIFO | 0o600)
	n.pipe = p
	return n
}

// newAnon makes an inode of the anonymous-inode file system (pipes,
// eventfd, epoll). FS.mu is held.
func (fsys *FS) newAnon(mode uint32) *inode {
	if fsys.anon == nil {
		fsys.anon = &mount{name: "pipefs", dev: linux.Mkdev(0, 12), readonly: true, magic: 0x50495045}
	}
	n := fsys.newInode(fsys.anon, mode)
	return n
}

func (f *Files) pipe2(t Task, addr uint64, flags uint32) (uint64, linux.Errno) {
	if flags&^(unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_DIRECT) != 0 {
		return 0, linux.EINVAL
	}
	p := &pipe{readers: 1, writers: 1}
	ino := f.fs.pipeInode(p)
	name := "pipe:[" + itoa(int(ino.ino)) + "]"
	st := flags & (unix.O_NONBLOCK | unix.O_DIRECT)
	r := f.fs.newFile(ino, &pipeOps{p: p, r: true}, unix.O_RDONLY|st, name)
	w := f.fs.newFile(ino, &pipeOps{p: p, w: true}, unix.O_WRONLY|st, name)
	cloexec := flags&unix.O_CLOEXEC != 0
	rfd, err := f.install(r, 0, cloexec)
	if err != 0 {
		r.decRef()
		w.decRef()
		return 0, err
	}
	wfd, err := f.install(w, 0, cloexec)
	if err != 0 {
		f.CloseFD(t, [6]uint64{uint64(rfd)})
		w.decRef()
		return 0, err
	}
	var b [8]byte
	le.PutUint32(b[0:], uint32(rfd))
	le.PutUint32(b[4:], uint32(wfd))
	if e := writeMem(t, addr, b[:]); e != 0 {
		f.CloseFD(t, [6]uint64{uint64(rfd)})
		f.CloseFD(t, [6]uint64{uint64(wfd)})
		return 0, e
	}
	return 0, 0
}

// Pipe is pipe(fds[2]).
func (f *Files) Pipe(t Task, a [6]uint64) (uint64, linux.Errno) { return f.pipe2(t, a[0], 0) }

// Pipe2 is pipe2(fds[2], flags).
func (f *Files) Pipe2(t Task, a [6]uint64) (uint64, linux.Errno) {
	return f.pipe2(t, a[0], uint32(a[1]))
}

// --- eventfd ---

const eventfdMax = 0xfffffffffffffffe

type eventfdOps struct {
	baseOps
	q    waitQueue
	mu   sync.Mutex
	val  uint64
	sema bool
}

func (e *eventfdOps) queue(*file) *waitQueue { return &e.q }

func (e *eventfdOps) events(*file) uint32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var ev uint32
	if e.val > 0 {
		ev |= unix.POLLIN | linux.POLLRDNORM
	}
	if e.val < eventfdMax {
		ev |= unix.POLLOUT | linux.POLLWRNORM
	}
	return ev
}

func (e *eventfdOps) read(t Task, of *file, p []byte, off int64) (int, linux.Errno) {
	if len(p) < 8 {
		return 0, linux.EINVAL
	}
	for {
		w := newWaiter()
		e.q.add(w)
		e.mu.Lock()
		if e.val > 0 {
			v := e.val
			if e.sema {
				v = 1
			}
			e.val -= v
			e.mu.Unlock()
			e.q.remove(w)
			e.q.notify()
			le.PutUint64(p, v)
			return 8, 0
		}
		e.mu.Unlock()
		if of.nonblock() {
			e.q.remove(w)
			return 0, linux.EAGAIN
		}
		if err := e.q.wait(t, w, time.Time{}); err != 0 {
			return 0, err
		}
	}
}

func (e *eventfdOps) write(t Task, of *file, p []byte, off int64) (int, linux.Errno) {
	if len(p) < 8 {
		return 0, linux.EINVAL
	}
	v := le.Uint64(p)
	if v == 0xffffffffffffffff {
		return 0, linux.EINVAL
	}
	for {
		w := newWaiter()
		e.q.add(w)
		e.mu.Lock()
		if eventfdMax-e.val >= v {
			e.val += v
			e.mu.Unlock()
			e.q.remove(w)
			e.q.notify()
			return 8, 0
		}
		e.mu.Unlock()
		if of.nonblock() {
			e.q.remove(w)
			return 0, linux.EAGAIN
		}
		if err := e.q.wait(t, w, time.Time{}); err != 0 {
			return 0, err
		}
	}
}

func (f *Files) eventfd(initval uint64, flags uint32) (uint64, linux.Errno) {
	if flags&^(unix.EFD_CLOEXEC|unix.EFD_NONBLOCK|unix.EFD_SEMAPHORE) != 0 {
		return 0, linux.EINVAL
	}
	f.fs.mu.Lock()
	ino := f.fs.newAnon(0o600)
	ino.openFn = anonOpen
	f.fs.mu.Unlock()
	ops := &eventfdOps{val: uint64(uint32(initval)), sema: flags&unix.EFD_SEMAPHORE != 0}
	of := f.fs.newFile(ino, ops, unix.O_RDWR|flags&unix.O_NONBLOCK, "anon_inode:[eventfd]")
	return f.installNew(of, flags&unix.EFD_CLOEXEC != 0)
}

// anonOpen refuses to reopen anonymous inodes through /proc/self/fd.
func anonOpen(*FS, *Files, *inode, uint32) (fileOps, linux.Errno) { return nil, linux.ENXIO }

// Eventfd is eventfd(initval).
func (f *Files) Eventfd(t Task, a [6]uint64) (uint64, linux.Errno) { return f.eventfd(a[0], 0) }

// Eventfd2 is eventfd2(initval, flags).
func (f *Files) Eventfd2(t Task, a [6]uint64) (uint64, linux.Errno) {
	return f.eventfd(a[0], uint32(a[1]))
}

// MemfdCreate is memfd_create(name, flags): an unnamed tmpfs file.
func (f *Files) MemfdCreate(t Task, a [6]uint64) (uint64, linux.Errno) {
	flags := uint32(a[1])
	if flags&^(unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_NOEXEC_SEAL|unix.MFD_EXEC) != 0 {
		return 0, linux.EINVAL
	}
	name, err := pathArg(t, a[0])
	if err != 0 {
		return 0, err
	}
	if len(name) > 249 {
		return 0, linux.EINVAL
	}
	f.fs.mu.Lock()
	n := f.fs.newInode(f.fs.tmp, unix.S_IFREG|0o777)
	n.nlink = 0
	f.fs.mu.Unlock()
	of := f.fs.newFile(n, regOps{}, unix.O_RDWR|unix.O_LARGEFILE, "/memfd:"+name)
	return f.installNew(of, flags&unix.MFD_CLOEXEC != 0)
}
