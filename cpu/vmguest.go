package cpu

import (
	"sync/atomic"
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
//   - interrupts are disabled from before VMPTRLD (loadVMCS) until the
//     caller's RFLAGS is restored, so the CPU, its current VMCS,
//     HOST_RSP, HOST_FS_BASE and HOST_CR4 cannot change between their
//     check and the entry;
//   - the VMCS is active on this CPU and on no other (the rules below);
//   - VMContext.Cancel is read after the VMCS is active here: a host that
//     sets it later finds this CPU in ActiveCPU and stops the guest with
//     an IPI (kernel.KickCPU);
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
	// Cancel, when not 0, keeps EnterGuest from entering the guest
	// (VMEntryCancelled): the host wants the vCPU back.
	Cancel uint32
	// HostKernelGS is the address of the host's IA32_KERNEL_GS_BASE value
	// in the VM-exit MSR-load area, or 0: the block of the CPU the VMCS is
	// active on, rewritten when it moves (in ring 0 both GS base and
	// KERNEL_GS_BASE hold it; see entry_amd64.s).
	HostKernelGS uintptr
	// HostTSCAux is the address of the host's IA32_TSC_AUX value in the
	// same area, or 0: the number of the CPU the VMCS is active on.
	HostTSCAux uintptr
	// Host state cached in the VMCS.
	hostRSP, hostFS, hostCR4 uint64
	// activeOn is 1 + the index of the CPU the VMCS is active on, 0 while
	// it is clear (see "VMCSs and CPUs").
	activeOn uint32
	// clearWanted: a CPU waits for the VMCS; its CPU clears it at its
	// next ServeVMCSClears.
	clearWanted uint32
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
	VMEntryElsewhere   = 4 // the VMCS is active on another CPU (ActiveCPU)
	VMEntryNoVMX       = 5 // this CPU could not enter VMX operation
	VMEntryCancelled   = 6 // VMContext.Cancel was set
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
// context with interrupts enabled. VMEntryElsewhere asks the caller to
// get the VMCS off the CPU it is active on first.
//
//go:nosplit
func EnterGuest(ctx *VMContext) {
	fl := Flags()
	DisableInterrupts()
	switch r := loadVMCS(ctx); {
	case r != VMEntryOK:
		ctx.EntryFailed = r
	case atomic.LoadUint32(&ctx.Cancel) != 0:
		ctx.EntryFailed = VMEntryCancelled
	default:
		enterGuest(ctx)
	}
	restoreFlags(fl)
}

// enterGuest is the switch itself; ctx's VMCS is current.
//
//go:noescape
func enterGuest(ctx *VMContext)

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
// is the CPU's it runs on (loadVMCS rewrites them when it moves).
func HostTRSelector() uint16 { return tssSelector(Index()) }

// HostTRBase is the base address of the running CPU's TSS.
func HostTRBase() uint64 { return uint64(uintptr(unsafe.Pointer(&entry.cpus[Index()].tss))) }

// HostGSBase is the running CPU's GS base.
func HostGSBase() uint64 { return this().self }

// VMCSs and CPUs (SDM Vol. 3C §25.1, §25.11.1, §25.11.3). VMX operation
// and the current VMCS are per logical processor, and a VMCS may be
// active on one processor at a time: another may load it only after
// VMCLEAR on the first, which also writes back the data that processor
// caches. How the kernel keeps to that, and its rules:
//
//   - Each CPU enters VMX operation with its own VMXON region (given by
//     SetVMXONRegion) when it first loads a VMCS.
//   - VMContext.activeOn names the CPU a VMCS is active on. Only that CPU
//     sets it to 0, with interrupts off and after VMCLEAR; only the
//     vCPU's user (one goroutine at a time) sets it from 0, with
//     interrupts off, by compare-and-swap, before VMPTRLD (loadVMCS).
//   - A CPU keeps at most maxActiveVMCS VMCSs active (vmxCPU.loaded);
//     loading another clears one of them.
//   - A VMCS wanted on another CPU is cleared by the CPU it is active on:
//     the wanting goroutine sets clearWanted (WantCleared) and sends that
//     CPU an IPI, whose handler clears every wanted VMCS
//     (ServeVMCSClears); it waits with interrupts on, so no two CPUs ever
//     wait for each other with interrupts off.
//   - A VMCS that arrives on a CPU gets that CPU's host state (task
//     register, GS base, KERNEL_GS_BASE and TSC_AUX in the exit MSR-load
//     area) and the
//     CPU drops what it caches for the VM's EPT (INVEPT single context:
//     guest-physical and combined mappings of every VPID): entries from
//     an earlier stay of this or another vCPU of the VM may predate
//     changes made elsewhere meanwhile. While the VMCS stays, EPT changes
//     reach the CPU by shootdown (the VM's CPUs are the ActiveCPUs of its
//     vCPUs).
//   - A CPU never in VMX operation holds no VMX translations: Invept and
//     Invvpid do nothing there.

// maxActiveVMCS is how many VMCSs a CPU keeps active at once.
const maxActiveVMCS = 8

// vmxCPU is a CPU's VMX state; it changes on its CPU with interrupts off.
type vmxCPU struct {
	region uint64 // VMXON region, 0 until SetVMXONRegion
	on     bool   // in VMX operation
	// loaded are the *VMContext of the VMCSs active on the CPU (0: free);
	// evict is the slot cleared next when all are taken.
	loaded [maxActiveVMCS]uintptr
	evict  int
}

var vmxCPUs [MaxCPUs]vmxCPU

// SetVMXONRegion gives CPU i the VMXON region it enters VMX operation
// with (a zeroed page holding the VMCS revision identifier). It runs
// before any VMCS is loaded on i.
func SetVMXONRegion(i int, pa uint64) {
	if vmxCPUs[i].region == 0 {
		vmxCPUs[i].region = pa
	}
}

// VMXONRegion is CPU i's VMXON region, 0 if it has none yet.
func VMXONRegion(i int) uint64 { return vmxCPUs[i].region }

// vmxOnHere enters VMX operation on this CPU if it is not in it
// (SDM Vol. 3C §24.7, §24.8): IA32_FEATURE_CONTROL locked with VMX
// outside SMX allowed (locking it so if the firmware left it unlocked),
// CR4.VMXE, then VMXON. CR0 is the same on every CPU and was checked
// against the fixed bits before any VMCS was made. Interrupts are off.
//
//go:nosplit
func vmxOnHere(s *vmxCPU) bool {
	if s.on {
		return true
	}
	if s.region == 0 {
		return false
	}
	fc := Rdmsr(vmx.MSRFeatureControl)
	if fc&vmx.FeatureControlLocked == 0 {
		fc |= vmx.FeatureControlLocked | vmx.FeatureControlVMXOutsideSMX
		Wrmsr(vmx.MSRFeatureControl, fc)
	}
	if fc&vmx.FeatureControlVMXOutsideSMX == 0 {
		return false
	}
	SetCR4(CR4() | CR4VMXE)
	if !vmxon(s.region) {
		return false
	}
	s.on = true
	return true
}

// loadVMCS makes ctx's VMCS this CPU's current one; interrupts are off.
// It reports VMEntryOK, VMEntryElsewhere, VMEntryNoVMX or VMEntryNoVMCS.
//
//go:nosplit
func loadVMCS(ctx *VMContext) uint32 {
	self := uint32(Index()) + 1
	switch atomic.LoadUint32(&ctx.activeOn) {
	case self:
		if this().vmcs != ctx.VMCS {
			if !vmptrld(ctx.VMCS) {
				return VMEntryNoVMCS
			}
			this().vmcs = ctx.VMCS
		}
		return VMEntryOK
	case 0:
	default:
		return VMEntryElsewhere
	}
	s := &vmxCPUs[self-1]
	if !vmxOnHere(s) {
		return VMEntryNoVMX
	}
	// Claimed before VMPTRLD, so that a host that broke the one-user
	// rule and loads the VMCS on two CPUs at once finds it elsewhere on
	// one of them rather than active on both.
	if !atomic.CompareAndSwapUint32(&ctx.activeOn, 0, self) {
		return VMEntryElsewhere
	}
	atomic.StoreUint32(&ctx.clearWanted, 0)
	slot := -1
	for i, p := range s.loaded {
		if p == 0 {
			slot = i
			break
		}
	}
	if slot < 0 {
		slot = s.evict
		s.evict = (s.evict + 1) % maxActiveVMCS
		s.unload(slot)
	}
	// VMCLEAR first: it initialises a new VMCS (SDM Vol. 3C §25.11.3)
	// and changes nothing in one that left another CPU clear.
	if !vmclear(ctx.VMCS) || !vmptrld(ctx.VMCS) {
		atomic.StoreUint32(&ctx.activeOn, 0)
		return VMEntryNoVMCS
	}
	this().vmcs = ctx.VMCS
	s.loaded[slot] = uintptr(unsafe.Pointer(ctx))
	ctx.Launched = 0
	i := int(self - 1)
	vmwrite(uint64(vmx.HostTRSelector), uint64(tssSelector(i)))
	vmwrite(uint64(vmx.HostTRBase), uint64(uintptr(unsafe.Pointer(&entry.cpus[i].tss))))
	vmwrite(uint64(vmx.HostGSBase), this().self)
	if ctx.HostKernelGS != 0 {
		*(*uint64)(unsafe.Pointer(ctx.HostKernelGS)) = this().self
	}
	if ctx.HostTSCAux != 0 {
		*(*uint64)(unsafe.Pointer(ctx.HostTSCAux)) = Rdmsr(MSRTSCAux)
	}
	if eptp := vmread(uint64(vmx.EPTPointer)); eptp != 0 {
		invept(InveptSingleContext, eptp)
	}
	return VMEntryOK
}

// unload clears the VMCS in slot i of this CPU (interrupts off).
//
//go:nosplit
func (s *vmxCPU) unload(i int) {
	ctx := (*VMContext)(unsafe.Pointer(s.loaded[i]))
	vmclear(ctx.VMCS)
	if this().vmcs == ctx.VMCS {
		this().vmcs = 0
	}
	ctx.Launched = 0
	s.loaded[i] = 0
	atomic.StoreUint32(&ctx.clearWanted, 0)
	atomic.StoreUint32(&ctx.activeOn, 0)
}

// ActiveCPU is the CPU ctx's VMCS is active on; false while it is clear.
//
//go:nosplit
func (ctx *VMContext) ActiveCPU() (int, bool) {
	a := atomic.LoadUint32(&ctx.activeOn)
	return int(a) - 1, a != 0
}

// WantCleared asks the CPU ctx's VMCS is active on to clear it at its
// next ServeVMCSClears (the caller then sends it the IPI).
func (ctx *VMContext) WantCleared() { atomic.StoreUint32(&ctx.clearWanted, 1) }

// ServeVMCSClears clears the VMCSs active on this CPU that another CPU
// wants (the VMCS IPI's handler; interrupts are off).
//
//go:nosplit
func ServeVMCSClears() {
	s := &vmxCPUs[Index()]
	for i, p := range s.loaded {
		if p != 0 && atomic.LoadUint32(&(*VMContext)(unsafe.Pointer(p)).clearWanted) != 0 {
			s.unload(i)
		}
	}
}

// UnloadVMCS clears ctx's VMCS if it is active on this CPU, before the
// VMCS is freed. It reports false if the VMCS is active on another CPU,
// which must clear it (WantCleared).
func UnloadVMCS(ctx *VMContext) bool {
	fl := Flags()
	DisableInterrupts()
	defer restoreFlags(fl)
	at, ok := ctx.ActiveCPU()
	if !ok {
		return true
	}
	if at != Index() {
		return false
	}
	s := &vmxCPUs[at]
	for i, p := range s.loaded {
		if p == uintptr(unsafe.Pointer(ctx)) {
			s.unload(i)
		}
	}
	return true
}

// VMCSAccess makes ctx's VMCS current and calls fn with interrupts
// disabled, so that fn's Vmread and Vmwrite reach that VMCS. fn must not
// block or allocate. It reports VMEntryOK if fn ran, or why not (as
// EnterGuest: VMEntryElsewhere asks the caller to get the VMCS first).
func VMCSAccess(ctx *VMContext, fn func()) uint32 {
	fl := Flags()
	DisableInterrupts()
	r := loadVMCS(ctx)
	if r == VMEntryOK {
		fn()
	}
	restoreFlags(fl)
	return r
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

// Invept invalidates this CPU's EPT-derived translations of eptp
// (single context) or of every EPTP; a CPU never in VMX operation has
// none.
//
//go:nosplit
func Invept(typ uint64, eptp uint64) bool {
	fl := Flags()
	DisableInterrupts()
	ok := !vmxCPUs[Index()].on || invept(typ, eptp)
	restoreFlags(fl)
	return ok
}

// Invvpid invalidates this CPU's translations tagged with vpid.
func Invvpid(typ uint64, vpid uint16, addr uint64) bool {
	fl := Flags()
	DisableInterrupts()
	ok := !vmxCPUs[Index()].on || invvpid(typ, vpid, addr)
	restoreFlags(fl)
	return ok
}

// RaiseNMI delivers an NMI to the kernel's own handler (INT 2), for an
// NMI that arrived while a guest ran (an NMI VM exit).
func RaiseNMI()

func vmxon(pa uint64) bool
func vmclear(pa uint64) bool
func vmptrld(pa uint64) bool
func invept(typ uint64, eptp uint64) bool
func invvpid(typ uint64, vpid uint16, addr uint64) bool
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
