package vmx

// This file checks a VMCS against the rules VM entry applies before it loads
// guest state: SDM Vol. 3C §27.2 "Checks on VMX Controls and Host-State Area"
// and §27.3.1 "Checks on the Guest State Area" (current SDM numbering, in
// which chapter 27 is "VM Entries").
//
// Assumptions, all true of a 64-bit VMM such as beelzebox:
//   - the VMM runs in IA-32e mode, outside SMM and outside SMX;
//   - the processor supports Intel 64 architecture.
//
// Rules that need memory the checker cannot read (the revision identifier of
// the VMCS the link pointer references, the VTPR byte of the virtual-APIC
// page, MSR-load list contents) are not checked; rules that depend on
// processor features Capabilities does not describe (IA32_DEBUGCTL,
// IA32_PERF_GLOBAL_CTRL, IA32_RTIT_CTL, IA32_S_CET reserved bits) are checked
// only as far as the architecture fixes them, and are noted where they are.

// VMCS is read access to a VMCS's fields (a hardware VMCS through VMREAD, or
// a map in tests). Read of a field the VMCS does not hold returns 0.
type VMCS interface {
	Read(f Field) uint64
}

// Fields is a map-backed VMCS for tests and for building state in Go.
type Fields map[Field]uint64

// Read returns the field's value; an absent field reads as 0.
func (m Fields) Read(f Field) uint64 { return m[f] }

// Violation is one VM-entry rule a VMCS breaks.
type Violation struct {
	Rule    string // SDM section, e.g. "27.3.1.2"
	Field   Field  // the field most directly at fault
	Message string
}

// Error renders "SDM 27.3.1.2: GuestCSAccessRights: message".
func (v Violation) Error() string {
	return "SDM " + v.Rule + ": " + v.Field.String() + ": " + v.Message
}

// SDM sections of the rule groups.
const (
	RuleExecControls  = "27.2.1.1" // VM-execution control fields
	RuleExitControls  = "27.2.1.2" // VM-exit control fields
	RuleEntryControls = "27.2.1.3" // VM-entry control fields
	RuleHostRegs      = "27.2.2"   // host control registers, MSRs and SSP
	RuleHostSegs      = "27.2.3"   // host segment and descriptor-table registers
	RuleAddrSpace     = "27.2.4"   // address-space size
	RuleGuestRegs     = "27.3.1.1" // guest control registers, debug registers, MSRs
	RuleGuestSegs     = "27.3.1.2" // guest segment registers
	RuleGuestDT       = "27.3.1.3" // guest descriptor-table registers
	RuleGuestRIP      = "27.3.1.4" // guest RIP and RFLAGS
	RuleGuestNonReg   = "27.3.1.5" // guest non-register state
	RuleGuestPDPTE    = "27.3.1.6" // guest PDPTEs
)

// Architectural bits used by the checks.
const (
	cr0PE = 1 << 0
	cr0NW = 1 << 29
	cr0CD = 1 << 30
	cr0WP = 1 << 16
	cr0PG = 1 << 31

	cr4PAE   = 1 << 5
	cr4LA57  = 1 << 12
	cr4PCIDE = 1 << 17
	cr4CET   = 1 << 23

	eferSCE = 1 << 0
	eferLME = 1 << 8
	eferLMA = 1 << 10
	eferNXE = 1 << 11

	rflagsTF = 1 << 8
	rflagsIF = 1 << 9
	rflagsVM = 1 << 17

	arUnusable = 1 << 16
)

// Check runs the VM-entry checks of SDM §27.2 and §27.3.1 on v against the
// processor capabilities caps and returns every violation found, in SDM
// order. A nil caps is treated as a processor that allows nothing optional.
// Check never panics.
func Check(v VMCS, caps *Capabilities) []Violation {
	if caps == nil {
		caps = &Capabilities{}
	}
	k := &checker{v: v, c: caps}
	k.pin = k.r32(PinBasedControls)
	k.proc = k.r32(ProcBasedControls)
	if k.proc&ProcActivateSecondary != 0 {
		k.proc2 = k.r32(SecondaryProcBasedControls)
	}
	k.exit = k.r32(VMExitControls)
	k.entry = k.r32(VMEntryControls)
	k.ia32e = k.entry&EntryIA32eModeGuest != 0
	k.ug = k.proc2&Proc2UnrestrictedGuest != 0
	k.event = EventInfo(k.r32(VMEntryInterruptionInfo))

	k.execControls()
	k.exitControls()
	k.entryControls()
	k.hostRegisters()
	k.hostSegments()
	k.addressSpaceSize()
	k.guestRegisters()
	k.guestSegments()
	k.guestDescriptorTables()
	k.guestRIPAndRFLAGS()
	k.guestNonRegister()
	k.guestPDPTEs()
	return k.out
}

type checker struct {
	v   VMCS
	c   *Capabilities
	out []Violation

	pin, proc, proc2, exit, entry uint32
	ia32e                         bool // "IA-32e mode guest" entry control
	ug                            bool // "unrestricted guest" (with secondary controls active)
	event                         EventInfo
}

func (k *checker) add(rule string, f Field, msg string) {
	k.out = append(k.out, Violation{Rule: rule, Field: f, Message: msg})
}

func (k *checker) r64(f Field) uint64 { return k.v.Read(f) }
func (k *checker) r32(f Field) uint32 { return uint32(k.v.Read(f)) }
func (k *checker) r16(f Field) uint16 { return uint16(k.v.Read(f)) }

// beyondPhys reports whether addr has bits set at or above MAXPHYADDR.
func (k *checker) beyondPhys(addr uint64) bool { return addr>>k.c.physWidth() != 0 }

// canonical reports whether addr is canonical for the processor's linear
// address width: bits 63:N-1 all equal.
func (k *checker) canonical(addr uint64) bool {
	n := k.c.linearWidth()
	if n >= 64 {
		return true
	}
	top := int64(addr) >> (n - 1)
	return top == 0 || top == -1
}

// pageAddress checks a 4 KiB-aligned physical address field.
func (k *checker) pageAddress(rule string, f Field, what string) {
	a := k.r64(f)
	if a&0xFFF != 0 {
		k.add(rule, f, what+" 0x"+hex64(a)+" is not 4 KiB-aligned (bits 11:0 must be 0)")
	}
	if k.beyondPhys(a) {
		k.add(rule, f, what+" 0x"+hex64(a)+" sets bits beyond the physical-address width "+dec(uint64(k.c.physWidth())))
	}
}

