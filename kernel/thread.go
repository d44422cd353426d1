package kernel

import (
	"sync/atomic"
	"unsafe"

	"beelzebox/cpu"
	"beelzebox/mm"
)

// Kernel threads. Every thread the Go runtime creates with clone is a
// kernel thread with its own kernel stack; the scheduler multiplexes them
// on the CPUs (smp.go), preemptively: the timer interrupt ends a thread's
// slice even if it never makes a system call.
//
// Invariants:
//   - Threads switch only in handler context (inside a system call or an
//     interrupt taken from Go code), with interrupts disabled and the
//     kernel lock held, through switchTo. Whatever a switched-out thread was doing is saved on its
//     kernel stack: the entry frame, the XSAVE area of an interrupted
//     context (cpu/entry_amd64.s), and switchTo's callee-saved registers.
//   - cur() is the running CPU's running thread; its per-CPU block (cpu
//     package) always describes that thread's kernel stack and TLS.
//   - A thread is in one CPU's run queue exactly while it is
//     StateRunnable: every change to runnable goes through makeRunnable.
//     pick takes, from the CPU's own queue, the runnable thread that
//     follows the running one in table order, round robin: every
//     runnable thread gets a turn before any gets a second, and a thread
//     woken while another ran gets its turn in its place in the rotation
//     (not behind a CPU-bound thread's next slice, as in a FIFO). A CPU
//     with an empty queue takes from another's.
//   - sleepUntil is at or before the earliest deadline of a blocked
//     thread (it may be earlier: a sleeper woken early leaves it behind),
//     so the scan for expired sleepers runs only when it has come.
//   - dead counts the dead threads whose stacks reapDead has not freed.

const (
	kstackSize = 64 << 10
	// handlerStackSize is the kernel stack of a handler thread, which
	// never runs Go runtime code or takes an interrupt on it (ring 3's
	// arrive on IST stacks and are saved in the UserContext).
	handlerStackSize = 16 << 10
	sliceNanos       = 10_000_000
	// The thread table grows by chunks of threadsPerChunk records in
	// kernel memory, up to maxChunks: clone fails only when memory for
	// a kernel stack (or a chunk) is gone, which the kernel's reserve
	// (guests never take its last 16 MiB) makes a real exhaustion.
	threadsPerChunk = 64
	maxChunks       = 256
)

// ThreadState is where a thread is in its life.
type ThreadState uint8

const (
	StateFree ThreadState = iota
	StateRunnable
	StateRunning
	StateBlocked
	StateDead
)

// Thread is a kernel thread.
type Thread struct {
	TID     int32
	index   int32 // in the table
	State   ThreadState
	ksp     uintptr // kernel SP saved by swtch while switched out
	stackLo uintptr
	stackHi uintptr
	FSBase  uint64

	runNext uintptr // the next thread in the run queue (a *Thread), while runnable
	lastCPU int32   // the CPU it last ran on
	// lockDepth is the depth of its CPU's hold on the kernel lock while
	// it is switched out (a new thread releases one level as it starts).
	lockDepth int32
	pin       int32   // the only CPU it may run on, or notPinned
	waitKey   uintptr // what a blocked thread waits for (0: only its deadline)
	deadline  int64   // wake-up time for a blocked thread, 0 = none
	wakeWhy   WakeReason
	sliceEnd  int64

	// GuestDeadline, when set, asks for a timer interrupt at that time
	// (a sandbox guest's budget).
	GuestDeadline int64

	sig sigState
}

type WakeReason uint8

const (
	WokenByEvent WakeReason = iota
	WokenByTimeout
	WokenBySignal
)

var (
	// chunks are the addresses of the chunks of the thread table, from
	// mm.AllocKernel (zeroed: every record StateFree). They, and
	// runningAt, are integers, not pointers: handler code must not store
	// pointers into globals, because a store while the garbage collector
	// runs takes the write barrier, which needs a real g and m.
	chunks  [maxChunks]uintptr
	nchunks int
	// live is one past the highest slot ever used: loops over threads
	// stop there.
	live    int
	nextTID int32 = 1
	// Switches counts thread switches.
	Switches uint64
	// sleepUntil: see the invariants; 0 when no thread sleeps.
	sleepUntil int64
	dead       int
)

