package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"beelzebox/kernel/initramfs"

	"github.com/u-root/u-root/pkg/cpio"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func feed(d *execDecoder, lines ...string) {
	for _, l := range lines {
		d.line(l)
	}
}

func TestExecDecoderChunksAndStatus(t *testing.T) {
	d := newExecDecoder()
	type chunk struct {
		fd   int
		data string
	}
	var chunks []chunk
	d.onChunk = func(r *execResult, fd int, data []byte) { chunks = append(chunks, chunk{fd, string(data)}) }
	var kernel []string
	d.onKernel = func(s string) { kernel = append(kernel, s) }
	var nosys [][]string
	d.onNosys = func(r *execResult, calls []string) { nosys = append(nosys, calls) }
	feed(d,
		"kernel: booting",
		"exec: begin exec level 2",
		"exec|1 "+b64("hello "),
		"some kernel chatter",
		"exec|2 "+b64("oops\n"),
		"exec|1 "+b64("world\n")+"\r",
		"exec|1 "+b64("\x00\xff binary"),
		"exec: nosys exec membarrier=3 rseq=1",
		"exec: end exec level 2 status 42",
		"exec: done 1",
	)
	r := d.results["exec"]
	if r == nil || !r.Began || !r.Ended {
		t.Fatalf("result %+v", r)
	}
	if string(r.Stdout) != "hello world\n\x00\xff binary" || string(r.Stderr) != "oops\n" {
		t.Errorf("stdout %q stderr %q", r.Stdout, r.Stderr)
	}
	want := []chunk{{1, "hello "}, {2, "oops\n"}, {1, "world\n"}, {1, "\x00\xff binary"}}
	if !reflect.DeepEqual(chunks, want) {
		t.Errorf("chunks %+v, want %+v", chunks, want)
	}
	if !reflect.DeepEqual(kernel, []string{"kernel: booting", "some kernel chatter"}) {
		t.Errorf("kernel lines %q", kernel)
	}
	if !reflect.DeepEqual(nosys, [][]string{{"membarrier=3", "rseq=1"}}) {
		t.Errorf("nosys %q", nosys)
	}
	if got := nosysText(nosys[0]); got != "exec: unimplemented system calls: membarrier (3), rseq (1)" {
		t.Errorf("nosysText = %q", got)
	}
	if r.Level != 2 || d.done != 1 || len(d.problems) != 0 {
		t.Errorf("level %d done %d problems %q", r.Level, d.done, d.problems)
	}
	if st, why := execVerdict(d, "exec", false, nil); st != 42 || why != "" {
		t.Errorf("verdict %d %q, want 42", st, why)
	}
	// The time limit wins over everything else.
	if st, _ := execVerdict(d, "exec", true, nil); st != 124 {
		t.Errorf("timed out: status %d, want 124", st)
	}
}

func TestExecDecoderFailures(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  string // substring of the verdict's reason; status is 125
	}{
		{"no end", []string{"exec: begin exec level 1", "exec|1 " + b64("x")}, `without "exec: end exec"`},
		{"nothing at all", []string{"kernel: hello"}, `without "exec: end exec"`},
		{"bad base64", []string{"exec: begin exec level 1", "exec|1 !!!notbase64", "exec: end exec level 1 status 0"}, "bad base64"},
		{"unpadded base64", []string{"exec: begin exec level 1", "exec|1 aGk", "exec: end exec level 1 status 0"}, "bad base64"},
		{"bad fd", []string{"exec: begin exec level 1", "exec|3 " + b64("x"), "exec: end exec level 1 status 0"}, "malformed output line"},
		{"output outside a run", []string{"exec|1 " + b64("x"), "exec: begin exec level 1", "exec: end exec level 1 status 0"}, "outside a run"},
		{"chunk too big", []string{"exec: begin exec level 1", "exec|1 " + b64(strings.Repeat("a", 3<<10+1)), "exec: end exec level 1 status 0"}, "at most 3072"},
		{"level changes", []string{"exec: begin exec level 1", "exec: end exec level 2 status 0"}, "ended at level 2"},
		{"status too big", []string{"exec: begin exec level 1", "exec: end exec level 1 status 256"}, "malformed line"},
		{"end without begin", []string{"exec: end exec level 1 status 0"}, "without its begin"},
		{"panic", []string{"exec: begin exec level 1", "kernel: panic: out of memory", "exec: end exec level 1 status 0"}, "kernel: panic: out of memory"},
		{"fault after end", []string{"exec: begin exec level 1", "exec: end exec level 1 status 0", "kernel: fault: #PF"}, "kernel: fault"},
		{"begin twice", []string{"exec: begin exec level 1", "exec: begin exec level 1", "exec: end exec level 1 status 0"}, "began"},
		{"malformed begin", []string{"exec: begin exec level 7", "exec: end exec level 1 status 0"}, "malformed line"},
	}
	for _, tc := range tests {
		d := newExecDecoder()
		feed(d, tc.lines...)
		st, why := execVerdict(d, "exec", false, nil)
		if st != 125 || !strings.Contains(why, tc.want) {
			t.Errorf("%s: verdict %d %q, want 125 and %q", tc.name, st, why, tc.want)
		}
	}
	d := newExecDecoder()
	feed(d, "exec: begin exec level 1")
	if _, why := execVerdict(d, "exec", false, errors.New("qemu died")); !strings.Contains(why, "qemu died") {
		t.Errorf("emulator error not named: %q", why)
	}
}

