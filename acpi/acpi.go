// Package acpi finds the ACPI tables (ACPI Specification 6.5, §5.2) and
// decodes what the kernel needs to bring up the machine: the processors
// and interrupt controllers of the MADT and the HPET's address.
//
// It runs before the Go runtime is initialized: nothing allocates, the
// results go into a caller-provided Tables with fixed-size arrays, and
// problems are constant strings. Physical memory is read through Mem,
// which the kernel implements on its boot identity map of 0-4 GiB and the
// host tests with a byte slice. Every length and offset read from memory
// is checked against the length of the table it is in before it is used,
// so a broken table is skipped with a reason, never followed.
package acpi

// Mem reads physical memory.
type Mem interface {
	U8(addr uint64) uint8
	U32(addr uint64) uint32
	U64(addr uint64) uint64
}

// Limits of what Tables holds.
const (
	MaxCPUs      = 256
	MaxIOAPICs   = 16
	MaxOverrides = 48
	MaxNMIs      = 16
)

// CPU is a processor of the MADT (Processor Local APIC or Processor Local
// x2APIC structure).
type CPU struct {
	APICID        uint32
	UID           uint32 // ACPI processor UID
	Enabled       bool   // usable now
	OnlineCapable bool   // not enabled, but can be brought online
	X2APIC        bool   // listed by a Processor Local x2APIC structure
}

// IOAPIC is an I/O APIC of the MADT.
type IOAPIC struct {
	ID      uint8
	Addr    uint32
	GSIBase uint32 // first global system interrupt of its inputs
}

// Override is an Interrupt Source Override: ISA IRQ Source is wired to
// global system interrupt GSI with the polarity and trigger mode of
// Flags (MPS INTI flags, ACPI 6.5 Table 5.50).
type Override struct {
	Source uint8
	GSI    uint32
	Flags  uint16
}

// MPS INTI flags of Override and NMI (ACPI 6.5 Table 5.50).
const (
	PolarityMask       = 0x3
	PolarityBus        = 0x0
	PolarityActiveHigh = 0x1
	PolarityActiveLow  = 0x3
	TriggerMask        = 0xc
	TriggerBus         = 0x0
	TriggerEdge        = 0x4
	TriggerLevel       = 0xc
)

// NMI is a Local APIC NMI or Local x2APIC NMI structure: LINT input LINT
// of the processor with ACPI UID UID (AllProcessors for all of them) is
// wired to NMI.
type NMI struct {
	UID   uint32
	Flags uint16
	LINT  uint8
}

// AllProcessors is NMI.UID for an NMI that applies to every processor
// (0xFF in a Local APIC NMI, 0xFFFFFFFF in a Local x2APIC NMI).
const AllProcessors = 0xFFFFFFFF

// Tables is what Parse found.
type Tables struct {
	RSDP     uint64 // physical address of the RSDP used
	Revision uint8  // the RSDP's revision: 0 for ACPI 1.0, 2 for 2.0 and later
	OEMID    [6]byte

	LAPICAddr uint64 // local APIC base (type 5 override applied)
	PCAT      bool   // the machine also has dual 8259 PICs (MADT PCAT_COMPAT)

	CPUs       [MaxCPUs]CPU
	NCPUs      int
	IOAPICs    [MaxIOAPICs]IOAPIC
	NIOAPICs   int
	Overrides  [MaxOverrides]Override
	NOverrides int

	HPETAddr uint64
	HaveHPET bool
	HaveMADT bool

	// Local APIC NMI inputs (MADT types 4 and 0xA).
	NMIs  [MaxNMIs]NMI
	NNMIs int
	// The HPET table's event timer block ID (hardware revision, number
	// of comparators, vendor) and minimum periodic tick.
	HPETID      uint32
	HPETMinTick uint16
}

// RSDP (ACPI 6.5 §5.2.5.3).
const (
	rsdpSignature   = "RSD PTR "
	rsdpSignature64 = 0x2052545020445352 // rsdpSignature as a little-endian uint64
	rsdpChecksumLen = 20                 // the ACPI 1.0 part covered by the first checksum
	rsdpOEMIDOff    = 9
	rsdpRevisionOff = 15
	rsdpRSDTOff     = 16 // u32
	rsdpLengthOff   = 20 // u32, revision 2+
	rsdpXSDTOff     = 24 // u64, revision 2+
	rsdpV2Size      = 36
	rsdpMaxLength   = 4096
)

