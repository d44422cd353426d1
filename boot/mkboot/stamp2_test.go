package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestHeader2Encoding(t *testing.T) {
	h := Header2{
		Checksum:    Checksum2(Header2Size),
		HeaderAddr:  0x1001d0,
		LoadAddr:    0x100000,
		LoadEndAddr: 0x102800,
		BSSEndAddr:  0x107000,
		EntryAddr:   0x101000,
	}
	b := h.Encode()
	// The byte layout from the Multiboot2 spec §3.1, little-endian u32
	// words; tag headers are u16 type, u16 flags, u32 size.
	want := []uint32{
		0xE85250D6, 0, 96, 0x17ADAECA, // magic, i386, header_length, checksum
		2, 24, 0x1001d0, 0x100000, 0x102800, 0x107000, // address tag
		3, 12, 0x101000, 0, // entry address tag, padding
		6, 8, // module alignment
		5 | 1<<16, 20, 0, 0, 0, 0, // framebuffer, optional, no preference; padding
		0, 8, // end
	}
	if len(b) != 4*len(want) {
		t.Fatalf("encoded %d bytes, want %d", len(b), 4*len(want))
	}
	for i, w := range want {
		if got := binary.LittleEndian.Uint32(b[4*i:]); got != w {
			t.Errorf("word %d = %#x, want %#x", i, got, w)
		}
	}
	if want[0]+want[1]+want[2]+want[3] != 0 {
		t.Error("magic+architecture+length+checksum != 0")
	}
	back, err := DecodeHeader2(b)
	if err != nil || back != h {
		t.Fatalf("DecodeHeader2 = %+v, %v; want %+v", back, err, h)
	}
	b[64+8] = 1 // ask for a width
	if _, err := DecodeHeader2(b); !errors.Is(err, ErrMismatch) {
		t.Errorf("DecodeHeader2 with a framebuffer width: %v", err)
	}
}

func stampBoth(t *testing.T, image []byte) (Placement, Placement2) {
	t.Helper()
	p, err := Stamp(image)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := Stamp2(image)
	if err != nil {
		t.Fatal(err)
	}
	return p, p2
}

func TestStamp2GoLikeLayout(t *testing.T) {
	orig := goLike().bytes()
	image := bytes.Clone(orig)
	p, p2 := stampBoth(t, image)
	if p.Offset != shEnd || p2.Offset != shEnd+HeaderSize {
		t.Errorf("headers at %#x and %#x, want %#x and %#x", p.Offset, p2.Offset, shEnd, shEnd+HeaderSize)
	}
	want := Header2{Checksum: 0x17ADAECA, HeaderAddr: 0x100000 + shEnd + HeaderSize, LoadAddr: 0x100000,
		LoadEndAddr: 0x102800, BSSEndAddr: 0x107000, EntryAddr: 0x101000}
	if p2.Header != want {
		t.Errorf("header\n got %v\nwant %v", p2.Header, want)
	}
	if got, err := Check2(image); err != nil || got != p2 {
		t.Errorf("Check2 = %+v, %v", got, err)
	}
	if _, err := Check(image); err != nil {
		t.Errorf("Check (v1) after Stamp2: %v", err)
	}
	clear(image[p.Offset : p.Offset+HeaderSize])
	clear(image[p2.Offset : p2.Offset+Header2Size])
	if !bytes.Equal(image, orig) {
		t.Error("stamping changed bytes outside the headers")
	}
	// Idempotent: stamping a stamped image changes nothing.
	once := goLike().bytes()
	stampBoth(t, once)
	twice := bytes.Clone(once)
	stampBoth(t, twice)
	if !bytes.Equal(once, twice) {
		t.Error("stamping a stamped image changed it")
	}
}

func TestStamp2Alignment(t *testing.T) {
	// A dirty byte right after the v1 header pushes the v2 header to the
	// next 8-byte boundary clear of it.
	image := goLike().bytes()
	image[shEnd+HeaderSize+2] = 0x5a
	_, p2 := stampBoth(t, image)
	if p2.Offset != shEnd+HeaderSize+8 {
		t.Errorf("multiboot2 header at %#x, want %#x", p2.Offset, shEnd+HeaderSize+8)
	}
}

func TestStamp2Failures(t *testing.T) {
	// No 96 free bytes below 32 KiB: section contents from right after
	// the program headers.
	e := goLike()
	e.shoff = 0x2c00
	e.secs[0] = testSec{off: 64 + 2*56, size: 0x2000 - (64 + 2*56), fill: 0xcc}
	image := e.bytes()
	before := bytes.Clone(image)
	if _, err := Stamp2(image); !errors.Is(err, ErrNoSlot) {
		t.Errorf("Stamp2 = %v, want ErrNoSlot", err)
	}
	if !bytes.Equal(before, image) {
		t.Error("a failed Stamp2 modified the image")
	}
	// A stray magic inside .text ahead of every free slot would shadow it.
	e = goLike()
	e.secs = append(e.secs, testSec{off: shEnd + 64, size: 0x40, fill: 0x77})
	image = e.bytes()
	binary.LittleEndian.PutUint32(image[shEnd+64:], 0xE85250D6)
	binary.LittleEndian.PutUint32(image[shEnd+68:], 0)
	binary.LittleEndian.PutUint32(image[shEnd+72:], 96)
	binary.LittleEndian.PutUint32(image[shEnd+76:], Checksum2(96))
	if _, err := Stamp2(image); !errors.Is(err, ErrLayout) {
		t.Errorf("Stamp2 with an earlier magic = %v, want ErrLayout", err)
	}
}

func TestCheck2(t *testing.T) {
	stamped := goLike().bytes()
	_, p2 := stampBoth(t, stamped)
	tests := []struct {
		name string
		edit func([]byte)
		want error
	}{
		{"v1 only", func(b []byte) { clear(b[p2.Offset : p2.Offset+Header2Size]) }, ErrNoHeader},
		{"bad checksum", func(b []byte) { b[p2.Offset+12]++ }, ErrChecksum},
		{"wrong entry", func(b []byte) { binary.LittleEndian.PutUint32(b[p2.Offset+48:], 0x101004) }, ErrMismatch},
		{"wrong bss end", func(b []byte) { binary.LittleEndian.PutUint32(b[p2.Offset+36:], 0x102800) }, ErrMismatch},
		{"framebuffer tag not optional", func(b []byte) { b[p2.Offset+66] = 0 }, ErrMismatch},
		{"no end tag", func(b []byte) { b[p2.Offset+92] = 0 }, ErrMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bytes.Clone(stamped)
			tt.edit(b)
			if _, err := Check2(b); !errors.Is(err, tt.want) {
				t.Errorf("Check2 error = %v, want %v", err, tt.want)
			}
		})
	}
}
