package vmcore

import (
	"bytes"
	"math/rand"
	"testing"

	"beelzebox/linux"
)

// model is the reference: a page array, page -> protection and contents.
type mpage struct {
	prot int
	data []byte // nil: zero
}

type model map[uint64]*mpage

const (
	mlo    = 0x10000000
	mpages = 96
	mhi    = mlo + mpages*P
)

func (m model) set(a, b uint64, prot int) {
	for p := a; p < b; p += P {
		m[p] = &mpage{prot: prot}
	}
}

func (m model) del(a, b uint64) {
	for p := a; p < b; p += P {
		delete(m, p)
	}
}

func (m model) holes(a, b uint64) bool {
	for p := a; p < b; p += P {
		if m[p] == nil {
			return true
		}
	}
	return false
}

// compare checks the space and the guest against the model.
func compare(t *testing.T, step int, op string, s *Space, f *fake, m model) {
	t.Helper()
	consistent(t, s, f)
	for p := uint64(mlo - 16*P); p < mhi+16*P; p += P {
		want := m[p]
		i := s.index(p)
		var v *vma
		if i < len(s.vmas) && s.vmas[i].start <= p {
			v = s.vmas[i]
		}
		if (want == nil) != (v == nil) {
			t.Fatalf("step %d %s: page %#x mapped %v, model %v\n%s", step, op, p, v != nil, want != nil, s.Maps())
		}
		if v == nil {
			continue
		}
		if v.prot != want.prot {
			t.Fatalf("step %d %s: page %#x prot %d, model %d\n%s", step, op, p, v.prot, want.prot, s.Maps())
		}
		got := make([]byte, P)
		if v.backed {
			got = f.page(p)
		}
		w := want.data
		if w == nil {
			w = make([]byte, P)
		}
		if !bytes.Equal(got, w) {
			t.Fatalf("step %d %s: page %#x contents differ (got %d, model %d)\n%s", step, op, p, got[0], w[0], s.Maps())
		}
	}
}

func TestRandomAgainstModel(t *testing.T) {
	for seed := int64(1); seed <= 40; seed++ {
		randomRun(t, seed, 400)
	}
}

