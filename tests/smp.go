package tests

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"beelzebox/acpi"
	"beelzebox/boot"
	"beelzebox/cpu"
	"beelzebox/kernel"
	"beelzebox/sandbox"
	"beelzebox/syscall"

	"golang.org/x/sys/unix"
)

// The smp suite: every CPU the firmware lists is online and takes timer
// interrupts and IPIs, a page unmapped on one CPU is gone on another by
// the time the unmap returns, guests run on every CPU, and the garbage
// collector keeps up with four Ps. On one CPU the tests that need two
// say SKIP.
func init() {
	Register("smp", "cpus-online", testSMPOnline)
	Register("smp", "every-cpu-ticks", testSMPTicks)
	Register("smp", "ipi-delivered", testSMPIPI)
	Register("smp", "unmap-seen-by-other-cpu-at-once", func(t *T) { testSMPUnmap(t, sandbox.Level1) })
	Register("smp", "level3-unmap-seen-by-other-cpu-at-once", func(t *T) { testSMPUnmap(t, sandbox.Level3) })
	Register("smp", "unmap-seen-by-halted-cpu-on-wake", testSMPUnmapHalted)
	Register("smp", "guests-on-every-cpu", testSMPGuestsEverywhere)
	Register("smp", "gc-churn-gomaxprocs-4", testSMPGCChurn)
}

// expectedCPUs is how many CPUs should be online: the enabled ones of the
// MADT, at most cpu.MaxCPUs, or one with the nosmp command-line word.
func expectedCPUs() int {
	n := 0
	for _, c := range boot.Machine.CPUs[:boot.Machine.NCPUs] {
		if c.Enabled {
			n++
		}
	}
	if boot.Info.HasWord("nosmp") {
		n = 1
	}
	return max(1, min(n, cpu.MaxCPUs, acpi.MaxCPUs))
}

func onlineCPUs() int { return int(atomic.LoadInt32(&kernel.OnlineCPUs)) }

