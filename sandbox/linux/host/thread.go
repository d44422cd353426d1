package host

import (
	"fmt"
	"sync/atomic"
	"time"

	"beelzebox/linux"
	"beelzebox/sandbox"
)

// Thread is a guest thread and the goroutine that serves it.
type Thread struct {
	p   *Process
	t   sandbox.Thread
	tid int
	// wake is poked when a signal for the thread becomes deliverable or
	// the process exits: it ends a blocking call (Wait).
	wake chan struct{}
	// attention says a signal may be deliverable to the thread (one was
	// made pending, its mask changed) or the process is ending: serve
	// looks at signals only then, not at every round trip. Set and
	// cleared with p.mu held.
	attention atomic.Bool
	// Signal state: the blocked mask and pending set (guarded by p.mu),
	// the alternate stack, the fault behind a pending synchronous signal.
	mask     uint64
	pending  uint64
	infos    [linux.NSIG + 1]linux.SigInfo
	altSP    uint64
	altSize  uint64
	altFlags uint64
	// savedMask is the mask to restore after a handler that rt_sigsuspend,
	// ppoll or pselect6 ran with a temporary one (0 bits: none saved).
	savedMask    uint64
	hasSavedMask bool
	clearTID     uint64 // CLONE_CHILD_CLEARTID / set_tid_address
	robustList   uint64
	robustLen    uint64
	// The call being served: for restarting it after a handler.
	nr      uint64
	restart bool
	// noReturn: the call set the registers itself (rt_sigreturn).
	noReturn bool
	exited   bool
}

// addThread adds st to the process as thread tid (a new ID from the
// sandbox if 0).
func (p *Process) addThread(st sandbox.Thread, tid int) *Thread {
	if tid == 0 {
		tid = p.sb.newID()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t := &Thread{p: p, t: st, tid: tid, wake: make(chan struct{}, 1)}
	t.attention.Store(true)
	p.threads[tid] = t
	return t
}

// kick wakes the thread from a blocking call or a run in the guest.
func (t *Thread) kick() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
	t.t.Interrupt()
}

// serve is the thread's goroutine: run the guest thread, answer its
// calls and faults, deliver its signals, until it or the process ends.
func (t *Thread) serve() {
	p := t.p
	defer p.live.Done()
	defer t.end()
	for {
		if t.attention.Load() || t.restart || t.exited {
			if p.isExiting() || t.exited {
				return
			}
			if !t.deliverSignals() {
				return
			}
		}
		e, err := t.t.Run()
		if err != nil {
			p.fail(fmt.Errorf("thread %d: %v", t.tid, err))
			return
		}
		switch e.Kind {
		case sandbox.ExitSyscall:
			t.syscall(e.Syscall)
		case sandbox.ExitFault:
			t.fault(e.Fault)
		case sandbox.ExitBudget, sandbox.ExitInterrupted:
		case sandbox.ExitKilled:
			p.fail(fmt.Errorf("thread %d: %s", t.tid, e.Reason))
			return
		default:
			p.fail(fmt.Errorf("thread %d: unexpected exit %v", t.tid, e))
			return
		}
	}
}

// end removes the thread: its CLONE_CHILD_CLEARTID word is cleared and
// woken as Linux does, and its sandbox thread exits (the main thread's
// with the guest).
func (t *Thread) end() {
	p := t.p
	if t.clearTID != 0 && !p.isExiting() {
		var zero [4]byte
		if p.g.WriteMemory(t.clearTID, zero[:]) == nil {
			p.futexes.wake(t.clearTID, 1, linux.FUTEX_BITSET_MATCH_ANY)
		}
	}
	p.mu.Lock()
	delete(p.threads, t.tid)
	last := len(p.threads) == 0
	p.mu.Unlock()
	if !last || p.borrowed {
		// A borrowed thread leaves the guest it borrowed; the last
		// thread of a guest of its own goes with the guest.
		t.t.Exit()
	}
}

func (p *Process) isExiting() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exiting
}

// ReadMemory and WriteMemory are the guest's memory (fs.Task).
func (t *Thread) ReadMemory(addr uint64, b []byte) error  { return t.p.g.ReadMemory(addr, b) }
func (t *Thread) WriteMemory(addr uint64, b []byte) error { return t.p.g.WriteMemory(addr, b) }

// Wait blocks the call until ch is closed, the deadline passes or a
// signal for the thread (or the process's end) interrupts it (fs.Task).
func (t *Thread) Wait(ch <-chan struct{}, deadline time.Time) linux.Errno {
	if t.interrupted() {
		return linux.EINTR
	}
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			select {
			case <-ch:
				return 0
			default:
				return linux.ETIMEDOUT
			}
		}
		tm := time.NewTimer(d)
		defer tm.Stop()
		timeout = tm.C
	}
	for {
		select {
		case <-ch:
			return 0
		case <-timeout:
			return linux.ETIMEDOUT
		case <-t.wake:
			if t.interrupted() {
				return linux.EINTR
			}
		}
	}
}

// interrupted reports whether a signal can be delivered to the thread or
// the process is ending.
func (t *Thread) interrupted() bool {
	p := t.p
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exiting || (t.pending|p.pending)&^t.mask != 0
}

// SignalPipe sends the thread SIGPIPE (a write to a pipe nobody reads).
func (t *Thread) SignalPipe() {
	t.p.signalThread(t, linux.SigInfo{Signo: linux.SIGPIPE, Code: linux.SI_USER, Kill: true})
}
