package vmx

import "testing"

func TestExitReasons(t *testing.T) {
	for _, c := range []struct {
		r    ExitReason
		n    uint16
		name string
	}{
		{ExitExceptionOrNMI, 0, "exception or NMI"},
		{ExitTripleFault, 2, "triple fault"},
		{ExitCPUID, 10, "CPUID"},
		{ExitHLT, 12, "HLT"},
		{ExitVMCALL, 18, "VMCALL"},
		{ExitCRAccess, 28, "control-register access"},
		{ExitIO, 30, "I/O instruction"},
		{ExitInvalidGuestState, 33, "VM-entry failure due to invalid guest state"},
		{ExitEPTViolation, 48, "EPT violation"},
		{ExitEPTMisconfig, 49, "EPT misconfiguration"},
		{ExitPreemptionTimer, 52, "VMX-preemption timer expired"},
		{ExitXRSTORS, 64, "XRSTORS"},
		{ExitTDCALL, 77, "TDCALL"},
	} {
		if uint16(c.r) != c.n || c.r.String() != c.name {
			t.Errorf("exit %d: value %d name %q, want %q", c.n, uint16(c.r), c.r.String(), c.name)
		}
	}
	for r := ExitReason(0); r <= 77; r++ {
		unused := r == 35 || r == 38 || r == 42 || r == 71
		if r.Known() == unused {
			t.Errorf("exit reason %d: Known = %v", r, r.Known())
		}
	}
	if ExitReason(200).String() != "exit reason 200" {
		t.Errorf("unknown reason name %q", ExitReason(200).String())
	}
	raw := RawExitReason(1<<31 | 33)
	if raw.Basic() != ExitInvalidGuestState || !raw.EntryFailure() {
		t.Errorf("raw %#x: basic %v failure %v", uint32(raw), raw.Basic(), raw.EntryFailure())
	}
	if s := raw.String(); s != "VM-entry failure: VM-entry failure due to invalid guest state" {
		t.Errorf("raw string %q", s)
	}
	if RawExitReason(48).EntryFailure() {
		t.Errorf("EntryFailure on plain exit")
	}
}

func TestVMInstructionErrors(t *testing.T) {
	if ErrEntryInvalidControls != 7 || ErrEntryInvalidControls.String() != "VM entry with invalid control field(s)" {
		t.Errorf("error 7: %q", ErrEntryInvalidControls.String())
	}
	if ErrEntryInvalidHostState != 8 || ErrInvalidINVEPTINVVPIDOperand != 28 || ErrEntryEventsBlockedByMOVSS != 26 {
		t.Errorf("error numbers")
	}
	if VMInstructionErrorNumber(14).String() != "VM-instruction error 14" {
		t.Errorf("unused number: %q", VMInstructionErrorNumber(14).String())
	}
}

func TestIOQualification(t *testing.T) {
	// OUT DX, AL to 0x3F8: size 0, out, DX operand.
	q := IOQualification(0x3F8 << 16)
	if q.Size() != 1 || q.In() || q.StringInstruction() || q.Rep() || q.ImmediateOperand() || q.Port() != 0x3F8 {
		t.Errorf("OUT DX,AL decoded wrong: %v", q)
	}
	// REP INSD from port 0x1F0 (DX): size 3 (4 bytes), in, string, rep.
	q = IOQualification(0x1F0<<16 | 1<<5 | 1<<4 | 1<<3 | 3)
	if q.Size() != 4 || !q.In() || !q.StringInstruction() || !q.Rep() || q.ImmediateOperand() || q.Port() != 0x1F0 {
		t.Errorf("REP INSD decoded wrong: %v", q)
	}
	// IN AX, 0x60 (immediate): size 1 (2 bytes).
	q = IOQualification(0x60<<16 | 1<<6 | 1<<3 | 1)
	if q.Size() != 2 || !q.In() || !q.ImmediateOperand() || q.Port() != 0x60 {
		t.Errorf("IN AX,imm decoded wrong: %v", q)
	}
	if s := q.String(); s != "IN 2 byte(s) port 0x60 (imm)" {
		t.Errorf("String %q", s)
	}
}

