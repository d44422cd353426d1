package sandbox

import (
	"fmt"
	"unsafe"

	"beelzebox/mm"
	"beelzebox/syscall"
)

// Guest memory at levels 1 and 2 is user pages in the kernel's address
// space, backed eagerly with frames the guest owns. Where a region may go
// is decided by the owner record (space.go); the host reaches the frames
// only through kernel mappings (the direct map, kernel views), never
// through the user address.

type region struct {
	name   string
	addr   uint64
	size   uint64
	perm   Perm
	frames []uint64
	cost   uint64 // what it is charged to the guest's memory limit
	// scanned: executable and unchanged since it last passed the level
	// 2 scan (exec.go).
	scanned bool
}

func (r *region) end() uint64 { return r.addr + r.size }

// bytesAt returns the guest bytes at guest address a (inside r) up to the
// end of its page, through the kernel's direct map of the frame.
func (r *region) bytesAt(a uint64) []byte {
	off := a - r.addr
	page := off / mm.PageSize
	in := off % mm.PageSize
	base := mm.PhysAddr(r.frames[page]) + uintptr(in)
	return unsafe.Slice((*byte)(unsafe.Pointer(base)), mm.PageSize-in)
}

// copyIn writes b at guest address a; copyOut reads it. The range must be
// inside r.
func (r *region) copyIn(a uint64, b []byte) {
	for len(b) > 0 {
		n := copy(r.bytesAt(a), b)
		a += uint64(n)
		b = b[n:]
	}
}

func (r *region) copyOut(a uint64, b []byte) {
	for len(b) > 0 {
		n := copy(b, r.bytesAt(a))
		a += uint64(n)
		b = b[n:]
	}
}

func (p Perm) flags() mm.PTE {
	mp := mm.PermUser | mm.PermRead
	if p&Write != 0 {
		mp |= mm.PermWrite
	}
	if p&Exec != 0 {
		mp |= mm.PermExec
	}
	f := mp.Flags()
	if p&(Read|Write|Exec) == 0 {
		f &^= mm.Present // no access at all: keep the frame, map nothing
	}
	return f
}

// kernelReserve is the memory guests may never take: the Go runtime backs
// its heap on demand and the kernel cannot survive running out, so guest
// allocations stop this far from the end (a host that asks for more gets
// an error, not a dead kernel).
const kernelReserve = 16 << 20

// Results of the in-kernel mapping step (ints: the step must not store
// pointers, see syscall.InKernel).
const (
	mapOK = iota
	mapNoMemory
)

// pageTableCost is the most the page tables mapping [addr, addr+size)
// can cost: one table per 2 MiB, 1 GiB and 512 GiB span touched.
func pageTableCost(addr, size uint64) uint64 {
	last := addr + size - 1
	var n uint64
	for _, span := range []uint64{mm.PageSize2M, mm.PageSize1G, 512 * mm.PageSize1G} {
		n += last/span - addr/span + 1
	}
	return n * mm.PageSize
}

// mapPages backs [r.addr, r.end()) with fresh frames and maps them with
// r.perm and protection key pkey, if that leaves the kernel its reserve
// after r.cost (the frames and their page tables). On failure nothing
// stays mapped.
func mapPages(r *region, pkey int) error {
	n := r.size / mm.PageSize
	r.frames = make([]uint64, n)
	status := mapOK
	syscall.InKernel(func() {
		start := uintptr(r.addr)
		if uint64(mm.Phys.FreeCount())*mm.PageSize < kernelReserve+r.cost {
			status = mapNoMemory
			return
		}
		flags := r.perm.flags().WithPKey(pkey)
		for i := uint64(0); i < n; i++ {
			pa, ok := mm.Phys.Alloc()
			if !ok {
				status = mapNoMemory
				break
			}
			clear((*[mm.PageSize]byte)(unsafe.Pointer(mm.PhysAddr(pa)))[:])
			r.frames[i] = pa
			if flags&mm.Present != 0 && mm.Kernel.Map(start+uintptr(i)*mm.PageSize, pa, flags) != nil {
				mm.Phys.Free(pa)
				r.frames[i] = 0
				status = mapNoMemory
				break
			}
		}
		if status != mapOK {
			releasePages(r)
		}
	})
	if status == mapNoMemory {
		r.frames = nil
		return fmt.Errorf("sandbox: out of memory for region %q (%d KiB)", r.name, r.size>>10)
	}
	return nil
}

// releasePages unmaps and frees r's pages and the page tables left
// empty. It runs in handler context.
func releasePages(r *region) {
	start := uintptr(r.addr)
	for i, pa := range r.frames {
		if pa == 0 {
			continue
		}
		va := start + uintptr(i)*mm.PageSize
		mm.Kernel.Unmap(va)
		mm.Flush(va)
		mm.Phys.Free(pa)
		r.frames[i] = 0
	}
	mm.Kernel.Prune(start, uintptr(r.end()))
}

// unmapPages is releasePages for goroutine code.
func unmapPages(r *region) {
	syscall.InKernel(func() { releasePages(r) })
	r.frames = nil
}

// protectPages changes the mapping of r to perm p with key pkey. A page
// with no access at all keeps its frame but loses its mapping.
func protectPages(r *region, p Perm, pkey int) {
	syscall.InKernel(func() {
		flags := p.flags().WithPKey(pkey)
		for i, pa := range r.frames {
			va := uintptr(r.addr) + uintptr(i)*mm.PageSize
			switch {
			case flags&mm.Present == 0:
				mm.Kernel.Unmap(va)
			case mm.Kernel.Protect(va, flags) != nil:
				mm.Kernel.Map(va, pa, flags) // it had no access before
			}
			mm.Flush(va)
		}
	})
	r.perm = p
}
