package fs

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"beelzebox/linux"

	"golang.org/x/sys/unix"
)

var ioEOF = io.EOF

// file is an open file description: what open, pipe, eventfd ... make and
// what descriptors (and dup'd copies of them) refer to.
type file struct {
	fsys  *FS
	ino   *inode
	ops   fileOps
	flags atomic.Uint32 // O_ACCMODE | status flags (O_APPEND, O_NONBLOCK ...)
	refs  atomic.Int32
	path  string // for /proc/self/fd

	mu  sync.Mutex // off, dir
	off int64
	dir []dirent // getdents snapshot, taken at offset 0

	stream int // console files: the Console.Write stream (1 or 2)
}

// fileOps is what each kind of open file does.
type fileOps interface {
	// read and write move bytes; off is the position for seekable files
	// (the caller manages the file offset).
	read(t Task, of *file, p []byte, off int64) (int, linux.Errno)
	write(t Task, of *file, p []byte, off int64) (int, linux.Errno)
	// events is the current readiness (POLLIN, POLLOUT, POLLHUP ...).
	events(of *file) uint32
	// queue is notified when the readiness may have changed; nil if it
	// never changes.
	queue(of *file) *waitQueue
	release(of *file)
}

// seekable files have offsets; size is their end for SEEK_END.
type seekable interface{ size(of *file) int64 }

// ioctler files answer ioctls of their own (ENOTTY for unknown ones).
type ioctler interface {
	ioctl(t Task, of *file, req, arg uint64) (uint64, linux.Errno)
}

// baseOps gives the defaults: no data, always ready, nothing to release.
type baseOps struct{}

func (baseOps) read(Task, *file, []byte, int64) (int, linux.Errno)  { return 0, linux.EINVAL }
func (baseOps) write(Task, *file, []byte, int64) (int, linux.Errno) { return 0, linux.EINVAL }
func (baseOps) events(*file) uint32                                 { return unix.POLLIN | unix.POLLOUT }
func (baseOps) queue(*file) *waitQueue                              { return nil }
func (baseOps) release(*file)                                       {}

func (of *file) accmode() uint32 { return of.flags.Load() & unix.O_ACCMODE }
func (of *file) readable() bool  { m := of.accmode(); return m == unix.O_RDONLY || m == unix.O_RDWR }
func (of *file) writable() bool  { m := of.accmode(); return m == unix.O_WRONLY || m == unix.O_RDWR }
func (of *file) nonblock() bool  { return of.flags.Load()&unix.O_NONBLOCK != 0 }
func (of *file) isPath() bool    { return of.flags.Load()&unix.O_PATH != 0 }

func (of *file) incRef() { of.refs.Add(1) }

// decRef drops one reference; the last one releases the file. No lock
// may be held.
func (of *file) decRef() {
	if of.refs.Add(-1) != 0 {
		return
	}
	of.ops.release(of)
	fsys := of.fsys
	fsys.mu.Lock()
	if of.ino != nil {
		of.ino.opens--
		if of.ino.flocks != nil {
			delete(of.ino.flocks, of)
		}
		fsys.dropOFDLocks(of.ino, of)
		fsys.maybeFree(of.ino)
	}
	fsys.mu.Unlock()
	fsys.locks.notify()
}

// newFile makes an open file description with one reference.
func (fsys *FS) newFile(ino *inode, ops fileOps, flags uint32, path string) *file {
	of := &file{fsys: fsys, ino: ino, ops: ops, path: path, stream: 1}
	of.flags.Store(flags)
	of.refs.Store(1)
	if ino != nil {
		fsys.mu.Lock()
		ino.opens++
		fsys.mu.Unlock()
	}
	return of
}

// maybeFree drops the data of a tmpfs file that has neither names nor
// open files. FS.mu is held.
func (fsys *FS) maybeFree(n *inode) {
	if n.nlink == 0 && n.opens <= 0 && n.isReg() && n.mnt == fsys.tmp {
		n.mnt.used -= int64(len(n.data))
		n.data = nil
	}
}

