package mm

import (
	"testing"
	"unsafe"
)

// testAnon builds an Anon over Go memory: a fake physical memory of
// nframes frames starting at physical address 0.
func testAnon(t *testing.T, nframes int) (*Anon, []byte) {
	t.Helper()
	as, _ := newSpace(t)
	mem := make([]byte, nframes*PageSize)
	fr := &Frames{}
	fr.Init(make([]uint64, BitmapWords(nframes)), make([]uint16, nframes), nframes)
	fr.FreeRange(0, uint64(nframes*PageSize))
	a := &Anon{
		AS:     as,
		Frames: fr,
		Phys:   func(pa uint64) uintptr { return uintptr(unsafe.Pointer(&mem[pa])) },
		Flush:  func(uintptr, uintptr) {},
	}
	a.InitAnon(1<<32, 64<<30, 512<<30, 1<<47)
	return a, mem
}

func TestMmapReserveCommitFault(t *testing.T) {
	a, mem := testAnon(t, 64)
	base, e := a.Mmap(0, 1<<30, 0, false)
	if e != 0 || base != 1<<32 {
		t.Fatalf("reserve = %#x, %d", base, e)
	}
	if a.Backed != 0 || a.Frames.FreeCount() != 64 {
		t.Fatal("a reservation consumed frames")
	}
	if got := a.Fault(base, false, false); got != FaultBad {
		t.Fatalf("fault in PROT_NONE = %v", got)
	}
	va, e := a.Mmap(base+PageSize, 4*PageSize, PermRead|PermWrite, true)
	if e != 0 || va != base+PageSize {
		t.Fatalf("commit = %#x, %d", va, e)
	}
	// Dirty a frame so the fault must zero it.
	pa, _ := a.Frames.Alloc()
	mem[pa+7] = 0xaa
	a.Frames.Free(pa)
	if got := a.Fault(va+PageSize+8, true, false); got != FaultMapped {
		t.Fatalf("fault = %v", got)
	}
	got, ok := a.AS.Translate(va + PageSize)
	if !ok || mem[got+7] != 0 {
		t.Fatalf("page not mapped or not zeroed: %#x %v", got, ok)
	}
	if a.Fault(va, false, true) != FaultBad {
		t.Error("exec fault on a non-exec range was accepted")
	}
	if a.Fault(va+PageSize, true, false) != FaultSpurious {
		t.Error("second fault on a backed page not reported spurious")
	}
	// DONTNEED frees the frame; the next touch gets a fresh zero page.
	mem[got+7] = 1
	a.DontNeed(va, 4*PageSize)
	if a.Backed != 0 || a.Frames.FreeCount() != 64 {
		t.Fatalf("DontNeed left %d pages backed", a.Backed)
	}
	a.Fault(va+PageSize, false, false)
	got2, _ := a.AS.Translate(va + PageSize)
	if mem[got2+7] != 0 {
		t.Fatal("page after DontNeed not zero")
	}
	// The table: reserved | anon | reserved.
	r := a.Ranges()
	if len(r) != 3 || r[1].Kind != KindAnon || r[0].Kind != KindReserved || r[2].End != base+1<<30 {
		t.Fatalf("ranges = %+v", r)
	}
	// Unmapping the middle merges nothing and frees backing.
	if a.Munmap(va, 4*PageSize) != 0 || a.Backed != 0 {
		t.Fatal("Munmap")
	}
	if len(a.Ranges()) != 2 {
		t.Fatalf("ranges after munmap = %+v", a.Ranges())
	}
}

