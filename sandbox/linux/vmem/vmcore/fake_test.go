package vmcore

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
)

// fake is an in-memory guest with the sandbox's region rules: whole
// regions only, page-aligned, no overlap, W^X, at most maxRegions,
// demand-zero contents, a memory limit.
type fake struct {
	regions                               []*fregion
	maxRegions                            int
	limit                                 uint64
	used                                  uint64
	forbidden                             [][2]uint64 // ranges Map refuses (another owner's)
	maps, unmaps, protects, reads, writes int
}

type fregion struct {
	addr, size uint64
	perm       uint8
	pages      map[uint64][]byte // page offset -> contents (absent: zero)
}

func newFake() *fake { return &fake{maxRegions: 1024, limit: 1 << 40} }

func (f *fake) find(addr uint64) *fregion {
	i := sort.Search(len(f.regions), func(i int) bool { return f.regions[i].addr+f.regions[i].size > addr })
	if i < len(f.regions) && f.regions[i].addr <= addr {
		return f.regions[i]
	}
	return nil
}

func (f *fake) Map(r Region) (uint64, error) {
	size := (r.Size + 4095) &^ 4095
	switch {
	case size == 0 || uint64(len(r.Data)) > size:
		return 0, errors.New("fake: bad size")
	case r.Perm&PermWrite != 0 && r.Perm&PermExec != 0:
		return 0, errors.New("fake: W^X")
	case len(f.regions) >= f.maxRegions:
		return 0, errors.New("fake: too many regions")
	case r.Addr == 0 || r.Addr&4095 != 0 || r.Addr+size > 1<<47-4096 || r.Addr+size < r.Addr:
		return 0, errors.New("fake: bad address")
	case f.used+size > f.limit:
		return 0, errors.New("fake: memory limit")
	}
	for _, g := range f.forbidden {
		if r.Addr < g[1] && g[0] < r.Addr+size {
			return 0, errors.New("fake: forbidden")
		}
	}
	for _, o := range f.regions {
		if r.Addr < o.addr+o.size && o.addr < r.Addr+size {
			return 0, errors.New("fake: overlap")
		}
	}
	n := &fregion{addr: r.Addr, size: size, perm: r.Perm, pages: map[uint64][]byte{}}
	f.regions = append(f.regions, n)
	sort.Slice(f.regions, func(i, j int) bool { return f.regions[i].addr < f.regions[j].addr })
	f.used += size
	f.maps++
	if len(r.Data) > 0 {
		f.writes--
		return r.Addr, f.WriteMemory(r.Addr, r.Data)
	}
	return r.Addr, nil
}

func (f *fake) Unmap(addr uint64) error {
	for i, r := range f.regions {
		if r.addr == addr {
			f.regions = append(f.regions[:i], f.regions[i+1:]...)
			f.used -= r.size
			f.unmaps++
			return nil
		}
	}
	return fmt.Errorf("fake: no region at %#x", addr)
}

func (f *fake) Protect(addr uint64, p uint8) error {
	r := f.find(addr)
	if r == nil || r.addr != addr {
		return fmt.Errorf("fake: no region at %#x", addr)
	}
	if p&PermWrite != 0 && p&PermExec != 0 {
		return errors.New("fake: W^X")
	}
	r.perm = p
	f.protects++
	return nil
}

func (f *fake) copy(addr uint64, b []byte, in bool) error {
	if addr+uint64(len(b)) < addr {
		return errors.New("fake: wrap")
	}
	for off := uint64(0); off < uint64(len(b)); {
		a := addr + off
		r := f.find(a)
		if r == nil {
			return fmt.Errorf("fake: %#x not mapped", a)
		}
		po := (a - r.addr) &^ 4095
		in0 := (a - r.addr) & 4095
		n := min(uint64(len(b))-off, 4096-in0)
		pg := r.pages[po]
		if in {
			if pg == nil {
				pg = make([]byte, 4096)
				r.pages[po] = pg
			}
			copy(pg[in0:], b[off:off+n])
		} else if pg == nil {
			clear(b[off : off+n])
		} else {
			copy(b[off:off+n], pg[in0:])
		}
		off += n
	}
	return nil
}

func (f *fake) ReadMemory(addr uint64, b []byte) error {
	f.reads++
	return f.copy(addr, b, false)
}

func (f *fake) WriteMemory(addr uint64, b []byte) error {
	f.writes++
	return f.copy(addr, b, true)
}

// page returns the contents of the page at addr (nil if unmapped).
func (f *fake) page(addr uint64) []byte {
	r := f.find(addr)
	if r == nil {
		return nil
	}
	b := make([]byte, 4096)
	if pg := r.pages[addr-r.addr]; pg != nil {
		copy(b, pg)
	}
	return b
}

// memSource is a file.
type memSource struct {
	name string
	data []byte
	mode int
}

func (m *memSource) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(m.data)) {
		return 0, errors.New("EOF")
	}
	n := copy(p, m.data[off:])
	if n < len(p) {
		return n, errors.New("EOF")
	}
	return n, nil
}
func (m *memSource) Size() int64     { return int64(len(m.data)) }
func (m *memSource) Name() string    { return m.name }
func (m *memSource) AccessMode() int { return m.mode }
func (m *memSource) bytesAt(off int) []byte {
	b := make([]byte, 4096)
	if off < len(m.data) {
		copy(b, m.data[off:])
	}
	return b
}

var _ = bytes.Equal
