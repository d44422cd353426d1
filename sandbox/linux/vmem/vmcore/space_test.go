package vmcore

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"beelzebox/linux"
)

const (
	P    = 4096
	rw   = linux.PROT_READ | linux.PROT_WRITE
	ro   = linux.PROT_READ
	rx   = linux.PROT_READ | linux.PROT_EXEC
	anon = linux.MAP_PRIVATE | linux.MAP_ANONYMOUS
	fix  = anon | linux.MAP_FIXED
	lo   = 0x10000000
	hi   = 0x20000000
)

// consistent checks the records against the guest's regions.
func consistent(t *testing.T, s *Space, f *fake) {
	t.Helper()
	var mapped uint64
	backed := map[uint64]*vma{}
	for i, v := range s.vmas {
		if v.start >= v.end || v.start&pageMask != 0 || v.end&pageMask != 0 {
			t.Fatalf("bad mapping %#x-%#x", v.start, v.end)
		}
		if i > 0 && s.vmas[i-1].end > v.start {
			t.Fatalf("mappings overlap or are out of order at %#x", v.start)
		}
		if v.prot != 0 && !v.backed {
			t.Fatalf("mapping %#x-%#x prot %d has no region", v.start, v.end, v.prot)
		}
		if v.backed {
			mapped += v.size()
			backed[v.start] = v
			r := f.find(v.start)
			if r == nil || r.addr != v.start || r.size != v.size() {
				t.Fatalf("mapping %#x-%#x: region %+v", v.start, v.end, r)
			}
			if r.perm != perm(v.prot) {
				t.Fatalf("mapping %#x-%#x prot %d: region perm %d", v.start, v.end, v.prot, r.perm)
			}
		}
	}
	for _, r := range f.regions {
		if backed[r.addr] == nil {
			t.Fatalf("region %#x-%#x has no mapping", r.addr, r.addr+r.size)
		}
	}
	if mapped != s.mapped {
		t.Fatalf("mapped %d, counted %d", s.mapped, mapped)
	}
}

func fill(t *testing.T, f *fake, addr uint64, pages int, seed byte) {
	t.Helper()
	for i := 0; i < pages; i++ {
		b := bytes.Repeat([]byte{seed + byte(i)}, P)
		if err := f.WriteMemory(addr+uint64(i)*P, b); err != nil {
			t.Fatal(err)
		}
	}
}

func expectPage(t *testing.T, f *fake, addr uint64, want byte) {
	t.Helper()
	got := f.page(addr)
	if got == nil {
		t.Fatalf("page %#x not mapped", addr)
	}
	if !bytes.Equal(got, bytes.Repeat([]byte{want}, P)) {
		t.Fatalf("page %#x holds %d..., want %d", addr, got[0], want)
	}
}

func newSpace() (*Space, *fake) {
	f := newFake()
	return New(f, lo, hi), f
}

func mustMmap(t *testing.T, s *Space, addr, n uint64, prot, flags int) uint64 {
	t.Helper()
	a, e := s.Mmap(addr, n, prot, flags, nil, 0)
	if e != 0 {
		t.Fatalf("mmap(%#x, %#x, %d, %#x): %v", addr, n, prot, flags, e)
	}
	return a
}

func TestPlacementTopDown(t *testing.T) {
	s, f := newSpace()
	a := mustMmap(t, s, 0, 3*P, rw, anon)
	if a != hi-3*P {
		t.Fatalf("first mapping at %#x, want %#x", a, hi-3*P)
	}
	b := mustMmap(t, s, 0, 100, ro, anon)
	if b != a-P {
		t.Fatalf("second mapping at %#x, want %#x", b, a-P)
	}
	// A free hint is honoured, rounded down; a taken one is not.
	h := mustMmap(t, s, lo+0x5001, P, rw, anon)
	if h != lo+0x5000 {
		t.Fatalf("hint: %#x", h)
	}
	h2 := mustMmap(t, s, lo+0x5000, P, rw, anon)
	if h2 == lo+0x5000 || h2 != b-P {
		t.Fatalf("taken hint: %#x", h2)
	}
	// A hint the backend refuses falls back to placement.
	f.forbidden = append(f.forbidden, [2]uint64{0x40000000, 0x50000000})
	h3 := mustMmap(t, s, 0x40000000, P, rw, anon)
	if h3 != h2-P {
		t.Fatalf("refused hint: %#x", h3)
	}
	// MAP_32BIT: bottom-up from 1 GiB, within the window.
	s2, _ := newSpace()
	s2.lo, s2.hi = 0x30000000, 0x90000000
	m := mustMmap(t, s2, 0, P, rw, anon|linux.MAP_32BIT)
	if m != 1<<30 {
		t.Fatalf("MAP_32BIT at %#x", m)
	}
	s3, _ := newSpace()
	if _, e := s3.Mmap(0, P, rw, anon|linux.MAP_32BIT, nil, 0); e != linux.ENOMEM {
		t.Fatalf("MAP_32BIT outside the window: %v", e)
	}
	// Full window.
	if _, e := s.Mmap(0, hi-lo, rw, anon, nil, 0); e != linux.ENOMEM {
		t.Fatalf("too big: %v", e)
	}
	consistent(t, s, f)
}

