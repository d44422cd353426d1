package fs

import (
	"beelzebox/linux"

	"golang.org/x/sys/unix"
)

// Ioctl is ioctl(fd, request, arg).
func (f *Files) Ioctl(t Task, a [6]uint64) (uint64, linux.Errno) {
	fd, _ := fdArg(a[0])
	of := f.get(fd)
	if of == nil {
		return 0, linux.EBADF
	}
	defer of.decRef()
	if of.isPath() {
		return 0, linux.EBADF
	}
	req, arg := uint64(uint32(a[1])), a[2]
	switch req {
	case linux.FIOCLEX:
		return 0, f.setCloexec(fd, true)
	case linux.FIONCLEX:
		return 0, f.setCloexec(fd, false)
	case linux.FIONBIO:
		b, err := readMem(t, arg, 4)
		if err != 0 {
			return 0, err
		}
		on := le.Uint32(b) != 0
		for {
			old := of.flags.Load()
			nw := old &^ unix.O_NONBLOCK
			if on {
				nw |= unix.O_NONBLOCK
			}
			if of.flags.CompareAndSwap(old, nw) {
				break
			}
		}
		return 0, 0
	case linux.FIOASYNC:
		return 0, 0
	}
	if io, ok := of.ops.(ioctler); ok {
		return io.ioctl(t, of, req, arg)
	}
	if req == linux.FIONREAD && of.ino != nil {
		if of.ino.isDir() {
			return 0, linux.ENOTTY
		}
		if s, ok := of.ops.(seekable); ok && of.ino.isReg() {
			of.mu.Lock()
			n := max(s.size(of)-of.off, 0)
			of.mu.Unlock()
			return 0, writeU32(t, arg, uint32(min(n, 1<<31-1)))
		}
	}
	return 0, linux.ENOTTY
}

// Status says how complete a handler is.
type Status int

const (
	Full    Status = iota // the call behaves as on Linux
	Partial               // Missing says what is not there
)

// Call is one entry of the system-call table.
type Call struct {
	Fn      func(*Files, Task, [6]uint64) (uint64, linux.Errno)
	Status  Status
	Missing string
}

