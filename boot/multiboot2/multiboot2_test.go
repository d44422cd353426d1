package multiboot2

import (
	"encoding/binary"
	"strings"
	"testing"
)

// fakeMem is physical memory for tests: a byte slice starting at 0.
type fakeMem []byte

func (m fakeMem) U32(a uint64) uint32 { return binary.LittleEndian.Uint32(m[a:]) }
func (m fakeMem) U64(a uint64) uint64 { return binary.LittleEndian.Uint64(m[a:]) }
func (m fakeMem) U8(a uint64) uint8   { return m[a] }

const infoAt = 0x1000

var le = binary.LittleEndian

// info builds a boot information block at infoAt from tags (type, body)
// the way GRUB lays it out: each tag padded to 8 bytes, an end tag last.
type info struct {
	b     []byte
	noEnd bool
}

func (in *info) tag(typ uint32, body []byte) *info {
	if in.b == nil {
		in.b = make([]byte, 8)
	}
	h := make([]byte, 8)
	le.PutUint32(h, typ)
	le.PutUint32(h[4:], uint32(8+len(body)))
	in.b = append(in.b, h...)
	in.b = append(in.b, body...)
	for len(in.b)%8 != 0 {
		in.b = append(in.b, 0)
	}
	return in
}

// offsetOfNext is where the next tag's body will be (for RSDP addresses).
func (in *info) offsetOfNext() uint64 {
	if in.b == nil {
		return infoAt + 16
	}
	return infoAt + uint64(len(in.b)) + 8
}

func (in *info) mem() fakeMem {
	if !in.noEnd {
		in.tag(TagEnd, nil)
	}
	le.PutUint32(in.b, uint32(len(in.b)))
	m := make(fakeMem, 0x10000)
	copy(m[infoAt:], in.b)
	return m
}

func u32s(v ...uint32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		le.PutUint32(b[4*i:], x)
	}
	return b
}

func mmapBody(regions []Region) []byte {
	b := u32s(24, 0)
	for _, r := range regions {
		e := make([]byte, 24)
		le.PutUint64(e, r.Base)
		le.PutUint64(e[8:], r.Length)
		le.PutUint32(e[16:], r.Type)
		b = append(b, e...)
	}
	return b
}

func efiBody(descSize int, regions []EFIRegion) []byte {
	b := u32s(uint32(descSize), 1)
	for _, r := range regions {
		e := make([]byte, descSize)
		le.PutUint32(e, r.Type)
		le.PutUint64(e[8:], r.Base)
		le.PutUint64(e[16:], 0xdead) // VirtualStart, ignored
		le.PutUint64(e[24:], r.Pages)
		le.PutUint64(e[32:], r.Attribute)
		b = append(b, e...)
	}
	return b
}

func moduleBody(start, end uint32, name string) []byte {
	return append(u32s(start, end), append([]byte(name), 0)...)
}

var qemu128M = []Region{
	{0, 0x9fc00, RegionAvailable},
	{0x9fc00, 0x400, RegionReserved},
	{0xf0000, 0x10000, RegionReserved},
	{0x100000, 0x7ee0000, RegionAvailable},
	{0x7fe0000, 0x20000, RegionReserved},
	{0xfffc0000, 0x40000, RegionReserved},
}

func fbBody() []byte {
	b := make([]byte, 24)
	le.PutUint64(b, 0xfd000000)
	le.PutUint32(b[8:], 4096)
	le.PutUint32(b[12:], 1024)
	le.PutUint32(b[16:], 768)
	b[20] = 32
	b[21] = FramebufferRGB
	return b
}

func rsdp(rev byte, n int) []byte {
	b := make([]byte, n)
	copy(b, "RSD PTR ")
	b[15] = rev
	return b
}

