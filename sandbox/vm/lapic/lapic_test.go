package lapic

import (
	"math/rand"
	"testing"
)

// 1 GHz TSC (1 tick = 1 ns) and a 100 MHz timer clock: one count at divide
// by 1 is 10 TSC ticks.
const (
	testTSCHz = 1_000_000_000
	testBusHz = 100_000_000
)

const (
	divideBy1  = 0xB
	divideBy2  = 0x0
	divideBy16 = 0x3
)

func newEnabled(t *testing.T) *LAPIC {
	t.Helper()
	a := New(3, testTSCHz, testBusHz)
	a.WriteMMIO(RegSVR, svrSoftwareEnable|0xFF, 0)
	return a
}

func toX2APIC(t *testing.T, a *LAPIC) {
	t.Helper()
	if !a.SetBaseMSR(a.BaseMSR() | BaseX2APIC) {
		t.Fatal("xAPIC -> x2APIC refused")
	}
}

func msr(offset uint32) uint32 { return X2APICMSRBase + offset>>4 }

func TestResetState(t *testing.T) {
	a := New(3, testTSCHz, testBusHz)
	if a.BaseMSR() != DefaultBase|BaseEnable|BaseBSP || a.Base() != DefaultBase {
		t.Fatalf("base MSR %#x", a.BaseMSR())
	}
	if !a.XAPICEnabled() || a.X2APICEnabled() {
		t.Fatal("not in xAPIC mode after reset")
	}
	checks := map[uint32]uint32{
		RegID: 3 << 24, RegVersion: 0x60014, RegSVR: 0xFF, RegDFR: 0xFFFFFFFF,
		RegLVTTimer: LVTMasked, RegLVTLINT0: LVTMasked, RegLVTError: LVTMasked, RegLVTCMCI: LVTMasked,
		RegTPR: 0, RegPPR: 0, RegAPR: 0, RegEOI: 0, RegInitialCount: 0,
	}
	for off, want := range checks {
		if got := a.ReadMMIO(off, 0); got != want {
			t.Errorf("reg %#x = %#x, want %#x", off, got, want)
		}
	}
	if _, ok := a.PendingVector(); ok {
		t.Fatal("pending vector after reset")
	}
}

func TestMMIORoundTrips(t *testing.T) {
	a := newEnabled(t)
	cases := []struct{ off, write, want uint32 }{
		{RegTPR, 0xFFFF_FF45, 0x45},
		{RegLDR, 0xFFFF_FFFF, 0xFF00_0000},
		{RegDFR, 0x0000_0000, 0x0FFF_FFFF},
		{RegSVR, 0xFFFF_FFFF, 0x1FF},
		{RegICRHigh, 0xFFFF_FFFF, 0xFF00_0000},
		{RegLVTTimer, 0xFFFF_FFFF, 0x7_00FF},
		{RegLVTLINT0, 0xFFFF_FFFF, 0x1_A7FF},
		{RegLVTError, 0xFFFF_FFFF, 0x1_00FF},
		{RegLVTThermal, 0x0000_0432, 0x0432},
		{RegLVTCMCI, 0x0001_0040, 0x0001_0040},
		{RegDivideConfig, 0xFFFF_FFFF, 0xB},
		{RegID, 0x0500_0000, 3 << 24},
		{RegVersion, 0, 0x60014},
	}
	for _, c := range cases {
		a.WriteMMIO(c.off, c.write, 0)
		if got := a.ReadMMIO(c.off, 0); got != c.want {
			t.Errorf("reg %#x: wrote %#x read %#x, want %#x", c.off, c.write, got, c.want)
		}
	}
	// Misaligned and unknown offsets read zero.
	if a.ReadMMIO(RegTPR+4, 0) != 0 || a.ReadMMIO(0x3F0, 0) != 0 || a.ReadMMIO(0x2000, 0) != 0 {
		t.Fatal("misaligned/unknown read not zero")
	}
}

