package mm

import "beelzebox/cpu"

// The kernel's virtual layout.
//
//	0 - 64 KiB                        unmapped (null pointers fault)
//	64 KiB - 16 MiB                   the low guest area: guests linked at 0x400000
//	16 MiB - end of image             the kernel image, identity-mapped
//	0xFEC00000 - 0xFEFFFFFF            MMIO (IOAPIC, HPET, LAPIC), identity, uncached
//	4 GiB - 64 GiB                    the Go runtime's unhinted mappings
//	64 GiB - 512 GiB                  GuestWindow: placed sandbox guests
//	above 512 GiB                     the runtime's hinted heap arenas
//	PhysBase +                        direct map of the RAM of the memory map
//	StackBase +                       kernel memory (stacks, saved state,
//	                                  views of guest frames), guard pages between
//
// zones.go keeps this as the owner record every placement is checked
// against. A level 3 guest's address space (userspace.go) is another
// tree: its own pages anywhere in the lower half, and of the kernel only
// the entry pages (cpu.EntryPages), at their addresses here.
const (
	PhysBase       = 0xffff_8000_0000_0000
	StackBase      = 0xffff_c000_0000_0000
	RuntimeLo      = 4 << 30
	GuestWindowLo  = 64 << 30
	GuestWindowHi  = 512 << 30
	userTop        = 1 << 47
	lowMemoryLimit = 1 << 20
)

var (
	// Phys is the frame allocator.
	Phys Frames
	// Kernel is the kernel's address space.
	Kernel AddressSpace
	// Runtime is the anonymous memory of the Go runtime in Kernel.
	Runtime Anon

	physOffset uintptr // 0 until the direct map is live, then PhysBase
	stackNext  uintptr = StackBase
)

// PhysAddr returns the kernel virtual address of physical address pa.
func PhysAddr(pa uint64) uintptr { return uintptr(pa) + physOffset }

// kernelTables implements TableMemory for kernel-managed address spaces.
type kernelTables struct{}

func (kernelTables) Table(pa uint64) *[512]PTE { return (*[512]PTE)(ptr(PhysAddr(pa))) }

func (kernelTables) NewTable() (uint64, bool) {
	pa, ok := Phys.Alloc()
	if ok {
		clear((*[512]PTE)(ptr(PhysAddr(pa)))[:])
	}
	return pa, ok
}

// FreeTable invalidates the paging-structure caches before the frame can
// be reused: INVLPG invalidates, besides the TLB entries for va, all
// paging-structure-cache entries of the current PCID whatever their
// linear address (SDM Vol. 3A §4.10.4.1), so no cached walk can go
// through the table after it holds something else. The caller has
// already cleared the entry that pointed to the table.
func (kernelTables) FreeTable(pa uint64, va uintptr) {
	cpu.Invlpg(va)
	Remote(AllCPUs, 0, va, va+PageSize)
	Phys.Free(pa)
}

// Remote makes the other CPUs of the set cpus (a bit per CPU) drop their
// TLB entries for [lo, hi) of PCID pcid (0: the kernel's address space;
// hi = ^0: every entry of the PCID) after the running CPU dropped its
// own; it returns when they have. The kernel installs it (kernel/smp.go);
// it does nothing while one CPU runs.
var Remote = func(cpus, pcid uint64, lo, hi uintptr) {}

// AllCPUs is the set of every CPU, for Remote.
const AllCPUs = ^uint64(0)

// Tables is the TableMemory of address spaces built from Phys.
var Tables TableMemory = kernelTables{}

// Image describes the kernel image in memory (from linker symbols).
type Image struct {
	Start, TextEnd, RodataEnd, End uint64
}

