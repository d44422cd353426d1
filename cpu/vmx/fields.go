// Package vmx holds the pure-Go definitions of Intel VMX (VT-x): VMCS field
// encodings, exit reasons and exit qualifications, VM-execution/exit/entry
// control bits and capability MSRs, and a checker of the VM-entry rules.
//
// Section numbers follow the current Intel SDM numbering (Vol. 3C/3D, 2024-2025
// editions): chapter 25 "Virtual Machine Control Structures", chapter 27
// "VM Entries", chapter 28 "VM Exits", §31.4 "VM Instruction Error Numbers",
// Appendix A "VMX Capability Reporting Facility", Appendix B "Field Encoding in
// VMCS", Appendix C "VMX Basic Exit Reasons".
package vmx

// Field is a VMCS component encoding, the operand of VMREAD and VMWRITE
// (SDM Vol. 3C §25.11.2, Table 25-21 "Structure of VMCS Component Encoding"):
//
//	bit 0      access type (0 = full, 1 = high 32 bits of a 64-bit field)
//	bits 9:1   index
//	bits 11:10 type (0 control, 1 VM-exit information (read-only), 2 guest state, 3 host state)
//	bit 12     reserved (0)
//	bits 14:13 width (0 16-bit, 1 64-bit, 2 32-bit, 3 natural width)
//	bits 31:15 reserved (0)
//
// The constants below are the full-access encodings of every field listed in
// SDM Appendix B. The high-access encoding of a 64-bit field is f|1 (see
// Field.High); it is only needed by 32-bit VMMs, so no constants are defined
// for it.
type Field uint32

