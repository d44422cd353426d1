package pic

import "testing"

// The sequence the kernel used before this package existed, byte for
// byte: ICW1 0x11 to both, ICW2 32/40, ICW3 4/2, ICW4 1/1, all masked.
func TestInitSequence(t *testing.T) {
	want := [10]write{
		{0x20, 0x11}, {0xa0, 0x11}, {0x21, 32}, {0xa1, 40}, {0x21, 4}, {0xa1, 2},
		{0x21, 1}, {0xa1, 1}, {0x21, 0xff}, {0xa1, 0xff},
	}
	if got := initSequence(32); got != want {
		t.Fatalf("initSequence(32) = %v, want %v", got, want)
	}
}
