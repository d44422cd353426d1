// Package fs is the file side of the Linux host of sandbox guests: the
// mount tree of a sandbox (a read-only root from the initramfs, a tmpfs at
// /tmp, devices at /dev, /proc), the file-descriptor table of each guest
// process, and one handler per file-related system call.
//
// Everything here is pure Go with no host file system underneath, so the
// package is tested on the build machine with a fake guest (Task) and a
// fake terminal (Console).
//
// Locking: FS.mu guards the whole tree (names, inode metadata, file data).
// Each open-file kind with state of its own (pipe, eventfd, epoll, console)
// has a lock of its own; a Files has a lock for its descriptor table. Lock
// order: FS.mu, then Files.mu, then object locks. Wake-ups (waitQueue.notify)
// are always sent with no lock held.
package fs

import (
	"strings"
	"sync"
	"time"

	"beelzebox/kernel/initramfs"
	"beelzebox/linux"

	"golang.org/x/sys/unix"
)

// Task is the calling guest thread, implemented by the host core.
type Task interface {
	ReadMemory(addr uint64, b []byte) error // guest memory; error -> EFAULT
	WriteMemory(addr uint64, b []byte) error
	// Wait blocks until ch is closed (returns 0), the deadline passes
	// (zero Time: no deadline; returns linux.ETIMEDOUT) or a signal
	// interrupts the thread (returns linux.EINTR).
	Wait(ch <-chan struct{}, deadline time.Time) linux.Errno
	// SignalPipe asks the host to send SIGPIPE to the calling thread.
	SignalPipe()
}

// Console is where the guest's terminal goes: the host provides it.
type Console interface {
	Read(p []byte) (int, error)          // stdin; io.EOF at end; may block
	Write(fd int, p []byte) (int, error) // fd 1 (stdout) or 2 (stderr)
}

// ProcInfo gives /proc/<pid> its contents (the host implements it).
type ProcInfo interface {
	Exe() string
	Cmdline() []string
	Maps() string
	Stat() string
	Status() string
	PID() int
}

// Limits.
const (
	MaxFDs        = 1024     // descriptors per process (RLIMIT_NOFILE)
	MaxIO         = 1 << 20  // bytes moved by one read or write call at most
	MaxIovcnt     = 1024     // UIO_MAXIOV
	PipeCapacity  = 64 << 10 // bytes a pipe holds
	DefaultTmpMax = 64 << 20 // default size limit of /tmp
	maxLocks      = 1024     // record locks per inode
)

// CPUInfo is what /proc/cpuinfo reports; the host fills it from CPUID.
var CPUInfo = struct {
	Vendor    string // "GenuineIntel"
	Family    string // decimal
	Model     string // decimal
	ModelName string
	Stepping  string
	MHz       string // "2400.000"
	CacheSize string // "8192 KB"
	Flags     string // "fpu vme de pse ..."
}{Vendor: "GenuineIntel", Family: "6", Model: "0", ModelName: "beelzebox virtual CPU", Stepping: "0", MHz: "1000.000", CacheSize: "4096 KB", Flags: "fpu tsc cx8 cmov mmx fxsr sse sse2 syscall nx lm"}

// MemInfo gives /proc/meminfo its total and free memory in bytes; the
// host may replace it.
var MemInfo = func() (total, free uint64) { return 256 << 20, 128 << 20 }

// FS is the mount tree of one sandbox.
type FS struct {
	mu   sync.Mutex
	root *inode
	tmp  *mount
	dev  *mount
	proc *mount
	anon *mount // pipes, eventfd, epoll
	con  *console

	// Now is the clock of file timestamps (time.Now unless replaced
	// before the first call).
	Now func() time.Time

	procs map[int]*Files // live processes, for /proc/<pid>
	locks lockQueue      // wake-ups for record locks and flock
}

// mount is one mounted file system.
type mount struct {
	name     string // "rootfs", "tmpfs", "devtmpfs", "proc"
	dev      uint64
	readonly bool
	magic    int64
	root     *inode
	nextIno  uint64
	used     int64 // bytes of file data (tmpfs)
	limit    int64 // 0: no limit
	procInos map[string]uint64
}

func (m *mount) newIno() uint64 { m.nextIno++; return m.nextIno }