// VMCS field encodings, SDM Vol. 3D Appendix B.
const (
	// 16-bit control fields (App. B.1.1, Table B-1).
	VirtualProcessorID                Field = 0x0000 // virtual-processor identifier (VPID)
	PostedInterruptNotificationVector Field = 0x0002 // posted-interrupt notification vector
	EPTPIndex                         Field = 0x0004 // EPTP index
	HLATPrefixSize                    Field = 0x0006 // HLAT prefix size
	LastPIDPointerIndex               Field = 0x0008 // last PID-pointer index

	// 16-bit guest-state fields (App. B.1.2, Table B-2).
	GuestESSelector      Field = 0x0800
	GuestCSSelector      Field = 0x0802
	GuestSSSelector      Field = 0x0804
	GuestDSSelector      Field = 0x0806
	GuestFSSelector      Field = 0x0808
	GuestGSSelector      Field = 0x080A
	GuestLDTRSelector    Field = 0x080C
	GuestTRSelector      Field = 0x080E
	GuestInterruptStatus Field = 0x0810 // guest interrupt status (RVI in bits 7:0, SVI in 15:8)
	GuestPMLIndex        Field = 0x0812 // PML index
	GuestUINV            Field = 0x0814 // guest user-interrupt notification vector

	// 16-bit host-state fields (App. B.1.3, Table B-3).
	HostESSelector Field = 0x0C00
	HostCSSelector Field = 0x0C02
	HostSSSelector Field = 0x0C04
	HostDSSelector Field = 0x0C06
	HostFSSelector Field = 0x0C08
	HostGSSelector Field = 0x0C0A
	HostTRSelector Field = 0x0C0C

	// 64-bit control fields (full encodings; the _HIGH halves are encoding|1) (App. B.2.1, Table B-4).
	IOBitmapA                          Field = 0x2000 // address of I/O bitmap A
	IOBitmapB                          Field = 0x2002 // address of I/O bitmap B
	MSRBitmap                          Field = 0x2004 // address of the MSR bitmaps
	VMExitMSRStoreAddr                 Field = 0x2006
	VMExitMSRLoadAddr                  Field = 0x2008
	VMEntryMSRLoadAddr                 Field = 0x200A
	ExecutiveVMCSPointer               Field = 0x200C
	PMLAddress                         Field = 0x200E
	TSCOffset                          Field = 0x2010
	VirtualAPICAddress                 Field = 0x2012
	APICAccessAddress                  Field = 0x2014
	PostedInterruptDescriptorAddress   Field = 0x2016
	VMFunctionControls                 Field = 0x2018
	EPTPointer                         Field = 0x201A // EPT pointer (EPTP)
	EOIExitBitmap0                     Field = 0x201C
	EOIExitBitmap1                     Field = 0x201E
	EOIExitBitmap2                     Field = 0x2020
	EOIExitBitmap3                     Field = 0x2022
	EPTPListAddress                    Field = 0x2024
	VMReadBitmap                       Field = 0x2026 // VMREAD-bitmap address
	VMWriteBitmap                      Field = 0x2028 // VMWRITE-bitmap address
	VirtualizationExceptionInfoAddress Field = 0x202A // virtualization-exception information address
	XSSExitingBitmap                   Field = 0x202C
	ENCLSExitingBitmap                 Field = 0x202E
	SubPagePermissionTablePointer      Field = 0x2030 // SPPTP
	TSCMultiplier                      Field = 0x2032
	TertiaryProcBasedControls          Field = 0x2034 // tertiary processor-based VM-execution controls
	ENCLVExitingBitmap                 Field = 0x2036
	LowPASIDDirectoryAddress           Field = 0x2038
	HighPASIDDirectoryAddress          Field = 0x203A
	SharedEPTPointer                   Field = 0x203C
	PCONFIGExitingBitmap               Field = 0x203E
	HLATPointer                        Field = 0x2040 // hypervisor-managed linear-address translation pointer
	PIDPointerTableAddress             Field = 0x2042
	SecondaryVMExitControls            Field = 0x2044
	IA32SpecCtrlMask                   Field = 0x204A
	IA32SpecCtrlShadow                 Field = 0x204C
	InjectedEventData                  Field = 0x2052 // injected-event data (FRED)

	// 64-bit read-only data fields (App. B.2.2, Table B-5).
	GuestPhysicalAddress Field = 0x2400
	OriginalEventData    Field = 0x2404 // original-event data (FRED)

	// 64-bit guest-state fields (App. B.2.3, Table B-6).
	VMCSLinkPointer          Field = 0x2800
	GuestIA32Debugctl        Field = 0x2802
	GuestIA32PAT             Field = 0x2804
	GuestIA32EFER            Field = 0x2806
	GuestIA32PerfGlobalCtrl  Field = 0x2808
	GuestPDPTE0              Field = 0x280A
	GuestPDPTE1              Field = 0x280C
	GuestPDPTE2              Field = 0x280E
	GuestPDPTE3              Field = 0x2810
	GuestIA32BNDCFGS         Field = 0x2812
	GuestIA32RTITCtl         Field = 0x2814
	GuestIA32LBRCtl          Field = 0x2816
	GuestIA32PKRS            Field = 0x2818
	GuestIA32FREDConfig      Field = 0x281A
	GuestIA32FREDRSP1        Field = 0x281C
	GuestIA32FREDRSP2        Field = 0x281E
	GuestIA32FREDRSP3        Field = 0x2820
	GuestIA32FREDStackLevels Field = 0x2822
	GuestIA32FREDSSP1        Field = 0x2824
	GuestIA32FREDSSP2        Field = 0x2826
	GuestIA32FREDSSP3        Field = 0x2828

	// 64-bit host-state fields (App. B.2.4, Table B-7).
	HostIA32PAT             Field = 0x2C00
	HostIA32EFER            Field = 0x2C02
	HostIA32PerfGlobalCtrl  Field = 0x2C04
	HostIA32PKRS            Field = 0x2C06
	HostIA32FREDConfig      Field = 0x2C08
	HostIA32FREDRSP1        Field = 0x2C0A
	HostIA32FREDRSP2        Field = 0x2C0C
	HostIA32FREDRSP3        Field = 0x2C0E
	HostIA32FREDStackLevels Field = 0x2C10
	HostIA32FREDSSP1        Field = 0x2C12
	HostIA32FREDSSP2        Field = 0x2C14
	HostIA32FREDSSP3        Field = 0x2C16

	// 32-bit control fields (App. B.3.1, Table B-8).
	PinBasedControls           Field = 0x4000 // pin-based VM-execution controls
	ProcBasedControls          Field = 0x4002 // primary processor-based VM-execution controls
	ExceptionBitmap            Field = 0x4004
	PageFaultErrorCodeMask     Field = 0x4006
	PageFaultErrorCodeMatch    Field = 0x4008
	CR3TargetCount             Field = 0x400A
	VMExitControls             Field = 0x400C // primary VM-exit controls
	VMExitMSRStoreCount        Field = 0x400E
	VMExitMSRLoadCount         Field = 0x4010
	VMEntryControls            Field = 0x4012
	VMEntryMSRLoadCount        Field = 0x4014
	VMEntryInterruptionInfo    Field = 0x4016 // VM-entry interruption-information field
	VMEntryExceptionErrorCode  Field = 0x4018
	VMEntryInstructionLength   Field = 0x401A
	TPRThreshold               Field = 0x401C
	SecondaryProcBasedControls Field = 0x401E // secondary processor-based VM-execution controls
	PLEGap                     Field = 0x4020
	PLEWindow                  Field = 0x4022
	InstructionTimeoutControl  Field = 0x4024

	// 32-bit read-only data fields (App. B.3.2, Table B-9).
	VMInstructionError          Field = 0x4400
	VMExitReason                Field = 0x4402 // exit reason (named VMExitReason because the type ExitReason takes the short name)
	VMExitInterruptionInfo      Field = 0x4404
	VMExitInterruptionErrorCode Field = 0x4406
	IDTVectoringInfo            Field = 0x4408
	IDTVectoringErrorCode       Field = 0x440A
	VMExitInstructionLength     Field = 0x440C
	VMExitInstructionInfo       Field = 0x440E

	// 32-bit guest-state fields (App. B.3.3, Table B-10).
	GuestESLimit            Field = 0x4800
	GuestCSLimit            Field = 0x4802
	GuestSSLimit            Field = 0x4804
	GuestDSLimit            Field = 0x4806
	GuestFSLimit            Field = 0x4808
	GuestGSLimit            Field = 0x480A
	GuestLDTRLimit          Field = 0x480C
	GuestTRLimit            Field = 0x480E
	GuestGDTRLimit          Field = 0x4810
	GuestIDTRLimit          Field = 0x4812
	GuestESAccessRights     Field = 0x4814
	GuestCSAccessRights     Field = 0x4816
	GuestSSAccessRights     Field = 0x4818
	GuestDSAccessRights     Field = 0x481A
	GuestFSAccessRights     Field = 0x481C
	GuestGSAccessRights     Field = 0x481E
	GuestLDTRAccessRights   Field = 0x4820
	GuestTRAccessRights     Field = 0x4822
	GuestInterruptibility   Field = 0x4824 // guest interruptibility state
	GuestActivityState      Field = 0x4826
	GuestSMBASE             Field = 0x4828
	GuestIA32SysenterCS     Field = 0x482A
	VMXPreemptionTimerValue Field = 0x482E

	// 32-bit host-state field (App. B.3.4, Table B-11).
	HostIA32SysenterCS Field = 0x4C00

	// natural-width control fields (App. B.4.1, Table B-12).
	CR0GuestHostMask Field = 0x6000
	CR4GuestHostMask Field = 0x6002
	CR0ReadShadow    Field = 0x6004
	CR4ReadShadow    Field = 0x6006
	CR3Target0       Field = 0x6008
	CR3Target1       Field = 0x600A
	CR3Target2       Field = 0x600C
	CR3Target3       Field = 0x600E

	// natural-width read-only data fields (App. B.4.2, Table B-13).
	ExitQualification  Field = 0x6400
	IORCX              Field = 0x6402
	IORSI              Field = 0x6404
	IORDI              Field = 0x6406
	IORIP              Field = 0x6408
	GuestLinearAddress Field = 0x640A

	// natural-width guest-state fields (App. B.4.3, Table B-14).
	GuestCR0                       Field = 0x6800
	GuestCR3                       Field = 0x6802
	GuestCR4                       Field = 0x6804
	GuestESBase                    Field = 0x6806
	GuestCSBase                    Field = 0x6808
	GuestSSBase                    Field = 0x680A
	GuestDSBase                    Field = 0x680C
	GuestFSBase                    Field = 0x680E
	GuestGSBase                    Field = 0x6810
	GuestLDTRBase                  Field = 0x6812
	GuestTRBase                    Field = 0x6814
	GuestGDTRBase                  Field = 0x6816
	GuestIDTRBase                  Field = 0x6818
	GuestDR7                       Field = 0x681A
	GuestRSP                       Field = 0x681C
	GuestRIP                       Field = 0x681E
	GuestRFLAGS                    Field = 0x6820
	GuestPendingDebugExceptions    Field = 0x6822
	GuestIA32SysenterESP           Field = 0x6824
	GuestIA32SysenterEIP           Field = 0x6826
	GuestIA32SCET                  Field = 0x6828
	GuestSSP                       Field = 0x682A
	GuestIA32InterruptSSPTableAddr Field = 0x682C

	// natural-width host-state fields (App. B.4.4, Table B-15).
	HostCR0                       Field = 0x6C00
	HostCR3                       Field = 0x6C02
	HostCR4                       Field = 0x6C04
	HostFSBase                    Field = 0x6C06
	HostGSBase                    Field = 0x6C08
	HostTRBase                    Field = 0x6C0A
	HostGDTRBase                  Field = 0x6C0C
	HostIDTRBase                  Field = 0x6C0E
	HostIA32SysenterESP           Field = 0x6C10
	HostIA32SysenterEIP           Field = 0x6C12
	HostRSP                       Field = 0x6C14
	HostRIP                       Field = 0x6C16
	HostIA32SCET                  Field = 0x6C18
	HostSSP                       Field = 0x6C1A
	HostIA32InterruptSSPTableAddr Field = 0x6C1C
)

