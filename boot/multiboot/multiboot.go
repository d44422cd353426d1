// Package multiboot decodes the Multiboot v1 information structure that a
// loader (QEMU -kernel, GRUB) hands to the kernel (Multiboot Specification
// 0.6.96, §3.3).
//
// Parse runs in the kernel before the Go runtime is initialized, so it must
// not allocate: results go into a caller-provided Info with fixed-size
// arrays, and problems are reported as constant strings. Physical memory
// is read through the Mem interface, which the kernel implements with a
// zero-size type (so the interface conversion does not allocate either) and
// the host tests implement with a byte slice.
package multiboot

// BootMagic is the value the loader leaves in EAX (§3.2).
const BootMagic = 0x2BADB002

// Information structure flags (§3.3).
const (
	flagMem     = 1 << 0
	flagCmdline = 1 << 2
	flagMods    = 1 << 3
	flagMmap    = 1 << 6
)

// Memory map entry types (§3.3).
const (
	RegionAvailable = 1
	RegionACPI      = 3
	RegionNVS       = 4
	RegionBad       = 5
)

// Limits of what Info holds. Loaders report a few dozen regions at most.
const (
	MaxRegions = 64
	MaxModules = 8
	MaxCmdline = 512
)

// Mem reads physical memory.
type Mem interface {
	U32(addr uint64) uint32
	U64(addr uint64) uint64
	U8(addr uint64) uint8
}

// Region is one entry of the BIOS memory map.
type Region struct {
	Base, Length uint64
	Type         uint32
}

// End is the first address past the region.
func (r Region) End() uint64 { return r.Base + r.Length }

// Module is a boot module (the initramfs), [Start, End) in physical memory.
type Module struct {
	Start, End uint64
}

// Info is what the kernel keeps of the loader's information structure.
type Info struct {
	InfoAddr   uint64 // physical address of the structure itself
	Regions    [MaxRegions]Region
	NRegions   int
	Modules    [MaxModules]Module
	NModules   int
	Cmdline    [MaxCmdline]byte
	CmdlineLen int
	// Structures the loader placed in memory that must not be reused
	// before the kernel is done with them: the info block, the memory
	// map, the module list and the command line.
	Reserved  [4]Module
	NReserved int
}

// CmdlineString returns the command line. It allocates, so call it only
// once the Go runtime runs.
func (in *Info) CmdlineString() string { return string(in.Cmdline[:in.CmdlineLen]) }

// Parse decodes the structure at addr into in. It returns "" on success or
// a constant message naming what is wrong.
func Parse(m Mem, magic, addr uint64, in *Info) string {
	if magic != BootMagic {
		return "not booted by a multiboot loader (bad magic in EAX)"
	}
	if addr == 0 {
		return "multiboot information pointer is null"
	}
	*in = Info{InfoAddr: addr}
	in.reserve(addr, addr+88)
	flags := m.U32(addr)
	if flags&flagMmap == 0 {
		return "the loader gave no memory map (multiboot flag 6 clear)"
	}
	mmapLen := uint64(m.U32(addr + 44))
	mmapAddr := uint64(m.U32(addr + 48))
	in.reserve(mmapAddr, mmapAddr+mmapLen)
	// Each entry is preceded by its size, which does not count itself.
	for p := mmapAddr; p < mmapAddr+mmapLen; {
		size := uint64(m.U32(p))
		if size < 20 {
			return "malformed memory map entry (size < 20)"
		}
		if in.NRegions == MaxRegions {
			return "memory map has too many entries"
		}
		r := Region{Base: m.U64(p + 4), Length: m.U64(p + 12), Type: m.U32(p + 20)}
		if r.Base+r.Length < r.Base {
			return "memory map entry wraps around"
		}
		in.Regions[in.NRegions] = r
		in.NRegions++
		p += size + 4
	}
	if in.NRegions == 0 {
		return "the loader's memory map is empty"
	}
	if flags&flagCmdline != 0 {
		p := uint64(m.U32(addr + 16))
		for in.CmdlineLen < MaxCmdline {
			c := m.U8(p + uint64(in.CmdlineLen))
			if c == 0 {
				break
			}
			in.Cmdline[in.CmdlineLen] = c
			in.CmdlineLen++
		}
		if in.CmdlineLen == MaxCmdline && m.U8(p+MaxCmdline) != 0 {
			return "kernel command line too long"
		}
		in.reserve(p, p+uint64(in.CmdlineLen)+1)
	}
	if flags&flagMods != 0 {
		count := uint64(m.U32(addr + 20))
		base := uint64(m.U32(addr + 24))
		if count > MaxModules {
			return "too many boot modules"
		}
		for i := uint64(0); i < count; i++ {
			e := base + 16*i
			mod := Module{Start: uint64(m.U32(e)), End: uint64(m.U32(e + 4))}
			if mod.End < mod.Start {
				return "boot module ends before it starts"
			}
			in.Modules[in.NModules] = mod
			in.NModules++
		}
		in.reserve(base, base+16*count)
	}
	return ""
}

func (in *Info) reserve(start, end uint64) {
	if in.NReserved < len(in.Reserved) {
		in.Reserved[in.NReserved] = Module{Start: start, End: end}
		in.NReserved++
	}
}

// TotalAvailable is the number of bytes of available RAM in the map.
func (in *Info) TotalAvailable() uint64 {
	var n uint64
	for _, r := range in.Regions[:in.NRegions] {
		if r.Type == RegionAvailable {
			n += r.Length
		}
	}
	return n
}
