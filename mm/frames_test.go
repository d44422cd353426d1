package mm

import "testing"

func TestFramesAllocFreeReuse(t *testing.T) {
	var fr Frames
	fr.Init(make([]uint64, BitmapWords(1000)), 1000)
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
	fr.Init(make([]uint64, 1), 64)
	fr.FreeRange(0x800, 0x3800) // only frames 1 and 2 are whole
	if fr.FreeCount() != 2 || fr.InUse(0x1000) || !fr.InUse(0) || !fr.InUse(0x3000) {
		t.Fatalf("FreeCount = %d", fr.FreeCount())
	}
}

func TestFramesRangesAcrossWords(t *testing.T) {
	var fr Frames
	fr.Init(make([]uint64, BitmapWords(300)), 300)
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
