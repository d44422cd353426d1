package vmx

import (
	"math/rand"
	"strings"
	"testing"
)

// Access-rights values used by the test states.
const (
	arCode64       = 0xA09B  // type 11, S, P, L, G
	arCode32       = 0xC09B  // type 11, S, P, D, G
	arData32       = 0xC093  // type 3, S, P, D/B, G
	arCode16       = 0x9B    // type 11, S, P (real mode)
	arData16       = 0x93    // type 3, S, P (real mode)
	arTSSBusy      = 0x8B    // type 11 (busy 32/64-bit TSS), P
	arUnusableTest = 0x10000 // unusable (bit 16)
)

// hostAndControls is a valid 64-bit host state with controls accepted by
// bochsCaps, shared by every test state. unrestricted selects the
// "unrestricted guest" control; ia32e the "IA-32e mode guest" entry control.
func hostAndControls(unrestricted, ia32e bool) Fields {
	c := bochsCaps()
	pin, _ := Adjust(PinExternalInterruptExiting|PinNMIExiting|PinVirtualNMIs, 0, c.PinCtls)
	proc, _ := Adjust(ProcHLTExiting|ProcUseIOBitmaps|ProcUseMSRBitmaps|ProcActivateSecondary, 0, c.ProcCtls)
	want2 := uint32(Proc2EnableEPT | Proc2EnableVPID)
	if unrestricted {
		want2 |= Proc2UnrestrictedGuest
	}
	proc2, _ := Adjust(want2, 0, c.ProcCtls2)
	exit, _ := Adjust(ExitHostAddressSpaceSize|ExitAcknowledgeInterrupt|ExitSavePAT|ExitLoadPAT|ExitSaveEFER|ExitLoadEFER, 0, c.ExitCtls)
	wantEntry := uint32(EntryLoadPAT | EntryLoadEFER)
	if ia32e {
		wantEntry |= EntryIA32eModeGuest
	}
	entry, _ := Adjust(wantEntry, 0, c.EntryCtls)
	return Fields{
		PinBasedControls:           uint64(pin),
		ProcBasedControls:          uint64(proc),
		SecondaryProcBasedControls: uint64(proc2),
		VMExitControls:             uint64(exit),
		VMEntryControls:            uint64(entry),
		IOBitmapA:                  0x10000,
		IOBitmapB:                  0x11000,
		MSRBitmap:                  0x12000,
		EPTPointer:                 NewEPTP(0x20000, MemTypeWB, false),
		VirtualProcessorID:         1,
		VMCSLinkPointer:            ^uint64(0),

		HostCR0:        0x80050033, // PG WP NE ET MP PE
		HostCR3:        0x1000,
		HostCR4:        0x26A0, // VMXE OSXMMEXCPT OSFXSR PGE PAE
		HostCSSelector: 0x08,
		HostSSSelector: 0x10,
		HostTRSelector: 0x18,
		HostTRBase:     0xFFFFFFFF80005000,
		HostGDTRBase:   0xFFFFFFFF80006000,
		HostIDTRBase:   0xFFFFFFFF80007000,
		HostFSBase:     0,
		HostGSBase:     0xFFFFFFFF80008000,
		HostRSP:        0xFFFFFFFF80009000,
		HostRIP:        0xFFFFFFFF80001000,
		HostIA32PAT:    0x0007040600070406,
		HostIA32EFER:   0xD01, // NXE LMA LME SCE
	}
}

// longModeState is a valid 64-bit guest: the host's own flat segments.
func longModeState() Fields {
	m := hostAndControls(false, true)
	for f, v := range map[Field]uint64{
		GuestCR0: 0x80050033, GuestCR3: 0x2000, GuestCR4: 0x26A0,
		GuestIA32EFER: 0xD01, GuestIA32PAT: 0x0007040600070406, GuestDR7: 0x400,
		GuestRFLAGS: 0x2, GuestRIP: 0xFFFFFFFF80100000, GuestRSP: 0xFFFFFFFF80200000,
		GuestCSSelector: 0x08, GuestCSAccessRights: arCode64, GuestCSLimit: 0xFFFFFFFF,
		GuestSSSelector: 0x10, GuestSSAccessRights: arData32, GuestSSLimit: 0xFFFFFFFF,
		GuestDSAccessRights: arUnusableTest, GuestESAccessRights: arUnusableTest,
		GuestFSAccessRights: arUnusableTest, GuestGSAccessRights: arUnusableTest,
		GuestGSBase:     0xFFFFFFFF8000A000,
		GuestTRSelector: 0x18, GuestTRAccessRights: arTSSBusy, GuestTRLimit: 0x67, GuestTRBase: 0xFFFFFFFF80005000,
		GuestLDTRAccessRights: arUnusableTest,
		GuestGDTRBase:         0xFFFFFFFF80006000, GuestGDTRLimit: 0x27,
		GuestIDTRBase: 0xFFFFFFFF80007000, GuestIDTRLimit: 0xFFF,
	} {
		m[f] = v
	}
	return m
}

