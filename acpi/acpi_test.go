package acpi

import (
	"encoding/binary"
	"math/rand"
	"strings"
	"testing"
)

var le = binary.LittleEndian

// fakeMem is physical memory for tests: a byte slice from 0. Reads past
// its end see all-ones, like a floating bus.
type fakeMem []byte

func (m fakeMem) U8(a uint64) uint8 {
	if a >= uint64(len(m)) {
		return 0xff
	}
	return m[a]
}
func (m fakeMem) U32(a uint64) uint32 {
	return uint32(m.U8(a)) | uint32(m.U8(a+1))<<8 | uint32(m.U8(a+2))<<16 | uint32(m.U8(a+3))<<24
}
func (m fakeMem) U64(a uint64) uint64 { return uint64(m.U32(a)) | uint64(m.U32(a+4))<<32 }

const memSize = 0x108000

func newMem() fakeMem { return make(fakeMem, memSize) }

// fix sets the checksum byte at off so that b[:n] sums to 0.
func fix(b []byte, off int) {
	b[off] = 0
	var s byte
	for _, c := range b {
		s += c
	}
	b[off] = -s
}

// sdt returns a system description table with the given signature and
// body, its length and checksum filled in.
func sdt(sig string, body []byte) []byte {
	b := make([]byte, 36, 36+len(body))
	copy(b, sig)
	le.PutUint32(b[4:], uint32(36+len(body)))
	b[8] = 1
	copy(b[10:], "BOCHS ")
	copy(b[16:], "BXPC    ")
	b = append(b, body...)
	fix(b, 9)
	return b
}

func rsdpBytes(rev byte, rsdt uint32, xsdt uint64) []byte {
	n := 20
	if rev >= 2 {
		n = 36
	}
	b := make([]byte, n)
	copy(b, "RSD PTR ")
	copy(b[9:], "BOCHS ")
	b[15] = rev
	le.PutUint32(b[16:], rsdt)
	fix(b[:20], 8)
	if rev >= 2 {
		le.PutUint32(b[20:], 36)
		le.PutUint64(b[24:], xsdt)
		fix(b, 32)
	}
	return b
}

type entry []byte

func lapic(uid, id byte, flags uint32) entry {
	e := entry{0, 8, uid, id, 0, 0, 0, 0}
	le.PutUint32(e[4:], flags)
	return e
}

func ioapic(id byte, addr, gsi uint32) entry {
	e := make(entry, 12)
	e[0], e[1], e[2] = 1, 12, id
	le.PutUint32(e[4:], addr)
	le.PutUint32(e[8:], gsi)
	return e
}

func override(bus, src byte, gsi uint32, flags uint16) entry {
	e := make(entry, 10)
	e[0], e[1], e[2], e[3] = 2, 10, bus, src
	le.PutUint32(e[4:], gsi)
	le.PutUint16(e[8:], flags)
	return e
}

func lapicNMI(uid byte, flags uint16, lint byte) entry {
	e := entry{4, 6, uid, 0, 0, lint}
	le.PutUint16(e[3:], flags)
	return e
}

func lapicAddrOverride(a uint64) entry {
	e := make(entry, 12)
	e[0], e[1] = 5, 12
	le.PutUint64(e[4:], a)
	return e
}

func x2apic(id, uid, flags uint32) entry {
	e := make(entry, 16)
	e[0], e[1] = 9, 16
	le.PutUint32(e[4:], id)
	le.PutUint32(e[8:], flags)
	le.PutUint32(e[12:], uid)
	return e
}

func x2apicNMI(uid uint32, flags uint16, lint byte) entry {
	e := make(entry, 12)
	e[0], e[1] = 0xA, 12
	le.PutUint16(e[2:], flags)
	le.PutUint32(e[4:], uid)
	e[8] = lint
	return e
}

func madt(lapicAddr, flags uint32, entries ...entry) []byte {
	body := make([]byte, 8)
	le.PutUint32(body, lapicAddr)
	le.PutUint32(body[4:], flags)
	for _, e := range entries {
		body = append(body, e...)
	}
	return sdt("APIC", body)
}

func hpet(id uint32, space byte, addr uint64, minTick uint16) []byte {
	body := make([]byte, 20)
	le.PutUint32(body, id)
	body[4] = space
	body[5] = 64
	le.PutUint64(body[8:], addr)
	le.PutUint16(body[17:], minTick)
	return sdt("HPET", body)
}

