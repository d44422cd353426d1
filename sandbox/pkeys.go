package sandbox

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"beelzebox/cpu"
	"beelzebox/mm"
	"beelzebox/sandbox/space"
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

// AllocKey takes a free guest key (for backends: a separated level 2
// guest's key).
func AllocKey() (int, error) {
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

// FreeKey gives a key taken with AllocKey back.
func FreeKey(k int) {
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

// Acquire returns the group's key for a new member, taking a key when it
// is the first (for backends, at guest creation).
func (g *KeyGroup) Acquire() (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.refs == 0 {
		k, err := AllocKey()
		if err != nil {
			return 0, err
		}
		g.key = k
	}
	g.refs++
	return g.key, nil
}

// Release counts a closed member out; the last gives the key back.
func (g *KeyGroup) Release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.refs--; g.refs == 0 {
		FreeKey(g.key)
		g.key = 0
	}
}

// SharedRegion is host memory placed at a user address with a protection
// key of its own; guests get access by naming it in Config.Shared. At
// level 1 every guest can reach it anyway: that is what level 1 means.
// The host uses Bytes, a kernel view of the same frames in the upper
// half: kernel code never touches user pages (the kernel can run with
// SMAP), and the view does not depend on PKRU.
type SharedRegion struct {
	pages          space.Pages
	owner          *space.Owner
	key            int
	viewLo, viewHi uintptr
	bytes          []byte
	mu             sync.Mutex
	users          int // guests created with access to it and not closed yet
}

// Frames returns a copy of the region's physical frames, one per page
// (for backends that map the region into address spaces of their own).
func (s *SharedRegion) Frames() []uint64 { return append([]uint64(nil), s.pages.Frames()...) }

// Use records a guest that is given access (for backends, at guest
// creation); it fails once the region is closed. The region cannot close
// until every guest that uses it calls Unuse.
func (s *SharedRegion) Use() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bytes == nil {
		return fmt.Errorf("sandbox: shared region %q is closed", s.pages.Name)
	}
	s.users++
	return nil
}

// Unuse counts a closed guest out.
func (s *SharedRegion) Unuse() {
	s.mu.Lock()
	s.users--
	s.mu.Unlock()
}

// NewSharedRegion allocates size bytes (rounded up to pages) of host
// memory that guests can be given access to. It takes a slot of the
// guest window of its own.
func NewSharedRegion(name string, size uint64) (*SharedRegion, error) {
	size = (size + mm.PageSize - 1) &^ (mm.PageSize - 1)
	if size == 0 || size > space.SlotSize/2 {
		return nil, fmt.Errorf("sandbox: shared region %q: bad size %d", name, size)
	}
	s := &SharedRegion{owner: space.NamedOwner(fmt.Sprintf("shared region %q", name))}
	if cpu.CPU.PKU {
		k, err := AllocKey()
		if err != nil {
			return nil, err
		}
		s.key = k
	}
	base, err := space.TakeSlot(s.owner)
	if err == nil {
		s.pages = space.NewPages(name, base+mm.PageSize, size)
		err = space.Claim(s.owner, name, s.pages.Addr, s.pages.End())
	}
	if err == nil {
		if err = s.pages.Map(mm.PermRead|mm.PermWrite, s.key); err != nil {
			space.Unclaim(s.pages.Addr)
		}
	}
	if err == nil {
		ok := false
		syscall.InKernel(func() { s.viewLo, s.viewHi, ok = mm.MapKernelView(s.pages.Frames()) })
		if !ok {
			s.pages.Unmap()
			space.Unclaim(s.pages.Addr)
			err = fmt.Errorf("sandbox: shared region %q: out of memory for its kernel view", name)
		}
	}
	if err != nil {
		space.GiveSlots(s.owner)
		if s.key != 0 {
			FreeKey(s.key)
		}
		return nil, err
	}
	s.bytes = unsafe.Slice((*byte)(unsafe.Pointer(s.viewLo)), size)
	return s, nil
}

// Addr is the region's user address, the same for the host and guests.
func (s *SharedRegion) Addr() uint64 { return s.pages.Addr }

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
		return fmt.Errorf("sandbox: shared region %q is still given to %d open guests", s.pages.Name, s.users)
	}
	s.bytes = nil
	syscall.InKernel(func() { mm.UnmapKernelView(s.viewLo, s.viewHi) })
	s.pages.Unmap()
	space.Unclaim(s.pages.Addr)
	space.GiveSlots(s.owner)
	if s.key != 0 {
		FreeKey(s.key)
	}
	return nil
}
