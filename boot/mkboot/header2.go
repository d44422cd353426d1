package main

import (
	"encoding/binary"
	"errors"
	"fmt"

	mb2 "beelzebox/boot/multiboot2"
)

// The Multiboot2 header mkboot writes (Multiboot2 Specification 1.0,
// §3.1): the fixed part, then tags, each starting 8-byte aligned.
//
//	off  size  tag
//	  0    16  magic, architecture 0 (i386), header_length, checksum
//	 16    24  address (type 2): header_addr, load_addr, load_end_addr, bss_end_addr
//	 40    12  entry address (type 3): entry_addr; 4 bytes of padding
//	 56     8  module alignment (type 6): modules page aligned
//	 64    20  framebuffer (type 5), optional: width, height, depth 0 =
//	           no preference; 4 bytes of padding
//	 88     8  end (type 0)
//
// The address tag makes GRUB load the file flat, as the v1 a.out kludge
// does; the framebuffer tag is optional, so a loader without graphics
// still boots the kernel (which uses the serial port as its console).
const (
	Header2Size  = 96
	Header2Align = mb2.HeaderAlign
	// SearchLimit2 is how far into the file a Multiboot2 loader looks.
	SearchLimit2 = mb2.HeaderSearchLimit

	h2AddressOff     = 16
	h2EntryOff       = 40
	h2ModuleAlignOff = 56
	h2FramebufferOff = 64
	h2EndOff         = 88
)

// Header2 is the Multiboot2 header mkboot writes, decoded.
type Header2 struct {
	Checksum    uint32
	HeaderAddr  uint32
	LoadAddr    uint32
	LoadEndAddr uint32
	BSSEndAddr  uint32
	EntryAddr   uint32
}

// Checksum2 is the checksum that makes magic+architecture+length+checksum 0.
func Checksum2(length uint32) uint32 {
	return -(uint32(mb2.HeaderMagic) + mb2.HeaderArchI386 + length)
}

// Encode returns the header's little-endian byte form.
func (h Header2) Encode() []byte {
	b := make([]byte, Header2Size)
	le := binary.LittleEndian
	le.PutUint32(b[0:], mb2.HeaderMagic)
	le.PutUint32(b[4:], mb2.HeaderArchI386)
	le.PutUint32(b[8:], Header2Size)
	le.PutUint32(b[12:], h.Checksum)
	tag := func(off int, typ, flags uint16, size uint32) {
		le.PutUint16(b[off:], typ)
		le.PutUint16(b[off+2:], flags)
		le.PutUint32(b[off+4:], size)
	}
	tag(h2AddressOff, mb2.HeaderTagAddress, 0, 24)
	le.PutUint32(b[h2AddressOff+8:], h.HeaderAddr)
	le.PutUint32(b[h2AddressOff+12:], h.LoadAddr)
	le.PutUint32(b[h2AddressOff+16:], h.LoadEndAddr)
	le.PutUint32(b[h2AddressOff+20:], h.BSSEndAddr)
	tag(h2EntryOff, mb2.HeaderTagEntryAddress, 0, 12)
	le.PutUint32(b[h2EntryOff+8:], h.EntryAddr)
	tag(h2ModuleAlignOff, mb2.HeaderTagModuleAlign, 0, 8)
	tag(h2FramebufferOff, mb2.HeaderTagFramebuffer, mb2.HeaderTagOptional, 20)
	// width, height, depth: 0 = no preference (already zero)
	tag(h2EndOff, mb2.HeaderTagEnd, 0, 8)
	return b
}

// DecodeHeader2 reads a header in exactly the form Encode writes; any
// other tag sequence is an error.
func DecodeHeader2(b []byte) (Header2, error) {
	var h Header2
	if len(b) < Header2Size {
		return h, errors.New("short multiboot2 header")
	}
	le := binary.LittleEndian
	if le.Uint32(b) != mb2.HeaderMagic || le.Uint32(b[4:]) != mb2.HeaderArchI386 || le.Uint32(b[8:]) != Header2Size {
		return h, fmt.Errorf("%w: multiboot2 magic, architecture or length", ErrMismatch)
	}
	h.Checksum = le.Uint32(b[12:])
	want := []struct {
		off         int
		typ, flags  uint16
		size        uint32
		description string
	}{
		{h2AddressOff, mb2.HeaderTagAddress, 0, 24, "address"},
		{h2EntryOff, mb2.HeaderTagEntryAddress, 0, 12, "entry address"},
		{h2ModuleAlignOff, mb2.HeaderTagModuleAlign, 0, 8, "module alignment"},
		{h2FramebufferOff, mb2.HeaderTagFramebuffer, mb2.HeaderTagOptional, 20, "framebuffer"},
		{h2EndOff, mb2.HeaderTagEnd, 0, 8, "end"},
	}
	for _, w := range want {
		if le.Uint16(b[w.off:]) != w.typ || le.Uint16(b[w.off+2:]) != w.flags || le.Uint32(b[w.off+4:]) != w.size {
			return h, fmt.Errorf("%w: multiboot2 %s tag at +%d", ErrMismatch, w.description, w.off)
		}
	}
	if fb := b[h2FramebufferOff+8 : h2FramebufferOff+20]; !allZero(fb) {
		return h, fmt.Errorf("%w: multiboot2 framebuffer tag asks for a mode", ErrMismatch)
	}
	h.HeaderAddr = le.Uint32(b[h2AddressOff+8:])
	h.LoadAddr = le.Uint32(b[h2AddressOff+12:])
	h.LoadEndAddr = le.Uint32(b[h2AddressOff+16:])
	h.BSSEndAddr = le.Uint32(b[h2AddressOff+20:])
	h.EntryAddr = le.Uint32(b[h2EntryOff+8:])
	return h, nil
}

