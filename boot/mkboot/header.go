package main

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Multiboot v1 header constants, from the Multiboot Specification 0.6.96,
// section 3.1 "OS image format".
const (
	// HeaderMagic identifies a Multiboot v1 header to the boot loader.
	HeaderMagic uint32 = 0x1BADB002
	// HeaderSize is the size of a header that carries the address fields
	// (flag bit 16) but not the video fields (flag bit 2).
	HeaderSize = 32
	// HeaderAlign is the alignment the loader scans with.
	HeaderAlign = 4
	// SearchLimit is how far into the file loaders look for the header: the
	// whole header must lie within these first bytes.
	SearchLimit = 8192
)

// Flags is the header's flags word. Bits 0-15 are requirements: a loader
// that does not understand one of them must refuse to boot the image.
// Bits 16-31 are optional features.
type Flags uint32

const (
	// FlagPageAlign asks for modules to be loaded on 4 KiB boundaries.
	FlagPageAlign Flags = 1 << 0
	// FlagMemInfo asks the loader to fill mem_lower/mem_upper and the memory
	// map in the Multiboot information structure. The kernel sizes its
	// physical allocator from the map, so beelzebox always sets it.
	FlagMemInfo Flags = 1 << 1
	// FlagVideoMode asks for a graphics mode and adds four fields to the
	// header. beelzebox never sets it.
	FlagVideoMode Flags = 1 << 2
	// FlagAddress (the "a.out kludge") says that the address fields are
	// valid and that the loader must load the file as a flat image from them
	// instead of reading ELF program headers. QEMU's -kernel refuses ELF64
	// files without it ("Cannot load x86-64 image, give a 32bit one").
	FlagAddress Flags = 1 << 16
)

// KernelFlags is what mkboot stamps: memory information plus address fields.
const KernelFlags = FlagMemInfo | FlagAddress

// Header is a Multiboot v1 header with the address fields. All addresses are
// physical; beelzebox runs identity-mapped at boot, so they equal the ELF
// virtual addresses.
type Header struct {
	Magic    uint32
	Flags    Flags
	Checksum uint32 // Magic + Flags + Checksum == 0 (mod 2^32)

	HeaderAddr  uint32 // where the header itself ends up in memory
	LoadAddr    uint32 // where file offset HeaderOffset-(HeaderAddr-LoadAddr) is loaded
	LoadEndAddr uint32 // end of the file bytes to load
	BSSEndAddr  uint32 // the loader zeroes [LoadEndAddr, BSSEndAddr)
	EntryAddr   uint32 // where the loader jumps, in 32-bit protected mode
}

// ChecksumFor returns the checksum that makes magic+flags+checksum zero.
func ChecksumFor(magic uint32, flags Flags) uint32 {
	return -(magic + uint32(flags))
}

// Valid reports whether the magic and checksum words are what a loader
// accepts.
func (h Header) Valid() bool {
	return h.Magic == HeaderMagic && h.Magic+uint32(h.Flags)+h.Checksum == 0
}

// Encode returns the header's little-endian byte form.
func (h Header) Encode() []byte {
	b, err := binary.Append(nil, binary.LittleEndian, h)
	if err != nil {
		// Header is a fixed-size struct; Append cannot fail on it.
		panic(err)
	}
	return b
}

// DecodeHeader reads a header from the first HeaderSize bytes of b.
func DecodeHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderSize {
		return h, errors.New("short multiboot header")
	}
	if _, err := binary.Decode(b[:HeaderSize], binary.LittleEndian, &h); err != nil {
		return h, err
	}
	return h, nil
}

func (h Header) String() string {
	return fmt.Sprintf("flags=%#x header=%#x load=%#x-%#x bss_end=%#x entry=%#x",
		uint32(h.Flags), h.HeaderAddr, h.LoadAddr, h.LoadEndAddr, h.BSSEndAddr, h.EntryAddr)
}
