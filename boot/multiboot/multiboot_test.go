package multiboot

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

const (
	infoAt = 0x100
	mmapAt = 0x200
	cmdAt  = 0x400
	modsAt = 0x500
)

// build lays out an information structure like QEMU's loader does.
func build(flags uint32, regions []Region, cmdline string, mods []Module) fakeMem {
	m := make(fakeMem, 0x1000)
	le := binary.LittleEndian
	le.PutUint32(m[infoAt:], flags)
	p := mmapAt
	for _, r := range regions {
		le.PutUint32(m[p:], 20)
		le.PutUint64(m[p+4:], r.Base)
		le.PutUint64(m[p+12:], r.Length)
		le.PutUint32(m[p+20:], r.Type)
		p += 24
	}
	le.PutUint32(m[infoAt+44:], uint32(p-mmapAt))
	le.PutUint32(m[infoAt+48:], mmapAt)
	copy(m[cmdAt:], cmdline)
	le.PutUint32(m[infoAt+16:], cmdAt)
	for i, mod := range mods {
		le.PutUint32(m[modsAt+16*i:], uint32(mod.Start))
		le.PutUint32(m[modsAt+16*i+4:], uint32(mod.End))
	}
	le.PutUint32(m[infoAt+20:], uint32(len(mods)))
	le.PutUint32(m[infoAt+24:], modsAt)
	return m
}

var qemu128M = []Region{
	{0, 0x9fc00, RegionAvailable},
	{0x9fc00, 0x400, 2},
	{0xf0000, 0x10000, 2},
	{0x100000, 0x7ee0000, RegionAvailable},
	{0x7fe0000, 0x20000, 2},
	{0xfffc0000, 0x40000, 2},
}

func TestParseQEMULayout(t *testing.T) {
	m := build(flagMem|flagCmdline|flagMods|flagMmap, qemu128M, "build/kernel.elf suites=all", []Module{{0x2000000, 0x2010000}})
	var in Info
	if msg := Parse(m, BootMagic, infoAt, &in); msg != "" {
		t.Fatalf("Parse: %s", msg)
	}
	if in.NRegions != len(qemu128M) {
		t.Fatalf("regions = %d, want %d", in.NRegions, len(qemu128M))
	}
	for i, r := range qemu128M {
		if in.Regions[i] != r {
			t.Errorf("region %d = %+v, want %+v", i, in.Regions[i], r)
		}
	}
	if got := in.CmdlineString(); got != "build/kernel.elf suites=all" {
		t.Errorf("cmdline = %q", got)
	}
	if in.NModules != 1 || in.Modules[0] != (Module{0x2000000, 0x2010000}) {
		t.Errorf("modules = %v", in.Modules[:in.NModules])
	}
	if got, want := in.TotalAvailable(), uint64(0x9fc00+0x7ee0000); got != want {
		t.Errorf("TotalAvailable = %#x, want %#x", got, want)
	}
	// The info block, memory map, command line and module list are reserved.
	want := []Module{{infoAt, infoAt + 88}, {mmapAt, mmapAt + 24*6}, {cmdAt, cmdAt + 28}, {modsAt, modsAt + 16}}
	if in.NReserved != len(want) {
		t.Fatalf("reserved = %v", in.Reserved[:in.NReserved])
	}
	for i := range want {
		if in.Reserved[i] != want[i] {
			t.Errorf("reserved[%d] = %+v, want %+v", i, in.Reserved[i], want[i])
		}
	}
}

func TestParseErrors(t *testing.T) {
	good := build(flagMmap|flagCmdline, qemu128M, "x", nil)
	cases := []struct {
		name  string
		mem   fakeMem
		magic uint64
		addr  uint64
		want  string
	}{
		{"bad magic", good, 0x1234, infoAt, "bad magic"},
		{"null info", good, BootMagic, 0, "null"},
		{"no memory map", build(flagMem, qemu128M, "", nil), BootMagic, infoAt, "no memory map"},
		{"empty memory map", build(flagMmap, nil, "", nil), BootMagic, infoAt, "empty"},
		{"too many modules", build(flagMmap|flagMods, qemu128M, "", make([]Module, 9)), BootMagic, infoAt, "too many boot modules"},
		{"module ends before start", build(flagMmap|flagMods, qemu128M, "", []Module{{0x5000, 0x4000}}), BootMagic, infoAt, "ends before"},
		{"wrapping region", build(flagMmap, []Region{{^uint64(0) - 5, 10, 1}}, "", nil), BootMagic, infoAt, "wraps"},
		{"long cmdline", build(flagMmap|flagCmdline, qemu128M, strings.Repeat("a", MaxCmdline+10), nil), BootMagic, infoAt, "too long"},
	}
	for _, c := range cases {
		var in Info
		msg := Parse(c.mem, c.magic, c.addr, &in)
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s: Parse = %q, want it to mention %q", c.name, msg, c.want)
		}
	}
}

func TestParseShortEntry(t *testing.T) {
	m := build(flagMmap, qemu128M, "", nil)
	binary.LittleEndian.PutUint32(m[mmapAt:], 8)
	var in Info
	if msg := Parse(m, BootMagic, infoAt, &in); !strings.Contains(msg, "size < 20") {
		t.Errorf("Parse = %q", msg)
	}
}