// makeRunnable puts t, which must not be runnable already, on the run
// list.
//
//go:nosplit
func makeRunnable(t *Thread) {
	t.State = StateRunnable
	placeRunnable(t)
}

// thread returns record i of the table.
func thread(i int) *Thread {
	return (*Thread)(unsafe.Pointer(chunks[i/threadsPerChunk] + uintptr(i%threadsPerChunk)*unsafe.Sizeof(Thread{})))
}

// Current returns the running thread.
//
//go:nosplit
func Current() *Thread { return cur() }

// cur is Current for this package.
//
//go:nosplit
func cur() *Thread { return (*Thread)(unsafe.Pointer(me().running)) }

// setRunning makes t the running thread of c, the running CPU.
//
//go:nosplit
func setRunning(c *cpuState, t *Thread) {
	c.running = uintptr(unsafe.Pointer(t))
	atomic.StoreInt32(&t.lastCPU, int32(c.lockID-1))
}

// newThread takes a free record, growing the table by a chunk when all
// are in use, and gives it a kernel stack of stackSize bytes.
func newThread(stackSize uintptr) *Thread {
	i := 0
	for ; i < nchunks*threadsPerChunk && thread(i).State != StateFree; i++ {
	}
	if i == nchunks*threadsPerChunk {
		if nchunks == maxChunks {
			return nil
		}
		size := (threadsPerChunk*unsafe.Sizeof(Thread{}) + mm.PageSize - 1) &^ (mm.PageSize - 1)
		lo, _, ok := mm.AllocKernel(size)
		if !ok {
			return nil
		}
		chunks[nchunks] = lo
		nchunks++
	}
	lo, hi, ok := mm.AllocKernel(stackSize)
	if !ok {
		return nil
	}
	t := thread(i)
	*t = Thread{TID: nextTID, index: int32(i), stackLo: lo, stackHi: hi, lastCPU: int32(cpu.Index()), pin: notPinned, lockDepth: 1}
	nextTID++
	live = max(live, i+1)
	return t
}

// initThreads makes the boot thread, which becomes the Go runtime's first
// thread (m0), the running thread.
func initThreads() {
	t := newThread(kstackSize)
	if t == nil {
		Panic("cannot allocate the first kernel stack")
	}
	t.State = StateRunning
	setRunning(me(), t)
	cpu.SetKernelStack(t.stackLo, t.stackHi)
	makeIdleThread(0)
}

// makeIdleThread creates CPU i's idle thread, pinned to it and never
// queued: pick falls back to it.
func makeIdleThread(i int) *Thread {
	t := newThread(handlerStackSize)
	if t == nil {
		Panic("cannot allocate an idle thread")
	}
	prepareHandler(t, bodyIdle, 0)
	t.pin = int32(i)
	t.State = StateRunnable // never in a queue: see pick
	cpus[i].idle = uintptr(unsafe.Pointer(t))
	return t
}

// Spawn creates a thread that starts by returning from the entry frame f
// (a copy is placed on its kernel stack) with FS base fs. It is clone.
func Spawn(f *cpu.Frame, fs uint64) *Thread {
	t := newThread(kstackSize)
	if t == nil {
		return nil
	}
	// The new kernel stack, from the top: the frame, then what swtch pops
	// (R15, R14, R13, R12, BX, BP) and its return address.
	fp := (t.stackHi - unsafe.Sizeof(cpu.Frame{})) &^ 15
	*(*cpu.Frame)(unsafe.Pointer(fp)) = *f
	sp := fp - 8*8
	words := (*[8]uintptr)(unsafe.Pointer(sp))
	*words = [8]uintptr{
		0,                    // R15
		0,                    // R14
		cpu.KernelReturnPC(), // R13: where the trampoline jumps
		fp,                   // R12: the frame
		0, 0,                 // BX, BP
		threadTrampolinePC(),
		0,
	}
	t.ksp = sp
	t.FSBase = fs
	makeRunnable(t)
	return t
}