// reservedControls checks one 32-bit control field against its capability
// MSR (SDM App. A.3-A.5).
func (k *checker) reservedControls(rule string, kind ControlKind, val uint32) {
	must, may := k.c.Allowed(kind, ^uint32(0))
	if missing := must &^ val; missing != 0 {
		k.add(rule, kind.Field(), "bit(s) "+bitList(uint64(missing))+" of the "+kind.String()+" must be 1 (allowed-0 setting is 1)")
	}
	if extra := val &^ may; extra != 0 {
		k.add(rule, kind.Field(), "bit(s) "+bitList(uint64(extra))+" of the "+kind.String()+" must be 0 (allowed-1 setting is 0)")
	}
}

// msrArea checks a VM-exit/VM-entry MSR list: 16-byte aligned, and the whole
// list (count entries of 16 bytes) inside the physical-address width.
func (k *checker) msrArea(rule string, countField, addrField Field, what string) {
	n := uint64(k.r32(countField))
	if n == 0 {
		return
	}
	a := k.r64(addrField)
	if a&0xF != 0 {
		k.add(rule, addrField, what+" address 0x"+hex64(a)+" is not 16-byte aligned")
	}
	if k.beyondPhys(a) {
		k.add(rule, addrField, what+" address 0x"+hex64(a)+" is beyond the physical-address width")
	}
	last := a + n*16 - 1
	if last < a || k.beyondPhys(last) {
		k.add(rule, countField, what+" of "+dec(n)+" entries at 0x"+hex64(a)+" ends beyond the physical-address width")
	}
}

// execControls: SDM §27.2.1.1.
func (k *checker) execControls() {
	const r = RuleExecControls
	k.reservedControls(r, ControlPin, k.pin)
	k.reservedControls(r, ControlProc, k.proc)
	if k.proc&ProcActivateSecondary != 0 {
		k.reservedControls(r, ControlProc2, k.proc2)
	}
	if k.proc&ProcActivateTertiary != 0 {
		t := k.r64(TertiaryProcBasedControls)
		if extra := t &^ k.c.ProcCtls3; extra != 0 {
			k.add(r, TertiaryProcBasedControls, "bit(s) "+bitList(extra)+" of the tertiary processor-based controls must be 0 (IA32_VMX_PROCBASED_CTLS3)")
		}
	}

	maxTargets := uint32(4)
	if n := k.c.CR3TargetsSupported(); n != 0 && n < 4 {
		maxTargets = uint32(n)
	}
	if n := k.r32(CR3TargetCount); n > maxTargets {
		k.add(r, CR3TargetCount, "CR3-target count "+dec(uint64(n))+" exceeds "+dec(uint64(maxTargets)))
	}

	if k.proc&ProcUseIOBitmaps != 0 {
		k.pageAddress(r, IOBitmapA, "I/O bitmap A")
		k.pageAddress(r, IOBitmapB, "I/O bitmap B")
	}
	if k.proc&ProcUseMSRBitmaps != 0 {
		k.pageAddress(r, MSRBitmap, "MSR-bitmap address")
	}

	if k.proc&ProcUseTPRShadow != 0 {
		k.pageAddress(r, VirtualAPICAddress, "virtual-APIC address")
		if k.proc2&Proc2VirtualInterruptDelivery == 0 {
			if t := k.r32(TPRThreshold); t>>4 != 0 {
				k.add(r, TPRThreshold, "TPR threshold bits 31:4 must be 0 with \"use TPR shadow\" and without virtual-interrupt delivery")
			}
		}
		// The TPR threshold / VTPR comparison reads the virtual-APIC page:
		// not checked.
	} else {
		if k.proc2&Proc2VirtualizeX2APIC != 0 {
			k.add(r, SecondaryProcBasedControls, "\"virtualize x2APIC mode\" requires \"use TPR shadow\"")
		}
		if k.proc2&Proc2APICRegisterVirtualization != 0 {
			k.add(r, SecondaryProcBasedControls, "\"APIC-register virtualization\" requires \"use TPR shadow\"")
		}
		if k.proc2&Proc2VirtualInterruptDelivery != 0 {
			k.add(r, SecondaryProcBasedControls, "\"virtual-interrupt delivery\" requires \"use TPR shadow\"")
		}
	}

	if k.pin&PinNMIExiting == 0 && k.pin&PinVirtualNMIs != 0 {
		k.add(r, PinBasedControls, "\"virtual NMIs\" requires \"NMI exiting\"")
	}
	if k.pin&PinVirtualNMIs == 0 && k.proc&ProcNMIWindowExiting != 0 {
		k.add(r, ProcBasedControls, "\"NMI-window exiting\" requires \"virtual NMIs\"")
	}

	if k.proc2&Proc2VirtualizeAPICAccesses != 0 {
		k.pageAddress(r, APICAccessAddress, "APIC-access address")
	}
	if k.proc2&Proc2VirtualizeX2APIC != 0 && k.proc2&Proc2VirtualizeAPICAccesses != 0 {
		k.add(r, SecondaryProcBasedControls, "\"virtualize x2APIC mode\" and \"virtualize APIC accesses\" cannot both be 1")
	}
	if k.proc2&Proc2VirtualInterruptDelivery != 0 && k.pin&PinExternalInterruptExiting == 0 {
		k.add(r, PinBasedControls, "\"virtual-interrupt delivery\" requires \"external-interrupt exiting\"")
	}

	if k.pin&PinPostedInterrupts != 0 {
		if k.proc2&Proc2VirtualInterruptDelivery == 0 {
			k.add(r, PinBasedControls, "\"process posted interrupts\" requires \"virtual-interrupt delivery\"")
		}
		if k.exit&ExitAcknowledgeInterrupt == 0 {
			k.add(r, VMExitControls, "\"process posted interrupts\" requires \"acknowledge interrupt on exit\"")
		}
		if k.r16(PostedInterruptNotificationVector)>>8 != 0 {
			k.add(r, PostedInterruptNotificationVector, "posted-interrupt notification vector bits 15:8 must be 0")
		}
		a := k.r64(PostedInterruptDescriptorAddress)
		if a&0x3F != 0 {
			k.add(r, PostedInterruptDescriptorAddress, "posted-interrupt descriptor address 0x"+hex64(a)+" is not 64-byte aligned")
		}
		if k.beyondPhys(a) {
			k.add(r, PostedInterruptDescriptorAddress, "posted-interrupt descriptor address 0x"+hex64(a)+" is beyond the physical-address width")
		}
	}

	if k.proc2&Proc2EnableVPID != 0 && k.r16(VirtualProcessorID) == 0 {
		k.add(r, VirtualProcessorID, "VPID must not be 0 when \"enable VPID\" is 1")
	}

	ept := k.proc2&Proc2EnableEPT != 0
	if ept {
		k.checkEPTP(r)
	}
	if k.proc2&Proc2EnablePML != 0 {
		if !ept {
			k.add(r, SecondaryProcBasedControls, "\"enable PML\" requires \"enable EPT\"")
		}
		k.pageAddress(r, PMLAddress, "PML address")
	}
	if k.ug && !ept {
		k.add(r, SecondaryProcBasedControls, "\"unrestricted guest\" requires \"enable EPT\"")
	}
	if k.proc2&Proc2ModeBasedEPTExecute != 0 && !ept {
		k.add(r, SecondaryProcBasedControls, "\"mode-based execute control for EPT\" requires \"enable EPT\"")
	}
	if k.proc2&Proc2SubPageWritePermissions != 0 {
		if !ept {
			k.add(r, SecondaryProcBasedControls, "\"sub-page write permissions for EPT\" requires \"enable EPT\"")
		}
		k.pageAddress(r, SubPagePermissionTablePointer, "SPPTP")
	}
	if k.proc2&Proc2EnableVMFunctions != 0 {
		fn := k.r64(VMFunctionControls)
		if extra := fn &^ k.c.VMFunc; extra != 0 {
			k.add(r, VMFunctionControls, "VM-function control bit(s) "+bitList(extra)+" not supported (IA32_VMX_VMFUNC)")
		}
		if fn&1 != 0 { // EPTP switching
			if !ept {
				k.add(r, VMFunctionControls, "EPTP switching requires \"enable EPT\"")
			}
			k.pageAddress(r, EPTPListAddress, "EPTP-list address")
		}
	}
	if k.proc2&Proc2VMCSShadowing != 0 {
		k.pageAddress(r, VMReadBitmap, "VMREAD-bitmap address")
		k.pageAddress(r, VMWriteBitmap, "VMWRITE-bitmap address")
	}
	if k.proc2&Proc2EPTViolationVE != 0 {
		k.pageAddress(r, VirtualizationExceptionInfoAddress, "virtualization-exception information address")
	}
	if k.proc2&Proc2PTUsesGuestPhysical != 0 {
		if !ept {
			k.add(r, SecondaryProcBasedControls, "\"Intel PT uses guest physical addresses\" requires \"enable EPT\"")
		}
		if k.exit&ExitClearRTITCtl == 0 {
			k.add(r, VMExitControls, "\"Intel PT uses guest physical addresses\" requires the \"clear IA32_RTIT_CTL\" VM-exit control")
		}
		if k.entry&EntryLoadRTITCtl == 0 {
			k.add(r, VMEntryControls, "\"Intel PT uses guest physical addresses\" requires the \"load IA32_RTIT_CTL\" VM-entry control")
		}
	}
}

