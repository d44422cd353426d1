// Package vmcore is the Linux memory-mapping semantics of package vmem
// (mmap, munmap, mprotect, mremap, brk, madvise, msync, mincore, mlock)
// over a guest that has whole regions only. It does not import package
// sandbox, so that it links in host tests (package sandbox reaches into
// the runtime); package vmem binds it to sandbox.Guest and re-exports it.
//
// A Space keeps a sorted list of mappings (vma). Each one is either
// backed, by exactly one guest region at exactly its range, or a
// reservation with no region, whose contents are implied: zero for
// anonymous memory, the file's bytes for a file mapping (zero past the
// end of the file). A mapping with any access is always backed;
// PROT_NONE memory is a reservation unless it had contents worth keeping
// when it lost its access. Changing part of a backed mapping (a partial
// munmap, mprotect, ...) splits its region by copying: the bytes that stay
// are read (only pages that are not zero are kept), the region is
// unmapped, and the pieces are mapped again and written. Whole mappings
// are unmapped and protected in place.
package vmcore

import (
	"bytes"
	"errors"
	"math"
	"sort"
	"sync"

	"beelzebox/linux"
	"golang.org/x/sys/unix"
)

const (
	pageSize = 4096
	pageMask = pageSize - 1
)

// Perm bits of a region, the values of sandbox.Perm.
const (
	PermRead  = 1
	PermWrite = 2
	PermExec  = 4
)

// Region is a guest region, as sandbox.Region.
type Region struct {
	Name string
	Addr uint64
	Size uint64
	Perm uint8
	Data []byte
}

// Guest is the region API of a guest (sandbox.Guest through package vmem).
type Guest interface {
	Map(r Region) (uint64, error)
	Unmap(addr uint64) error
	Protect(addr uint64, perm uint8) error
	ReadMemory(addr uint64, b []byte) error
	WriteMemory(addr uint64, b []byte) error
}

// Source is file data a private file mapping copies from.
type Source interface {
	ReadAt(p []byte, off int64) (int, error)
	Size() int64
	Name() string
}

// AccessMode is what a Source may also implement: the open file's access
// mode (O_RDONLY, O_WRONLY or O_RDWR). Without it a Source counts as
// opened read-only.
type AccessMode interface {
	AccessMode() int
}

// vma is one mapping.
type vma struct {
	start, end uint64
	prot       int // PROT_READ|PROT_WRITE|PROT_EXEC
	shared     bool
	growsdown  bool
	name       string
	src        Source // a file mapping: its contents come from src at off
	off        uint64 // file offset of start
	backed     bool   // a guest region is at [start, end)
}

func (v *vma) size() uint64 { return v.end - v.start }

// piece is v's attributes over [lo, hi).
func (v *vma) piece(lo, hi uint64) *vma {
	p := *v
	p.start, p.end = lo, hi
	if p.src != nil {
		p.off = v.off + (lo - v.start)
	}
	p.backed = false
	return &p
}

// compatible reports whether b, right after a, continues it: Linux would
// have one vma for both.
func compatible(a, b *vma) bool {
	return a.end == b.start && a.prot == b.prot && a.shared == b.shared && a.name == b.name &&
		a.src == b.src && a.growsdown == b.growsdown && (a.src == nil || a.off+a.size() == b.off)
}

// Space is a guest's memory map.
type Space struct {
	// Files, set by the host, gives the file of a descriptor for mmap:
	// EBADF for no such descriptor, ENODEV (EACCES) for one that cannot
	// be mapped.
	Files func(fd int) (Source, linux.Errno)
	// BrkLimit, if not 0, caps the heap's size (RLIMIT_DATA).
	BrkLimit uint64

	mu      sync.Mutex
	g       Guest
	lo, hi  uint64
	vmas    []*vma
	brkBase uint64
	lastErr error // the backend's last refusal (LastError)
	brk     uint64
	mapped  uint64 // bytes of backed mappings
}

// New manages g's mappings; mappings without a fixed address are placed
// in [lo, hi), top-down below hi.
func New(g Guest, lo, hi uint64) *Space {
	lo = max(pageUp(lo), linux.MmapMinAddr)
	hi = min(hi&^pageMask, linux.TaskSize)
	return &Space{g: g, lo: lo, hi: hi}
}

