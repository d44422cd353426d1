package loader

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"testing"

	mb "beelzebox/boot/multiboot"
)

var le = binary.LittleEndian

// fakeMem is guest RAM [0, 1 MiB + main size) as a byte slice. Writes into
// the hole [LowMemoryEnd, MainMemoryStart) or past the end fail, as they
// would on a guest. It also implements multiboot.Mem so that the kernel's
// own parser can read back what the loader wrote.
type fakeMem struct{ b []byte }

func newMem(mainSize uint64, fill byte) *fakeMem {
	m := &fakeMem{make([]byte, MainMemoryStart+mainSize)}
	if fill != 0 {
		for i := range m.b {
			m.b[i] = fill
		}
	}
	return m
}

func (m *fakeMem) WriteAt(p []byte, gpa uint64) error {
	end := gpa + uint64(len(p))
	if end < gpa || end > uint64(len(m.b)) {
		return fmt.Errorf("[%#x, %#x) is outside guest RAM", gpa, end)
	}
	if gpa < MainMemoryStart && end > LowMemoryEnd {
		return fmt.Errorf("[%#x, %#x) touches the hole below 1 MiB", gpa, end)
	}
	copy(m.b[gpa:], p)
	return nil
}

func (m *fakeMem) U8(a uint64) uint8 {
	if a >= uint64(len(m.b)) {
		return 0
	}
	return m.b[a]
}

func (m *fakeMem) U32(a uint64) uint32 {
	if a > uint64(len(m.b))-4 {
		return 0
	}
	return le.Uint32(m.b[a:])
}

func (m *fakeMem) U64(a uint64) uint64 {
	if a > uint64(len(m.b))-8 {
		return 0
	}
	return le.Uint64(m.b[a:])
}

func (m *fakeMem) cstring(a uint64) string {
	e := bytes.IndexByte(m.b[a:], 0)
	if e < 0 {
		return string(m.b[a:])
	}
	return string(m.b[a : a+uint64(e)])
}

// header returns a multiboot header with a valid checksum; addr, if given,
// are the five address fields.
func header(flags uint32, addr ...uint32) []byte {
	h := le.AppendUint32(nil, mb.HeaderMagic)
	h = le.AppendUint32(h, flags)
	h = le.AppendUint32(h, -(mb.HeaderMagic + flags))
	for _, a := range addr {
		h = le.AppendUint32(h, a)
	}
	return h
}

// tseg is a test segment.
type tseg struct {
	typ          uint32 // 0 means PT_LOAD
	paddr, vaddr uint64
	data         []byte
	memsz        uint64
}

const hdrOff = 0xF00 // where the test ELF images carry the multiboot header

// elfImage builds an ET_EXEC ELF of the given class with a multiboot header
// at hdrOff and each segment's data at the next 4 KiB boundary of the file.
func elfImage(class byte, entry uint64, mbFlags uint32, segs ...tseg) []byte {
	machine, ehsize, phsize := uint16(emI386), 52, 32
	if class == elfClass64 {
		machine, ehsize, phsize = emX86_64, 64, 56
	}
	f := make([]byte, 0x1000)
	copy(f, "\x7fELF")
	f[4], f[5], f[6] = class, elfDataLSB, 1
	le.PutUint16(f[16:], etExec)
	le.PutUint16(f[18:], machine)
	le.PutUint32(f[20:], 1)
	phoff := uint64(ehsize)
	if class == elfClass64 {
		le.PutUint64(f[24:], entry)
		le.PutUint64(f[32:], phoff)
		le.PutUint16(f[52:], uint16(ehsize))
		le.PutUint16(f[54:], uint16(phsize))
		le.PutUint16(f[56:], uint16(len(segs)))
	} else {
		le.PutUint32(f[24:], uint32(entry))
		le.PutUint32(f[28:], uint32(phoff))
		le.PutUint16(f[40:], uint16(ehsize))
		le.PutUint16(f[42:], uint16(phsize))
		le.PutUint16(f[44:], uint16(len(segs)))
	}
	copy(f[hdrOff:], header(mbFlags))
	for i, s := range segs {
		off := uint64(len(f))
		f = append(f, s.data...)
		for len(f)%0x1000 != 0 {
			f = append(f, 0)
		}
		typ := s.typ
		if typ == 0 {
			typ = ptLoad
		}
		p := f[phoff+uint64(i*phsize):]
		le.PutUint32(p[0:], typ)
		if class == elfClass64 {
			le.PutUint32(p[4:], 7)
			le.PutUint64(p[8:], off)
			le.PutUint64(p[16:], s.vaddr)
			le.PutUint64(p[24:], s.paddr)
			le.PutUint64(p[32:], uint64(len(s.data)))
			le.PutUint64(p[40:], s.memsz)
			le.PutUint64(p[48:], 0x1000)
		} else {
			le.PutUint32(p[4:], uint32(off))
			le.PutUint32(p[8:], uint32(s.vaddr))
			le.PutUint32(p[12:], uint32(s.paddr))
			le.PutUint32(p[16:], uint32(len(s.data)))
			le.PutUint32(p[20:], uint32(s.memsz))
			le.PutUint32(p[24:], 7)
			le.PutUint32(p[28:], 0x1000)
		}
	}
	return f
}

