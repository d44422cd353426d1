package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"beelzebox/kernel/initramfs"

	"github.com/u-root/u-root/pkg/cpio"
)

// tree creates files (relative name -> contents) under a new temp dir.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func mustRun(t *testing.T, args ...string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.cpio")
	var stderr bytes.Buffer
	if err := run(append([]string{"-o", out}, args...), &stderr); err != nil {
		t.Fatalf("run(%q): %v\n%s", args, err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var sampleFiles = map[string]string{
	"init":            "#!/init\n",
	"bin/hello":       "\x7fELF hello",
	"bin/deep/x/y":    "nested",
	"guests/a.elf":    "A",
	"guests/b.elf":    "B",
	"guests/empty":    "",
	"zz-last-by-name": "z",
}

func TestReproducible(t *testing.T) {
	dir := tree(t, sampleFiles)
	p := func(n string) string { return filepath.Join(dir, filepath.FromSlash(n)) }
	args := []string{"init=" + p("init"), "/bin/hello=" + p("bin/hello"), "guests/a.elf=" + p("guests/a.elf"), "guests/b.elf=" + p("guests/b.elf")}

	first := mustRun(t, args...)

	// Change everything about the host files except their contents, and
	// reverse the argument order.
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	for n := range sampleFiles {
		os.Chtimes(p(n), old, old)
		os.Chmod(p(n), 0o640)
	}
	rev := slices.Clone(args)
	slices.Reverse(rev)
	second := mustRun(t, rev...)
	if !bytes.Equal(first, second) {
		t.Fatalf("two runs differ (%d and %d bytes)", len(first), len(second))
	}

	fsys, err := initramfs.Open(first)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fsys.Names(), []string{"bin/hello", "guests/a.elf", "guests/b.elf", "init"}; !slices.Equal(got, want) {
		t.Errorf("Names = %q, want %q", got, want)
	}
	for _, n := range fsys.Names() {
		if got, err := fsys.File(n); err != nil || string(got) != sampleFiles[n] {
			t.Errorf("File(%q) = %q, %v; want %q", n, got, err, sampleFiles[n])
		}
	}
	if !fsys.IsDir("bin") || !fsys.IsDir("guests") {
		t.Error("parent directories have no records")
	}
}

func TestDirMode(t *testing.T) {
	dir := tree(t, sampleFiles)
	if err := os.Symlink("init", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out.cpio")
	var stderr bytes.Buffer
	if err := run([]string{"-o", out, dir}, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "skipping") || !strings.Contains(stderr.String(), "link") {
		t.Errorf("stderr = %q, want a note about the skipped symlink", stderr.String())
	}
	a, _ := os.ReadFile(out)
	fsys, err := initramfs.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for n := range sampleFiles {
		want = append(want, n)
	}
	slices.Sort(want)
	if got := fsys.Names(); !slices.Equal(got, want) {
		t.Errorf("Names = %q, want %q", got, want)
	}
	for _, n := range want {
		if got, err := fsys.File(n); err != nil || string(got) != sampleFiles[n] {
			t.Errorf("File(%q) = %q, %v", n, got, err)
		}
	}
	// The same tree given file by file gives the same archive.
	var args []string
	for _, n := range want {
		args = append(args, n+"="+filepath.Join(dir, filepath.FromSlash(n)))
	}
	if b := mustRun(t, args...); !bytes.Equal(a, b) {
		t.Error("dir mode and name=path mode differ for the same files")
	}
}

// TestRecordFields reads the archive back with pkg/cpio and checks every
// header field that must not depend on the host.
func TestRecordFields(t *testing.T) {
	dir := tree(t, sampleFiles)
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(mustRun(t, dir))))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i, r := range recs {
		names = append(names, r.Name)
		if r.MTime != 0 || r.UID != 0 || r.GID != 0 || r.Major != 0 || r.Minor != 0 || r.Ino != uint64(i+1) {
			t.Errorf("%s: %v", r.Name, r.Info)
		}
		switch r.Mode & cpio.S_IFMT {
		case cpio.S_IFREG:
			if r.Mode != cpio.S_IFREG|0o755 || r.NLink != 1 {
				t.Errorf("%s: mode %#o nlink %d", r.Name, r.Mode, r.NLink)
			}
		case cpio.S_IFDIR:
			if r.Mode != cpio.S_IFDIR|0o755 {
				t.Errorf("%s: mode %#o", r.Name, r.Mode)
			}
		default:
			t.Errorf("%s: unexpected mode %#o", r.Name, r.Mode)
		}
	}
	want := []string{"bin", "bin/deep", "bin/deep/x", "bin/deep/x/y", "bin/hello", "guests", "guests/a.elf", "guests/b.elf", "guests/empty", "init", "zz-last-by-name"}
	if !slices.Equal(names, want) {
		t.Errorf("record order = %q, want %q", names, want)
	}
}

func TestErrors(t *testing.T) {
	dir := tree(t, map[string]string{"a": "A", "sub/b": "B"})
	a, sub := filepath.Join(dir, "a"), filepath.Join(dir, "sub")
	tests := []struct {
		name string
		args []string // after -o out
		noO  bool
		msg  string
	}{
		{name: "no -o", noO: true, args: []string{"a=" + a}, msg: "-o is required"},
		{name: "missing file", args: []string{"a=" + filepath.Join(dir, "nope")}, msg: "no such file"},
		{name: "name=dir", args: []string{"x=" + sub}, msg: "not a regular file"},
		{name: "bare file", args: []string{a}, msg: "not a directory"},
		{name: "duplicate", args: []string{"x=" + a, "/x=" + a}, msg: `"x" given twice`},
		{name: "dir and name clash", args: []string{"sub/b=" + a, dir}, msg: `"sub/b" given twice`},
		{name: "dotdot", args: []string{"../x=" + a}, msg: "bad archive name"},
		{name: "root", args: []string{"/=" + a}, msg: "bad archive name"},
		{name: "trailer", args: []string{"TRAILER!!!=" + a}, msg: "end marker"},
		{name: "file and directory", args: []string{"x=" + a, "x/y=" + a}, msg: "both a file and a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.cpio")
			args := tt.args
			if !tt.noO {
				args = append([]string{"-o", out}, args...)
			}
			err := run(args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("run = %v, want an error containing %q", err, tt.msg)
			}
			if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 0 {
				t.Errorf("a failed run left %v behind", entries)
			}
		})
	}
}
