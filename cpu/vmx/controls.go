package vmx

// Pin-based VM-execution controls (SDM Vol. 3C §25.6.1, Table 25-5).
const (
	PinExternalInterruptExiting = 1 << 0
	PinNMIExiting               = 1 << 3
	PinVirtualNMIs              = 1 << 5
	PinPreemptionTimer          = 1 << 6 // activate VMX-preemption timer
	PinPostedInterrupts         = 1 << 7 // process posted interrupts
)

// Primary processor-based VM-execution controls (SDM §25.6.2, Table 25-6).
const (
	ProcInterruptWindowExiting = 1 << 2
	ProcUseTSCOffsetting       = 1 << 3
	ProcHLTExiting             = 1 << 7
	ProcINVLPGExiting          = 1 << 9
	ProcMWAITExiting           = 1 << 10
	ProcRDPMCExiting           = 1 << 11
	ProcRDTSCExiting           = 1 << 12
	ProcCR3LoadExiting         = 1 << 15
	ProcCR3StoreExiting        = 1 << 16
	ProcActivateTertiary       = 1 << 17 // activate tertiary controls
	ProcCR8LoadExiting         = 1 << 19
	ProcCR8StoreExiting        = 1 << 20
	ProcUseTPRShadow           = 1 << 21
	ProcNMIWindowExiting       = 1 << 22
	ProcMOVDRExiting           = 1 << 23
	ProcUnconditionalIOExiting = 1 << 24
	ProcUseIOBitmaps           = 1 << 25
	ProcMonitorTrapFlag        = 1 << 27
	ProcUseMSRBitmaps          = 1 << 28
	ProcMONITORExiting         = 1 << 29
	ProcPAUSEExiting           = 1 << 30
	ProcActivateSecondary      = 1 << 31 // activate secondary controls
)

// Secondary processor-based VM-execution controls (SDM §25.6.2, Table 25-7).
const (
	Proc2VirtualizeAPICAccesses     = 1 << 0
	Proc2EnableEPT                  = 1 << 1
	Proc2DescriptorTableExiting     = 1 << 2
	Proc2EnableRDTSCP               = 1 << 3
	Proc2VirtualizeX2APIC           = 1 << 4 // virtualize x2APIC mode
	Proc2EnableVPID                 = 1 << 5
	Proc2WBINVDExiting              = 1 << 6
	Proc2UnrestrictedGuest          = 1 << 7
	Proc2APICRegisterVirtualization = 1 << 8
	Proc2VirtualInterruptDelivery   = 1 << 9
	Proc2PAUSELoopExiting           = 1 << 10
	Proc2RDRANDExiting              = 1 << 11
	Proc2EnableINVPCID              = 1 << 12
	Proc2EnableVMFunctions          = 1 << 13
	Proc2VMCSShadowing              = 1 << 14
	Proc2ENCLSExiting               = 1 << 15
	Proc2RDSEEDExiting              = 1 << 16
	Proc2EnablePML                  = 1 << 17
	Proc2EPTViolationVE             = 1 << 18 // EPT-violation #VE
	Proc2ConcealVMXFromPT           = 1 << 19
	Proc2EnableXSAVES               = 1 << 20 // enable XSAVES/XRSTORS
	Proc2PASIDTranslation           = 1 << 21
	Proc2ModeBasedEPTExecute        = 1 << 22 // mode-based execute control for EPT
	Proc2SubPageWritePermissions    = 1 << 23 // sub-page write permissions for EPT
	Proc2PTUsesGuestPhysical        = 1 << 24 // Intel PT uses guest physical addresses
	Proc2UseTSCScaling              = 1 << 25
	Proc2EnableUserWaitPause        = 1 << 26
	Proc2EnablePCONFIG              = 1 << 27
	Proc2EnableENCLV                = 1 << 28 // enable ENCLV exiting
	Proc2BusLockDetection           = 1 << 30 // VMM bus-lock detection
	Proc2InstructionTimeout         = 1 << 31
)

// Tertiary processor-based VM-execution controls, a 64-bit field
// (SDM §25.6.2, Table 25-8).
const (
	Proc3LOADIWKEYExiting       = 1 << 0
	Proc3EnableHLAT             = 1 << 1
	Proc3EPTPagingWriteControl  = 1 << 2
	Proc3GuestPagingVerify      = 1 << 3
	Proc3IPIVirtualization      = 1 << 4
	Proc3VirtualizeIA32SpecCtrl = 1 << 7
)