func testSMPOnline(t *T) {
	n, want := onlineCPUs(), expectedCPUs()
	if n != want {
		t.Fatalf("%d CPUs online, the firmware lists %d", n, want)
	}
	if p := runtime.GOMAXPROCS(0); p != n {
		t.Fatalf("GOMAXPROCS is %d with %d CPUs online", p, n)
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil || set.Count() != n {
		t.Fatalf("sched_getaffinity: %d CPUs (%v), want %d", set.Count(), err, n)
	}
	var ids []string
	for _, c := range boot.Machine.CPUs[:boot.Machine.NCPUs] {
		ids = append(ids, fmt.Sprint(c.APICID))
	}
	t.Logf("smp: %d CPUs online, APIC IDs %s, x2APIC %v", n, strings.Join(ids, " "), kernel.X2APIC())
}

// testSMPTicks keeps every CPU busy for a while: each takes timer
// interrupts (the timer is one-shot and idle CPUs take none, so a busy
// one is the test) and runs threads of the Go runtime.
func testSMPTicks(t *T) {
	n := onlineCPUs()
	before := make([]uint64, n)
	for i := range before {
		before[i], _, _ = kernel.CPUStats(i)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	var report []string
	for i := range n {
		after, _, _ := kernel.CPUStats(i)
		if after == before[i] {
			t.Fatalf("CPU %d took no timer interrupt in 300 ms of %d busy goroutines", i, n)
		}
		report = append(report, fmt.Sprint(after-before[i]))
	}
	t.Logf("smp: timer interrupts per CPU in 300 ms busy: %s", strings.Join(report, " "))
}

// testSMPIPI sends every other CPU a reschedule IPI and waits for it to
// take it.
func testSMPIPI(t *T) {
	n := onlineCPUs()
	if n < 2 {
		t.Skip("smp", "(one CPU online): no other CPU to interrupt")
	}
	missed := -1
	syscall.InKernel(func() {
		self := cpu.Index()
		for i := 0; i < n; i++ {
			if i != self && !kernel.PingCPU(i) {
				missed = i
				return
			}
		}
	})
	if missed >= 0 {
		t.Fatalf("CPU %d did not take a reschedule IPI within 100 ms", missed)
	}
}

// pinTo runs the calling goroutine's thread on CPU i only (pinThread);
// unpin gives it every CPU back.
func pinTo(t *T, i int) { t.Require("sched_setaffinity", pinThread(i)) }

// pinThread locks the calling goroutine to its thread and that thread to
// CPU i (sched_setaffinity).
func pinThread(i int) error {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(i)
	return unix.SchedSetaffinity(0, &set)
}

// needSMP skips the test, saying why, when one CPU is online.
func needSMP(t *T, why string) {
	if onlineCPUs() < 2 {
		t.Skip("smp", "(one CPU online): "+why)
	}
}

func unpin() {
	var set unix.CPUSet
	for i := range onlineCPUs() {
		set.Set(i)
	}
	unix.SchedSetaffinity(0, &set)
	runtime.UnlockOSThread()
}

// testSMPUnmap: a level 1 guest on CPU 1 reads a page in a loop and
// counts its rounds in shared memory; the host, on CPU 0, unmaps the page.
// When Unmap returns, CPU 1 must have dropped the translation: the guest
// faults on its next read, so the count moves by at most the round in
// flight. Without the shootdown the guest's CPU keeps the stale entry (its
// exits to the kernel do not flush it: levels 1 and 2 run in the kernel's
// address space) and the count runs on. At level 3 only the CPUs running
// the guest's space get the shootdown (mm.UserSpace's active set): the
// test fails if CPU 1 is left out.
func testSMPUnmap(t *T, l sandbox.Level) {
	needSMP(t, "no other CPU to keep a stale translation")
	ctr, err := sandbox.NewSharedRegion("rounds", 4096)
	t.Require("NewSharedRegion", err)
	defer ctr.Close()
	rounds := func() uint64 { return binary.LittleEndian.Uint64(ctr.Bytes()) }
	loop := []byte{
		0x48, 0x8b, 0x07, // mov rax, [rdi]: the victim page
		0x48, 0x8b, 0x06, // mov rax, [rsi]
		0x48, 0xff, 0xc0, // inc rax
		0x48, 0x89, 0x06, // mov [rsi], rax
		0xeb, 0xf2, // jmp to the start
	}
	g, err := sandbox.New(sandbox.Config{Level: l, Budget: 5 * time.Second,
		Shared:  []sandbox.Share{{Region: ctr, Writable: true}},
		Regions: []sandbox.Region{{Name: "text", Size: 4096, Perm: sandbox.Read | sandbox.Exec, Data: loop}}})
	t.Require("New", err)
	defer g.Close()
	victim, err := g.Map(sandbox.Region{Name: "victim", Size: 4096, Perm: sandbox.Read})
	t.Require("Map", err)
	t.Require("SetRegs", g.Main().SetRegs(sandbox.Regs{RIP: regionAddr(g, 0), RDI: victim, RSI: ctr.Addr()}))
	e, err := unmapUnderRunningGuest(t, g, victim, rounds, "guest")
	if err != nil || e.Kind != sandbox.ExitFault || e.Fault.Vector != cpu.VectorPF || e.Fault.CR2 != victim {
		t.Fatalf("the guest stopped with %v %v, want a page fault at %#x", e, err, victim)
	}
}

// unmapUnderRunningGuest runs g's main thread on CPU 1 until its count of
// rounds passes 10,000, unmaps the region at addr from CPU 0, and fails
// the test if the thread makes more than the round in flight after Unmap
// returned. It returns how the thread stopped; what names it in messages.
func unmapUnderRunningGuest(t *T, g sandbox.Guest, addr uint64, rounds func() uint64, what string) (sandbox.Exit, error) {
	pinTo(t, 0)
	defer unpin()
	exits := make(chan sandbox.Exit, 1)
	errs := make(chan error, 1)
	go func() {
		pinTo(t, 1)
		defer unpin()
		e, err := g.Main().Run()
		exits <- e
		errs <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); rounds() < 10000; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the %s made %d rounds in 5 s", what, rounds())
		}
	}
	t.Require("Unmap", g.Unmap(addr))
	at := rounds()
	time.Sleep(20 * time.Millisecond)
	later := rounds()
	e, err := <-exits, <-errs
	if later-at > 1 {
		t.Fatalf("the %s on CPU 1 made %d rounds through the unmapped page after Unmap returned", what, later-at)
	}
	t.Logf("smp: unmapped under a %s on another CPU after %d rounds; %d more", what, at, later-at)
	return e, err
}

