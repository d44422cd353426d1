package mm

// Anonymous memory for the Go runtime: the mmap, munmap, mprotect and
// madvise the runtime calls, backed page by page when first touched.
//
// The runtime reserves about 1.1 GiB of PROT_NONE address space at start
// and commits pieces of it as it grows; backing a committed range only
// when a page is touched makes the reservations free and the commitments
// cost what is used. The record of what is mapped is a sorted table of
// ranges (a VMA list, as Linux calls it) in static memory: page faults
// consult it from handler context, where nothing can allocate.

// Kind says who owns a range and how its pages come to be.
type Kind uint8

const (
	KindFree     Kind = iota
	KindReserved      // PROT_NONE: address space only
	KindAnon          // backed with zeroed frames on first touch
)

// Range is one entry of the table.
type Range struct {
	Start, End uintptr
	Kind       Kind
	Perm       Perm
}

// maxRanges is the size of the table. Only the runtime's own mappings
// take entries (guests are placed in zones the table never covers, see
// zones.go), so the whole table is the runtime's.
const maxRanges = 1024

// Anon is the table of ranges of one address space and the policy for
// placing new ones.
type Anon struct {
	AS     *AddressSpace
	Frames *Frames
	// Phys converts a physical address to a pointer-sized address through
	// which the kernel can write the frame (the direct map).
	Phys func(pa uint64) uintptr
	// Flush invalidates the TLB entries of [lo, hi) on every CPU that may
	// hold them (one shootdown round for the whole range).
	Flush func(lo, hi uintptr)

	ranges [maxRanges]Range
	n      int
	// Placement: everything the table records lies inside the windows
	// (the runtime's zones); unhinted mappings go to the first free place
	// of the first window from next on, hints are honoured anywhere in
	// the windows where nothing is mapped.
	windows [2]window
	next    uintptr
	Backed  int // frames currently backing anonymous pages
}

// window is an address range the table may place mappings in.
type window struct{ lo, hi uintptr }

// Errno values, as the Linux ABI returns them (negated by the caller).
const (
	ENOMEM = 12
	EINVAL = 22
	EEXIST = 17
)

// InitAnon sets the placement policy: unhinted mappings go to the
// window [lo, hi); hints are honoured there and in [hintLo, hintHi).
// Nothing is ever placed, replaced, changed or freed outside the two.
func (a *Anon) InitAnon(lo, hi, hintLo, hintHi uintptr) {
	a.windows = [2]window{{lo, hi}, {hintLo, hintHi}}
	a.next = lo
}

// inWindows reports whether [start, end) lies inside one window.
func (a *Anon) inWindows(start, end uintptr) bool {
	for _, w := range a.windows {
		if start >= w.lo && end <= w.hi && start < end {
			return true
		}
	}
	return false
}

// Ranges returns the current table (for tests and diagnostics).
func (a *Anon) Ranges() []Range { return a.ranges[:a.n] }

// find returns the index of the range containing va, or -1.
func (a *Anon) find(va uintptr) int {
	lo, hi := 0, a.n
	for lo < hi {
		m := (lo + hi) / 2
		switch r := &a.ranges[m]; {
		case va < r.Start:
			hi = m
		case va >= r.End:
			lo = m + 1
		default:
			return m
		}
	}
	return -1
}

// Overlaps reports whether [start, end) intersects any range.
func (a *Anon) Overlaps(start, end uintptr) bool {
	for i := 0; i < a.n; i++ {
		if r := &a.ranges[i]; r.Start < end && start < r.End {
			return true
		}
	}
	return false
}

// set makes [start, end) one range of kind k and perm p (KindFree removes
// it), splitting the ranges it cuts and merging equal neighbours. It
// reports false when the table would overflow, leaving it unchanged.
func (a *Anon) set(start, end uintptr, k Kind, p Perm) bool {
	out := &scratch
	n := 0
	emit := func(r Range) bool {
		if r.Start >= r.End {
			return true
		}
		if n > 0 && out[n-1].End == r.Start && out[n-1].Kind == r.Kind && out[n-1].Perm == r.Perm {
			out[n-1].End = r.End
			return true
		}
		if n == maxRanges {
			return false
		}
		out[n] = r
		n++
		return true
	}
	ok := true
	i := 0
	for ; i < a.n && a.ranges[i].End <= start; i++ {
		ok = ok && emit(a.ranges[i])
	}
	// Only the first range cut can stick out below start, only the last
	// above end.
	if i < a.n && a.ranges[i].Start < start {
		r := a.ranges[i]
		ok = ok && emit(Range{r.Start, start, r.Kind, r.Perm})
	}
	if k != KindFree {
		ok = ok && emit(Range{start, end, k, p})
	}
	for ; i < a.n && a.ranges[i].Start < end; i++ {
		if r := a.ranges[i]; r.End > end {
			ok = ok && emit(Range{end, r.End, r.Kind, r.Perm})
		}
	}
	for ; i < a.n; i++ {
		ok = ok && emit(a.ranges[i])
	}
	if !ok {
		return false
	}
	copy(a.ranges[:n], out[:n])
	a.n = n
	return true
}

// scratch is where set builds the new table. The kernel is uniprocessor
// and set runs with interrupts disabled, so one buffer serves every Anon.
var scratch [maxRanges]Range

// release unmaps every backed page in [start, end) and frees its frame.
// The frames are free before the flush, so before other CPUs stop
// writing through stale entries: no one can take them meanwhile, as the
// caller holds the kernel lock until Flush has returned.
func (a *Anon) release(start, end uintptr) {
	a.changeLeaves(start, end, func(e *PTE) {
		a.Frames.Free(e.Addr())
		a.Backed--
		*e = 0
	})
}

