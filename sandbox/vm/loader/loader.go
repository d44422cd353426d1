// Package loader loads a Multiboot v1 kernel (Multiboot Specification
// 0.6.96) and its modules into a guest's physical memory and builds the
// Multiboot information structure the guest reads at entry.
//
// It is ordinary Go: it allocates, formats errors with fmt, and runs in the
// kernel in goroutine context as well as on the host in tests. The kernel
// image is untrusted: every offset and size read from it is checked before
// use, a malformed image gives an error (never a panic), and nothing is
// allocated in proportion to a size the image claims.
//
// # Guest-physical layout
//
// RAM is low memory [0, LowMemoryEnd) and main memory
// [MainMemoryStart, MainMemoryStart+MainSize). The kernel image and the
// modules go in main memory; the loader's own structures go in low memory,
// below the extended BIOS data area at LowLimit (0x9FC00), which the memory
// map reports as reserved:
//
//	0x00000-0x00FFF  untouched (real-mode interrupt vectors and BIOS data)
//	0x01000          information structure (InfoAddr, multiboot.InfoSize bytes)
//	0x01100          boot loader name "beelzebox\0" (LoaderNameAddr)
//	0x01200          memory map, 4 entries of 24 bytes (MmapAddr)
//	0x01400-0x017FF  module list, up to MaxModules entries of 16 bytes (ModListAddr)
//	0x02000-0x03000  command line, up to MaxCmdLine bytes and a NUL (CmdLineAddr)
//	0x04000-         module strings, NUL-terminated, packed (ModStringsAddr)
//	0x9FC00-0x9FFFF  reserved (EBDA)
//	0xA0000-0xEFFFF  not RAM (VGA window, option ROMs): not in the memory map
//	0xF0000-0xFFFFF  reserved (BIOS)
//	0x100000-        kernel image at the addresses it asks for, then each
//	                 module at the next 4 KiB boundary past the previous one
//
// The memory map is
//
//	[0, 0x9FC00)                          available
//	[0x9FC00, 0xA0000)                    reserved
//	[0xF0000, 0x100000)                   reserved
//	[0x100000, 0x100000+MainSize)         available
//
// and mem_lower is 639 (KiB, = 0x9FC00/1024), mem_upper is MainSize/1024.
//
// # Image formats
//
// If the header sets flag 16 (the "a.out kludge") its address fields are
// used, whatever the file's format (as GRUB and QEMU do). Otherwise the file
// must be a little-endian ET_EXEC ELF32 (EM_386) or ELF64 (EM_X86_64); each
// PT_LOAD segment is loaded at its physical address p_paddr (Multiboot
// loads at physical addresses; p_vaddr is used only to translate the entry
// point). The entry point is e_entry, translated to physical through the
// PT_LOAD whose virtual range holds it (as GRUB does; for the usual
// identity-linked kernel this changes nothing), and must lie below 4 GiB.
package loader

import (
	"encoding/binary"
	"fmt"

	mb "beelzebox/boot/multiboot"
)

// Memory is the guest's physical RAM as the loader sees it.
type Memory interface {
	// WriteAt copies p to guest-physical address gpa; an error if any
	// byte is outside guest RAM.
	WriteAt(p []byte, gpa uint64) error
}

// Layout of guest-physical RAM: low memory [0, LowMemoryEnd) and main
// memory [MainMemoryStart, MainMemoryStart+MainSize), contiguous from 1 MiB.
const LowMemoryEnd = 0xA0000 // 640 KiB

// MainMemoryStart is where main memory begins (1 MiB).
const MainMemoryStart = 0x100000

// Where the loader puts its structures in low memory (see the package
// comment).
const (
	InfoAddr       = 0x1000
	LoaderNameAddr = 0x1100
	MmapAddr       = 0x1200
	ModListAddr    = 0x1400
	CmdLineAddr    = 0x2000
	ModStringsAddr = 0x4000
	// LowLimit is the end of available low memory: the EBDA follows.
	LowLimit = 0x9FC00
	// MemLower is mem_lower, in KiB.
	MemLower = LowLimit / 1024
)

// Limits on what the loader accepts.
const (
	MaxCmdLine      = 4096 // bytes, without the NUL
	MaxModules      = 64
	MaxModuleString = 4096 // bytes, without the NUL
	MaxLoadSegments = 64
	PageSize        = 4096
)

