package fs

import (
	"math"
	"sort"
	"strings"
	"time"

	"beelzebox/linux"

	"golang.org/x/sys/unix"
)

const atFDCWD = unix.AT_FDCWD

// startDir returns the directory a path relative to dirfd starts from.
func (f *Files) startDir(dirfd int, path string) (*inode, linux.Errno) {
	if strings.HasPrefix(path, "/") {
		return f.fs.root, 0
	}
	if dirfd == atFDCWD {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.cwd, 0
	}
	of := f.get(dirfd)
	if of == nil {
		return nil, linux.EBADF
	}
	defer of.decRef()
	if of.ino == nil || !of.ino.isDir() {
		return nil, linux.ENOTDIR
	}
	return of.ino, 0
}

// pathArg reads a path argument.
func pathArg(t Task, addr uint64) (string, linux.Errno) {
	return readPath(t, addr)
}

// lookup resolves dirfd+path to an inode. emptyOK allows "" with
// AT_EMPTY_PATH (the file dirfd itself).
func (f *Files) lookup(t Task, dirfd int, addr uint64, follow, emptyOK bool) (*inode, string, linux.Errno) {
	path, err := pathArg(t, addr)
	if err != 0 {
		return nil, "", err
	}
	return f.lookupPath(dirfd, path, follow, emptyOK)
}