// checkEPTP validates the EPT pointer (SDM §27.2.1.1, §25.6.11 Table 25-9).
func (k *checker) checkEPTP(r string) {
	p := k.r64(EPTPointer)
	switch mt := p & eptpMemTypeMask; {
	case mt == MemTypeUC && k.c.EPTUncacheable():
	case mt == MemTypeWB && k.c.EPTWriteBack():
	default:
		k.add(r, EPTPointer, "EPTP memory type "+dec(mt)+" is not supported (IA32_VMX_EPT_VPID_CAP allows UC/WB per bits 8/14)")
	}
	switch wl := (p & eptpWalkLengthMask) >> eptpWalkLengthShift; {
	case wl == 3 && k.c.EPTWalkLength4():
	case wl == 4 && k.c.EPTWalkLength5():
	default:
		k.add(r, EPTPointer, "EPTP page-walk length "+dec(wl+1)+" is not supported (bits 5:3 hold length-1)")
	}
	if p&EPTPAccessedDirty != 0 && !k.c.EPTAccessedDirty() {
		k.add(r, EPTPointer, "EPTP bit 6 (accessed/dirty flags) set but not supported")
	}
	if p&EPTPSupervisorShadow != 0 && !k.c.EPTSupervisorShadowStack() {
		k.add(r, EPTPointer, "EPTP bit 7 (supervisor shadow-stack control) set but not supported")
	}
	if p&0xF00 != 0 {
		k.add(r, EPTPointer, "EPTP reserved bits 11:8 must be 0")
	}
	if k.beyondPhys(p) {
		k.add(r, EPTPointer, "EPTP sets bits beyond the physical-address width")
	}
}

// exitControls: SDM §27.2.1.2.
func (k *checker) exitControls() {
	const r = RuleExitControls
	k.reservedControls(r, ControlExit, k.exit)
	if k.pin&PinPreemptionTimer == 0 && k.exit&ExitSavePreemptionTimer != 0 {
		k.add(r, VMExitControls, "\"save VMX-preemption timer value\" requires \"activate VMX-preemption timer\"")
	}
	k.msrArea(r, VMExitMSRStoreCount, VMExitMSRStoreAddr, "VM-exit MSR-store area")
	k.msrArea(r, VMExitMSRLoadCount, VMExitMSRLoadAddr, "VM-exit MSR-load area")
}

