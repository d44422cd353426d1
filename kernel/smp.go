package kernel

import (
	"sync/atomic"
	"unsafe"

	"beelzebox/cpu"
	"beelzebox/dev/lapic"
	"beelzebox/mm"
)

// Many CPUs. Every CPU runs the same scheduler on its own run queue; the
// Go runtime's threads (and the guests' kernel threads) run on any of
// them. The design, and its rules:
//
//   - One kernel lock (bigLock) guards the state shared between CPUs
//     that handler code changes: the thread table and run queues, the
//     tasks and ports, sleepers, signals, futexes and the memory
//     manager. Handler code takes it at its entries (a system call from
//     Go, an interrupt, a thread's start) and gives it up at its exits:
//     before a return to Go code, around every entry to ring 3, and in
//     the idle loop's HLT. It is held by a CPU, not a thread: a thread
//     switch happens with it held, and the thread switched to releases
//     it on its way out. It is recursive on its CPU (a page fault taken
//     by handler code while it holds it).
//   - The level 1 and 2 round trip (the Run call) takes no lock: it
//     touches its own thread's context, its CPU's timer and per-CPU
//     block only, and takes the lock when an interrupt needs the
//     scheduler. So round trips on different CPUs never contend.
//   - Per-CPU state (cpuState: the running thread, the idle thread, the
//     run queue, the timer) changes on its own CPU with interrupts off,
//     or under the lock (run queues: any CPU may queue a thread on
//     another's).
//   - A CPU that waits for the lock serves TLB shootdowns meanwhile, so
//     the lock's holder may wait for every CPU's acknowledgement.
//   - A thread is in exactly one run queue while it is StateRunnable.
//     Where a woken thread goes: its last CPU if that is idle, else any
//     idle CPU, else its last CPU; an idle CPU that gets one is woken by
//     a reschedule IPI. A CPU whose queue is empty steals from another's
//     (the balancing), and only then idles.
//   - Each CPU has an idle thread (a handler thread pinned to it, never
//     queued): it runs when nothing else can, halts with interrupts on,
//     and switches to work when there is some.

// Interrupt vectors of the inter-processor interrupts (below the
// spurious vector 0xff; SDM Vol. 3A §12.6).
const (
	vectorReschedule = 0xf0 // look at the run queue; leave ring 3
	vectorShootdown  = 0xf1 // invalidate TLB entries (shootdown)
	vectorVMCS       = 0xf2 // clear the VMCSs another CPU wants (cpu.ServeVMCSClears)
)

// cpuState is the kernel's record of a CPU.
type cpuState struct {
	running uintptr // the *Thread it runs
	lockID  uint32  // its index + 1: bigLock.owner while it holds the lock
	idle    uintptr // its idle *Thread
	runq    uintptr // first thread of its run queue; runNext links
	queued  int32
	apicID  uint32
	online  uint32 // 1 once it schedules
	halted  uint32 // 1 while its idle loop halts
	// flushOnWake is set by a shootdown that left the CPU out because it
	// was halted; it flushes its whole TLB when it next takes the lock.
	flushOnWake uint32
	armedFor    int64 // when its timer fires
	ticks       uint64
	ipis        uint64 // IPIs it took
	acked       uint64 // the last shootdown it served
}

var (
	cpus [cpu.MaxCPUs]cpuState
	// OnlineCPUs is how many CPUs schedule threads.
	OnlineCPUs int32 = 1
)

// me is the running CPU's record (its block points at it: EarlyInit).
//
//go:nosplit
func me() *cpuState { return (*cpuState)(unsafe.Pointer(cpu.Local())) }

// The kernel lock.
var bigLock struct {
	owner uint32 // CPU index + 1, or 0
	depth int32
}

// lockKernel takes the kernel lock for the running CPU.
//
//go:nosplit
func lockKernel() {
	c := me()
	self := c.lockID
	if atomic.LoadUint32(&bigLock.owner) == self {
		bigLock.depth++
		return
	}
	for !atomic.CompareAndSwapUint32(&bigLock.owner, 0, self) {
		for atomic.LoadUint32(&bigLock.owner) != 0 {
			serveShootdown()
			cpu.Pause()
		}
	}
	bigLock.depth = 1
	// A halted CPU runs nothing that uses a changed mapping before it
	// holds the lock (its interrupt and NMI paths touch only static
	// memory): shootdowns mark it rather than wait for it to wake.
	if c.flushOnWake != 0 {
		c.flushOnWake = 0
		cpu.FlushAll()
	}
}

