// Package lapic models the local APIC of one virtual CPU in xAPIC (MMIO) and
// x2APIC (MSR) modes, following Intel SDM Vol. 3A chapter 11 "Advanced
// Programmable Interrupt Controller (APIC)".
//
// The model is passive: it never runs on its own. Time is the guest's TSC
// value, passed into every call that can observe it (now). The hypervisor
// calls Update(now) before it injects interrupts, asks NextEvent for when it
// must next wake the vCPU, and moves a vector from PendingVector to
// Acknowledge when it injects it.
//
// What is modelled: the register file (ID, version, TPR, PPR, EOI, LDR, DFR,
// SVR, ISR/TMR/IRR, ESR, the seven LVT entries, ICR, timer registers, x2APIC
// SELF IPI), IA32_APIC_BASE with the x2APIC state transitions of §11.12.5,
// the timer in one-shot, periodic and TSC-deadline modes (§11.5.4), the
// priority rules of §11.8.3 and self IPIs.
//
// What is left out: this is a single-vCPU machine, so IPIs to any other
// destination, and INIT, SIPI, NMI and SMI IPIs, are dropped; the ICR never
// stays busy. Level-triggered interrupts, TMR (reads zero), the arbitration
// priority (APR reads zero), EOI broadcast, focus processor checking, LINT0,
// LINT1, thermal, performance and CMCI sources (their LVT entries are plain
// registers) and reserved-bit #GPs on x2APIC register writes (other than EOI
// and ESR) are not modelled.
//
// The timer enforces a minimum period of MinTimerPeriodNanos (1 µs) of guest
// TSC ticks in one-shot and periodic modes: a guest that programs a shorter
// period gets 1 µs, so a periodic timer can never make the host spin.
package lapic

import "math/bits"

// MinTimerPeriodNanos is the shortest one-shot or periodic timer period the
// model produces, in nanoseconds of guest TSC time (at least one tick).
// (The host asks for its vCPU back no sooner than machine.minWake.)
const MinTimerPeriodNanos = 1000

// The LVT entries, in the order of lvt[].
const (
	lvtCMCI = iota
	lvtTimer
	lvtThermal
	lvtPerf
	lvtLINT0
	lvtLINT1
	lvtError
	lvtCount
)

var lvtWritable = [lvtCount]uint32{
	lvtCMCI:    lvtOtherWritable,
	lvtTimer:   lvtTimerWritable,
	lvtThermal: lvtOtherWritable,
	lvtPerf:    lvtOtherWritable,
	lvtLINT0:   lvtLINTWritable,
	lvtLINT1:   lvtLINTWritable,
	lvtError:   lvtErrorWritable,
}

// LAPIC is the local APIC of one vCPU. It is not safe for concurrent use.
type LAPIC struct {
	id     uint32
	tscHz  uint64
	busHz  uint64
	minTSC uint64 // minimum timer period in TSC ticks

	baseMSR uint64

	tpr       uint32
	ldr       uint32
	dfr       uint32
	svr       uint32
	isr       [8]uint32
	irr       [8]uint32
	esr       uint32 // value software reads
	esrLatent uint32 // errors since the last ESR write
	icrLow    uint32
	icrHigh   uint32 // xAPIC: destination in 31:24; x2APIC: full destination
	lvt       [lvtCount]uint32
	divide    uint32 // divide configuration register

	initialCount uint32
	timerRunning bool   // one-shot/periodic counting
	timerNext    uint64 // TSC at which the count reaches zero
	timerPeriod  uint64 // TSC ticks of one full initial count
	tscDeadline  uint64 // TSC-deadline mode: 0 = disarmed
}

// New makes an APIC with the given ID; tscHz is the guest TSC rate and busHz
// the APIC timer's input clock (before the divider). A zero rate is taken as
// 1 Hz. The APIC starts enabled in xAPIC mode at DefaultBase as the bootstrap
// processor (a single-vCPU machine has only the BSP), with the register
// values of §11.4.7.1 "Local APIC State After Power-Up or Reset".
func New(id uint32, tscHz, busHz uint64) *LAPIC {
	if tscHz == 0 {
		tscHz = 1
	}
	if busHz == 0 {
		busHz = 1
	}
	a := &LAPIC{id: id, tscHz: tscHz, busHz: busHz}
	a.minTSC = mulDiv(tscHz, MinTimerPeriodNanos, 1_000_000_000)
	if a.minTSC == 0 {
		a.minTSC = 1
	}
	a.baseMSR = DefaultBase | BaseEnable | BaseBSP
	a.reset()
	return a
}

