package mmio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// fakeMemory is sparse guest-physical memory made of 4 KiB pages; reading
// a page that does not exist fails, like an MMIO page with no RAM.
type fakeMemory map[uint64]*[pageSize]byte

var errNoRAM = errors.New("no RAM")

func (m fakeMemory) ReadPhys(p []byte, gpa uint64) error {
	for len(p) > 0 {
		page, ok := m[gpa&^(pageSize-1)]
		if !ok {
			return errNoRAM
		}
		n := copy(p, page[gpa%pageSize:])
		p, gpa = p[n:], gpa+uint64(n)
	}
	return nil
}

func (m fakeMemory) write(gpa uint64, b []byte) {
	for len(b) > 0 {
		base := gpa &^ (pageSize - 1)
		if m[base] == nil {
			m[base] = new([pageSize]byte)
		}
		n := copy(m[base][gpa%pageSize:], b)
		b, gpa = b[n:], gpa+uint64(n)
	}
}

func (m fakeMemory) put32(gpa uint64, v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	m.write(gpa, b[:])
}

func (m fakeMemory) put64(gpa uint64, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	m.write(gpa, b[:])
}

const (
	present  = entryPresent | 1<<1 // P | R/W
	pageSz   = entryPageSize
	pg64CR0  = CR0PG | 1
	pg32CR4  = CR4PSE
	paeCR4   = CR4PAE
	longEFER = EFERLMA | 1<<8
)

func expectGPA(t *testing.T, m fakeMemory, pg Paging, linear, want uint64) {
	t.Helper()
	got, err := Translate(m, pg, linear)
	if err != nil || got != want {
		t.Fatalf("Translate(%#x) = %#x, %v; want %#x", linear, got, err, want)
	}
}

func expectErr(t *testing.T, m fakeMemory, pg Paging, linear uint64, want error) {
	t.Helper()
	if _, err := Translate(m, pg, linear); !errors.Is(err, want) {
		t.Fatalf("Translate(%#x) err %v, want %v", linear, err, want)
	}
}

func TestTranslatePagingOff(t *testing.T) {
	expectGPA(t, fakeMemory{}, Paging{CR0: 1}, 0xFEE0_0030, 0xFEE0_0030)
}

func TestTranslate32Bit(t *testing.T) {
	m := fakeMemory{}
	pg := Paging{CR0: pg64CR0, CR3: 0x1000, CR4: pg32CR4}
	// PDE 1: 4 MiB page at 0x00800000.
	m.put32(0x1000+1*4, 0x0080_0000|pageSz|present)
	expectGPA(t, m, pg, 0x0041_2345, 0x0081_2345)
	// PDE 2: 4 MiB page with PSE-36 high bits: address bits 39:32 = 0x3.
	m.put32(0x1000+2*4, 0x00C0_0000|0x3<<13|pageSz|present)
	expectGPA(t, m, pg, 0x0080_0010, 0x3_00C0_0010)
	// PDE 3: bit 21 reserved in a 4 MiB PDE.
	m.put32(0x1000+3*4, 0x0100_0000|1<<21|pageSz|present)
	expectErr(t, m, pg, 0x00C0_0000, ErrReservedBits)
	// PDE 4: page table at 0x5000, PTE 0x12 → 0xFEE00000.
	m.put32(0x1000+4*4, 0x5000|present)
	m.put32(0x5000+0x12*4, 0xFEE0_0000|present)
	expectGPA(t, m, pg, 0x0101_2030, 0xFEE0_0030)
	// Without CR4.PSE the PS bit is ignored: PDE 1 names a page table.
	noPSE := pg
	noPSE.CR4 = 0
	m.put32(0x0080_0000+0x12*4, 0x7000|present)
	expectGPA(t, m, noPSE, 0x0041_2345, 0x7345)
	// Not present at either level.
	expectErr(t, m, pg, 0x0140_0000, ErrNotPresent)
	expectErr(t, m, pg, 0x0101_3000, ErrNotPresent)
	// Only the low 32 bits of the linear address count.
	expectGPA(t, m, pg, 0xFFFF_FFFF_0041_2345, 0x0081_2345)
}

func TestTranslatePAE(t *testing.T) {
	m := fakeMemory{}
	pg := Paging{CR0: pg64CR0, CR3: 0x1020, CR4: paeCR4} // 32-byte aligned PDPT
	m.put64(0x1020+1*8, 0x3000|entryPresent)
	// PD 0x3000 entry 1: 2 MiB page at 0xA00000.
	m.put64(0x3000+1*8, 0x00A0_0000|pageSz|present)
	expectGPA(t, m, pg, 0x4031_2345, 0x00B1_2345)
	// PD entry 2: page table at 0x4000, PTE 3 → 0x1_2345_6000 (above 4 GiB).
	m.put64(0x3000+2*8, 0x4000|present)
	m.put64(0x4000+3*8, 0x1_2345_6000|present|1<<63)
	expectGPA(t, m, pg, 0x4040_3ABC, 0x1_2345_6ABC)
	// Reserved PDPTE bits, absent PDPTE.
	m.put64(0x1020+2*8, 0x5000|entryPresent|1<<1)
	expectErr(t, m, pg, 0x8000_0000, ErrReservedBits)
	expectErr(t, m, pg, 0xC000_0000, ErrNotPresent)
	// A 2 MiB page with a reserved low address bit.
	m.put64(0x3000+3*8, 0x00A0_0000|1<<13|pageSz|present)
	expectErr(t, m, pg, 0x4060_0000, ErrReservedBits)
}