func (f *Files) lookupPath(dirfd int, path string, follow, emptyOK bool) (*inode, string, linux.Errno) {
	if path == "" {
		if !emptyOK {
			return nil, "", linux.ENOENT
		}
		if dirfd == atFDCWD {
			f.mu.Lock()
			cwd := f.cwd
			f.mu.Unlock()
			f.fs.mu.Lock()
			defer f.fs.mu.Unlock()
			return cwd, pathOf(cwd), 0
		}
		of := f.get(dirfd)
		if of == nil {
			return nil, "", linux.EBADF
		}
		defer of.decRef()
		return of.ino, of.path, 0
	}
	start, err := f.startDir(dirfd, path)
	if err != 0 {
		return nil, "", err
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	w := walker{fsys: f.fs, f: f}
	n, err := w.walk(start, path, follow)
	if err != 0 {
		return nil, "", err
	}
	return n, w.resolved(n), 0
}

// parentAt resolves all but the last component of a path argument for
// the calls that create or remove names. FS.mu is held on success; the
// caller unlocks.
func (f *Files) parentAt(t Task, dirfd int, addr uint64) (*walker, *inode, string, bool, linux.Errno) {
	path, err := pathArg(t, addr)
	if err != 0 {
		return nil, nil, "", false, err
	}
	return f.parentPath(dirfd, path)
}

func (f *Files) parentPath(dirfd int, path string) (*walker, *inode, string, bool, linux.Errno) {
	if path == "" {
		return nil, nil, "", false, linux.ENOENT
	}
	start, err := f.startDir(dirfd, path)
	if err != 0 {
		return nil, nil, "", false, err
	}
	f.fs.mu.Lock()
	w := &walker{fsys: f.fs, f: f}
	dir, name, slash, err := w.splitParent(start, path)
	if err != 0 {
		f.fs.mu.Unlock()
		return nil, nil, "", false, err
	}
	if len(name) > linux.NameMax {
		f.fs.mu.Unlock()
		return nil, nil, "", false, linux.ENAMETOOLONG
	}
	return w, dir, name, slash, 0
}

// --- open ---

const keptFlags = unix.O_ACCMODE | unix.O_APPEND | unix.O_NONBLOCK | unix.O_DIRECT | unix.O_NOATIME |
	unix.O_PATH | unix.O_LARGEFILE | unix.O_SYNC | unix.O_DSYNC | unix.O_ASYNC | unix.O_DIRECTORY | unix.O_NOFOLLOW

const tmpfileFlag = 0x400000 // __O_TMPFILE

// Open is open(path, flags, mode).
func (f *Files) Open(t Task, a [6]uint64) (uint64, linux.Errno) {
	path, err := pathArg(t, a[0])
	if err != 0 {
		return 0, err
	}
	return f.openPath(t, atFDCWD, path, uint32(a[1]), uint32(a[2]))
}

// Openat is openat(dirfd, path, flags, mode).
func (f *Files) Openat(t Task, a [6]uint64) (uint64, linux.Errno) {
	path, err := pathArg(t, a[1])
	if err != 0 {
		return 0, err
	}
	return f.openPath(t, int(int32(a[0])), path, uint32(a[2]), uint32(a[3]))
}

// Creat is creat(path, mode).
func (f *Files) Creat(t Task, a [6]uint64) (uint64, linux.Errno) {
	path, err := pathArg(t, a[0])
	if err != 0 {
		return 0, err
	}
	return f.openPath(t, atFDCWD, path, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, uint32(a[1]))
}

func (f *Files) openPath(t Task, dirfd int, path string, flags, mode uint32) (uint64, linux.Errno) {
	if flags&tmpfileFlag != 0 {
		return 0, linux.EOPNOTSUPP
	}
	if flags&unix.O_PATH != 0 {
		flags &= unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	}
	if path == "" {
		return 0, linux.ENOENT
	}
	start, err := f.startDir(dirfd, path)
	if err != 0 {
		return 0, err
	}
	fsys := f.fs
	acc := flags & unix.O_ACCMODE
	wantWrite := acc == unix.O_WRONLY || acc == unix.O_RDWR
	fsys.mu.Lock()
	n, resolved, err := f.openLocked(start, path, flags, mode, wantWrite)
	fsys.mu.Unlock()
	if err != 0 {
		return 0, err
	}
	var ops fileOps
	switch {
	case flags&unix.O_PATH != 0:
		ops = pathOps{}
	case n.openFn != nil:
		ops, err = n.openFn(fsys, f, n, flags)
	case n.pipe != nil:
		ops, err = n.pipe.open(t, flags)
	case n.isDir():
		ops = dirOps{}
	case n.isReg():
		ops = regOps{}
	default:
		err = linux.ENXIO
	}
	if err != 0 {
		return 0, err
	}
	kept := flags & keptFlags
	if n.isReg() || n.isDir() {
		kept |= unix.O_LARGEFILE
	}
	of := fsys.newFile(n, ops, kept, resolved)
	return f.installNew(of, flags&unix.O_CLOEXEC != 0)
}

// openLocked finds or creates the file to open. FS.mu is held.
func (f *Files) openLocked(start *inode, path string, flags, mode uint32, wantWrite bool) (*inode, string, linux.Errno) {
	fsys := f.fs
	w := &walker{fsys: fsys, f: f}
	dir, name, slash, err := w.splitParent(start, path)
	if err != 0 {
		return nil, "", err
	}
	var n *inode
	for {
		if name == "" || name == "." || name == ".." {
			n, err = w.step(dir, name, false)
			if err != 0 {
				return nil, "", err
			}
			break
		}
		if len(name) > linux.NameMax {
			return nil, "", linux.ENAMETOOLONG
		}
		n = w.child(dir, name)
		if n != nil {
			w.at, w.atName = dir, name
		}
		if n == nil || !n.isLink() {
			break
		}
		if flags&unix.O_NOFOLLOW != 0 && !slash {
			if flags&unix.O_PATH != 0 {
				break
			}
			return nil, "", linux.ELOOP
		}
		if n.magicFn != nil || n.linkFn != nil || flags&unix.O_CREAT == 0 {
			n, err = w.follow(dir, n)
			if err != 0 {
				return nil, "", err
			}
			break
		}
		// A symbolic link with O_CREAT: the target may be created.
		w.links++
		if w.links > linux.SymloopMax {
			return nil, "", linux.ELOOP
		}
		if n.target == "" {
			return nil, "", linux.ENOENT
		}
		if flags&unix.O_EXCL != 0 {
			return nil, "", linux.EEXIST
		}
		var s2 bool
		dir, name, s2, err = w.splitParent(dir, n.target)
		if err != 0 {
			return nil, "", err
		}
		slash = slash || s2
	}
	if n == nil {
		if flags&unix.O_CREAT == 0 {
			return nil, "", linux.ENOENT
		}
		if slash {
			return nil, "", linux.EISDIR
		}
		if dir.mnt.readonly || dir.dynamic() {
			return nil, "", linux.EROFS
		}
		if dir.nlink == 0 {
			return nil, "", linux.ENOENT
		}
		f.mu.Lock()
		umask := f.umask
		f.mu.Unlock()
		n = fsys.newInode(dir.mnt, unix.S_IFREG|(mode&^umask)&0o7777)
		fsys.link(dir, name, n)
		w.at, w.atName = dir, name
		return n, w.resolved(n), 0
	}
	if flags&(unix.O_CREAT|unix.O_EXCL) == unix.O_CREAT|unix.O_EXCL {
		return nil, "", linux.EEXIST
	}
	if n.isDir() {
		if flags&unix.O_CREAT != 0 {
			return nil, "", linux.EISDIR
		}
		if wantWrite && flags&unix.O_PATH == 0 {
			return nil, "", linux.EISDIR
		}
	} else {
		if slash {
			return nil, "", linux.ENOTDIR
		}
		if flags&unix.O_DIRECTORY != 0 {
			return nil, "", linux.ENOTDIR
		}
	}
	if flags&unix.O_PATH == 0 && n.isReg() && n.openFn == nil {
		if (wantWrite || flags&unix.O_TRUNC != 0) && n.mnt.readonly {
			return nil, "", linux.EROFS
		}
		if flags&unix.O_TRUNC != 0 && len(n.data) > 0 {
			fsys.resize(n, 0)
			t := fsys.now()
			n.mtime, n.ctime = t, t
		}
	}
	return n, w.resolved(n), 0
}

// link adds name -> n in dir. FS.mu is held.
func (fsys *FS) link(dir *inode, name string, n *inode) {
	dir.kids[name] = n
	if n.isDir() {
		n.parent, n.name = dir, name
		dir.nlink++
	}
	t := fsys.now()
	dir.mtime, dir.ctime = t, t
}

// --- stat ---

func (fsys *FS) stat(n *inode) linux.Stat {
	s := linux.Stat{
		Dev: n.mnt.dev, Ino: n.ino, Nlink: uint64(n.nlink), Mode: n.mode, UID: n.uid, GID: n.gid,
		Rdev: n.rdev, Blksize: 4096,
		Atime: ts(n.atime), Mtime: ts(n.mtime), Ctime: ts(n.ctime),
	}
	switch {
	case n.isReg():
		s.Size = int64(len(n.data))
		s.Blocks = (s.Size + 4095) / 4096 * 8
	case n.isLink():
		s.Size = int64(len(n.target))
	case n.isDir():
		if n.mnt == fsys.tmp {
			s.Size = int64(len(n.kids)+2) * 20
		} else if !n.dynamic() && n.mnt != fsys.proc {
			s.Size = 4096
			s.Blocks = 8
		}
	}
	return s
}

func ts(t time.Time) linux.Timespec {
	if t.IsZero() {
		return linux.Timespec{}
	}
	return linux.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

func (f *Files) statTo(t Task, n *inode, buf uint64) (uint64, linux.Errno) {
	f.fs.mu.Lock()
	s := f.fs.stat(n)
	f.fs.mu.Unlock()
	var b [linux.SizeofStat]byte
	s.Encode(b[:])
	return 0, writeMem(t, buf, b[:])
}

// Stat is stat(path, statbuf).
func (f *Files) Stat(t Task, a [6]uint64) (uint64, linux.Errno) {
	n, _, err := f.lookup(t, atFDCWD, a[0], true, false)
	if err != 0 {
		return 0, err
	}
	return f.statTo(t, n, a[1])
}

// Lstat is lstat(path, statbuf).
func (f *Files) Lstat(t Task, a [6]uint64) (uint64, linux.Errno) {
	n, _, err := f.lookup(t, atFDCWD, a[0], false, false)
	if err != 0 {
		return 0, err
	}
	return f.statTo(t, n, a[1])
}

// Fstat is fstat(fd, statbuf).
func (f *Files) Fstat(t Task, a [6]uint64) (uint64, linux.Errno) {
	fd, _ := fdArg(a[0])
	of := f.get(fd)
	if of == nil {
		return 0, linux.EBADF
	}
	defer of.decRef()
	return f.statTo(t, of.ino, a[1])
}

// Newfstatat is newfstatat(dirfd, path, statbuf, flags).
func (f *Files) Newfstatat(t Task, a [6]uint64) (uint64, linux.Errno) {
	flags := uint32(a[3])
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH|unix.AT_NO_AUTOMOUNT) != 0 {
		return 0, linux.EINVAL
	}
	n, _, err := f.lookup(t, int(int32(a[0])), a[1], flags&unix.AT_SYMLINK_NOFOLLOW == 0, flags&unix.AT_EMPTY_PATH != 0)
	if err != 0 {
		return 0, err
	}
	return f.statTo(t, n, a[2])
}

// Statx is statx(dirfd, path, flags, mask, statxbuf).
func (f *Files) Statx(t Task, a [6]uint64) (uint64, linux.Errno) {
	flags := uint32(a[2])
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH|unix.AT_NO_AUTOMOUNT|linux.AT_STATX_SYNC_TYPE) != 0 ||
		flags&linux.AT_STATX_SYNC_TYPE == linux.AT_STATX_SYNC_TYPE {
		return 0, linux.EINVAL
	}
	if uint32(a[3])&unix.STATX__RESERVED != 0 {
		return 0, linux.EINVAL
	}
	n, _, err := f.lookup(t, int(int32(a[0])), a[1], flags&unix.AT_SYMLINK_NOFOLLOW == 0, flags&unix.AT_EMPTY_PATH != 0)
	if err != 0 {
		return 0, err
	}
	f.fs.mu.Lock()
	s := f.fs.stat(n)
	f.fs.mu.Unlock()
	x := linux.Statx{
		Mask:    unix.STATX_BASIC_STATS,
		Blksize: uint32(s.Blksize), Nlink: uint32(s.Nlink), UID: s.UID, GID: s.GID, Mode: uint16(s.Mode),
		Ino: s.Ino, Size: uint64(s.Size), Blocks: uint64(s.Blocks),
		Atime: s.Atime, Ctime: s.Ctime, Mtime: s.Mtime, Rdev: s.Rdev, Dev: s.Dev, MntID: uint64(linux.Minor(s.Dev)),
	}
	var b [linux.SizeofStatx]byte
	x.Encode(b[:])
	return 0, writeMem(t, a[4], b[:])
}

