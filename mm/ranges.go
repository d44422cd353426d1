package mm

// forEachLeaf calls fn for every present 4 KiB leaf entry mapping an
// address in [start, end), skipping absent subtrees whole. Huge leaves are
// not visited (the anonymous-memory code never creates them).
func (as *AddressSpace) forEachLeaf(start, end uintptr, fn func(va uintptr, e *PTE)) {
	as.leaves(as.Root, 4, 0, start, end, fn)
}

func (as *AddressSpace) leaves(pa uint64, level int, base, start, end uintptr, fn func(uintptr, *PTE)) {
	t := as.Mem.Table(pa)
	span := entrySpan(level)
	first, last := 0, 511
	if start > base {
		first = int((start - base) / span)
	}
	if end-1-base < 512*span {
		last = int((end - 1 - base) / span)
	}
	for i := first; i <= last && i < 512; i++ {
		lo := entryBase(base, i, level)
		e := &t[i]
		if *e&Present == 0 {
			continue
		}
		if level == 1 {
			fn(lo, e)
		} else if *e&Huge == 0 {
			as.leaves(e.Addr(), level-1, lo, start, end, fn)
		}
	}
}

// TablesIn counts the table pages (below the root) that map nothing but
// addresses in [start, end): the page tables a set of mappings there
// costs.
func (as *AddressSpace) TablesIn(start, end uintptr) int {
	return as.tablesIn(as.Root, 4, 0, start, end)
}

func (as *AddressSpace) tablesIn(pa uint64, level int, base, start, end uintptr) int {
	if level == 1 {
		return 0
	}
	t := as.Mem.Table(pa)
	span := entrySpan(level)
	n := 0
	for i := range t {
		lo := entryBase(base, i, level)
		e := t[i]
		if e&Present == 0 || e&Huge != 0 || lo+span <= start || lo >= end {
			continue
		}
		if lo >= start && lo+span <= end {
			n++ // the child table serves only the range
		}
		n += as.tablesIn(e.Addr(), level-1, lo, start, end)
	}
	return n
}