// fieldNames maps every defined Field to its constant's name, in Appendix B order.
var fieldNames = [...]struct {
	f    Field
	name string
}{
	{VirtualProcessorID, "VirtualProcessorID"},
	{PostedInterruptNotificationVector, "PostedInterruptNotificationVector"},
	{EPTPIndex, "EPTPIndex"},
	{HLATPrefixSize, "HLATPrefixSize"},
	{LastPIDPointerIndex, "LastPIDPointerIndex"},
	{GuestESSelector, "GuestESSelector"},
	{GuestCSSelector, "GuestCSSelector"},
	{GuestSSSelector, "GuestSSSelector"},
	{GuestDSSelector, "GuestDSSelector"},
	{GuestFSSelector, "GuestFSSelector"},
	{GuestGSSelector, "GuestGSSelector"},
	{GuestLDTRSelector, "GuestLDTRSelector"},
	{GuestTRSelector, "GuestTRSelector"},
	{GuestInterruptStatus, "GuestInterruptStatus"},
	{GuestPMLIndex, "GuestPMLIndex"},
	{GuestUINV, "GuestUINV"},
	{HostESSelector, "HostESSelector"},
	{HostCSSelector, "HostCSSelector"},
	{HostSSSelector, "HostSSSelector"},
	{HostDSSelector, "HostDSSelector"},
	{HostFSSelector, "HostFSSelector"},
	{HostGSSelector, "HostGSSelector"},
	{HostTRSelector, "HostTRSelector"},
	{IOBitmapA, "IOBitmapA"},
	{IOBitmapB, "IOBitmapB"},
	{MSRBitmap, "MSRBitmap"},
	{VMExitMSRStoreAddr, "VMExitMSRStoreAddr"},
	{VMExitMSRLoadAddr, "VMExitMSRLoadAddr"},
	{VMEntryMSRLoadAddr, "VMEntryMSRLoadAddr"},
	{ExecutiveVMCSPointer, "ExecutiveVMCSPointer"},
	{PMLAddress, "PMLAddress"},
	{TSCOffset, "TSCOffset"},
	{VirtualAPICAddress, "VirtualAPICAddress"},
	{APICAccessAddress, "APICAccessAddress"},
	{PostedInterruptDescriptorAddress, "PostedInterruptDescriptorAddress"},
	{VMFunctionControls, "VMFunctionControls"},
	{EPTPointer, "EPTPointer"},
	{EOIExitBitmap0, "EOIExitBitmap0"},
	{EOIExitBitmap1, "EOIExitBitmap1"},
	{EOIExitBitmap2, "EOIExitBitmap2"},
	{EOIExitBitmap3, "EOIExitBitmap3"},
	{EPTPListAddress, "EPTPListAddress"},
	{VMReadBitmap, "VMReadBitmap"},
	{VMWriteBitmap, "VMWriteBitmap"},
	{VirtualizationExceptionInfoAddress, "VirtualizationExceptionInfoAddress"},
	{XSSExitingBitmap, "XSSExitingBitmap"},
	{ENCLSExitingBitmap, "ENCLSExitingBitmap"},
	{SubPagePermissionTablePointer, "SubPagePermissionTablePointer"},
	{TSCMultiplier, "TSCMultiplier"},
	{TertiaryProcBasedControls, "TertiaryProcBasedControls"},
	{ENCLVExitingBitmap, "ENCLVExitingBitmap"},
	{LowPASIDDirectoryAddress, "LowPASIDDirectoryAddress"},
	{HighPASIDDirectoryAddress, "HighPASIDDirectoryAddress"},
	{SharedEPTPointer, "SharedEPTPointer"},
	{PCONFIGExitingBitmap, "PCONFIGExitingBitmap"},
	{HLATPointer, "HLATPointer"},
	{PIDPointerTableAddress, "PIDPointerTableAddress"},
	{SecondaryVMExitControls, "SecondaryVMExitControls"},
	{IA32SpecCtrlMask, "IA32SpecCtrlMask"},
	{IA32SpecCtrlShadow, "IA32SpecCtrlShadow"},
	{InjectedEventData, "InjectedEventData"},
	{GuestPhysicalAddress, "GuestPhysicalAddress"},
	{OriginalEventData, "OriginalEventData"},
	{VMCSLinkPointer, "VMCSLinkPointer"},
	{GuestIA32Debugctl, "GuestIA32Debugctl"},
	{GuestIA32PAT, "GuestIA32PAT"},
	{GuestIA32EFER, "GuestIA32EFER"},
	{GuestIA32PerfGlobalCtrl, "GuestIA32PerfGlobalCtrl"},
	{GuestPDPTE0, "GuestPDPTE0"},
	{GuestPDPTE1, "GuestPDPTE1"},
	{GuestPDPTE2, "GuestPDPTE2"},
	{GuestPDPTE3, "GuestPDPTE3"},
	{GuestIA32BNDCFGS, "GuestIA32BNDCFGS"},
	{GuestIA32RTITCtl, "GuestIA32RTITCtl"},
	{GuestIA32LBRCtl, "GuestIA32LBRCtl"},
	{GuestIA32PKRS, "GuestIA32PKRS"},
	{GuestIA32FREDConfig, "GuestIA32FREDConfig"},
	{GuestIA32FREDRSP1, "GuestIA32FREDRSP1"},
	{GuestIA32FREDRSP2, "GuestIA32FREDRSP2"},
	{GuestIA32FREDRSP3, "GuestIA32FREDRSP3"},
	{GuestIA32FREDStackLevels, "GuestIA32FREDStackLevels"},
	{GuestIA32FREDSSP1, "GuestIA32FREDSSP1"},
	{GuestIA32FREDSSP2, "GuestIA32FREDSSP2"},
	{GuestIA32FREDSSP3, "GuestIA32FREDSSP3"},
	{HostIA32PAT, "HostIA32PAT"},
	{HostIA32EFER, "HostIA32EFER"},
	{HostIA32PerfGlobalCtrl, "HostIA32PerfGlobalCtrl"},
	{HostIA32PKRS, "HostIA32PKRS"},
	{HostIA32FREDConfig, "HostIA32FREDConfig"},
	{HostIA32FREDRSP1, "HostIA32FREDRSP1"},
	{HostIA32FREDRSP2, "HostIA32FREDRSP2"},
	{HostIA32FREDRSP3, "HostIA32FREDRSP3"},
	{HostIA32FREDStackLevels, "HostIA32FREDStackLevels"},
	{HostIA32FREDSSP1, "HostIA32FREDSSP1"},
	{HostIA32FREDSSP2, "HostIA32FREDSSP2"},
	{HostIA32FREDSSP3, "HostIA32FREDSSP3"},
	{PinBasedControls, "PinBasedControls"},
	{ProcBasedControls, "ProcBasedControls"},
	{ExceptionBitmap, "ExceptionBitmap"},
	{PageFaultErrorCodeMask, "PageFaultErrorCodeMask"},
	{PageFaultErrorCodeMatch, "PageFaultErrorCodeMatch"},
	{CR3TargetCount, "CR3TargetCount"},
	{VMExitControls, "VMExitControls"},
	{VMExitMSRStoreCount, "VMExitMSRStoreCount"},
	{VMExitMSRLoadCount, "VMExitMSRLoadCount"},
	{VMEntryControls, "VMEntryControls"},
	{VMEntryMSRLoadCount, "VMEntryMSRLoadCount"},
	{VMEntryInterruptionInfo, "VMEntryInterruptionInfo"},
	{VMEntryExceptionErrorCode, "VMEntryExceptionErrorCode"},
	{VMEntryInstructionLength, "VMEntryInstructionLength"},
	{TPRThreshold, "TPRThreshold"},
	{SecondaryProcBasedControls, "SecondaryProcBasedControls"},
	{PLEGap, "PLEGap"},
	{PLEWindow, "PLEWindow"},
	{InstructionTimeoutControl, "InstructionTimeoutControl"},
	{VMInstructionError, "VMInstructionError"},
	{VMExitReason, "VMExitReason"},
	{VMExitInterruptionInfo, "VMExitInterruptionInfo"},
	{VMExitInterruptionErrorCode, "VMExitInterruptionErrorCode"},
	{IDTVectoringInfo, "IDTVectoringInfo"},
	{IDTVectoringErrorCode, "IDTVectoringErrorCode"},
	{VMExitInstructionLength, "VMExitInstructionLength"},
	{VMExitInstructionInfo, "VMExitInstructionInfo"},
	{GuestESLimit, "GuestESLimit"},
	{GuestCSLimit, "GuestCSLimit"},
	{GuestSSLimit, "GuestSSLimit"},
	{GuestDSLimit, "GuestDSLimit"},
	{GuestFSLimit, "GuestFSLimit"},
	{GuestGSLimit, "GuestGSLimit"},
	{GuestLDTRLimit, "GuestLDTRLimit"},
	{GuestTRLimit, "GuestTRLimit"},
	{GuestGDTRLimit, "GuestGDTRLimit"},
	{GuestIDTRLimit, "GuestIDTRLimit"},
	{GuestESAccessRights, "GuestESAccessRights"},
	{GuestCSAccessRights, "GuestCSAccessRights"},
	{GuestSSAccessRights, "GuestSSAccessRights"},
	{GuestDSAccessRights, "GuestDSAccessRights"},
	{GuestFSAccessRights, "GuestFSAccessRights"},
	{GuestGSAccessRights, "GuestGSAccessRights"},
	{GuestLDTRAccessRights, "GuestLDTRAccessRights"},
	{GuestTRAccessRights, "GuestTRAccessRights"},
	{GuestInterruptibility, "GuestInterruptibility"},
	{GuestActivityState, "GuestActivityState"},
	{GuestSMBASE, "GuestSMBASE"},
	{GuestIA32SysenterCS, "GuestIA32SysenterCS"},
	{VMXPreemptionTimerValue, "VMXPreemptionTimerValue"},
	{HostIA32SysenterCS, "HostIA32SysenterCS"},
	{CR0GuestHostMask, "CR0GuestHostMask"},
	{CR4GuestHostMask, "CR4GuestHostMask"},
	{CR0ReadShadow, "CR0ReadShadow"},
	{CR4ReadShadow, "CR4ReadShadow"},
	{CR3Target0, "CR3Target0"},
	{CR3Target1, "CR3Target1"},
	{CR3Target2, "CR3Target2"},
	{CR3Target3, "CR3Target3"},
	{ExitQualification, "ExitQualification"},
	{IORCX, "IORCX"},
	{IORSI, "IORSI"},
	{IORDI, "IORDI"},
	{IORIP, "IORIP"},
	{GuestLinearAddress, "GuestLinearAddress"},
	{GuestCR0, "GuestCR0"},
	{GuestCR3, "GuestCR3"},
	{GuestCR4, "GuestCR4"},
	{GuestESBase, "GuestESBase"},
	{GuestCSBase, "GuestCSBase"},
	{GuestSSBase, "GuestSSBase"},
	{GuestDSBase, "GuestDSBase"},
	{GuestFSBase, "GuestFSBase"},
	{GuestGSBase, "GuestGSBase"},
	{GuestLDTRBase, "GuestLDTRBase"},
	{GuestTRBase, "GuestTRBase"},
	{GuestGDTRBase, "GuestGDTRBase"},
	{GuestIDTRBase, "GuestIDTRBase"},
	{GuestDR7, "GuestDR7"},
	{GuestRSP, "GuestRSP"},
	{GuestRIP, "GuestRIP"},
	{GuestRFLAGS, "GuestRFLAGS"},
	{GuestPendingDebugExceptions, "GuestPendingDebugExceptions"},
	{GuestIA32SysenterESP, "GuestIA32SysenterESP"},
	{GuestIA32SysenterEIP, "GuestIA32SysenterEIP"},
	{GuestIA32SCET, "GuestIA32SCET"},
	{GuestSSP, "GuestSSP"},
	{GuestIA32InterruptSSPTableAddr, "GuestIA32InterruptSSPTableAddr"},
	{HostCR0, "HostCR0"},
	{HostCR3, "HostCR3"},
	{HostCR4, "HostCR4"},
	{HostFSBase, "HostFSBase"},
	{HostGSBase, "HostGSBase"},
	{HostTRBase, "HostTRBase"},
	{HostGDTRBase, "HostGDTRBase"},
	{HostIDTRBase, "HostIDTRBase"},
	{HostIA32SysenterESP, "HostIA32SysenterESP"},
	{HostIA32SysenterEIP, "HostIA32SysenterEIP"},
	{HostRSP, "HostRSP"},
	{HostRIP, "HostRIP"},
	{HostIA32SCET, "HostIA32SCET"},
	{HostSSP, "HostSSP"},
	{HostIA32InterruptSSPTableAddr, "HostIA32InterruptSSPTableAddr"},
}