// unlockKernel gives up one level of the running CPU's hold.
//
//go:nosplit
func unlockKernel() {
	if atomic.LoadUint32(&bigLock.owner) != me().lockID {
		Panic("kernel lock released by a CPU that does not hold it")
	}
	bigLock.depth--
	if bigLock.depth == 0 {
		atomic.StoreUint32(&bigLock.owner, 0)
	}
}

// releaseAll gives up the running CPU's whole hold and returns its depth,
// for reacquireAll (around an entry to ring 3 by handler code).
//
//go:nosplit
func releaseAll() int32 {
	d := bigLock.depth
	bigLock.depth = 0
	atomic.StoreUint32(&bigLock.owner, 0)
	return d
}

//go:nosplit
func reacquireAll(d int32) {
	lockKernel()
	bigLock.depth = d
}

// Lock and Unlock are the kernel lock for handler code of other packages
// (the system-call dispatcher).
//
//go:nosplit
func Lock() { lockKernel() }

//go:nosplit
func Unlock() { unlockKernel() }

// EnterUser runs ctx in ring 3 from handler code that holds the kernel
// lock, which other CPUs have meanwhile.
//
//go:nosplit
func EnterUser(ctx *cpu.UserContext) {
	d := releaseAll()
	cpu.EnterUser(ctx)
	reacquireAll(d)
}

// TLB shootdown. The lock's holder posts a request and sends every other
// online CPU an IPI, then waits until each has served it (in its IPI
// handler, or while it spins for the lock).
var shoot struct {
	seq    uint64
	pcid   uint64
	lo, hi uintptr
	eptp   uint64 // not 0: invalidate this EPT's translations instead
}

// remoteInvalidate makes the other CPUs of the set cpus drop their TLB
// entries for [lo, hi) of PCID pcid (0: the kernel's address space; hi =
// ^0: all of them). The caller holds the kernel lock and has invalidated
// its own.
func remoteInvalidate(set uint64, pcid uint64, lo, hi uintptr) {
	set &^= uint64(1) << cpu.Index()
	n := int(atomic.LoadInt32(&OnlineCPUs))
	if n < 2 {
		return
	}
	// A halted CPU stays halted while this CPU holds the lock (it sets
	// halted with the lock held and clears it only after taking it
	// again): it is marked instead of woken.
	for i := range n {
		if inSet(set, i) && atomic.LoadUint32(&cpus[i].halted) != 0 {
			cpus[i].flushOnWake = 1
			set &^= uint64(1) << i
		}
	}
	if set == 0 {
		return
	}
	shoot.pcid, shoot.lo, shoot.hi, shoot.eptp = pcid, lo, hi, 0
	postShootdown(set)
}

// RemoteInvept makes the other CPUs of the set cpus drop what they cache
// of the EPT whose pointer is eptp (INVEPT single context), the way
// remoteInvalidate does for page tables: a CPU running a guest of that
// EPT leaves it for the IPI and enters it again only after. Halted CPUs
// are woken for it (flushOnWake does not reach EPT translations). The
// caller holds the kernel lock and has invalidated its own.
func RemoteInvept(set uint64, eptp uint64) {
	set &^= uint64(1) << cpu.Index()
	if atomic.LoadInt32(&OnlineCPUs) < 2 || set == 0 {
		return
	}
	shoot.pcid, shoot.lo, shoot.hi, shoot.eptp = 0, 0, 0, eptp
	postShootdown(set)
}

// postShootdown sends the request in shoot to the CPUs of set and waits
// until each has served it.
func postShootdown(set uint64) {
	n := int(atomic.LoadInt32(&OnlineCPUs))
	seq := atomic.AddUint64(&shoot.seq, 1)
	me().acked = seq
	for i := range n {
		if inSet(set, i) {
			sendIPI(cpus[i].apicID, vectorShootdown)
		}
	}
	for i := range n {
		for inSet(set, i) && atomic.LoadUint64(&cpus[i].acked) != seq {
			cpu.Pause()
		}
	}
	Shootdowns++
}

// inSet reports whether CPU i is in set and online.
//
//go:nosplit
func inSet(set uint64, i int) bool {
	return set>>i&1 != 0 && atomic.LoadUint32(&cpus[i].online) != 0
}

// Shootdowns counts TLB shootdowns.
var Shootdowns uint64