// build4Level makes PML4 0x1000 → PDPT 0x2000 → PD 0x3000 → PT 0x4000 for
// the linear address 0x0000_7F80_4060_5000 (indices 255, 2, 3, 5).
func build4Level(m fakeMemory, top uint64) {
	m.put64(top+255*8, 0x2000|present)
	m.put64(0x2000+2*8, 0x3000|present)
	m.put64(0x3000+3*8, 0x4000|present)
	m.put64(0x4000+5*8, 0xFEE0_0000|present|1<<63)
}

func TestTranslate4Level(t *testing.T) {
	m := fakeMemory{}
	pg := Paging{CR0: pg64CR0, CR3: 0x1000, CR4: paeCR4, EFER: longEFER}
	build4Level(m, 0x1000)
	expectGPA(t, m, pg, 0x0000_7F80_8060_5030, 0xFEE0_0030)
	// 1 GiB page: PDPT entry 4 maps 0x1_4000_0000.
	m.put64(0x2000+4*8, 0x1_4000_0000|pageSz|present)
	expectGPA(t, m, pg, 0x0000_7F81_0123_4567, 0x1_4123_4567)
	// 2 MiB page: PD entry 7.
	m.put64(0x3000+7*8, 0x0060_0000|pageSz|present)
	expectGPA(t, m, pg, 0x0000_7F80_80F0_0001, 0x0070_0001)
	// PS in a PML4E is reserved.
	m.put64(0x1000+1*8, 0x4000_0000|pageSz|present)
	expectErr(t, m, pg, 0x0000_0080_0000_0000, ErrReservedBits)
	// Reserved low bits of a 1 GiB page.
	m.put64(0x2000+5*8, 0x1_4000_0000|1<<20|pageSz|present)
	expectErr(t, m, pg, 0x0000_7F81_4000_0000, ErrReservedBits)
	// Not present at each level.
	expectErr(t, m, pg, 0x0000_0100_0000_0000, ErrNotPresent) // PML4E
	expectErr(t, m, pg, 0x0000_7F80_0000_0000, ErrNotPresent) // PDPTE
	expectErr(t, m, pg, 0x0000_7F80_8000_0000, ErrNotPresent) // PDE
	expectErr(t, m, pg, 0x0000_7F80_8060_6000, ErrNotPresent) // PTE
	// A table that is not RAM is an error, not a panic.
	m.put64(0x3000+8*8, 0xDEAD_0000|present)
	if _, err := Translate(m, pg, 0x0000_7F80_8100_0000); !errors.Is(err, errNoRAM) {
		t.Fatalf("err %v", err)
	}
}

func TestTranslate5Level(t *testing.T) {
	m := fakeMemory{}
	pg := Paging{CR0: pg64CR0, CR3: 0x9000, CR4: paeCR4 | CR4LA57, EFER: longEFER}
	m.put64(0x9000+0x1AB*8, 0x1000|present) // PML5 index 0x1AB
	build4Level(m, 0x1000)
	expectGPA(t, m, pg, 0x01AB_7F80_8060_5030, 0xFEE0_0030)
	expectErr(t, m, pg, 0x0000_7F80_8060_5030, ErrNotPresent)
}

func TestTranslateSelfReferencingTable(t *testing.T) {
	m := fakeMemory{}
	pg := Paging{CR0: pg64CR0, CR3: 0x1000, CR4: paeCR4, EFER: longEFER}
	// PML4[0] points at the PML4 itself: every level reads the same page,
	// and the walk stops after four levels.
	m.put64(0x1000, 0x1000|present)
	expectGPA(t, m, pg, 0x0123, 0x1123)
	pg.CR4 |= CR4LA57
	pg32 := Paging{CR0: pg64CR0, CR3: 0x1000}
	expectGPA(t, m, pg, 0x0456, 0x1456)
	m.put32(0x1000, 0x1000|present)
	expectGPA(t, m, pg32, 0x0789, 0x1789)
}

func TestFetchInstruction(t *testing.T) {
	m := fakeMemory{}
	pg := Paging{CR0: pg64CR0, CR3: 0x1000, CR4: paeCR4, EFER: longEFER}
	// Linear pages 0x40_0000 and 0x40_1000 map to physical 0x8000 and
	// 0x6000, in the reverse order.
	m.put64(0x1000, 0x2000|present)
	m.put64(0x2000, 0x3000|present)
	m.put64(0x3000+2*8, 0x4000|present)
	m.put64(0x4000, 0x8000|present)
	m.put64(0x4000+8, 0x6000|present)
	code := []byte{0x48, 0x8b, 0x43, 0x10, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90}
	m.write(0x8FFE, code[:2])
	m.write(0x6000, code[2:])
	got, err := FetchInstruction(m, pg, 0x40_0FFE)
	if err != nil || !bytes.Equal(got, code[:MaxInstructionLength]) {
		t.Fatalf("fetch = % x, %v", got, err)
	}
	a, err := Decode(got, 64)
	if err != nil || a.Length != 4 || a.Size != 8 {
		t.Fatalf("decode of fetched bytes: %+v %v", a, err)
	}
	// Second page absent: the first page's bytes come back.
	m.put64(0x4000+8, 0)
	got, err = FetchInstruction(m, pg, 0x40_0FFE)
	if err != nil || !bytes.Equal(got, code[:2]) {
		t.Fatalf("fetch with absent second page = % x, %v", got, err)
	}
	// First page absent: an error.
	if _, err := FetchInstruction(m, pg, 0x40_1FFE); err == nil {
		t.Fatal("fetch from an absent page succeeded")
	}
	// Within one page with paging off.
	m.write(0x20000, code)
	got, err = FetchInstruction(m, Paging{}, 0x20000)
	if err != nil || len(got) != MaxInstructionLength {
		t.Fatalf("fetch paging off = % x, %v", got, err)
	}
}
