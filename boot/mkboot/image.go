package main

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// Errors that Stamp and Check wrap, so callers and tests can tell the
// failure kinds apart with errors.Is.
var (
	ErrNotELF     = errors.New("not a 64-bit little-endian x86-64 ELF executable")
	ErrNoLoad     = errors.New("no PT_LOAD segment")
	ErrMixedDelta = errors.New("PT_LOAD segments do not share one vaddr-offset delta, so the file is not a flat memory image")
	ErrAbove4G    = errors.New("image does not lie below 4 GiB (multiboot v1 addresses are 32-bit)")
	ErrLayout     = errors.New("image cannot be loaded as a flat file")
	ErrNoSlot     = errors.New("no free zero-filled 4-byte-aligned slot for the multiboot header in the first 8 KiB")
	ErrNoHeader   = errors.New("no multiboot header in the first 8 KiB")
	ErrChecksum   = errors.New("multiboot header has a bad checksum")
	ErrMismatch   = errors.New("multiboot header does not describe this ELF file")
)

// span is a half-open range of file offsets [lo, hi).
type span struct{ lo, hi uint64 }

func (s span) overlaps(o span) bool { return s.lo < o.hi && o.lo < s.hi }

// layout is what a multiboot header has to say about an ELF file, worked out
// from its program headers, plus the file ranges the header must not cover.
//
// The loader copies the file from offset 0 to LoadAddr as one flat block.
// That is only a correct memory image if every PT_LOAD sits at the same
// distance (vaddr - offset) from its file offset; the Go linker keeps that
// distance constant (-T 0x1001000 makes it 16 MiB, -T 0x101000 1 MiB).
type layout struct {
	loadAddr uint64 // physical address of file offset 0 (the common delta)
	loadEnd  uint64 // end of the last PT_LOAD's file bytes
	bssEnd   uint64 // end of the last PT_LOAD's memory
	entry    uint64 // e_entry, the 32-bit multiboot entry stub
	used     []span // ELF header, program and section header tables, section contents
}

// loadSize is how many file bytes the loader copies.
func (l layout) loadSize() uint64 { return l.loadEnd - l.loadAddr }

// header returns the multiboot header that describes l with the header at
// file offset off.
func (l layout) header(off int) Header {
	return Header{
		Magic:       HeaderMagic,
		Flags:       KernelFlags,
		Checksum:    ChecksumFor(HeaderMagic, KernelFlags),
		HeaderAddr:  uint32(l.loadAddr + uint64(off)),
		LoadAddr:    uint32(l.loadAddr),
		LoadEndAddr: uint32(l.loadEnd),
		BSSEndAddr:  uint32(l.bssEnd),
		EntryAddr:   uint32(l.entry),
	}
}

// free reports whether a header at file offset off would cover nothing the
// ELF file or the loaded image needs.
func (l layout) free(off int) bool { return l.freeFor(off, HeaderSize, SearchLimit) }

// freeFor is free for a header of size bytes that a loader looks for in
// the first limit bytes.
func (l layout) freeFor(off, size, limit int) bool {
	s := span{uint64(off), uint64(off) + uint64(size)}
	if s.hi > uint64(limit) || s.hi > l.loadSize() {
		return false
	}
	for _, u := range l.used {
		if s.overlaps(u) {
			return false
		}
	}
	return true
}

// analyse checks that image is a Go-linked (or similar) ELF64 that can be
// loaded flat below 4 GiB and returns its layout.
func analyse(image []byte) (layout, error) {
	var l layout
	var eh elf.Header64
	if len(image) < binary.Size(eh) || !bytes.HasPrefix(image, []byte(elf.ELFMAG)) {
		return l, ErrNotELF
	}
	f, err := elf.NewFile(bytes.NewReader(image))
	if err != nil {
		return l, fmt.Errorf("%w: %v", ErrNotELF, err)
	}
	if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB || f.Machine != elf.EM_X86_64 {
		return l, fmt.Errorf("%w: %v %v %v", ErrNotELF, f.Class, f.Data, f.Machine)
	}
	if _, err := binary.Decode(image, binary.LittleEndian, &eh); err != nil {
		return l, fmt.Errorf("%w: %v", ErrNotELF, err)
	}

	var loads []*elf.Prog
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			loads = append(loads, p)
		}
	}
	if len(loads) == 0 {
		return l, ErrNoLoad
	}
	slices.SortFunc(loads, func(a, b *elf.Prog) int { return compareU64(a.Vaddr, b.Vaddr) })

	first := loads[0]
	if first.Vaddr < first.Off {
		return l, fmt.Errorf("%w: PT_LOAD at offset %#x has vaddr %#x below it, so file offset 0 has no address", ErrLayout, first.Off, first.Vaddr)
	}
	l.loadAddr = first.Vaddr - first.Off
	l.entry = f.Entry
	for i, p := range loads {
		if d := p.Vaddr - p.Off; p.Vaddr < p.Off || d != l.loadAddr {
			return l, fmt.Errorf("%w: PT_LOAD offset %#x vaddr %#x (delta %#x) vs delta %#x of offset %#x",
				ErrMixedDelta, p.Off, p.Vaddr, p.Vaddr-p.Off, l.loadAddr, first.Off)
		}
		if p.Off+p.Filesz > uint64(len(image)) || p.Off+p.Filesz < p.Off {
			return l, fmt.Errorf("%w: PT_LOAD at offset %#x runs past the end of the file", ErrNotELF, p.Off)
		}
		if p.Memsz < p.Filesz {
			return l, fmt.Errorf("%w: PT_LOAD at %#x has memsz < filesz", ErrLayout, p.Vaddr)
		}
		end := p.Vaddr + p.Memsz
		if end < p.Vaddr || end > 1<<32 {
			return l, fmt.Errorf("%w: PT_LOAD %#x-%#x", ErrAbove4G, p.Vaddr, end)
		}
		// A flat load fills the gap between one segment's file end and the
		// next segment with file bytes, so only the highest segment may
		// have zero-filled memory (.bss) beyond its file bytes.
		if p.Memsz != p.Filesz && i != len(loads)-1 {
			return l, fmt.Errorf("%w: PT_LOAD at %#x has zero-fill (memsz %#x > filesz %#x) but is not the last segment",
				ErrLayout, p.Vaddr, p.Memsz, p.Filesz)
		}
		l.loadEnd = max(l.loadEnd, p.Vaddr+p.Filesz)
		l.bssEnd = max(l.bssEnd, end)
	}
	if l.entry >= 1<<32 {
		return l, fmt.Errorf("%w: entry %#x", ErrAbove4G, l.entry)
	}
	if l.entry < l.loadAddr || l.entry >= l.loadEnd {
		return l, fmt.Errorf("%w: entry %#x is outside the loaded bytes %#x-%#x", ErrLayout, l.entry, l.loadAddr, l.loadEnd)
	}

	l.used = append(l.used,
		span{0, uint64(eh.Ehsize)},
		span{eh.Phoff, eh.Phoff + uint64(eh.Phnum)*uint64(eh.Phentsize)},
		span{eh.Shoff, eh.Shoff + uint64(eh.Shnum)*uint64(eh.Shentsize)},
	)
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOBITS && s.Type != elf.SHT_NULL && s.Size > 0 {
			l.used = append(l.used, span{s.Offset, s.Offset + s.Size})
		}
	}
	return l, nil
}

