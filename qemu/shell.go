package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// The shell session: busybox sh -i at level 3 on the kernel's console
// (exec -tty: a terminal fed from COM1), driven like a user at a
// terminal. Each step sends its keys and waits for its text in the
// output; a cursor-position query (ESC [6n, which busybox's line editor
// sends) is answered as a terminal would. It checks the line discipline
// (echo, erase, Ctrl-D as end of file, Ctrl-C as SIGINT and Ctrl-Z as
// SIGTSTP to the foreground job) and processes (pipelines, background
// jobs, a stopped job brought back with fg), and is part of the test
// command, as make shell's proof.
var shellSession = []struct{ send, expect string }{
	{"", "$ "},
	{"echo hi $((6*7))\r", "hi 42\n$ "},
	{"echo two | tr a-z A-Z\r", "TWO\n$ "},
	{"cat\r", "cat\n"},
	{"typex\x7fd line\r", "typed line\n"},
	{"\x04", "$ "},
	{"sh -c 'echo slept; sleep 30'\r", "slept\n"},
	{"\x03", "$ "},
	{"sleep 0.2 & wait; echo waited\r", "waited\n"},
	{"sh -c 'echo started; sleep 2; echo resumed'\r", "started\n"},
	{"\x1a", "Stopped"},
	{"fg\r", "resumed\n"},
	{"exit 3\r", ""},
}

// shellStatus is the exit status the session ends with (exit 3).
const shellStatus = 3

func runShellSession(a Artefacts) bool {
	arc, err := execArchive(a.Root)
	if err == nil {
		err = arc.addTree("root", filepath.Join(a.Root, linuxRootDir))
	}
	cs := []execCase{{Name: "shell", Level: 3, Args: []string{"/bin/sh", "-i"},
		Env: []string{"PATH=/bin", "HOME=/", "PS1=$ ", "TERM=dumb"}, TTY: true}}
	if err == nil {
		arc.fixTmp()
		err = arc.addCases(cs, nil)
	}
	work, werr := makeTempDir("beelzebox-shell-")
	if err == nil {
		err = werr
	}
	if err != nil {
		logf("shell: %v", err)
		return false
	}
	defer removeTempDir(work)
	a.Initrd = filepath.Join(work, "shell.cpio")
	if err := arc.writeFile(a.Initrd); err != nil {
		logf("shell: initramfs: %v", err)
		return false
	}
	b := Boot{Name: "shell-qemu", Emu: QEMU, CPU: "max", Memory: "512M", Append: "exec",
		Timeout: 3 * time.Minute, Expect: ExpectFail, Patterns: []string{`^exec: done `}}
	if err := b.Validate(); err != nil {
		logf("shell: %v", err)
		return false
	}
	announce(b, " (busybox sh -i at level 3, driven through its console)")

	keys, keyW := io.Pipe()
	var mu sync.Mutex
	var out strings.Builder
	seen := make(chan struct{}, 1)
	d := newExecDecoder()
	d.onChunk = func(_ *execResult, fd int, data []byte) {
		mu.Lock()
		out.Write(data)
		mu.Unlock()
		select {
		case seen <- struct{}{}:
		default:
		}
	}
	var problem string
	go func() {
		defer keyW.Close()
		from, answered := 0, 0
		for _, st := range shellSession {
			// Answer the cursor-position queries seen so far, as the
			// terminal would have before the user's next keys.
			mu.Lock()
			queries := strings.Count(out.String(), "\x1b[6n")
			mu.Unlock()
			for ; answered < queries; answered++ {
				keyW.Write([]byte("\x1b[24;1R"))
			}
			if st.send != "" {
				if _, err := keyW.Write([]byte(st.send)); err != nil {
					return
				}
			}
			deadline := time.After(60 * time.Second)
			for st.expect != "" {
				mu.Lock()
				text := out.String()
				mu.Unlock()
				if i := strings.Index(text[from:], st.expect); i >= 0 {
					from += i + len(st.expect)
					break
				}
				select {
				case <-seen:
				case <-deadline:
					mu.Lock()
					problem = fmt.Sprintf("after sending %q: no %q in %q", st.send, st.expect, out.String()[from:])
					mu.Unlock()
					return
				}
			}
		}
	}()
	r := runBoot(b, a, runOptions{stdin: keys, lineHook: func(l string) bool { d.line(l); return true }})
	keys.Close()
	status, why := execVerdict(d, "shell", r.Outcome.TimedOut, r.Outcome.Err)
	mu.Lock()
	defer mu.Unlock()
	switch {
	case problem != "":
		logf("shell: %s", problem)
	case why != "":
		logf("shell: %s", why)
	case status != shellStatus:
		logf("shell: exit status %d, want %d; the session:\n%s", status, shellStatus, out.String())
	default:
		logf("shell: the session passed (%d steps, exit status %d)", len(shellSession), status)
		return true
	}
	for _, l := range d.tail {
		execStderrLine(l)
	}
	return false
}

// shellTestCommand runs the shell session alone (go run ./qemu shelltest).
func shellTestCommand() int {
	var c commonFlags
	c.noBuild = true
	a, ok := setup(c)
	if !ok {
		return exitUsage
	}
	if !runShellSession(a) {
		return exitFailed
	}
	return exitOK
}