func TestCRAccessQualification(t *testing.T) {
	// MOV CR3, R12: CR 3, type 0, register 12.
	q := CRAccessQualification(12<<8 | 0<<4 | 3)
	if q.CR() != 3 || q.AccessType() != CRMovTo || q.Register() != 12 {
		t.Errorf("MOV to CR3: %v", q)
	}
	if q.String() != "MOV to CR3 from R12" {
		t.Errorf("String %q", q.String())
	}
	// MOV RBX, CR8.
	q = CRAccessQualification(3<<8 | 1<<4 | 8)
	if q.CR() != 8 || q.AccessType() != CRMovFrom || q.Register() != 3 {
		t.Errorf("MOV from CR8: %v", q)
	}
	// LMSW from memory with source 0x0011.
	q = CRAccessQualification(0x0011<<16 | 1<<6 | 3<<4)
	if q.AccessType() != CRLMSW || !q.LMSWMemory() || q.LMSWSource() != 0x11 {
		t.Errorf("LMSW: %v", q)
	}
	if CRAccessQualification(2<<4).AccessType() != CRCLTS {
		t.Errorf("CLTS")
	}
}

func TestEPTViolationQualification(t *testing.T) {
	// Write to a readable+executable page, linear address valid, translation.
	q := EPTViolationQualification(1<<1 | 1<<3 | 1<<5 | 1<<7 | 1<<8)
	if q.Read() || !q.Write() || q.Fetch() || !q.Readable() || q.Writable() || !q.Executable() ||
		q.UserExecutable() || !q.LinearAddressValid() || !q.Translation() || q.NMIUnblocking() {
		t.Errorf("decoded wrong: %v", q)
	}
	if q.String() != "write to r-x (linear-address translation)" {
		t.Errorf("String %q", q.String())
	}
	q = EPTViolationQualification(1<<2 | 1<<6 | 1<<12)
	if !q.Fetch() || !q.UserExecutable() || !q.NMIUnblocking() || q.LinearAddressValid() {
		t.Errorf("fetch decoded wrong: %v", q)
	}
}

func TestDebugAndTaskSwitchQualification(t *testing.T) {
	d := DebugQualification(1<<14 | 0x5)
	if !d.SingleStep() || d.Breakpoints() != 5 || d.DebugRegisterAccess() {
		t.Errorf("debug: %v", d)
	}
	ts := TaskSwitchQualification(3<<30 | 0x28)
	if ts.Selector() != 0x28 || ts.Source() != TaskSwitchTaskGate {
		t.Errorf("task switch: %v", ts)
	}
}

func TestEventInfo(t *testing.T) {
	e := NewEvent(EventHardwareException, VectorPF, true)
	if uint32(e) != 0x80000B0E {
		t.Errorf("NewEvent(#PF) = %#x", uint32(e))
	}
	if !e.Valid() || e.Vector() != 14 || e.Type() != EventHardwareException || !e.ErrorCodeValid() || e.NMIUnblockingIRET() {
		t.Errorf("decoded wrong: %v", e)
	}
	if e.String() != "hardware exception #PF (error code)" {
		t.Errorf("String %q", e.String())
	}
	e = NewEvent(EventExternalInterrupt, 0x20, false)
	if uint32(e) != 0x80000020 || e.String() != "external interrupt vector 32" {
		t.Errorf("external interrupt %#x %q", uint32(e), e.String())
	}
	if EventInfo(0x20).Valid() || EventInfo(0).String() != "no event" {
		t.Errorf("invalid event")
	}
	if !EventInfo(1<<12 | 1<<31).NMIUnblockingIRET() {
		t.Errorf("NMI unblocking bit")
	}
	for v := 0; v < 256; v++ {
		want := v == 8 || v == 10 || v == 11 || v == 12 || v == 13 || v == 14 || v == 17 || v == 21
		if ExceptionHasErrorCode(uint8(v)) != want {
			t.Errorf("ExceptionHasErrorCode(%d) = %v", v, !want)
		}
	}
}