func compareU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Placement is a header and the file offset it was written at (or found at).
type Placement struct {
	Offset int
	Header Header
}

// Stamp writes a multiboot header into image, which must be a flat-loadable
// ELF64 (see analyse), and returns where and what it wrote. The header goes
// into the first 4-byte-aligned run of 32 zero bytes in the first 8 KiB that
// overlaps neither the ELF header, the program or section header tables, nor
// any section with file contents: that is linker padding, which nothing
// reads. A header left by an earlier Stamp is cleared first, so stamping
// twice gives the same bytes as stamping once.
func Stamp(image []byte) (Placement, error) {
	l, err := analyse(image)
	if err != nil {
		return Placement{}, err
	}
	// Work on a copy so that a failure leaves image untouched.
	out := bytes.Clone(image)
	if old, err := find(out); err == nil && l.free(old.Offset) {
		clear(out[old.Offset : old.Offset+HeaderSize])
	}
	for off := 0; off+HeaderSize <= min(SearchLimit, len(out)); off += HeaderAlign {
		if !l.free(off) || !allZero(out[off:off+HeaderSize]) {
			continue
		}
		h := l.header(off)
		copy(out[off:], h.Encode())
		// Loaders take the first valid header they meet, so one that sits
		// earlier inside section contents would shadow ours.
		if first, err := find(out); err != nil || first.Offset != off {
			return Placement{}, fmt.Errorf("%w: another multiboot header at %#x, inside the ELF contents, comes before the free slot at %#x",
				ErrLayout, first.Offset, off)
		}
		copy(image, out)
		return Placement{Offset: off, Header: h}, nil
	}
	return Placement{}, ErrNoSlot
}

// find returns the first header a multiboot loader would accept: magic at
// a 4-byte-aligned offset, wholly inside the first 8 KiB, with a good
// checksum.
func find(image []byte) (Placement, error) {
	sawMagic := false
	for off := 0; off+HeaderSize <= min(SearchLimit, len(image)); off += HeaderAlign {
		if binary.LittleEndian.Uint32(image[off:]) != HeaderMagic {
			continue
		}
		h, err := DecodeHeader(image[off:])
		if err != nil {
			return Placement{}, err
		}
		if h.Valid() {
			return Placement{Offset: off, Header: h}, nil
		}
		sawMagic = true
	}
	if sawMagic {
		return Placement{}, ErrChecksum
	}
	return Placement{}, ErrNoHeader
}

// Check verifies that image carries a multiboot header that a loader will
// find and that describes the ELF file exactly as Stamp would have: flags,
// load range from file offset 0, bss end and entry point, placed where it
// covers no ELF structure.
func Check(image []byte) (Placement, error) {
	l, err := analyse(image)
	if err != nil {
		return Placement{}, err
	}
	p, err := find(image)
	if err != nil {
		return p, err
	}
	if !l.free(p.Offset) {
		return p, fmt.Errorf("%w: header at %#x overlaps ELF headers or section contents", ErrMismatch, p.Offset)
	}
	want := l.header(p.Offset)
	for _, f := range []struct {
		name      string
		got, want uint32
	}{
		{"flags", uint32(p.Header.Flags), uint32(want.Flags)},
		{"header_addr", p.Header.HeaderAddr, want.HeaderAddr},
		{"load_addr", p.Header.LoadAddr, want.LoadAddr},
		{"load_end_addr", p.Header.LoadEndAddr, want.LoadEndAddr},
		{"bss_end_addr", p.Header.BSSEndAddr, want.BSSEndAddr},
		{"entry_addr", p.Header.EntryAddr, want.EntryAddr},
	} {
		if f.got != f.want {
			return p, fmt.Errorf("%w: %s is %#x, want %#x", ErrMismatch, f.name, f.got, f.want)
		}
	}
	return p, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