// Width is the width of a VMCS field, bits 14:13 of its encoding
// (SDM Vol. 3C §25.11.2).
type Width uint8

// Field widths.
const (
	Width16      Width = 0
	Width64      Width = 1
	Width32      Width = 2
	WidthNatural Width = 3
)

// String names the width.
func (w Width) String() string {
	switch w {
	case Width16:
		return "16-bit"
	case Width64:
		return "64-bit"
	case Width32:
		return "32-bit"
	case WidthNatural:
		return "natural-width"
	}
	return "invalid width"
}

// FieldKind is the type of a VMCS field, bits 11:10 of its encoding
// (SDM Vol. 3C §25.11.2).
type FieldKind uint8

// Field kinds.
const (
	FieldControl  FieldKind = 0 // VM-execution, VM-exit or VM-entry control
	FieldReadOnly FieldKind = 1 // VM-exit information (read-only data)
	FieldGuest    FieldKind = 2 // guest-state area
	FieldHost     FieldKind = 3 // host-state area
)

// String names the kind.
func (k FieldKind) String() string {
	switch k {
	case FieldControl:
		return "control"
	case FieldReadOnly:
		return "read-only data"
	case FieldGuest:
		return "guest state"
	case FieldHost:
		return "host state"
	}
	return "invalid kind"
}

