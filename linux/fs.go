package linux

import (
	"encoding/binary"
)

// Layouts of the file-related structures of the x86-64 Linux ABI, encoded
// and decoded little-endian at their kernel offsets.

// Limits of paths and file names.
const (
	PathMax    = 4096 // PATH_MAX, including the NUL
	NameMax    = 255  // NAME_MAX
	PipeBuf    = 4096 // PIPE_BUF: writes up to this size are atomic
	SymloopMax = 40   // symbolic links followed in one lookup before ELOOP
)

// Sizes of the structures below, in bytes.
const (
	SizeofStat        = 144
	SizeofStatx       = 256
	SizeofStatfs      = 120
	SizeofTermios     = 36
	SizeofWinsize     = 8
	SizeofPollFd      = 8
	SizeofEpollEvent  = 12
	SizeofFlock       = 32
	SizeofTimespec    = 16
	SizeofTimeval     = 16
	SizeofIovec       = 16
	SizeofDirent64Hdr = 19 // d_ino, d_off, d_reclen, d_type
	SizeofDirentHdr   = 18 // d_ino, d_off, d_reclen (old getdents)
)

var le = binary.LittleEndian

// Timespec is struct timespec.
type Timespec struct {
	Sec  int64
	Nsec int64
}

// Encode writes the 16-byte struct timespec into b.
func (t Timespec) Encode(b []byte) {
	le.PutUint64(b[0:], uint64(t.Sec))
	le.PutUint64(b[8:], uint64(t.Nsec))
}

// DecodeTimespec reads a struct timespec.
func DecodeTimespec(b []byte) Timespec {
	return Timespec{Sec: int64(le.Uint64(b[0:])), Nsec: int64(le.Uint64(b[8:]))}
}

// Timeval is struct timeval.
type Timeval struct {
	Sec  int64
	Usec int64
}

// Encode writes the 16-byte struct timeval into b.
func (t Timeval) Encode(b []byte) {
	le.PutUint64(b[0:], uint64(t.Sec))
	le.PutUint64(b[8:], uint64(t.Usec))
}

// DecodeTimeval reads a struct timeval.
func DecodeTimeval(b []byte) Timeval {
	return Timeval{Sec: int64(le.Uint64(b[0:])), Usec: int64(le.Uint64(b[8:]))}
}

// Iovec is struct iovec.
type Iovec struct {
	Base uint64
	Len  uint64
}

// DecodeIovec reads a struct iovec.
func DecodeIovec(b []byte) Iovec {
	return Iovec{Base: le.Uint64(b[0:]), Len: le.Uint64(b[8:])}
}

// Stat is struct stat (x86-64, 144 bytes).
type Stat struct {
	Dev     uint64
	Ino     uint64
	Nlink   uint64
	Mode    uint32
	UID     uint32
	GID     uint32
	Rdev    uint64
	Size    int64
	Blksize int64
	Blocks  int64
	Atime   Timespec
	Mtime   Timespec
	Ctime   Timespec
}

// Encode writes the struct stat into b (at least SizeofStat bytes).
func (s *Stat) Encode(b []byte) {
	clear(b[:SizeofStat])
	le.PutUint64(b[0:], s.Dev)
	le.PutUint64(b[8:], s.Ino)
	le.PutUint64(b[16:], s.Nlink)
	le.PutUint32(b[24:], s.Mode)
	le.PutUint32(b[28:], s.UID)
	le.PutUint32(b[32:], s.GID)
	le.PutUint64(b[40:], s.Rdev)
	le.PutUint64(b[48:], uint64(s.Size))
	le.PutUint64(b[56:], uint64(s.Blksize))
	le.PutUint64(b[64:], uint64(s.Blocks))
	s.Atime.Encode(b[72:])
	s.Mtime.Encode(b[88:])
	s.Ctime.Encode(b[104:])
}

// DecodeStat reads a struct stat (for tests and tools).
func DecodeStat(b []byte) Stat {
	return Stat{
		Dev: le.Uint64(b[0:]), Ino: le.Uint64(b[8:]), Nlink: le.Uint64(b[16:]),
		Mode: le.Uint32(b[24:]), UID: le.Uint32(b[28:]), GID: le.Uint32(b[32:]),
		Rdev: le.Uint64(b[40:]), Size: int64(le.Uint64(b[48:])), Blksize: int64(le.Uint64(b[56:])),
		Blocks: int64(le.Uint64(b[64:])),
		Atime:  DecodeTimespec(b[72:]), Mtime: DecodeTimespec(b[88:]), Ctime: DecodeTimespec(b[104:]),
	}
}

