package ring

import (
	"errors"
	"fmt"
	"sort"

	"beelzebox/cpu"
	"beelzebox/mm"
	"beelzebox/sandbox"
	"beelzebox/sandbox/codescan"
	"beelzebox/sandbox/space"
)

// region is a region of a level 1 or 2 guest: user pages of the kernel's
// address space (package space) with the guest's permission.
type region struct {
	space.Pages
	perm sandbox.Perm
	// scanned: executable and unchanged since it last passed the level
	// 2 scan (exec.go).
	scanned bool
}

// protect maps r with permission p and key pkey.
func (r *region) protect(p sandbox.Perm, pkey int) {
	r.Pages.Protect(pagePerm(p), pkey)
	r.perm = p
}

// pagePerm is the mapping that gives guest code permission p.
func pagePerm(p sandbox.Perm) mm.Perm {
	var mp mm.Perm
	if p&sandbox.Read != 0 {
		mp |= mm.PermRead
	}
	if p&sandbox.Write != 0 {
		mp |= mm.PermWrite
	}
	if p&sandbox.Exec != 0 {
		mp |= mm.PermExec
	}
	return mp
}

// takeSlots gives the guest its slots of the guest window, the first time
// a region needs a place.
func (g *guest) takeSlots() error {
	if g.slot != 0 {
		return nil
	}
	base, err := space.TakeSlots(g.owner, g.slots)
	if err != nil {
		return err
	}
	g.slot, g.slotEnd, g.next = base, base+uint64(g.slots)*space.SlotSize, base+mm.PageSize
	return nil
}

// AddressRange is the guest's slots of the guest window (taken now if no
// region has needed them yet).
func (g *guest) AddressRange() (lo, hi uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || g.takeSlots() != nil {
		return 0, 0
	}
	return g.slot, g.slotEnd
}

// Map adds a region.
func (g *guest) Map(r sandbox.Region) (uint64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return 0, sandbox.ErrClosed
	}
	size, err := sandbox.CheckRegion(r, len(g.regions))
	if err != nil {
		return 0, err
	}
	addr := r.Addr
	if addr == 0 {
		if err := g.takeSlots(); err != nil {
			return 0, err
		}
		addr = g.next
		// The slots' last page stays free: the guard before the next slot.
		if addr+size > g.slotEnd-mm.PageSize || addr+size < addr {
			return 0, fmt.Errorf("sandbox: region %q does not fit the guest's %d GiB of the guest window", r.Name, (g.slotEnd-g.slot)>>30)
		}
	}
	if addr&(mm.PageSize-1) != 0 || addr+size > cpu.UserTop || addr+size < addr {
		return 0, fmt.Errorf("sandbox: region %q at %#x: address must be page-aligned and the region end by %#x", r.Name, addr, uint64(cpu.UserTop))
	}
	reg := &region{Pages: space.NewPages(r.Name, addr, size), perm: r.Perm}
	if g.used+reg.Cost > g.limit {
		return 0, fmt.Errorf("sandbox: region %q: the guest's memory limit of %d KiB would be exceeded", r.Name, g.limit>>10)
	}
	if err := space.Claim(g.owner, r.Name, addr, reg.End()); err != nil {
		return 0, err
	}
	// Code that must pass the scan (exec.go) becomes executable only
	// once scanned: it is mapped read-only, filled, scanned in place,
	// then made executable.
	if r.Perm&sandbox.Exec != 0 {
		code.Lock()
		defer code.Unlock()
	}
	scan := r.Perm&sandbox.Exec != 0 && g.mustScan()
	if scan {
		reg.perm = r.Perm &^ sandbox.Exec
	}
	if err := reg.Map(pagePerm(reg.perm), g.key); err != nil {
		space.Unclaim(addr)
		return 0, err
	}
	reg.CopyIn(addr, r.Data)
	if scan {
		if err := g.scan(reg, reg.Addr, reg.End(), 0, nil); err != nil {
			reg.Unmap()
			space.Unclaim(addr)
			return 0, fmt.Errorf("sandbox: region %q refused: %w", r.Name, err)
		}
		reg.protect(r.Perm, g.key)
		reg.scanned = true
	}
	if r.Perm&sandbox.Exec != 0 {
		g.addCode(reg)
	}
	if g.slot != 0 && addr >= g.slot && addr < g.slotEnd {
		// Regions at address 0 go above every region of the slot,
		// those placed by address included, past a guard page.
		g.next = max(g.next, addr+size+mm.PageSize)
	}
	g.used += reg.Cost
	at := sort.Search(len(g.regions), func(i int) bool { return g.regions[i].Addr > addr })
	g.regions = append(g.regions, nil)
	copy(g.regions[at+1:], g.regions[at:])
	g.regions[at] = reg
	g.order = append(g.order, addr)
	return addr, nil
}

