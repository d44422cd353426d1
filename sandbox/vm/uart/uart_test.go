package uart

import (
	"bytes"
	"testing"
)

func newUART() (*UART, *bytes.Buffer) {
	var out bytes.Buffer
	return New(func(b byte) { out.WriteByte(b) }), &out
}

func TestTransmitAndPollingLSR(t *testing.T) {
	u, out := newUART()
	for _, c := range []byte("hello") {
		// What a polling driver does: wait for THR empty, then write.
		if u.Read(RegLSR)&LSRTHREmpty == 0 {
			t.Fatal("THR not empty")
		}
		u.Write(RegData, c)
		if lsr := u.Read(RegLSR); lsr&(LSRTHREmpty|LSRTxEmpty) != LSRTHREmpty|LSRTxEmpty {
			t.Fatalf("LSR %#x after write", lsr)
		}
	}
	if out.String() != "hello" {
		t.Fatalf("out %q", out.String())
	}
	if u.Read(RegLSR)&LSRDataReady != 0 {
		t.Fatal("data ready with nothing received")
	}
}

func TestReceive(t *testing.T) {
	u, _ := newUART()
	u.Input([]byte("ab"))
	if u.Read(RegLSR)&LSRDataReady == 0 {
		t.Fatal("data ready not set")
	}
	if u.Read(RegData) != 'a' || u.Read(RegData) != 'b' {
		t.Fatal("wrong bytes")
	}
	if u.Read(RegLSR)&LSRDataReady != 0 {
		t.Fatal("data ready after draining")
	}
	if u.Read(RegData) != 0 {
		t.Fatal("empty RBR not 0")
	}
}

func TestReceiveOverrun(t *testing.T) {
	u, _ := newUART()
	u.Input(make([]byte, ReceiveFIFOSize+10))
	lsr := u.Read(RegLSR)
	if lsr&LSROverrun == 0 || lsr&LSRDataReady == 0 {
		t.Fatalf("LSR %#x", lsr)
	}
	if u.Read(RegLSR)&LSROverrun != 0 {
		t.Fatal("overrun not cleared by reading LSR")
	}
	n := 0
	for u.Read(RegLSR)&LSRDataReady != 0 {
		u.Read(RegData)
		n++
	}
	if n != ReceiveFIFOSize {
		t.Fatalf("%d bytes kept", n)
	}
	// The ring wraps correctly after draining.
	u.Input([]byte("xyz"))
	if u.Read(RegData) != 'x' || u.Read(RegData) != 'y' || u.Read(RegData) != 'z' {
		t.Fatal("wrapped ring")
	}
}

func TestDLAB(t *testing.T) {
	u, out := newUART()
	u.Write(RegIER, IERReceivedData)
	u.Write(RegLCR, LCRDLAB|0x03)
	u.Write(RegDivisorLow, 0x0C)
	u.Write(RegDivisorHi, 0x00)
	if u.Read(RegDivisorLow) != 0x0C || u.Read(RegDivisorHi) != 0 {
		t.Fatal("divisor latch")
	}
	if out.Len() != 0 {
		t.Fatal("DLL write transmitted")
	}
	u.Write(RegLCR, 0x03)
	if u.Read(RegLCR) != 0x03 || u.Read(RegIER) != IERReceivedData {
		t.Fatal("IER/LCR clobbered by DLAB accesses")
	}
	u.Write(RegLCR, LCRDLAB)
	if u.Read(RegDivisorLow) != 0x0C {
		t.Fatal("divisor lost")
	}
}

func TestScratchAndUnknownOffsets(t *testing.T) {
	u, _ := newUART()
	u.Write(RegScratch, 0x5A)
	if u.Read(RegScratch) != 0x5A {
		t.Fatal("scratch")
	}
	if u.Read(8) != 0xFF {
		t.Fatal("offset 8 decoded")
	}
	u.Write(8, 1) // ignored, no panic
}

func TestIIRAndFIFOControl(t *testing.T) {
	u, _ := newUART()
	if u.Read(RegIIR) != IIRNoInterrupt {
		t.Fatal("IIR at reset")
	}
	u.Write(RegFCR, FCREnable|FCRClearReceive|FCRClearXmit|0xC0)
	if u.Read(RegIIR) != IIRFIFOsEnabled|IIRNoInterrupt {
		t.Fatalf("IIR %#x with FIFOs on", u.Read(RegIIR))
	}
	u.Input([]byte("q"))
	u.Write(RegFCR, FCREnable|FCRClearReceive)
	if u.Read(RegLSR)&LSRDataReady != 0 {
		t.Fatal("FCR clear receive kept data")
	}
	u.Input([]byte("q"))
	u.Write(RegFCR, 0)
	if u.Read(RegLSR)&LSRDataReady != 0 || u.Read(RegIIR)&IIRFIFOsEnabled != 0 {
		t.Fatal("disabling FIFOs")
	}
}