// BootLoaderName is the string the information structure points to.
const BootLoaderName = "beelzebox"

// Image formats reported in Boot.Format.
const (
	FormatELF32 = "elf32"
	FormatELF64 = "elf64"
	FormatAOut  = "a.out kludge"
)

// Module is a boot module: its contents and its command line.
type Module struct {
	Data   []byte
	String string // the module's command line
}

// Config is what to load.
type Config struct {
	Kernel   []byte // the kernel image file
	CmdLine  string
	Modules  []Module
	MainSize uint64 // bytes of RAM from 1 MiB (the host sizes the guest)
}

// Boot is the machine state the guest starts in (multiboot §3.2):
// 32-bit protected mode, paging off, EAX=0x2BADB002, EBX = info address.
type Boot struct {
	EntryPoint             uint32 // EIP
	InfoAddr               uint32 // EBX
	Magic                  uint32 // EAX, 0x2BADB002
	KernelStart, KernelEnd uint64 // guest-physical extent of the loaded image incl. bss
	Format                 string // "elf32", "elf64" or "a.out kludge"
}

// segment is a piece of the image to load: data at addr, then zeros up to
// addr+memsz.
type segment struct {
	name  string // for error messages
	addr  uint64
	data  []byte
	memsz uint64
}

type image struct {
	segs   []segment
	entry  uint64
	format string
}

func errorf(format string, args ...any) error {
	return fmt.Errorf("loader: "+format, args...)
}

