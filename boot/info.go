package boot

import (
	"beelzebox/boot/multiboot"
	"beelzebox/boot/multiboot2"
	"beelzebox/mm"
)

// Limits of a LoaderInfo.
const (
	MaxModules = 8
	MaxCmdline = 512
)

// Loaders LoaderInfo.Loader names.
const (
	LoaderMultiboot1 = "multiboot"
	LoaderMultiboot2 = "multiboot2"
)

// LoaderInfo is what the kernel keeps of its loader's hand-over, in one
// form whatever the loader: start fills it from the Multiboot v1 or v2
// information and the rest of the kernel reads only this.
type LoaderInfo struct {
	Loader     string // LoaderMultiboot1 or LoaderMultiboot2
	Cmdline    [MaxCmdline]byte
	CmdlineLen int
	Modules    [MaxModules]Module // Modules[0] is the initramfs
	NModules   int
	// Memory is the physical memory map; its reserved ranges are the
	// modules and the loader's structures.
	Memory mm.MemoryMap
	// RSDP is the physical address of the loader's copy of the ACPI
	// RSDP, 0 if it gave none (the BIOS areas are searched then).
	RSDP        uint64
	Framebuffer Framebuffer
}

// Module is a boot module, [Start, End) in physical memory.
type Module struct {
	Start, End uint64
}

// Framebuffer is the display the loader set up, if it says (Present).
// Type is FramebufferIndexed, FramebufferRGB or FramebufferEGAText; for
// EGA text, Width and Height count characters.
type Framebuffer struct {
	Addr                 uint64
	Pitch, Width, Height uint32
	BPP                  uint8
	Type                 uint8
	Present              bool
}

// Framebuffer types (Multiboot2 §3.6.12).
const (
	FramebufferIndexed = multiboot2.FramebufferIndexed
	FramebufferRGB     = multiboot2.FramebufferRGB
	FramebufferEGAText = multiboot2.FramebufferEGAText
)

// CmdlineString returns the command line. It allocates, so call it only
// once the Go runtime runs.
func (in *LoaderInfo) CmdlineString() string { return string(in.Cmdline[:in.CmdlineLen]) }

// HasWord reports whether w is one of the command line's space-separated
// words. It does not allocate.
func (in *LoaderInfo) HasWord(w string) bool { return hasWord(in.Cmdline[:in.CmdlineLen], w) }

func (in *LoaderInfo) setCmdline(b []byte) {
	in.CmdlineLen = copy(in.Cmdline[:], b)
}

func (in *LoaderInfo) addModule(start, end uint64) string {
	if in.NModules == MaxModules {
		return "too many boot modules"
	}
	in.Modules[in.NModules] = Module{Start: start, End: end}
	in.NModules++
	return in.Memory.Reserve(start, end)
}

// regionType converts a Multiboot (e820) memory type; unknown types are
// reserved (ACPI 6.5 §15.3).
func regionType(t uint32) mm.RegionType {
	if t < uint32(mm.RegionAvailable) || t > uint32(mm.RegionBad) {
		return mm.RegionReserved
	}
	return mm.RegionType(t)
}

// fromMultiboot1 fills in from a parsed Multiboot v1 structure. It returns
// "" or what is wrong.
func (in *LoaderInfo) fromMultiboot1(mb *multiboot.Info) string {
	*in = LoaderInfo{Loader: LoaderMultiboot1}
	in.setCmdline(mb.Cmdline[:mb.CmdlineLen])
	for _, r := range mb.Regions[:mb.NRegions] {
		if msg := in.Memory.Add(r.Base, r.Length, regionType(r.Type)); msg != "" {
			return msg
		}
	}
	for _, r := range mb.Reserved[:mb.NReserved] {
		if msg := in.Memory.Reserve(r.Start, r.End); msg != "" {
			return msg
		}
	}
	for _, m := range mb.Modules[:mb.NModules] {
		if msg := in.addModule(m.Start, m.End); msg != "" {
			return msg
		}
	}
	return ""
}

// fromMultiboot2 fills in from parsed Multiboot2 information. The memory
// map is the loader's e820 map (tag 6), else its UEFI map (tag 17), else
// the basic lower/upper memory sizes (tag 4). It returns "" or what is
// wrong.
func (in *LoaderInfo) fromMultiboot2(mb *multiboot2.Info) string {
	*in = LoaderInfo{Loader: LoaderMultiboot2, RSDP: mb.RSDP()}
	in.setCmdline(mb.Cmdline[:mb.CmdlineLen])
	mem := &in.Memory
	switch {
	case mb.NRegions > 0:
		for _, r := range mb.Regions[:mb.NRegions] {
			if msg := mem.Add(r.Base, r.Length, regionType(r.Type)); msg != "" {
				return msg
			}
		}
	case mb.NEFIRegions > 0:
		for _, r := range mb.EFIRegions[:mb.NEFIRegions] {
			if msg := mem.Add(r.Base, r.Pages*multiboot2.EFIPageSize, regionType(multiboot2.EFIRegionType(r.Type))); msg != "" {
				return msg
			}
		}
	case mb.HaveMeminfo:
		// mem_lower KiB from 0, mem_upper KiB from 1 MiB (§3.6.8).
		if msg := mem.Add(0, uint64(mb.MemLower)<<10, mm.RegionAvailable); msg != "" {
			return msg
		}
		if msg := mem.Add(1<<20, uint64(mb.MemUpper)<<10, mm.RegionAvailable); msg != "" {
			return msg
		}
	default:
		return "the loader gave no memory map (no multiboot2 tag 4, 6 or 17)"
	}
	// The command line, module strings and RSDP copy are inside the
	// information block.
	if msg := mem.Reserve(mb.InfoAddr, mb.InfoAddr+mb.InfoSize); msg != "" {
		return msg
	}
	for _, m := range mb.Modules[:mb.NModules] {
		if msg := in.addModule(m.Start, m.End); msg != "" {
			return msg
		}
	}
	if mb.HaveFramebuffer {
		f := mb.Framebuffer
		in.Framebuffer = Framebuffer{Addr: f.Addr, Pitch: f.Pitch, Width: f.Width, Height: f.Height, BPP: f.BPP, Type: f.Type, Present: true}
	}
	return ""
}

// Scratch space for the loaders' own decoding (too big for the boot
// stack's comfort).
var (
	mb1 multiboot.Info
	mb2 multiboot2.Info
)

// parseLoader decodes the loader's information at addr, as magic says
// which loader it was, into Info.
func parseLoader(m physMem, magic, addr uint64) string {
	switch magic {
	case multiboot.BootMagic:
		if msg := multiboot.Parse(m, magic, addr, &mb1); msg != "" {
			Info.setCmdline(mb1.Cmdline[:mb1.CmdlineLen]) // for console=e9
			return msg
		}
		return Info.fromMultiboot1(&mb1)
	case multiboot2.BootMagic:
		if msg := multiboot2.Parse(m, magic, addr, &mb2); msg != "" {
			Info.setCmdline(mb2.Cmdline[:mb2.CmdlineLen])
			return msg
		}
		return Info.fromMultiboot2(&mb2)
	}
	return "not booted by a multiboot loader (EAX is neither 0x2BADB002 nor 0x36D76289)"
}