func TestX2APICRoundTripsAndGP(t *testing.T) {
	a := New(0x123, testTSCHz, testBusHz)
	if _, ok := a.ReadMSR(0x802, 0); ok {
		t.Fatal("x2APIC MSR readable in xAPIC mode")
	}
	toX2APIC(t, a)
	if a.XAPICEnabled() || !a.X2APICEnabled() {
		t.Fatal("mode flags")
	}
	if a.ReadMMIO(RegVersion, 0) != 0 {
		t.Fatal("MMIO live in x2APIC mode")
	}
	read := func(m uint32) uint64 {
		t.Helper()
		v, ok := a.ReadMSR(m, 0)
		if !ok {
			t.Fatalf("RDMSR %#x #GP", m)
		}
		return v
	}
	if read(0x802) != 0x123 || read(0x803) != VersionValue {
		t.Fatal("ID/version")
	}
	// LDR: cluster 0x12 in 31:16, bit 3 for id[3:0] = 3.
	if got := read(0x80D); got != 0x12_0008 {
		t.Fatalf("LDR %#x", got)
	}
	for _, w := range []struct {
		m    uint32
		v    uint64
		want uint64
	}{{0x808, 0x7F, 0x7F}, {0x80F, 0x1AB, 0x1AB}, {0x832, 0x2_0030, 0x2_0030}, {0x837, 0x33, 0x33},
		{0x83E, 0x8, 0x8}, {0x82F, 0x1_0055, 0x1_0055}, {0x830, 0x1234_5678_000C_4000, 0x1234_5678_000C_4000}} {
		if !a.WriteMSR(w.m, w.v, 0) {
			t.Fatalf("WRMSR %#x #GP", w.m)
		}
		if got := read(w.m); got != w.want {
			t.Errorf("MSR %#x = %#x, want %#x", w.m, got, w.want)
		}
	}
	// Read-only registers: write #GP.
	for _, m := range []uint32{0x802, 0x803, 0x80A, 0x80D, 0x810, 0x817, 0x818, 0x820, 0x827, 0x839} {
		if a.WriteMSR(m, 0, 0) {
			t.Errorf("WRMSR to read-only %#x accepted", m)
		}
	}
	// Write-only registers: read #GP.
	for _, m := range []uint32{0x80B, 0x83F} {
		if _, ok := a.ReadMSR(m, 0); ok {
			t.Errorf("RDMSR of write-only %#x accepted", m)
		}
	}
	// Reserved registers: both #GP.
	for _, m := range []uint32{0x800, 0x801, 0x804, 0x809, 0x80C, 0x80E, 0x829, 0x831, 0x83A, 0x83D, 0x840, 0x8FF} {
		if _, ok := a.ReadMSR(m, 0); ok {
			t.Errorf("RDMSR of reserved %#x accepted", m)
		}
		if a.WriteMSR(m, 0, 0) {
			t.Errorf("WRMSR of reserved %#x accepted", m)
		}
	}
	// Non-zero EOI and ESR writes #GP; zero writes are fine.
	if a.WriteMSR(0x80B, 1, 0) || !a.WriteMSR(0x80B, 0, 0) {
		t.Fatal("EOI write semantics")
	}
	if a.WriteMSR(0x828, 1, 0) || !a.WriteMSR(0x828, 0, 0) {
		t.Fatal("ESR write semantics")
	}
	if _, ok := a.ReadMSR(0x7FF, 0); ok {
		t.Fatal("MSR below the range accepted")
	}
}

func TestBaseMSRTransitions(t *testing.T) {
	a := newEnabled(t)
	base := uint64(DefaultBase)
	cases := []struct {
		name string
		v    uint64
		ok   bool
	}{
		{"reserved bit 9", base | BaseEnable | 1<<9, false},
		{"reserved bit 0", base | BaseEnable | 1, false},
		{"reserved bit 63", base | BaseEnable | 1<<63, false},
		{"EN=0 EXTD=1", base | BaseX2APIC, false},
		{"xAPIC -> x2APIC", base | BaseEnable | BaseX2APIC, true},
		{"x2APIC -> xAPIC", base | BaseEnable, false},
		{"x2APIC -> disabled", base, true},
		{"disabled -> x2APIC", base | BaseEnable | BaseX2APIC, false},
		{"disabled -> xAPIC, moved", 0xFED00000 | BaseEnable, true},
	}
	for _, c := range cases {
		if got := a.SetBaseMSR(c.v); got != c.ok {
			t.Fatalf("%s: SetBaseMSR = %v, want %v", c.name, got, c.ok)
		}
	}
	if a.Base() != 0xFED00000 || a.BaseMSR()&BaseBSP == 0 {
		t.Fatalf("base %#x", a.BaseMSR())
	}
	// Disabling reset the registers: SVR back to 0xFF.
	if got := a.ReadMMIO(RegSVR, 0); got != svrReset {
		t.Fatalf("SVR after disable/enable = %#x", got)
	}
}

