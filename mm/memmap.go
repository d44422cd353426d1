package mm

// MemoryMap is the machine's physical memory as the boot loader or the
// firmware reported it, in loader-neutral form: boot fills it from a
// Multiboot v1 or v2 memory map (or a UEFI one) and Init builds the frame
// allocator from it. It has fixed-size arrays and its methods never
// allocate, because it is filled and read before the Go runtime runs.
type MemoryMap struct {
	Regions  [MaxMemRegions]MemRegion
	NRegions int
	// Reserved are ranges inside available RAM that must not be handed
	// out: boot modules (the initramfs) and the loader's structures that
	// the kernel still reads. The kernel image is Init's Image.
	Reserved  [MaxReserved]PhysRange
	NReserved int
}

// Limits of a MemoryMap. A BIOS e820 map has a few dozen entries; a UEFI
// one can have a few hundred, but Add merges neighbours of one type.
const (
	MaxMemRegions = 128
	MaxReserved   = 32
)

// RegionType is what a region of physical memory is, in the terms of the
// ACPI address range types (ACPI 6.5 §15.3, which e820, Multiboot and the
// UEFI conversion all map to).
type RegionType uint8

const (
	RegionAvailable       RegionType = 1 // RAM the kernel may use
	RegionReserved        RegionType = 2 // in use by firmware or devices
	RegionACPIReclaimable RegionType = 3 // ACPI tables, RAM once they are read
	RegionNVS             RegionType = 4 // ACPI non-volatile storage
	RegionBad             RegionType = 5 // RAM with errors
)

// MemRegion is one region of the memory map: [Base, Base+Length).
type MemRegion struct {
	Base, Length uint64
	Type         RegionType
}

// End is the first address past the region.
func (r MemRegion) End() uint64 { return r.Base + r.Length }

// PhysRange is a half-open range [Start, End) of physical addresses.
type PhysRange struct {
	Start, End uint64
}

// Add appends a region. A region that directly follows the last one and
// has its type extends it instead. Types outside 1-5 are taken as
// Reserved (the ACPI rule for unknown types). Empty regions are dropped.
// It returns "" or what is wrong.
func (m *MemoryMap) Add(base, length uint64, t RegionType) string {
	if length == 0 {
		return ""
	}
	if base+length < base {
		return "memory map entry wraps around"
	}
	if t < RegionAvailable || t > RegionBad {
		t = RegionReserved
	}
	if n := m.NRegions; n > 0 && m.Regions[n-1].Type == t && m.Regions[n-1].End() == base {
		m.Regions[n-1].Length += length
		return ""
	}
	if m.NRegions == MaxMemRegions {
		return "memory map has too many entries"
	}
	m.Regions[m.NRegions] = MemRegion{Base: base, Length: length, Type: t}
	m.NRegions++
	return ""
}

// Reserve records [start, end) as in use. It returns "" or what is wrong.
func (m *MemoryMap) Reserve(start, end uint64) string {
	if end < start {
		return "reserved range ends before it starts"
	}
	if end == start {
		return ""
	}
	if m.NReserved == MaxReserved {
		return "too many reserved ranges in the memory map"
	}
	m.Reserved[m.NReserved] = PhysRange{Start: start, End: end}
	m.NReserved++
	return ""
}

// TotalAvailable is the number of bytes of available RAM in the map.
func (m *MemoryMap) TotalAvailable() uint64 {
	var n uint64
	for _, r := range m.Regions[:m.NRegions] {
		if r.Type == RegionAvailable {
			n += r.Length
		}
	}
	return n
}

// TopAvailable is the end of the highest available region (0 if none).
func (m *MemoryMap) TopAvailable() uint64 {
	var top uint64
	for _, r := range m.Regions[:m.NRegions] {
		if r.Type == RegionAvailable && r.End() > top {
			top = r.End()
		}
	}
	return top
}

// IsReserved reports whether [start, end) overlaps a reserved range.
func (m *MemoryMap) IsReserved(start, end uint64) bool {
	for _, r := range m.Reserved[:m.NReserved] {
		if start < r.End && r.Start < end {
			return true
		}
	}
	return false
}
