package cpu

import "unsafe"

// The entry pages are what a guest's address space maps of the kernel
// (level 3, the KPTI idea): the few supervisor pages the CPU and the entry
// code touch between a ring-3 event and the switch to the kernel's page
// tables, and between the switch back and the return to ring 3.
//
//   - Entry text: the pages spanning entryTextStart..entryTextEnd (the
//     entry code, entry_amd64.s, the instruction wrappers assembled
//     between it and the vector stubs, and the stubs; checked at boot).
//   - Entry data: the pages spanning entry's fields: the per-CPU block
//     (with the trampoline frame the return path loads last), the GDT,
//     the TSS and the IDT, which the CPU reads at every interrupt, IRETQ
//     and SYSRET, and the IST stacks the CPU pushes exception frames on;
//     the per-CPU block, TSS and IST stacks once for every CPU.
//     entry is padded by a page on each side, so those pages hold nothing
//     else of the kernel.
//
// Both are mapped supervisor-only at their kernel addresses in every
// guest space; a guest may not map anything there. Nothing else of the
// kernel is mapped in a guest's space: not its image, not the direct map,
// not the Go heap, not the kernel stacks, not the UserContexts (the entry
// code switches CR3 before it saves into one, and copies what the last
// instructions of the return need into the per-CPU block before it
// switches to the guest's CR3).
type entryData struct {
	_   [4096]byte
	gdt [gdtEntries]uint64
	idt [256]gate
	// stop, once set, makes every NMI halt the CPU it arrives on: a
	// panicking CPU sets it and sends the others an NMI (StopOthers).
	stop uint64
	cpus [MaxCPUs]cpuEntry
	_    [4096]byte
}

// cpuEntry is one CPU's part of the entry data: its per-CPU block (what
// GS points at in ring 0), its TSS and its IST stacks.
type cpuEntry struct {
	percpu perCPU
	tss    tss
	ist    [numIST][istSize]byte
}

// MaxCPUs is how many CPUs the kernel runs on; a machine's others stay
// offline. Each costs its block, TSS and IST stacks (about 50 KiB) in the
// kernel image, and every guest address space maps those of the CPUs
// that are online.
const MaxCPUs = 32

var entry entryData

// entryCPUs is how many CPUs' blocks the entry pages span: the CPUs
// brought up before the first guest space was built (SetEntryCPUs).
var entryCPUs = 1

// SetEntryCPUs makes the entry pages span the blocks of CPUs 0 to n-1.
// It runs at boot, before any guest address space maps the entry pages.
func SetEntryCPUs(n int) { entryCPUs = max(1, min(n, MaxCPUs)) }

// IDTAddr is the IDT's address, in the entry data: a part of it that
// never changes after boot (the tests store to it from guests).
func IDTAddr() uintptr { return uintptr(unsafe.Pointer(&entry.idt)) }

// Range is a span of virtual addresses, [Start, End).
type Range struct{ Start, End uintptr }

func entryTextStart()
func entryTextEnd()
func entryTextStartPC() uintptr
func entryTextEndPC() uintptr
func enterUserPC() uintptr

// EntryPages returns the page-aligned spans of kernel memory that every
// address space must map for the entry code to work: text (executable,
// read-only) and data (writable).
func EntryPages() (text, data Range) {
	const page = 4096
	text = Range{entryTextStartPC() &^ (page - 1), (entryTextEndPC() + page - 1) &^ (page - 1)}
	lo := uintptr(unsafe.Pointer(&entry.gdt))
	hi := uintptr(unsafe.Pointer(&entry.cpus[entryCPUs-1])) + unsafe.Sizeof(cpuEntry{})
	data = Range{lo &^ (page - 1), (hi + page - 1) &^ (page - 1)}
	return text, data
}

// checkEntryText stops the kernel if an entry point was linked outside
// the entry text: a guest's space would not map it, and the first event
// in ring 3 would fault with nothing to handle it.
func checkEntryText() {
	text, _ := EntryPages()
	for _, pc := range []uintptr{syscallEntryPC(), vectorStubsPC(), fatalStubsPC(), nmiEntryPC(), enterUserPC()} {
		if pc < text.Start || pc >= text.End {
			panic("cpu: an entry point was linked outside the entry text")
		}
	}
}
