package machine

import (
	"beelzebox/cpu"
	"beelzebox/cpu/vmx"
	"beelzebox/sandbox"
)

// Hypervisor CPUID leaves (the range 0x40000000-0x4FFFFFFF that Intel
// reserves for software, SDM Vol. 2A "CPUID").
const (
	leafHypervisor = 0x40000000
	leafTiming     = 0x40000010 // EAX: TSC kHz, EBX: APIC timer kHz (the VMware and KVM convention)
)

// Signature is what leaf 0x40000000 returns in EBX, ECX, EDX.
const Signature = "beelzeboxVMM"

// CPUID bits the filter changes.
const (
	leaf1ECXMonitor    = 1 << 3
	leaf1ECXVMX        = 1 << 5
	leaf1ECXSMX        = 1 << 6
	leaf1ECXPDCM       = 1 << 15
	leaf1ECXOSXSAVE    = 1 << 27
	leaf1ECXHypervisor = 1 << 31
	leaf7ECXOSPKE      = 1 << 4
	leaf7ECXWaitPkg    = 1 << 5
	leafDXSAVES        = 1 << 3
	leaf7EBXINVPCID    = 1 << 10
	leafExtEDXRDTSCP   = 1 << 27
)

// cpuid answers with the host's leaves, filtered: no VMX or SMX, no
// MONITOR/MWAIT (they are #UD), no performance-monitoring or XSAVES
// state the VM does not switch; the OS bits follow the guest's CR4; the
// APIC ID is the vCPU's; and the hypervisor bit and leaves say what runs
// the guest.
func (m *Machine) cpuid(_ *sandbox.VMExit) *Stop {
	leaf, sub := uint32(m.CPU.GPR(0)), uint32(m.CPU.GPR(1))
	a, b, c, d := m.leaf(leaf, sub)
	m.CPU.SetGPR(0, uint64(a))
	m.CPU.SetGPR(3, uint64(b))
	m.CPU.SetGPR(1, uint64(c))
	m.CPU.SetGPR(2, uint64(d))
	m.CPU.Skip()
	return nil
}

// Leaf is the filtered CPUID leaf the guest sees.
func (m *Machine) leaf(leaf, sub uint32) (a, b, c, d uint32) {
	if leaf >= leafHypervisor && leaf <= 0x4fffffff {
		switch leaf {
		case leafHypervisor:
			s := Signature
			le := func(s string) uint32 {
				return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
			}
			return leafTiming, le(s[0:4]), le(s[4:8]), le(s[8:12])
		case leafTiming:
			return uint32(m.tscHz / 1000), BusHz / 1000, 0, 0
		}
		return 0, 0, 0, 0
	}
	max, _, _, _ := cpu.CPUID(leaf&0x80000000, 0)
	if leaf > max {
		return 0, 0, 0, 0 // above the host's range: zeros (not Intel's last-leaf echo)
	}
	a, b, c, d = cpu.CPUID(leaf, sub)
	cr4 := m.CPU.CR4()
	switch leaf {
	case 1:
		c &^= leaf1ECXVMX | leaf1ECXSMX | leaf1ECXMonitor | leaf1ECXPDCM | leaf1ECXOSXSAVE
		c |= leaf1ECXHypervisor
		if cr4&cpu.CR4OSXSAVE != 0 {
			c |= leaf1ECXOSXSAVE
		}
		b = b&0xffff | 1<<16 // one logical processor, APIC ID 0
	case 5, 0xa: // MONITOR/MWAIT, performance monitoring
		return 0, 0, 0, 0
	case 7:
		if sub == 0 {
			c &^= leaf7ECXOSPKE | leaf7ECXWaitPkg
			if cr4&cpu.CR4PKE != 0 {
				c |= leaf7ECXOSPKE
			}
			if m.CPU.Secondary()&vmx.Proc2EnableINVPCID == 0 {
				b &^= leaf7EBXINVPCID
			}
		}
	case 0x80000001:
		if m.CPU.Secondary()&vmx.Proc2EnableRDTSCP == 0 {
			d &^= leafExtEDXRDTSCP
		}
	case 0xb, 0x1f:
		d = 0 // x2APIC ID
	case 0xd:
		if sub == 1 && m.CPU.Secondary()&vmx.Proc2EnableXSAVES == 0 {
			a &^= leafDXSAVES
		}
	}
	return a, b, c, d
}