// Init builds the frame allocator from the memory map and the kernel's
// address space, and switches to it. It runs before the Go runtime, on
// the loader's identity map. The map's reserved ranges (modules, the
// loader's structures) and the kernel image stay out of the allocator.
// minBytes is the least available memory the kernel accepts. It returns
// "" or what is wrong.
func Init(mem *MemoryMap, img Image, minBytes uint64) string {
	top := mem.TopAvailable()
	if avail := mem.TotalAvailable(); avail < minBytes {
		return "not enough memory"
	}
	nframes := int(top / PageSize)
	words := BitmapWords(nframes)
	// The allocator's own memory: the bitmap, then the reference counts.
	ownBytes := uint64(words*8 + 2*nframes)

	// It goes in the first available place clear of everything the
	// loader left.
	busy := func(s, e uint64) bool {
		return s < lowMemoryLimit || s < img.End && img.Start < e || mem.IsReserved(s, e)
	}
	var bitmapAt uint64
	for _, r := range mem.Regions[:mem.NRegions] {
		if r.Type != RegionAvailable {
			continue
		}
		for s := (r.Base + PageSize - 1) &^ (PageSize - 1); s+ownBytes <= r.End() && s < 4<<30; s += PageSize {
			if !busy(s, s+ownBytes) {
				bitmapAt = s
				break
			}
		}
		if bitmapAt != 0 {
			break
		}
	}
	if bitmapAt == 0 {
		return "no room for the frame bitmap and reference counts"
	}
	Phys.Init(unsafeWords(uintptr(bitmapAt), words), unsafeCounts(uintptr(bitmapAt)+uintptr(words*8), nframes), nframes)
	for _, r := range mem.Regions[:mem.NRegions] {
		if r.Type == RegionAvailable {
			Phys.FreeRange(r.Base, r.End())
		}
	}
	Phys.ReserveRange(0, lowMemoryLimit)
	Phys.ReserveRange(img.Start, img.End)
	Phys.ReserveRange(bitmapAt, bitmapAt+ownBytes)
	for _, m := range mem.Reserved[:mem.NReserved] {
		Phys.ReserveRange(m.Start, m.End)
	}

	root, ok := Tables.NewTable()
	if !ok {
		return "out of memory building page tables"
	}
	Kernel = AddressSpace{Root: root, Mem: Tables}

	// Direct map of RAM only: device holes and firmware areas between
	// the available regions are never mapped write-back.
	for _, r := range mem.Regions[:mem.NRegions] {
		if r.Type == RegionAvailable && !mapDirect(r.Base, r.End()) {
			return "out of memory building the direct map"
		}
	}
	// The kernel image: text RX, read-only data R, the rest RW. Not
	// global, like everything of the kernel in the lower half: a guest's
	// address space (level 3) uses those addresses for its own pages,
	// and a global TLB entry would outlive the switch to it, whatever
	// its PCID (SDM Vol. 3A §4.10.2.4).
	for va := img.Start &^ (PageSize - 1); va < img.End; va += PageSize {
		f := Present
		switch {
		case va < img.TextEnd:
		case va+PageSize <= img.RodataEnd:
			// Only whole pages: the linker starts the writable segment
			// in the middle of the last read-only page.
			f |= NoExec
		default:
			f |= Writable | NoExec
		}
		if Kernel.Map(uintptr(va), va, f) != nil {
			return "out of memory mapping the kernel image"
		}
	}
	setZones(uintptr(img.Start&^(PageSize-1)), uintptr(img.End+PageSize-1)&^(PageSize-1))
	Runtime = Anon{AS: &Kernel, Frames: &Phys, Phys: PhysAddr, Flush: FlushRange}
	Runtime.InitAnon(RuntimeLo, GuestWindowLo, GuestWindowHi, userTop)

	cpu.SetKernelSpace(root)
	physOffset = PhysBase
	// The loader's identity map is gone: reach the bitmap and the counts
	// through the direct map from now on.
	Phys.bitmap = unsafeWords(PhysAddr(bitmapAt), words)
	Phys.refs = unsafeCounts(PhysAddr(bitmapAt)+uintptr(words*8), nframes)
	return ""
}

// mapDirect maps the whole pages of RAM in [start, end) into the direct
// map: 2 MiB pages where a whole aligned 2 MiB is inside, 4 KiB pages at
// the edges. Pages mapped already (regions that share a 2 MiB page) are
// left as they are.
func mapDirect(start, end uint64) bool {
	direct := Present | Writable | Global | NoExec
	start = (start + PageSize - 1) &^ (PageSize - 1)
	end &^= PageSize - 1
	for pa := start; pa < end; {
		va := uintptr(PhysBase + pa)
		if pa%PageSize2M == 0 && pa+PageSize2M <= end {
			if e, _ := Kernel.Lookup(va); e == nil && Kernel.MapHuge(va, pa, direct) != nil {
				return false
			}
			pa += PageSize2M
			continue
		}
		// The 4 KiB pages up to the next 2 MiB boundary or the end.
		n := int(min(end, (pa+PageSize2M)&^(PageSize2M-1))-pa) / PageSize
		if Kernel.MapMissing(va, pa, n, direct) != nil {
			return false
		}
		pa += uint64(n) * PageSize
	}
	return true
}

// FlushRange invalidates the pages of [lo, hi) on every CPU, with one
// round of shootdown IPIs for all of them.
func FlushRange(lo, hi uintptr) {
	const flushAllAbove = 64 // pages: a whole flush costs less
	if hi-lo > flushAllAbove*PageSize {
		cpu.FlushAll()
	} else {
		for va := lo &^ (PageSize - 1); va < hi; va += PageSize {
			cpu.Invlpg(va)
		}
	}
	Remote(AllCPUs, 0, lo, hi)
}

