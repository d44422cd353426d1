package mm

import "math/bits"

// Frames is the physical frame allocator: a bitmap with one bit per 4 KiB
// frame of physical memory up to the highest available address, 1 = in use.
// Allocation is next-fit from a cursor, word by word, so the common case
// costs a few instructions; Free clears the bit, so frames are reused.
//
// Every allocated frame has a reference count, so that a frame can be
// shared (level 3 guests duplicated copy-on-write): Alloc returns a frame
// with one reference, Ref adds one, Free drops one and frees the frame
// with the last. The count is kept as extra references in a uint16 per
// frame (2 bytes per 4 KiB, 1/2048 of memory), indexed by frame number:
//
//   - refs[f] == 0 for every free frame, and for every allocated frame
//     with a single reference (every frame that was never shared);
//   - an allocated frame has refs[f]+1 references, at most MaxRefs: Ref
//     refuses past that, and the caller fails cleanly.
//
// It runs in handler context (the runtime's page faults allocate frames),
// so it never allocates Go memory: the bitmap and the counts live in
// physical memory the allocator takes from the memory map for itself.
type Frames struct {
	bitmap []uint64
	refs   []uint16
	cursor int // word index where the next search starts
	free   int
	total  int
}

// MaxRefs is the most references a frame can have.
const MaxRefs = 1 << 16

// Init sets up the allocator over nframes frames with every frame in use
// and one reference each; the caller then frees the available ones. refs
// holds a count for each of the nframes frames.
func (fr *Frames) Init(bitmap []uint64, refs []uint16, nframes int) {
	fr.bitmap = bitmap
	for i := range bitmap {
		bitmap[i] = ^uint64(0)
	}
	fr.refs = refs[:nframes]
	clear(fr.refs)
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

// Free drops a reference to a frame and returns it to the allocator with
// its last. Freeing a free frame is a kernel bug and reported as such.
func (fr *Frames) Free(pa uint64) bool {
	f := pa / PageSize
	w, b := f/64, f%64
	if f >= uint64(fr.total) || fr.bitmap[w]&(1<<b) == 0 {
		return false
	}
	if fr.refs[f] != 0 {
		fr.refs[f]--
		return true
	}
	fr.bitmap[w] &^= 1 << b
	fr.free++
	return true
}

// Ref adds a reference to an allocated frame; false if the frame is free
// or has MaxRefs references already.
func (fr *Frames) Ref(pa uint64) bool {
	f := pa / PageSize
	if !fr.InUse(pa) || fr.refs[f] == MaxRefs-1 {
		return false
	}
	fr.refs[f]++
	return true
}

// Refs is the number of references to the frame at pa (0: free).
func (fr *Frames) Refs(pa uint64) int {
	if !fr.InUse(pa) {
		return 0
	}
	return int(fr.refs[pa/PageSize]) + 1
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

// LargePageSize is a 2 MiB page: 512 frames.
const LargePageSize = 512 * PageSize

// AllocLarge returns the physical address of 512 free, contiguous frames
// aligned to 2 MiB (eight whole bitmap words), or ok=false when no such
// run is free. Free releases them frame by frame (FreeLarge).
func (fr *Frames) AllocLarge() (pa uint64, ok bool) {
	const words = LargePageSize / PageSize / 64
	for w := 0; w+words <= len(fr.bitmap); w += words {
		if (w+words)*64 > fr.total {
			break
		}
		free := true
		for i := w; i < w+words; i++ {
			if fr.bitmap[i] != 0 {
				free = false
				break
			}
		}
		if free {
			for i := w; i < w+words; i++ {
				fr.bitmap[i] = ^uint64(0)
			}
			fr.free -= words * 64
			return uint64(w*64) * PageSize, true
		}
	}
	return 0, false
}

// FreeLarge frees what AllocLarge returned.
func (fr *Frames) FreeLarge(pa uint64) {
	for off := uint64(0); off < LargePageSize; off += PageSize {
		fr.Free(pa + off)
	}
}
