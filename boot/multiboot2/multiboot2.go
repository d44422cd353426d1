// Package multiboot2 decodes the boot information that a Multiboot2
// loader (GRUB's multiboot2 command) hands to the kernel (Multiboot2
// Specification 1.0, §3.6), and names the constants of the Multiboot2
// header in the OS image (§3.1), which boot/mkboot writes.
//
// Parse runs in the kernel before the Go runtime is initialized, so it must
// not allocate: results go into a caller-provided Info with fixed-size
// arrays, and problems are reported as constant strings. Physical memory
// is read through the Mem interface, as in package boot/multiboot.
package multiboot2

// BootMagic is the value the loader leaves in EAX (§3.3).
const BootMagic = 0x36d76289

// The Multiboot2 header (§3.1.1): magic, architecture, header_length and
// checksum (the four u32 sum to 0 mod 2^32), then tags, each 8-byte
// aligned, ending with an end tag. The header is 8-byte aligned and lies
// wholly within the first HeaderSearchLimit bytes of the image.
const (
	HeaderMagic       = 0xE85250D6
	HeaderArchI386    = 0 // 32-bit protected mode of i386
	HeaderAlign       = 8
	HeaderSearchLimit = 32768
	HeaderFixedSize   = 16
)

// Header tag types (§3.1.3-§3.1.14). Every header tag is u16 type, u16
// flags, u32 size; bit 0 of flags marks the tag optional (a loader that
// does not support it may ignore it).
const (
	HeaderTagEnd          = 0
	HeaderTagInfoRequest  = 1
	HeaderTagAddress      = 2 // header_addr, load_addr, load_end_addr, bss_end_addr
	HeaderTagEntryAddress = 3 // entry_addr, entered in 32-bit protected mode
	HeaderTagConsoleFlags = 4
	HeaderTagFramebuffer  = 5 // width, height, depth: 0 = no preference
	HeaderTagModuleAlign  = 6 // modules page aligned
	HeaderTagEFIBS        = 7
	HeaderTagEntryEFI32   = 8
	HeaderTagEntryEFI64   = 9
	HeaderTagRelocatable  = 10

	HeaderTagOptional = 1
)

// Boot information (§3.6.1): u32 total_size, u32 reserved, then tags,
// each u32 type, u32 size (not counting padding), 8-byte aligned, ending
// with a tag of type 0 and size 8.
const (
	InfoTotalSizeOff = 0
	InfoFixedSize    = 8
	TagTypeOff       = 0
	TagSizeOff       = 4
	TagHeaderSize    = 8
	TagAlign         = 8
)

// Boot information tag types (§3.6.2-§3.6.18).
const (
	TagEnd          = 0
	TagCmdline      = 1  // NUL-terminated string at +8
	TagBootLoader   = 2  // NUL-terminated string at +8
	TagModule       = 3  // mod_start u32 +8, mod_end u32 +12, string +16
	TagBasicMeminfo = 4  // mem_lower u32 +8, mem_upper u32 +12 (KiB)
	TagBootDevice   = 5  //
	TagMmap         = 6  // entry_size u32 +8, entry_version u32 +12, entries +16
	TagVBE          = 7  //
	TagFramebuffer  = 8  // addr u64 +8, pitch +16, width +20, height +24, bpp u8 +28, type u8 +29
	TagELFSections  = 9  //
	TagAPM          = 10 //
	TagEFI32        = 11 //
	TagEFI64        = 12 //
	TagSMBIOS       = 13 //
	TagACPIOld      = 14 // a copy of the ACPI 1.0 RSDP at +8
	TagACPINew      = 15 // a copy of the ACPI 2.0+ RSDP at +8
	TagNetwork      = 16 //
	TagEFIMmap      = 17 // descriptor_size u32 +8, descriptor_version u32 +12, descriptors +16
	TagEFIBS        = 18 //
	TagEFI32IH      = 19 //
	TagEFI64IH      = 20 //
	TagLoadBaseAddr = 21 //
)

