package tests

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	gosyscall "syscall"
	"time"
	"unsafe"

	"beelzebox/mm"
	"beelzebox/syscall"
)

// The runtime suite proves that the unmodified Go runtime works on the
// kernel: scheduling, synchronization, timers, the garbage collector,
// memory that is backed on demand and really zeroed, signals for panics
// and for preemption.
func init() {
	Register("runtime", "goroutines-channels", testChannels)
	Register("runtime", "mutex-50-goroutines", testMutex)
	Register("runtime", "maps-and-fmt", testMapsFmt)
	Register("runtime", "sleep-ticker-after", testTimers)
	Register("runtime", "spinning-goroutine-preempted", testSpinPreempted)
	Register("runtime", "gc-churn-512MiB", testGCChurn)
	Register("runtime", "madvise-dontneed-zeroes", testDontNeedZeroes)
	Register("runtime", "demand-paging-lazy", testDemandPaging)
	Register("runtime", "nil-dereference-panics", testNilPanics)
	Register("runtime", "divide-by-zero-panics", testDivPanics)
	Register("runtime", "unknown-syscall-enosys", testENOSYS)
	Register("runtime", "threads-created", testThreads)
}

func testChannels(t *T) {
	ch := make(chan int)
	go func() {
		for i := 1; i <= 1000; i++ {
			ch <- i
		}
		close(ch)
	}()
	sum := 0
	for v := range ch {
		sum += v
	}
	if sum != 500500 {
		t.Fatalf("sum = %d, want 500500", sum)
	}
}

func testMutex(t *T) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for g := 0; g < 50; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				mu.Lock()
				total++
				mu.Unlock()
				if i%100 == 0 {
					runtime.Gosched()
				}
			}
		}()
	}
	wg.Wait()
	if total != 50000 {
		t.Fatalf("total = %d, want 50000", total)
	}
}

func testMapsFmt(t *T) {
	m := map[string]int{}
	for i := 0; i < 5000; i++ {
		m[fmt.Sprintf("key-%d", i)] = i
	}
	for i := 0; i < 5000; i += 499 {
		if got := m[fmt.Sprint("key-", i)]; got != i {
			t.Fatalf("m[key-%d] = %d", i, got)
		}
	}
	if s := fmt.Sprintf("%08.3f|%x|%q", 3.14159, 255, "a\tb"); s != "0003.142|ff|\"a\\tb\"" {
		t.Fatalf("Sprintf = %s", s)
	}
}

func testTimers(t *T) {
	start := time.Now()
	time.Sleep(20 * time.Millisecond)
	if d := time.Since(start); d < 20*time.Millisecond || d > 2*time.Second {
		t.Fatalf("Sleep(20ms) took %v", d)
	}
	tick := time.NewTicker(5 * time.Millisecond)
	for i := 0; i < 5; i++ {
		<-tick.C
	}
	tick.Stop()
	if d := time.Since(start); d < 45*time.Millisecond {
		t.Fatalf("sleep + 5 ticks of 5ms took only %v", d)
	}
	select {
	case <-time.After(10 * time.Millisecond):
	case <-time.After(5 * time.Second):
		t.Fatalf("time.After(10ms) lost")
	}
}

// testSpinPreempted spins a goroutine in a loop with no function calls,
// which never yields. With one P, each time this goroutine yields to it,
// only an asynchronous preemption (SIGURG delivered by the kernel, driven
// by the timer) lets this goroutine run again: every return from Gosched
// below, with the spinner having spun in between and still spinning, is
// one preemption. (A return without spins can happen when the garbage
// collector had the spinner stopped for a stack scan; it proves nothing
// and is not counted.)
func testSpinPreempted(t *T) {
	// With one P, the spinner running again after a yield proves it was
	// preempted (with more, it would run on another P anyway).
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var stop, spins atomic.Int64
	var spinnerDone atomic.Bool
	go func() {
		for stop.Load() == 0 {
			spins.Add(1)
		}
		spinnerDone.Store(true)
	}()
	defer stop.Store(1)
	const preemptions, yields = 10, 100
	seen := 0
	for range yields {
		before := spins.Load()
		runtime.Gosched()
		if spinnerDone.Load() {
			t.Fatalf("the spinner ended before it was told to")
		}
		if spins.Load() != before {
			seen++
		}
		if seen == preemptions {
			return
		}
	}
	t.Fatalf("only %d preemptions of the spinner seen in %d yields, want %d", seen, yields, preemptions)
}