// entryControls: SDM §27.2.1.3.
func (k *checker) entryControls() {
	const r = RuleEntryControls
	k.reservedControls(r, ControlEntry, k.entry)
	// The VMM is outside SMM (see the file comment).
	if k.entry&EntryToSMM != 0 {
		k.add(r, VMEntryControls, "\"entry to SMM\" must be 0 outside SMM")
	}
	if k.entry&EntryDeactivateDualMonitor != 0 {
		k.add(r, VMEntryControls, "\"deactivate dual-monitor treatment\" must be 0 outside SMM")
	}

	e := k.event
	if e.Valid() {
		t, vec := e.Type(), e.Vector()
		switch t {
		case 1:
			k.add(r, VMEntryInterruptionInfo, "interruption type 1 is reserved")
		case EventOther:
			if _, may := k.c.Allowed(ControlProc, ProcMonitorTrapFlag); may == 0 {
				k.add(r, VMEntryInterruptionInfo, "interruption type 7 (other event) requires support for the monitor trap flag")
			}
		}
		switch {
		case t == EventNMI && vec != VectorNMI:
			k.add(r, VMEntryInterruptionInfo, "an injected NMI must have vector 2")
		case t == EventHardwareException && vec > 31:
			k.add(r, VMEntryInterruptionInfo, "an injected hardware exception must have a vector 0-31")
		case t == EventOther && vec != 0:
			k.add(r, VMEntryInterruptionInfo, "interruption type 7 (other event) must have vector 0")
		}

		// Deliver-error-code: must be 0 unless a hardware exception in
		// protected mode; must be 1 for the error-code vectors unless
		// IA32_VMX_BASIC[56] lifts the requirement.
		pe := !k.ug || k.r64(GuestCR0)&cr0PE != 0
		inPM := t == EventHardwareException && pe
		if e.ErrorCodeValid() && !inPM {
			k.add(r, VMEntryInterruptionInfo, "deliver-error-code must be 0 unless injecting a hardware exception into protected mode")
		}
		if !e.ErrorCodeValid() && inPM && ExceptionHasErrorCode(vec) && !k.c.NoErrorCodeRequired() {
			k.add(r, VMEntryInterruptionInfo, "deliver-error-code must be 1 for "+ExceptionName(vec))
		}
		if e&EventInfoEntryReserved != 0 {
			k.add(r, VMEntryInterruptionInfo, "reserved bits 30:12 must be 0")
		}
		if e.ErrorCodeValid() && k.r32(VMEntryExceptionErrorCode)>>16 != 0 {
			k.add(r, VMEntryExceptionErrorCode, "bits 31:16 of the VM-entry exception error code must be 0")
		}
		if t == EventSoftwareInterrupt || t == EventPrivilegedSoftwareException || t == EventSoftwareException {
			n := k.r32(VMEntryInstructionLength)
			switch {
			case n > 15:
				k.add(r, VMEntryInstructionLength, "instruction length "+dec(uint64(n))+" exceeds 15")
			case n == 0 && !k.c.ZeroLengthInjection():
				k.add(r, VMEntryInstructionLength, "instruction length 0 is allowed only if IA32_VMX_MISC[30] is 1")
			}
		}
	}
	k.msrArea(r, VMEntryMSRLoadCount, VMEntryMSRLoadAddr, "VM-entry MSR-load area")
}

// checkFixed checks a control register against IA32_VMX_CRn_FIXED0/1
// (App. A.7, A.8), ignoring the bits in skip.
func (k *checker) checkFixed(rule string, f Field, val, fixed0, fixed1, skip uint64, name string) {
	if missing := fixed0 &^ val &^ skip; missing != 0 {
		k.add(rule, f, name+" bit(s) "+bitList(missing)+" must be 1 in VMX operation")
	}
	if extra := val &^ fixed1 &^ skip; extra != 0 {
		k.add(rule, f, name+" bit(s) "+bitList(extra)+" must be 0 in VMX operation")
	}
}

// validPAT reports whether every byte of a PAT value is a valid memory type
// (0, 1, 4, 5, 6 or 7).
func validPAT(pat uint64) bool {
	for i := 0; i < 8; i++ {
		switch (pat >> (8 * i)) & 0xFF {
		case 0, 1, 4, 5, 6, 7:
		default:
			return false
		}
	}
	return true
}

// eferReserved are the IA32_EFER bits other than SCE, LME, LMA and NXE.
const eferReserved = ^uint64(eferSCE | eferLME | eferLMA | eferNXE)

// hostRegisters: SDM §27.2.2.
func (k *checker) hostRegisters() {
	const r = RuleHostRegs
	cr0 := k.r64(HostCR0)
	k.checkFixed(r, HostCR0, cr0, k.c.CR0Fixed0, k.c.CR0Fixed1, 0, "host CR0")
	cr4 := k.r64(HostCR4)
	k.checkFixed(r, HostCR4, cr4, k.c.CR4Fixed0, k.c.CR4Fixed1, 0, "host CR4")
	if k.beyondPhys(k.r64(HostCR3)) {
		k.add(r, HostCR3, "host CR3 sets bits beyond the physical-address width")
	}
	if cr4&cr4CET != 0 && cr0&cr0WP == 0 {
		k.add(r, HostCR4, "host CR4.CET requires CR0.WP")
	}
	if !k.canonical(k.r64(HostIA32SysenterESP)) {
		k.add(r, HostIA32SysenterESP, "host IA32_SYSENTER_ESP must be canonical")
	}
	if !k.canonical(k.r64(HostIA32SysenterEIP)) {
		k.add(r, HostIA32SysenterEIP, "host IA32_SYSENTER_EIP must be canonical")
	}
	if k.exit&ExitLoadCET != 0 {
		if !k.canonical(k.r64(HostIA32SCET)) {
			k.add(r, HostIA32SCET, "host IA32_S_CET must be canonical")
		}
		if k.r64(HostSSP)&3 != 0 || !k.canonical(k.r64(HostSSP)) {
			k.add(r, HostSSP, "host SSP must be canonical with bits 1:0 clear")
		}
		if !k.canonical(k.r64(HostIA32InterruptSSPTableAddr)) {
			k.add(r, HostIA32InterruptSSPTableAddr, "host IA32_INTERRUPT_SSP_TABLE_ADDR must be canonical")
		}
	}
	if k.exit&ExitLoadPAT != 0 && !validPAT(k.r64(HostIA32PAT)) {
		k.add(r, HostIA32PAT, "host IA32_PAT holds an invalid memory type")
	}
	if k.exit&ExitLoadEFER != 0 {
		efer := k.r64(HostIA32EFER)
		if efer&eferReserved != 0 {
			k.add(r, HostIA32EFER, "host IA32_EFER reserved bits must be 0")
		}
		want := k.exit&ExitHostAddressSpaceSize != 0
		if (efer&eferLMA != 0) != want || (efer&eferLME != 0) != want {
			k.add(r, HostIA32EFER, "host IA32_EFER.LMA and LME must equal \"host address-space size\"")
		}
	}
	if k.exit&ExitLoadPKRS != 0 && k.r64(HostIA32PKRS)>>32 != 0 {
		k.add(r, HostIA32PKRS, "host IA32_PKRS bits 63:32 must be 0")
	}
}