// reset puts every register except the ID and IA32_APIC_BASE in its reset
// state (§11.4.7.1, §11.12.5.1).
func (a *LAPIC) reset() {
	a.tpr, a.ldr, a.dfr, a.svr = 0, 0, dfrReset, svrReset
	a.isr, a.irr = [8]uint32{}, [8]uint32{}
	a.esr, a.esrLatent, a.icrLow, a.icrHigh = 0, 0, 0, 0
	for i := range a.lvt {
		a.lvt[i] = LVTMasked
	}
	a.divide, a.initialCount = 0, 0
	a.timerRunning, a.timerNext, a.timerPeriod, a.tscDeadline = false, 0, 0, 0
}

// BaseMSR returns the IA32_APIC_BASE value.
func (a *LAPIC) BaseMSR() uint64 { return a.baseMSR }

// SetBaseMSR writes IA32_APIC_BASE. It returns false when the write must
// raise #GP: reserved bits set (bits 7:0, 9 and 63:52), or an invalid state
// transition of §11.12.5: to EN=0 EXTD=1, from x2APIC directly to xAPIC, or
// from disabled directly to x2APIC. Disabling the APIC resets its registers;
// the BSP bit is read-only.
func (a *LAPIC) SetBaseMSR(v uint64) bool {
	if v&^uint64(baseWriteable) != 0 {
		return false
	}
	wasEnabled, wasX2 := a.baseMSR&BaseEnable != 0, a.baseMSR&BaseX2APIC != 0
	enable, x2 := v&BaseEnable != 0, v&BaseX2APIC != 0
	switch {
	case x2 && !enable: // the invalid state
		return false
	case wasX2 && enable && !x2: // x2APIC -> xAPIC
		return false
	case !wasEnabled && x2: // disabled -> x2APIC
		return false
	}
	a.baseMSR = v&(BaseAddrMask|BaseEnable|BaseX2APIC) | a.baseMSR&BaseBSP
	switch {
	case wasEnabled && !enable:
		a.reset()
	case !wasX2 && x2:
		// §11.12.5.1: the logical x2APIC ID is set on entering x2APIC mode.
		a.ldr = a.x2apicLDR()
	}
	return true
}

// Base returns the physical address of the MMIO page.
func (a *LAPIC) Base() uint64 { return a.baseMSR & BaseAddrMask }

func (a *LAPIC) enabled() bool { return a.baseMSR&BaseEnable != 0 }

// XAPICEnabled reports whether the APIC is enabled in xAPIC mode, that is
// whether the MMIO page is live.
func (a *LAPIC) XAPICEnabled() bool {
	return a.enabled() && a.baseMSR&BaseX2APIC == 0
}

// X2APICEnabled reports whether the APIC is in x2APIC mode.
func (a *LAPIC) X2APICEnabled() bool {
	return a.enabled() && a.baseMSR&BaseX2APIC != 0
}

func (a *LAPIC) softwareEnabled() bool { return a.svr&svrSoftwareEnable != 0 }

// x2apicLDR is the logical x2APIC ID derived from the x2APIC ID (§11.12.10.2):
// cluster ID (id[19:4]) in bits 31:16, one bit for id[3:0] in bits 15:0.
func (a *LAPIC) x2apicLDR() uint32 {
	return (a.id>>4)<<16 | 1<<(a.id&0xF)
}

// ReadMMIO reads the 32-bit register at a 16-byte aligned offset in the xAPIC
// page. Unknown, write-only and misaligned registers read 0, as does every
// register while the page is not live.
func (a *LAPIC) ReadMMIO(offset uint32, now uint64) uint32 {
	if !a.XAPICEnabled() || offset&0xF != 0 || offset >= 0x1000 {
		return 0
	}
	v, ok := a.read(offset, now, false)
	if !ok {
		return 0
	}
	return uint32(v)
}

// WriteMMIO writes the 32-bit register at a 16-byte aligned offset in the
// xAPIC page. Writes to read-only, unknown or misaligned offsets are ignored.
func (a *LAPIC) WriteMMIO(offset uint32, v uint32, now uint64) {
	if !a.XAPICEnabled() || offset&0xF != 0 || offset >= 0x1000 {
		return
	}
	a.write(offset, uint64(v), now, false)
}

