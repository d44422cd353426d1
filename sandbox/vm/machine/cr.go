package machine

import (
	"beelzebox/cpu"
	"beelzebox/cpu/vmx"
	"beelzebox/sandbox"
)

// crAccess serves the control-register accesses that exit: MOV to CR0 or
// CR4 changing a bit the host owns (the VMX fixed bits), and every MOV
// to or from CR8, which is the APIC's task priority (SDM Vol. 3A §11.8.6:
// CR8[3:0] = TPR[7:4]).
func (m *Machine) crAccess(e *sandbox.VMExit) *Stop {
	q := vmx.CRAccessQualification(e.Qualification)
	reg := q.Register()
	switch q.AccessType() {
	case vmx.CRMovTo:
		v := m.CPU.GPR(reg)
		if m.CPU.Mode() != 64 {
			v &= 0xffffffff
		}
		ok := false
		switch q.CR() {
		case 0:
			ok = m.CPU.SetCR0(v)
		case 4:
			ok = m.CPU.SetCR4(v)
		case 8:
			ok = v>>4 == 0
			if ok {
				m.APIC.WriteMMIO(0x80, uint32(v)<<4, m.CPU.TSC())
			}
		}
		if !ok {
			return m.gp()
		}
	case vmx.CRMovFrom:
		if q.CR() != 8 {
			return &Stop{Kind: StopFailed, Detail: "MOV from a control register other than CR8 exited"}
		}
		m.CPU.SetGPR(reg, uint64(m.APIC.ReadMMIO(0x80, m.CPU.TSC())>>4))
	case vmx.CRCLTS:
		if !m.CPU.SetCR0(m.CPU.CR0() &^ (1 << 3)) {
			return m.gp()
		}
	case vmx.CRLMSW:
		cr0 := m.CPU.CR0()
		v := cr0&^0xe | uint64(q.LMSWSource())&0xf // LMSW cannot clear PE
		if !m.CPU.SetCR0(v) {
			return m.gp()
		}
	}
	m.CPU.Skip()
	return nil
}

// movDR keeps the guest's debug registers as written, without loading
// them: breakpoints set by a guest do not fire (a documented limit).
func (m *Machine) movDR(e *sandbox.VMExit) *Stop {
	q := e.Qualification
	dr, from, reg := q&7, q&(1<<4) != 0, int(q>>8&15)
	if from {
		v := m.debugRegs[dr]
		switch dr {
		case 6, 4:
			v |= 0xffff0ff0
		case 7, 5:
			v |= 0x400
		}
		m.CPU.SetGPR(reg, v)
	} else {
		m.debugRegs[dr] = m.CPU.GPR(reg)
	}
	m.CPU.Skip()
	return nil
}

// xsetbv sets the guest's XCR0 (#GP for ECX != 0 or a bad value, #UD
// with CR4.OSXSAVE clear).
func (m *Machine) xsetbv(_ *sandbox.VMExit) *Stop {
	if m.CPU.CR4()&cpu.CR4OSXSAVE == 0 {
		return undefinedOpcode(m, nil)
	}
	v := m.CPU.GPR(2)<<32 | m.CPU.GPR(0)&0xffffffff
	if m.CPU.GPR(1)&0xffffffff != 0 || !m.CPU.SetXCR0(v) {
		return m.gp()
	}
	m.CPU.Skip()
	return nil
}
