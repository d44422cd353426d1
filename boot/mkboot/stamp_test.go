package main

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"testing"
)

func TestHeaderEncoding(t *testing.T) {
	h := Header{
		Magic:       HeaderMagic,
		Flags:       KernelFlags,
		Checksum:    ChecksumFor(HeaderMagic, KernelFlags),
		HeaderAddr:  0x100170,
		LoadAddr:    0x100000,
		LoadEndAddr: 0x102800,
		BSSEndAddr:  0x107000,
		EntryAddr:   0x101000,
	}
	b := h.Encode()
	if len(b) != HeaderSize {
		t.Fatalf("encoded %d bytes, want %d", len(b), HeaderSize)
	}
	// The byte layout from the Multiboot spec, section 3.1.1, little-endian.
	want := []uint32{0x1BADB002, 0x00010002, 0xE4514FFC, 0x100170, 0x100000, 0x102800, 0x107000, 0x101000}
	for i, w := range want {
		if got := binary.LittleEndian.Uint32(b[4*i:]); got != w {
			t.Errorf("word %d = %#x, want %#x", i, got, w)
		}
	}
	if sum := want[0] + want[1] + want[2]; sum != 0 {
		t.Fatalf("magic+flags+checksum = %#x, want 0", sum)
	}
	back, err := DecodeHeader(b)
	if err != nil || back != h {
		t.Fatalf("DecodeHeader = %+v, %v; want %+v", back, err, h)
	}
	if !h.Valid() {
		t.Error("Valid() = false for a correct header")
	}
	h.Checksum++
	if h.Valid() {
		t.Error("Valid() = true with a bad checksum")
	}
	if _, err := DecodeHeader(b[:HeaderSize-1]); err == nil {
		t.Error("DecodeHeader accepted a short buffer")
	}
}

func TestStampGoLikeLayout(t *testing.T) {
	orig := goLike().bytes()
	image := bytes.Clone(orig)
	p, err := Stamp(image)
	if err != nil {
		t.Fatal(err)
	}
	if p.Offset != shEnd {
		t.Errorf("header at %#x, want %#x (first free word after the section headers)", p.Offset, shEnd)
	}
	want := Header{
		Magic:       HeaderMagic,
		Flags:       FlagMemInfo | FlagAddress,
		Checksum:    0xE4514FFC,
		HeaderAddr:  0x100000 + shEnd,
		LoadAddr:    0x100000,
		LoadEndAddr: 0x102800,
		BSSEndAddr:  0x107000,
		EntryAddr:   0x101000,
	}
	if p.Header != want {
		t.Errorf("header\n got %v\nwant %v", p.Header, want)
	}
	got, _ := DecodeHeader(image[p.Offset:])
	if got != want {
		t.Errorf("bytes in image decode to %v", got)
	}
	// Nothing but the 32 header bytes may change.
	clear(image[p.Offset : p.Offset+HeaderSize])
	if !bytes.Equal(image, orig) {
		t.Error("Stamp changed bytes outside the header")
	}
}

func TestStampIsIdempotent(t *testing.T) {
	once := goLike().bytes()
	if _, err := Stamp(once); err != nil {
		t.Fatal(err)
	}
	twice := bytes.Clone(once)
	if _, err := Stamp(twice); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(once, twice) {
		t.Error("stamping a stamped image changed it")
	}
}

func TestStampPlacement(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*testELF)
		dirty int // if nonzero, a padding byte to set before stamping
		want  int
	}{
		{
			name: "skips a section whose contents are zero",
			edit: func(e *testELF) {
				e.secs = append(e.secs, testSec{off: shEnd + 64, size: 0x400 - shEnd - 64, fill: 0})
			},
			// shdr table grew by one entry to shEnd+64; the zero section ends at 0x400.
			want: 0x400,
		},
		{
			name:  "skips nonzero padding",
			edit:  func(e *testELF) {},
			dirty: shEnd + 1,
			want:  shEnd + 4,
		},
		{
			name: "a section table after the image leaves the slot after the program headers",
			edit: func(e *testELF) { e.shoff = 0x2c00 },
			want: 64 + 2*56,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := goLike()
			tt.edit(&e)
			image := e.bytes()
			if tt.dirty != 0 {
				image[tt.dirty] = 0x5a
			}
			p, err := Stamp(image)
			if err != nil {
				t.Fatal(err)
			}
			if p.Offset != tt.want {
				t.Errorf("header at %#x, want %#x", p.Offset, tt.want)
			}
			if _, err := Check(image); err != nil {
				t.Errorf("Check after Stamp: %v", err)
			}
		})
	}
}