// TestParseGRUBLayout decodes a block with the tags GRUB gives on a BIOS
// machine, in its order.
func TestParseGRUBLayout(t *testing.T) {
	var in info
	in.tag(TagCmdline, []byte("suites=boot console=e9\x00"))
	in.tag(TagBootLoader, []byte("GRUB 2.12\x00"))
	in.tag(TagModule, moduleBody(0x2000000, 0x2010000, "/boot/initramfs.cpio"))
	in.tag(TagBasicMeminfo, u32s(639, 129920))
	in.tag(TagBootDevice, u32s(0xe0, 0xffffffff, 0xffffffff))
	in.tag(TagMmap, mmapBody(qemu128M))
	in.tag(TagFramebuffer, fbBody())
	v1 := in.offsetOfNext()
	in.tag(TagACPIOld, rsdp(0, 20))
	v2 := in.offsetOfNext()
	in.tag(TagACPINew, rsdp(2, 36))
	in.tag(99, []byte{1, 2, 3}) // unknown: skipped by its size
	in.tag(TagLoadBaseAddr, u32s(0x1000000))
	m := in.mem()
	var got Info
	if msg := Parse(m, BootMagic, infoAt, &got); msg != "" {
		t.Fatal(msg)
	}
	if s := got.CmdlineString(); s != "suites=boot console=e9" {
		t.Errorf("cmdline %q", s)
	}
	if got.NModules != 1 || got.Modules[0] != (Module{0x2000000, 0x2010000}) {
		t.Errorf("modules %d %+v", got.NModules, got.Modules[0])
	}
	if !got.HaveMeminfo || got.MemLower != 639 || got.MemUpper != 129920 {
		t.Errorf("meminfo %v %d %d", got.HaveMeminfo, got.MemLower, got.MemUpper)
	}
	if got.NRegions != len(qemu128M) {
		t.Fatalf("%d regions", got.NRegions)
	}
	for i, r := range qemu128M {
		if got.Regions[i] != r {
			t.Errorf("region %d = %+v, want %+v", i, got.Regions[i], r)
		}
	}
	wantFB := Framebuffer{Addr: 0xfd000000, Pitch: 4096, Width: 1024, Height: 768, BPP: 32, Type: FramebufferRGB}
	if !got.HaveFramebuffer || got.Framebuffer != wantFB {
		t.Errorf("framebuffer %v %+v", got.HaveFramebuffer, got.Framebuffer)
	}
	if got.RSDPv1 != v1 || got.RSDPv2 != v2 || got.RSDP() != v2 {
		t.Errorf("RSDP v1 %#x (want %#x) v2 %#x (want %#x)", got.RSDPv1, v1, got.RSDPv2, v2)
	}
	if string(m[got.RSDPv2:got.RSDPv2+8]) != "RSD PTR " {
		t.Error("RSDPv2 does not point at the copy")
	}
	if got.InfoSize != uint64(le.Uint32(m[infoAt:])) || got.InfoAddr != infoAt {
		t.Errorf("info %#x size %#x", got.InfoAddr, got.InfoSize)
	}
	if got.NEFIRegions != 0 {
		t.Errorf("%d EFI regions from a BIOS block", got.NEFIRegions)
	}
}