// Calls are the handlers of this package by system-call number.
var Calls = map[uint64]Call{
	linux.SysRead:          {(*Files).Read, Full, ""},
	linux.SysWrite:         {(*Files).Write, Full, ""},
	linux.SysOpen:          {(*Files).Open, Partial, "O_TMPFILE (EOPNOTSUPP); permission bits are not checked (the guest is root)"},
	linux.SysOpenat:        {(*Files).Openat, Partial, "O_TMPFILE (EOPNOTSUPP); permission bits are not checked (the guest is root)"},
	linux.SysCreat:         {(*Files).Creat, Full, ""},
	linux.SysClose:         {(*Files).CloseFD, Full, ""},
	linux.SysPread64:       {(*Files).Pread64, Full, ""},
	linux.SysPwrite64:      {(*Files).Pwrite64, Full, ""},
	linux.SysReadv:         {(*Files).Readv, Full, ""},
	linux.SysWritev:        {(*Files).Writev, Full, ""},
	linux.SysPreadv:        {(*Files).Preadv, Full, ""},
	linux.SysPwritev:       {(*Files).Pwritev, Full, ""},
	linux.SysLseek:         {(*Files).Lseek, Full, ""},
	linux.SysFstat:         {(*Files).Fstat, Full, ""},
	linux.SysStat:          {(*Files).Stat, Full, ""},
	linux.SysLstat:         {(*Files).Lstat, Full, ""},
	linux.SysNewfstatat:    {(*Files).Newfstatat, Full, ""},
	linux.SysStatx:         {(*Files).Statx, Partial, "no btime; the mask is always STATX_BASIC_STATS"},
	linux.SysGetdents64:    {(*Files).Getdents64, Full, ""},
	linux.SysGetdents:      {(*Files).Getdents, Full, ""},
	linux.SysReadlink:      {(*Files).Readlink, Full, ""},
	linux.SysReadlinkat:    {(*Files).Readlinkat, Full, ""},
	linux.SysAccess:        {(*Files).Access, Partial, "root semantics: only X_OK and read-only file systems refuse"},
	linux.SysFaccessat:     {(*Files).Faccessat, Partial, "root semantics: only X_OK and read-only file systems refuse"},
	linux.SysFaccessat2:    {(*Files).Faccessat2, Partial, "root semantics: only X_OK and read-only file systems refuse"},
	linux.SysGetcwd:        {(*Files).Getcwd, Full, ""},
	linux.SysChdir:         {(*Files).Chdir, Full, ""},
	linux.SysFchdir:        {(*Files).Fchdir, Full, ""},
	linux.SysMkdir:         {(*Files).Mkdir, Full, ""},
	linux.SysMkdirat:       {(*Files).Mkdirat, Full, ""},
	linux.SysRmdir:         {(*Files).Rmdir, Full, ""},
	linux.SysUnlink:        {(*Files).Unlink, Full, ""},
	linux.SysUnlinkat:      {(*Files).Unlinkat, Full, ""},
	linux.SysRename:        {(*Files).Rename, Full, ""},
	linux.SysRenameat:      {(*Files).Renameat, Full, ""},
	linux.SysRenameat2:     {(*Files).Renameat2, Partial, "RENAME_WHITEOUT (EINVAL)"},
	linux.SysLink:          {(*Files).Link, Full, ""},
	linux.SysLinkat:        {(*Files).Linkat, Full, ""},
	linux.SysSymlink:       {(*Files).Symlink, Full, ""},
	linux.SysSymlinkat:     {(*Files).Symlinkat, Full, ""},
	linux.SysChmod:         {(*Files).Chmod, Full, ""},
	linux.SysFchmod:        {(*Files).Fchmod, Full, ""},
	linux.SysFchmodat:      {(*Files).Fchmodat, Full, ""},
	linux.SysChown:         {(*Files).Chown, Full, ""},
	linux.SysFchown:        {(*Files).Fchown, Full, ""},
	linux.SysLchown:        {(*Files).Lchown, Full, ""},
	linux.SysFchownat:      {(*Files).Fchownat, Full, ""},
	linux.SysUtimensat:     {(*Files).Utimensat, Full, ""},
	linux.SysUmask:         {(*Files).Umask, Full, ""},
	linux.SysTruncate:      {(*Files).Truncate, Full, ""},
	linux.SysFtruncate:     {(*Files).Ftruncate, Full, ""},
	linux.SysFsync:         {(*Files).Fsync, Full, ""},
	linux.SysFdatasync:     {(*Files).Fdatasync, Full, ""},
	linux.SysDup:           {(*Files).Dup, Full, ""},
	linux.SysDup2:          {(*Files).Dup2, Full, ""},
	linux.SysDup3:          {(*Files).Dup3, Full, ""},
	linux.SysFcntl:         {(*Files).Fcntl, Partial, "F_SETOWN/F_SETSIG are accepted and ignored; no seals; no lock deadlock detection"},
	linux.SysIoctl:         {(*Files).Ioctl, Partial, "terminal: the termios is stored, not applied (no line discipline)"},
	linux.SysPipe:          {(*Files).Pipe, Full, ""},
	linux.SysPipe2:         {(*Files).Pipe2, Partial, "O_DIRECT packet mode is accepted but pipes stay byte streams"},
	linux.SysPoll:          {(*Files).Poll, Full, ""},
	linux.SysPpoll:         {(*Files).Ppoll, Full, ""},
	linux.SysSelect:        {(*Files).Select, Full, ""},
	linux.SysPselect6:      {(*Files).Pselect6, Full, ""},
	linux.SysEpollCreate:   {(*Files).EpollCreate, Full, ""},
	linux.SysEpollCreate1:  {(*Files).EpollCreate1, Full, ""},
	linux.SysEpollCtl:      {(*Files).EpollCtl, Partial, "an epoll inside an epoll (EINVAL); EPOLLEXCLUSIVE acts as a plain wake-up"},
	linux.SysEpollWait:     {(*Files).EpollWait, Full, ""},
	linux.SysEpollPwait:    {(*Files).EpollPwait, Full, ""},
	linux.SysEventfd:       {(*Files).Eventfd, Full, ""},
	linux.SysEventfd2:      {(*Files).Eventfd2, Full, ""},
	linux.SysSendfile:      {(*Files).Sendfile, Full, ""},
	linux.SysCopyFileRange: {(*Files).CopyFileRange, Full, ""},
	linux.SysStatfs:        {(*Files).Statfs, Full, ""},
	linux.SysFstatfs:       {(*Files).Fstatfs, Full, ""},
	linux.SysMemfdCreate:   {(*Files).MemfdCreate, Partial, "no sealing (F_ADD_SEALS is EINVAL)"},
	linux.SysFlock:         {(*Files).Flock, Full, ""},
}