func TestDisableResetsStateAndDropsInterrupts(t *testing.T) {
	a := newEnabled(t)
	a.Raise(0x40)
	a.WriteMMIO(RegTPR, 0x20, 0)
	a.SetBaseMSR(DefaultBase)
	a.Raise(0x50)
	if _, ok := a.PendingVector(); ok {
		t.Fatal("disabled APIC has a pending vector")
	}
	a.SetBaseMSR(DefaultBase | BaseEnable)
	a.WriteMMIO(RegSVR, svrSoftwareEnable|0xFF, 0)
	if _, ok := a.PendingVector(); ok || a.ReadMMIO(RegTPR, 0) != 0 {
		t.Fatal("state survived disable")
	}
}

func TestDivideEncodings(t *testing.T) {
	want := map[uint32]uint64{0x0: 2, 0x1: 4, 0x2: 8, 0x3: 16, 0x8: 32, 0x9: 64, 0xA: 128, 0xB: 1}
	for code, div := range want {
		if got := divider(code); got != div {
			t.Errorf("divider(%#x) = %d, want %d", code, got, div)
		}
		a := newEnabled(t)
		a.WriteMMIO(RegDivideConfig, code, 0)
		a.WriteMMIO(RegLVTTimer, 0x30, 0)
		a.WriteMMIO(RegInitialCount, 1000, 0)
		next, ok := a.NextEvent()
		if !ok || next != 1000*div*10 {
			t.Errorf("divide %#x: next event %d %v, want %d", code, next, ok, 1000*div*10)
		}
	}
}

func TestOneShotFiresOnce(t *testing.T) {
	a := newEnabled(t)
	a.WriteMMIO(RegDivideConfig, divideBy1, 100)
	a.WriteMMIO(RegLVTTimer, 0x30, 100)
	a.WriteMMIO(RegInitialCount, 500, 100) // 5000 ticks: fires at 5100
	if next, ok := a.NextEvent(); !ok || next != 5100 {
		t.Fatalf("next %d %v", next, ok)
	}
	a.Update(5099)
	if _, ok := a.PendingVector(); ok {
		t.Fatal("fired early")
	}
	a.Update(5100)
	if v, ok := a.PendingVector(); !ok || v != 0x30 {
		t.Fatalf("pending %#x %v", v, ok)
	}
	a.Acknowledge(0x30)
	a.WriteMMIO(RegEOI, 0, 5101)
	a.Update(20000)
	a.Update(1 << 40)
	if _, ok := a.PendingVector(); ok {
		t.Fatal("one-shot fired twice")
	}
	if _, ok := a.NextEvent(); ok {
		t.Fatal("one-shot still armed")
	}
	if a.ReadMMIO(RegCurrentCount, 1<<40) != 0 {
		t.Fatal("current count not zero after expiry")
	}
}

func TestCurrentCountDecreases(t *testing.T) {
	a := newEnabled(t)
	a.WriteMMIO(RegDivideConfig, divideBy16, 0)
	a.WriteMMIO(RegLVTTimer, 0x30, 0)
	a.WriteMMIO(RegInitialCount, 1000, 0) // 160 ticks per count, 160000 total
	if got := a.ReadMMIO(RegCurrentCount, 0); got != 1000 {
		t.Fatalf("count at start %d", got)
	}
	prev := uint32(1000)
	for now := uint64(0); now <= 160000; now += 1601 {
		c := a.ReadMMIO(RegCurrentCount, now)
		if c > prev {
			t.Fatalf("count rose from %d to %d at %d", prev, c, now)
		}
		prev = c
	}
	if got := a.ReadMMIO(RegCurrentCount, 80000); got != 500 {
		t.Fatalf("count half-way %d, want 500", got)
	}
	// Changing the divider keeps the remaining count.
	a.WriteMMIO(RegDivideConfig, divideBy1, 80000)
	if got := a.ReadMMIO(RegCurrentCount, 80000); got != 500 {
		t.Fatalf("count after divide change %d", got)
	}
	if next, _ := a.NextEvent(); next != 80000+5000 {
		t.Fatalf("next after divide change %d", next)
	}
	a.WriteMMIO(RegInitialCount, 0, 81000)
	if a.ReadMMIO(RegCurrentCount, 81000) != 0 {
		t.Fatal("initial count 0 did not stop the timer")
	}
	if _, ok := a.NextEvent(); ok {
		t.Fatal("stopped timer armed")
	}
}