// Statx is struct statx (256 bytes). Device numbers are split into major
// and minor by the encoder (Linux's 12/20-bit split of dev_t).
type Statx struct {
	Mask       uint32
	Blksize    uint32
	Attributes uint64
	Nlink      uint32
	UID        uint32
	GID        uint32
	Mode       uint16
	Ino        uint64
	Size       uint64
	Blocks     uint64
	AttrMask   uint64
	Atime      Timespec
	Btime      Timespec
	Ctime      Timespec
	Mtime      Timespec
	Rdev       uint64
	Dev        uint64
	MntID      uint64
}

// Major and Minor split a Linux dev_t.
func Major(dev uint64) uint32 { return uint32((dev>>8)&0xfff | (dev>>32)&^0xfff) }
func Minor(dev uint64) uint32 { return uint32(dev&0xff | (dev>>12)&^0xff) }

// Mkdev builds a Linux dev_t.
func Mkdev(major, minor uint32) uint64 {
	ma, mi := uint64(major), uint64(minor)
	return (ma&0xfff)<<8 | (ma&^0xfff)<<32 | mi&0xff | (mi&^0xff)<<12
}

func encodeStatxTimestamp(b []byte, t Timespec) {
	le.PutUint64(b[0:], uint64(t.Sec))
	le.PutUint32(b[8:], uint32(t.Nsec))
	le.PutUint32(b[12:], 0)
}

// Encode writes the struct statx into b (at least SizeofStatx bytes).
func (s *Statx) Encode(b []byte) {
	clear(b[:SizeofStatx])
	le.PutUint32(b[0:], s.Mask)
	le.PutUint32(b[4:], s.Blksize)
	le.PutUint64(b[8:], s.Attributes)
	le.PutUint32(b[16:], s.Nlink)
	le.PutUint32(b[20:], s.UID)
	le.PutUint32(b[24:], s.GID)
	le.PutUint16(b[28:], s.Mode)
	le.PutUint64(b[32:], s.Ino)
	le.PutUint64(b[40:], s.Size)
	le.PutUint64(b[48:], s.Blocks)
	le.PutUint64(b[56:], s.AttrMask)
	encodeStatxTimestamp(b[64:], s.Atime)
	encodeStatxTimestamp(b[80:], s.Btime)
	encodeStatxTimestamp(b[96:], s.Ctime)
	encodeStatxTimestamp(b[112:], s.Mtime)
	le.PutUint32(b[128:], Major(s.Rdev))
	le.PutUint32(b[132:], Minor(s.Rdev))
	le.PutUint32(b[136:], Major(s.Dev))
	le.PutUint32(b[140:], Minor(s.Dev))
	le.PutUint64(b[144:], s.MntID)
}

// Statfs is struct statfs (x86-64, 120 bytes).
type Statfs struct {
	Type    int64
	Bsize   int64
	Blocks  uint64
	Bfree   uint64
	Bavail  uint64
	Files   uint64
	Ffree   uint64
	Fsid    [2]int32
	Namelen int64
	Frsize  int64
	Flags   int64
}

// Encode writes the struct statfs into b (at least SizeofStatfs bytes).
func (s *Statfs) Encode(b []byte) {
	clear(b[:SizeofStatfs])
	le.PutUint64(b[0:], uint64(s.Type))
	le.PutUint64(b[8:], uint64(s.Bsize))
	le.PutUint64(b[16:], s.Blocks)
	le.PutUint64(b[24:], s.Bfree)
	le.PutUint64(b[32:], s.Bavail)
	le.PutUint64(b[40:], s.Files)
	le.PutUint64(b[48:], s.Ffree)
	le.PutUint32(b[56:], uint32(s.Fsid[0]))
	le.PutUint32(b[60:], uint32(s.Fsid[1]))
	le.PutUint64(b[64:], uint64(s.Namelen))
	le.PutUint64(b[72:], uint64(s.Frsize))
	le.PutUint64(b[80:], uint64(s.Flags))
}

// AppendDirent64 appends one struct linux_dirent64 (8-byte aligned) to b.
func AppendDirent64(b []byte, ino uint64, off int64, typ uint8, name string) []byte {
	reclen := (SizeofDirent64Hdr + len(name) + 1 + 7) &^ 7
	start := len(b)
	b = append(b, make([]byte, reclen)...)
	r := b[start:]
	le.PutUint64(r[0:], ino)
	le.PutUint64(r[8:], uint64(off))
	le.PutUint16(r[16:], uint16(reclen))
	r[18] = typ
	copy(r[19:], name)
	return b
}

// Dirent64Len is the record length AppendDirent64 would use.
func Dirent64Len(name string) int { return (SizeofDirent64Hdr + len(name) + 1 + 7) &^ 7 }

// AppendDirent appends one struct linux_dirent (the old getdents format:
// the type is the record's last byte) to b.
func AppendDirent(b []byte, ino uint64, off int64, typ uint8, name string) []byte {
	reclen := DirentLen(name)
	start := len(b)
	b = append(b, make([]byte, reclen)...)
	r := b[start:]
	le.PutUint64(r[0:], ino)
	le.PutUint64(r[8:], uint64(off))
	le.PutUint16(r[16:], uint16(reclen))
	copy(r[18:], name)
	r[reclen-1] = typ
	return b
}

