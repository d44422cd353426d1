package fs

import (
	"slices"
	"strings"
	"testing"
	"time"

	"beelzebox/linux"

	"golang.org/x/sys/unix"
)

const (
	rd    = unix.O_RDONLY
	wr    = unix.O_WRONLY
	rdwr  = unix.O_RDWR
	creat = unix.O_CREAT
)

func TestReadOnlyRoot(t *testing.T) {
	e := newEnv(t)
	fd := e.open("/etc/passwd", rd, 0)
	if got := e.read(fd, 100); got != "root:x:0:0::/root:/bin/sh\n" {
		t.Fatalf("read = %q", got)
	}
	if got := e.read(fd, 100); got != "" {
		t.Fatalf("read at EOF = %q", got)
	}
	e.ok((*Files).CloseFD, uint64(fd))
	e.errno(linux.EBADF, (*Files).CloseFD, uint64(fd))

	// Hard links share the inode and the data; symlinks are symlinks.
	bb, sh := e.stat("/bin/busybox"), e.stat("/bin/sh")
	if bb.Ino != sh.Ino || bb.Nlink != 2 || bb.Size != int64(len("\x7fELF busybox")) {
		t.Errorf("hard links: busybox %+v sh %+v", bb, sh)
	}
	if l := e.lstat("/bin/ls"); l.Mode&unix.S_IFMT != unix.S_IFLNK || l.Size != 7 {
		t.Errorf("lstat /bin/ls = %+v", l)
	}
	if s := e.stat("/bin/ls"); s.Ino != bb.Ino {
		t.Errorf("stat /bin/ls does not follow")
	}
	p := e.stat("/etc/passwd")
	if p.Mode != unix.S_IFREG|0o644 || p.Mtime.Sec != 1600000000 || p.Blksize != 4096 || p.Blocks != 8 {
		t.Errorf("stat /etc/passwd = %+v", p)
	}
	if d := e.stat("/etc/deep/a"); d.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Errorf("implied directory: %+v", d)
	}
	// Not under the prefix.
	e.errno(linux.ENOENT, (*Files).Open, e.s("/other/file"), rd)
	e.errno(linux.ENOENT, (*Files).Open, e.s("/root/etc/passwd"), rd)

	// Writes are refused.
	e.errno(linux.EROFS, (*Files).Open, e.s("/etc/passwd"), wr)
	e.errno(linux.EROFS, (*Files).Open, e.s("/etc/new"), wr|creat, 0o644)
	e.errno(linux.EROFS, (*Files).Mkdir, e.s("/etc/x"), 0o755)
	e.errno(linux.EROFS, (*Files).Unlink, e.s("/etc/passwd"))
	e.errno(linux.EROFS, (*Files).Chmod, e.s("/etc/passwd"), 0o600)
	e.errno(linux.EROFS, (*Files).Truncate, e.s("/etc/passwd"), 0)
	e.errno(linux.EROFS, (*Files).Symlink, e.s("x"), e.s("/etc/l"))
	e.errno(linux.EROFS, (*Files).Access, e.s("/etc/passwd"), unix.W_OK)
	e.ok((*Files).Access, e.s("/etc/passwd"), unix.R_OK)
	e.errno(linux.EACCES, (*Files).Access, e.s("/etc/noexec"), unix.X_OK)
	e.ok((*Files).Access, e.s("/bin/sh"), unix.X_OK)
	// /tmp starts with a copy of the archive's tmp, which the guest may
	// change.
	if got := e.read(e.open("/tmp/seeded", rd, 0), 64); got != "copied into the tmpfs" {
		t.Errorf("/tmp/seeded holds %q", got)
	}
	e.ok((*Files).Unlink, e.s("/tmp/seeded"))

	// The loader's view.
	data, err := e.fs.ReadFile("/bin/ls")
	if err != nil || string(data) != "\x7fELF busybox" {
		t.Errorf("ReadFile = %q, %v", data, err)
	}
	lf, err := e.fs.Open("/bin/abs")
	if err != nil || lf.Name() != "/etc/passwd" || lf.Size() != 26 {
		t.Errorf("Open(/bin/abs) = %v, %v", lf, err)
	}
	if _, err := e.fs.Open("/bin"); Errno(err) != linux.EISDIR {
		t.Errorf("Open(/bin) = %v", err)
	}
	if _, err := e.f.OpenExec("/etc/noexec"); err != linux.EACCES {
		t.Errorf("OpenExec(noexec) = %v", err)
	}
}

