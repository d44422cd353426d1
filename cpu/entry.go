package cpu

import "unsafe"

// Frame is the register state of an interrupted context, laid out exactly
// as the entry code in entry_amd64.s builds it: the general registers it
// pushes, the g it found in TLS, the vector and error code, and the
// IRETQ frame (SDM Vol. 3A §7.14.2). The assembly refers to the fields
// through go_asm.h (Frame_RIP etc.), so the offsets cannot drift.
type Frame struct {
	R15, R14, R13, R12, R11, R10, R9, R8 uint64
	BP, DI, SI, DX, CX, BX, AX           uint64
	G                                    uint64 // the g at FS:-8 on entry from ring 0
	Vector, ErrorCode                    uint64
	RIP, CS, RFLAGS, RSP, SS             uint64
}

// VectorSyscall marks a Frame built by the SYSCALL entry.
const VectorSyscall = 256

// FromUser reports whether the frame interrupted ring 3.
func (f *Frame) FromUser() bool { return f.CS&3 == 3 }

// UserContext is the state of a ring-3 context: what EnterUser loads and
// what the entry code saves on the context's next exit. Regs must stay the
// first field: the entry code pushes the registers straight into it.
type UserContext struct {
	Regs   Frame
	FSBase uint64
	GSBase uint64
	// Xsave points at a 64-byte aligned area of XsaveSize bytes holding the
	// context's x87/SSE/AVX state.
	Xsave uintptr
	// UsePKRU set: the context runs with CR4.PKE on and PKRU loaded
	// before entry; on exit the value the context left is saved in
	// ExitPKRU and the kernel's PKRU (0, every key accessible) is
	// restored. Clear: the context runs with CR4.PKE off.
	PKRU     uint32
	UsePKRU  uint32
	ExitPKRU uint32
	_        uint32
	// CR2 is the faulting address of the last #PF exit (filled in by the
	// caller of EnterUser, which reads CR2 before anything can fault).
	CR2 uint64
	// CR3, when not 0, is the address space the context runs in (level
	// 3: the value for CR3, with its PCID and no-flush bit); it maps the
	// entry pages (entrypages.go). 0: the kernel's (levels 1 and 2).
	CR3 uint64
}

// perCPU is what the entry code needs at hand, one per CPU (entry.cpus).
// In ring 0 the GS base is the running CPU's block (see "Per-CPU data" in
// entry_amd64.s), so assembly reaches a field as perCPU_field(GS) and Go
// code through this(). The fields change only on their own CPU, with
// interrupts disabled.
type perCPU struct {
	// self is the block's own address: the value of GS base in ring 0,
	// and of IA32_KERNEL_GS_BASE while ring 3 runs.
	self     uint64
	index    uint64 // the CPU's number, 0 for the bootstrap processor
	scratch  uint64 // caller RSP saved by the SYSCALL entry
	kstackLo uint64 // the running thread's kernel stack, [lo, hi)
	kstackHi uint64
	user     uint64 // *UserContext while ring 3 runs, else 0
	hostSP   uint64 // kernel SP saved by EnterUser
	kernelFS uint64 // FS base (TLS) of the running thread
	xrstor   uint64 // XSAVE area to load on the way out of a SYSCALL, or 0
	xsize    uint64 // XsaveSize rounded up to 64
	kernelG  uint64 // &kernelG
	mxcsr    uint64 // the kernel's MXCSR (low 32 bits), loaded at every exit from ring 3
	pke      uint64 // 1 while CR4.PKE is set
	nmis     uint64 // NMIs taken
	// verwSel, when non-zero, is the selector VERW is given before every
	// return to ring 3, to clear CPU buffers on CPUs exposed to MDS.
	verwSel uint64
	// windowTraps counts the single-step traps of SYSCALLs made with TF
	// set that arrived at the first instruction of syscallEntry.
	windowTraps uint64
	// windowFault is set by the entry code when an exception hit the
	// entry window; trapDispatch reports it as fatal.
	windowFault uint64
	// kernelCR3 is the kernel's CR3 value, which the entry code loads
	// first on an entry from a context with an address space of its own.
	kernelCR3 uint64
	// userCR3 is the CR3 of the context in ring 3 (UserContext.CR3), 0
	// when it runs in the kernel's address space.
	userCR3 uint64
	// tramp holds RAX and the IRETQ frame of a context entering its own
	// address space: the return path loads them after the CR3 switch,
	// when only the entry pages are mapped.
	tramp [6]uint64
	// userEntries counts the entries to ring 3 (EnterUser).
	userEntries uint64
	// vmcs is the physical address of this CPU's current VMCS (VMPTRLD),
	// 0 for none (vmguest.go).
	vmcs uint64
	// local is the kernel's record of this CPU (SetLocal), which Local
	// returns in one load: the scheduler's per-CPU lookups are on every
	// hot path.
	local uint64
}

// this returns the running CPU's block (GS base).
//
//go:nosplit
func this() *perCPU