func TestParseEFIMap(t *testing.T) {
	regions := []EFIRegion{
		{EFIBootServicesCode, 0, 0xa0, 0xf},
		{EFIConventionalMemory, 0x100000, 0x700, 0xf},
		{EFIACPIReclaimMemory, 0x800000, 0x10, 0xf},
		{EFIRuntimeServicesData, 0x810000, 0x20, 0x800000000000000f},
	}
	for _, size := range []int{40, 48} { // OVMF uses 48-byte descriptors
		var in info
		in.tag(TagACPIOld, rsdp(0, 20))
		in.tag(TagEFIMmap, efiBody(size, regions))
		var got Info
		if msg := Parse(in.mem(), BootMagic, infoAt, &got); msg != "" {
			t.Fatalf("descriptor size %d: %s", size, msg)
		}
		if got.NEFIRegions != len(regions) {
			t.Fatalf("descriptor size %d: %d regions", size, got.NEFIRegions)
		}
		for i, r := range regions {
			if got.EFIRegions[i] != r {
				t.Errorf("descriptor size %d: region %d = %+v, want %+v", size, i, got.EFIRegions[i], r)
			}
		}
		if got.RSDP() != got.RSDPv1 || got.RSDPv1 == 0 {
			t.Errorf("RSDP() = %#x with only the old tag at %#x", got.RSDP(), got.RSDPv1)
		}
		if got.EFIRegions[1].End() != 0x800000 {
			t.Errorf("End = %#x", got.EFIRegions[1].End())
		}
	}
	for typ, want := range map[uint32]uint32{
		EFIConventionalMemory: RegionAvailable, EFIBootServicesData: RegionAvailable, EFILoaderCode: RegionAvailable,
		EFIACPIReclaimMemory: RegionACPI, EFIACPIMemoryNVS: RegionNVS, EFIUnusableMemory: RegionBad,
		EFIRuntimeServicesCode: RegionReserved, EFIMemoryMappedIO: RegionReserved, EFIPersistentMemory: RegionReserved, 77: RegionReserved,
	} {
		if got := EFIRegionType(typ); got != want {
			t.Errorf("EFIRegionType(%d) = %d, want %d", typ, got, want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		magic uint64
		addr  uint64
		mem   func() fakeMem
		want  string
	}{
		{"multiboot v1 magic", 0x2BADB002, infoAt, func() fakeMem { return (&info{}).mem() }, "bad magic"},
		{"null pointer", BootMagic, 0, func() fakeMem { return (&info{}).mem() }, "null"},
		{"unaligned", BootMagic, infoAt + 4, func() fakeMem { return (&info{}).mem() }, "aligned"},
		{"total_size too small", BootMagic, infoAt, func() fakeMem {
			m := (&info{}).mem()
			le.PutUint32(m[infoAt:], 8)
			return m
		}, "total_size"},
		{"no end tag", BootMagic, infoAt, func() fakeMem {
			in := info{noEnd: true}
			in.tag(TagBasicMeminfo, u32s(639, 1000))
			return in.mem()
		}, "no end tag"},
		{"tag runs past total_size", BootMagic, infoAt, func() fakeMem {
			var in info
			in.tag(TagBasicMeminfo, u32s(639, 1000))
			m := in.mem()
			le.PutUint32(m[infoAt+12:], 0x100) // the meminfo tag's size
			return m
		}, "outside"},
		{"tag size below 8", BootMagic, infoAt, func() fakeMem {
			var in info
			in.tag(TagBasicMeminfo, u32s(639, 1000))
			m := in.mem()
			le.PutUint32(m[infoAt+12:], 4)
			return m
		}, "outside"},
		{"short meminfo", BootMagic, infoAt, func() fakeMem {
			return (&info{}).tag(TagBasicMeminfo, u32s(639)).mem()
		}, "too short"},
		{"module ends before it starts", BootMagic, infoAt, func() fakeMem {
			return (&info{}).tag(TagModule, moduleBody(0x3000, 0x2000, "")).mem()
		}, "ends before"},
		{"mmap entry size 20", BootMagic, infoAt, func() fakeMem {
			b := mmapBody(qemu128M)
			le.PutUint32(b, 20)
			return (&info{}).tag(TagMmap, b).mem()
		}, "entry size"},
		{"mmap entry wraps", BootMagic, infoAt, func() fakeMem {
			return (&info{}).tag(TagMmap, mmapBody([]Region{{^uint64(0) - 5, 10, 1}})).mem()
		}, "wraps"},
		{"EFI descriptor size 32", BootMagic, infoAt, func() fakeMem {
			return (&info{}).tag(TagEFIMmap, efiBody(32, nil)).mem()
		}, "descriptor size"},
		{"short RSDP v2 tag", BootMagic, infoAt, func() fakeMem {
			return (&info{}).tag(TagACPINew, rsdp(2, 20)).mem()
		}, "too short"},
		{"command line too long", BootMagic, infoAt, func() fakeMem {
			return (&info{}).tag(TagCmdline, []byte(strings.Repeat("x", MaxCmdline+1)+"\x00")).mem()
		}, "too long"},
		{"too many modules", BootMagic, infoAt, func() fakeMem {
			var in info
			for i := 0; i <= MaxModules; i++ {
				in.tag(TagModule, moduleBody(0x1000, 0x2000, ""))
			}
			return in.mem()
		}, "too many"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Info
			msg := Parse(tt.mem(), tt.magic, tt.addr, &got)
			if msg == "" || !strings.Contains(msg, tt.want) {
				t.Errorf("Parse = %q, want a message containing %q", msg, tt.want)
			}
		})
	}
}

// The mmap tag's entries are bounded by the tag's size, not by a count:
// a tag whose size cuts an entry short yields only the whole ones.
func TestParseMmapPartialEntry(t *testing.T) {
	b := mmapBody(qemu128M[:3])
	b = b[:len(b)-8]
	var got Info
	if msg := Parse((&info{}).tag(TagMmap, b).mem(), BootMagic, infoAt, &got); msg != "" {
		t.Fatal(msg)
	}
	if got.NRegions != 2 {
		t.Errorf("%d regions, want 2", got.NRegions)
	}
}

// A command line without its NUL ends at the tag's end.
func TestParseUnterminatedCmdline(t *testing.T) {
	var got Info
	if msg := Parse((&info{}).tag(TagCmdline, []byte("abc")).mem(), BootMagic, infoAt, &got); msg != "" {
		t.Fatal(msg)
	}
	if got.CmdlineString() != "abc" {
		t.Errorf("cmdline %q", got.CmdlineString())
	}
}
