// Package uart models a National Semiconductor PC16550D-compatible UART (the
// "16550A" of PC serial ports) as seen through its eight I/O ports.
//
// The transmitter is instantaneous: a byte written to THR goes straight to
// the host's out function (or, in loopback mode, into the receive FIFO), so
// THR empty and transmitter empty are always set in LSR. Bytes from the host
// queue in a receive FIFO of ReceiveFIFOSize bytes; what does not fit is
// dropped and reported as an overrun error.
//
// Not modelled: baud rate, character format and timing (the divisor latch
// and LCR are plain registers), parity/framing errors and break, the
// character-timeout interrupt, receive FIFO trigger levels (data-ready is
// reported as soon as one byte is waiting), DMA mode, and the 1-byte receive
// buffer of 16450 mode (the FIFO is used whether FCR enables it or not; only
// IIR's FIFO bits and FIFO clearing follow FCR). Host input keeps arriving in
// loopback mode instead of being cut off.
package uart

// Port offsets from the base port (COM1 = 0x3F8).
const (
	COM1Base = 0x3F8

	RegData       = 0 // RBR (read), THR (write); DLL when LCR.DLAB
	RegIER        = 1 // interrupt enable; DLM when LCR.DLAB
	RegIIR        = 2 // interrupt identification (read)
	RegFCR        = 2 // FIFO control (write)
	RegLCR        = 3 // line control
	RegMCR        = 4 // modem control
	RegLSR        = 5 // line status
	RegMSR        = 6 // modem status
	RegScratch    = 7
	RegDivisorLow = 0 // DLL, with LCR.DLAB set
	RegDivisorHi  = 1 // DLM, with LCR.DLAB set
)

// IER bits.
const (
	IERReceivedData = 1 << 0
	IERTHREmpty     = 1 << 1
	IERLineStatus   = 1 << 2
	IERModemStatus  = 1 << 3
	ierWritable     = 0x0F
)

// IIR values: bit 0 clear = interrupt pending, bits 3:1 = its source, bits
// 7:6 = FIFOs enabled.
const (
	IIRNoInterrupt  = 0x01
	IIRModemStatus  = 0x00
	IIRTHREmpty     = 0x02
	IIRReceivedData = 0x04
	IIRLineStatus   = 0x06
	IIRFIFOsEnabled = 0xC0
)

// FCR bits.
const (
	FCREnable       = 1 << 0
	FCRClearReceive = 1 << 1
	FCRClearXmit    = 1 << 2
	fcrTrigger      = 0xC0
)

// LCR bits.
const LCRDLAB = 1 << 7

// MCR bits.
const (
	MCRDTR      = 1 << 0
	MCRRTS      = 1 << 1
	MCROut1     = 1 << 2
	MCROut2     = 1 << 3 // gates the interrupt line on PCs
	MCRLoopback = 1 << 4
	mcrWritable = 0x1F
)

// LSR bits.
const (
	LSRDataReady = 1 << 0
	LSROverrun   = 1 << 1
	LSRTHREmpty  = 1 << 5
	LSRTxEmpty   = 1 << 6
)

// MSR bits: deltas in 3:0, line states in 7:4.
const (
	MSRDeltaCTS = 1 << 0
	MSRDeltaDSR = 1 << 1
	MSRTrailRI  = 1 << 2
	MSRDeltaDCD = 1 << 3
	MSRCTS      = 1 << 4
	MSRDSR      = 1 << 5
	MSRRI       = 1 << 6
	MSRDCD      = 1 << 7
)

// ReceiveFIFOSize bounds the bytes waiting for the guest.
const ReceiveFIFOSize = 4096

// UART is one 16550A. It is not safe for concurrent use.
type UART struct {
	out func(b byte)

	rx      []byte // receive FIFO; rx[rxHead] is the oldest byte
	rxHead  int
	rxCount int

	ier, lcr, mcr, scratch uint8
	divisorLow, divisorHi  uint8
	fcr                    uint8 // FIFO enable and trigger bits as written
	overrun                bool
	thrEmptyInterrupt      bool // THR-empty interrupt not yet acknowledged
	modemDeltas            uint8
	modemLines             uint8
}

// New makes a UART whose transmitted bytes go to out (nil discards them).
// The divisor latch starts at 1 (115200 baud); the modem lines CTS, DSR and
// DCD are asserted.
func New(out func(b byte)) *UART {
	u := &UART{out: out, rx: make([]byte, ReceiveFIFOSize), divisorLow: 1}
	u.modemLines = u.lineState()
	return u
}

func (u *UART) dlab() bool     { return u.lcr&LCRDLAB != 0 }
func (u *UART) loopback() bool { return u.mcr&MCRLoopback != 0 }

// lineState is MSR bits 7:4: in loopback the MCR outputs fed back (RTS→CTS,
// DTR→DSR, OUT1→RI, OUT2→DCD), otherwise a connected, ready peer.
func (u *UART) lineState() uint8 {
	if !u.loopback() {
		return MSRCTS | MSRDSR | MSRDCD
	}
	var s uint8
	if u.mcr&MCRRTS != 0 {
		s |= MSRCTS
	}
	if u.mcr&MCRDTR != 0 {
		s |= MSRDSR
	}
	if u.mcr&MCROut1 != 0 {
		s |= MSRRI
	}
	if u.mcr&MCROut2 != 0 {
		s |= MSRDCD
	}
	return s
}

