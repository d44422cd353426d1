package uart

import "testing"

func TestPresent(t *testing.T) {
	for _, c := range []struct {
		lsr, s1, s2 uint8
		want        bool
		name        string
	}{
		{0x60, 0x5a, 0xa5, true, "idle 16550"},
		{0x61, 0x5a, 0xa5, true, "idle with a byte waiting"},
		{0xff, 0xff, 0xff, false, "nothing decodes the ports"},
		{0xff, 0x5a, 0xa5, false, "LSR floats"},
		{0x60, 0x00, 0x00, false, "scratch register does not keep a value"},
		{0x60, 0x5a, 0x5a, false, "scratch register stuck"},
	} {
		if got := present(c.lsr, c.s1, c.s2); got != c.want {
			t.Errorf("%s: present(%#x, %#x, %#x) = %v", c.name, c.lsr, c.s1, c.s2, got)
		}
	}
}

// The line setup the kernel wrote before this package: FCR 0xc7, LCR 3.
func TestLineSetup(t *testing.T) {
	if fifoOnCleared != 0xc7 || lcr8N1 != 3 || lcrDLAB != 0x80 {
		t.Fatalf("FCR %#x LCR %#x DLAB %#x", fifoOnCleared, lcr8N1, lcrDLAB)
	}
}
