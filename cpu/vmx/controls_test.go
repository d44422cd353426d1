package vmx

import (
	"errors"
	"strings"
	"testing"
)

func TestAdjust(t *testing.T) {
	// Test value: Bochs-like true pin-based MSR, must-be-one bits 1, 2, 4;
	// bits 0-6 may be 1 (posted interrupts, bit 7, not supported).
	const pinMSR = 0x0000007f00000016
	v, err := Adjust(PinExternalInterruptExiting|PinNMIExiting, 0, pinMSR)
	if err != nil {
		t.Fatalf("Adjust: %v", err)
	}
	if want := uint32(0x16 | PinExternalInterruptExiting | PinNMIExiting); v != want {
		t.Errorf("Adjust = %#x, want %#x (must-be-one bits forced)", v, want)
	}
	v, err = Adjust(PinExternalInterruptExiting, PinPostedInterrupts, pinMSR)
	if err != nil {
		t.Errorf("optional unsupported bit gave error %v", err)
	}
	if v&PinPostedInterrupts != 0 {
		t.Errorf("optional unsupported bit kept: %#x", v)
	}
	_, err = Adjust(PinPostedInterrupts|PinExternalInterruptExiting|1<<9, 0, pinMSR)
	var ce *ControlError
	if !errors.As(err, &ce) || ce.Bits != PinPostedInterrupts|1<<9 {
		t.Fatalf("want ControlError naming bits 7 and 9, got %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "7, 9") {
		t.Errorf("error %q does not name bits 7 and 9", msg)
	}
}

func TestCapabilities(t *testing.T) {
	c := bochsCaps()
	if c.Revision() != 4 || c.VMCSSize() != 4096 || !c.TrueControls() || c.VMCSMemoryType() != MemTypeWB {
		t.Errorf("basic: rev %d size %d true %v type %d", c.Revision(), c.VMCSSize(), c.TrueControls(), c.VMCSMemoryType())
	}
	if c.PreemptionTimerShift() != 5 {
		t.Errorf("preemption shift %d", c.PreemptionTimerShift())
	}
	for _, s := range []ActivityState{ActivityActive, ActivityHLT, ActivityShutdown, ActivityWaitForSIPI} {
		if !c.ActivityStatesSupported(s) {
			t.Errorf("activity %v unsupported", s)
		}
	}
	if c.ActivityStatesSupported(4) {
		t.Errorf("activity 4 supported")
	}
	checks := []struct {
		name string
		got  bool
		want bool
	}{
		{"walk4", c.EPTWalkLength4(), true},
		{"walk5", c.EPTWalkLength5(), false},
		{"UC", c.EPTUncacheable(), true},
		{"WB", c.EPTWriteBack(), true},
		{"2M", c.EPT2MPages(), true},
		{"1G", c.EPT1GPages(), true},
		{"AD", c.EPTAccessedDirty(), true},
		{"INVEPT single", c.INVEPTSingleContext(), true},
		{"INVEPT all", c.INVEPTAllContext(), true},
		{"INVVPID single", c.INVVPIDSingleContext(), true},
		{"INVVPID all", c.INVVPIDAllContext(), true},
		{"INVVPID addr", c.INVVPIDIndividualAddress(), true},
		{"unrestricted", c.UnrestrictedGuest(), true},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	must, may := c.Allowed(ControlProc, ^uint32(0))
	if must != 0x04006172 || may != 0xfff9fffe {
		t.Errorf("proc allowed: must %#x may %#x", must, may)
	}
	if _, may := c.Allowed(ControlProc2, Proc2ModeBasedEPTExecute); may != 0 {
		t.Errorf("MBEC reported allowed")
	}
	if ControlExit.String() != "VM-exit controls" || ControlEntry.Field() != VMEntryControls {
		t.Errorf("ControlKind names")
	}
}

func TestNewEPTP(t *testing.T) {
	p := NewEPTP(0x123456000, MemTypeWB, true)
	if p != 0x123456000|6|3<<3|1<<6 {
		t.Errorf("NewEPTP = %#x", p)
	}
	if NewEPTP(0x1fff, MemTypeUC, false) != 0x1000|3<<3 {
		t.Errorf("NewEPTP does not drop low bits of the root")
	}
}

// bochsCaps is a TEST capability set modelled on Bochs 2.7's "tigerlake" CPU
// model; the values are plausible, not a dump of real hardware:
//   - IA32_VMX_BASIC 0x01D8100000000004: revision 4, 4 KiB VMCS, WB, INS/OUTS
//     info, TRUE controls (bit 55), no error code required (bit 56).
//   - TRUE pin 0x0000007F00000016 (no posted interrupts),
//     TRUE proc 0xFFF9FFFE04006172 (no tertiary controls),
//     proc2 allowed-1 0x02977FFF (no ENCLS exiting, no mode-based EPT),
//     TRUE exit 0x03FFFFFF00036DFB, TRUE entry 0x0000F3FF000011FB.
//   - CR0 fixed0 0x80000021 / fixed1 0xFFFFFFFF; CR4 fixed0 0x2000 (VMXE) /
//     fixed1 0x7727FF (Bochs' 0x3727FF plus PKE, bit 22).
//   - IA32_VMX_MISC 0x401E5: preemption-timer shift 5, stores LMA, HLT,
//     shutdown and wait-for-SIPI activity states, 4 CR3 targets, no
//     zero-length injection.
//   - IA32_VMX_EPT_VPID_CAP 0xF0106B34141; VMFUNC 1 (EPTP switching);
//     MAXPHYADDR 40.
func bochsCaps() *Capabilities {
	return &Capabilities{
		Basic:         0x01D8100000000004,
		PinCtls:       0x0000007F00000016,
		ProcCtls:      0xFFF9FFFE04006172,
		ProcCtls2:     0x02977FFF00000000,
		ExitCtls:      0x03FFFFFF00036DFB,
		EntryCtls:     0x0000F3FF000011FB,
		Misc:          0x00000000000401E5,
		CR0Fixed0:     0x80000021,
		CR0Fixed1:     0xFFFFFFFF,
		CR4Fixed0:     0x2000,
		CR4Fixed1:     0x7727FF,
		EPTVPID:       0xF0106B34141,
		VMFunc:        1,
		PhysAddrWidth: 40,
	}
}