// Load loads cfg's kernel and modules into mem, writes the information
// structure, and returns the state the guest must start in.
func Load(mem Memory, cfg Config) (Boot, error) {
	ramEnd, err := checkConfig(cfg)
	if err != nil {
		return Boot{}, err
	}
	off, flags, err := findHeader(cfg.Kernel)
	if err != nil {
		return Boot{}, err
	}
	if err := checkFlags(flags); err != nil {
		return Boot{}, err
	}
	var img image
	if flags&mb.HeaderFlagAddress != 0 {
		img, err = parseAOut(cfg.Kernel, off)
	} else {
		img, err = parseELF(cfg.Kernel)
	}
	if err != nil {
		return Boot{}, err
	}
	if img.entry >= 1<<32 {
		return Boot{}, errorf("kernel entry point %#x is above 4 GiB: it cannot be reached in 32-bit protected mode", img.entry)
	}

	// Check every segment before writing anything.
	start, end := ^uint64(0), uint64(0)
	for _, s := range img.segs {
		if s.memsz == 0 {
			continue
		}
		if err := checkRange(s.name, s.addr, s.memsz, ramEnd); err != nil {
			return Boot{}, err
		}
		start = min(start, s.addr)
		end = max(end, s.addr+s.memsz)
	}
	if end == 0 {
		return Boot{}, errorf("the kernel image has nothing to load")
	}

	// Place the modules after the kernel, each on a page boundary.
	type placed struct{ start, end uint64 }
	mods := make([]placed, len(cfg.Modules))
	next := end
	for i, m := range cfg.Modules {
		s := alignUp(next)
		e := s + uint64(len(m.Data))
		if e > ramEnd || e > 1<<32 || s < next {
			return Boot{}, errorf("module %d (%d bytes) does not fit in guest RAM: it would occupy [%#x, %#x), RAM ends at %#x (and modules must lie below 4 GiB)", i, len(m.Data), s, e, min(ramEnd, 1<<32))
		}
		mods[i] = placed{s, e}
		next = e
	}

	// Load.
	for _, s := range img.segs {
		if s.memsz == 0 {
			continue
		}
		if err := write(mem, s.name, s.data, s.addr); err != nil {
			return Boot{}, err
		}
		if err := zero(mem, s.name+" bss", s.addr+uint64(len(s.data)), s.memsz-uint64(len(s.data))); err != nil {
			return Boot{}, err
		}
	}
	for i, m := range cfg.Modules {
		if err := write(mem, fmt.Sprintf("module %d", i), m.Data, mods[i].start); err != nil {
			return Boot{}, err
		}
	}

	// The information structure and what it points to, built in one
	// buffer that starts at InfoAddr.
	strSize := 0
	for _, m := range cfg.Modules {
		strSize += len(m.String) + 1
	}
	low := make([]byte, ModStringsAddr-InfoAddr+strSize)
	if InfoAddr+uint64(len(low)) > LowLimit {
		return Boot{}, errorf("module strings (%d bytes) do not fit in low memory below %#x", strSize, LowLimit)
	}
	le := binary.LittleEndian
	put32 := func(addr uint64, v uint32) { le.PutUint32(low[addr-InfoAddr:], v) }
	put64 := func(addr uint64, v uint64) { le.PutUint64(low[addr-InfoAddr:], v) }
	putStr := func(addr uint64, s string) { copy(low[addr-InfoAddr:], s) } // NUL: low is zeroed

	flags32 := uint32(mb.InfoFlagMem | mb.InfoFlagCmdline | mb.InfoFlagMmap | mb.InfoFlagBootLoaderName)
	put32(InfoAddr+mb.InfoMemLowerOff, MemLower)
	put32(InfoAddr+mb.InfoMemUpperOff, uint32(cfg.MainSize/1024))
	putStr(CmdLineAddr, cfg.CmdLine)
	put32(InfoAddr+mb.InfoCmdlineOff, CmdLineAddr)
	putStr(LoaderNameAddr, BootLoaderName)
	put32(InfoAddr+mb.InfoBootLoaderNameOff, LoaderNameAddr)

	regions := [...]mb.Region{
		{Base: 0, Length: LowLimit, Type: mb.RegionAvailable},
		{Base: LowLimit, Length: LowMemoryEnd - LowLimit, Type: mb.RegionReserved},
		{Base: 0xF0000, Length: MainMemoryStart - 0xF0000, Type: mb.RegionReserved},
		{Base: MainMemoryStart, Length: cfg.MainSize, Type: mb.RegionAvailable},
	}
	for i, r := range regions {
		e := MmapAddr + uint64(i)*mb.MmapEntrySize
		put32(e+mb.MmapSizeOff, mb.MmapEntryBodySize)
		put64(e+mb.MmapBaseOff, r.Base)
		put64(e+mb.MmapLengthOff, r.Length)
		put32(e+mb.MmapTypeOff, r.Type)
	}
	put32(InfoAddr+mb.InfoMmapLengthOff, uint32(len(regions)*mb.MmapEntrySize))
	put32(InfoAddr+mb.InfoMmapAddrOff, MmapAddr)

	if len(cfg.Modules) > 0 {
		flags32 |= mb.InfoFlagMods
		put32(InfoAddr+mb.InfoModsCountOff, uint32(len(cfg.Modules)))
		put32(InfoAddr+mb.InfoModsAddrOff, ModListAddr)
		str := uint64(ModStringsAddr)
		for i, m := range cfg.Modules {
			e := ModListAddr + uint64(i)*mb.ModEntrySize
			put32(e+mb.ModStartOff, uint32(mods[i].start))
			put32(e+mb.ModEndOff, uint32(mods[i].end))
			put32(e+mb.ModStringOff, uint32(str))
			putStr(str, m.String)
			str += uint64(len(m.String)) + 1
		}
	}
	put32(InfoAddr+mb.InfoFlagsOff, flags32)
	if err := write(mem, "the multiboot information structure", low, InfoAddr); err != nil {
		return Boot{}, err
	}

	return Boot{
		EntryPoint:  uint32(img.entry),
		InfoAddr:    InfoAddr,
		Magic:       mb.BootMagic,
		KernelStart: start,
		KernelEnd:   end,
		Format:      img.format,
	}, nil
}

