package process

import (
	"fmt"
	"sort"
	"unsafe"

	"beelzebox/mm"
	"beelzebox/sandbox"
	"beelzebox/sandbox/space"
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
//
// A duplicate (duplicate.go) shares the backed pages of the guest's
// private regions copy-on-write: each such frame has a reference for
// every page that maps it (mm.Frames counts them), and is mapped
// read-only in every space while it has more than one. A write to it,
// by a guest (a page fault resolved here) or by the host, gives the page
// a copy of its own; the last reference keeps the frame. So a private
// page's entry is writable only if its region is and its frame has one
// reference (the converse need not hold: a page left alone by its last
// sharer stays read-only until its next write fault).

// committed counts the frames guests' private pages may still need: one
// for each page not backed yet, and one for each reference to a shared
// frame beyond the first (a frame with n references is copied at most
// n-1 times). The machine keeps that many frames for them. It changes
// only in handler context.
var committed uint64

// Committed is the number of frames committed for guests' private pages
// (for leak checks).
func Committed() uint64 {
	var n uint64
	syscall.InKernel(func() { n = committed })
	return n
}

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

// regionAt returns the region that starts at addr.
func (g *guest) regionAt(addr uint64) (*region, error) {
	if r := g.find(addr); r != nil && r.addr == addr {
		return r, nil
	}
	return nil, fmt.Errorf("sandbox: no region starts at %#x", addr)
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

// AddressRange is the lower half above 4 GiB: the kernel's entry pages
// lie below.
func (g *guest) AddressRange() (lo, hi uint64) { return 4 << 30, userTop }

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
	size, err := sandbox.CheckRegion(r, len(g.regions))
	if err != nil {
		return 0, err
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
	reg.cost += space.PageTableCost(addr, size)
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

// unshare gives page i of r, which is backed, a frame of its own (a copy
// while other pages share its frame copy-on-write) and maps it with r's
// permission, writable if r is. It reports false if it could not, or if
// there was nothing to do: a frame of its own, mapped writable already
// (then a write fault there is not copy-on-write's).
func (g *guest) unshare(r *region, i int) bool {
	ok := false
	syscall.InKernel(func() {
		pa := r.frames[i]
		va := uintptr(r.addr) + uintptr(i)*mm.PageSize
		if mm.Phys.Refs(pa) <= 1 {
			if e, _ := g.space.Lookup(va); e != nil && *e&mm.Writable != 0 {
				return // writable already: nothing here explains the fault
			}
		} else {
			c, got := mm.Phys.Alloc() // committed for the sharing
			if !got {
				return
			}
			copy((*[mm.PageSize]byte)(unsafe.Pointer(mm.PhysAddr(c)))[:], (*[mm.PageSize]byte)(unsafe.Pointer(mm.PhysAddr(pa)))[:])
			dropFrame(pa)
			r.frames[i], pa = c, c
		}
		if r.perm != 0 {
			g.space.Remap(va, pa, pteFlags(r.perm))
			g.space.Invalidate(va)
		}
		ok = true
	})
	return ok
}

// dropFrame drops a page's reference to a private frame, in handler
// context. The copy committed for the reference goes with it.
func dropFrame(pa uint64) {
	if mm.Phys.Refs(pa) > 1 {
		committed--
	}
	mm.Phys.Free(pa)
}

// leafFlags is the leaf entry of a private page of permission p backed by
// pa: read-only while pa is shared copy-on-write, whatever p.
func leafFlags(p sandbox.Perm, pa uint64) mm.PTE {
	if mm.Phys.Refs(pa) > 1 {
		return pteFlags(p) &^ mm.Writable
	}
	return pteFlags(p)
}

// demandFault resolves a guest page fault on a page its region allows but
// does not back yet, or a write its region allows to a page kept
// read-only because it was shared copy-on-write. It reports whether the
// guest can retry.
func (g *guest) demandFault(cr2, code uint64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
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
	i := int((cr2 - r.addr) / mm.PageSize)
	if code&1 == 0 {
		return g.back(r, i)
	}
	// A present page: a protection fault the region does not explain,
	// which only the write protection of a shared frame can be, and only
	// for an access from ring 3 (QEMU TCG makes the stack accesses of far
	// transfers supervisor accesses, which SMAP refuses: those go to the
	// host).
	return need == sandbox.Write && code&4 != 0 && g.unshare(r, i)
}

// copy moves bytes between b and guest memory at addr (in: into the
// guest), backing pages the host writes and giving them frames of their
// own. The whole range must be in regions.
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
		// The count is read outside handler context: a count of 1 is
		// this page's alone and stays so while g.mu is held, and unshare
		// reads a larger one again.
		if in && !r.shared && mm.Phys.Refs(r.frames[i]) > 1 && !g.unshare(r, i) {
			return fmt.Errorf("sandbox: out of memory for a copy of guest page %#x", a&^(mm.PageSize-1))
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
	r, err := g.regionAt(addr)
	if err != nil {
		return err
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
	// 512 pages per handler-context call, as Duplicate shares them: a
	// large region does not hold interrupts off for its whole length.
	for lo := 0; lo < len(r.frames); lo += 512 {
		hi := min(lo+512, len(r.frames))
		syscall.InKernel(func() {
			for i := lo; i < hi; i++ {
				pa := r.frames[i]
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
					dropFrame(pa)
				}
				r.frames[i] = 0
			}
		})
	}
	syscall.InKernel(func() { g.space.Prune(uintptr(r.addr), uintptr(r.end())) })
}

// Protect changes the permission of the region starting at addr.
func (g *guest) Protect(addr uint64, p sandbox.Perm) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return sandbox.ErrClosed
	}
	r, err := g.regionAt(addr)
	if err != nil {
		return err
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
			case g.space.Protect(va, leafFlags(p, pa)) != nil:
				g.space.Map(va, pa, leafFlags(p, pa)) // it had no access before
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