func TestPathResolution(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		path  string
		flags int
		want  linux.Errno
	}{
		{"/etc/passwd", rd, 0},
		{"//etc//passwd", rd, 0},
		{"/etc/./passwd", rd, 0},
		{"/etc/../etc/passwd", rd, 0},
		{"/../../etc/passwd", rd, 0},
		{"etc/passwd", rd, 0},
		{"/etc/passwd/", rd, linux.ENOTDIR},
		{"/etc/passwd/x", rd, linux.ENOTDIR},
		{"/etc/missing", rd, linux.ENOENT},
		{"/missing/x", rd, linux.ENOENT},
		{"", rd, linux.ENOENT},
		{"/bin/loop", rd, linux.ELOOP},
		{"/bin/loop/x", rd, linux.ELOOP},
		{"/bin/dangling", rd, linux.ENOENT},
		{"/bin/ls", rd | unix.O_NOFOLLOW, linux.ELOOP},
		{"/bin/ls", rd | unix.O_NOFOLLOW | unix.O_PATH, 0},
		{"/etc", rd | unix.O_DIRECTORY, 0},
		{"/etc/passwd", rd | unix.O_DIRECTORY, linux.ENOTDIR},
		{"/etc", wr, linux.EISDIR},
		{"/etc", rd | creat, linux.EISDIR},
		{"/tmp", rd | creat | unix.O_EXCL, linux.EEXIST},
		{"/tmp/new/", rd | creat, linux.EISDIR},
		{"/" + strings.Repeat("a", 256), rd, linux.ENAMETOOLONG},
		{"/" + strings.Repeat("a", 255), rd, linux.ENOENT},
		{strings.Repeat("/", 4095), rd, 0},
		{strings.Repeat("/", 4096), rd, linux.ENAMETOOLONG},
	} {
		_, err := e.call((*Files).Open, e.s(tc.path), uint64(tc.flags), 0o644)
		if err != tc.want {
			p := tc.path
			if len(p) > 40 {
				p = p[:40] + "..."
			}
			t.Errorf("open(%q, %#x) = %v, want %v", p, tc.flags, err, tc.want)
		}
	}
	// A chain of 40 symlinks works, 41 is ELOOP.
	for i := 0; i < 41; i++ {
		e.ok((*Files).Symlink, e.s("l"+itoa(i+1)), e.s("/tmp/l"+itoa(i)))
	}
	e.ok((*Files).Mkdir, e.s("/tmp/l41"), 0o755)
	e.ok((*Files).Open, e.s("/tmp/l1"), rd)
	e.errno(linux.ELOOP, (*Files).Open, e.s("/tmp/l0"), rd)

	// dirfd-relative paths.
	dfd := e.open("/etc", rd|unix.O_DIRECTORY, 0)
	e.ok((*Files).Openat, uint64(dfd), e.s("passwd"), rd)
	e.ok((*Files).Openat, uint64(dfd), e.s("deep/a/b/c"), rd)
	ffd := e.open("/etc/passwd", rd, 0)
	e.errno(linux.ENOTDIR, (*Files).Openat, uint64(ffd), e.s("x"), rd)
	e.errno(linux.EBADF, (*Files).Openat, 999, e.s("x"), rd)
	e.ok((*Files).Openat, 999, e.s("/etc/passwd"), rd) // absolute: dirfd ignored
	atCwd := atFD
	e.ok((*Files).Openat, atCwd, e.s("etc/passwd"), rd)

	// AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW.
	buf := e.tk.alloc(linux.SizeofStat)
	e.errno(linux.ENOENT, (*Files).Newfstatat, uint64(ffd), e.s(""), buf, 0)
	e.ok((*Files).Newfstatat, uint64(ffd), e.s(""), buf, unix.AT_EMPTY_PATH)
	if s := linux.DecodeStat(e.tk.bytesAt(buf, linux.SizeofStat)); s.Size != 26 {
		t.Errorf("AT_EMPTY_PATH stat size %d", s.Size)
	}
	e.ok((*Files).Newfstatat, uint64(dfd), e.s("../bin/ls"), buf, unix.AT_SYMLINK_NOFOLLOW)
	if s := linux.DecodeStat(e.tk.bytesAt(buf, linux.SizeofStat)); s.Mode&unix.S_IFMT != unix.S_IFLNK {
		t.Errorf("AT_SYMLINK_NOFOLLOW mode %o", s.Mode)
	}
	e.errno(linux.EINVAL, (*Files).Newfstatat, uint64(dfd), e.s("x"), buf, 0x8000000)

	// cwd.
	e.ok((*Files).Chdir, e.s("/etc/deep"))
	cwd := e.tk.alloc(64)
	if n := e.ok((*Files).Getcwd, cwd, 64); string(e.tk.bytesAt(cwd, int(n))) != "/etc/deep\x00" {
		t.Errorf("getcwd = %q", e.tk.bytesAt(cwd, int(n)))
	}
	e.errno(linux.ERANGE, (*Files).Getcwd, cwd, 5)
	if got := e.read(e.open("a/b/c", rd, 0), 10); got != "deep" {
		t.Errorf("relative read %q", got)
	}
	e.ok((*Files).Chdir, e.s(".."))
	e.ok((*Files).Chdir, e.s("../tmp"))
	if n := e.ok((*Files).Getcwd, cwd, 64); string(e.tk.bytesAt(cwd, int(n))) != "/tmp\x00" {
		t.Errorf("getcwd = %q", e.tk.bytesAt(cwd, int(n)))
	}
	e.ok((*Files).Chdir, e.s(".."))
	if n := e.ok((*Files).Getcwd, cwd, 64); string(e.tk.bytesAt(cwd, int(n))) != "/\x00" {
		t.Errorf("getcwd from /tmp/.. = %q", e.tk.bytesAt(cwd, int(n)))
	}
	e.errno(linux.ENOTDIR, (*Files).Chdir, e.s("/etc/passwd"))
	e.ok((*Files).Fchdir, uint64(dfd))
	e.errno(linux.ENOTDIR, (*Files).Fchdir, uint64(ffd))
	if e.readlink("/bin/abs") != "/etc/passwd" {
		t.Error("readlink")
	}
	e.errno(linux.EINVAL, (*Files).Readlink, e.s("/etc/passwd"), buf, 10)
	e.errno(linux.EINVAL, (*Files).Readlink, e.s("/bin/abs"), buf, 0)
	if n := e.ok((*Files).Readlink, e.s("/bin/abs"), buf, 4); string(e.tk.bytesAt(buf, int(n))) != "/etc" {
		t.Error("readlink truncation")
	}
}

