package ring

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"beelzebox/cpu"
	"beelzebox/kernel"
	"beelzebox/mm"
	"beelzebox/sandbox"
	"beelzebox/syscall"
)

// thread is a thread of a level 1 or 2 guest: the goroutine that calls
// its Run becomes it, through the Run system call (run.go), until the
// thread's next exit.
type thread struct {
	g      *guest
	id     int
	rs     *runState // in kernel memory, see NewThread; nil once freed
	rsLo   uintptr   // the kernel memory of rs
	rsHi   uintptr
	budget time.Duration
	// state says who has the saved state (idle, inRun, held): Run and
	// Close must not overlap (Close frees the state the kernel is running
	// from), two Runs would enter one context twice, and Regs must not
	// see a state half written by an exit.
	state atomic.Int32
}

// Values of thread.state.
const (
	idle  = iota
	inRun // a Run is in the kernel: others are refused
	held  // a short hold by another method (Regs, Close, ...): others wait
)

// claim takes the saved state for a Run (as inRun) or another method (as
// held). It fails while a Run has it; a hold is short, and waited out.
func (t *thread) claim(as int32) bool {
	for !t.state.CompareAndSwap(idle, as) {
		if t.state.Load() == inRun {
			return false
		}
		runtime.Gosched()
	}
	return true
}

func (t *thread) unclaim() { t.state.Store(idle) }

// runState is what the Run system call works on. The handler writes only
// integers into it (handler code must not store pointers).
type runState struct {
	ctx        cpu.UserContext
	budgetLeft int64  // ns of CPU time left for this Run
	checkPKRU  uint64 // level 2: the exit PKRU must equal ctx.PKRU
	// interrupt is set by Interrupt and cleared by the Run that returns
	// ExitInterrupted for it.
	interrupt atomic.Uint32
	// runner is the kernel thread inside Run (its record's address), 0
	// outside: the one Interrupt kicks out of ring 3 on another CPU.
	runner atomic.Uintptr
	// stop says why the run stopped when ctx's vector does not (stopBy*),
	// 0 when it does.
	stop uint64
}

// Values of runState.stop.
const (
	stopByVector    = iota
	stopKilled      // the exit PKRU was not the guest's
	stopNotEntered  // the state was not loadable (EntryValid): a #GP
	stopInterrupted // Interrupt
)

func (t *thread) Guest() sandbox.Guest { return t.g }

// ID is the thread's number in its guest (Main is 1).
func (t *thread) ID() int { return t.id }

// free gives back the thread's saved state; the caller holds it and the
// guest's lock.
func (t *thread) free() {
	if t.rsLo != 0 {
		t.rs = nil
		syscall.InKernel(func() { mm.FreeKernel(t.rsLo, t.rsHi) })
		t.g.used -= uint64(t.rsHi - t.rsLo)
		t.rsLo = 0
	}
}

// Run enters the guest through the Run system call and decodes the exit.
func (t *thread) Run() (e sandbox.Exit, err error) {
	// The CAS first, inline: claim is a call, and this is the level 1
	// round trip's path.
	if !t.state.CompareAndSwap(idle, inRun) && !t.claim(inRun) {
		return sandbox.Exit{}, sandbox.ErrRunning
	}
	rs := t.rs
	if rs == nil {
		t.unclaim()
		return sandbox.Exit{}, sandbox.ErrClosed
	}
	rs.budgetLeft = int64(t.budget)
	syscall.Private(syscall.CallRun, uintptr(unsafe.Pointer(rs)), 0, 0)
	e.Thread = t
	f := &rs.ctx.Regs
	switch {
	case rs.stop != stopByVector:
		t.decodeStop(&e)
	case f.Vector == cpu.VectorSyscall:
		// Field by field: a composite literal is built aside and copied.
		e.Kind = sandbox.ExitSyscall
		e.Syscall.Nr = f.AX
		a := &e.Syscall.Args
		a[0], a[1], a[2], a[3], a[4], a[5] = f.DI, f.SI, f.DX, f.R10, f.R8, f.R9
	case f.Vector >= 32:
		e.Kind = sandbox.ExitBudget
	default:
		e.Kind = sandbox.ExitFault
		e.Fault = sandbox.Fault{Vector: f.Vector, ErrorCode: f.ErrorCode, CR2: rs.ctx.CR2, RIP: f.RIP}
	}
	t.unclaim() // not deferred: this is the level 1 round trip's path
	return e, nil
}

