package linux

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The encoders must put every field where the build machine's own
// (x86-64 Linux) structures have it: x/sys/unix's structs are the kernel
// layouts on linux/amd64.
func TestLayoutsMatchUnix(t *testing.T) {
	if unsafe.Sizeof(unix.Stat_t{}) != SizeofStat || unsafe.Sizeof(unix.Statx_t{}) != SizeofStatx ||
		unsafe.Sizeof(unix.Statfs_t{}) != SizeofStatfs || unsafe.Sizeof(unix.Flock_t{}) != SizeofFlock ||
		unsafe.Sizeof(unix.PollFd{}) != SizeofPollFd || unsafe.Sizeof(unix.EpollEvent{}) != SizeofEpollEvent ||
		unsafe.Sizeof(unix.Winsize{}) != SizeofWinsize {
		t.Fatal("sizes differ from x/sys/unix")
	}
	s := Stat{Dev: 1, Ino: 2, Nlink: 3, Mode: 4, UID: 5, GID: 6, Rdev: 7, Size: 8, Blksize: 9, Blocks: 10,
		Atime: Timespec{11, 12}, Mtime: Timespec{13, 14}, Ctime: Timespec{15, 16}}
	var b [SizeofStat]byte
	s.Encode(b[:])
	u := (*unix.Stat_t)(unsafe.Pointer(&b[0]))
	if u.Dev != 1 || u.Ino != 2 || u.Nlink != 3 || u.Mode != 4 || u.Uid != 5 || u.Gid != 6 || u.Rdev != 7 ||
		u.Size != 8 || u.Blksize != 9 || u.Blocks != 10 || u.Atim.Sec != 11 || u.Atim.Nsec != 12 ||
		u.Mtim.Sec != 13 || u.Mtim.Nsec != 14 || u.Ctim.Sec != 15 || u.Ctim.Nsec != 16 {
		t.Errorf("stat: %+v", u)
	}
	if DecodeStat(b[:]) != s {
		t.Error("DecodeStat")
	}

	x := Statx{Mask: 1, Blksize: 2, Attributes: 3, Nlink: 4, UID: 5, GID: 6, Mode: 7, Ino: 8, Size: 9, Blocks: 10,
		AttrMask: 11, Atime: Timespec{12, 13}, Btime: Timespec{14, 15}, Ctime: Timespec{16, 17}, Mtime: Timespec{18, 19},
		Rdev: Mkdev(20, 21), Dev: Mkdev(22, 0x12345), MntID: 24}
	var xb [SizeofStatx]byte
	x.Encode(xb[:])
	ux := (*unix.Statx_t)(unsafe.Pointer(&xb[0]))
	if ux.Mask != 1 || ux.Blksize != 2 || ux.Attributes != 3 || ux.Nlink != 4 || ux.Uid != 5 || ux.Gid != 6 ||
		ux.Mode != 7 || ux.Ino != 8 || ux.Size != 9 || ux.Blocks != 10 || ux.Attributes_mask != 11 ||
		ux.Atime.Sec != 12 || ux.Atime.Nsec != 13 || ux.Btime.Sec != 14 || ux.Ctime.Sec != 16 || ux.Mtime.Sec != 18 ||
		ux.Mtime.Nsec != 19 || ux.Rdev_major != 20 || ux.Rdev_minor != 21 || ux.Dev_major != 22 || ux.Dev_minor != 0x12345 || ux.Mnt_id != 24 {
		t.Errorf("statx: %+v", ux)
	}

	fs := Statfs{Type: 1, Bsize: 2, Blocks: 3, Bfree: 4, Bavail: 5, Files: 6, Ffree: 7, Fsid: [2]int32{8, 9}, Namelen: 10, Frsize: 11, Flags: 12}
	var fb [SizeofStatfs]byte
	fs.Encode(fb[:])
	uf := (*unix.Statfs_t)(unsafe.Pointer(&fb[0]))
	if uf.Type != 1 || uf.Bsize != 2 || uf.Blocks != 3 || uf.Bfree != 4 || uf.Bavail != 5 || uf.Files != 6 ||
		uf.Ffree != 7 || uf.Fsid.Val != [2]int32{8, 9} || uf.Namelen != 10 || uf.Frsize != 11 || uf.Flags != 12 {
		t.Errorf("statfs: %+v", uf)
	}

	var lb [SizeofFlock]byte
	Flock{Type: 1, Whence: 2, Start: 3, Len: 4, Pid: 5}.Encode(lb[:])
	ul := (*unix.Flock_t)(unsafe.Pointer(&lb[0]))
	if ul.Type != 1 || ul.Whence != 2 || ul.Start != 3 || ul.Len != 4 || ul.Pid != 5 {
		t.Errorf("flock: %+v", ul)
	}

	var pb [SizeofPollFd]byte
	PollFd{Fd: -1, Events: 2, Revents: 3}.Encode(pb[:])
	if up := (*unix.PollFd)(unsafe.Pointer(&pb[0])); up.Fd != -1 || up.Events != 2 || up.Revents != 3 {
		t.Errorf("pollfd: %+v", up)
	}

	var eb [SizeofEpollEvent]byte
	EpollEvent{Events: 0x80000001, Data: 0x1122334455667788}.Encode(eb[:])
	ue := (*unix.EpollEvent)(unsafe.Pointer(&eb[0]))
	if ue.Events != 0x80000001 || ue.Fd != 0x55667788 || ue.Pad != 0x11223344 {
		t.Errorf("epoll_event: %+v", ue)
	}

	tm := Termios{Iflag: 1, Oflag: 2, Cflag: 3, Lflag: 4, Line: 5}
	tm.Cc[0], tm.Cc[18] = 6, 7
	var tb [44]byte
	tm.Encode(tb[:])
	ut := (*unix.Termios)(unsafe.Pointer(&tb[0]))
	if ut.Iflag != 1 || ut.Oflag != 2 || ut.Cflag != 3 || ut.Lflag != 4 || ut.Line != 5 || ut.Cc[0] != 6 || ut.Cc[18] != 7 {
		t.Errorf("termios: %+v", ut)
	}
	if DecodeTermios(tb[:]) != tm {
		t.Error("DecodeTermios")
	}
	var wb [SizeofWinsize]byte
	Winsize{1, 2, 3, 4}.Encode(wb[:])
	if uw := (*unix.Winsize)(unsafe.Pointer(&wb[0])); uw.Row != 1 || uw.Col != 2 || uw.Xpixel != 3 || uw.Ypixel != 4 {
		t.Errorf("winsize: %+v", uw)
	}
}

func TestDirents(t *testing.T) {
	b := AppendDirent64(nil, 7, 1, 4, "abc")
	if len(b) != 24 || le.Uint64(b) != 7 || le.Uint16(b[16:]) != 24 || b[18] != 4 || string(b[19:23]) != "abc\x00" {
		t.Errorf("dirent64 %x", b)
	}
	b = AppendDirent(nil, 7, 1, 4, "abcdef")
	if len(b) != 32 || le.Uint16(b[16:]) != 32 || string(b[18:25]) != "abcdef\x00" || b[31] != 4 {
		t.Errorf("dirent %x", b)
	}
	if Major(Mkdev(0x123, 0x45678)) != 0x123 || Minor(Mkdev(0x123, 0x45678)) != 0x45678 || Mkdev(1, 3) != 0x103 {
		t.Error("Mkdev")
	}
	if unix.Major(Mkdev(8, 300)) != 8 || unix.Minor(Mkdev(8, 300)) != 300 {
		t.Error("Mkdev vs unix")
	}
}