// Primary VM-exit controls (SDM §25.7.1, Table 25-13).
const (
	ExitSaveDebugControls    = 1 << 2
	ExitHostAddressSpaceSize = 1 << 9
	ExitLoadPerfGlobalCtrl   = 1 << 12
	ExitAcknowledgeInterrupt = 1 << 15 // acknowledge interrupt on exit
	ExitSavePAT              = 1 << 18
	ExitLoadPAT              = 1 << 19
	ExitSaveEFER             = 1 << 20
	ExitLoadEFER             = 1 << 21
	ExitSavePreemptionTimer  = 1 << 22 // save VMX-preemption timer value
	ExitClearBNDCFGS         = 1 << 23
	ExitConcealVMXFromPT     = 1 << 24
	ExitClearRTITCtl         = 1 << 25
	ExitClearLBRCtl          = 1 << 26
	ExitClearUINV            = 1 << 27
	ExitLoadCET              = 1 << 28 // load CET state
	ExitLoadPKRS             = 1 << 29
	ExitSavePerfGlobalCtrl   = 1 << 30
	ExitActivateSecondary    = 1 << 31 // activate secondary VM-exit controls
)

// VM-entry controls (SDM §25.8.1, Table 25-15).
const (
	EntryLoadDebugControls     = 1 << 2
	EntryIA32eModeGuest        = 1 << 9
	EntryToSMM                 = 1 << 10
	EntryDeactivateDualMonitor = 1 << 11
	EntryLoadPerfGlobalCtrl    = 1 << 13
	EntryLoadPAT               = 1 << 14
	EntryLoadEFER              = 1 << 15
	EntryLoadBNDCFGS           = 1 << 16
	EntryConcealVMXFromPT      = 1 << 17
	EntryLoadRTITCtl           = 1 << 18
	EntryLoadUINV              = 1 << 19
	EntryLoadCET               = 1 << 20 // load CET state
	EntryLoadLBRCtl            = 1 << 21
	EntryLoadPKRS              = 1 << 22
)

// VMX capability MSRs (SDM Vol. 3D Appendix A; Vol. 4 Table 2-2) and
// IA32_FEATURE_CONTROL.
const (
	MSRFeatureControl       = 0x3A
	MSRVMXBasic             = 0x480
	MSRVMXPinbasedCtls      = 0x481
	MSRVMXProcbasedCtls     = 0x482
	MSRVMXExitCtls          = 0x483
	MSRVMXEntryCtls         = 0x484
	MSRVMXMisc              = 0x485
	MSRVMXCR0Fixed0         = 0x486
	MSRVMXCR0Fixed1         = 0x487
	MSRVMXCR4Fixed0         = 0x488
	MSRVMXCR4Fixed1         = 0x489
	MSRVMXVMCSEnum          = 0x48A
	MSRVMXProcbasedCtls2    = 0x48B
	MSRVMXEPTVPIDCap        = 0x48C
	MSRVMXTruePinbasedCtls  = 0x48D
	MSRVMXTrueProcbasedCtls = 0x48E
	MSRVMXTrueExitCtls      = 0x48F
	MSRVMXTrueEntryCtls     = 0x490
	MSRVMXVMFunc            = 0x491
	MSRVMXProcbasedCtls3    = 0x492
	MSRVMXExitCtls2         = 0x493
)

// IA32_FEATURE_CONTROL bits (SDM Vol. 3C §24.7).
const (
	FeatureControlLocked        = 1 << 0
	FeatureControlVMXInsideSMX  = 1 << 1
	FeatureControlVMXOutsideSMX = 1 << 2
)

// ControlKind names one of the 32-bit VMX control fields governed by a
// capability MSR (SDM Appendix A.3-A.5).
type ControlKind uint8

// Control kinds.
const (
	ControlPin ControlKind = iota
	ControlProc
	ControlProc2
	ControlExit
	ControlEntry
)

// String names the control field.
func (k ControlKind) String() string {
	switch k {
	case ControlPin:
		return "pin-based VM-execution controls"
	case ControlProc:
		return "primary processor-based VM-execution controls"
	case ControlProc2:
		return "secondary processor-based VM-execution controls"
	case ControlExit:
		return "VM-exit controls"
	case ControlEntry:
		return "VM-entry controls"
	}
	return "control kind " + dec(uint64(k))
}

// Field is the VMCS field holding the controls.
func (k ControlKind) Field() Field {
	switch k {
	case ControlPin:
		return PinBasedControls
	case ControlProc:
		return ProcBasedControls
	case ControlProc2:
		return SecondaryProcBasedControls
	case ControlExit:
		return VMExitControls
	}
	return VMEntryControls
}