// machine lays tables out from 0x100000 and the RSDP in the BIOS area,
// as SeaBIOS does; root is "XSDT" or "RSDT".
type machine struct {
	m      fakeMem
	next   uint64
	rsdpAt uint64
}

func (mc *machine) put(b []byte) uint64 {
	if mc.next == 0 {
		mc.next = 0x100000
	}
	a := mc.next
	copy(mc.m[a:], b)
	mc.next = (a + uint64(len(b)) + 15) &^ 15
	return a
}

func build(root string, rev byte, tables ...[]byte) *machine {
	mc := &machine{m: newMem()}
	var addrs []uint64
	for _, t := range tables {
		addrs = append(addrs, mc.put(t))
	}
	var body []byte
	for _, a := range addrs {
		if root == "XSDT" {
			body = le.AppendUint64(body, a)
		} else {
			body = le.AppendUint32(body, uint32(a))
		}
	}
	ra := mc.put(sdt(root, body))
	mc.rsdpAt = 0xF5A40
	if root == "XSDT" {
		copy(mc.m[mc.rsdpAt:], rsdpBytes(rev, 0, ra))
	} else {
		copy(mc.m[mc.rsdpAt:], rsdpBytes(rev, uint32(ra), 0))
	}
	return mc
}

// qemuMADT is a MADT like QEMU's for -smp 4 plus the other entry types.
func qemuMADT() []byte {
	return madt(0xFEE00000, 1,
		lapic(0, 0, 1), lapic(1, 1, 1), lapic(2, 2, 1), lapic(3, 3, 2),
		ioapic(0, 0xFEC00000, 0),
		override(0, 0, 2, 0), override(0, 5, 5, 0xd), override(0, 9, 9, 0xd),
		lapicNMI(0xFF, 0, 1),
		entry{0x7F, 6, 1, 2, 3, 4}, // unknown type: skipped by its length
		x2apic(300, 17, 1),
		x2apicNMI(17, 5, 1),
	)
}

func checkQEMU(t *testing.T, tb *Tables) {
	t.Helper()
	if !tb.HaveMADT || tb.LAPICAddr != 0xFEE00000 || !tb.PCAT {
		t.Errorf("MADT %v lapic %#x PCAT %v", tb.HaveMADT, tb.LAPICAddr, tb.PCAT)
	}
	want := []CPU{
		{APICID: 0, UID: 0, Enabled: true},
		{APICID: 1, UID: 1, Enabled: true},
		{APICID: 2, UID: 2, Enabled: true},
		{APICID: 3, UID: 3, OnlineCapable: true},
		{APICID: 300, UID: 17, Enabled: true, X2APIC: true},
	}
	if tb.NCPUs != len(want) {
		t.Fatalf("%d CPUs: %+v", tb.NCPUs, tb.CPUs[:tb.NCPUs])
	}
	for i, c := range want {
		if tb.CPUs[i] != c {
			t.Errorf("CPU %d = %+v, want %+v", i, tb.CPUs[i], c)
		}
	}
	if tb.NIOAPICs != 1 || tb.IOAPICs[0] != (IOAPIC{0, 0xFEC00000, 0}) {
		t.Errorf("IOAPICs %d %+v", tb.NIOAPICs, tb.IOAPICs[0])
	}
	wantOvr := []Override{{0, 2, 0}, {5, 5, TriggerLevel | PolarityActiveHigh}, {9, 9, 0xd}}
	if tb.NOverrides != len(wantOvr) {
		t.Fatalf("%d overrides", tb.NOverrides)
	}
	for i, o := range wantOvr {
		if tb.Overrides[i] != o {
			t.Errorf("override %d = %+v, want %+v", i, tb.Overrides[i], o)
		}
	}
	wantNMI := []NMI{{AllProcessors, 0, 1}, {17, 5, 1}}
	if tb.NNMIs != len(wantNMI) || tb.NMIs[0] != wantNMI[0] || tb.NMIs[1] != wantNMI[1] {
		t.Errorf("NMIs %d %+v", tb.NNMIs, tb.NMIs[:tb.NNMIs])
	}
}