func TestExecDecoderSeveralRunsAndErrors(t *testing.T) {
	d := newExecDecoder()
	var errs []string
	d.onError = func(r *execResult, msg string) { errs = append(errs, r.Name+": "+msg) }
	feed(d,
		"exec: error l1/missing no such file: /bin/nope",
		"exec: begin l1/missing level 1",
		"exec: end l1/missing level 1 status 127",
		"exec: begin l1/a level 1",
		"exec|1 "+b64("a1"),
		"exec: end l1/a level 1 status 0",
		"exec: begin l2/a level 2",
		"exec|2 "+b64("a2"),
		"exec: end l2/a level 2 status 1",
		"exec: something informative", // unknown verbs are kernel lines
		"exec: done 3",
	)
	if len(d.problems) != 0 {
		t.Fatalf("problems %q", d.problems)
	}
	if got := d.order; !reflect.DeepEqual(got, []string{"l1/missing", "l1/a", "l2/a"}) {
		t.Errorf("order %q", got)
	}
	if r := d.results["l1/missing"]; r.Status != 127 || !reflect.DeepEqual(r.Errors, []string{"no such file: /bin/nope"}) {
		t.Errorf("missing: %+v", r)
	}
	if !reflect.DeepEqual(errs, []string{"l1/missing: no such file: /bin/nope"}) {
		t.Errorf("errors %q", errs)
	}
	if r := d.results["l2/a"]; string(r.Stderr) != "a2" || r.Status != 1 || string(d.results["l1/a"].Stdout) != "a1" {
		t.Errorf("l2/a: %+v", r)
	}
	if len(d.tail) != 1 || d.tail[0] != "exec: something informative" {
		t.Errorf("tail %q", d.tail)
	}
	// "done" with a run still open is a problem of that run.
	d = newExecDecoder()
	feed(d, "exec: begin x level 1", "exec: done 1")
	if len(d.results["x"].Problems) != 1 {
		t.Errorf("done inside a run not caught: %q", d.problems)
	}
}

func TestExecLogTailIsBounded(t *testing.T) {
	d := newExecDecoder()
	for i := range 100 {
		d.line("kernel line " + strings.Repeat("x", i))
	}
	if len(d.tail) != execLogTail || d.tail[execLogTail-1] != "kernel line "+strings.Repeat("x", 99) {
		t.Errorf("tail has %d lines, last %q", len(d.tail), d.tail[len(d.tail)-1])
	}
}

