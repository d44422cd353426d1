// Package process is sandbox level 3: a guest is a process with an address
// space of its own (mm.UserSpace: its pages and the kernel's entry pages,
// nothing else of the kernel) and threads that are kernel threads of their
// own (kernel.Task), preemptively scheduled beside the host's. A thread's
// system call stops it and hands the call to the host: to the goroutine
// waiting in its Run, or to its guest's Port, where one goroutine can serve
// every thread of many guests while the other threads run on.
//
// Page faults on pages a region allows but does not back yet are resolved
// here, without waking the host (demand-zero memory).
package process

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"beelzebox/cpu"
	"beelzebox/kernel"
	"beelzebox/mm"
	"beelzebox/sandbox"
	"beelzebox/syscall"
)

func init() {
	syscall.Register(syscall.CallTask, taskCall)
	sandbox.Register(sandbox.Level3, &sandbox.Backend{
		Requires: "ring 3 and 4-level paging (any x86-64); PCID and INVPCID where the CPU has them",
		New:      newGuest,
		NewPort:  newPort,
	})
}

// Operations of the task call (syscall.CallTask).
const (
	opStart = iota
	opRun
	opResume
	opKill
	opReap
	opPortWait
	opPortClose
)

// taskCall is the private system call behind every operation on tasks
// and ports: handler context, the kernel's task code does the work.
func taskCall(f *cpu.Frame) int64 {
	tk := (*kernel.Task)(unsafe.Pointer(uintptr(f.SI)))
	p := (*kernel.Port)(unsafe.Pointer(uintptr(f.DX)))
	switch f.DI {
	case opStart:
		return kernel.TaskStart(tk)
	case opRun:
		return kernel.TaskRun(tk)
	case opResume:
		return kernel.TaskResume(tk)
	case opKill:
		kernel.TaskKill(tk)
		return 0
	case opReap:
		return kernel.TaskReap(tk)
	case opPortWait:
		return kernel.PortWait(p)
	case opPortClose:
		kernel.PortClose(p)
	}
	return 0
}

// call makes a task call, again while a signal for the host thread cut a
// wait short.
func call(op int, tk *kernel.Task, p *kernel.Port) int64 {
	for {
		r := int64(syscall.Private(syscall.CallTask, uintptr(op), uintptr(unsafe.Pointer(tk)), uintptr(unsafe.Pointer(p))))
		if r != kernel.TaskErrInterrupted {
			return r
		}
	}
}

// kernelRecord is a record in kernel memory: what handler code works on.
type kernelRecord struct{ lo, hi uintptr }

func allocRecord(size uintptr) (kernelRecord, bool) {
	size = (size + mm.PageSize - 1) &^ (mm.PageSize - 1)
	var r kernelRecord
	ok := false
	syscall.InKernel(func() {
		if uint64(mm.Phys.FreeCount())*mm.PageSize >= kernelReserve+uint64(size) {
			r.lo, r.hi, ok = mm.AllocKernel(size)
		}
	})
	return r, ok
}

func (r kernelRecord) free() { syscall.InKernel(func() { mm.FreeKernel(r.lo, r.hi) }) }

// guest is a level 3 guest.
type guest struct {
	// mu guards everything below: memory, threads, closing.
	mu         sync.Mutex
	space      *mm.UserSpace
	regions    []*region // sorted by address
	order      []uint64  // region addresses in mapping order
	used       uint64
	limit      uint64
	budget     int64
	maxThreads int
	threads    []*thread
	nextID     int
	port       *port
	shared     []sandbox.Share
	main       *thread
	closed     bool
}

// threadCost is what a thread is charged to its guest's memory limit: its
// record with the vector state, and its kernel stack.
var threadCost = uint64(recordSize()) + 16<<10

func recordSize() uintptr {
	return (unsafe.Sizeof(kernel.Task{}) + 64 + cpu.XsaveSize + mm.PageSize - 1) &^ (mm.PageSize - 1)
}

func newGuest(cfg sandbox.Config) (sandbox.Guest, error) {
	g := &guest{limit: cfg.MemoryLimit, budget: int64(cfg.Budget), maxThreads: cfg.MaxThreads}
	if g.limit == 0 {
		g.limit = sandbox.DefaultMemoryLimit
	}
	if g.budget <= 0 {
		g.budget = int64(sandbox.DefaultBudget)
	}
	if g.maxThreads <= 0 {
		g.maxThreads = sandbox.DefaultMaxThreads
	}
	if cfg.Port != nil {
		p, ok := cfg.Port.(*port)
		if !ok {
			return nil, errors.New("sandbox: level 3 guests take ports of level 3 (sandbox.NewPort(sandbox.Level3))")
		}
		g.port = p
	}
	if err := g.init(); err != nil {
		return nil, err
	}
	if err := g.share(cfg.Shared); err != nil {
		g.Close()
		return nil, err
	}
	for _, r := range cfg.Regions {
		if _, err := g.Map(r); err != nil {
			g.Close()
			return nil, err
		}
	}
	t, err := g.NewThread(cfg.Regs)
	if err != nil {
		g.Close()
		return nil, err
	}
	g.main = t.(*thread)
	return g, nil
}