// checkConfig checks what does not depend on the image and returns the end
// of guest RAM.
func checkConfig(cfg Config) (uint64, error) {
	if cfg.MainSize == 0 {
		return 0, errorf("the guest has no main memory (MainSize is 0)")
	}
	// mem_upper is a u32 count of KiB.
	if cfg.MainSize/1024 > 0xFFFFFFFF {
		return 0, errorf("main memory size %#x is too large to describe in mem_upper", cfg.MainSize)
	}
	if len(cfg.Kernel) == 0 {
		return 0, errorf("the kernel image is empty")
	}
	if len(cfg.CmdLine) > MaxCmdLine {
		return 0, errorf("kernel command line is %d bytes, the limit is %d", len(cfg.CmdLine), MaxCmdLine)
	}
	if hasNUL(cfg.CmdLine) {
		return 0, errorf("kernel command line contains a NUL byte")
	}
	if len(cfg.Modules) > MaxModules {
		return 0, errorf("%d modules, the limit is %d", len(cfg.Modules), MaxModules)
	}
	for i, m := range cfg.Modules {
		if len(m.String) > MaxModuleString {
			return 0, errorf("module %d's string is %d bytes, the limit is %d", i, len(m.String), MaxModuleString)
		}
		if hasNUL(m.String) {
			return 0, errorf("module %d's string contains a NUL byte", i)
		}
	}
	return MainMemoryStart + cfg.MainSize, nil
}

func hasNUL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return true
		}
	}
	return false
}

// findHeader returns the file offset and flags of the first valid header.
func findHeader(k []byte) (int, uint32, error) {
	le := binary.LittleEndian
	badSum := -1
	for off := 0; off+mb.HeaderMinSize <= min(len(k), mb.HeaderSearchLimit); off += mb.HeaderAlign {
		magic := le.Uint32(k[off+mb.HeaderMagicOff:])
		if magic != mb.HeaderMagic {
			continue
		}
		flags := le.Uint32(k[off+mb.HeaderFlagsOff:])
		sum := le.Uint32(k[off+mb.HeaderChecksumOff:])
		if magic+flags+sum != 0 {
			if badSum < 0 {
				badSum = off
			}
			continue
		}
		return off, flags, nil
	}
	if badSum >= 0 {
		return 0, 0, errorf("no multiboot v1 header in the first %d bytes: the magic %#x at offset %#x has a bad checksum", mb.HeaderSearchLimit, uint32(mb.HeaderMagic), badSum)
	}
	return 0, 0, errorf("no multiboot v1 header in the first %d bytes: the magic %#x is not there (at a 4-byte boundary)", mb.HeaderSearchLimit, uint32(mb.HeaderMagic))
}

// checkFlags refuses required features (bits 0-15) the loader lacks.
func checkFlags(flags uint32) error {
	if flags&mb.HeaderFlagVideoMode != 0 {
		return errorf("video mode (flags bit 2) is not supported: the kernel requires one and this loader gives only text mode")
	}
	// Page-aligned modules (bit 0) are always given; memory information
	// (bit 1) is always given.
	unknown := flags & mb.HeaderRequiredMask &^ (mb.HeaderFlagPageAlign | mb.HeaderFlagMemInfo)
	for bit := 0; bit < 16; bit++ {
		if unknown&(1<<bit) != 0 {
			return errorf("the kernel requires multiboot feature flags bit %d, which this loader does not know (flags %#x)", bit, flags)
		}
	}
	return nil
}

// parseAOut reads the header's address fields: the file from offset
// off-(header_addr-load_addr) is loaded at load_addr up to load_end_addr
// (0: to the end of the file), then zeros up to bss_end_addr (0: none).
func parseAOut(k []byte, off int) (image, error) {
	if off+mb.HeaderAddressSize > len(k) {
		return image{}, errorf("the multiboot header at offset %#x sets flags bit 16 but the file ends before its address fields", off)
	}
	if off+mb.HeaderAddressSize > mb.HeaderSearchLimit {
		return image{}, errorf("the multiboot header at offset %#x extends past the first %d bytes", off, mb.HeaderSearchLimit)
	}
	le := binary.LittleEndian
	h := k[off:]
	headerAddr := uint64(le.Uint32(h[mb.HeaderHeaderAddrOff:]))
	loadAddr := uint64(le.Uint32(h[mb.HeaderLoadAddrOff:]))
	loadEndAddr := uint64(le.Uint32(h[mb.HeaderLoadEndAddrOff:]))
	bssEndAddr := uint64(le.Uint32(h[mb.HeaderBSSEndAddrOff:]))
	entry := uint64(le.Uint32(h[mb.HeaderEntryAddrOff:]))

	if loadAddr > headerAddr {
		return image{}, errorf("a.out kludge: load_addr %#x is above header_addr %#x", loadAddr, headerAddr)
	}
	if headerAddr-loadAddr > uint64(off) {
		return image{}, errorf("a.out kludge: header_addr-load_addr = %#x but the header is at file offset %#x: the load would start before the file", headerAddr-loadAddr, off)
	}
	fileOff := uint64(off) - (headerAddr - loadAddr)
	var n uint64
	if loadEndAddr == 0 {
		n = uint64(len(k)) - fileOff
	} else {
		if loadEndAddr < loadAddr {
			return image{}, errorf("a.out kludge: load_end_addr %#x is below load_addr %#x", loadEndAddr, loadAddr)
		}
		n = loadEndAddr - loadAddr
		if n > uint64(len(k))-fileOff {
			return image{}, errorf("a.out kludge: loading [%#x, %#x) needs file bytes [%#x, %#x) but the file is %#x bytes", loadAddr, loadEndAddr, fileOff, fileOff+n, len(k))
		}
	}
	loadEnd := loadAddr + n
	memEnd := loadEnd
	if bssEndAddr != 0 {
		if bssEndAddr < loadEnd {
			return image{}, errorf("a.out kludge: bss_end_addr %#x is below the end of the loaded file %#x", bssEndAddr, loadEnd)
		}
		memEnd = bssEndAddr
	}
	return image{
		segs: []segment{{
			name:  "a.out kludge image",
			addr:  loadAddr,
			data:  k[fileOff : fileOff+n],
			memsz: memEnd - loadAddr,
		}},
		entry:  entry,
		format: FormatAOut,
	}, nil
}

