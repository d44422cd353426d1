package lapic

// Section numbers below follow the Intel SDM editions in which Vol. 3A
// chapter 11 is "Advanced Programmable Interrupt Controller (APIC)" (older
// editions number the same chapter 10 with the same sub-numbering).

// IA32_APIC_BASE (MSR 0x1B) bits, SDM §11.4.4 "Local APIC Status and
// Location" and §11.12.1 "Detecting and Enabling x2APIC Mode".
const (
	MSRAPICBase = 0x1B

	BaseBSP       = 1 << 8  // this processor is the bootstrap processor
	BaseX2APIC    = 1 << 10 // EXTD: x2APIC mode
	BaseEnable    = 1 << 11 // EN: APIC globally enabled
	BaseAddrMask  = 0x000F_FFFF_FFFF_F000
	baseWriteable = BaseBSP | BaseX2APIC | BaseEnable | BaseAddrMask

	// DefaultBase is the power-up MMIO base of the local APIC.
	DefaultBase = 0xFEE00000
)

// MSRTSCDeadline is IA32_TSC_DEADLINE, SDM §11.5.4.1 "TSC-Deadline Mode".
const MSRTSCDeadline = 0x6E0

// Register offsets in the xAPIC MMIO page, SDM §11.4.1 Table 11-1 "Local APIC
// Register Address Map". In x2APIC mode the register at offset o is MSR
// X2APICMSRBase + o>>4 (SDM §11.12.1.2, Table 11-6).
const (
	RegID           = 0x020
	RegVersion      = 0x030
	RegTPR          = 0x080
	RegAPR          = 0x090
	RegPPR          = 0x0A0
	RegEOI          = 0x0B0
	RegRRD          = 0x0C0
	RegLDR          = 0x0D0
	RegDFR          = 0x0E0
	RegSVR          = 0x0F0
	RegISR          = 0x100 // 8 registers, 0x100-0x170
	RegTMR          = 0x180 // 8 registers, 0x180-0x1F0
	RegIRR          = 0x200 // 8 registers, 0x200-0x270
	RegESR          = 0x280
	RegLVTCMCI      = 0x2F0
	RegICRLow       = 0x300
	RegICRHigh      = 0x310
	RegLVTTimer     = 0x320
	RegLVTThermal   = 0x330
	RegLVTPerf      = 0x340
	RegLVTLINT0     = 0x350
	RegLVTLINT1     = 0x360
	RegLVTError     = 0x370
	RegInitialCount = 0x380
	RegCurrentCount = 0x390
	RegDivideConfig = 0x3E0
	RegSelfIPI      = 0x3F0 // x2APIC only (MSR 0x83F)

	// X2APICMSRBase is the first x2APIC MSR; the range is 0x800-0x8FF.
	X2APICMSRBase = 0x800
	X2APICMSRLast = 0x8FF
)

// Version register value, SDM §11.4.8 "Local APIC Version Register": version
// 0x14 (an integrated APIC), bits 23:16 = number of LVT entries minus one (7
// entries: CMCI, timer, thermal, performance, LINT0, LINT1, error), bit 24
// (EOI-broadcast suppression) clear.
const (
	apicVersion  = 0x14
	maxLVTEntry  = 6
	VersionValue = maxLVTEntry<<16 | apicVersion
)

// TPR and PPR, SDM §11.8.3.1 "Task and Processor Priorities".
const tprMask = 0xFF

// SVR bits, SDM §11.9 "Spurious Interrupt".
const (
	svrVector         = 0xFF
	svrSoftwareEnable = 1 << 8
	svrWritable       = svrVector | svrSoftwareEnable
	svrReset          = 0xFF
)

// LDR and DFR, SDM §11.6.2.2 "Logical Destination Mode".
const (
	ldrWritable = 0xFF000000
	dfrModel    = 0xF0000000 // bits 31:28: 1111 flat, 0000 cluster
	dfrReset    = 0xFFFFFFFF
	dfrFlat     = 0xF
)

// ESR bits, SDM §11.5.3 "Error Handling".
const (
	ESRSendChecksum       = 1 << 0
	ESRReceiveChecksum    = 1 << 1
	ESRSendAccept         = 1 << 2
	ESRReceiveAccept      = 1 << 3
	ESRRedirectableIPI    = 1 << 4
	ESRSendIllegalVector  = 1 << 5
	ESRReceiveIllegalVect = 1 << 6
	ESRIllegalRegister    = 1 << 7
)

// LVT bits, SDM §11.5.1 "Local Vector Table", Figure 11-8.
const (
	lvtVector         = 0xFF
	lvtDeliveryMode   = 0x7 << 8
	lvtDeliveryStatus = 1 << 12 // read-only; always 0 here (delivery is instantaneous)
	lvtPolarity       = 1 << 13
	lvtRemoteIRR      = 1 << 14 // read-only
	lvtTriggerMode    = 1 << 15
	LVTMasked         = 1 << 16
	lvtTimerModeShift = 17
	lvtTimerMode      = 0x3 << lvtTimerModeShift
)

// Timer modes in LVT timer bits 18:17, SDM §11.5.4 Table 11-2.
const (
	TimerOneShot     = 0
	TimerPeriodic    = 1
	TimerTSCDeadline = 2
)

// Writable bits of each LVT entry.
const (
	lvtTimerWritable = lvtVector | LVTMasked | lvtTimerMode
	lvtLINTWritable  = lvtVector | lvtDeliveryMode | lvtPolarity | lvtTriggerMode | LVTMasked
	lvtOtherWritable = lvtVector | lvtDeliveryMode | LVTMasked // CMCI, thermal, performance
	lvtErrorWritable = lvtVector | LVTMasked
)

// ICR bits, SDM §11.6.1 "Interrupt Command Register (ICR)", Figure 11-12.
const (
	icrVector            = 0xFF
	icrDeliveryModeShift = 8
	icrDeliveryMode      = 0x7 << icrDeliveryModeShift
	icrLogical           = 1 << 11
	icrDeliveryStatus    = 1 << 12 // send pending; always reads 0 here
	icrLevelAssert       = 1 << 14
	icrTriggerLevel      = 1 << 15
	icrShorthandShift    = 18
	icrShorthand         = 0x3 << icrShorthandShift
	icrLowWritable       = icrVector | icrDeliveryMode | icrLogical | icrLevelAssert | icrTriggerLevel | icrShorthand
	icrHighXAPICWritable = 0xFF000000 // destination field, bits 63:56 of the ICR
)

// ICR delivery modes.
const (
	deliveryFixed          = 0
	deliveryLowestPriority = 1
	deliverySMI            = 2
	deliveryNMI            = 4
	deliveryINIT           = 5
	deliveryStartup        = 6
)

// ICR destination shorthands.
const (
	shorthandNone        = 0
	shorthandSelf        = 1
	shorthandAllIncSelf  = 2
	shorthandAllExclSelf = 3
)

// Divide configuration register, SDM §11.5.4 Figure 11-10: bits 0, 1 and 3
// encode the divider; bit 2 is reserved.
const divideWritable = 0xB

// Broadcast destinations.
const (
	xapicBroadcast  = 0xFF
	x2apicBroadcast = 0xFFFFFFFF
)

// lowestLegalVector: vectors 0-15 are reserved for exceptions and are illegal
// as APIC interrupts (SDM §11.5.2 "Valid Interrupt Vectors").
const lowestLegalVector = 16