// spawnHandler creates a thread that runs handlerBodies[body](arg) in
// handler context (interrupts disabled, kernelG in its TLS, on a kernel
// stack of handlerStackSize bytes) and never returns to Go runtime code:
// the kernel side of a guest thread (task.go). It starts runnable.
func spawnHandler(body int, arg uintptr) *Thread {
	t := newThread(handlerStackSize)
	if t == nil {
		return nil
	}
	prepareHandler(t, body, arg)
	makeRunnable(t)
	return t
}

// prepareHandler lays out a new handler thread's stack for its first
// switch.
func prepareHandler(t *Thread, body int, arg uintptr) {
	// What swtch pops, then threadTrampoline's jump: R12 is the stack
	// handlerTrampoline starts on, R15 and R14 its arguments.
	top := t.stackHi &^ 15
	sp := top - 8*8
	*(*[8]uintptr)(unsafe.Pointer(sp)) = [8]uintptr{
		arg,                   // R15
		uintptr(body),         // R14
		handlerTrampolinePC(), // R13
		top,                   // R12
		0, 0,                  // BX, BP
		threadTrampolinePC(),
		0,
	}
	t.ksp = sp
	t.FSBase = uint64(cpu.HandlerTLS())
}

// handlerThreadMain is where a handler thread starts (from
// handlerTrampoline); the thread ends when its body returns.
func handlerThreadMain(arg, body uintptr) {
	handlerBodies[body](arg)
	ExitThread()
}

// The bodies of handler threads. An index, not a func value, goes into
// the new thread's stack: handler code stores no pointers.
const (
	bodyTask = iota
	bodySwitchPartner
	bodyIdle
)

var handlerBodies = [...]func(arg uintptr){bodyTask: taskMain, bodySwitchPartner: switchPartner, bodyIdle: idleMain}

// switchTo makes next the running thread. The caller has set current's
// state (runnable, blocked or dead).
func switchTo(next *Thread, now int64) {
	c := me()
	prev := (*Thread)(unsafe.Pointer(c.running))
	next.State = StateRunning
	next.sliceEnd = now + sliceNanos
	if next == prev {
		// The one-shot timer may have been spent while idle.
		armNext(c, now)
		return
	}
	Switches++
	// A CPU that switches is not halted, whatever its idle thread was
	// doing (shootdowns skip halted CPUs: smp.go).
	if c.halted != 0 {
		atomic.StoreUint32(&c.halted, 0)
	}
	setRunning(c, next)
	cpu.SetThread(next.stackLo, next.stackHi, next.FSBase)
	armNext(c, now)
	prev.lockDepth, bigLock.depth = bigLock.depth, next.lockDepth
	swtch(&prev.ksp, next.ksp, next.FSBase)
	// prev runs again here.
	reapDead()
}

// ReapDead frees the stacks of threads that ended and no CPU runs any
// more (handler context; leak checks call it before they count).
func ReapDead() { reapDead() }

// reapDead frees the stacks of threads that exited; a thread cannot free
// the stack it is running on, so this runs after a switch.
func reapDead() {
	if dead > 0 {
		reapDeadThreads()
	}
}

func reapDeadThreads() {
	for i := 0; i < live && dead > 0; i++ {
		t := thread(i)
		if t.State == StateDead && !runningSomewhere(t) {
			mm.FreeKernel(t.stackLo, t.stackHi)
			t.State = StateFree
			dead--
		}
	}
}

