package lapic

import "testing"

// The x2APIC MSR of each register the driver uses (SDM Vol. 3A table 12-6).
func TestMSRFor(t *testing.T) {
	for _, c := range []struct {
		reg, msr uint32
	}{
		{regID, 0x802}, {regTPR, 0x808}, {regEOI, 0x80b}, {regSVR, 0x80f},
		{regICRLow, 0x830}, {regLVTTimer, 0x832}, {regTimerInitial, 0x838},
		{regTimerCurrent, 0x839}, {regTimerDivide, 0x83e},
	} {
		if got := msrFor(c.reg); got != c.msr {
			t.Errorf("msrFor(%#x) = %#x, want %#x", c.reg, got, c.msr)
		}
	}
}

// The ICR encodings of the sends the SMP code makes, checked against the
// bit layout of SDM Vol. 3A figure 12-12 / 12-28 written out by hand.
func TestICREncodings(t *testing.T) {
	const (
		vectorBits   = 0x000ff
		deliveryMode = 0x00700
		level        = 0x04000
		trigger      = 0x08000
		shorthand    = 0xc0000
	)
	cases := []struct {
		name string
		low  uint32
		want uint32
	}{
		{"fixed 0x40", icrFixed | icrPhysical | icrAssert | icrEdge | icrNoShorthand | 0x40, 0x4040},
		{"fixed all-but-self 0x41", icrFixed | icrAssert | icrEdge | icrAllButSelf | 0x41, 0xc4041},
		{"NMI", icrNMI | icrPhysical | icrAssert | icrEdge | icrNoShorthand, 0x4400},
		{"NMI all-but-self", icrNMI | icrAssert | icrEdge | icrAllButSelf, 0xc4400},
		{"INIT assert", icrINIT | icrPhysical | icrAssert | icrLevel | icrNoShorthand, 0xc500},
		{"INIT de-assert", icrINIT | icrPhysical | icrDeassert | icrLevel | icrNoShorthand, 0x8500},
		{"STARTUP page 8", icrStartup | icrPhysical | icrAssert | icrEdge | icrNoShorthand | 8, 0x4608},
	}
	for _, c := range cases {
		if c.low != c.want {
			t.Errorf("%s: ICR low %#x, want %#x", c.name, c.low, c.want)
		}
		if c.low&^(vectorBits|deliveryMode|level|trigger|shorthand) != 0 {
			t.Errorf("%s: ICR low %#x sets a reserved, logical-mode or status bit", c.name, c.low)
		}
	}
	if got := x2APICICR(0x12345678, 0x4040); got != 0x12345678_00004040 {
		t.Errorf("x2APIC ICR = %#x", got)
	}
	if hi, lo := xapicICR(0x3, 0x4608); hi != 0x03000000 || lo != 0x4608 {
		t.Errorf("xAPIC ICR = %#x:%#x", hi, lo)
	}
	if lvt := uint32(lvtMasked | lvtTimerOneShot | TimerVector); lvt != 0x10020 {
		t.Errorf("masked one-shot LVT timer = %#x, want 0x10020", lvt)
	}
	if svr := uint32(svrSoftEnable | SpuriousVector); svr != 0x1ff {
		t.Errorf("SVR = %#x, want 0x1ff", svr)
	}
}
