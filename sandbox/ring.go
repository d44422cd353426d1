package sandbox

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"beelzebox/cpu"
	"beelzebox/mm"
	"beelzebox/sandbox/codescan"
	"beelzebox/syscall"
)

// ringGuest is a guest at level 1 or 2: ring-3 code in the kernel's
// address space, entered by the host thread through the Run system call.
type ringGuest struct {
	level Level
	rs    *runState // in kernel memory, see newRingGuest
	rsLo  uintptr
	rsHi  uintptr
	owner *owner // in the owner record (space.go)
	// mu guards the memory of the guest: its regions and what maps them.
	// Map, Unmap, Protect, ReadMemory, WriteMemory and Close take it, so
	// that another goroutine's call cannot free a region under a copy.
	mu      sync.Mutex
	regions []*region // sorted by address
	order   []uint64  // region addresses in mapping order
	// code is the executable regions, sorted by address; it changes only
	// with the code lock held as well (exec.go).
	code []*region
	// level2 is set once a level 2 guest is counted in (exec.go).
	level2 bool
	shared []Share
	slot   uint64 // placement slot base for regions at address 0, or 0
	next   uint64 // next free address in the slot
	key    int    // level 2: the guest's protection key
	group  *KeyGroup
	budget time.Duration
	limit  uint64
	used   uint64
	closed bool
	// running is set while Run is in the kernel: Run and Close must not
	// overlap (Close frees the state the kernel is running from), and two
	// Runs of one guest would enter one context twice.
	running atomic.Bool
}

// ErrRunning is returned by Run and Close while another goroutine runs the
// guest.
var ErrRunning = errors.New("sandbox: the guest is running in another goroutine")

// runState is what the Run system call works on. The handler writes only
// integers into it (handler code must not store pointers).
type runState struct {
	ctx        cpu.UserContext
	budgetLeft int64  // ns of CPU time left for this Run
	checkPKRU  uint64 // level 2: the exit PKRU must equal ctx.PKRU
	killed     uint64 // non-zero: it did not
	notEntered uint64 // non-zero: the state was not loadable (EntryValid)
}

const (
	defaultBudget = 50 * time.Millisecond
	defaultLimit  = 64 << 20
	// maxRegions bounds a guest's region table (and the owner record):
	// a guest that maps page after page gets an error, not the host's
	// memory.
	maxRegions = 1024
	// scanChunk bounds the buffer the level 2 scan reads guest code
	// into: code is scanned where it lies, a chunk at a time.
	scanChunk = 64 << 10
)