// ReadMSR reads an x2APIC MSR (0x800-0x8FF). It returns false when RDMSR must
// raise #GP: x2APIC mode off, or a write-only or reserved register.
func (a *LAPIC) ReadMSR(msr uint32, now uint64) (uint64, bool) {
	if !a.X2APICEnabled() || msr < X2APICMSRBase || msr > X2APICMSRLast {
		return 0, false
	}
	return a.read((msr-X2APICMSRBase)<<4, now, true)
}

// WriteMSR writes an x2APIC MSR. It returns false when WRMSR must raise #GP:
// x2APIC mode off, a read-only or reserved register, or a non-zero write to
// EOI or ESR.
func (a *LAPIC) WriteMSR(msr uint32, v uint64, now uint64) bool {
	if !a.X2APICEnabled() || msr < X2APICMSRBase || msr > X2APICMSRLast {
		return false
	}
	return a.write((msr-X2APICMSRBase)<<4, v, now, true)
}

func inRange(offset, first uint32) bool { return offset >= first && offset < first+0x80 }

// read returns the register at offset in the given mode; false = not readable.
func (a *LAPIC) read(offset uint32, now uint64, x2 bool) (uint64, bool) {
	switch {
	case offset == RegID:
		if x2 {
			return uint64(a.id), true
		}
		return uint64(a.id&0xFF) << 24, true
	case offset == RegVersion:
		return VersionValue, true
	case offset == RegTPR:
		return uint64(a.tpr), true
	case offset == RegAPR && !x2:
		return 0, true
	case offset == RegPPR:
		return uint64(a.ppr()), true
	case offset == RegLDR:
		return uint64(a.ldr), true
	case offset == RegDFR && !x2:
		return uint64(a.dfr), true
	case offset == RegSVR:
		return uint64(a.svr), true
	case inRange(offset, RegISR):
		return uint64(a.isr[(offset-RegISR)>>4]), true
	case inRange(offset, RegTMR):
		return 0, true
	case inRange(offset, RegIRR):
		return uint64(a.irr[(offset-RegIRR)>>4]), true
	case offset == RegESR:
		return uint64(a.esr), true
	case offset == RegICRLow:
		if x2 {
			return uint64(a.icrHigh)<<32 | uint64(a.icrLow), true
		}
		return uint64(a.icrLow), true
	case offset == RegICRHigh && !x2:
		return uint64(a.icrHigh), true
	case offset == RegLVTCMCI:
		return uint64(a.lvt[lvtCMCI]), true
	case offset >= RegLVTTimer && offset <= RegLVTError:
		return uint64(a.lvt[lvtTimer+(offset-RegLVTTimer)>>4]), true
	case offset == RegInitialCount:
		return uint64(a.initialCount), true
	case offset == RegCurrentCount:
		return uint64(a.currentCount(now)), true
	case offset == RegDivideConfig:
		return uint64(a.divide), true
	}
	// EOI, SELF IPI (write-only), RRD and everything unknown.
	return 0, false
}

// write stores v in the register at offset; false = the write must #GP (only
// reported in x2APIC mode; xAPIC writes to such offsets are ignored).
func (a *LAPIC) write(offset uint32, v uint64, now uint64, x2 bool) bool {
	v32 := uint32(v)
	switch {
	case offset == RegTPR:
		a.tpr = v32 & tprMask
	case offset == RegEOI:
		if x2 && v != 0 {
			return false
		}
		a.eoi()
	case offset == RegLDR && !x2:
		a.ldr = v32 & ldrWritable
	case offset == RegDFR && !x2:
		a.dfr = v32 | ^uint32(dfrModel) // bits 27:0 are reserved, read as 1
	case offset == RegSVR:
		a.Update(now) // a timer that expired while enabled still fires
		a.writeSVR(v32)
	case offset == RegESR:
		if x2 && v != 0 {
			return false
		}
		a.esr, a.esrLatent = a.esrLatent, 0
	case offset == RegICRLow:
		if x2 {
			a.icrHigh = uint32(v >> 32)
		}
		a.icrLow = v32 & icrLowWritable
		a.sendIPI()
	case offset == RegICRHigh && !x2:
		a.icrHigh = v32 & icrHighXAPICWritable
	case offset == RegLVTCMCI:
		a.writeLVT(lvtCMCI, v32, now)
	case offset >= RegLVTTimer && offset <= RegLVTError:
		a.writeLVT(lvtTimer+int(offset-RegLVTTimer)>>4, v32, now)
	case offset == RegInitialCount:
		a.writeInitialCount(v32, now)
	case offset == RegDivideConfig:
		a.writeDivide(v32, now)
	case offset == RegSelfIPI && x2:
		a.raise(uint8(v32), ESRSendIllegalVector)
	case offset == RegID && !x2:
		// Read-only in practice; ignored.
	case offset == RegVersion || offset == RegPPR || offset == RegCurrentCount ||
		inRange(offset, RegISR) || inRange(offset, RegTMR) || inRange(offset, RegIRR) ||
		offset == RegAPR && !x2:
		if x2 {
			return false // read-only
		}
	default:
		if x2 {
			return false // reserved
		}
	}
	return true
}

