// Package bootinfo is the loader-neutral record of what the boot loader
// handed over: command line, modules, memory map, ACPI RSDP, framebuffer.
// Package boot fills one from Multiboot v1 or v2 information (and a UEFI
// entry could fill it the same way); the rest of the kernel reads it as
// boot.Info. Nothing here allocates: it is filled before the Go runtime
// runs.
package bootinfo

import (
	"beelzebox/boot/multiboot"
	"beelzebox/boot/multiboot2"
	"beelzebox/mm"
)

// Limits of an Info.
const (
	MaxModules = 8
	MaxCmdline = 512
)

// Loaders that Info.Loader names.
const (
	LoaderMultiboot1 = "multiboot"
	LoaderMultiboot2 = "multiboot2"
)

// Info is what the kernel keeps of its loader's hand-over, in one form
// whatever the loader.
type Info struct {
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
func (in *Info) CmdlineString() string { return string(in.Cmdline[:in.CmdlineLen]) }

// HasWord reports whether w is one of the command line's space-separated
// words. It does not allocate.
func (in *Info) HasWord(w string) bool {
	line := in.Cmdline[:in.CmdlineLen]
	for i := 0; i+len(w) <= len(line); i++ {
		if (i == 0 || line[i-1] == ' ') && string(line[i:i+len(w)]) == w && (i+len(w) == len(line) || line[i+len(w)] == ' ') {
			return true
		}
	}
	return false
}

// SetCmdline sets the command line (cut at MaxCmdline bytes).
func (in *Info) SetCmdline(b []byte) {
	in.CmdlineLen = copy(in.Cmdline[:], b)
}

func (in *Info) addModule(start, end uint64) string {
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

// FromMultiboot1 fills in from a parsed Multiboot v1 structure. It returns
// "" or what is wrong.
func (in *Info) FromMultiboot1(mb *multiboot.Info) string {
	*in = Info{Loader: LoaderMultiboot1}
	in.SetCmdline(mb.Cmdline[:mb.CmdlineLen])
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

// FromMultiboot2 fills in from parsed Multiboot2 information. The memory
// map is the loader's e820 map (tag 6), else its UEFI map (tag 17), else
// the basic lower/upper memory sizes (tag 4). It returns "" or what is
// wrong.
func (in *Info) FromMultiboot2(mb *multiboot2.Info) string {
	*in = Info{Loader: LoaderMultiboot2, RSDP: mb.RSDP()}
	in.SetCmdline(mb.Cmdline[:mb.CmdlineLen])
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
