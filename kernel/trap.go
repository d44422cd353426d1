package kernel

import (
	"beelzebox/cpu"
	"beelzebox/mm"
)

// trap handles interrupts and exceptions taken in ring 0 (ring 3 entries
// return to the sandbox through cpu.EnterUser instead). It runs in handler
// context. nested means the interrupted code was itself handler code (a
// page fault while a system call touched not-yet-backed memory, or the
// timer while the idle loop halts): there, only demand paging and
// interrupt acknowledgement are allowed, never a switch or a signal.
func trap(f *cpu.Frame) {
	if f.Vector >= 32 && handleIPI(f.Vector) {
		return // IPIs take no lock (smp.go)
	}
	lockKernel()
	trapLocked(f)
	unlockKernel()
}

func trapLocked(f *cpu.Frame) {
	nested := cpu.InHandler(f.RSP)
	switch v := f.Vector; {
	case v == VectorTimer && nested:
		timerFired()
	case v >= 32:
		GuestInterrupt(v)
	case v == cpu.VectorPF && demandPage(f):
	default:
		faultInGo(f, nested)
	}
	if !nested {
		deliverSignals(f, cpu.TrapXsaveArea(f))
	}
}

// UnexpectedIRQs counts interrupts on vectors nothing uses.
var UnexpectedIRQs uint64

// demandPage backs a page of the runtime's anonymous memory.
func demandPage(f *cpu.Frame) bool {
	addr := cpu.CR2()
	switch mm.Runtime.Fault(uintptr(addr), f.ErrorCode&cpu.PFWrite != 0, f.ErrorCode&cpu.PFFetch != 0) {
	case mm.FaultMapped, mm.FaultSpurious:
		return true
	case mm.FaultNoMemory:
		Print("kernel: out of memory backing ")
		PrintHex(addr)
		Print("\n")
		Panic("out of memory")
	}
	return false
}

// faultInGo turns an exception in Go code into the signal Linux would
// send, after printing what happened. The Go runtime's handler then makes
// a panic of it (nil dereference, division by zero) or prints a
// symbolized traceback and exits. A fault in handler code, or before the
// runtime installed its handlers, is fatal here.
func faultInGo(f *cpu.Frame, nested bool) {
	sig, code, addr := faultSignal(f)
	if nested || sig == 0 || Actions[sig].Handler <= sigIgnore {
		cpu.Fatal(f, cpu.VectorName(f.Vector))
	}
	Print("kernel: trap ")
	Print(cpu.VectorName(f.Vector))
	Print(" (vector ")
	PrintDec(f.Vector)
	Print(") in Go code, thread ")
	PrintDec(uint64(cur().TID))
	Print(", signal ")
	PrintDec(uint64(sig))
	Print("\n")
	printRegisters(f)
	FaultSignal(sig, code, addr, f)
}

// faultSignal maps an exception to a Linux signal, si_code and address.
func faultSignal(f *cpu.Frame) (sig int, code int32, addr uint64) {
	switch f.Vector {
	case cpu.VectorPF:
		code = SegvMapErr
		if f.ErrorCode&cpu.PFPresent != 0 {
			code = SegvAccErr
		}
		return SIGSEGV, code, cpu.CR2()
	case cpu.VectorGP, cpu.VectorSS, cpu.VectorNP:
		return SIGSEGV, SIKernel, 0
	case cpu.VectorDE:
		return SIGFPE, FPEIntDiv, f.RIP
	case cpu.VectorMF, cpu.VectorXM:
		return SIGFPE, 0, f.RIP
	case cpu.VectorUD:
		return SIGILL, ILLIllOpn, f.RIP
	case cpu.VectorBP, cpu.VectorDB:
		return SIGTRAP, TrapBrkpt, f.RIP
	case cpu.VectorAC:
		return SIGBUS, 1, 0
	}
	return 0, 0, 0
}