// pattern returns n bytes that differ from their neighbours and from the
// fill byte of the test memory.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed | 1
	}
	return b
}

// aoutImage builds a flat binary: 0x40 bytes of code, the header at 0x40
// loaded at loadAddr, body bytes after it.
func aoutImage(loadAddr, loadEnd, bssEnd, entry uint32, body int) []byte {
	f := pattern(0x40, 0x33)
	f = append(f, header(mb.HeaderFlagAddress|mb.HeaderFlagMemInfo|mb.HeaderFlagPageAlign, loadAddr+0x40, loadAddr, loadEnd, bssEnd, entry)...)
	return append(f, pattern(body, 0x55)...)
}

const testMain = 4 << 20 // 4 MiB of main memory

func mustLoad(t *testing.T, mem *fakeMem, cfg Config) Boot {
	t.Helper()
	b, err := Load(mem, cfg)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if b.Magic != mb.BootMagic || b.InfoAddr != InfoAddr {
		t.Fatalf("Boot = %+v", b)
	}
	return b
}

func checkBytes(t *testing.T, mem *fakeMem, at uint64, want []byte, what string) {
	t.Helper()
	if got := mem.b[at : at+uint64(len(want))]; !bytes.Equal(got, want) {
		t.Errorf("%s at %#x: bytes differ", what, at)
	}
}

func checkZero(t *testing.T, mem *fakeMem, from, to uint64, what string) {
	t.Helper()
	for a := from; a < to; a++ {
		if mem.b[a] != 0 {
			t.Errorf("%s: byte at %#x is %#x, want 0 (bss not zeroed)", what, a, mem.b[a])
			return
		}
	}
}

func TestLoadELF32(t *testing.T) {
	text := pattern(0x1800, 1)
	data := pattern(0x100, 2)
	k := elfImage(elfClass32, 0x10000C, mb.HeaderFlagMemInfo|mb.HeaderFlagPageAlign,
		tseg{paddr: 0x100000, vaddr: 0x100000, data: text, memsz: uint64(len(text))},
		tseg{typ: 4, paddr: 0x50000, data: []byte("note, not loaded")}, // PT_NOTE
		tseg{paddr: 0x102000, vaddr: 0x102000, data: data, memsz: 0x2000},
	)
	mem := newMem(testMain, 0xAA)
	b := mustLoad(t, mem, Config{Kernel: k, CmdLine: "console=ttyS0", MainSize: testMain})
	if b.Format != FormatELF32 || b.EntryPoint != 0x10000C || b.KernelStart != 0x100000 || b.KernelEnd != 0x104000 {
		t.Errorf("Boot = %+v", b)
	}
	checkBytes(t, mem, 0x100000, text, "text")
	checkBytes(t, mem, 0x102000, data, "data")
	checkZero(t, mem, 0x102100, 0x104000, "bss")
	if mem.b[0x50000] != 0xAA || mem.b[0x104000] != 0xAA {
		t.Errorf("loader wrote outside the PT_LOAD segments")
	}
}

