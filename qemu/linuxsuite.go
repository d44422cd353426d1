package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The linux command is the differential suite of Linux programs:
//
//	go run ./qemu linux [-emu qemu|bochs] [-levels 1,2,3] [-run REGEXP] [-nobuild]
//
// Every case of tests/linux/cases.txt runs twice: natively on the build
// machine, chrooted into a copy of build/linuxroot (make linux-guests)
// with an empty /tmp of its own, and in beelzebox, at each level, all in
// one boot (kernel command line "exec", see exec.go). Stdout, stderr and
// the exit status must be the same byte for byte.

const linuxUsage = `usage: go run ./qemu linux [flags]

The Linux programs suite: every case of tests/linux/cases.txt runs natively
(chrooted into a hard-link copy of build/linuxroot, an empty /tmp of its
own; needs root) and in beelzebox at each level of -levels, all in one boot
(kernel command line "exec"). Stdout, stderr and the exit status must agree
byte for byte. One line per case and level on stdout:

  ok    l1 busybox/echo
  FAIL  l2 musl/files: stdout differs at byte 12 (line 2; ...): native "...", beelzebox "..."
  known l3 glibc/hello-dynamic: <the case's xdiff note>: <the difference>

then a summary on stderr; the status is 1 if any run failed or the boot
did. Unless -nobuild, "make -s linux-guests" and "make -s build" run first.
-native runs the cases natively only and prints what they give (for writing
cases without a kernel).

Flags:
`

const (
	linuxRootDir   = "build/linuxroot"
	linuxCasesFile = "tests/linux/cases.txt"
	// nativeTimeout bounds one native run.
	nativeTimeout = 30 * time.Second
)

// linuxDefaultEnv is every case's environment before its env lines.
var linuxDefaultEnv = []string{"PATH=/bin", "HOME=/", "LC_ALL=C"}

// linuxCase is one case of the suite.
type linuxCase struct {
	Name   string
	Line   int // in the cases file
	Args   []string
	Env    []string
	Cwd    string // "" = "/"
	Stdin  []byte // nil: empty stdin
	Levels []int  // nil: every level of the run
	// Xdiff, if set, says why beelzebox is expected to differ: a
	// difference is then reported but is not a failure, at the levels
	// XdiffLevels names (nil: every level).
	Xdiff       string
	XdiffLevels []int
}

// splitWords splits a line into words: a word is a Go-quoted string
// ("..." or `...`) or a run of characters other than blanks.
func splitWords(s string) ([]string, error) {
	var out []string
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return out, nil
		}
		if s[0] == '"' || s[0] == '`' {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return nil, fmt.Errorf("bad quoted string at %s", shorten(s, 30))
			}
			w, err := strconv.Unquote(q)
			if err != nil {
				return nil, err
			}
			out = append(out, w)
			s = s[len(q):]
			if s != "" && s[0] != ' ' && s[0] != '\t' {
				return nil, fmt.Errorf("text right after a quoted string: %s", shorten(s, 30))
			}
			continue
		}
		i := strings.IndexAny(s, " \t")
		if i < 0 {
			i = len(s)
		}
		w := s[:i]
		if strings.ContainsAny(w, "\"`") {
			return nil, fmt.Errorf("quote inside a bare word %s (quote the whole word)", w)
		}
		out = append(out, w)
		s = s[i:]
	}
}