// Offsets inside tags.
const (
	TagDataOff = 8

	ModStartOff  = 8
	ModEndOff    = 12
	ModStringOff = 16
	ModMinSize   = 16

	MeminfoLowerOff = 8
	MeminfoUpperOff = 12
	MeminfoSize     = 16

	MmapEntrySizeOff    = 8
	MmapEntryVersionOff = 12
	MmapEntriesOff      = 16
	MmapEntryBaseOff    = 0 // u64
	MmapEntryLengthOff  = 8 // u64
	MmapEntryTypeOff    = 16
	MmapEntryMinSize    = 24

	FramebufferAddrOff   = 8
	FramebufferPitchOff  = 16
	FramebufferWidthOff  = 20
	FramebufferHeightOff = 24
	FramebufferBPPOff    = 28
	FramebufferTypeOff   = 29
	FramebufferMinSize   = 31

	EFIMmapDescSizeOff    = 8
	EFIMmapDescVersionOff = 12
	EFIMmapDescsOff       = 16
	// EFI_MEMORY_DESCRIPTOR (UEFI 2.10 §7.2.3, GetMemoryMap): Type u32,
	// padding, PhysicalStart u64, VirtualStart u64, NumberOfPages u64
	// (4 KiB pages), Attribute u64.
	EFIDescTypeOff   = 0
	EFIDescPhysOff   = 8
	EFIDescPagesOff  = 24
	EFIDescAttrOff   = 32
	EFIDescMinSize   = 40
	EFIPageSize      = 4096
	RSDPv1Size       = 20 // ACPI 6.5 §5.2.5.3
	RSDPv2MinSize    = 36
	MaxInfoSize      = 1 << 20 // a sanity bound on total_size
	maxEFIDescSize   = 4096
	maxMmapEntrySize = 4096
)

// Memory map entry types (§3.6.8), the same as Multiboot v1's.
const (
	RegionAvailable = 1
	RegionReserved  = 2
	RegionACPI      = 3
	RegionNVS       = 4
	RegionBad       = 5
)

// Framebuffer types (§3.6.12).
const (
	FramebufferIndexed = 0
	FramebufferRGB     = 1
	FramebufferEGAText = 2
)

// UEFI memory types (UEFI 2.10 §7.2.1, EFI_MEMORY_TYPE) that tell how the
// memory may be used once boot services have exited.
const (
	EFIReservedMemoryType      = 0
	EFILoaderCode              = 1
	EFILoaderData              = 2
	EFIBootServicesCode        = 3
	EFIBootServicesData        = 4
	EFIRuntimeServicesCode     = 5
	EFIRuntimeServicesData     = 6
	EFIConventionalMemory      = 7
	EFIUnusableMemory          = 8
	EFIACPIReclaimMemory       = 9
	EFIACPIMemoryNVS           = 10
	EFIMemoryMappedIO          = 11
	EFIMemoryMappedIOPortSpace = 12
	EFIPalCode                 = 13
	EFIPersistentMemory        = 14
)

// Limits of what Info holds.
const (
	MaxRegions    = 128
	MaxEFIRegions = 512
	MaxModules    = 8
	MaxCmdline    = 512
)

// Mem reads physical memory.
type Mem interface {
	U32(addr uint64) uint32
	U64(addr uint64) uint64
	U8(addr uint64) uint8
}

// Region is one entry of the memory map (tag 6).
type Region struct {
	Base, Length uint64
	Type         uint32
}

// End is the first address past the region.
func (r Region) End() uint64 { return r.Base + r.Length }

// EFIRegion is one descriptor of the UEFI memory map (tag 17).
type EFIRegion struct {
	Type      uint32
	Base      uint64
	Pages     uint64
	Attribute uint64
}

// End is the first address past the region.
func (r EFIRegion) End() uint64 { return r.Base + r.Pages*EFIPageSize }

// Module is a boot module (the initramfs), [Start, End) in physical memory.
type Module struct {
	Start, End uint64
}

