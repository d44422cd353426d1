package mm

import "testing"

func TestMemoryMapAdd(t *testing.T) {
	var m MemoryMap
	steps := []struct {
		base, length uint64
		t            RegionType
		want         string
	}{
		{0, 0x9fc00, RegionAvailable, ""},
		{0x9fc00, 0x400, RegionReserved, ""},
		{0x100000, 0x100000, RegionAvailable, ""},
		{0x200000, 0x300000, RegionAvailable, ""}, // follows the last one: merged
		{0x500000, 0, RegionAvailable, ""},        // empty: dropped
		{0x600000, 0x1000, 7, ""},                 // unknown type: reserved
		{0x601000, 0x1000, RegionACPIReclaimable, ""},
		{^uint64(0) - 10, 20, RegionAvailable, "memory map entry wraps around"},
	}
	for _, s := range steps {
		if got := m.Add(s.base, s.length, s.t); got != s.want {
			t.Errorf("Add(%#x, %#x, %d) = %q, want %q", s.base, s.length, s.t, got, s.want)
		}
	}
	want := []MemRegion{
		{0, 0x9fc00, RegionAvailable},
		{0x9fc00, 0x400, RegionReserved},
		{0x100000, 0x400000, RegionAvailable},
		{0x600000, 0x1000, RegionReserved},
		{0x601000, 0x1000, RegionACPIReclaimable},
	}
	if m.NRegions != len(want) {
		t.Fatalf("%d regions, want %d: %+v", m.NRegions, len(want), m.Regions[:m.NRegions])
	}
	for i, w := range want {
		if m.Regions[i] != w {
			t.Errorf("region %d = %+v, want %+v", i, m.Regions[i], w)
		}
	}
	if got := m.TotalAvailable(); got != 0x9fc00+0x400000 {
		t.Errorf("TotalAvailable = %#x", got)
	}
	if got := m.TopAvailable(); got != 0x500000 {
		t.Errorf("TopAvailable = %#x, want 0x500000", got)
	}
}

func TestMemoryMapFull(t *testing.T) {
	var m MemoryMap
	for i := 0; i < MaxMemRegions; i++ {
		// Alternate types so nothing merges.
		if msg := m.Add(uint64(i)<<12, 1<<12, RegionType(1+i%2)); msg != "" {
			t.Fatalf("Add %d: %s", i, msg)
		}
	}
	if msg := m.Add(1<<40, 1<<12, RegionBad); msg == "" {
		t.Error("Add past MaxMemRegions succeeded")
	}
	// Extending the last region still works when the array is full.
	last := m.Regions[MaxMemRegions-1]
	if msg := m.Add(last.End(), 1<<12, last.Type); msg != "" {
		t.Errorf("merge into the last region of a full map: %s", msg)
	}
}

func TestMemoryMapReserve(t *testing.T) {
	var m MemoryMap
	if msg := m.Reserve(0x2000000, 0x2010000); msg != "" {
		t.Fatal(msg)
	}
	if msg := m.Reserve(0x3000, 0x2000); msg == "" {
		t.Error("Reserve accepted end < start")
	}
	if msg := m.Reserve(0x5000, 0x5000); msg != "" || m.NReserved != 1 {
		t.Errorf("empty Reserve: %q, %d ranges", msg, m.NReserved)
	}
	for _, c := range []struct {
		s, e uint64
		want bool
	}{
		{0x1fff000, 0x2000000, false},
		{0x1fff000, 0x2000001, true},
		{0x200f000, 0x3000000, true},
		{0x2010000, 0x2011000, false},
	} {
		if got := m.IsReserved(c.s, c.e); got != c.want {
			t.Errorf("IsReserved(%#x, %#x) = %v, want %v", c.s, c.e, got, c.want)
		}
	}
	for m.NReserved < MaxReserved {
		m.Reserve(1<<32, 1<<33)
	}
	if msg := m.Reserve(1<<34, 1<<35); msg == "" {
		t.Error("Reserve past MaxReserved succeeded")
	}
}