func TestPeriodic(t *testing.T) {
	a := newEnabled(t)
	a.WriteMMIO(RegDivideConfig, divideBy2, 0)
	a.WriteMMIO(RegLVTTimer, TimerPeriodic<<lvtTimerModeShift|0x40, 0)
	a.WriteMMIO(RegInitialCount, 100, 0) // 2000 ticks
	fires := 0
	for now := uint64(0); now <= 20000; now += 100 {
		a.Update(now)
		if v, ok := a.PendingVector(); ok {
			if now%2000 != 0 || v != 0x40 {
				t.Fatalf("fired %#x at %d", v, now)
			}
			fires++
			a.Acknowledge(v)
			a.WriteMMIO(RegEOI, 0, now)
		}
	}
	if fires != 10 {
		t.Fatalf("%d fires in 10 periods", fires)
	}
	// Far behind: one fire, re-armed in phase after now.
	a.Update(1_000_000_500)
	v, ok := a.PendingVector()
	if !ok {
		t.Fatal("no fire when behind")
	}
	a.Acknowledge(v)
	next, ok := a.NextEvent()
	if !ok || next != 1_000_002_000 {
		t.Fatalf("re-armed at %d %v", next, ok)
	}
	if got := a.ReadMMIO(RegCurrentCount, 1_000_001_000); got != 50 {
		t.Fatalf("count mid-period %d", got)
	}
}

func TestMinimumPeriod(t *testing.T) {
	a := newEnabled(t)
	a.WriteMMIO(RegDivideConfig, divideBy1, 0)
	a.WriteMMIO(RegLVTTimer, TimerPeriodic<<lvtTimerModeShift|0x40, 0)
	a.WriteMMIO(RegInitialCount, 1, 0) // asks for 10 ns
	next, ok := a.NextEvent()
	if !ok || next != MinTimerPeriodNanos {
		t.Fatalf("next %d, want the 1 µs minimum", next)
	}
	for now := uint64(0); now < 100*MinTimerPeriodNanos; now += 777 {
		a.Update(now)
		if v, ok := a.PendingVector(); ok {
			a.Acknowledge(v) // taken: the next firing is an event again
			a.WriteMMIO(RegEOI, 0, now)
		}
		if next, ok := a.NextEvent(); !ok || next <= now || next > now+MinTimerPeriodNanos {
			t.Fatalf("next %d at %d", next, now)
		}
	}
}

func TestMaskedTimerCountsSilently(t *testing.T) {
	a := newEnabled(t)
	a.WriteMMIO(RegDivideConfig, divideBy1, 0)
	a.WriteMMIO(RegLVTTimer, LVTMasked|TimerPeriodic<<lvtTimerModeShift|0x40, 0)
	a.WriteMMIO(RegInitialCount, 100, 0) // 1000 ticks
	if _, ok := a.NextEvent(); ok {
		t.Fatal("masked timer reports an event")
	}
	a.Update(5500)
	if _, ok := a.PendingVector(); ok {
		t.Fatal("masked timer raised")
	}
	if got := a.ReadMMIO(RegCurrentCount, 5500); got != 50 {
		t.Fatalf("masked timer count %d", got)
	}
	a.WriteMMIO(RegLVTTimer, TimerPeriodic<<lvtTimerModeShift|0x40, 5500)
	if next, ok := a.NextEvent(); !ok || next != 6000 {
		t.Fatalf("unmasked next %d %v", next, ok)
	}
}