// testGCChurn allocates 512 MiB in total through a machine with 128 MiB,
// keeping a little alive, and checks the heap stays bounded and the kept
// data survives collection.
func testGCChurn(t *T) {
	// Start from a collected heap, so that the pacer's goal is set by
	// what is live, not by what the suites before left to collect (a
	// nested run once grew 67 MiB without it).
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	keep := make([][]byte, 0, 64)
	for i := 0; i < 4096; i++ {
		if i%32 == 0 {
			// The kernel runs Go on one CPU: the collector's background
			// worker gets its share when the allocator yields, as a
			// real program's blocking calls would; without it, under a
			// slow virtual CPU (this kernel in a VM of its own), the
			// loop outran the marking and the heap grew 75 MiB.
			runtime.Gosched()
		}
		b := make([]byte, 128<<10)
		b[0], b[len(b)-1] = byte(i), byte(i>>8)
		if i%64 == 0 {
			keep = append(keep, b)
		}
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	for j, b := range keep {
		i := j * 64
		if b[0] != byte(i) || b[len(b)-1] != byte(i>>8) {
			t.Fatalf("kept buffer %d corrupted", j)
		}
	}
	if cycles := after.NumGC - before.NumGC; cycles < 5 {
		t.Fatalf("only %d GC cycles for 512 MiB", cycles)
	}
	// The churn must not grow the heap by much: what the heap held
	// before depends on the suites that ran first (HeapSys never
	// shrinks), so the bound is on the growth.
	grown := int64(after.HeapSys) - int64(before.HeapSys)
	if grown > 64<<20 {
		t.Fatalf("heap grew by %d MiB, to %d MiB", grown>>20, after.HeapSys>>20)
	}
	t.Logf("runtime: 512 MiB churned in %d GC cycles; the heap grew %d MiB, to %d MiB", after.NumGC-before.NumGC, grown>>20, after.HeapSys>>20)
}

// testDontNeedZeroes checks the property the runtime's scavenger relies
// on: after madvise(MADV_DONTNEED) the pages read as zero.
func testDontNeedZeroes(t *T) {
	b, err := gosyscall.Mmap(-1, 0, 1<<20, gosyscall.PROT_READ|gosyscall.PROT_WRITE, gosyscall.MAP_ANON|gosyscall.MAP_PRIVATE)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	defer gosyscall.Munmap(b)
	for i := range b {
		b[i] = 0x5a
	}
	if err := gosyscall.Madvise(b, 4 /* MADV_DONTNEED */); err != nil {
		t.Fatalf("madvise: %v", err)
	}
	for i := 0; i < len(b); i += 512 {
		if b[i] != 0 {
			t.Fatalf("byte %d = %#x after MADV_DONTNEED", i, b[i])
		}
	}
}

// backedPages counts the pages of [lo, hi) the kernel's page tables map:
// exact while other CPUs' threads allocate and free frames, which the
// free-frame count is not.
func backedPages(lo, hi uintptr) (n int) {
	syscall.InKernel(func() {
		for va := lo; va < hi; va += mm.PageSize {
			if e, _ := mm.Kernel.Lookup(va); e != nil {
				n++
			}
		}
	})
	return n
}

// testDemandPaging maps 64 MiB and checks it is backed only in the pages
// touched, and not at all once unmapped.
func testDemandPaging(t *T) {
	const size = 64 << 20
	b, err := gosyscall.Mmap(-1, 0, size, gosyscall.PROT_READ|gosyscall.PROT_WRITE, gosyscall.MAP_ANON|gosyscall.MAP_PRIVATE)
	if err != nil {
		t.Fatalf("mmap 64 MiB: %v", err)
	}
	lo := uintptr(unsafe.Pointer(&b[0]))
	if n := backedPages(lo, lo+size); n != 0 {
		t.Fatalf("mmap of 64 MiB backed %d pages before any touch", n)
	}
	for i := 0; i < 16; i++ {
		b[i*mm.PageSize*256] = 1 // 16 pages, 1 MiB apart
	}
	if n := backedPages(lo, lo+size); n != 16 {
		t.Fatalf("16 touched pages: %d backed", n)
	}
	gosyscall.Munmap(b)
	if n := backedPages(lo, lo+size); n != 0 {
		t.Fatalf("%d pages still backed after munmap", n)
	}
}

func testNilPanics(t *T) {
	err := catch(func() {
		var p *[1 << 10]int
		p[7] = 1
	})
	var re runtime.Error
	if !errors.As(err, &re) || re.Error() != "runtime error: invalid memory address or nil pointer dereference" {
		t.Fatalf("recovered %v", err)
	}
}

func testDivPanics(t *T) {
	zero := 0
	err := catch(func() { _ = 10 / zero })
	if err == nil || err.Error() != "runtime error: integer divide by zero" {
		t.Fatalf("recovered %v", err)
	}
}

func catch(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err, _ = r.(error)
			if err == nil {
				err = fmt.Errorf("%v", r)
			}
		}
	}()
	fn()
	return nil
}

func testENOSYS(t *T) {
	before := syscall.Unknown
	_, _, errno := gosyscall.RawSyscall(999, 0, 0, 0)
	if errno != gosyscall.ENOSYS {
		t.Fatalf("syscall 999 = %v, want ENOSYS", errno)
	}
	if syscall.Unknown != before+1 {
		t.Fatalf("unknown count %d -> %d", before, syscall.Unknown)
	}
}

func testThreads(t *T) {
	// The runtime made at least sysmon and one more M; all are kernel
	// threads the scheduler preempts.
	var n int
	syscall.InKernel(func() { n = kernelThreads() })
	if n < 2 {
		t.Fatalf("%d kernel threads", n)
	}
	debug.FreeOSMemory()
}
