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
// kernel's address space (memory.go), and its one thread (thread.go).
type guest struct {
	level sandbox.Level
	main  thread
	rsLo  uintptr // the kernel memory of main's runState
	rsHi  uintptr
	owner *space.Owner
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
	level2 bool
	shared []sandbox.Share
	slot   uint64 // placement slot base for regions at address 0, or 0
	next   uint64 // lowest free address in the slot above every region
	key    int    // level 2: the guest's protection key
	group  *sandbox.KeyGroup
	limit  uint64
	used   uint64
	closed bool
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
	g := &guest{level: cfg.Level, limit: cfg.MemoryLimit, shared: cfg.Shared, owner: space.NewOwner("guest")}
	g.main.g = g
	g.main.budget = cfg.Budget
	if g.main.budget <= 0 {
		g.main.budget = sandbox.DefaultBudget
	}
	if g.limit == 0 {
		g.limit = sandbox.DefaultMemoryLimit
	}
	// The thread's saved state lives in kernel memory, not in the Go
	// heap: the exit path writes it with the guest's FS base still loaded
	// and must not take a page fault, and heap memory is backed only when
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
		if uint64(mm.Phys.FreeCount())*mm.PageSize >= space.KernelReserve+g.used {
			g.rsLo, g.rsHi, ok = mm.AllocKernel(size)
		}
	})
	if !ok {
		g.Close()
		return nil, errors.New("sandbox: out of memory for the guest's saved state")
	}
	rs := (*runState)(unsafe.Pointer(g.rsLo))
	g.main.rs = rs
	area := (g.rsLo + unsafe.Sizeof(runState{}) + 63) &^ 63
	*(*uint32)(unsafe.Pointer(area + 24)) = 0x1f80
	rs.ctx.Xsave = area
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
		rs.ctx.PKRU = pkruAllowing(rw, ro)
		rs.checkPKRU = 1
		if err := registerLevel2(); err != nil {
			g.Close()
			return nil, err
		}
		g.level2 = true
		// Level 2 runs with protection keys on and its PKRU loaded;
		// level 1 runs with CR4.PKE off (WRPKRU is #UD there), so that
		// it can never leave a PKRU behind (cpu/entry_amd64.s).
		rs.ctx.UsePKRU = 1
	}
	for _, r := range cfg.Regions {
		if _, err := g.Map(r); err != nil {
			g.Close()
			return nil, err
		}
	}
	if err := g.main.SetRegs(cfg.Regs); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

func (g *guest) Level() sandbox.Level { return g.level }

// Main is the guest's one thread.
func (g *guest) Main() sandbox.Thread { return &g.main }

// NewThread: a level 1 or 2 guest's thread is the host goroutine that
// runs it, and there is one.
func (g *guest) NewThread(sandbox.Regs) (sandbox.Thread, error) { return nil, sandbox.ErrOneThread }

// Duplicate: level 1 and 2 guests share the kernel's address space, so a
// copy cannot have the guest's addresses.
func (g *guest) Duplicate(sandbox.Thread) (sandbox.Guest, error) { return nil, sandbox.ErrNoDuplicate }

// Threads lists the one thread until the guest is closed.
func (g *guest) Threads() []sandbox.Thread {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	return []sandbox.Thread{&g.main}
}

// Close releases the guest's memory, key, placement slot and run state.
// It refuses while the thread runs: the kernel is running from that state.
func (g *guest) Close() error {
	if !g.main.claim(held) {
		return sandbox.ErrRunning
	}
	defer g.main.unclaim()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return sandbox.ErrClosed
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
	if g.rsLo != 0 {
		g.main.rs = nil
		syscall.InKernel(func() { mm.FreeKernel(g.rsLo, g.rsHi) })
	}
	return nil
}