// protectedModeState is the multiboot entry state under "unrestricted
// guest": CR0 = PE|ET|NE, paging off, flat 32-bit segments, busy 32-bit TSS,
// LDTR unusable.
func protectedModeState() Fields {
	m := hostAndControls(true, false)
	for f, v := range map[Field]uint64{
		GuestCR0: 0x31, GuestCR4: 0x2000, GuestIA32PAT: 0x0007040600070406, GuestDR7: 0x400,
		GuestRFLAGS: 0x2, GuestRIP: 0x100000,
		GuestCSSelector: 0x08, GuestCSAccessRights: arCode32, GuestCSLimit: 0xFFFFFFFF,
		GuestSSSelector: 0x10, GuestSSAccessRights: arData32, GuestSSLimit: 0xFFFFFFFF,
		GuestDSSelector: 0x10, GuestDSAccessRights: arData32, GuestDSLimit: 0xFFFFFFFF,
		GuestESSelector: 0x10, GuestESAccessRights: arData32, GuestESLimit: 0xFFFFFFFF,
		GuestFSAccessRights: arUnusableTest, GuestGSAccessRights: arUnusableTest,
		GuestTRSelector: 0x18, GuestTRAccessRights: arTSSBusy, GuestTRLimit: 0x67,
		GuestLDTRAccessRights: arUnusableTest,
		GuestGDTRBase:         0x1000, GuestGDTRLimit: 0x1F,
		GuestIDTRLimit: 0,
	} {
		m[f] = v
	}
	return m
}

// realModeState is a reset-like real-mode state under "unrestricted guest".
func realModeState() Fields {
	m := hostAndControls(true, false)
	for f, v := range map[Field]uint64{
		GuestCR0: 0x30, GuestCR4: 0x2000, GuestIA32PAT: 0x0007040600070406, GuestDR7: 0x400,
		GuestRFLAGS: 0x2, GuestRIP: 0xFFF0,
		GuestCSSelector: 0xF000, GuestCSBase: 0xF0000, GuestCSAccessRights: arCode16, GuestCSLimit: 0xFFFF,
		GuestSSAccessRights: arData16, GuestSSLimit: 0xFFFF,
		GuestDSAccessRights: arData16, GuestDSLimit: 0xFFFF,
		GuestESAccessRights: arData16, GuestESLimit: 0xFFFF,
		GuestFSAccessRights: arData16, GuestFSLimit: 0xFFFF,
		GuestGSAccessRights: arData16, GuestGSLimit: 0xFFFF,
		GuestTRAccessRights: arTSSBusy, GuestTRLimit: 0xFFFF,
		GuestLDTRAccessRights: arUnusableTest,
		GuestGDTRLimit:        0xFFFF, GuestIDTRLimit: 0x3FF,
	} {
		m[f] = v
	}
	return m
}

func TestCheckValidStates(t *testing.T) {
	caps := bochsCaps()
	for name, st := range map[string]Fields{
		"long mode":                   longModeState(),
		"32-bit protected, no paging": protectedModeState(),
		"real mode":                   realModeState(),
	} {
		if vs := Check(st, caps); len(vs) != 0 {
			for _, v := range vs {
				t.Errorf("%s: unexpected %v", name, v)
			}
		}
	}
}

