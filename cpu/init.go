package cpu

import "unsafe"

// Control register bits (SDM Vol. 3A §2.5).
const (
	CR0NE       = 1 << 5
	CR0WP       = 1 << 16
	CR4PAE      = 1 << 5
	CR4PGE      = 1 << 7
	CR4OSXSAVE  = 1 << 18
	CR4PCIDE    = 1 << 17
	CR4FSGSBASE = 1 << 16
	CR4SMEP     = 1 << 20
	CR4SMAP     = 1 << 21
	CR4PKE      = 1 << 22
	CR4UMIP     = 1 << 11
	CR4VMXE     = 1 << 13
)

// MSRs used here (SDM Vol. 4 table 2-2).
const (
	MSREFER         = 0xC0000080
	MSRSTAR         = 0xC0000081
	MSRLSTAR        = 0xC0000082
	MSRCSTAR        = 0xC0000083
	MSRFMASK        = 0xC0000084
	MSRFSBase       = 0xC0000100
	MSRGSBase       = 0xC0000101
	MSRKernelGSBase = 0xC0000102
	MSRTSCAux       = 0xC0000103
	MSRPAT          = 0x277
	MSRSysenterCS   = 0x174
	MSRSysenterESP  = 0x175
	MSRSysenterEIP  = 0x176
	EFERSCE         = 1 << 0
	EFERNXE         = 1 << 11
)

// EarlyInit points GS at the bootstrap processor's block, which the rest
// of the package reaches through this(). It is the first thing the kernel
// does.
func EarlyInit() {
	p := &entry.cpus[0].percpu
	p.self = uint64(uintptr(unsafe.Pointer(p)))
	setGSBases(p.self)
}

// Init brings the bootstrap processor into the state the kernel runs in
// and sets up what every CPU shares: the GDT's segment descriptors, the
// IDT, the XSAVE layout. It runs once, before the Go runtime starts.
func Init() {
	detectFeatures()
	kernelG[gM] = uint64(uintptr(unsafe.Pointer(&kernelM[0])))
	checkEntryText()
	if !CPU.XSAVE {
		// Every x86-64 CPU has FXSAVE, but the kernel relies on XSAVE.
		HaltForever()
	}
	initGDT()
	initIDT()
	initThisCPU(0)
	_, b, _, _ := CPUID(0xD, 0)
	XsaveSize = (uintptr(b) + 63) &^ 63
	this().xsize = uint64(XsaveSize)
}

// InitAP brings application processor i, running this on the stack it
// was started with, into the bootstrap processor's state (the same
// features: the kernel assumes every CPU has what the first has).
func InitAP(i int) {
	p := &entry.cpus[i].percpu
	p.self = uint64(uintptr(unsafe.Pointer(p)))
	p.index = uint64(i)
	setGSBases(p.self)
	lidt(uintptr(unsafe.Pointer(&idtr[0])))
	initThisCPU(i)
	p.xsize = uint64(XsaveSize)
	p.kernelCR3 = entry.cpus[0].percpu.kernelCR3
	SetCR3(p.kernelCR3)
}

// initThisCPU gives the running CPU, number i, its tables and the
// kernel's control registers and MSRs: its own TSS with IST stacks, the
// IDT, XSAVE for every user state component but PKRU, protection keys
// (all keys open to the kernel), SMEP, SMAP, NX, write protection in
// ring 0, and the SYSCALL MSRs.
func initThisCPU(i int) {
	p := &entry.cpus[i].percpu
	p.kernelG = uint64(uintptr(unsafe.Pointer(&kernelG[0])))
	loadCPUTables(i)
	initXSAVE()
	cr4 := CR4() | CR4PGE
	if CPU.PKU {
		cr4 |= CR4PKE
	}
	if CPU.SMEP {
		cr4 |= CR4SMEP
	}
	// SMAP: kernel data accesses to user pages fault (SDM Vol. 3A §4.6).
	// The kernel reaches guest memory only through kernel views of its
	// frames (the direct map, mm.MapKernelView), so it never needs STAC;
	// RFLAGS.AC, which would lift SMAP, is clear at every entry
	// (entry_amd64.s).
	if CPU.SMAP {
		cr4 |= CR4SMAP
	}
	// UMIP: SGDT, SIDT, SLDT, SMSW and STR fault at CPL 3 instead of
	// telling guests where the kernel's tables are.
	if CPU.UMIP {
		cr4 |= CR4UMIP
	}
	SetCR4(cr4)
	if CPU.PKU {
		p.pke = 1
		Wrpkru(0)
	}
	p.mxcsr = DefaultMXCSR
	// MDS: where the CPU may leak its buffers across the return to ring 3
	// and has VERW clear them, every return to ring 3 does (the Linux
	// mitigation; SDM "Microarchitectural Data Sampling" guidance).
	if CPU.MDClear && CPU.Exposed(MDS) {
		p.verwSel = SelKernelData
	}
	// No hardware breakpoint may fire in the kernel, least of all in the
	// SYSCALL entry before its stack switch (the MOV SS / SYSCALL class
	// of CVE-2018-8897): DR7 to its reset value, breakpoints off, and the
	// status in DR6 cleared (SDM Vol. 3B §19.2).
	SetDR7(0x400)
	SetDR6(0xffff0ff0)
	// NE: x87 errors raise #MF rather than the legacy FERR# interrupt.
	SetCR0(CR0() | CR0WP | CR0NE)
	// PCIDs tag TLB entries with CR3[11:0]; the kernel runs as PCID 0 (CR3
	// is page aligned, as CR4.PCIDE requires when it is set) and level 3
	// address spaces will take others.
	if CPU.PCID {
		SetCR4(CR4() | CR4PCIDE)
	}
	efer := Rdmsr(MSREFER) | EFERSCE
	if CPU.NX {
		efer |= EFERNXE
	}
	Wrmsr(MSREFER, efer)
	Wrmsr(MSRSTAR, uint64(selUser32)<<48|uint64(SelKernelCode)<<32)
	Wrmsr(MSRLSTAR, uint64(syscallEntryPC()))
	// SYSCALL clears IF, TF, DF, AC and NT, so entries start in a known state.
	Wrmsr(MSRFMASK, FlagIF|FlagTF|FlagDF|FlagAC|1<<14)
	// IA32_TSC_AUX is the CPU's number, as Linux sets it (node 0 in bits
	// 12 and up): RDTSCP and RDPID tell code, guests' included, which CPU
	// it ran on.
	if CPU.RDTSCP {
		Wrmsr(MSRTSCAux, uint64(i))
	}
}

// DisablePCID makes the kernel run as if the CPU had no PCIDs: address
// spaces switch with a flushing CR3 reload, as on CPUs without them (the
// nopcid command-line word, to measure and test that path where PCIDs
// exist). It must run before the kernel's CR3 value is set (mm.Init).
func DisablePCID() {
	CPU.PCID = false
	SetCR4(CR4() &^ CR4PCIDE)
}
