package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/u-root/u-root/pkg/cpio"
	"golang.org/x/sys/unix"
)

// The exec command runs one Linux program in beelzebox:
//
//	go run ./qemu exec [flags] -- PROGRAM [ARGS...]
//
// The runner packs the program, the files given with -file and -dir, and
// the list of runs (exec/cases) into an initramfs, boots the kernel with
// "exec" on its command line, and relays what the kernel reports on its
// console (the protocol below) as the program's stdout, stderr and exit
// status.
//
// Initramfs layout (the contract with the kernel):
//
//	root/<path>          the guest's root file system: regular files with
//	                     their modes, directories, symlinks; root/tmp and
//	                     root/bin always exist
//	linux/vdso.so        build/vdso/vdso.so, when it exists
//	exec/cases           the runs (encodeCases)
//	exec/stdin/<name>    the stdin bytes of run <name>
//
// Console lines (among other kernel lines, which are not program output):
//
//	exec: begin <name> level <n>
//	exec|<fd> <base64>                   fd 1 or 2, <= 3 KiB decoded
//	exec: nosys <name> <syscall>=<count>...
//	exec: error <name> <message>
//	exec: end <name> level <n> status <status>
//	exec: done <count>
const execUsage = `usage: go run ./qemu exec [flags] -- PROGRAM [ARGS...]

Runs a static Linux x86-64 program in beelzebox (kernel command line "exec")
and passes on its stdout and stderr, byte for byte, and its exit status.

PROGRAM is a host file copied into the guest: to the same path if it is
absolute, else to /<its base name>; argv[0] is that guest path. If -file or
-dir already put something at that guest path, or PROGRAM is an absolute
path that does not exist on the host, the guest's file is run instead (so
"-dir build/linuxroot:/ -- /bin/sh -c 'echo hi'" runs busybox sh). The
guest's root file system holds only what is given here, plus /tmp and /bin.

stdin: if the runner's stdin is not a terminal it is read to its end and
given to the program; from a terminal the program's stdin is empty
(interactive stdin is not supported yet).

Exit status: the program's (0-255; 128+n for death by signal n; 126 a file
the kernel cannot run; 127 a missing program), or
  124  the time limit (-timeout) expired
  125  the kernel failed: a panic or fault, a malformed exec line, or a
       boot that ended without "exec: end" (the kernel log's tail is
       printed on stderr)
  2    bad usage, a failed build, an emulator that could not start
("go run" reports every failing status as 1: for the exact status, build
the runner, go build -o build/runner ./qemu, and run build/runner exec.)

Guest programs: make linux-guests builds build/linuxroot (busybox and its
applets in /bin, C programs in /bin/musl and /bin/glibc, u-root commands
in /bin/u, Go programs in /bin/go); -dir build/linuxroot:/ makes it the
guest's root. make exec ARGS="..." runs this command.

Flags:
`

// Exit statuses of the exec command besides the program's own.
const (
	execExitTimeout = 124
	execExitKernel  = 125
)

// execLogTail is how many kernel lines a failed exec prints.
const execLogTail = 40

// execCaseName is the form of a run's name.
var execCaseName = regexp.MustCompile(`^[A-Za-z0-9._/-]+$`)

// execCase is one run of exec/cases.
type execCase struct {
	Name   string
	Level  int      // 0 = the best level the CPU offers for Linux programs
	Args   []string // argv; argv[0] is resolved in the guest root, relative to Cwd without a '/'
	Env    []string // KEY=value
	Cwd    string   // "" = "/"
	Stdin  string   // initramfs path of the stdin bytes; "" = empty stdin
	Memory int      // MiB; 0 = no limit
	// Discard sends the program's stdout to nowhere, as > /dev/null
	// would (the linuxbench, whose figures must not count the console).
	Discard bool
	// TTY makes the program's console a terminal fed from the serial
	// port (exec -tty, make shell).
	TTY bool
}