// Where the RSDP may be on a BIOS machine (ACPI 6.5 §5.2.5.1): the first
// KiB of the EBDA, whose real-mode segment is the word at 0x40E, or the
// BIOS read-only area 0xE0000-0xFFFFF, on 16-byte boundaries.
const (
	ebdaSegmentPtr = 0x40E
	ebdaSearchLen  = 1024
	biosAreaStart  = 0xE0000
	biosAreaEnd    = 0x100000
	rsdpAlign      = 16
	// The EBDA lies in conventional memory below the video RAM.
	ebdaLow, ebdaHigh = 0x400, 0xA0000
)

// System description table header (ACPI 6.5 §5.2.6).
const (
	headerSize    = 36
	sigOff        = 0
	lengthOff     = 4
	maxTableBytes = 1 << 20 // longer is taken as garbage
)

// Find returns the physical address of a valid RSDP: the loader's copy
// (loaderRSDP, 0 if none) if it checks, else one found by the BIOS search.
func Find(m Mem, loaderRSDP uint64) (rsdp uint64, ok bool) {
	if loaderRSDP != 0 && validRSDP(m, loaderRSDP) {
		return loaderRSDP, true
	}
	seg := uint64(m.U8(ebdaSegmentPtr)) | uint64(m.U8(ebdaSegmentPtr+1))<<8
	if ebda := seg << 4; ebda >= ebdaLow && ebda+ebdaSearchLen <= ebdaHigh {
		if a, ok := scan(m, ebda, ebda+ebdaSearchLen); ok {
			return a, true
		}
	}
	return scan(m, biosAreaStart, biosAreaEnd)
}

func scan(m Mem, start, end uint64) (uint64, bool) {
	for a := (start + rsdpAlign - 1) &^ (rsdpAlign - 1); a+rsdpChecksumLen <= end; a += rsdpAlign {
		// The signature as one load first: thousands of places to try.
		if m.U64(a) == rsdpSignature64 && validRSDP(m, a) {
			return a, true
		}
	}
	return 0, false
}

// validRSDP checks the signature and the checksum of the ACPI 1.0 part,
// and for revision 2 and later the length and the extended checksum.
func validRSDP(m Mem, a uint64) bool {
	if !hasSig(m, a, rsdpSignature) || sum(m, a, rsdpChecksumLen) != 0 {
		return false
	}
	if m.U8(a+rsdpRevisionOff) < 2 {
		return true
	}
	n := uint64(m.U32(a + rsdpLengthOff))
	return n >= rsdpV2Size && n <= rsdpMaxLength && sum(m, a, n) == 0
}

func hasSig(m Mem, a uint64, sig string) bool {
	for i := 0; i < len(sig); i++ {
		if m.U8(a+uint64(i)) != sig[i] {
			return false
		}
	}
	return true
}

func sum(m Mem, a, n uint64) uint8 {
	var s uint8
	for i := uint64(0); i < n; i++ {
		s += m.U8(a + i)
	}
	return s
}

func u16(m Mem, a uint64) uint16 { return uint16(m.U8(a)) | uint16(m.U8(a+1))<<8 }

// table checks the table at pa: a length that holds the header and is
// not absurd, no wrap-around, and the checksum. It returns the length, or
// 0 and what is wrong (one of the bad* codes, which rootMessage and
// entryMessage turn into constant strings: nothing here may allocate).
func table(m Mem, pa uint64) (uint64, int) {
	if pa == 0 {
		return 0, badNull
	}
	n := uint64(m.U32(pa + lengthOff))
	if n < headerSize || n > maxTableBytes || pa+n < pa {
		return 0, badLength
	}
	if sum(m, pa, n) != 0 {
		return 0, badChecksum
	}
	return n, tableOK
}

const (
	tableOK = iota
	badNull
	badLength
	badChecksum
)

func rootMessage(bad int) string {
	switch bad {
	case badNull:
		return "acpi: the RSDP points to no root table (RSDT/XSDT)"
	case badLength:
		return "acpi: the root table (RSDT/XSDT) has a bad length"
	}
	return "acpi: the root table (RSDT/XSDT) has a bad checksum"
}

func entryMessage(bad int) string {
	switch bad {
	case badNull:
		return "acpi: skipped a null table address in the root table"
	case badLength:
		return "acpi: skipped a table with a bad length"
	}
	return "acpi: skipped a table with a bad checksum"
}