// pick wakes blocked threads whose deadline passed and takes the runnable
// thread that comes first after the running one in table order off the
// run list, or returns nil.
func pick(c *cpuState, now int64) *Thread {
	if sleepUntil != 0 && now >= sleepUntil {
		wakeSleepers(now)
	}
	if c.runq == 0 && !steal(c) {
		return nil
	}
	if t := (*Thread)(unsafe.Pointer(c.runq)); t.runNext == 0 {
		// One queued: no order to keep.
		c.runq = 0
		c.queued--
		return t
	}
	start := int((*Thread)(unsafe.Pointer(c.running)).index)
	var best, bestPrev *uintptr
	bestDist := live + 1
	for link := &c.runq; *link != 0; {
		t := (*Thread)(unsafe.Pointer(*link))
		// Distance in the rotation from the running thread: 1 for the
		// next index, live for the running thread itself.
		d := (int(t.index)-start+live-1)%live + 1
		if d < bestDist {
			best, bestPrev, bestDist = link, link, d
		}
		link = &t.runNext
	}
	if best == nil {
		return nil
	}
	t := (*Thread)(unsafe.Pointer(*bestPrev))
	*bestPrev = t.runNext
	t.runNext = 0
	c.queued--
	return t
}

// steal moves a thread that may run here from the longest other queue to
// c's (the balancing) and reports whether it found one.
func steal(c *cpuState) bool {
	self := int32(cpu.Index())
	var from *cpuState
	for i := range cpus[:OnlineCPUs] {
		o := &cpus[i]
		if o != c && o.queued > 0 && (from == nil || o.queued > from.queued) {
			from = o
		}
	}
	if from == nil {
		return false
	}
	for link := &from.runq; *link != 0; {
		t := (*Thread)(unsafe.Pointer(*link))
		if t.pin == notPinned || t.pin == self {
			*link = t.runNext
			from.queued--
			t.runNext = c.runq
			c.runq = uintptr(unsafe.Pointer(t))
			c.queued++
			Steals++
			return true
		}
		link = &t.runNext
	}
	return false
}

// Steals counts threads moved between run queues.
var Steals uint64

// runningSomewhere reports whether a CPU runs t.
func runningSomewhere(t *Thread) bool {
	a := uintptr(unsafe.Pointer(t))
	for i := range cpus[:OnlineCPUs] {
		if cpus[i].running == a {
			return true
		}
	}
	return false
}

// idleMain is a CPU's idle thread: it runs what becomes runnable, and
// halts with interrupts on meanwhile (the kernel lock released), until
// its timer (the earliest sleeper) or another CPU's IPI wakes it.
func idleMain(uintptr) {
	c := me()
	for {
		reapDead() // threads that ended on this CPU before it idled
		now := Nanotime()
		if next := pick(c, now); next != nil {
			cur().State = StateRunnable // never queued: see makeIdleThread
			switchTo(next, now)
			continue
		}
		if d := earliestDeadline(); d != 0 {
			armTimer(d - now)
		} else if allIdle() {
			Panic("deadlock: every thread is blocked with no deadline")
		}
		atomic.StoreUint32(&c.halted, 1)
		d := releaseAll()
		cpu.Halt() // STI; HLT: an interrupt between the two is taken after HLT
		reacquireAll(d)
		atomic.StoreUint32(&c.halted, 0)
	}
}

// allIdle reports whether every CPU runs its idle thread and no thread
// is queued anywhere.
func allIdle() bool {
	for i := range cpus[:OnlineCPUs] {
		if cpus[i].running != cpus[i].idle || cpus[i].runq != 0 {
			return false
		}
	}
	return true
}

// wakeSleepers makes the blocked threads whose deadline passed runnable
// and sets sleepUntil to the earliest deadline left.
func wakeSleepers(now int64) {
	sleepUntil = 0
	for i := 0; i < live; i++ {
		t := thread(i)
		if t.State != StateBlocked || t.deadline == 0 {
			continue
		}
		if now >= t.deadline {
			t.wakeWhy = WokenByTimeout
			makeRunnable(t)
		} else if sleepUntil == 0 || t.deadline < sleepUntil {
			sleepUntil = t.deadline
		}
	}
}

