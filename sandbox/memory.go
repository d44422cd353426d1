package sandbox

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"beelzebox/mm"
	"beelzebox/syscall"
)

// Guest memory at levels 1 and 2 is user pages in the kernel's address
// space, backed eagerly with frames the guest owns. The address range is
// recorded in mm.Runtime as owned, so nothing else (the Go runtime's
// mmap, another guest) can be placed over it, and placing a guest over
// something that exists is refused.

// minGuestAddr keeps guests off the first 64 KiB, like Linux's
// vm.mmap_min_addr, so a null pointer in a guest never hits guest memory.
const minGuestAddr = 0x10000

type region struct {
	name   string
	addr   uint64
	size   uint64
	perm   Perm
	frames []uint64
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
	mapCollision
	mapNoMemory
)

// mapPages backs [r.addr, r.end()) with fresh frames and maps them with
// r.perm and protection key pkey. On failure nothing stays mapped.
func mapPages(r *region, pkey int) error {
	n := r.size / mm.PageSize
	r.frames = make([]uint64, n)
	status := mapOK
	syscall.InKernel(func() {
		start, end := uintptr(r.addr), uintptr(r.end())
		if !mm.Runtime.Own(start, end) {
			status = mapCollision
			return
		}
		if uint64(mm.Phys.FreeCount())*mm.PageSize < kernelReserve+r.size {
			status = mapNoMemory
			releasePages(r)
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
	switch status {
	case mapCollision:
		return fmt.Errorf("sandbox: region %q [%#x, %#x) collides with memory already mapped there (%s)", r.name, r.addr, r.end(), describeCollision(r.addr, r.end()))
	case mapNoMemory:
		r.frames = nil
		return fmt.Errorf("sandbox: out of memory for region %q (%d KiB)", r.name, r.size>>10)
	}
	return nil
}

// describeCollision names what occupies part of [start, end).
func describeCollision(start, end uint64) string {
	var found mm.Range
	syscall.InKernel(func() {
		for _, rg := range mm.Runtime.Ranges() {
			if uint64(rg.Start) < end && start < uint64(rg.End) {
				found = rg
				return
			}
		}
	})
	kinds := map[mm.Kind]string{mm.KindReserved: "reserved by the Go runtime", mm.KindAnon: "Go runtime memory", mm.KindOwned: "kernel image, device or another guest"}
	return fmt.Sprintf("[%#x, %#x) %s", found.Start, found.End, kinds[found.Kind])
}

// releasePages unmaps and frees r's pages and gives its range back. It
// runs in handler context.
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
	mm.Runtime.Disown(start, uintptr(r.end()))
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

// Guest placement: guests with regions at address 0 get a 1 GiB slot of
// mm's guest window, and their regions are laid out in it one after the
// other with an unmapped page between them.
const slotSize = 1 << 30

var slots struct {
	sync.Mutex
	used [(mm.GuestWindowHi - mm.GuestWindowLo) / slotSize]bool
}

// takeSlot reserves a free slot and returns its base.
func takeSlot() (uint64, error) {
	slots.Lock()
	defer slots.Unlock()
	for i := range slots.used {
		if !slots.used[i] {
			slots.used[i] = true
			return mm.GuestWindowLo + uint64(i)*slotSize, nil
		}
	}
	return 0, errors.New("sandbox: guest address window is full")
}

// giveSlot returns a slot from takeSlot; base 0 (no slot) is ignored.
func giveSlot(base uint64) {
	if base == 0 {
		return
	}
	slots.Lock()
	slots.used[(base-mm.GuestWindowLo)/slotSize] = false
	slots.Unlock()
}
