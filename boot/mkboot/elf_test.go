package main

import (
	"debug/elf"
	"encoding/binary"
)

// testSeg is one PT_LOAD for a hand-assembled test ELF.
type testSeg struct {
	off, vaddr, filesz, memsz uint64
}

// testSec is one section with file contents: size bytes of fill at off.
type testSec struct {
	off, size uint64
	fill      byte
	typ       elf.SectionType // SHT_PROGBITS if zero
}

// testELF describes a minimal ELF64 x86-64 executable: ELF header, program
// headers at phoff, section headers (a null entry plus secs) at shoff, and
// the section contents. Everything else in the file is zero, like linker
// padding.
type testELF struct {
	machine elf.Machine // EM_X86_64 if zero
	entry   uint64
	phoff   uint64
	shoff   uint64
	segs    []testSeg
	secs    []testSec
	size    int
}

// goLike returns a layout shaped like a Go-linked kernel: two segments
// with delta 0x100000, text at 0x1000, data and bss after it, section
// headers right after the program headers, padding up to 0x1000.
func goLike() testELF {
	return testELF{
		entry: 0x101000,
		phoff: 64,
		shoff: 64 + 2*56, // 0xb0
		segs: []testSeg{
			{off: 0, vaddr: 0x100000, filesz: 0x2000, memsz: 0x2000},
			{off: 0x2000, vaddr: 0x102000, filesz: 0x800, memsz: 0x5000},
		},
		secs: []testSec{
			{off: 0x1000, size: 0x1000, fill: 0xcc},
			{off: 0x2000, size: 0x800, fill: 0xdd},
			{off: 0x2800, size: 0x4800, typ: elf.SHT_NOBITS},
		},
		size: 0x3000,
	}
}

// shEnd is the end of goLike's section header table: 4 entries (null,
// text, data, bss) of 64 bytes after 0xb0.
const shEnd = 0xb0 + 4*64 // 0x1b0

func (t testELF) bytes() []byte {
	b := make([]byte, t.size)
	machine := t.machine
	if machine == 0 {
		machine = elf.EM_X86_64
	}
	var ident [elf.EI_NIDENT]byte
	copy(ident[:], elf.ELFMAG)
	ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	h := elf.Header64{
		Ident:     ident,
		Type:      uint16(elf.ET_EXEC),
		Machine:   uint16(machine),
		Version:   uint32(elf.EV_CURRENT),
		Entry:     t.entry,
		Phoff:     t.phoff,
		Shoff:     t.shoff,
		Ehsize:    64,
		Phentsize: 56,
		Phnum:     uint16(len(t.segs)),
		Shentsize: 64,
		Shnum:     uint16(len(t.secs) + 1),
	}
	mustEncode(b, h)
	for i, s := range t.segs {
		mustEncode(b[t.phoff+uint64(i)*56:], elf.Prog64{
			Type:   uint32(elf.PT_LOAD),
			Flags:  uint32(elf.PF_R | elf.PF_W | elf.PF_X),
			Off:    s.off,
			Vaddr:  s.vaddr,
			Paddr:  s.vaddr,
			Filesz: s.filesz,
			Memsz:  s.memsz,
			Align:  0x1000,
		})
	}
	for i, s := range t.secs {
		typ := s.typ
		if typ == 0 {
			typ = elf.SHT_PROGBITS
		}
		mustEncode(b[t.shoff+uint64(i+1)*64:], elf.Section64{
			Type:      uint32(typ),
			Flags:     uint64(elf.SHF_ALLOC),
			Off:       s.off,
			Size:      s.size,
			Addralign: 1,
		})
		if typ != elf.SHT_NOBITS {
			for j := s.off; j < s.off+s.size; j++ {
				b[j] = s.fill
			}
		}
	}
	return b
}

func mustEncode(b []byte, v any) {
	if _, err := binary.Encode(b, binary.LittleEndian, v); err != nil {
		panic(err)
	}
}