// Clone is the memory map of g, a copy of this space's guest whose
// regions are at the same addresses (a fork: sandbox's Duplicate): the
// same mappings, program break and placement window.
func (s *Space) Clone(g Guest) *Space {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &Space{Files: s.Files, BrkLimit: s.BrkLimit, g: g, lo: s.lo, hi: s.hi,
		brkBase: s.brkBase, brk: s.brk, mapped: s.mapped}
	c.vmas = make([]*vma, len(s.vmas))
	for i, v := range s.vmas {
		cv := *v
		c.vmas[i] = &cv
	}
	return c
}

func pageUp(x uint64) uint64 { return (x + pageMask) &^ pageMask }

// pageLen is length rounded up to pages; false if that overflows or
// passes the task size.
func pageLen(length uint64) (uint64, bool) {
	if length > linux.TaskSize {
		return 0, false
	}
	return pageUp(length), true
}

func perm(prot int) uint8 {
	var p uint8
	if prot&linux.PROT_READ != 0 {
		p |= PermRead
	}
	if prot&linux.PROT_WRITE != 0 {
		p |= PermWrite
	}
	if prot&linux.PROT_EXEC != 0 {
		p |= PermExec
	}
	return p
}

const rwx = linux.PROT_READ | linux.PROT_WRITE | linux.PROT_EXEC

func wx(prot int) bool {
	return prot&linux.PROT_WRITE != 0 && prot&linux.PROT_EXEC != 0
}

// Mapped is the number of bytes of guest regions the space holds.
func (s *Space) Mapped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mapped
}

// index is the first mapping that ends after addr.
func (s *Space) index(addr uint64) int {
	return sort.Search(len(s.vmas), func(i int) bool { return s.vmas[i].end > addr })
}

// overlapping lists the mappings that overlap [a, b).
func (s *Space) overlapping(a, b uint64) []*vma {
	var out []*vma
	for i := s.index(a); i < len(s.vmas) && s.vmas[i].start < b; i++ {
		out = append(out, s.vmas[i])
	}
	return out
}

func (s *Space) free(a, b uint64) bool {
	i := s.index(a)
	return i == len(s.vmas) || s.vmas[i].start >= b
}

// replace puts pieces (sorted, inside old's range) where old was.
func (s *Space) replace(old *vma, pieces []*vma) {
	i := s.index(old.start)
	if i >= len(s.vmas) || s.vmas[i] != old {
		panic("vmcore: mapping list out of order")
	}
	rest := append(append([]*vma(nil), pieces...), s.vmas[i+1:]...)
	s.vmas = append(s.vmas[:i], rest...)
}

func (s *Space) insert(v *vma) {
	i := s.index(v.start)
	s.vmas = append(s.vmas, nil)
	copy(s.vmas[i+1:], s.vmas[i:])
	s.vmas[i] = v
}

// page is a page of saved contents that is not zero.
type page struct {
	addr uint64
	data []byte
}

const chunkPages = 64

// save reads [a, b) of guest memory and keeps the pages that are not zero.
func (s *Space) save(a, b uint64) ([]page, error) {
	var out []page
	buf := make([]byte, min(b-a, chunkPages*pageSize))
	for c := a; c < b; {
		n := min(b-c, uint64(len(buf)))
		if err := s.g.ReadMemory(c, buf[:n]); err != nil {
			return nil, err
		}
		for o := uint64(0); o < n; o += pageSize {
			p := buf[o : o+pageSize]
			if !allZero(p) {
				out = append(out, page{c + o, bytes.Clone(p)})
			}
		}
		c += n
	}
	return out, nil
}

var zeroPage [pageSize]byte

func allZero(b []byte) bool {
	for len(b) >= pageSize {
		if !bytes.Equal(b[:pageSize], zeroPage[:]) {
			return false
		}
		b = b[pageSize:]
	}
	return bytes.Equal(b, zeroPage[:len(b)])
}