// updateModemLines records delta bits for changed modem lines.
func (u *UART) updateModemLines() {
	now := u.lineState()
	changed := now ^ u.modemLines
	if changed&MSRCTS != 0 {
		u.modemDeltas |= MSRDeltaCTS
	}
	if changed&MSRDSR != 0 {
		u.modemDeltas |= MSRDeltaDSR
	}
	if changed&MSRRI != 0 && now&MSRRI == 0 { // trailing edge only
		u.modemDeltas |= MSRTrailRI
	}
	if changed&MSRDCD != 0 {
		u.modemDeltas |= MSRDeltaDCD
	}
	u.modemLines = now
}

// Read reads the register at offset 0-7 from the base port; other offsets
// read 0xFF (nothing decodes them).
func (u *UART) Read(offset uint16) uint8 {
	switch offset {
	case RegData:
		if u.dlab() {
			return u.divisorLow
		}
		b, _ := u.pop()
		return b
	case RegIER:
		if u.dlab() {
			return u.divisorHi
		}
		return u.ier
	case RegIIR:
		iir := u.interruptID()
		if iir == IIRTHREmpty {
			u.thrEmptyInterrupt = false // reading IIR acknowledges it
		}
		if u.fcr&FCREnable != 0 {
			iir |= IIRFIFOsEnabled
		}
		return iir
	case RegLCR:
		return u.lcr
	case RegMCR:
		return u.mcr
	case RegLSR:
		lsr := u.lsr()
		u.overrun = false // cleared by reading LSR
		return lsr
	case RegMSR:
		msr := u.modemLines | u.modemDeltas
		u.modemDeltas = 0
		return msr
	case RegScratch:
		return u.scratch
	}
	return 0xFF
}

// Write writes the register at offset 0-7 from the base port.
func (u *UART) Write(offset uint16, v uint8) {
	switch offset {
	case RegData:
		if u.dlab() {
			u.divisorLow = v
			return
		}
		u.transmit(v)
	case RegIER:
		if u.dlab() {
			u.divisorHi = v
			return
		}
		old := u.ier
		u.ier = v & ierWritable
		if old&IERTHREmpty == 0 && u.ier&IERTHREmpty != 0 {
			// Enabling the THR-empty interrupt while THR is empty
			// raises it at once.
			u.thrEmptyInterrupt = true
		}
	case RegFCR:
		if (v^u.fcr)&FCREnable != 0 || v&FCRClearReceive != 0 {
			u.rxHead, u.rxCount = 0, 0 // changing FIFO mode clears the FIFOs
		}
		u.fcr = v & (FCREnable | fcrTrigger)
	case RegLCR:
		u.lcr = v
	case RegMCR:
		u.mcr = v & mcrWritable
		u.updateModemLines()
	case RegLSR, RegMSR:
		// Writable on real parts for factory testing only; ignored.
	case RegScratch:
		u.scratch = v
	}
}

func (u *UART) transmit(b byte) {
	if u.loopback() {
		u.push(b)
	} else if u.out != nil {
		u.out(b)
	}
	// The byte left at once: THR is empty again.
	u.thrEmptyInterrupt = true
}

// Input queues bytes the host sends to the guest. Bytes that do not fit in
// the receive FIFO are dropped and flagged as an overrun in LSR.
func (u *UART) Input(b []byte) {
	for _, c := range b {
		u.push(c)
	}
}

func (u *UART) push(b byte) {
	if u.rxCount == len(u.rx) {
		u.overrun = true
		return
	}
	u.rx[(u.rxHead+u.rxCount)%len(u.rx)] = b
	u.rxCount++
}

func (u *UART) pop() (byte, bool) {
	if u.rxCount == 0 {
		return 0, false
	}
	b := u.rx[u.rxHead]
	u.rxHead = (u.rxHead + 1) % len(u.rx)
	u.rxCount--
	return b, true
}

func (u *UART) lsr() uint8 {
	lsr := uint8(LSRTHREmpty | LSRTxEmpty)
	if u.rxCount > 0 {
		lsr |= LSRDataReady
	}
	if u.overrun {
		lsr |= LSROverrun
	}
	return lsr
}

// interruptID is the highest-priority enabled interrupt condition, as IIR
// bits 3:0: line status, received data, THR empty, modem status.
func (u *UART) interruptID() uint8 {
	switch {
	case u.ier&IERLineStatus != 0 && u.overrun:
		return IIRLineStatus
	case u.ier&IERReceivedData != 0 && u.rxCount > 0:
		return IIRReceivedData
	case u.ier&IERTHREmpty != 0 && u.thrEmptyInterrupt:
		return IIRTHREmpty
	case u.ier&IERModemStatus != 0 && u.modemDeltas != 0:
		return IIRModemStatus
	}
	return IIRNoInterrupt
}

// InterruptPending reports whether an IER-enabled condition is pending.
func (u *UART) InterruptPending() bool { return u.interruptID() != IIRNoInterrupt }

// IRQAsserted reports whether the UART drives its interrupt line on a PC,
// where MCR.OUT2 gates the line to the interrupt controller.
func (u *UART) IRQAsserted() bool { return u.InterruptPending() && u.mcr&MCROut2 != 0 }