// serveShootdown serves the latest shootdown request if this CPU has not.
//
//go:nosplit
func serveShootdown() {
	c := me()
	seq := atomic.LoadUint64(&shoot.seq)
	if c.acked == seq {
		return
	}
	const flushAllAbove = 64 // pages
	pcid, lo, hi, eptp := shoot.pcid, shoot.lo, shoot.hi, shoot.eptp
	switch {
	case eptp != 0:
		cpu.Invept(cpu.InveptSingleContext, eptp)
	case pcid != 0 && cpu.CPU.INVPCID && hi-lo > flushAllAbove*mm.PageSize:
		cpu.Invpcid(cpu.InvpcidContext, pcid, 0)
	case pcid != 0 && cpu.CPU.INVPCID:
		for va := lo &^ (mm.PageSize - 1); va < hi; va += mm.PageSize {
			cpu.Invpcid(cpu.InvpcidAddress, pcid, va)
		}
	case pcid != 0:
		// No INVPCID: the space's next load on this CPU flushes (the
		// initiator marked it); no PCID: leaving ring 3 flushed.
	case hi-lo > flushAllAbove*mm.PageSize:
		cpu.FlushAll()
	default:
		for va := lo &^ (mm.PageSize - 1); va < hi; va += mm.PageSize {
			cpu.Invlpg(va)
		}
	}
	atomic.StoreUint64(&c.acked, seq)
}

// handleIPI serves an inter-processor interrupt; it reports false for
// other vectors. It takes no lock: the CPU that sent a shootdown holds
// the lock and waits for this one.
//
//go:nosplit
func handleIPI(v uint64) bool {
	switch v {
	case vectorShootdown:
		serveShootdown()
	case vectorVMCS:
		cpu.ServeVMCSClears()
	case vectorReschedule:
	default:
		return false
	}
	atomic.AddUint64(&me().ipis, 1)
	ackTimer()
	return true
}

// StopOtherCPUs halts every other CPU (a panic): they take an NMI, and
// every NMI from now on halts.
func StopOtherCPUs() {
	if atomic.LoadInt32(&OnlineCPUs) < 2 {
		return
	}
	cpu.StopOthers()
	self := cpu.Index()
	for i := range cpus[:OnlineCPUs] {
		if i != self && atomic.LoadUint32(&cpus[i].online) != 0 {
			sendNMI(cpus[i].apicID)
		}
	}
}

// pinned is the CPU a thread may only run on, or -1.
const notPinned = -1

// placeRunnable queues t, which has just become runnable, on a CPU's
// queue (see the rules above) and wakes that CPU if it idles.
//
//go:nosplit
func placeRunnable(t *Thread) {
	target := int(t.pin)
	if target == notPinned {
		target = int(t.lastCPU)
		if atomic.LoadInt32(&OnlineCPUs) > 1 && atomic.LoadUint32(&cpus[target].halted) == 0 {
			for i := range cpus[:OnlineCPUs] {
				if atomic.LoadUint32(&cpus[i].halted) != 0 {
					target = i
					break
				}
			}
		}
	}
	c := &cpus[target]
	t.runNext = c.runq
	c.runq = uintptr(unsafe.Pointer(t))
	c.queued++
	if atomic.LoadUint32(&c.halted) != 0 && target != cpu.Index() {
		sendIPI(c.apicID, vectorReschedule)
	}
}

// Kick makes the CPU that runs the thread whose record is at t (if
// another CPU) leave ring 3, so that the thread looks at a request made
// to it now (an interrupt or a kill of a guest; on one CPU the requester
// runs while the guest does not, and the guest sees it at once). Any
// code may call it, Go code too: the caller has set the request with an
// atomic store before, and the thread looks at requests after it is
// StateRunning on its CPU and before it enters ring 3, so one of the two
// sees the other.
//
//go:nosplit
func Kick(t uintptr) {
	if t == 0 || atomic.LoadInt32(&OnlineCPUs) < 2 {
		return
	}
	if th := (*Thread)(unsafe.Pointer(t)); th.State == StateRunning {
		KickCPU(int(atomic.LoadInt32(&th.lastCPU)))
	}
}

// KickCPU sends CPU i, if it is not this one, a reschedule IPI: a VM's
// guest running there exits to its host (cpu.EnterGuest), which looks at
// a request made before (VMContext.Cancel). Go code may call it.
//
//go:nosplit
func KickCPU(i int) { signalCPU(i, vectorReschedule) }

// ClearVMCSOn asks CPU i to clear the VMCSs wanted elsewhere
// (cpu.VMContext.WantCleared). Go code may call it.
//
//go:nosplit
func ClearVMCSOn(i int) { signalCPU(i, vectorVMCS) }

