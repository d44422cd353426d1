package tests

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"beelzebox/cpu"
	"beelzebox/sandbox"
)

// The SMP benches: the round trip of levels 1 and 2 must cost the same on
// every CPU at once as on one CPU alone (the switch path takes no lock and
// writes no line another CPU reads), and n CPUs must get through n times
// the round trips of one in about the same wall-clock time.
func init() {
	Register("bench", "smp-round-trips-all-cpus-busy", benchSMPBusy)
	Register("bench", "smp-throughput", benchSMPThroughput)
}

// onEveryCPU runs fn(i) on every online CPU i at once, each on a thread
// pinned to its CPU, and waits for all.
func onEveryCPU(t *T, fn func(i int)) {
	n := onlineCPUs()
	done := make(chan struct{}, n)
	for i := range n {
		go func() {
			defer func() { done <- struct{}{} }()
			pinTo(t, i)
			defer unpin()
			fn(i)
		}()
	}
	for range n {
		<-done
	}
}

// benchSMPBusy measures the level 1 and 2 round trips on CPU 0 alone, then
// on every CPU at once, and reports the slowest CPU's median beside the
// one-CPU figure of this boot (ceilings: the difference is the figure).
func benchSMPBusy(t *T) {
	needSMP(t, "nothing runs beside the measured CPU")
	levels := []sandbox.Level{sandbox.Level1}
	if cpu.CPU.PKU {
		levels = append(levels, sandbox.Level2)
	}
	for _, l := range levels {
		var alone []uint64
		onCPU0(t, func() { alone = roundTrips(t, l, 1000) })
		base := report(t, fmt.Sprintf("level%d-round-trip-one-cpu", l), alone, 0)
		per := make([][]uint64, onlineCPUs())
		onEveryCPU(t, func(i int) { per[i] = roundTrips(t, l, 1000) })
		var worst []uint64
		var medians []string
		for _, s := range per {
			slices.Sort(s)
			medians = append(medians, fmt.Sprint(s[len(s)/2]))
			if worst == nil || s[len(s)/2] > worst[len(worst)/2] {
				worst = s
			}
		}
		t.Logf("smp: level %d round trip medians with every CPU busy, by CPU: %s", l, strings.Join(medians, " "))
		report(t, fmt.Sprintf("level%d-round-trip-all-cpus-busy", l), worst, base)
	}
}

// onCPU0 runs fn on a thread pinned to CPU 0, the other CPUs idle.
func onCPU0(t *T, fn func()) {
	pinTo(t, 0)
	defer unpin()
	fn()
}

// benchSMPThroughput times 10 x benchIters level 1 round trips on CPU 0
// alone, then as many on every CPU at once, in wall-clock time, and
// reports the second over the first in thousandths: 1000 is perfect
// scaling (n times the work in the same time), n*1000 none. The guests
// are made before the clock starts: only round trips are timed. Only
// wall-clock time shows it, so the figure means something where the
// virtual CPUs run in parallel on the host (QEMU's multi-threaded TCG),
// not under icount or Bochs, which run them in turns.
func benchSMPThroughput(t *T) {
	needSMP(t, "nothing runs beside the measured CPU")
	const n = 10 * benchIters
	// timed makes a guest, tells made, waits for start, and times it.
	timed := func(made *sync.WaitGroup, start <-chan struct{}, took *time.Duration) {
		run, done := roundTripGuest(t, sandbox.Level1, 1000, n)
		defer done()
		made.Done()
		<-start
		t0 := time.Now()
		run()
		*took = time.Since(t0)
	}
	race := func(cpus int, took []time.Duration) {
		var made sync.WaitGroup
		made.Add(cpus)
		start := make(chan struct{})
		go func() { made.Wait(); close(start) }() // every guest made first
		if cpus == 1 {
			onCPU0(t, func() { timed(&made, start, &took[0]) })
			return
		}
		onEveryCPU(t, func(i int) { timed(&made, start, &took[i]) })
	}
	var alone [1]time.Duration
	race(1, alone[:])
	took := make([]time.Duration, onlineCPUs())
	race(len(took), took)
	all := slices.Max(took)
	permille := uint64(all * 1000 / alone[0])
	t.Logf("bench level1-wallclock-all-cpus-over-one median=%d min=%d unit=permille", permille, permille)
	t.Logf("smp: %d level 1 round trips on one CPU in %v, %d on each of %d CPUs in %v: %.2fx the throughput",
		n, alone[0], n, onlineCPUs(), all, float64(onlineCPUs())*float64(alone[0])/float64(all))
}
