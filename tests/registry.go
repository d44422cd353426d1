// Package tests is the in-kernel test framework and its suites. A test is
// a function registered under a suite; the kernel command line picks the
// suites to run (suites=kernel,level1 or suites=all). Each test runs in
// its own goroutine and reports one line:
//
//	ok <suite>/<name>
//	FAIL <suite>/<name>: <why>
//	SKIP <suite>/<name>: <missing feature> <detail>
//
// and the run ends with "kernel: N passed, N failed, N skipped". A SKIP
// names the CPU feature first, from the runner's closed list
// (qemu/features.go), so the runner can hold each boot to its manifest.
//
// A test that panics FAILs with the panic value and the innermost frames
// of its stack, and the run goes on. A test that outlives its timeout
// FAILs, and its T becomes inert once the verdict is printed: whatever its
// goroutine still calls on it (Errorf, Fatalf, Skip, Logf) prints nothing
// and changes no count. The goroutine itself cannot be stopped: it keeps
// running beside the later tests, with whatever it holds (guests and their
// memory and slots, locks, a locked OS thread) and anything it prints
// through fmt directly rather than through its T.
package tests

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"beelzebox/cpu"
	"beelzebox/kernel"
	"beelzebox/syscall"
)

// T is a running test.
type T struct {
	mu              sync.Mutex
	failed, skipped bool
	why             string
	// inert is set when the test's verdict has been printed: from then on
	// nothing the test does is reported.
	inert bool
}

// Errorf marks the test failed and goes on.
func (t *T) Errorf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.inert {
		return
	}
	if !t.failed {
		t.why = fmt.Sprintf(format, args...)
	}
	t.failed = true
}

// Fatalf marks the test failed and stops it.
func (t *T) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	runtime.Goexit()
}

// Skip stops the test as skipped because feature is missing.
func (t *T) Skip(feature, detail string) {
	t.mu.Lock()
	if !t.inert {
		t.skipped = true
		t.why = feature + " " + detail
	}
	t.mu.Unlock()
	runtime.Goexit()
}

// Require fails and stops the test if err is set: for setup steps (Map,
// WriteMemory, SetRegs, ...) whose failure would leave the test proving
// nothing.
func (t *T) Require(what string, err error) {
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Logf prints a line under the test (benchmarks and demos use it).
func (t *T) Logf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.inert {
		fmt.Printf(format+"\n", args...)
	}
}

// verdict makes t inert and returns the line that reports it.
func (t *T) verdict(id string) (line string, failed, skipped bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.inert = true
	switch {
	case t.failed:
		return fmt.Sprintf("FAIL %s: %s", id, strings.ReplaceAll(t.why, "\n", " ")), true, false
	case t.skipped:
		return fmt.Sprintf("SKIP %s: %s", id, t.why), false, true
	}
	return "ok " + id, false, false
}

type test struct {
	suite, name string
	fn          func(*T)
	timeout     time.Duration
}

var registry []test

// defaultTimeout is how long a test may run before it FAILs.
const defaultTimeout = 60 * time.Second

// Register adds a test. Tests run in registration order within a suite.
func Register(suite, name string, fn func(*T)) {
	RegisterWithTimeout(suite, name, defaultTimeout, fn)
}

// RegisterWithTimeout adds a test that may run for up to timeout (long
// runs such as the guest fuzzer's).
func RegisterWithTimeout(suite, name string, timeout time.Duration, fn func(*T)) {
	registry = append(registry, test{suite, name, fn, timeout})
}

// Suites lists the registered suite names.
func Suites() []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range registry {
		if !seen[t.suite] {
			seen[t.suite] = true
			out = append(out, t.suite)
		}
	}
	return out
}

// HasTest reports whether suite/name names a registered test.
func HasTest(suiteName string) bool {
	for _, t := range registry {
		if t.suite+"/"+t.name == suiteName {
			return true
		}
	}
	return false
}

// notInAll are the suites that "all" leaves out: they measure, show, or
// fail on purpose rather than test the kernel, or (level4-self: the kernel
// booted in a VM of its own, minutes under Bochs) have a boot of their own.
var notInAll = []string{"bench", "demo", "selftest", "fuzz", "level4-self"}

// Run runs the tests of the named suites ("all" is every suite but those
// of notInAll) and returns the counts.
func Run(suites []string) (passed, failed, skipped int) {
	want, wantTest := map[string]bool{}, map[string]bool{}
	for _, s := range suites {
		if strings.Contains(s, "/") {
			wantTest[s] = true // one test: suite/name
			continue
		}
		if s == "all" {
			for _, n := range Suites() {
				want[n] = !slices.Contains(notInAll, n)
			}
			continue
		}
		want[s] = true
	}
	for _, tc := range registry {
		if !want[tc.suite] && !wantTest[tc.suite+"/"+tc.name] {
			continue
		}
		if firstTestTSC == 0 {
			firstTestTSC = cpu.Rdtsc()
		}
		line, f, s := runOne(tc)
		fmt.Println(line)
		switch {
		case f:
			failed++
		case s:
			skipped++
		default:
			passed++
		}
	}
	return passed, failed, skipped
}

// runOne runs one test in a goroutine of its own and returns its verdict
// line; its T is inert from then on.
func runOne(tc test) (line string, failed, skipped bool) {
	t := &T{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			// recover is nil after Fatalf and Skip (runtime.Goexit).
			if v := recover(); v != nil {
				t.Errorf("panic: %v [%s]", v, panicStack())
			}
		}()
		tc.fn(t)
	}()
	select {
	case <-done:
	case <-time.After(tc.timeout):
		t.Errorf("did not finish within %v", tc.timeout)
		syscall.InKernel(kernel.PrintScheduler)
	}
	return t.verdict(tc.suite + "/" + tc.name)
}

// panicStackFrames is how many frames of a panicking test's stack its FAIL
// line quotes.
const panicStackFrames = 4

// panicStack names the innermost frames of the panicking goroutine that
// are not the runtime's own. It is called from the recovering deferred
// function, whose frame it skips; the panic's frames are still below it.
func panicStack() string {
	pc := make([]uintptr, 32)
	frames := runtime.CallersFrames(pc[:runtime.Callers(3, pc)])
	var out []string
	for len(out) < panicStackFrames {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "runtime.") {
			file := f.File[strings.LastIndex(f.File, "/")+1:]
			out = append(out, fmt.Sprintf("%s %s:%d", f.Function, file, f.Line))
		}
		if !more {
			break
		}
	}
	return strings.Join(out, " < ")
}