func TestTSCDeadline(t *testing.T) {
	a := newEnabled(t)
	a.SetTSCDeadline(500, 0) // one-shot mode: ignored
	if a.TSCDeadline() != 0 {
		t.Fatal("deadline accepted outside deadline mode")
	}
	a.WriteMMIO(RegLVTTimer, TimerTSCDeadline<<lvtTimerModeShift|0x50, 0)
	a.WriteMMIO(RegInitialCount, 100, 0) // ignored in deadline mode
	if a.ReadMMIO(RegInitialCount, 0) != 0 || a.ReadMMIO(RegCurrentCount, 0) != 0 {
		t.Fatal("initial count used in deadline mode")
	}
	a.SetTSCDeadline(1000, 10)
	if a.TSCDeadline() != 1000 {
		t.Fatal("deadline not stored")
	}
	if next, ok := a.NextEvent(); !ok || next != 1000 {
		t.Fatalf("next %d %v", next, ok)
	}
	a.Update(999)
	if _, ok := a.PendingVector(); ok {
		t.Fatal("fired early")
	}
	a.Update(1000)
	if v, ok := a.PendingVector(); !ok || v != 0x50 {
		t.Fatal("did not fire")
	}
	if a.TSCDeadline() != 0 {
		t.Fatal("deadline not cleared on firing")
	}
	if _, ok := a.NextEvent(); ok {
		t.Fatal("still armed")
	}
	// A deadline in the past fires at once; 0 disarms.
	a.Acknowledge(0x50)
	a.WriteMMIO(RegEOI, 0, 1000)
	a.SetTSCDeadline(5, 2000)
	if _, ok := a.PendingVector(); !ok {
		t.Fatal("past deadline did not fire")
	}
	a.SetTSCDeadline(9000, 2000)
	a.SetTSCDeadline(0, 2000)
	if _, ok := a.NextEvent(); ok {
		t.Fatal("writing 0 did not disarm")
	}
	// Switching mode disarms.
	a.SetTSCDeadline(9000, 2000)
	a.WriteMMIO(RegLVTTimer, TimerOneShot<<lvtTimerModeShift|0x50, 2000)
	a.WriteMMIO(RegLVTTimer, TimerTSCDeadline<<lvtTimerModeShift|0x50, 2000)
	if a.TSCDeadline() != 0 {
		t.Fatal("mode switch did not disarm")
	}
	// And a running count timer is disarmed when switching to deadline mode.
	a.WriteMMIO(RegLVTTimer, TimerPeriodic<<lvtTimerModeShift|0x50, 2000)
	a.WriteMMIO(RegInitialCount, 100, 2000)
	a.WriteMMIO(RegLVTTimer, TimerTSCDeadline<<lvtTimerModeShift|0x50, 2000)
	if _, ok := a.NextEvent(); ok {
		t.Fatal("count timer survived the switch to deadline mode")
	}
}

func TestTSCDeadlineViaX2APIC(t *testing.T) {
	a := newEnabled(t)
	toX2APIC(t, a)
	a.WriteMSR(0x832, TimerTSCDeadline<<lvtTimerModeShift|0x61, 0)
	a.SetTSCDeadline(300, 0)
	a.Update(300)
	if v, ok := a.PendingVector(); !ok || v != 0x61 {
		t.Fatal("x2APIC deadline timer did not fire")
	}
}

func TestTPRBlocksLowerPriority(t *testing.T) {
	a := newEnabled(t)
	a.WriteMMIO(RegTPR, 0x50, 0)
	a.Raise(0x55) // class 5: not above TPR class 5
	if _, ok := a.PendingVector(); ok {
		t.Fatal("vector of TPR's class delivered")
	}
	a.Raise(0x61)
	if v, ok := a.PendingVector(); !ok || v != 0x61 {
		t.Fatalf("pending %#x %v", v, ok)
	}
	a.WriteMMIO(RegTPR, 0x00, 0)
	if v, _ := a.PendingVector(); v != 0x61 {
		t.Fatal("highest vector not chosen")
	}
	if a.ReadMMIO(RegIRR+0x20, 0) != 1<<(0x55-0x40) || a.ReadMMIO(RegIRR+0x30, 0) != 1<<(0x61-0x60) {
		t.Fatal("IRR register contents")
	}
}