// Files is the file state of one guest process: descriptor table,
// working directory and umask.
type Files struct {
	fs   *FS
	proc ProcInfo
	pid  int

	mu     sync.Mutex
	fds    []fdEntry
	cwd    *inode
	umask  uint32
	closed bool
}

type fdEntry struct {
	f       *file
	cloexec bool
}

// NewFiles makes the file state of a new process: fds 0, 1 and 2 are the
// console (stdin, stdout and stderr), cwd is /, umask 022.
func (fsys *FS) NewFiles(p ProcInfo) *Files {
	f := &Files{fs: fsys, proc: p, cwd: fsys.root, umask: 0o022}
	if p != nil {
		f.pid = p.PID()
	}
	tty := fsys.dev.root.kids["tty"]
	for fd := 0; fd < 3; fd++ {
		of := fsys.newFile(tty, &consoleOps{c: fsys.con}, unix.O_RDWR|unix.O_LARGEFILE, "/dev/tty")
		if fd == 2 {
			of.stream = 2
		}
		f.fds = append(f.fds, fdEntry{f: of})
	}
	fsys.register(f)
	fsys.con.mu.Lock()
	if fsys.con.pgrp == 0 {
		fsys.con.pgrp = int32(f.pid) // the first process leads the terminal
	}
	fsys.con.mu.Unlock()
	return f
}

func (fsys *FS) register(f *Files) {
	fsys.mu.Lock()
	if f.pid != 0 {
		fsys.procs[f.pid] = f
	}
	fsys.mu.Unlock()
}

// Clone makes the file state of a forked child: the same open files
// (shared offsets, as after fork), cwd and umask. p describes the child.
func (f *Files) Clone(p ProcInfo) *Files {
	c := &Files{fs: f.fs, proc: p}
	if p != nil {
		c.pid = p.PID()
	}
	f.mu.Lock()
	c.cwd, c.umask = f.cwd, f.umask
	c.fds = make([]fdEntry, len(f.fds))
	for i, e := range f.fds {
		if e.f != nil {
			e.f.incRef()
		}
		c.fds[i] = e
	}
	f.mu.Unlock()
	f.fs.register(c)
	return c
}

// CloseOnExec closes the descriptors marked close-on-exec (execve).
func (f *Files) CloseOnExec() {
	var drop []*file
	f.mu.Lock()
	for i, e := range f.fds {
		if e.f != nil && e.cloexec {
			drop = append(drop, e.f)
			f.fds[i] = fdEntry{}
		}
	}
	f.mu.Unlock()
	for _, of := range drop {
		f.fs.dropPosixLocks(f, of.ino)
		of.decRef()
	}
}

// Close closes every descriptor (process exit).
func (f *Files) Close() {
	f.mu.Lock()
	fds := f.fds
	f.fds = nil
	f.closed = true
	f.mu.Unlock()
	for _, e := range fds {
		if e.f != nil {
			f.fs.dropPosixLocks(f, e.f.ino)
			e.f.decRef()
		}
	}
	f.fs.mu.Lock()
	if f.fs.procs[f.pid] == f {
		delete(f.fs.procs, f.pid)
	}
	f.fs.mu.Unlock()
}

// get returns the file open as fd with a reference the caller drops, or
// nil.
func (f *Files) get(fd int) *file {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fd < 0 || fd >= len(f.fds) || f.fds[fd].f == nil {
		return nil
	}
	of := f.fds[fd].f
	of.incRef()
	return of
}

// peek returns the file open as fd without a reference (for /proc).
func (f *Files) peek(fd int) *file {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if fd < 0 || fd >= len(f.fds) {
		return nil
	}
	return f.fds[fd].f
}

