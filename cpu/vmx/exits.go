package vmx

// ExitReason is a basic exit reason: bits 15:0 of the exit-reason field
// (SDM Vol. 3C §25.9.1; values from SDM Vol. 3D Appendix C, Table C-1).
type ExitReason uint16

// Basic exit reasons, SDM Appendix C. Values 35, 38 and 42 are not used by
// the SDM; 71 is not listed in Appendix C either.
const (
	ExitExceptionOrNMI        ExitReason = 0
	ExitExternalInterrupt     ExitReason = 1
	ExitTripleFault           ExitReason = 2
	ExitINIT                  ExitReason = 3
	ExitSIPI                  ExitReason = 4
	ExitIOSMI                 ExitReason = 5
	ExitOtherSMI              ExitReason = 6
	ExitInterruptWindow       ExitReason = 7
	ExitNMIWindow             ExitReason = 8
	ExitTaskSwitch            ExitReason = 9
	ExitCPUID                 ExitReason = 10
	ExitGETSEC                ExitReason = 11
	ExitHLT                   ExitReason = 12
	ExitINVD                  ExitReason = 13
	ExitINVLPG                ExitReason = 14
	ExitRDPMC                 ExitReason = 15
	ExitRDTSC                 ExitReason = 16
	ExitRSM                   ExitReason = 17
	ExitVMCALL                ExitReason = 18
	ExitVMCLEAR               ExitReason = 19
	ExitVMLAUNCH              ExitReason = 20
	ExitVMPTRLD               ExitReason = 21
	ExitVMPTRST               ExitReason = 22
	ExitVMREAD                ExitReason = 23
	ExitVMRESUME              ExitReason = 24
	ExitVMWRITE               ExitReason = 25
	ExitVMXOFF                ExitReason = 26
	ExitVMXON                 ExitReason = 27
	ExitCRAccess              ExitReason = 28
	ExitMOVDR                 ExitReason = 29
	ExitIO                    ExitReason = 30
	ExitRDMSR                 ExitReason = 31
	ExitWRMSR                 ExitReason = 32
	ExitInvalidGuestState     ExitReason = 33 // VM-entry failure
	ExitMSRLoading            ExitReason = 34 // VM-entry failure
	ExitMWAIT                 ExitReason = 36
	ExitMonitorTrapFlag       ExitReason = 37
	ExitMONITOR               ExitReason = 39
	ExitPAUSE                 ExitReason = 40
	ExitMachineCheck          ExitReason = 41 // VM-entry failure due to a machine-check event
	ExitTPRBelowThreshold     ExitReason = 43
	ExitAPICAccess            ExitReason = 44
	ExitVirtualizedEOI        ExitReason = 45
	ExitGDTRIDTR              ExitReason = 46
	ExitLDTRTR                ExitReason = 47
	ExitEPTViolation          ExitReason = 48
	ExitEPTMisconfig          ExitReason = 49
	ExitINVEPT                ExitReason = 50
	ExitRDTSCP                ExitReason = 51
	ExitPreemptionTimer       ExitReason = 52
	ExitINVVPID               ExitReason = 53
	ExitWBINVD                ExitReason = 54 // WBINVD or WBNOINVD
	ExitXSETBV                ExitReason = 55
	ExitAPICWrite             ExitReason = 56
	ExitRDRAND                ExitReason = 57
	ExitINVPCID               ExitReason = 58
	ExitVMFUNC                ExitReason = 59
	ExitENCLS                 ExitReason = 60
	ExitRDSEED                ExitReason = 61
	ExitPMLFull               ExitReason = 62
	ExitXSAVES                ExitReason = 63
	ExitXRSTORS               ExitReason = 64
	ExitPCONFIG               ExitReason = 65
	ExitSPPEvent              ExitReason = 66
	ExitUMWAIT                ExitReason = 67
	ExitTPAUSE                ExitReason = 68
	ExitLOADIWKEY             ExitReason = 69
	ExitENCLV                 ExitReason = 70
	ExitENQCMDPASIDFailure    ExitReason = 72
	ExitENQCMDSPASIDFailure   ExitReason = 73
	ExitBusLock               ExitReason = 74
	ExitInstructionTimeout    ExitReason = 75
	ExitSEAMCALL              ExitReason = 76
	ExitTDCALL                ExitReason = 77
	ExitRDMSRLIST             ExitReason = 78
	ExitWRMSRLIST             ExitReason = 79
	ExitRDMSRImmediate        ExitReason = 84 // RDMSR with an immediate operand
	ExitWRMSRNSImmediate      ExitReason = 85 // WRMSRNS with an immediate operand
	exitReasonTableUpperBound            = 86
)