// Index is the running CPU's number: 0 for the bootstrap processor, then
// in the order the others were started.
//
//go:nosplit
func Index() int

// Local is what SetLocal recorded for the running CPU.
//
//go:nosplit
func Local() uintptr

// SetLocal records p as CPU i's kernel record, which Local returns on
// that CPU. It runs before CPU i starts.
func SetLocal(i int, p uintptr) { entry.cpus[i].percpu.local = uint64(p) }

// SetKernelSpace records the kernel's page-table root, which entries from
// a guest's address space switch to, and loads it.
func SetKernelSpace(root uint64) {
	v := root
	if CPU.PCID {
		// PCID 0, and keep its TLB entries (SDM Vol. 3A §4.10.4.1).
		v |= CR3NoFlush
	}
	this().kernelCR3 = v
	SetCR3(v)
}

// CR3NoFlush, in a value written to CR3 with CR4.PCIDE set, keeps the TLB
// entries of the PCID being loaded.
const CR3NoFlush = 1 << 63

// kernelG stands in for the Go g while handler code runs. Handler code is
// ordinary Go compiled with stack checks; those compare RSP with the
// g's stackguard0 (offset 16), which is 0 here, so no check ever calls
// morestack on a kernel stack. Its m (offset 48) is kernelM, a zeroed
// stand-in for the runtime's m: read-only runtime helpers that pin the m
// (acquirem) or use its caches, such as the pclntab lookups of the fault
// reporter, work on it. Handler code still must not allocate: kernelM has
// no P and no mcache.
var (
	kernelG [64]uint64
	kernelM [4096]uint64
)

const gM = 6 // word index of g.m

// SyscallHook handles a SYSCALL from ring 0 (the Go runtime's own system
// calls, and the sandbox's Run). TrapHook handles interrupts and
// exceptions taken in ring 0. Both run in handler context: on the running
// thread's kernel stack, interrupts disabled, kernelG installed. They may
// switch threads (the frame stays on this thread's kernel stack) and may
// rewrite the frame, which is what the interrupted code resumes with.
var (
	SyscallHook func(f *Frame)
	TrapHook    func(f *Frame)
)

// handlerTLS is the TLS block of threads that only ever run handler code
// (guest threads at level 3): its g slot, the word before the FS base,
// always holds kernelG.
var handlerTLS [2]uint64

// HandlerTLS returns the FS base of handler threads.
func HandlerTLS() uintptr {
	fs := uintptr(unsafe.Pointer(&handlerTLS[1]))
	InstallKernelG(uint64(fs))
	return fs
}

// SetKernelStack tells the entry code where the running thread's kernel
// stack is. Entries from outside that stack start at hi.
func SetKernelStack(lo, hi uintptr) {
	p := this()
	p.kstackLo, p.kstackHi = uint64(lo), uint64(hi)
}

// SetThread records a thread switched to: its kernel stack [lo, hi) and
// its FS base (SetKernelStack and SetThreadFS in one lookup).
func SetThread(lo, hi uintptr, fs uint64) {
	p := this()
	p.kstackLo, p.kstackHi, p.kernelFS = uint64(lo), uint64(hi), fs
}

// SetThreadFS records the FS base (TLS) of the running thread, which the
// entry code restores when ring 3 exits.
func SetThreadFS(fs uint64) { this().kernelFS = fs }

// InstallKernelG points the g slot of the TLS block at fs (FS:-8) at
// kernelG and returns what the slot held. Handler code that loads a new
// FS base calls it first, so that it keeps running with kernelG.
func InstallKernelG(fs uint64) (old uint64) {
	slot := (*uint64)(unsafe.Pointer(uintptr(fs - 8)))
	old = *slot
	*slot = this().kernelG
	return old
}

// RestoreOnReturn makes the SYSCALL exit path load the XSAVE area at area
// just before it returns (used by rt_sigreturn: the state must be loaded
// after the last Go code of the handler has run).
func RestoreOnReturn(area uintptr) { this().xrstor = uint64(area) }

// PendingRestore is the XSAVE area RestoreOnReturn asked to load, or 0.
func PendingRestore() uintptr { return uintptr(this().xrstor) }

// InHandler reports whether sp lies on the running thread's kernel stack.
func InHandler(sp uint64) bool { return sp >= this().kstackLo && sp < this().kstackHi }

// EnterUser runs ctx at ring 3 until its next system call, interrupt or
// exception, and returns with ctx saved (ctx.Regs.Vector says why it
// stopped). It runs in handler context with interrupts disabled; the
// caller must have validated ctx (see ValidateUser).
//
// Invariants: nosplit path, no allocation; the host's callee-saved
// registers and SP are parked in this().hostSP; while ring 3 runs,
// this().user points at ctx, and that is how the entry code knows to save
// into ctx and come back here instead of dispatching to a hook.
//
//go:noescape
func EnterUser(ctx *UserContext)