// Framebuffer is the framebuffer tag (tag 8). Type is one of the
// Framebuffer* constants; for FramebufferEGAText, Width and Height count
// characters and BPP is 16.
type Framebuffer struct {
	Addr                 uint64
	Pitch, Width, Height uint32
	BPP                  uint8
	Type                 uint8
}

// Info is what the kernel keeps of the boot information.
type Info struct {
	InfoAddr, InfoSize uint64 // where the structure is and its total_size

	Cmdline    [MaxCmdline]byte
	CmdlineLen int
	Modules    [MaxModules]Module
	NModules   int

	// Basic memory information (tag 4), in KiB.
	HaveMeminfo        bool
	MemLower, MemUpper uint32

	Regions  [MaxRegions]Region // tag 6
	NRegions int

	EFIRegions  [MaxEFIRegions]EFIRegion // tag 17
	NEFIRegions int

	HaveFramebuffer bool
	Framebuffer     Framebuffer

	// Physical addresses of the RSDP copies inside tags 14 and 15, 0 if
	// the loader gave none.
	RSDPv1, RSDPv2 uint64
}

// CmdlineString returns the command line. It allocates, so call it only
// once the Go runtime runs.
func (in *Info) CmdlineString() string { return string(in.Cmdline[:in.CmdlineLen]) }

// Parse decodes the boot information at addr into in. It returns "" on
// success or a constant message naming what is wrong. Every tag's size is
// checked against total_size before the tag is read; unknown tags are
// skipped.
func Parse(m Mem, magic, addr uint64, in *Info) string {
	if magic != BootMagic {
		return "not booted by a multiboot2 loader (bad magic in EAX)"
	}
	if addr == 0 {
		return "multiboot2 information pointer is null"
	}
	if addr%TagAlign != 0 {
		return "multiboot2 information is not 8-byte aligned"
	}
	*in = Info{InfoAddr: addr}
	total := uint64(m.U32(addr + InfoTotalSizeOff))
	if total < InfoFixedSize+TagHeaderSize || total > MaxInfoSize {
		return "multiboot2 information has a bad total_size"
	}
	in.InfoSize = total
	end := addr + total
	for p := addr + InfoFixedSize; ; {
		if p+TagHeaderSize > end {
			return "multiboot2 information has no end tag"
		}
		typ := m.U32(p + TagTypeOff)
		size := uint64(m.U32(p + TagSizeOff))
		if size < TagHeaderSize || size > end-p {
			return "multiboot2 tag size runs outside the information"
		}
		if typ == TagEnd {
			break
		}
		if msg := in.tag(m, typ, p, size); msg != "" {
			return msg
		}
		p += (size + TagAlign - 1) &^ (TagAlign - 1)
	}
	return ""
}

