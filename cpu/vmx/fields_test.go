package vmx

import (
	"strings"
	"testing"
)

// appendixB is the placement of every field in the SDM Appendix B tables,
// written out independently of the constants' encodings: each group's width
// and type come from the table it sits in, not from the encoding bits.
var appendixB = []struct {
	table  string
	width  Width
	kind   FieldKind
	fields []Field
}{
	{"B-1", Width16, FieldControl, []Field{VirtualProcessorID, PostedInterruptNotificationVector, EPTPIndex, HLATPrefixSize, LastPIDPointerIndex}},
	{"B-2", Width16, FieldGuest, []Field{GuestESSelector, GuestCSSelector, GuestSSSelector, GuestDSSelector, GuestFSSelector, GuestGSSelector, GuestLDTRSelector, GuestTRSelector, GuestInterruptStatus, GuestPMLIndex, GuestUINV}},
	{"B-3", Width16, FieldHost, []Field{HostESSelector, HostCSSelector, HostSSSelector, HostDSSelector, HostFSSelector, HostGSSelector, HostTRSelector}},
	{"B-4", Width64, FieldControl, []Field{IOBitmapA, IOBitmapB, MSRBitmap, VMExitMSRStoreAddr, VMExitMSRLoadAddr, VMEntryMSRLoadAddr, ExecutiveVMCSPointer, PMLAddress, TSCOffset, VirtualAPICAddress, APICAccessAddress, PostedInterruptDescriptorAddress, VMFunctionControls, EPTPointer, EOIExitBitmap0, EOIExitBitmap1, EOIExitBitmap2, EOIExitBitmap3, EPTPListAddress, VMReadBitmap, VMWriteBitmap, VirtualizationExceptionInfoAddress, XSSExitingBitmap, ENCLSExitingBitmap, SubPagePermissionTablePointer, TSCMultiplier, TertiaryProcBasedControls, ENCLVExitingBitmap, LowPASIDDirectoryAddress, HighPASIDDirectoryAddress, SharedEPTPointer, PCONFIGExitingBitmap, HLATPointer, PIDPointerTableAddress, SecondaryVMExitControls, IA32SpecCtrlMask, IA32SpecCtrlShadow, InjectedEventData}},
	{"B-5", Width64, FieldReadOnly, []Field{GuestPhysicalAddress, OriginalEventData}},
	{"B-6", Width64, FieldGuest, []Field{VMCSLinkPointer, GuestIA32Debugctl, GuestIA32PAT, GuestIA32EFER, GuestIA32PerfGlobalCtrl, GuestPDPTE0, GuestPDPTE1, GuestPDPTE2, GuestPDPTE3, GuestIA32BNDCFGS, GuestIA32RTITCtl, GuestIA32LBRCtl, GuestIA32PKRS, GuestIA32FREDConfig, GuestIA32FREDRSP1, GuestIA32FREDRSP2, GuestIA32FREDRSP3, GuestIA32FREDStackLevels, GuestIA32FREDSSP1, GuestIA32FREDSSP2, GuestIA32FREDSSP3}},
	{"B-7", Width64, FieldHost, []Field{HostIA32PAT, HostIA32EFER, HostIA32PerfGlobalCtrl, HostIA32PKRS, HostIA32FREDConfig, HostIA32FREDRSP1, HostIA32FREDRSP2, HostIA32FREDRSP3, HostIA32FREDStackLevels, HostIA32FREDSSP1, HostIA32FREDSSP2, HostIA32FREDSSP3}},
	{"B-8", Width32, FieldControl, []Field{PinBasedControls, ProcBasedControls, ExceptionBitmap, PageFaultErrorCodeMask, PageFaultErrorCodeMatch, CR3TargetCount, VMExitControls, VMExitMSRStoreCount, VMExitMSRLoadCount, VMEntryControls, VMEntryMSRLoadCount, VMEntryInterruptionInfo, VMEntryExceptionErrorCode, VMEntryInstructionLength, TPRThreshold, SecondaryProcBasedControls, PLEGap, PLEWindow, InstructionTimeoutControl}},
	{"B-9", Width32, FieldReadOnly, []Field{VMInstructionError, VMExitReason, VMExitInterruptionInfo, VMExitInterruptionErrorCode, IDTVectoringInfo, IDTVectoringErrorCode, VMExitInstructionLength, VMExitInstructionInfo}},
	{"B-10", Width32, FieldGuest, []Field{GuestESLimit, GuestCSLimit, GuestSSLimit, GuestDSLimit, GuestFSLimit, GuestGSLimit, GuestLDTRLimit, GuestTRLimit, GuestGDTRLimit, GuestIDTRLimit, GuestESAccessRights, GuestCSAccessRights, GuestSSAccessRights, GuestDSAccessRights, GuestFSAccessRights, GuestGSAccessRights, GuestLDTRAccessRights, GuestTRAccessRights, GuestInterruptibility, GuestActivityState, GuestSMBASE, GuestIA32SysenterCS, VMXPreemptionTimerValue}},
	{"B-11", Width32, FieldHost, []Field{HostIA32SysenterCS}},
	{"B-12", WidthNatural, FieldControl, []Field{CR0GuestHostMask, CR4GuestHostMask, CR0ReadShadow, CR4ReadShadow, CR3Target0, CR3Target1, CR3Target2, CR3Target3}},
	{"B-13", WidthNatural, FieldReadOnly, []Field{ExitQualification, IORCX, IORSI, IORDI, IORIP, GuestLinearAddress}},
	{"B-14", WidthNatural, FieldGuest, []Field{GuestCR0, GuestCR3, GuestCR4, GuestESBase, GuestCSBase, GuestSSBase, GuestDSBase, GuestFSBase, GuestGSBase, GuestLDTRBase, GuestTRBase, GuestGDTRBase, GuestIDTRBase, GuestDR7, GuestRSP, GuestRIP, GuestRFLAGS, GuestPendingDebugExceptions, GuestIA32SysenterESP, GuestIA32SysenterEIP, GuestIA32SCET, GuestSSP, GuestIA32InterruptSSPTableAddr}},
	{"B-15", WidthNatural, FieldHost, []Field{HostCR0, HostCR3, HostCR4, HostFSBase, HostGSBase, HostTRBase, HostGDTRBase, HostIDTRBase, HostIA32SysenterESP, HostIA32SysenterEIP, HostRSP, HostRIP, HostIA32SCET, HostSSP, HostIA32InterruptSSPTableAddr}},
}