// Parse decodes the tables reachable from the RSDP at rsdp (from Find)
// into t. It returns "" if everything was fine, else the reason for the
// last table it skipped (or the whole walk, if the root table is bad);
// what it could decode is in t either way.
func Parse(m Mem, rsdp uint64, t *Tables) string {
	*t = Tables{RSDP: rsdp}
	if !validRSDP(m, rsdp) {
		return "acpi: the RSDP is not valid (signature or checksum)"
	}
	t.Revision = m.U8(rsdp + rsdpRevisionOff)
	for i := range t.OEMID {
		t.OEMID[i] = m.U8(rsdp + rsdpOEMIDOff + uint64(i))
	}
	// The XSDT where there is one (revision 2+), else the RSDT: the same
	// header followed by 8- or 4-byte physical addresses (§5.2.7, §5.2.8).
	root, entry, sig := uint64(m.U32(rsdp+rsdpRSDTOff)), uint64(4), "RSDT"
	if t.Revision >= 2 {
		if x := m.U64(rsdp + rsdpXSDTOff); x != 0 {
			root, entry, sig = x, 8, "XSDT"
		}
	}
	n, bad := table(m, root)
	if bad != tableOK {
		return rootMessage(bad)
	}
	if !hasSig(m, root, sig) {
		return "acpi: the root table's signature is not RSDT/XSDT"
	}
	var last string
	for e := root + headerSize; e+entry <= root+n; e += entry {
		pa := uint64(m.U32(e))
		if entry == 8 {
			pa = m.U64(e)
		}
		tn, bad := table(m, pa)
		if bad != tableOK {
			last = entryMessage(bad)
			continue
		}
		switch {
		case hasSig(m, pa, "APIC"):
			if msg := parseMADT(m, pa, tn, t); msg != "" {
				last = msg
			}
		case hasSig(m, pa, "HPET"):
			if msg := parseHPET(m, pa, tn, t); msg != "" {
				last = msg
			}
		}
	}
	return last
}

// MADT (ACPI 6.5 §5.2.12): the header, the local interrupt controller
// address (u32) and flags (u32), then interrupt controller structures,
// each u8 type and u8 length first.
const (
	madtLAPICAddrOff = 36
	madtFlagsOff     = 40
	madtEntriesOff   = 44
	madtPCATCompat   = 1 << 0

	madtLocalAPIC     = 0 // §5.2.12.2: UID u8 +2, APIC ID u8 +3, flags u32 +4
	madtIOAPIC        = 1 // §5.2.12.3: ID u8 +2, address u32 +4, GSI base u32 +8
	madtOverride      = 2 // §5.2.12.5: bus u8 +2, source u8 +3, GSI u32 +4, flags u16 +8
	madtLocalAPICNMI  = 4 // §5.2.12.7: UID u8 +2, flags u16 +3, LINT u8 +5
	madtLAPICOverride = 5 // §5.2.12.8: address u64 +4
	madtLocalX2APIC   = 9 // §5.2.12.12: x2APIC ID u32 +4, flags u32 +8, UID u32 +12
	madtX2APICNMI     = 0xA

	madtLocalAPICLen    = 8
	madtIOAPICLen       = 12
	madtOverrideLen     = 10
	madtLocalAPICNMILen = 6
	madtLAPICOvrLen     = 12
	madtLocalX2APICLen  = 16
	madtX2APICNMILen    = 12

	// Local APIC flags (Table 5.47).
	lapicEnabled       = 1 << 0
	lapicOnlineCapable = 1 << 1
	noUID8             = 0xFF // a Local APIC NMI for all processors
)

