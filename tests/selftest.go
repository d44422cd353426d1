package tests

import (
	"strings"
	"time"
)

// The selftest suite proves the framework's own promises (registry.go): a
// panicking test FAILs and the run goes on; a timed-out test FAILs and its
// later calls change nothing. Its first three tests fail on purpose, so
// it is not part of "all"; the qemu-selftest boot's manifest expects
// exactly these verdicts, and an "ok" forged by the timed-out test would
// be an extra test there.
func init() {
	Register("selftest", "panic-is-a-failure", func(*T) { panic("deliberate panic") })
	Register("selftest", "nil-dereference-is-a-failure", func(*T) {
		var p *int
		_ = *p
	})
	RegisterWithTimeout("selftest", "timeout-is-a-failure", selftestTimeout, selftestTimesOut)
	Register("selftest", "timed-out-test-is-inert", selftestTimedOutIsInert)
}

const selftestTimeout = time.Second

var (
	timedOutT         *T
	releaseTimedOut   = make(chan struct{})
	timedOutLateCalls = make(chan struct{})
)

// selftestTimesOut blocks past its timeout, then, once released by the
// next test, tries to report through its inert T.
func selftestTimesOut(t *T) {
	timedOutT = t
	<-releaseTimedOut
	defer close(timedOutLateCalls) // also when Skip ends the goroutine
	t.Logf("ok selftest/forged-by-a-timed-out-test")
	t.Errorf("a late failure")
	t.Skip("pku", "a late skip")
}

func selftestTimedOutIsInert(t *T) {
	close(releaseTimedOut)
	select {
	case <-timedOutLateCalls:
	case <-time.After(5 * time.Second):
		t.Fatalf("the timed-out test did not make its late calls")
	}
	timedOutT.mu.Lock()
	defer timedOutT.mu.Unlock()
	if !timedOutT.failed || timedOutT.skipped || !strings.HasPrefix(timedOutT.why, "did not finish within") {
		t.Errorf("the timed-out test's T changed after its verdict: failed=%v skipped=%v why=%q",
			timedOutT.failed, timedOutT.skipped, timedOutT.why)
	}
}