var exitReasonNames = [exitReasonTableUpperBound]string{
	ExitExceptionOrNMI:      "exception or NMI",
	ExitExternalInterrupt:   "external interrupt",
	ExitTripleFault:         "triple fault",
	ExitINIT:                "INIT signal",
	ExitSIPI:                "start-up IPI",
	ExitIOSMI:               "I/O SMI",
	ExitOtherSMI:            "other SMI",
	ExitInterruptWindow:     "interrupt window",
	ExitNMIWindow:           "NMI window",
	ExitTaskSwitch:          "task switch",
	ExitCPUID:               "CPUID",
	ExitGETSEC:              "GETSEC",
	ExitHLT:                 "HLT",
	ExitINVD:                "INVD",
	ExitINVLPG:              "INVLPG",
	ExitRDPMC:               "RDPMC",
	ExitRDTSC:               "RDTSC",
	ExitRSM:                 "RSM",
	ExitVMCALL:              "VMCALL",
	ExitVMCLEAR:             "VMCLEAR",
	ExitVMLAUNCH:            "VMLAUNCH",
	ExitVMPTRLD:             "VMPTRLD",
	ExitVMPTRST:             "VMPTRST",
	ExitVMREAD:              "VMREAD",
	ExitVMRESUME:            "VMRESUME",
	ExitVMWRITE:             "VMWRITE",
	ExitVMXOFF:              "VMXOFF",
	ExitVMXON:               "VMXON",
	ExitCRAccess:            "control-register access",
	ExitMOVDR:               "MOV DR",
	ExitIO:                  "I/O instruction",
	ExitRDMSR:               "RDMSR",
	ExitWRMSR:               "WRMSR",
	ExitInvalidGuestState:   "VM-entry failure due to invalid guest state",
	ExitMSRLoading:          "VM-entry failure due to MSR loading",
	ExitMWAIT:               "MWAIT",
	ExitMonitorTrapFlag:     "monitor trap flag",
	ExitMONITOR:             "MONITOR",
	ExitPAUSE:               "PAUSE",
	ExitMachineCheck:        "VM-entry failure due to machine-check event",
	ExitTPRBelowThreshold:   "TPR below threshold",
	ExitAPICAccess:          "APIC access",
	ExitVirtualizedEOI:      "virtualized EOI",
	ExitGDTRIDTR:            "access to GDTR or IDTR",
	ExitLDTRTR:              "access to LDTR or TR",
	ExitEPTViolation:        "EPT violation",
	ExitEPTMisconfig:        "EPT misconfiguration",
	ExitINVEPT:              "INVEPT",
	ExitRDTSCP:              "RDTSCP",
	ExitPreemptionTimer:     "VMX-preemption timer expired",
	ExitINVVPID:             "INVVPID",
	ExitWBINVD:              "WBINVD or WBNOINVD",
	ExitXSETBV:              "XSETBV",
	ExitAPICWrite:           "APIC write",
	ExitRDRAND:              "RDRAND",
	ExitINVPCID:             "INVPCID",
	ExitVMFUNC:              "VMFUNC",
	ExitENCLS:               "ENCLS",
	ExitRDSEED:              "RDSEED",
	ExitPMLFull:             "page-modification log full",
	ExitXSAVES:              "XSAVES",
	ExitXRSTORS:             "XRSTORS",
	ExitPCONFIG:             "PCONFIG",
	ExitSPPEvent:            "SPP-related event",
	ExitUMWAIT:              "UMWAIT",
	ExitTPAUSE:              "TPAUSE",
	ExitLOADIWKEY:           "LOADIWKEY",
	ExitENCLV:               "ENCLV",
	ExitENQCMDPASIDFailure:  "ENQCMD PASID-translation failure",
	ExitENQCMDSPASIDFailure: "ENQCMDS PASID-translation failure",
	ExitBusLock:             "bus lock",
	ExitInstructionTimeout:  "instruction timeout",
	ExitSEAMCALL:            "SEAMCALL",
	ExitTDCALL:              "TDCALL",
	ExitRDMSRLIST:           "RDMSRLIST",
	ExitWRMSRLIST:           "WRMSRLIST",
	ExitRDMSRImmediate:      "RDMSR (immediate)",
	ExitWRMSRNSImmediate:    "WRMSRNS (immediate)",
}

