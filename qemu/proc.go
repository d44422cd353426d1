package main

import (
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// The runner starts emulators in their own process groups, so a time limit
// or a Ctrl-C can end them without touching anything else. Bochs runs under
// script(1), which puts bochs in a new session of its own; killing script's
// group alone would leave bochs running until it noticed the hangup, so the
// runner also kills every descendant of the process it started, found
// through /proc, by pid.

// live tracks the emulator processes and temporary directories the runner
// owns, so that an interrupt can clean them up.
var live struct {
	sync.Mutex
	procs map[int]bool
	dirs  map[string]bool
}

// startGroup starts cmd as the leader of a new process group and registers
// it for cleanup.
func startGroup(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return err
	}
	live.Lock()
	defer live.Unlock()
	if live.procs == nil {
		live.procs = map[int]bool{}
	}
	live.procs[cmd.Process.Pid] = true
	return nil
}

// forget unregisters a process once it has been waited for.
func forget(pid int) {
	live.Lock()
	defer live.Unlock()
	delete(live.procs, pid)
}

// killTree kills the process group led by pid and every descendant of pid,
// wherever its group or session.
func killTree(pid int) {
	kids := descendants(pid)
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	for _, k := range kids {
		_ = syscall.Kill(k, syscall.SIGKILL)
	}
}

// descendants returns the pids of all processes below pid, read from
// /proc/*/stat.
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		if pp, ok := parentFromStat(string(b)); ok {
			children[pp] = append(children[pp], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// parentFromStat extracts the parent pid from a /proc/<pid>/stat line,
// "pid (comm) state ppid ...", where comm may itself contain ") ".
func parentFromStat(stat string) (int, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	pp, err := strconv.Atoi(f[1])
	return pp, err == nil
}

// makeTempDir creates a temporary directory that an interrupt removes.
func makeTempDir(pattern string) (string, error) {
	d, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", err
	}
	live.Lock()
	defer live.Unlock()
	if live.dirs == nil {
		live.dirs = map[string]bool{}
	}
	live.dirs[d] = true
	return d, nil
}

// removeTempDir removes a directory made by makeTempDir.
func removeTempDir(d string) {
	live.Lock()
	delete(live.dirs, d)
	live.Unlock()
	_ = os.RemoveAll(d)
}

// cleanupOnInterrupt makes SIGINT, SIGTERM and SIGHUP kill the running
// emulators and remove the temporary directories before the runner exits.
// SIGPIPE is included so that "go run ./qemu ... | head" cleans up too:
// without a handler, Go dies of the signal on its first write to a closed
// stdout.
func cleanupOnInterrupt() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	go func() {
		sig := <-ch
		live.Lock()
		for p := range live.procs {
			killTree(p)
		}
		for d := range live.dirs {
			_ = os.RemoveAll(d)
		}
		live.Unlock()
		logf("interrupted (%v): emulators killed", sig)
		os.Exit(130)
	}()
}