// decodeStop fills e for the stops that the vector does not tell.
func (t *thread) decodeStop(e *sandbox.Exit) {
	rs := t.rs
	switch rs.stop {
	case stopKilled:
		e.Kind = sandbox.ExitKilled
		e.Reason = fmt.Sprintf("pkru tampered: the guest left PKRU %#08x, its PKRU is %#08x", rs.ctx.ExitPKRU, rs.ctx.PKRU)
	case stopNotEntered:
		e.Kind = sandbox.ExitFault
		e.Fault = sandbox.Fault{Vector: rs.ctx.Regs.Vector, ErrorCode: rs.ctx.Regs.ErrorCode, RIP: rs.ctx.Regs.RIP, NotEntered: true}
	case stopInterrupted:
		e.Kind = sandbox.ExitInterrupted
	}
}

// Resume: the thread runs only inside Run, there is no port.
func (t *thread) Resume() error { return sandbox.ErrNoPort }

// Exit ends a stopped thread and gives back its saved state.
func (t *thread) Exit() error {
	g := t.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if !t.claim(held) {
		return sandbox.ErrRunning
	}
	defer t.unclaim()
	if t.rs == nil {
		return sandbox.ErrClosed
	}
	t.free()
	for i, u := range g.threads {
		if u == t {
			g.threads = append(g.threads[:i], g.threads[i+1:]...)
			break
		}
	}
	return nil
}

// Interrupt makes the current or next Run return ExitInterrupted. The
// flag is in the run state, which the Run system call checks before it
// enters the guest and after every interrupt that stops the guest. On
// one CPU, a goroutine that calls Interrupt runs while the guest does
// not: the guest sees the flag when its thread is scheduled again. On
// several, the guest may be in ring 3 on another CPU: kernel.Kick sends
// that CPU an IPI, which stops the guest there.
func (t *thread) Interrupt() {
	t.g.mu.Lock() // Close and Exit free the run state
	defer t.g.mu.Unlock()
	if t.rs != nil {
		t.rs.interrupt.Store(1)
		kernel.Kick(t.rs.runner.Load())
	}
}

// hold gives the caller the stopped thread's saved state so that no Run
// or Close overlaps; unclaim gives it back. It fails while the thread runs
// and once the guest is closed.
func (t *thread) hold() error {
	if !t.claim(held) {
		return sandbox.ErrRunning
	}
	if t.rs == nil {
		t.unclaim()
		return sandbox.ErrClosed
	}
	return nil
}

// Regs is the register state of the stopped thread (running or closed:
// the zero Regs).
func (t *thread) Regs() sandbox.Regs {
	if t.hold() != nil {
		return sandbox.Regs{}
	}
	defer t.unclaim()
	return sandbox.SavedRegs(&t.rs.ctx)
}

// SetRegs replaces the register state of the stopped thread (see
// sandbox.LoadRegs).
func (t *thread) SetRegs(r sandbox.Regs) error {
	if err := t.hold(); err != nil {
		return err
	}
	defer t.unclaim()
	return sandbox.LoadRegs(&t.rs.ctx, r)
}

// SetReturn sets RAX of the stopped thread. It is on the level 1 round
// trip's path, so it does not hold the thread: the host that serves the
// thread calls it between Runs.
func (t *thread) SetReturn(v uint64) {
	if rs := t.rs; rs != nil {
		rs.ctx.Regs.AX = v
	}
}

// PKRU is the value of PKRU the thread had when it last stopped (0
// without PKU, while it runs and once the guest is closed).
func (t *thread) PKRU() uint32 {
	if t.hold() != nil {
		return 0
	}
	defer t.unclaim()
	return t.rs.ctx.ExitPKRU
}

// VectorState copies the stopped thread's XSAVE image into b.
func (t *thread) VectorState(b []byte) error { return t.vectorState(b, false) }

// SetVectorState loads a sanitised XSAVE image into the stopped thread.
func (t *thread) SetVectorState(b []byte) error { return t.vectorState(b, true) }

func (t *thread) vectorState(b []byte, load bool) error {
	if err := t.hold(); err != nil {
		return err
	}
	defer t.unclaim()
	area := unsafe.Slice((*byte)(unsafe.Pointer(t.rs.ctx.Xsave)), cpu.XsaveSize)
	return sandbox.CopyVectorState(area, b, load)
}