// Capabilities holds the raw VMX capability MSR values of one processor
// (SDM Vol. 3D Appendix A). The caller reads the MSRs and fills it:
//
//   - PinCtls, ProcCtls, ExitCtls, EntryCtls must already be the TRUE
//     variants (IA32_VMX_TRUE_PINBASED_CTLS 0x48D, ..._TRUE_ENTRY_CTLS 0x490)
//     when IA32_VMX_BASIC bit 55 is 1, and the legacy MSRs (0x481-0x484)
//     otherwise (App. A.2).
//   - ProcCtls2 is IA32_VMX_PROCBASED_CTLS2 (0x48B), zero if primary bit 63
//     (activate secondary controls allowed-1) is clear.
//   - EPTVPID is IA32_VMX_EPT_VPID_CAP (0x48C), zero if neither EPT nor VPID
//     can be enabled; VMFunc is IA32_VMX_VMFUNC (0x491), zero if VM functions
//     cannot be enabled; ProcCtls3 is IA32_VMX_PROCBASED_CTLS3 (0x492), zero
//     if tertiary controls cannot be activated.
//   - PhysAddrWidth is MAXPHYADDR, CPUID.80000008H:EAX[7:0]. Zero is taken
//     as 52, the architectural maximum.
//   - LinearAddrWidth is CPUID.80000008H:EAX[15:8] (48, or 57 with 5-level
//     paging), the width against which "canonical" is checked. Zero is 48.
type Capabilities struct {
	Basic     uint64 // IA32_VMX_BASIC
	PinCtls   uint64 // (TRUE_)PINBASED_CTLS
	ProcCtls  uint64 // (TRUE_)PROCBASED_CTLS
	ProcCtls2 uint64 // PROCBASED_CTLS2
	ProcCtls3 uint64 // PROCBASED_CTLS3 (allowed-1 settings of the 64 tertiary controls)
	ExitCtls  uint64 // (TRUE_)EXIT_CTLS
	EntryCtls uint64 // (TRUE_)ENTRY_CTLS
	Misc      uint64 // IA32_VMX_MISC
	CR0Fixed0 uint64
	CR0Fixed1 uint64
	CR4Fixed0 uint64
	CR4Fixed1 uint64
	EPTVPID   uint64 // IA32_VMX_EPT_VPID_CAP
	VMFunc    uint64 // IA32_VMX_VMFUNC

	PhysAddrWidth   uint8 // CPUID.80000008H:EAX[7:0]
	LinearAddrWidth uint8 // CPUID.80000008H:EAX[15:8]; zero is taken as 48
}

// Revision is the VMCS revision identifier, IA32_VMX_BASIC bits 30:0 (App. A.1).
func (c *Capabilities) Revision() uint32 { return uint32(c.Basic) & 0x7FFFFFFF }

// VMCSSize is the number of bytes to allocate for a VMXON region or VMCS,
// IA32_VMX_BASIC bits 44:32 (App. A.1).
func (c *Capabilities) VMCSSize() int { return int(c.Basic>>32) & 0x1FFF }

// VMCSMemoryType is the memory type for VMCS accesses, IA32_VMX_BASIC bits 53:50.
func (c *Capabilities) VMCSMemoryType() uint8 { return uint8(c.Basic>>50) & 0xF }

// INSOUTSInfo reports IA32_VMX_BASIC bit 54: VM exits due to INS/OUTS report
// instruction information.
func (c *Capabilities) INSOUTSInfo() bool { return c.Basic&(1<<54) != 0 }

// TrueControls reports IA32_VMX_BASIC bit 55: the TRUE_*_CTLS MSRs exist.
func (c *Capabilities) TrueControls() bool { return c.Basic&(1<<55) != 0 }

// NoErrorCodeRequired reports IA32_VMX_BASIC bit 56: VM entry may deliver a
// hardware exception with or without an error code regardless of vector.
func (c *Capabilities) NoErrorCodeRequired() bool { return c.Basic&(1<<56) != 0 }

// PreemptionTimerShift is IA32_VMX_MISC bits 4:0: the preemption timer
// counts down by 1 every time TSC bit X changes, X = this value.
func (c *Capabilities) PreemptionTimerShift() uint { return uint(c.Misc & 0x1F) }

// ActivityStatesSupported reports whether the activity state may be loaded by
// VM entry: active always; HLT, shutdown, wait-for-SIPI per IA32_VMX_MISC
// bits 6, 7, 8 (App. A.6).
func (c *Capabilities) ActivityStatesSupported(s ActivityState) bool {
	switch s {
	case ActivityActive:
		return true
	case ActivityHLT:
		return c.Misc&(1<<6) != 0
	case ActivityShutdown:
		return c.Misc&(1<<7) != 0
	case ActivityWaitForSIPI:
		return c.Misc&(1<<8) != 0
	}
	return false
}