func newRingGuest(cfg Config) (*ringGuest, error) {
	if cfg.Level == Level2 {
		if err := checkPKU(); err != nil {
			return nil, err
		}
	}
	for i, sh := range cfg.Shared {
		if err := sh.Region.use(); err != nil {
			for _, done := range cfg.Shared[:i] {
				done.Region.unuse()
			}
			return nil, err
		}
	}
	g := &ringGuest{level: cfg.Level, budget: cfg.Budget, limit: cfg.MemoryLimit, shared: cfg.Shared, owner: newOwner("guest")}
	if g.budget <= 0 {
		g.budget = defaultBudget
	}
	if g.limit == 0 {
		g.limit = defaultLimit
	}
	// The guest's saved state lives in kernel memory, not in the Go heap:
	// the exit path writes it with the guest's FS base still loaded and
	// must not take a page fault, and heap memory is backed only when
	// touched. After the state comes the vector state: a 64-byte aligned
	// XSAVE area with a clean header (XSTATE_BV 0: every component in its
	// initial state) and the default MXCSR, which XRSTOR loads from memory
	// even for the initial SSE state.
	// It is charged to the guest's limit with its page table and the scan
	// buffer, before anything is allocated.
	size := (unsafe.Sizeof(runState{}) + 64 + cpu.XsaveSize + mm.PageSize - 1) &^ (mm.PageSize - 1)
	g.used = uint64(size) + mm.PageSize + scanChunk
	if g.used > g.limit {
		g.Close()
		return nil, fmt.Errorf("sandbox: the guest's saved state does not fit its memory limit of %d KiB", g.limit>>10)
	}
	ok := false
	syscall.InKernel(func() {
		if uint64(mm.Phys.FreeCount())*mm.PageSize >= kernelReserve+g.used {
			g.rsLo, g.rsHi, ok = mm.AllocKernel(size)
		}
	})
	if !ok {
		g.Close()
		return nil, errors.New("sandbox: out of memory for the guest's saved state")
	}
	g.rs = (*runState)(unsafe.Pointer(g.rsLo))
	area := (g.rsLo + unsafe.Sizeof(runState{}) + 63) &^ 63
	*(*uint32)(unsafe.Pointer(area + 24)) = 0x1f80
	g.rs.ctx.Xsave = area
	if cfg.Level == Level2 {
		var err error
		if cfg.Group != nil {
			if g.key, err = cfg.Group.acquire(); err == nil {
				g.group = cfg.Group
			}
		} else {
			g.key, err = allocKey()
		}
		if err != nil {
			g.Close()
			return nil, err
		}
		rw, ro := []int{g.key}, []int(nil)
		for _, s := range cfg.Shared {
			if s.Writable {
				rw = append(rw, s.Region.key)
			} else {
				ro = append(ro, s.Region.key)
			}
		}
		g.rs.ctx.PKRU = pkruAllowing(rw, ro)
		g.rs.checkPKRU = 1
		if err := registerLevel2(); err != nil {
			g.Close()
			return nil, err
		}
		g.level2 = true
	}
	// Level 2 runs with protection keys on and its PKRU loaded; level 1
	// runs with CR4.PKE off (WRPKRU is #UD there), so that it can never
	// leave a PKRU behind (cpu/entry_amd64.s).
	if cfg.Level == Level2 {
		g.rs.ctx.UsePKRU = 1
	}
	for _, r := range cfg.Regions {
		if _, err := g.Map(r); err != nil {
			g.Close()
			return nil, err
		}
	}
	if err := g.SetRegs(cfg.Regs); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

func (g *ringGuest) Level() Level { return g.level }

// Map adds a region.
func (g *ringGuest) Map(r Region) (uint64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return 0, ErrClosed
	}
	size := (r.Size + mm.PageSize - 1) &^ (mm.PageSize - 1)
	if size == 0 || uint64(len(r.Data)) > size {
		return 0, fmt.Errorf("sandbox: region %q: size %d cannot hold %d bytes of data", r.Name, r.Size, len(r.Data))
	}
	if r.Perm&Write != 0 && r.Perm&Exec != 0 {
		return 0, fmt.Errorf("sandbox: region %q is writable and executable: guest memory is W^X", r.Name)
	}
	if len(g.regions) >= maxRegions {
		return 0, fmt.Errorf("sandbox: region %q: the guest already has %d regions, the most it may have", r.Name, maxRegions)
	}
	addr := r.Addr
	if addr == 0 {
		if g.slot == 0 {
			base, err := takeSlot(g.owner)
			if err != nil {
				return 0, err
			}
			g.slot, g.next = base, base+mm.PageSize
		}
		addr = g.next
		// The slot's last page stays free: the guard before the next slot.
		if addr+size > g.slot+slotSize-mm.PageSize {
			return 0, fmt.Errorf("sandbox: region %q does not fit the guest's 1 GiB slot", r.Name)
		}
	}
	if addr&(mm.PageSize-1) != 0 || addr+size > cpu.UserTop || addr+size < addr {
		return 0, fmt.Errorf("sandbox: region %q at %#x: address must be page-aligned and the region end by %#x", r.Name, addr, uint64(cpu.UserTop))
	}
	reg := &region{name: r.Name, addr: addr, size: size, perm: r.Perm, cost: size + pageTableCost(addr, size)}
	if g.used+reg.cost > g.limit {
		return 0, fmt.Errorf("sandbox: region %q: the guest's memory limit of %d KiB would be exceeded", r.Name, g.limit>>10)
	}
	if err := claim(g.owner, r.Name, addr, reg.end()); err != nil {
		return 0, err
	}
	// Code that must pass the scan (exec.go) becomes executable only
	// once scanned: it is mapped read-only, filled, scanned in place,
	// then made executable.
	if r.Perm&Exec != 0 {
		code.Lock()
		defer code.Unlock()
	}
	scan := r.Perm&Exec != 0 && g.mustScan()
	if scan {
		reg.perm = r.Perm &^ Exec
	}
	if err := mapPages(reg, g.key); err != nil {
		unclaim(addr)
		return 0, err
	}
	reg.copyIn(addr, r.Data)
	if scan {
		if err := g.scan(reg, reg.addr, reg.end(), 0, nil); err != nil {
			unmapPages(reg)
			unclaim(addr)
			return 0, fmt.Errorf("sandbox: region %q refused: %w", r.Name, err)
		}
		protectPages(reg, r.Perm, g.key)
		reg.scanned = true
	}
	if r.Perm&Exec != 0 {
		g.addCode(reg)
	}
	if r.Addr == 0 {
		g.next = addr + size + mm.PageSize
	}
	g.used += reg.cost
	at := sort.Search(len(g.regions), func(i int) bool { return g.regions[i].addr > addr })
	g.regions = append(g.regions, nil)
	copy(g.regions[at+1:], g.regions[at:])
	g.regions[at] = reg
	g.order = append(g.order, addr)
	return addr, nil
}

