package cpu

import (
	"unsafe"

	"beelzebox/cpu/vmx"
)

// VMX operation (SDM Vol. 3C chapters 24-28): the instructions, and
// EnterGuest, the switch between the host and a virtual machine's vCPU.
//
// EnterGuest runs in goroutine context, not handler context: the Go host
// calls it like any function and it returns at the vCPU's next VM exit.
// External interrupts and NMIs that arrive while the guest runs cause VM
// exits (the sandbox sets those pin-based controls) and are taken by the
// kernel as soon as EnterGuest restores the caller's RFLAGS, so the
// scheduler, the timer and the Go runtime's preemption work as for any
// goroutine that computes.
//
// Host state that a VM exit does not restore from the VMCS, and how
// EnterGuest restores it (SDM Vol. 3C §28.5):
//
//   - RSP: HOST_RSP is the stack pointer EnterGuest entered the guest
//     with, written whenever the goroutine's stack moved since the last
//     entry (hostRSP caches it).
//   - FS base: HOST_FS_BASE is the running thread's (percpu.kernelFS),
//     written when it differs from hostFS; the CPU loads it at the exit.
//   - CR4: HOST_CR4 is the CR4 of the entry (CR4.PKE changes lazily, see
//     entry_amd64.s), written when it differs from hostCR4.
//   - GDTR and IDTR limits: the exit sets both to 0xFFFF; EnterGuest
//     reloads both registers, so no selector past the end of the GDT can
//     ever read a descriptor from the memory after it.
//   - RFLAGS: the exit clears every flag, IF included; EnterGuest saves
//     the caller's RFLAGS before CLI and restores it last.
//   - General registers: the guest's are saved in VMContext.GPR; the
//     host's callee-saved ones (BX, BP, R12-R15) are restored; the others
//     are clobbered as by any call.
//   - CR2: not part of the VMCS: the guest's is loaded before entry and
//     saved after the exit (a host page fault in between would otherwise
//     change what the guest's #PF handler reads).
//   - XCR0, x87/SSE/AVX state: the guest's area is loaded by XRSTOR
//     before entry with the host's XCR0 (a superset of the guest's), then
//     the guest's XCR0 is set; after the exit the host's XCR0 comes back
//     first, XSAVE saves the guest's state, and the kernel's MXCSR and
//     x87 control word are loaded (as userExit does for ring 3).
//   - PKRU: where the CPU has protection keys, the guest's PKRU is loaded
//     before entry (CR4.PKE is turned on for that, as for level 2) and
//     saved after the exit, and the kernel's 0 is restored.
//   - MSRs the guest may change without an exit (KERNEL_GS_BASE through
//     SWAPGS) and the SYSCALL MSRs its WRMSRs set are switched by the
//     VM-entry MSR-load, VM-exit MSR-store and VM-exit MSR-load areas,
//     which the sandbox fills (sandbox/vm).
//
// Invariants of the path:
//   - interrupts are disabled from before VMPTRLD until the caller's
//     RFLAGS is restored, so the current VMCS, HOST_RSP, HOST_FS_BASE and
//     HOST_CR4 cannot change between their check and the entry;
//   - everything the host needs of the exit is read by EnterGuest before
//     interrupts come back on (another thread may load another VMCS
//     after that): VMContext's Exit* fields;
//   - the state EnterGuest writes to the VMCS (the Dirty fields) is
//     written under the same CLI.