func TestCasesRoundTrip(t *testing.T) {
	cs := []execCase{
		{Name: "exec", Level: 0, Args: []string{"/bin/sh", "-c", `echo "hi" $HOME; printf '\n'`, ""}, Env: []string{"PATH=/bin", "EMPTY=", "UTF=héllo\tworld"}},
		{Name: "l3/bb/sort", Level: 3, Args: []string{"sort"}, Cwd: "/tmp", Stdin: "exec/stdin/l3/bb/sort", Memory: 64},
		{Name: "a.b-c_d", Level: 1, Args: []string{"x\x01\xff"}},
	}
	text, err := encodeCases(cs)
	if err != nil {
		t.Fatal(err)
	}
	wantStart := "case exec\nlevel 0\narg \"/bin/sh\"\narg \"-c\"\narg \"echo \\\"hi\\\" $HOME; printf '\\\\n'\"\narg \"\"\nenv \"PATH=/bin\"\n"
	if !strings.HasPrefix(string(text), wantStart) {
		t.Errorf("encoding starts\n%s\nwant\n%s", text, wantStart)
	}
	if !strings.Contains(string(text), "cwd \"/tmp\"\nstdin \"exec/stdin/l3/bb/sort\"\nmemory 64\nend\n") {
		t.Errorf("encoding:\n%s", text)
	}
	back, err := decodeCases(text)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, cs) {
		t.Errorf("round trip:\n%+v\nwant\n%+v", back, cs)
	}
}

func TestCasesRefused(t *testing.T) {
	bad := [][]execCase{
		{{Name: "bad name", Args: []string{"x"}}},
		{{Name: "", Args: []string{"x"}}},
		{{Name: "a", Args: nil}},
		{{Name: "a", Args: []string{""}}},
		{{Name: "a", Level: 4, Args: []string{"x"}}},
		{{Name: "a", Args: []string{"x\x00y"}}},
		{{Name: "a", Args: []string{"x"}, Env: []string{"NOEQUALS"}}},
		{{Name: "a", Args: []string{"x"}}, {Name: "a", Args: []string{"y"}}},
	}
	for _, cs := range bad {
		if _, err := encodeCases(cs); err == nil {
			t.Errorf("encodeCases(%+v) accepted", cs)
		}
	}
	badText := []string{
		"case a\narg \"x\"\nend\n",                                           // no level
		"case a\nlevel 1\narg \"x\"\n",                                       // no end
		"level 1\n",                                                          // outside a case
		"case a\nlevel 1\narg x\nend\n",                                      // unquoted
		"case a\nlevel 1\narg \"x\" \"y\"\nend\n",                            // two strings
		"case a\nlevel 1\nlevel 2\narg \"x\"\nend\n",                         // repeated level
		"case a\nlevel 1\narg \"x\"\nfoo 1\nend\n",                           // unknown directive
		"case a\nlevel 1\narg \"x\"\nend\ncase a\nlevel 1\narg \"x\"\nend\n", // repeated name
		"case a\nlevel 1\nend\n",                                             // no argv
		"case a\nlevel 1\narg \"x\"\nmemory -1\nend\n",                       // bad memory
		"case a\nlevel 1\narg \"x\"\nend junk\n",                             // junk after end
	}
	for _, s := range badText {
		if _, err := decodeCases([]byte(s)); err == nil {
			t.Errorf("decodeCases(%q) accepted", s)
		}
	}
}

// readArchive reads a newc archive into name -> record info and contents.
func readArchive(t *testing.T, data []byte) (map[string]cpio.Info, map[string]string, []string) {
	t.Helper()
	rr := cpio.Newc.Reader(bytes.NewReader(data))
	infos := map[string]cpio.Info{}
	contents := map[string]string{}
	var order []string
	for {
		rec, err := rr.ReadRecord()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Name == cpio.Trailer {
			break
		}
		b, err := io.ReadAll(io.NewSectionReader(rec.ReaderAt, 0, int64(rec.FileSize)))
		if err != nil {
			t.Fatal(err)
		}
		infos[rec.Name] = rec.Info
		contents[rec.Name] = string(b)
		order = append(order, rec.Name)
	}
	return infos, contents, order
}

