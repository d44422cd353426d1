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

// istSize is the size of each IST stack. The istReserve bytes above the
// (16-byte aligned) IST pointer are not stack: their last word holds the
// address of the CPU's block, which the
// entry code of interrupts reads at a fixed offset from the frame the CPU
// pushed (see "Per-CPU data" in entry_amd64.s); TSS.IST points below.
const (
	istSize    = 8 << 10
	istReserve = 16
)

// gdtEntries: the six segment descriptors, then a 16-byte TSS descriptor
// per CPU (selTSS + 16*i for CPU i).
const gdtEntries = selTSS/8 + 2*MaxCPUs

var gdtr [2]uint64

// tssSelector is CPU i's task register selector.
func tssSelector(i int) uint16 { return uint16(selTSS + 16*i) }

// initGDT fills in the descriptors every CPU shares (once, on the
// bootstrap processor) and the GDTR value all of them load.
func initGDT() {
	code := uint64(descPresent | descUser | descCode | descWritable | descAccessed | descLong | descGran | descLimitMax)
	data := uint64(descPresent | descUser | descWritable | descAccessed | descDB | descGran | descLimitMax)
	entry.gdt[0] = 0
	entry.gdt[SelKernelCode>>3] = code
	entry.gdt[SelKernelData>>3] = data
	entry.gdt[selUser32>>3] = 0
	entry.gdt[SelUserData>>3] = data | descDPL3
	entry.gdt[SelUserCode>>3] = code | descDPL3
	p := uintptr(unsafe.Pointer(&entry.gdt[0]))
	gdtr[0] = uint64(len(entry.gdt)*8-1) | uint64(p)<<16
	gdtr[1] = uint64(p) >> 48
}

// loadCPUTables gives CPU i (the running one) its TSS and IST stacks,
// loads the shared GDT and reloads every segment register, then points
// GS at the CPU's block (loading the null GS selector cleared the base).
func loadCPUTables(i int) {
	c := &entry.cpus[i]
	for k := 1; k <= numIST; k++ {
		// The CPU aligns the stack pointer to 16 bytes when it switches
		// to an IST stack (SDM Vol. 3A §7.14.2): the pointer is aligned
		// already, so the frame starts exactly there.
		ist := (uintptr(unsafe.Pointer(&c.ist[k-1][0])) + istSize - istReserve) &^ 15
		*(*uint64)(unsafe.Pointer(ist + istReserve - 8)) = c.percpu.self
		c.tss.ist[k-1] = [2]uint32{uint32(ist), uint32(ist >> 32)}
	}
	c.tss.iomapOff = uint16(unsafe.Sizeof(c.tss)) // no I/O bitmap: ring 3 gets #GP on IN/OUT
	base := uint64(uintptr(unsafe.Pointer(&c.tss)))
	limit := uint64(unsafe.Sizeof(c.tss) - 1)
	// A 16-byte system descriptor, type 9 = available 64-bit TSS (SDM Vol. 3A §8.2.3).
	d := int(tssSelector(i)) >> 3
	entry.gdt[d] = limit&0xffff | (base&0xffffff)<<16 | 9<<40 | descPresent | (limit>>16&0xf)<<48 | (base>>24&0xff)<<56
	entry.gdt[d+1] = base >> 32
	lgdt(uintptr(unsafe.Pointer(&gdtr[0])))
	reloadSegments()
	ltr(tssSelector(i))
	setGSBases(c.percpu.self)
}

// setGSBases loads GS base and IA32_KERNEL_GS_BASE with a CPU's block:
// the state of ring 0 (entry_amd64.s).
func setGSBases(p uint64) {
	Wrmsr(MSRGSBase, p)
	Wrmsr(MSRKernelGSBase, p)
}