// parseLinuxCases reads the suite's cases file:
//
//	# a comment
//	case NAME                 starts a case ([A-Za-z0-9._/-]+, unique)
//	run WORD...               argv (argv[0] a guest path; no PATH search)
//	stdin WORD                the stdin bytes (default: empty)
//	env WORD...               KEY=value, added to PATH=/bin HOME=/ LC_ALL=C
//	cwd WORD                  working directory (default /)
//	levels N[,N]...           only these levels (default: all of the run)
//	xdiff WORD                beelzebox is expected to differ, and why
//	xdiff-levels N[,N]...     ... at these levels only (default: all)
//
// A WORD is a Go-quoted string ("a\n" or `raw`) or text without blanks.
func parseLinuxCases(data []byte) ([]linuxCase, error) {
	var out []linuxCase
	seen := map[string]bool{}
	var cur *linuxCase
	finish := func() error {
		if cur == nil {
			return nil
		}
		if len(cur.Args) == 0 {
			return fmt.Errorf("line %d: case %s has no run line", cur.Line, cur.Name)
		}
		out = append(out, *cur)
		cur = nil
		return nil
	}
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		word, rest, _ := strings.Cut(line, " ")
		words, err := splitWords(rest)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		one := func() (string, error) {
			if len(words) != 1 {
				return "", fmt.Errorf("line %d: %s takes one word", n, word)
			}
			return words[0], nil
		}
		if word == "case" {
			if err := finish(); err != nil {
				return nil, err
			}
			name, err := one()
			if err != nil {
				return nil, err
			}
			if !execCaseName.MatchString(name) || seen[name] {
				return nil, fmt.Errorf("line %d: bad or repeated case name %q", n, name)
			}
			seen[name] = true
			cur = &linuxCase{Name: name, Line: n, Env: slices.Clone(linuxDefaultEnv)}
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("line %d: %s before the first case", n, word)
		}
		switch word {
		case "run":
			if cur.Args != nil || len(words) == 0 {
				return nil, fmt.Errorf("line %d: one run line with a program", n)
			}
			cur.Args = words
		case "stdin":
			s, err := one()
			if err != nil {
				return nil, err
			}
			cur.Stdin = []byte(s)
		case "env":
			for _, w := range words {
				k, _, ok := strings.Cut(w, "=")
				if !ok || k == "" {
					return nil, fmt.Errorf("line %d: env %q: want KEY=value", n, w)
				}
				cur.Env = slices.DeleteFunc(cur.Env, func(e string) bool { return strings.HasPrefix(e, k+"=") })
				cur.Env = append(cur.Env, w)
			}
		case "cwd":
			if cur.Cwd, err = one(); err != nil {
				return nil, err
			}
			if !strings.HasPrefix(cur.Cwd, "/") {
				return nil, fmt.Errorf("line %d: cwd must be absolute", n)
			}
		case "levels":
			s, err := one()
			if err != nil {
				return nil, err
			}
			if cur.Levels, err = parseLevels(s); err != nil {
				return nil, fmt.Errorf("line %d: %v", n, err)
			}
		case "xdiff":
			if cur.Xdiff, err = one(); err != nil {
				return nil, err
			}
		case "xdiff-levels":
			s, err := one()
			if err != nil {
				return nil, err
			}
			if cur.XdiffLevels, err = parseLevels(s); err != nil {
				return nil, fmt.Errorf("line %d: %v", n, err)
			}
		default:
			return nil, fmt.Errorf("line %d: unknown directive %q", n, word)
		}
	}
	if err := finish(); err != nil {
		return nil, err
	}
	return out, nil
}

// parseLevels reads "1,2,3".
func parseLevels(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		l, err := strconv.Atoi(f)
		if err != nil || l < 1 || l > 3 || slices.Contains(out, l) {
			return nil, fmt.Errorf("levels %q: want distinct levels 1 to 3, comma-separated", s)
		}
		out = append(out, l)
	}
	return out, nil
}

// runResult is what one run of a program gave.
type runResult struct {
	Stdout, Stderr []byte
	Status         int
	Note           string // how a native run failed to start, or a guest's errors
}

// makeFarm fills dir (empty, on the same file system as src) with src's
// tree: directories, hard links to its files, copies of its symlinks. A
// case that removes or renames files then changes nothing in src.
func makeFarm(src, dir string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		dest := filepath.Join(dir, rel)
		switch {
		case d.IsDir():
			if rel == "." {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if err := os.Mkdir(dest, 0o755); err != nil {
				return err
			}
			return os.Chmod(dest, info.Mode().Perm())
		case d.Type()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(t, dest)
		case d.Type().IsRegular():
			return os.Link(p, dest)
		}
		return fmt.Errorf("%s: not a regular file, directory or symlink", p)
	})
}

// freshTmp replaces root/tmp with an empty directory, mode 1777.
func freshTmp(root string) error {
	t := filepath.Join(root, "tmp")
	if err := os.RemoveAll(t); err != nil {
		return err
	}
	if err := os.Mkdir(t, 0o755); err != nil {
		return err
	}
	return os.Chmod(t, 0o777|fs.ModeSticky)
}