func TestSplitKeepsContents(t *testing.T) {
	s, f := newSpace()
	a := mustMmap(t, s, 0, 10*P, rw, anon)
	fill(t, f, a, 10, 1)
	if e := s.Munmap(a+4*P, P); e != 0 {
		t.Fatal(e)
	}
	consistent(t, s, f)
	if f.page(a+4*P) != nil {
		t.Fatal("unmapped page still mapped")
	}
	for i := 0; i < 10; i++ {
		if i != 4 {
			expectPage(t, f, a+uint64(i)*P, byte(1+i))
		}
	}
	if e := s.Mprotect(a+P, 2*P, ro); e != 0 {
		t.Fatal(e)
	}
	consistent(t, s, f)
	for i := 0; i < 4; i++ {
		expectPage(t, f, a+uint64(i)*P, byte(1+i))
	}
	if r := f.find(a + P); r.perm != PermRead || r.addr != a+P || r.size != 2*P {
		t.Fatalf("protected piece %+v", r)
	}
	// mprotect over a hole: applied up to the hole, ENOMEM.
	if e := s.Mprotect(a, 10*P, ro); e != linux.ENOMEM {
		t.Fatalf("mprotect over a hole: %v", e)
	}
	consistent(t, s, f)
	if f.find(a).perm != PermRead || f.find(a+5*P).perm != PermRead|PermWrite {
		t.Fatal("mprotect not applied up to the hole only")
	}
	// A PROT_NONE piece with contents keeps them.
	if e := s.Mprotect(a+6*P, P, linux.PROT_NONE); e != 0 {
		t.Fatal(e)
	}
	consistent(t, s, f)
	if e := s.Mprotect(a+6*P, P, rw); e != 0 {
		t.Fatal(e)
	}
	expectPage(t, f, a+6*P, 7)
	consistent(t, s, f)
}

func TestWholeRegionsNoCopy(t *testing.T) {
	s, f := newSpace()
	a := mustMmap(t, s, 0, 4*P, rw, anon)
	b := mustMmap(t, s, a-4*P, 4*P, rw, anon|linux.MAP_FIXED)
	fill(t, f, b, 8, 10)
	reads, maps := f.reads, f.maps
	if e := s.Mprotect(b, 8*P, ro); e != 0 {
		t.Fatal(e)
	}
	if e := s.Mprotect(b, 8*P, linux.PROT_NONE); e != 0 {
		t.Fatal(e)
	}
	if e := s.Mprotect(b, 8*P, rw); e != 0 {
		t.Fatal(e)
	}
	if f.reads != reads || f.maps != maps || f.protects != 6 {
		t.Fatalf("whole-region mprotect copied: reads %d maps %d protects %d", f.reads-reads, f.maps-maps, f.protects)
	}
	expectPage(t, f, b+5*P, 15)
	if e := s.Munmap(b, 8*P); e != 0 {
		t.Fatal(e)
	}
	if f.reads != reads || f.maps != maps || f.unmaps != 2 || len(f.regions) != 0 {
		t.Fatal("whole-region munmap copied")
	}
	consistent(t, s, f)
}