func TestArchiveLayout(t *testing.T) {
	src := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "bin", "musl"), 0o755))
	must(os.WriteFile(filepath.Join(src, "bin", "busybox"), []byte("BB"), 0o755))
	must(os.WriteFile(filepath.Join(src, "bin", "musl", "hello"), []byte("HELLO"), 0o750))
	must(os.WriteFile(filepath.Join(src, "data.txt"), []byte("data"), 0o640))
	must(os.Symlink("busybox", filepath.Join(src, "bin", "sh")))
	must(os.Symlink("/bin/busybox", filepath.Join(src, "bin", "abs")))
	must(os.Mkdir(filepath.Join(src, "empty"), 0o700))
	must(os.Chmod(filepath.Join(src, "empty"), 0o700))

	root := t.TempDir()
	must(os.MkdirAll(filepath.Join(root, "build", "vdso"), 0o755))
	must(os.WriteFile(filepath.Join(root, "build", "vdso", "vdso.so"), []byte("VDSO"), 0o644))
	a, err := execArchive(root)
	must(err)
	must(a.addTree("root", src))
	must(a.addFile("root/opt/extra/file", filepath.Join(src, "data.txt")))
	a.fixTmp()
	must(a.addCases([]execCase{{Name: "exec", Args: []string{"/bin/sh"}}, {Name: "l1/x", Level: 1, Args: []string{"/x"}}},
		map[string][]byte{"l1/x": []byte("input")}))
	var buf bytes.Buffer
	must(a.write(&buf))
	infos, contents, order := readArchive(t, buf.Bytes())

	type want struct {
		mode    uint64
		content string
	}
	wants := map[string]want{
		"root":                {cpio.S_IFDIR | 0o755, ""},
		"root/tmp":            {cpio.S_IFDIR | 0o1777, ""},
		"root/bin":            {cpio.S_IFDIR | 0o755, ""},
		"root/bin/busybox":    {cpio.S_IFREG | 0o755, "BB"},
		"root/bin/musl":       {cpio.S_IFDIR | 0o755, ""},
		"root/bin/musl/hello": {cpio.S_IFREG | 0o750, "HELLO"},
		"root/bin/sh":         {cpio.S_IFLNK | 0o777, "busybox"},
		"root/bin/abs":        {cpio.S_IFLNK | 0o777, "/bin/busybox"},
		"root/data.txt":       {cpio.S_IFREG | 0o640, "data"},
		"root/empty":          {cpio.S_IFDIR | 0o700, ""},
		"root/opt":            {cpio.S_IFDIR | 0o755, ""},
		"root/opt/extra":      {cpio.S_IFDIR | 0o755, ""},
		"root/opt/extra/file": {cpio.S_IFREG | 0o640, "data"},
		"linux":               {cpio.S_IFDIR | 0o755, ""},
		"linux/vdso.so":       {cpio.S_IFREG | 0o644, "VDSO"},
		"exec":                {cpio.S_IFDIR | 0o755, ""},
		"exec/cases":          {cpio.S_IFREG | 0o644, "case exec\nlevel 0\narg \"/bin/sh\"\nend\ncase l1/x\nlevel 1\narg \"/x\"\nstdin \"exec/stdin/l1/x\"\nend\n"},
		"exec/stdin":          {cpio.S_IFDIR | 0o755, ""},
		"exec/stdin/l1":       {cpio.S_IFDIR | 0o755, ""},
		"exec/stdin/l1/x":     {cpio.S_IFREG | 0o644, "input"},
	}
	for name, w := range wants {
		info, ok := infos[name]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if info.Mode != w.mode || contents[name] != w.content {
			t.Errorf("%s: mode %o content %q, want %o %q", name, info.Mode, contents[name], w.mode, w.content)
		}
		if info.MTime != 0 || info.UID != 0 || info.GID != 0 {
			t.Errorf("%s: mtime %d uid %d gid %d, want zeros", name, info.MTime, info.UID, info.GID)
		}
	}
	if len(infos) != len(wants) {
		t.Errorf("archive has %d entries, want %d: %q", len(infos), len(wants), order)
	}
	// Every entry comes after its parent directory.
	seen := map[string]bool{}
	for _, n := range order {
		if p := filepath.Dir(n); p != "." && !seen[p] {
			t.Errorf("%s comes before its directory %s", n, p)
		}
		seen[n] = true
	}
	// The kernel's own reader takes it: files, directories, symlinks.
	fsys, err := initramfs.Open(buf.Bytes())
	must(err)
	if b, err := fsys.File("root/bin/musl/hello"); err != nil || string(b) != "HELLO" {
		t.Errorf("kernel reader: hello = %q, %v", b, err)
	}
	if !fsys.IsDir("root/tmp") || !fsys.IsDir("root/empty") {
		t.Error("kernel reader: root/tmp or root/empty is not a directory")
	}
	if _, err := fsys.File("root/bin/sh"); !errors.Is(err, initramfs.ErrNotRegular) {
		t.Errorf("kernel reader: root/bin/sh (a symlink): %v", err)
	}
	// Deterministic: the same inputs give the same bytes.
	var again bytes.Buffer
	must(a.write(&again))
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("two writes differ")
	}
	// A file below a file is refused.
	must(a.addData("root/data.txt/inside", []byte("x"), 0o644))
	if err := a.write(io.Discard); err == nil {
		t.Error("a file below a regular file was accepted")
	}
}

