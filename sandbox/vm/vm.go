package vm

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
	"unsafe"

	"beelzebox/cpu"
	"beelzebox/kernel"
	"beelzebox/mm"
	"beelzebox/sandbox"
	"beelzebox/syscall"
)

// VM is a level 4 guest: guest-physical memory and vCPUs.
//
// Resources and their order: the EPT tree, then RAM regions (frames
// mapped into it), then vCPUs (VPID, VMCS, MSR page, XSAVE area). Close
// releases them in reverse through release, which undoes what was
// recorded: nothing is cleaned up at the exits of New.
type VM struct {
	mu      sync.Mutex
	cfg     sandbox.Config
	ept     mm.EPT
	regions []*region
	vcpus   []*VCPU
	nextID  int
	used    uint64 // bytes of RAM charged to MemoryLimit
	closed  bool
	// tscOffset is added to the host TSC for the guest's (SDM Vol. 3C
	// §26.3): the guest's TSC starts near 0 at creation.
	tscOffset uint64
}

// region is guest-physical RAM: size bytes at gpa. chunks are its
// frames: 2 MiB pages where the region and the allocator allow, 4 KiB
// pages elsewhere.
type region struct {
	name   string
	gpa    uint64
	size   uint64
	perm   sandbox.Perm
	chunks []chunk
}

type chunk struct {
	gpa, hpa uint64
	large    bool
}

func (r *region) end() uint64 { return r.gpa + r.size }

// MaxVCPUs bounds a VM's vCPUs (Config.MaxThreads, default 1).
const MaxVCPUs = 16

// New creates a VM from cfg: its RAM regions and its first vCPU.
func New(cfg sandbox.Config) (*VM, error) {
	if err := available(); err != nil {
		return nil, err
	}
	if err := enableVMX(); err != nil {
		return nil, err
	}
	if cfg.MemoryLimit == 0 {
		cfg.MemoryLimit = sandbox.DefaultMemoryLimit
	}
	if cfg.Budget == 0 {
		cfg.Budget = sandbox.DefaultBudget
	}
	if cfg.MaxThreads == 0 {
		cfg.MaxThreads = 1
	}
	if cfg.MaxThreads > MaxVCPUs {
		return nil, fmt.Errorf("level 4: %d vCPUs asked, the most is %d", cfg.MaxThreads, MaxVCPUs)
	}
	if len(cfg.Shared) != 0 || cfg.Group != nil || cfg.Port != nil {
		return nil, errors.New("level 4: a VM has no shared regions, key groups or ports")
	}
	v := &VM{cfg: cfg, ept: mm.EPT{Mem: mm.EPTTables}, tscOffset: -cpu.Rdtsc()}
	var failed mm.Error
	syscall.InKernel(func() {
		failed = v.ept.Init()
		if failed == 0 {
			held++
		}
	})
	if failed != 0 {
		return nil, errors.New("level 4: out of memory for the EPT")
	}
	for _, r := range cfg.Regions {
		if _, err := v.Map(r); err != nil {
			v.release()
			return nil, err
		}
	}
	if _, err := v.newVCPU(cfg.Regs); err != nil {
		v.release()
		return nil, err
	}
	live.Lock()
	if live.vms == nil {
		live.vms = make(map[*VM]struct{})
	}
	live.vms[v] = struct{}{}
	live.Unlock()
	return v, nil
}

// Level is 4.
func (v *VM) Level() sandbox.Level { return sandbox.Level4 }

// Main is the first vCPU.
func (v *VM) Main() sandbox.Thread { return v.vcpus[0] }

// VCPU0 is the first vCPU, as its concrete type.
func (v *VM) VCPU0() *VCPU { return v.vcpus[0] }

// NewThread adds a vCPU with registers r, in the same initial state as
// the first; past Config.MaxThreads it returns ErrThreadLimit.
func (v *VM) NewThread(r sandbox.Regs) (sandbox.Thread, error) {
	c, err := v.newVCPU(r)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Threads lists the vCPUs.
func (v *VM) Threads() []sandbox.Thread {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]sandbox.Thread, 0, len(v.vcpus))
	for _, c := range v.vcpus {
		out = append(out, c)
	}
	return out
}