func TestReservation(t *testing.T) {
	s, f := newSpace()
	// Go's runtime: reserve a big PROT_NONE range, then map parts of it.
	r := mustMmap(t, s, 0, 64<<20, linux.PROT_NONE, anon)
	if len(f.regions) != 0 {
		t.Fatal("PROT_NONE reservation mapped a region")
	}
	a := mustMmap(t, s, r+4<<20, 1<<20, rw, fix)
	if len(f.regions) != 1 || f.regions[0].addr != a || f.regions[0].size != 1<<20 || f.reads != 0 {
		t.Fatalf("MAP_FIXED in a reservation: %d regions, %d reads", len(f.regions), f.reads)
	}
	if e := s.Mprotect(r+8<<20, 2<<20, rw); e != 0 {
		t.Fatal(e)
	}
	if len(f.regions) != 2 || f.reads != 0 {
		t.Fatalf("mprotect in a reservation: %d regions, %d reads", len(f.regions), f.reads)
	}
	consistent(t, s, f)
	if got := strings.Count(s.Maps(), "\n"); got != 5 {
		t.Fatalf("maps:\n%s", s.Maps())
	}
	if s.Mapped() != 3<<20 {
		t.Fatalf("mapped %d", s.Mapped())
	}
}

func TestErrnos(t *testing.T) {
	s, f := newSpace()
	a := mustMmap(t, s, 0, 10*P, rw, anon)
	s.Munmap(a+4*P, P)
	src := &memSource{name: "/etc/passwd", data: []byte("root:x:0:0"), mode: 0}
	wo := &memSource{name: "/w", data: []byte("x"), mode: 1}
	rwf := &memSource{name: "/rw", data: []byte("x"), mode: 2}
	for _, c := range []struct {
		name string
		e    linux.Errno
		got  linux.Errno
	}{
		{"mprotect unaligned", linux.EINVAL, s.Mprotect(a+1, P, ro)},
		{"mprotect 0 length", 0, s.Mprotect(a, 0, 0x10)},
		{"mprotect bad prot", linux.EINVAL, s.Mprotect(a, P, 0x10)},
		{"mprotect PROT_SEM", 0, s.Mprotect(a, P, rw|linux.PROT_SEM)},
		{"mprotect hole", linux.ENOMEM, s.Mprotect(a+4*P, P, ro)},
		{"mprotect wx", linux.EACCES, s.Mprotect(a, P, linux.PROT_WRITE|linux.PROT_EXEC)},
		{"mprotect growsup", linux.EINVAL, s.Mprotect(a, P, ro|linux.PROT_GROWSUP)},
		{"mprotect overflow", linux.ENOMEM, s.Mprotect(a, ^uint64(0)-a, ro)},
		{"mmap len 0", linux.EINVAL, e2(s.Mmap(0, 0, ro, anon, nil, 0))},
		{"mmap no type", linux.EINVAL, e2(s.Mmap(0, P, ro, linux.MAP_ANONYMOUS, nil, 0))},
		{"mmap off", linux.EINVAL, e2(s.Mmap(0, P, ro, anon, nil, 1))},
		{"mmap no file", linux.EBADF, e2(s.Mmap(0, P, ro, linux.MAP_PRIVATE, nil, 0))},
		{"mmap hugetlb", linux.ENOMEM, e2(s.Mmap(0, P, ro, anon|linux.MAP_HUGETLB, nil, 0))},
		{"mmap file hugetlb", linux.EINVAL, e2(s.Mmap(0, P, ro, linux.MAP_PRIVATE|linux.MAP_HUGETLB, src, 0))},
		{"mmap shared validate anon", linux.EINVAL, e2(s.Mmap(0, P, ro, linux.MAP_SHARED_VALIDATE|linux.MAP_ANONYMOUS, nil, 0))},
		{"mmap shared validate unknown", linux.EOPNOTSUPP, e2(s.Mmap(0, P, ro, linux.MAP_SHARED_VALIDATE|0x800000, src, 0))},
		{"mmap fixed unaligned", linux.EINVAL, e2(s.Mmap(a+1, P, ro, fix, nil, 0))},
		{"mmap noreplace unaligned", linux.EINVAL, e2(s.Mmap(a+1, P, ro, anon|linux.MAP_FIXED_NOREPLACE, nil, 0))},
		{"mmap noreplace taken", linux.EEXIST, e2(s.Mmap(a, P, ro, anon|linux.MAP_FIXED_NOREPLACE, nil, 0))},
		{"mmap huge len", linux.ENOMEM, e2(s.Mmap(0, ^uint64(0), ro, anon, nil, 0))},
		{"mmap fixed past task size", linux.ENOMEM, e2(s.Mmap(linux.TaskSize, P, ro, fix, nil, 0))},
		{"mmap fixed low", linux.EPERM, e2(s.Mmap(0x1000, P, ro, fix, nil, 0))},
		{"mmap wx", linux.EACCES, e2(s.Mmap(0, P, linux.PROT_WRITE|linux.PROT_EXEC, anon, nil, 0))},
		{"mmap shared writable ro file", linux.EACCES, e2(s.Mmap(0, P, rw, linux.MAP_SHARED, src, 0))},
		{"mmap shared writable rw file", linux.ENODEV, e2(s.Mmap(0, P, rw, linux.MAP_SHARED, rwf, 0))},
		{"mmap write-only file", linux.EACCES, e2(s.Mmap(0, P, ro, linux.MAP_PRIVATE, wo, 0))},
		{"mmap file offset overflow", linux.EOVERFLOW, e2(s.Mmap(0, P, ro, linux.MAP_PRIVATE, src, ^uint64(P-1)))},
		{"mmap file offset overflow 2", linux.EOVERFLOW, e2(s.Mmap(0, 8*P, ro, linux.MAP_PRIVATE, src, 0x7ffffffffffff000))},
		{"mmap droppable file", linux.EINVAL, e2(s.Mmap(0, P, ro, linux.MAP_DROPPABLE, src, 0))},
		{"munmap unaligned", linux.EINVAL, s.Munmap(a+1, P)},
		{"munmap 0", linux.EINVAL, s.Munmap(a, 0)},
		{"munmap past task", linux.EINVAL, s.Munmap(0x800000000000, P)},
		{"munmap straddling task", linux.EINVAL, s.Munmap(linux.TaskSize, 2*P)},
		{"munmap hole", 0, s.Munmap(a+4*P, P)},
		{"madvise unaligned", linux.EINVAL, s.Madvise(a+1, P, linux.MADV_DONTNEED)},
		{"madvise 0", 0, s.Madvise(a, 0, linux.MADV_DONTNEED)},
		{"madvise 0 bad", linux.EINVAL, s.Madvise(a, 0, 999)},
		{"madvise hole", linux.ENOMEM, s.Madvise(a, 10*P, linux.MADV_DONTNEED)},
		{"madvise unmapped bad", linux.EINVAL, s.Madvise(a+4*P, P, 999)},
		{"madvise unmapped", linux.ENOMEM, s.Madvise(a+4*P, P, linux.MADV_NORMAL)},
		{"madvise remove private", linux.EINVAL, s.Madvise(a, P, linux.MADV_REMOVE)},
		{"madvise guard", linux.EINVAL, s.Madvise(a, P, linux.MADV_GUARD_INSTALL)},
		{"madvise hwpoison", linux.EPERM, s.Madvise(a, P, linux.MADV_HWPOISON)},
		{"madvise hugepage", 0, s.Madvise(a, P, linux.MADV_HUGEPAGE)},
		{"msync 0 flags", 0, s.Msync(a, P, 0)},
		{"msync both", linux.EINVAL, s.Msync(a, P, linux.MS_SYNC|linux.MS_ASYNC)},
		{"msync unaligned", linux.EINVAL, s.Msync(a+1, P, linux.MS_SYNC)},
		{"msync hole", linux.ENOMEM, s.Msync(a, 10*P, linux.MS_SYNC)},
		{"msync 0 len", 0, s.Msync(a, 0, linux.MS_SYNC)},
		{"msync bad flag", linux.EINVAL, s.Msync(a, P, 8)},
		{"mincore unaligned", linux.EINVAL, s.Mincore(a+1, P, a)},
		{"mincore hole", linux.ENOMEM, s.Mincore(a, 10*P, a)},
		{"mincore 0", 0, s.Mincore(a, 0, a)},
		{"mincore bad vec", linux.EFAULT, s.Mincore(a, P, 8)},
		{"mincore one byte", 0, s.Mincore(a+5*P, 1, a)},
		{"mlock unaligned", 0, s.Mlock(a+1, 10)},
		{"mlock hole", linux.ENOMEM, s.Mlock(a, 10*P)},
		{"mlock 0", 0, s.Mlock(a, 0)},
		{"mlock2 flags", linux.EINVAL, s.Mlock2(a, P, 2)},
		{"mlockall 0", linux.EINVAL, s.Mlockall(0)},
		{"mlockall onfault", linux.EINVAL, s.Mlockall(linux.MCL_ONFAULT)},
		{"mlockall bad", linux.EINVAL, s.Mlockall(8)},
		{"mlockall", 0, s.Mlockall(linux.MCL_CURRENT | linux.MCL_ONFAULT)},
		{"mremap unaligned", linux.EINVAL, e2(s.Mremap(a+1, P, P, 0, 0))},
		{"mremap new 0", linux.EINVAL, e2(s.Mremap(a, P, 0, 0, 0))},
		{"mremap old 0 private", linux.EINVAL, e2(s.Mremap(a, 0, P, linux.MREMAP_MAYMOVE, 0))},
		{"mremap flags", linux.EINVAL, e2(s.Mremap(a, P, P, 8, 0))},
		{"mremap fixed no maymove", linux.EINVAL, e2(s.Mremap(a, P, 2*P, linux.MREMAP_FIXED, a+100*P))},
		{"mremap fixed unaligned", linux.EINVAL, e2(s.Mremap(a, P, 2*P, linux.MREMAP_MAYMOVE|linux.MREMAP_FIXED, a+100*P+1))},
		{"mremap dontunmap sizes", linux.EINVAL, e2(s.Mremap(a, 2*P, P, linux.MREMAP_MAYMOVE|linux.MREMAP_DONTUNMAP, 0))},
		{"mremap unmapped", linux.EFAULT, e2(s.Mremap(a+4*P, P, P, 0, 0))},
		{"mremap unmapped shrink", linux.EFAULT, e2(s.Mremap(lo, 2*P, P, 0, 0))},
		{"mremap across hole", linux.EFAULT, e2(s.Mremap(a+3*P, 2*P, 3*P, 0, 0))},
		{"mremap no room", linux.ENOMEM, e2(s.Mremap(a+2*P, P, 2*P, 0, 0))},
		{"mremap fixed overlap", linux.EINVAL, e2(s.Mremap(a+5*P, P, 2*P, linux.MREMAP_MAYMOVE|linux.MREMAP_FIXED, a+4*P))},
		{"mremap fixed same", linux.EINVAL, e2(s.Mremap(a+5*P, P, P, linux.MREMAP_MAYMOVE|linux.MREMAP_FIXED, a+5*P))},
	} {
		if c.got != c.e {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.e)
		}
	}
	consistent(t, s, f)
}

