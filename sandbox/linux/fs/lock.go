package fs

import (
	"math"
	"time"

	"beelzebox/linux"

	"golang.org/x/sys/unix"
)

// posixLock is one record lock on an inode: [start, end) of type F_RDLCK
// or F_WRLCK, owned by a process (*Files, fcntl F_SETLK) or an open file
// (*file, F_OFD_SETLK).
type posixLock struct {
	owner      any
	pid        int
	typ        int16
	start, end int64 // end == math.MaxInt64: to the end of the file
}

func overlaps(a posixLock, start, end int64) bool { return a.start < end && start < a.end }

// conflict returns the first lock of another owner that conflicts with
// typ over [start, end). FS.mu is held.
func conflict(n *inode, owner any, typ int16, start, end int64) *posixLock {
	for i := range n.plocks {
		l := &n.plocks[i]
		if l.owner == owner || !overlaps(*l, start, end) {
			continue
		}
		if typ == unix.F_WRLCK || l.typ == unix.F_WRLCK {
			return l
		}
	}
	return nil
}

// setLock replaces owner's locks over [start, end) by typ (F_UNLCK:
// removes them). FS.mu is held.
func setLock(n *inode, owner any, pid int, typ int16, start, end int64) linux.Errno {
	var out []posixLock
	for _, l := range n.plocks {
		if l.owner != owner || !overlaps(l, start, end) {
			out = append(out, l)
			continue
		}
		if l.start < start {
			left := l
			left.end = start
			out = append(out, left)
		}
		if l.end > end {
			right := l
			right.start = end
			out = append(out, right)
		}
	}
	if typ != unix.F_UNLCK {
		out = append(out, posixLock{owner: owner, pid: pid, typ: typ, start: start, end: end})
	}
	if len(out) > maxLocks {
		return linux.ENOLCK
	}
	n.plocks = out
	return 0
}

// dropPosixLocks releases the process's record locks on n (any close of
// a descriptor of the file does that, per POSIX).
func (fsys *FS) dropPosixLocks(f *Files, n *inode) {
	if n == nil {
		return
	}
	fsys.mu.Lock()
	had := false
	for _, l := range n.plocks {
		if l.owner == f {
			had = true
			break
		}
	}
	if had {
		setLock(n, f, 0, unix.F_UNLCK, 0, math.MaxInt64)
	}
	fsys.mu.Unlock()
	if had {
		fsys.locks.notify()
	}
}

// dropOFDLocks releases the open file's OFD locks. FS.mu is held.
func (fsys *FS) dropOFDLocks(n *inode, of *file) {
	for _, l := range n.plocks {
		if l.owner == of {
			setLock(n, of, 0, unix.F_UNLCK, 0, math.MaxInt64)
			return
		}
	}
}