// scanRules are the code scan's: XRSTOR and XRSTORS are harmless while
// XCR0 leaves PKRU out, as the kernel always does (cpu/xsave.go).
func scanRules() codescan.Rules { return codescan.Rules{Restores: cpu.XCR0&cpu.XCR0PKRU != 0} }

// scan checks, before r becomes or stays executable, every instruction
// that starts in [lo, hi) or up to codescan.Overlap bytes before it in
// executable memory (an adjacent executable region of the guest: an
// instruction may start there and end in r). The guest's frames are read
// in chunks of scanChunk bytes, each with the codescan.Overlap bytes that
// follow it, so the scan sees every offset with the bytes an instruction
// there can reach, across pages and regions, without a copy of the
// region. patch, if not nil, is a write not done yet at patchAt: the scan
// sees it in place of what memory holds.
func (g *guest) scan(r *region, lo, hi, patchAt uint64, patch []byte) error {
	codeLo, codeHi := r.Addr, r.End()
	for _, o := range g.code {
		if o.End() == r.Addr {
			codeLo = o.Addr
		}
		if o.Addr == r.End() {
			codeHi = o.End()
		}
	}
	start := max(lo-min(lo, codescan.Overlap), codeLo)
	end := min(hi+codescan.Overlap, codeHi)
	buf := make([]byte, min(scanChunk, hi-start)+codescan.Overlap)
	for a := start; a < hi; a += scanChunk {
		n := min(scanChunk, hi-a)
		b := buf[:min(n+codescan.Overlap, end-a)]
		g.readCode(r, a, b)
		if pLo, pHi := max(a, patchAt), min(a+uint64(len(b)), patchAt+uint64(len(patch))); pLo < pHi {
			copy(b[pLo-a:pHi-a], patch[pLo-patchAt:])
		}
		if err := scanRules().ScanRange(b, a, 0, int(n)); err != nil {
			var f *codescan.Finding
			if errors.As(err, &f) {
				f.Offset += int(a - start) // from the start of the scan, not of the chunk
			}
			return err
		}
	}
	return nil
}

// readCode fills b with the guest bytes at a, which lie in r or in
// executable regions of the guest next to it.
func (g *guest) readCode(r *region, a uint64, b []byte) {
	for len(b) > 0 {
		src := r
		if a < r.Addr || a >= r.End() {
			src = g.codeAt(a)
		}
		n := min(uint64(len(b)), src.End()-a)
		src.CopyOut(a, b[:n])
		a += n
		b = b[n:]
	}
}

func (g *guest) find(addr uint64) *region {
	for _, r := range g.regions {
		if addr >= r.Addr && addr < r.End() {
			return r
		}
	}
	return nil
}

// Unmap removes the region that starts at addr.
func (g *guest) Unmap(addr uint64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, r := range g.regions {
		if r.Addr == addr {
			if r.perm&sandbox.Exec != 0 {
				code.Lock()
				g.removeCode(r)
				code.Unlock()
			}
			r.Unmap()
			space.Unclaim(addr)
			g.used -= r.Cost
			g.regions = append(g.regions[:i], g.regions[i+1:]...)
			for j, a := range g.order {
				if a == addr {
					g.order = append(g.order[:j], g.order[j+1:]...)
					break
				}
			}
			return nil
		}
	}
	return fmt.Errorf("sandbox: no region starts at %#x", addr)
}