//go:nosplit
func signalCPU(i int, vector uint8) {
	if atomic.LoadInt32(&OnlineCPUs) < 2 || i < 0 || i >= cpu.MaxCPUs {
		return
	}
	fl := cpu.Flags()
	cpu.DisableInterrupts() // the IPI's two register writes, on this CPU
	if i != cpu.Index() && atomic.LoadUint32(&cpus[i].online) != 0 {
		sendIPI(cpus[i].apicID, vector)
	}
	if fl&cpu.FlagIF != 0 {
		cpu.EnableInterrupts()
	}
}

// CurrentThread is the running thread's record, for Kick.
//
//go:nosplit
func CurrentThread() uintptr { return me().running }

//go:nosplit
func sendIPI(dest uint32, vector uint8) { lapic.SendIPI(dest, vector) }

//go:nosplit
func sendNMI(dest uint32) { lapic.SendNMI(dest) }

// StartCPUs starts the application processors with the given APIC IDs
// (the firmware's list of enabled CPUs, without this one) through the
// trampoline page at physical address tramp (below 1 MiB, free for good)
// and the loader's page tables at bootCR3, one at a time, and returns
// how many CPUs are online. It runs at boot on the bootstrap processor,
// after the timer is set up and before the Go runtime starts.
func StartCPUs(apicIDs []uint32, tramp uintptr, bootCR3 uint32) int {
	cpus[0].online = 1
	if !haveLAPIC || len(apicIDs) == 0 {
		return 1
	}
	cpus[0].apicID = lapic.ID()
	cpu.APHook = apMain
	mm.Remote = remoteInvalidate
	cpu.PrepareTrampoline(mm.PhysAddr(uint64(tramp)), bootCR3)
	n := 1
	for _, id := range apicIDs {
		if n == cpu.MaxCPUs {
			Print("smp: more CPUs than the kernel runs on; the rest stay offline\n")
			break
		}
		if startCPU(n, id, tramp) {
			n++
		}
	}
	cpu.SetEntryCPUs(n)
	atomic.StoreInt32(&OnlineCPUs, int32(n))
	return n
}

// startCPU starts one AP as CPU i: INIT, a 10 ms wait, then up to two
// STARTUP IPIs 200 µs apart (SDM Vol. 3A §9.4.4.1), and waits up to
// 100 ms for it to run the kernel's code.
func startCPU(i int, apicID uint32, tramp uintptr) bool {
	idle := makeIdleThread(i)
	cpus[i].apicID = apicID
	cpus[i].armedFor = never
	cpu.SetAPStart(i, idle.stackHi&^15)
	wait := func(ns int64) bool {
		for t0 := Nanotime(); Nanotime()-t0 < ns; {
			if cpu.APStarted() {
				return true
			}
			cpu.Pause()
		}
		return cpu.APStarted()
	}
	lapic.SendInit(apicID)
	wait(10_000_000)
	for try := 0; try < 2 && !cpu.APStarted(); try++ {
		lapic.SendStartup(apicID, uint8(tramp>>12))
		wait(200_000)
	}
	if !wait(100_000_000) {
		Print("smp: the CPU with APIC ID ")
		PrintDec(uint64(apicID))
		Print(" did not start\n")
		idle.State = StateFree // never ran: its record goes back
		cpus[i] = cpuState{lockID: uint32(i) + 1}
		return false
	}
	// Wait until it is online (apMain), so that CPUs come up in order.
	for atomic.LoadUint32(&cpus[i].online) == 0 {
		cpu.Pause()
	}
	return true
}

// apMain is an AP's first Go code after cpu.InitAP, on its idle thread's
// stack: it sets up its local APIC timer, then becomes its idle thread.
func apMain(i int) {
	initAPTimer()
	c := &cpus[i]
	idle := (*Thread)(unsafe.Pointer(c.idle))
	idle.State = StateRunning
	c.running = c.idle
	idle.lastCPU = int32(i)
	cpu.SetThread(idle.stackLo, idle.stackHi, idle.FSBase)
	atomic.StoreUint32(&c.online, 1)
	lockKernel()
	idleMain(0)
}

// OnlineMask is the affinity mask of the online CPUs (sched_getaffinity).
func OnlineMask() uint64 {
	n := atomic.LoadInt32(&OnlineCPUs)
	if n >= 64 {
		return ^uint64(0)
	}
	return 1<<n - 1
}

// panicking is set by the first CPU to panic or take a fatal fault.
var panicking uint32