// testSMPGuestsEverywhere runs 100 level 1 guests, each hosted by its own
// goroutine, 4 per CPU at a time, spinning until their budget ends, and
// checks that every CPU entered ring 3 for them.
func testSMPGuestsEverywhere(t *T) {
	n := onlineCPUs()
	before := make([]uint64, n)
	for i := range before {
		_, _, before[i] = kernel.CPUStats(i)
	}
	gate := make(chan struct{}, 4*n)
	errs := make(chan error, 100)
	for range 100 {
		go func() {
			gate <- struct{}{}
			defer func() { <-gate }()
			g, err := blobGuest(sandbox.Level1, insJmpSelf, 5*time.Millisecond)
			if err != nil {
				errs <- err
				return
			}
			defer g.Close()
			for range 2 {
				if e, err := g.Main().Run(); err != nil || e.Kind != sandbox.ExitBudget {
					errs <- fmt.Errorf("spin: %v %v", e, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 100 {
		if err := <-errs; err != nil {
			t.Fatalf("%v", err)
		}
	}
	var report []string
	for i := range n {
		_, _, after := kernel.CPUStats(i)
		if after == before[i] {
			t.Fatalf("CPU %d ran none of 100 guests", i)
		}
		report = append(report, fmt.Sprint(after-before[i]))
	}
	t.Logf("smp: ring-3 entries per CPU for 100 guests: %s", strings.Join(report, " "))
}

// testSMPGCChurn is the garbage-collector churn with four Ps: the
// runtime's threads allocate and mark on every CPU at once.
func testSMPGCChurn(t *T) {
	// Four Ps on one CPU time-slice the collector's workers behind the
	// allocating thread (runtime/gc-churn-512MiB is that case).
	needSMP(t, "four Ps need more than one CPU")
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	testGCChurn(t)
}

// testSMPUnmapHalted: a level 1 guest on CPU 1 reads a page (its CPU
// caches the translation) and returns to its host goroutine, which then
// blocks, so CPU 1 halts. The host on CPU 0 unmaps the page: the
// shootdown marks the halted CPU instead of waking it, and CPU 1 must
// flush when it wakes: the guest's next read faults. Without the mark
// the read goes through the stale entry.
func testSMPUnmapHalted(t *T) {
	needSMP(t, "no other CPU to keep a stale translation")
	const nr = 1000
	loop := code(
		[]byte{0x48, 0x8b, 0x07}, // mov rax, [rdi]: the victim page
		movEAX(nr), insSyscall,
		[]byte{0xeb, 0xf4}, // jmp to the start
	)
	g, err := sandbox.New(sandbox.Config{Level: sandbox.Level1, Budget: 5 * time.Second,
		Regions: []sandbox.Region{{Name: "text", Size: 4096, Perm: sandbox.Read | sandbox.Exec, Data: loop}}})
	t.Require("New", err)
	defer g.Close()
	victim, err := g.Map(sandbox.Region{Name: "victim", Size: 4096, Perm: sandbox.Read})
	t.Require("Map", err)
	t.Require("SetRegs", g.Main().SetRegs(sandbox.Regs{RIP: regionAddr(g, 0), RDI: victim}))
	pinTo(t, 0)
	defer unpin()
	read, again := make(chan error), make(chan struct{})
	final := make(chan sandbox.Exit, 1)
	go func() {
		pinTo(t, 1)
		defer unpin()
		e, err := g.Main().Run()
		if err == nil && (e.Kind != sandbox.ExitSyscall || e.Syscall.Nr != nr) {
			err = fmt.Errorf("first run: %v, want the guest's system call after its read", e)
		}
		read <- err
		<-again // CPU 1 halts meanwhile
		e, err = g.Main().Run()
		if err != nil {
			e.Kind = sandbox.ExitKilled
		}
		final <- e
	}()
	t.Require("the guest's first read", <-read)
	// CPU 1 halts (other threads may run there a while first).
	for deadline := time.Now().Add(time.Second); !kernel.Halted(1) && time.Now().Before(deadline); {
		time.Sleep(100 * time.Microsecond)
	}
	halted := kernel.Halted(1)
	t.Require("Unmap", g.Unmap(victim))
	close(again)
	e := <-final
	if e.Kind != sandbox.ExitFault || e.Fault.Vector != cpu.VectorPF || e.Fault.CR2 != victim {
		t.Fatalf("after the unmap (CPU 1 halted: %v) the guest on CPU 1 went on with %v, want a page fault at %#x", halted, e, victim)
	}
}