// hostSegments: SDM §27.2.3.
func (k *checker) hostSegments() {
	const r = RuleHostSegs
	for _, f := range []Field{HostESSelector, HostCSSelector, HostSSSelector, HostDSSelector, HostFSSelector, HostGSSelector, HostTRSelector} {
		if k.r16(f)&7 != 0 {
			k.add(r, f, "host selector RPL and TI (bits 2:0) must be 0")
		}
	}
	if k.r16(HostCSSelector) == 0 {
		k.add(r, HostCSSelector, "host CS selector must not be 0")
	}
	if k.r16(HostTRSelector) == 0 {
		k.add(r, HostTRSelector, "host TR selector must not be 0")
	}
	if k.exit&ExitHostAddressSpaceSize == 0 && k.r16(HostSSSelector) == 0 {
		k.add(r, HostSSSelector, "host SS selector must not be 0 for a 32-bit host")
	}
	for _, f := range []Field{HostFSBase, HostGSBase, HostGDTRBase, HostIDTRBase, HostTRBase} {
		if !k.canonical(k.r64(f)) {
			k.add(r, f, "host base address must be canonical")
		}
	}
}

// addressSpaceSize: SDM §27.2.4, for a VMM running in IA-32e mode.
func (k *checker) addressSpaceSize() {
	const r = RuleAddrSpace
	if k.exit&ExitHostAddressSpaceSize == 0 {
		k.add(r, VMExitControls, "\"host address-space size\" must be 1 when VM entry is executed in IA-32e mode")
		if k.ia32e {
			k.add(r, VMEntryControls, "\"IA-32e mode guest\" requires \"host address-space size\"")
		}
		if k.r64(HostCR4)&cr4PCIDE != 0 {
			k.add(r, HostCR4, "host CR4.PCIDE must be 0 for a 32-bit host")
		}
		if k.r64(HostRIP)>>32 != 0 {
			k.add(r, HostRIP, "host RIP bits 63:32 must be 0 for a 32-bit host")
		}
		return
	}
	if k.r64(HostCR4)&cr4PAE == 0 {
		k.add(r, HostCR4, "host CR4.PAE must be 1 with \"host address-space size\"")
	}
	if !k.canonical(k.r64(HostRIP)) {
		k.add(r, HostRIP, "host RIP must be canonical")
	}
}

// guestRegisters: SDM §27.3.1.1.
func (k *checker) guestRegisters() {
	const r = RuleGuestRegs
	cr0 := k.r64(GuestCR0)
	skip := uint64(cr0NW | cr0CD) // never checked: VM entry does not change them
	if k.ug {
		skip |= cr0PE | cr0PG
	}
	k.checkFixed(r, GuestCR0, cr0, k.c.CR0Fixed0, k.c.CR0Fixed1, skip, "guest CR0")
	if cr0&cr0PG != 0 && cr0&cr0PE == 0 {
		k.add(r, GuestCR0, "guest CR0.PG requires CR0.PE")
	}
	cr4 := k.r64(GuestCR4)
	k.checkFixed(r, GuestCR4, cr4, k.c.CR4Fixed0, k.c.CR4Fixed1, 0, "guest CR4")
	if cr4&cr4CET != 0 && cr0&cr0WP == 0 {
		k.add(r, GuestCR4, "guest CR4.CET requires CR0.WP")
	}
	if k.entry&EntryLoadDebugControls != 0 {
		// Architecturally reserved IA32_DEBUGCTL bits: 5:2 and 63:16.
		if k.r64(GuestIA32Debugctl)&(0x3C|^uint64(0xFFFF)) != 0 {
			k.add(r, GuestIA32Debugctl, "guest IA32_DEBUGCTL reserved bits must be 0")
		}
	}
	if k.ia32e {
		if cr0&cr0PG == 0 {
			k.add(r, GuestCR0, "IA-32e mode guest requires CR0.PG")
		}
		if cr4&cr4PAE == 0 {
			k.add(r, GuestCR4, "IA-32e mode guest requires CR4.PAE")
		}
	} else if cr4&cr4PCIDE != 0 {
		k.add(r, GuestCR4, "CR4.PCIDE must be 0 unless the guest is in IA-32e mode")
	}
	if k.beyondPhys(k.r64(GuestCR3)) {
		k.add(r, GuestCR3, "guest CR3 sets bits beyond the physical-address width")
	}
	if k.entry&EntryLoadDebugControls != 0 && k.r64(GuestDR7)>>32 != 0 {
		k.add(r, GuestDR7, "guest DR7 bits 63:32 must be 0 with \"load debug controls\"")
	}
	if !k.canonical(k.r64(GuestIA32SysenterESP)) {
		k.add(r, GuestIA32SysenterESP, "guest IA32_SYSENTER_ESP must be canonical")
	}
	if !k.canonical(k.r64(GuestIA32SysenterEIP)) {
		k.add(r, GuestIA32SysenterEIP, "guest IA32_SYSENTER_EIP must be canonical")
	}
	if k.entry&EntryLoadPAT != 0 && !validPAT(k.r64(GuestIA32PAT)) {
		k.add(r, GuestIA32PAT, "guest IA32_PAT holds an invalid memory type")
	}
	if k.entry&EntryLoadEFER != 0 {
		efer := k.r64(GuestIA32EFER)
		if efer&eferReserved != 0 {
			k.add(r, GuestIA32EFER, "guest IA32_EFER reserved bits must be 0")
		}
		if (efer&eferLMA != 0) != k.ia32e {
			k.add(r, GuestIA32EFER, "guest IA32_EFER.LMA must equal \"IA-32e mode guest\"")
		}
		if cr0&cr0PG != 0 && (efer&eferLME != 0) != (efer&eferLMA != 0) {
			k.add(r, GuestIA32EFER, "guest IA32_EFER.LME must equal LMA when CR0.PG is 1")
		}
	}
	if k.entry&EntryLoadBNDCFGS != 0 {
		b := k.r64(GuestIA32BNDCFGS)
		if b&0xFFC != 0 || !k.canonical(b&^0xFFF) {
			k.add(r, GuestIA32BNDCFGS, "guest IA32_BNDCFGS bits 11:2 must be 0 and bits 63:12 canonical")
		}
	}
	if k.entry&EntryLoadCET != 0 {
		if !k.canonical(k.r64(GuestIA32SCET)) {
			k.add(r, GuestIA32SCET, "guest IA32_S_CET must be canonical")
		}
		if !k.canonical(k.r64(GuestIA32InterruptSSPTableAddr)) {
			k.add(r, GuestIA32InterruptSSPTableAddr, "guest IA32_INTERRUPT_SSP_TABLE_ADDR must be canonical")
		}
	}
	if k.entry&EntryLoadPKRS != 0 && k.r64(GuestIA32PKRS)>>32 != 0 {
		k.add(r, GuestIA32PKRS, "guest IA32_PKRS bits 63:32 must be 0")
	}
}