func TestLoadELF64(t *testing.T) {
	text := pattern(0x3000, 3)
	k := elfImage(elfClass64, 0x200010, mb.HeaderFlagMemInfo,
		tseg{paddr: 0x200000, vaddr: 0x200000, data: text, memsz: 0x5000},
	)
	mem := newMem(testMain, 0xAA)
	b := mustLoad(t, mem, Config{Kernel: k, MainSize: testMain})
	if b.Format != FormatELF64 || b.EntryPoint != 0x200010 || b.KernelStart != 0x200000 || b.KernelEnd != 0x205000 {
		t.Errorf("Boot = %+v", b)
	}
	checkBytes(t, mem, 0x200000, text, "text")
	checkZero(t, mem, 0x203000, 0x205000, "bss")
}

// A higher-half kernel: linked at a high virtual address, loaded at
// p_paddr; the entry point is translated to physical.
func TestLoadELF64HigherHalf(t *testing.T) {
	const base = 0xFFFFFFFF80000000
	text := pattern(0x1000, 4)
	k := elfImage(elfClass64, base+0x100020, mb.HeaderFlagMemInfo,
		tseg{paddr: 0x100000, vaddr: base + 0x100000, data: text, memsz: 0x1000},
	)
	mem := newMem(testMain, 0)
	b := mustLoad(t, mem, Config{Kernel: k, MainSize: testMain})
	if b.EntryPoint != 0x100020 || b.KernelStart != 0x100000 {
		t.Errorf("Boot = %+v", b)
	}
	checkBytes(t, mem, 0x100000, text, "text")
}

func TestLoadAOut(t *testing.T) {
	// Explicit load_end_addr, shorter than the file, and a bss.
	k := aoutImage(0x300000, 0x300000+0x1000, 0x303000, 0x300004, 0x2000)
	mem := newMem(testMain, 0xAA)
	b := mustLoad(t, mem, Config{Kernel: k, MainSize: testMain})
	if b.Format != FormatAOut || b.EntryPoint != 0x300004 || b.KernelStart != 0x300000 || b.KernelEnd != 0x303000 {
		t.Errorf("Boot = %+v", b)
	}
	checkBytes(t, mem, 0x300000, k[:0x1000], "image")
	checkZero(t, mem, 0x301000, 0x303000, "bss")
	if mem.b[0x303000] != 0xAA {
		t.Errorf("wrote past bss_end_addr")
	}

	// load_end_addr 0: the whole file; bss_end_addr 0: no bss.
	k = aoutImage(0x100000, 0, 0, 0x100000, 0x1234)
	mem = newMem(testMain, 0xAA)
	b = mustLoad(t, mem, Config{Kernel: k, MainSize: testMain})
	if b.KernelStart != 0x100000 || b.KernelEnd != 0x100000+uint64(len(k)) || b.EntryPoint != 0x100000 {
		t.Errorf("Boot = %+v", b)
	}
	checkBytes(t, mem, 0x100000, k, "image")
	if mem.b[0x100000+len(k)] != 0xAA {
		t.Errorf("wrote past the file with bss_end_addr 0")
	}

	// The header deeper in the file than header_addr-load_addr: loading
	// starts partway into the file.
	f := append(make([]byte, 0x100), header(mb.HeaderFlagAddress, 0x100010, 0x100000, 0x100020, 0, 0x100000)...)
	f = append(f, pattern(0x20, 9)...)
	mem = newMem(testMain, 0)
	b = mustLoad(t, mem, Config{Kernel: f, MainSize: testMain})
	checkBytes(t, mem, 0x100000, f[0xF0:0x110], "image from file offset 0xF0")
}

// An ELF file with the a.out kludge flag is loaded from the address
// fields, as beelzebox's own kernel.elf is.
func TestAOutWinsOverELF(t *testing.T) {
	k := elfImage(elfClass64, 0x10000C, 0, tseg{paddr: 0x400000, vaddr: 0x400000, data: pattern(16, 1), memsz: 16})
	h := header(mb.HeaderFlagAddress|mb.HeaderFlagMemInfo, 0x100000+hdrOff, 0x100000, 0, 0x100000+uint32(len(k))+0x1000, 0x100000+hdrOff+32)
	copy(k[hdrOff:], h)
	mem := newMem(testMain, 0xAA)
	b := mustLoad(t, mem, Config{Kernel: k, MainSize: testMain})
	if b.Format != FormatAOut || b.KernelStart != 0x100000 || b.EntryPoint != 0x100000+hdrOff+32 {
		t.Errorf("Boot = %+v", b)
	}
	checkBytes(t, mem, 0x100000, k, "image")
	if mem.b[0x400000] != 0xAA {
		t.Errorf("loaded the ELF segment too")
	}
}

