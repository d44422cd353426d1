package vmcore

import (
	"testing"

	"beelzebox/linux"
)

// cloneFake copies f's regions and contents, as sandbox's Duplicate
// copies a guest.
func cloneFake(f *fake) *fake {
	c := newFake()
	c.used = f.used
	for _, r := range f.regions {
		cr := *r
		cr.pages = map[uint64][]byte{}
		for k, v := range r.pages {
			cr.pages[k] = append([]byte(nil), v...)
		}
		c.regions = append(c.regions, &cr)
	}
	return c
}

// TestClone: a clone has the same mappings and break, and the two
// change apart afterwards.
func TestClone(t *testing.T) {
	f := newFake()
	s := New(f, 1<<30, 1<<40)
	a, e := s.Mmap(0, 3*pageSize, linux.PROT_READ|linux.PROT_WRITE, linux.MAP_PRIVATE|linux.MAP_ANONYMOUS, nil, 0)
	if e != 0 {
		t.Fatal(e)
	}
	s.SetBrkBase(0x40000000)
	s.Brk(0x40003000)
	g := cloneFake(f)
	c := s.Clone(g)
	if c.Maps() != s.Maps() || c.Brk(0) != s.Brk(0) {
		t.Fatalf("clone:\n%s\noriginal:\n%s", c.Maps(), s.Maps())
	}
	if e := c.Munmap(a+pageSize, pageSize); e != 0 {
		t.Fatal(e)
	}
	if c.Maps() == s.Maps() {
		t.Fatalf("munmap in the clone changed the original too:\n%s", s.Maps())
	}
	if len(f.regions) == len(g.regions) {
		t.Fatalf("the clone's split reached the original guest: %d regions each", len(f.regions))
	}
}