// segment names the four fields of one guest segment register.
type segment struct {
	name                 string
	sel, base, limit, ar Field
}

var (
	segES   = segment{"ES", GuestESSelector, GuestESBase, GuestESLimit, GuestESAccessRights}
	segCS   = segment{"CS", GuestCSSelector, GuestCSBase, GuestCSLimit, GuestCSAccessRights}
	segSS   = segment{"SS", GuestSSSelector, GuestSSBase, GuestSSLimit, GuestSSAccessRights}
	segDS   = segment{"DS", GuestDSSelector, GuestDSBase, GuestDSLimit, GuestDSAccessRights}
	segFS   = segment{"FS", GuestFSSelector, GuestFSBase, GuestFSLimit, GuestFSAccessRights}
	segGS   = segment{"GS", GuestGSSelector, GuestGSBase, GuestGSLimit, GuestGSAccessRights}
	segTR   = segment{"TR", GuestTRSelector, GuestTRBase, GuestTRLimit, GuestTRAccessRights}
	segLDTR = segment{"LDTR", GuestLDTRSelector, GuestLDTRBase, GuestLDTRLimit, GuestLDTRAccessRights}
)

// granularity checks the G bit against the limit: a limit with any of bits
// 11:0 clear needs G=0, one with any of bits 31:20 set needs G=1.
func (k *checker) granularity(s segment, ar, limit uint32) {
	g := ar&(1<<15) != 0
	if limit&0xFFF != 0xFFF && g {
		k.add(RuleGuestSegs, s.ar, s.name+".G must be 0 when limit bits 11:0 are not all 1")
	}
	if limit>>20 != 0 && !g {
		k.add(RuleGuestSegs, s.ar, s.name+".G must be 1 when limit bits 31:20 are not all 0")
	}
}

// guestSegments: SDM §27.3.1.2.
func (k *checker) guestSegments() {
	const r = RuleGuestSegs
	v8086 := k.r64(GuestRFLAGS)&rflagsVM != 0
	usable := func(s segment) bool { return k.r32(s.ar)&arUnusable == 0 }
	csAR, ssAR := k.r32(segCS.ar), k.r32(segSS.ar)

	// Selector fields.
	if k.r16(segTR.sel)&4 != 0 {
		k.add(r, segTR.sel, "TR selector TI flag must be 0")
	}
	if usable(segLDTR) && k.r16(segLDTR.sel)&4 != 0 {
		k.add(r, segLDTR.sel, "LDTR selector TI flag must be 0 when LDTR is usable")
	}
	if !v8086 && !k.ug && k.r16(segSS.sel)&3 != k.r16(segCS.sel)&3 {
		k.add(r, segSS.sel, "SS.RPL must equal CS.RPL")
	}

	// Base-address fields.
	data := []segment{segES, segCS, segSS, segDS, segFS, segGS}
	if v8086 {
		for _, s := range data {
			if k.r64(s.base) != uint64(k.r16(s.sel))<<4 {
				k.add(r, s.base, s.name+" base must be the selector times 16 in virtual-8086 mode")
			}
		}
	}
	for _, s := range []segment{segTR, segFS, segGS} {
		if !k.canonical(k.r64(s.base)) {
			k.add(r, s.base, s.name+" base must be canonical")
		}
	}
	if usable(segLDTR) && !k.canonical(k.r64(segLDTR.base)) {
		k.add(r, segLDTR.base, "LDTR base must be canonical when LDTR is usable")
	}
	if k.r64(segCS.base)>>32 != 0 {
		k.add(r, segCS.base, "CS base bits 63:32 must be 0")
	}
	for _, s := range []segment{segSS, segDS, segES} {
		if usable(s) && k.r64(s.base)>>32 != 0 {
			k.add(r, s.base, s.name+" base bits 63:32 must be 0 when usable")
		}
	}

	// Limit and access-rights fields of CS, SS, DS, ES, FS, GS.
	if v8086 {
		for _, s := range data {
			if k.r32(s.limit) != 0xFFFF {
				k.add(r, s.limit, s.name+" limit must be 0xFFFF in virtual-8086 mode")
			}
			if k.r32(s.ar) != 0xF3 {
				k.add(r, s.ar, s.name+" access rights must be 0xF3 in virtual-8086 mode")
			}
		}
	} else {
		k.codeAndDataSegments(csAR, ssAR)
	}

	// TR.
	trAR := k.r32(segTR.ar)
	switch typ := trAR & 0xF; {
	case k.ia32e && typ != 11:
		k.add(r, segTR.ar, "TR type must be 11 (busy 64-bit TSS) in IA-32e mode")
	case !k.ia32e && typ != 3 && typ != 11:
		k.add(r, segTR.ar, "TR type must be 3 or 11 (busy TSS)")
	}
	if trAR&(1<<4) != 0 {
		k.add(r, segTR.ar, "TR.S must be 0")
	}
	if trAR&(1<<7) == 0 {
		k.add(r, segTR.ar, "TR.P must be 1")
	}
	if trAR&0xF00 != 0 {
		k.add(r, segTR.ar, "TR access-rights bits 11:8 must be 0")
	}
	k.granularity(segTR, trAR, k.r32(segTR.limit))
	if trAR&arUnusable != 0 {
		k.add(r, segTR.ar, "TR must be usable")
	}
	if trAR>>17 != 0 {
		k.add(r, segTR.ar, "TR access-rights bits 31:17 must be 0")
	}

	// LDTR, if usable.
	if ldtrAR := k.r32(segLDTR.ar); ldtrAR&arUnusable == 0 {
		if ldtrAR&0xF != 2 {
			k.add(r, segLDTR.ar, "LDTR type must be 2 (LDT)")
		}
		if ldtrAR&(1<<4) != 0 {
			k.add(r, segLDTR.ar, "LDTR.S must be 0")
		}
		if ldtrAR&(1<<7) == 0 {
			k.add(r, segLDTR.ar, "LDTR.P must be 1")
		}
		if ldtrAR&0xF00 != 0 {
			k.add(r, segLDTR.ar, "LDTR access-rights bits 11:8 must be 0")
		}
		k.granularity(segLDTR, ldtrAR, k.r32(segLDTR.limit))
		if ldtrAR>>17 != 0 {
			k.add(r, segLDTR.ar, "LDTR access-rights bits 31:17 must be 0")
		}
	}
}

