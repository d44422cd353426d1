package fs

import (
	"math"

	"beelzebox/linux"

	"golang.org/x/sys/unix"
)

// --- regular files (read-only root and tmpfs) ---

type regOps struct{ baseOps }

func (regOps) size(of *file) int64 {
	of.fsys.mu.Lock()
	defer of.fsys.mu.Unlock()
	return int64(len(of.ino.data))
}

func (regOps) read(t Task, of *file, p []byte, off int64) (int, linux.Errno) {
	fsys := of.fsys
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	n := of.ino
	if off >= int64(len(n.data)) {
		return 0, 0
	}
	c := copy(p, n.data[off:])
	if !n.mnt.readonly && of.flags.Load()&unix.O_NOATIME == 0 && !n.atime.After(n.mtime) {
		n.atime = fsys.now()
	}
	return c, 0
}

func (regOps) write(t Task, of *file, p []byte, off int64) (int, linux.Errno) {
	fsys := of.fsys
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	return fsys.writeData(of.ino, p, off)
}

// writeData writes p at off (-1: at the end) into a tmpfs file. FS.mu is
// held.
func (fsys *FS) writeData(n *inode, p []byte, off int64) (int, linux.Errno) {
	if n.mnt.readonly {
		return 0, linux.EROFS
	}
	if off < 0 {
		off = int64(len(n.data))
	}
	if off > math.MaxInt64-int64(len(p)) {
		return 0, linux.EFBIG
	}
	end := off + int64(len(p))
	if grow := end - int64(len(n.data)); grow > 0 {
		if m := n.mnt; m.limit > 0 && m.used+grow > m.limit {
			room := m.limit - m.used
			if room <= 0 || off >= int64(len(n.data))+room {
				return 0, linux.ENOSPC
			}
			end = int64(len(n.data)) + room
			p = p[:end-off]
			grow = room
		}
		if !fsys.resize(n, end) {
			return 0, linux.ENOSPC
		}
	}
	c := copy(n.data[off:], p)
	t := fsys.now()
	n.mtime, n.ctime = t, t
	return c, 0
}

// resize sets the length of a tmpfs file's data (accounting for the
// mount's limit, which the caller checked). FS.mu is held.
func (fsys *FS) resize(n *inode, size int64) bool {
	old := int64(len(n.data))
	if size == old {
		return true
	}
	if size < old {
		clear(n.data[size:])
		n.data = n.data[:size]
	} else {
		if m := n.mnt; m.limit > 0 && m.used+size-old > m.limit {
			return false
		}
		if size <= int64(cap(n.data)) {
			n.data = n.data[:size]
		} else {
			c := max(size, 2*int64(cap(n.data)))
			if c-size > 1<<20 {
				c = size + 1<<20
			}
			d := make([]byte, size, c)
			copy(d, n.data)
			n.data = d
		}
	}
	n.mnt.used += size - old
	return true
}

// snapOps is a proc file: its contents were made when it was opened.
type snapOps struct {
	baseOps
	data []byte
}

func (s *snapOps) size(*file) int64 { return int64(len(s.data)) }
func (s *snapOps) read(t Task, of *file, p []byte, off int64) (int, linux.Errno) {
	if off >= int64(len(s.data)) {
		return 0, 0
	}
	return copy(p, s.data[off:]), 0
}

// dirOps is an open directory.
type dirOps struct{ baseOps }

func (dirOps) size(*file) int64 { return 0 }
func (dirOps) read(Task, *file, []byte, int64) (int, linux.Errno) {
	return 0, linux.EISDIR
}

// pathOps is an O_PATH file: no I/O at all.
type pathOps struct{ baseOps }

func (pathOps) read(Task, *file, []byte, int64) (int, linux.Errno)  { return 0, linux.EBADF }
func (pathOps) write(Task, *file, []byte, int64) (int, linux.Errno) { return 0, linux.EBADF }

// --- read and write ---

// capIO bounds a guest's byte count.
func capIO(n uint64) int {
	if n > MaxIO {
		return MaxIO
	}
	return int(n)
}