func randomRun(t *testing.T, seed int64, steps int) {
	r := rand.New(rand.NewSource(seed))
	f := newFake()
	s := New(f, mlo, mhi)
	m := model{}
	s.SetBrkBase(mlo + 64*P)
	brk := uint64(mlo + 64*P)
	prots := []int{linux.PROT_NONE, ro, rw, rx, linux.PROT_EXEC}
	page := func() uint64 { return mlo + uint64(r.Intn(mpages))*P }
	pages := func() uint64 { return uint64(1+r.Intn(12)) * P }
	for step := 0; step < steps; step++ {
		var op string
		switch r.Intn(10) {
		case 0, 1: // mmap
			a, n, prot := page(), pages(), prots[r.Intn(len(prots))]
			flags := anon
			switch r.Intn(3) {
			case 0:
				flags |= linux.MAP_FIXED
			case 1:
				a = 0
			}
			op = sprintf("mmap(%#x, %#x, %d, %#x)", a, n, prot, flags)
			got, e := s.Mmap(a, n, prot, flags, nil, 0)
			if flags&linux.MAP_FIXED != 0 && a+n > mhi+16*P {
				break
			}
			if e != 0 {
				if e != linux.ENOMEM || flags&linux.MAP_FIXED != 0 {
					t.Fatalf("seed %d step %d %s: %v", seed, step, op, e)
				}
				break
			}
			if flags&linux.MAP_FIXED != 0 && got != a {
				t.Fatalf("%s at %#x", op, got)
			}
			if flags&linux.MAP_FIXED == 0 && m.holes(got, got+n) != true && len(m) > 0 {
				for p := got; p < got+n; p += P {
					if m[p] != nil {
						t.Fatalf("seed %d step %d %s: placed over a mapping at %#x", seed, step, op, got)
					}
				}
			}
			m.set(got, got+n, prot)
		case 2: // munmap
			a, n := page(), pages()
			op = sprintf("munmap(%#x, %#x)", a, n)
			if e := s.Munmap(a, n); e != 0 {
				t.Fatalf("%s: %v", op, e)
			}
			m.del(a, a+n)
		case 3, 4: // mprotect
			a, n, prot := page(), pages(), prots[r.Intn(len(prots))]
			op = sprintf("mprotect(%#x, %#x, %d)", a, n, prot)
			e := s.Mprotect(a, n, prot)
			p := a
			for ; p < a+n && m[p] != nil; p += P {
				m[p].prot = prot
			}
			if want := linux.Errno(0); p < a+n {
				want = linux.ENOMEM
				if e != want {
					t.Fatalf("seed %d step %d %s: %v, want %v", seed, step, op, e, want)
				}
			} else if e != 0 {
				t.Fatalf("seed %d step %d %s: %v", seed, step, op, e)
			}
		case 5: // guest stores
			for k := 0; k < 4; k++ {
				p := page()
				if mp := m[p]; mp != nil && mp.prot&linux.PROT_WRITE != 0 {
					if mp.data == nil {
						mp.data = make([]byte, P)
					}
					off, n := r.Intn(P), 1+r.Intn(64)
					b := make([]byte, min(n, P-off))
					r.Read(b)
					copy(mp.data[off:], b)
					if err := f.WriteMemory(p+uint64(off), b); err != nil {
						t.Fatal(err)
					}
				}
			}
			op = "stores"
		case 6: // mremap
			a, n, nn := page(), pages(), pages()
			flags := 0
			if r.Intn(2) == 0 {
				flags = linux.MREMAP_MAYMOVE
			}
			op = sprintf("mremap(%#x, %#x, %#x, %d)", a, n, nn, flags)
			saved := map[uint64]*mpage{}
			for p := a; p < a+n; p += P {
				if m[p] != nil {
					c := *m[p]
					saved[p] = &c
				}
			}
			got, e := s.Mremap(a, n, nn, flags, 0)
			if e != 0 {
				if !m.holes(a, a+n) && e == linux.EFAULT {
					// The range may span two mappings Linux would not merge: allowed.
				}
				break
			}
			if m.holes(a, a+n) {
				t.Fatalf("seed %d step %d %s: succeeded over a hole", seed, step, op)
			}
			prot := m[a].prot
			m.del(a, a+n)
			for i := uint64(0); i < nn; i += P {
				np := &mpage{prot: prot}
				if i < n {
					np.data = saved[a+i].data
				}
				m[got+i] = np
			}
		case 7: // madvise
			a, n := page(), pages()
			op = sprintf("madvise(%#x, %#x, DONTNEED)", a, n)
			e := s.Madvise(a, n, linux.MADV_DONTNEED)
			for p := a; p < a+n; p += P {
				if m[p] != nil {
					m[p].data = nil
				}
			}
			if (e == linux.ENOMEM) != m.holes(a, a+n) {
				t.Fatalf("seed %d step %d %s: %v", seed, step, op, e)
			}
		case 8: // brk
			want := mlo + 64*P + uint64(r.Intn(20*P))
			op = sprintf("brk(%#x)", want)
			oldEnd, newEnd := pageUp(brk), pageUp(want)
			ok := true
			if newEnd > oldEnd {
				for p := oldEnd; p < newEnd+P; p += P {
					if m[p] != nil {
						ok = false
					}
				}
			}
			got := s.Brk(want)
			if ok != (got == want) {
				t.Fatalf("seed %d step %d %s = %#x (brk %#x), model says %v", seed, step, op, got, brk, ok)
			}
			if ok {
				if newEnd > oldEnd {
					m.set(oldEnd, newEnd, rw)
				} else {
					m.del(newEnd, oldEnd)
				}
				brk = want
			}
		case 9: // a mapping read back through Maps must not panic
			op = "maps"
			_ = s.Maps()
		}
		compare(t, step, op, s, f, m)
	}
	s.Release()
	if len(f.regions) != 0 {
		t.Fatal("regions left after Release")
	}
}

// TestGarbage throws random arguments at every call: no panic, the
// records stay consistent with the regions.
func TestGarbage(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	f := newFake()
	s := New(f, lo, hi)
	s.SetBrkBase(lo - 0x100000)
	s.Files = func(fd int) (Source, linux.Errno) {
		if fd == 5 {
			return &memSource{name: "/g", data: bytes.Repeat([]byte{3}, 3*P)}, 0
		}
		return nil, linux.EBADF
	}
	val := func() uint64 {
		switch r.Intn(6) {
		case 0:
			return r.Uint64()
		case 1:
			return uint64(r.Intn(64)) * P
		case 2:
			return lo + uint64(r.Intn(4096))*P
		case 3:
			return ^uint64(0) - uint64(r.Intn(3*P))
		case 4:
			return uint64(r.Intn(16))
		}
		return hi - uint64(r.Intn(64))*P
	}
	nrs := []uint64{}
	for nr := range Calls {
		nrs = append(nrs, nr)
	}
	for i := 0; i < 20000; i++ {
		var a [6]uint64
		for j := range a {
			a[j] = val()
		}
		if r.Intn(2) == 0 {
			a[3] = uint64(anon | r.Intn(0x200))
		}
		if r.Intn(3) == 0 {
			a[2] = uint64(r.Intn(8))
		}
		if r.Intn(4) == 0 {
			a[4] = 5
		}
		nr := nrs[r.Intn(len(nrs))]
		Calls[nr].Fn(s, a)
		if i%500 == 0 {
			consistent(t, s, f)
			_ = s.Maps()
		}
	}
	consistent(t, s, f)
	s.Name(val(), val(), "[x]")
	s.Map("x", val()&^pageMask, val()%(1<<20), int(val()%8), nil)
	consistent(t, s, f)
}
