package mm

import "testing"

// goTables is TableMemory backed by Go memory, with fake physical
// addresses.
type goTables struct {
	tables map[uint64]*[512]PTE
	next   uint64
	freed  int
	t      *testing.T
}

func newGoTables(t *testing.T) *goTables {
	return &goTables{tables: map[uint64]*[512]PTE{}, next: 0x100000, t: t}
}

func (g *goTables) Table(pa uint64) *[512]PTE { return g.tables[pa] }
func (g *goTables) NewTable() (uint64, bool) {
	pa := g.next
	g.next += PageSize
	g.tables[pa] = new([512]PTE)
	return pa, true
}
func (g *goTables) FreeTable(pa uint64, va uintptr) {
	if g.parentOf(pa) {
		g.t.Errorf("table %#x (for %#x) freed while an entry still points to it", pa, va)
	}
	delete(g.tables, pa)
	g.freed++
}

// parentOf reports whether some table still has an entry pointing to pa.
func (g *goTables) parentOf(pa uint64) bool {
	for _, tb := range g.tables {
		for _, e := range tb {
			if e&Present != 0 && e&Huge == 0 && e.Addr() == pa {
				return true
			}
		}
	}
	return false
}

func newSpace(t *testing.T) (*AddressSpace, *goTables) {
	g := newGoTables(t)
	root, _ := g.NewTable()
	return &AddressSpace{Root: root, Mem: g}, g
}

func TestPermFlags(t *testing.T) {
	cases := []struct {
		p    Perm
		want PTE
	}{
		{PermRead, Present | NoExec},
		{PermRead | PermWrite, Present | Writable | NoExec},
		{PermRead | PermExec | PermUser, Present | User},
		{PermRead | PermWrite | PermUser, Present | Writable | User | NoExec},
	}
	for _, c := range cases {
		if got := c.p.Flags(); got != c.want {
			t.Errorf("%v.Flags() = %#x, want %#x", c.p, got, c.want)
		}
	}
}

func TestPKeyBits(t *testing.T) {
	e := (PermRead | PermUser).Flags().WithPKey(13)
	if e.PKey() != 13 {
		t.Fatalf("PKey = %d", e.PKey())
	}
	if uint64(e)>>59&0xf != 13 {
		t.Fatalf("key not in bits 62:59: %#x", uint64(e))
	}
	if e&NoExec == 0 || e&Present == 0 || e&User == 0 {
		t.Fatalf("WithPKey clobbered other bits: %#x", uint64(e))
	}
	if e.WithPKey(0).PKey() != 0 || e.WithPKey(0)&pkeyMask != 0 {
		t.Fatal("WithPKey(0) left key bits")
	}
}

func TestMapLookupUnmap(t *testing.T) {
	as, g := newSpace(t)
	va := uintptr(0x400000)
	if err := as.Map(va, 0x7000, (PermRead | PermWrite | PermUser).Flags()); err != nil {
		t.Fatal(err)
	}
	if as.Tables != 3 {
		t.Errorf("Tables = %d, want 3 (PDPT, PD, PT)", as.Tables)
	}
	// Intermediate entries of a user mapping carry U; the root entry too.
	root := g.Table(as.Root)
	if root[0]&User == 0 || root[0]&Writable == 0 {
		t.Errorf("PML4E = %#x, want U|W", root[0])
	}
	if pa, ok := as.Translate(va + 0x123); !ok || pa != 0x7123 {
		t.Errorf("Translate = %#x, %v", pa, ok)
	}
	if err := as.Map(va, 0x8000, Present); err != ErrMapped {
		t.Errorf("second Map = %v, want ErrMapped", err)
	}
	old, ok := as.Unmap(va)
	if !ok || old.Addr() != 0x7000 {
		t.Errorf("Unmap = %#x, %v", old, ok)
	}
	if _, ok := as.Translate(va); ok {
		t.Error("still mapped after Unmap")
	}
	as.Prune(0, 1<<47)
	if as.Tables != 0 || g.freed != 3 {
		t.Errorf("after Prune: Tables = %d, freed = %d", as.Tables, g.freed)
	}
}

func TestPruneKeepsNeighbours(t *testing.T) {
	as, _ := newSpace(t)
	f := (PermRead | PermUser).Flags()
	as.Map(0x400000, 0x1000, f)
	as.Map(0x600000, 0x2000, f) // another PT under the same PD
	as.Unmap(0x400000)
	as.Prune(0x400000, 0x401000)
	if _, ok := as.Translate(0x600000); !ok {
		t.Fatal("Prune removed a live mapping")
	}
	if as.Tables != 3 {
		t.Errorf("Tables = %d, want 3 (PDPT, PD, one PT)", as.Tables)
	}
}