func TestNestedISRAndEOIOrder(t *testing.T) {
	a := newEnabled(t)
	a.Raise(0x40)
	v, _ := a.PendingVector()
	a.Acknowledge(v)
	if a.ReadMMIO(RegPPR, 0) != 0x40 {
		t.Fatalf("PPR %#x", a.ReadMMIO(RegPPR, 0))
	}
	a.Raise(0x45) // same class as in service: held
	if _, ok := a.PendingVector(); ok {
		t.Fatal("same-class vector nested")
	}
	a.Raise(0x80) // higher class nests
	v, ok := a.PendingVector()
	if !ok || v != 0x80 {
		t.Fatal("higher class did not nest")
	}
	a.Acknowledge(v)
	if a.ReadMMIO(RegPPR, 0) != 0x80 || a.ReadMMIO(RegISR+0x40, 0) != 1 || a.ReadMMIO(RegISR+0x20, 0) != 1 {
		t.Fatal("ISR/PPR after nesting")
	}
	a.WriteMMIO(RegEOI, 0, 0) // ends 0x80, the highest
	if a.ReadMMIO(RegISR+0x40, 0) != 0 || a.ReadMMIO(RegISR+0x20, 0) != 1 || a.ReadMMIO(RegPPR, 0) != 0x40 {
		t.Fatal("EOI did not end the highest in-service vector")
	}
	a.WriteMMIO(RegEOI, 0, 0)
	if v, ok := a.PendingVector(); !ok || v != 0x45 {
		t.Fatal("held vector not delivered after EOI")
	}
	// TPR above the ISR class wins in PPR.
	a.Acknowledge(0x45)
	a.WriteMMIO(RegTPR, 0x93, 0)
	if a.ReadMMIO(RegPPR, 0) != 0x93 {
		t.Fatalf("PPR %#x", a.ReadMMIO(RegPPR, 0))
	}
}

func TestIllegalVectorsAndESR(t *testing.T) {
	a := newEnabled(t)
	a.Raise(7)
	if _, ok := a.PendingVector(); ok {
		t.Fatal("illegal vector delivered")
	}
	if a.ReadMMIO(RegESR, 0) != 0 {
		t.Fatal("ESR visible before the write")
	}
	a.WriteMMIO(RegESR, 0, 0)
	if a.ReadMMIO(RegESR, 0) != ESRReceiveIllegalVect {
		t.Fatalf("ESR %#x", a.ReadMMIO(RegESR, 0))
	}
	a.WriteMMIO(RegESR, 0, 0)
	if a.ReadMMIO(RegESR, 0) != 0 {
		t.Fatal("ESR not cleared by the next write")
	}
	// An unmasked error LVT raises its vector; a self IPI with an illegal
	// vector is a send error.
	a.WriteMMIO(RegLVTError, 0xEE, 0)
	a.WriteMMIO(RegICRLow, shorthandSelf<<icrShorthandShift|3, 0)
	a.WriteMMIO(RegESR, 0, 0)
	if a.ReadMMIO(RegESR, 0) != ESRSendIllegalVector {
		t.Fatalf("ESR %#x", a.ReadMMIO(RegESR, 0))
	}
	if v, ok := a.PendingVector(); !ok || v != 0xEE {
		t.Fatal("error interrupt not raised")
	}
}

func TestSelfIPIViaICR(t *testing.T) {
	cases := []struct {
		name string
		high uint32
		low  uint32
		self bool
	}{
		{"shorthand self", 0, shorthandSelf<<icrShorthandShift | 0x31, true},
		{"all including self", 0, shorthandAllIncSelf<<icrShorthandShift | 0x31, true},
		{"all excluding self", 0, shorthandAllExclSelf<<icrShorthandShift | 0x31, false},
		{"physical own ID", 3 << 24, 0x31, true},
		{"physical broadcast", 0xFF << 24, 0x31, true},
		{"physical other ID", 4 << 24, 0x31, false},
		{"logical flat match", 0x02 << 24, icrLogical | 0x31, true},
		{"logical flat miss", 0x01 << 24, icrLogical | 0x31, false},
		{"lowest priority to self", 0, shorthandSelf<<icrShorthandShift | deliveryLowestPriority<<icrDeliveryModeShift | 0x31, true},
		{"NMI to self dropped", 0, shorthandSelf<<icrShorthandShift | deliveryNMI<<icrDeliveryModeShift | 0x31, false},
	}
	for _, c := range cases {
		a := newEnabled(t)
		a.WriteMMIO(RegLDR, 0x02<<24, 0)
		a.WriteMMIO(RegICRHigh, c.high, 0)
		a.WriteMMIO(RegICRLow, c.low, 0)
		v, ok := a.PendingVector()
		if ok != c.self || ok && v != 0x31 {
			t.Errorf("%s: pending %#x %v", c.name, v, ok)
		}
		if a.ReadMMIO(RegICRLow, 0)&icrDeliveryStatus != 0 {
			t.Errorf("%s: delivery status busy", c.name)
		}
	}
}