// The information structure, read back by the kernel's own parser.
func TestInfoRoundTrip(t *testing.T) {
	k := aoutImage(0x100000, 0, 0x102345, 0x100000, 0x100)
	mods := []Module{
		{Data: pattern(1, 5), String: "first one"},
		{Data: pattern(0x1001, 6), String: ""},
		{Data: nil, String: "empty module"},
		{Data: pattern(0x3000, 7), String: "/boot/initramfs.cpio root=ram"},
	}
	cmdline := "build/kernel.elf suites=all console=ttyS0"
	mem := newMem(testMain, 0xAA)
	b := mustLoad(t, mem, Config{Kernel: k, CmdLine: cmdline, Modules: mods, MainSize: testMain})

	var in mb.Info
	if msg := mb.Parse(mem, uint64(b.Magic), uint64(b.InfoAddr), &in); msg != "" {
		t.Fatalf("multiboot.Parse: %s", msg)
	}
	if got := in.CmdlineString(); got != cmdline {
		t.Errorf("cmdline = %q, want %q", got, cmdline)
	}
	wantRegions := []mb.Region{
		{Base: 0, Length: 0x9FC00, Type: mb.RegionAvailable},
		{Base: 0x9FC00, Length: 0x400, Type: mb.RegionReserved},
		{Base: 0xF0000, Length: 0x10000, Type: mb.RegionReserved},
		{Base: 0x100000, Length: testMain, Type: mb.RegionAvailable},
	}
	if in.NRegions != len(wantRegions) {
		t.Fatalf("regions = %v", in.Regions[:in.NRegions])
	}
	for i, r := range wantRegions {
		if in.Regions[i] != r {
			t.Errorf("region %d = %+v, want %+v", i, in.Regions[i], r)
		}
	}
	if got, want := in.TotalAvailable(), uint64(0x9FC00+testMain); got != want {
		t.Errorf("TotalAvailable = %#x, want %#x", got, want)
	}
	if in.NModules != len(mods) {
		t.Fatalf("modules = %v", in.Modules[:in.NModules])
	}
	// Modules start at the first page past the kernel's bss, each on a
	// page boundary.
	next := uint64(0x103000)
	for i, m := range mods {
		got := in.Modules[i]
		if got.Start != next || got.End != got.Start+uint64(len(m.Data)) {
			t.Errorf("module %d = [%#x, %#x), want start %#x, %d bytes", i, got.Start, got.End, next, len(m.Data))
		}
		if got.Start%PageSize != 0 {
			t.Errorf("module %d at %#x is not page-aligned", i, got.Start)
		}
		checkBytes(t, mem, got.Start, m.Data, fmt.Sprintf("module %d", i))
		next = alignUp(got.End)
		// Parse does not decode module strings; read the list by hand.
		e := uint64(mem.U32(uint64(b.InfoAddr)+mb.InfoModsAddrOff)) + uint64(i)*mb.ModEntrySize
		if s := mem.cstring(uint64(mem.U32(e + mb.ModStringOff))); s != m.String {
			t.Errorf("module %d string = %q, want %q", i, s, m.String)
		}
		if r := mem.U32(e + mb.ModReservedOff); r != 0 {
			t.Errorf("module %d reserved word = %#x", i, r)
		}
	}
	info := uint64(b.InfoAddr)
	flags := mem.U32(info + mb.InfoFlagsOff)
	wantFlags := uint32(mb.InfoFlagMem | mb.InfoFlagCmdline | mb.InfoFlagMods | mb.InfoFlagMmap | mb.InfoFlagBootLoaderName)
	if flags != wantFlags {
		t.Errorf("flags = %#x, want %#x", flags, wantFlags)
	}
	if lo, hi := mem.U32(info+mb.InfoMemLowerOff), mem.U32(info+mb.InfoMemUpperOff); lo != 639 || hi != testMain/1024 {
		t.Errorf("mem_lower, mem_upper = %d, %d KiB; want 639, %d", lo, hi, testMain/1024)
	}
	if s := mem.cstring(uint64(mem.U32(info + mb.InfoBootLoaderNameOff))); s != "beelzebox" {
		t.Errorf("boot loader name = %q", s)
	}
	// Everything the loader put in low memory is reserved by Parse's
	// reckoning and lies in [0x1000, 0x9FC00).
	for _, r := range in.Reserved[:in.NReserved] {
		if r.Start < 0x1000 || r.End > LowLimit {
			t.Errorf("loader structure [%#x, %#x) outside [0x1000, %#x)", r.Start, r.End, LowLimit)
		}
	}
}