func TestHugeAndUpperHalf(t *testing.T) {
	as, _ := newSpace(t)
	va := uintptr(0xffff_8000_0020_0000)
	if err := as.MapHuge(va, 0x20_0000, Present|Writable); err != nil {
		t.Fatal(err)
	}
	if pa, ok := as.Translate(va + 0x1234); !ok || pa != 0x20_1234 {
		t.Errorf("Translate = %#x %v", pa, ok)
	}
	if err := as.Map(va+0x1000, 0x5000, Present); err != ErrHugeInWay {
		t.Errorf("Map under huge page = %v", err)
	}
	if err := as.Map(0x0000_8000_0000_0000, 0, Present); err != ErrNotCanonical {
		t.Errorf("non-canonical Map = %v", err)
	}
	as.Prune(va, va+PageSize2M)
	if _, ok := as.Translate(va); !ok {
		t.Error("Prune dropped a huge mapping")
	}
}

func TestTablesIn(t *testing.T) {
	as, _ := newSpace(t)
	f := (PermRead | PermUser).Flags()
	as.Map(64<<30, 0x1000, f)            // PDPT entry for 64 GiB: new PD and PT
	as.Map(64<<30+PageSize2M, 0x2000, f) // a second PT
	if n := as.TablesIn(64<<30, 65<<30); n != 3 {
		t.Fatalf("TablesIn = %d, want 3 (PD, 2 PT)", n)
	}
	as.Unmap(64 << 30)
	as.Unmap(64<<30 + PageSize2M)
	as.Prune(64<<30, 65<<30)
	if n := as.TablesIn(64<<30, 65<<30); n != 0 {
		t.Fatalf("after Prune: TablesIn = %d", n)
	}
}

func TestProtect(t *testing.T) {
	as, _ := newSpace(t)
	as.Map(0x400000, 0x9000, (PermRead | PermWrite | PermUser).Flags().WithPKey(3))
	if err := as.Protect(0x400000, (PermRead | PermExec | PermUser).Flags().WithPKey(5)); err != nil {
		t.Fatal(err)
	}
	e, _ := as.Lookup(0x400000)
	if e.Addr() != 0x9000 || *e&Writable != 0 || *e&NoExec != 0 || e.PKey() != 5 {
		t.Fatalf("after Protect: %#x", uint64(*e))
	}
	if err := as.Protect(0x401000, Present); err != ErrNotMapped {
		t.Fatalf("Protect of an unmapped page = %v", err)
	}
}

// TestMapMissing maps a run of pages across a page-table boundary with
// one page already mapped: every page maps to its frame, the one mapped
// before keeps its frame, and one table per 2 MiB is made.
func TestMapMissing(t *testing.T) {
	as, _ := newSpace(t)
	const va = 0x3ff000 // the last page of one page table, then the next
	if err := as.Map(va+PageSize, 0x7000000, Present|Writable); err != nil {
		t.Fatal(err)
	}
	if err := as.MapMissing(va, 0x5000000, 4, Present|Writable); err != nil {
		t.Fatal(err)
	}
	for i, want := range []uint64{0x5000000, 0x7000000, 0x5002000, 0x5003000} {
		if pa, ok := as.Translate(va + uintptr(i)*PageSize); !ok || pa != want {
			t.Errorf("page %d: %#x %v, want %#x", i, pa, ok, want)
		}
	}
	if as.Tables != 4 { // PDPT, PD and two page tables
		t.Errorf("%d tables, want 4", as.Tables)
	}
	if _, mapped := as.Translate(va + 4*PageSize); mapped {
		t.Errorf("a fifth page was mapped")
	}
}

// TestFreeTables: a guest space's teardown frees every table of the lower
// half and the root, with the leaves still in place (their frames are the
// caller's), each after its parent entry was cleared, and leaves the upper
// half alone.
func TestFreeTables(t *testing.T) {
	as, g := newSpace(t)
	flags := (PermRead | PermWrite | PermUser).Flags()
	for _, va := range []uintptr{0x400000, 0x401000, 0x600000, 0xc000000000, 0x7fff_ffff_f000, 1 << 39} {
		if err := as.Map(va, 0x9000, flags); err != nil {
			t.Fatalf("Map(%#x): %v", va, err)
		}
	}
	if err := as.MapHuge(0x4000_0000, 0x20_0000, flags); err != nil {
		t.Fatalf("MapHuge: %v", err)
	}
	tables := as.Tables
	as.FreeTables()
	if as.Tables != 0 || g.freed != tables+1 || len(g.tables) != 0 || as.Root != 0 {
		t.Fatalf("after FreeTables: %d tables counted, %d freed of %d and the root, %d left", as.Tables, g.freed, tables, len(g.tables))
	}
}

func TestRemap(t *testing.T) {
	as, _ := newSpace(t)
	as.Map(0x400000, 0x9000, (PermRead | PermUser).Flags())
	tables := as.Tables
	if err := as.Remap(0x400000, 0xa000, (PermRead | PermWrite | PermUser).Flags()); err != nil {
		t.Fatal(err)
	}
	e, _ := as.Lookup(0x400000)
	if e.Addr() != 0xa000 || *e&Writable == 0 || *e&User == 0 || as.Tables != tables {
		t.Fatalf("after Remap: %#x, %d tables (was %d)", uint64(*e), as.Tables, tables)
	}
	if err := as.Remap(0x401000, 0xb000, Present); err != ErrNotMapped {
		t.Fatalf("Remap of an unmapped page = %v", err)
	}
}