func TestMmapHintsAndWindows(t *testing.T) {
	a, _ := testAnon(t, 16)
	hint := uintptr(0xc000000000)
	if va, e := a.Mmap(hint, 1<<20, PermRead|PermWrite, false); e != 0 || va != hint {
		t.Fatalf("hint not honoured: %#x %d", va, e)
	}
	// Hints outside the runtime's windows (the guest window, the image)
	// are not honoured.
	for _, h := range []uintptr{100 << 30, 0x400000} {
		if va, _ := a.Mmap(h, PageSize, PermRead, false); va < 1<<32 || va >= 64<<30 {
			t.Fatalf("hint %#x: placed at %#x, outside the unhinted window", h, va)
		}
	}
	// Nothing is mapped, changed or freed outside the windows.
	if _, e := a.Mmap(0x400000, PageSize, PermRead, true); e != EINVAL {
		t.Fatalf("MAP_FIXED outside the windows = %d", e)
	}
	if a.Munmap(100<<30, PageSize) != EINVAL || a.Mprotect(0x400000, PageSize, PermRead) != EINVAL {
		t.Fatal("munmap/mprotect outside the windows accepted")
	}
	if a.Fault(0x400000, false, false) != FaultBad {
		t.Fatal("a page outside the windows demand-paged")
	}
}

// TestUnhintedSkipsOccupied: unhinted mappings never land on anything the
// table holds (a hinted or fixed mapping ahead of the cursor), keep a
// guard page from it, and reuse unmapped space once the window is used up.
func TestUnhintedSkipsOccupied(t *testing.T) {
	a, _ := testAnon(t, 16)
	ahead := uintptr(1<<32 + 4*PageSize)
	if _, e := a.Mmap(ahead, 2*PageSize, PermRead, true); e != 0 {
		t.Fatalf("fixed: %d", e)
	}
	first, _ := a.Mmap(0, 2*PageSize, PermRead, false)
	second, _ := a.Mmap(0, 2*PageSize, PermRead, false)
	if first != 1<<32 || second != ahead+3*PageSize {
		t.Fatalf("unhinted at %#x and %#x around [%#x, +2 pages)", first, second, ahead)
	}
	b, _ := testAnon(t, 16)
	b.InitAnon(1<<32, 1<<32+8*PageSize, 512<<30, 1<<47)
	x, _ := b.Mmap(0, 3*PageSize, PermRead, false)
	if _, e := b.Mmap(0, 3*PageSize, PermRead, false); e != 0 {
		t.Fatalf("second: %d", e)
	}
	if _, e := b.Mmap(0, 3*PageSize, PermRead, false); e != ENOMEM {
		t.Fatalf("full window = %d, want ENOMEM", e)
	}
	b.Munmap(x, 3*PageSize)
	if y, e := b.Mmap(0, 3*PageSize, PermRead, false); e != 0 || y != x {
		t.Fatalf("after munmap: %#x %d, want %#x again", y, e, x)
	}
}

func TestMprotectSplitsAndUpdates(t *testing.T) {
	a, _ := testAnon(t, 16)
	va, _ := a.Mmap(0, 4*PageSize, PermRead|PermWrite, false)
	a.Fault(va+2*PageSize, true, false)
	if a.Mprotect(va+2*PageSize, PageSize, PermRead) != 0 {
		t.Fatal("Mprotect")
	}
	e, _ := a.AS.Lookup(va + 2*PageSize)
	if e == nil || *e&Writable != 0 {
		t.Fatalf("PTE not write-protected: %v", e)
	}
	if a.Fault(va+2*PageSize, true, false) != FaultBad {
		t.Fatal("write to read-only range accepted")
	}
	if n := len(a.Ranges()); n != 3 {
		t.Fatalf("ranges = %+v", a.Ranges())
	}
	a.Mprotect(va+2*PageSize, PageSize, PermRead|PermWrite)
	if n := len(a.Ranges()); n != 1 {
		t.Fatalf("ranges did not merge back: %+v", a.Ranges())
	}
}

func TestRangeTableFull(t *testing.T) {
	a, _ := testAnon(t, 1)
	for i := 0; i < maxRanges; i++ {
		// Alternating permissions so nothing merges.
		p := PermRead
		if i%2 == 1 {
			p |= PermWrite
		}
		if _, e := a.Mmap(uintptr(1<<32+i*PageSize), PageSize, p, true); e != 0 {
			t.Fatalf("mmap %d: %d", i, e)
		}
	}
	if _, e := a.Mmap(uintptr(1<<33), PageSize, PermRead, true); e != ENOMEM {
		t.Fatalf("overflow = %d, want ENOMEM", e)
	}
	if len(a.Ranges()) != maxRanges {
		t.Fatal("table changed on overflow")
	}
}