func TestTmpfs(t *testing.T) {
	e := newEnv(t)
	clock := time.Unix(1000, 0)
	e.fs.Now = func() time.Time { clock = clock.Add(time.Second); return clock }
	if s := e.stat("/tmp"); s.Mode != unix.S_IFDIR|0o1777 {
		t.Errorf("/tmp mode %o", s.Mode)
	}
	fd := e.open("/tmp/f", rdwr|creat|unix.O_EXCL, 0o666)
	e.errno(linux.EEXIST, (*Files).Open, e.s("/tmp/f"), rdwr|creat|unix.O_EXCL, 0o666)
	if s := e.stat("/tmp/f"); s.Mode != unix.S_IFREG|0o644 { // umask 022
		t.Errorf("mode %o", s.Mode)
	}
	e.write(fd, "hello world")
	e.ok((*Files).Lseek, uint64(fd), 6, unix.SEEK_SET)
	if got := e.read(fd, 100); got != "world" {
		t.Errorf("read %q", got)
	}
	// pwrite past the end leaves a zero-filled hole.
	e.ok((*Files).Pwrite64, uint64(fd), e.s("!"), 1, 20)
	if s := e.stat("/tmp/f"); s.Size != 21 {
		t.Errorf("size %d", s.Size)
	}
	buf := e.tk.alloc(32)
	n := e.ok((*Files).Pread64, uint64(fd), buf, 32, 0)
	if got := string(e.tk.bytesAt(buf, int(n))); got != "hello world\x00\x00\x00\x00\x00\x00\x00\x00\x00!" {
		t.Errorf("pread %q", got)
	}
	if off := e.ok((*Files).Lseek, uint64(fd), 0, unix.SEEK_CUR); off != 11 {
		t.Errorf("pread moved the offset to %d", off)
	}
	e.errno(linux.EINVAL, (*Files).Lseek, uint64(fd), uint64(1<<64-1), unix.SEEK_SET)
	e.errno(linux.EINVAL, (*Files).Lseek, uint64(fd), 0, 7)
	if off := e.ok((*Files).Lseek, uint64(fd), uint64(1<<64-2), unix.SEEK_END); off != 19 {
		t.Errorf("SEEK_END-2 = %d", off)
	}
	// O_APPEND.
	afd := e.open("/tmp/f", wr|unix.O_APPEND, 0)
	e.write(afd, "END")
	if s := e.stat("/tmp/f"); s.Size != 24 {
		t.Errorf("append size %d", s.Size)
	}
	// O_TRUNC, ftruncate.
	e.ok((*Files).Ftruncate, uint64(fd), 5)
	if got := e.read(e.open("/tmp/f", rd, 0), 100); got != "hello" {
		t.Errorf("after ftruncate %q", got)
	}
	e.errno(linux.EINVAL, (*Files).Ftruncate, uint64(e.open("/tmp/f", rd, 0)), 0)
	e.open("/tmp/f", wr|unix.O_TRUNC, 0)
	if s := e.stat("/tmp/f"); s.Size != 0 {
		t.Errorf("O_TRUNC size %d", s.Size)
	}

	// Directories.
	e.ok((*Files).Mkdir, e.s("/tmp/d"), 0o777)
	e.errno(linux.EEXIST, (*Files).Mkdir, e.s("/tmp/d"), 0o777)
	e.errno(linux.EEXIST, (*Files).Mkdir, e.s("/tmp/d/"), 0o777)
	e.errno(linux.ENOENT, (*Files).Mkdir, e.s("/tmp/nope/d"), 0o777)
	e.errno(linux.EEXIST, (*Files).Mkdir, e.s("/tmp/."), 0o777)
	e.open("/tmp/d/x", wr|creat, 0o600)
	e.ok((*Files).Mkdir, e.s("/tmp/d/sub/"), 0o700)
	if s := e.stat("/tmp/d"); s.Nlink != 3 || s.Mode != unix.S_IFDIR|0o755 {
		t.Errorf("/tmp/d %+v", s)
	}
	e.errno(linux.ENOTEMPTY, (*Files).Rmdir, e.s("/tmp/d"))
	e.errno(linux.EINVAL, (*Files).Rmdir, e.s("/tmp/d/."))
	e.errno(linux.ENOTEMPTY, (*Files).Rmdir, e.s("/tmp/d/sub/.."))
	e.errno(linux.ENOTDIR, (*Files).Rmdir, e.s("/tmp/d/x"))
	e.errno(linux.EISDIR, (*Files).Unlink, e.s("/tmp/d"))
	e.errno(linux.ENOTDIR, (*Files).Unlink, e.s("/tmp/d/x/"))
	dfd := e.open("/tmp/d", rd|unix.O_DIRECTORY, 0)
	if got := e.readdir(dfd); !slices.Equal(got, []string{".", "..", "sub", "x"}) {
		t.Errorf("readdir = %q", got)
	}
	e.errno(linux.EISDIR, (*Files).Read, uint64(dfd), buf, 1)
	e.errno(linux.EINVAL, (*Files).Unlinkat, uint64(dfd), e.s("x"), 1)
	e.ok((*Files).Unlinkat, uint64(dfd), e.s("x"), 0)
	e.ok((*Files).Unlinkat, uint64(dfd), e.s("sub"), unix.AT_REMOVEDIR)
	e.ok((*Files).Rmdir, e.s("/tmp/d"))
	e.errno(linux.EROFS, (*Files).Rmdir, e.s("/tmp")) // the root is read-only
	e.errno(linux.EINVAL, (*Files).Rmdir, e.s("/tmp/."))

	// Symlinks and hard links.
	e.write(e.open("/tmp/target", wr|creat, 0o644), "T")
	e.ok((*Files).Symlink, e.s("target"), e.s("/tmp/sl"))
	e.errno(linux.EEXIST, (*Files).Symlink, e.s("target"), e.s("/tmp/sl"))
	e.errno(linux.ENOENT, (*Files).Symlink, e.s(""), e.s("/tmp/empty"))
	if got := e.read(e.open("/tmp/sl", rd, 0), 10); got != "T" {
		t.Errorf("through symlink %q", got)
	}
	e.ok((*Files).Link, e.s("/tmp/target"), e.s("/tmp/hl"))
	if a, b := e.stat("/tmp/target"), e.stat("/tmp/hl"); a.Ino != b.Ino || a.Nlink != 2 {
		t.Errorf("hard link %+v %+v", a, b)
	}
	e.errno(linux.EXDEV, (*Files).Link, e.s("/etc/passwd"), e.s("/tmp/x"))
	e.errno(linux.EPERM, (*Files).Link, e.s("/tmp"), e.s("/tmp/x"))
	// O_CREAT through a dangling symlink creates the target.
	e.ok((*Files).Symlink, e.s("/tmp/made"), e.s("/tmp/dang"))
	e.open("/tmp/dang", wr|creat, 0o644)
	e.stat("/tmp/made")
	e.errno(linux.EEXIST, (*Files).Open, e.s("/tmp/sl"), wr|creat|unix.O_EXCL, 0o644)

	// Unlinking an open file keeps its data until the last close.
	fd2 := e.open("/tmp/gone", rdwr|creat, 0o644)
	e.write(fd2, "still here")
	e.ok((*Files).Unlink, e.s("/tmp/gone"))
	e.errno(linux.ENOENT, (*Files).Open, e.s("/tmp/gone"), rd)
	e.ok((*Files).Lseek, uint64(fd2), 0, 0)
	if got := e.read(fd2, 100); got != "still here" {
		t.Errorf("unlinked read %q", got)
	}
	fbuf := e.tk.alloc(linux.SizeofStat)
	e.ok((*Files).Fstat, uint64(fd2), fbuf)
	if s := linux.DecodeStat(e.tk.bytesAt(fbuf, linux.SizeofStat)); s.Nlink != 0 {
		t.Errorf("nlink of unlinked %d", s.Nlink)
	}
	used := e.fs.tmp.used
	e.ok((*Files).CloseFD, uint64(fd2))
	if e.fs.tmp.used != used-10 {
		t.Errorf("unlinked file's space not freed: %d -> %d", used, e.fs.tmp.used)
	}

	// Timestamps.
	tf := e.open("/tmp/ts", wr|creat, 0o644)
	s1 := e.stat("/tmp/ts")
	e.write(tf, "x")
	s2 := e.stat("/tmp/ts")
	if s2.Mtime.Sec <= s1.Mtime.Sec || s2.Ctime.Sec <= s1.Ctime.Sec {
		t.Errorf("write did not move mtime: %v -> %v", s1.Mtime, s2.Mtime)
	}
	times := e.tk.alloc(32)
	linux.Timespec{Sec: 5, Nsec: 6}.Encode(e.tk.mem[times-memBase:])
	linux.Timespec{Sec: 7, Nsec: unix.UTIME_OMIT}.Encode(e.tk.mem[times-memBase+16:])
	e.ok((*Files).Utimensat, atFD, e.s("/tmp/ts"), times, 0)
	if s := e.stat("/tmp/ts"); s.Atime != (linux.Timespec{Sec: 5, Nsec: 6}) || s.Mtime != s2.Mtime {
		t.Errorf("utimensat: %+v", s)
	}
	e.ok((*Files).Chmod, e.s("/tmp/ts"), 0o4711)
	e.ok((*Files).Chown, e.s("/tmp/ts"), 5, 6)
	if s := e.stat("/tmp/ts"); s.Mode != unix.S_IFREG|0o711 || s.UID != 5 || s.GID != 6 {
		t.Errorf("chmod/chown: mode %o uid %d gid %d", s.Mode, s.UID, s.GID)
	}
	e.ok((*Files).Chown, e.s("/tmp/ts"), 1<<32-1, 9)
	if s := e.stat("/tmp/ts"); s.UID != 5 || s.GID != 9 {
		t.Errorf("chown -1: %+v", s)
	}
}

