package sandbox

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"beelzebox/cpu"
	"beelzebox/mm"
	"beelzebox/syscall"
)

// Protection keys (SDM Vol. 3A §4.6.2). A user page carries a 4-bit key in
// its PTE; PKRU holds two bits per key, AD (access disable) and WD (write
// disable), checked on every data access to user pages. Key 0 is what
// every page has by default and stays the kernel's: the host's own user
// pages keep it, and no guest PKRU allows it. Keys 1-15 are handed out
// here: one per separated level 2 guest, one per KeyGroup, one per
// SharedRegion.
//
// PKRU is written only with WRPKRU, by the entry and exit code (see
// cpu.UserContext); XCR0 does not enable the PKRU state component, so no
// XRSTOR ever loads it (cpu/xsave.go says why).

const numKeys = 16

var keys struct {
	sync.Mutex
	used [numKeys]bool
}

// errNoKeys is the error of the 16th separated guest.
var errNoKeys = errors.New("sandbox: level 2: no protection key left: all 15 keys (1-15; key 0 is the kernel's) are in use by other guests, groups or shared regions; put guests that need no separation in a KeyGroup")

func allocKey() (int, error) {
	keys.Lock()
	defer keys.Unlock()
	for k := 1; k < numKeys; k++ {
		if !keys.used[k] {
			keys.used[k] = true
			return k, nil
		}
	}
	return 0, errNoKeys
}

func freeKey(k int) {
	keys.Lock()
	keys.used[k] = false
	keys.Unlock()
}

// KeysInUse is how many of the 15 guest keys are taken.
func KeysInUse() int {
	keys.Lock()
	defer keys.Unlock()
	n := 0
	for _, u := range keys.used[1:] {
		if u {
			n++
		}
	}
	return n
}

// KeyGroup is a set of level 2 guests that share one protection key:
// they are protected from the host and from other guests, not from each
// other.
type KeyGroup struct {
	mu   sync.Mutex
	key  int
	refs int
}

// NewKeyGroup returns an empty group; its key is taken by its first guest.
func NewKeyGroup() *KeyGroup { return &KeyGroup{} }

func (g *KeyGroup) acquire() (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.refs == 0 {
		k, err := allocKey()
		if err != nil {
			return 0, err
		}
		g.key = k
	}
	g.refs++
	return g.key, nil
}

func (g *KeyGroup) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.refs--; g.refs == 0 {
		freeKey(g.key)
		g.key = 0
	}
}

// pkruAllowing returns the PKRU value that denies every key except the
// read-write keys rw and the read-only keys ro. A denied key gets AD (no
// data access) without WD: with AD set, WD changes nothing on a real CPU,
// and leaving it clear keeps Bochs 2.7 working, which wrongly applies WD
// of key 0 to the kernel's own supervisor pages, so that the CPU could not
// even push the exception frame when the guest is interrupted.
func pkruAllowing(rw []int, ro []int) uint32 {
	v := uint32(0x55555555) // AD for every key
	for _, k := range rw {
		v &^= 3 << (2 * k)
	}
	for _, k := range ro {
		v = v&^(3<<(2*k)) | 2<<(2*k) // WD only
	}
	return v
}

// checkPKU returns the error of a level 2 request on a CPU without PKU.
//
// It also refuses a CPU that does not declare itself immune to rogue data
// cache load (Meltdown): level 2 runs guests on the kernel's page tables,
// which map all of memory, and such a CPU lets them read it speculatively
// whatever the protection keys say (README, security notes).
func checkPKU() error {
	if !cpu.CPU.PKU {
		return errors.New("sandbox: level 2 needs protection keys (CPUID.(EAX=7,ECX=0):ECX.PKU[bit 3]), which this CPU does not have")
	}
	if cpu.CPU.Exposed(cpu.Meltdown) {
		return errors.New("sandbox: level 2 cannot separate guests on this CPU: it does not declare itself immune to rogue data cache load (Meltdown, CVE-2017-5754; IA32_ARCH_CAPABILITIES.RDCL_NO clear), and level 2 guests run on page tables that map all of memory")
	}
	return nil
}

