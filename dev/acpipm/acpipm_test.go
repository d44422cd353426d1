package acpipm

import "testing"

// The value the kernel wrote before this package existed.
func TestSleepS5(t *testing.T) {
	if sleepS5 != 0x2000 {
		t.Fatalf("S5 command %#x, want 0x2000", sleepS5)
	}
}