func TestNoModules(t *testing.T) {
	k := aoutImage(0x100000, 0, 0, 0x100000, 0x10)
	mem := newMem(testMain, 0xAA)
	b := mustLoad(t, mem, Config{Kernel: k, MainSize: testMain})
	info := uint64(b.InfoAddr)
	if f := mem.U32(info + mb.InfoFlagsOff); f&mb.InfoFlagMods != 0 || mem.U32(info+mb.InfoModsCountOff) != 0 {
		t.Errorf("flags %#x, mods_count %d with no modules", f, mem.U32(info+mb.InfoModsCountOff))
	}
	var in mb.Info
	if msg := mb.Parse(mem, uint64(b.Magic), info, &in); msg != "" || in.NModules != 0 || in.CmdlineLen != 0 {
		t.Errorf("Parse = %q, %d modules, cmdline %q", msg, in.NModules, in.CmdlineString())
	}
}

// The largest inputs the limits allow fit in low memory.
func TestLimitsFit(t *testing.T) {
	k := aoutImage(0x100000, 0, 0, 0x100000, 0x10)
	mods := make([]Module, MaxModules)
	for i := range mods {
		mods[i] = Module{Data: []byte{byte(i)}, String: strings.Repeat("m", MaxModuleString)}
	}
	mem := newMem(testMain, 0)
	b := mustLoad(t, mem, Config{Kernel: k, CmdLine: strings.Repeat("c", MaxCmdLine), Modules: mods, MainSize: testMain})
	e := uint64(ModListAddr) + (MaxModules-1)*mb.ModEntrySize
	if s := mem.cstring(uint64(mem.U32(e + mb.ModStringOff))); s != mods[MaxModules-1].String {
		t.Errorf("last module string is %d bytes", len(s))
	}
	if s := mem.cstring(uint64(mem.U32(uint64(b.InfoAddr) + mb.InfoCmdlineOff))); len(s) != MaxCmdLine {
		t.Errorf("cmdline is %d bytes", len(s))
	}
}