// runNative runs c chrooted into root (which needs root privileges), with
// exactly c's environment, argv and stdin, and a fresh /tmp. Statuses are
// the contract's: 128+n for a signal, 126/127 for a program that could not
// be started, 124 for the time limit.
func runNative(root string, c linuxCase, timeout time.Duration) runResult {
	if err := freshTmp(root); err != nil {
		return runResult{Status: 125, Note: err.Error()}
	}
	var out, errb bytes.Buffer
	cwd := c.Cwd
	if cwd == "" {
		cwd = "/"
	}
	cmd := &exec.Cmd{
		Path:        c.Args[0],
		Args:        c.Args,
		Env:         slices.Clone(c.Env),
		Dir:         cwd,
		Stdin:       bytes.NewReader(c.Stdin),
		Stdout:      &out,
		Stderr:      &errb,
		SysProcAttr: &syscall.SysProcAttr{Chroot: root, Setpgid: true},
	}
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	if err := cmd.Start(); err != nil {
		status := 126
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENOTDIR) {
			status = 127
		}
		return runResult{Status: status, Note: err.Error()}
	}
	pid := cmd.Process.Pid
	timer := time.AfterFunc(timeout, func() { _ = syscall.Kill(-pid, syscall.SIGKILL) })
	_ = cmd.Wait()
	expired := !timer.Stop()
	// Whatever the program left running in its group goes too.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	r := runResult{Stdout: out.Bytes(), Stderr: errb.Bytes()}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case expired:
		r.Status, r.Note = 124, "time limit"
	case ws.Signaled():
		r.Status = 128 + int(ws.Signal())
	default:
		r.Status = ws.ExitStatus()
	}
	return r
}

// noCoreDumps stops native runs that die of a signal from writing core
// files (the limit is inherited by every child).
func noCoreDumps() {
	_ = unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
}

// nativeFarm makes a hard-link copy of linuxroot under build/ for native
// runs; the caller removes it with removeTempDir.
func nativeFarm(root string) (string, error) {
	src := filepath.Join(root, linuxRootDir)
	if st, err := os.Stat(filepath.Join(src, "bin")); err != nil || !st.IsDir() {
		return "", fmt.Errorf("%s has no bin directory: run make linux-guests", src)
	}
	dir, err := os.MkdirTemp(filepath.Join(root, "build"), "linuxnative-")
	if err != nil {
		return "", err
	}
	live.Lock()
	if live.dirs == nil {
		live.dirs = map[string]bool{}
	}
	live.dirs[dir] = true
	live.Unlock()
	if err := os.Chmod(dir, 0o755); err != nil {
		removeTempDir(dir)
		return "", err
	}
	if err := makeFarm(src, dir); err != nil {
		removeTempDir(dir)
		return "", err
	}
	// The guest has /dev/null (busybox sh gives it to background jobs);
	// so does the native root.
	if err := os.MkdirAll(filepath.Join(dir, "dev"), 0o755); err != nil {
		removeTempDir(dir)
		return "", err
	}
	if err := syscall.Mknod(filepath.Join(dir, "dev", "null"), syscall.S_IFCHR|0o666, 1<<8|3); err != nil && !os.IsExist(err) {
		removeTempDir(dir)
		return "", fmt.Errorf("%s: /dev/null: %v", dir, err)
	}
	return dir, nil
}

// guestCaseName is the exec/cases name of case name at level l.
func guestCaseName(l int, name string) string { return fmt.Sprintf("l%d/%s", l, name) }

// linuxGuestCases is the exec/cases list for cs at levels: level by level,
// each case at each of its levels, and the stdin of each.
func linuxGuestCases(cs []linuxCase, levels []int) ([]execCase, map[string][]byte) {
	var out []execCase
	stdin := map[string][]byte{}
	for _, l := range levels {
		for _, c := range cs {
			if c.Levels != nil && !slices.Contains(c.Levels, l) {
				continue
			}
			name := guestCaseName(l, c.Name)
			out = append(out, execCase{Name: name, Level: l, Args: c.Args, Env: c.Env, Cwd: c.Cwd})
			if len(c.Stdin) > 0 {
				stdin[name] = c.Stdin
			}
		}
	}
	return out, stdin
}

