package process

import (
	"fmt"
	"sort"
	"unsafe"

	"beelzebox/mm"
	"beelzebox/sandbox"
	"beelzebox/syscall"
)

// The memory of a level 3 guest: regions in its own address space. A
// region's pages get frames when first touched, by the guest (a page
// fault the backend resolves without waking the host) or by the host (a
// write). Its full size and page tables are charged to the guest's limit,
// and its unbacked pages are committed against the machine's free frames,
// when it is mapped: a fault never finds the limit exceeded or the
// machine out of frames. A page the region does not back yet reads as
// zero.

// committed counts the pages regions may still back: frames the machine
// keeps for them. It changes only in handler context.
var committed uint64

// commit reserves n pages of frames; false if the machine cannot keep
// them beside the kernel's reserve and what is committed already.
func commit(n uint64) bool {
	ok := false
	syscall.InKernel(func() {
		if (uint64(mm.Phys.FreeCount())-min(committed, uint64(mm.Phys.FreeCount())))*mm.PageSize >= kernelReserve+n*mm.PageSize {
			committed += n
			ok = true
		}
	})
	return ok
}

// region is guest memory at [addr, addr+size).
type region struct {
	name   string
	addr   uint64
	size   uint64
	perm   sandbox.Perm
	frames []uint64 // 0: not backed yet
	cost   uint64
	// shared: the frames belong to a shared region and are not freed.
	shared bool
}

func (r *region) end() uint64 { return r.addr + r.size }

// kernelReserve is what guests never take of the kernel's free frames
// (the runtime must keep allocating whatever guests do).
const kernelReserve = 16 << 20

// placeLo is where regions at address 0 go: the first free span from
// there up, in the guest's own space.
const placeLo = 64 << 30

func pteFlags(p sandbox.Perm) mm.PTE {
	mp := mm.PermUser | mm.PermRead
	if p&sandbox.Write != 0 {
		mp |= mm.PermWrite
	}
	if p&sandbox.Exec != 0 {
		mp |= mm.PermExec
	}
	return mp.Flags()
}

// find returns the region holding addr, or nil.
func (g *guest) find(addr uint64) *region {
	i := sort.Search(len(g.regions), func(i int) bool { return g.regions[i].end() > addr })
	if i < len(g.regions) && g.regions[i].addr <= addr {
		return g.regions[i]
	}
	return nil
}

// free reports whether [lo, hi) overlaps no region and no entry page.
func (g *guest) free(lo, hi uint64) bool {
	for _, r := range g.regions {
		if r.addr < hi && lo < r.end() {
			return false
		}
	}
	for a := lo &^ (mm.PageSize - 1); a < hi; a += mm.PageSize {
		if mm.EntryPage(uintptr(a)) {
			return false
		}
	}
	return true
}

// place finds size free bytes from placeLo up, a guard page apart from
// every region.
func (g *guest) place(size uint64) (uint64, bool) {
	a := uint64(placeLo)
	for _, r := range g.regions {
		if r.end() <= a {
			continue
		}
		if r.addr >= a+size+mm.PageSize {
			break
		}
		a = r.end() + mm.PageSize
	}
	return a, a+size <= userTop
}

// userTop is the end of what a guest may map: the lower half less its last
// page (cpu.UserTop).
const userTop = 1<<47 - 4096

// Map adds a region.
func (g *guest) Map(r sandbox.Region) (uint64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return 0, sandbox.ErrClosed
	}
	return g.mapLocked(r, nil)
}