// Width decodes the field's width from encoding bits 14:13.
func (f Field) Width() Width { return Width(f>>13) & 3 }

// Kind decodes the field's type from encoding bits 11:10.
func (f Field) Kind() FieldKind { return FieldKind(f>>10) & 3 }

// Index is the field's index, encoding bits 9:1.
func (f Field) Index() uint32 { return uint32(f>>1) & 0x1FF }

// IsHigh reports whether f is the high-access encoding (bit 0) of a 64-bit field.
func (f Field) IsHigh() bool { return f&1 != 0 }

// High is the encoding that accesses bits 63:32 of a 64-bit field
// (SDM Vol. 3C §25.11.2). It returns f unchanged for other widths.
func (f Field) High() Field {
	if f.Width() != Width64 {
		return f
	}
	return f | 1
}

// fieldIndex maps a defined encoding to its position in fieldNames.
var fieldIndex = func() map[Field]int {
	m := make(map[Field]int, len(fieldNames))
	for i, e := range fieldNames {
		m[e.f] = i
	}
	return m
}()

// AllFields lists every defined field (full encodings), in Appendix B order.
var AllFields = func() []Field {
	all := make([]Field, len(fieldNames))
	for i, e := range fieldNames {
		all[i] = e.f
	}
	return all
}()

