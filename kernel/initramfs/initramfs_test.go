package initramfs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"
)

// write returns a newc archive of recs followed by the trailer, made by
// pkg/cpio's writer.
func write(t testing.TB, recs ...cpio.Record) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := cpio.Newc.Writer(&buf)
	if err := cpio.WriteRecords(w, recs); err != nil {
		t.Fatal(err)
	}
	if err := cpio.WriteTrailer(w); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func file(name, content string) cpio.Record { return cpio.StaticFile(name, content, 0o755) }

// sample is an archive with every kind of record Open handles.
func sample(t testing.TB) []byte {
	return write(t,
		cpio.Directory(".", 0o755),
		file("init", "#!init\n"),
		cpio.Directory("bin", 0o755),
		file("bin/hello", "\x7fELF hello"),
		cpio.Symlink("bin/sh", "hello"),
		file("empty", ""),
		file("/etc/motd", "welcome\n"),
		cpio.CharDev("dev/console", 0o600, 5, 1),
	)
}

func TestOpen(t *testing.T) {
	a := sample(t)
	fsys, err := Open(a)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fsys.Names(), []string{"bin/hello", "empty", "etc/motd", "init"}; !slices.Equal(got, want) {
		t.Errorf("Names = %q, want %q", got, want)
	}
	tests := []struct {
		name string
		want string // contents, if err is nil
		err  error
	}{
		{name: "init", want: "#!init\n"},
		{name: "/init", want: "#!init\n"},
		{name: "./init", want: "#!init\n"},
		{name: "bin/hello", want: "\x7fELF hello"},
		{name: "/bin//hello", want: "\x7fELF hello"},
		{name: "etc/motd", want: "welcome\n"},
		{name: "empty", want: ""},
		{name: "bin", err: ErrNotRegular},
		{name: "/", err: ErrNotRegular}, // the "." directory
		{name: "bin/sh", err: ErrNotRegular},
		{name: "dev/console", err: fs.ErrNotExist},
		{name: "nope", err: fs.ErrNotExist},
		{name: "", err: ErrNotRegular}, // normalizes to "."
		{name: "TRAILER!!!", err: fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := fsys.File(tt.name)
			if tt.err != nil {
				var e *Error
				if !errors.Is(err, tt.err) || !errors.As(err, &e) || e.Op != "file" {
					t.Fatalf("File(%q) = %q, %v; want an *Error wrapping %v", tt.name, got, err, tt.err)
				}
				if !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.name)) {
					t.Errorf("error %q does not name the file", err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("File(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
			}
			if len(got) > 0 {
				if cap(got) != len(got) {
					t.Errorf("cap %d > len %d: append could overwrite the archive", cap(got), len(got))
				}
				if i := bytes.Index(a, got); i < 0 || &a[i] != &got[0] {
					t.Errorf("File(%q) does not alias the archive", tt.name)
				}
			}
		})
	}
	if !fsys.IsDir("bin") || !fsys.IsDir("/bin/") || fsys.IsDir("init") || fsys.IsDir("nope") {
		t.Error("IsDir is wrong")
	}
	names := fsys.Names()
	names[0] = "changed"
	if fsys.Names()[0] != "bin/hello" {
		t.Error("Names does not return a copy")
	}
}

func TestErrorMessages(t *testing.T) {
	fsys, err := Open(sample(t))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"nope":   `initramfs: file "nope": file does not exist (the archive has 4 files)`,
		"bin":    `initramfs: file "bin": not a regular file: it is a directory`,
		"bin/sh": `initramfs: file "bin/sh": not a regular file: it is a symlink to "hello", and symlinks are not followed`,
	} {
		if _, err := fsys.File(name); err == nil || err.Error() != want {
			t.Errorf("File(%q) = %v, want %q", name, err, want)
		}
	}
	_, err = Open([]byte("070701garbage"))
	if want := "initramfs: open (record at offset 0x0): corrupt cpio archive: truncated header: 13 bytes left, a newc header is 110"; err == nil || err.Error() != want {
		t.Errorf("Open = %v, want %q", err, want)
	}
}

