package sandbox

import (
	"unsafe"

	"beelzebox/cpu"
	"beelzebox/kernel"
	"beelzebox/syscall"
)

func init() { syscall.Register(syscall.CallRun, run) }

// run is the Run system call (level 1 and 2): the host thread becomes the
// guest until the guest's next system call or exception, or until its
// budget runs out. Interrupts that stop the guest are handled here (the
// timer may switch to other threads: the guest's state is in its
// UserContext, the host's on this thread's kernel stack) and the guest
// resumes, so the host sees only exits it must act on.
//
// Handler context: no allocation, no pointer stores.
func run(f *cpu.Frame) int64 {
	rs := (*runState)(unsafe.Pointer(uintptr(f.DI)))
	rs.killed = 0
	for {
		start := kernel.Nanotime()
		kernel.SetGuestDeadline(start + rs.budgetLeft)
		cpu.EnterUser(&rs.ctx)
		v := rs.ctx.Regs.Vector
		if v == cpu.VectorPF {
			rs.ctx.CR2 = cpu.CR2() // before anything else can fault
		}
		rs.budgetLeft -= kernel.Nanotime() - start
		if v < 32 || v == cpu.VectorSyscall {
			break
		}
		kernel.GuestInterrupt(v)
		if rs.budgetLeft <= 0 {
			break
		}
	}
	kernel.SetGuestDeadline(0)
	if rs.checkPKRU != 0 && rs.ctx.ExitPKRU != rs.ctx.PKRU {
		rs.killed = 1
	}
	return 0
}