// CR3TargetsSupported is IA32_VMX_MISC bits 24:16.
func (c *Capabilities) CR3TargetsSupported() int { return int(c.Misc>>16) & 0x1FF }

// MaxMSRListEntries is the recommended maximum number of MSRs in each
// VM-exit/entry MSR list: 512 * (IA32_VMX_MISC[27:25] + 1).
func (c *Capabilities) MaxMSRListEntries() int { return 512 * (int(c.Misc>>25)&7 + 1) }

// ZeroLengthInjection reports IA32_VMX_MISC bit 30: software interrupts and
// exceptions may be injected with instruction length 0.
func (c *Capabilities) ZeroLengthInjection() bool { return c.Misc&(1<<30) != 0 }

// EPT and VPID capabilities, IA32_VMX_EPT_VPID_CAP (App. A.10).

// EPTExecuteOnly reports bit 0.
func (c *Capabilities) EPTExecuteOnly() bool { return c.EPTVPID&(1<<0) != 0 }

// EPTWalkLength4 reports bit 6: page-walk length 4 supported.
func (c *Capabilities) EPTWalkLength4() bool { return c.EPTVPID&(1<<6) != 0 }

// EPTWalkLength5 reports bit 7: page-walk length 5 supported.
func (c *Capabilities) EPTWalkLength5() bool { return c.EPTVPID&(1<<7) != 0 }

// EPTUncacheable reports bit 8: the EPTP may use memory type UC.
func (c *Capabilities) EPTUncacheable() bool { return c.EPTVPID&(1<<8) != 0 }

// EPTWriteBack reports bit 14: the EPTP may use memory type WB.
func (c *Capabilities) EPTWriteBack() bool { return c.EPTVPID&(1<<14) != 0 }

// EPT2MPages reports bit 16: EPT PDEs may map 2-MByte pages.
func (c *Capabilities) EPT2MPages() bool { return c.EPTVPID&(1<<16) != 0 }

// EPT1GPages reports bit 17: EPT PDPTEs may map 1-GByte pages.
func (c *Capabilities) EPT1GPages() bool { return c.EPTVPID&(1<<17) != 0 }

// INVEPT reports bit 20: INVEPT is supported.
func (c *Capabilities) INVEPT() bool { return c.EPTVPID&(1<<20) != 0 }

// EPTAccessedDirty reports bit 21: EPT accessed and dirty flags.
func (c *Capabilities) EPTAccessedDirty() bool { return c.EPTVPID&(1<<21) != 0 }

// EPTAdvancedExitInfo reports bit 22.
func (c *Capabilities) EPTAdvancedExitInfo() bool { return c.EPTVPID&(1<<22) != 0 }

// EPTSupervisorShadowStack reports bit 23: EPTP bit 7 may be set.
func (c *Capabilities) EPTSupervisorShadowStack() bool { return c.EPTVPID&(1<<23) != 0 }

// INVEPTSingleContext reports bit 25.
func (c *Capabilities) INVEPTSingleContext() bool { return c.EPTVPID&(1<<25) != 0 }

// INVEPTAllContext reports bit 26.
func (c *Capabilities) INVEPTAllContext() bool { return c.EPTVPID&(1<<26) != 0 }

// INVVPID reports bit 32: INVVPID is supported.
func (c *Capabilities) INVVPID() bool { return c.EPTVPID&(1<<32) != 0 }

// INVVPIDIndividualAddress reports bit 40.
func (c *Capabilities) INVVPIDIndividualAddress() bool { return c.EPTVPID&(1<<40) != 0 }

// INVVPIDSingleContext reports bit 41.
func (c *Capabilities) INVVPIDSingleContext() bool { return c.EPTVPID&(1<<41) != 0 }

// INVVPIDAllContext reports bit 42.
func (c *Capabilities) INVVPIDAllContext() bool { return c.EPTVPID&(1<<42) != 0 }

// INVVPIDSingleContextRetainGlobals reports bit 43.
func (c *Capabilities) INVVPIDSingleContextRetainGlobals() bool { return c.EPTVPID&(1<<43) != 0 }

// UnrestrictedGuest reports whether the "unrestricted guest" secondary
// control may be 1 (IA32_VMX_PROCBASED_CTLS2 bit 39).
func (c *Capabilities) UnrestrictedGuest() bool {
	_, may := c.Allowed(ControlProc2, Proc2UnrestrictedGuest)
	return may != 0
}

