package ring

import (
	"unsafe"

	"beelzebox/cpu"
	"beelzebox/kernel"
	"beelzebox/sandbox"
	"beelzebox/syscall"
)

func init() { syscall.Register(syscall.CallRun, run) }

// run is the Run system call (level 1 and 2): the host thread becomes the
// guest until the guest's next system call or exception, or until its
// budget runs out. Interrupts that stop the guest are handled here (the
// timer may switch to other threads: the guest's state is in its
// UserContext, the host's on this thread's kernel stack) and the guest
// resumes, so the host sees only exits it must act on, unless the host
// asked for the thread to be interrupted: the flag is checked before the
// guest is entered and after every interrupt handled here, the one point
// where another goroutine can have run (thread.Interrupt).
//
// Handler context: no allocation, no pointer stores. The switch path is
// nosplit (it would not grow a stack anyway: kernelG's guard is 0).
//
//go:nosplit
func run(f *cpu.Frame) int64 {
	rs := (*runState)(unsafe.Pointer(uintptr(f.DI)))
	rs.stop = stopByVector
	deadline := kernel.Nanotime() + rs.budgetLeft
	self := kernel.SetGuestDeadline(deadline)
	rs.runner.Store(self)
	if rs.takeInterrupt() {
		kernel.ClearGuestDeadline(self)
		rs.runner.Store(0)
		return 0
	}
	for {
		if !rs.ctx.EntryValid() {
			// What the CPU would do if it could try: #GP.
			rs.ctx.Regs.Vector, rs.ctx.Regs.ErrorCode = cpu.VectorGP, 0
			rs.stop = stopNotEntered
			break
		}
		cpu.EnterUser(&rs.ctx)
		v := rs.ctx.Regs.Vector
		if v == cpu.VectorSyscall {
			if rs.ctx.Regs.AX != sandbox.NullSyscall {
				break
			}
			// Answered by the kernel: the baseline round trip.
			rs.ctx.Regs.AX = 0
			continue
		}
		if v == cpu.VectorPF {
			rs.ctx.CR2 = cpu.CR2() // before anything else can fault
		}
		if v < 32 {
			kernel.CheckEntryState()
			break
		}
		// An interrupt. Time spent running other threads is not the
		// guest's: the deadline moves by it, so the budget is CPU time.
		before := kernel.Nanotime()
		switched := kernel.GuestInterrupt(v)
		now := kernel.Nanotime()
		if switched {
			deadline += now - before
			kernel.SetGuestDeadline(deadline)
		}
		if rs.takeInterrupt() {
			break
		}
		if now >= deadline {
			break
		}
	}
	kernel.ClearGuestDeadline(self)
	rs.runner.Store(0)
	if rs.checkPKRU != 0 && rs.ctx.ExitPKRU != rs.ctx.PKRU {
		rs.stop = stopKilled
	}
	return 0
}

// takeInterrupt reports whether the host interrupted the thread, and
// makes the run stop for it (the host's request is consumed: one
// ExitInterrupted answers it). Interrupts that arrive together are
// answered together.
//
//go:nosplit
func (rs *runState) takeInterrupt() bool {
	if rs.interrupt.Load() == 0 {
		return false
	}
	rs.interrupt.Store(0)
	rs.stop = stopInterrupted
	return true
}