// --- statfs ---

func (fsys *FS) statfs(n *inode) linux.Statfs {
	m := n.mnt
	s := linux.Statfs{Type: m.magic, Bsize: 4096, Frsize: 4096, Namelen: linux.NameMax, Flags: 0x20 /* ST_VALID */}
	s.Fsid = [2]int32{int32(linux.Minor(m.dev)), 0}
	if m.readonly {
		s.Flags |= unix.ST_RDONLY
	}
	if m == fsys.tmp {
		s.Blocks = uint64(m.limit / 4096)
		free := uint64(max(m.limit-m.used, 0) / 4096)
		s.Bfree, s.Bavail = free, free
		s.Files, s.Ffree = 1<<20, 1<<20-m.nextIno
		s.Flags |= unix.ST_NOSUID | unix.ST_NODEV
	}
	return s
}

func (f *Files) statfsTo(t Task, n *inode, buf uint64) (uint64, linux.Errno) {
	f.fs.mu.Lock()
	s := f.fs.statfs(n)
	f.fs.mu.Unlock()
	var b [linux.SizeofStatfs]byte
	s.Encode(b[:])
	return 0, writeMem(t, buf, b[:])
}

// Statfs is statfs(path, buf).
func (f *Files) Statfs(t Task, a [6]uint64) (uint64, linux.Errno) {
	n, _, err := f.lookup(t, atFDCWD, a[0], true, false)
	if err != 0 {
		return 0, err
	}
	return f.statfsTo(t, n, a[1])
}

// Fstatfs is fstatfs(fd, buf).
func (f *Files) Fstatfs(t Task, a [6]uint64) (uint64, linux.Errno) {
	fd, _ := fdArg(a[0])
	of := f.get(fd)
	if of == nil {
		return 0, linux.EBADF
	}
	defer of.decRef()
	if of.ino == nil {
		return 0, linux.EINVAL
	}
	return f.statfsTo(t, of.ino, a[1])
}

// --- readlink, access, cwd ---

