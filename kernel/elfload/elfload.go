// Package elfload turns a static x86-64 ELF executable, given as a byte
// slice, into a validated load plan: the segments to map, their permissions,
// the entry point and the relocations a static-pie needs.
//
// # Trust
//
// The input is an untrusted guest binary. Parse never panics and never
// allocates more than a small multiple of len(file): every count and size read
// from the file is checked against the file length (with overflow-safe
// arithmetic) before it is used, the number of program headers is capped at
// MaxPhdrs and the number of PT_LOAD segments at MaxLoads. Every problem is
// reported as an *Error that wraps one of the Err* categories below and says
// what was wrong and where.
//
// # Why hand-parsed
//
// Only four structures are needed: the ELF header, the program header table,
// the PT_DYNAMIC array and the RELA tables it points to. Reading them with
// encoding/binary.LittleEndian is ~150 lines and every bound is visible.
// debug/elf instead eagerly reads the section header table and the section
// name table, which an executable loader does not need and which is where most
// of its fuzzer-found panics and oversized allocations on hostile headers have
// been; guarding it would mean re-validating those headers here anyway. It
// also works through an io.ReaderAt, which buys nothing for a byte slice in
// the kernel. Section headers are therefore ignored entirely: the kernel
// loads by program headers, exactly as Linux does.
//
// # What is accepted
//
//   - ELFCLASS64, ELFDATA2LSB, EV_CURRENT, EM_X86_64.
//   - ET_EXEC (fixed addresses) and ET_DYN as static-pie: no PT_INTERP, no
//     DT_NEEDED, only R_X86_64_RELATIVE (and R_X86_64_NONE) relocations.
//   - 1..MaxLoads PT_LOAD segments, in ascending address order, whose
//     page-rounded ranges [floor(vaddr), ceil(vaddr+memsz)) do not overlap, so
//     each page has exactly one owner and one set of permissions;
//     p_vaddr ≡ p_offset (mod PageSize); p_filesz ≤ p_memsz; file bytes inside
//     the file; the whole page-rounded range below UserTop (user half of the
//     canonical address space); never both writable and executable (W^X).
//     PT_LOADs with p_memsz == 0 carry nothing and are dropped.
//   - The entry point must lie in the file-backed part of an executable
//     segment.
//   - PT_GNU_STACK, if present, must not ask for an executable stack.
//
// The plan neither limits memory nor chooses placement: callers must check
// Image.Size (and High-Low) against the guest's budget before allocating, and
// Low/High against the guest's address-space layout (an Exec image may ask for
// page 0, for instance).
//
// # Using the plan
//
// For a PIE, call Rebase first. Then, for each segment, map
// [pageDown(Vaddr), pageUp(Vaddr+Memsz)) zero-filled, copy Data to Vaddr, apply
// Relocs (ApplyRelocs does this on a flat copy), and only then set the final
// permissions; executable segments must pass sandbox/codescan before they
// become executable. Relocations may target any segment, so they must be
// applied while the memory is still writable and not executable.
package elfload

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// Limits and layout constants.
const (
	// PageSize is the mapping granularity the plan is checked against.
	PageSize = 4096
	// UserTop is the first address above the lower (user) half of the
	// 48-bit canonical address space. Every loaded byte, rounded out to
	// whole pages, must lie below it.
	UserTop = 0x0000_8000_0000_0000
	// MaxLoads is the largest number of PT_LOAD segments accepted.
	MaxLoads = 16
	// MaxPhdrs is the largest program header count accepted. Real static
	// binaries have about ten; the cap bounds the work done for a hostile
	// header.
	MaxPhdrs = 256
)

// Error categories. Every error returned by this package is an *Error that
// wraps exactly one of them, so callers can test with errors.Is.
var (
	// ErrNotELF: the bytes are not a 64-bit little-endian ELF file.
	ErrNotELF = errors.New("not a 64-bit little-endian ELF file")
	// ErrUnsupported: a valid ELF file this loader does not run (wrong
	// machine or type, dynamically linked, unsupported relocation, ...).
	ErrUnsupported = errors.New("unsupported executable")
	// ErrMalformed: inconsistent headers (out of the file, overlapping,
	// misaligned, overflowing, too many, ...).
	ErrMalformed = errors.New("malformed executable")
	// ErrWriteExec: a segment (or the stack) is both writable and
	// executable.
	ErrWriteExec = errors.New("writable and executable memory (W^X)")
	// ErrEntry: the entry point is not inside executable file bytes.
	ErrEntry = errors.New("bad entry point")
	// ErrUsage: the plan was used wrongly (Rebase of an Exec image, a
	// second Rebase, an unusable base, ApplyRelocs on too little memory).
	ErrUsage = errors.New("invalid use of the load plan")
)