func TestOpenOnlyTrailer(t *testing.T) {
	fsys, err := Open(write(t))
	if err != nil {
		t.Fatal(err)
	}
	if n := fsys.Names(); len(n) != 0 {
		t.Errorf("Names = %q, want none", n)
	}
}

func TestOpenIgnoresBytesAfterTrailer(t *testing.T) {
	a := append(write(t, file("a", "1")), make([]byte, 512)...)
	a = append(a, "garbage"...)
	fsys, err := Open(a)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := fsys.File("a"); string(got) != "1" {
		t.Errorf("File(a) = %q", got)
	}
}

// TestOpenLaterRecordWins writes the same name twice (bypassing the
// deduplicating writer) and expects the second one, as Linux would.
func TestOpenLaterRecordWins(t *testing.T) {
	var buf bytes.Buffer
	for _, r := range []cpio.Record{file("x", "first"), file("/x", "second"), file("y", "file"), cpio.Directory("y", 0o755)} {
		if err := cpio.Newc.Writer(&buf).WriteRecord(r); err != nil {
			t.Fatal(err)
		}
	}
	cpio.WriteTrailer(cpio.Newc.Writer(&buf))
	fsys, err := Open(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := fsys.File("x"); string(got) != "second" {
		t.Errorf("File(x) = %q, %v; want second", got, err)
	}
	if _, err := fsys.File("y"); !errors.Is(err, ErrNotRegular) {
		t.Errorf("File(y) = %v; want the directory to replace the file", err)
	}
	if got := fsys.Names(); !slices.Equal(got, []string{"x"}) {
		t.Errorf("Names = %q", got)
	}
}

func TestOpenHardLinks(t *testing.T) {
	link := func(name, content string) cpio.Record {
		r := cpio.StaticRecord([]byte(content), cpio.Info{Name: name, Mode: cpio.S_IFREG | 0o755, Ino: 42, NLink: 2})
		return r
	}
	fsys, err := Open(write(t, link("a", ""), link("b", "shared data"), file("c", "other")))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b"} {
		if got, err := fsys.File(n); string(got) != "shared data" {
			t.Errorf("File(%s) = %q, %v; want the shared data", n, got, err)
		}
	}
}

// header returns a newc header with the given c_filesize and c_namesize and
// the name (NUL added if addNUL) padded to 4 bytes.
func header(filesize, namesize uint32, name string, addNUL bool) string {
	h := "070701" + fmt.Sprintf("%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		1, cpio.S_IFREG|0o755, 0, 0, 1, 0, filesize, 0, 0, 0, 0, namesize, 0)
	h += name
	if addNUL {
		h += "\x00"
	}
	for len(h)%4 != 0 {
		h += "\x00"
	}
	return h
}

func TestOpenCorrupt(t *testing.T) {
	good := sample(t)
	trailer := string(write(t))
	tests := []struct {
		name    string
		archive []byte
		msg     string
	}{
		{"empty", nil, "archive ends without the TRAILER!!! record"},
		{"garbage", []byte(strings.Repeat("garbage!", 40)), "bad magic"},
		{"crc format", append([]byte("070702"), good[6:]...), `bad magic "070702"`},
		{"old binary format", append([]byte{0xc7, 0x71}, good[2:]...), "bad magic"},
		{"no trailer", good[:bytes.LastIndex(good, []byte("070701"))], "archive ends without the TRAILER!!! record"},
		{"namesize 4 GiB", []byte(header(0, 0xffffffff, "x", true) + trailer), "name of 4294967295 bytes does not fit"},
		{"namesize zero", []byte(header(0, 0, "", false) + trailer), "name of 0 bytes"},
		{"name without NUL", []byte(header(0, 2, "ab", false) + trailer), "not NUL-terminated"},
		{"filesize 4 GiB", []byte(header(0xffffffff, 2, "a", true) + trailer), "run past the end"},
		{"filesize past the end", []byte(header(500, 2, "a", true) + "short" + trailer), "run past the end"},
		{"namesize not hex", []byte(strings.Replace(header(0, 2, "a", true), "00000002", "0000000g", 1) + trailer), `c_namesize: "0000000g" is not 8 hex digits`},
		{"mode not hex", []byte(strings.Replace(header(0, 2, "a", true), "000081ED", "0000Z1ED", 1) + trailer), "hex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys, err := Open(tt.archive)
			var e *Error
			if !errors.Is(err, ErrCorrupt) || !errors.As(err, &e) || e.Op != "open" {
				t.Fatalf("Open = %v, %v; want an *Error wrapping ErrCorrupt", fsys, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Open = %q, want it to contain %q", err, tt.msg)
			}
			if len(err.Error()) > 300 {
				t.Errorf("error message is %d bytes long", len(err.Error()))
			}
		})
	}
}

// TestOpenEveryTruncation cuts a valid archive at every length: each cut
// must be refused, except cuts that only drop the trailer's name padding.
func TestOpenEveryTruncation(t *testing.T) {
	a := sample(t)
	nameEnd := bytes.LastIndex(a, []byte(cpio.Trailer+"\x00")) + len(cpio.Trailer) + 1
	for n := 0; n < len(a); n++ {
		_, err := Open(a[:n])
		if n >= nameEnd {
			if err != nil {
				t.Errorf("Open(a[:%d]) = %v; only trailer padding is missing", n, err)
			}
			continue
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open(a[:%d]) of %d = %v, want ErrCorrupt", n, len(a), err)
		}
	}
}

// TestOpenHugeHeaderDoesNotAllocate checks that a header claiming a 4 GiB
// name or file is refused without allocating anything like it.
func TestOpenHugeHeaderDoesNotAllocate(t *testing.T) {
	for _, a := range [][]byte{
		[]byte(header(0, 0xfffffff0, "x", true)),
		[]byte(header(0xfffffff0, 2, "x", true)),
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, err := Open(a); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open = %v, want ErrCorrupt", err)
		}
		runtime.ReadMemStats(&after)
		if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
			t.Errorf("Open allocated %d bytes", d)
		}
	}
}