// doRead reads into a host buffer: at the file offset (pos < 0) or at pos.
// out, if not nil, copies the bytes read to the guest; the file offset
// only moves if it succeeds.
func (of *file) doRead(t Task, p []byte, pos int64, out func([]byte) linux.Errno) (int, linux.Errno) {
	if !of.readable() || of.isPath() {
		return 0, linux.EBADF
	}
	copyOut := func(n int, err linux.Errno) (int, linux.Errno) {
		if n > 0 && out != nil {
			if e := out(p[:n]); e != 0 {
				return 0, e
			}
		}
		return n, err
	}
	_, seek := of.ops.(seekable)
	if !seek {
		if pos >= 0 {
			return 0, linux.ESPIPE
		}
		return copyOut(of.ops.read(t, of, p, 0))
	}
	if pos >= 0 {
		return copyOut(of.ops.read(t, of, p, pos))
	}
	of.mu.Lock()
	defer of.mu.Unlock()
	n, err := copyOut(of.ops.read(t, of, p, of.off))
	if n > 0 {
		of.off += int64(n)
	}
	return n, err
}

func (of *file) doWrite(t Task, p []byte, pos int64) (int, linux.Errno) {
	if !of.writable() || of.isPath() {
		return 0, linux.EBADF
	}
	_, seek := of.ops.(seekable)
	if !seek {
		if pos >= 0 {
			return 0, linux.ESPIPE
		}
		return of.ops.write(t, of, p, 0)
	}
	if pos >= 0 {
		return of.ops.write(t, of, p, pos)
	}
	of.mu.Lock()
	defer of.mu.Unlock()
	off := of.off
	if of.flags.Load()&unix.O_APPEND != 0 {
		off = -1
		if _, ok := of.ops.(regOps); ok {
			of.fsys.mu.Lock()
			off = int64(len(of.ino.data))
			of.fsys.mu.Unlock()
		}
	}
	n, err := of.ops.write(t, of, p, off)
	if n > 0 {
		of.off = off + int64(n)
	}
	return n, err
}

// readTo reads up to count bytes into guest memory at buf.
func (f *Files) readTo(t Task, fd int, buf, count uint64, pos int64) (uint64, linux.Errno) {
	of := f.get(fd)
	if of == nil {
		return 0, linux.EBADF
	}
	defer of.decRef()
	if int64(count) < 0 {
		return 0, linux.EINVAL
	}
	if !of.readable() || of.isPath() {
		return 0, linux.EBADF
	}
	n := capIO(count)
	if sz, ok := of.ops.(seekable); ok && of.ino != nil && of.ino.isReg() {
		// Allocate no more than the file holds.
		at := pos
		if at < 0 {
			of.mu.Lock()
			at = of.off
			of.mu.Unlock()
		}
		if left := sz.size(of) - at; left < int64(n) {
			n = int(max(left, 0))
		}
	}
	if _, ok := of.ops.(*pipeOps); ok {
		n = min(n, PipeCapacity)
	}
	if count > 0 && (buf+count < buf || buf+count > 1<<47) {
		return 0, linux.EFAULT // not a user address (access_ok)
	}
	p := make([]byte, n)
	got, err := of.doRead(t, p, pos, func(b []byte) linux.Errno { return writeMem(t, buf, b) })
	if got > 0 {
		return uint64(got), 0
	}
	return 0, err
}

// writeFrom writes count bytes from guest memory at buf.
func (f *Files) writeFrom(t Task, fd int, buf, count uint64, pos int64) (uint64, linux.Errno) {
	of := f.get(fd)
	if of == nil {
		return 0, linux.EBADF
	}
	defer of.decRef()
	if int64(count) < 0 {
		return 0, linux.EINVAL
	}
	if !of.writable() || of.isPath() {
		return 0, linux.EBADF
	}
	p, err := readMem(t, buf, capIO(count))
	if err != 0 {
		return 0, err
	}
	n, err := of.doWrite(t, p, pos)
	if n > 0 {
		return uint64(n), 0
	}
	return 0, err
}

// Read is read(fd, buf, count).
func (f *Files) Read(t Task, a [6]uint64) (uint64, linux.Errno) {
	fd, _ := fdArg(a[0])
	return f.readTo(t, fd, a[1], a[2], -1)
}