func TestINITAndSIPIToAbsentCPUDropped(t *testing.T) {
	a := newEnabled(t)
	a.WriteMMIO(RegICRHigh, 1<<24, 0)
	for _, low := range []uint32{
		deliveryINIT<<icrDeliveryModeShift | icrLevelAssert,
		deliveryINIT << icrDeliveryModeShift,
		deliveryStartup<<icrDeliveryModeShift | 0x08,
		deliveryStartup<<icrDeliveryModeShift | shorthandAllExclSelf<<icrShorthandShift | 0x08,
		deliverySMI << icrDeliveryModeShift,
		0x40, // fixed to APIC 1, absent
	} {
		a.WriteMMIO(RegICRLow, low, 0)
		if a.ReadMMIO(RegICRLow, 0)&icrDeliveryStatus != 0 {
			t.Fatalf("ICR %#x busy", low)
		}
		if _, ok := a.PendingVector(); ok || a.InitRequested() {
			t.Fatalf("ICR %#x delivered something", low)
		}
	}
	a.WriteMMIO(RegESR, 0, 0)
	if a.ReadMMIO(RegESR, 0) != 0 {
		t.Fatal("dropped IPIs logged errors")
	}
}

func TestX2APICSelfIPI(t *testing.T) {
	a := newEnabled(t)
	toX2APIC(t, a)
	if !a.WriteMSR(0x83F, 0x77, 0) {
		t.Fatal("SELF IPI write #GP")
	}
	if v, ok := a.PendingVector(); !ok || v != 0x77 {
		t.Fatal("SELF IPI not raised")
	}
	// ICR in x2APIC mode: 64-bit, destination in 63:32.
	a.Acknowledge(0x77)
	a.WriteMSR(0x80B, 0, 0)
	a.WriteMSR(0x830, 3<<32|0x88, 0)
	if v, ok := a.PendingVector(); !ok || v != 0x88 {
		t.Fatal("x2APIC physical self IPI not raised")
	}
	a.Acknowledge(0x88)
	a.WriteMSR(0x80B, 0, 0)
	a.WriteMSR(0x830, 0x300<<32|0x88, 0) // x2APIC ID 0x300 is somebody else
	if _, ok := a.PendingVector(); ok {
		t.Fatal("IPI to another x2APIC ID delivered")
	}
	// Logical: own cluster 0, member bit 3.
	a.WriteMSR(0x830, 0x0008<<32|icrLogical|0x89, 0)
	if v, ok := a.PendingVector(); !ok || v != 0x89 {
		t.Fatal("x2APIC logical self IPI not raised")
	}
}

func TestSVRDisableMasksLVTsRepeatedly(t *testing.T) {
	a := newEnabled(t)
	for round := 0; round < 5; round++ {
		now := uint64(round) * 100000
		a.WriteMMIO(RegSVR, svrSoftwareEnable|0xFF, now)
		a.WriteMMIO(RegLVTTimer, TimerPeriodic<<lvtTimerModeShift|0x40, now)
		a.WriteMMIO(RegDivideConfig, divideBy1, now)
		a.WriteMMIO(RegInitialCount, 100, now)
		a.WriteMMIO(RegLVTLINT0, 0x700, now)
		if a.ReadMMIO(RegLVTTimer, now)&LVTMasked != 0 {
			t.Fatalf("round %d: timer LVT masked while enabled", round)
		}
		a.Update(now + 1000)
		if v, ok := a.PendingVector(); !ok || v != 0x40 {
			t.Fatalf("round %d: no timer interrupt while enabled", round)
		}
		a.Acknowledge(0x40)
		a.WriteMMIO(RegEOI, 0, now+1000)

		a.WriteMMIO(RegSVR, 0xFF, now+1000) // software disable
		for _, off := range []uint32{RegLVTCMCI, RegLVTTimer, RegLVTThermal, RegLVTPerf, RegLVTLINT0, RegLVTLINT1, RegLVTError} {
			if a.ReadMMIO(off, now)&LVTMasked == 0 {
				t.Fatalf("round %d: LVT %#x not masked", round, off)
			}
		}
		a.WriteMMIO(RegLVTTimer, TimerPeriodic<<lvtTimerModeShift|0x40, now+1000)
		if a.ReadMMIO(RegLVTTimer, now)&LVTMasked == 0 {
			t.Fatalf("round %d: mask cleared while disabled", round)
		}
		a.Raise(0x90)
		a.Update(now + 50000)
		if _, ok := a.PendingVector(); ok {
			t.Fatalf("round %d: delivery while software-disabled", round)
		}
		if _, ok := a.NextEvent(); ok {
			t.Fatalf("round %d: timer event while software-disabled", round)
		}
		// Enabling again: the held IRR bit is delivered; LVTs stay
		// masked until software unmasks them.
		a.WriteMMIO(RegSVR, svrSoftwareEnable|0xFF, now+50000)
		if a.ReadMMIO(RegLVTTimer, now)&LVTMasked == 0 {
			t.Fatalf("round %d: re-enable unmasked the LVT", round)
		}
		if v, ok := a.PendingVector(); !ok || v != 0x90 {
			t.Fatalf("round %d: held vector lost", round)
		}
		a.Acknowledge(0x90)
		a.WriteMMIO(RegEOI, 0, now+50000)
	}
}

