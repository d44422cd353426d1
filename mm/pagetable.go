package mm

// TableMemory gives the page-table code access to table pages by physical
// address and a source of fresh, zeroed table pages. The kernel's
// implementation goes through the direct map and the frame allocator; the
// host tests use ordinary Go memory.
type TableMemory interface {
	Table(pa uint64) *[512]PTE
	NewTable() (pa uint64, ok bool)
	// FreeTable frees a table that mapped addresses from va on, after
	// the entry pointing to it was cleared.
	FreeTable(pa uint64, va uintptr)
}

// Error is a page-table error. It is a byte-sized type so that returning
// one as an error never allocates (handler context).
type Error uint8

const (
	ErrMapped Error = iota + 1
	ErrNoMemory
	ErrHugeInWay
	ErrNotCanonical
	ErrNotMapped
	ErrNoPCID
	ErrRefLimit
)

var errText = [...]string{
	ErrMapped:       "address already mapped",
	ErrNoMemory:     "out of memory for page tables",
	ErrHugeInWay:    "a huge page covers the address",
	ErrNotCanonical: "address is not canonical",
	ErrNotMapped:    "address is not mapped",
	ErrNoPCID:       "every PCID is in use",
	ErrRefLimit:     "a frame has the most references it can have",
}

func (e Error) Error() string { return errText[e] }

// AddressSpace is a 4-level page-table tree rooted at Root (the value for
// CR3). Tables counts the table pages it allocated (the root excluded), so
// tests can prove that tearing mappings down frees them.
type AddressSpace struct {
	Root   uint64
	Mem    TableMemory
	Tables int
}

// intermediate is what non-leaf entries allow: everything, so the leaf
// alone decides (SDM Vol. 3A §5.6: rights combine across levels). User is
// set only on paths to user pages, keeping kernel subtrees supervisor-only.
const intermediate = Present | Writable

// walk returns the entry for va at level stop (1 = 4 KiB leaf, 2 = 2 MiB
// leaf), creating tables on the way when create is set. user marks the
// created or traversed intermediate entries user-accessible.
func (as *AddressSpace) walk(va uintptr, stop int, create, user bool) (*PTE, error) {
	t, level, err := as.table(va, stop, create, user)
	if t == nil {
		return nil, err
	}
	return &t[index(va, level)], err
}

// table returns the table at level stop that holds va's entry, creating
// tables on the way as walk does. On ErrHugeInWay it returns the table at
// the level of the huge entry in the way instead, with that level.
func (as *AddressSpace) table(va uintptr, stop int, create, user bool) (*[512]PTE, int, error) {
	if !Canonical(va) {
		return nil, 0, ErrNotCanonical
	}
	t := as.Mem.Table(as.Root)
	for level := 4; level > stop; level-- {
		e := &t[index(va, level)]
		if *e&Present == 0 {
			if !create {
				return nil, 0, ErrNotMapped
			}
			pa, ok := as.Mem.NewTable()
			if !ok {
				return nil, 0, ErrNoMemory
			}
			as.Tables++
			*e = PTE(pa) | intermediate
		} else if *e&Huge != 0 {
			return t, level, ErrHugeInWay
		}
		if user {
			*e |= User
		}
		t = as.Mem.Table(e.Addr())
	}
	return t, stop, nil
}

// MapMissing maps the n 4 KiB pages from va on to the frames from pa on,
// walking the tables once per page table rather than once per page, and
// keeps the pages that are mapped already as they are.
func (as *AddressSpace) MapMissing(va uintptr, pa uint64, n int, flags PTE) error {
	for n > 0 {
		t, _, err := as.table(va, 1, true, flags&User != 0)
		if err != nil {
			return err
		}
		for i := index(va, 1); i < 512 && n > 0; i++ {
			if t[i]&Present == 0 {
				t[i] = PTE(pa)&addrMask | flags | Present
			}
			va += PageSize
			pa += PageSize
			n--
		}
	}
	return nil
}

// Map maps the 4 KiB page at va to pa with leaf bits flags. An existing
// mapping is an error, never overwritten.
func (as *AddressSpace) Map(va uintptr, pa uint64, flags PTE) error {
	e, err := as.walk(va, 1, true, flags&User != 0)
	if err != nil {
		return err
	}
	if *e&Present != 0 {
		return ErrMapped
	}
	*e = PTE(pa)&addrMask | flags | Present
	return nil
}