func TestCheckBreakages(t *testing.T) {
	type mutate func(m Fields)
	set := func(f Field, v uint64) mutate { return func(m Fields) { m[f] = v } }
	or := func(f Field, v uint64) mutate { return func(m Fields) { m[f] |= v } }
	clr := func(f Field, v uint64) mutate { return func(m Fields) { m[f] &^= v } }
	both := func(a, b mutate) mutate { return func(m Fields) { a(m); b(m) } }

	long, pm, real := longModeState, protectedModeState, realModeState
	cases := []struct {
		name   string
		base   func() Fields
		break_ mutate
		rule   string
		field  Field
	}{
		// §27.2.1.1 VM-execution controls.
		{"pin: posted interrupts unsupported", long, or(PinBasedControls, PinPostedInterrupts), "27.2.1.1", PinBasedControls},
		{"proc: must-be-one bit 1 clear", long, clr(ProcBasedControls, 1<<1), "27.2.1.1", ProcBasedControls},
		{"proc2: MBEC unsupported", long, or(SecondaryProcBasedControls, Proc2ModeBasedEPTExecute), "27.2.1.1", SecondaryProcBasedControls},
		{"tertiary controls unsupported", long, or(ProcBasedControls, ProcActivateTertiary), "27.2.1.1", ProcBasedControls},
		{"CR3-target count 5", long, set(CR3TargetCount, 5), "27.2.1.1", CR3TargetCount},
		{"I/O bitmap A misaligned", long, set(IOBitmapA, 0x10010), "27.2.1.1", IOBitmapA},
		{"MSR bitmap beyond MAXPHYADDR", long, set(MSRBitmap, 1<<45), "27.2.1.1", MSRBitmap},
		{"virtual NMIs without NMI exiting", long, clr(PinBasedControls, PinNMIExiting), "27.2.1.1", PinBasedControls},
		{"NMI-window exiting without virtual NMIs", long, both(clr(PinBasedControls, PinVirtualNMIs), or(ProcBasedControls, ProcNMIWindowExiting)), "27.2.1.1", ProcBasedControls},
		{"virtual-interrupt delivery without TPR shadow", long, or(SecondaryProcBasedControls, Proc2VirtualInterruptDelivery), "27.2.1.1", SecondaryProcBasedControls},
		{"virtual-interrupt delivery without external-interrupt exiting", long, both(clr(PinBasedControls, PinExternalInterruptExiting), or(SecondaryProcBasedControls, Proc2VirtualInterruptDelivery)), "27.2.1.1", PinBasedControls},
		{"TPR shadow with misaligned virtual-APIC page", long, both(or(ProcBasedControls, ProcUseTPRShadow), set(VirtualAPICAddress, 0x30004)), "27.2.1.1", VirtualAPICAddress},
		{"VPID 0 with VPID enabled", long, set(VirtualProcessorID, 0), "27.2.1.1", VirtualProcessorID},
		{"EPTP walk length 2", long, set(EPTPointer, 0x20000|MemTypeWB|1<<3), "27.2.1.1", EPTPointer},
		{"EPTP memory type WC", long, set(EPTPointer, NewEPTP(0x20000, MemTypeWC, false)), "27.2.1.1", EPTPointer},
		{"EPTP reserved bit 8", long, or(EPTPointer, 1<<8), "27.2.1.1", EPTPointer},
		{"unrestricted guest without EPT", pm, clr(SecondaryProcBasedControls, Proc2EnableEPT), "27.2.1.1", SecondaryProcBasedControls},
		{"PML without EPT", long, both(clr(SecondaryProcBasedControls, Proc2EnableEPT), or(SecondaryProcBasedControls, Proc2EnablePML)), "27.2.1.1", SecondaryProcBasedControls},
		// §27.2.1.2 VM-exit controls.
		{"save preemption timer without the timer", long, or(VMExitControls, ExitSavePreemptionTimer), "27.2.1.2", VMExitControls},
		{"exit MSR-store area misaligned", long, both(set(VMExitMSRStoreCount, 1), set(VMExitMSRStoreAddr, 0x13008)), "27.2.1.2", VMExitMSRStoreAddr},
		{"exit control beyond allowed-1", long, or(VMExitControls, ExitLoadPKRS), "27.2.1.2", VMExitControls},
		// §27.2.1.3 VM-entry controls.
		{"injected event with reserved bit", long, set(VMEntryInterruptionInfo, uint64(NewEvent(EventExternalInterrupt, 0x20, false)|1<<20)), "27.2.1.3", VMEntryInterruptionInfo},
		{"injected NMI with vector 3", long, set(VMEntryInterruptionInfo, uint64(NewEvent(EventNMI, 3, false))), "27.2.1.3", VMEntryInterruptionInfo},
		{"hardware exception vector 32", long, set(VMEntryInterruptionInfo, uint64(NewEvent(EventHardwareException, 32, false))), "27.2.1.3", VMEntryInterruptionInfo},
		{"reserved interruption type 1", long, set(VMEntryInterruptionInfo, 0x80000120), "27.2.1.3", VMEntryInterruptionInfo},
		{"error code with an external interrupt", long, set(VMEntryInterruptionInfo, uint64(NewEvent(EventExternalInterrupt, 0x20, true))), "27.2.1.3", VMEntryInterruptionInfo},
		{"error code in real mode", real, set(VMEntryInterruptionInfo, uint64(NewEvent(EventHardwareException, VectorGP, true))), "27.2.1.3", VMEntryInterruptionInfo},
		{"error code bits 31:16", long, both(set(VMEntryInterruptionInfo, uint64(NewEvent(EventHardwareException, VectorGP, true))), set(VMEntryExceptionErrorCode, 0x10000)), "27.2.1.3", VMEntryExceptionErrorCode},
		{"software interrupt with length 0", long, set(VMEntryInterruptionInfo, uint64(NewEvent(EventSoftwareInterrupt, 0x80, false))), "27.2.1.3", VMEntryInstructionLength},
		{"software exception with length 16", long, both(set(VMEntryInterruptionInfo, uint64(NewEvent(EventSoftwareException, VectorBP, false))), set(VMEntryInstructionLength, 16)), "27.2.1.3", VMEntryInstructionLength},
		{"entry to SMM", long, or(VMEntryControls, EntryToSMM), "27.2.1.3", VMEntryControls},
		// §27.2.2 host registers.
		{"host CR4 without VMXE", long, clr(HostCR4, 0x2000), "27.2.2", HostCR4},
		{"host CR0 without PG", long, clr(HostCR0, 1<<31), "27.2.2", HostCR0},
		{"host CR3 beyond MAXPHYADDR", long, set(HostCR3, 1<<41), "27.2.2", HostCR3},
		{"host PAT type 2", long, set(HostIA32PAT, 0x0007040600070402), "27.2.2", HostIA32PAT},
		{"host EFER.LMA clear", long, clr(HostIA32EFER, 1<<10), "27.2.2", HostIA32EFER},
		{"host SYSENTER_EIP non-canonical", long, set(HostIA32SysenterEIP, 0x0000800000000000), "27.2.2", HostIA32SysenterEIP},
		// §27.2.3 host segments.
		{"host CS selector 0", long, set(HostCSSelector, 0), "27.2.3", HostCSSelector},
		{"host TR selector 0", long, set(HostTRSelector, 0), "27.2.3", HostTRSelector},
		{"host TR selector with RPL", long, set(HostTRSelector, 0x1B), "27.2.3", HostTRSelector},
		{"host FS base non-canonical", long, set(HostFSBase, 0x0001000000000000), "27.2.3", HostFSBase},
		// §27.2.4 address-space size.
		{"32-bit host exit control", long, clr(VMExitControls, ExitHostAddressSpaceSize), "27.2.4", VMExitControls},
		{"host RIP non-canonical", long, set(HostRIP, 0x8000000000000000), "27.2.4", HostRIP},
		{"host CR4.PAE clear", long, clr(HostCR4, 1<<5), "27.2.4", HostCR4},
		// §27.3.1.1 guest registers.
		{"guest CR0 PG without PE", pm, set(GuestCR0, 0x80000030), "27.3.1.1", GuestCR0},
		{"guest CR0 PE clear without unrestricted guest", long, clr(GuestCR0, 1), "27.3.1.1", GuestCR0},
		{"guest CR0 NE clear", pm, clr(GuestCR0, 1<<5), "27.3.1.1", GuestCR0},
		{"IA-32e guest without CR4.PAE", long, clr(GuestCR4, 1<<5), "27.3.1.1", GuestCR4},
		{"CR4.PCIDE outside IA-32e", pm, or(GuestCR4, 1<<17), "27.3.1.1", GuestCR4},
		{"guest EFER.LMA with 32-bit guest", pm, set(GuestIA32EFER, 0x500), "27.3.1.1", GuestIA32EFER},
		{"guest EFER.LME clear with paging in IA-32e", long, clr(GuestIA32EFER, 1<<8), "27.3.1.1", GuestIA32EFER},
		{"guest DR7 high bits with load debug controls", long, both(or(VMEntryControls, EntryLoadDebugControls), set(GuestDR7, 1<<32|0x400)), "27.3.1.1", GuestDR7},
		{"guest PAT type 3", long, set(GuestIA32PAT, 3), "27.3.1.1", GuestIA32PAT},
		// §27.3.1.2 guest segments.
		{"CS.L and CS.D in IA-32e mode", long, or(GuestCSAccessRights, 1<<14), "27.3.1.2", GuestCSAccessRights},
		{"TR unusable", long, or(GuestTRAccessRights, arUnusableTest), "27.3.1.2", GuestTRAccessRights},
		{"TR type 3 in IA-32e mode", long, set(GuestTRAccessRights, 0x83), "27.3.1.2", GuestTRAccessRights},
		{"TR selector TI", long, set(GuestTRSelector, 0x1C), "27.3.1.2", GuestTRSelector},
		{"SS.RPL differs from CS.RPL", long, set(GuestSSSelector, 0x13), "27.3.1.2", GuestSSSelector},
		{"CS data type without unrestricted guest", long, set(GuestCSAccessRights, 0xA093), "27.3.1.2", GuestCSAccessRights},
		{"CS not present", pm, clr(GuestCSAccessRights, 1<<7), "27.3.1.2", GuestCSAccessRights},
		{"DS not accessed", pm, clr(GuestDSAccessRights, 1), "27.3.1.2", GuestDSAccessRights},
		{"SS code type", pm, set(GuestSSAccessRights, 0xC09B), "27.3.1.2", GuestSSAccessRights},
		{"ES limit with G clear", pm, clr(GuestESAccessRights, 1<<15), "27.3.1.2", GuestESAccessRights},
		{"LDTR usable with type 3", long, set(GuestLDTRAccessRights, 0x83), "27.3.1.2", GuestLDTRAccessRights},
		{"SS.DPL 3 in real mode", real, set(GuestSSAccessRights, 0xF3), "27.3.1.2", GuestSSAccessRights},
		{"virtual-8086 with wrong CS base", pm, both(or(GuestRFLAGS, 1<<17), set(GuestCSSelector, 0x1000)), "27.3.1.2", GuestCSBase},
		{"CS base high bits", pm, set(GuestCSBase, 1<<32), "27.3.1.2", GuestCSBase},
		// §27.3.1.3 descriptor tables.
		{"GDTR limit 0x10000", long, set(GuestGDTRLimit, 0x10000), "27.3.1.3", GuestGDTRLimit},
		{"IDTR base non-canonical", long, set(GuestIDTRBase, 0x0000900000000000), "27.3.1.3", GuestIDTRBase},
		// §27.3.1.4 RIP and RFLAGS.
		{"RFLAGS bit 1 clear", long, set(GuestRFLAGS, 0), "27.3.1.4", GuestRFLAGS},
		{"RFLAGS reserved bit 15", pm, or(GuestRFLAGS, 1<<15), "27.3.1.4", GuestRFLAGS},
		{"RFLAGS.VM in IA-32e mode", long, or(GuestRFLAGS, 1<<17), "27.3.1.4", GuestRFLAGS},
		{"RIP high bits in 32-bit mode", pm, set(GuestRIP, 1<<32), "27.3.1.4", GuestRIP},
		{"RIP non-canonical in 64-bit mode", long, set(GuestRIP, 0x0000800000000000), "27.3.1.4", GuestRIP},
		{"external interrupt with IF 0", long, set(VMEntryInterruptionInfo, uint64(NewEvent(EventExternalInterrupt, 0x20, false))), "27.3.1.4", GuestRFLAGS},
		// §27.3.1.5 non-register state.
		{"activity state 4", long, set(GuestActivityState, 4), "27.3.1.5", GuestActivityState},
		{"HLT with SS.DPL 3", pm, both(set(GuestActivityState, 1), set(GuestSSAccessRights, 0xC0F3)), "27.3.1.5", GuestActivityState},
		{"shutdown with an injected #GP", long, both(set(GuestActivityState, 2), set(VMEntryInterruptionInfo, uint64(NewEvent(EventHardwareException, VectorGP, true)))), "27.3.1.5", GuestActivityState},
		{"STI and MOV SS blocking", long, both(or(GuestRFLAGS, 1<<9), set(GuestInterruptibility, 3)), "27.3.1.5", GuestInterruptibility},
		{"STI blocking with IF 0", long, set(GuestInterruptibility, InterruptibilitySTI), "27.3.1.5", GuestInterruptibility},
		{"interruptibility reserved bit", long, set(GuestInterruptibility, 1<<5), "27.3.1.5", GuestInterruptibility},
		{"SMI blocking outside SMM", long, set(GuestInterruptibility, InterruptibilitySMI), "27.3.1.5", GuestInterruptibility},
		{"NMI blocking while injecting NMI", long, both(set(GuestInterruptibility, InterruptibilityNMI), set(VMEntryInterruptionInfo, uint64(NewEvent(EventNMI, 2, false)))), "27.3.1.5", GuestInterruptibility},
		{"pending debug reserved bit 4", long, set(GuestPendingDebugExceptions, 1<<4), "27.3.1.5", GuestPendingDebugExceptions},
		{"MOV SS blocking with TF and no BS", long, both(set(GuestRFLAGS, 0x102), set(GuestInterruptibility, InterruptibilityMOVSS)), "27.3.1.5", GuestPendingDebugExceptions},
		{"VMCS link pointer 0", long, set(VMCSLinkPointer, 0), "27.3.1.5", VMCSLinkPointer},
		{"VMCS link pointer misaligned", long, set(VMCSLinkPointer, 0x5008), "27.3.1.5", VMCSLinkPointer},
		// §27.3.1.6 PDPTEs.
		{"PDPTE reserved bit with PAE paging and EPT", pm, both(both(set(GuestCR0, 0x80000031), or(GuestCR4, 1<<5)), set(GuestPDPTE0, 0x3003)), "27.3.1.6", GuestPDPTE0},
	}
	caps := bochsCaps()
	for _, c := range cases {
		st := c.base()
		c.break_(st)
		vs := Check(st, caps)
		found := false
		for _, v := range vs {
			if v.Rule == c.rule && v.Field == c.field {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: want a violation of SDM %s on %v, got %v", c.name, c.rule, c.field, vs)
		}
	}
	if len(cases) < 30 {
		t.Fatalf("only %d breakage cases", len(cases))
	}
}

// TestCheckOrder checks that violations come out in SDM order.
func TestCheckOrder(t *testing.T) {
	st := longModeState()
	st[GuestRFLAGS] = 0                      // 27.3.1.4
	st[HostCSSelector] = 0                   // 27.2.3
	st[VirtualProcessorID] = 0               // 27.2.1.1
	st[GuestTRAccessRights] = arUnusableTest // 27.3.1.2
	vs := Check(st, bochsCaps())
	prev := ""
	for _, v := range vs {
		if v.Rule < prev {
			t.Errorf("violation %v after one of SDM %s", v, prev)
		}
		prev = v.Rule
	}
	if len(vs) < 4 {
		t.Errorf("want at least 4 violations, got %v", vs)
	}
}

func TestViolationError(t *testing.T) {
	v := Violation{Rule: "27.3.1.2", Field: GuestCSAccessRights, Message: "CS.D must be 0"}
	if v.Error() != "SDM 27.3.1.2: GuestCSAccessRights: CS.D must be 0" {
		t.Errorf("Error() = %q", v.Error())
	}
}

// TestCheckNeverPanics feeds random VMCS contents, random capabilities and
// nil capabilities to Check.
func TestCheckNeverPanics(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	interesting := []uint64{0, 1, ^uint64(0), 0xFFFFFFFF, 1 << 63, 0x8000000000000000, 0xFFF, 0x2, 0x80000000}
	val := func() uint64 {
		if rng.Intn(3) == 0 {
			return interesting[rng.Intn(len(interesting))]
		}
		return rng.Uint64() >> uint(rng.Intn(64))
	}
	for i := 0; i < 3000; i++ {
		var st Fields
		if i%2 == 0 {
			st = longModeState()
		} else {
			st = Fields{}
		}
		for j := rng.Intn(40); j >= 0; j-- {
			st[AllFields[rng.Intn(len(AllFields))]] = val()
		}
		caps := bochsCaps()
		switch i % 5 {
		case 1:
			caps = nil
		case 2:
			caps = &Capabilities{Basic: val(), PinCtls: val(), ProcCtls: val(), ProcCtls2: val(), ExitCtls: val(), EntryCtls: val(),
				Misc: val(), CR0Fixed0: val(), CR0Fixed1: val(), CR4Fixed0: val(), CR4Fixed1: val(), EPTVPID: val(), VMFunc: val(),
				PhysAddrWidth: uint8(val()), LinearAddrWidth: uint8(val())}
		}
		for _, v := range Check(st, caps) {
			if v.Rule == "" || !strings.HasPrefix(v.Error(), "SDM 27.") {
				t.Fatalf("malformed violation %#v", v)
			}
		}
	}
}