// Duplicate is not offered at level 4.
func (v *VM) Duplicate(sandbox.Thread) (sandbox.Guest, error) {
	return nil, errors.New("level 4: a VM cannot be duplicated")
}

// eptPerm is the EPT permission of a region.
func eptPerm(p sandbox.Perm) uint64 {
	var e uint64
	if p&sandbox.Read != 0 {
		e |= mm.EPTRead
	}
	if p&sandbox.Write != 0 {
		e |= mm.EPTWrite | mm.EPTRead // EPT has no write-only pages
	}
	if p&sandbox.Exec != 0 {
		e |= mm.EPTExec
	}
	return e
}

// Map adds guest-physical RAM. Addr must be page-aligned and given (no
// placement: guest-physical layout is the host's design); the region
// may not overlap another or the local APIC page.
func (v *VM) Map(r sandbox.Region) (uint64, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return 0, sandbox.ErrClosed
	}
	size := (r.Size + mm.PageSize - 1) &^ (mm.PageSize - 1)
	switch {
	case size == 0 || uint64(len(r.Data)) > size:
		return 0, fmt.Errorf("level 4: region %q: size %d cannot hold %d bytes of data", r.Name, r.Size, len(r.Data))
	case r.Addr%mm.PageSize != 0:
		return 0, fmt.Errorf("level 4: region %q: address %#x is not page-aligned", r.Name, r.Addr)
	case r.Addr+size < r.Addr || (r.Addr+size)>>mm.GuestPhysBits != 0:
		return 0, fmt.Errorf("level 4: region %q [%#x, +%#x) is beyond guest-physical addresses", r.Name, r.Addr, size)
	case len(v.regions) >= sandbox.MaxRegions:
		return 0, fmt.Errorf("level 4: region %q: the VM has %d regions, the most it may have", r.Name, sandbox.MaxRegions)
	case v.used+size > v.cfg.MemoryLimit || v.used+size < v.used:
		return 0, fmt.Errorf("level 4: region %q (%d KiB) is over the VM's memory limit of %d KiB", r.Name, size>>10, v.cfg.MemoryLimit>>10)
	}
	for _, o := range v.regions {
		if r.Addr < o.end() && o.gpa < r.Addr+size {
			return 0, fmt.Errorf("level 4: region %q [%#x, %#x) overlaps %q", r.Name, r.Addr, r.Addr+size, o.name)
		}
	}
	reg := &region{name: r.Name, gpa: r.Addr, size: size, perm: r.Perm}
	// The chunk list is sized before handler code fills it, for the worst
	// case of 4 KiB pages throughout.
	n := size / mm.PageSize
	reg.chunks = make([]chunk, n)
	perm := eptPerm(r.Perm)
	ok := true
	filled := 0
	syscall.InKernel(func() {
		if uint64(mm.Phys.FreeCount())*mm.PageSize < kernelReserve+size {
			ok = false
			return
		}
		i := 0
		for a := reg.gpa; a < reg.end(); i++ {
			c := &reg.chunks[i]
			c.gpa = a
			if a%mm.LargePageSize == 0 && reg.end()-a >= mm.LargePageSize {
				if hpa, got := mm.Phys.AllocLarge(); got {
					clear((*[mm.LargePageSize]byte)(unsafe.Pointer(mm.PhysAddr(hpa)))[:])
					if v.ept.MapLarge(a, hpa, perm) != nil {
						mm.Phys.FreeLarge(hpa)
						ok = false
						return
					}
					c.hpa, c.large = hpa, true
					held += mm.LargePageSize / mm.PageSize
					a += mm.LargePageSize
					continue
				}
			}
			hpa, got := mm.Phys.Alloc()
			if !got {
				ok = false
				return
			}
			clear((*[mm.PageSize]byte)(unsafe.Pointer(mm.PhysAddr(hpa)))[:])
			if v.ept.Map(a, hpa, perm) != nil {
				mm.Phys.Free(hpa)
				ok = false
				return
			}
			c.hpa = hpa
			held++
			a += mm.PageSize
		}
		filled = i
	})
	if !ok {
		v.unmapRegion(reg)
		return 0, fmt.Errorf("level 4: out of memory for region %q (%d KiB)", r.Name, size>>10)
	}
	reg.chunks = reg.chunks[:filled]
	v.regions = append(v.regions, reg)
	sort.Slice(v.regions, func(i, j int) bool { return v.regions[i].gpa < v.regions[j].gpa })
	v.used += size
	v.copyLocked(r.Addr, r.Data, true)
	return r.Addr, nil
}