func (f *Files) readlink(t Task, dirfd int, addr, buf, size uint64) (uint64, linux.Errno) {
	if int32(size) <= 0 {
		return 0, linux.EINVAL
	}
	path, err := pathArg(t, addr)
	if err != 0 {
		return 0, err
	}
	n, _, err := f.lookupPath(dirfd, path, false, true)
	if err != 0 {
		return 0, err
	}
	if !n.isLink() {
		return 0, linux.EINVAL
	}
	target := f.linkText(n)
	b := []byte(target)
	if uint64(len(b)) > size {
		b = b[:size]
	}
	if e := writeMem(t, buf, b); e != 0 {
		return 0, e
	}
	return uint64(len(b)), 0
}

// linkText is what readlink returns for n.
func (f *Files) linkText(n *inode) string {
	if n.magicFn != nil {
		f.fs.mu.Lock()
		defer f.fs.mu.Unlock()
		of := n.magicFn(f)
		if of == nil {
			return ""
		}
		return of.describe()
	}
	if n.linkFn != nil {
		f.fs.mu.Lock()
		defer f.fs.mu.Unlock()
		return n.linkFn(f)
	}
	return n.target
}

// Readlink is readlink(path, buf, size).
func (f *Files) Readlink(t Task, a [6]uint64) (uint64, linux.Errno) {
	return f.readlink(t, atFDCWD, a[0], a[1], a[2])
}

// Readlinkat is readlinkat(dirfd, path, buf, size).
func (f *Files) Readlinkat(t Task, a [6]uint64) (uint64, linux.Errno) {
	return f.readlink(t, int(int32(a[0])), a[1], a[2], a[3])
}

func (f *Files) access(t Task, dirfd int, addr uint64, mode, flags uint32) (uint64, linux.Errno) {
	if mode&^7 != 0 {
		return 0, linux.EINVAL
	}
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EACCESS|unix.AT_EMPTY_PATH) != 0 {
		return 0, linux.EINVAL
	}
	n, _, err := f.lookup(t, dirfd, addr, flags&unix.AT_SYMLINK_NOFOLLOW == 0, flags&unix.AT_EMPTY_PATH != 0)
	if err != 0 {
		return 0, err
	}
	// The guest runs as root: read and write are granted (write not on a
	// read-only file system), execute needs some execute bit.
	if mode&unix.W_OK != 0 && n.mnt.readonly && (n.isReg() || n.isDir()) && n.openFn == nil {
		return 0, linux.EROFS
	}
	if mode&unix.X_OK != 0 && !n.isDir() && n.mode&0o111 == 0 {
		return 0, linux.EACCES
	}
	return 0, 0
}

// Access is access(path, mode).
func (f *Files) Access(t Task, a [6]uint64) (uint64, linux.Errno) {
	return f.access(t, atFDCWD, a[0], uint32(a[1]), 0)
}

// Faccessat is faccessat(dirfd, path, mode) (the system call has no flags).
func (f *Files) Faccessat(t Task, a [6]uint64) (uint64, linux.Errno) {
	return f.access(t, int(int32(a[0])), a[1], uint32(a[2]), 0)
}

// Faccessat2 is faccessat2(dirfd, path, mode, flags).
func (f *Files) Faccessat2(t Task, a [6]uint64) (uint64, linux.Errno) {
	return f.access(t, int(int32(a[0])), a[1], uint32(a[2]), uint32(a[3]))
}

// Getcwd is getcwd(buf, size); it returns the length including the NUL.
func (f *Files) Getcwd(t Task, a [6]uint64) (uint64, linux.Errno) {
	f.mu.Lock()
	cwd := f.cwd
	f.mu.Unlock()
	f.fs.mu.Lock()
	p := pathOf(cwd)
	gone := cwd.nlink == 0
	f.fs.mu.Unlock()
	if gone {
		return 0, linux.ENOENT
	}
	b := append([]byte(p), 0)
	if uint64(len(b)) > a[1] {
		return 0, linux.ERANGE
	}
	if e := writeMem(t, a[0], b); e != 0 {
		return 0, e
	}
	return uint64(len(b)), 0
}

// Chdir is chdir(path).
func (f *Files) Chdir(t Task, a [6]uint64) (uint64, linux.Errno) {
	n, _, err := f.lookup(t, atFDCWD, a[0], true, false)
	if err != 0 {
		return 0, err
	}
	if !n.isDir() {
		return 0, linux.ENOTDIR
	}
	f.mu.Lock()
	f.cwd = n
	f.mu.Unlock()
	return 0, 0
}

// Fchdir is fchdir(fd).
func (f *Files) Fchdir(t Task, a [6]uint64) (uint64, linux.Errno) {
	fd, _ := fdArg(a[0])
	of := f.get(fd)
	if of == nil {
		return 0, linux.EBADF
	}
	defer of.decRef()
	if of.ino == nil || !of.ino.isDir() {
		return 0, linux.ENOTDIR
	}
	f.mu.Lock()
	f.cwd = of.ino
	f.mu.Unlock()
	return 0, 0
}

// --- creating and removing names ---

func (f *Files) mkdir(t Task, dirfd int, addr uint64, mode uint32) (uint64, linux.Errno) {
	_, dir, name, _, err := f.parentAt(t, dirfd, addr)
	if err != 0 {
		return 0, err
	}
	fsys := f.fs
	defer fsys.mu.Unlock()
	if name == "" || name == "." || name == ".." || (&walker{fsys: fsys, f: f}).child(dir, name) != nil {
		return 0, linux.EEXIST
	}
	if dir.mnt.readonly || dir.dynamic() {
		return 0, linux.EROFS
	}
	if dir.nlink == 0 {
		return 0, linux.ENOENT
	}
	f.mu.Lock()
	umask := f.umask
	f.mu.Unlock()
	d := fsys.newInode(dir.mnt, unix.S_IFDIR|(mode&^umask)&0o7777)
	fsys.link(dir, name, d)
	return 0, 0
}