// tag decodes one tag of the given type and size at p.
func (in *Info) tag(m Mem, typ uint32, p, size uint64) string {
	switch typ {
	case TagCmdline:
		n := size - TagDataOff
		for i := uint64(0); i < n; i++ {
			c := m.U8(p + TagDataOff + i)
			if c == 0 {
				return ""
			}
			if in.CmdlineLen == MaxCmdline {
				return "kernel command line too long"
			}
			in.Cmdline[in.CmdlineLen] = c
			in.CmdlineLen++
		}
		return "" // unterminated: the tag's size bounds it
	case TagModule:
		if size < ModMinSize {
			return "multiboot2 module tag too short"
		}
		if in.NModules == MaxModules {
			return "too many boot modules"
		}
		mod := Module{Start: uint64(m.U32(p + ModStartOff)), End: uint64(m.U32(p + ModEndOff))}
		if mod.End < mod.Start {
			return "boot module ends before it starts"
		}
		in.Modules[in.NModules] = mod
		in.NModules++
	case TagBasicMeminfo:
		if size < MeminfoSize {
			return "multiboot2 basic memory information tag too short"
		}
		in.HaveMeminfo = true
		in.MemLower = m.U32(p + MeminfoLowerOff)
		in.MemUpper = m.U32(p + MeminfoUpperOff)
	case TagMmap:
		if size < MmapEntriesOff {
			return "multiboot2 memory map tag too short"
		}
		esize := uint64(m.U32(p + MmapEntrySizeOff))
		if esize < MmapEntryMinSize || esize > maxMmapEntrySize || esize%8 != 0 {
			return "multiboot2 memory map entry size is bad"
		}
		for e := p + MmapEntriesOff; e+esize <= p+size; e += esize {
			if in.NRegions == MaxRegions {
				return "memory map has too many entries"
			}
			r := Region{Base: m.U64(e + MmapEntryBaseOff), Length: m.U64(e + MmapEntryLengthOff), Type: m.U32(e + MmapEntryTypeOff)}
			if r.Base+r.Length < r.Base {
				return "memory map entry wraps around"
			}
			in.Regions[in.NRegions] = r
			in.NRegions++
		}
	case TagFramebuffer:
		if size < FramebufferMinSize {
			return "multiboot2 framebuffer tag too short"
		}
		in.HaveFramebuffer = true
		in.Framebuffer = Framebuffer{
			Addr:   m.U64(p + FramebufferAddrOff),
			Pitch:  m.U32(p + FramebufferPitchOff),
			Width:  m.U32(p + FramebufferWidthOff),
			Height: m.U32(p + FramebufferHeightOff),
			BPP:    m.U8(p + FramebufferBPPOff),
			Type:   m.U8(p + FramebufferTypeOff),
		}
	case TagACPIOld:
		if size < TagDataOff+RSDPv1Size {
			return "multiboot2 ACPI 1.0 RSDP tag too short"
		}
		in.RSDPv1 = p + TagDataOff
	case TagACPINew:
		if size < TagDataOff+RSDPv2MinSize {
			return "multiboot2 ACPI 2.0 RSDP tag too short"
		}
		in.RSDPv2 = p + TagDataOff
	case TagEFIMmap:
		if size < EFIMmapDescsOff {
			return "multiboot2 EFI memory map tag too short"
		}
		dsize := uint64(m.U32(p + EFIMmapDescSizeOff))
		if dsize < EFIDescMinSize || dsize > maxEFIDescSize || dsize%8 != 0 {
			return "multiboot2 EFI memory descriptor size is bad"
		}
		for d := p + EFIMmapDescsOff; d+dsize <= p+size; d += dsize {
			if in.NEFIRegions == MaxEFIRegions {
				return "EFI memory map has too many entries"
			}
			r := EFIRegion{Type: m.U32(d + EFIDescTypeOff), Base: m.U64(d + EFIDescPhysOff), Pages: m.U64(d + EFIDescPagesOff), Attribute: m.U64(d + EFIDescAttrOff)}
			if r.Pages > (^uint64(0)-r.Base)/EFIPageSize {
				return "EFI memory map entry wraps around"
			}
			in.EFIRegions[in.NEFIRegions] = r
			in.NEFIRegions++
		}
	}
	return ""
}

// RSDP is the loader's copy of the RSDP: the ACPI 2.0+ one if there is
// one, else the ACPI 1.0 one, else 0.
func (in *Info) RSDP() uint64 {
	if in.RSDPv2 != 0 {
		return in.RSDPv2
	}
	return in.RSDPv1
}

// EFIRegionType is the Multiboot/e820 region type of memory of UEFI type
// t once boot services have exited (the kernel is entered after
// ExitBootServices: UEFI 2.10 §7.2.1 table "Memory Type Usage after
// ExitBootServices()").
func EFIRegionType(t uint32) uint32 {
	switch t {
	case EFILoaderCode, EFILoaderData, EFIBootServicesCode, EFIBootServicesData, EFIConventionalMemory:
		return RegionAvailable
	case EFIUnusableMemory:
		return RegionBad
	case EFIACPIReclaimMemory:
		return RegionACPI
	case EFIACPIMemoryNVS:
		return RegionNVS
	}
	return RegionReserved
}
