package bootinfo

import (
	"testing"

	"beelzebox/boot/multiboot"
	"beelzebox/boot/multiboot2"
	"beelzebox/mm"
)

func TestFromMultiboot1(t *testing.T) {
	mb := multiboot.Info{InfoAddr: 0x9500}
	for _, r := range []multiboot.Region{
		{Base: 0, Length: 0x9fc00, Type: 1}, {Base: 0x9fc00, Length: 0x400, Type: 2},
		{Base: 0x100000, Length: 0x7ee0000, Type: 1}, {Base: 0x7fe0000, Length: 0x20000, Type: 9},
	} {
		mb.Regions[mb.NRegions] = r
		mb.NRegions++
	}
	mb.Modules[0] = multiboot.Module{Start: 0x2000000, End: 0x2400000}
	mb.NModules = 1
	mb.Reserved[0] = multiboot.Module{Start: 0x9500, End: 0x9558}
	mb.NReserved = 1
	mb.CmdlineLen = copy(mb.Cmdline[:], "build/kernel.elf suites=cpu console=e9")
	var in Info
	if msg := in.FromMultiboot1(&mb); msg != "" {
		t.Fatal(msg)
	}
	if in.Loader != LoaderMultiboot1 || in.RSDP != 0 || in.Framebuffer.Present {
		t.Errorf("loader %q RSDP %#x framebuffer %v", in.Loader, in.RSDP, in.Framebuffer.Present)
	}
	if !in.HasWord("console=e9") || in.HasWord("console") || in.CmdlineString() != "build/kernel.elf suites=cpu console=e9" {
		t.Errorf("cmdline %q", in.CmdlineString())
	}
	if in.NModules != 1 || in.Modules[0] != (Module{0x2000000, 0x2400000}) {
		t.Errorf("modules %+v", in.Modules[:in.NModules])
	}
	mem := &in.Memory
	if mem.NRegions != 4 || mem.Regions[3].Type != mm.RegionReserved || mem.TotalAvailable() != 0x9fc00+0x7ee0000 {
		t.Errorf("memory %+v", mem.Regions[:mem.NRegions])
	}
	if !mem.IsReserved(0x9500, 0x9501) || !mem.IsReserved(0x23ff000, 0x2400000) || mem.IsReserved(0x2400000, 0x3000000) {
		t.Errorf("reserved %+v", mem.Reserved[:mem.NReserved])
	}
}

func TestFromMultiboot2(t *testing.T) {
	base := multiboot2.Info{InfoAddr: 0x8424b8, InfoSize: 0x3b0, RSDPv1: 0x842600, RSDPv2: 0x842620}
	base.CmdlineLen = copy(base.Cmdline[:], "suites=cpu")
	base.Modules[0] = multiboot2.Module{Start: 0x1600000, End: 0x1a00000}
	base.NModules = 1
	base.HaveMeminfo, base.MemLower, base.MemUpper = true, 639, 261120

	t.Run("e820 map and framebuffer", func(t *testing.T) {
		mb := base
		mb.Regions[0] = multiboot2.Region{Base: 0, Length: 0x9fc00, Type: 1}
		mb.Regions[1] = multiboot2.Region{Base: 0x100000, Length: 0xfee0000, Type: 1}
		mb.NRegions = 2
		mb.HaveFramebuffer = true
		mb.Framebuffer = multiboot2.Framebuffer{Addr: 0xb8000, Pitch: 160, Width: 80, Height: 25, BPP: 16, Type: multiboot2.FramebufferEGAText}
		var in Info
		if msg := in.FromMultiboot2(&mb); msg != "" {
			t.Fatal(msg)
		}
		if in.Loader != LoaderMultiboot2 || in.RSDP != 0x842620 || in.CmdlineString() != "suites=cpu" {
			t.Errorf("loader %q RSDP %#x cmdline %q", in.Loader, in.RSDP, in.CmdlineString())
		}
		want := Framebuffer{Addr: 0xb8000, Pitch: 160, Width: 80, Height: 25, BPP: 16, Type: FramebufferEGAText, Present: true}
		if in.Framebuffer != want {
			t.Errorf("framebuffer %+v", in.Framebuffer)
		}
		if in.Memory.TotalAvailable() != 0x9fc00+0xfee0000 {
			t.Errorf("available %#x: the e820 map, not meminfo, must be used", in.Memory.TotalAvailable())
		}
		if !in.Memory.IsReserved(0x842600, 0x842624) || !in.Memory.IsReserved(0x1600000, 0x1600001) {
			t.Errorf("reserved %+v", in.Memory.Reserved[:in.Memory.NReserved])
		}
	})
	t.Run("EFI map", func(t *testing.T) {
		mb := base
		mb.EFIRegions[0] = multiboot2.EFIRegion{Type: multiboot2.EFIBootServicesCode, Base: 0, Pages: 0xa0}
		mb.EFIRegions[1] = multiboot2.EFIRegion{Type: multiboot2.EFIConventionalMemory, Base: 0x100000, Pages: 0x700}
		mb.EFIRegions[2] = multiboot2.EFIRegion{Type: multiboot2.EFILoaderData, Base: 0x800000, Pages: 0x100}
		mb.EFIRegions[3] = multiboot2.EFIRegion{Type: multiboot2.EFIACPIReclaimMemory, Base: 0x900000, Pages: 0x10}
		mb.NEFIRegions = 4
		var in Info
		if msg := in.FromMultiboot2(&mb); msg != "" {
			t.Fatal(msg)
		}
		want := []mm.MemRegion{{Base: 0, Length: 0xa0000, Type: mm.RegionAvailable}, {Base: 0x100000, Length: 0x800000, Type: mm.RegionAvailable}, {Base: 0x900000, Length: 0x10000, Type: mm.RegionACPIReclaimable}}
		if in.Memory.NRegions != len(want) {
			t.Fatalf("regions %+v", in.Memory.Regions[:in.Memory.NRegions])
		}
		for i, w := range want {
			if in.Memory.Regions[i] != w {
				t.Errorf("region %d = %+v, want %+v", i, in.Memory.Regions[i], w)
			}
		}
	})
	t.Run("basic meminfo only", func(t *testing.T) {
		mb := base
		var in Info
		if msg := in.FromMultiboot2(&mb); msg != "" {
			t.Fatal(msg)
		}
		if in.Memory.NRegions != 2 || in.Memory.Regions[1] != (mm.MemRegion{Base: 1 << 20, Length: 261120 << 10, Type: mm.RegionAvailable}) {
			t.Errorf("regions %+v", in.Memory.Regions[:in.Memory.NRegions])
		}
	})
	t.Run("no memory information", func(t *testing.T) {
		mb := base
		mb.HaveMeminfo = false
		var in Info
		if msg := in.FromMultiboot2(&mb); msg == "" {
			t.Error("no error without any memory map")
		}
	})
}