func TestRename(t *testing.T) {
	e := newEnv(t)
	e.write(e.open("/tmp/a", wr|creat, 0o644), "A")
	e.write(e.open("/tmp/b", wr|creat, 0o644), "B")
	e.ok((*Files).Mkdir, e.s("/tmp/d"), 0o755)
	e.ok((*Files).Mkdir, e.s("/tmp/e"), 0o755)
	e.open("/tmp/e/full", wr|creat, 0o644)
	e.ok((*Files).Mkdir, e.s("/tmp/empty"), 0o755)

	e.ok((*Files).Rename, e.s("/tmp/a"), e.s("/tmp/b")) // replaces
	if got := e.read(e.open("/tmp/b", rd, 0), 9); got != "A" {
		t.Errorf("replaced content %q", got)
	}
	e.errno(linux.ENOENT, (*Files).Open, e.s("/tmp/a"), rd)
	e.ok((*Files).Rename, e.s("/tmp/b"), e.s("/tmp/b")) // same file
	e.errno(linux.EINVAL, (*Files).Rename, e.s("/tmp/d"), e.s("/tmp/d/x"))
	e.errno(linux.ENOTEMPTY, (*Files).Rename, e.s("/tmp/d"), e.s("/tmp/e"))
	e.errno(linux.ENOTDIR, (*Files).Rename, e.s("/tmp/d"), e.s("/tmp/b"))
	e.errno(linux.EISDIR, (*Files).Rename, e.s("/tmp/b"), e.s("/tmp/d"))
	e.errno(linux.EXDEV, (*Files).Rename, e.s("/tmp/b"), e.s("/dev/b"))
	e.errno(linux.EROFS, (*Files).Rename, e.s("/etc/passwd"), e.s("/etc/p2"))
	e.errno(linux.ENOENT, (*Files).Rename, e.s("/tmp/nope"), e.s("/tmp/x"))
	e.ok((*Files).Rename, e.s("/tmp/d"), e.s("/tmp/empty"))
	e.ok((*Files).Rename, e.s("/tmp/b"), e.s("/tmp/e/b"))
	if got := e.read(e.open("/tmp/e/b", rd, 0), 9); got != "A" {
		t.Errorf("moved content %q", got)
	}
	// A moved directory's ".." and getcwd follow it.
	e.ok((*Files).Mkdir, e.s("/tmp/empty/in"), 0o755)
	e.ok((*Files).Chdir, e.s("/tmp/empty/in"))
	e.ok((*Files).Rename, e.s("/tmp/empty"), e.s("/tmp/e/moved"))
	cwd := e.tk.alloc(64)
	n := e.ok((*Files).Getcwd, cwd, 64)
	if got := string(e.tk.bytesAt(cwd, int(n))); got != "/tmp/e/moved/in\x00" {
		t.Errorf("getcwd after rename = %q", got)
	}
	if s := e.stat("/tmp/e"); s.Nlink != 3 {
		t.Errorf("/tmp/e nlink %d", s.Nlink)
	}
	// renameat2 flags.
	at := atFD
	e.write(e.open("/tmp/x", wr|creat, 0o644), "X")
	e.write(e.open("/tmp/y", wr|creat, 0o644), "Y")
	e.errno(linux.EEXIST, (*Files).Renameat2, at, e.s("/tmp/x"), at, e.s("/tmp/y"), unix.RENAME_NOREPLACE)
	e.ok((*Files).Renameat2, at, e.s("/tmp/x"), at, e.s("/tmp/y"), unix.RENAME_EXCHANGE)
	if got := e.read(e.open("/tmp/x", rd, 0), 9); got != "Y" {
		t.Errorf("exchange %q", got)
	}
	e.errno(linux.EINVAL, (*Files).Renameat2, at, e.s("/tmp/x"), at, e.s("/tmp/y"), unix.RENAME_EXCHANGE|unix.RENAME_NOREPLACE)
}