// SharedRegion is host memory placed at a user address with a protection
// key of its own; guests get access by naming it in Config.Shared. At
// level 1 every guest can reach it anyway: that is what level 1 means.
// The host uses Bytes, a kernel view of the same frames in the upper
// half: kernel code never touches user pages (the kernel can run with
// SMAP), and the view does not depend on PKRU.
type SharedRegion struct {
	reg            region
	owner          *owner
	key            int
	viewLo, viewHi uintptr
	bytes          []byte
	mu             sync.Mutex
	users          int // guests created with access to it and not closed yet
}

// use records a guest that is given access; it fails once the region is
// closed.
func (s *SharedRegion) use() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bytes == nil {
		return fmt.Errorf("sandbox: shared region %q is closed", s.reg.name)
	}
	s.users++
	return nil
}

func (s *SharedRegion) unuse() {
	s.mu.Lock()
	s.users--
	s.mu.Unlock()
}

// NewSharedRegion allocates size bytes (rounded up to pages) of host
// memory that guests can be given access to. It takes a slot of the
// guest window of its own.
func NewSharedRegion(name string, size uint64) (*SharedRegion, error) {
	size = (size + mm.PageSize - 1) &^ (mm.PageSize - 1)
	if size == 0 || size > slotSize/2 {
		return nil, fmt.Errorf("sandbox: shared region %q: bad size %d", name, size)
	}
	s := &SharedRegion{owner: &owner{name: fmt.Sprintf("shared region %q", name)}}
	if cpu.CPU.PKU {
		k, err := allocKey()
		if err != nil {
			return nil, err
		}
		s.key = k
	}
	base, err := takeSlot(s.owner)
	if err == nil {
		s.reg = region{name: name, addr: base + mm.PageSize, size: size, perm: Read | Write, cost: size + pageTableCost(base+mm.PageSize, size)}
		err = claim(s.owner, name, s.reg.addr, s.reg.end())
	}
	if err == nil {
		if err = mapPages(&s.reg, s.key); err != nil {
			unclaim(s.reg.addr)
		}
	}
	if err == nil {
		ok := false
		syscall.InKernel(func() { s.viewLo, s.viewHi, ok = mm.MapKernelView(s.reg.frames) })
		if !ok {
			unmapPages(&s.reg)
			unclaim(s.reg.addr)
			err = fmt.Errorf("sandbox: shared region %q: out of memory for its kernel view", name)
		}
	}
	if err != nil {
		giveSlots(s.owner)
		if s.key != 0 {
			freeKey(s.key)
		}
		return nil, err
	}
	s.bytes = unsafe.Slice((*byte)(unsafe.Pointer(s.viewLo)), size)
	return s, nil
}

// Addr is the region's user address, the same for the host and guests.
func (s *SharedRegion) Addr() uint64 { return s.reg.addr }

// Bytes is the region as host memory (the kernel view).
func (s *SharedRegion) Bytes() []byte { return s.bytes }

// Key is the region's protection key (0 without PKU).
func (s *SharedRegion) Key() int { return s.key }

// Close frees the region. It refuses while guests that were given the
// region are open: its key would go back to the pool while their PKRU
// still opens it, and the next owner of the key would be exposed to them.
func (s *SharedRegion) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bytes == nil {
		return nil
	}
	if s.users > 0 {
		return fmt.Errorf("sandbox: shared region %q is still given to %d open guests", s.reg.name, s.users)
	}
	s.bytes = nil
	syscall.InKernel(func() { mm.UnmapKernelView(s.viewLo, s.viewHi) })
	unmapPages(&s.reg)
	unclaim(s.reg.addr)
	giveSlots(s.owner)
	if s.key != 0 {
		freeKey(s.key)
	}
	return nil
}