// restore writes the saved pages in [a, b), moved by delta, run by run.
func (s *Space) restore(pages []page, a, b, delta uint64) error {
	var run []byte
	var runAt uint64
	flush := func() error {
		if len(run) == 0 {
			return nil
		}
		err := s.g.WriteMemory(runAt+delta, run)
		run = run[:0]
		return err
	}
	for _, p := range pages {
		if p.addr < a || p.addr >= b {
			continue
		}
		if len(run) > 0 && runAt+uint64(len(run)) != p.addr || len(run) >= chunkPages*pageSize {
			if err := flush(); err != nil {
				return err
			}
		}
		if len(run) == 0 {
			runAt = p.addr
		}
		run = append(run, p.data...)
	}
	return flush()
}

func hasPages(pages []page, a, b uint64) bool {
	for _, p := range pages {
		if p.addr >= a && p.addr < b {
			return true
		}
	}
	return false
}

// fillFile writes v's file contents over [a, b) (inside v), zero past the
// end of the file (which the region already is).
func (s *Space) fillFile(v *vma, a, b uint64) error {
	if v.src == nil {
		return nil
	}
	size := v.src.Size()
	buf := make([]byte, min(b-a, chunkPages*pageSize))
	for c := a; c < b; {
		n := min(b-c, uint64(len(buf)))
		off := v.off + (c - v.start)
		if size <= 0 || off >= uint64(size) {
			break
		}
		m := min(n, uint64(size)-off)
		got, err := v.src.ReadAt(buf[:m], int64(off))
		if got > 0 {
			if werr := s.g.WriteMemory(c, buf[:got]); werr != nil {
				return werr
			}
		}
		if err != nil || uint64(got) < m {
			break // a short file: the rest stays zero
		}
		c += n
	}
	return nil
}

var errNoRegion = errors.New("vmcore: no region")

// back maps a region for v, with the saved pages (moved by delta) as its
// contents, or, when pages is nil and fresh is set, v's implied contents.
func (s *Space) back(v *vma, pages []page, delta uint64, fresh bool) error {
	content := hasPages(pages, v.start-delta, v.end-delta) || fresh && v.src != nil
	return s.mapRegion(v, content, func() error {
		if fresh {
			return s.fillFile(v, v.start, v.end)
		}
		return s.restore(pages, v.start-delta, v.end-delta, delta)
	})
}

// mapRegion maps a region for v and fills it: a region with content that
// ends up executable (or with no access) is mapped read-only, filled by
// the host, then given its permission (the level 2 scan waits for that).
func (s *Space) mapRegion(v *vma, content bool, fill func() error) error {
	final := perm(v.prot)
	initial := final
	if content && final&PermExec != 0 || final == 0 {
		initial = PermRead
	}
	name := v.name
	if name == "" {
		name = "mmap"
	}
	if _, err := s.g.Map(Region{Name: name, Addr: v.start, Size: v.size(), Perm: initial}); err != nil {
		s.lastErr = err
		return err
	}
	err := fill()
	if err == nil && initial != final {
		err = s.g.Protect(v.start, final)
	}
	if err != nil {
		s.lastErr = err
		s.g.Unmap(v.start)
		return err
	}
	v.backed = true
	s.mapped += v.size()
	return nil
}

// LastError is the backend's last refusal to map or protect memory,
// which the calls report as an errno: for the host's messages (a level 2
// code scan's finding, say).
func (s *Space) LastError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// backData maps a region for v with data as its first bytes, written in
// one piece.
func (s *Space) backData(v *vma, data []byte) error {
	return s.mapRegion(v, len(data) > 0, func() error {
		if len(data) == 0 {
			return nil
		}
		return s.g.WriteMemory(v.start, data)
	})
}

func (s *Space) unback(v *vma) {
	if v.backed {
		s.g.Unmap(v.start)
		v.backed = false
		s.mapped -= v.size()
	}
}