// Mkdir is mkdir(path, mode).
func (f *Files) Mkdir(t Task, a [6]uint64) (uint64, linux.Errno) {
	return f.mkdir(t, atFDCWD, a[0], uint32(a[1]))
}

// Mkdirat is mkdirat(dirfd, path, mode).
func (f *Files) Mkdirat(t Task, a [6]uint64) (uint64, linux.Errno) {
	return f.mkdir(t, int(int32(a[0])), a[1], uint32(a[2]))
}

// unlinkLocked removes name from dir (rmdir if dirs). FS.mu is held.
func (f *Files) unlinkLocked(dir *inode, name string, slash, dirs bool) linux.Errno {
	fsys := f.fs
	switch name {
	case "":
		if dirs {
			return linux.EBUSY
		}
		return linux.EISDIR
	case ".":
		if dirs {
			return linux.EINVAL
		}
		return linux.EISDIR
	case "..":
		if dirs {
			return linux.ENOTEMPTY
		}
		return linux.EISDIR
	}
	n := (&walker{fsys: fsys, f: f}).child(dir, name)
	if n == nil {
		return linux.ENOENT
	}
	if dirs {
		if !n.isDir() {
			return linux.ENOTDIR
		}
	} else {
		if n.isDir() {
			return linux.EISDIR
		}
		if slash {
			return linux.ENOTDIR
		}
	}
	if dir.mnt.readonly || dir.dynamic() {
		return linux.EROFS
	}
	if n.mnt != dir.mnt || n == fsys.root {
		return linux.EBUSY // a mount point
	}
	if n.isDir() && len(n.kids) > 0 {
		return linux.ENOTEMPTY
	}
	fsys.unlinkName(dir, name, n)
	return 0
}

// unlinkName drops the name; FS.mu is held.
func (fsys *FS) unlinkName(dir *inode, name string, n *inode) {
	delete(dir.kids, name)
	t := fsys.now()
	dir.mtime, dir.ctime = t, t
	n.ctime = t
	if n.isDir() {
		dir.nlink--
		n.nlink = 0
	} else {
		n.nlink--
	}
	fsys.maybeFree(n)
}

// Unlink is unlink(path).
func (f *Files) Unlink(t Task, a [6]uint64) (uint64, linux.Errno) {
	return f.unlink(t, atFDCWD, a[0], 0)
}

// Rmdir is rmdir(path).
func (f *Files) Rmdir(t Task, a [6]uint64) (uint64, linux.Errno) {
	return f.unlink(t, atFDCWD, a[0], unix.AT_REMOVEDIR)
}

// Unlinkat is unlinkat(dirfd, path, flags).
func (f *Files) Unlinkat(t Task, a [6]uint64) (uint64, linux.Errno) {
	if a[2]&^unix.AT_REMOVEDIR != 0 {
		return 0, linux.EINVAL
	}
	return f.unlink(t, int(int32(a[0])), a[1], uint32(a[2]))
}

func (f *Files) unlink(t Task, dirfd int, addr uint64, flags uint32) (uint64, linux.Errno) {
	_, dir, name, slash, err := f.parentAt(t, dirfd, addr)
	if err != 0 {
		return 0, err
	}
	defer f.fs.mu.Unlock()
	return 0, f.unlinkLocked(dir, name, slash, flags&unix.AT_REMOVEDIR != 0)
}

func (f *Files) symlink(t Task, targetAddr uint64, dirfd int, addr uint64) (uint64, linux.Errno) {
	target, err := pathArg(t, targetAddr)
	if err != 0 {
		return 0, err
	}
	if target == "" {
		return 0, linux.ENOENT
	}
	_, dir, name, slash, err := f.parentAt(t, dirfd, addr)
	if err != 0 {
		return 0, err
	}
	fsys := f.fs
	defer fsys.mu.Unlock()
	if name == "" || name == "." || name == ".." || (&walker{fsys: fsys, f: f}).child(dir, name) != nil {
		return 0, linux.EEXIST
	}
	if slash {
		return 0, linux.ENOENT
	}
	if dir.mnt.readonly || dir.dynamic() {
		return 0, linux.EROFS
	}
	if dir.nlink == 0 {
		return 0, linux.ENOENT
	}
	if m := dir.mnt; m.limit > 0 && m.used+int64(len(target)) > m.limit {
		return 0, linux.ENOSPC
	}
	n := fsys.newInode(dir.mnt, unix.S_IFLNK|0o777)
	n.target = target
	fsys.link(dir, name, n)
	return 0, 0
}

// Symlink is symlink(target, linkpath).
func (f *Files) Symlink(t Task, a [6]uint64) (uint64, linux.Errno) {
	return f.symlink(t, a[0], atFDCWD, a[1])
}

// Symlinkat is symlinkat(target, newdirfd, linkpath).
func (f *Files) Symlinkat(t Task, a [6]uint64) (uint64, linux.Errno) {
	return f.symlink(t, a[0], int(int32(a[1])), a[2])
}