// physWidth is MAXPHYADDR with the zero default.
func (c *Capabilities) physWidth() uint {
	if c.PhysAddrWidth == 0 || c.PhysAddrWidth > 52 {
		return 52
	}
	return uint(c.PhysAddrWidth)
}

// linearWidth is the linear-address width with the zero default.
func (c *Capabilities) linearWidth() uint {
	if c.LinearAddrWidth < 32 || c.LinearAddrWidth > 64 {
		return 48
	}
	return uint(c.LinearAddrWidth)
}

// capMSR is the capability MSR value governing a control kind.
func (c *Capabilities) capMSR(ctl ControlKind) uint64 {
	switch ctl {
	case ControlPin:
		return c.PinCtls
	case ControlProc:
		return c.ProcCtls
	case ControlProc2:
		// App. A.3.3: bits 31:0 of IA32_VMX_PROCBASED_CTLS2 are 0 (every
		// secondary control may be 0); mask them in case a caller passes junk.
		return c.ProcCtls2 &^ 0xFFFFFFFF
	case ControlExit:
		return c.ExitCtls
	case ControlEntry:
		return c.EntryCtls
	}
	return 0
}

// Allowed returns, among bits, those the processor requires to be 1
// (allowed-0 settings: bit clear in MSR bits 31:0 means the control may not be
// 0) and those it permits to be 1 (allowed-1 settings, MSR bits 63:32), per
// SDM App. A.3-A.5. Pass bits = ^uint32(0) for the whole masks.
func (c *Capabilities) Allowed(ctl ControlKind, bits uint32) (mustBeOne uint32, mayBeOne uint32) {
	msr := c.capMSR(ctl)
	return uint32(msr) & bits, uint32(msr>>32) & bits
}

// Adjust computes a control value from the bits wanted, the bits wanted only
// if available, and the capability MSR (SDM App. A.3: bits 31:0 are the
// allowed-0 settings, i.e. a 1 there means the control must be 1; bits 63:32
// are the allowed-1 settings, a 1 there means the control may be 1):
//
//	result = (want|optional) & allowed1 | allowed0
//
// It returns an error naming every bit of want that the processor does not
// allow to be 1; bits of optional that are not allowed are dropped silently.
func Adjust(want uint32, optional uint32, capMSR uint64) (uint32, error) {
	allowed0 := uint32(capMSR)
	allowed1 := uint32(capMSR >> 32)
	v := (want|optional)&allowed1 | allowed0
	if missing := want &^ allowed1; missing != 0 {
		return v, &ControlError{Bits: missing}
	}
	return v, nil
}

// ControlError reports control bits the processor does not allow to be 1.
type ControlError struct {
	Bits uint32 // the wanted bits whose allowed-1 setting is 0
}

func (e *ControlError) Error() string {
	return "vmx: control bit(s) " + bitList(uint64(e.Bits)) + " not supported by the processor (allowed-1 setting is 0)"
}

// bitList renders the set bits of v as "3, 17, 31".
func bitList(v uint64) string {
	s := ""
	for i := uint(0); i < 64; i++ {
		if v&(1<<i) != 0 {
			if s != "" {
				s += ", "
			}
			s += dec(uint64(i))
		}
	}
	return s
}

// EPT memory types for the EPTP and EPT leaf entries (SDM §29.3.7, Vol. 3A §12.3).
const (
	MemTypeUC = 0
	MemTypeWC = 1
	MemTypeWT = 4
	MemTypeWP = 5
	MemTypeWB = 6
)

// EPTP field layout (SDM Vol. 3C §25.6.11, Table 25-9).
const (
	eptpMemTypeMask      = 0x7
	eptpWalkLengthShift  = 3
	eptpWalkLengthMask   = 0x7 << eptpWalkLengthShift
	EPTPAccessedDirty    = 1 << 6 // enable accessed and dirty flags
	EPTPSupervisorShadow = 1 << 7 // enforce access rights for supervisor shadow-stack pages
)

// NewEPTP builds an EPT pointer for a 4-level EPT hierarchy rooted at the
// 4 KiB-aligned physical address pml4: memory type in bits 2:0, page-walk
// length minus one (3) in bits 5:3, bit 6 enabling accessed/dirty flags.
// Bits 11:0 of pml4 are ignored.
func NewEPTP(pml4 uint64, memType uint8, accessedDirty bool) uint64 {
	p := pml4&^0xFFF | uint64(memType&eptpMemTypeMask) | 3<<eptpWalkLengthShift
	if accessedDirty {
		p |= EPTPAccessedDirty
	}
	return p
}