func (c execCase) validate() error {
	if !execCaseName.MatchString(c.Name) {
		return fmt.Errorf("case name %q: want [A-Za-z0-9._/-]+", c.Name)
	}
	if c.Level < 0 || c.Level > 3 {
		return fmt.Errorf("case %s: level %d: want 0 to 3", c.Name, c.Level)
	}
	if len(c.Args) == 0 || c.Args[0] == "" {
		return fmt.Errorf("case %s: no program (argv[0])", c.Name)
	}
	for _, s := range slices.Concat(c.Args, c.Env, []string{c.Cwd, c.Stdin}) {
		if strings.IndexByte(s, 0) >= 0 {
			return fmt.Errorf("case %s: %q holds a NUL byte", c.Name, s)
		}
	}
	for _, e := range c.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return fmt.Errorf("case %s: env %q: want KEY=value", c.Name, e)
		}
	}
	if c.Memory < 0 {
		return fmt.Errorf("case %s: negative memory limit", c.Name)
	}
	return nil
}

// encodeCases writes the exec/cases file for cs.
func encodeCases(cs []execCase) ([]byte, error) {
	var b bytes.Buffer
	seen := map[string]bool{}
	for _, c := range cs {
		if err := c.validate(); err != nil {
			return nil, err
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("case %s given twice", c.Name)
		}
		seen[c.Name] = true
		fmt.Fprintf(&b, "case %s\nlevel %d\n", c.Name, c.Level)
		for _, a := range c.Args {
			fmt.Fprintf(&b, "arg %s\n", strconv.Quote(a))
		}
		for _, e := range c.Env {
			fmt.Fprintf(&b, "env %s\n", strconv.Quote(e))
		}
		if c.Cwd != "" {
			fmt.Fprintf(&b, "cwd %s\n", strconv.Quote(c.Cwd))
		}
		if c.Stdin != "" {
			fmt.Fprintf(&b, "stdin %s\n", strconv.Quote(c.Stdin))
		}
		if c.Memory > 0 {
			fmt.Fprintf(&b, "memory %d\n", c.Memory)
		}
		if c.Discard {
			b.WriteString("discard\n")
		}
		if c.TTY {
			b.WriteString("tty\n")
		}
		b.WriteString("end\n")
	}
	return b.Bytes(), nil
}

// unquoteAll reads a string that must be exactly one Go-quoted string.
func unquoteAll(s string) (string, error) {
	q, err := strconv.QuotedPrefix(s)
	if err != nil || q != s {
		return "", fmt.Errorf("want one quoted string, have %s", s)
	}
	return strconv.Unquote(q)
}

// decodeCases parses an exec/cases file (the inverse of encodeCases), as
// strictly as the kernel should.
func decodeCases(data []byte) ([]execCase, error) {
	var out []execCase
	var cur *execCase
	seen := map[string]bool{}
	var haveLevel bool
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		if line == "" {
			continue
		}
		word, rest, _ := strings.Cut(line, " ")
		bad := func(format string, args ...any) ([]execCase, error) {
			return nil, fmt.Errorf("cases line %d: %s", n, fmt.Sprintf(format, args...))
		}
		if word == "case" {
			if cur != nil {
				return bad("case %s has no end", cur.Name)
			}
			if seen[rest] {
				return bad("case %s given twice", rest)
			}
			seen[rest] = true
			cur, haveLevel = &execCase{Name: rest}, false
			continue
		}
		if cur == nil {
			return bad("%q outside a case", word)
		}
		switch word {
		case "level":
			l, err := strconv.Atoi(rest)
			if err != nil || haveLevel {
				return bad("bad or repeated level %q", rest)
			}
			cur.Level, haveLevel = l, true
		case "discard":
			if rest != "" || cur.Discard {
				return bad("bad or repeated discard")
			}
			cur.Discard = true
		case "tty":
			if rest != "" || cur.TTY {
				return bad("bad or repeated tty")
			}
			cur.TTY = true
		case "memory":
			m, err := strconv.Atoi(rest)
			if err != nil || m <= 0 || cur.Memory != 0 {
				return bad("bad or repeated memory %q", rest)
			}
			cur.Memory = m
		case "arg", "env", "cwd", "stdin":
			s, err := unquoteAll(rest)
			if err != nil {
				return bad("%s: %v", word, err)
			}
			switch word {
			case "arg":
				cur.Args = append(cur.Args, s)
			case "env":
				cur.Env = append(cur.Env, s)
			case "cwd", "stdin":
				p := &cur.Cwd
				if word == "stdin" {
					p = &cur.Stdin
				}
				if *p != "" || s == "" {
					return bad("bad or repeated %s", word)
				}
				*p = s
			}
		case "end":
			if rest != "" || !haveLevel {
				return bad("end of case %s without a level, or with text after it", cur.Name)
			}
			if err := cur.validate(); err != nil {
				return bad("%v", err)
			}
			out = append(out, *cur)
			cur = nil
		default:
			return bad("unknown directive %q", word)
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("cases: case %s has no end", cur.Name)
	}
	return out, nil
}

