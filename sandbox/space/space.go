// Package space is the guest zones of the kernel's address space, which
// the sandbox's levels 1 and 2 and its shared regions live in: who owns
// which range (the owner record), and the frames behind user pages. It
// is for the sandbox and its backends; hosts use package sandbox.
//
// mm owns every zone of the address space wholesale (mm/zones.go) and
// gives the guest zones (the low guest area below the kernel image and
// the guest window) to the sandbox, which divides them here between
// owners: each guest and each shared region. A placement is refused, with
// the range and its owner named, when it
//   - reaches outside the guest zones (the kernel, the Go runtime),
//   - lies in a 1 GiB slot of the guest window another owner holds (a
//     free slot becomes the placing owner's),
//   - overlaps any region, or comes within a page of a region of another
//     owner: an unmapped guard page separates owners, so no instruction
//     can span the memory of two guests.
package space

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	"beelzebox/mm"
)

// SlotSize is the unit in which the guest window is handed out.
const SlotSize = 1 << 30

// Owner is a guest or a shared region.
type Owner struct{ name string }

var ownerSerial struct {
	sync.Mutex
	n int
}

// NewOwner returns an owner named for error messages ("guest 3").
func NewOwner(kind string) *Owner {
	ownerSerial.Lock()
	defer ownerSerial.Unlock()
	ownerSerial.n++
	return &Owner{name: fmt.Sprintf("%s %d", kind, ownerSerial.n)}
}

// NamedOwner returns an owner with the name given ("shared region "x"").
func NamedOwner(name string) *Owner { return &Owner{name: name} }

// placement is a region recorded in the space.
type placement struct {
	start, end uint64
	name       string
	owner      *Owner
}

var space struct {
	sync.Mutex
	slots  [(mm.GuestWindowHi - mm.GuestWindowLo) / SlotSize]*Owner // nil: free
	placed []placement                                              // sorted by start
}

// slotIndexes returns the slots [first, last] that [start, end) touches,
// or ok=false outside the guest window.
func slotIndexes(start, end uint64) (first, last int, ok bool) {
	if start < mm.GuestWindowLo || end > mm.GuestWindowHi {
		return 0, 0, false
	}
	return int((start - mm.GuestWindowLo) / SlotSize), int((end - 1 - mm.GuestWindowLo) / SlotSize), true
}

func slotBase(i int) uint64 { return mm.GuestWindowLo + uint64(i)*SlotSize }

// Claim records [start, end) as region name of o, or says why it cannot
// be placed there.
func Claim(o *Owner, name string, start, end uint64) error {
	space.Lock()
	defer space.Unlock()
	what := fmt.Sprintf("sandbox: region %q [%#x, %#x)", name, start, end)
	if z, found := mm.ForeignZone(uintptr(start), uintptr(end), mm.OwnerGuests); found {
		return fmt.Errorf("%s collides with %s [%#x, %#x): guests are placed only in the low guest area and the guest window", what, z.Name, uint64(z.Start), uint64(z.End))
	}
	first, last, inWindow := slotIndexes(start, end)
	if inWindow {
		for i := first; i <= last; i++ {
			if s := space.slots[i]; s != nil && s != o {
				return fmt.Errorf("%s collides with the slot [%#x, %#x) of %s", what, slotBase(i), slotBase(i)+SlotSize, s.name)
			}
		}
	}
	at := sort.Search(len(space.placed), func(i int) bool { return space.placed[i].end+mm.PageSize > start })
	for _, p := range space.placed[at:] {
		if p.start >= end+mm.PageSize {
			break
		}
		if p.start < end && start < p.end {
			return fmt.Errorf("%s collides with region %q [%#x, %#x) of %s", what, p.name, p.start, p.end, p.owner.name)
		}
		if p.owner != o {
			return fmt.Errorf("%s would touch region %q [%#x, %#x) of %s: regions of different owners keep an unmapped guard page between them", what, p.name, p.start, p.end, p.owner.name)
		}
	}
	if inWindow {
		for i := first; i <= last; i++ {
			space.slots[i] = o
		}
	}
	at = sort.Search(len(space.placed), func(i int) bool { return space.placed[i].start > start })
	space.placed = append(space.placed, placement{})
	copy(space.placed[at+1:], space.placed[at:])
	space.placed[at] = placement{start: start, end: end, name: name, owner: o}
	return nil
}

// Unclaim forgets the region that starts at start. Its slots stay with
// the owner until GiveSlots.
func Unclaim(start uint64) {
	space.Lock()
	defer space.Unlock()
	at := sort.Search(len(space.placed), func(i int) bool { return space.placed[i].start >= start })
	if at < len(space.placed) && space.placed[at].start == start {
		space.placed = append(space.placed[:at], space.placed[at+1:]...)
	}
}

// errWindowFull is the error of the owner that finds no free slot.
var errWindowFull = errors.New("sandbox: guest address window is full")

// TakeSlot gives o a free slot and returns its base.
func TakeSlot(o *Owner) (uint64, error) { return TakeSlots(o, 1) }

// TakeSlots gives o n consecutive slots and returns the first's base.
func TakeSlots(o *Owner, n int) (uint64, error) {
	space.Lock()
	defer space.Unlock()
	run := 0
	for i, s := range space.slots {
		if s != nil {
			run = 0
			continue
		}
		if run++; run == n {
			for j := i - n + 1; j <= i; j++ {
				space.slots[j] = o
			}
			return slotBase(i - n + 1), nil
		}
	}
	return 0, errWindowFull
}

// GiveSlots frees every slot o holds.
func GiveSlots(o *Owner) {
	space.Lock()
	defer space.Unlock()
	for i, s := range space.slots {
		if s == o {
			space.slots[i] = nil
		}
	}
}
