package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// printMu keeps whole lines, and whole held-back blocks, from interleaving
// on the terminal.
var printMu sync.Mutex

// logf prints a runner message on stderr. Stdout carries only console and
// bench lines, so it can be piped into other tools.
func logf(format string, args ...any) {
	printMu.Lock()
	defer printMu.Unlock()
	fmt.Fprintf(os.Stderr, "runner: "+format+"\n", args...)
}

type logEntry struct {
	stderr bool
	text   string
}

// bootLog is where one boot's output goes: straight to the terminal when the
// boot runs alone (live), or held back and printed as one block when boots
// run in parallel, so that the lines of two consoles do not interleave.
type bootLog struct {
	live    bool
	mu      sync.Mutex
	entries []logEntry
}

func (l *bootLog) write(e logEntry) {
	if l.live {
		printMu.Lock()
		defer printMu.Unlock()
		printEntry(e)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, e)
}

func printEntry(e logEntry) {
	w := os.Stdout
	if e.stderr {
		w = os.Stderr
	}
	fmt.Fprintln(w, e.text)
}

// console writes one console line to stdout.
func (l *bootLog) console(text string) { l.write(logEntry{false, text}) }

// notef writes a runner or emulator message to stderr.
func (l *bootLog) notef(format string, args ...any) {
	l.write(logEntry{true, fmt.Sprintf(format, args...)})
}

// flush prints the held-back lines as one block.
func (l *bootLog) flush() {
	l.mu.Lock()
	entries := l.entries
	l.entries = nil
	l.mu.Unlock()
	printMu.Lock()
	defer printMu.Unlock()
	for _, e := range entries {
		printEntry(e)
	}
}

// console joins a boot's console streams (stdout, port 0xE9, COM1) into
// one sequence of lines for the checker and the log.
type console struct {
	mu      sync.Mutex
	checker *Checker
	log     *bootLog
	lines   int
	hook    func(string) bool // runOptions.lineHook
}

func (c *console) line(text string) {
	text = strings.TrimRight(text, "\r\n")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines++
	c.checker.Observe(text)
	if c.hook != nil && c.hook(text) {
		return
	}
	c.log.console(text)
}

// runOptions are the per-run choices that are not part of a Boot.
type runOptions struct {
	live      bool   // stream to the terminal as it happens
	keep      bool   // keep Bochs work directories
	gdb       string // QEMU: listen for gdb here and wait for it
	trace     string // QEMU: log translated and executed blocks here (profile)
	noTimeout bool   // run until the emulator exits (run, debug)
	// lineHook, if set, sees every console line first; true means it
	// printed the line itself (vm).
	lineHook func(string) bool
	// stdin, if set, feeds QEMU's serial input (exec -tty).
	stdin io.Reader
}

// BootResult is one finished boot.
type BootResult struct {
	Boot    Boot
	Outcome Outcome
	Verdict Verdict
	Bench   []BenchResult
	Elapsed time.Duration
	// Observed is the manifest the run itself would have (see
	// Checker.Observed); ObservedErr says why there is none.
	Observed    *Manifest
	ObservedErr error
	log         *bootLog
}

// runBoot boots b once and judges it.
func runBoot(b Boot, a Artefacts, o runOptions) BootResult {
	r := BootResult{Boot: b, log: &bootLog{live: o.live}}
	fail := func(err error) BootResult {
		r.Outcome = Outcome{Emu: b.Emu, Err: err}
		r.Verdict = Verdict{Problems: []string{err.Error()}}
		return r
	}
	var manifest *Manifest
	if b.Expect == ExpectPass {
		var err error
		if manifest, err = loadManifest(b.Name); err != nil {
			return fail(err)
		}
	}
	checker, err := NewChecker(b, manifest)
	if err != nil {
		return fail(err)
	}
	con := &console{checker: checker, log: r.log, hook: o.lineHook}
	timeout := b.timeout()
	if o.noTimeout {
		timeout = 0
	}
	start := time.Now()
	var diag []string
	if b.Emu.IsQEMU() {
		r.Outcome = runQEMU(b, a, o, timeout, con)
	} else {
		r.Outcome, diag = runBochs(b, a, o, timeout, con)
	}
	r.Outcome.Timeout = timeout
	r.Elapsed = time.Since(start)
	r.Verdict = checker.Verdict(r.Outcome)
	r.Bench = checker.Bench()
	r.Observed, r.ObservedErr = checker.Observed(r.Outcome)
	if !r.Verdict.OK {
		for _, d := range diag {
			r.log.notef("%s", d)
		}
	}
	return r
}

// announce prints the line that starts a boot.
func announce(b Boot, extra string) {
	printMu.Lock()
	defer printMu.Unlock()
	fmt.Fprintf(os.Stderr, "=== RUN %s%s: %s\n", b.Name, extra, b.Describe())
}