func e2(_ uint64, e linux.Errno) linux.Errno { return e }

func TestMaps(t *testing.T) {
	s, f := newSpace()
	s.SetBrkBase(0x401234)
	if got, e := s.Map("/bin/prog", 0x400000, P, rx, []byte{0x90}); got != 0x400000 || e != 0 {
		t.Fatal(got)
	}
	s.Brk(0x402000 + 3*P + 5)
	a := mustMmap(t, s, 0, 2*P, rw, anon)
	mustMmap(t, s, a-2*P, 2*P, rw, fix) // merges with a in the listing
	src := &memSource{name: "/lib/libc.so", data: bytes.Repeat([]byte{7}, 3*P)}
	fa, e := s.Mmap(0, 2*P, ro, linux.MAP_PRIVATE, src, P)
	if e != 0 {
		t.Fatal(e)
	}
	sh := mustMmap(t, s, 0, P, rw, linux.MAP_SHARED|linux.MAP_ANONYMOUS)
	st := mustMmap(t, s, 0, 4*P, rw, anon|linux.MAP_STACK)
	s.Name(st, 4*P, "[stack]")
	want := "00400000-00401000 r-xp 00000000 00:00 0                                  /bin/prog\n" +
		"00402000-00406000 rw-p 00000000 00:00 0                                  [heap]\n" +
		sprintf("%08x-%08x rw-p 00000000 00:00 0                                  [stack]\n", st, st+4*P) +
		sprintf("%08x-%08x rw-s 00000000 00:00 0                                  /dev/zero (deleted)\n", sh, sh+P) +
		sprintf("%08x-%08x r--p 00001000 00:00 0                                  /lib/libc.so\n", fa, fa+2*P) +
		sprintf("%08x-%08x rw-p 00000000 00:00 0 \n", a-2*P, a+2*P)
	if got := s.Maps(); got != want {
		t.Fatalf("maps:\n%s\nwant:\n%s", got, want)
	}
	line := strings.Split(s.Maps(), "\n")[2]
	if i := strings.Index(line, "[stack]"); i != 73 {
		t.Fatalf("name at column %d", i)
	}
	expectPage(t, f, fa, 7)
	if f.find(0x400000).perm != PermRead|PermExec || f.page(0x400000)[0] != 0x90 {
		t.Fatal("loader mapping")
	}
	consistent(t, s, f)
}