// Known reports whether r is a basic exit reason this package names.
func (r ExitReason) Known() bool {
	return int(r) < len(exitReasonNames) && exitReasonNames[r] != ""
}

// String is the SDM Appendix C description, shortened.
func (r ExitReason) String() string {
	if r.Known() {
		return exitReasonNames[r]
	}
	return "exit reason " + dec(uint64(r))
}

// RawExitReason is the full 32-bit exit-reason field (VMExitReason;
// SDM Vol. 3C §25.9.1, Table 25-18).
type RawExitReason uint32

// Exit-reason field bits other than the basic reason (SDM §25.9.1).
const (
	ExitReasonBusLockPreempted   RawExitReason = 1 << 26 // a bus lock was asserted and the exit is due to something else
	ExitReasonEnclaveMode        RawExitReason = 1 << 27 // the exit came from enclave mode
	ExitReasonPendingMTF         RawExitReason = 1 << 28 // pending MTF VM exit (SMM VM exits only)
	ExitReasonFromVMXRoot        RawExitReason = 1 << 29 // exit from VMX root operation (SMM VM exits only)
	ExitReasonVMEntryFailure     RawExitReason = 1 << 31 // VM-entry failure
	exitReasonBasicMask          RawExitReason = 0xFFFF
	exitReasonDefinedBitsNonBase               = ExitReasonBusLockPreempted | ExitReasonEnclaveMode | ExitReasonPendingMTF | ExitReasonFromVMXRoot | ExitReasonVMEntryFailure
)

// Basic is the basic exit reason, bits 15:0.
func (r RawExitReason) Basic() ExitReason { return ExitReason(r & exitReasonBasicMask) }

// EntryFailure reports bit 31: the VM entry failed (the basic reason is then
// 33, 34 or 41) and guest state was not loaded.
func (r RawExitReason) EntryFailure() bool { return r&ExitReasonVMEntryFailure != 0 }

// EnclaveMode reports bit 27.
func (r RawExitReason) EnclaveMode() bool { return r&ExitReasonEnclaveMode != 0 }

// String describes the basic reason and any flag bits.
func (r RawExitReason) String() string {
	s := r.Basic().String()
	if r.EntryFailure() {
		s = "VM-entry failure: " + s
	}
	if r&ExitReasonEnclaveMode != 0 {
		s += " (from enclave mode)"
	}
	if r&ExitReasonBusLockPreempted != 0 {
		s += " (bus lock asserted)"
	}
	if r&ExitReasonPendingMTF != 0 {
		s += " (pending MTF)"
	}
	if r&ExitReasonFromVMXRoot != 0 {
		s += " (from VMX root)"
	}
	return s
}

// VMInstructionErrorNumber is the value of the VM-instruction error field
// after a VMX instruction fails with VMfailValid
// (SDM Vol. 3C §31.4, Table 31-1 "VM-Instruction Error Numbers").
type VMInstructionErrorNumber uint32