// report writes the verdict lines for r into its log.
func (r BootResult) report() {
	word := "PASS"
	if !r.Verdict.OK {
		word = "FAIL"
	}
	summary := r.Verdict.Summary()
	if r.Boot.Expect == ExpectFail && r.Verdict.OK {
		summary = "failed as expected: " + summary
		if r.Boot.Emu.IsQEMU() {
			summary += " (" + describeQEMUStatus(r.Outcome.Status) + ")"
		}
	}
	r.log.notef("--- %s %s (%s, %.1fs): %s", word, r.Boot.Name, r.Boot.Describe(), r.Elapsed.Seconds(), summary)
	if len(r.Verdict.Problems) > 1 {
		r.log.notef("%s", strings.TrimRight(joinProblems(r.Verdict.Problems), "\n"))
	}
	if r.Verdict.Unlisted {
		r.log.notef("runner: %s has no manifest (%s/%s.txt): its tests were not checked against a list; -manifest NAME judges it as that table boot",
			r.Boot.Name, manifestDir, r.Boot.Name)
	}
}

// lineStream is one pipe of emulator output, read line by line.
type lineStream struct {
	r      *os.File
	handle func(string)
}

// emuProcess is an emulator command with the pipes the runner reads.
type emuProcess struct {
	cmd *exec.Cmd
	// closeAfterStart are the child's ends of the pipes; the runner must
	// close its copies or it never sees end of file.
	closeAfterStart []*os.File
	streams         []lineStream
}

// readGrace is how long the runner waits, after the emulator exits, for
// its pipes to drain before it gives up on them.
const readGrace = 3 * time.Second

// run starts the process in its own group, feeds the streams until end of
// file, and enforces the time limit (0 = none) by killing the whole tree.
// status is the exit status, -1 if the process was killed by a signal.
func (p *emuProcess) run(timeout time.Duration) (status int, timedOut bool, err error) {
	closeAll := func(fs []*os.File) {
		for _, f := range fs {
			f.Close()
		}
	}
	defer func() {
		for _, s := range p.streams {
			s.r.Close()
		}
	}()
	if err := startGroup(p.cmd); err != nil {
		closeAll(p.closeAfterStart)
		return -1, false, err
	}
	closeAll(p.closeAfterStart)
	pid := p.cmd.Process.Pid

	var readers sync.WaitGroup
	for _, s := range p.streams {
		readers.Add(1)
		go func() {
			defer readers.Done()
			readLines(s.r, s.handle)
		}()
	}

	var expired atomic.Bool
	var timer *time.Timer
	if timeout > 0 {
		timer = time.AfterFunc(timeout, func() {
			expired.Store(true)
			killTree(pid)
		})
	}
	waitErr := p.cmd.Wait()
	if timer != nil {
		timer.Stop()
	}
	forget(pid)

	drained := make(chan struct{})
	go func() { readers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(readGrace):
		// Something outside the process still holds a pipe; stop reading.
		for _, s := range p.streams {
			s.r.Close()
		}
		<-drained
	}

	status = p.cmd.ProcessState.ExitCode()
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) {
		return status, expired.Load(), waitErr
	}
	return status, expired.Load(), nil
}

// readLines calls handle for every line of r, including a last line
// without a newline.
func readLines(r io.Reader, handle func(string)) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		s, err := br.ReadString('\n')
		if s != "" {
			handle(strings.TrimRight(s, "\r\n"))
		}
		if err != nil {
			return
		}
	}
}

// pipes makes n pipes and returns read ends and write ends.
func pipes(n int) (rs, ws []*os.File, err error) {
	for range n {
		r, w, err := os.Pipe()
		if err != nil {
			for _, f := range append(rs, ws...) {
				f.Close()
			}
			return nil, nil, err
		}
		rs, ws = append(rs, r), append(ws, w)
	}
	return rs, ws, nil
}

// runQEMU runs one QEMU boot. The console is QEMU's stdout (COM1, or port
// 0xE9 with console=e9; COM1 then goes to a file that is read after QEMU
// exits). QEMU's own messages (stderr) are passed on as notes.
func runQEMU(b Boot, a Artefacts, o runOptions, timeout time.Duration, con *console) Outcome {
	out := Outcome{Emu: b.Emu, Status: -1}
	var com1, dir string
	var qo qemuOptions
	if b.usesE9() && o.gdb == "" || b.Firmware.BootsISO() {
		var err error
		if dir, err = makeTempDir("beelzebox-qemu-"); err != nil {
			out.Err = err
			return out
		}
		defer func() {
			if o.keep {
				con.log.notef("runner: qemu files kept in %s", dir)
				return
			}
			removeTempDir(dir)
		}()
	}
	if b.usesE9() && o.gdb == "" {
		com1 = filepath.Join(dir, "com1.txt")
	}
	consoleLine := con.line
	if b.Firmware.BootsISO() {
		var err error
		if qo, err = prepareFirmwareBoot(dir, b, a); err != nil {
			out.Err = err
			return out
		}
		consoleLine = func(s string) { con.line(firmwareScreenLine(s)) }
	}
	qo.com1File, qo.gdb, qo.trace = com1, o.gdb, o.trace
	args, err := qemuArgs(b, a, qo)
	if err != nil {
		out.Err = err
		return out
	}
	rs, ws, err := pipes(2)
	if err != nil {
		out.Err = err
		return out
	}
	cmd := exec.Command("qemu-system-x86_64", args...)
	cmd.Dir = a.Root
	cmd.Stdout, cmd.Stderr = ws[0], ws[1]
	cmd.Stdin = o.stdin
	p := emuProcess{
		cmd:             cmd,
		closeAfterStart: ws,
		streams: []lineStream{
			{rs[0], consoleLine},
			{rs[1], func(s string) { con.log.notef("qemu: %s", s) }},
		},
	}
	out.Status, out.TimedOut, out.Err = p.run(timeout)
	if com1 != "" {
		if f, err := os.Open(com1); err == nil {
			readLines(f, consoleLine)
			f.Close()
		}
	}
	return out
}