func TestInterrupts(t *testing.T) {
	u, _ := newUART()
	u.Input([]byte("z"))
	if u.InterruptPending() {
		t.Fatal("interrupt with IER 0")
	}
	u.Write(RegIER, IERReceivedData)
	if !u.InterruptPending() || u.Read(RegIIR) != IIRReceivedData {
		t.Fatal("received data interrupt")
	}
	if u.IRQAsserted() {
		t.Fatal("IRQ without OUT2")
	}
	u.Write(RegMCR, MCROut2)
	if !u.IRQAsserted() {
		t.Fatal("IRQ with OUT2")
	}
	u.Read(RegData)
	if u.InterruptPending() {
		t.Fatal("interrupt after draining")
	}
	// THR empty: raised on enabling, acknowledged by reading IIR, raised
	// again by each transmitted byte.
	u.Write(RegIER, IERReceivedData|IERTHREmpty)
	if u.Read(RegIIR) != IIRTHREmpty {
		t.Fatal("THRE interrupt on enable")
	}
	if u.InterruptPending() {
		t.Fatal("THRE not acknowledged by IIR read")
	}
	u.Write(RegData, 'x')
	if !u.InterruptPending() {
		t.Fatal("THRE after transmit")
	}
	// Received data outranks THR empty.
	u.Input([]byte("y"))
	if u.Read(RegIIR) != IIRReceivedData {
		t.Fatal("priority")
	}
	// Line status (overrun) outranks both.
	u.Write(RegIER, IERLineStatus|IERReceivedData|IERTHREmpty)
	u.Input(make([]byte, ReceiveFIFOSize))
	if u.Read(RegIIR) != IIRLineStatus {
		t.Fatal("line status interrupt")
	}
	u.Read(RegLSR)
	if u.Read(RegIIR) != IIRReceivedData {
		t.Fatal("after LSR read")
	}
}

func TestLoopback(t *testing.T) {
	u, out := newUART()
	u.Write(RegMCR, MCRLoopback)
	if msr := u.Read(RegMSR); msr&0xF0 != 0 {
		t.Fatalf("loopback MSR %#x with outputs low", msr)
	}
	u.Write(RegMCR, MCRLoopback|MCRDTR|MCRRTS|MCROut1|MCROut2)
	msr := u.Read(RegMSR)
	if msr&0xF0 != MSRCTS|MSRDSR|MSRRI|MSRDCD {
		t.Fatalf("loopback MSR %#x", msr)
	}
	if msr&(MSRDeltaCTS|MSRDeltaDSR|MSRDeltaDCD) != MSRDeltaCTS|MSRDeltaDSR|MSRDeltaDCD {
		t.Fatalf("deltas %#x", msr)
	}
	if u.Read(RegMSR)&0x0F != 0 {
		t.Fatal("deltas not cleared by reading MSR")
	}
	u.Write(RegMCR, MCRLoopback|MCRDTR|MCRRTS|MCROut2) // RI falls
	if u.Read(RegMSR)&MSRTrailRI == 0 {
		t.Fatal("trailing-edge RI")
	}
	u.Write(RegData, 0xA5)
	if out.Len() != 0 {
		t.Fatal("loopback byte left the UART")
	}
	if u.Read(RegLSR)&LSRDataReady == 0 || u.Read(RegData) != 0xA5 {
		t.Fatal("loopback byte not received")
	}
	u.Write(RegMCR, MCROut2)
	if u.Read(RegMSR)&0xF0 != MSRCTS|MSRDSR|MSRDCD {
		t.Fatal("MSR after loopback off")
	}
	u.Write(RegData, 'k')
	if out.String() != "k" {
		t.Fatal("transmit after loopback off")
	}
}

func TestModemStatusInterrupt(t *testing.T) {
	u, _ := newUART()
	u.Write(RegIER, IERModemStatus)
	if u.InterruptPending() {
		t.Fatal("modem status interrupt at rest")
	}
	u.Write(RegMCR, MCRLoopback) // CTS/DSR/DCD drop
	if u.Read(RegIIR) != IIRModemStatus {
		t.Fatal("modem status interrupt")
	}
	u.Read(RegMSR)
	if u.InterruptPending() {
		t.Fatal("not cleared by MSR read")
	}
}

func TestNilOut(t *testing.T) {
	u := New(nil)
	u.Write(RegData, 'x') // discarded, no panic
}
