package kernel

import (
	"unsafe"

	"beelzebox/cpu"
	"beelzebox/linux"
)

// Signals, as far as the Go runtime needs them: it installs handlers with
// rt_sigaction, gives each thread an alternate stack with sigaltstack, and
// relies on two deliveries:
//   - SIGURG, sent by tgkill to preempt a goroutine that does not yield
//     (asynchronous preemption): the handler rewrites the interrupted
//     context so the goroutine calls asyncPreempt;
//   - SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP for faults in Go code: the
//     handler turns nil dereferences and divisions by zero into panics and
//     prints a symbolized traceback for the rest.
//
// Delivery builds the Linux x86-64 signal frame (a return address pointing
// at sa_restorer, a ucontext with the interrupted registers and signal
// mask, a siginfo, and the XSAVE image of the vector registers) on the
// thread's alternate stack, and redirects the entry frame to the handler.
// rt_sigreturn reverses it.

// The Linux constants the kernel's signals use (package linux holds them
// for every user).
const (
	SIGILL   = linux.SIGILL
	SIGTRAP  = linux.SIGTRAP
	SIGBUS   = linux.SIGBUS
	SIGFPE   = linux.SIGFPE
	SIGKILL  = linux.SIGKILL
	SIGSEGV  = linux.SIGSEGV
	SIGURG   = linux.SIGURG
	SIGCHLD  = linux.SIGCHLD
	SIGWINCH = linux.SIGWINCH
	NSIG     = linux.NSIG

	saOnStack = linux.SA_ONSTACK
	saNoDefer = linux.SA_NODEFER
	ssDisable = linux.SS_DISABLE

	sigDefault = linux.SIG_DFL
	sigIgnore  = linux.SIG_IGN

	SegvMapErr = linux.SEGV_MAPERR
	SegvAccErr = linux.SEGV_ACCERR
	SIKernel   = linux.SI_KERNEL
	FPEIntDiv  = linux.FPE_INTDIV
	ILLIllOpn  = linux.ILL_ILLOPN
	TrapBrkpt  = linux.TRAP_BRKPT
)

// SigAction is the kernel's struct sigaction (handler, flags, restorer,
// mask), as rt_sigaction passes it.
type SigAction struct {
	Handler, Flags, Restorer, Mask uint64
}

// Actions are the process-wide signal dispositions.
var Actions [NSIG + 1]SigAction

type sigState struct {
	mask    uint64
	pending uint64
	altSP   uint64
	altSize uint64
	altOff  bool
	// The fault behind a pending synchronous signal.
	code int32
	addr uint64
	trap uint64
	err  uint64
}

func sigBit(sig int) uint64 { return 1 << (sig - 1) }

func (s *sigState) deliverable() bool { return s.pending&^s.mask != 0 }

// Mask and SetMask give rt_sigprocmask the running thread's mask.
// SIGKILL and SIGSTOP cannot be blocked.
func (t *Thread) Mask() uint64 { return t.sig.mask }
func (t *Thread) SetMask(m uint64) {
	t.sig.mask = m &^ (sigBit(SIGKILL) | sigBit(19))
}

// AltStack and SetAltStack implement sigaltstack.
func (t *Thread) AltStack() (sp, size uint64, disabled bool) {
	return t.sig.altSP, t.sig.altSize, t.sig.altOff || t.sig.altSize == 0
}
func (t *Thread) SetAltStack(sp, size uint64, disabled bool) {
	t.sig.altSP, t.sig.altSize, t.sig.altOff = sp, size, disabled
}

// OnAltStack reports whether sp is inside t's alternate stack.
func (t *Thread) OnAltStack(sp uint64) bool {
	return !t.sig.altOff && sp > t.sig.altSP && sp <= t.sig.altSP+t.sig.altSize
}

// Signal makes sig pending on t, waking it from an interruptible wait.
func Signal(t *Thread, sig int) {
	t.sig.pending |= sigBit(sig)
	if t.State == StateBlocked && t.sig.deliverable() {
		t.wakeWhy = WokenBySignal
		makeRunnable(t)
	}
}

// FaultSignal queues a synchronous signal for a fault of the running
// thread; it is unblocked by force, as Linux does (a blocked fault signal
// would otherwise re-fault forever).
func FaultSignal(sig int, code int32, addr uint64, f *cpu.Frame) {
	t := cur()
	t.sig.mask &^= sigBit(sig)
	t.sig.pending |= sigBit(sig)
	t.sig.code, t.sig.addr, t.sig.trap, t.sig.err = code, addr, f.Vector, f.ErrorCode
}

// ucontext and siginfo as the Linux x86-64 ABI lays them out
// (arch/x86/include/uapi/asm/sigcontext.h, ucontext.h).
type sigcontext struct {
	R8, R9, R10, R11, R12, R13, R14, R15 uint64
	DI, SI, BP, BX, DX, AX, CX, SP, IP   uint64
	Flags                                uint64
	CSGSFS                               uint64
	Err, Trapno, Oldmask, CR2            uint64
	Fpstate                              uint64
	_                                    [8]uint64
}

type ucontext struct {
	Flags   uint64
	Link    uint64
	StackSP uint64
	StackFl int32
	_       int32
	StackSz uint64
	MC      sigcontext
	Sigmask uint64
}