// Protect changes the permission of the region starting at addr. A region
// that becomes executable loses write access first, then is scanned
// (where it must be, exec.go), then becomes executable: its guest, running
// on another thread meanwhile, cannot change the bytes after the scan.
func (g *guest) Protect(addr uint64, p sandbox.Perm) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return sandbox.ErrClosed
	}
	r := g.find(addr)
	if r == nil || r.Addr != addr {
		return fmt.Errorf("sandbox: no region starts at %#x", addr)
	}
	if p&sandbox.Write != 0 && p&sandbox.Exec != 0 {
		return fmt.Errorf("sandbox: region %q cannot become writable and executable (W^X)", r.Name)
	}
	was := r.perm
	if was&sandbox.Exec == 0 && p&sandbox.Exec == 0 {
		r.protect(p, g.key)
		return nil
	}
	code.Lock()
	defer code.Unlock()
	switch {
	case was&sandbox.Exec != 0 && p&sandbox.Exec == 0:
		g.removeCode(r)
		r.scanned = false
	case was&sandbox.Exec == 0:
		r.protect(p&^sandbox.Exec, g.key)
		if g.mustScan() {
			if err := g.scan(r, r.Addr, r.End(), 0, nil); err != nil {
				r.protect(was, g.key)
				return fmt.Errorf("sandbox: region %q cannot become executable: %w", r.Name, err)
			}
			r.scanned = true
		}
		g.addCode(r)
	}
	r.protect(p, g.key)
	return nil
}

// rangeRegions calls fn for each piece of [addr, addr+n) and the region
// holding it, or fails if part of the range is outside every region.
func (g *guest) rangeRegions(addr uint64, n int, fn func(r *region, a uint64, lo, hi int)) error {
	if addr+uint64(n) < addr {
		return fmt.Errorf("sandbox: range at %#x wraps around", addr)
	}
	for off := 0; off < n; {
		r := g.find(addr + uint64(off))
		if r == nil {
			return fmt.Errorf("sandbox: guest address %#x is not in guest memory", addr+uint64(off))
		}
		k := min(n-off, int(r.End()-(addr+uint64(off))))
		fn(r, addr+uint64(off), off, off+k)
		off += k
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
	if err := g.rangeRegions(addr, len(b), func(*region, uint64, int, int) {}); err != nil {
		return err
	}
	return g.rangeRegions(addr, len(b), func(r *region, a uint64, lo, hi int) { r.CopyOut(a, b[lo:hi]) })
}

// WriteMemory copies b into guest memory. At level 2, bytes written into
// executable memory are scanned first, as if the region became executable
// again.
func (g *guest) WriteMemory(addr uint64, b []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return sandbox.ErrClosed
	}
	toCode := false
	if err := g.rangeRegions(addr, len(b), func(r *region, _ uint64, _, _ int) { toCode = toCode || r.perm&sandbox.Exec != 0 }); err != nil {
		return err
	}
	if toCode {
		code.Lock()
		defer code.Unlock()
	}
	var scanErr error
	g.rangeRegions(addr, len(b), func(r *region, a uint64, lo, hi int) {
		if r.perm&sandbox.Exec == 0 || scanErr != nil {
			return
		}
		if !g.mustScan() {
			r.scanned = false
			return
		}
		scanErr = g.scan(r, a, a+uint64(hi-lo), addr, b)
	})
	if scanErr != nil {
		return fmt.Errorf("sandbox: write refused: %w", scanErr)
	}
	return g.rangeRegions(addr, len(b), func(r *region, a uint64, lo, hi int) { r.CopyIn(a, b[lo:hi]) })
}

// RegionAddrs lists the start of each region in the order they were
// mapped (for tests and tools that place regions at address 0).
func (g *guest) RegionAddrs() []uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]uint64, len(g.order))
	copy(out, g.order)
	return out
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