func (f *Files) linkat(t Task, olddirfd int, oldAddr uint64, newdirfd int, newAddr uint64, flags uint32) (uint64, linux.Errno) {
	if flags&^(unix.AT_SYMLINK_FOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return 0, linux.EINVAL
	}
	oldPath, err := pathArg(t, oldAddr)
	if err != 0 {
		return 0, err
	}
	newPath, err := pathArg(t, newAddr)
	if err != 0 {
		return 0, err
	}
	old, _, err := f.lookupPath(olddirfd, oldPath, flags&unix.AT_SYMLINK_FOLLOW != 0, flags&unix.AT_EMPTY_PATH != 0)
	if err != 0 {
		return 0, err
	}
	_, dir, name, slash, err := f.parentPath(newdirfd, newPath)
	if err != 0 {
		return 0, err
	}
	fsys := f.fs
	defer fsys.mu.Unlock()
	if name == "" || name == "." || name == ".." || (&walker{fsys: fsys, f: f}).child(dir, name) != nil {
		return 0, linux.EEXIST
	}
	if old.isDir() {
		return 0, linux.EPERM
	}
	if slash {
		return 0, linux.ENOENT
	}
	if dir.mnt.readonly || dir.dynamic() {
		return 0, linux.EROFS
	}
	if old.mnt != dir.mnt {
		return 0, linux.EXDEV
	}
	if old.nlink == 0 {
		return 0, linux.ENOENT
	}
	if dir.nlink == 0 {
		return 0, linux.ENOENT
	}
	old.nlink++
	old.ctime = fsys.now()
	fsys.link(dir, name, old)
	return 0, 0
}

// Link is link(oldpath, newpath).
func (f *Files) Link(t Task, a [6]uint64) (uint64, linux.Errno) {
	return f.linkat(t, atFDCWD, a[0], atFDCWD, a[1], 0)
}

// Linkat is linkat(olddirfd, oldpath, newdirfd, newpath, flags).
func (f *Files) Linkat(t Task, a [6]uint64) (uint64, linux.Errno) {
	return f.linkat(t, int(int32(a[0])), a[1], int(int32(a[2])), a[3], uint32(a[4]))
}

// --- rename ---

func (f *Files) rename(t Task, olddirfd int, oldAddr uint64, newdirfd int, newAddr uint64, flags uint32) (uint64, linux.Errno) {
	if flags&^(unix.RENAME_NOREPLACE|unix.RENAME_EXCHANGE|unix.RENAME_WHITEOUT) != 0 ||
		flags&(unix.RENAME_NOREPLACE|unix.RENAME_EXCHANGE) == unix.RENAME_NOREPLACE|unix.RENAME_EXCHANGE {
		return 0, linux.EINVAL
	}
	if flags&unix.RENAME_WHITEOUT != 0 {
		return 0, linux.EINVAL
	}
	oldPath, err := pathArg(t, oldAddr)
	if err != 0 {
		return 0, err
	}
	newPath, err := pathArg(t, newAddr)
	if err != 0 {
		return 0, err
	}
	oldStart, err := f.startDir(olddirfd, oldPath)
	if err != 0 {
		return 0, err
	}
	_, ndir, nname, nslash, err := f.parentPath(newdirfd, newPath)
	if err != 0 {
		return 0, err
	}
	fsys := f.fs
	defer fsys.mu.Unlock()
	if oldPath == "" {
		return 0, linux.ENOENT
	}
	w := &walker{fsys: fsys, f: f}
	odir, oname, oslash, err := w.splitParent(oldStart, oldPath)
	if err != 0 {
		return 0, err
	}
	if len(oname) > linux.NameMax {
		return 0, linux.ENAMETOOLONG
	}
	if oname == "" || oname == "." || oname == ".." || nname == "" || nname == "." || nname == ".." {
		if oname == "" || nname == "" {
			return 0, linux.EBUSY
		}
		return 0, linux.EINVAL
	}
	src := w.child(odir, oname)
	if src == nil {
		return 0, linux.ENOENT
	}
	if (oslash || nslash) && !src.isDir() {
		return 0, linux.ENOTDIR
	}
	if odir.mnt != ndir.mnt {
		return 0, linux.EXDEV
	}
	if odir.mnt.readonly || ndir.mnt.readonly || odir.dynamic() || ndir.dynamic() {
		return 0, linux.EROFS
	}
	if src.mnt != odir.mnt {
		return 0, linux.EBUSY
	}
	dst := w.child(ndir, nname)
	if dst == src {
		return 0, 0
	}
	if flags&unix.RENAME_NOREPLACE != 0 && dst != nil {
		return 0, linux.EEXIST
	}
	if flags&unix.RENAME_EXCHANGE != 0 {
		if dst == nil {
			return 0, linux.ENOENT
		}
		if (src.isDir() && isAncestor(src, ndir)) || (dst.isDir() && isAncestor(dst, odir)) {
			return 0, linux.EINVAL
		}
		odir.kids[oname], ndir.kids[nname] = dst, src
		if src.isDir() {
			src.parent, src.name = ndir, nname
		}
		if dst.isDir() {
			dst.parent, dst.name = odir, oname
		}
		if src.isDir() != dst.isDir() && odir != ndir {
			if src.isDir() {
				odir.nlink--
				ndir.nlink++
			} else {
				odir.nlink++
				ndir.nlink--
			}
		}
		now := fsys.now()
		odir.mtime, odir.ctime, ndir.mtime, ndir.ctime, src.ctime, dst.ctime = now, now, now, now, now, now
		return 0, 0
	}
	if src.isDir() && isAncestor(src, ndir) {
		return 0, linux.EINVAL
	}
	if dst != nil {
		if dst.mnt != ndir.mnt {
			return 0, linux.EBUSY
		}
		if src.isDir() {
			if !dst.isDir() {
				return 0, linux.ENOTDIR
			}
			if len(dst.kids) > 0 {
				return 0, linux.ENOTEMPTY
			}
		} else if dst.isDir() {
			return 0, linux.EISDIR
		}
		fsys.unlinkName(ndir, nname, dst)
	}
	delete(odir.kids, oname)
	if src.isDir() {
		odir.nlink--
	}
	fsys.link(ndir, nname, src)
	now := fsys.now()
	odir.mtime, odir.ctime, src.ctime = now, now, now
	return 0, 0
}