// MapMMIO identity-maps [pa, pa+size) uncached for device registers and
// returns the virtual address (equal to pa, so drivers that keep 32-bit
// register addresses work). Mapping a page twice is fine.
func MapMMIO(pa uint64, size uint64) uintptr {
	for p := pa &^ (PageSize - 1); p < pa+size; p += PageSize {
		if e, _ := Kernel.Lookup(uintptr(p)); e != nil {
			continue
		}
		Kernel.Map(uintptr(p), p, Present|Writable|CacheDisable|WriteThrough|NoExec) // lower half: not global
	}
	return uintptr(pa)
}

// kernelRange hands out size bytes of upper-half address space above an
// unmapped guard page. Addresses are not reused: the space is 64 TiB, and
// the page tables of freed ranges are pruned.
func kernelRange(size uintptr) (lo, hi uintptr, ok bool) {
	if stackNext+PageSize+size > StackBase+kernelMemorySpan {
		return 0, 0, false // kernel memory addresses exhausted
	}
	lo = stackNext + PageSize
	stackNext = lo + size
	return lo, lo + size, true
}

// AllocKernel maps size bytes (a multiple of the page size) of zeroed
// kernel memory in the upper half, with an unmapped guard page below it,
// and returns its bounds. Kernel stacks come from here, and so does
// memory the entry code touches with a user FS base loaded (a guest's
// saved state), which must never take a page fault.
func AllocKernel(size uintptr) (lo, hi uintptr, ok bool) {
	lo, hi, ok = kernelRange(size)
	if !ok {
		return 0, 0, false
	}
	for va := lo; va < hi; va += PageSize {
		pa, got := Phys.Alloc()
		if !got || Kernel.Map(va, pa, Present|Writable|NoExec|Global) != nil {
			if got {
				Phys.Free(pa)
			}
			FreeKernel(lo, va)
			return 0, 0, false
		}
		clear((*[PageSize]byte)(ptr(PhysAddr(pa)))[:])
	}
	return lo, hi, true
}

// FreeKernel unmaps memory from AllocKernel, frees its frames and the
// page tables that map nothing any more.
func FreeKernel(lo, hi uintptr) { unmapKernel(lo, hi, true) }

// MapKernelView maps the given frames, in order, at fresh upper-half
// addresses, supervisor read-write and never executable: the kernel's
// view of memory that is also mapped at a user address, so that kernel
// code never touches user pages (SMAP). It returns the view's bounds.
func MapKernelView(frames []uint64) (lo, hi uintptr, ok bool) {
	lo, hi, ok = kernelRange(uintptr(len(frames)) * PageSize)
	if !ok {
		return 0, 0, false
	}
	for i, pa := range frames {
		va := lo + uintptr(i)*PageSize
		if Kernel.Map(va, pa, Present|Writable|NoExec|Global) != nil {
			UnmapKernelView(lo, va)
			return 0, 0, false
		}
	}
	return lo, hi, true
}

// UnmapKernelView removes a view from MapKernelView; the frames stay with
// their owner.
func UnmapKernelView(lo, hi uintptr) { unmapKernel(lo, hi, false) }

func unmapKernel(lo, hi uintptr, freeFrames bool) {
	for va := lo; va < hi; va += PageSize {
		if e, ok := Kernel.Unmap(va); ok {
			if freeFrames {
				Phys.Free(e.Addr())
			}
			cpu.Invlpg(va)
		}
	}
	Remote(AllCPUs, 0, lo, hi)
	Kernel.Prune(lo, hi)
}

// eptTables is the TableMemory of EPT trees: tables from Phys, freed
// without INVLPG (a guest-physical address is no linear address of the
// kernel's; the VM's owner invalidates with INVEPT before freeing).
type eptTables struct{ kernelTables }

func (eptTables) FreeTable(pa uint64, _ uintptr) { Phys.Free(pa) }

// EPTTables is the TableMemory of EPT trees built from Phys. It runs in
// handler context.
var EPTTables TableMemory = eptTables{}

// KernelMemoryTables counts the page tables that map the memory of
// AllocKernel (kernel stacks and records): how many there are depends on
// where in its range allocations fall, not on how much is allocated, so
// leak checks leave them out.
// The count covers a fixed span, all the bump allocator can reach, so a
// table is counted from the moment it exists.
func KernelMemoryTables() int { return Kernel.TablesIn(StackBase, StackBase+kernelMemorySpan) }

// kernelMemorySpan bounds the addresses AllocKernel hands out (32 TiB).
const kernelMemorySpan = 1 << 45