// ELF constants (System V ABI).
const (
	elfClass32  = 1
	elfClass64  = 2
	elfDataLSB  = 1
	etExec      = 2
	emI386      = 3
	emX86_64    = 62
	ptLoad      = 1
	phdr32Size  = 32
	phdr64Size  = 56
	ehdr32Size  = 52
	ehdr64Size  = 64
	elfIdentLen = 16
)

// parseELF reads the ELF header and program headers by hand, checking every
// offset against the file.
func parseELF(k []byte) (image, error) {
	if len(k) < elfIdentLen || string(k[:4]) != "\x7fELF" {
		return image{}, errorf("the kernel is neither ELF nor marked as an a.out kludge image (multiboot flags bit 16 clear)")
	}
	class, data := k[4], k[5]
	if data != elfDataLSB {
		return image{}, errorf("ELF kernel is not little-endian")
	}
	var img image
	var hdrSize, phSize uint64
	var wantMachine uint16
	switch class {
	case elfClass32:
		img.format, hdrSize, phSize, wantMachine = FormatELF32, ehdr32Size, phdr32Size, emI386
	case elfClass64:
		img.format, hdrSize, phSize, wantMachine = FormatELF64, ehdr64Size, phdr64Size, emX86_64
	default:
		return image{}, errorf("ELF kernel has unknown class %d", class)
	}
	if uint64(len(k)) < hdrSize {
		return image{}, errorf("ELF kernel is truncated: %d bytes, shorter than its %d-byte header", len(k), hdrSize)
	}
	le := binary.LittleEndian
	if t := le.Uint16(k[16:]); t != etExec {
		return image{}, errorf("ELF kernel is not an executable (e_type %d, want ET_EXEC)", t)
	}
	if m := le.Uint16(k[18:]); m != wantMachine {
		return image{}, errorf("%s kernel has e_machine %d, want %d", img.format, m, wantMachine)
	}
	var entry, phoff uint64
	var phentsize, phnum uint64
	if class == elfClass32 {
		entry = uint64(le.Uint32(k[24:]))
		phoff = uint64(le.Uint32(k[28:]))
		phentsize = uint64(le.Uint16(k[42:]))
		phnum = uint64(le.Uint16(k[44:]))
	} else {
		entry = le.Uint64(k[24:])
		phoff = le.Uint64(k[32:])
		phentsize = uint64(le.Uint16(k[54:]))
		phnum = uint64(le.Uint16(k[56:]))
	}
	if phnum == 0 {
		return image{}, errorf("ELF kernel has no program headers")
	}
	if phnum == 0xFFFF {
		return image{}, errorf("ELF kernel has an extended program header count (PN_XNUM), which is not supported")
	}
	if phentsize < phSize {
		return image{}, errorf("ELF kernel's program headers are %d bytes, want at least %d", phentsize, phSize)
	}
	// phentsize and phnum are below 2^16, so the product cannot overflow.
	if phoff > uint64(len(k)) || phentsize*phnum > uint64(len(k))-phoff {
		return image{}, errorf("ELF kernel is truncated: %d program headers of %d bytes at offset %#x, file is %#x bytes", phnum, phentsize, phoff, len(k))
	}

	loads := 0
	translated := false
	for i := uint64(0); i < phnum; i++ {
		p := k[phoff+i*phentsize:][:phSize]
		var typ uint32
		var off, vaddr, paddr, filesz, memsz uint64
		if class == elfClass32 {
			typ = le.Uint32(p[0:])
			off = uint64(le.Uint32(p[4:]))
			vaddr = uint64(le.Uint32(p[8:]))
			paddr = uint64(le.Uint32(p[12:]))
			filesz = uint64(le.Uint32(p[16:]))
			memsz = uint64(le.Uint32(p[20:]))
		} else {
			typ = le.Uint32(p[0:])
			off = le.Uint64(p[8:])
			vaddr = le.Uint64(p[16:])
			paddr = le.Uint64(p[24:])
			filesz = le.Uint64(p[32:])
			memsz = le.Uint64(p[40:])
		}
		if typ != ptLoad {
			continue
		}
		loads++
		if loads > MaxLoadSegments {
			return image{}, errorf("ELF kernel has more than %d PT_LOAD segments", MaxLoadSegments)
		}
		name := fmt.Sprintf("ELF segment %d", i)
		if memsz < filesz {
			return image{}, errorf("%s: p_memsz %#x is less than p_filesz %#x", name, memsz, filesz)
		}
		if off > uint64(len(k)) || filesz > uint64(len(k))-off {
			return image{}, errorf("%s: file bytes [%#x, %#x+%#x) are beyond the end of the file (%#x bytes)", name, off, off, filesz, len(k))
		}
		if vaddr+memsz < vaddr {
			return image{}, errorf("%s: virtual range %#x+%#x wraps around the address space", name, vaddr, memsz)
		}
		// Translate the entry point through the segment that holds it.
		if memsz > 0 && entry >= vaddr && entry-vaddr < memsz && !translated {
			translated = true
			img.entry = entry - vaddr + paddr
			if img.entry < paddr { // wrapped
				return image{}, errorf("%s: entry point %#x translates past the end of the address space", name, entry)
			}
		}
		img.segs = append(img.segs, segment{name: name, addr: paddr, data: k[off : off+filesz], memsz: memsz})
	}
	if loads == 0 {
		return image{}, errorf("ELF kernel has no PT_LOAD segments")
	}
	if !translated {
		img.entry = entry
	}
	return img, nil
}