func TestArchiveWithoutVDSO(t *testing.T) {
	a, err := execArchive(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := a.write(&buf); err != nil {
		t.Fatal(err)
	}
	infos, _, _ := readArchive(t, buf.Bytes())
	if _, ok := infos["linux/vdso.so"]; ok {
		t.Error("vdso without build/vdso/vdso.so")
	}
	for _, n := range []string{"root", "root/tmp", "root/bin"} {
		if infos[n].Mode&cpio.S_IFMT != cpio.S_IFDIR {
			t.Errorf("%s is not a directory", n)
		}
	}
}

func TestExecProgram(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "prog")
	if err := os.WriteFile(prog, []byte("ELF"), 0o755); err != nil {
		t.Fatal(err)
	}
	a := newArchive()
	// Absolute host path: the same guest path, copied.
	g, from, err := execProgram(a, prog)
	if err != nil || g != prog || from != prog {
		t.Errorf("absolute: %q %q %v", g, from, err)
	}
	// Relative: /<base name>.
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	if g, from, err = execProgram(a, "prog"); err != nil || g != "/prog" || from != "prog" {
		t.Errorf("relative: %q %q %v", g, from, err)
	}
	// A guest file already there wins.
	if err := a.addData(guestName(prog), []byte("guest"), 0o755); err != nil {
		t.Fatal(err)
	}
	if g, from, err = execProgram(a, prog); err != nil || g != prog || from != "" {
		t.Errorf("guest file present: %q %q %v", g, from, err)
	}
	// An absolute path missing on the host is a guest path.
	if g, from, err = execProgram(a, "/no/such/guest/prog"); err != nil || g != "/no/such/guest/prog" || from != "" {
		t.Errorf("guest path: %q %q %v", g, from, err)
	}
	// A relative path missing on the host is an error.
	if _, _, err = execProgram(a, "no-such-file"); err == nil {
		t.Error("missing relative program accepted")
	}
	if got := execEnv([]string{"HOME=/tmp", "X=1"}); !reflect.DeepEqual(got, []string{"PATH=/bin", "HOME=/tmp", "X=1"}) {
		t.Errorf("execEnv = %q", got)
	}
}

