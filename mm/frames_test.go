package mm

import "testing"

func TestFramesAllocFreeReuse(t *testing.T) {
	var fr Frames
	fr.Init(make([]uint64, BitmapWords(1000)), make([]uint16, 1000), 1000)
	fr.FreeRange(0x100000, 0x200000) // 256 frames
	fr.ReserveRange(0x150000, 0x151000)
	if fr.FreeCount() != 255 {
		t.Fatalf("FreeCount = %d", fr.FreeCount())
	}
	seen := map[uint64]bool{}
	for i := 0; i < 255; i++ {
		pa, ok := fr.Alloc()
		if !ok {
			t.Fatalf("Alloc %d failed", i)
		}
		if pa < 0x100000 || pa >= 0x200000 || pa == 0x150000 || seen[pa] {
			t.Fatalf("Alloc returned %#x", pa)
		}
		seen[pa] = true
	}
	if _, ok := fr.Alloc(); ok {
		t.Fatal("Alloc succeeded with no free frame")
	}
	if !fr.Free(0x180000) || fr.Free(0x180000) {
		t.Fatal("Free/double Free")
	}
	if pa, ok := fr.Alloc(); !ok || pa != 0x180000 {
		t.Fatalf("freed frame not reused: %#x %v", pa, ok)
	}
	if fr.Free(1000 * PageSize) {
		t.Fatal("Free beyond the end succeeded")
	}
}

func TestFramesPartialPagesRounded(t *testing.T) {
	var fr Frames
	fr.Init(make([]uint64, 1), make([]uint16, 64), 64)
	fr.FreeRange(0x800, 0x3800) // only frames 1 and 2 are whole
	if fr.FreeCount() != 2 || fr.InUse(0x1000) || !fr.InUse(0) || !fr.InUse(0x3000) {
		t.Fatalf("FreeCount = %d", fr.FreeCount())
	}
}

func TestFramesRangesAcrossWords(t *testing.T) {
	var fr Frames
	fr.Init(make([]uint64, BitmapWords(300)), make([]uint16, 300), 300)
	fr.FreeRange(5*PageSize, 290*PageSize) // partial first and last words, whole ones between
	if fr.FreeCount() != 285 {
		t.Fatalf("FreeCount = %d, want 285", fr.FreeCount())
	}
	fr.ReserveRange(60*PageSize, 200*PageSize)
	fr.ReserveRange(100*PageSize, 120*PageSize) // already reserved: no change
	if fr.FreeCount() != 145 {
		t.Fatalf("FreeCount = %d, want 145", fr.FreeCount())
	}
	for f := uint64(0); f < 300; f++ {
		want := f < 5 || f >= 290 || f >= 60 && f < 200
		if fr.InUse(f*PageSize) != want {
			t.Fatalf("frame %d in use = %v", f, !want)
		}
	}
	fr.FreeRange(0, 1<<40) // clamps to the bitmap
	if fr.FreeCount() != 300 {
		t.Fatalf("FreeCount = %d after freeing everything", fr.FreeCount())
	}
}

// TestFramesRefs: a shared frame is freed with its last reference, the
// count saturates at MaxRefs, and free frames take no references.
func TestFramesRefs(t *testing.T) {
	var fr Frames
	fr.Init(make([]uint64, 1), make([]uint16, 64), 64)
	fr.FreeRange(0, 64*PageSize)
	pa, _ := fr.Alloc()
	if fr.Refs(pa) != 1 || !fr.Ref(pa) || !fr.Ref(pa) || fr.Refs(pa) != 3 {
		t.Fatalf("after two Refs: %d references", fr.Refs(pa))
	}
	for want := 2; want >= 1; want-- {
		if !fr.Free(pa) || fr.Refs(pa) != want || fr.FreeCount() != 63 {
			t.Fatalf("after a Free: %d references (want %d), %d free", fr.Refs(pa), want, fr.FreeCount())
		}
	}
	if !fr.Free(pa) || fr.Refs(pa) != 0 || fr.FreeCount() != 64 || fr.Free(pa) || fr.Ref(pa) {
		t.Fatalf("the last reference did not free the frame once: %d references, %d free", fr.Refs(pa), fr.FreeCount())
	}
	pa, _ = fr.Alloc()
	for i := 1; i < MaxRefs; i++ {
		if !fr.Ref(pa) {
			t.Fatalf("Ref refused at %d references", i)
		}
	}
	if fr.Ref(pa) || fr.Refs(pa) != MaxRefs {
		t.Fatalf("Ref past MaxRefs: %d references", fr.Refs(pa))
	}
	for i := 0; i < MaxRefs; i++ {
		fr.Free(pa)
	}
	if fr.Refs(pa) != 0 || fr.FreeCount() != 64 {
		t.Fatalf("after dropping every reference: %d references, %d free", fr.Refs(pa), fr.FreeCount())
	}
	if q, _ := fr.Alloc(); q != pa || fr.Refs(q) != 1 {
		t.Fatalf("a reused frame has %d references", fr.Refs(q))
	}
}

func TestAllocLarge(t *testing.T) {
	const n = 4096
	var fr Frames
	bitmap := make([]uint64, BitmapWords(n))
	fr.Init(bitmap, make([]uint16, n), n)
	fr.FreeRange(PageSize, n*PageSize) // frame 0 stays in use
	pa, ok := fr.AllocLarge()
	if !ok || pa != LargePageSize {
		t.Fatalf("AllocLarge = %#x, %v; want the first whole free 2 MiB run at %#x", pa, ok, LargePageSize)
	}
	if fr.FreeCount() != n-1-512 {
		t.Fatalf("free count %d after AllocLarge", fr.FreeCount())
	}
	for off := uint64(0); off < LargePageSize; off += PageSize {
		if !fr.InUse(pa + off) {
			t.Fatalf("frame %#x not in use", pa+off)
		}
	}
	fr.FreeLarge(pa)
	if fr.FreeCount() != n-1 {
		t.Fatalf("free count %d after FreeLarge", fr.FreeCount())
	}
	// One used frame in every 2 MiB run: no large page.
	for f := uint64(0); f < n; f += 512 {
		fr.ReserveRange(f*PageSize+100*PageSize, f*PageSize+101*PageSize)
	}
	if pa, ok := fr.AllocLarge(); ok {
		t.Fatalf("AllocLarge = %#x with no whole run free", pa)
	}
}
