package machine

import (
	"beelzebox/cpu"
	"beelzebox/cpu/vmx"
	"beelzebox/sandbox"
)

// MSRs of the allow-list (SDM Vol. 4 table 2-2).
const (
	msrTSC         = 0x10
	msrAPICBase    = 0x1b
	msrMTRRCap     = 0xfe
	msrArchCaps    = 0x10a
	msrMiscEnable  = 0x1a0
	msrTSCDeadline = 0x6e0
	msrX2APICFirst = 0x800
	msrX2APICLast  = 0x8ff

	// miscEnableValue: fast strings; BTS and PEBS unavailable.
	miscEnableValue = 1<<0 | 1<<11 | 1<<12

	eferAllowed = 1<<0 | 1<<8 | 1<<10 | 1<<11 // SCE, LME, LMA, NXE
)

func (m *Machine) msrIndex() uint32 { return uint32(m.CPU.GPR(1)) }

// rdmsr serves the allow-list; any other MSR is #GP.
func (m *Machine) rdmsr(_ *sandbox.VMExit) *Stop {
	v, ok := m.readMSR(m.msrIndex())
	if !ok {
		return m.gp()
	}
	m.CPU.SetGPR(0, v&0xffffffff)
	m.CPU.SetGPR(2, v>>32)
	m.CPU.Skip()
	return nil
}

func (m *Machine) readMSR(i uint32) (uint64, bool) {
	switch i {
	case cpu.MSREFER:
		return m.CPU.Read(vmx.GuestIA32EFER), true
	case cpu.MSRPAT:
		return m.CPU.Read(vmx.GuestIA32PAT), true
	case msrTSC:
		return m.CPU.TSC(), true
	case cpu.MSRFSBase:
		return m.CPU.Read(vmx.GuestFSBase), true
	case cpu.MSRGSBase:
		return m.CPU.Read(vmx.GuestGSBase), true
	case cpu.MSRSysenterCS:
		return m.CPU.Read(vmx.GuestIA32SysenterCS), true
	case cpu.MSRSysenterESP:
		return m.CPU.Read(vmx.GuestIA32SysenterESP), true
	case cpu.MSRSysenterEIP:
		return m.CPU.Read(vmx.GuestIA32SysenterEIP), true
	case msrAPICBase:
		return m.APIC.BaseMSR(), true
	case msrTSCDeadline:
		return m.APIC.TSCDeadline(), true
	case msrMiscEnable:
		return miscEnableValue, true
	case msrMTRRCap:
		return 0, true // no MTRRs: EPT's memory types rule
	case msrArchCaps:
		// What the CPU says of itself holds for its guests (read-only).
		if cpu.CPU.ArchCapabilities != 0 {
			return cpu.CPU.ArchCapabilities, true
		}
		return 0, false
	}
	if i >= msrX2APICFirst && i <= msrX2APICLast {
		return m.APIC.ReadMSR(i, m.CPU.TSC())
	}
	return m.CPU.MSR(i)
}

// wrmsr serves the allow-list with the CPU's own checks (reserved bits,
// canonical addresses): a bad value or another MSR is #GP.
func (m *Machine) wrmsr(_ *sandbox.VMExit) *Stop {
	i := m.msrIndex()
	v := m.CPU.GPR(2)<<32 | m.CPU.GPR(0)&0xffffffff
	if !m.writeMSR(i, v) {
		return m.gp()
	}
	m.CPU.Skip()
	return nil
}

func (m *Machine) writeMSR(i uint32, v uint64) bool {
	switch i {
	case cpu.MSREFER:
		if v&^eferAllowed != 0 {
			return false
		}
		old := m.CPU.Read(vmx.GuestIA32EFER)
		// LMA is the CPU's: it follows LME and CR0.PG, not the write.
		v = v&^(1<<10) | old&(1<<10)
		if m.CPU.CR0()&(1<<31) != 0 && (v^old)&(1<<8) != 0 {
			return false // changing LME with paging on is #GP
		}
		return m.CPU.Write(vmx.GuestIA32EFER, v)
	case cpu.MSRPAT:
		for b := 0; b < 8; b++ {
			switch v >> (8 * b) & 0xff {
			case 0, 1, 4, 5, 6, 7:
			default:
				return false
			}
		}
		return m.CPU.Write(vmx.GuestIA32PAT, v)
	case msrTSC:
		m.CPU.SetTSC(v)
		return true
	case cpu.MSRFSBase, cpu.MSRGSBase, cpu.MSRSysenterESP, cpu.MSRSysenterEIP:
		if !cpu.Canonical(v) {
			return false
		}
		f := map[uint32]vmx.Field{cpu.MSRFSBase: vmx.GuestFSBase, cpu.MSRGSBase: vmx.GuestGSBase,
			cpu.MSRSysenterESP: vmx.GuestIA32SysenterESP, cpu.MSRSysenterEIP: vmx.GuestIA32SysenterEIP}[i]
		return m.CPU.Write(f, v)
	case cpu.MSRSysenterCS:
		return m.CPU.Write(vmx.GuestIA32SysenterCS, v&0xffffffff)
	case msrAPICBase:
		return m.APIC.SetBaseMSR(v)
	case msrTSCDeadline:
		m.APIC.SetTSCDeadline(v, m.CPU.TSC())
		return true
	case msrMiscEnable:
		return v == miscEnableValue
	case cpu.MSRLSTAR, cpu.MSRCSTAR, cpu.MSRKernelGSBase:
		if !cpu.Canonical(v) {
			return false
		}
	case cpu.MSRTSCAux:
		if v>>32 != 0 {
			return false
		}
	}
	if i >= msrX2APICFirst && i <= msrX2APICLast {
		return m.APIC.WriteMSR(i, v, m.CPU.TSC())
	}
	return m.CPU.SetMSR(i, v)
}