// firstDifference describes where two outputs first differ, or "".
func firstDifference(what string, native, guest []byte) string {
	if bytes.Equal(native, guest) {
		return ""
	}
	i := 0
	for i < len(native) && i < len(guest) && native[i] == guest[i] {
		i++
	}
	lineNo := 1 + bytes.Count(native[:i], []byte("\n"))
	start := bytes.LastIndexByte(native[:i], '\n') + 1
	excerpt := func(b []byte) string {
		end := len(b)
		if j := bytes.IndexByte(b[min(start, len(b)):], '\n'); j >= 0 {
			end = min(start, len(b)) + j + 1
		}
		s := b[min(start, len(b)):end]
		if len(s) > 72 {
			s = append(slices.Clone(s[:72]), "..."...)
		}
		return strconv.Quote(string(s))
	}
	return fmt.Sprintf("%s differs at byte %d (line %d; native %d bytes, beelzebox %d): native %s, beelzebox %s",
		what, i, lineNo, len(native), len(guest), excerpt(native), excerpt(guest))
}

// compareRuns returns the first difference between a native and a guest
// run, or "".
func compareRuns(native, guest runResult) string {
	if native.Status != guest.Status {
		return fmt.Sprintf("status: native %d, beelzebox %d", native.Status, guest.Status)
	}
	if d := firstDifference("stdout", native.Stdout, guest.Stdout); d != "" {
		return d
	}
	return firstDifference("stderr", native.Stderr, guest.Stderr)
}

// linuxOptions choose a run of the suite.
type linuxOptions struct {
	Emu     Emulator
	CPU     string
	Memory  string
	Levels  []int
	Run     string // regexp over case names; "" = all
	Timeout time.Duration
	Verbose bool
	Keep    bool
	Cases   string // the cases file; "" = tests/linux/cases.txt
}

// linuxTally counts the verdicts of a suite run.
type linuxTally struct {
	ok, known, failed int
}