// init builds the guest's address space, holding the entry pages alone,
// and charges it to the guest's limit.
func (g *guest) init() error {
	// The space's root and the tables of the entry pages.
	g.used = uint64(4+mm.EntryPageCount()/512) * mm.PageSize
	if g.used > g.limit {
		return fmt.Errorf("sandbox: the guest's address space does not fit its memory limit of %d KiB", g.limit>>10)
	}
	g.space = mm.NewUserSpace()
	var failed mm.Error // not an error: handler code stores no interfaces
	syscall.InKernel(func() {
		if uint64(mm.Phys.FreeCount())*mm.PageSize < kernelReserve+g.used {
			failed = mm.ErrNoMemory
			return
		}
		failed = g.space.Init()
	})
	if failed != 0 {
		return fmt.Errorf("sandbox: cannot build the guest's address space: %v", failed)
	}
	return nil
}

// share gives the guest the host regions of shares; the caller closes
// the guest on failure.
func (g *guest) share(shares []sandbox.Share) error {
	for i, sh := range shares {
		if err := sh.Region.Use(); err != nil {
			return err
		}
		g.shared = shares[:i+1]
		perm := sandbox.Read
		if sh.Writable {
			perm |= sandbox.Write
		}
		if _, err := g.mapLocked(sandbox.Region{Name: "shared", Addr: sh.Region.Addr(), Size: uint64(len(sh.Region.Bytes())), Perm: perm}, sh.Region.Frames()); err != nil {
			return err
		}
	}
	return nil
}

func (g *guest) Level() sandbox.Level { return sandbox.Level3 }

func (g *guest) Main() sandbox.Thread { return g.main }

// Threads lists the threads that have not exited.
func (g *guest) Threads() []sandbox.Thread {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]sandbox.Thread, len(g.threads))
	for i, t := range g.threads {
		out[i] = t
	}
	return out
}

// NewThread creates a stopped thread with registers r.
func (g *guest) NewThread(r sandbox.Regs) (sandbox.Thread, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, sandbox.ErrClosed
	}
	t, err := g.newThread(func(t *thread) error { return t.setRegs(r) })
	if err != nil {
		return nil, err
	}
	return t, nil
}

// newThread creates a stopped thread whose state load gives it. g.mu is
// held.
func (g *guest) newThread(load func(*thread) error) (*thread, error) {
	if len(g.threads) >= g.maxThreads {
		return nil, sandbox.ErrThreadLimit
	}
	if g.used+threadCost > g.limit {
		return nil, fmt.Errorf("sandbox: a new thread would exceed the guest's memory limit of %d KiB", g.limit>>10)
	}
	rec, ok := allocRecord(recordSize())
	if !ok {
		return nil, errors.New("sandbox: out of memory for a thread")
	}
	g.nextID++
	t := &thread{g: g, id: g.nextID, rec: rec, tk: (*kernel.Task)(unsafe.Pointer(rec.lo))}
	// The vector state follows the record: a 64-byte aligned XSAVE area
	// with a clean header and the default MXCSR (as at levels 1 and 2).
	area := (rec.lo + unsafe.Sizeof(kernel.Task{}) + 63) &^ 63
	*(*uint32)(unsafe.Pointer(area + 24)) = cpu.DefaultMXCSR
	t.tk.Ctx.Xsave = area
	t.tk.Space = uintptr(unsafe.Pointer(g.space))
	if err := load(t); err != nil {
		rec.free()
		return nil, err
	}
	if g.port != nil {
		if !g.port.attach(t) {
			rec.free()
			return nil, sandbox.ErrClosed
		}
		t.tk.Port = uintptr(unsafe.Pointer(g.port.rec()))
	}
	if call(opStart, t.tk, nil) != 0 {
		if g.port != nil {
			g.port.detach(t)
		}
		rec.free()
		return nil, errors.New("sandbox: out of memory for a thread's kernel stack")
	}
	g.used += threadCost
	g.threads = append(g.threads, t)
	return t, nil
}

// endThread kills t and waits for its kernel thread to end; its record
// goes when no goroutine uses it any more. g.mu is held.
func (g *guest) endThread(t *thread) {
	call(opKill, t.tk, nil)
	call(opReap, t.tk, nil)
	if g.port != nil {
		g.port.detach(t)
	}
	t.markExited()
	g.used -= threadCost
	for i, o := range g.threads {
		if o == t {
			g.threads = append(g.threads[:i], g.threads[i+1:]...)
			break
		}
	}
}