// VMContext is a vCPU as EnterGuest sees it: the guest state that lives
// outside the VMCS, the writes the next entry makes to the VMCS, and what
// the last exit left. The sandbox owns it; EnterGuest touches it only
// while it runs.
type VMContext struct {
	// GPR are the guest's general registers by encoding number (RAX,
	// RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8-R15). Slot 4 is unused: RSP
	// is in the VMCS (RSP below).
	GPR [16]uint64
	CR2 uint64
	// XCR0 is the guest's XCR0 (a subset of the kernel's XCR0).
	XCR0 uint64
	// Xsave points at a 64-byte aligned area of XsaveSize bytes: the
	// guest's x87/SSE/AVX state.
	Xsave uintptr
	// VMCS is the physical address of the vCPU's VMCS.
	VMCS uint64
	PKRU uint32
	// UsePKRU: the CPU has protection keys; PKRU is switched.
	UsePKRU uint32
	// Launched: the VMCS is launched (VMRESUME, not VMLAUNCH).
	Launched uint32
	// Dirty says which of the fields below the next entry writes to the
	// VMCS (VMDirty*); EnterGuest clears it.
	Dirty            uint32
	RIP, RSP, RFLAGS uint64
	// EntryEvent is the VM-entry interruption-information field (an
	// event to inject), with its error code and instruction length.
	EntryEvent     uint32
	EntryErrorCode uint32
	EntryInstrLen  uint32
	ProcControls   uint32
	Timer          uint32 // VMX-preemption timer value
	Interruptible  uint32 // guest interruptibility state
	// Exit information, read at the exit.
	ExitReason        uint32
	ExitInstrLen      uint32
	ExitIntrInfo      uint32
	ExitIntrError     uint32
	IDTVectoring      uint32
	IDTVectoringError uint32
	ExitInstrInfo     uint32
	// EntryFailed is VMEntryOK, or why the entry did not happen.
	EntryFailed uint32
	ExitQual    uint64
	GuestPhys   uint64
	GuestLinear uint64
	// Host state cached in the VMCS.
	hostRSP, hostFS, hostCR4 uint64
}

// VMContext.Dirty bits.
const (
	VMDirtyRIP = 1 << iota
	VMDirtyRSP
	VMDirtyRFLAGS
	VMDirtyEvent
	VMDirtyProcControls
	VMDirtyTimer
	VMDirtyInterruptible
)

// VMContext.EntryFailed values.
const (
	VMEntryOK          = 0
	VMEntryFailInvalid = 1 // VMLAUNCH/VMRESUME: VMfailInvalid (no current VMCS)
	VMEntryFailValid   = 2 // VMfailValid: VMInstructionError says why
	VMEntryNoVMCS      = 3 // VMPTRLD failed
)

// VMCS field encodings EnterGuest uses (go_asm.h exports them).
const (
	vmcsHostRSP          = uint32(vmx.HostRSP)
	vmcsHostFSBase       = uint32(vmx.HostFSBase)
	vmcsHostCR4          = uint32(vmx.HostCR4)
	vmcsGuestRIP         = uint32(vmx.GuestRIP)
	vmcsGuestRSP         = uint32(vmx.GuestRSP)
	vmcsGuestRFLAGS      = uint32(vmx.GuestRFLAGS)
	vmcsEntryEvent       = uint32(vmx.VMEntryInterruptionInfo)
	vmcsEntryErrorCode   = uint32(vmx.VMEntryExceptionErrorCode)
	vmcsEntryInstrLen    = uint32(vmx.VMEntryInstructionLength)
	vmcsProcControls     = uint32(vmx.ProcBasedControls)
	vmcsTimer            = uint32(vmx.VMXPreemptionTimerValue)
	vmcsInterruptibility = uint32(vmx.GuestInterruptibility)
	vmcsExitReason       = uint32(vmx.VMExitReason)
	vmcsExitQual         = uint32(vmx.ExitQualification)
	vmcsExitInstrLen     = uint32(vmx.VMExitInstructionLength)
	vmcsExitInstrInfo    = uint32(vmx.VMExitInstructionInfo)
	vmcsExitIntrInfo     = uint32(vmx.VMExitInterruptionInfo)
	vmcsExitIntrError    = uint32(vmx.VMExitInterruptionErrorCode)
	vmcsIDTVectoring     = uint32(vmx.IDTVectoringInfo)
	vmcsIDTVectoringErr  = uint32(vmx.IDTVectoringErrorCode)
	vmcsGuestPhys        = uint32(vmx.GuestPhysicalAddress)
	vmcsGuestLinear      = uint32(vmx.GuestLinearAddress)
	exitVMCALL           = uint32(vmx.ExitVMCALL)
)

// EnterGuest runs the vCPU ctx until its next VM exit (or a failed entry:
// ctx.EntryFailed) and returns with ctx's exit fields filled in. The
// caller must have set up the VMCS (sandbox/vm); it runs in goroutine
// context with interrupts enabled.
//
//go:noescape
func EnterGuest(ctx *VMContext)