// runLinuxSuite runs the suite on the artefacts a (kernel built) and
// reports whether every case passed.
func runLinuxSuite(a Artefacts, o linuxOptions) bool {
	file := o.Cases
	if file == "" {
		file = filepath.Join(a.Root, linuxCasesFile)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		logf("linux: %v", err)
		return false
	}
	cs, err := parseLinuxCases(data)
	if err != nil {
		logf("linux: %s: %v", file, err)
		return false
	}
	if o.Run != "" {
		re, err := regexp.Compile(o.Run)
		if err != nil {
			logf("linux: -run: %v", err)
			return false
		}
		cs = slices.DeleteFunc(cs, func(c linuxCase) bool { return !re.MatchString(c.Name) })
	}
	if len(cs) == 0 {
		logf("linux: no cases selected")
		return false
	}

	// Native runs.
	if os.Geteuid() != 0 {
		logf("linux: native runs chroot into %s and need root", linuxRootDir)
		return false
	}
	farm, err := nativeFarm(a.Root)
	if err != nil {
		logf("linux: %v", err)
		return false
	}
	noCoreDumps()
	native := map[string]runResult{}
	start := time.Now()
	for _, c := range cs {
		native[c.Name] = runNative(farm, c, nativeTimeout)
	}
	removeTempDir(farm)
	logf("linux: %d cases run natively in %.1fs", len(cs), time.Since(start).Seconds())

	// One boot for every case at every level.
	levels := o.Levels
	if len(levels) == 0 {
		levels = []int{1, 2, 3}
	}
	arc, err := execArchive(a.Root)
	if err == nil {
		err = arc.addTree("root", filepath.Join(a.Root, linuxRootDir))
	}
	guestCases, stdin := linuxGuestCases(cs, levels)
	if err == nil {
		arc.fixTmp()
		err = arc.addCases(guestCases, stdin)
	}
	if err != nil {
		logf("linux: initramfs: %v", err)
		return false
	}
	work, err := makeTempDir("beelzebox-linux-")
	if err != nil {
		logf("linux: %v", err)
		return false
	}
	defer removeTempDir(work)
	a.Initrd = filepath.Join(work, "linux.cpio")
	if err := arc.writeFile(a.Initrd); err != nil {
		logf("linux: initramfs: %v", err)
		return false
	}
	b := Boot{
		Name:     "linux-" + string(o.Emu),
		Emu:      o.Emu,
		CPU:      o.CPU,
		Memory:   o.Memory,
		Append:   "exec",
		Timeout:  o.Timeout,
		Expect:   ExpectFail, // judged here, by the exec lines
		Patterns: []string{`^exec: done `},
	}
	if b.CPU == "" {
		b.CPU = "max"
		if b.Emu == Bochs {
			b.CPU = "tigerlake"
		}
	}
	if b.Memory == "" {
		b.Memory = "1G"
	}
	if err := b.Validate(); err != nil {
		logf("linux: %v", err)
		return false
	}
	announce(b, fmt.Sprintf(" (%d cases x levels %v = %d runs)", len(cs), levels, len(guestCases)))
	d := newExecDecoder()
	if o.Verbose {
		d.onKernel = execStderrLine
	}
	r := runBoot(b, a, runOptions{keep: o.Keep, lineHook: func(l string) bool { d.line(l); return true }})

	// Verdicts, case by case and level by level.
	var t linuxTally
	for _, gc := range guestCases {
		lvl := gc.Level
		name := strings.TrimPrefix(gc.Name, fmt.Sprintf("l%d/", lvl))
		c := cs[slices.IndexFunc(cs, func(c linuxCase) bool { return c.Name == name })]
		verdict, why := judgeLinuxRun(c, lvl, native[name], d.results[gc.Name])
		switch verdict {
		case "ok":
			t.ok++
		case "known":
			t.known++
		default:
			t.failed++
		}
		line := fmt.Sprintf("%-5s l%d %s", verdict, lvl, name)
		if why != "" {
			line += ": " + why
		}
		if res := d.results[gc.Name]; res != nil && len(res.Nosys) > 0 {
			line += " [nosys " + strings.Join(res.Nosys, " ") + "]"
		}
		printMu.Lock()
		fmt.Fprintln(execStdout, line)
		printMu.Unlock()
	}
	bootOK := true
	var problems []string
	switch {
	case r.Outcome.TimedOut:
		problems = append(problems, fmt.Sprintf("the time limit of %v expired", b.timeout()))
	case r.Outcome.Err != nil:
		problems = append(problems, "emulator: "+r.Outcome.Err.Error())
	}
	problems = append(problems, d.fatal...)
	problems = append(problems, d.problems...)
	switch {
	case d.done < 0:
		problems = append(problems, "no \"exec: done\" line")
	case d.done != len(guestCases):
		problems = append(problems, fmt.Sprintf("exec: done %d, want %d", d.done, len(guestCases)))
	}
	if len(problems) > 0 {
		bootOK = false
		for _, l := range d.tail {
			execStderrLine(l)
		}
		for _, p := range problems {
			logf("linux %s: %s", o.Emu, p)
		}
	}
	logf("linux %s: %d runs in %.1fs: %d ok, %d known differences, %d failed%s", o.Emu, len(guestCases), r.Elapsed.Seconds(),
		t.ok, t.known, t.failed, map[bool]string{true: "", false: "; the boot failed"}[bootOK])
	return bootOK && t.failed == 0
}

// judgeLinuxRun compares one guest run with the native one: "ok",
// "known" (a difference the case expects) or "FAIL", and why.
func judgeLinuxRun(c linuxCase, level int, native runResult, res *execResult) (string, string) {
	if res == nil || !res.Ended {
		why := "no \"exec: end\" for this run"
		if res != nil && len(res.Errors) > 0 {
			why += "; exec: error " + strings.Join(res.Errors, "; ")
		}
		return "FAIL", why
	}
	if len(res.Problems) > 0 {
		return "FAIL", res.Problems[0]
	}
	if res.Level != level {
		return "FAIL", fmt.Sprintf("ran at level %d", res.Level)
	}
	guest := runResult{Stdout: res.Stdout, Stderr: res.Stderr, Status: res.Status}
	diff := compareRuns(native, guest)
	if diff != "" && len(res.Errors) > 0 {
		diff += "; exec: error " + strings.Join(res.Errors, "; ")
	}
	if diff != "" && native.Note != "" {
		diff += "; native: " + native.Note
	}
	expected := c.Xdiff != "" && (c.XdiffLevels == nil || slices.Contains(c.XdiffLevels, level))
	switch {
	case diff == "" && expected:
		// A note that no longer holds hides the next regression.
		return "FAIL", "marked xdiff (" + c.Xdiff + ") but agrees with Linux: remove the note, or name its levels"
	case diff == "":
		return "ok", ""
	case expected:
		return "known", c.Xdiff + ": " + diff
	}
	return "FAIL", diff
}