func TestBrk(t *testing.T) {
	s, f := newSpace()
	s.SetBrkBase(0x500001)
	base := uint64(0x501000)
	if got := s.Brk(0); got != base {
		t.Fatalf("brk(0) = %#x", got)
	}
	if got := s.Brk(base + 5); got != base+5 {
		t.Fatalf("brk grow: %#x", got)
	}
	if err := f.WriteMemory(base, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	// Grow page by page: the regions stay few, the contents stay.
	for i := 1; i <= 300; i++ {
		if got := s.Brk(base + uint64(i)*P); got != base+uint64(i)*P {
			t.Fatalf("brk step %d: %#x", i, got)
		}
		f.WriteMemory(base+uint64(i)*P-1, []byte{byte(i)})
	}
	consistent(t, s, f)
	if len(f.regions) > 12 {
		t.Fatalf("%d regions for a heap grown page by page", len(f.regions))
	}
	if p := f.page(base); p[0] != 1 || p[2] != 3 || p[P-1] != 1 {
		t.Fatal("heap contents lost")
	}
	for i := 1; i <= 300; i++ {
		b := make([]byte, 1)
		f.ReadMemory(base+uint64(i)*P-1, b)
		if b[0] != byte(i) {
			t.Fatalf("heap byte %d lost", i)
		}
	}
	if got := s.Brk(base - P); got != base+300*P {
		t.Fatalf("brk below base: %#x", got)
	}
	// Shrink unmaps.
	if got := s.Brk(base + 10*P + 1); got != base+10*P+1 {
		t.Fatalf("shrink: %#x", got)
	}
	if f.find(base+11*P) != nil || f.find(base+10*P) == nil {
		t.Fatal("shrink did not unmap the tail")
	}
	// A mapping in the way stops it, with a page between.
	mustMmap(t, s, base+20*P, P, rw, fix)
	if got := s.Brk(base + 19*P + 1); got != base+10*P+1 {
		t.Fatalf("brk into the guard page: %#x", got)
	}
	if got := s.Brk(base + 19*P); got != base+19*P {
		t.Fatalf("brk up to the guard page: %#x", got)
	}
	if got := s.Brk(^uint64(0)); got != base+19*P {
		t.Fatalf("brk(-1): %#x", got)
	}
	if !strings.Contains(s.Maps(), "[heap]") {
		t.Fatal("no [heap]")
	}
	consistent(t, s, f)
	s.BrkLimit = 20 * P
	if got := s.Brk(base + 21*P); got != base+19*P {
		t.Fatal("BrkLimit ignored")
	}
}

func TestMremap(t *testing.T) {
	s, f := newSpace()
	a := mustMmap(t, s, 0x18000000, 4*P, rw, anon)
	fill(t, f, a, 4, 40)
	// Shrink in place.
	if got, e := s.Mremap(a, 4*P, 3*P, 0, 0); got != a || e != 0 {
		t.Fatal(got, e)
	}
	// Grow in place.
	if got, e := s.Mremap(a, 3*P, 6*P, 0, 0); got != a || e != 0 {
		t.Fatal(got, e)
	}
	consistent(t, s, f)
	expectPage(t, f, a+2*P, 42)
	expectPage(t, f, a+3*P, 0)
	// Blocked: ENOMEM without MAYMOVE, a move with it.
	mustMmap(t, s, a+6*P, P, ro, fix)
	if _, e := s.Mremap(a, 6*P, 8*P, 0, 0); e != linux.ENOMEM {
		t.Fatal(e)
	}
	b, e := s.Mremap(a, 6*P, 8*P, linux.MREMAP_MAYMOVE, 0)
	if e != 0 || b == a {
		t.Fatal(b, e)
	}
	consistent(t, s, f)
	for i := 0; i < 3; i++ {
		expectPage(t, f, b+uint64(i)*P, byte(40+i))
	}
	expectPage(t, f, b+7*P, 0)
	if f.find(a) != nil {
		t.Fatal("old range still mapped")
	}
	// Fixed, moving part of a mapping.
	c, e := s.Mremap(b+P, P, 2*P, linux.MREMAP_MAYMOVE|linux.MREMAP_FIXED, 0x19000000)
	if e != 0 || c != 0x19000000 {
		t.Fatal(c, e)
	}
	expectPage(t, f, c, 41)
	expectPage(t, f, b, 40)
	expectPage(t, f, b+2*P, 42)
	if f.find(b+P) != nil {
		t.Fatal("moved page still mapped")
	}
	// DONTUNMAP: the old range reads zero.
	d, e := s.Mremap(b+2*P, P, P, linux.MREMAP_MAYMOVE|linux.MREMAP_DONTUNMAP, 0)
	t.Logf("b %#x d %#x\n%s", b, d, s.Maps())
	if e != 0 {
		t.Fatal(e)
	}
	expectPage(t, f, d, 42)
	expectPage(t, f, b+2*P, 0)
	consistent(t, s, f)
	// A PROT_NONE reservation moves without a region.
	r := mustMmap(t, s, 0, 16*P, linux.PROT_NONE, anon)
	n := len(f.regions)
	if _, e := s.Mremap(r, 16*P, 32*P, linux.MREMAP_MAYMOVE, 0); e != 0 || len(f.regions) != n {
		t.Fatal(e, len(f.regions), n)
	}
	consistent(t, s, f)
}

func TestFileMapping(t *testing.T) {
	s, f := newSpace()
	data := make([]byte, 2*P+100)
	for i := range data {
		data[i] = byte(i / P * 10)
	}
	data[2*P] = 99
	src := &memSource{name: "/f", data: data}
	a, e := s.Mmap(0, 4*P, rw, linux.MAP_PRIVATE, src, 0)
	if e != 0 {
		t.Fatal(e)
	}
	expectPage(t, f, a, 0)
	expectPage(t, f, a+P, 10)
	p := f.page(a + 2*P)
	if p[0] != 99 || p[1] != 20 || p[99] != 20 || p[100] != 0 {
		t.Fatal("last page of the file")
	}
	expectPage(t, f, a+3*P, 0)
	// A private write, then DONTNEED: back to the file.
	f.WriteMemory(a+P, []byte{1, 1, 1})
	if e := s.Madvise(a+P, P, linux.MADV_DONTNEED); e != 0 {
		t.Fatal(e)
	}
	expectPage(t, f, a+P, 10)
	// PROT_NONE file mapping (ld.so), made readable: the file's bytes.
	b, e := s.Mmap(0, 2*P, linux.PROT_NONE, linux.MAP_PRIVATE, src, P)
	if e != 0 || f.find(b) != nil {
		t.Fatal(e)
	}
	if e := s.Mprotect(b+P, P, ro); e != 0 {
		t.Fatal(e)
	}
	if f.page(b + P)[0] != 99 || f.find(b) != nil {
		t.Fatal("file contents after mprotect")
	}
	// Shared read-only: a private copy; write access refused.
	c, e := s.Mmap(0, P, ro, linux.MAP_SHARED, src, 0)
	if e != 0 {
		t.Fatal(e)
	}
	if e := s.Mprotect(c, P, rw); e != linux.EACCES {
		t.Fatal(e)
	}
	// Executable file mapping: mapped read, filled, then made executable.
	x, e := s.Mmap(0, P, rx, linux.MAP_PRIVATE, src, P)
	if e != 0 || f.find(x).perm != PermRead|PermExec {
		t.Fatal(e)
	}
	expectPage(t, f, x, 10)
	consistent(t, s, f)
}

func TestMadvise(t *testing.T) {
	s, f := newSpace()
	a := mustMmap(t, s, 0, 8*P, rw, anon)
	fill(t, f, a, 8, 1)
	if e := s.Madvise(a+2*P, 2*P, linux.MADV_DONTNEED); e != 0 {
		t.Fatal(e)
	}
	expectPage(t, f, a+P, 2)
	expectPage(t, f, a+2*P, 0)
	expectPage(t, f, a+3*P, 0)
	expectPage(t, f, a+4*P, 5)
	if len(f.regions) != 1 {
		t.Fatal("partial DONTNEED split the region")
	}
	maps := f.maps
	if e := s.Madvise(a, 8*P, linux.MADV_FREE); e != 0 {
		t.Fatal(e)
	}
	if f.maps != maps+1 {
		t.Fatal("whole DONTNEED did not remap")
	}
	for i := 0; i < 8; i++ {
		expectPage(t, f, a+uint64(i)*P, 0)
	}
	consistent(t, s, f)
}

func TestRegionLimit(t *testing.T) {
	s, f := newSpace()
	f.maxRegions = 3
	a := mustMmap(t, s, 0, 8*P, rw, anon)
	mustMmap(t, s, 0, P, rw, anon)
	fill(t, f, a, 8, 50)
	before := s.Maps()
	// Splitting into three needs two more regions than there is room for.
	if e := s.Mprotect(a+2*P, P, ro); e != linux.ENOMEM {
		t.Fatalf("split past the region limit: %v", e)
	}
	if s.Maps() != before {
		t.Fatalf("failed split changed the map:\n%s", s.Maps())
	}
	for i := 0; i < 8; i++ {
		expectPage(t, f, a+uint64(i)*P, byte(50+i))
	}
	consistent(t, s, f)
	if _, e := s.Mmap(0, P, rw, anon, nil, 0); e != 0 {
		t.Fatal(e)
	}
	if _, e := s.Mmap(0, P, rw, anon, nil, 0); e != linux.ENOMEM {
		t.Fatal(e)
	}
	f.maxRegions, f.limit = 1024, f.used+P
	if _, e := s.Mmap(0, 2*P, rw, anon, nil, 0); e != linux.ENOMEM {
		t.Fatal(e)
	}
	consistent(t, s, f)
}

func TestCalls(t *testing.T) {
	s, f := newSpace()
	src := &memSource{name: "/x", data: []byte("hello")}
	s.Files = func(fd int) (Source, linux.Errno) {
		if fd == 3 {
			return src, 0
		}
		return nil, linux.EBADF
	}
	call := func(nr uint64, args ...uint64) (uint64, linux.Errno) {
		var a [6]uint64
		copy(a[:], args)
		return Calls[nr].Fn(s, a)
	}
	a, e := call(linux.SysMmap, 0, P, ro, linux.MAP_PRIVATE, 3, 0)
	if e != 0 || string(f.page(a)[:5]) != "hello" {
		t.Fatal(e)
	}
	if _, e := call(linux.SysMmap, 0, P, ro, linux.MAP_PRIVATE, 4, 0); e != linux.EBADF {
		t.Fatal(e)
	}
	if _, e := call(linux.SysMmap, 0, P, ro, linux.MAP_PRIVATE, 4, 1); e != linux.EINVAL {
		t.Fatal(e)
	}
	v, e := call(linux.SysMmap, 0, 3*P, rw, anon, ^uint64(0), 0)
	if e != 0 {
		t.Fatal(e)
	}
	s.Munmap(v+P, P)
	if _, e := call(linux.SysMincore, v, P, v+2*P); e != 0 || f.page(v + 2*P)[0] != 1 {
		t.Fatal(e)
	}
	if _, e := call(linux.SysMincore, v, P, a); e != linux.EFAULT {
		t.Fatal("mincore into read-only memory:", e)
	}
	if got, _ := call(linux.SysBrk, 0); got != 0 {
		t.Fatal(got)
	}
	for _, nr := range []uint64{linux.SysMmap, linux.SysMunmap, linux.SysMprotect, linux.SysMremap, linux.SysBrk, linux.SysMadvise,
		linux.SysMsync, linux.SysMincore, linux.SysMlock, linux.SysMunlock, linux.SysMlockall, linux.SysMunlockall, linux.SysMlock2} {
		c, ok := Calls[nr]
		if !ok || c.Fn == nil || c.Status == Partial && c.Missing == "" {
			t.Fatalf("call %d", nr)
		}
	}
	s.Release()
	if len(f.regions) != 0 || s.Maps() != "" {
		t.Fatal("release")
	}
}

var sprintf = fmt.Sprintf
