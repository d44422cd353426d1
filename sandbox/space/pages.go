package space

import (
	"fmt"
	"unsafe"

	"beelzebox/mm"
	"beelzebox/syscall"
)

// Pages are user pages of the kernel's address space, backed eagerly with
// frames of their own: a region of a level 1 or 2 guest, or a shared
// region. Where they may go is decided by the owner record (Claim); the
// host reaches the frames only through kernel mappings (the direct map,
// kernel views), never through the user address.
type Pages struct {
	Name string
	Addr uint64
	Size uint64
	// Cost is what the pages are charged to their guest's memory limit:
	// the frames and the most their page tables can take (PageTableCost).
	Cost   uint64
	frames []uint64
}

// NewPages describes size bytes at addr (both page-aligned), not backed
// yet.
func NewPages(name string, addr, size uint64) Pages {
	return Pages{Name: name, Addr: addr, Size: size, Cost: size + PageTableCost(addr, size)}
}

// End is the address after the last page.
func (p *Pages) End() uint64 { return p.Addr + p.Size }

// Frames are the physical frames behind the pages, one per page.
func (p *Pages) Frames() []uint64 { return p.frames }

// bytesAt returns the bytes at user address a (inside p) up to the end of
// its page, through the kernel's direct map of the frame.
func (p *Pages) bytesAt(a uint64) []byte {
	off := a - p.Addr
	page := off / mm.PageSize
	in := off % mm.PageSize
	base := mm.PhysAddr(p.frames[page]) + uintptr(in)
	return unsafe.Slice((*byte)(unsafe.Pointer(base)), mm.PageSize-in)
}

// CopyIn writes b at user address a; CopyOut reads it. The range must be
// inside p.
func (p *Pages) CopyIn(a uint64, b []byte) {
	for len(b) > 0 {
		n := copy(p.bytesAt(a), b)
		a += uint64(n)
		b = b[n:]
	}
}

func (p *Pages) CopyOut(a uint64, b []byte) {
	for len(b) > 0 {
		n := copy(b, p.bytesAt(a))
		a += uint64(n)
		b = b[n:]
	}
}

// flags is the leaf entry of a user page with permission perm (mm.PermRead,
// PermWrite, PermExec; none of them: no access) and protection key pkey.
func flags(perm mm.Perm, pkey int) mm.PTE {
	f := (perm | mm.PermUser | mm.PermRead).Flags().WithPKey(pkey)
	if perm&(mm.PermRead|mm.PermWrite|mm.PermExec) == 0 {
		f &^= mm.Present // no access at all: keep the frame, map nothing
	}
	return f
}

// KernelReserve is the memory guests may never take: the Go runtime backs
// its heap on demand and the kernel cannot survive running out, so guest
// allocations stop this far from the end (a host that asks for more gets
// an error, not a dead kernel).
const KernelReserve = 16 << 20

// Results of the in-kernel mapping step (ints: the step must not store
// pointers, see syscall.InKernel).
const (
	mapOK = iota
	mapNoMemory
)

// PageTableCost is the most the page tables mapping [addr, addr+size)
// can cost: one table per 2 MiB, 1 GiB and 512 GiB span touched.
func PageTableCost(addr, size uint64) uint64 {
	last := addr + size - 1
	var n uint64
	for _, span := range []uint64{mm.PageSize2M, mm.PageSize1G, 512 * mm.PageSize1G} {
		n += last/span - addr/span + 1
	}
	return n * mm.PageSize
}

// Map backs the pages with fresh zeroed frames and maps them with perm and
// protection key pkey, if that leaves the kernel its reserve after p.Cost.
// On failure nothing stays mapped.
func (p *Pages) Map(perm mm.Perm, pkey int) error {
	n := p.Size / mm.PageSize
	p.frames = make([]uint64, n)
	status := mapOK
	syscall.InKernel(func() {
		start := uintptr(p.Addr)
		if uint64(mm.Phys.FreeCount())*mm.PageSize < KernelReserve+p.Cost {
			status = mapNoMemory
			return
		}
		f := flags(perm, pkey)
		for i := uint64(0); i < n; i++ {
			pa, ok := mm.Phys.Alloc()
			if !ok {
				status = mapNoMemory
				break
			}
			clear((*[mm.PageSize]byte)(unsafe.Pointer(mm.PhysAddr(pa)))[:])
			p.frames[i] = pa
			if f&mm.Present != 0 && mm.Kernel.Map(start+uintptr(i)*mm.PageSize, pa, f) != nil {
				mm.Phys.Free(pa)
				p.frames[i] = 0
				status = mapNoMemory
				break
			}
		}
		if status != mapOK {
			p.release()
		}
	})
	if status == mapNoMemory {
		p.frames = nil
		return fmt.Errorf("sandbox: out of memory for region %q (%d KiB)", p.Name, p.Size>>10)
	}
	return nil
}

// release unmaps and frees the pages and the page tables left empty. It
// runs in handler context.
func (p *Pages) release() {
	start := uintptr(p.Addr)
	for i, pa := range p.frames {
		if pa == 0 {
			continue
		}
		va := start + uintptr(i)*mm.PageSize
		mm.Kernel.Unmap(va)
	}
	// Every CPU drops the pages before their frames can be reused.
	mm.FlushRange(start, uintptr(p.End()))
	for i, pa := range p.frames {
		if pa != 0 {
			mm.Phys.Free(pa)
			p.frames[i] = 0
		}
	}
	mm.Kernel.Prune(start, uintptr(p.End()))
}

// Unmap unmaps and frees the pages.
func (p *Pages) Unmap() {
	syscall.InKernel(p.release)
	p.frames = nil
}

// Protect maps the pages with perm and key pkey instead. A page with no
// access at all keeps its frame but loses its mapping.
func (p *Pages) Protect(perm mm.Perm, pkey int) {
	syscall.InKernel(func() {
		f := flags(perm, pkey)
		for i, pa := range p.frames {
			va := uintptr(p.Addr) + uintptr(i)*mm.PageSize
			switch {
			case f&mm.Present == 0:
				mm.Kernel.Unmap(va)
			case mm.Kernel.Protect(va, f) != nil:
				mm.Kernel.Map(va, pa, f) // it had no access before
			}
		}
		mm.FlushRange(uintptr(p.Addr), uintptr(p.End()))
	})
}
