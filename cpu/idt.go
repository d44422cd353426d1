package cpu

import "unsafe"

// gate is a 64-bit IDT gate descriptor (SDM Vol. 3A §7.14.1, figure 7-8).
type gate struct {
	offLo    uint16
	selector uint16
	ist      uint8
	attr     uint8 // P | DPL | type
	offMid   uint16
	offHi    uint32
	_        uint32
}

const (
	gateInterrupt = 0x8e // present, DPL 0, 64-bit interrupt gate (clears IF)
	gateDPL3      = 0x60 // INT3 and INTO may be used from ring 3 (SDM Vol. 3A §7.12.1.1)
)

// Exception vectors (SDM Vol. 3A §7.15).
const (
	VectorDE  = 0
	VectorDB  = 1
	VectorNMI = 2
	VectorBP  = 3
	VectorOF  = 4
	VectorBR  = 5
	VectorUD  = 6
	VectorNM  = 7
	VectorDF  = 8
	VectorTS  = 10
	VectorNP  = 11
	VectorSS  = 12
	VectorGP  = 13
	VectorPF  = 14
	VectorMF  = 16
	VectorAC  = 17
	VectorMC  = 18
	VectorXM  = 19
	VectorVE  = 20
	VectorCP  = 21
)

// #PF error code bits (SDM Vol. 3A §5.7, figure 5-12).
const (
	PFPresent = 1 << 0
	PFWrite   = 1 << 1
	PFUser    = 1 << 2
	PFRsvd    = 1 << 3
	PFFetch   = 1 << 4
	PFPK      = 1 << 5
)

var idtr [2]uint64

const stubSize = 16

func setGate(v int, pc uintptr, ist uint8) {
	entry.idt[v] = gate{
		offLo:    uint16(pc),
		selector: SelKernelCode,
		ist:      ist,
		attr:     gateInterrupt,
		offMid:   uint16(pc >> 16),
		offHi:    uint32(pc >> 32),
	}
}

// initIDT points every vector at its stub. Stubs are 16 bytes apart; the
// check below catches a stub that outgrew its slot.
func initIDT() {
	base := vectorStubsPC()
	for v := 0; v < 256; v++ {
		pc := base + uintptr(v)*stubSize
		if op := *(*byte)(unsafe.Pointer(pc)); op != 0x6a && op != 0x68 {
			HaltForever() // a stub is not where it must be: the IDT would be wrong
		}
		ist := uint8(istEntry)
		switch v {
		case VectorPF:
			ist = istPF
		case VectorDB:
			ist = istDB
		}
		setGate(v, pc, ist)
	}
	fatal := fatalStubsPC()
	entry.idt[VectorBP].attr |= gateDPL3
	entry.idt[VectorOF].attr |= gateDPL3
	setGate(VectorDF, fatal, istDF)
	setGate(VectorMC, fatal+stubSize, istMC)
	setGate(VectorNMI, nmiEntryPC(), istNMI)

	p := uintptr(unsafe.Pointer(&entry.idt[0]))
	idtr[0] = uint64(len(entry.idt)*16-1) | uint64(p)<<16
	idtr[1] = uint64(p) >> 48
	lidt(uintptr(unsafe.Pointer(&idtr[0])))
}

var exceptionNames = [...]string{
	"#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow",
	"#BR bound range", "#UD invalid opcode", "#NM device not available",
	"#DF double fault", "coprocessor segment overrun", "#TS invalid TSS",
	"#NP segment not present", "#SS stack fault", "#GP general protection",
	"#PF page fault", "reserved 15", "#MF x87 error", "#AC alignment check",
	"#MC machine check", "#XM SIMD exception", "#VE virtualization",
	"#CP control protection",
}

// vectorName names an exception vector for reports.
func vectorName(v uint64) string {
	if v < uint64(len(exceptionNames)) {
		return exceptionNames[v]
	}
	if v == VectorSyscall {
		return "syscall"
	}
	if v < 32 {
		return "reserved exception"
	}
	return "interrupt"
}

// VectorName is vectorName for other packages.
func VectorName(v uint64) string { return vectorName(v) }