// schedule runs another thread, or idles until one is runnable. The caller
// must not be StateRunning, except for a yield (StateRunnable).
func schedule() {
	now := Nanotime()
	c := me()
	next := pick(c, now)
	if next == nil {
		// A yielding thread is in a queue pick reaches unless it is
		// pinned to another CPU: nothing here can run.
		next = (*Thread)(unsafe.Pointer(c.idle))
	}
	switchTo(next, now)
}

// earliestDeadline is when the next sleeper may have to wake (0: none).
func earliestDeadline() int64 { return sleepUntil }

// armNext programs c's timer, c being the running CPU, for the next
// event: the end of the running thread's slice, the earliest sleeper, or
// a guest deadline. A timer armed for an earlier time stays: the
// interrupt that comes early finds nothing due and arms again
// (PreemptIfDue), which costs less than programming the timer at every
// switch.
func armNext(c *cpuState, now int64) {
	t := (*Thread)(unsafe.Pointer(c.running))
	d := t.sliceEnd
	if e := earliestDeadline(); e != 0 && e < d {
		d = e
	}
	if g := t.GuestDeadline; g != 0 && g < d {
		d = g
	}
	if d < c.armedFor {
		armTimerFrom(c, now, d-now)
	}
}

// Yield lets other runnable threads run.
func Yield() {
	if isIdle(cur()) {
		return
	}
	makeRunnable(cur())
	schedule()
}

// isIdle reports whether t is its CPU's idle thread.
//
//go:nosplit
func isIdle(t *Thread) bool { return me().idle == uintptr(unsafe.Pointer(t)) }

// Block puts the running thread to sleep until Wake(key), the deadline
// (0 = none) or a signal, and says which it was.
func Block(key uintptr, deadline int64) WakeReason {
	t := cur()
	if t.sig.deliverable() {
		return WokenBySignal
	}
	t.State = StateBlocked
	t.waitKey = key
	t.deadline = deadline
	if deadline != 0 && (sleepUntil == 0 || deadline < sleepUntil) {
		sleepUntil = deadline
	}
	t.wakeWhy = WokenByEvent
	schedule()
	t.waitKey = 0
	t.deadline = 0
	return t.wakeWhy
}

// BlockSwitch blocks the running thread as Block(0, 0) does and runs
// next, which must be blocked, at once with the rest of the running
// thread's slice: the direct hand-off of a synchronous call (the two
// halves of a level 3 round trip), which needs neither the scheduler's
// choice nor a new timer setting. next wakes as if by Unblock, also when
// a signal keeps the running thread from blocking.
func BlockSwitch(next *Thread) WakeReason {
	c := me()
	t := (*Thread)(unsafe.Pointer(c.running))
	if t.sig.deliverable() {
		// The running thread does not block, but next must run all the
		// same: its caller is done with it (TaskRun set its task
		// running), and nothing else would wake it.
		Unblock(next)
		return WokenBySignal
	}
	t.State = StateBlocked
	t.wakeWhy = WokenByEvent
	next.State = StateRunning
	next.wakeWhy = WokenByEvent
	next.sliceEnd = t.sliceEnd
	Switches++
	setRunning(c, next)
	cpu.SetThread(next.stackLo, next.stackHi, next.FSBase)
	t.lockDepth, bigLock.depth = bigLock.depth, next.lockDepth
	swtch(&t.ksp, next.ksp, next.FSBase)
	// t runs again here.
	reapDead()
	return t.wakeWhy
}

// Unblock makes t runnable if it is blocked, whatever it waits for (the
// O(1) wake-up of one known thread).
//
//go:nosplit
func Unblock(t *Thread) {
	if t.State == StateBlocked {
		t.wakeWhy = WokenByEvent
		makeRunnable(t)
	}
}

// WakeAll is the n of Wake that wakes every waiter.
const WakeAll = int(^uint(0) >> 1)