// mapLocked maps r; frames, when not nil, back it (a shared region).
func (g *guest) mapLocked(r sandbox.Region, frames []uint64) (uint64, error) {
	size := (r.Size + mm.PageSize - 1) &^ (mm.PageSize - 1)
	if size == 0 || uint64(len(r.Data)) > size {
		return 0, fmt.Errorf("sandbox: region %q: size %d cannot hold %d bytes of data", r.Name, r.Size, len(r.Data))
	}
	if r.Perm&sandbox.Write != 0 && r.Perm&sandbox.Exec != 0 {
		return 0, fmt.Errorf("sandbox: region %q is writable and executable: guest memory is W^X", r.Name)
	}
	if len(g.regions) >= maxRegions {
		return 0, fmt.Errorf("sandbox: region %q: the guest already has %d regions, the most it may have", r.Name, maxRegions)
	}
	addr := r.Addr
	if addr == 0 {
		var ok bool
		if addr, ok = g.place(size); !ok {
			return 0, fmt.Errorf("sandbox: region %q: no free span of %d KiB in the guest's address space", r.Name, size>>10)
		}
	}
	if addr&(mm.PageSize-1) != 0 || addr+size > userTop || addr+size < addr {
		return 0, fmt.Errorf("sandbox: region %q at %#x: address must be page-aligned and the region end by %#x", r.Name, addr, uint64(userTop))
	}
	if !g.free(addr, addr+size) {
		return 0, fmt.Errorf("sandbox: region %q at %#x-%#x overlaps a region of the guest or the kernel's entry pages", r.Name, addr, addr+size)
	}
	reg := &region{name: r.Name, addr: addr, size: size, perm: r.Perm, frames: frames, shared: frames != nil}
	if frames == nil {
		reg.frames = make([]uint64, size/mm.PageSize)
		reg.cost = size
	}
	reg.cost += pageTableCost(addr, size)
	if g.used+reg.cost > g.limit {
		return 0, fmt.Errorf("sandbox: region %q: the guest's memory limit of %d KiB would be exceeded", r.Name, g.limit>>10)
	}
	if reg.shared {
		if err := g.backAll(reg); err != nil {
			return 0, err
		}
	} else if !commit(size / mm.PageSize) {
		return 0, fmt.Errorf("sandbox: out of memory for region %q (%d KiB; %d pages committed, %d free)", r.Name, size>>10, committed, mm.Phys.FreeCount())
	}
	g.used += reg.cost
	at := sort.Search(len(g.regions), func(i int) bool { return g.regions[i].addr > addr })
	g.regions = append(g.regions, nil)
	copy(g.regions[at+1:], g.regions[at:])
	g.regions[at] = reg
	if !reg.shared { // shared regions are the host's, as at levels 1 and 2
		g.order = append(g.order, addr)
	}
	if len(r.Data) > 0 {
		if err := g.copy(addr, r.Data, true); err != nil {
			g.unmapLocked(reg)
			return 0, err
		}
	}
	return addr, nil
}

// pageTableCost is the most page-table memory a range can need: one
// table per 2 MiB, 1 GiB and 512 GiB it touches.
func pageTableCost(addr, size uint64) uint64 {
	last := addr + size - 1
	var n uint64
	for _, span := range []uint64{mm.PageSize2M, mm.PageSize1G, 512 * mm.PageSize1G} {
		n += last/span - addr/span + 1
	}
	return n * mm.PageSize
}

// backAll maps every page of a shared region to its frame.
func (g *guest) backAll(r *region) error {
	var failed mm.Error // not an error: handler code stores no interfaces
	syscall.InKernel(func() {
		for i, pa := range r.frames {
			if e := g.space.Map(uintptr(r.addr)+uintptr(i)*mm.PageSize, pa, pteFlags(r.perm)); e != nil {
				failed = e.(mm.Error)
				break
			}
		}
		if failed != 0 {
			for i := range r.frames {
				g.space.Unmap(uintptr(r.addr) + uintptr(i)*mm.PageSize)
			}
			g.space.Prune(uintptr(r.addr), uintptr(r.end()))
		}
	})
	if failed != 0 {
		return fmt.Errorf("sandbox: region %q: %v", r.name, failed)
	}
	return nil
}

// back gives page i of r a zeroed frame, mapped with r's permission.
func (g *guest) back(r *region, i int) bool {
	ok := false
	syscall.InKernel(func() {
		if r.frames[i] != 0 {
			ok = true
			return
		}
		pa, got := mm.Phys.Alloc() // committed when the region was mapped
		if !got {
			return
		}
		clear((*[mm.PageSize]byte)(unsafe.Pointer(mm.PhysAddr(pa)))[:])
		if r.perm != 0 && g.space.Map(uintptr(r.addr)+uintptr(i)*mm.PageSize, pa, pteFlags(r.perm)) != nil {
			mm.Phys.Free(pa)
			return
		}
		committed--
		r.frames[i] = pa
		ok = true
	})
	return ok
}

// demandFault resolves a guest page fault on a page its region allows but
// does not back yet. It reports whether the guest can retry.
func (g *guest) demandFault(cr2, code uint64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || code&1 != 0 { // a present page: a protection fault
		return false
	}
	r := g.find(cr2)
	if r == nil || r.shared {
		return false
	}
	need := sandbox.Read
	if code&2 != 0 {
		need = sandbox.Write
	}
	if code&16 != 0 {
		need = sandbox.Exec
	}
	if r.perm&need == 0 {
		return false
	}
	return g.back(r, int((cr2-r.addr)/mm.PageSize))
}