// scan checks, before r becomes or stays executable, every instruction
// that starts in [lo, hi) or up to codescan.Overlap bytes before it in
// executable memory (an adjacent executable region of the guest: an
// instruction may start there and end in r). The guest's frames are read
// in chunks of scanChunk bytes, each with the codescan.Overlap bytes that
// follow it, so the scan sees every offset with the bytes an instruction
// there can reach, across pages and regions, without a copy of the
// region. patch, if not nil, is a write not done yet at patchAt: the scan
// sees it in place of what memory holds.
func (g *ringGuest) scan(r *region, lo, hi, patchAt uint64, patch []byte) error {
	codeLo, codeHi := r.addr, r.end()
	for _, o := range g.code {
		if o.end() == r.addr {
			codeLo = o.addr
		}
		if o.addr == r.end() {
			codeHi = o.end()
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
		if err := codescan.ScanRange(b, a, 0, int(n)); err != nil {
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
func (g *ringGuest) readCode(r *region, a uint64, b []byte) {
	for len(b) > 0 {
		src := r
		if a < r.addr || a >= r.end() {
			src = g.codeAt(a)
		}
		n := min(uint64(len(b)), src.end()-a)
		src.copyOut(a, b[:n])
		a += n
		b = b[n:]
	}
}

func (g *ringGuest) find(addr uint64) *region {
	for _, r := range g.regions {
		if addr >= r.addr && addr < r.end() {
			return r
		}
	}
	return nil
}

// Unmap removes the region that starts at addr.
func (g *ringGuest) Unmap(addr uint64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, r := range g.regions {
		if r.addr == addr {
			if r.perm&Exec != 0 {
				code.Lock()
				g.removeCode(r)
				code.Unlock()
			}
			unmapPages(r)
			unclaim(addr)
			g.used -= r.cost
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
func (g *ringGuest) Protect(addr uint64, p Perm) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}
	r := g.find(addr)
	if r == nil || r.addr != addr {
		return fmt.Errorf("sandbox: no region starts at %#x", addr)
	}
	if p&Write != 0 && p&Exec != 0 {
		return fmt.Errorf("sandbox: region %q cannot become writable and executable (W^X)", r.name)
	}
	was := r.perm
	if was&Exec == 0 && p&Exec == 0 {
		protectPages(r, p, g.key)
		return nil
	}
	code.Lock()
	defer code.Unlock()
	switch {
	case was&Exec != 0 && p&Exec == 0:
		g.removeCode(r)
		r.scanned = false
	case was&Exec == 0:
		protectPages(r, p&^Exec, g.key)
		if g.mustScan() {
			if err := g.scan(r, r.addr, r.end(), 0, nil); err != nil {
				protectPages(r, was, g.key)
				return fmt.Errorf("sandbox: region %q cannot become executable: %w", r.name, err)
			}
			r.scanned = true
		}
		g.addCode(r)
	}
	protectPages(r, p, g.key)
	return nil
}

// rangeRegions calls fn for each piece of [addr, addr+n) and the region
// holding it, or fails if part of the range is outside every region.
func (g *ringGuest) rangeRegions(addr uint64, n int, fn func(r *region, a uint64, lo, hi int)) error {
	if addr+uint64(n) < addr {
		return fmt.Errorf("sandbox: range at %#x wraps around", addr)
	}
	for off := 0; off < n; {
		r := g.find(addr + uint64(off))
		if r == nil {
			return fmt.Errorf("sandbox: guest address %#x is not in guest memory", addr+uint64(off))
		}
		k := min(n-off, int(r.end()-(addr+uint64(off))))
		fn(r, addr+uint64(off), off, off+k)
		off += k
	}
	return nil
}

// ReadMemory copies guest memory into b.
func (g *ringGuest) ReadMemory(addr uint64, b []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}
	if err := g.rangeRegions(addr, len(b), func(*region, uint64, int, int) {}); err != nil {
		return err
	}
	return g.rangeRegions(addr, len(b), func(r *region, a uint64, lo, hi int) { r.copyOut(a, b[lo:hi]) })
}

// WriteMemory copies b into guest memory. At level 2, bytes written into
// executable memory are scanned first, as if the region became executable
// again.
func (g *ringGuest) WriteMemory(addr uint64, b []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}
	toCode := false
	if err := g.rangeRegions(addr, len(b), func(r *region, _ uint64, _, _ int) { toCode = toCode || r.perm&Exec != 0 }); err != nil {
		return err
	}
	if toCode {
		code.Lock()
		defer code.Unlock()
	}
	var scanErr error
	g.rangeRegions(addr, len(b), func(r *region, a uint64, lo, hi int) {
		if r.perm&Exec == 0 || scanErr != nil {
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
	return g.rangeRegions(addr, len(b), func(r *region, a uint64, lo, hi int) { r.copyIn(a, b[lo:hi]) })
}

func (g *ringGuest) Regs() Regs {
	if g.closed {
		return Regs{}
	}
	f := &g.rs.ctx.Regs
	return Regs{
		RAX: f.AX, RBX: f.BX, RCX: f.CX, RDX: f.DX, RSI: f.SI, RDI: f.DI, RBP: f.BP, RSP: f.RSP,
		R8: f.R8, R9: f.R9, R10: f.R10, R11: f.R11, R12: f.R12, R13: f.R13, R14: f.R14, R15: f.R15,
		RIP: f.RIP, RFLAGS: f.RFLAGS, FSBase: g.rs.ctx.FSBase, GSBase: g.rs.ctx.GSBase,
	}
}

// SetRegs replaces the register state. RFLAGS keeps only the flags ring 3
// may hold (IF is always set, IOPL 0); RIP and the segment bases must be
// canonical lower-half addresses, RSP canonical. A refused state changes
// nothing.
func (g *ringGuest) SetRegs(r Regs) error {
	if g.closed {
		return ErrClosed
	}
	for _, c := range []struct {
		name string
		v    uint64
		ok   bool
	}{
		{"RIP", r.RIP, cpu.ValidUserRIP(r.RIP)},
		{"RSP", r.RSP, cpu.Canonical(r.RSP)},
		{"FS base", r.FSBase, cpu.ValidUserRIP(r.FSBase)},
		{"GS base", r.GSBase, cpu.ValidUserRIP(r.GSBase)},
	} {
		if !c.ok {
			return fmt.Errorf("sandbox: %s %#x is not a canonical lower-half address", c.name, c.v)
		}
	}
	f := &g.rs.ctx.Regs
	*f = cpu.Frame{
		AX: r.RAX, BX: r.RBX, CX: r.RCX, DX: r.RDX, SI: r.RSI, DI: r.RDI, BP: r.RBP, RSP: r.RSP,
		R8: r.R8, R9: r.R9, R10: r.R10, R11: r.R11, R12: r.R12, R13: r.R13, R14: r.R14, R15: r.R15,
		RIP: r.RIP, RFLAGS: cpu.SanitizeUserFlags(r.RFLAGS),
		CS: cpu.SelUserCode, SS: cpu.SelUserData,
	}
	g.rs.ctx.FSBase, g.rs.ctx.GSBase = r.FSBase, r.GSBase
	return nil
}

func (g *ringGuest) SetReturn(v uint64) {
	if !g.closed {
		g.rs.ctx.Regs.AX = v
	}
}

// Run enters the guest through the Run system call and decodes the exit.
func (g *ringGuest) Run() (e Exit, err error) {
	if !g.running.CompareAndSwap(false, true) {
		return Exit{}, ErrRunning
	}
	if g.closed {
		g.running.Store(false)
		return Exit{}, ErrClosed
	}
	g.rs.budgetLeft = int64(g.budget)
	syscall.Private(syscall.CallRun, uintptr(unsafe.Pointer(g.rs)), 0, 0)
	f := &g.rs.ctx.Regs
	switch {
	case g.rs.killed != 0:
		e = Exit{Kind: ExitKilled, Reason: fmt.Sprintf("pkru tampered: the guest left PKRU %#08x, its PKRU is %#08x", g.rs.ctx.ExitPKRU, g.rs.ctx.PKRU)}
	case f.Vector == cpu.VectorSyscall:
		e.Kind = ExitSyscall
		e.Syscall = Syscall{Nr: f.AX, Args: [6]uint64{f.DI, f.SI, f.DX, f.R10, f.R8, f.R9}}
	case f.Vector >= 32:
		e.Kind = ExitBudget
	default:
		e.Kind = ExitFault
		e.Fault = Fault{Vector: f.Vector, ErrorCode: f.ErrorCode, CR2: g.rs.ctx.CR2, RIP: f.RIP, NotEntered: g.rs.notEntered != 0}
	}
	g.running.Store(false) // not deferred: this is the level 1 round trip's path
	return e, nil
}

// Close releases the guest's memory, key and placement slot.
func (g *ringGuest) Close() error {
	if !g.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer g.running.Store(false)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}
	g.closed = true
	code.Lock()
	for len(g.code) > 0 {
		g.removeCode(g.code[0])
	}
	code.Unlock()
	if g.level2 {
		unregisterLevel2()
	}
	for _, r := range g.regions {
		unmapPages(r)
		unclaim(r.addr)
	}
	g.regions = nil
	giveSlots(g.owner)
	if g.level == Level2 && g.key != 0 {
		if g.group != nil {
			g.group.release()
		} else {
			freeKey(g.key)
		}
	}
	for _, sh := range g.shared {
		sh.Region.unuse()
	}
	if g.rsLo != 0 {
		syscall.InKernel(func() { mm.FreeKernel(g.rsLo, g.rsHi) })
	}
	return nil
}

// RegionAddrs lists the start of each region in the order they were
// mapped (for tests and tools that place regions at address 0).
func (g *ringGuest) RegionAddrs() []uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]uint64, len(g.order))
	copy(out, g.order)
	return out
}

// PKRU is the value of PKRU the guest had when it last stopped (0 without
// PKU).
func (g *ringGuest) PKRU() uint32 {
	if g.closed {
		return 0
	}
	return g.rs.ctx.ExitPKRU
}

// PermAt is the permission of the guest page at addr.
func (g *ringGuest) PermAt(addr uint64) (Perm, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r := g.find(addr); r != nil {
		return r.perm, true
	}
	return 0, false
}