// Wake makes up to n threads blocked on key runnable and returns how many.
func Wake(key uintptr, n int) int {
	woken := 0
	for i := 0; i < live; i++ {
		if woken >= n {
			break
		}
		t := thread(i)
		if t.State == StateBlocked && t.waitKey == key && key != 0 {
			t.wakeWhy = WokenByEvent
			makeRunnable(t)
			woken++
		}
	}
	return woken
}

// ExitThread ends the running thread.
func ExitThread() {
	cur().State = StateDead
	dead++
	schedule()
	Panic("a dead thread was scheduled")
}

// PreemptIfDue switches away from the running thread if its slice ended
// and another thread can run. Sleepers whose deadline came become
// runnable (they run in their turn), so the timer is not re-armed for a
// deadline that has passed. Handler code at the top level of an entry
// (not nested) calls it: the timer handler and the sandbox's run loops.
func PreemptIfDue() {
	now := Nanotime()
	if sleepUntil != 0 && now >= sleepUntil {
		wakeSleepers(now)
	}
	if now >= cur().sliceEnd && !isIdle(cur()) {
		makeRunnable(cur())
		schedule()
		return
	}
	armNext(me(), now)
}

// CountThreads returns how many threads exist (not free or dead).
func CountThreads() int {
	n := 0
	for i := 0; i < live; i++ {
		if s := thread(i).State; s != StateFree && s != StateDead {
			n++
		}
	}
	return n
}

// FindThread returns the live thread with tid, or nil.
func FindThread(tid int32) *Thread {
	for i := 0; i < live; i++ {
		t := thread(i)
		if t.TID == tid && t.State != StateFree && t.State != StateDead {
			return t
		}
	}
	return nil
}

// SetFS sets the running thread's FS base (arch_prctl ARCH_SET_FS) for
// the system call whose frame is f: the handler goes on with kernelG in
// the new TLS block, and what the block held goes back on the way out.
func SetFS(f *cpu.Frame, v uint64) {
	cur().FSBase = v
	cpu.SetThreadFS(v)
	f.G = cpu.InstallKernelG(v)
	cpu.Wrmsr(cpu.MSRFSBase, v)
}

// swtch is in switch_amd64.s. It loads the FS base of the thread it
// switches to in the same breath as the stack, so no Go code ever runs
// with one thread's stack and another's TLS.
func swtch(save *uintptr, sp uintptr, fs uint64)
func threadTrampoline()
func threadTrampolinePC() uintptr
func handlerTrampolinePC() uintptr

// SetGuestDeadline asks for a timer interrupt at d (0: none) while the
// running thread runs ring-3 code. The timer is reprogrammed only when d
// comes before what it is set for: this runs on every Run, and an
// interrupt that comes early because a deadline was dropped costs less
// than recomputing the next event each time.
//
// It returns the running thread's record (CurrentThread): a guest run
// that starts needs both, for one per-CPU lookup.
//
//go:nosplit
func SetGuestDeadline(d int64) (self uintptr) {
	c := me()
	self = c.running
	(*Thread)(unsafe.Pointer(self)).GuestDeadline = d
	if d != 0 && d < c.armedFor {
		armTimer(d - Nanotime())
	}
	return self
}

// ClearGuestDeadline ends the guest deadline of the thread whose record
// is t (CurrentThread), the running one: one store, at the end of every
// guest run (an armed timer stays; see armNext).
//
//go:nosplit
func ClearGuestDeadline(t uintptr) { (*Thread)(unsafe.Pointer(t)).GuestDeadline = 0 }

// RuntimeThreads counts the live threads the Go runtime made (the first
// and those of clone) and the frames their stacks hold, dead threads'
// stacks not yet freed included: what the runtime costs in kernel stacks,
// which leak checks of guests leave out.
func RuntimeThreads() (n, frames int) {
	for i := 0; i < live; i++ {
		t := thread(i)
		if t.State == StateFree || t.stackHi-t.stackLo != kstackSize {
			continue
		}
		if t.State != StateDead {
			n++
		}
		frames += kstackSize / mm.PageSize
	}
	return n, frames
}