// VM-instruction error numbers, SDM §31.4. Numbers 14, 21 and 27 are not used.
const (
	ErrVMCALLInRoot                      VMInstructionErrorNumber = 1
	ErrVMCLEARInvalidAddress             VMInstructionErrorNumber = 2
	ErrVMCLEARVMXONPointer               VMInstructionErrorNumber = 3
	ErrVMLAUNCHNonClear                  VMInstructionErrorNumber = 4
	ErrVMRESUMENonLaunched               VMInstructionErrorNumber = 5
	ErrVMRESUMEAfterVMXOFF               VMInstructionErrorNumber = 6
	ErrEntryInvalidControls              VMInstructionErrorNumber = 7
	ErrEntryInvalidHostState             VMInstructionErrorNumber = 8
	ErrVMPTRLDInvalidAddress             VMInstructionErrorNumber = 9
	ErrVMPTRLDVMXONPointer               VMInstructionErrorNumber = 10
	ErrVMPTRLDBadRevision                VMInstructionErrorNumber = 11
	ErrUnsupportedComponent              VMInstructionErrorNumber = 12
	ErrVMWRITEReadOnly                   VMInstructionErrorNumber = 13
	ErrVMXONInRoot                       VMInstructionErrorNumber = 15
	ErrEntryInvalidExecutiveVMCS         VMInstructionErrorNumber = 16
	ErrEntryNonLaunchedExecutiveVMCS     VMInstructionErrorNumber = 17
	ErrEntryExecutiveVMCSNotVMXONPointer VMInstructionErrorNumber = 18
	ErrVMCALLNonClear                    VMInstructionErrorNumber = 19
	ErrVMCALLInvalidExitControls         VMInstructionErrorNumber = 20
	ErrVMCALLBadMSEGRevision             VMInstructionErrorNumber = 22
	ErrVMXOFFDualMonitor                 VMInstructionErrorNumber = 23
	ErrVMCALLInvalidSMMFeatures          VMInstructionErrorNumber = 24
	ErrEntryInvalidExecutiveControls     VMInstructionErrorNumber = 25
	ErrEntryEventsBlockedByMOVSS         VMInstructionErrorNumber = 26
	ErrInvalidINVEPTINVVPIDOperand       VMInstructionErrorNumber = 28
	vmInstructionErrorTableUpperBound                             = 29
)

var vmInstructionErrorNames = [vmInstructionErrorTableUpperBound]string{
	ErrVMCALLInRoot:                      "VMCALL executed in VMX root operation",
	ErrVMCLEARInvalidAddress:             "VMCLEAR with invalid physical address",
	ErrVMCLEARVMXONPointer:               "VMCLEAR with VMXON pointer",
	ErrVMLAUNCHNonClear:                  "VMLAUNCH with non-clear VMCS",
	ErrVMRESUMENonLaunched:               "VMRESUME with non-launched VMCS",
	ErrVMRESUMEAfterVMXOFF:               "VMRESUME after VMXOFF",
	ErrEntryInvalidControls:              "VM entry with invalid control field(s)",
	ErrEntryInvalidHostState:             "VM entry with invalid host-state field(s)",
	ErrVMPTRLDInvalidAddress:             "VMPTRLD with invalid physical address",
	ErrVMPTRLDVMXONPointer:               "VMPTRLD with VMXON pointer",
	ErrVMPTRLDBadRevision:                "VMPTRLD with incorrect VMCS revision identifier",
	ErrUnsupportedComponent:              "VMREAD/VMWRITE from/to unsupported VMCS component",
	ErrVMWRITEReadOnly:                   "VMWRITE to read-only VMCS component",
	ErrVMXONInRoot:                       "VMXON executed in VMX root operation",
	ErrEntryInvalidExecutiveVMCS:         "VM entry with invalid executive-VMCS pointer",
	ErrEntryNonLaunchedExecutiveVMCS:     "VM entry with non-launched executive VMCS",
	ErrEntryExecutiveVMCSNotVMXONPointer: "VM entry with executive-VMCS pointer not VMXON pointer",
	ErrVMCALLNonClear:                    "VMCALL with non-clear VMCS",
	ErrVMCALLInvalidExitControls:         "VMCALL with invalid VM-exit control fields",
	ErrVMCALLBadMSEGRevision:             "VMCALL with incorrect MSEG revision identifier",
	ErrVMXOFFDualMonitor:                 "VMXOFF under dual-monitor treatment of SMIs and SMM",
	ErrVMCALLInvalidSMMFeatures:          "VMCALL with invalid SMM-monitor features",
	ErrEntryInvalidExecutiveControls:     "VM entry with invalid VM-execution control fields in executive VMCS",
	ErrEntryEventsBlockedByMOVSS:         "VM entry with events blocked by MOV SS",
	ErrInvalidINVEPTINVVPIDOperand:       "invalid operand to INVEPT/INVVPID",
}