// codeAndDataSegments checks the access rights of CS, SS, DS, ES, FS and GS
// outside virtual-8086 mode (SDM §27.3.1.2).
func (k *checker) codeAndDataSegments(csAR, ssAR uint32) {
	const r = RuleGuestSegs
	dpl := func(ar uint32) uint32 { return (ar >> 5) & 3 }
	csType := csAR & 0xF

	// Type.
	switch csType {
	case 9, 11, 13, 15:
	case 3:
		if !k.ug {
			k.add(r, segCS.ar, "CS type 3 (data) is allowed only with \"unrestricted guest\"")
		}
	default:
		k.add(r, segCS.ar, "CS type "+dec(uint64(csType))+" is not an accessed code segment")
	}
	if ssAR&arUnusable == 0 {
		if t := ssAR & 0xF; t != 3 && t != 7 {
			k.add(r, segSS.ar, "SS type must be 3 or 7 (read/write accessed data)")
		}
	}
	for _, s := range []segment{segDS, segES, segFS, segGS} {
		ar := k.r32(s.ar)
		if ar&arUnusable != 0 {
			continue
		}
		if ar&1 == 0 {
			k.add(r, s.ar, s.name+" type must be accessed (bit 0)")
		}
		if ar&8 != 0 && ar&2 == 0 {
			k.add(r, s.ar, s.name+" code segment must be readable")
		}
	}

	// S, P, reserved bits, granularity for CS and the usable others.
	for _, s := range []segment{segCS, segSS, segDS, segES, segFS, segGS} {
		ar := k.r32(s.ar)
		if s != segCS && ar&arUnusable != 0 {
			continue
		}
		if ar&(1<<4) == 0 {
			k.add(r, s.ar, s.name+".S must be 1")
		}
		if ar&(1<<7) == 0 {
			k.add(r, s.ar, s.name+".P must be 1")
		}
		if ar&0xF00 != 0 {
			k.add(r, s.ar, s.name+" access-rights bits 11:8 must be 0")
		}
		k.granularity(s, ar, k.r32(s.limit))
		if ar>>17 != 0 {
			k.add(r, s.ar, s.name+" access-rights bits 31:17 must be 0")
		}
	}

	// DPL.
	switch csType {
	case 3:
		if dpl(csAR) != 0 {
			k.add(r, segCS.ar, "CS.DPL must be 0 when CS type is 3")
		}
	case 9, 11:
		if dpl(csAR) != dpl(ssAR) {
			k.add(r, segCS.ar, "CS.DPL must equal SS.DPL for a non-conforming code segment")
		}
	case 13, 15:
		if dpl(csAR) > dpl(ssAR) {
			k.add(r, segCS.ar, "CS.DPL must not exceed SS.DPL for a conforming code segment")
		}
	}
	if !k.ug && dpl(ssAR) != uint32(k.r16(segSS.sel)&3) {
		k.add(r, segSS.ar, "SS.DPL must equal SS.RPL")
	}
	if (csType == 3 || k.r64(GuestCR0)&cr0PE == 0) && dpl(ssAR) != 0 {
		k.add(r, segSS.ar, "SS.DPL must be 0 when CS type is 3 or CR0.PE is 0")
	}
	if !k.ug {
		for _, s := range []segment{segDS, segES, segFS, segGS} {
			ar := k.r32(s.ar)
			if ar&arUnusable == 0 && ar&0xF <= 11 && dpl(ar) < uint32(k.r16(s.sel)&3) {
				k.add(r, s.ar, s.name+".DPL must not be less than its RPL")
			}
		}
	}

	// CS.L and CS.D/B.
	if k.ia32e && csAR&(1<<13) != 0 && csAR&(1<<14) != 0 {
		k.add(r, segCS.ar, "CS.D must be 0 when CS.L is 1 in IA-32e mode")
	}
}

// guestDescriptorTables: SDM §27.3.1.3.
func (k *checker) guestDescriptorTables() {
	const r = RuleGuestDT
	for _, f := range []Field{GuestGDTRBase, GuestIDTRBase} {
		if !k.canonical(k.r64(f)) {
			k.add(r, f, "base must be canonical")
		}
	}
	for _, f := range []Field{GuestGDTRLimit, GuestIDTRLimit} {
		if k.r32(f)>>16 != 0 {
			k.add(r, f, "limit bits 31:16 must be 0")
		}
	}
}

// guestRIPAndRFLAGS: SDM §27.3.1.4.
func (k *checker) guestRIPAndRFLAGS() {
	const r = RuleGuestRIP
	rip := k.r64(GuestRIP)
	long := k.ia32e && k.r32(GuestCSAccessRights)&(1<<13) != 0
	if !long && rip>>32 != 0 {
		k.add(r, GuestRIP, "RIP bits 63:32 must be 0 outside 64-bit mode")
	}
	if long && !k.canonical(rip) {
		k.add(r, GuestRIP, "RIP must be canonical in 64-bit mode")
	}
	fl := k.r64(GuestRFLAGS)
	if fl&(^uint64(0x3FFFFF)|1<<15|1<<5|1<<3) != 0 {
		k.add(r, GuestRFLAGS, "RFLAGS reserved bits 63:22, 15, 5 and 3 must be 0")
	}
	if fl&2 == 0 {
		k.add(r, GuestRFLAGS, "RFLAGS bit 1 must be 1")
	}
	if fl&rflagsVM != 0 && (k.ia32e || k.r64(GuestCR0)&cr0PE == 0) {
		k.add(r, GuestRFLAGS, "RFLAGS.VM must be 0 in IA-32e mode or with CR0.PE 0")
	}
	if k.event.Valid() && k.event.Type() == EventExternalInterrupt && fl&rflagsIF == 0 {
		k.add(r, GuestRFLAGS, "RFLAGS.IF must be 1 when injecting an external interrupt")
	}
}