func TestParseXSDT(t *testing.T) {
	mc := build("XSDT", 2, sdt("FACP", make([]byte, 100)), qemuMADT(), hpet(0x8086a201, 0, 0xFED00000, 0x80))
	var tb Tables
	if msg := Parse(mc.m, mc.rsdpAt, &tb); msg != "" {
		t.Fatal(msg)
	}
	checkQEMU(t, &tb)
	if tb.RSDP != mc.rsdpAt || tb.Revision != 2 || string(tb.OEMID[:]) != "BOCHS " {
		t.Errorf("RSDP %#x rev %d OEM %q", tb.RSDP, tb.Revision, tb.OEMID)
	}
	if !tb.HaveHPET || tb.HPETAddr != 0xFED00000 || tb.HPETID != 0x8086a201 || tb.HPETMinTick != 0x80 {
		t.Errorf("HPET %v %#x id %#x tick %d", tb.HaveHPET, tb.HPETAddr, tb.HPETID, tb.HPETMinTick)
	}
}

func TestParseRSDT(t *testing.T) {
	for _, rev := range []byte{0, 2} { // revision 2 with a null XSDT falls back to the RSDT
		mc := build("RSDT", rev, qemuMADT(), hpet(1, 0, 0xFED00000, 0))
		var tb Tables
		if msg := Parse(mc.m, mc.rsdpAt, &tb); msg != "" {
			t.Fatalf("revision %d: %s", rev, msg)
		}
		checkQEMU(t, &tb)
		if tb.Revision != rev || !tb.HaveHPET {
			t.Errorf("revision %d: got revision %d, HPET %v", rev, tb.Revision, tb.HaveHPET)
		}
	}
}

func TestLAPICAddressOverride(t *testing.T) {
	mc := build("XSDT", 2, madt(0xFEE00000, 0, lapic(0, 0, 1), lapicAddrOverride(0x1_2340_0000)))
	var tb Tables
	if msg := Parse(mc.m, mc.rsdpAt, &tb); msg != "" {
		t.Fatal(msg)
	}
	if tb.LAPICAddr != 0x1_2340_0000 || tb.PCAT {
		t.Errorf("LAPIC %#x PCAT %v", tb.LAPICAddr, tb.PCAT)
	}
}

func TestDuplicateAPICID(t *testing.T) {
	mc := build("XSDT", 2, madt(0xFEE00000, 0, lapic(0, 0, 1), lapic(1, 1, 1), x2apic(1, 1, 1)))
	var tb Tables
	Parse(mc.m, mc.rsdpAt, &tb)
	if tb.NCPUs != 2 || tb.CPUs[1].X2APIC {
		t.Errorf("CPUs %+v", tb.CPUs[:tb.NCPUs])
	}
}

func TestBrokenTables(t *testing.T) {
	badSum := qemuMADT()
	badSum[40]++ // flags, checksum not fixed
	tests := []struct {
		name     string
		mc       func() *machine
		want     string
		madt     bool
		cpus     int
		hpet     bool
		overides int
	}{
		{"MADT with a bad checksum", func() *machine {
			return build("XSDT", 2, badSum, hpet(1, 0, 0xFED00000, 0))
		}, "bad checksum", false, 0, true, 0},
		{"truncated processor entry", func() *machine {
			e := lapic(1, 1, 1)[:6]
			e[1] = 6
			return build("XSDT", 2, madt(0xFEE00000, 1, lapic(0, 0, 1), e, lapic(2, 2, 1)))
		}, "truncated", true, 2, false, 0},
		{"truncated x2APIC entry", func() *machine {
			e := x2apic(400, 4, 1)[:12]
			e[1] = 12
			return build("XSDT", 2, madt(0xFEE00000, 1, e, override(0, 0, 2, 0)))
		}, "truncated", true, 0, false, 1},
		{"zero-length entry stops the walk", func() *machine {
			return build("XSDT", 2, madt(0xFEE00000, 1, lapic(0, 0, 1), entry{0x7F, 0, 0, 0}, lapic(1, 1, 1)))
		}, "bad length", true, 1, false, 0},
		{"entry longer than the table", func() *machine {
			e := lapic(1, 1, 1)
			e[1] = 40
			return build("XSDT", 2, madt(0xFEE00000, 1, lapic(0, 0, 1), e))
		}, "bad length", true, 1, false, 0},
		{"one byte of an entry header at the end", func() *machine {
			return build("XSDT", 2, madt(0xFEE00000, 1, lapic(0, 0, 1), entry{0}))
		}, "inside an entry header", true, 1, false, 0},
		{"table length past 1 MiB", func() *machine {
			mc := build("XSDT", 2, hpet(1, 0, 0xFED00000, 0), qemuMADT())
			// The MADT follows the HPET table (56 bytes, at 0x100000).
			le.PutUint32(mc.m[0x100040+4:], 0x7fffffff)
			return mc
		}, "bad length", false, 0, true, 0},
		{"MADT shorter than its fixed fields", func() *machine {
			return build("XSDT", 2, sdt("APIC", make([]byte, 4)))
		}, "shorter", false, 0, false, 0},
		{"HPET in I/O space", func() *machine {
			return build("XSDT", 2, hpet(1, 1, 0x1000, 0))
		}, "not in memory space", false, 0, false, 0},
		{"short HPET", func() *machine {
			return build("XSDT", 2, sdt("HPET", make([]byte, 10)))
		}, "too short", false, 0, false, 0},
		{"override on a bus other than ISA", func() *machine {
			return build("XSDT", 2, madt(0xFEE00000, 1, override(1, 3, 3, 0), override(0, 0, 2, 0)))
		}, "other than ISA", true, 0, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mc := tt.mc()
			var tb Tables
			msg := Parse(mc.m, mc.rsdpAt, &tb)
			if tt.want == "" && msg != "" || tt.want != "" && !strings.Contains(msg, tt.want) {
				t.Errorf("Parse = %q, want a message with %q", msg, tt.want)
			}
			if tb.HaveMADT != tt.madt || tb.NCPUs != tt.cpus || tb.HaveHPET != tt.hpet || tb.NOverrides != tt.overides {
				t.Errorf("MADT %v CPUs %d HPET %v overrides %d; want %v %d %v %d",
					tb.HaveMADT, tb.NCPUs, tb.HaveHPET, tb.NOverrides, tt.madt, tt.cpus, tt.hpet, tt.overides)
			}
		})
	}
}

