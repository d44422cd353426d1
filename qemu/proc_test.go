package main

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestParentFromStat(t *testing.T) {
	for stat, want := range map[string]int{
		"1234 (bash) S 1200 1234 1234 0 -1":        1200,
		"77 (a) b) c) R 5 77 77 0 -1":              5,
		"9 (qemu-system-x86) S 8 9 9 34816 9 4194": 8,
	} {
		if got, ok := parentFromStat(stat); !ok || got != want {
			t.Errorf("parentFromStat(%q) = %d, %v; want %d", stat, got, ok, want)
		}
	}
	for _, bad := range []string{"", "1234 bash S", "1 (x)"} {
		if _, ok := parentFromStat(bad); ok {
			t.Errorf("parentFromStat(%q) succeeded", bad)
		}
	}
}

// shellProcess wraps sh -c script as an emulator process whose stdout
// lines are collected.
func shellProcess(t *testing.T, script string) (*emuProcess, func() []string) {
	t.Helper()
	rs, ws, err := pipes(1)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	cmd := exec.Command("sh", "-c", script)
	cmd.Stdout = ws[0]
	p := &emuProcess{
		cmd:             cmd,
		closeAfterStart: ws,
		streams: []lineStream{{rs[0], func(s string) {
			mu.Lock()
			lines = append(lines, s)
			mu.Unlock()
		}}},
	}
	return p, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return lines
	}
}

func TestEmuProcessStatusAndLines(t *testing.T) {
	p, lines := shellProcess(t, `printf 'ok a/b\r\nkernel: 1 passed, 0 failed, 0 skipped\nno newline'; exit 3`)
	status, timedOut, err := p.run(10 * time.Second)
	if err != nil || timedOut || status != 3 {
		t.Fatalf("run = %d, %v, %v; want 3, false, nil", status, timedOut, err)
	}
	got := strings.Join(lines(), "|")
	if got != "ok a/b|kernel: 1 passed, 0 failed, 0 skipped|no newline" {
		t.Errorf("lines %q", got)
	}
}

func TestEmuProcessTimeoutKillsTheTree(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("no setsid")
	}
	// Like script(1) and bochs: a child in a session of its own, which a
	// process-group kill alone would miss. It writes its pid first.
	p, lines := shellProcess(t, `setsid sh -c 'echo $$; exec sleep 60' & wait`)
	start := time.Now()
	status, timedOut, err := p.run(500 * time.Millisecond)
	if err != nil || !timedOut || status != -1 {
		t.Fatalf("run = %d, %v, %v; want -1, true, nil", status, timedOut, err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("run took %v after a 500ms time limit", d)
	}
	l := lines()
	if len(l) != 1 {
		t.Fatalf("lines %q, want the grandchild's pid", l)
	}
	pid, err := strconv.Atoi(l[0])
	if err != nil {
		t.Fatal(err)
	}
	// The grandchild must be gone (or a zombie awaiting its new parent).
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile("/proc/" + l[0] + "/stat")
		if err != nil || strings.Contains(string(b), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("grandchild %d in its own session survived the time limit", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEmuProcessStartFailure(t *testing.T) {
	rs, ws, err := pipes(1)
	if err != nil {
		t.Fatal(err)
	}
	p := &emuProcess{
		cmd:             exec.Command("/nonexistent/emulator"),
		closeAfterStart: ws,
		streams:         []lineStream{{rs[0], func(string) {}}},
	}
	if _, _, err := p.run(time.Second); err == nil {
		t.Error("no error for a missing emulator binary")
	}
}