type siginfo struct {
	Signo, Errno, Code, _ int32
	Addr                  uint64
	_                     [12]uint64
}

const redZone = 128

// deliverSignals sets up the handler of the lowest pending unblocked
// signal, if any, to run when f resumes. xsave is the XSAVE image of the
// interrupted context's vector registers (0 when they are not live: the
// entry was a system call).
func deliverSignals(f *cpu.Frame, xsave uintptr) {
	t := cur()
	ready := t.sig.pending &^ t.sig.mask
	if ready == 0 {
		return
	}
	sig := 1
	for ready&1 == 0 {
		ready >>= 1
		sig++
	}
	t.sig.pending &^= sigBit(sig)
	act := &Actions[sig]
	switch act.Handler {
	case sigIgnore:
		return
	case sigDefault:
		switch sig {
		case SIGURG, SIGCHLD, SIGWINCH:
			return
		}
		Print("kernel: thread ")
		PrintDec(uint64(t.TID))
		Print(" killed by signal ")
		PrintDec(uint64(sig))
		Print("\n")
		Exit(128 + sig)
	}

	sp := f.RSP
	if act.Flags&saOnStack != 0 && !t.sig.altOff && t.sig.altSize != 0 && !t.OnAltStack(sp) {
		sp = t.sig.altSP + t.sig.altSize
	}
	sp -= redZone
	sp = (sp - uint64(cpu.XsaveSize)) &^ 63
	fpstate := uintptr(sp)
	if xsave != 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(fpstate)), cpu.XsaveSize), unsafe.Slice((*byte)(unsafe.Pointer(xsave)), cpu.XsaveSize))
	} else {
		cpu.Xsave(fpstate)
	}
	sp -= uint64(unsafe.Sizeof(siginfo{}))
	info := (*siginfo)(unsafe.Pointer(uintptr(sp)))
	*info = siginfo{Signo: int32(sig)}
	if sig != SIGURG {
		info.Code = t.sig.code
		info.Addr = t.sig.addr
	} else {
		info.Code = -6 // SI_TKILL
	}
	sp -= uint64(unsafe.Sizeof(ucontext{}))
	sp &^= 15
	uc := (*ucontext)(unsafe.Pointer(uintptr(sp)))
	*uc = ucontext{
		StackSP: t.sig.altSP,
		StackSz: t.sig.altSize,
		Sigmask: t.sig.mask,
		MC: sigcontext{
			R8: f.R8, R9: f.R9, R10: f.R10, R11: f.R11, R12: f.R12, R13: f.R13, R14: f.R14, R15: f.R15,
			DI: f.DI, SI: f.SI, BP: f.BP, BX: f.BX, DX: f.DX, AX: f.AX, CX: f.CX, SP: f.RSP, IP: f.RIP,
			Flags: f.RFLAGS, CSGSFS: f.CS, Err: t.sig.err, Trapno: t.sig.trap, Oldmask: t.sig.mask,
			CR2: t.sig.addr, Fpstate: uint64(fpstate),
		},
	}
	if t.sig.altOff || t.sig.altSize == 0 {
		uc.StackFl = ssDisable
	}
	sp -= 8
	*(*uint64)(unsafe.Pointer(uintptr(sp))) = act.Restorer

	t.sig.mask |= act.Mask
	if act.Flags&saNoDefer == 0 {
		t.sig.mask |= sigBit(sig)
	}
	f.RIP = act.Handler
	f.RSP = sp
	f.DI = uint64(sig)
	f.SI = uint64(uintptr(unsafe.Pointer(info)))
	f.DX = uint64(uintptr(unsafe.Pointer(uc)))
	f.AX = 0
	f.RFLAGS &^= cpu.FlagTF | cpu.FlagDF
}

// SigReturn implements rt_sigreturn: f is the system call's frame, whose
// RSP points at the ucontext the handler returned past.
func SigReturn(f *cpu.Frame) {
	uc := (*ucontext)(unsafe.Pointer(uintptr(f.RSP)))
	mc := &uc.MC
	f.R8, f.R9, f.R10, f.R11, f.R12, f.R13, f.R14, f.R15 = mc.R8, mc.R9, mc.R10, mc.R11, mc.R12, mc.R13, mc.R14, mc.R15
	f.DI, f.SI, f.BP, f.BX, f.DX, f.AX, f.CX = mc.DI, mc.SI, mc.BP, mc.BX, mc.DX, mc.AX, mc.CX
	f.RSP, f.RIP = mc.SP, mc.IP
	// Ring 0 code resumes: only the arithmetic flags come from the frame.
	f.RFLAGS = cpu.SanitizeUserFlags(mc.Flags) &^ cpu.FlagTF
	cur().SetMask(uc.Sigmask)
	if mc.Fpstate != 0 {
		cpu.RestoreOnReturn(uintptr(mc.Fpstate))
	}
}

// DeliverSignals is deliverSignals for a system call's frame. The vector
// registers are not live across a system call, except after rt_sigreturn:
// then the state to resume with is the one it is about to load.
// The check for a pending signal is inline: it is on every system call.
//
//go:nosplit
func DeliverSignals(f *cpu.Frame) {
	if t := cur(); t.sig.pending&^t.sig.mask != 0 {
		lockKernel()
		deliverSignals(f, cpu.PendingRestore())
		unlockKernel()
	}
}