// Close kills every thread and releases the guest's memory and space.
func (g *guest) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return sandbox.ErrClosed
	}
	g.closed = true
	for len(g.threads) > 0 {
		g.endThread(g.threads[0])
	}
	for _, r := range g.regions {
		g.release(r)
	}
	g.regions, g.order = nil, nil
	syscall.InKernel(g.space.Destroy)
	for _, sh := range g.shared {
		sh.Region.Unuse()
	}
	return nil
}

// thread is a level 3 guest thread.
type thread struct {
	g  *guest
	id int
	// rec holds tk, the kernel's record of the thread, and its vector
	// state.
	rec kernelRecord
	tk  *kernel.Task
	// runMu is held by Run: one Run at a time.
	runMu sync.Mutex
	// uses counts the goroutines using tk, and holds exitedBit once the
	// thread is gone: the record is freed when both say so, by whoever
	// comes last (a Run or Next may be between its system call and its
	// use of the record when Close ends the thread). An atomic word, not
	// a lock: it is taken twice on every round trip.
	uses atomic.Int64
}

const exitedBit = 1 << 62

// acquire takes a reference on the record; false if the thread exited.
func (t *thread) acquire() bool {
	for {
		v := t.uses.Load()
		if v&exitedBit != 0 {
			return false
		}
		if t.uses.CompareAndSwap(v, v+1) {
			return true
		}
	}
}

// release drops a reference, freeing the record after the thread exited.
func (t *thread) release() {
	if t.uses.Add(-1) == exitedBit {
		t.rec.free()
	}
}

// markExited records that the thread is gone (its kernel thread has
// ended) and frees the record unless a goroutine still uses it.
func (t *thread) markExited() {
	if t.uses.Or(exitedBit) == 0 {
		t.rec.free()
	}
}

func (t *thread) Guest() sandbox.Guest { return t.g }
func (t *thread) ID() int              { return t.id }

// Run resumes the thread and waits for its next exit.
func (t *thread) Run() (sandbox.Exit, error) {
	if !t.runMu.TryLock() {
		return sandbox.Exit{}, sandbox.ErrRunning
	}
	defer t.runMu.Unlock()
	if !t.acquire() {
		return sandbox.Exit{}, sandbox.ErrExited
	}
	defer t.release()
	t.tk.Budget = t.g.budget // for the whole Run, page faults resolved included
	for {
		ev := kernel.TaskEvent(call(opRun, t.tk, nil))
		if e, done := t.exit(ev); done {
			return e, nil
		}
	}
}

// exit turns an event of the stopped thread into the host's exit, or
// resolves a demand-zero fault and reports false: the thread runs on.
func (t *thread) exit(ev kernel.TaskEvent) (sandbox.Exit, bool) {
	tk := t.tk
	f := &tk.Ctx.Regs
	e := sandbox.Exit{Thread: t}
	switch ev {
	case kernel.EventSyscall:
		e.Kind = sandbox.ExitSyscall
		e.Syscall = sandbox.Syscall{Nr: f.AX, Args: [6]uint64{f.DI, f.SI, f.DX, f.R10, f.R8, f.R9}}
	case kernel.EventFault:
		if f.Vector == cpu.VectorPF && tk.NotEntered == 0 && t.g.demandFault(tk.Ctx.CR2, f.ErrorCode) {
			return e, false
		}
		e.Kind = sandbox.ExitFault
		e.Fault = sandbox.Fault{Vector: f.Vector, ErrorCode: f.ErrorCode, CR2: tk.Ctx.CR2, RIP: f.RIP, NotEntered: tk.NotEntered != 0}
	case kernel.EventBudget:
		e.Kind = sandbox.ExitBudget
	case kernel.EventInterrupted:
		e.Kind = sandbox.ExitInterrupted
	default:
		e.Kind = sandbox.ExitThreadExited
	}
	return e, true
}

// Resume lets the stopped thread run on; its next exit goes to the port.
func (t *thread) Resume() error {
	if t.g.port == nil {
		return sandbox.ErrNoPort
	}
	if !t.acquire() {
		return sandbox.ErrExited
	}
	defer t.release()
	call(opResume, t.tk, nil)
	return nil
}

// stopped takes a reference on a thread whose registers are the host's:
// the caller releases it.
func (t *thread) stopped() bool {
	if !t.acquire() {
		return false
	}
	if t.tk.State != kernel.TaskStopped {
		t.release()
		return false
	}
	return true
}

func (t *thread) Regs() sandbox.Regs {
	if !t.stopped() {
		return sandbox.Regs{}
	}
	defer t.release()
	return sandbox.SavedRegs(&t.tk.Ctx)
}