func TestTmpfsLimit(t *testing.T) {
	e := newEnv(t)
	e.ok((*Files).Unlink, e.s("/tmp/seeded"))
	e.fs.SetTmpLimit(10000)
	fd := e.open("/tmp/big", wr|creat, 0o644)
	data := strings.Repeat("x", 8000)
	e.write(fd, data)
	a := e.s(data)
	if n := e.ok((*Files).Write, uint64(fd), a, 8000); n != 2000 {
		t.Errorf("short write = %d, want 2000", n)
	}
	e.errno(linux.ENOSPC, (*Files).Write, uint64(fd), a, 1)
	e.ok((*Files).Ftruncate, uint64(fd), 0)
	e.errno(linux.ENOSPC, (*Files).Write, uint64(fd), a, 1) // at offset 10000
	e.ok((*Files).Lseek, uint64(fd), 0, 0)
	e.write(fd, "ok")
}

func TestFDTable(t *testing.T) {
	e := newEnv(t)
	fd := e.open("/etc/passwd", rd, 0)
	if fd != 3 {
		t.Fatalf("first fd = %d", fd)
	}
	if r := e.ok((*Files).Dup2, uint64(fd), uint64(fd)); r != uint64(fd) {
		t.Errorf("dup2 onto itself = %d", r)
	}
	e.errno(linux.EBADF, (*Files).Dup2, 999, 999)
	e.errno(linux.EINVAL, (*Files).Dup3, uint64(fd), uint64(fd), 0)
	e.errno(linux.EINVAL, (*Files).Dup3, uint64(fd), 10, 1)
	e.errno(linux.EBADF, (*Files).Dup2, uint64(fd), MaxFDs)
	e.ok((*Files).Dup3, uint64(fd), 10, unix.O_CLOEXEC)
	if r := e.ok((*Files).Fcntl, 10, unix.F_GETFD); r != unix.FD_CLOEXEC {
		t.Errorf("F_GETFD = %d", r)
	}
	// Shared offsets between dups.
	e.read(fd, 5)
	if off := e.ok((*Files).Lseek, 10, 0, unix.SEEK_CUR); off != 5 {
		t.Errorf("dup offset %d", off)
	}
	if r := e.ok((*Files).Fcntl, uint64(fd), unix.F_DUPFD, 20); r != 20 {
		t.Errorf("F_DUPFD = %d", r)
	}
	if r := e.ok((*Files).Fcntl, uint64(fd), unix.F_DUPFD_CLOEXEC, 20); r != 21 {
		t.Errorf("F_DUPFD_CLOEXEC = %d", r)
	}
	e.errno(linux.EINVAL, (*Files).Fcntl, uint64(fd), unix.F_DUPFD, MaxFDs)
	if fl := e.ok((*Files).Fcntl, uint64(fd), unix.F_GETFL); fl != unix.O_RDONLY|unix.O_LARGEFILE {
		t.Errorf("F_GETFL = %#x", fl)
	}
	e.ok((*Files).Fcntl, uint64(fd), unix.F_SETFL, unix.O_NONBLOCK|unix.O_APPEND|unix.O_WRONLY)
	if fl := e.ok((*Files).Fcntl, uint64(fd), unix.F_GETFL); fl != unix.O_RDONLY|unix.O_LARGEFILE|unix.O_NONBLOCK|unix.O_APPEND {
		t.Errorf("F_GETFL after F_SETFL = %#x", fl)
	}
	e.ok((*Files).Ioctl, uint64(fd), linux.FIOCLEX)
	e.f.CloseOnExec()
	e.errno(linux.EBADF, (*Files).Fstat, 10, e.tk.alloc(linux.SizeofStat))
	e.errno(linux.EBADF, (*Files).Fstat, 21, e.tk.alloc(linux.SizeofStat))
	e.errno(linux.EBADF, (*Files).Fstat, uint64(fd), e.tk.alloc(linux.SizeofStat))
	e.ok((*Files).Fstat, 20, e.tk.alloc(linux.SizeofStat))

	// EMFILE.
	var last uint64
	for {
		r, err := e.call((*Files).Dup, 0)
		if err == linux.EMFILE {
			break
		}
		if err != 0 {
			t.Fatal(err)
		}
		last = r
	}
	if last != MaxFDs-1 {
		t.Errorf("last fd %d", last)
	}
	e.errno(linux.EMFILE, (*Files).Open, e.s("/etc/passwd"), rd)
	e.errno(linux.EMFILE, (*Files).Pipe, e.tk.alloc(8))
	e.ok((*Files).CloseFD, 500)
	if r := e.ok((*Files).Open, e.s("/etc/passwd"), rd); r != 500 {
		t.Errorf("lowest free fd = %d", r)
	}
}