func TestBadRoot(t *testing.T) {
	mc := build("XSDT", 2, qemuMADT())
	var tb Tables
	// The root table is the last thing put before the RSDP.
	xsdt := le.Uint64(mc.m[mc.rsdpAt+24:])
	mc.m[xsdt+20]++
	if msg := Parse(mc.m, mc.rsdpAt, &tb); !strings.Contains(msg, "root table") || tb.HaveMADT {
		t.Errorf("bad XSDT checksum: %q, MADT %v", msg, tb.HaveMADT)
	}
	mc.m[xsdt+20]--
	copy(mc.m[xsdt:], "RSDT")
	fix(mc.m[xsdt:xsdt+uint64(le.Uint32(mc.m[xsdt+4:]))], 9)
	if msg := Parse(mc.m, mc.rsdpAt, &tb); !strings.Contains(msg, "signature") {
		t.Errorf("XSDT signed RSDT: %q", msg)
	}
	if msg := Parse(mc.m, 0xF0000, &tb); !strings.Contains(msg, "RSDP") {
		t.Errorf("no RSDP: %q", msg)
	}
	mc = build("XSDT", 2, qemuMADT())
	le.PutUint64(mc.m[mc.rsdpAt+24:], 0)
	fix(mc.m[mc.rsdpAt:mc.rsdpAt+36], 32)
	if msg := Parse(mc.m, mc.rsdpAt, &tb); !strings.Contains(msg, "no root table") {
		t.Errorf("RSDP with neither root table: %q", msg)
	}
}

// A null entry in the root table is skipped, the others are used.
func TestNullRootEntry(t *testing.T) {
	mc := build("RSDT", 0, qemuMADT())
	rsdt := uint64(le.Uint32(mc.m[mc.rsdpAt+16:]))
	// Grow the RSDT by a null entry and fix its checksum.
	n := le.Uint32(mc.m[rsdt+4:])
	le.PutUint32(mc.m[rsdt+4:], n+4)
	le.PutUint32(mc.m[rsdt+uint64(n):], 0)
	fix(mc.m[rsdt:rsdt+uint64(n)+4], 9)
	var tb Tables
	msg := Parse(mc.m, mc.rsdpAt, &tb)
	if !strings.Contains(msg, "null") || tb.NCPUs != 5 {
		t.Errorf("Parse = %q, %d CPUs", msg, tb.NCPUs)
	}
}

func TestTooManyCPUs(t *testing.T) {
	var es []entry
	for i := 0; i < MaxCPUs+4; i++ {
		es = append(es, x2apic(uint32(i), uint32(i), 1))
	}
	mc := build("XSDT", 2, madt(0xFEE00000, 0, es...))
	var tb Tables
	msg := Parse(mc.m, mc.rsdpAt, &tb)
	if !strings.Contains(msg, "MaxCPUs") || tb.NCPUs != MaxCPUs || tb.CPUs[MaxCPUs-1].APICID != MaxCPUs-1 {
		t.Errorf("Parse = %q, %d CPUs", msg, tb.NCPUs)
	}
}

