// Package linux is the one place for the Linux x86-64 ABI that beelzebox
// speaks: system-call numbers and names, errno values, and the constants
// and structure layouts of the calls it answers, for the Linux host of
// sandbox guests (sandbox/linux) and the kernel's own runtime subset
// (package syscall). Constants come from golang.org/x/sys/unix where it
// has them; layouts are encoded and decoded explicitly, little-endian, at
// the offsets of the x86-64 ABI (the Go structs of x/sys/unix are for the
// build machine's own calls, not for bytes in guest memory).
package linux

//go:generate go run gen_sysnames.go

import "golang.org/x/sys/unix"

// Errno is a Linux error number (positive). A system call returns it
// negated (Ret).
type Errno int32

func (e Errno) Error() string {
	if n := unix.ErrnoName(unix.Errno(e)); n != "" {
		return n
	}
	return "errno " + itoa(int(e))
}

// Ret is the errno as a system-call result: -e in RAX.
func (e Errno) Ret() uint64 { return uint64(-int64(e)) }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
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

// Errno values.
const (
	EPERM        = Errno(unix.EPERM)
	ENOENT       = Errno(unix.ENOENT)
	ESRCH        = Errno(unix.ESRCH)
	EINTR        = Errno(unix.EINTR)
	EIO          = Errno(unix.EIO)
	ENXIO        = Errno(unix.ENXIO)
	E2BIG        = Errno(unix.E2BIG)
	ENOEXEC      = Errno(unix.ENOEXEC)
	EBADF        = Errno(unix.EBADF)
	ECHILD       = Errno(unix.ECHILD)
	EAGAIN       = Errno(unix.EAGAIN)
	ENOMEM       = Errno(unix.ENOMEM)
	EACCES       = Errno(unix.EACCES)
	EFAULT       = Errno(unix.EFAULT)
	EBUSY        = Errno(unix.EBUSY)
	EEXIST       = Errno(unix.EEXIST)
	EXDEV        = Errno(unix.EXDEV)
	ENODEV       = Errno(unix.ENODEV)
	ENOTDIR      = Errno(unix.ENOTDIR)
	EISDIR       = Errno(unix.EISDIR)
	EINVAL       = Errno(unix.EINVAL)
	ENFILE       = Errno(unix.ENFILE)
	EMFILE       = Errno(unix.EMFILE)
	ENOTTY       = Errno(unix.ENOTTY)
	EFBIG        = Errno(unix.EFBIG)
	ENOSPC       = Errno(unix.ENOSPC)
	ESPIPE       = Errno(unix.ESPIPE)
	EROFS        = Errno(unix.EROFS)
	EMLINK       = Errno(unix.EMLINK)
	EPIPE        = Errno(unix.EPIPE)
	ERANGE       = Errno(unix.ERANGE)
	EDEADLK      = Errno(unix.EDEADLK)
	ENAMETOOLONG = Errno(unix.ENAMETOOLONG)
	ENOLCK       = Errno(unix.ENOLCK)
	ENOSYS       = Errno(unix.ENOSYS)
	ENOTEMPTY    = Errno(unix.ENOTEMPTY)
	ELOOP        = Errno(unix.ELOOP)
	ENODATA      = Errno(unix.ENODATA)
	ETIME        = Errno(unix.ETIME)
	EOVERFLOW    = Errno(unix.EOVERFLOW)
	ENOTSOCK     = Errno(unix.ENOTSOCK)
	EOPNOTSUPP   = Errno(unix.EOPNOTSUPP)
	EAFNOSUPPORT = Errno(unix.EAFNOSUPPORT)
	ETIMEDOUT    = Errno(unix.ETIMEDOUT)
	ECANCELED    = Errno(unix.ECANCELED)
	// ERESTARTSYS is the kernel-internal "interrupted, restart if the
	// handler says SA_RESTART"; a guest sees EINTR (or the call again).
	ERESTARTSYS = Errno(512)
)