func TestErrors(t *testing.T) {
	ok32 := func(segs ...tseg) []byte { return elfImage(elfClass32, 0x100000, 0, segs...) }
	ok64 := func(entry uint64, segs ...tseg) []byte { return elfImage(elfClass64, entry, 0, segs...) }
	seg := func(paddr, filesz, memsz uint64) tseg {
		return tseg{paddr: paddr, vaddr: paddr, data: pattern(int(filesz), 1), memsz: memsz}
	}
	good := ok32(seg(0x100000, 0x10, 0x10))
	withFlags := func(flags uint32) []byte {
		k := bytes.Clone(good)
		copy(k[hdrOff:], header(flags))
		return k
	}
	badSum := bytes.Clone(good)
	le.PutUint32(badSum[hdrOff+8:], 0)
	late := append(make([]byte, 8192), header(0)...) // past the search window
	manyLoads := make([]tseg, MaxLoadSegments+1)
	for i := range manyLoads {
		manyLoads[i] = seg(0x100000+uint64(i)*0x1000, 0, 0x10)
	}
	truncPH := bytes.Clone(good)
	le.PutUint16(truncPH[44:], 300) // e_phnum: 300 headers do not fit in the file
	truncEH := make([]byte, 20)     // the multiboot header in e_ident's padding
	copy(truncEH, "\x7fELF\x02\x01\x01")
	copy(truncEH[8:], header(0))
	segPastFile := ok32(seg(0x100000, 0x10, 0x10))
	le.PutUint32(segPastFile[52+4:], 0x7FFFFFF0) // p_offset
	bigEndian := bytes.Clone(good)
	bigEndian[5] = 2
	notExec := bytes.Clone(good)
	le.PutUint16(notExec[16:], 3)
	wrongMachine := bytes.Clone(good)
	le.PutUint16(wrongMachine[18:], emX86_64)
	noLoads := elfImage(elfClass32, 0x100000, 0, tseg{typ: 4, data: []byte{1}})
	aout := func(headerAddr, loadAddr, loadEnd, bssEnd uint32) []byte {
		f := append(pattern(0x40, 1), header(mb.HeaderFlagAddress, headerAddr, loadAddr, loadEnd, bssEnd, loadAddr)...)
		return append(f, pattern(0x100, 2)...)
	}
	aoutShort := append(pattern(0x40, 1), header(mb.HeaderFlagAddress, 0x100040)...)
	k := aoutImage(0x100000, 0, 0, 0x100000, 0x10)

	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no header", Config{Kernel: pattern(10000, 0)}, "no multiboot v1 header in the first 8192 bytes: the magic 0x1badb002 is not there"},
		{"header past 8192", Config{Kernel: late}, "is not there"},
		{"bad checksum", Config{Kernel: badSum}, "no multiboot v1 header in the first 8192 bytes: the magic 0x1badb002 at offset 0xf00 has a bad checksum"},
		{"video flag", Config{Kernel: withFlags(mb.HeaderFlagVideoMode | mb.HeaderFlagMemInfo)}, "video mode (flags bit 2) is not supported"},
		{"unknown required flag", Config{Kernel: withFlags(1 << 5)}, "flags bit 5"},
		{"unknown required flag 15", Config{Kernel: withFlags(1<<15 | 1<<20)}, "flags bit 15"},
		{"not ELF", Config{Kernel: append(header(0), pattern(100, 1)...)}, "neither ELF nor"},
		{"big-endian ELF", Config{Kernel: bigEndian}, "not little-endian"},
		{"not executable", Config{Kernel: notExec}, "not an executable"},
		{"wrong machine", Config{Kernel: wrongMachine}, "e_machine 62"},
		{"no PT_LOAD", Config{Kernel: noLoads}, "no PT_LOAD"},
		{"segment below 1 MiB", Config{Kernel: ok32(seg(0x8000, 0x10, 0x10))}, "ELF segment 0 [0x8000, 0x8010) lies below 1 MiB"},
		{"segment straddles 1 MiB", Config{Kernel: ok32(seg(0xFF000, 0x2000, 0x2000))}, "lies below 1 MiB"},
		{"segment beyond RAM", Config{Kernel: ok32(seg(0x100000, 0x10, 0x10), seg(0x4FF000, 0x10, 0x2000))}, "ELF segment 1 [0x4ff000, 0x501000) extends beyond guest RAM, which ends at 0x500000"},
		{"segment wraps", Config{Kernel: ok64(0x100000, seg(0xFFFFFFFFFFFFF000, 0, 0x2000))}, "wraps around"},
		{"ELF64 entry above 4 GiB", Config{Kernel: ok64(0x100000000, seg(0x100000, 0x10, 0x10))}, "entry point 0x100000000 is above 4 GiB"},
		{"p_memsz < p_filesz", Config{Kernel: ok32(seg(0x100000, 0x20, 0x10))}, "p_memsz 0x10 is less than p_filesz 0x20"},
		{"segment past end of file", Config{Kernel: segPastFile}, "beyond the end of the file"},
		{"truncated program headers", Config{Kernel: truncPH}, "truncated"},
		{"truncated ELF header", Config{Kernel: truncEH}, "truncated"},
		{"too many PT_LOADs", Config{Kernel: ok32(manyLoads...)}, "more than 64 PT_LOAD"},
		{"a.out fields cut off", Config{Kernel: aoutShort}, "ends before its address fields"},
		{"a.out load_addr > header_addr", Config{Kernel: aout(0x100000, 0x100040, 0, 0)}, "load_addr 0x100040 is above header_addr"},
		{"a.out load before file", Config{Kernel: aout(0x200000, 0x100000, 0, 0)}, "before the file"},
		{"a.out load_end < load_addr", Config{Kernel: aout(0x100040, 0x100000, 0x1000, 0)}, "load_end_addr 0x1000 is below load_addr"},
		{"a.out load_end past file", Config{Kernel: aout(0x100040, 0x100000, 0xFFFFFFFF, 0)}, "but the file is"},
		{"a.out bss_end < load_end", Config{Kernel: aout(0x100040, 0x100000, 0x100100, 0x100080)}, "bss_end_addr 0x100080 is below"},
		{"a.out bss_end beyond RAM", Config{Kernel: aout(0x100040, 0x100000, 0, 0xFFFFFFFF)}, "extends beyond guest RAM"},
		{"a.out below 1 MiB", Config{Kernel: aout(0x1040, 0x1000, 0, 0)}, "a.out kludge image [0x1000, 0x1160) lies below 1 MiB"},
		{"a.out near 4 GiB", Config{Kernel: aout(0xFFFFFFF0, 0xFFFFFFB0, 0, 0)}, "extends beyond guest RAM"},
		{"empty kernel", Config{}, "empty"},
		{"no main memory", Config{Kernel: k, MainSize: 0}, "no main memory"},
		{"huge main memory", Config{Kernel: k, MainSize: 1 << 62}, "too large"},
		{"too many modules", Config{Kernel: k, Modules: make([]Module, MaxModules+1)}, "65 modules, the limit is 64"},
		{"oversize cmdline", Config{Kernel: k, CmdLine: strings.Repeat("x", MaxCmdLine+1)}, "command line is 4097 bytes"},
		{"NUL in cmdline", Config{Kernel: k, CmdLine: "a\x00b"}, "NUL"},
		{"oversize module string", Config{Kernel: k, Modules: []Module{{String: strings.Repeat("x", MaxModuleString+1)}}}, "module 0's string is 4097 bytes"},
		{"modules do not fit", Config{Kernel: k, Modules: []Module{{Data: make([]byte, 2<<20)}, {Data: make([]byte, 2<<20)}}}, "module 1 (2097152 bytes) does not fit"},
	}
	for _, c := range cases {
		if c.cfg.MainSize == 0 && c.name != "no main memory" {
			c.cfg.MainSize = testMain
		}
		mem := newMem(testMain, 0)
		_, err := Load(mem, c.cfg)
		if err == nil {
			t.Errorf("%s: Load succeeded", c.name)
			continue
		}
		if !strings.HasPrefix(err.Error(), "loader: ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q, want it to mention %q", c.name, err, c.want)
		}
	}
}