// changeLeaves applies change to the entry of every backed page in
// [start, end), then flushes the span of pages it changed, in one round.
func (a *Anon) changeLeaves(start, end uintptr, change func(e *PTE)) {
	lo, hi := end, start
	a.AS.forEachLeaf(start, end, func(va uintptr, e *PTE) {
		change(e)
		lo, hi = min(lo, va), max(hi, va+PageSize)
	})
	if lo < hi {
		a.Flush(lo, hi)
	}
}

func (a *Anon) place(hint, length uintptr) (uintptr, bool) {
	if hint != 0 && hint+length > hint && a.inWindows(hint, hint+length) && !a.Overlaps(hint, hint+length) {
		return hint, true
	}
	w := a.windows[0]
	va, ok := a.gap(a.next, w.hi, length)
	if !ok {
		va, ok = a.gap(w.lo, w.hi, length) // wrap around: reuse what was unmapped
	}
	if ok {
		a.next = va + length + PageSize
	}
	return va, ok
}

// gap returns the lowest address in [from, to) where length bytes fit
// with an unmapped page on either side of every recorded range, skipping
// whatever is mapped there (hinted and fixed mappings land anywhere).
func (a *Anon) gap(from, to, length uintptr) (uintptr, bool) {
	va := from
	for i := 0; i < a.n; i++ {
		r := &a.ranges[i]
		if r.End+PageSize <= va {
			continue
		}
		if va+length+PageSize <= r.Start {
			break
		}
		va = r.End + PageSize
	}
	return va, va+length <= to && va+length > va
}

func pageRound(n uintptr) uintptr { return (n + PageSize - 1) &^ (PageSize - 1) }

// Mmap maps length bytes of anonymous memory with perm (0 = PROT_NONE).
// With fixed, addr is used as is and whatever was mapped there is
// replaced; otherwise addr is a hint. It returns the address or an errno.
func (a *Anon) Mmap(addr, length uintptr, perm Perm, fixed bool) (uintptr, int) {
	if length == 0 || addr&(PageSize-1) != 0 {
		return 0, EINVAL
	}
	length = pageRound(length)
	var va uintptr
	if fixed {
		if !a.inWindows(addr, addr+length) {
			return 0, EINVAL
		}
		a.release(addr, addr+length)
		va = addr
	} else {
		var ok bool
		if va, ok = a.place(addr, length); !ok {
			return 0, ENOMEM
		}
	}
	k := KindAnon
	if perm == 0 {
		k = KindReserved
	}
	if !a.set(va, va+length, k, perm) {
		return 0, ENOMEM
	}
	return va, 0
}

// Munmap removes [addr, addr+length).
func (a *Anon) Munmap(addr, length uintptr) int {
	if addr&(PageSize-1) != 0 || length == 0 {
		return EINVAL
	}
	end := addr + pageRound(length)
	if !a.inWindows(addr, end) {
		return EINVAL
	}
	a.release(addr, end)
	if !a.set(addr, end, KindFree, 0) {
		return ENOMEM
	}
	return 0
}

// Mprotect changes the permission of the anonymous pages in the range.
func (a *Anon) Mprotect(addr, length uintptr, perm Perm) int {
	if addr&(PageSize-1) != 0 {
		return EINVAL
	}
	if length == 0 {
		return 0
	}
	end := addr + pageRound(length)
	if !a.inWindows(addr, end) {
		return EINVAL
	}
	k := KindAnon
	if perm == 0 {
		k = KindReserved
		a.release(addr, end)
	} else {
		flags := perm.Flags()
		a.changeLeaves(addr, end, func(e *PTE) { *e = PTE(e.Addr()) | flags | Present })
	}
	if !a.set(addr, end, k, perm) {
		return ENOMEM
	}
	return 0
}

// DontNeed drops the backing of the range: the next touch sees zeros, as
// madvise(MADV_DONTNEED) promises on Linux and the Go runtime relies on
// (it treats scavenged pages as already zeroed).
func (a *Anon) DontNeed(addr, length uintptr) int {
	if addr&(PageSize-1) != 0 {
		return EINVAL
	}
	end := addr + pageRound(length)
	for i := 0; i < a.n; i++ {
		r := &a.ranges[i]
		if r.Kind == KindAnon && r.Start < end && addr < r.End {
			a.release(max(r.Start, addr), min(r.End, end))
		}
	}
	return 0
}

// FaultResult says what Fault did.
type FaultResult uint8

const (
	FaultBad      FaultResult = iota // not an anonymous page: a real fault
	FaultMapped                      // backed with a zeroed frame
	FaultNoMemory                    // out of physical memory
	FaultSpurious                    // already mapped with the needed rights (a stale TLB entry)
)

// Fault backs the page containing va if it lies in an anonymous range
// whose permission allows the access.
func (a *Anon) Fault(va uintptr, write, exec bool) FaultResult {
	i := a.find(va)
	if i < 0 {
		return FaultBad
	}
	r := &a.ranges[i]
	if r.Kind != KindAnon || write && r.Perm&PermWrite == 0 || exec && r.Perm&PermExec == 0 {
		return FaultBad
	}
	page := va &^ (PageSize - 1)
	if e, _ := a.AS.Lookup(page); e != nil {
		a.Flush(page, page+PageSize)
		return FaultSpurious
	}
	pa, ok := a.Frames.Alloc()
	if !ok {
		return FaultNoMemory
	}
	clear((*[PageSize]byte)(ptr(a.Phys(pa)))[:])
	if err := a.AS.Map(page, pa, r.Perm.Flags()); err != nil {
		a.Frames.Free(pa)
		return FaultNoMemory
	}
	a.Backed++
	return FaultMapped
}