func TestFieldPlacement(t *testing.T) {
	seen := map[Field]string{}
	n := 0
	for _, g := range appendixB {
		for _, f := range g.fields {
			n++
			if f.Width() != g.width {
				t.Errorf("%v (0x%04X) in Table %s: width %v, want %v", f, uint32(f), g.table, f.Width(), g.width)
			}
			if f.Kind() != g.kind {
				t.Errorf("%v (0x%04X) in Table %s: kind %v, want %v", f, uint32(f), g.table, f.Kind(), g.kind)
			}
			if f&1 != 0 || f&(1<<12) != 0 || f>>15 != 0 {
				t.Errorf("%v (0x%04X): access-type or reserved bits set", f, uint32(f))
			}
			if prev, dup := seen[f]; dup {
				t.Errorf("%v and %s share encoding 0x%04X", f, prev, uint32(f))
			}
			seen[f] = f.String()
			if !f.Valid() {
				t.Errorf("%v not Valid", f)
			}
		}
	}
	if n != len(AllFields) {
		t.Errorf("Appendix B groups list %d fields, AllFields has %d", n, len(AllFields))
	}
	for _, f := range AllFields {
		if _, ok := seen[f]; !ok {
			t.Errorf("AllFields has %v, missing from the Appendix B groups", f)
		}
	}
}

// TestFieldNamePrefixes checks that names agree with kinds: Guest* is guest
// state and Host* host state, except the two read-only exit-information
// fields whose SDM names start with "guest".
func TestFieldNamePrefixes(t *testing.T) {
	readOnlyGuestNamed := map[Field]bool{GuestPhysicalAddress: true, GuestLinearAddress: true}
	for _, f := range AllFields {
		name := f.String()
		switch {
		case readOnlyGuestNamed[f]:
			if f.Kind() != FieldReadOnly {
				t.Errorf("%s: kind %v, want read-only", name, f.Kind())
			}
		case strings.HasPrefix(name, "Guest"):
			if f.Kind() != FieldGuest {
				t.Errorf("%s: kind %v, want guest", name, f.Kind())
			}
		case strings.HasPrefix(name, "Host"):
			if f.Kind() != FieldHost {
				t.Errorf("%s: kind %v, want host", name, f.Kind())
			}
		}
	}
}