// inode is a file of any kind and mount. Fields other than the constant
// ones are guarded by FS.mu.
type inode struct {
	mnt   *mount
	ino   uint64
	mode  uint32 // S_IFMT | permissions
	uid   uint32
	gid   uint32
	nlink uint32
	rdev  uint64
	atime time.Time
	mtime time.Time
	ctime time.Time

	data []byte // regular file contents (read-only mounts: alias the archive)

	kids   map[string]*inode // directory entries of a static or tmpfs directory
	parent *inode            // directories: the parent ("..")
	name   string            // directories: the name in the parent

	target string // symbolic link target

	// proc: dynamic directories, symlinks and files.
	lookupFn func(f *Files, name string) *inode
	listFn   func(f *Files) []dirent
	linkFn   func(f *Files) string
	magicFn  func(f *Files) *file
	// openFn makes the open file of a device or proc file.
	openFn func(fsys *FS, f *Files, ino *inode, flags uint32) (fileOps, linux.Errno)

	pipe  *pipe // FIFO inodes (anonymous pipes)
	opens int   // open files (tmpfs data lives while > 0 after unlink)

	plocks []posixLock
	flocks map[*file]int
}

func (n *inode) typ() uint32    { return n.mode & unix.S_IFMT }
func (n *inode) isDir() bool    { return n.typ() == unix.S_IFDIR }
func (n *inode) isLink() bool   { return n.typ() == unix.S_IFLNK }
func (n *inode) isReg() bool    { return n.typ() == unix.S_IFREG }
func (n *inode) dynamic() bool  { return n.lookupFn != nil || n.listFn != nil }
func (n *inode) writable() bool { return !n.mnt.readonly }

// dirent is one directory entry for getdents.
type dirent struct {
	name string
	ino  uint64
	typ  uint8
}

func dtype(mode uint32) uint8 {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return unix.DT_DIR
	case unix.S_IFREG:
		return unix.DT_REG
	case unix.S_IFLNK:
		return unix.DT_LNK
	case unix.S_IFCHR:
		return unix.DT_CHR
	case unix.S_IFBLK:
		return unix.DT_BLK
	case unix.S_IFIFO:
		return unix.DT_FIFO
	case unix.S_IFSOCK:
		return unix.DT_SOCK
	}
	return unix.DT_UNKNOWN
}

// Filesystem magic numbers for statfs.
const (
	ramfsMagic = 0x858458f6
	tmpfsMagic = 0x01021994
	procMagic  = 0x9fa0
)

func (fsys *FS) now() time.Time {
	if fsys.Now != nil {
		return fsys.Now()
	}
	return time.Now()
}

func (fsys *FS) newInode(m *mount, mode uint32) *inode {
	t := fsys.now()
	n := &inode{mnt: m, ino: m.newIno(), mode: mode, nlink: 1, atime: t, mtime: t, ctime: t}
	if n.isDir() {
		n.kids = make(map[string]*inode)
		n.nlink = 2
	}
	return n
}

// addDir links a new directory name into parent (static trees).
func (fsys *FS) mkdirIn(parent *inode, name string, mode uint32) *inode {
	d := fsys.newInode(parent.mnt, unix.S_IFDIR|mode)
	d.parent, d.name = parent, name
	parent.kids[name] = d
	parent.nlink++
	return d
}

// New builds the mount tree of a sandbox: a read-only root made of the
// entries of root under prefix (e.g. "root/"; "" for the whole archive), a
// tmpfs at /tmp, devices at /dev and /proc. con is the guest's terminal.
func New(root *initramfs.FS, prefix string, con Console) (*FS, error) {
	fsys := &FS{procs: make(map[int]*Files)}
	fsys.con = newConsole(con)
	rootMnt := &mount{name: "rootfs", dev: linux.Mkdev(0, 1), readonly: true, magic: ramfsMagic}
	fsys.root = fsys.newInode(rootMnt, unix.S_IFDIR|0o755)
	fsys.root.parent = fsys.root
	rootMnt.root = fsys.root

	prefix = strings.Trim(prefix, "/")
	if prefix == "." {
		prefix = ""
	}
	if root != nil {
		fsys.loadArchive(root, prefix)
	}

	// Mounts cover whatever the archive had at their place, but for
	// /tmp, which starts with the archive's files there (a copy: the
	// guest may change them).
	fsys.tmp = &mount{name: "tmpfs", dev: linux.Mkdev(0, 2), magic: tmpfsMagic, limit: DefaultTmpMax}
	tmp := fsys.newInode(fsys.tmp, unix.S_IFDIR|0o1777)
	fsys.tmp.root = tmp
	if old := fsys.root.kids["tmp"]; old != nil && old.isDir() {
		fsys.copyTree(old, tmp)
	}
	fsys.mountAt("tmp", tmp)

	fsys.dev = &mount{name: "devtmpfs", dev: linux.Mkdev(0, 5), readonly: true, magic: tmpfsMagic}
	fsys.dev.root = fsys.newInode(fsys.dev, unix.S_IFDIR|0o755)
	fsys.mountAt("dev", fsys.dev.root)
	fsys.makeDevices()

	fsys.proc = &mount{name: "proc", dev: linux.Mkdev(0, 3), readonly: true, magic: procMagic, procInos: make(map[string]uint64)}
	fsys.proc.nextIno = 1 << 20
	fsys.proc.root = fsys.procRoot()
	fsys.mountAt("proc", fsys.proc.root)
	return fsys, nil
}