// A Memory that fails: its error is reported, not swallowed.
type failMem struct{}

func (failMem) WriteAt([]byte, uint64) error { return errors.New("no RAM here") }

func TestMemoryError(t *testing.T) {
	_, err := Load(failMem{}, Config{Kernel: aoutImage(0x100000, 0, 0, 0x100000, 0x10), MainSize: testMain})
	if err == nil || !strings.Contains(err.Error(), "no RAM here") {
		t.Errorf("Load = %v", err)
	}
}

func seedImages() [][]byte {
	return [][]byte{
		elfImage(elfClass32, 0x100004, mb.HeaderFlagMemInfo,
			tseg{paddr: 0x100000, vaddr: 0x100000, data: pattern(0x200, 1), memsz: 0x1000},
			tseg{paddr: 0x102000, vaddr: 0x102000, data: pattern(0x10, 2), memsz: 0x3000}),
		elfImage(elfClass64, 0x100004, mb.HeaderFlagMemInfo,
			tseg{paddr: 0x100000, vaddr: 0x100000, data: pattern(0x200, 1), memsz: 0x1000},
			tseg{paddr: 0x102000, vaddr: 0x102000, data: pattern(0x10, 2), memsz: 0x3000}),
		aoutImage(0x100000, 0x100100, 0x104000, 0x100000, 0x200),
	}
}

