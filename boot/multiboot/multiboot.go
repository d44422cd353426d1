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

// Multiboot header in the OS image (§3.1). The header is 4-byte aligned and
// lies wholly within the first HeaderSearchLimit bytes of the image;
// magic+flags+checksum is 0 mod 2^32.
const (
	HeaderMagic       = 0x1BADB002
	HeaderAlign       = 4
	HeaderSearchLimit = 8192

	// Byte offsets of the header's fields. The address fields are
	// present when HeaderFlagAddress is set, the graphics fields (not
	// listed) when HeaderFlagVideoMode is.
	HeaderMagicOff       = 0
	HeaderFlagsOff       = 4
	HeaderChecksumOff    = 8
	HeaderHeaderAddrOff  = 12
	HeaderLoadAddrOff    = 16
	HeaderLoadEndAddrOff = 20
	HeaderBSSEndAddrOff  = 24
	HeaderEntryAddrOff   = 28

	// HeaderMinSize is the size of the magic, flags and checksum words;
	// HeaderAddressSize that of a header with the address fields.
	HeaderMinSize     = 12
	HeaderAddressSize = 32
)

// Header flags (§3.1.2). Bits 0-15 are requirements a loader must refuse
// to boot without understanding; bits 16-31 are optional.
const (
	HeaderFlagPageAlign = 1 << 0  // align modules on 4 KiB boundaries
	HeaderFlagMemInfo   = 1 << 1  // fill mem_* and the memory map
	HeaderFlagVideoMode = 1 << 2  // set a video mode (graphics fields valid)
	HeaderFlagAddress   = 1 << 16 // the "a.out kludge": address fields valid

	HeaderRequiredMask = 0xFFFF // bits 0-15
)

// Information structure flags (§3.3): which of its fields are valid.
const (
	InfoFlagMem            = 1 << 0
	InfoFlagBootDevice     = 1 << 1
	InfoFlagCmdline        = 1 << 2
	InfoFlagMods           = 1 << 3
	InfoFlagAoutSyms       = 1 << 4
	InfoFlagElfSections    = 1 << 5
	InfoFlagMmap           = 1 << 6
	InfoFlagDrives         = 1 << 7
	InfoFlagConfigTable    = 1 << 8
	InfoFlagBootLoaderName = 1 << 9
	InfoFlagAPMTable       = 1 << 10
	InfoFlagVBE            = 1 << 11

	flagMem     = InfoFlagMem
	flagCmdline = InfoFlagCmdline
	flagMods    = InfoFlagMods
	flagMmap    = InfoFlagMmap
)

// Byte offsets of the information structure's fields (§3.3). All are u32
// except the VBE mode words at the end. InfoSize covers the structure up
// to and including the VBE fields.
const (
	InfoFlagsOff          = 0
	InfoMemLowerOff       = 4 // KiB of lower memory, from 0
	InfoMemUpperOff       = 8 // KiB of upper memory, from 1 MiB
	InfoBootDeviceOff     = 12
	InfoCmdlineOff        = 16 // physical address of a NUL-terminated string
	InfoModsCountOff      = 20
	InfoModsAddrOff       = 24 // physical address of the module list
	InfoSymsOff           = 28 // 16 bytes: a.out symbols or ELF sections
	InfoMmapLengthOff     = 44 // bytes of memory map
	InfoMmapAddrOff       = 48
	InfoDrivesLengthOff   = 52
	InfoDrivesAddrOff     = 56
	InfoConfigTableOff    = 60
	InfoBootLoaderNameOff = 64 // physical address of a NUL-terminated string
	InfoAPMTableOff       = 68
	InfoVBEControlOff     = 72
	InfoVBEModeInfoOff    = 76
	InfoVBEModeOff        = 80 // u16, followed by three more u16 fields
	InfoSize              = 88
)

// Memory map entries (§3.3). Each entry is preceded by a u32 size that
// does not count itself: the address in mmap_addr points at that size
// word, and the next entry starts size+4 bytes later. The loader here
// writes entries of MmapEntrySize bytes with size = MmapEntryBodySize.
const (
	MmapSizeOff       = 0
	MmapBaseOff       = 4  // u64
	MmapLengthOff     = 12 // u64
	MmapTypeOff       = 20 // u32
	MmapEntryBodySize = 20
	MmapEntrySize     = 24
)

// Module list entries (§3.3): mod_start, mod_end (one past the last byte),
// the physical address of the module's NUL-terminated string, and a
// reserved word that must be 0.
const (
	ModStartOff    = 0
	ModEndOff      = 4
	ModStringOff   = 8
	ModReservedOff = 12
	ModEntrySize   = 16
)

// Memory map entry types (§3.3).
const (
	RegionAvailable = 1
	RegionReserved  = 2
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
	in.reserve(addr, addr+InfoSize)
	flags := m.U32(addr)
	if flags&flagMmap == 0 {
		return "the loader gave no memory map (multiboot flag 6 clear)"
	}
	mmapLen := uint64(m.U32(addr + InfoMmapLengthOff))
	mmapAddr := uint64(m.U32(addr + InfoMmapAddrOff))
	in.reserve(mmapAddr, mmapAddr+mmapLen)
	// Each entry is preceded by its size, which does not count itself.
	for p := mmapAddr; p < mmapAddr+mmapLen; {
		size := uint64(m.U32(p + MmapSizeOff))
		if size < MmapEntryBodySize {
			return "malformed memory map entry (size < 20)"
		}
		if in.NRegions == MaxRegions {
			return "memory map has too many entries"
		}
		r := Region{Base: m.U64(p + MmapBaseOff), Length: m.U64(p + MmapLengthOff), Type: m.U32(p + MmapTypeOff)}
		if r.Base+r.Length < r.Base {
			return "memory map entry wraps around"
		}
		in.Regions[in.NRegions] = r
		in.NRegions++
		p += size + 4 // the size word does not count itself
	}
	if in.NRegions == 0 {
		return "the loader's memory map is empty"
	}
	if flags&flagCmdline != 0 {
		p := uint64(m.U32(addr + InfoCmdlineOff))
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
		count := uint64(m.U32(addr + InfoModsCountOff))
		base := uint64(m.U32(addr + InfoModsAddrOff))
		if count > MaxModules {
			return "too many boot modules"
		}
		for i := uint64(0); i < count; i++ {
			e := base + ModEntrySize*i
			mod := Module{Start: uint64(m.U32(e + ModStartOff)), End: uint64(m.U32(e + ModEndOff))}
			if mod.End < mod.Start {
				return "boot module ends before it starts"
			}
			in.Modules[in.NModules] = mod
			in.NModules++
		}
		in.reserve(base, base+ModEntrySize*count)
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