// TestFieldEncodings spot-checks encodings against the literal values printed
// in the SDM Appendix B tables.
func TestFieldEncodings(t *testing.T) {
	for _, c := range []struct {
		f    Field
		want uint32
	}{
		{VirtualProcessorID, 0x0000},
		{PostedInterruptNotificationVector, 0x0002},
		{EPTPIndex, 0x0004},
		{GuestESSelector, 0x0800},
		{GuestTRSelector, 0x080E},
		{GuestInterruptStatus, 0x0810},
		{GuestPMLIndex, 0x0812},
		{HostCSSelector, 0x0C02},
		{HostTRSelector, 0x0C0C},
		{IOBitmapA, 0x2000},
		{MSRBitmap, 0x2004},
		{VMEntryMSRLoadAddr, 0x200A},
		{TSCOffset, 0x2010},
		{VirtualAPICAddress, 0x2012},
		{EPTPointer, 0x201A},
		{EOIExitBitmap3, 0x2022},
		{XSSExitingBitmap, 0x202C},
		{TSCMultiplier, 0x2032},
		{GuestPhysicalAddress, 0x2400},
		{VMCSLinkPointer, 0x2800},
		{GuestIA32EFER, 0x2806},
		{GuestPDPTE0, 0x280A},
		{GuestIA32PKRS, 0x2818},
		{HostIA32EFER, 0x2C02},
		{PinBasedControls, 0x4000},
		{ProcBasedControls, 0x4002},
		{VMExitControls, 0x400C},
		{VMEntryControls, 0x4012},
		{VMEntryInterruptionInfo, 0x4016},
		{SecondaryProcBasedControls, 0x401E},
		{PLEWindow, 0x4022},
		{VMInstructionError, 0x4400},
		{VMExitReason, 0x4402},
		{VMExitInstructionInfo, 0x440E},
		{GuestCSLimit, 0x4802},
		{GuestCSAccessRights, 0x4816},
		{GuestTRAccessRights, 0x4822},
		{GuestInterruptibility, 0x4824},
		{VMXPreemptionTimerValue, 0x482E},
		{HostIA32SysenterCS, 0x4C00},
		{CR0GuestHostMask, 0x6000},
		{CR3Target3, 0x600E},
		{ExitQualification, 0x6400},
		{GuestLinearAddress, 0x640A},
		{GuestCR0, 0x6800},
		{GuestCSBase, 0x6808},
		{GuestDR7, 0x681A},
		{GuestRIP, 0x681E},
		{GuestRFLAGS, 0x6820},
		{GuestIA32InterruptSSPTableAddr, 0x682C},
		{HostCR3, 0x6C02},
		{HostRSP, 0x6C14},
		{HostRIP, 0x6C16},
		{HostIA32InterruptSSPTableAddr, 0x6C1C},
	} {
		if uint32(c.f) != c.want {
			t.Errorf("%v = 0x%04X, SDM App. B says 0x%04X", c.f, uint32(c.f), c.want)
		}
	}
}

func TestFieldStringAndValid(t *testing.T) {
	if GuestRIP.String() != "GuestRIP" || VMExitReason.String() != "VMExitReason" {
		t.Errorf("names: %q %q", GuestRIP.String(), VMExitReason.String())
	}
	if s := EPTPointer.High().String(); s != "EPTPointer(high)" {
		t.Errorf("EPTPointer.High() = %q", s)
	}
	if GuestRIP.High() != GuestRIP {
		t.Errorf("High of a natural-width field changed it")
	}
	if Field(0x6FFE).Valid() || Field(0x6FFE).String() != "Field(0x6FFE)" {
		t.Errorf("unknown field: valid=%v name=%q", Field(0x6FFE).Valid(), Field(0x6FFE).String())
	}
	if EPTPointer.High().Valid() {
		t.Errorf("high half reported Valid")
	}
}