// Valid reports whether f is one of the encodings defined in SDM Appendix B
// (full access). Whether a given processor implements the field is a separate
// question, answered by IA32_VMX_VMCS_ENUM and the capability MSRs.
func (f Field) Valid() bool {
	_, ok := fieldIndex[f]
	return ok
}

// String is the constant's name, or a hex description of an unknown encoding
// (including the high half of a 64-bit field, shown as "Name(high)").
func (f Field) String() string {
	if i, ok := fieldIndex[f]; ok {
		return fieldNames[i].name
	}
	if f.Width() == Width64 && f.IsHigh() {
		if i, ok := fieldIndex[f&^1]; ok {
			return fieldNames[i].name + "(high)"
		}
	}
	return "Field(0x" + hex64(uint64(f)) + ")"
}

// hex64 formats v in upper-case hex without a prefix (no fmt, so the package
// stays usable from the freestanding kernel without pulling fmt's state).
func hex64(v uint64) string {
	const digits = "0123456789ABCDEF"
	if v == 0 {
		return "0"
	}
	var buf [16]byte
	i := len(buf)
	for v != 0 {
		i--
		buf[i] = digits[v&0xF]
		v >>= 4
	}
	return string(buf[i:])
}

// dec formats v in decimal.
func dec(v uint64) string {
	if v == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	for v != 0 {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return string(buf[i:])
}