// copyTree copies the entries of the directory src into dst, a directory
// of another mount, as new inodes of dst's mount (hard links become
// separate files).
func (fsys *FS) copyTree(src, dst *inode) {
	for name, n := range src.kids {
		var c *inode
		switch {
		case n.isDir():
			c = fsys.mkdirIn(dst, name, n.mode&0o7777)
			fsys.copyTree(n, c)
		case n.isReg(), n.isLink():
			c = fsys.newInode(dst.mnt, n.mode)
			c.data = append([]byte(nil), n.data...)
			c.target = n.target
			dst.mnt.used += int64(len(c.data))
			dst.kids[name] = c
		default:
			continue
		}
		c.mode, c.uid, c.gid = n.mode, n.uid, n.gid
		c.atime, c.mtime, c.ctime = n.atime, n.mtime, n.ctime
	}
}

// SetTmpLimit sets the size limit of /tmp in bytes (ENOSPC beyond).
func (fsys *FS) SetTmpLimit(n int64) {
	fsys.mu.Lock()
	fsys.tmp.limit = n
	fsys.mu.Unlock()
}

func (fsys *FS) mountAt(name string, r *inode) {
	if old, ok := fsys.root.kids[name]; ok && old.isDir() {
		fsys.root.nlink--
	}
	r.parent, r.name = fsys.root, name
	fsys.root.kids[name] = r
	fsys.root.nlink++
}

// loadArchive makes the read-only root tree from the archive's entries
// under prefix.
func (fsys *FS) loadArchive(a *initramfs.FS, prefix string) {
	m := fsys.root.mnt
	type linkKey struct{ ino, dev uint64 }
	links := make(map[linkKey]*inode)
	var dirOf func(p string) *inode
	dirOf = func(p string) *inode {
		if p == "" || p == "." {
			return fsys.root
		}
		i := strings.LastIndexByte(p, '/')
		parent := dirOf(p[:max(i, 0)])
		name := p[i+1:]
		if parent == nil {
			return nil
		}
		if n, ok := parent.kids[name]; ok {
			if n.isDir() {
				return n
			}
			return nil
		}
		return fsys.mkdirIn(parent, name, 0o755)
	}
	for _, e := range a.Entries() {
		name := e.Name
		if prefix != "" {
			if name == prefix {
				name = "."
			} else if strings.HasPrefix(name, prefix+"/") {
				name = name[len(prefix)+1:]
			} else {
				continue
			}
		}
		t := time.Unix(e.MTime, 0)
		if name == "." {
			if e.IsDir() {
				fsys.root.mode = e.Mode
				fsys.root.uid, fsys.root.gid = e.UID, e.GID
				fsys.root.atime, fsys.root.mtime, fsys.root.ctime = t, t, t
			}
			continue
		}
		i := strings.LastIndexByte(name, '/')
		parent := dirOf(name[:max(i, 0)])
		base := name[i+1:]
		if parent == nil || len(base) > linux.NameMax {
			continue
		}
		var n *inode
		switch {
		case e.IsDir():
			if old, ok := parent.kids[base]; ok && old.isDir() {
				n = old
			} else {
				if ok {
					delete(parent.kids, base)
				}
				n = fsys.mkdirIn(parent, base, 0)
			}
			n.mode = e.Mode
		case e.IsRegular():
			if e.NLink > 1 {
				k := linkKey{e.Ino, e.Dev}
				if l, ok := links[k]; ok {
					if len(l.data) == 0 {
						l.data = e.Data
					}
					l.nlink++
					n = l
					break
				}
				n = fsys.newInode(m, e.Mode)
				n.data = e.Data
				n.nlink = 1
				links[k] = n
				break
			}
			n = fsys.newInode(m, e.Mode)
			n.data = e.Data
		case e.IsSymlink():
			n = fsys.newInode(m, e.Mode)
			n.target = e.Target
		default:
			continue
		}
		if old, ok := parent.kids[base]; ok && old != n && old.isDir() {
			parent.nlink--
		}
		n.uid, n.gid = e.UID, e.GID
		n.atime, n.mtime, n.ctime = t, t, t
		parent.kids[base] = n
	}
}