// DirentLen is the record length AppendDirent would use.
func DirentLen(name string) int { return (SizeofDirentHdr + len(name) + 2 + 7) &^ 7 }

// Termios is the kernel's struct termios as TCGETS/TCSETS pass it (36
// bytes: no speed fields).
type Termios struct {
	Iflag, Oflag, Cflag, Lflag uint32
	Line                       uint8
	Cc                         [19]uint8
}

// Encode writes the struct termios into b (at least SizeofTermios bytes).
func (t *Termios) Encode(b []byte) {
	le.PutUint32(b[0:], t.Iflag)
	le.PutUint32(b[4:], t.Oflag)
	le.PutUint32(b[8:], t.Cflag)
	le.PutUint32(b[12:], t.Lflag)
	b[16] = t.Line
	copy(b[17:36], t.Cc[:])
}

// DecodeTermios reads a struct termios.
func DecodeTermios(b []byte) Termios {
	t := Termios{Iflag: le.Uint32(b[0:]), Oflag: le.Uint32(b[4:]), Cflag: le.Uint32(b[8:]), Lflag: le.Uint32(b[12:]), Line: b[16]}
	copy(t.Cc[:], b[17:36])
	return t
}

// Winsize is struct winsize.
type Winsize struct {
	Row, Col, Xpixel, Ypixel uint16
}

// Encode writes the struct winsize into b.
func (w Winsize) Encode(b []byte) {
	le.PutUint16(b[0:], w.Row)
	le.PutUint16(b[2:], w.Col)
	le.PutUint16(b[4:], w.Xpixel)
	le.PutUint16(b[6:], w.Ypixel)
}

// DecodeWinsize reads a struct winsize.
func DecodeWinsize(b []byte) Winsize {
	return Winsize{le.Uint16(b[0:]), le.Uint16(b[2:]), le.Uint16(b[4:]), le.Uint16(b[6:])}
}

// PollFd is struct pollfd.
type PollFd struct {
	Fd      int32
	Events  int16
	Revents int16
}

// Encode writes the struct pollfd into b.
func (p PollFd) Encode(b []byte) {
	le.PutUint32(b[0:], uint32(p.Fd))
	le.PutUint16(b[4:], uint16(p.Events))
	le.PutUint16(b[6:], uint16(p.Revents))
}

// DecodePollFd reads a struct pollfd.
func DecodePollFd(b []byte) PollFd {
	return PollFd{int32(le.Uint32(b[0:])), int16(le.Uint16(b[4:])), int16(le.Uint16(b[6:]))}
}

// EpollEvent is struct epoll_event, packed on x86-64 (12 bytes).
type EpollEvent struct {
	Events uint32
	Data   uint64
}

// Encode writes the struct epoll_event into b.
func (e EpollEvent) Encode(b []byte) {
	le.PutUint32(b[0:], e.Events)
	le.PutUint64(b[4:], e.Data)
}

// DecodeEpollEvent reads a struct epoll_event.
func DecodeEpollEvent(b []byte) EpollEvent {
	return EpollEvent{le.Uint32(b[0:]), le.Uint64(b[4:])}
}

// Flock is struct flock (32 bytes).
type Flock struct {
	Type   int16
	Whence int16
	Start  int64
	Len    int64
	Pid    int32
}

// Encode writes the struct flock into b.
func (f Flock) Encode(b []byte) {
	clear(b[:SizeofFlock])
	le.PutUint16(b[0:], uint16(f.Type))
	le.PutUint16(b[2:], uint16(f.Whence))
	le.PutUint64(b[8:], uint64(f.Start))
	le.PutUint64(b[16:], uint64(f.Len))
	le.PutUint32(b[24:], uint32(f.Pid))
}

// DecodeFlock reads a struct flock.
func DecodeFlock(b []byte) Flock {
	return Flock{int16(le.Uint16(b[0:])), int16(le.Uint16(b[2:])), int64(le.Uint64(b[8:])), int64(le.Uint64(b[16:])), int32(le.Uint32(b[24:]))}
}

// Constants of <asm-generic/ioctls.h>, <asm-generic/poll.h> and
// <linux/fcntl.h> that golang.org/x/sys/unix does not define for
// linux/amd64.
const (
	FIONREAD   = 0x541b
	FIONBIO    = 0x5421
	FIONCLEX   = 0x5450
	FIOCLEX    = 0x5451
	FIOASYNC   = 0x5452
	POLLRDNORM = 0x40
	POLLRDBAND = 0x80
	POLLWRNORM = 0x100
	POLLWRBAND = 0x200

	AT_STATX_SYNC_TYPE = 0x6000
	ST_VALID           = 0x20 // statfs f_flags: the flags are valid
)