func (a *LAPIC) writeSVR(v uint32) {
	a.svr = v & svrWritable
	if !a.softwareEnabled() {
		// §11.4.7.2: while software-disabled, every LVT mask bit is set
		// and cannot be cleared.
		for i := range a.lvt {
			a.lvt[i] |= LVTMasked
		}
	}
}

func timerMode(lvt uint32) uint32 { return (lvt & lvtTimerMode) >> lvtTimerModeShift }

func (a *LAPIC) writeLVT(i int, v uint32, now uint64) {
	a.Update(now)
	v &= lvtWritable[i]
	if !a.softwareEnabled() {
		v |= LVTMasked
	}
	if i == lvtTimer && timerMode(v) != timerMode(a.lvt[i]) {
		// §11.5.4.1: changing the timer mode disarms the timer.
		a.timerRunning = false
		a.tscDeadline = 0
	}
	a.lvt[i] = v | a.lvt[i]&lvtRemoteIRR
}

// countMode reports whether the timer counts (one-shot or periodic mode);
// the reserved mode 3 behaves as one-shot.
func (a *LAPIC) countMode() bool { return timerMode(a.lvt[lvtTimer]) != TimerTSCDeadline }

func (a *LAPIC) periodic() bool { return timerMode(a.lvt[lvtTimer]) == TimerPeriodic }

// divider returns the divide value encoded in bits 0, 1 and 3 of the divide
// configuration register (§11.5.4 Figure 11-10): 000 → 2, 001 → 4, 010 → 8,
// 011 → 16, 100 → 32, 101 → 64, 110 → 128, 111 → 1.
func divider(config uint32) uint64 {
	code := config&3 | (config>>1)&4
	return 1 << ((code + 1) & 7)
}

// countsToTSC converts timer counts at the current divider to TSC ticks,
// never less than the minimum period.
func (a *LAPIC) countsToTSC(counts uint32) uint64 {
	t := mulDiv(uint64(counts)*divider(a.divide), a.tscHz, a.busHz)
	if t < a.minTSC {
		t = a.minTSC
	}
	return t
}

func (a *LAPIC) writeInitialCount(v uint32, now uint64) {
	if !a.countMode() {
		return // §11.5.4.1: ignored in TSC-deadline mode
	}
	a.Update(now) // the count being replaced fires if it already ran out
	a.initialCount = v
	if v == 0 {
		a.timerRunning = false
		return
	}
	a.timerPeriod = a.countsToTSC(v)
	a.timerNext = addSat(now, a.timerPeriod)
	a.timerRunning = true
}

func (a *LAPIC) writeDivide(v uint32, now uint64) {
	a.Update(now)
	if !a.timerRunning {
		a.divide = v & divideWritable
		return
	}
	// Keep the remaining count; it runs down at the new rate from now on.
	remaining := a.currentCount(now)
	a.divide = v & divideWritable
	a.timerPeriod = a.countsToTSC(a.initialCount)
	a.timerNext = addSat(now, a.countsToTSC(remaining))
}

// currentCount is the current-count register: the counts left until the
// timer reaches zero, rounded up, at most the initial count.
func (a *LAPIC) currentCount(now uint64) uint32 {
	if !a.countMode() || !a.timerRunning {
		return 0
	}
	next := a.timerNext
	if a.periodic() && now >= next {
		next = a.nextPeriod(now)
	}
	if now >= next {
		return 0
	}
	c := mulDivCeil(next-now, a.busHz, a.tscHz) / divider(a.divide)
	if c > uint64(a.initialCount) {
		c = uint64(a.initialCount)
	}
	return uint32(c)
}

