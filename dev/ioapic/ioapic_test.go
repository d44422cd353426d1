package ioapic

import "testing"

func TestEntriesOf(t *testing.T) {
	for _, c := range []struct {
		version uint32
		n       int
		ok      bool
		name    string
	}{
		{0x00170011, 24, true, "82093AA / QEMU: 24 entries, version 0x11"},
		{0x00170020, 24, true, "ICH: version 0x20"},
		{0x00770020, 120, true, "120 entries"},
		{0xffffffff, 0, false, "nothing there"},
		{0x00780020, 0, false, "121 entries do not fit the 8-bit index"},
	} {
		n, ok := entriesOf(c.version)
		if n != c.n || ok != c.ok {
			t.Errorf("%s: entriesOf(%#x) = %d, %v", c.name, c.version, n, ok)
		}
	}
}

func TestRedirRegs(t *testing.T) {
	if lo, hi := redirRegs(0); lo != 0x10 || hi != 0x11 {
		t.Errorf("entry 0 at %#x/%#x", lo, hi)
	}
	if lo, hi := redirRegs(23); lo != 0x3e || hi != 0x3f {
		t.Errorf("entry 23 at %#x/%#x", lo, hi)
	}
}