// checkRange checks that [addr, addr+size) lies in main memory.
func checkRange(name string, addr, size, ramEnd uint64) error {
	end := addr + size
	switch {
	case end < addr:
		return errorf("%s at %#x, %#x bytes, wraps around the address space", name, addr, size)
	case addr < MainMemoryStart:
		return errorf("%s [%#x, %#x) lies below 1 MiB (the loader's low memory); images must load in [%#x, %#x)", name, addr, end, MainMemoryStart, ramEnd)
	case end > ramEnd:
		return errorf("%s [%#x, %#x) extends beyond guest RAM, which ends at %#x", name, addr, end, ramEnd)
	}
	return nil
}

func alignUp(x uint64) uint64 { return (x + PageSize - 1) &^ (PageSize - 1) }

func write(mem Memory, what string, p []byte, gpa uint64) error {
	if len(p) == 0 {
		return nil
	}
	if err := mem.WriteAt(p, gpa); err != nil {
		return errorf("writing %s (%d bytes at %#x): %v", what, len(p), gpa, err)
	}
	return nil
}

// zero clears [gpa, gpa+n) a chunk at a time, so that a large bss does not
// need a buffer its size.
func zero(mem Memory, what string, gpa, n uint64) error {
	if n == 0 {
		return nil
	}
	buf := make([]byte, min(n, 64<<10))
	for n > 0 {
		c := min(n, uint64(len(buf)))
		if err := write(mem, what, buf[:c], gpa); err != nil {
			return err
		}
		gpa += c
		n -= c
	}
	return nil
}
