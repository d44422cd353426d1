package mm

// EPT is an extended-page-table tree (SDM Vol. 3C §29.3): the guest-
// physical address space of a virtual machine. Its entries are not PTEs:
// an entry is present when any of read, write and execute is allowed,
// leaves carry a memory type, and bit 7 makes a 2 MiB leaf in a
// page-directory entry (SDM Vol. 3C tables 29-1 to 29-6). It uses 4
// levels and maps guest-physical addresses below 1<<GuestPhysBits.
type EPT struct {
	Root   uint64
	Mem    TableMemory
	Tables int // table pages allocated, the root excluded
}

// EPT entry bits.
const (
	EPTRead      = 1 << 0
	EPTWrite     = 1 << 1
	EPTExec      = 1 << 2
	eptPerms     = EPTRead | EPTWrite | EPTExec
	eptMemTypeWB = 6 << 3 // leaf memory type (bits 5:3): write-back
	eptLarge     = 1 << 7 // PDE: maps a 2 MiB page
	eptAddr      = 0x000f_ffff_ffff_f000
)

// GuestPhysBits bounds guest-physical addresses: 4 levels translate 48 bits.
const GuestPhysBits = 48

// NewEPT allocates an empty tree.
func NewEPT(mem TableMemory) (*EPT, error) {
	e := &EPT{Mem: mem}
	if err := e.Init(); err != 0 {
		return nil, err
	}
	return e, nil
}

// Init allocates the root of an empty tree (e.Mem set). It does not
// allocate Go memory (handler context).
func (e *EPT) Init() Error {
	root, ok := e.Mem.NewTable()
	if !ok {
		return ErrNoMemory
	}
	e.Root = root
	return 0
}

// Pointer is the EPTP: the root, write-back paging structures, a 4-level
// walk (bits 5:3 = 3), no accessed and dirty flags (SDM Vol. 3C §25.6.11).
func (e *EPT) Pointer() uint64 { return e.Root | 6 | 3<<3 }

func eptIndex(gpa uint64, level int) int { return int(gpa>>(12+9*(level-1))) & 511 }

// entry returns the entry for gpa at level stop (1: 4 KiB leaf, 2: 2 MiB
// leaf), creating tables on the way when create is set. It fails with
// ErrHugeInWay when a 2 MiB leaf covers gpa above stop.
func (e *EPT) entry(gpa uint64, stop int, create bool) (*PTE, error) {
	if gpa>>GuestPhysBits != 0 {
		return nil, ErrNotCanonical
	}
	t := e.Mem.Table(e.Root)
	for level := 4; level > stop; level-- {
		ent := &t[eptIndex(gpa, level)]
		if *ent&eptPerms == 0 {
			if !create {
				return nil, ErrNotMapped
			}
			pa, ok := e.Mem.NewTable()
			if !ok {
				return nil, ErrNoMemory
			}
			e.Tables++
			*ent = PTE(pa | eptPerms)
		} else if *ent&eptLarge != 0 {
			return nil, ErrHugeInWay
		}
		t = e.Mem.Table(uint64(*ent) & eptAddr)
	}
	return &t[eptIndex(gpa, stop)], nil
}

// Map maps the 4 KiB page at gpa to the frame at hpa with permissions
// perm (EPTRead|EPTWrite|EPTExec), write-back.
func (e *EPT) Map(gpa, hpa uint64, perm uint64) error {
	ent, err := e.entry(gpa, 1, true)
	if err != nil {
		return err
	}
	if *ent&eptPerms != 0 {
		return ErrMapped
	}
	*ent = PTE(hpa&eptAddr | perm&eptPerms | eptMemTypeWB)
	return nil
}

// MapLarge maps the 2 MiB page at gpa (aligned) to hpa (aligned).
func (e *EPT) MapLarge(gpa, hpa uint64, perm uint64) error {
	ent, err := e.entry(gpa, 2, true)
	if err != nil {
		return err
	}
	if *ent&eptPerms != 0 {
		return ErrMapped
	}
	*ent = PTE(hpa&eptAddr | perm&eptPerms | eptMemTypeWB | eptLarge)
	return nil
}

// Lookup returns the host-physical address gpa maps to and its
// permissions.
func (e *EPT) Lookup(gpa uint64) (hpa uint64, perm uint64, ok bool) {
	for _, stop := range []int{1, 2} {
		ent, err := e.entry(gpa, stop, false)
		if err == ErrHugeInWay {
			continue
		}
		if err != nil || *ent&eptPerms == 0 {
			return 0, 0, false
		}
		if stop == 2 {
			return uint64(*ent)&eptAddr | gpa&(LargePageSize-1), uint64(*ent) & eptPerms, true
		}
		return uint64(*ent)&eptAddr | gpa&(PageSize-1), uint64(*ent) & eptPerms, true
	}
	return 0, 0, false
}

// SetPerm changes the permissions of the page (4 KiB or 2 MiB) mapping
// gpa. The caller invalidates (INVEPT) before relying on the change.
func (e *EPT) SetPerm(gpa uint64, perm uint64) error {
	ent, err := e.entry(gpa, 1, false)
	if err == ErrHugeInWay {
		ent, err = e.entry(gpa, 2, false)
	}
	if err != nil {
		return err
	}
	if *ent&eptPerms == 0 {
		return ErrNotMapped
	}
	*ent = *ent&^eptPerms | PTE(perm&eptPerms)
	return nil
}

// Unmap removes the page (4 KiB or 2 MiB) mapping gpa and returns the
// frame it mapped. The caller invalidates (INVEPT) before freeing it.
func (e *EPT) Unmap(gpa uint64) (hpa uint64, large bool, err error) {
	ent, err := e.entry(gpa, 1, false)
	if err == ErrHugeInWay {
		ent, err = e.entry(gpa, 2, false)
		large = true
	}
	if err != nil {
		return 0, false, err
	}
	if *ent&eptPerms == 0 {
		return 0, false, ErrNotMapped
	}
	hpa = uint64(*ent) & eptAddr
	*ent = 0
	return hpa, large, nil
}

// Destroy frees every table, the root included; the leaves' frames are
// the caller's. The tree must not be in use by any CPU (INVEPT first).
func (e *EPT) Destroy() {
	e.free(e.Root, 4)
	e.Root = 0
}

func (e *EPT) free(pa uint64, level int) {
	if level > 1 {
		t := e.Mem.Table(pa)
		for i := range t {
			if t[i]&eptPerms != 0 && t[i]&eptLarge == 0 {
				child := uint64(t[i]) & eptAddr
				t[i] = 0
				e.free(child, level-1)
			}
		}
	}
	e.Mem.FreeTable(pa, 0)
	if level < 4 {
		e.Tables--
	}
}