func FuzzOpen(f *testing.F) {
	f.Add(sample(f))
	f.Add(write(f))
	f.Add([]byte(header(0, 2, "a", true)))
	f.Add([]byte(header(3, 2, "a", true) + "abc\x00" + string(write(f))))
	f.Fuzz(func(t *testing.T, a []byte) {
		fsys, err := Open(a)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		for _, n := range fsys.Names() {
			data, err := fsys.File(n)
			if err != nil {
				t.Fatalf("File(%q) of a listed name: %v", n, err)
			}
			if len(data) > len(a) {
				t.Fatalf("File(%q) is longer than the archive", n)
			}
		}
	})
}

func TestLookupAndEntries(t *testing.T) {
	link := func(name, content string) cpio.Record {
		return cpio.StaticRecord([]byte(content), cpio.Info{Name: name, Mode: cpio.S_IFREG | 0o755, Ino: 9, NLink: 2, UID: 3, GID: 4, MTime: 1234})
	}
	fsys, err := Open(write(t, cpio.Directory("bin", 0o711), link("bin/a", ""), link("bin/b", "data"), cpio.Symlink("bin/l", "a")))
	if err != nil {
		t.Fatal(err)
	}
	a, ok := fsys.Lookup("/bin/a")
	if !ok || !a.IsRegular() || string(a.Data) != "data" || a.Ino != 9 || a.NLink != 2 || a.UID != 3 || a.GID != 4 || a.MTime != 1234 || a.Mode != cpio.S_IFREG|0o755 {
		t.Errorf("Lookup(bin/a) = %+v", a)
	}
	if l, ok := fsys.Lookup("bin/l"); !ok || !l.IsSymlink() || l.Target != "a" || l.Data != nil {
		t.Errorf("Lookup(bin/l) = %+v", l)
	}
	if d, ok := fsys.Lookup("bin"); !ok || !d.IsDir() || d.Mode&0o777 != 0o711 {
		t.Errorf("Lookup(bin) = %+v", d)
	}
	if _, ok := fsys.Lookup("nope"); ok {
		t.Error("Lookup(nope)")
	}
	var names []string
	for _, e := range fsys.Entries() {
		names = append(names, e.Name)
	}
	if !slices.Equal(names, []string{"bin", "bin/a", "bin/b", "bin/l"}) {
		t.Errorf("Entries = %q", names)
	}
}