func TestConsole(t *testing.T) {
	e := newEnv(t)
	e.write(1, "out")
	e.write(2, "err")
	d := e.ok((*Files).Dup, 2)
	e.write(int(d), "+dup")
	tty := e.open("/dev/tty", rdwr, 0)
	e.write(tty, "[tty]")
	if e.con.output(1) != "out[tty]" || e.con.output(2) != "err+dup" {
		t.Errorf("console streams: %q %q", e.con.output(1), e.con.output(2))
	}
	tbuf := e.tk.alloc(linux.SizeofTermios)
	e.ok((*Files).Ioctl, 0, unix.TCGETS, tbuf)
	tm := linux.DecodeTermios(e.tk.bytesAt(tbuf, linux.SizeofTermios))
	if tm.Lflag&unix.ICANON == 0 {
		t.Errorf("termios %+v", tm)
	}
	tm.Lflag &^= unix.ICANON | unix.ECHO
	tm.Encode(e.tk.mem[tbuf-memBase:])
	e.ok((*Files).Ioctl, 0, unix.TCSETS, tbuf)
	e.ok((*Files).Ioctl, 1, unix.TCGETS, tbuf)
	if got := linux.DecodeTermios(e.tk.bytesAt(tbuf, linux.SizeofTermios)); got.Lflag&unix.ICANON != 0 {
		t.Error("TCSETS not stored")
	}
	ws := e.tk.alloc(8)
	e.ok((*Files).Ioctl, 1, unix.TIOCGWINSZ, ws)
	if w := linux.DecodeWinsize(e.tk.bytesAt(ws, 8)); w.Row != 24 || w.Col != 80 {
		t.Errorf("winsize %+v", w)
	}
	e.errno(linux.ENOTTY, (*Files).Ioctl, uint64(e.open("/etc/passwd", rd, 0)), unix.TCGETS, tbuf)
	e.errno(linux.ENOTTY, (*Files).Ioctl, uint64(e.open("/dev/null", rd, 0)), unix.TCGETS, tbuf)
	e.errno(linux.EFAULT, (*Files).Ioctl, 0, unix.TCGETS, 8)

	// stdin: data, then EOF; reads are interruptible and pollable.
	pfd := e.tk.alloc(8)
	linux.PollFd{Fd: 0, Events: unix.POLLIN}.Encode(e.tk.mem[pfd-memBase:])
	if n := e.ok((*Files).Poll, pfd, 1, 0); n != 0 {
		t.Errorf("poll stdin without input = %d", n)
	}
	e.con.input <- []byte("line\n")
	if n := e.ok((*Files).Poll, pfd, 1, 5000); n != 1 {
		t.Errorf("poll stdin with input = %d", n)
	}
	if got := e.read(0, 2); got != "li" {
		t.Errorf("stdin %q", got)
	}
	if got := e.read(0, 100); got != "ne\n" {
		t.Errorf("stdin %q", got)
	}
	done := make(chan linux.Errno)
	go func() {
		_, err := e.call((*Files).Read, 0, e.tk.alloc(8), 8)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	close(e.tk.intr)
	if err := <-done; err != linux.EINTR {
		t.Errorf("interrupted stdin read = %v", err)
	}
	e.tk.intr = make(chan struct{})
	close(e.con.input)
	if got := e.read(0, 100); got != "" {
		t.Errorf("stdin at EOF %q", got)
	}
}

func TestDevices(t *testing.T) {
	e := newEnv(t)
	null := e.open("/dev/null", rdwr, 0)
	if e.write(null, "gone") != 4 || e.read(null, 10) != "" {
		t.Error("/dev/null")
	}
	if got := e.read(e.open("/dev/zero", rd, 0), 4); got != "\x00\x00\x00\x00" {
		t.Errorf("/dev/zero %q", got)
	}
	e.errno(linux.ENOSPC, (*Files).Write, uint64(e.open("/dev/full", wr, 0)), e.s("x"), 1)
	r1, r2 := e.read(e.open("/dev/urandom", rd, 0), 32), e.read(e.open("/dev/random", rd, 0), 32)
	if len(r1) != 32 || r1 == r2 {
		t.Error("/dev/urandom")
	}
	if s := e.stat("/dev/null"); s.Mode != unix.S_IFCHR|0o666 || s.Rdev != linux.Mkdev(1, 3) {
		t.Errorf("/dev/null stat %+v", s)
	}
	if e.readlink("/dev/stdout") != "/proc/self/fd/1" {
		t.Error("/dev/stdout")
	}
	fd := e.open("/dev/stderr", wr, 0)
	e.write(fd, "via proc")
	if e.con.output(1) != "via proc" {
		// /proc/self/fd/2 reopens the console file (a new open
		// file: stream 1, as /dev/tty).
		t.Errorf("stderr reopen: %q", e.con.output(1))
	}
}

func TestProc(t *testing.T) {
	e := newEnv(t)
	if e.readlink("/proc/self") != "42" {
		t.Errorf("/proc/self -> %q", e.readlink("/proc/self"))
	}
	if e.readlink("/proc/self/exe") != "/bin/busybox" {
		t.Error("exe")
	}
	if got := e.read(e.open("/proc/self/cmdline", rd, 0), 100); got != "busybox\x00sh\x00" {
		t.Errorf("cmdline %q", got)
	}
	if got := e.read(e.open("/proc/42/status", rd, 0), 100); !strings.Contains(got, "Pid:\t42") {
		t.Errorf("status %q", got)
	}
	e.errno(linux.EACCES, (*Files).Open, e.s("/proc/self/maps"), wr)
	e.errno(linux.ENOENT, (*Files).Open, e.s("/proc/43/status"), rd)
	CPUInfo.ModelName = "Test CPU"
	if got := e.read(e.open("/proc/cpuinfo", rd, 0), 4096); !strings.Contains(got, "model name\t: Test CPU") || !strings.Contains(got, "flags\t\t: ") {
		t.Errorf("cpuinfo %q", got)
	}
	if got := e.read(e.open("/proc/meminfo", rd, 0), 4096); !strings.HasPrefix(got, "MemTotal:") {
		t.Errorf("meminfo %q", got)
	}
	fd := e.open("/etc/passwd", rd, 0)
	r, w := e.pipe(0)
	if got := e.readlink("/proc/self/fd/" + itoa(fd)); got != "/etc/passwd" {
		t.Errorf("fd link %q", got)
	}
	if got := e.readlink("/proc/self/fd/" + itoa(r)); !strings.HasPrefix(got, "pipe:[") {
		t.Errorf("pipe link %q", got)
	}
	if got := e.readlink("/proc/self/fd/0"); got != "/dev/tty" {
		t.Errorf("fd 0 link %q", got)
	}
	ev := e.ok((*Files).Eventfd2, 0, 0)
	if got := e.readlink("/proc/self/fd/" + itoa(int(ev))); got != "anon_inode:[eventfd]" {
		t.Errorf("eventfd link %q", got)
	}
	e.errno(linux.ENXIO, (*Files).Open, e.s("/proc/self/fd/"+itoa(int(ev))), rd)
	// Reopening through /proc/self/fd: a file, and a pipe's other end.
	if got := e.read(e.open("/proc/self/fd/"+itoa(fd), rd, 0), 4); got != "root" {
		t.Errorf("reopened %q", got)
	}
	w2 := e.open("/proc/self/fd/"+itoa(w), wr, 0)
	e.write(w2, "through proc")
	if got := e.read(r, 100); got != "through proc" {
		t.Errorf("pipe reopen %q", got)
	}
	dfd := e.open("/proc/self/fd", rd|unix.O_DIRECTORY, 0)
	names := e.readdir(dfd)
	for _, want := range []string{"0", "1", "2", itoa(fd), itoa(dfd)} {
		if !slices.Contains(names, want) {
			t.Errorf("/proc/self/fd lists %q, missing %q", names, want)
		}
	}
	if got := e.readdir(e.open("/proc", rd, 0)); !slices.Contains(got, "42") || !slices.Contains(got, "self") {
		t.Errorf("/proc lists %q", got)
	}
	e.errno(linux.EROFS, (*Files).Mkdir, e.s("/proc/x"), 0o755)
	if e.stat("/proc/self/fd/"+itoa(fd)).Size != 26 {
		t.Error("stat through the fd link")
	}
	// The loader can read /proc/self/exe's target only via the path.
	if _, err := e.f.OpenExec("/proc/self/exe"); err != 0 {
		t.Errorf("OpenExec(/proc/self/exe) = %v", err)
	}
}

func TestStatLayouts(t *testing.T) {
	e := newEnv(t)
	buf := e.tk.alloc(linux.SizeofStatx)
	at := atFD
	e.ok((*Files).Statx, at, e.s("/etc/passwd"), 0, unix.STATX_BASIC_STATS, buf)
	b := e.tk.bytesAt(buf, linux.SizeofStatx)
	if mode := le.Uint16(b[28:]); mode != unix.S_IFREG|0o644 {
		t.Errorf("statx mode %o", mode)
	}
	if size := le.Uint64(b[40:]); size != 26 {
		t.Errorf("statx size %d", size)
	}
	if mt := int64(le.Uint64(b[112:])); mt != 1600000000 {
		t.Errorf("statx mtime %d", mt)
	}
	e.errno(linux.EINVAL, (*Files).Statx, at, e.s("/etc/passwd"), 0x6000, 0, buf)
	sb := e.tk.alloc(linux.SizeofStatfs)
	e.ok((*Files).Statfs, e.s("/tmp"), sb)
	if typ := le.Uint64(e.tk.bytesAt(sb, 8)); typ != tmpfsMagic {
		t.Errorf("statfs type %#x", typ)
	}
	e.ok((*Files).Statfs, e.s("/"), sb)
	if fl := le.Uint64(e.tk.bytesAt(sb+80, 8)); fl&unix.ST_RDONLY == 0 {
		t.Errorf("root statfs flags %#x", fl)
	}
	if e.stat("/tmp").Dev == e.stat("/").Dev || e.stat("/dev/null").Dev == e.stat("/").Dev {
		t.Error("st_dev is not per mount")
	}
}