// kernelReserve is what the kernel keeps for itself beside guest RAM.
const kernelReserve = 8 << 20

// unmapRegion removes a region's frames from the EPT and frees them
// (those it got: a chunk with hpa 0 was never backed). The caller
// invalidates EPT translations first if a vCPU ever ran.
func (v *VM) unmapRegion(reg *region) {
	syscall.InKernel(func() {
		for i := range reg.chunks {
			c := &reg.chunks[i]
			if c.hpa == 0 {
				continue
			}
			v.ept.Unmap(c.gpa)
			if c.large {
				mm.Phys.FreeLarge(c.hpa)
				held -= mm.LargePageSize / mm.PageSize
			} else {
				mm.Phys.Free(c.hpa)
				held--
			}
			c.hpa = 0
		}
	})
}

// invalidate drops the VM's EPT-derived translations after a change to
// its EPT; v.mu is held. This CPU and every CPU a vCPU's VMCS is active
// on may cache them: the others get a shootdown. A CPU the VM left drops
// them when a vCPU arrives there again (cpu.loadVMCS). The set is read
// after the EPT changed, so a vCPU that arrives on a CPU later finds the
// change at its arrival.
func (v *VM) invalidate() {
	var set uint64
	for _, c := range v.vcpus {
		if at, ok := c.ctx.ActiveCPU(); ok {
			set |= 1 << at
		}
	}
	eptp := v.ept.Pointer()
	syscall.InKernel(func() {
		cpu.Invept(cpu.InveptSingleContext, eptp)
		kernel.RemoteInvept(set, eptp)
	})
}

// Unmap removes the region at addr.
func (v *VM) Unmap(addr uint64) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return sandbox.ErrClosed
	}
	for i, r := range v.regions {
		if r.gpa == addr {
			syscall.InKernel(func() {
				for _, c := range r.chunks {
					v.ept.SetPerm(c.gpa, 0)
				}
			})
			v.invalidate()
			v.unmapRegion(r)
			v.regions = append(v.regions[:i], v.regions[i+1:]...)
			v.used -= r.size
			return nil
		}
	}
	return fmt.Errorf("level 4: no region at %#x", addr)
}

// Protect changes the EPT permission of the region at addr.
func (v *VM) Protect(addr uint64, p sandbox.Perm) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return sandbox.ErrClosed
	}
	for _, r := range v.regions {
		if r.gpa == addr {
			perm := eptPerm(p)
			syscall.InKernel(func() {
				for _, c := range r.chunks {
					v.ept.SetPerm(c.gpa, perm)
				}
			})
			v.invalidate()
			r.perm = p
			return nil
		}
	}
	return fmt.Errorf("level 4: no region at %#x", addr)
}

func (v *VM) find(gpa uint64) *region {
	i := sort.Search(len(v.regions), func(i int) bool { return v.regions[i].end() > gpa })
	if i < len(v.regions) && v.regions[i].gpa <= gpa {
		return v.regions[i]
	}
	return nil
}

// PermAt is the permission of the guest-physical page at addr.
func (v *VM) PermAt(addr uint64) (sandbox.Perm, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if r := v.find(addr); r != nil {
		return r.perm, true
	}
	return 0, false
}

// IsRAM reports whether gpa is guest RAM.
func (v *VM) IsRAM(gpa uint64) bool {
	_, ok := v.PermAt(gpa)
	return ok
}

