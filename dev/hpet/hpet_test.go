package hpet

import "testing"

func TestPeriodOf(t *testing.T) {
	for _, c := range []struct {
		cap  uint64
		fs   uint64
		ok   bool
		name string
	}{
		{0x00989680_8086a201, 10_000_000, true, "QEMU: 100 MHz"},
		{0x0429b17f_8086a701, 69841279, true, "ICH: 14.318 MHz"},
		{0x05f5e100_8086a201, 100_000_000, true, "10 MHz, the slowest allowed"},
		{0x05f5e101_8086a201, 0, false, "slower than 10 MHz"},
		{0, 0, false, "reads zero"},
		{^uint64(0), 0, false, "reads all-ones (nothing there)"},
		{0x8086a201, 0, false, "zero period"},
	} {
		fs, ok := periodOf(c.cap)
		if fs != c.fs || ok != c.ok {
			t.Errorf("%s: periodOf(%#x) = %d, %v; want %d, %v", c.name, c.cap, fs, ok, c.fs, c.ok)
		}
	}
}
