package cpu

import "unsafe"

// Segment selectors. The order is fixed by SYSCALL and SYSRET (SDM Vol. 2B
// "SYSRET"): SYSCALL loads CS from STAR[47:32] and SS from that plus 8;
// SYSRET to 64-bit mode loads CS from STAR[63:48]+16 and SS from
// STAR[63:48]+8, both with RPL 3. So the user data descriptor must sit
// right below the user 64-bit code descriptor, after the slot SYSRET to
// compatibility mode would use. That slot stays null: with no 32-bit code
// segment a guest cannot far-jump into compatibility mode, where SYSCALL
// would enter the kernel through IA32_CSTAR on AMD processors.
const (
	SelKernelCode = 0x08
	SelKernelData = 0x10
	selUser32     = 0x18 // STAR[63:48] base for SYSRET; a null descriptor
	SelUserData   = 0x20 | 3
	SelUserCode   = 0x28 | 3
	selTSS        = 0x30
)

// Segment descriptor bits (SDM Vol. 3A §3.4.5).
const (
	descAccessed = 1 << 40
	descWritable = 1 << 41
	descCode     = 1 << 43
	descUser     = 1 << 44 // S: code or data (not system)
	descDPL3     = 3 << 45
	descPresent  = 1 << 47
	descLong     = 1 << 53
	descDB       = 1 << 54
	descGran     = 1 << 55
	descLimitMax = 0xffff | 0xf<<48
)

// tss is the 64-bit task-state segment (SDM Vol. 3A §8.7, figure 8-11).
// Its 64-bit fields are not naturally aligned, hence the split halves.
type tss struct {
	_        uint32
	rsp      [3][2]uint32 // RSP0-2, low and high halves
	_        [2]uint32
	ist      [7][2]uint32 // IST1-7
	_        [2]uint32
	_        uint16
	iomapOff uint16
}

// Interrupt stack table slots (1-based, as in the IDT gate's IST field).
const (
	istEntry = 1 // every vector that continues on the kernel stack
	istDF    = 2 // #DF: the kernel stack may be what failed
	istNMI   = 3
	istMC    = 4
	istPF    = 5 // #PF, so a fault in the entry path itself is reported
	istDB    = 6 // #DB: its trap can arrive in the SYSCALL entry before the stack switch
	numIST   = 6
)

const istSize = 8 << 10

var gdtr [2]uint64

func setIST(i int, top uintptr) {
	entry.tss.ist[i-1] = [2]uint32{uint32(top), uint32(top >> 32)}
}

// initGDT installs the kernel's GDT and TSS and reloads every segment
// register.
func initGDT() {
	code := uint64(descPresent | descUser | descCode | descWritable | descAccessed | descLong | descGran | descLimitMax)
	data := uint64(descPresent | descUser | descWritable | descAccessed | descDB | descGran | descLimitMax)
	entry.gdt[0] = 0
	entry.gdt[SelKernelCode>>3] = code
	entry.gdt[SelKernelData>>3] = data
	entry.gdt[selUser32>>3] = 0
	entry.gdt[SelUserData>>3] = data | descDPL3
	entry.gdt[SelUserCode>>3] = code | descDPL3

	for i := 1; i <= numIST; i++ {
		setIST(i, uintptr(unsafe.Pointer(&entry.ist[i-1][0]))+istSize)
	}
	entry.tss.iomapOff = uint16(unsafe.Sizeof(entry.tss)) // no I/O bitmap: ring 3 gets #GP on IN/OUT
	base := uint64(uintptr(unsafe.Pointer(&entry.tss)))
	limit := uint64(unsafe.Sizeof(entry.tss) - 1)
	// A 16-byte system descriptor, type 9 = available 64-bit TSS (SDM Vol. 3A §8.2.3).
	entry.gdt[selTSS>>3] = limit&0xffff | (base&0xffffff)<<16 | 9<<40 | descPresent | (limit>>16&0xf)<<48 | (base>>24&0xff)<<56
	entry.gdt[selTSS>>3+1] = base >> 32

	p := uintptr(unsafe.Pointer(&entry.gdt[0]))
	gdtr[0] = uint64(len(entry.gdt)*8-1) | uint64(p)<<16
	gdtr[1] = uint64(p) >> 48
	lgdt(uintptr(unsafe.Pointer(&gdtr[0])))
	reloadSegments()
	ltr(selTSS)
}