// install puts of (whose reference the table takes over) at the lowest
// free descriptor >= min.
func (f *Files) install(of *file, min int, cloexec bool) (int, linux.Errno) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return -1, linux.EBADF
	}
	for fd := min; fd < MaxFDs; fd++ {
		if fd >= len(f.fds) {
			f.fds = append(f.fds, make([]fdEntry, fd+1-len(f.fds))...)
		}
		if f.fds[fd].f == nil {
			f.fds[fd] = fdEntry{f: of, cloexec: cloexec}
			return fd, 0
		}
	}
	return -1, linux.EMFILE
}

// installNew installs a new file and drops it again if there is no room.
func (f *Files) installNew(of *file, cloexec bool) (uint64, linux.Errno) {
	fd, err := f.install(of, 0, cloexec)
	if err != 0 {
		of.decRef()
		return 0, err
	}
	return uint64(fd), 0
}

// fds returns the open descriptors (for /proc/<pid>/fd).
func (f *Files) openFDs() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []int
	for i, e := range f.fds {
		if e.f != nil {
			out = append(out, i)
		}
	}
	return out
}

// Errno converts an error from this package to a linux.Errno.
func Errno(err error) linux.Errno {
	var e linux.Errno
	if errors.As(err, &e) {
		return e
	}
	if err == nil {
		return 0
	}
	return linux.EIO
}

// CloseFD is close(fd). (Close, without arguments, closes everything.)
func (f *Files) CloseFD(t Task, a [6]uint64) (uint64, linux.Errno) {
	fd, ok := fdArg(a[0])
	if !ok {
		return 0, linux.EBADF
	}
	f.mu.Lock()
	if fd >= len(f.fds) || f.fds[fd].f == nil {
		f.mu.Unlock()
		return 0, linux.EBADF
	}
	of := f.fds[fd].f
	f.fds[fd] = fdEntry{}
	f.mu.Unlock()
	f.fs.dropPosixLocks(f, of.ino)
	of.decRef()
	return 0, 0
}

// fdArg converts a register to a descriptor number (int32, as the kernel
// reads it).
func fdArg(r uint64) (int, bool) {
	fd := int(int32(r))
	return fd, fd >= 0
}

// dup2 puts a copy of of at newfd (replacing what is there).
func (f *Files) dupTo(of *file, newfd int, cloexec bool) linux.Errno {
	if newfd < 0 || newfd >= MaxFDs {
		return linux.EBADF
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return linux.EBADF
	}
	if newfd >= len(f.fds) {
		f.fds = append(f.fds, make([]fdEntry, newfd+1-len(f.fds))...)
	}
	old := f.fds[newfd].f
	of.incRef()
	f.fds[newfd] = fdEntry{f: of, cloexec: cloexec}
	f.mu.Unlock()
	if old != nil {
		f.fs.dropPosixLocks(f, old.ino)
		old.decRef()
	}
	return 0
}

// Dup is dup(oldfd).
func (f *Files) Dup(t Task, a [6]uint64) (uint64, linux.Errno) {
	fd, _ := fdArg(a[0])
	of := f.get(fd)
	if of == nil {
		return 0, linux.EBADF
	}
	n, err := f.install(of, 0, false)
	if err != 0 {
		of.decRef()
		return 0, err
	}
	return uint64(n), 0
}

// Dup2 is dup2(oldfd, newfd).
func (f *Files) Dup2(t Task, a [6]uint64) (uint64, linux.Errno) {
	oldfd, _ := fdArg(a[0])
	newfd := int(int32(a[1]))
	of := f.get(oldfd)
	if of == nil {
		return 0, linux.EBADF
	}
	defer of.decRef()
	if oldfd == newfd {
		return uint64(newfd), 0
	}
	if err := f.dupTo(of, newfd, false); err != 0 {
		return 0, err
	}
	return uint64(newfd), 0
}

