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
// names the CPU feature first, so the runner can refuse a skip of a
// feature its emulator has.
package tests

import (
	"fmt"

	"beelzebox/cpu"
	"runtime"
	"strings"
	"time"
)

// T is a running test.
type T struct {
	failed, skipped bool
	why             string
}

// Errorf marks the test failed and goes on.
func (t *T) Errorf(format string, args ...any) {
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
	t.skipped = true
	t.why = feature + " " + detail
	runtime.Goexit()
}

// Logf prints a line under the test (benchmarks and demos use it).
func (t *T) Logf(format string, args ...any) { fmt.Printf(format+"\n", args...) }

type test struct {
	suite, name string
	fn          func(*T)
	timeout     time.Duration
}

var registry []test

// Register adds a test. Tests run in registration order within a suite.
func Register(suite, name string, fn func(*T)) {
	RegisterWithTimeout(suite, name, 60*time.Second, fn)
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

// Run runs the tests of the named suites ("all" is every suite but bench,
// demo and fuzz) and returns the counts.
func Run(suites []string) (passed, failed, skipped int) {
	want := map[string]bool{}
	for _, s := range suites {
		if s == "all" {
			for _, n := range Suites() {
				if n != "bench" && n != "demo" && n != "fuzz" {
					want[n] = true
				}
			}
			continue
		}
		want[s] = true
	}
	for _, tc := range registry {
		if !want[tc.suite] {
			continue
		}
		if firstTestTSC == 0 {
			firstTestTSC = cpu.Rdtsc()
		}
		t := &T{}
		done := make(chan struct{})
		go func() {
			defer close(done)
			tc.fn(t)
		}()
		select {
		case <-done:
		case <-time.After(tc.timeout):
			t.Errorf("did not finish within %v", tc.timeout)
		}
		id := tc.suite + "/" + tc.name
		switch {
		case t.failed:
			failed++
			fmt.Printf("FAIL %s: %s\n", id, strings.ReplaceAll(t.why, "\n", " "))
		case t.skipped:
			skipped++
			fmt.Printf("SKIP %s: %s\n", id, t.why)
		default:
			passed++
			fmt.Printf("ok %s\n", id)
		}
	}
	return passed, failed, skipped
}