func TestMappings(t *testing.T) {
	var m mappings
	for _, good := range []string{"a:/b", "build/linuxroot:/"} {
		if err := m.Set(good); err != nil {
			t.Errorf("%q refused: %v", good, err)
		}
	}
	for _, bad := range []string{"a", "a:b", ":/b"} {
		if err := m.Set(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if guestName("/") != "root" || guestName("/bin/x") != "root/bin/x" || guestName("../../etc") != "root/etc" {
		t.Errorf("guestName: %q %q %q", guestName("/"), guestName("/bin/x"), guestName("../../etc"))
	}
}

// fakeQEMU puts a qemu-system-x86_64 on PATH that saves its -initrd and
// -append, prints $FAKE_CONSOLE, sleeps $FAKE_SLEEP seconds and exits 3
// (a kernel exit code of 1).
func fakeQEMU(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	script := `#!/bin/sh
while [ $# -gt 0 ]; do
	case "$1" in
	-initrd) cp "$2" "$FAKE_OUT/initrd.cpio";;
	-append) printf %s "$2" > "$FAKE_OUT/append";;
	esac
	shift
done
cat "$FAKE_CONSOLE"
[ -n "$FAKE_SLEEP" ] && sleep "$FAKE_SLEEP"
exit 3
`
	if err := os.WriteFile(filepath.Join(bin, "qemu-system-x86_64"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	t.Setenv("FAKE_OUT", dir)
	t.Setenv("FAKE_SLEEP", "")
	return dir
}

func runFakeExec(t *testing.T, dir string, console []string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	con := filepath.Join(dir, "console")
	if err := os.WriteFile(con, []byte(strings.Join(console, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_CONSOLE", con)
	kernel := filepath.Join(dir, "kernel.elf")
	if err := os.WriteFile(kernel, []byte("not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The runner writes them under printMu, and they are read after the boot.
	var out, errb bytes.Buffer
	execStdin, execStdout, execStderr = strings.NewReader(stdin), &out, &errb
	defer func() { execStdin, execStdout, execStderr = os.Stdin, os.Stdout, os.Stderr }()
	status := cmdExec(append([]string{"-kernel", kernel}, args...))
	return status, out.String(), errb.String()
}

func TestCmdExecWithAFakeQEMU(t *testing.T) {
	dir := fakeQEMU(t)
	prog := filepath.Join(dir, "prog")
	extra := filepath.Join(dir, "extra")
	for _, f := range []string{prog, extra} {
		if err := os.WriteFile(f, []byte("content of "+filepath.Base(f)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	console := []string{
		"beelzebox: booting",
		"exec: begin exec level 2",
		"exec|1 " + b64("hello\n"),
		"exec|2 " + b64("warn\n"),
		"exec: nosys exec rseq=2 membarrier=1",
		"exec|1 " + b64("bye"),
		"exec: end exec level 2 status 7",
		"exec: done 1",
	}
	status, stdout, stderr := runFakeExec(t, dir, console, "input bytes",
		"-level", "2", "-env", "A=b", "-file", extra+":/etc/extra", "--", prog, "arg 1")
	if status != 7 || stdout != "hello\nbye" {
		t.Errorf("status %d stdout %q; want 7 %q (stderr %q)", status, stdout, "hello\nbye", stderr)
	}
	if stderr != "warn\nexec: unimplemented system calls: rseq (2), membarrier (1)\n" {
		t.Errorf("stderr %q", stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "append")); string(b) != "exec" {
		t.Errorf("kernel command line %q, want exec", b)
	}
	data, err := os.ReadFile(filepath.Join(dir, "initrd.cpio"))
	if err != nil {
		t.Fatal(err)
	}
	_, contents, _ := readArchive(t, data)
	wantCases := "case exec\nlevel 2\narg " + strconv.Quote(prog) + "\narg \"arg 1\"\nenv \"PATH=/bin\"\nenv \"HOME=/\"\nenv \"A=b\"\nstdin \"exec/stdin/exec\"\nend\n"
	for name, want := range map[string]string{
		"exec/cases":      wantCases,
		"exec/stdin/exec": "input bytes",
		"root" + prog:     "content of prog",
		"root/etc/extra":  "content of extra",
	} {
		if contents[name] != want {
			t.Errorf("%s = %q, want %q", name, contents[name], want)
		}
	}

	// A boot that ends without "exec: end": 125 and the kernel's last lines.
	status, stdout, stderr = runFakeExec(t, dir, []string{"beelzebox: booting", "exec: begin exec level 1", "exec|1 " + b64("partial"), "kernel: something broke"}, "", "--", prog)
	if status != 125 || stdout != "partial" || !strings.Contains(stderr, "beelzebox: booting\n") || !strings.Contains(stderr, "kernel: something broke\n") {
		t.Errorf("no end: status %d stdout %q stderr %q", status, stdout, stderr)
	}
	// -v shows the kernel lines as they come.
	_, _, stderr = runFakeExec(t, dir, console, "", "-v", "--", prog)
	if !strings.HasPrefix(stderr, "beelzebox: booting\n") {
		t.Errorf("-v: stderr %q", stderr)
	}
	// The time limit.
	t.Setenv("FAKE_SLEEP", "20")
	status, _, _ = runFakeExec(t, dir, console[:3], "", "-timeout", "500ms", "--", prog)
	if status != 124 {
		t.Errorf("time limit: status %d, want 124", status)
	}
}