// Write is write(fd, buf, count).
func (f *Files) Write(t Task, a [6]uint64) (uint64, linux.Errno) {
	fd, _ := fdArg(a[0])
	return f.writeFrom(t, fd, a[1], a[2], -1)
}

// Pread64 is pread64(fd, buf, count, offset).
func (f *Files) Pread64(t Task, a [6]uint64) (uint64, linux.Errno) {
	fd, _ := fdArg(a[0])
	if int64(a[3]) < 0 {
		if of := f.get(fd); of != nil {
			of.decRef()
			return 0, linux.EINVAL
		}
		return 0, linux.EBADF
	}
	return f.readTo(t, fd, a[1], a[2], int64(a[3]))
}

// Pwrite64 is pwrite64(fd, buf, count, offset).
func (f *Files) Pwrite64(t Task, a [6]uint64) (uint64, linux.Errno) {
	fd, _ := fdArg(a[0])
	if int64(a[3]) < 0 {
		if of := f.get(fd); of != nil {
			of.decRef()
			return 0, linux.EINVAL
		}
		return 0, linux.EBADF
	}
	return f.writeFrom(t, fd, a[1], a[2], int64(a[3]))
}

// readIovec reads and checks an iovec array.
func readIovec(t Task, addr, cnt uint64) ([]linux.Iovec, linux.Errno) {
	if cnt > MaxIovcnt {
		return nil, linux.EINVAL
	}
	b, err := readMem(t, addr, int(cnt)*linux.SizeofIovec)
	if err != 0 {
		return nil, err
	}
	iov := make([]linux.Iovec, cnt)
	var total uint64
	for i := range iov {
		iov[i] = linux.DecodeIovec(b[i*linux.SizeofIovec:])
		if int64(iov[i].Len) < 0 {
			return nil, linux.EINVAL
		}
		total += iov[i].Len
		if int64(total) < 0 {
			return nil, linux.EINVAL
		}
	}
	return iov, 0
}

func (f *Files) readv(t Task, fd int, iovAddr, cnt uint64, pos int64) (uint64, linux.Errno) {
	of := f.get(fd)
	if of == nil {
		return 0, linux.EBADF
	}
	defer of.decRef()
	iov, err := readIovec(t, iovAddr, cnt)
	if err != 0 {
		return 0, err
	}
	if !of.readable() || of.isPath() {
		return 0, linux.EBADF
	}
	var total uint64
	for _, v := range iov {
		total += v.Len
	}
	n := capIO(total)
	if sz, ok := of.ops.(seekable); ok && of.ino != nil && of.ino.isReg() {
		at := pos
		if at < 0 {
			of.mu.Lock()
			at = of.off
			of.mu.Unlock()
		}
		if left := sz.size(of) - at; left < int64(n) {
			n = int(max(left, 0))
		}
	}
	p := make([]byte, n)
	got, rerr := of.doRead(t, p, pos, func(p []byte) linux.Errno {
		for _, v := range iov {
			if len(p) == 0 {
				break
			}
			c := min(uint64(len(p)), v.Len)
			if e := writeMem(t, v.Base, p[:c]); e != 0 {
				return e
			}
			p = p[c:]
		}
		return 0
	})
	if got == 0 {
		return 0, rerr
	}
	return uint64(got), 0
}

func (f *Files) writev(t Task, fd int, iovAddr, cnt uint64, pos int64) (uint64, linux.Errno) {
	of := f.get(fd)
	if of == nil {
		return 0, linux.EBADF
	}
	defer of.decRef()
	iov, err := readIovec(t, iovAddr, cnt)
	if err != 0 {
		return 0, err
	}
	if !of.writable() || of.isPath() {
		return 0, linux.EBADF
	}
	var p []byte
	for _, v := range iov {
		c := min(v.Len, uint64(MaxIO-len(p)))
		if c == 0 {
			continue
		}
		b, e := readMem(t, v.Base, int(c))
		if e != 0 {
			if len(p) == 0 {
				return 0, e
			}
			break
		}
		p = append(p, b...)
		if len(p) >= MaxIO {
			break
		}
	}
	if len(p) == 0 {
		// A zero-length write still checks the file.
		_, err := of.doWrite(t, nil, pos)
		if err == linux.EBADF || err == linux.ESPIPE {
			return 0, err
		}
		return 0, 0
	}
	n, werr := of.doWrite(t, p, pos)
	if n > 0 {
		return uint64(n), 0
	}
	return 0, werr
}