// guestNonRegister: SDM §27.3.1.5.
func (k *checker) guestNonRegister() {
	const r = RuleGuestNonReg
	act := ActivityState(k.r32(GuestActivityState))
	intr := k.r32(GuestInterruptibility)
	e := k.event

	// Activity state.
	if !k.c.ActivityStatesSupported(act) {
		k.add(r, GuestActivityState, "activity state "+act.String()+" is not supported")
	}
	if act == ActivityHLT && (k.r32(GuestSSAccessRights)>>5)&3 != 0 {
		k.add(r, GuestActivityState, "HLT state requires SS.DPL 0")
	}
	if intr&(InterruptibilitySTI|InterruptibilityMOVSS) != 0 && act != ActivityActive {
		k.add(r, GuestActivityState, "blocking by STI or MOV SS requires the active state")
	}
	if e.Valid() {
		t, vec := e.Type(), e.Vector()
		allowed := true
		switch act {
		case ActivityHLT:
			allowed = t == EventExternalInterrupt || t == EventNMI ||
				(t == EventHardwareException && (vec == VectorDB || vec == VectorMC)) ||
				(t == EventOther && vec == 0)
		case ActivityShutdown:
			allowed = t == EventNMI || (t == EventHardwareException && vec == VectorMC)
		case ActivityWaitForSIPI:
			allowed = false
		}
		if !allowed {
			k.add(r, GuestActivityState, "the injected "+e.String()+" is blocked in the "+act.String()+" state")
		}
	}

	// Interruptibility state.
	if intr>>5 != 0 {
		k.add(r, GuestInterruptibility, "interruptibility reserved bits 31:5 must be 0")
	}
	if intr&InterruptibilitySTI != 0 && intr&InterruptibilityMOVSS != 0 {
		k.add(r, GuestInterruptibility, "blocking by STI and by MOV SS cannot both be set")
	}
	if intr&InterruptibilitySTI != 0 && k.r64(GuestRFLAGS)&rflagsIF == 0 {
		k.add(r, GuestInterruptibility, "blocking by STI requires RFLAGS.IF 1")
	}
	if e.Valid() && e.Type() == EventExternalInterrupt && intr&(InterruptibilitySTI|InterruptibilityMOVSS) != 0 {
		k.add(r, GuestInterruptibility, "blocking by STI and MOV SS must be 0 when injecting an external interrupt")
	}
	if e.Valid() && e.Type() == EventNMI && intr&InterruptibilityMOVSS != 0 {
		k.add(r, GuestInterruptibility, "blocking by MOV SS must be 0 when injecting an NMI")
	}
	if intr&InterruptibilitySMI != 0 {
		k.add(r, GuestInterruptibility, "blocking by SMI must be 0 outside SMM")
	}
	if k.pin&PinVirtualNMIs != 0 && e.Valid() && e.Type() == EventNMI && intr&InterruptibilityNMI != 0 {
		k.add(r, GuestInterruptibility, "blocking by NMI must be 0 when injecting an NMI with \"virtual NMIs\"")
	}
	if intr&InterruptibilityEnclave != 0 && intr&InterruptibilityMOVSS != 0 {
		k.add(r, GuestInterruptibility, "enclave interruption must be 0 with blocking by MOV SS")
	}

	// Pending debug exceptions.
	pd := k.r64(GuestPendingDebugExceptions)
	if pd&(0xFF0|1<<13|1<<15|^uint64(0x1FFFF)) != 0 {
		k.add(r, GuestPendingDebugExceptions, "pending-debug-exceptions bits 11:4, 13, 15 and 63:17 must be 0")
	}
	if intr&(InterruptibilitySTI|InterruptibilityMOVSS) != 0 || act == ActivityHLT {
		tf := k.r64(GuestRFLAGS)&rflagsTF != 0
		btf := k.r64(GuestIA32Debugctl)&2 != 0
		bs := pd&(1<<14) != 0
		if tf && !btf && !bs {
			k.add(r, GuestPendingDebugExceptions, "BS must be 1 when RFLAGS.TF is 1 and IA32_DEBUGCTL.BTF is 0 with STI/MOV SS blocking or in HLT")
		}
		if (!tf || btf) && bs {
			k.add(r, GuestPendingDebugExceptions, "BS must be 0 when RFLAGS.TF is 0 or IA32_DEBUGCTL.BTF is 1 with STI/MOV SS blocking or in HLT")
		}
	}
	if pd&(1<<16) != 0 {
		if pd&0xFFF&^(1<<12) != 0 || pd&(1<<12) == 0 || pd&(1<<14|1<<15|1<<13) != 0 {
			k.add(r, GuestPendingDebugExceptions, "with RTM (bit 16) set, bit 12 must be 1 and bits 11:0 (other), 15:13 must be 0")
		}
		if intr&InterruptibilityMOVSS != 0 {
			k.add(r, GuestPendingDebugExceptions, "RTM pending debug exception is not allowed with blocking by MOV SS")
		}
	}

	// VMCS link pointer.
	if lp := k.r64(VMCSLinkPointer); lp != ^uint64(0) {
		if lp&0xFFF != 0 {
			k.add(r, VMCSLinkPointer, "VMCS link pointer bits 11:0 must be 0")
		}
		if k.beyondPhys(lp) {
			k.add(r, VMCSLinkPointer, "VMCS link pointer is beyond the physical-address width")
		}
		if k.proc2&Proc2VMCSShadowing == 0 {
			// Stricter than the SDM, which would go on to read the
			// referenced VMCS's revision identifier (unverifiable here).
			// Without VMCS shadowing a link pointer other than all ones is
			// a mistake in practice (typically a forgotten field left 0).
			k.add(r, VMCSLinkPointer, "VMCS link pointer should be 0xFFFFFFFFFFFFFFFF without VMCS shadowing (a real VMCS with the right revision must otherwise sit at 0x"+hex64(lp)+")")
		}
	}
}

// guestPDPTEs: SDM §27.3.1.6, when the guest uses PAE paging outside IA-32e
// mode and EPT is on (without EPT the PDPTEs are loaded from CR3 and checked
// as in a MOV to CR3).
func (k *checker) guestPDPTEs() {
	cr0, cr4 := k.r64(GuestCR0), k.r64(GuestCR4)
	if cr0&cr0PG == 0 || cr4&cr4PAE == 0 || k.ia32e || k.proc2&Proc2EnableEPT == 0 {
		return
	}
	reserved := uint64(0x1E6) | ^uint64(0)<<k.c.physWidth() // bits 2:1, 8:5, 63:MAXPHYADDR
	for _, f := range []Field{GuestPDPTE0, GuestPDPTE1, GuestPDPTE2, GuestPDPTE3} {
		if p := k.r64(f); p&1 != 0 && p&reserved != 0 {
			k.add(RuleGuestPDPTE, f, "present PDPTE sets reserved bits (2:1, 8:5 or beyond the physical-address width)")
		}
	}
}