// isAncestor reports whether a is d or one of d's ancestors.
func isAncestor(a, d *inode) bool {
	for i := 0; i < 4096; i++ {
		if d == a {
			return true
		}
		if d.parent == nil || d.parent == d {
			return false
		}
		d = d.parent
	}
	return false
}

// Rename is rename(old, new).
func (f *Files) Rename(t Task, a [6]uint64) (uint64, linux.Errno) {
	return f.rename(t, atFDCWD, a[0], atFDCWD, a[1], 0)
}

// Renameat is renameat(olddirfd, old, newdirfd, new).
func (f *Files) Renameat(t Task, a [6]uint64) (uint64, linux.Errno) {
	return f.rename(t, int(int32(a[0])), a[1], int(int32(a[2])), a[3], 0)
}

// Renameat2 is renameat2(olddirfd, old, newdirfd, new, flags).
func (f *Files) Renameat2(t Task, a [6]uint64) (uint64, linux.Errno) {
	return f.rename(t, int(int32(a[0])), a[1], int(int32(a[2])), a[3], uint32(a[4]))
}

// --- attributes ---

// setattr changes n under FS.mu: the read-only check is common.
func (f *Files) setattr(n *inode, fn func(n *inode) linux.Errno) linux.Errno {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if n.mnt.readonly || n.pipe != nil && n.mnt == nil {
		return linux.EROFS
	}
	if err := fn(n); err != 0 {
		return err
	}
	n.ctime = f.fs.now()
	return 0
}

func chmodFn(mode uint32) func(n *inode) linux.Errno {
	return func(n *inode) linux.Errno {
		n.mode = n.mode&unix.S_IFMT | mode&0o7777
		return 0
	}
}

// Chmod is chmod(path, mode).
func (f *Files) Chmod(t Task, a [6]uint64) (uint64, linux.Errno) {
	n, _, err := f.lookup(t, atFDCWD, a[0], true, false)
	if err != 0 {
		return 0, err
	}
	return 0, f.setattr(n, chmodFn(uint32(a[1])))
}

// Fchmod is fchmod(fd, mode).
func (f *Files) Fchmod(t Task, a [6]uint64) (uint64, linux.Errno) {
	fd, _ := fdArg(a[0])
	of := f.get(fd)
	if of == nil || of.isPath() {
		if of != nil {
			of.decRef()
		}
		return 0, linux.EBADF
	}
	defer of.decRef()
	return 0, f.setattr(of.ino, chmodFn(uint32(a[1])))
}

// Fchmodat is fchmodat(dirfd, path, mode) (no flags in the system call).
func (f *Files) Fchmodat(t Task, a [6]uint64) (uint64, linux.Errno) {
	n, _, err := f.lookup(t, int(int32(a[0])), a[1], true, false)
	if err != 0 {
		return 0, err
	}
	return 0, f.setattr(n, chmodFn(uint32(a[2])))
}

func chownFn(uid, gid uint32) func(n *inode) linux.Errno {
	return func(n *inode) linux.Errno {
		if uid != math.MaxUint32 {
			n.uid = uid
		}
		if gid != math.MaxUint32 {
			n.gid = gid
		}
		if !n.isDir() && (uid != math.MaxUint32 || gid != math.MaxUint32) {
			n.mode &^= unix.S_ISUID
			if n.mode&0o010 != 0 {
				n.mode &^= unix.S_ISGID
			}
		}
		return 0
	}
}

// Chown is chown(path, uid, gid).
func (f *Files) Chown(t Task, a [6]uint64) (uint64, linux.Errno) {
	n, _, err := f.lookup(t, atFDCWD, a[0], true, false)
	if err != 0 {
		return 0, err
	}
	return 0, f.setattr(n, chownFn(uint32(a[1]), uint32(a[2])))
}

// Lchown is lchown(path, uid, gid).
func (f *Files) Lchown(t Task, a [6]uint64) (uint64, linux.Errno) {
	n, _, err := f.lookup(t, atFDCWD, a[0], false, false)
	if err != 0 {
		return 0, err
	}
	return 0, f.setattr(n, chownFn(uint32(a[1]), uint32(a[2])))
}

// Fchown is fchown(fd, uid, gid).
func (f *Files) Fchown(t Task, a [6]uint64) (uint64, linux.Errno) {
	fd, _ := fdArg(a[0])
	of := f.get(fd)
	if of == nil || of.isPath() {
		if of != nil {
			of.decRef()
		}
		return 0, linux.EBADF
	}
	defer of.decRef()
	return 0, f.setattr(of.ino, chownFn(uint32(a[1]), uint32(a[2])))
}

// Fchownat is fchownat(dirfd, path, uid, gid, flags).
func (f *Files) Fchownat(t Task, a [6]uint64) (uint64, linux.Errno) {
	flags := uint32(a[4])
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return 0, linux.EINVAL
	}
	n, _, err := f.lookup(t, int(int32(a[0])), a[1], flags&unix.AT_SYMLINK_NOFOLLOW == 0, flags&unix.AT_EMPTY_PATH != 0)
	if err != 0 {
		return 0, err
	}
	return 0, f.setattr(n, chownFn(uint32(a[2]), uint32(a[3])))
}