// Readv is readv(fd, iov, iovcnt).
func (f *Files) Readv(t Task, a [6]uint64) (uint64, linux.Errno) {
	fd, _ := fdArg(a[0])
	return f.readv(t, fd, a[1], a[2], -1)
}

// Writev is writev(fd, iov, iovcnt).
func (f *Files) Writev(t Task, a [6]uint64) (uint64, linux.Errno) {
	fd, _ := fdArg(a[0])
	return f.writev(t, fd, a[1], a[2], -1)
}

// Preadv is preadv(fd, iov, iovcnt, pos_l, pos_h).
func (f *Files) Preadv(t Task, a [6]uint64) (uint64, linux.Errno) {
	fd, _ := fdArg(a[0])
	if int64(a[3]) < 0 {
		return 0, linux.EINVAL
	}
	return f.readv(t, fd, a[1], a[2], int64(a[3]))
}

// Pwritev is pwritev(fd, iov, iovcnt, pos_l, pos_h).
func (f *Files) Pwritev(t Task, a [6]uint64) (uint64, linux.Errno) {
	fd, _ := fdArg(a[0])
	if int64(a[3]) < 0 {
		return 0, linux.EINVAL
	}
	return f.writev(t, fd, a[1], a[2], int64(a[3]))
}

// Lseek is lseek(fd, offset, whence).
func (f *Files) Lseek(t Task, a [6]uint64) (uint64, linux.Errno) {
	fd, _ := fdArg(a[0])
	of := f.get(fd)
	if of == nil {
		return 0, linux.EBADF
	}
	defer of.decRef()
	if of.isPath() {
		return 0, linux.EBADF
	}
	s, ok := of.ops.(seekable)
	if !ok {
		return 0, linux.ESPIPE
	}
	if _, dev := of.ops.(*devOps); dev {
		return 0, 0 // character devices: the position means nothing
	}
	off, whence := int64(a[1]), int(int32(a[2]))
	of.mu.Lock()
	defer of.mu.Unlock()
	var base int64
	switch whence {
	case unix.SEEK_SET:
	case unix.SEEK_CUR:
		base = of.off
	case unix.SEEK_END:
		base = s.size(of)
	case unix.SEEK_DATA, unix.SEEK_HOLE:
		if of.ino == nil || !of.ino.isReg() {
			return 0, linux.EINVAL
		}
		size := s.size(of)
		if off < 0 || off >= size {
			return 0, linux.ENXIO
		}
		if whence == unix.SEEK_HOLE {
			off = size
		}
		of.off = off
		return uint64(off), 0
	default:
		return 0, linux.EINVAL
	}
	if (off > 0 && base > math.MaxInt64-off) || base+off < 0 {
		return 0, linux.EINVAL
	}
	if base+off != of.off {
		of.dir = nil
	}
	of.off = base + off
	return uint64(of.off), 0
}

// Fsync is fsync(fd): nothing is ever dirty.
func (f *Files) Fsync(t Task, a [6]uint64) (uint64, linux.Errno) {
	fd, _ := fdArg(a[0])
	of := f.get(fd)
	if of == nil {
		return 0, linux.EBADF
	}
	defer of.decRef()
	if of.isPath() {
		return 0, linux.EBADF
	}
	if of.ino == nil || of.ino.pipe != nil {
		return 0, linux.EINVAL
	}
	return 0, 0
}

// Fdatasync is fdatasync(fd).
func (f *Files) Fdatasync(t Task, a [6]uint64) (uint64, linux.Errno) { return f.Fsync(t, a) }