func TestFind(t *testing.T) {
	v2 := rsdpBytes(2, 0x1000, 0x2000)
	v1 := rsdpBytes(0, 0x1000, 0)
	setEBDA := func(m fakeMem, seg uint16) { le.PutUint16(m[0x40E:], seg) }
	tests := []struct {
		name   string
		setup  func(m fakeMem) uint64 // returns the loader's RSDP
		want   uint64
		wantOK bool
	}{
		{"loader copy", func(m fakeMem) uint64 {
			copy(m[0x9518:], v2)
			copy(m[0xF5A40:], v1)
			return 0x9518
		}, 0x9518, true},
		{"bad loader copy falls back to the BIOS area", func(m fakeMem) uint64 {
			copy(m[0x9518:], v2)
			m[0x9518+30]++ // extended checksum broken
			copy(m[0xF5A40:], v1)
			return 0x9518
		}, 0xF5A40, true},
		{"EBDA before the BIOS area", func(m fakeMem) uint64 {
			setEBDA(m, 0x9FC0)
			copy(m[0x9FC00+0x100:], v2)
			copy(m[0xE0000:], v1)
			return 0
		}, 0x9FD00, true},
		{"only the first KiB of the EBDA", func(m fakeMem) uint64 {
			setEBDA(m, 0x9000)
			copy(m[0x90400:], v2)
			copy(m[0xFFFE0:], v1) // the last 16-byte slot that holds all 20 bytes
			return 0
		}, 0xFFFE0, true},
		{"16-byte alignment", func(m fakeMem) uint64 {
			copy(m[0xE0008:], v1)
			return 0
		}, 0, false},
		{"v1 checksum", func(m fakeMem) uint64 {
			copy(m[0xE0010:], v1)
			m[0xE0010+19]++
			return 0
		}, 0, false},
		{"v2 length too small", func(m fakeMem) uint64 {
			b := rsdpBytes(2, 0x1000, 0x2000)
			le.PutUint32(b[20:], 20)
			fix(b[:20], 8)
			fix(b, 32)
			copy(m[0xE0010:], b)
			return 0
		}, 0, false},
		{"signature", func(m fakeMem) uint64 {
			b := rsdpBytes(0, 0x1000, 0)
			b[4] = 'p'
			fix(b, 8)
			copy(m[0xE0010:], b)
			return 0
		}, 0, false},
		{"nothing", func(m fakeMem) uint64 { return 0 }, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMem()
			loader := tt.setup(m)
			got, ok := Find(m, loader)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Find = %#x, %v; want %#x, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// Random corruption of the MADT, with its checksum made good again so
// that the entry walk sees it, never crashes Parse or makes it loop, and
// it never reports more entries than fit in the table.
func TestParseCorrupted(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	good := build("XSDT", 2, qemuMADT(), hpet(1, 0, 0xFED00000, 0))
	const at = 0x100000 // the MADT, put first
	n := int(le.Uint32(good.m[at+4:]))
	orig := append([]byte(nil), good.m[at:at+n]...)
	mc := good
	for i := 0; i < 20000; i++ {
		copy(mc.m[at:], orig)
		for j := 0; j < 1+rng.Intn(4); j++ {
			mc.m[at+36+rng.Intn(n-36)] = byte(rng.Intn(256))
		}
		fix(mc.m[at:at+n], 9)
		var tb Tables
		Parse(mc.m, mc.rsdpAt, &tb)
		if max := (n - 44) / 6; tb.NCPUs+tb.NIOAPICs+tb.NOverrides+tb.NNMIs > max {
			t.Fatalf("corruption %d gave %d CPUs, %d IOAPICs, %d overrides, %d NMIs from %d bytes of entries",
				i, tb.NCPUs, tb.NIOAPICs, tb.NOverrides, tb.NNMIs, n-44)
		}
	}
}

func TestRSDPSignature64(t *testing.T) {
	if got := binary.LittleEndian.Uint64([]byte(rsdpSignature)); got != rsdpSignature64 {
		t.Fatalf("rsdpSignature64 %#x, want %#x (%q)", uint64(rsdpSignature64), got, rsdpSignature)
	}
}