// AddressRange is the guest-physical address space EPT maps.
func (v *VM) AddressRange() (lo, hi uint64) { return 0, 1 << mm.GuestPhysBits }

// RegionAddrs lists the regions' guest-physical addresses in order.
func (v *VM) RegionAddrs() []uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []uint64
	for _, r := range v.regions {
		out = append(out, r.gpa)
	}
	return out
}

// ReadMemory and WriteMemory copy from and to guest-physical RAM; the
// range must lie in RAM (it may span adjacent regions).
func (v *VM) ReadMemory(addr uint64, b []byte) error  { return v.copy(addr, b, false) }
func (v *VM) WriteMemory(addr uint64, b []byte) error { return v.copy(addr, b, true) }

// WriteAt is WriteMemory in the shape of the multiboot loader's Memory.
func (v *VM) WriteAt(p []byte, gpa uint64) error { return v.WriteMemory(gpa, p) }

// ReadPhys is ReadMemory in the shape of the MMIO decoder's PhysReader.
func (v *VM) ReadPhys(p []byte, gpa uint64) error { return v.ReadMemory(gpa, p) }

func (v *VM) copy(addr uint64, b []byte, in bool) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return sandbox.ErrClosed
	}
	if !v.copyLocked(addr, b, in) {
		return fmt.Errorf("level 4: guest-physical range [%#x, +%#x) is not all RAM", addr, len(b))
	}
	return nil
}

// copyLocked copies through the direct map, chunk by chunk; false if
// some byte is outside RAM (nothing is copied then).
func (v *VM) copyLocked(addr uint64, b []byte, in bool) bool {
	end := addr + uint64(len(b))
	if end < addr {
		return false
	}
	for a := addr; a < end; {
		r := v.find(a)
		if r == nil {
			return false
		}
		a = r.end()
	}
	for len(b) > 0 {
		r := v.find(addr)
		i := sort.Search(len(r.chunks), func(i int) bool {
			c := r.chunks[i]
			size := uint64(mm.PageSize)
			if c.large {
				size = mm.LargePageSize
			}
			return c.gpa+size > addr
		})
		c := r.chunks[i]
		size := uint64(mm.PageSize)
		if c.large {
			size = mm.LargePageSize
		}
		off := addr - c.gpa
		mem := unsafe.Slice((*byte)(unsafe.Pointer(mm.PhysAddr(c.hpa+off))), size-off)
		var n int
		if in {
			n = copy(mem, b)
		} else {
			n = copy(b, mem)
		}
		b = b[n:]
		addr += uint64(n)
	}
	return true
}

// Close stops the VM and frees everything it holds; a vCPU running in
// another goroutine makes it return ErrRunning (that Run's next exit
// checks for a close and returns ExitKilled).
func (v *VM) Close() error {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return sandbox.ErrClosed
	}
	for _, c := range v.vcpus {
		if c.running.Load() {
			c.Interrupt()
			v.mu.Unlock()
			return sandbox.ErrRunning
		}
	}
	v.closed = true
	v.mu.Unlock()
	v.release()
	live.Lock()
	delete(live.vms, v)
	live.Unlock()
	return nil
}

// release undoes New in reverse order of acquisition.
func (v *VM) release() {
	for _, c := range v.vcpus {
		c.release()
	}
	v.vcpus = nil
	if v.ept.Root != 0 {
		v.invalidate()
	}
	for _, r := range v.regions {
		v.unmapRegion(r)
	}
	v.regions = nil
	v.used = 0
	if v.ept.Root != 0 {
		syscall.InKernel(func() {
			held-- // the root; the other tables are not counted (mm tests Destroy)
			v.ept.Destroy()
		})
	}
}

// budgetTicks is the Run budget in TSC ticks.
func (v *VM) budgetTicks() uint64 {
	return uint64(v.cfg.Budget/time.Microsecond) * kernel.TSCFrequency() / 1_000_000
}

// HostTSC converts a value of the guest's TSC to the host's.
func (v *VM) HostTSC(guest uint64) uint64 { return guest - v.tscOffset }