func (f *Files) fcntlLock(t Task, of *file, cmd int, arg uint64) (uint64, linux.Errno) {
	b, err := readMem(t, arg, linux.SizeofFlock)
	if err != 0 {
		return 0, err
	}
	fl := linux.DecodeFlock(b)
	ofd := cmd == unix.F_OFD_GETLK || cmd == unix.F_OFD_SETLK || cmd == unix.F_OFD_SETLKW
	if ofd && fl.Pid != 0 {
		return 0, linux.EINVAL
	}
	var owner any = f
	if ofd {
		owner = of
	}
	if of.ino == nil {
		return 0, linux.EBADF
	}
	// The range.
	var base int64
	switch fl.Whence {
	case unix.SEEK_SET:
	case unix.SEEK_CUR:
		of.mu.Lock()
		base = of.off
		of.mu.Unlock()
	case unix.SEEK_END:
		f.fs.mu.Lock()
		base = int64(len(of.ino.data))
		f.fs.mu.Unlock()
	default:
		return 0, linux.EINVAL
	}
	if fl.Start > 0 && base > math.MaxInt64-fl.Start {
		return 0, linux.EOVERFLOW
	}
	start := base + fl.Start
	end := int64(math.MaxInt64)
	switch {
	case fl.Len > 0:
		if start > math.MaxInt64-fl.Len {
			return 0, linux.EOVERFLOW
		}
		end = start + fl.Len
	case fl.Len < 0:
		if fl.Len == math.MinInt64 {
			return 0, linux.EINVAL
		}
		end = start
		start += fl.Len
	}
	if start < 0 {
		return 0, linux.EINVAL
	}
	switch fl.Type {
	case unix.F_RDLCK, unix.F_WRLCK, unix.F_UNLCK:
	default:
		return 0, linux.EINVAL
	}
	fsys := f.fs
	if cmd == unix.F_GETLK || cmd == unix.F_OFD_GETLK {
		if fl.Type == unix.F_UNLCK {
			return 0, linux.EINVAL
		}
		fsys.mu.Lock()
		c := conflict(of.ino, owner, fl.Type, start, end)
		out := linux.Flock{Type: unix.F_UNLCK, Whence: fl.Whence, Start: fl.Start, Len: fl.Len}
		if c != nil {
			out = linux.Flock{Type: c.typ, Whence: unix.SEEK_SET, Start: c.start, Pid: int32(c.pid)}
			if c.end != math.MaxInt64 {
				out.Len = c.end - c.start
			}
			if _, isOFD := c.owner.(*file); isOFD {
				out.Pid = -1
			}
		}
		fsys.mu.Unlock()
		var ob [linux.SizeofFlock]byte
		out.Encode(ob[:])
		return 0, writeMem(t, arg, ob[:])
	}
	if fl.Type == unix.F_RDLCK && !of.readable() || fl.Type == unix.F_WRLCK && !of.writable() {
		return 0, linux.EBADF
	}
	wait := cmd == unix.F_SETLKW || cmd == unix.F_OFD_SETLKW
	for {
		w := newWaiter()
		fsys.locks.add(w)
		fsys.mu.Lock()
		if fl.Type == unix.F_UNLCK || conflict(of.ino, owner, fl.Type, start, end) == nil {
			e := setLock(of.ino, owner, f.pid, fl.Type, start, end)
			fsys.mu.Unlock()
			fsys.locks.remove(w)
			fsys.locks.notify()
			return 0, e
		}
		fsys.mu.Unlock()
		if !wait {
			fsys.locks.remove(w)
			return 0, linux.EAGAIN
		}
		if err := fsys.locks.wait(t, w, time.Time{}); err != 0 {
			return 0, err
		}
	}
}

// Flock is flock(fd, operation).
func (f *Files) Flock(t Task, a [6]uint64) (uint64, linux.Errno) {
	fd, _ := fdArg(a[0])
	of := f.get(fd)
	if of == nil {
		return 0, linux.EBADF
	}
	defer of.decRef()
	if of.isPath() || of.ino == nil {
		return 0, linux.EBADF
	}
	op := int(int32(a[1]))
	nb := op&unix.LOCK_NB != 0
	op &^= unix.LOCK_NB
	fsys := f.fs
	switch op {
	case unix.LOCK_UN:
		fsys.mu.Lock()
		delete(of.ino.flocks, of)
		fsys.mu.Unlock()
		fsys.locks.notify()
		return 0, 0
	case unix.LOCK_SH, unix.LOCK_EX:
	default:
		return 0, linux.EINVAL
	}
	for {
		w := newWaiter()
		fsys.locks.add(w)
		fsys.mu.Lock()
		n := of.ino
		ok := true
		for holder, typ := range n.flocks {
			if holder != of && (op == unix.LOCK_EX || typ == unix.LOCK_EX) {
				ok = false
				break
			}
		}
		if ok {
			if n.flocks == nil {
				n.flocks = make(map[*file]int)
			}
			n.flocks[of] = op
			fsys.mu.Unlock()
			fsys.locks.remove(w)
			fsys.locks.notify()
			return 0, 0
		}
		// A conversion drops the old lock first, as Linux does.
		if _, had := n.flocks[of]; had {
			delete(n.flocks, of)
			fsys.mu.Unlock()
			fsys.locks.notify()
		} else {
			fsys.mu.Unlock()
		}
		if nb {
			fsys.locks.remove(w)
			return 0, linux.EAGAIN
		}
		if err := fsys.locks.wait(t, w, time.Time{}); err != 0 {
			return 0, err
		}
	}
}