// runBochs runs one Bochs boot: it builds a GRUB CD for the boot's command
// line in a temporary directory, writes a bochsrc, and runs bochs under
// script(1), which gives the term display library a pty of its own and
// keeps it off the runner's terminal. Port 0xE9 output arrives on fd 3 and
// COM1 on fd 4. diag are log excerpts worth showing if the boot fails.
func runBochs(b Boot, a Artefacts, o runOptions, timeout time.Duration, con *console) (out Outcome, diag []string) {
	out = Outcome{Emu: Bochs, Status: -1}
	dir, err := makeTempDir("beelzebox-bochs-")
	if err != nil {
		out.Err = err
		return out, nil
	}
	defer func() {
		if o.keep {
			con.log.notef("runner: bochs files kept in %s", dir)
			return
		}
		removeTempDir(dir)
	}()

	mib, err := memoryMiB(b.memory())
	if err != nil {
		out.Err = err
		return out, nil
	}
	iso := filepath.Join(dir, "boot.iso")
	build := buildElToritoISO
	if b.Firmware == BIOS {
		// The image of make iso, as a BIOS test machine boots it.
		build = func(dir string, a Artefacts, cmdline, out string) error {
			return buildRescueISO(dir, a, cmdline, out, 0)
		}
	}
	if err := build(dir, a, b.CommandLine(), iso); err != nil {
		out.Err = err
		return out, nil
	}
	logFile := filepath.Join(dir, "bochs.log")
	rcFile := filepath.Join(dir, "bochsrc")
	dbgFile := filepath.Join(dir, "cont.rc")
	errFile := filepath.Join(dir, "bochs.stderr")
	rc := bochsrc(bochsConfig{MiB: mib, Model: b.CPU, CPUs: b.cpus(), ISO: iso, Log: logFile, COM1: "/dev/fd/4"})
	if err := os.WriteFile(rcFile, []byte(rc), 0o644); err != nil {
		out.Err = err
		return out, nil
	}
	if err := os.WriteFile(dbgFile, []byte(bochsDebuggerScript), 0o644); err != nil {
		out.Err = err
		return out, nil
	}
	scriptOut, err := os.Create(filepath.Join(dir, "script.out"))
	if err != nil {
		out.Err = err
		return out, nil
	}
	defer scriptOut.Close()

	rs, ws, err := pipes(2)
	if err != nil {
		out.Err = err
		return out, nil
	}
	var e9 bochsStdoutFilter // only the fd 3 reader goroutine uses it
	cmd := exec.Command("script", "-qfec", bochsScriptCommand(rcFile, dbgFile, errFile), "/dev/null")
	cmd.Dir = a.Root
	cmd.Stdout, cmd.Stderr = scriptOut, scriptOut
	cmd.ExtraFiles = ws // fd 3: bochs stdout (port 0xE9), fd 4: COM1
	p := emuProcess{
		cmd:             cmd,
		closeAfterStart: ws,
		streams: []lineStream{
			{rs[0], func(s string) {
				if e9.keep(s) {
					con.line(s)
				}
			}},
			{rs[1], con.line},
		},
	}
	out.Status, out.TimedOut, out.Err = p.run(timeout)

	logText, _ := os.ReadFile(logFile)
	out.Note = bochsPanic(logText)
	diag = append(diag, tailLines("bochs stderr", errFile, 8)...)
	diag = append(diag, interestingLogLines(logText, 10)...)
	return out, diag
}

// tailLines returns the last n lines of a Bochs stderr file that say
// something, labelled.
func tailLines(label, file string, n int) []string {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !bochsStderrNoise.MatchString(l) {
			out = append(out, label+": "+l)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// interestingLogLines picks Bochs log lines that explain a failure: panics
// and errors, at most n.
func interestingLogLines(log []byte, n int) []string {
	var out []string
	for _, line := range bytes.Split(log, []byte("\n")) {
		s := string(line)
		if strings.Contains(s, ">>PANIC<<") || strings.Contains(s, "e[") && !strings.Contains(s, "protection key") {
			out = append(out, "bochs log: "+strings.TrimSpace(s))
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}