// Utimensat is utimensat(dirfd, path, times[2], flags); path NULL means
// dirfd itself.
func (f *Files) Utimensat(t Task, a [6]uint64) (uint64, linux.Errno) {
	flags := uint32(a[3])
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return 0, linux.EINVAL
	}
	var times [2]linux.Timespec
	now := [2]bool{true, true}
	omit := [2]bool{}
	if a[2] != 0 {
		b, err := readMem(t, a[2], 2*linux.SizeofTimespec)
		if err != 0 {
			return 0, err
		}
		for i := range times {
			times[i] = linux.DecodeTimespec(b[i*16:])
			now[i] = times[i].Nsec == unix.UTIME_NOW
			omit[i] = times[i].Nsec == unix.UTIME_OMIT
			if !now[i] && !omit[i] && (times[i].Nsec < 0 || times[i].Nsec >= 1e9) {
				return 0, linux.EINVAL
			}
		}
	}
	var n *inode
	var err linux.Errno
	dirfd := int(int32(a[0]))
	if a[1] == 0 {
		of := f.get(dirfd)
		if of == nil {
			return 0, linux.EBADF
		}
		n = of.ino
		of.decRef()
	} else {
		n, _, err = f.lookup(t, dirfd, a[1], flags&unix.AT_SYMLINK_NOFOLLOW == 0, flags&unix.AT_EMPTY_PATH != 0)
		if err != 0 {
			return 0, err
		}
	}
	if omit[0] && omit[1] {
		return 0, 0
	}
	return 0, f.setattr(n, func(n *inode) linux.Errno {
		tnow := f.fs.now()
		for i, p := range []*time.Time{&n.atime, &n.mtime} {
			switch {
			case omit[i]:
			case now[i]:
				*p = tnow
			default:
				*p = time.Unix(times[i].Sec, times[i].Nsec)
			}
		}
		return 0
	})
}

func (f *Files) truncate(n *inode, size int64) linux.Errno {
	if size < 0 {
		return linux.EINVAL
	}
	if n.isDir() {
		return linux.EISDIR
	}
	if !n.isReg() || n.openFn != nil {
		return linux.EINVAL
	}
	return f.setattr(n, func(n *inode) linux.Errno {
		if m := n.mnt; m.limit > 0 && size > int64(len(n.data)) && m.used+size-int64(len(n.data)) > m.limit {
			return linux.EFBIG
		}
		if !f.fs.resize(n, size) {
			return linux.ENOSPC
		}
		n.mtime = f.fs.now()
		return 0
	})
}

// Truncate is truncate(path, length).
func (f *Files) Truncate(t Task, a [6]uint64) (uint64, linux.Errno) {
	n, _, err := f.lookup(t, atFDCWD, a[0], true, false)
	if err != 0 {
		return 0, err
	}
	return 0, f.truncate(n, int64(a[1]))
}

// Ftruncate is ftruncate(fd, length).
func (f *Files) Ftruncate(t Task, a [6]uint64) (uint64, linux.Errno) {
	fd, _ := fdArg(a[0])
	of := f.get(fd)
	if of == nil {
		return 0, linux.EBADF
	}
	defer of.decRef()
	if of.isPath() {
		return 0, linux.EBADF
	}
	if !of.writable() || of.ino == nil || !of.ino.isReg() {
		return 0, linux.EINVAL
	}
	return 0, f.truncate(of.ino, int64(a[1]))
}

// --- getdents ---

// list returns the entries of directory n ("." and ".." first).
func (f *Files) list(n *inode) []dirent {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	out := []dirent{{".", n.ino, unix.DT_DIR}, {"..", parentOf(n).ino, unix.DT_DIR}}
	if n.listFn != nil {
		return append(out, n.listFn(f)...)
	}
	names := make([]string, 0, len(n.kids))
	for name := range n.kids {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		k := n.kids[name]
		out = append(out, dirent{name, k.ino, dtype(k.mode)})
	}
	return out
}

func (f *Files) getdents(t Task, a [6]uint64, old bool) (uint64, linux.Errno) {
	fd, _ := fdArg(a[0])
	of := f.get(fd)
	if of == nil {
		return 0, linux.EBADF
	}
	defer of.decRef()
	if of.isPath() {
		return 0, linux.EBADF
	}
	if of.ino == nil || !of.ino.isDir() {
		return 0, linux.ENOTDIR
	}
	count := a[2]
	if count > MaxIO {
		count = MaxIO
	}
	of.mu.Lock()
	defer of.mu.Unlock()
	if of.dir == nil || of.off == 0 {
		of.dir = f.list(of.ino)
	}
	var buf []byte
	i := of.off
	for ; i >= 0 && i < int64(len(of.dir)); i++ {
		d := of.dir[i]
		var l int
		if old {
			l = linux.DirentLen(d.name)
		} else {
			l = linux.Dirent64Len(d.name)
		}
		if uint64(len(buf)+l) > count {
			break
		}
		if old {
			buf = linux.AppendDirent(buf, d.ino, i+1, d.typ, d.name)
		} else {
			buf = linux.AppendDirent64(buf, d.ino, i+1, d.typ, d.name)
		}
	}
	if len(buf) == 0 && i >= 0 && i < int64(len(of.dir)) {
		return 0, linux.EINVAL // buffer too small for the next entry
	}
	if e := writeMem(t, a[1], buf); e != 0 {
		return 0, e
	}
	if i >= 0 {
		of.off = i
	}
	return uint64(len(buf)), 0
}

// Getdents64 is getdents64(fd, dirp, count).
func (f *Files) Getdents64(t Task, a [6]uint64) (uint64, linux.Errno) {
	return f.getdents(t, a, false)
}

// Getdents is getdents(fd, dirp, count) (the old format).
func (f *Files) Getdents(t Task, a [6]uint64) (uint64, linux.Errno) {
	return f.getdents(t, a, true)
}
