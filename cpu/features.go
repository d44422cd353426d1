package cpu

// Features is the CPUID feature table: what the processor offers that the
// kernel uses or reports (SDM Vol. 2A "CPUID", Vol. 3C App. A for VMX).
type Features struct {
	Vendor      [12]byte
	MaxLeaf     uint32
	XSAVE       bool // CPUID.1:ECX.XSAVE[26]
	AVX         bool // CPUID.1:ECX.AVX[28]
	X2APIC      bool // CPUID.1:ECX.x2APIC[21]
	VMX         bool // CPUID.1:ECX.VMX[5]
	PCID        bool // CPUID.1:ECX.PCID[17]
	TSCDeadline bool // CPUID.1:ECX[24]
	APIC        bool // CPUID.1:EDX.APIC[9]
	FSGSBASE    bool // CPUID.(7,0):EBX[0]
	SMEP        bool // CPUID.(7,0):EBX[7]
	INVPCID     bool // CPUID.(7,0):EBX[10]
	SMAP        bool // CPUID.(7,0):EBX[20]
	AVX512F     bool // CPUID.(7,0):EBX[16]
	PKU         bool // CPUID.(7,0):ECX.PKU[3]
	UMIP        bool // CPUID.(7,0):ECX.UMIP[2]
	Page1G      bool // CPUID.80000001H:EDX[26]
	NX          bool // CPUID.80000001H:EDX[20]
	RDTSCP      bool // CPUID.80000001H:EDX[27]
	// EPT and VPID are VMX capabilities read from IA32_VMX_PROCBASED_CTLS2
	// (SDM Vol. 3D App. A.3.3), valid only when VMX is set.
	EPT  bool
	VPID bool
	// XCR0Supported is CPUID.(0DH,0):EDX:EAX, the user state components.
	XCR0Supported uint64
	// ArchCapabilities is IA32_ARCH_CAPABILITIES (SDM Vol. 4 table 2-2)
	// where CPUID.(7,0):EDX[29] says it exists, else 0: the CPU's own
	// statement of which transient-execution attacks it is immune to.
	ArchCapabilities uint64
	MDClear          bool // CPUID.(7,0):EDX[10]: VERW clears CPU buffers
}

// IA32_ARCH_CAPABILITIES bits.
const (
	ArchCapRDCLNo = 1 << 0 // not susceptible to rogue data cache load (Meltdown)
	ArchCapMDSNo  = 1 << 5 // not susceptible to microarchitectural data sampling
)

// Transient-execution attacks that matter to levels 1 and 2, which map
// the whole kernel, direct map included, in the page tables guests run on
// (see the README's security notes).
type Attack uint8

const (
	Meltdown Attack = 1 << iota // rogue data cache load, CVE-2017-5754
	MDS                         // microarchitectural data sampling
)

// Exposed reports whether the CPU does not declare itself immune to a.
// AMD processors are affected by neither (AMD's own statement, which
// Linux's vulnerability whitelist follows) and do not enumerate
// IA32_ARCH_CAPABILITIES for them. It does not allocate: cpu.Init uses it
// before the Go runtime runs.
func (f *Features) Exposed(a Attack) bool {
	if f.Vendor != [12]byte{'G', 'e', 'n', 'u', 'i', 'n', 'e', 'I', 'n', 't', 'e', 'l'} {
		return false
	}
	switch a {
	case Meltdown:
		return f.ArchCapabilities&ArchCapRDCLNo == 0
	case MDS:
		return f.ArchCapabilities&ArchCapMDSNo == 0
	}
	return false
}

// CPU is filled in by Init.
var CPU Features

const (
	msrVMXBasic         = 0x480
	msrVMXProcbased     = 0x482
	msrVMXProcbased2    = 0x48B
	msrFeatureControl   = 0x3A
	msrArchCapabilities = 0x10A
	procbasedActivate2  = 1 << 31 // allowed-1 in the high half
	procbased2EPT       = 1 << 1
	procbased2VPID      = 1 << 5
)

func detectFeatures() {
	f := &CPU
	max, b, c, d := CPUID(0, 0)
	f.MaxLeaf = max
	for i := 0; i < 4; i++ {
		f.Vendor[i] = byte(b >> (8 * i))
		f.Vendor[4+i] = byte(d >> (8 * i))
		f.Vendor[8+i] = byte(c >> (8 * i))
	}
	_, _, c1, d1 := CPUID(1, 0)
	f.XSAVE = c1&(1<<26) != 0
	f.AVX = c1&(1<<28) != 0
	f.X2APIC = c1&(1<<21) != 0
	f.VMX = c1&(1<<5) != 0
	f.PCID = c1&(1<<17) != 0
	f.TSCDeadline = c1&(1<<24) != 0
	f.APIC = d1&(1<<9) != 0
	if max >= 7 {
		_, b7, c7, _ := CPUID(7, 0)
		f.FSGSBASE = b7&(1<<0) != 0
		f.SMEP = b7&(1<<7) != 0
		f.INVPCID = b7&(1<<10) != 0
		f.AVX512F = b7&(1<<16) != 0
		f.SMAP = b7&(1<<20) != 0
		f.PKU = c7&(1<<3) != 0
		f.UMIP = c7&(1<<2) != 0
		_, _, _, d7 := CPUID(7, 0)
		f.MDClear = d7&(1<<10) != 0
		if d7&(1<<29) != 0 {
			f.ArchCapabilities = Rdmsr(msrArchCapabilities)
		}
	}
	if maxExt, _, _, _ := CPUID(0x80000000, 0); maxExt >= 0x80000001 {
		_, _, _, de := CPUID(0x80000001, 0)
		f.Page1G = de&(1<<26) != 0
		f.NX = de&(1<<20) != 0
		f.RDTSCP = de&(1<<27) != 0
	}
	if f.XSAVE && max >= 0xD {
		a, _, _, d := CPUID(0xD, 0)
		f.XCR0Supported = uint64(d)<<32 | uint64(a)
	}
	if f.VMX {
		ctls := Rdmsr(msrVMXProcbased)
		if ctls>>32&procbasedActivate2 != 0 {
			ctls2 := Rdmsr(msrVMXProcbased2) >> 32
			f.EPT = ctls2&procbased2EPT != 0
			f.VPID = ctls2&procbased2VPID != 0
		}
	}
}

// VendorString returns the CPUID vendor string.
func (f *Features) VendorString() string { return string(f.Vendor[:]) }