// nextPeriod is the first period boundary after now of a periodic timer
// whose timerNext ≤ now: the phase is kept, and it is computed, not looped.
func (a *LAPIC) nextPeriod(now uint64) uint64 {
	late := now - a.timerNext
	return addSat(now, a.timerPeriod-late%a.timerPeriod)
}

// TSCDeadline returns IA32_TSC_DEADLINE; it reads 0 unless the timer is in
// TSC-deadline mode (§11.5.4.1).
func (a *LAPIC) TSCDeadline() uint64 {
	if !a.enabled() || a.countMode() {
		return 0
	}
	return a.tscDeadline
}

// SetTSCDeadline writes IA32_TSC_DEADLINE: 0 disarms, any other value arms
// the timer to fire when the TSC reaches it. Ignored unless the timer is in
// TSC-deadline mode.
func (a *LAPIC) SetTSCDeadline(v uint64, now uint64) {
	if !a.enabled() || a.countMode() {
		return
	}
	a.tscDeadline = v
	a.Update(now)
}

// Update fires every timer event due by now. A periodic timer that fell
// more than one period behind fires once and re-arms at its next period
// boundary after now, so Update does a bounded amount of work.
func (a *LAPIC) Update(now uint64) {
	if !a.enabled() {
		return
	}
	if a.countMode() {
		if !a.timerRunning || now < a.timerNext {
			return
		}
		if a.periodic() {
			a.timerNext = a.nextPeriod(now)
		} else {
			a.timerRunning = false
		}
		a.fireTimer()
		return
	}
	if a.tscDeadline != 0 && now >= a.tscDeadline {
		a.tscDeadline = 0 // §11.5.4.1: the timer disarms itself on firing
		a.fireTimer()
	}
}

func (a *LAPIC) fireTimer() {
	lvt := a.lvt[lvtTimer]
	if lvt&LVTMasked != 0 || !a.softwareEnabled() {
		return
	}
	a.raise(uint8(lvt&lvtVector), ESRReceiveIllegalVect)
}

// NextEvent returns the TSC value at which the timer fires next, if it is
// armed and unmasked. After Update(now) the returned value is always > now.
func (a *LAPIC) NextEvent() (tsc uint64, ok bool) {
	if !a.enabled() || !a.softwareEnabled() || a.lvt[lvtTimer]&LVTMasked != 0 {
		return 0, false
	}
	// A firing while the timer's vector waits in the IRR changes nothing
	// the guest can see until it is taken: no event before that.
	if v := uint8(a.lvt[lvtTimer] & lvtVector); a.irr[v>>5]&(1<<(v&31)) != 0 {
		return 0, false
	}
	if a.countMode() {
		return a.timerNext, a.timerRunning
	}
	return a.tscDeadline, a.tscDeadline != 0
}

// ppr computes the processor priority (§11.8.3.1): the TPR if its class is
// at least that of the highest in-service vector, else that vector's class.
func (a *LAPIC) ppr() uint32 {
	isrv := uint32(0)
	if v, ok := highest(&a.isr); ok {
		isrv = uint32(v)
	}
	if a.tpr>>4 >= isrv>>4 {
		return a.tpr
	}
	return isrv & 0xF0
}

// highest returns the highest vector set in a 256-bit register.
func highest(r *[8]uint32) (uint8, bool) {
	for i := 7; i >= 0; i-- {
		if r[i] != 0 {
			return uint8(i*32 + 31 - bits.LeadingZeros32(r[i])), true
		}
	}
	return 0, false
}

func setBit(r *[8]uint32, v uint8)   { r[v>>5] |= 1 << (v & 31) }
func clearBit(r *[8]uint32, v uint8) { r[v>>5] &^= 1 << (v & 31) }

// PendingVector returns the highest vector in IRR whose priority class is
// above the processor priority class (§11.8.4), if the APIC is enabled and
// software-enabled.
func (a *LAPIC) PendingVector() (vector uint8, ok bool) {
	if !a.enabled() || !a.softwareEnabled() {
		return 0, false
	}
	v, ok := highest(&a.irr)
	if !ok || uint32(v)>>4 <= a.ppr()>>4 {
		return 0, false
	}
	return v, true
}

// Acknowledge records that vector was injected: its IRR bit moves to ISR,
// which raises the processor priority.
func (a *LAPIC) Acknowledge(vector uint8) {
	clearBit(&a.irr, vector)
	setBit(&a.isr, vector)
}

// eoi clears the highest in-service bit (§11.8.5 "Signaling Interrupt
// Servicing Completion").
func (a *LAPIC) eoi() {
	if v, ok := highest(&a.isr); ok {
		clearBit(&a.isr, v)
	}
}