// copy moves bytes between b and guest memory at addr (in: into the
// guest), backing pages the host writes. The whole range must be in
// regions.
func (g *guest) copy(addr uint64, b []byte, in bool) error {
	if addr+uint64(len(b)) < addr {
		return fmt.Errorf("sandbox: range at %#x wraps around", addr)
	}
	for off := uint64(0); off < uint64(len(b)); {
		if g.find(addr+off) == nil {
			return fmt.Errorf("sandbox: guest address %#x is not in guest memory", addr+off)
		}
		r := g.find(addr + off)
		off += r.end() - (addr + off)
	}
	for off := uint64(0); off < uint64(len(b)); {
		a := addr + off
		r := g.find(a)
		i := int((a - r.addr) / mm.PageSize)
		in0 := a % mm.PageSize
		n := min(uint64(len(b))-off, mm.PageSize-in0)
		if r.frames[i] == 0 {
			if !in {
				clear(b[off : off+n])
				off += n
				continue
			}
			if !g.back(r, i) {
				return fmt.Errorf("sandbox: out of memory for guest page %#x", a&^(mm.PageSize-1))
			}
		}
		page := unsafe.Slice((*byte)(unsafe.Pointer(mm.PhysAddr(r.frames[i])+uintptr(in0))), n)
		if in {
			copy(page, b[off:off+n])
		} else {
			copy(b[off:off+n], page)
		}
		off += n
	}
	return nil
}

// ReadMemory copies guest memory into b.
func (g *guest) ReadMemory(addr uint64, b []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return sandbox.ErrClosed
	}
	return g.copy(addr, b, false)
}

// WriteMemory copies b into guest memory.
func (g *guest) WriteMemory(addr uint64, b []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return sandbox.ErrClosed
	}
	return g.copy(addr, b, true)
}

// Unmap removes the region that starts at addr.
func (g *guest) Unmap(addr uint64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return sandbox.ErrClosed
	}
	r := g.find(addr)
	if r == nil || r.addr != addr {
		return fmt.Errorf("sandbox: no region starts at %#x", addr)
	}
	g.unmapLocked(r)
	return nil
}

func (g *guest) unmapLocked(r *region) {
	g.release(r)
	g.used -= r.cost
	for i, o := range g.regions {
		if o == r {
			g.regions = append(g.regions[:i], g.regions[i+1:]...)
			break
		}
	}
	for j, a := range g.order {
		if a == r.addr {
			g.order = append(g.order[:j], g.order[j+1:]...)
			break
		}
	}
}

// release unmaps r's pages and frees its own frames and the tables left
// empty.
func (g *guest) release(r *region) {
	syscall.InKernel(func() {
		for i, pa := range r.frames {
			if pa == 0 {
				if !r.shared {
					committed-- // never backed
				}
				continue
			}
			va := uintptr(r.addr) + uintptr(i)*mm.PageSize
			g.space.Unmap(va)
			g.space.Invalidate(va)
			if !r.shared {
				mm.Phys.Free(pa)
			}
			r.frames[i] = 0
		}
		g.space.Prune(uintptr(r.addr), uintptr(r.end()))
	})
}

// Protect changes the permission of the region starting at addr.
func (g *guest) Protect(addr uint64, p sandbox.Perm) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return sandbox.ErrClosed
	}
	r := g.find(addr)
	if r == nil || r.addr != addr {
		return fmt.Errorf("sandbox: no region starts at %#x", addr)
	}
	if p&sandbox.Write != 0 && p&sandbox.Exec != 0 {
		return fmt.Errorf("sandbox: region %q cannot become writable and executable (W^X)", r.name)
	}
	syscall.InKernel(func() {
		for i, pa := range r.frames {
			if pa == 0 {
				continue
			}
			va := uintptr(r.addr) + uintptr(i)*mm.PageSize
			switch {
			case p == 0:
				g.space.Unmap(va)
			case g.space.Protect(va, pteFlags(p)) != nil:
				g.space.Map(va, pa, pteFlags(p)) // it had no access before
			}
			g.space.Invalidate(va)
		}
	})
	r.perm = p
	return nil
}

// PermAt is the permission of the guest page at addr.
func (g *guest) PermAt(addr uint64) (sandbox.Perm, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r := g.find(addr); r != nil {
		return r.perm, true
	}
	return 0, false
}

// RegionAddrs lists the start of each region in mapping order.
func (g *guest) RegionAddrs() []uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]uint64(nil), g.order...)
}