// reshape replaces old by pieces: mappings inside old's range, sorted,
// each keeping old's contents over its range (keep) or having its own
// implied contents. What no piece covers is unmapped. On failure old is as
// it was.
func (s *Space) reshape(old *vma, pieces []*vma, keep []bool) linux.Errno {
	if len(s.vmas)-1+len(pieces) > linux.MaxMapCount {
		return linux.ENOMEM
	}
	if !old.backed {
		var done []*vma
		for _, p := range pieces {
			if p.prot != 0 {
				if err := s.back(p, nil, 0, true); err != nil {
					for _, d := range done {
						s.unback(d)
					}
					return linux.ENOMEM
				}
				done = append(done, p)
			}
		}
		s.replace(old, pieces)
		return 0
	}
	// One piece over all of old with its contents: no copy.
	if len(pieces) == 1 && keep[0] && pieces[0].start == old.start && pieces[0].end == old.end {
		p := pieces[0]
		if p.prot != old.prot {
			if err := s.g.Protect(old.start, perm(p.prot)); err != nil {
				return linux.EACCES
			}
		}
		p.backed = true
		s.replace(old, pieces)
		return 0
	}
	saved, err := s.save(old.start, old.end)
	if err != nil {
		return linux.ENOMEM
	}
	s.unback(old)
	var done []*vma
	fail := func() linux.Errno {
		for _, d := range done {
			s.unback(d)
		}
		if s.back(old, saved, 0, false) != nil {
			// The region was there a moment ago: nothing the guest does
			// can take its place. Keep the records true if it happens.
			old.backed = false
		}
		return linux.ENOMEM
	}
	for i, p := range pieces {
		switch {
		case !keep[i]:
			if p.prot == 0 {
				continue
			}
			if s.back(p, nil, 0, true) != nil {
				return fail()
			}
		case p.prot == 0 && p.src == nil && !hasPages(saved, p.start, p.end):
			continue // zero and inaccessible: a reservation
		default:
			if s.back(p, saved, 0, false) != nil {
				return fail()
			}
		}
		done = append(done, p)
	}
	s.replace(old, pieces)
	return 0
}

// change applies fn to the part [a, b) of every mapping it overlaps:
// fn returns the new mapping for the part (nil: unmap it) and whether it
// keeps the contents. It stops at the first failure.
func (s *Space) change(a, b uint64, fn func(v, part *vma) (*vma, bool)) linux.Errno {
	for _, v := range s.overlapping(a, b) {
		lo, hi := max(a, v.start), min(b, v.end)
		mid, keep := fn(v, v.piece(lo, hi))
		if mid != nil && keep && mid.prot == v.prot && mid.name == v.name {
			continue // nothing changes
		}
		if mid == nil && lo == v.start && hi == v.end {
			s.unback(v)
			s.replace(v, nil)
			continue
		}
		var pieces []*vma
		var keeps []bool
		if v.start < lo {
			pieces, keeps = append(pieces, v.piece(v.start, lo)), append(keeps, true)
		}
		if mid != nil {
			pieces, keeps = append(pieces, mid), append(keeps, keep)
		}
		if hi < v.end {
			pieces, keeps = append(pieces, v.piece(hi, v.end)), append(keeps, true)
		}
		if e := s.reshape(v, pieces, keeps); e != 0 {
			return e
		}
	}
	return 0
}

func (s *Space) unmap(a, b uint64) linux.Errno {
	return s.change(a, b, func(*vma, *vma) (*vma, bool) { return nil, false })
}

// covered reports how far from a the mappings reach without a hole, up to b.
func (s *Space) covered(a, b uint64) uint64 {
	at := a
	for i := s.index(a); i < len(s.vmas) && at < b; i++ {
		if s.vmas[i].start > at {
			break
		}
		at = s.vmas[i].end
	}
	return min(at, b)
}

// place finds a free range of n bytes in [lo, hi), top-down (or
// bottom-up).
func (s *Space) place(n, lo, hi uint64, bottomUp bool) (uint64, bool) {
	if hi <= lo || hi-lo < n {
		return 0, false
	}
	if bottomUp {
		at := lo
		for i := s.index(lo); i < len(s.vmas); i++ {
			v := s.vmas[i]
			if v.start >= hi || v.start >= at && v.start-at >= n {
				break
			}
			at = max(at, v.end)
		}
		if at < hi && hi-at >= n {
			return at, true
		}
		return 0, false
	}
	end := hi
	i := sort.Search(len(s.vmas), func(i int) bool { return s.vmas[i].start >= hi }) - 1
	for ; ; i-- {
		gapLo := lo
		if i >= 0 {
			gapLo = max(lo, s.vmas[i].end)
		}
		if end > gapLo && end-gapLo >= n {
			return end - n, true
		}
		if i < 0 {
			return 0, false
		}
		end = min(end, s.vmas[i].start)
		if end <= lo {
			return 0, false
		}
	}
}