// Raise delivers a fixed, edge-triggered interrupt from outside (an I/O
// APIC, a device model). Vectors below 16 are illegal: they are recorded as
// "received illegal vector" in ESR and dropped. A globally disabled APIC
// drops everything; a software-disabled one holds the vector in IRR until
// it is software-enabled again.
func (a *LAPIC) Raise(vector uint8) { a.raise(vector, ESRReceiveIllegalVect) }

// raise sets vector in IRR, or for an illegal vector records illegalErr.
func (a *LAPIC) raise(vector uint8, illegalErr uint32) {
	if !a.enabled() {
		return
	}
	if vector < lowestLegalVector {
		a.signalError(illegalErr)
		return
	}
	setBit(&a.irr, vector)
}

// signalError records an error in ESR and raises the error LVT interrupt if
// it is unmasked and legal (§11.5.3).
func (a *LAPIC) signalError(bit uint32) {
	a.esrLatent |= bit
	lvt := a.lvt[lvtError]
	if lvt&LVTMasked == 0 && a.softwareEnabled() && lvt&lvtVector >= lowestLegalVector {
		setBit(&a.irr, uint8(lvt&lvtVector))
	}
}

// sendIPI acts on a write to the ICR: fixed (and lowest-priority) IPIs that
// target this APIC raise their vector; everything else is dropped, since
// there is no other CPU (§11.6.1). Delivery completes at once.
func (a *LAPIC) sendIPI() {
	mode := (a.icrLow & icrDeliveryMode) >> icrDeliveryModeShift
	if mode != deliveryFixed && mode != deliveryLowestPriority {
		return // SMI, NMI, INIT, SIPI: to self or absent CPUs, dropped
	}
	vector := uint8(a.icrLow & icrVector)
	var toSelf bool
	switch (a.icrLow & icrShorthand) >> icrShorthandShift {
	case shorthandSelf, shorthandAllIncSelf:
		toSelf = true
	case shorthandAllExclSelf:
		toSelf = false
	case shorthandNone:
		toSelf = a.destinationIsSelf()
	}
	if vector < lowestLegalVector {
		a.signalError(ESRSendIllegalVector)
		return
	}
	if toSelf {
		a.raise(vector, ESRReceiveIllegalVect)
	}
}

// destinationIsSelf matches the ICR destination against this APIC in
// physical or logical destination mode (§11.6.2).
func (a *LAPIC) destinationIsSelf() bool {
	x2 := a.X2APICEnabled()
	var dest uint32
	if x2 {
		dest = a.icrHigh
	} else {
		dest = a.icrHigh >> 24
	}
	if a.icrLow&icrLogical == 0 {
		if x2 {
			return dest == a.id || dest == x2apicBroadcast
		}
		return dest == a.id&0xFF || dest == xapicBroadcast
	}
	if x2 {
		// §11.12.10.2: cluster in 31:16, member bitmap in 15:0.
		if dest == x2apicBroadcast {
			return true
		}
		return dest>>16 == a.ldr>>16 && dest&a.ldr&0xFFFF != 0
	}
	logical := a.ldr >> 24
	if dest == xapicBroadcast {
		return true
	}
	if a.dfr>>28 == dfrFlat {
		return dest&logical != 0
	}
	// Cluster model: cluster in bits 7:4, member bitmap in 3:0.
	return dest>>4 == logical>>4 && dest&logical&0xF != 0
}

// InitRequested reports whether an INIT was delivered to this vCPU. INIT
// IPIs are dropped by this model, so it is always false.
func (a *LAPIC) InitRequested() bool { return false }

// addSat returns a+b, saturating at MaxUint64.
func addSat(a, b uint64) uint64 {
	s, carry := bits.Add64(a, b, 0)
	if carry != 0 {
		return ^uint64(0)
	}
	return s
}

// mulDiv returns a*b/c with a 128-bit intermediate, saturating at MaxUint64.
func mulDiv(a, b, c uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if c == 0 || hi >= c {
		return ^uint64(0)
	}
	q, _ := bits.Div64(hi, lo, c)
	return q
}

// mulDivCeil is mulDiv rounded up.
func mulDivCeil(a, b, c uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if c == 0 || hi >= c {
		return ^uint64(0)
	}
	q, r := bits.Div64(hi, lo, c)
	if r != 0 {
		q++
	}
	return q
}