// --- path resolution ---

// walker resolves paths for one call: it counts the symbolic links
// followed (ELOOP after linux.SymloopMax). FS.mu is held.
type walker struct {
	fsys  *FS
	f     *Files // the calling process (nil for the loader)
	links int
	// at, atName: where the last non-directory was found (for the
	// resolved path of an opened file).
	at     *inode
	atName string
}

// resolved is the absolute path of n, just resolved by w.
func (w *walker) resolved(n *inode) string {
	if n.isDir() {
		return pathOf(n)
	}
	if w.at == nil {
		if w.atName != "" {
			return w.atName
		}
		return "/"
	}
	return joinPath(pathOf(w.at), w.atName)
}

// parentOf returns the ".." of directory d.
func parentOf(d *inode) *inode {
	if d.parent == nil {
		return d
	}
	return d.parent
}

// child looks name up in directory d (nil if absent).
func (w *walker) child(d *inode, name string) *inode {
	if d.lookupFn != nil {
		return d.lookupFn(w.f, name)
	}
	return d.kids[name]
}

// splitParent resolves every component of path but the last, starting at
// start for a relative path. It returns the directory, the last component
// ("" for "/" itself) and whether the path ended in a slash.
func (w *walker) splitParent(start *inode, path string) (*inode, string, bool, linux.Errno) {
	if path == "" {
		return nil, "", false, linux.ENOENT
	}
	cur := start
	if path[0] == '/' {
		cur = w.fsys.root
	}
	slash := path[len(path)-1] == '/'
	path = strings.TrimRight(path, "/")
	for {
		path = strings.TrimLeft(path, "/")
		i := strings.IndexByte(path, '/')
		if i < 0 {
			break
		}
		next, err := w.step(cur, path[:i], true)
		if err != 0 {
			return nil, "", false, err
		}
		cur = next
		path = path[i:]
	}
	if !cur.isDir() {
		return nil, "", false, linux.ENOTDIR
	}
	return cur, path, slash, 0
}

// step moves from directory cur to its entry name, following a symbolic
// link there if follow.
func (w *walker) step(cur *inode, name string, follow bool) (*inode, linux.Errno) {
	if !cur.isDir() {
		return nil, linux.ENOTDIR
	}
	switch name {
	case "", ".":
		return cur, 0
	case "..":
		return parentOf(cur), 0
	}
	if len(name) > linux.NameMax {
		return nil, linux.ENAMETOOLONG
	}
	next := w.child(cur, name)
	if next == nil {
		return nil, linux.ENOENT
	}
	if follow && next.isLink() {
		return w.follow(cur, next)
	}
	w.at, w.atName = cur, name
	return next, 0
}

// follow resolves the symbolic link l found in directory dir.
func (w *walker) follow(dir, l *inode) (*inode, linux.Errno) {
	w.links++
	if w.links > linux.SymloopMax {
		return nil, linux.ELOOP
	}
	if l.magicFn != nil {
		of := l.magicFn(w.f)
		if of == nil {
			return nil, linux.ENOENT
		}
		w.at, w.atName = nil, of.path
		return of.ino, 0
	}
	target := l.target
	if l.linkFn != nil {
		target = l.linkFn(w.f)
	}
	if target == "" {
		return nil, linux.ENOENT
	}
	return w.walk(dir, target, true)
}

