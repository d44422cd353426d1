// Package vm is sandbox level 4: virtual machines on Intel VMX with EPT
// (SDM Vol. 3C chapters 24-29). A VM is a sandbox.Guest whose memory is
// guest-physical RAM behind an EPT tree; its vCPUs are its threads. A
// vCPU runs in the goroutine that calls its Run (cpu.EnterGuest), which
// returns at the next VM exit the host has to see: VMCALL as a system
// call (the hypercall ABI), intercepted exceptions as faults, the VMX-
// preemption timer as the end of the budget, and the rest as ExitVM with
// the exit reason and qualification. External interrupts and NMIs that
// stop the guest are the kernel's own and never reach the host.
//
// The package is the mechanism; package machine is a policy on top: the
// devices and exit handlers that make a VM a PC that boots multiboot
// kernels.
package vm

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"beelzebox/cpu"
	"beelzebox/cpu/vmx"
	"beelzebox/kernel"
	"beelzebox/mm"
	"beelzebox/sandbox"
	"beelzebox/syscall"
)

func init() {
	sandbox.Register(sandbox.Level4, &sandbox.Backend{
		Requires:  "VMX with EPT and unrestricted guest (CPUID.1:ECX.VMX[5], IA32_VMX_PROCBASED_CTLS2 bits 1 and 7)",
		Available: available,
		New:       func(cfg sandbox.Config) (sandbox.Guest, error) { return New(cfg) },
	})
}

// available says why this CPU cannot run VMs, or nil.
func available() error {
	switch {
	case !cpu.CPU.VMX:
		return errors.New("level 4 needs VMX (CPUID.1:ECX.VMX[5])")
	case !cpu.CPU.EPT:
		return errors.New("level 4 needs EPT (IA32_VMX_PROCBASED_CTLS2[33], allowed-1 of bit 1)")
	}
	caps := capabilities()
	if caps.ProcCtls2>>32&uint64(vmx.Proc2UnrestrictedGuest) == 0 {
		return errors.New("level 4 needs unrestricted guests (IA32_VMX_PROCBASED_CTLS2[39], allowed-1 of bit 7)")
	}
	if !caps.EPTWalkLength4() || !caps.EPTWriteBack() {
		return errors.New("level 4 needs 4-level EPT with write-back paging structures (IA32_VMX_EPT_VPID_CAP bits 6 and 14)")
	}
	if caps.Basic>>48&1 != 0 {
		return errors.New("level 4 needs 64-bit VMX physical addresses (IA32_VMX_BASIC[48] is set)")
	}
	return nil
}

var (
	capsOnce sync.Once
	caps     vmx.Capabilities
)

// capabilities reads the VMX capability MSRs once, the TRUE control
// variants where IA32_VMX_BASIC[55] says they exist (SDM Vol. 3D App. A).
func capabilities() *vmx.Capabilities {
	capsOnce.Do(func() {
		c := &caps
		c.Basic = cpu.Rdmsr(vmx.MSRVMXBasic)
		c.PinCtls = cpu.Rdmsr(vmx.MSRVMXPinbasedCtls)
		c.ProcCtls = cpu.Rdmsr(vmx.MSRVMXProcbasedCtls)
		c.ExitCtls = cpu.Rdmsr(vmx.MSRVMXExitCtls)
		c.EntryCtls = cpu.Rdmsr(vmx.MSRVMXEntryCtls)
		if c.TrueControls() {
			c.PinCtls = cpu.Rdmsr(vmx.MSRVMXTruePinbasedCtls)
			c.ProcCtls = cpu.Rdmsr(vmx.MSRVMXTrueProcbasedCtls)
			c.ExitCtls = cpu.Rdmsr(vmx.MSRVMXTrueExitCtls)
			c.EntryCtls = cpu.Rdmsr(vmx.MSRVMXTrueEntryCtls)
		}
		if c.ProcCtls>>32&uint64(vmx.ProcActivateSecondary) != 0 {
			c.ProcCtls2 = cpu.Rdmsr(vmx.MSRVMXProcbasedCtls2)
			if c.ProcCtls2>>32&uint64(vmx.Proc2EnableEPT|vmx.Proc2EnableVPID) != 0 {
				c.EPTVPID = cpu.Rdmsr(vmx.MSRVMXEPTVPIDCap)
			}
		}
		c.Misc = cpu.Rdmsr(vmx.MSRVMXMisc)
		c.CR0Fixed0 = cpu.Rdmsr(vmx.MSRVMXCR0Fixed0)
		c.CR0Fixed1 = cpu.Rdmsr(vmx.MSRVMXCR0Fixed1)
		c.CR4Fixed0 = cpu.Rdmsr(vmx.MSRVMXCR4Fixed0)
		c.CR4Fixed1 = cpu.Rdmsr(vmx.MSRVMXCR4Fixed1)
		if max, _, _, _ := cpu.CPUID(0x80000000, 0); max >= 0x80000008 {
			a, _, _, _ := cpu.CPUID(0x80000008, 0)
			c.PhysAddrWidth = uint8(a)
		} else {
			c.PhysAddrWidth = 36
		}
	})
	return &caps
}