// MapHuge maps the 2 MiB page at va (2 MiB aligned) to pa.
func (as *AddressSpace) MapHuge(va uintptr, pa uint64, flags PTE) error {
	e, err := as.walk(va, 2, true, flags&User != 0)
	if err != nil {
		return err
	}
	if *e&Present != 0 {
		return ErrMapped
	}
	*e = PTE(pa)&hugeAddr2M | flags | Present | Huge
	return nil
}

// Lookup returns the leaf entry mapping va and its level (1 for 4 KiB, 2
// for 2 MiB, 3 for 1 GiB), or nil if va is not mapped.
func (as *AddressSpace) Lookup(va uintptr) (*PTE, int) {
	if !Canonical(va) {
		return nil, 0
	}
	t := as.Mem.Table(as.Root)
	for level := 4; level >= 1; level-- {
		e := &t[index(va, level)]
		if *e&Present == 0 {
			return nil, 0
		}
		if level == 1 || *e&Huge != 0 {
			return e, level
		}
		t = as.Mem.Table(e.Addr())
	}
	return nil, 0
}

// Translate returns the physical address va maps to.
func (as *AddressSpace) Translate(va uintptr) (uint64, bool) {
	e, level := as.Lookup(va)
	if e == nil {
		return 0, false
	}
	size := uint64(1) << (12 + 9*(level-1))
	return e.Addr()&^(size-1) | uint64(va)&(size-1), true
}

// Unmap removes the 4 KiB mapping at va and returns the entry it held. The
// caller invalidates the TLB and frees the frame.
func (as *AddressSpace) Unmap(va uintptr) (PTE, bool) {
	e, err := as.leaf(va)
	if err != nil {
		return 0, false
	}
	old := *e
	*e = 0
	return old, true
}

// Protect replaces the leaf bits of the 4 KiB mapping at va with flags,
// keeping the frame. The caller invalidates the TLB.
func (as *AddressSpace) Protect(va uintptr, flags PTE) error {
	e, err := as.leaf(va)
	if err != nil {
		return err
	}
	*e = PTE(e.Addr()) | flags | Present
	return nil
}

// Remap points the 4 KiB mapping at va to pa with leaf bits flags, in
// place: it needs no table, so it cannot run out of memory. The caller
// invalidates the TLB and disposes of the old frame.
func (as *AddressSpace) Remap(va uintptr, pa uint64, flags PTE) error {
	e, err := as.leaf(va)
	if err != nil {
		return err
	}
	*e = PTE(pa)&addrMask | flags | Present
	return nil
}

// leaf returns the entry of the 4 KiB mapping at va.
func (as *AddressSpace) leaf(va uintptr) (*PTE, error) {
	e, level := as.Lookup(va)
	if e == nil || level != 1 {
		return nil, ErrNotMapped
	}
	return e, nil
}

// Prune frees the page-table pages that cover [start, end) and map nothing.
// Each is unlinked from its parent before TableMemory frees it, so the
// kernel's FreeTable can invalidate cached walks before the frame is
// reused.
func (as *AddressSpace) Prune(start, end uintptr) {
	as.prune(as.Root, 4, 0, start, end)
}

// prune returns whether the table at pa (covering from base at level) is
// empty after freeing its empty children within [start, end).
func (as *AddressSpace) prune(pa uint64, level int, base, start, end uintptr) bool {
	t := as.Mem.Table(pa)
	span := entrySpan(level)
	empty := true
	for i := range t {
		lo := entryBase(base, i, level)
		e := &t[i]
		if *e&Present == 0 {
			continue
		}
		if level > 1 && *e&Huge == 0 && lo < end && lo+span > start {
			if as.prune(e.Addr(), level-1, lo, start, end) {
				child := e.Addr()
				*e = 0
				as.Mem.FreeTable(child, lo)
				as.Tables--
				continue
			}
		}
		empty = false
	}
	return empty
}

// FreeTables frees every table of the lower half and the root, whatever
// they still map (the caller owns the frames the leaves point to), for an
// address space that is never loaded again. The kernel's upper half is
// never freed this way: a guest's space does not share it.
func (as *AddressSpace) FreeTables() {
	as.freeBelow(as.Root, 4, 0, 256)
	as.Mem.FreeTable(as.Root, 0)
	as.Root = 0
}

func (as *AddressSpace) freeBelow(pa uint64, level int, base uintptr, n int) {
	t := as.Mem.Table(pa)
	for i := 0; i < n; i++ {
		e := &t[i]
		if *e&Present == 0 || level == 1 || *e&Huge != 0 {
			continue
		}
		lo := entryBase(base, i, level)
		child := e.Addr()
		if level > 2 {
			as.freeBelow(child, level-1, lo, 512)
		}
		*e = 0
		as.Mem.FreeTable(child, lo)
		as.Tables--
	}
}