func TestStampFailures(t *testing.T) {
	elf32 := goLike().bytes()
	elf32[elf.EI_CLASS] = byte(elf.ELFCLASS32)

	tests := []struct {
		name  string
		image func() []byte
		want  error
	}{
		{"empty file", func() []byte { return nil }, ErrNotELF},
		{"text file", func() []byte { return []byte("#!/bin/sh\necho not a kernel\n") }, ErrNotELF},
		{"64 zero bytes", func() []byte { return make([]byte, 64) }, ErrNotELF},
		{"ELF32 ident", func() []byte { return elf32 }, ErrNotELF},
		{"arm64 machine", func() []byte {
			e := goLike()
			e.machine = elf.EM_AARCH64
			return e.bytes()
		}, ErrNotELF},
		{"segment past end of file", func() []byte {
			e := goLike()
			e.segs[1].filesz = 0x2000
			e.segs[1].memsz = 0x5000
			return e.bytes()
		}, ErrNotELF},
		{"no PT_LOAD", func() []byte {
			e := goLike()
			e.segs = nil
			e.shoff = 64
			return e.bytes()
		}, ErrNoLoad},
		{"mismatched deltas", func() []byte {
			e := goLike()
			e.segs[1].vaddr = 0x202000
			return e.bytes()
		}, ErrMixedDelta},
		{"vaddr below offset", func() []byte {
			e := goLike()
			e.segs[1].vaddr = 0x1000
			return e.bytes()
		}, ErrLayout},
		{"loaded above 4 GiB", func() []byte {
			e := goLike()
			e.segs[0].vaddr = 1 << 32
			e.segs[1].vaddr = 1<<32 + 0x2000
			e.entry = 1<<32 + 0x1000
			return e.bytes()
		}, ErrAbove4G},
		{"bss crosses 4 GiB", func() []byte {
			e := goLike()
			e.segs[1].memsz = 1 << 32
			return e.bytes()
		}, ErrAbove4G},
		{"entry above 4 GiB", func() []byte {
			e := goLike()
			e.entry = 1<<32 + 0x101000
			return e.bytes()
		}, ErrAbove4G},
		{"entry outside the loaded bytes", func() []byte {
			e := goLike()
			e.entry = 0x104000 // in .bss
			return e.bytes()
		}, ErrLayout},
		{"zero-fill in a segment that is not the last", func() []byte {
			e := goLike()
			e.segs[0].memsz = 0x2800
			return e.bytes()
		}, ErrLayout},
		{"no free slot: contents right after the program headers", func() []byte {
			e := goLike()
			e.shoff = 0x2c00
			e.secs[0] = testSec{off: 64 + 2*56, size: 0x2000 - (64 + 2*56), fill: 0xcc}
			return e.bytes()
		}, ErrNoSlot},
		{"no free slot: only an unaligned gap", func() []byte {
			e := goLike()
			// Free bytes [0x1b2, 0x1d3): 33 bytes, but the aligned windows
			// 0x1b0 and 0x1b4 both overlap a section.
			e.secs = append(e.secs,
				testSec{off: shEnd + 2*64, size: 2, fill: 0xee}, // shdr table is 0xb0..0x230 with 6 entries
				testSec{off: shEnd + 2*64 + 2 + 33, size: 0x1000 - (shEnd + 2*64 + 2 + 33), fill: 0xee})
			return e.bytes()
		}, ErrNoSlot},
		{"no free slot: padding only beyond 8 KiB", func() []byte {
			e := goLike()
			e.shoff = 0x2c00
			e.segs[0].filesz, e.segs[0].memsz = 0x2400, 0x2400
			e.segs[1] = testSeg{off: 0x2400, vaddr: 0x102400, filesz: 0x400, memsz: 0x400}
			e.secs = []testSec{
				{off: 64 + 2*56, size: 0x1ff0 - (64 + 2*56), fill: 0xcc}, // leaves 16 free bytes below 8 KiB
				{off: 0x2100, size: 0x700, fill: 0xdd},
			}
			return e.bytes()
		}, ErrNoSlot},
		{"an earlier header inside section contents", func() []byte {
			e := goLike()
			e.secs = append(e.secs, testSec{off: shEnd + 64, size: 0x40, fill: 0x77})
			b := e.bytes()
			stale := Header{Magic: HeaderMagic, Flags: KernelFlags, Checksum: ChecksumFor(HeaderMagic, KernelFlags)}
			copy(b[shEnd+64:], stale.Encode())
			return b
		}, ErrLayout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			image := tt.image()
			before := bytes.Clone(image)
			_, err := Stamp(image)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Stamp error = %v, want %v", err, tt.want)
			}
			if !bytes.Equal(before, image) {
				t.Error("a failed Stamp modified the image")
			}
		})
	}
}

func TestCheck(t *testing.T) {
	stamped := goLike().bytes()
	p, err := Stamp(stamped)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Check(stamped); err != nil || got != p {
		t.Fatalf("Check = %+v, %v; want %+v", got, err, p)
	}

	tests := []struct {
		name  string
		image func() []byte
		want  error
	}{
		{"unstamped", func() []byte { return goLike().bytes() }, ErrNoHeader},
		{"not ELF", func() []byte { return []byte("MZ not an elf") }, ErrNotELF},
		{"bad checksum", func() []byte {
			b := bytes.Clone(stamped)
			b[p.Offset+8]++
			return b
		}, ErrChecksum},
		{"wrong entry", func() []byte {
			b := bytes.Clone(stamped)
			binary.LittleEndian.PutUint32(b[p.Offset+28:], 0x101004)
			return b
		}, ErrMismatch},
		{"wrong bss end", func() []byte {
			b := bytes.Clone(stamped)
			binary.LittleEndian.PutUint32(b[p.Offset+24:], 0x102800)
			return b
		}, ErrMismatch},
		{"header_addr does not match its offset", func() []byte {
			b := bytes.Clone(stamped)
			binary.LittleEndian.PutUint32(b[p.Offset+12:], 0x100000)
			return b
		}, ErrMismatch},
		{"no address fields", func() []byte {
			b := bytes.Clone(stamped)
			h, _ := DecodeHeader(b[p.Offset:])
			h.Flags = FlagMemInfo
			h.Checksum = ChecksumFor(h.Magic, h.Flags)
			copy(b[p.Offset:], h.Encode())
			return b
		}, ErrMismatch},
		{"header inside section contents", func() []byte {
			b := goLike().bytes()
			l, err := analyse(b)
			if err != nil {
				t.Fatal(err)
			}
			copy(b[0x1000:], l.header(0x1000).Encode()) // in .text
			return b
		}, ErrMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Check(tt.image()); !errors.Is(err, tt.want) {
				t.Errorf("Check error = %v, want %v", err, tt.want)
			}
		})
	}
}