func (t *thread) SetRegs(r sandbox.Regs) error {
	if err := t.hold(); err != nil {
		return err
	}
	defer t.release()
	return t.setRegs(r)
}

// hold is stopped with the reason it fails: ErrExited or ErrRunning.
func (t *thread) hold() error {
	if t.stopped() {
		return nil
	}
	if !t.acquire() {
		return sandbox.ErrExited
	}
	t.release()
	return sandbox.ErrRunning
}

// setRegs checks and loads r.
func (t *thread) setRegs(r sandbox.Regs) error { return sandbox.LoadRegs(&t.tk.Ctx, r) }

func (t *thread) SetReturn(v uint64) {
	if t.stopped() {
		t.tk.Ctx.Regs.AX = v
		t.release()
	}
}

func (t *thread) PKRU() uint32 { return 0 }

// VectorState copies the stopped thread's XSAVE image into b.
func (t *thread) VectorState(b []byte) error { return t.vectorState(b, false) }

// SetVectorState loads a sanitised XSAVE image into the stopped thread.
func (t *thread) SetVectorState(b []byte) error { return t.vectorState(b, true) }

func (t *thread) vectorState(b []byte, load bool) error {
	if err := t.hold(); err != nil {
		return err
	}
	defer t.release()
	return sandbox.CopyVectorState(xsaveArea(t), b, load)
}

// Interrupt asks the thread to stop with ExitInterrupted.
func (t *thread) Interrupt() {
	if t.acquire() {
		atomic.StoreUint32(&t.tk.Interrupt, 1)
		kernel.TaskInterrupted(t.tk)
		t.release()
	}
}

// Exit ends the thread.
func (t *thread) Exit() error {
	t.g.mu.Lock()
	defer t.g.mu.Unlock()
	if !t.acquire() {
		return sandbox.ErrExited
	}
	t.release()
	t.g.endThread(t)
	return nil
}

// port is a level 3 Port: a kernel.Port record and the threads it serves.
// The record goes once the port is closed and serves no thread: until
// then a thread may still post to it.
type port struct {
	r  kernelRecord
	mu sync.Mutex
	// byTask maps a task record's address to its thread.
	byTask map[uintptr]*thread
	// waiting counts the goroutines in Next, in or on their way to the
	// kernel's wait on the record.
	waiting int
	closed  bool
}

// freeIfUnused frees the record of a closed port that nothing refers to
// any more. p.mu is held.
func (p *port) freeIfUnused() {
	if p.closed && len(p.byTask) == 0 && p.waiting == 0 && p.r.lo != 0 {
		p.r.free()
		p.r = kernelRecord{}
	}
}

func newPort() (sandbox.Port, error) {
	r, ok := allocRecord(unsafe.Sizeof(kernel.Port{}))
	if !ok {
		return nil, errors.New("sandbox: out of memory for a port")
	}
	return &port{r: r, byTask: map[uintptr]*thread{}}, nil
}

func (p *port) rec() *kernel.Port { return (*kernel.Port)(unsafe.Pointer(p.r.lo)) }

// attach makes p serve t; false once p is closed.
func (p *port) attach(t *thread) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.byTask[uintptr(unsafe.Pointer(t.tk))] = t
	return true
}

// detach stops serving t, whose task can no longer post.
func (p *port) detach(t *thread) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.byTask, uintptr(unsafe.Pointer(t.tk)))
	p.freeIfUnused()
}

// Next waits for the next exit of a thread served by the port.
func (p *port) Next() (sandbox.Exit, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return sandbox.Exit{}, sandbox.ErrClosed
		}
		p.waiting++
		p.mu.Unlock()
		a := call(opPortWait, nil, p.rec())
		p.mu.Lock()
		p.waiting--
		p.freeIfUnused()
		p.mu.Unlock()
		if a == kernel.TaskErrClosed {
			return sandbox.Exit{}, sandbox.ErrClosed
		}
		if e, ok := p.take(uintptr(a)); ok {
			return e, nil
		}
	}
}

// take decodes the event of the task at a, or resolves its demand fault
// and resumes it (false).
func (p *port) take(a uintptr) (sandbox.Exit, bool) {
	p.mu.Lock()
	t := p.byTask[a]
	p.mu.Unlock()
	if t == nil || !t.acquire() {
		return sandbox.Exit{}, false
	}
	defer t.release()
	e, done := t.exit(t.tk.Event)
	if !done {
		call(opResume, t.tk, nil)
	}
	return e, done
}

// Close wakes every goroutine in Next.
func (p *port) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return sandbox.ErrClosed
	}
	p.closed = true
	call(opPortClose, nil, p.rec())
	p.freeIfUnused()
	return nil
}