// Entry points, defined in entry_amd64.s.
func syscallEntry()
func vectorStubs()
func fatalStubs()
func nmiEntry()
func intrCommon()
func fatalCommon()

//go:nosplit
func syscallEntryPC() uintptr

//go:nosplit
func vectorStubsPC() uintptr

//go:nosplit
func fatalStubsPC() uintptr

//go:nosplit
func nmiEntryPC() uintptr

// NMIs is the number of non-maskable interrupts the kernel has taken (and
// returned from).
func NMIs() uint64 { return this().nmis }

// WindowTraps is the number of single-step traps the SYSCALL entry took
// before its stack switch (and resumed from).
func WindowTraps() uint64 { return this().windowTraps }

// syscallDispatch and trapDispatch are called by the entry code.
func syscallDispatch(f *Frame) {
	SyscallHook(f)
}

func trapDispatch(f *Frame) {
	if this().windowFault != 0 {
		Fatal(f, "exception in the entry window ("+vectorName(f.Vector)+")")
	}
	if TrapHook == nil {
		Fatal(f, "exception before the kernel installed its handlers")
	}
	TrapHook(f)
}

// FatalHook prints a report and stops the machine; installed by the
// kernel's console. Until then faults halt silently.
var FatalHook func(f *Frame, why string)

// Fatal reports an unrecoverable fault and does not return.
func Fatal(f *Frame, why string) {
	if FatalHook != nil {
		FatalHook(f, why)
	}
	HaltForever()
}

// fatalDispatch handles #DF and #MC on their own IST stacks.
func fatalDispatch(f *Frame) {
	Fatal(f, vectorName(f.Vector))
}

// UserTop is the end of guest memory: the lower canonical half less its
// last page. Code in that page could SYSCALL with the return address at
// 1<<47, which is not canonical, and SYSRETQ to it raises #GP at CPL 0 on
// the user stack (SDM Vol. 2B "SYSRET"); like Linux, the page is never
// mapped for ring 3.
const UserTop = 1<<47 - 4096

// ValidUserRIP reports whether rip is a canonical lower-half address, the
// condition for SYSRETQ and IRETQ to ring 3 to not fault in ring 0.
//
//go:nosplit
func ValidUserRIP(rip uint64) bool { return rip < 1<<47 }

// Canonical reports whether v is a canonical 48-bit address (bits 63:47
// all equal).
//
//go:nosplit
func Canonical(v uint64) bool { return uint64(int64(v<<16)>>16) == v }

// EntryValid checks the state EnterUser is about to load, at every entry
// and not only when a host sets it: hardware saves states that a later
// entry cannot load (QEMU saves the non-canonical RIP a guest jumped to; a
// guest may load a non-canonical RSP and then fault). It reports whether
// RIP and the segment bases are lower-half addresses and RSP is
// canonical, so that neither IRETQ, SYSRETQ nor the WRMSRs of the bases
// can fault in ring 0 with the context's state half loaded. The other
// fields need no check: RFLAGS, CS and SS come only from the hardware's
// exit frames and from SetRegs, which sanitises them.
//
//go:nosplit
func (ctx *UserContext) EntryValid() bool {
	f := &ctx.Regs
	return (f.RIP|ctx.FSBase|ctx.GSBase)>>47 == 0 && Canonical(f.RSP)
}

// RFLAGS bits (SDM Vol. 1 §3.4.3).
const (
	FlagCF        = 1 << 0
	FlagPF        = 1 << 2
	FlagAF        = 1 << 4
	FlagZF        = 1 << 6
	FlagSF        = 1 << 7
	FlagTF        = 1 << 8
	FlagIF        = 1 << 9
	FlagDF        = 1 << 10
	FlagOF        = 1 << 11
	FlagAC        = 1 << 18
	FlagID        = 1 << 21
	flagReserved1 = 1 << 1

	userFlags = FlagCF | FlagPF | FlagAF | FlagZF | FlagSF | FlagTF | FlagDF | FlagOF | FlagAC | FlagID
)

// SanitizeUserFlags keeps the arithmetic and user-controllable bits of a
// ring-3 RFLAGS and forces IF (ring 3 always runs interruptible, which is
// how its budget is enforced) and IOPL 0.
//
//go:nosplit
func SanitizeUserFlags(fl uint64) uint64 { return fl&userFlags | FlagIF | flagReserved1 }

// KernelReturnPC is the address of the ring-0 exit path, which expects SP
// to point at a Frame. New threads start there.
func KernelReturnPC() uintptr

// TrapXsaveArea returns where intrCommon saved the vector registers of the
// context that f interrupted: right below f, 64-byte aligned.
func TrapXsaveArea(f *Frame) uintptr {
	return (uintptr(unsafe.Pointer(f)) - XsaveSize) &^ 63
}

// KernelCR3 is the value the kernel's CR3 is loaded with.
func KernelCR3() uint64 { return this().kernelCR3 }