// String is the SDM Table 31-1 description.
func (e VMInstructionErrorNumber) String() string {
	if int(e) < len(vmInstructionErrorNames) && vmInstructionErrorNames[e] != "" {
		return vmInstructionErrorNames[e]
	}
	return "VM-instruction error " + dec(uint64(e))
}

// IOQualification is the exit qualification of an I/O-instruction VM exit
// (SDM Vol. 3C §28.2.1, Table 28-5).
type IOQualification uint64

// Size is the access size in bytes (bits 2:0: 0 = 1 byte, 1 = 2, 3 = 4).
func (q IOQualification) Size() int { return int(q&7) + 1 }

// In reports the direction, bit 3 (1 = IN, 0 = OUT).
func (q IOQualification) In() bool { return q&(1<<3) != 0 }

// StringInstruction reports bit 4 (INS/OUTS).
func (q IOQualification) StringInstruction() bool { return q&(1<<4) != 0 }

// Rep reports bit 5 (REP prefixed).
func (q IOQualification) Rep() bool { return q&(1<<5) != 0 }

// ImmediateOperand reports bit 6 (port given as an immediate; 0 = in DX).
func (q IOQualification) ImmediateOperand() bool { return q&(1<<6) != 0 }

// Port is the port number, bits 31:16.
func (q IOQualification) Port() uint16 { return uint16(q >> 16) }

// String renders the access, e.g. "OUT 1 byte(s) port 0x3F8".
func (q IOQualification) String() string {
	s := "OUT"
	if q.In() {
		s = "IN"
	}
	if q.StringInstruction() {
		s += "S"
	}
	if q.Rep() {
		s = "REP " + s
	}
	s += " " + dec(uint64(q.Size())) + " byte(s) port 0x" + hex64(uint64(q.Port()))
	if q.ImmediateOperand() {
		s += " (imm)"
	} else {
		s += " (DX)"
	}
	return s
}

// CRAccessType is bits 5:4 of a control-register-access exit qualification.
type CRAccessType uint8

// Control-register access types (SDM Table 28-3).
const (
	CRMovTo   CRAccessType = 0
	CRMovFrom CRAccessType = 1
	CRCLTS    CRAccessType = 2
	CRLMSW    CRAccessType = 3
)

// String names the access type.
func (t CRAccessType) String() string {
	switch t {
	case CRMovTo:
		return "MOV to CR"
	case CRMovFrom:
		return "MOV from CR"
	case CRCLTS:
		return "CLTS"
	}
	return "LMSW"
}

// CRAccessQualification is the exit qualification of a control-register
// access (SDM Vol. 3C §28.2.1, Table 28-3).
type CRAccessQualification uint64

// CR is the control register number, bits 3:0 (0 for CLTS and LMSW).
func (q CRAccessQualification) CR() int { return int(q & 0xF) }

// AccessType is bits 5:4.
func (q CRAccessQualification) AccessType() CRAccessType { return CRAccessType(q>>4) & 3 }

// LMSWMemory reports bit 6: the LMSW operand was in memory (0 = register).
func (q CRAccessQualification) LMSWMemory() bool { return q&(1<<6) != 0 }

// Register is the general-purpose register of a MOV CR, bits 11:8
// (0 = RAX, 1 = RCX, 2 = RDX, 3 = RBX, 4 = RSP, 5 = RBP, 6 = RSI, 7 = RDI, 8-15 = R8-R15).
func (q CRAccessQualification) Register() int { return int(q>>8) & 0xF }

// LMSWSource is the LMSW source data, bits 31:16.
func (q CRAccessQualification) LMSWSource() uint16 { return uint16(q >> 16) }

var gprNames = [16]string{"RAX", "RCX", "RDX", "RBX", "RSP", "RBP", "RSI", "RDI", "R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15"}