// Map is for the loader: a private anonymous mapping at addr (0: placed),
// replacing what is there, with data as its first bytes.
func (s *Space) Map(name string, addr, length uint64, prot int, data []byte) (uint64, linux.Errno) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := pageLen(length)
	switch {
	case length == 0 || uint64(len(data)) > length || addr&pageMask != 0 || prot&^rwx != 0:
		return 0, linux.EINVAL
	case !ok:
		return 0, linux.ENOMEM
	case wx(prot):
		return 0, linux.EACCES
	}
	if addr == 0 {
		if addr, ok = s.place(n, s.lo, s.hi, false); !ok {
			return 0, linux.ENOMEM
		}
	} else if addr+n > linux.TaskSize || addr+n < addr {
		return 0, linux.ENOMEM
	}
	if e := s.unmap(addr, addr+n); e != 0 {
		return 0, e
	}
	if len(s.vmas) >= linux.MaxMapCount {
		return 0, linux.ENOMEM
	}
	v := &vma{start: addr, end: addr + n, prot: prot, name: name}
	if prot != 0 || len(data) > 0 {
		// The contents go in as one write, between the region's mapping
		// and its final protection (back, with data).
		if err := s.backData(v, data); err != nil {
			return 0, linux.ENOMEM
		}
	}
	s.insert(v)
	return addr, 0
}

// Name labels [addr, addr+length) for Maps.
func (s *Space) Name(addr, length uint64, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := pageLen(length)
	if !ok || addr+n < addr {
		return
	}
	s.change(addr&^pageMask, pageUp(addr+n), func(_, p *vma) (*vma, bool) {
		p.name = name
		return p, true
	})
}

// Release drops every mapping.
func (s *Space) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.vmas {
		s.unback(v)
	}
	s.vmas = nil
	s.brk = s.brkBase
}

// Mmap is mmap(2); src is the file of a file mapping (nil for an
// anonymous one).
func (s *Space) Mmap(addr, length uint64, prot, flags int, src Source, off uint64) (uint64, linux.Errno) {
	s.mu.Lock()
	defer s.mu.Unlock()
	anon := flags&linux.MAP_ANONYMOUS != 0
	if off&pageMask != 0 {
		return 0, linux.EINVAL
	}
	if !anon && src == nil {
		return 0, linux.EBADF
	}
	if flags&linux.MAP_HUGETLB != 0 {
		if !anon {
			return 0, linux.EINVAL
		}
		return 0, linux.ENOMEM // no huge pages
	}
	if length == 0 {
		return 0, linux.EINVAL
	}
	n, ok := pageLen(length)
	if !ok {
		return 0, linux.ENOMEM
	}
	if !anon && (off > math.MaxInt64 || n > math.MaxInt64-off) {
		return 0, linux.EOVERFLOW
	}
	if len(s.vmas) >= linux.MaxMapCount {
		return 0, linux.ENOMEM
	}
	shared := false
	switch flags & linux.MAP_TYPE {
	case linux.MAP_PRIVATE:
	case linux.MAP_SHARED:
		shared = true
	case linux.MAP_SHARED_VALIDATE:
		if anon {
			return 0, linux.EINVAL
		}
		if flags&^(linux.MAP_LEGACY_MASK|linux.MAP_32BIT) != 0 {
			return 0, linux.EOPNOTSUPP
		}
		shared = true
	case linux.MAP_DROPPABLE: // dropping nothing is what it allows
		if !anon {
			return 0, linux.EINVAL
		}
	default:
		return 0, linux.EINVAL
	}
	fixed := flags&(linux.MAP_FIXED|linux.MAP_FIXED_NOREPLACE) != 0
	if fixed {
		switch {
		case addr&pageMask != 0:
			return 0, linux.EINVAL
		case addr > linux.TaskSize-n:
			return 0, linux.ENOMEM
		case addr < linux.MmapMinAddr:
			return 0, linux.EPERM
		}
		if flags&linux.MAP_FIXED_NOREPLACE != 0 && !s.free(addr, addr+n) {
			return 0, linux.EEXIST
		}
	}
	if !anon {
		mode := unix.O_RDONLY
		if m, ok := src.(AccessMode); ok {
			mode = m.AccessMode() & unix.O_ACCMODE
		}
		if shared && prot&linux.PROT_WRITE != 0 {
			if mode != unix.O_RDWR {
				return 0, linux.EACCES
			}
			return 0, linux.ENODEV // writable shared file mappings: not supported
		}
		if mode == unix.O_WRONLY {
			return 0, linux.EACCES
		}
	}
	prot &= rwx
	if wx(prot) {
		return 0, linux.EACCES
	}
	v := &vma{prot: prot, shared: shared, growsdown: flags&linux.MAP_GROWSDOWN != 0}
	if !anon {
		v.src, v.off, v.name = src, off, src.Name()
	}
	if fixed {
		if e := s.unmap(addr, addr+n); e != 0 {
			return 0, e
		}
		v.start, v.end = addr, addr+n
		return s.mapNew(v)
	}
	if addr != 0 && flags&linux.MAP_32BIT == 0 {
		hint := max(addr&^pageMask, linux.MmapMinAddr)
		// A reservation has no region for the backend to refuse, so a
		// hint outside the window, where it could never be backed
		// later, is not taken.
		inWindow := hint >= s.lo && hint <= s.hi && n <= s.hi-hint
		if hint <= linux.TaskSize-n && s.free(hint, hint+n) && (v.prot != 0 || inWindow) {
			v.start, v.end = hint, hint+n
			if a, e := s.mapNew(v); e == 0 {
				return a, 0
			}
		}
	}
	lo, hi, bottomUp := s.lo, s.hi, false
	switch {
	case flags&linux.MAP_32BIT != 0:
		lo, hi, bottomUp = max(lo, 1<<30), min(hi, 2<<30), true
	case flags&linux.MAP_ABOVE4G != 0:
		lo = max(lo, 4<<30)
	}
	a, ok := s.place(n, lo, hi, bottomUp)
	if !ok {
		return 0, linux.ENOMEM
	}
	v.start, v.end = a, a+n
	return s.mapNew(v)
}