// stopForPanic makes the running CPU the one that reports a panic: the
// first to get here stops the others (StopOtherCPUs); any other halts
// for good, so the report is printed once. A nested panic on the
// reporting CPU goes on (its report says so).
func stopForPanic() {
	self := uint32(cpu.Index()) + 1
	if atomic.CompareAndSwapUint32(&panicking, 0, self) {
		StopOtherCPUs()
		return
	}
	if atomic.LoadUint32(&panicking) != self {
		cpu.HaltForever()
	}
}

// PrintScheduler prints every CPU's and live thread's scheduling state
// (for the report of a test that hung). It runs in handler context.
func PrintScheduler() {
	for i := range cpus[:OnlineCPUs] {
		c := &cpus[i]
		Print("sched: cpu ")
		PrintDec(uint64(i))
		Print(" running ")
		PrintDec(uint64(threadTID(c.running)))
		Print(" halted ")
		PrintDec(uint64(c.halted))
		Print(" queued ")
		PrintDec(uint64(c.queued))
		Print(" armed in ")
		PrintDec(uint64(max(0, c.armedFor-Nanotime())))
		Print(" ns\n")
	}
	for i := 0; i < live; i++ {
		t := thread(i)
		if t.State == StateFree || t.State == StateDead {
			continue
		}
		Print("sched: thread ")
		PrintDec(uint64(t.TID))
		Print(" state ")
		PrintDec(uint64(t.State))
		Print(" cpu ")
		PrintDec(uint64(t.lastCPU))
		Print(" key ")
		PrintHex(uint64(t.waitKey))
		Print(" deadline in ")
		PrintDec(uint64(max(0, t.deadline-Nanotime())))
		Print(" pending ")
		PrintHex(t.sig.pending)
		Print("\n")
	}
}

func threadTID(a uintptr) int32 {
	if a == 0 {
		return 0
	}
	return (*Thread)(unsafe.Pointer(a)).TID
}

// SetAffinity restricts the thread with tid (0: the running one) to the
// online CPUs in mask (sched_setaffinity). A thread runs on every CPU or
// on one: a mask with every online CPU lifts the restriction, any other
// pins the thread to the lowest online CPU in it. It returns the thread's
// new mask, or false if the mask has no online CPU or there is no such
// thread. The running thread moves to its CPU at once.
func SetAffinity(tid int32, mask uint64) (uint64, bool) {
	t := threadOrCurrent(tid)
	if t == nil {
		return 0, false
	}
	online := OnlineMask()
	mask &= online
	if mask == 0 {
		return 0, false
	}
	if mask == online {
		t.pin = notPinned
		return online, true
	}
	i := int32(0)
	for mask&(1<<i) == 0 {
		i++
	}
	t.pin = i
	if t == cur() && int(i) != cpu.Index() {
		Yield() // makeRunnable queues it on its CPU
	}
	return 1 << i, true
}

// threadOrCurrent is the live thread with tid, the running one for 0 or
// its own TID, or nil.
func threadOrCurrent(tid int32) *Thread {
	if t := cur(); tid == 0 || tid == t.TID {
		return t
	}
	return FindThread(tid)
}

// Affinity is the mask of the CPUs the thread with tid (0: the running
// one) may run on, or false if there is no such thread.
func Affinity(tid int32) (uint64, bool) {
	t := threadOrCurrent(tid)
	if t == nil {
		return 0, false
	}
	if t.pin == notPinned {
		return OnlineMask(), true
	}
	return 1 << t.pin, true
}

// Halted reports whether CPU i's idle loop is halted.
func Halted(i int) bool { return atomic.LoadUint32(&cpus[i].halted) != 0 }

// CPUStats are a CPU's counters: timer interrupts, IPIs taken, and
// entries to ring 3.
func CPUStats(i int) (ticks, ipis, userEntries uint64) {
	c := &cpus[i]
	return atomic.LoadUint64(&c.ticks), atomic.LoadUint64(&c.ipis), cpu.UserEntries(i)
}

// PingCPU sends CPU i a reschedule IPI and waits up to 100 ms for it to
// take it; it runs in handler context (and lets the kernel lock go while
// it waits).
func PingCPU(i int) bool {
	if i == cpu.Index() || i >= int(OnlineCPUs) {
		return false
	}
	c := &cpus[i]
	before := atomic.LoadUint64(&c.ipis)
	// The other CPU may be waiting for the kernel lock with interrupts
	// off: the wait is without it.
	d := releaseAll()
	defer reacquireAll(d)
	sendIPI(c.apicID, vectorReschedule)
	for t0 := Nanotime(); Nanotime()-t0 < 100_000_000; {
		if atomic.LoadUint64(&c.ipis) != before {
			return true
		}
		cpu.Pause()
	}
	return false
}
