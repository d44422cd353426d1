// Package ring is sandbox levels 1 and 2: guests that run at ring 3 in
// the kernel's own address space, entered by the host goroutine through
// the Run system call (the goroutine's kernel thread becomes the guest's
// one thread until the guest's next exit). Level 2 adds protection keys
// and the code scan (exec.go). Importing the package registers both
// levels with package sandbox; hosts use sandbox's API only.
package ring

import (
	"errors"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"beelzebox/cpu"
	"beelzebox/mm"
	"beelzebox/sandbox"
	"beelzebox/sandbox/space"
	"beelzebox/syscall"
)

func init() {
	sandbox.Register(sandbox.Level1, &sandbox.Backend{
		Requires: "ring 3 (any x86-64)",
		New:      newGuest,
	})
	sandbox.Register(sandbox.Level2, &sandbox.Backend{
		Requires:  "PKU (protection keys), a CPU not exposed to Meltdown",
		Available: checkPKU,
		New:       newGuest,
	})
}

// guest is a guest at level 1 or 2: its memory, user pages of the
// kernel's address space (memory.go), and its threads (thread.go), each
// entered by the goroutine in its Run.
type guest struct {
	level  sandbox.Level
	budget time.Duration
	owner  *space.Owner
	// threads are the threads that have not exited, main first; nextID
	// numbers the next. Guarded by mu.
	threads []*thread
	nextID  int
	maxThr  int
	// mu guards the memory of the guest: its regions and what maps them.
	// Map, Unmap, Protect, ReadMemory, WriteMemory and Close take it, so
	// that another goroutine's call cannot free a region under a copy.
	// Interrupt takes it too: Close frees the run state it writes.
	mu      sync.Mutex
	regions []*region // sorted by address
	order   []uint64  // region addresses in mapping order
	// code is the executable regions, sorted by address; it changes only
	// with the code lock held as well (exec.go).
	code []*region
	// level2 is set once a level 2 guest is counted in (exec.go).
	level2  bool
	shared  []sandbox.Share
	slots   int    // slots of the guest window to take (Config.AddressSpace)
	slot    uint64 // base of the guest's slots for regions at address 0, or 0
	slotEnd uint64
	next    uint64 // lowest free address in the slots above every region
	pkru    uint32 // level 2: the PKRU every thread runs with
	key     int    // level 2: the guest's protection key
	group   *sandbox.KeyGroup
	limit   uint64
	used    uint64
	closed  bool
}

const (
	// scanChunk bounds the buffer the level 2 scan reads guest code
	// into: code is scanned where it lies, a chunk at a time.
	scanChunk = 64 << 10
)

// newGuest is the Backend.New of both levels (sandbox.New has checked
// that the CPU has the level).
func newGuest(cfg sandbox.Config) (sandbox.Guest, error) {
	for i, sh := range cfg.Shared {
		if err := sh.Region.Use(); err != nil {
			for _, done := range cfg.Shared[:i] {
				done.Region.Unuse()
			}
			return nil, err
		}
	}
	g := &guest{level: cfg.Level, budget: cfg.Budget, limit: cfg.MemoryLimit, shared: cfg.Shared, owner: space.NewOwner("guest"), nextID: 1, maxThr: cfg.MaxThreads}
	if g.budget <= 0 {
		g.budget = sandbox.DefaultBudget
	}
	if g.limit == 0 {
		g.limit = sandbox.DefaultMemoryLimit
	}
	if g.maxThr <= 0 {
		g.maxThr = sandbox.DefaultMaxThreads
	}
	g.slots = max(1, int((cfg.AddressSpace+space.SlotSize-1)/space.SlotSize))
	// The page table and the scan buffer are charged to the limit first.
	g.used = mm.PageSize + scanChunk
	if cfg.Level == sandbox.Level2 {
		var err error
		if cfg.Group != nil {
			if g.key, err = cfg.Group.Acquire(); err == nil {
				g.group = cfg.Group
			}
		} else {
			g.key, err = sandbox.AllocKey()
		}
		if err != nil {
			g.Close()
			return nil, err
		}
		rw, ro := []int{g.key}, []int(nil)
		for _, s := range cfg.Shared {
			if s.Writable {
				rw = append(rw, s.Region.Key())
			} else {
				ro = append(ro, s.Region.Key())
			}
		}
		g.pkru = pkruAllowing(rw, ro)
		if err := registerLevel2(); err != nil {
			g.Close()
			return nil, err
		}
		g.level2 = true
	}
	if _, err := g.NewThread(cfg.Regs); err != nil {
		g.Close()
		return nil, err
	}
	for _, r := range cfg.Regions {
		if _, err := g.Map(r); err != nil {
			g.Close()
			return nil, err
		}
	}
	return g, nil
}