// Error is the error type of this package.
type Error struct {
	Category error  // one of the Err* categories
	Msg      string // what exactly is wrong, with the offending values
}

func (e *Error) Error() string { return "elfload: " + e.Category.Error() + ": " + e.Msg }

// Unwrap returns the category, for errors.Is.
func (e *Error) Unwrap() error { return e.Category }

func errorf(category error, format string, args ...any) *Error {
	return &Error{Category: category, Msg: fmt.Sprintf(format, args...)}
}

// Kind tells how an image is placed in memory.
type Kind uint8

const (
	// Exec is an ET_EXEC image: it runs at the addresses in its headers.
	Exec Kind = iota + 1
	// PIE is an ET_DYN static-pie image: it must be Rebased and its
	// relocations applied.
	PIE
)

func (k Kind) String() string {
	switch k {
	case Exec:
		return "exec"
	case PIE:
		return "pie"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Segment is one PT_LOAD: map Memsz bytes at Vaddr, copy Data to the start,
// zero the rest (p_memsz - p_filesz, the .bss part and the bytes up to the
// page boundaries).
type Segment struct {
	Vaddr uint64
	Memsz uint64
	// Data is the segment's file bytes (len == p_filesz). It aliases the
	// slice given to Parse, capped so that append cannot write into it;
	// treat it as read-only.
	Data              []byte
	Read, Write, Exec bool

	fileOff uint64 // p_offset, to map addresses back to the file
}

// End returns Vaddr+Memsz.
func (s *Segment) End() uint64 { return s.Vaddr + s.Memsz }

func (s *Segment) perm() string {
	b := []byte("---")
	if s.Read {
		b[0] = 'r'
	}
	if s.Write {
		b[1] = 'w'
	}
	if s.Exec {
		b[2] = 'x'
	}
	return string(b)
}

// Reloc is one resolved R_X86_64_RELATIVE relocation: store Value as a
// little-endian uint64 at guest address Addr. Both already include the bias
// applied by Rebase (zero until then), so applying a relocation never needs
// anything but these two numbers.
type Reloc struct {
	Addr  uint64
	Value uint64
}

// Image is the load plan for one executable.
type Image struct {
	Kind  Kind
	Entry uint64
	// Segments are the PT_LOAD segments with p_memsz > 0, in ascending
	// address order, page-disjoint.
	Segments []Segment
	// Relocs are the R_X86_64_RELATIVE relocations, each target lying
	// inside a segment. Apply them after copying the segments and before
	// the image becomes executable (and is scanned).
	Relocs []Reloc
	// Low and High are the page-aligned bounds of all segments.
	Low, High uint64
	// PhdrAddr is the guest address of the program header table (for
	// AT_PHDR): PT_PHDR's p_vaddr, or else the address at which the
	// PT_LOAD holding e_phoff maps it, as Linux computes it. It is 0 if no
	// loaded segment contains the table (the kernel must then omit AT_PHDR
	// or copy the table itself). Phent and Phnum go to AT_PHENT and
	// AT_PHNUM.
	PhdrAddr     uint64
	Phent, Phnum uint16
	// Bias is what Rebase added to every address (0 for Exec).
	Bias uint64
	// Interp is the PT_INTERP path of a program parsed by ParseProgram
	// ("" for a static one).
	Interp string

	phdrKnown bool // PhdrAddr is meaningful (and must move on Rebase)
	rebased   bool
}

// Size returns the number of bytes of memory the segments need, counted in
// whole pages.
func (im *Image) Size() uint64 {
	var n uint64
	for i := range im.Segments {
		s := &im.Segments[i]
		n += pageUp(s.End()) - pageDown(s.Vaddr)
	}
	return n
}

// ELF constants used here (from the System V ABI and its x86-64 supplement).
const (
	ehdrSize   = 64
	phdrSize   = 56
	dynSize    = 16
	relaSize   = 24
	etExec     = 2
	etDyn      = 3
	emX86_64   = 62
	ptLoad     = 1
	ptDynamic  = 2
	ptInterp   = 3
	ptPhdr     = 6
	ptGNUStk   = 0x6474e551
	pfX        = 1
	pfW        = 2
	pfR        = 4
	dtNull     = 0
	dtNeeded   = 1
	dtPltRelSz = 2
	dtRela     = 7
	dtRelaSz   = 8
	dtRelaEnt  = 9
	dtRel      = 17
	dtRelSz    = 18
	dtPltRel   = 20
	dtTextRel  = 22
	dtJmpRel   = 23
	dtRelrSz   = 35
	dtRelr     = 36
	rNone      = 0
	rRelative  = 8
	pnXNum     = 0xffff
)

var le = binary.LittleEndian

func pageDown(x uint64) uint64 { return x &^ (PageSize - 1) }
func pageUp(x uint64) uint64   { return (x + PageSize - 1) &^ (PageSize - 1) }

// add returns a+b and whether it overflowed.
func add(a, b uint64) (uint64, bool) {
	s, c := bits.Add64(a, b, 0)
	return s, c != 0
}

// inFile reports whether [off, off+n) lies inside a file of length size.
func inFile(off, n uint64, size int) bool {
	end, ovf := add(off, n)
	return !ovf && end <= uint64(size)
}

// phdr is one decoded program header.
type phdr struct {
	index                     int
	typ, flags                uint32
	off, vaddr, filesz, memsz uint64
}

// Parse validates file as a static x86-64 executable and returns its load
// plan. It never modifies file; Segment.Data aliases it.
func Parse(file []byte) (*Image, error) { return parse(file, false) }

// ParseProgram plans the load of a Linux program as execve does: the
// program relocates itself (a static-pie's start code applies its own
// relocations, IRELATIVE ones included), so the dynamic section is not
// read and Relocs stay empty, and a PT_INTERP is not an error but named
// in Interp: the caller loads that interpreter too, or refuses.
func ParseProgram(file []byte) (*Image, error) { return parse(file, true) }

func parse(file []byte, program bool) (*Image, error) {
	if len(file) < ehdrSize {
		return nil, errorf(ErrNotELF, "file is %d bytes, shorter than the %d-byte ELF header", len(file), ehdrSize)
	}
	if string(file[:4]) != "\x7fELF" {
		return nil, errorf(ErrNotELF, "bad magic % x, want 7f 45 4c 46", file[:4])
	}
	if file[4] != 2 {
		return nil, errorf(ErrNotELF, "EI_CLASS %d, want 2 (ELFCLASS64)", file[4])
	}
	if file[5] != 1 {
		return nil, errorf(ErrNotELF, "EI_DATA %d, want 1 (little endian)", file[5])
	}
	if file[6] != 1 {
		return nil, errorf(ErrNotELF, "EI_VERSION %d, want 1", file[6])
	}
	etype := le.Uint16(file[16:])
	machine := le.Uint16(file[18:])
	version := le.Uint32(file[20:])
	entry := le.Uint64(file[24:])
	phoff := le.Uint64(file[32:])
	phentsize := le.Uint16(file[54:])
	phnum := le.Uint16(file[56:])

	if machine != emX86_64 {
		return nil, errorf(ErrUnsupported, "e_machine %d, want %d (EM_X86_64)", machine, emX86_64)
	}
	if version != 1 {
		return nil, errorf(ErrNotELF, "e_version %d, want 1", version)
	}
	im := &Image{Entry: entry, Phent: phentsize, Phnum: phnum}
	switch etype {
	case etExec:
		im.Kind = Exec
	case etDyn:
		im.Kind = PIE
	default:
		return nil, errorf(ErrUnsupported, "e_type %d, want 2 (ET_EXEC) or 3 (ET_DYN, static-pie)", etype)
	}

	phdrs, err := readPhdrs(file, phoff, phentsize, phnum)
	if err != nil {
		return nil, err
	}
	var dynamic *phdr
	var phdrSeg *phdr
	for i := range phdrs {
		p := &phdrs[i]
		switch p.typ {
		case ptInterp:
			if program {
				im.Interp = interpPath(file, p)
				if im.Interp == "" {
					return nil, errorf(ErrMalformed, "program header %d: PT_INTERP is not a path", p.index)
				}
				continue
			}
			return nil, errorf(ErrUnsupported, "dynamically linked: program header %d is PT_INTERP%s", p.index, interpName(file, p))
		case ptDynamic:
			if dynamic != nil {
				return nil, errorf(ErrMalformed, "program headers %d and %d are both PT_DYNAMIC", dynamic.index, p.index)
			}
			dynamic = p
		case ptPhdr:
			phdrSeg = p
		case ptGNUStk:
			if p.flags&pfX != 0 {
				return nil, errorf(ErrWriteExec, "PT_GNU_STACK (program header %d) asks for an executable stack", p.index)
			}
		}
	}

	if err := im.loadSegments(file, phdrs); err != nil {
		return nil, err
	}
	if err := im.checkEntry(); err != nil {
		return nil, err
	}
	if err := im.findPhdrAddr(phoff, phdrs, phdrSeg); err != nil {
		return nil, err
	}
	if dynamic != nil && !program {
		if err := im.readDynamic(file, dynamic); err != nil {
			return nil, err
		}
	}
	return im, nil
}

// readPhdrs decodes the program header table after bounding it by MaxPhdrs
// and the file length.
func readPhdrs(file []byte, phoff uint64, phentsize, phnum uint16) ([]phdr, error) {
	if phnum == 0 {
		return nil, errorf(ErrMalformed, "no program headers (e_phnum 0)")
	}
	if phnum == pnXNum {
		return nil, errorf(ErrMalformed, "e_phnum is PN_XNUM (more than 65534 program headers)")
	}
	if phnum > MaxPhdrs {
		return nil, errorf(ErrMalformed, "%d program headers, at most %d accepted", phnum, MaxPhdrs)
	}
	if phoff < ehdrSize {
		return nil, errorf(ErrMalformed, "e_phoff %#x overlaps the ELF header", phoff)
	}
	if phentsize != phdrSize {
		return nil, errorf(ErrMalformed, "e_phentsize %d, want %d", phentsize, phdrSize)
	}
	if !inFile(phoff, uint64(phnum)*phdrSize, len(file)) {
		return nil, errorf(ErrMalformed, "program header table (%d entries at offset %#x) runs past the end of the %d-byte file", phnum, phoff, len(file))
	}
	phdrs := make([]phdr, phnum)
	for i := range phdrs {
		b := file[phoff+uint64(i)*phdrSize:][:phdrSize]
		phdrs[i] = phdr{
			index:  i,
			typ:    le.Uint32(b[0:]),
			flags:  le.Uint32(b[4:]),
			off:    le.Uint64(b[8:]),
			vaddr:  le.Uint64(b[16:]),
			filesz: le.Uint64(b[32:]),
			memsz:  le.Uint64(b[40:]),
		}
	}
	return phdrs, nil
}

// interpName returns " (/lib64/ld-linux-x86-64.so.2)" when the PT_INTERP
// string is in the file and short, for a friendlier error.
func interpName(file []byte, p *phdr) string {
	if s := interpPath(file, p); s != "" {
		return fmt.Sprintf(" (%s)", s)
	}
	return ""
}

// interpPath is PT_INTERP's path ("" if it is not a printable path of
// at most 255 bytes inside the file).
func interpPath(file []byte, p *phdr) string {
	if p.filesz == 0 || p.filesz > 256 || !inFile(p.off, p.filesz, len(file)) {
		return ""
	}
	s := file[p.off : p.off+p.filesz]
	for i, c := range s {
		if c == 0 {
			s = s[:i]
			break
		}
		if c < 0x20 || c > 0x7e {
			return ""
		}
	}
	return string(s)
}

// loadSegments validates the PT_LOAD headers and fills Segments, Low, High.
func (im *Image) loadSegments(file []byte, phdrs []phdr) error {
	nload := 0
	var prevEnd uint64 // page-rounded end of the previous segment
	var prev *phdr
	for i := range phdrs {
		p := &phdrs[i]
		if p.typ != ptLoad {
			continue
		}
		nload++
		if nload > MaxLoads {
			return errorf(ErrMalformed, "more than %d PT_LOAD segments", MaxLoads)
		}
		where := fmt.Sprintf("PT_LOAD (program header %d, vaddr %#x)", p.index, p.vaddr)
		if p.filesz > p.memsz {
			return errorf(ErrMalformed, "%s: p_filesz %#x > p_memsz %#x", where, p.filesz, p.memsz)
		}
		if !inFile(p.off, p.filesz, len(file)) {
			return errorf(ErrMalformed, "%s: file bytes [%#x, +%#x) run past the end of the %d-byte file", where, p.off, p.filesz, len(file))
		}
		if p.vaddr%PageSize != p.off%PageSize {
			return errorf(ErrMalformed, "%s: p_vaddr %#x and p_offset %#x differ modulo the page size %#x", where, p.vaddr, p.off, PageSize)
		}
		end, ovf := add(p.vaddr, p.memsz)
		if ovf || end > UserTop || pageUp(end) > UserTop {
			return errorf(ErrMalformed, "%s: [%#x, +%#x) leaves the user address space (below %#x)", where, p.vaddr, p.memsz, uint64(UserTop))
		}
		if p.flags&pfW != 0 && p.flags&pfX != 0 {
			return errorf(ErrWriteExec, "%s is both writable and executable", where)
		}
		if p.memsz == 0 {
			continue
		}
		if prev != nil && pageDown(p.vaddr) < prevEnd {
			if p.vaddr < prev.vaddr {
				return errorf(ErrMalformed, "%s comes after program header %d at vaddr %#x: PT_LOADs must be in ascending address order", where, prev.index, prev.vaddr)
			}
			return errorf(ErrMalformed, "%s overlaps program header %d (vaddr %#x, memsz %#x) at page granularity", where, prev.index, prev.vaddr, prev.memsz)
		}
		prev, prevEnd = p, pageUp(end)
		im.Segments = append(im.Segments, Segment{
			Vaddr: p.vaddr,
			Memsz: p.memsz,
			Data:  file[p.off : p.off+p.filesz : p.off+p.filesz],
			Read:  p.flags&pfR != 0,
			Write: p.flags&pfW != 0,
			Exec:  p.flags&pfX != 0,

			fileOff: p.off,
		})
	}
	if nload == 0 {
		return errorf(ErrMalformed, "no PT_LOAD segments")
	}
	if len(im.Segments) == 0 {
		return errorf(ErrMalformed, "every PT_LOAD segment is empty")
	}
	im.Low = pageDown(im.Segments[0].Vaddr)
	im.High = pageUp(im.Segments[len(im.Segments)-1].End())
	return nil
}

func (im *Image) checkEntry() error {
	for i := range im.Segments {
		s := &im.Segments[i]
		if im.Entry >= s.Vaddr && im.Entry-s.Vaddr < uint64(len(s.Data)) {
			if !s.Exec {
				return errorf(ErrEntry, "entry %#x is in a non-executable segment (vaddr %#x, %s)", im.Entry, s.Vaddr, s.perm())
			}
			return nil
		}
	}
	return errorf(ErrEntry, "entry %#x is not inside the file bytes of any executable segment", im.Entry)
}

// segmentAt returns the loaded segment whose file bytes hold [addr, addr+n).
func (im *Image) segmentAt(addr, n uint64) *Segment {
	for i := range im.Segments {
		s := &im.Segments[i]
		if addr >= s.Vaddr && addr-s.Vaddr <= uint64(len(s.Data)) && n <= uint64(len(s.Data))-(addr-s.Vaddr) {
			return s
		}
	}
	return nil
}

// findPhdrAddr sets PhdrAddr from PT_PHDR, or from the PT_LOAD whose file
// bytes contain the program header table, as Linux does.
func (im *Image) findPhdrAddr(phoff uint64, phdrs []phdr, phdrSeg *phdr) error {
	size := uint64(im.Phnum) * phdrSize
	if phdrSeg != nil {
		if phdrSeg.memsz < size || im.segmentAt(phdrSeg.vaddr, size) == nil {
			return errorf(ErrMalformed, "PT_PHDR (program header %d, vaddr %#x) does not lie inside a loaded segment", phdrSeg.index, phdrSeg.vaddr)
		}
		im.PhdrAddr, im.phdrKnown = phdrSeg.vaddr, true
		return nil
	}
	for i := range phdrs {
		p := &phdrs[i]
		if p.typ == ptLoad && p.memsz > 0 && phoff >= p.off && phoff-p.off <= p.filesz && size <= p.filesz-(phoff-p.off) {
			im.PhdrAddr, im.phdrKnown = p.vaddr+(phoff-p.off), true
			return nil
		}
	}
	return nil
}

// fileOffset maps a guest address range inside the file bytes of a loaded
// segment back to a file offset.
func (im *Image) fileOffset(addr, n uint64) (uint64, bool) {
	s := im.segmentAt(addr, n)
	if s == nil {
		return 0, false
	}
	return s.fileOff + (addr - s.Vaddr), true
}

// readDynamic walks PT_DYNAMIC: it refuses anything that needs a dynamic
// linker and collects the RELA relocations.
func (im *Image) readDynamic(file []byte, dyn *phdr) error {
	where := fmt.Sprintf("PT_DYNAMIC (program header %d)", dyn.index)
	if !inFile(dyn.off, dyn.filesz, len(file)) {
		return errorf(ErrMalformed, "%s: [%#x, +%#x) runs past the end of the %d-byte file", where, dyn.off, dyn.filesz, len(file))
	}
	var rela, relasz, relaent, jmprel, pltrelsz, pltrel uint64
	var haveRela, haveJmprel, havePltrel bool
	n := dyn.filesz / dynSize
	terminated := false
	for i := uint64(0); i < n; i++ {
		b := file[dyn.off+i*dynSize:][:dynSize]
		tag, val := int64(le.Uint64(b)), le.Uint64(b[8:])
		switch tag {
		case dtNull:
			terminated = true
		case dtNeeded:
			return errorf(ErrUnsupported, "dynamically linked: %s has DT_NEEDED (needs a shared library)", where)
		case dtRela:
			rela, haveRela = val, true
		case dtRelaSz:
			relasz = val
		case dtRelaEnt:
			relaent = val
		case dtJmpRel:
			jmprel, haveJmprel = val, true
		case dtPltRelSz:
			pltrelsz = val
		case dtPltRel:
			pltrel, havePltrel = val, true
		case dtRel, dtRelSz:
			return errorf(ErrUnsupported, "%s has DT_REL/DT_RELSZ: REL relocations are not used on x86-64", where)
		case dtRelr, dtRelrSz:
			return errorf(ErrUnsupported, "%s has DT_RELR: packed relative relocations are not supported (link without -z pack-relative-relocs)", where)
		case dtTextRel:
			// Harmless here: relocations are applied before the
			// image is made executable, whatever segment they hit.
		}
		if terminated {
			break
		}
	}
	if !terminated {
		return errorf(ErrMalformed, "%s has no DT_NULL terminator", where)
	}
	if haveRela || relasz != 0 {
		if relaent != relaSize {
			return errorf(ErrMalformed, "%s: DT_RELAENT %d, want %d", where, relaent, relaSize)
		}
		if err := im.readRela(file, "DT_RELA", rela, relasz); err != nil {
			return err
		}
	}
	if haveJmprel || pltrelsz != 0 {
		if havePltrel && pltrel != dtRela {
			return errorf(ErrUnsupported, "%s: DT_PLTREL %d, want %d (DT_RELA)", where, pltrel, dtRela)
		}
		if err := im.readRela(file, "DT_JMPREL", jmprel, pltrelsz); err != nil {
			return err
		}
	}
	return nil
}

// relocTypeNames names the x86-64 relocation types a static binary might
// carry, for error messages.
var relocTypeNames = map[uint32]string{
	1: "R_X86_64_64", 2: "R_X86_64_PC32", 5: "R_X86_64_COPY", 6: "R_X86_64_GLOB_DAT",
	7: "R_X86_64_JUMP_SLOT", 10: "R_X86_64_32", 11: "R_X86_64_32S",
	16: "R_X86_64_DTPMOD64", 17: "R_X86_64_DTPOFF64", 18: "R_X86_64_TPOFF64",
	36: "R_X86_64_TLSDESC", 37: "R_X86_64_IRELATIVE",
}

func relocTypeName(t uint32) string {
	if n, ok := relocTypeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type %d", t)
}

// readRela decodes a RELA table given by its guest address and size.
func (im *Image) readRela(file []byte, what string, addr, size uint64) error {
	if size%relaSize != 0 {
		return errorf(ErrMalformed, "%s table size %#x is not a multiple of %d", what, size, relaSize)
	}
	off, ok := im.fileOffset(addr, size)
	if !ok {
		return errorf(ErrMalformed, "%s table [%#x, +%#x) is not inside the file bytes of a loaded segment", what, addr, size)
	}
	n := size / relaSize
	// n <= len(file)/24, so this allocation is bounded by the file size.
	relocs := make([]Reloc, 0, len(im.Relocs)+int(n))
	relocs = append(relocs, im.Relocs...)
	for i := uint64(0); i < n; i++ {
		b := file[off+i*relaSize:][:relaSize]
		roff, info, addend := le.Uint64(b), le.Uint64(b[8:]), le.Uint64(b[16:])
		typ, sym := uint32(info), uint32(info>>32)
		switch typ {
		case rNone:
			continue
		case rRelative:
		default:
			return errorf(ErrUnsupported, "%s entry %d: relocation %s at %#x; only R_X86_64_RELATIVE is supported", what, i, relocTypeName(typ), roff)
		}
		if sym != 0 {
			return errorf(ErrMalformed, "%s entry %d: R_X86_64_RELATIVE at %#x names symbol %d", what, i, roff, sym)
		}
		if !im.inSegment(roff, 8) {
			return errorf(ErrMalformed, "%s entry %d: R_X86_64_RELATIVE target %#x is not inside a loaded segment", what, i, roff)
		}
		relocs = append(relocs, Reloc{Addr: roff, Value: addend})
	}
	im.Relocs = relocs
	return nil
}

// inSegment reports whether [addr, addr+n) lies inside the memory of one
// loaded segment.
func (im *Image) inSegment(addr, n uint64) bool {
	for i := range im.Segments {
		s := &im.Segments[i]
		if addr >= s.Vaddr && addr-s.Vaddr <= s.Memsz && n <= s.Memsz-(addr-s.Vaddr) {
			return true
		}
	}
	return false
}

// Rebase places a PIE image at base: it adds base to every address in the
// plan (segments, entry, Low/High, PhdrAddr, relocation targets and values)
// and records it in Bias. base must be page aligned and keep the whole image
// below UserTop. Rebasing an Exec image, or rebasing twice, is an error, and
// on error the image is unchanged.
func (im *Image) Rebase(base uint64) error {
	if im.Kind != PIE {
		return errorf(ErrUsage, "only a PIE (ET_DYN) image can be rebased; this one is %v", im.Kind)
	}
	if im.rebased {
		return errorf(ErrUsage, "image is already rebased by %#x", im.Bias)
	}
	if base%PageSize != 0 {
		return errorf(ErrUsage, "base %#x is not page aligned", base)
	}
	if high, ovf := add(im.High, base); ovf || high > UserTop {
		return errorf(ErrUsage, "base %#x puts the image [%#x, %#x) above the user address space", base, im.Low, im.High)
	}
	im.Bias, im.rebased = base, true
	im.Entry += base
	im.Low += base
	im.High += base
	if im.phdrKnown {
		im.PhdrAddr += base
	}
	for i := range im.Segments {
		im.Segments[i].Vaddr += base
	}
	for i := range im.Relocs {
		im.Relocs[i].Addr += base
		im.Relocs[i].Value += base
	}
	return nil
}

// ApplyRelocs writes every relocation into mem, a copy of guest memory that
// starts at guest address memAddr (typically the image laid out from Low).
// It fails, writing nothing, if a target is outside mem.
func (im *Image) ApplyRelocs(mem []byte, memAddr uint64) error {
	for _, r := range im.Relocs {
		if r.Addr < memAddr || !inFile(r.Addr-memAddr, 8, len(mem)) {
			return errorf(ErrUsage, "relocation target %#x is outside memory [%#x, +%#x)", r.Addr, memAddr, len(mem))
		}
	}
	for _, r := range im.Relocs {
		le.PutUint64(mem[r.Addr-memAddr:], r.Value)
	}
	return nil
}