// archiveEntry is one record of an initramfs being built.
type archiveEntry struct {
	mode   uint64 // cpio.S_IFREG, S_IFDIR or S_IFLNK with permission bits
	host   string // regular file: read from this host file, if set
	data   []byte // regular file: else these bytes
	target string // symlink
}

// archive is an initramfs under construction: archive name -> entry.
// Adding a name again replaces it. write emits it deterministically.
type archive struct {
	entries map[string]archiveEntry
}

func newArchive() *archive { return &archive{entries: map[string]archiveEntry{}} }

func (a *archive) put(name string, e archiveEntry) error {
	n := cpio.Normalize(name)
	if n == "." || n == "" || n == ".." || strings.HasPrefix(n, "../") || n == cpio.Trailer {
		return fmt.Errorf("bad archive name %q", name)
	}
	a.entries[n] = e
	return nil
}

// addData stores bytes as a regular file.
func (a *archive) addData(name string, data []byte, perm fs.FileMode) error {
	return a.put(name, archiveEntry{mode: cpio.S_IFREG | unixMode(perm), data: data})
}

// addFile stores a host regular file with its permission bits.
func (a *archive) addFile(name, host string) error {
	st, err := os.Stat(host)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", host)
	}
	return a.put(name, archiveEntry{mode: cpio.S_IFREG | unixMode(st.Mode()), host: host})
}

// unixMode is the permission bits of m with setuid, setgid and sticky in
// their Unix places.
func unixMode(m fs.FileMode) uint64 {
	u := uint64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// addDir stores a directory.
func (a *archive) addDir(name string, perm fs.FileMode) error {
	return a.put(name, archiveEntry{mode: cpio.S_IFDIR | unixMode(perm)})
}

// addSymlink stores a symbolic link.
func (a *archive) addSymlink(name, target string) error {
	return a.put(name, archiveEntry{mode: cpio.S_IFLNK | 0o777, target: target})
}

// addTree stores the host tree at dir under name: directories, regular
// files with their permission bits, symlinks as they are (not followed).
// Other kinds of files are refused.
func (a *archive) addTree(name, dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		dest := path.Join(name, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if rel == "." && (name == "" || name == ".") {
				return nil
			}
			return a.addDir(dest, info.Mode())
		case d.Type()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return a.addSymlink(dest, t)
		case d.Type().IsRegular():
			return a.put(dest, archiveEntry{mode: cpio.S_IFREG | unixMode(info.Mode()), host: p})
		}
		return fmt.Errorf("%s: not a regular file, directory or symlink", p)
	})
}

// has reports whether name (normalized) is in the archive.
func (a *archive) has(name string) bool {
	_, ok := a.entries[cpio.Normalize(name)]
	return ok
}

// write emits the archive: records sorted by name, a missing parent
// directory made (0755) before its first entry, mtime 0, uid and gid 0,
// inode numbers by position. A parent that is not a directory is an error.
func (a *archive) write(w io.Writer) error {
	names := make([]string, 0, len(a.entries))
	for n := range a.entries {
		names = append(names, n)
	}
	slices.Sort(names)
	cw := cpio.Newc.Writer(w)
	var ino uint64
	written := map[string]bool{}
	var emit func(n string) error
	emit = func(n string) error {
		if n == "." || written[n] {
			return nil
		}
		if err := emit(path.Dir(n)); err != nil {
			return err
		}
		if p := path.Dir(n); p != "." && a.entries[p].mode&cpio.S_IFMT != cpio.S_IFDIR {
			if _, ok := a.entries[p]; ok {
				return fmt.Errorf("%q is below %q, which is not a directory", n, p)
			}
		}
		written[n] = true
		ino++
		e, ok := a.entries[n]
		if !ok {
			e = archiveEntry{mode: cpio.S_IFDIR | 0o755}
		}
		info := cpio.Info{Name: n, Ino: ino, Mode: e.mode, NLink: 1}
		switch e.mode & cpio.S_IFMT {
		case cpio.S_IFDIR:
			info.NLink = 2
			return cw.WriteRecord(cpio.Record{Info: info})
		case cpio.S_IFLNK:
			return cw.WriteRecord(cpio.StaticRecord([]byte(e.target), info))
		}
		data := e.data
		if e.host != "" {
			var err error
			if data, err = os.ReadFile(e.host); err != nil {
				return err
			}
		}
		return cw.WriteRecord(cpio.StaticRecord(data, info))
	}
	for _, n := range names {
		if err := emit(n); err != nil {
			return err
		}
	}
	return cpio.WriteTrailer(cw)
}

