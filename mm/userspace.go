package mm

import "beelzebox/cpu"

// UserSpace is the address space of a level 3 guest: its own page tables,
// holding the guest's pages and, supervisor-only, the entry pages
// (cpu.EntryPages) at their kernel addresses, and nothing else of the
// kernel. It is never current while kernel code runs: the entry code
// switches to the kernel's tables first. So its TLB entries need care
// only where the CPU keeps them across CR3 writes, tagged with a PCID:
//
//   - No PCID (QEMU TCG): every CR3 write flushes every non-global
//     entry, and nothing in a guest space is global: nothing to do.
//   - PCID and INVPCID (Bochs tigerlake): each space has a PCID of its
//     own (1-4095); a change invalidates that PCID's entries for the
//     address with INVPCID, which works for a PCID that is not current.
//   - PCID without INVPCID: the space's next load flushes its PCID.
//
// A new space always flushes its PCID at its first load, so a PCID's
// entries from an earlier space never reach a later one.
//
// With many CPUs, only the CPUs running the space in ring 3 at the time
// of a change (active) get a shootdown (Remote): they leave ring 3, which
// flushes without PCIDs, and invalidate the PCID's entries with INVPCID.
// Every other CPU may hold the PCID's entries from an earlier run only:
// its next load of the space flushes them (flush holds a bit per CPU).
// Without PCIDs a CPU that is not running the space holds none of its
// entries, and a change to a space no CPU runs costs no IPI at all.
//
// All methods run in handler context (the frame allocator and the tables
// are shared with interrupt handlers).
type UserSpace struct {
	AddressSpace
	pcid uint64
	// flush has bit i set when CPU i's next load must flush the PCID's
	// entries.
	flush uint64
	// active has bit i set while CPU i may run the space in ring 3: from
	// before its CR3 is computed for an entry until the exit is back on
	// the kernel's page tables (Enter and Leave).
	active uint64
}

// Enter marks CPU i, the running CPU, as about to run the space in ring
// 3 and returns the CR3 value to load (CR3); Leave marks it as out again.
// Both run under the kernel lock, as do the changes that read active.
func (s *UserSpace) Enter(i int) uint64 {
	s.active |= uint64(1) << i
	return s.cr3(i)
}

// Leave is Enter's counterpart, after the exit from ring 3.
func (s *UserSpace) Leave(i int) { s.active &^= uint64(1) << i }

// EntryPageCount is how many pages of the entry text and data every
// guest space maps.
func EntryPageCount() int {
	text, data := cpu.EntryPages()
	return int(text.End-text.Start+data.End-data.Start) / PageSize
}

// pcids is the PCID allocator: bit i set when PCID i is in use. PCID 0 is
// the kernel's.
var pcids [4096 / 64]uint64

func allocPCID() (uint64, bool) {
	for w := range pcids {
		if ^pcids[w] == 0 {
			continue
		}
		for b := 0; b < 64; b++ {
			id := uint64(w*64 + b)
			if id != 0 && pcids[w]&(1<<b) == 0 {
				pcids[w] |= 1 << b
				return id, true
			}
		}
	}
	return 0, false
}

// PCIDsInUse counts the PCIDs guest spaces hold (for leak checks).
func PCIDsInUse() int {
	n := 0
	for _, w := range pcids {
		for ; w != 0; w &= w - 1 {
			n++
		}
	}
	return n
}

// userTables is the TableMemory of a guest space: a freed table may still
// be in the paging-structure caches of the space's PCID.
type userTables struct{ s *UserSpace }

func (u userTables) Table(pa uint64) *[512]PTE { return Tables.Table(pa) }

func (u userTables) NewTable() (uint64, bool) { return Tables.NewTable() }

func (u userTables) FreeTable(pa uint64, va uintptr) {
	u.s.invalidateAll()
	Phys.Free(pa)
}

// NewUserSpace returns an empty space for Init (in Go context: it stores
// pointers, which handler code must not).
func NewUserSpace() *UserSpace {
	s := &UserSpace{}
	s.Mem = userTables{s}
	return s
}

// Init builds the space: a root, the entry pages and a PCID. On failure
// nothing is left allocated. It returns an Error, not an error: handler
// code must not store the interface (a pointer) anywhere.
func (s *UserSpace) Init() Error {
	root, ok := Tables.NewTable()
	if !ok {
		return ErrNoMemory
	}
	s.Root, s.Tables, s.flush = root, 0, ^uint64(0)
	if cpu.CPU.PCID {
		if s.pcid, ok = allocPCID(); !ok {
			s.Destroy()
			return ErrNoPCID
		}
	}
	text, data := cpu.EntryPages()
	for _, m := range []struct {
		r     cpu.Range
		flags PTE
	}{{text, 0}, {data, Writable | NoExec}} {
		for va := m.r.Start; va < m.r.End; va += PageSize {
			pa, ok := Kernel.Translate(va)
			if !ok {
				s.Destroy()
				return ErrNotMapped
			}
			if err := s.Map(va, pa, m.flags); err != nil {
				s.Destroy()
				return err.(Error)
			}
		}
	}
	return 0
}

// EntryPage reports whether va is in one of the entry pages, which a
// guest cannot map.
func EntryPage(va uintptr) bool {
	text, data := cpu.EntryPages()
	return va >= text.Start && va < text.End || va >= data.Start && va < data.End
}

// cr3 is the value CPU i loads to enter the space: its root and PCID,
// and the no-flush bit unless the PCID's entries must go (the first load,
// or a change without INVPCID since the last).
func (s *UserSpace) cr3(i int) uint64 {
	if !cpu.CPU.PCID {
		return s.Root
	}
	if bit := uint64(1) << i; s.flush&bit != 0 {
		s.flush &^= bit
		return s.Root | s.pcid
	}
	return s.Root | s.pcid | cpu.CR3NoFlush
}

// PCID is the space's PCID (0 without PCIDs).
func (s *UserSpace) PCID() uint64 { return s.pcid }

// Invalidate drops what the TLB may hold for the page at va after its
// mapping changed.
func (s *UserSpace) Invalidate(va uintptr) { s.invalidate(va, va+PageSize) }

func (s *UserSpace) invalidateAll() { s.invalidate(0, ^uintptr(0)) }

// invalidate drops the entries of [lo, hi) (hi = ^0: all) everywhere:
// here, on the CPUs running the space now, and at the next load on the
// others.
func (s *UserSpace) invalidate(lo, hi uintptr) {
	self := uint64(1) << cpu.Index()
	switch {
	case !cpu.CPU.PCID:
	case cpu.CPU.INVPCID && hi == ^uintptr(0):
		cpu.Invpcid(cpu.InvpcidContext, s.pcid, 0)
		s.flush |= ^self
	case cpu.CPU.INVPCID:
		cpu.Invpcid(cpu.InvpcidAddress, s.pcid, lo)
		s.flush |= ^self
	default:
		s.flush = ^uint64(0)
	}
	if others := s.active &^ self; others != 0 {
		Remote(others, s.pcid, lo, hi)
	}
}

// Destroy frees the space's tables and PCID; the frames of the guest's
// pages are the caller's. The space must not be loaded again.
func (s *UserSpace) Destroy() {
	if s.Root != 0 {
		s.FreeTables()
	}
	if s.pcid != 0 {
		pcids[s.pcid/64] &^= 1 << (s.pcid % 64)
		s.pcid = 0
	}
}