// printRegisters prints the frame's registers.
func printRegisters(f *cpu.Frame) {
	reg := func(name string, v uint64) {
		Print(name)
		Print("=")
		PrintHex(v)
		Print(" ")
	}
	Print("  ")
	reg("err", f.ErrorCode)
	reg("cr2", cpu.CR2())
	reg("rip", f.RIP)
	reg("rsp", f.RSP)
	reg("rflags", f.RFLAGS)
	reg("cs", f.CS)
	Print("\n  ")
	reg("rax", f.AX)
	reg("rbx", f.BX)
	reg("rcx", f.CX)
	reg("rdx", f.DX)
	reg("rsi", f.SI)
	reg("rdi", f.DI)
	Print("\n  ")
	reg("rbp", f.BP)
	reg("r8", f.R8)
	reg("r9", f.R9)
	reg("r10", f.R10)
	reg("r11", f.R11)
	reg("r12", f.R12)
	Print("\n  ")
	reg("r13", f.R13)
	reg("r14", f.R14)
	reg("r15", f.R15)
	Print("\n")
}

var inFatal bool

// fatalReport is cpu.FatalHook: the report of a fault the kernel cannot
// survive, with a symbolized backtrace, then a failing exit.
func fatalReport(f *cpu.Frame, why string) {
	if inFatal {
		Print("kernel: fault while reporting a fault\n")
		Exit(4)
	}
	inFatal = true
	stopForPanic()
	Print("\nkernel: fault: ")
	Print(why)
	Print(" (vector ")
	PrintDec(f.Vector)
	Print(")")
	if cur().stackHi != 0 {
		Print(" thread ")
		PrintDec(uint64(cur().TID))
	}
	Print("\n")
	printRegisters(f)
	Print("kernel: backtrace:\n")
	lo, hi := uintptr(f.RSP)&^0xffff-0x10000, uintptr(f.RSP)+0x100000
	if cpu.InHandler(f.RSP) && cur().stackHi != 0 {
		lo, hi = cur().stackLo, cur().stackHi
	}
	printBacktrace(uintptr(f.RIP), uintptr(f.BP), lo, hi)
	Exit(3)
}

// GuestInterrupt handles an interrupt taken from Go code or from ring-3
// code running on the current thread (cpu.EnterUser returned with vector
// v >= 32). The caller is handler code at the top level of an entry, so a
// thread switch is allowed.
// It reports whether other threads ran meanwhile.
func GuestInterrupt(v uint64) (switched bool) {
	CheckEntryState()
	if handleIPI(v) {
		return false
	}
	lockKernel()
	n := Switches
	switch v {
	case VectorTimer:
		timerFired()
		PreemptIfDue()
	case vectorSpurious:
	default:
		UnexpectedIRQs++
		ackTimer()
	}
	switched = Switches != n
	unlockKernel()
	return switched
}

// EntryChecks counts the guest exits whose kernel state CheckEntryState
// verified.
var EntryChecks uint64

// CheckEntryState stops the kernel if handler code is running with state
// it did not set. Handler code runs with DF and AC clear, the default
// MXCSR and x87 control word, and the kernel's PKRU (cpu/entry_amd64.s
// resets them on the way in from ring 3 and clears DF on the way in from
// Go code); a guest that could leave any of them behind would make the
// kernel's memory copies run backwards, turn off SMAP, or make the
// garbage collector fault. It runs on the interrupt and fault exits of
// guests and on interrupts of Go code, off the system-call round trip.
//
//go:nosplit
func CheckEntryState() {
	EntryChecks++
	switch {
	case cpu.Flags()&(cpu.FlagDF|cpu.FlagAC) != 0:
		Panic("handler code runs with DF or AC set (ring-3 RFLAGS reached the kernel?)")
	case cpu.MXCSR()&^0x3f != cpu.DefaultMXCSR:
		Panic("handler code runs with another MXCSR (ring-3 MXCSR reached the kernel?)")
	case cpu.FPUControl()&0x0f3f != cpu.FPUControlDefault&0x0f3f:
		Panic("handler code runs with another x87 control word (ring 3's reached the kernel?)")
	case cpu.Rdpkru() != 0:
		Panic("handler code runs with another PKRU (ring 3's reached the kernel?)")
	}
}