// vmExitPC is the address VM exits return to (HOST_RIP).
//
//go:nosplit
func vmExitPC() uintptr

// VMExitPC is the value of the VMCS's HOST_RIP field.
func VMExitPC() uintptr { return vmExitPC() }

// HostGDTR, HostIDTR and HostTR are the host-state values of the VMCS's
// descriptor-table and task registers.
func HostGDTR() uint64 { return gdtr[0]>>16 | gdtr[1]<<48 }
func HostIDTR() uint64 { return idtr[0]>>16 | idtr[1]<<48 }

// HostTRSelector is the running CPU's task register selector; HostTRBase
// its TSS, and HostGSBase its GS base (its block): a VMCS's host state
// is the CPU's it runs on.
func HostTRSelector() uint16 { return tssSelector(Index()) }

// HostTRBase is the base address of the running CPU's TSS.
func HostTRBase() uint64 { return uint64(uintptr(unsafe.Pointer(&entry.cpus[Index()].tss))) }

// HostGSBase is the running CPU's GS base.
func HostGSBase() uint64 { return this().self }

// Vmxon enters VMX operation with the VMXON region at physical address
// pa (SDM Vol. 3C §24.11.5); false if the CPU refused (VMfail).
func Vmxon(pa uint64) bool

// Vmclear clears the VMCS at pa: it is not current, not launched, and its
// data is in memory (SDM Vol. 3C §25.11.3). It runs with interrupts
// disabled and forgets pa as this CPU's current VMCS.
func Vmclear(pa uint64) bool {
	fl := Flags()
	DisableInterrupts()
	ok := vmclear(pa)
	if this().vmcs == pa {
		this().vmcs = 0
	}
	restoreFlags(fl)
	return ok
}

// VMCSAccess makes the VMCS at pa current and calls fn with interrupts
// disabled, so that fn's Vmread and Vmwrite reach that VMCS. fn must not
// block or allocate.
func VMCSAccess(pa uint64, fn func()) bool {
	fl := Flags()
	DisableInterrupts()
	ok := true
	if this().vmcs != pa {
		ok = vmptrld(pa)
		if ok {
			this().vmcs = pa
		}
	}
	if ok {
		fn()
	}
	restoreFlags(fl)
	return ok
}

// Vmread reads a field of the current VMCS (inside VMCSAccess).
func Vmread(f vmx.Field) uint64 { return vmread(uint64(f)) }

// Vmwrite writes a field of the current VMCS (inside VMCSAccess); false
// if the CPU refused (an unsupported field or value).
func Vmwrite(f vmx.Field, v uint64) bool { return vmwrite(uint64(f), v) }

// INVEPT and INVVPID types (SDM Vol. 3C §29.4.3).
const (
	InveptSingleContext  = 1
	InveptAllContexts    = 2
	InvvpidAddress       = 0
	InvvpidSingleContext = 1
	InvvpidAllContexts   = 2
)

// Invept invalidates the EPT-derived translations of eptp (single
// context) or of every EPTP.
func Invept(typ uint64, eptp uint64) bool

// Invvpid invalidates the translations tagged with vpid.
func Invvpid(typ uint64, vpid uint16, addr uint64) bool

// RaiseNMI delivers an NMI to the kernel's own handler (INT 2), for an
// NMI that arrived while a guest ran (an NMI VM exit).
func RaiseNMI()

func vmclear(pa uint64) bool
func vmptrld(pa uint64) bool
func vmread(f uint64) uint64
func vmwrite(f, v uint64) bool
func restoreFlags(fl uint64)

// vmBenchLeft counts down the VMCALLs the bare benchmark handler serves.
var vmBenchLeft uint64

//go:nosplit
func vmExitBenchPC() uintptr

// SetVMBench makes the next n-1 VMCALLs of a vCPU whose HOST_RIP is
// VMExitBenchPC return at once from a minimal assembly handler (the bare
// VM exit and entry the level 4 benchmark compares with); the n-th exits
// to the host as usual.
func SetVMBench(n uint64) { vmBenchLeft = n }

// VMExitBenchPC is the HOST_RIP of the bare benchmark handler.
func VMExitBenchPC() uintptr { return vmExitBenchPC() }