// mapNew backs a new mapping, fresh, if it has access, and records it.
func (s *Space) mapNew(v *vma) (uint64, linux.Errno) {
	if v.prot != 0 {
		if err := s.back(v, nil, 0, true); err != nil {
			return 0, linux.ENOMEM
		}
	}
	s.insert(v)
	return v.start, 0
}

// Munmap is munmap(2).
func (s *Space) Munmap(addr, length uint64) linux.Errno {
	s.mu.Lock()
	defer s.mu.Unlock()
	if addr&pageMask != 0 || addr > linux.TaskSize || length > linux.TaskSize-addr {
		return linux.EINVAL
	}
	n := pageUp(length)
	if n == 0 {
		return linux.EINVAL
	}
	return s.unmap(addr, addr+n)
}

// Mprotect is mprotect(2). PROT_WRITE|PROT_EXEC is EACCES (guest memory
// is W^X), and so is write access to a shared file mapping.
func (s *Space) Mprotect(addr, length uint64, prot int) linux.Errno {
	s.mu.Lock()
	defer s.mu.Unlock()
	grows := prot & (linux.PROT_GROWSDOWN | linux.PROT_GROWSUP)
	prot &^= grows
	if grows == linux.PROT_GROWSDOWN|linux.PROT_GROWSUP || addr&pageMask != 0 {
		return linux.EINVAL
	}
	if length == 0 {
		return 0
	}
	n, ok := pageLen(length)
	if !ok || addr+n <= addr {
		return linux.ENOMEM
	}
	if prot&^(rwx|linux.PROT_SEM) != 0 {
		return linux.EINVAL
	}
	prot &= rwx
	end := addr + n
	i := s.index(addr)
	if i == len(s.vmas) || s.vmas[i].start > addr {
		return linux.ENOMEM
	}
	if grows == linux.PROT_GROWSUP || grows == linux.PROT_GROWSDOWN && !s.vmas[i].growsdown {
		return linux.EINVAL
	}
	if grows == linux.PROT_GROWSDOWN {
		addr = s.vmas[i].start
	}
	if wx(prot) {
		return linux.EACCES
	}
	reach := s.covered(addr, end)
	for _, v := range s.overlapping(addr, reach) {
		if v.shared && v.src != nil && prot&linux.PROT_WRITE != 0 {
			return linux.EACCES
		}
	}
	if e := s.change(addr, reach, func(_, p *vma) (*vma, bool) {
		p.prot = prot
		return p, true
	}); e != 0 {
		return e
	}
	if reach < end {
		return linux.ENOMEM
	}
	return 0
}

