package mm

import "math/bits"

// Frames is the physical frame allocator: a bitmap with one bit per 4 KiB
// frame of physical memory up to the highest available address, 1 = in use.
// Allocation is next-fit from a cursor, word by word, so the common case
// costs a few instructions; Free clears the bit, so frames are reused.
//
// It runs in handler context (the runtime's page faults allocate frames),
// so it never allocates Go memory: the bitmap lives in physical memory the
// allocator takes from the memory map for itself.
type Frames struct {
	bitmap []uint64
	cursor int // word index where the next search starts
	free   int
	total  int
}

// Init sets up the allocator over nframes frames with every frame in use;
// the caller then frees the available ones.
func (fr *Frames) Init(bitmap []uint64, nframes int) {
	fr.bitmap = bitmap
	for i := range bitmap {
		bitmap[i] = ^uint64(0)
	}
	fr.total = nframes
	fr.free = 0
}

// FreeRange marks [start, end) available; both are rounded inward to whole
// frames.
func (fr *Frames) FreeRange(start, end uint64) {
	fr.setRange((start+PageSize-1)/PageSize, end/PageSize, false)
}

// ReserveRange marks [start, end) in use, rounded outward to whole frames.
func (fr *Frames) ReserveRange(start, end uint64) {
	fr.setRange(start/PageSize, (end+PageSize-1)/PageSize, true)
}

// setRange marks frames [first, last) in use or free a word at a time (the
// boot frees the whole memory map this way) and keeps the free count.
func (fr *Frames) setRange(first, last uint64, used bool) {
	last = min(last, uint64(fr.total))
	for f := first; f < last; {
		w, b := f/64, f%64
		n := min(64-b, last-f)
		mask := ^uint64(0)
		if n < 64 {
			mask = (1<<n - 1) << b
		}
		old := fr.bitmap[w]
		if used {
			fr.bitmap[w] = old | mask
			fr.free -= bits.OnesCount64(mask &^ old)
		} else {
			fr.bitmap[w] = old &^ mask
			fr.free += bits.OnesCount64(mask & old)
		}
		f += n
	}
}

// Alloc returns the physical address of a free frame, or ok=false when
// memory is exhausted. The frame's contents are undefined.
func (fr *Frames) Alloc() (pa uint64, ok bool) {
	n := len(fr.bitmap)
	for i := 0; i < n; i++ {
		w := fr.cursor + i
		if w >= n {
			w -= n
		}
		if word := fr.bitmap[w]; word != ^uint64(0) {
			b := bits.TrailingZeros64(^word)
			f := w*64 + b
			if f >= fr.total {
				continue
			}
			fr.bitmap[w] |= 1 << b
			fr.cursor = w
			fr.free--
			return uint64(f) * PageSize, true
		}
	}
	return 0, false
}

// Free returns a frame to the allocator. Freeing a free frame is a kernel
// bug and reported as such.
func (fr *Frames) Free(pa uint64) bool {
	f := pa / PageSize
	w, b := f/64, f%64
	if f >= uint64(fr.total) || fr.bitmap[w]&(1<<b) == 0 {
		return false
	}
	fr.bitmap[w] &^= 1 << b
	fr.free++
	return true
}

// InUse reports whether the frame at pa is allocated.
func (fr *Frames) InUse(pa uint64) bool {
	f := pa / PageSize
	return f < uint64(fr.total) && fr.bitmap[f/64]&(1<<(f%64)) != 0
}

// FreeCount is the number of free frames.
func (fr *Frames) FreeCount() int { return fr.free }

// Total is the number of frames the bitmap covers.
func (fr *Frames) Total() int { return fr.total }

// BitmapWords is the bitmap size, in 64-bit words, for nframes frames.
func BitmapWords(nframes int) int { return (nframes + 63) / 64 }