// Dup3 is dup3(oldfd, newfd, flags).
func (f *Files) Dup3(t Task, a [6]uint64) (uint64, linux.Errno) {
	oldfd, _ := fdArg(a[0])
	newfd := int(int32(a[1]))
	flags := a[2]
	if flags&^unix.O_CLOEXEC != 0 {
		return 0, linux.EINVAL
	}
	if oldfd == newfd {
		return 0, linux.EINVAL
	}
	of := f.get(oldfd)
	if of == nil {
		return 0, linux.EBADF
	}
	defer of.decRef()
	if err := f.dupTo(of, newfd, flags&unix.O_CLOEXEC != 0); err != 0 {
		return 0, err
	}
	return uint64(newfd), 0
}

func (f *Files) setCloexec(fd int, on bool) linux.Errno {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fd < 0 || fd >= len(f.fds) || f.fds[fd].f == nil {
		return linux.EBADF
	}
	f.fds[fd].cloexec = on
	return 0
}

func (f *Files) cloexec(fd int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fd >= 0 && fd < len(f.fds) && f.fds[fd].cloexec
}

// Umask is umask(mask).
func (f *Files) Umask(t Task, a [6]uint64) (uint64, linux.Errno) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.umask
	f.umask = uint32(a[0]) & 0o777
	return uint64(old), 0
}

// Fcntl is fcntl(fd, cmd, arg).
func (f *Files) Fcntl(t Task, a [6]uint64) (uint64, linux.Errno) {
	fd, _ := fdArg(a[0])
	of := f.get(fd)
	if of == nil {
		return 0, linux.EBADF
	}
	defer of.decRef()
	cmd, arg := int(int32(a[1])), a[2]
	if of.isPath() {
		switch cmd {
		case unix.F_DUPFD, unix.F_DUPFD_CLOEXEC, unix.F_GETFD, unix.F_SETFD, unix.F_GETFL:
		default:
			return 0, linux.EBADF
		}
	}
	switch cmd {
	case unix.F_DUPFD, unix.F_DUPFD_CLOEXEC:
		min := int(int32(arg))
		if min < 0 || min >= MaxFDs {
			return 0, linux.EINVAL
		}
		of.incRef()
		n, err := f.install(of, min, cmd == unix.F_DUPFD_CLOEXEC)
		if err != 0 {
			of.decRef()
			return 0, err
		}
		return uint64(n), 0
	case unix.F_GETFD:
		if f.cloexec(fd) {
			return unix.FD_CLOEXEC, 0
		}
		return 0, 0
	case unix.F_SETFD:
		return 0, f.setCloexec(fd, arg&unix.FD_CLOEXEC != 0)
	case unix.F_GETFL:
		return uint64(of.flags.Load()), 0
	case unix.F_SETFL:
		const settable = unix.O_APPEND | unix.O_NONBLOCK | unix.O_ASYNC | unix.O_DIRECT | unix.O_NOATIME
		for {
			old := of.flags.Load()
			nw := old&^settable | uint32(arg)&settable
			if of.flags.CompareAndSwap(old, nw) {
				break
			}
		}
		return 0, 0
	case unix.F_GETLK, unix.F_SETLK, unix.F_SETLKW, unix.F_OFD_GETLK, unix.F_OFD_SETLK, unix.F_OFD_SETLKW:
		return f.fcntlLock(t, of, cmd, arg)
	case unix.F_GETPIPE_SZ:
		if _, ok := of.ops.(*pipeOps); ok {
			return PipeCapacity, 0
		}
		return 0, linux.EBADF
	case unix.F_SETPIPE_SZ:
		if _, ok := of.ops.(*pipeOps); ok {
			if int64(arg) > 1<<20 {
				return 0, linux.EPERM
			}
			return PipeCapacity, 0 // the capacity is fixed
		}
		return 0, linux.EBADF
	case unix.F_GETOWN, unix.F_SETOWN, unix.F_GETSIG, unix.F_SETSIG:
		return 0, 0
	case unix.F_ADD_SEALS, unix.F_GET_SEALS:
		return 0, linux.EINVAL
	}
	return 0, linux.EINVAL
}