// TestWildReprogramming throws random register, MSR and base writes at the
// APIC with random, mostly increasing times and checks the invariants the
// hypervisor relies on.
func TestWildReprogramming(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	offsets := []uint32{RegTPR, RegEOI, RegLDR, RegDFR, RegSVR, RegESR, RegICRLow, RegICRHigh,
		RegLVTCMCI, RegLVTTimer, RegLVTThermal, RegLVTPerf, RegLVTLINT0, RegLVTLINT1, RegLVTError,
		RegInitialCount, RegCurrentCount, RegDivideConfig, RegSelfIPI, RegID, RegISR, RegIRR + 0x70}
	for seed := 0; seed < 200; seed++ {
		a := New(uint32(rng.Intn(4)), uint64(rng.Int63n(5e9)), uint64(rng.Int63n(2e9)))
		now := uint64(rng.Int63n(1 << 40))
		for step := 0; step < 2000; step++ {
			switch rng.Intn(10) {
			case 0:
				now = uint64(rng.Int63n(1 << 62)) // jumps, also backwards
			default:
				now += uint64(rng.Intn(5000))
			}
			off := offsets[rng.Intn(len(offsets))]
			v := rng.Uint32()
			if rng.Intn(3) == 0 {
				v &= 0x700FF | LVTMasked | svrSoftwareEnable
			}
			switch rng.Intn(12) {
			case 0:
				a.SetBaseMSR(DefaultBase | uint64(rng.Intn(4))<<10)
			case 1:
				a.SetTSCDeadline(now+uint64(rng.Intn(10000))-5000, now)
			case 2:
				a.WriteMSR(X2APICMSRBase+uint32(rng.Intn(0x100)), rng.Uint64()>>uint(rng.Intn(64)), now)
			case 3:
				a.ReadMSR(X2APICMSRBase+uint32(rng.Intn(0x100)), now)
			case 4:
				a.Raise(uint8(rng.Intn(256)))
			case 5:
				a.ReadMMIO(off, now)
			case 6:
				if v, ok := a.PendingVector(); ok {
					a.Acknowledge(v)
				}
			default:
				a.WriteMMIO(off, v, now)
			}
			a.Update(now)
			if next, ok := a.NextEvent(); ok && next <= now {
				t.Fatalf("seed %d step %d: next event %d not after now %d", seed, step, next, now)
			}
			if v, ok := a.PendingVector(); ok && v < 16 {
				t.Fatalf("seed %d step %d: illegal pending vector %d", seed, step, v)
			}
		}
	}
}

func TestReprogrammingAfterExpiryStillFires(t *testing.T) {
	a := newEnabled(t)
	a.WriteMMIO(RegDivideConfig, divideBy1, 0)
	a.WriteMMIO(RegLVTTimer, 0x30, 0)
	a.WriteMMIO(RegInitialCount, 100, 0) // due at 1000
	a.WriteMMIO(RegInitialCount, 100, 1500)
	if v, ok := a.PendingVector(); !ok || v != 0x30 {
		t.Fatal("count that ran out before the rewrite did not fire")
	}
	if next, ok := a.NextEvent(); ok {
		t.Fatalf("next event at %d while the timer's vector is pending", next)
	}
	a.Acknowledge(0x30)
	if next, ok := a.NextEvent(); !ok || next != 2500 {
		t.Fatalf("re-armed at %d %v", next, ok)
	}
}