// String renders the access, e.g. "MOV to CR3 from RAX".
func (q CRAccessQualification) String() string {
	cr := "CR" + dec(uint64(q.CR()))
	switch q.AccessType() {
	case CRMovTo:
		return "MOV to " + cr + " from " + gprNames[q.Register()]
	case CRMovFrom:
		return "MOV from " + cr + " to " + gprNames[q.Register()]
	case CRCLTS:
		return "CLTS"
	}
	src := " register"
	if q.LMSWMemory() {
		src = " memory"
	}
	return "LMSW 0x" + hex64(uint64(q.LMSWSource())) + src
}

// EPTViolationQualification is the exit qualification of an EPT violation
// (SDM Vol. 3C §28.2.1, Table 28-7).
type EPTViolationQualification uint64

// Read reports bit 0: the access was a data read.
func (q EPTViolationQualification) Read() bool { return q&(1<<0) != 0 }

// Write reports bit 1: the access was a data write.
func (q EPTViolationQualification) Write() bool { return q&(1<<1) != 0 }

// Fetch reports bit 2: the access was an instruction fetch.
func (q EPTViolationQualification) Fetch() bool { return q&(1<<2) != 0 }

// Readable reports bit 3: the guest-physical address was readable.
func (q EPTViolationQualification) Readable() bool { return q&(1<<3) != 0 }

// Writable reports bit 4: the guest-physical address was writable.
func (q EPTViolationQualification) Writable() bool { return q&(1<<4) != 0 }

// Executable reports bit 5: executable (for supervisor-mode linear addresses
// when mode-based execute control is on).
func (q EPTViolationQualification) Executable() bool { return q&(1<<5) != 0 }

// UserExecutable reports bit 6: executable for user-mode linear addresses
// (meaningful only with mode-based execute control for EPT).
func (q EPTViolationQualification) UserExecutable() bool { return q&(1<<6) != 0 }

// LinearAddressValid reports bit 7: the guest linear-address field is valid.
func (q EPTViolationQualification) LinearAddressValid() bool { return q&(1<<7) != 0 }

// Translation reports bit 8 (meaningful when bit 7 is set): 1 if the access
// was to the translation of the linear address, 0 if to a paging structure.
func (q EPTViolationQualification) Translation() bool { return q&(1<<8) != 0 }

// NMIUnblocking reports bit 12: NMI unblocking due to IRET.
func (q EPTViolationQualification) NMIUnblocking() bool { return q&(1<<12) != 0 }

// ShadowStack reports bit 13: the access was a shadow-stack access.
func (q EPTViolationQualification) ShadowStack() bool { return q&(1<<13) != 0 }

// String renders the access and permissions, e.g. "write to r-x".
func (q EPTViolationQualification) String() string {
	var acc string
	switch {
	case q.Fetch():
		acc = "fetch"
	case q.Write():
		acc = "write"
	case q.Read():
		acc = "read"
	default:
		acc = "access"
	}
	perm := []byte("---")
	if q.Readable() {
		perm[0] = 'r'
	}
	if q.Writable() {
		perm[1] = 'w'
	}
	if q.Executable() {
		perm[2] = 'x'
	}
	s := acc + " to " + string(perm)
	if q.LinearAddressValid() {
		if q.Translation() {
			s += " (linear-address translation)"
		} else {
			s += " (paging-structure access)"
		}
	}
	if q.NMIUnblocking() {
		s += " (NMI unblocking)"
	}
	return s
}

// DebugQualification is the exit qualification of a debug exception
// (#DB intercepted or a pending debug exception; SDM §28.2.1, Table 28-1).
type DebugQualification uint64

// Breakpoints returns B3:B0, bits 3:0.
func (q DebugQualification) Breakpoints() uint8 { return uint8(q & 0xF) }

// BusLock reports bit 11 (BLD).
func (q DebugQualification) BusLock() bool { return q&(1<<11) != 0 }

// DebugRegisterAccess reports bit 13 (BD).
func (q DebugQualification) DebugRegisterAccess() bool { return q&(1<<13) != 0 }

