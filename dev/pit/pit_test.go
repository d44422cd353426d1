package pit

import "testing"

func TestDivisor(t *testing.T) {
	for _, c := range []struct {
		hz   uint32
		want uint16
	}{{1000, 1193}, {100, 11931}, {1193182, 1}, {18, 0}, {0, 0}} {
		if got := divisor(c.hz); got != c.want {
			t.Errorf("divisor(%d) = %d, want %d", c.hz, got, c.want)
		}
	}
}

func TestCountFor(t *testing.T) {
	for _, c := range []struct {
		ns   uint32
		want uint16
	}{{500_000, 596}, {1_000_000, 1193}, {100_000_000, 0xffff}, {0, 0}} {
		if got := countFor(c.ns); got != c.want {
			t.Errorf("countFor(%d) = %d, want %d", c.ns, got, c.want)
		}
	}
}

// The control words are those the kernel wrote before this package:
// 0x34 for channel 0 and 0xb0 for channel 2.
func TestControlWords(t *testing.T) {
	if w := selectChannel0 | accessLoHi | mode2 | binary; w != 0x34 {
		t.Errorf("channel 0 control word %#x, want 0x34", w)
	}
	if w := selectChannel2 | accessLoHi | mode0 | binary; w != 0xb0 {
		t.Errorf("channel 2 control word %#x, want 0xb0", w)
	}
}