// writeFile writes the archive to file.
func (a *archive) writeFile(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := a.write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// execArchive starts the initramfs of an exec or linux run: root/tmp,
// root/bin and the vDSO (build/vdso/vdso.so under the module root, when
// it exists).
func execArchive(root string) (*archive, error) {
	a := newArchive()
	if err := a.addDir("root", 0o755); err != nil {
		return nil, err
	}
	if err := a.addDir("root/tmp", 0o777|fs.ModeSticky); err != nil {
		return nil, err
	}
	if err := a.addDir("root/bin", 0o755); err != nil {
		return nil, err
	}
	vdso := filepath.Join(root, "build", "vdso", "vdso.so")
	if _, err := os.Stat(vdso); err == nil {
		if err := a.addFile("linux/vdso.so", vdso); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// addCases stores exec/cases and the stdin files (stdin: case name ->
// bytes; a case with stdin gets Stdin = exec/stdin/<name>).
func (a *archive) addCases(cs []execCase, stdin map[string][]byte) error {
	for i := range cs {
		if in, ok := stdin[cs[i].Name]; ok {
			cs[i].Stdin = "exec/stdin/" + cs[i].Name
			if err := a.addData(cs[i].Stdin, in, 0o644); err != nil {
				return err
			}
		}
	}
	text, err := encodeCases(cs)
	if err != nil {
		return err
	}
	return a.addData("exec/cases", text, 0o644)
}

// fixTmp makes root/tmp a directory with mode 1777 again, after a -dir
// tree may have replaced it.
func (a *archive) fixTmp() {
	a.entries["root/tmp"] = archiveEntry{mode: cpio.S_IFDIR | 0o1777}
	if e := a.entries["root/bin"]; e.mode&cpio.S_IFMT != cpio.S_IFDIR && e.mode&cpio.S_IFMT != cpio.S_IFLNK {
		a.entries["root/bin"] = archiveEntry{mode: cpio.S_IFDIR | 0o755}
	}
}

// execResult is what the kernel reported about one run.
type execResult struct {
	Name   string
	Level  int // from the begin line
	Began  bool
	Ended  bool
	Status int
	Stdout []byte
	Stderr []byte
	Nosys  []string // "name=count", as the kernel printed them
	// Instructions is the TSC ticks from the program's load to its end
	// (instructions under QEMU -icount shift=0); 0 if not reported.
	Instructions uint64
	Errors       []string // exec: error messages
	Problems     []string // protocol violations concerning this run
}

// execDecoder reads the exec lines of a console. Lines that are not exec
// protocol are kernel lines; Fatal lines (protocol.go) are kept apart.
type execDecoder struct {
	results map[string]*execResult
	order   []string
	current *execResult // begun, not yet ended
	done    int         // the count of "exec: done"; -1 until seen
	// problems are protocol violations (also recorded in the runs
	// concerned), fatal the kernel's panic and fault lines.
	problems []string
	fatal    []string
	tail     []string // the last execLogTail kernel lines
	// onChunk, onNosys, onError, onKernel, if set, see events as they come.
	onChunk  func(r *execResult, fd int, data []byte)
	onNosys  func(r *execResult, calls []string)
	onError  func(r *execResult, msg string)
	onKernel func(line string)
}

func newExecDecoder() *execDecoder {
	return &execDecoder{results: map[string]*execResult{}, done: -1}
}

// result returns the record of run name, made on first mention.
func (d *execDecoder) result(name string) *execResult {
	r, ok := d.results[name]
	if !ok {
		r = &execResult{Name: name, Level: -1, Status: -1}
		d.results[name] = r
		d.order = append(d.order, name)
	}
	return r
}

func (d *execDecoder) problem(r *execResult, format string, args ...any) {
	p := fmt.Sprintf(format, args...)
	d.problems = append(d.problems, p)
	if r != nil {
		r.Problems = append(r.Problems, p)
	}
}

// maxChunk is the most one exec| line may carry.
const maxChunk = 3 << 10

// line consumes one console line.
func (d *execDecoder) line(s string) {
	s = strings.TrimRight(s, "\r\n\t ")
	if rest, ok := strings.CutPrefix(s, "exec|"); ok {
		d.chunk(s, rest)
		return
	}
	if rest, ok := strings.CutPrefix(s, "exec: "); ok {
		verb, args, _ := strings.Cut(rest, " ")
		switch verb {
		case "begin", "end", "nosys", "error", "instructions", "done":
			d.directive(s, verb, args)
			return
		}
	}
	d.kernel(s)
}

func (d *execDecoder) kernel(s string) {
	if ParseLine(s).Kind == Fatal {
		d.fatal = append(d.fatal, s)
	}
	d.tail = append(d.tail, s)
	if len(d.tail) > execLogTail {
		d.tail = d.tail[len(d.tail)-execLogTail:]
	}
	if d.onKernel != nil {
		d.onKernel(s)
	}
}

func (d *execDecoder) chunk(s, rest string) {
	fdText, b64, ok := strings.Cut(rest, " ")
	r := d.current
	if !ok || (fdText != "1" && fdText != "2") {
		d.problem(r, "malformed output line %q: want exec|<1 or 2> <base64>", shorten(s, 80))
		return
	}
	if r == nil {
		d.problem(nil, "output outside a run: %q", shorten(s, 80))
		return
	}
	data, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil {
		d.problem(r, "run %s: bad base64 in output line %q: %v", r.Name, shorten(s, 80), err)
		return
	}
	if len(data) > maxChunk {
		d.problem(r, "run %s: output line of %d bytes (at most %d)", r.Name, len(data), maxChunk)
	}
	fd := 1
	if fdText == "1" {
		r.Stdout = append(r.Stdout, data...)
	} else {
		fd = 2
		r.Stderr = append(r.Stderr, data...)
	}
	if d.onChunk != nil {
		d.onChunk(r, fd, data)
	}
}

var (
	execBeginRE = regexp.MustCompile(`^(\S+) level ([0-3])$`)
	execEndRE   = regexp.MustCompile(`^(\S+) level ([0-3]) status (\d{1,3})$`)
	execNosysRE = regexp.MustCompile(`^[A-Za-z0-9_]+=\d+$`)
)

func (d *execDecoder) directive(s, verb, args string) {
	malformed := func() { d.problem(d.current, "malformed line %q", shorten(s, 80)) }
	switch verb {
	case "begin":
		m := execBeginRE.FindStringSubmatch(args)
		if m == nil || !execCaseName.MatchString(m[1]) {
			malformed()
			return
		}
		if d.current != nil {
			d.problem(d.current, "run %s began before run %s ended", m[1], d.current.Name)
		}
		r := d.result(m[1])
		if r.Began {
			d.problem(r, "run %s began twice", r.Name)
		}
		r.Began = true
		r.Level, _ = strconv.Atoi(m[2])
		d.current = r
	case "end":
		m := execEndRE.FindStringSubmatch(args)
		status, _ := strconv.Atoi(m2(m))
		if m == nil || status > 255 {
			malformed()
			return
		}
		r := d.result(m[1])
		level, _ := strconv.Atoi(m[2])
		switch {
		case d.current != r:
			d.problem(r, "run %s ended without its begin line", r.Name)
		case r.Level != level:
			d.problem(r, "run %s began at level %d and ended at level %d", r.Name, r.Level, level)
		}
		if r.Ended {
			d.problem(r, "run %s ended twice", r.Name)
		}
		r.Ended, r.Status = true, status
		d.current = nil
	case "nosys":
		name, calls, _ := strings.Cut(args, " ")
		f := strings.Fields(calls)
		if !execCaseName.MatchString(name) || len(f) == 0 {
			malformed()
			return
		}
		for _, c := range f {
			if !execNosysRE.MatchString(c) {
				malformed()
				return
			}
		}
		r := d.result(name)
		r.Nosys = append(r.Nosys, f...)
		if d.onNosys != nil {
			d.onNosys(r, f)
		}
	case "error":
		name, msg, _ := strings.Cut(args, " ")
		if !execCaseName.MatchString(name) {
			malformed()
			return
		}
		r := d.result(name)
		r.Errors = append(r.Errors, msg)
		if d.onError != nil {
			d.onError(r, msg)
		}
	case "instructions":
		name, n, _ := strings.Cut(args, " ")
		v, err := strconv.ParseUint(n, 10, 64)
		if !execCaseName.MatchString(name) || err != nil {
			malformed()
			return
		}
		d.result(name).Instructions = v
	case "done":
		n, err := strconv.Atoi(args)
		if err != nil || n < 0 || d.done >= 0 {
			malformed()
			return
		}
		if d.current != nil {
			d.problem(d.current, "done while run %s has not ended", d.current.Name)
		}
		d.done = n
	}
}

// m2 is m[3] or "" (the status of an end line).
func m2(m []string) string {
	if len(m) < 4 {
		return ""
	}
	return m[3]
}

// shorten cuts s to at most n bytes for a message.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// nosysText is the stderr line for unimplemented system calls:
// "exec: unimplemented system calls: name (count), ...".
func nosysText(calls []string) string {
	var parts []string
	for _, c := range calls {
		n, count, _ := strings.Cut(c, "=")
		parts = append(parts, fmt.Sprintf("%s (%s)", n, count))
	}
	return "exec: unimplemented system calls: " + strings.Join(parts, ", ")
}

// execVerdict decides the exec command's status from a finished boot: the
// run's status, or 124 (timeout) or 125 (the kernel failed), with the
// reason for the latter two.
func execVerdict(d *execDecoder, name string, timedOut bool, emuErr error) (int, string) {
	r := d.results[name]
	switch {
	case timedOut:
		return execExitTimeout, "the time limit expired"
	case len(d.fatal) > 0:
		return execExitKernel, "the kernel failed: " + d.fatal[0]
	case len(d.problems) > 0:
		return execExitKernel, "bad exec protocol: " + d.problems[0]
	case r == nil || !r.Ended:
		why := "the boot ended without \"exec: end " + name + "\""
		if emuErr != nil {
			why += " (" + emuErr.Error() + ")"
		}
		return execExitKernel, why
	}
	return r.Status, ""
}

// stdinIsTerminal reports whether f is a terminal.
func stdinIsTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// mappings is a repeatable HOST:GUEST flag.
type mappings []string

func (m *mappings) String() string { return strings.Join(*m, ",") }
func (m *mappings) Set(s string) error {
	h, g, ok := strings.Cut(s, ":")
	if !ok || h == "" || !strings.HasPrefix(g, "/") {
		return errors.New("want HOST:GUEST with an absolute guest path")
	}
	*m = append(*m, s)
	return nil
}

// guestName is the archive name of guest path p.
func guestName(p string) string {
	return path.Join("root", path.Clean("/"+p))
}

// execProgram decides where PROGRAM runs from: its guest path and whether
// to copy the host file there (see execUsage).
func execProgram(a *archive, program string) (guest string, copyFrom string, err error) {
	st, statErr := os.Stat(program)
	if statErr != nil {
		if filepath.IsAbs(program) {
			return path.Clean(program), "", nil // a guest path
		}
		return "", "", statErr
	}
	if !st.Mode().IsRegular() {
		return "", "", fmt.Errorf("%s is not a regular file", program)
	}
	guest = "/" + filepath.Base(program)
	if filepath.IsAbs(program) {
		guest = path.Clean(filepath.ToSlash(program))
	}
	if a.has(guestName(guest)) {
		return guest, "", nil
	}
	return guest, program, nil
}

// envList is a repeatable KEY=VALUE flag.
type envList []string

func (e *envList) String() string { return strings.Join(*e, " ") }
func (e *envList) Set(s string) error {
	if k, _, ok := strings.Cut(s, "="); !ok || k == "" {
		return errors.New("want KEY=VALUE")
	}
	*e = append(*e, s)
	return nil
}

// execEnv is the default environment of an exec run, with sets applied.
func execEnv(sets []string) []string {
	env := []string{"PATH=/bin", "HOME=/"}
	for _, s := range sets {
		k, _, _ := strings.Cut(s, "=")
		env = slices.DeleteFunc(env, func(e string) bool { return strings.HasPrefix(e, k+"=") })
		env = append(env, s)
	}
	return env
}

func cmdExec(args []string) int {
	fs := flag.NewFlagSet("exec", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, execUsage)
		fs.PrintDefaults()
	}
	var c commonFlags
	fs.BoolVar(&c.noBuild, "nobuild", false, "do not run \"make -s build\" first")
	fs.StringVar(&c.kernel, "kernel", "", "boot this multiboot ELF instead of "+defaultKernel+" (implies -nobuild)")
	fs.BoolVar(&c.keep, "keep", false, "keep Bochs work directories")
	level := fs.Int("level", 0, "sandbox level 1-3; 0 = the best level this CPU offers for Linux programs (the kernel decides)")
	emu := fs.String("emu", string(QEMU), "emulator: qemu (TCG, -cpu max) or bochs (tigerlake)")
	cpuModel := fs.String("cpu", "", "CPU model (default max on QEMU, tigerlake on Bochs)")
	mem := fs.String("m", "512M", "emulator memory (QEMU -m syntax)")
	limit := fs.Int("limit", 0, "the program's memory limit in MiB (0: none)")
	cwd := fs.String("cwd", "/", "the program's working directory in the guest")
	timeout := fs.Duration("timeout", 120*time.Second, "time limit (status 124)")
	verbose := fs.Bool("v", false, "show the kernel's console lines on stderr")
	tty := fs.Bool("tty", false, "interactive: the program's standard streams are a terminal fed from the runner's stdin as it comes (QEMU only; make shell)")
	var files, dirs mappings
	var env envList
	fs.Var(&files, "file", "HOST:GUEST: put a host file at a guest path (repeatable)")
	fs.Var(&dirs, "dir", "HOST:GUEST: put a host tree (files, directories, symlinks) at a guest path, e.g. build/linuxroot:/ (repeatable)")
	fs.Var(&env, "env", "KEY=VALUE for the program's environment (repeatable; default PATH=/bin HOME=/)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() < 1 {
		fs.Usage()
		return exitUsage
	}
	if *level < 0 || *level > 3 {
		logf("exec: -level %d: want 0 to 3", *level)
		return exitUsage
	}
	b := Boot{
		Name:    "exec",
		Emu:     Emulator(*emu),
		CPU:     *cpuModel,
		Memory:  *mem,
		Append:  "exec",
		Timeout: *timeout,
		// Judged by the exec lines, not by a manifest.
		Expect:   ExpectFail,
		Patterns: []string{`^exec: done `},
	}
	if b.CPU == "" {
		b.CPU = "max"
		if b.Emu == Bochs {
			b.CPU = "tigerlake"
		}
	}
	if err := b.Validate(); err != nil {
		logf("exec: %v", err)
		return exitUsage
	}

	// The program's stdin first: a failed build should not leave it unread
	// by accident, and reading is cheap.
	var stdin []byte
	if f, ok := execStdin.(*os.File); !*tty && (!ok || !stdinIsTerminal(f)) {
		var err error
		if stdin, err = io.ReadAll(execStdin); err != nil {
			logf("exec: reading stdin: %v", err)
			return exitUsage
		}
	}

	root, err := findRoot()
	if err != nil {
		logf("exec: %v", err)
		return exitUsage
	}
	arc, err := execArchive(root)
	if err != nil {
		logf("exec: %v", err)
		return exitUsage
	}
	for _, d := range dirs {
		h, g, _ := strings.Cut(d, ":")
		if err := arc.addTree(guestName(g), h); err != nil {
			logf("exec: -dir %s: %v", d, err)
			return exitUsage
		}
	}
	for _, f := range files {
		h, g, _ := strings.Cut(f, ":")
		if err := arc.addFile(guestName(g), h); err != nil {
			logf("exec: -file %s: %v", f, err)
			return exitUsage
		}
	}
	arc.fixTmp()
	guest, copyFrom, err := execProgram(arc, fs.Arg(0))
	if err != nil {
		logf("exec: %v", err)
		return exitUsage
	}
	if copyFrom != "" {
		if err := arc.addFile(guestName(guest), copyFrom); err != nil {
			logf("exec: %v", err)
			return exitUsage
		}
	}
	cs := []execCase{{
		Name:   "exec",
		Level:  *level,
		Args:   append([]string{guest}, fs.Args()[1:]...),
		Env:    execEnv(env),
		Cwd:    *cwd,
		Memory: *limit,
		TTY:    *tty,
	}}
	if *cwd == "/" {
		cs[0].Cwd = ""
	}
	in := map[string][]byte{}
	if len(stdin) > 0 {
		in["exec"] = stdin
	}
	if err := arc.addCases(cs, in); err != nil {
		logf("exec: %v", err)
		return exitUsage
	}

	a, ok := setup(c)
	if !ok {
		return exitUsage
	}
	work, err := makeTempDir("beelzebox-exec-")
	if err != nil {
		logf("exec: %v", err)
		return exitUsage
	}
	defer removeTempDir(work)
	a.Initrd = filepath.Join(work, "exec.cpio")
	if err := arc.writeFile(a.Initrd); err != nil {
		logf("exec: initramfs: %v", err)
		return exitUsage
	}

	d := newExecDecoder()
	d.onChunk = func(_ *execResult, fd int, data []byte) {
		printMu.Lock()
		defer printMu.Unlock()
		if fd == 1 {
			execStdout.Write(data)
		} else {
			execStderr.Write(data)
		}
	}
	d.onNosys = func(_ *execResult, calls []string) { execStderrLine(nosysText(calls)) }
	d.onError = func(_ *execResult, msg string) { execStderrLine("exec: " + msg) }
	if *verbose {
		d.onKernel = execStderrLine
	}
	hook := func(line string) bool { d.line(line); return true }
	o := runOptions{keep: c.keep, lineHook: hook}
	if *tty {
		if b.Emu != QEMU {
			logf("exec: -tty needs QEMU (Bochs takes no console input here)")
			return exitUsage
		}
		// Through a pipe, not the terminal itself: QEMU would set a
		// terminal's modes and take Ctrl-C for itself.
		o.stdin = struct{ io.Reader }{execStdin}
		if f, ok := execStdin.(*os.File); ok && stdinIsTerminal(f) {
			// Keystrokes go to the guest as typed; its terminal echoes.
			restore := rawTerminal(f)
			defer restore()
		}
	}
	r := runBoot(b, a, o)
	if r.Outcome.Err != nil && !r.Outcome.TimedOut {
		if _, ok := d.results["exec"]; !ok {
			logf("exec: emulator: %v", r.Outcome.Err)
			return exitUsage
		}
	}
	status, why := execVerdict(d, "exec", r.Outcome.TimedOut, r.Outcome.Err)
	if why != "" {
		if status == execExitKernel && !*verbose {
			for _, l := range d.tail {
				execStderrLine(l)
			}
		}
		logf("exec: %s (status %d)", why, status)
	}
	return status
}

// execStderrLine writes one line to stderr, whole.
func execStderrLine(s string) {
	printMu.Lock()
	defer printMu.Unlock()
	fmt.Fprintln(execStderr, s)
}

// The exec command's standard files; tests replace them.
var (
	execStdin  io.Reader = os.Stdin
	execStdout io.Writer = os.Stdout
	execStderr io.Writer = os.Stderr
)

// rawTerminal turns off the line editing, echo and signal keys of the
// runner's terminal, so that keystrokes reach the guest's own line
// discipline as typed (output processing stays on), and returns what
// puts the terminal back.
func rawTerminal(f *os.File) func() {
	saved, err := exec.Command("stty", "-F", f.Name(), "-g").Output()
	if err != nil {
		return func() {}
	}
	exec.Command("stty", "-F", f.Name(), "-icanon", "-echo", "-isig", "min", "1").Run()
	return func() { exec.Command("stty", "-F", f.Name(), strings.TrimSpace(string(saved))).Run() }
}