// Mremap is mremap(2): shrink in place, grow in place when the space after
// is free, else move (MREMAP_MAYMOVE) by copying; MREMAP_FIXED and
// MREMAP_DONTUNMAP.
func (s *Space) Mremap(old, oldLen, newLen uint64, flags int, newAddr uint64) (uint64, linux.Errno) {
	s.mu.Lock()
	defer s.mu.Unlock()
	const known = linux.MREMAP_MAYMOVE | linux.MREMAP_FIXED | linux.MREMAP_DONTUNMAP
	mayMove := flags&linux.MREMAP_MAYMOVE != 0
	fixed := flags&linux.MREMAP_FIXED != 0
	dontUnmap := flags&linux.MREMAP_DONTUNMAP != 0
	switch {
	case flags&^known != 0, fixed && !mayMove, dontUnmap && (!mayMove || oldLen != newLen), old&pageMask != 0:
		return 0, linux.EINVAL
	}
	oldN, ok1 := pageLen(oldLen)
	newN, ok2 := pageLen(newLen)
	if !ok1 || !ok2 {
		return 0, linux.ENOMEM
	}
	if newN == 0 {
		return 0, linux.EINVAL
	}
	if fixed {
		if newAddr&pageMask != 0 || newAddr > linux.TaskSize-newN {
			return 0, linux.EINVAL
		}
		if old+oldN > newAddr && newAddr+newN > old {
			return 0, linux.EINVAL
		}
	}
	// The old range must be in one mapping (a run of compatible ones).
	i := s.index(old)
	if i == len(s.vmas) || s.vmas[i].start > old {
		return 0, linux.EFAULT
	}
	v := s.vmas[i]
	if oldN == 0 {
		if !v.shared {
			return 0, linux.EINVAL
		}
		return 0, linux.ENOMEM // duplicating shared memory: not supported
	}
	last := i
	for old+oldN > s.vmas[last].end {
		if last+1 == len(s.vmas) || !compatible(s.vmas[last], s.vmas[last+1]) {
			return 0, linux.EFAULT
		}
		last++
	}
	if !fixed && !dontUnmap && oldN >= newN {
		if oldN > newN {
			if e := s.unmap(old+newN, old+oldN); e != 0 {
				return 0, e
			}
		}
		return old, 0
	}
	if len(s.vmas)+2 > linux.MaxMapCount {
		return 0, linux.ENOMEM
	}
	if fixed {
		if e := s.unmap(newAddr, newAddr+newN); e != 0 {
			return 0, e
		}
		if oldN > newN {
			if e := s.unmap(old+newN, old+oldN); e != 0 {
				return 0, e
			}
			oldN = newN
		}
		return s.move(old, oldN, newN, newAddr, dontUnmap)
	}
	// Grow in place: the old range ends its mapping, the space after is free.
	end := old + oldN
	tail := s.vmas[last]
	if !dontUnmap && tail.end == end && (last+1 == len(s.vmas) || s.vmas[last+1].start >= old+newN) && old+newN <= linux.TaskSize {
		ext := tail.piece(end, old+newN)
		if e := s.extend(ext); e == 0 {
			return old, 0
		} else if !mayMove {
			return 0, e
		}
	}
	if !mayMove {
		return 0, linux.ENOMEM
	}
	if oldN > newN { // only with dontUnmap, which has them equal
		return 0, linux.EINVAL
	}
	to, ok := s.place(newN, s.lo, s.hi, false)
	if !ok {
		return 0, linux.ENOMEM
	}
	return s.move(old, oldN, newN, to, dontUnmap)
}