// SingleStep reports bit 14 (BS).
func (q DebugQualification) SingleStep() bool { return q&(1<<14) != 0 }

// RTM reports bit 16.
func (q DebugQualification) RTM() bool { return q&(1<<16) != 0 }

// String renders the set conditions.
func (q DebugQualification) String() string {
	s := "debug B=0x" + hex64(uint64(q.Breakpoints()))
	if q.DebugRegisterAccess() {
		s += " BD"
	}
	if q.SingleStep() {
		s += " BS"
	}
	if q.BusLock() {
		s += " BLD"
	}
	if q.RTM() {
		s += " RTM"
	}
	return s
}

// TaskSwitchSource is bits 31:30 of a task-switch exit qualification.
type TaskSwitchSource uint8

// Task-switch sources (SDM Table 28-2).
const (
	TaskSwitchCALL     TaskSwitchSource = 0
	TaskSwitchIRET     TaskSwitchSource = 1
	TaskSwitchJMP      TaskSwitchSource = 2
	TaskSwitchTaskGate TaskSwitchSource = 3
)

// TaskSwitchQualification is the exit qualification of a task switch
// (SDM §28.2.1, Table 28-2).
type TaskSwitchQualification uint64

// Selector is the new TSS selector, bits 15:0.
func (q TaskSwitchQualification) Selector() uint16 { return uint16(q) }

// Source is bits 31:30.
func (q TaskSwitchQualification) Source() TaskSwitchSource { return TaskSwitchSource(q>>30) & 3 }

// String renders the switch.
func (q TaskSwitchQualification) String() string {
	src := [4]string{"CALL", "IRET", "JMP", "task gate"}[q.Source()]
	return "task switch by " + src + " to TSS 0x" + hex64(uint64(q.Selector()))
}

// EventType is bits 10:8 of an interruption-information field
// (SDM Vol. 3C §25.8.3, Table 25-17; §25.9.2, Table 25-19).
type EventType uint8

// Interruption types. Type 1 is reserved.
const (
	EventExternalInterrupt           EventType = 0
	EventNMI                         EventType = 2
	EventHardwareException           EventType = 3
	EventSoftwareInterrupt           EventType = 4
	EventPrivilegedSoftwareException EventType = 5 // INT1
	EventSoftwareException           EventType = 6 // INT3, INTO
	EventOther                       EventType = 7 // with vector 0: pending MTF VM exit
)

// String names the type.
func (t EventType) String() string {
	switch t {
	case EventExternalInterrupt:
		return "external interrupt"
	case EventNMI:
		return "NMI"
	case EventHardwareException:
		return "hardware exception"
	case EventSoftwareInterrupt:
		return "software interrupt"
	case EventPrivilegedSoftwareException:
		return "privileged software exception"
	case EventSoftwareException:
		return "software exception"
	case EventOther:
		return "other event"
	}
	return "reserved type " + dec(uint64(t))
}

// EventInfo is an interruption-information field: VM-entry interruption
// information (§25.8.3), VM-exit interruption information and IDT-vectoring
// information (§25.9.2).
type EventInfo uint32

// Interruption-information bits.
const (
	EventInfoErrorCodeValid    EventInfo = 1 << 11 // deliver error code (entry) / error code valid (exit)
	EventInfoNMIUnblockingIRET EventInfo = 1 << 12 // VM-exit interruption information only
	EventInfoValid             EventInfo = 1 << 31
	// EventInfoEntryReserved are bits 30:12, which must be 0 in the VM-entry
	// interruption-information field (SDM §27.2.1.3).
	EventInfoEntryReserved EventInfo = 0x7FFFF000
)

// NewEvent builds a valid VM-entry interruption-information value.
func NewEvent(t EventType, vector uint8, errorCode bool) EventInfo {
	e := EventInfoValid | EventInfo(t&7)<<8 | EventInfo(vector)
	if errorCode {
		e |= EventInfoErrorCodeValid
	}
	return e
}

// Vector is bits 7:0.
func (e EventInfo) Vector() uint8 { return uint8(e) }

// Type is bits 10:8.
func (e EventInfo) Type() EventType { return EventType(e>>8) & 7 }

