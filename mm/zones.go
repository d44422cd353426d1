package mm

// The owner record of the kernel's address space: every range belongs to
// exactly one owner, fixed at boot. The Go runtime places its mappings
// only inside its own zones (Anon refuses anything else), and the sandbox
// places guests only inside the guest zones, which it subdivides between
// guests itself (sandbox/space). So the runtime's mmap, with or without
// a hint or MAP_FIXED, can never return memory a guest holds, a guest can
// never be placed over the kernel or the runtime, and guest regions never
// take entries of the runtime's range table.

// Owner is who a zone belongs to.
type Owner uint8

const (
	OwnerNobody  Owner = iota // never mapped (null pointers fault)
	OwnerKernel               // the kernel image, devices, the upper half
	OwnerRuntime              // the Go runtime's anonymous memory
	OwnerGuests               // sandbox guests, divided by the sandbox
)

// Zone is a range of the address space and its owner.
type Zone struct {
	Start, End uintptr
	Owner      Owner
	Name       string
}

// GuestLowLo is the start of the low guest area (below it: the null
// guard, like Linux's vm.mmap_min_addr); the area ends at the kernel
// image.
const GuestLowLo = 0x10000

// zones covers the address space in ascending order; the image bounds
// are filled in by setZones at boot (the defaults are the link address).
var zones = [...]Zone{
	{0, GuestLowLo, OwnerNobody, "the null-pointer guard"},
	{GuestLowLo, 16 << 20, OwnerGuests, "the low guest area"},
	{16 << 20, 16 << 20, OwnerKernel, "the kernel image"},
	{16 << 20, RuntimeLo, OwnerKernel, "the kernel's device registers (MMIO) below 4 GiB"},
	{RuntimeLo, GuestWindowLo, OwnerRuntime, "the Go runtime's unhinted mappings"},
	{GuestWindowLo, GuestWindowHi, OwnerGuests, "the guest window"},
	{GuestWindowHi, userTop, OwnerRuntime, "the Go runtime's heap arenas (hinted mappings)"},
	{userTop, PhysBase, OwnerNobody, "the non-canonical hole"},
	{PhysBase, ^uintptr(0), OwnerKernel, "the kernel's upper half (direct map, kernel stacks, kernel views)"},
}

// Indexes of the zones whose bounds depend on the image.
const (
	zoneLowGuests = 1
	zoneImage     = 2
	zoneDevices   = 3
)

// setZones records the kernel image [start, end) (page-aligned).
func setZones(start, end uintptr) {
	zones[zoneLowGuests].End = start
	zones[zoneImage].Start, zones[zoneImage].End = start, end
	zones[zoneDevices].Start = end
}

// Zones returns the owner record.
func Zones() []Zone { return zones[:] }

// ForeignZone returns the first zone overlapping [start, end) that is not
// owned by owner, if there is one. A range that passes lies inside zones
// of owner (the zones of one owner are never adjacent, so inside one).
func ForeignZone(start, end uintptr, owner Owner) (Zone, bool) {
	for _, z := range zones {
		if z.Start < end && start < z.End && z.Owner != owner {
			return z, true
		}
	}
	return Zone{}, false
}