// Random mutations of valid images: errors are fine, panics are not, and
// whatever loads lies in RAM.
func TestMutations(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	mem := newMem(1<<20, 0)
	mods := []Module{{Data: []byte("module"), String: "m"}}
	n := 3000
	if testing.Short() {
		n = 300
	}
	interesting := []uint32{0, 1, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0x100000, 0xFFFF, 0x1000, 0x1BADB002}
	loaded := 0
	for _, seed := range seedImages() {
		for i := 0; i < n; i++ {
			k := bytes.Clone(seed)
			for j := rng.Intn(4) + 1; j > 0; j-- {
				if len(k) == 0 {
					break
				}
				off := rng.Intn(len(k))
				if rng.Intn(3) == 0 {
					// Concentrate on the headers.
					off = rng.Intn(min(len(k), hdrOff+0x40))
				}
				switch rng.Intn(4) {
				case 0:
					k[off] ^= byte(1 << rng.Intn(8))
				case 1:
					k[off] = byte(rng.Intn(256))
				case 2:
					if off+4 <= len(k) {
						le.PutUint32(k[off:], interesting[rng.Intn(len(interesting))])
					}
				case 3:
					k = k[:off]
				}
			}
			// Keep the header's checksum valid half the time, so that the
			// mutations reach the format parsers.
			if rng.Intn(2) == 0 {
				if off, _, err := findHeader(k); err == nil {
					flags := le.Uint32(k[off+4:])
					le.PutUint32(k[off+8:], -(mb.HeaderMagic + flags))
				}
			}
			b, err := func() (b Boot, err error) {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("Load panicked on a mutated image: %v", r)
					}
				}()
				return Load(mem, Config{Kernel: k, CmdLine: "x", Modules: mods, MainSize: 1 << 20})
			}()
			if err == nil {
				loaded++
				if b.KernelStart < MainMemoryStart || b.KernelEnd > MainMemoryStart+1<<20 || b.KernelEnd <= b.KernelStart {
					t.Fatalf("loaded image [%#x, %#x) outside main memory", b.KernelStart, b.KernelEnd)
				}
			}
		}
	}
	t.Logf("%d of %d mutated images loaded", loaded, 3*n)
}

// FuzzLoad is the same property for `go test -fuzz=FuzzLoad`.
func FuzzLoad(f *testing.F) {
	for _, s := range seedImages() {
		f.Add(s)
	}
	mem := newMem(1<<20, 0)
	f.Fuzz(func(t *testing.T, k []byte) {
		Load(mem, Config{Kernel: k, CmdLine: "x", Modules: []Module{{Data: []byte{1}}}, MainSize: 1 << 20})
	})
}

// beelzebox's own kernel, if it has been built: an ELF64 that carries a
// multiboot header with the a.out kludge (QEMU refuses ELF64 otherwise).
func TestLoadBeelzebox(t *testing.T) {
	const path = "/work/main/build/kernel.elf"
	k, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("%s: %v", path, err)
	}
	off, flags, err := findHeader(k)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("header at %#x, flags %#x", off, flags)
	mem := newMem(64<<20, 0xAA)
	b, err := Load(mem, Config{Kernel: k, CmdLine: "build/kernel.elf", MainSize: 64 << 20})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Logf("%+v", b)

	ef, err := elf.NewFile(bytes.NewReader(k))
	if err != nil {
		t.Fatal(err)
	}
	if flags&mb.HeaderFlagAddress != 0 {
		h := k[off:]
		if b.Format != FormatAOut {
			t.Errorf("Format = %q", b.Format)
		}
		if want := le.Uint32(h[mb.HeaderEntryAddrOff:]); b.EntryPoint != want {
			t.Errorf("entry = %#x, header entry_addr = %#x", b.EntryPoint, want)
		}
		if want := uint64(le.Uint32(h[mb.HeaderLoadAddrOff:])); b.KernelStart != want {
			t.Errorf("KernelStart = %#x, load_addr = %#x", b.KernelStart, want)
		}
		if want := uint64(le.Uint32(h[mb.HeaderBSSEndAddrOff:])); want != 0 && b.KernelEnd != want {
			t.Errorf("KernelEnd = %#x, bss_end_addr = %#x", b.KernelEnd, want)
		}
	} else if b.Format != FormatELF64 {
		t.Errorf("Format = %q", b.Format)
	}
	if uint64(b.EntryPoint) != ef.Entry {
		t.Errorf("entry = %#x, ELF e_entry = %#x", b.EntryPoint, ef.Entry)
	}
	// Whatever the header said, the bytes of every PT_LOAD are at its
	// physical address: the kludge fields describe the same image.
	for i, p := range ef.Progs {
		if p.Type != elf.PT_LOAD || p.Filesz == 0 {
			continue
		}
		data := make([]byte, p.Filesz)
		if _, err := p.ReadAt(data, 0); err != nil {
			t.Fatal(err)
		}
		checkBytes(t, mem, p.Paddr, data, fmt.Sprintf("PT_LOAD %d", i))
		checkZero(t, mem, p.Paddr+p.Filesz, p.Paddr+p.Memsz, fmt.Sprintf("PT_LOAD %d bss", i))
	}
}