// ErrorCodeValid reports bit 11.
func (e EventInfo) ErrorCodeValid() bool { return e&EventInfoErrorCodeValid != 0 }

// NMIUnblockingIRET reports bit 12 (VM-exit interruption information).
func (e EventInfo) NMIUnblockingIRET() bool { return e&EventInfoNMIUnblockingIRET != 0 }

// Valid reports bit 31.
func (e EventInfo) Valid() bool { return e&EventInfoValid != 0 }

// String renders the event, e.g. "hardware exception #PF (error code)".
func (e EventInfo) String() string {
	if !e.Valid() {
		return "no event"
	}
	s := e.Type().String()
	if e.Type() == EventHardwareException || e.Type() == EventSoftwareException || e.Type() == EventPrivilegedSoftwareException {
		s += " " + ExceptionName(e.Vector())
	} else {
		s += " vector " + dec(uint64(e.Vector()))
	}
	if e.ErrorCodeValid() {
		s += " (error code)"
	}
	return s
}

// Exception vectors (SDM Vol. 3A §6.3.1, Table 6-1).
const (
	VectorDE  = 0  // divide error
	VectorDB  = 1  // debug
	VectorNMI = 2  // non-maskable interrupt
	VectorBP  = 3  // breakpoint
	VectorOF  = 4  // overflow
	VectorBR  = 5  // BOUND range exceeded
	VectorUD  = 6  // invalid opcode
	VectorNM  = 7  // device not available
	VectorDF  = 8  // double fault
	VectorTS  = 10 // invalid TSS
	VectorNP  = 11 // segment not present
	VectorSS  = 12 // stack-segment fault
	VectorGP  = 13 // general protection
	VectorPF  = 14 // page fault
	VectorMF  = 16 // x87 floating-point error
	VectorAC  = 17 // alignment check
	VectorMC  = 18 // machine check
	VectorXM  = 19 // SIMD floating-point exception
	VectorVE  = 20 // virtualization exception
	VectorCP  = 21 // control-protection exception
)

var exceptionMnemonics = [22]string{"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "vector 9", "#TS", "#NP", "#SS", "#GP", "#PF", "vector 15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP"}

// ExceptionName is the mnemonic of an exception vector ("#GP"), or
// "vector N" for others.
func ExceptionName(vector uint8) string {
	if int(vector) < len(exceptionMnemonics) {
		return exceptionMnemonics[vector]
	}
	return "vector " + dec(uint64(vector))
}

// ExceptionHasErrorCode reports whether the exception pushes an error code
// (#DF, #TS, #NP, #SS, #GP, #PF, #AC, #CP): the vectors for which VM entry
// requires "deliver error code" in protected mode (SDM §27.2.1.3).
func ExceptionHasErrorCode(vector uint8) bool {
	switch vector {
	case VectorDF, VectorTS, VectorNP, VectorSS, VectorGP, VectorPF, VectorAC, VectorCP:
		return true
	}
	return false
}

// Guest interruptibility-state bits (SDM Vol. 3C §25.4.2, Table 25-3).
const (
	InterruptibilitySTI     = 1 << 0 // blocking by STI
	InterruptibilityMOVSS   = 1 << 1 // blocking by MOV SS / POP SS
	InterruptibilitySMI     = 1 << 2 // blocking by SMI
	InterruptibilityNMI     = 1 << 3 // blocking by NMI
	InterruptibilityEnclave = 1 << 4 // enclave interruption
)

// ActivityState is the guest activity-state field (SDM §25.4.2).
type ActivityState uint32

// Activity states.
const (
	ActivityActive      ActivityState = 0
	ActivityHLT         ActivityState = 1
	ActivityShutdown    ActivityState = 2
	ActivityWaitForSIPI ActivityState = 3
)

// String names the state.
func (a ActivityState) String() string {
	switch a {
	case ActivityActive:
		return "active"
	case ActivityHLT:
		return "HLT"
	case ActivityShutdown:
		return "shutdown"
	case ActivityWaitForSIPI:
		return "wait-for-SIPI"
	}
	return "activity state " + dec(uint64(a))
}