// Sendfile is sendfile(out_fd, in_fd, offset *off_t, count).
func (f *Files) Sendfile(t Task, a [6]uint64) (uint64, linux.Errno) {
	outfd, _ := fdArg(a[0])
	infd, _ := fdArg(a[1])
	in := f.get(infd)
	if in == nil {
		return 0, linux.EBADF
	}
	defer in.decRef()
	out := f.get(outfd)
	if out == nil {
		return 0, linux.EBADF
	}
	defer out.decRef()
	if !in.readable() || !out.writable() || in.isPath() || out.isPath() {
		return 0, linux.EBADF
	}
	if _, ok := in.ops.(seekable); !ok {
		return 0, linux.EINVAL
	}
	if out.flags.Load()&unix.O_APPEND != 0 {
		return 0, linux.EINVAL
	}
	pos := int64(-1)
	if a[2] != 0 {
		v, err := readU64(t, a[2])
		if err != 0 {
			return 0, err
		}
		if int64(v) < 0 {
			return 0, linux.EINVAL
		}
		pos = int64(v)
	}
	if int64(a[3]) < 0 {
		return 0, linux.EINVAL
	}
	p := make([]byte, min(capIO(a[3]), 64<<10))
	n, err := in.doRead(t, p, pos, nil)
	if n == 0 {
		return 0, err
	}
	w, err := out.doWrite(t, p[:n], -1)
	if w < n && in.ops != nil && pos < 0 {
		// Give back what was read but not written.
		in.mu.Lock()
		in.off -= int64(n - w)
		in.mu.Unlock()
	}
	if a[2] != 0 && w > 0 {
		if e := writeU64(t, a[2], uint64(pos+int64(w))); e != 0 {
			return 0, e
		}
	}
	if w == 0 {
		return 0, err
	}
	return uint64(w), 0
}

// CopyFileRange is copy_file_range(fd_in, off_in*, fd_out, off_out*, len, flags).
func (f *Files) CopyFileRange(t Task, a [6]uint64) (uint64, linux.Errno) {
	if a[5] != 0 {
		return 0, linux.EINVAL
	}
	infd, _ := fdArg(a[0])
	outfd, _ := fdArg(a[2])
	in := f.get(infd)
	if in == nil {
		return 0, linux.EBADF
	}
	defer in.decRef()
	out := f.get(outfd)
	if out == nil {
		return 0, linux.EBADF
	}
	defer out.decRef()
	if !in.readable() || !out.writable() || in.isPath() || out.isPath() {
		return 0, linux.EBADF
	}
	if in.ino == nil || out.ino == nil || in.ino.isDir() || out.ino.isDir() {
		return 0, linux.EISDIR
	}
	if !in.ino.isReg() || !out.ino.isReg() {
		return 0, linux.EINVAL
	}
	if out.flags.Load()&unix.O_APPEND != 0 {
		return 0, linux.EBADF
	}
	inPos, outPos := int64(-1), int64(-1)
	if a[1] != 0 {
		v, err := readU64(t, a[1])
		if err != 0 {
			return 0, err
		}
		inPos = int64(v)
		if inPos < 0 {
			return 0, linux.EINVAL
		}
	}
	if a[3] != 0 {
		v, err := readU64(t, a[3])
		if err != 0 {
			return 0, err
		}
		outPos = int64(v)
		if outPos < 0 {
			return 0, linux.EINVAL
		}
	}
	if int64(a[4]) < 0 {
		return 0, linux.EINVAL
	}
	p := make([]byte, min(capIO(a[4]), 256<<10))
	if in.ino == out.ino {
		// Overlapping ranges of one file are refused.
		ip, op := inPos, outPos
		if ip < 0 {
			ip = in.off
		}
		if op < 0 {
			op = out.off
		}
		if ip < op+int64(len(p)) && op < ip+int64(len(p)) {
			return 0, linux.EINVAL
		}
	}
	n, err := in.doRead(t, p, inPos, nil)
	if n == 0 {
		return 0, err
	}
	w, err := out.doWrite(t, p[:n], outPos)
	if w < n && inPos < 0 {
		in.mu.Lock()
		in.off -= int64(n - w)
		in.mu.Unlock()
	}
	if w == 0 {
		return 0, err
	}
	if a[1] != 0 {
		if e := writeU64(t, a[1], uint64(inPos+int64(w))); e != 0 {
			return 0, e
		}
	}
	if a[3] != 0 {
		if e := writeU64(t, a[3], uint64(outPos+int64(w))); e != 0 {
			return 0, e
		}
	}
	return uint64(w), 0
}