// vmxOn is VMX operation on every CPU (SDM Vol. 3C §24.7, §24.8): at
// the first VM each online CPU gets a VMXON region, and enters VMX
// operation when it first loads a VMCS (cpu.loadVMCS).
var vmxOn struct {
	sync.Mutex
	checked bool
}

// enableVMX makes every online CPU ready for VMX operation: CR0 within
// the fixed bits (the same on every CPU), IA32_FEATURE_CONTROL not
// locked with VMX disabled (checked here on one CPU; each CPU locks its
// own if the firmware left it unlocked), and a VMXON region per CPU
// carrying the VMCS revision.
func enableVMX() error {
	vmxOn.Lock()
	defer vmxOn.Unlock()
	c := capabilities()
	if !vmxOn.checked {
		fc := cpu.Rdmsr(vmx.MSRFeatureControl)
		if fc&vmx.FeatureControlLocked != 0 && fc&vmx.FeatureControlVMXOutsideSMX == 0 {
			return errors.New("level 4: the firmware locked IA32_FEATURE_CONTROL with VMX disabled")
		}
		cr0 := cpu.CR0()
		if cr0&c.CR0Fixed0 != c.CR0Fixed0&0xffffffff || cr0&^c.CR0Fixed1 != 0 {
			return fmt.Errorf("level 4: CR0 %#x is outside the VMX fixed bits (%#x, %#x)", cr0, c.CR0Fixed0, c.CR0Fixed1)
		}
		vmxOn.checked = true
	}
	for i := range int(atomic.LoadInt32(&kernel.OnlineCPUs)) {
		if cpu.VMXONRegion(i) != 0 {
			continue
		}
		region, err := allocPage()
		if err != nil {
			return err
		}
		*(*uint32)(unsafe.Pointer(mm.PhysAddr(region))) = c.Revision()
		cpu.SetVMXONRegion(i, region)
	}
	return nil
}

// live holds every VM from New to Close: a CPU's list of active VMCSs
// (cpu.vmxCPU) refers to their vCPUs' contexts, which must not be freed
// before Close clears them.
var live struct {
	sync.Mutex
	vms map[*VM]struct{}
}

// held counts the frames VMs hold (RAM, EPT roots, VMCSs, MSR areas),
// for leak checks. It changes only in handler context.
var held int64

// FramesHeld is the number of frames all VMs hold.
func FramesHeld() int64 {
	var n int64
	syscall.InKernel(func() { n = held })
	return n
}

// allocPage returns a zeroed frame.
func allocPage() (uint64, error) {
	var pa uint64
	syscall.InKernel(func() {
		if p, ok := mm.Phys.Alloc(); ok {
			clear((*[mm.PageSize]byte)(unsafe.Pointer(mm.PhysAddr(p)))[:])
			pa = p
			held++
		}
	})
	if pa == 0 {
		return 0, errors.New("level 4: out of memory for VMX structures")
	}
	return pa, nil
}

func freePage(pa uint64) {
	syscall.InKernel(func() {
		mm.Phys.Free(pa)
		held--
	})
}

// vpids hands out VPIDs, 1 to maxVPID (0 is the host's). A freed VPID
// is invalidated with INVVPID before it is used again.
var vpids struct {
	sync.Mutex
	used [maxVPID/64 + 1]uint64
}

const maxVPID = 4095

func allocVPID() (uint16, error) {
	vpids.Lock()
	defer vpids.Unlock()
	for v := 1; v <= maxVPID; v++ {
		if vpids.used[v/64]&(1<<(v%64)) == 0 {
			vpids.used[v/64] |= 1 << (v % 64)
			return uint16(v), nil
		}
	}
	return 0, errors.New("level 4: every VPID is in use")
}

func freeVPID(v uint16) {
	cpu.Invvpid(cpu.InvvpidSingleContext, v, 0)
	vpids.Lock()
	vpids.used[v/64] &^= 1 << (v % 64)
	vpids.Unlock()
}