// parseMADT decodes the MADT at pa, n bytes long (checked by table).
func parseMADT(m Mem, pa, n uint64, t *Tables) string {
	if n < madtEntriesOff {
		return "acpi: skipped the MADT: shorter than its fixed fields"
	}
	if t.HaveMADT {
		return "acpi: skipped a second MADT"
	}
	t.HaveMADT = true
	if t.LAPICAddr == 0 {
		t.LAPICAddr = uint64(m.U32(pa + madtLAPICAddrOff))
	}
	t.PCAT = m.U32(pa+madtFlagsOff)&madtPCATCompat != 0
	var last string
	for e := pa + madtEntriesOff; e < pa+n; {
		if e+2 > pa+n {
			return "acpi: MADT ends inside an entry header"
		}
		typ, l := m.U8(e), uint64(m.U8(e+1))
		if l < 2 || l > pa+n-e {
			return "acpi: MADT entry with a bad length; the rest of the MADT is skipped"
		}
		var need uint64
		switch typ {
		case madtLocalAPIC:
			need = madtLocalAPICLen
		case madtIOAPIC:
			need = madtIOAPICLen
		case madtOverride:
			need = madtOverrideLen
		case madtLocalAPICNMI:
			need = madtLocalAPICNMILen
		case madtLAPICOverride:
			need = madtLAPICOvrLen
		case madtLocalX2APIC:
			need = madtLocalX2APICLen
		case madtX2APICNMI:
			need = madtX2APICNMILen
		}
		if l < need {
			last = "acpi: skipped a truncated MADT entry"
			e += l
			continue
		}
		switch typ {
		case madtLocalAPIC:
			f := m.U32(e + 4)
			if msg := t.addCPU(CPU{APICID: uint32(m.U8(e + 3)), UID: uint32(m.U8(e + 2)),
				Enabled: f&lapicEnabled != 0, OnlineCapable: f&lapicOnlineCapable != 0}); msg != "" {
				last = msg
			}
		case madtLocalX2APIC:
			f := m.U32(e + 8)
			if msg := t.addCPU(CPU{APICID: m.U32(e + 4), UID: m.U32(e + 12),
				Enabled: f&lapicEnabled != 0, OnlineCapable: f&lapicOnlineCapable != 0, X2APIC: true}); msg != "" {
				last = msg
			}
		case madtIOAPIC:
			if t.NIOAPICs == MaxIOAPICs {
				last = "acpi: more I/O APICs than MaxIOAPICs; the rest are ignored"
				break
			}
			t.IOAPICs[t.NIOAPICs] = IOAPIC{ID: m.U8(e + 2), Addr: m.U32(e + 4), GSIBase: m.U32(e + 8)}
			t.NIOAPICs++
		case madtOverride:
			if m.U8(e+2) != 0 { // bus 0 is ISA, the only one defined
				last = "acpi: skipped an interrupt source override for a bus other than ISA"
				break
			}
			if t.NOverrides == MaxOverrides {
				last = "acpi: more interrupt source overrides than MaxOverrides; the rest are ignored"
				break
			}
			t.Overrides[t.NOverrides] = Override{Source: m.U8(e + 3), GSI: m.U32(e + 4), Flags: u16(m, e+8)}
			t.NOverrides++
		case madtLocalAPICNMI:
			uid := uint32(m.U8(e + 2))
			if uid == noUID8 {
				uid = AllProcessors
			}
			if msg := t.addNMI(NMI{UID: uid, Flags: u16(m, e+3), LINT: m.U8(e + 5)}); msg != "" {
				last = msg
			}
		case madtX2APICNMI:
			if msg := t.addNMI(NMI{UID: m.U32(e + 4), Flags: u16(m, e+2), LINT: m.U8(e + 8)}); msg != "" {
				last = msg
			}
		case madtLAPICOverride:
			t.LAPICAddr = m.U64(e + 4)
		}
		e += l
	}
	return last
}

// addCPU records c unless a processor with its APIC ID is there already
// (firmware may list a processor with an APIC ID below 255 both ways).
func (t *Tables) addCPU(c CPU) string {
	for _, o := range t.CPUs[:t.NCPUs] {
		if o.APICID == c.APICID {
			return ""
		}
	}
	if t.NCPUs == MaxCPUs {
		return "acpi: more processors than MaxCPUs; the rest are ignored"
	}
	t.CPUs[t.NCPUs] = c
	t.NCPUs++
	return ""
}

func (t *Tables) addNMI(n NMI) string {
	if t.NNMIs == MaxNMIs {
		return "acpi: more local APIC NMI entries than MaxNMIs; the rest are ignored"
	}
	t.NMIs[t.NNMIs] = n
	t.NNMIs++
	return ""
}

// HPET description table (IA-PC HPET Specification 1.0a, §3.2.4): event
// timer block ID u32 at 36, the base address as a Generic Address
// Structure at 40 (address space u8, then the u64 address at 44), the HPET
// number at 52 and the minimum clock tick u16 at 53.
const (
	hpetIDOff        = 36
	hpetAddrSpaceOff = 40
	hpetAddrOff      = 44
	hpetMinTickOff   = 53
	hpetLen          = 56
	gasSystemMemory  = 0
)

func parseHPET(m Mem, pa, n uint64, t *Tables) string {
	if n < hpetLen {
		return "acpi: skipped the HPET table: too short"
	}
	if t.HaveHPET {
		return "" // the first HPET is the one the kernel uses
	}
	if m.U8(pa+hpetAddrSpaceOff) != gasSystemMemory {
		return "acpi: skipped the HPET table: its registers are not in memory space"
	}
	a := m.U64(pa + hpetAddrOff)
	if a == 0 {
		return "acpi: skipped the HPET table: null base address"
	}
	t.HaveHPET = true
	t.HPETAddr = a
	t.HPETID = m.U32(pa + hpetIDOff)
	t.HPETMinTick = u16(m, pa+hpetMinTickOff)
	return ""
}