// walk resolves a whole path. follow says whether a symbolic link as the
// last component is followed (a trailing slash always follows).
func (w *walker) walk(start *inode, path string, follow bool) (*inode, linux.Errno) {
	dir, name, slash, err := w.splitParent(start, path)
	if err != 0 {
		return nil, err
	}
	n, err := w.step(dir, name, follow || slash)
	if err != 0 {
		return nil, err
	}
	if slash && !n.isDir() {
		return nil, linux.ENOTDIR
	}
	return n, 0
}

// pathOf is the absolute path of directory d (or of a file found under
// dir with name).
func pathOf(d *inode) string {
	var parts []string
	for i := 0; d.parent != nil && d.parent != d && i < 4096; i++ {
		parts = append(parts, d.name)
		d = d.parent
	}
	if len(parts) == 0 {
		return "/"
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		b.WriteByte('/')
		b.WriteString(parts[i])
	}
	return b.String()
}

func joinPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// --- the loader's view ---

// File is an open file for the host's program loader and for mmap: it
// reads at offsets.
type File interface {
	ReadAt(p []byte, off int64) (int, error)
	Size() int64
	Name() string // the resolved absolute path
	Mode() uint32 // st_mode
}

type loaderFile struct {
	fsys *FS
	ino  *inode
	name string
}

func (l *loaderFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, linux.EINVAL
	}
	l.fsys.mu.Lock()
	defer l.fsys.mu.Unlock()
	if off >= int64(len(l.ino.data)) {
		return 0, ioEOF
	}
	n := copy(p, l.ino.data[off:])
	if n < len(p) {
		return n, ioEOF
	}
	return n, nil
}

func (l *loaderFile) Size() int64 {
	l.fsys.mu.Lock()
	defer l.fsys.mu.Unlock()
	return int64(len(l.ino.data))
}

func (l *loaderFile) Name() string { return l.name }
func (l *loaderFile) Mode() uint32 { return l.ino.mode }

// Open opens a regular file by absolute path for the loader (symbolic
// links are followed). The error is a linux.Errno.
func (fsys *FS) Open(path string) (File, error) {
	return fsys.openLoader(nil, fsys.root, path)
}

func (fsys *FS) openLoader(f *Files, start *inode, path string) (File, error) {
	if len(path) >= linux.PathMax {
		return nil, linux.ENAMETOOLONG
	}
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	w := walker{fsys: fsys, f: f}
	dir, name, slash, err := w.splitParent(start, path)
	if err != 0 {
		return nil, err
	}
	n, err := w.step(dir, name, true)
	if err != 0 {
		return nil, err
	}
	if n.isDir() {
		return nil, linux.EISDIR
	}
	if slash {
		return nil, linux.ENOTDIR
	}
	if !n.isReg() || n.openFn != nil {
		return nil, linux.EACCES
	}
	return &loaderFile{fsys: fsys, ino: n, name: w.resolved(n)}, nil
}

// ReadFile returns the contents of the regular file at path (absolute;
// symbolic links followed), for the host's program loader.
func (fsys *FS) ReadFile(path string) ([]byte, error) {
	lf, err := fsys.Open(path)
	if err != nil {
		return nil, err
	}
	l := lf.(*loaderFile)
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	return append([]byte(nil), l.ino.data...), nil
}

// OpenExec opens a program for execve: path is resolved against the
// process's working directory; directories give EACCES (as execve does).
func (f *Files) OpenExec(path string) (File, linux.Errno) {
	f.mu.Lock()
	cwd := f.cwd
	f.mu.Unlock()
	lf, err := f.fs.openLoader(f, cwd, path)
	if err != nil {
		e := err.(linux.Errno)
		if e == linux.EISDIR {
			e = linux.EACCES
		}
		return nil, e
	}
	if lf.Mode()&0o111 == 0 {
		return nil, linux.EACCES
	}
	return lf, 0
}

// FileOf returns the file open as fd for mmap: a regular file readable at
// offsets (EACCES for other kinds, EBADF if fd is not open).
func (f *Files) FileOf(fd int) (File, linux.Errno) {
	of := f.get(fd)
	if of == nil {
		return nil, linux.EBADF
	}
	defer of.decRef()
	if !of.ino.isReg() || of.ino.openFn != nil {
		return nil, linux.EACCES
	}
	return &loaderFile{fsys: f.fs, ino: of.ino, name: of.path}, 0
}