// cmdLinux is the linux subcommand.
func cmdLinux(args []string) int {
	fs := flag.NewFlagSet("linux", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, linuxUsage)
		fs.PrintDefaults()
	}
	var c commonFlags
	fs.BoolVar(&c.noBuild, "nobuild", false, "do not run \"make -s build linux-guests\" first")
	fs.StringVar(&c.kernel, "kernel", "", "boot this multiboot ELF instead of "+defaultKernel+" (implies -nobuild)")
	fs.BoolVar(&c.keep, "keep", false, "keep Bochs work directories")
	emu := fs.String("emu", string(QEMU), "emulator: qemu or bochs")
	cpuModel := fs.String("cpu", "", "CPU model (default max on QEMU, tigerlake on Bochs)")
	mem := fs.String("m", "1G", "emulator memory")
	levels := fs.String("levels", "1,2,3", "levels to run every case at")
	run := fs.String("run", "", "only the cases whose names match this regexp")
	timeout := fs.Duration("timeout", 0, "time limit of the boot (default 6m on QEMU, 40m on Bochs)")
	verbose := fs.Bool("v", false, "show the kernel's console lines on stderr")
	nativeOnly := fs.Bool("native", false, "only run the cases natively and print what they give")
	cases := fs.String("cases", "", "cases file (default "+linuxCasesFile+")")
	if !parse(fs, args) {
		return exitUsage
	}
	lv, err := parseLevels(*levels)
	if err != nil {
		logf("linux: -levels: %v", err)
		return exitUsage
	}
	root, err := findRoot()
	if err != nil {
		logf("linux: %v", err)
		return exitUsage
	}
	if *cases != "" {
		*cases, _ = filepath.Abs(*cases)
	}
	if !c.noBuild && c.kernel == "" {
		cmd := exec.Command("make", "-s", "linux-guests")
		cmd.Dir = root
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			logf("linux: make -s linux-guests: %v", err)
			return exitUsage
		}
	}
	if *nativeOnly {
		return linuxNativeOnly(root, *cases, *run)
	}
	o := linuxOptions{Emu: Emulator(*emu), CPU: *cpuModel, Memory: *mem, Levels: lv, Run: *run,
		Timeout: *timeout, Verbose: *verbose, Keep: c.keep, Cases: *cases}
	if o.Timeout == 0 {
		o.Timeout = linuxTimeout(o.Emu)
	}
	a, ok := setup(c)
	if !ok {
		return exitUsage
	}
	if !runLinuxSuite(a, o) {
		return exitFailed
	}
	return exitOK
}

// linuxTimeout is the suite's default time limit on emu.
func linuxTimeout(emu Emulator) time.Duration {
	if emu == Bochs {
		return 40 * time.Minute
	}
	return 6 * time.Minute
}

// linuxNativeOnly runs the cases natively and prints each result, to
// write and check cases without a kernel.
func linuxNativeOnly(root, file, run string) int {
	if file == "" {
		file = filepath.Join(root, linuxCasesFile)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		logf("linux: %v", err)
		return exitUsage
	}
	cs, err := parseLinuxCases(data)
	if err != nil {
		logf("linux: %s: %v", file, err)
		return exitUsage
	}
	re, err := regexp.Compile(run)
	if err != nil {
		logf("linux: -run: %v", err)
		return exitUsage
	}
	farm, err := nativeFarm(root)
	if err != nil {
		logf("linux: %v", err)
		return exitUsage
	}
	defer removeTempDir(farm)
	noCoreDumps()
	for _, c := range cs {
		if !re.MatchString(c.Name) {
			continue
		}
		r := runNative(farm, c, nativeTimeout)
		fmt.Printf("=== %s %q: status %d %s\n", c.Name, c.Args, r.Status, r.Note)
		fmt.Printf("stdout %q\nstderr %q\n", shorten(string(r.Stdout), 400), shorten(string(r.Stderr), 400))
	}
	return exitOK
}

// linuxSuiteWithGuests builds build/linuxroot (make -s linux-guests) and
// runs the suite: the test command's hook (linuxSuiteInTest).
func linuxSuiteWithGuests(a Artefacts, o linuxOptions) bool {
	cmd := exec.Command("make", "-s", "linux-guests")
	cmd.Dir = a.Root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		logf("linux: make -s linux-guests: %v", err)
		return false
	}
	return runLinuxSuite(a, o)
}