func (h Header2) String() string {
	return fmt.Sprintf("multiboot2 header=%#x load=%#x-%#x bss_end=%#x entry=%#x",
		h.HeaderAddr, h.LoadAddr, h.LoadEndAddr, h.BSSEndAddr, h.EntryAddr)
}

// header2 returns the Multiboot2 header that describes l with the header
// at file offset off.
func (l layout) header2(off int) Header2 {
	return Header2{
		Checksum:    Checksum2(Header2Size),
		HeaderAddr:  uint32(l.loadAddr + uint64(off)),
		LoadAddr:    uint32(l.loadAddr),
		LoadEndAddr: uint32(l.loadEnd),
		BSSEndAddr:  uint32(l.bssEnd),
		EntryAddr:   uint32(l.entry),
	}
}

// Placement2 is a Multiboot2 header and the file offset it is at.
type Placement2 struct {
	Offset int
	Header Header2
}

// find2 returns the first Multiboot2 header a loader would accept: magic
// at an 8-byte-aligned offset with the whole header_length inside the
// first 32 KiB and a good checksum. GRUB takes the first such magic.
func find2(image []byte) (int, error) {
	le := binary.LittleEndian
	for off := 0; off+mb2.HeaderFixedSize <= min(SearchLimit2, len(image)); off += Header2Align {
		if le.Uint32(image[off:]) != mb2.HeaderMagic {
			continue
		}
		sum := le.Uint32(image[off:]) + le.Uint32(image[off+4:]) + le.Uint32(image[off+8:]) + le.Uint32(image[off+12:])
		if sum != 0 {
			return off, ErrChecksum
		}
		return off, nil
	}
	return 0, ErrNoHeader
}

// Stamp2 writes a Multiboot2 header into image (after Stamp has written
// the v1 one, whose bytes it then avoids) and returns where and what it
// wrote. The slot is the first 8-byte-aligned run of 96 zero bytes in the
// first 32 KiB, inside the loaded bytes, covering no ELF structure. A
// header left by an earlier Stamp2 is cleared first.
func Stamp2(image []byte) (Placement2, error) {
	l, err := analyse(image)
	if err != nil {
		return Placement2{}, err
	}
	out := append([]byte(nil), image...)
	if old, err := find2(out); err == nil && l.freeFor(old, Header2Size, SearchLimit2) {
		clear(out[old : old+Header2Size])
	}
	for off := 0; off+Header2Size <= min(SearchLimit2, len(out)); off += Header2Align {
		if !l.freeFor(off, Header2Size, SearchLimit2) || !allZero(out[off:off+Header2Size]) {
			continue
		}
		h := l.header2(off)
		copy(out[off:], h.Encode())
		if first, err := find2(out); err != nil || first != off {
			return Placement2{}, fmt.Errorf("%w: another multiboot2 magic at %#x, inside the ELF contents, comes before the free slot at %#x",
				ErrLayout, first, off)
		}
		copy(image, out)
		return Placement2{Offset: off, Header: h}, nil
	}
	return Placement2{}, fmt.Errorf("%w (multiboot2: 96 bytes, 8-byte aligned, first 32 KiB)", ErrNoSlot)
}

// Check2 verifies that image carries the Multiboot2 header Stamp2 would
// write for it.
func Check2(image []byte) (Placement2, error) {
	l, err := analyse(image)
	if err != nil {
		return Placement2{}, err
	}
	off, err := find2(image)
	if err != nil {
		return Placement2{}, fmt.Errorf("multiboot2: %w", err)
	}
	h, err := DecodeHeader2(image[off:])
	p := Placement2{Offset: off, Header: h}
	if err != nil {
		return p, err
	}
	if !l.freeFor(off, Header2Size, SearchLimit2) {
		return p, fmt.Errorf("%w: multiboot2 header at %#x overlaps ELF headers or section contents", ErrMismatch, off)
	}
	if want := l.header2(off); h != want {
		return p, fmt.Errorf("%w: multiboot2 header %v, want %v", ErrMismatch, h, want)
	}
	return p, nil
}