func (g *guest) Level() sandbox.Level { return g.level }

// Main is the guest's first thread (nil once it has exited).
func (g *guest) Main() sandbox.Thread {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.threads) == 0 || g.threads[0].id != 1 {
		return nil
	}
	return g.threads[0]
}

// NewThread adds a stopped thread with registers r: another context of
// ring 3 in the guest's memory, entered by whichever goroutine calls its
// Run. Its saved state is kernel memory charged to the guest's limit.
func (g *guest) NewThread(r sandbox.Regs) (sandbox.Thread, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, sandbox.ErrClosed
	}
	if len(g.threads) >= g.maxThr {
		return nil, sandbox.ErrThreadLimit
	}
	t := &thread{g: g, id: g.nextID, budget: g.budget}
	// The thread's saved state lives in kernel memory, not in the Go
	// heap: the exit path writes it with the guest's FS base still loaded
	// and must not take a page fault, and heap memory is backed only when
	// touched. After the state comes the vector state: a 64-byte aligned
	// XSAVE area with a clean header (XSTATE_BV 0: every component in its
	// initial state) and the default MXCSR, which XRSTOR loads from memory
	// even for the initial SSE state.
	size := uint64(unsafe.Sizeof(runState{})+64+cpu.XsaveSize+mm.PageSize-1) &^ (mm.PageSize - 1)
	if g.used+size > g.limit {
		return nil, fmt.Errorf("sandbox: the thread's saved state does not fit the guest's memory limit of %d KiB", g.limit>>10)
	}
	ok := false
	syscall.InKernel(func() {
		if uint64(mm.Phys.FreeCount())*mm.PageSize >= space.KernelReserve+size {
			t.rsLo, t.rsHi, ok = mm.AllocKernel(uintptr(size))
		}
	})
	if !ok {
		return nil, errors.New("sandbox: out of memory for the thread's saved state")
	}
	g.used += size
	rs := (*runState)(unsafe.Pointer(t.rsLo))
	t.rs = rs
	area := (t.rsLo + unsafe.Sizeof(runState{}) + 63) &^ 63
	*(*uint32)(unsafe.Pointer(area + 24)) = 0x1f80
	rs.ctx.Xsave = area
	if g.level == sandbox.Level2 {
		// Level 2 runs with protection keys on and its PKRU loaded;
		// level 1 runs with CR4.PKE off (WRPKRU is #UD there), so that
		// it can never leave a PKRU behind (cpu/entry_amd64.s).
		rs.ctx.PKRU = g.pkru
		rs.checkPKRU = 1
		rs.ctx.UsePKRU = 1
	}
	if err := sandbox.LoadRegs(&rs.ctx, r); err != nil {
		t.free()
		return nil, err
	}
	g.nextID++
	g.threads = append(g.threads, t)
	return t, nil
}

// Duplicate: level 1 and 2 guests share the kernel's address space, so a
// copy cannot have the guest's addresses.
func (g *guest) Duplicate(sandbox.Thread) (sandbox.Guest, error) { return nil, sandbox.ErrNoDuplicate }

// Threads lists the threads that have not exited until the guest is
// closed.
func (g *guest) Threads() []sandbox.Thread {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	ts := make([]sandbox.Thread, len(g.threads))
	for i, t := range g.threads {
		ts[i] = t
	}
	return ts
}

// Close releases the guest's memory, key, placement slot and run state.
// It refuses while the thread runs: the kernel is running from that state.
func (g *guest) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return sandbox.ErrClosed
	}
	for i, t := range g.threads {
		if !t.claim(held) {
			for _, u := range g.threads[:i] {
				u.unclaim()
			}
			return sandbox.ErrRunning
		}
	}
	g.closed = true
	for _, t := range g.threads {
		t.free()
		t.unclaim()
	}
	g.threads = nil
	code.Lock()
	for len(g.code) > 0 {
		g.removeCode(g.code[0])
	}
	code.Unlock()
	if g.level2 {
		unregisterLevel2()
	}
	for _, r := range g.regions {
		r.Unmap()
		space.Unclaim(r.Addr)
	}
	g.regions = nil
	space.GiveSlots(g.owner)
	if g.level == sandbox.Level2 && g.key != 0 {
		if g.group != nil {
			g.group.Release()
		} else {
			sandbox.FreeKey(g.key)
		}
	}
	for _, sh := range g.shared {
		sh.Region.Unuse()
	}
	return nil
}