// move copies [old, old+oldN) to a new mapping at to of newN bytes (the
// rest: the mapping's implied contents), then unmaps the old range or,
// with dontUnmap, empties it.
func (s *Space) move(old, oldN, newN, to uint64, dontUnmap bool) (uint64, linux.Errno) {
	parts := s.overlapping(old, old+oldN)
	if len(parts) == 0 {
		return 0, linux.EFAULT
	}
	first := parts[0]
	nv := first.piece(old, old+oldN)
	nv.start, nv.end = to, to+newN
	backed := nv.prot != 0
	var saved []page
	for _, p := range parts {
		if p.backed {
			backed = true
			got, err := s.save(max(old, p.start), min(old+oldN, p.end))
			if err != nil {
				return 0, linux.ENOMEM
			}
			saved = append(saved, got...)
		}
	}
	if backed {
		if err := s.back(nv, saved, to-old, false); err != nil {
			return 0, linux.ENOMEM
		}
		// The parts that were reservations, and the growth, get their
		// implied contents.
		for _, p := range parts {
			if !p.backed && p.src != nil {
				lo, hi := max(old, p.start), min(old+oldN, p.end)
				s.fillFile(nv, lo+(to-old), hi+(to-old))
			}
		}
		if newN > oldN {
			s.fillFile(nv, to+oldN, to+newN)
		}
	}
	s.insert(nv)
	if dontUnmap {
		// The old range stays, emptied: its implied contents again.
		s.change(old, old+oldN, func(_, p *vma) (*vma, bool) { return p, false })
	} else {
		s.unmap(old, old+oldN)
	}
	return to, 0
}

// extend adds ext, which continues the mapping before it, and merges the
// run when the pieces grow alike, so that a heap grown page by page has
// few regions and is copied O(log n) times per byte.
func (s *Space) extend(ext *vma) linux.Errno {
	if len(s.vmas) >= linux.MaxMapCount {
		return linux.ENOMEM
	}
	if ext.prot != 0 {
		if err := s.back(ext, nil, 0, true); err != nil {
			return linux.ENOMEM
		}
	}
	s.insert(ext)
	for {
		i := s.index(ext.start)
		if i == 0 {
			return 0
		}
		p := s.vmas[i-1]
		if !compatible(p, ext) || !p.backed || !ext.backed || p.size() > 2*ext.size() {
			return 0
		}
		m, ok := s.merge(p, ext)
		if !ok {
			return 0
		}
		ext = m
	}
}

// merge copies two adjacent backed mappings into one region.
func (s *Space) merge(a, b *vma) (*vma, bool) {
	sa, err1 := s.save(a.start, a.end)
	sb, err2 := s.save(b.start, b.end)
	if err1 != nil || err2 != nil {
		return nil, false
	}
	m := a.piece(a.start, b.end)
	s.unback(a)
	s.unback(b)
	saved := append(sa, sb...)
	if s.back(m, saved, 0, false) != nil {
		if s.back(a, sa, 0, false) != nil || s.back(b, sb, 0, false) != nil {
			a.backed, b.backed = false, false // cannot happen: they were there
		}
		return nil, false
	}
	s.replace(b, nil)
	s.replace(a, []*vma{m})
	return m, true
}

// zero makes [lo, hi) of v read as its implied contents again.
func (s *Space) zero(v *vma, lo, hi uint64) {
	buf := make([]byte, min(hi-lo, chunkPages*pageSize))
	for c := lo; c < hi; {
		n := min(hi-c, uint64(len(buf)))
		b := buf[:n]
		if s.g.ReadMemory(c, b) == nil && !allZero(b) {
			clear(b)
			s.g.WriteMemory(c, b)
		}
		c += n
	}
	s.fillFile(v, lo, hi)
}

// dontNeed drops the contents of [lo, hi) of v: a whole mapping gets a
// fresh region, part of one is written over.
func (s *Space) dontNeed(v *vma, lo, hi uint64) {
	if !v.backed {
		return
	}
	if lo == v.start && hi == v.end {
		s.unback(v)
		if v.prot == 0 {
			return
		}
		if s.back(v, nil, 0, true) == nil {
			return
		}
		// No region again: remove the mapping rather than lie.
		s.replace(v, nil)
		return
	}
	s.zero(v, lo, hi)
}
