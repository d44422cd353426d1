package vm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"beelzebox/cpu"
	"beelzebox/cpu/vmx"
	"beelzebox/kernel"
	"beelzebox/mm"
	"beelzebox/sandbox"
)

// VCPU is a virtual processor: a VMCS, the guest state outside it
// (cpu.VMContext) and its VPID. It is a sandbox.Thread; its methods
// beyond that interface are what a hypervisor host needs to emulate
// instructions and devices (package machine). Only the goroutine in
// Run, or one holding a stopped vCPU, may use them.
type VCPU struct {
	vm   *VM
	id   int
	ctx  cpu.VMContext
	vpid uint16
	vmcs uint64 // physical address
	// msrPage holds the VM-entry MSR-load (= VM-exit MSR-store) area of
	// the guest's switched MSRs, then the VM-exit MSR-load area of the
	// host's (SDM Vol. 3C §25.7.2, §25.8.2).
	msrPage uint64
	xsave   []byte
	// Control fields as last written.
	procCtls  uint32
	proc2Ctls uint32
	cr0Mask   uint64
	cr4Mask   uint64

	// eventAt, when not 0, is the host TSC at which the host wants the
	// vCPU back (a virtual device's timer): the preemption timer fires
	// then and Run returns ExitVM with ExitPreemptionTimer.
	eventAt uint64

	running atomic.Bool
	exited  bool
	wake    chan struct{}
	// lastExit is what Exit.VM points to.
	lastExit sandbox.VMExit
	// Entries counts VM entries.
	Entries uint64
}

// The MSRs the CPU does not switch at VM entry and exit that a guest can
// change: SWAPGS changes KERNEL_GS_BASE without an exit; the others
// change only by WRMSR, which always exits, but take effect at once in
// the guest (SYSCALL, RDTSCP) and must not in the host.
var switchedMSRs = [...]uint32{cpu.MSRSTAR, cpu.MSRLSTAR, cpu.MSRCSTAR, cpu.MSRFMASK, cpu.MSRKernelGSBase, cpu.MSRTSCAux}

// slotOf is an MSR's entry in the MSR areas. The host values of
// KERNEL_GS_BASE and TSC_AUX are the CPU's the VMCS is on
// (cpu.VMContext.HostKernelGS, HostTSCAux).
func slotOf(msr uint32) int {
	for i, m := range switchedMSRs {
		if m == msr {
			return i
		}
	}
	panic("level 4: not a switched MSR")
}

// msrEntry is an entry of an MSR area (SDM Vol. 3C table 25-15).
type msrEntry struct {
	index uint32
	_     uint32
	value uint64
}

func (c *VCPU) msrArea(host bool) *[len(switchedMSRs)]msrEntry {
	off := uintptr(0)
	if host {
		off = 1024
	}
	return (*[len(switchedMSRs)]msrEntry)(unsafe.Pointer(mm.PhysAddr(c.msrPage) + off))
}

// Guest is the VM.
func (c *VCPU) Guest() sandbox.Guest { return c.vm }

// VM is the VM, as its concrete type.
func (c *VCPU) VM() *VM { return c.vm }

// ID is the vCPU's number, from 1.
func (c *VCPU) ID() int { return c.id }

// Segment access rights (SDM Vol. 3C table 25-2).
const (
	arCode32    = 0xc09b // present, code execute/read accessed, S, D, G
	arData32    = 0xc093 // present, data read/write accessed, S, D(B), G
	arTSS32Busy = 0x008b
	arUnusable  = 1 << 16
)

// Guest CR0 bits.
const (
	cr0PE = 1 << 0
	cr0ET = 1 << 4
	cr0NE = 1 << 5
	cr0PG = 1 << 31
)

const eferLME, eferLMA = 1 << 8, 1 << 10

// newVCPU creates a vCPU in the multiboot machine state with registers r.
func (v *VM) newVCPU(r sandbox.Regs) (*VCPU, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil, sandbox.ErrClosed
	}
	if len(v.vcpus) >= v.cfg.MaxThreads {
		return nil, sandbox.ErrThreadLimit
	}
	c := &VCPU{vm: v, wake: make(chan struct{}, 1)}
	var err error
	if c.vpid, err = allocVPID(); err != nil {
		return nil, err
	}
	if c.vmcs, err = allocPage(); err != nil {
		c.release()
		return nil, err
	}
	if c.msrPage, err = allocPage(); err != nil {
		c.release()
		return nil, err
	}
	c.xsave = cpu.NewXsaveArea()
	// The state after RESET (SDM Vol. 3A table 10-1): MXCSR 0x1F80 (every
	// SIMD exception masked), x87 control word 0x37F as FNINIT leaves it.
	// XRSTOR loads MXCSR from the legacy area even with the SSE state in
	// its init configuration, so a zero there would unmask them all.
	binary.LittleEndian.PutUint16(c.xsave[0:], cpu.FPUControlDefault)
	binary.LittleEndian.PutUint32(c.xsave[24:], cpu.DefaultMXCSR)
	c.ctx.Xsave = uintptr(unsafe.Pointer(&c.xsave[0]))
	c.ctx.XCR0 = cpu.XCR0X87
	c.ctx.VMCS = c.vmcs
	c.ctx.HostKernelGS = uintptr(unsafe.Pointer(&c.msrArea(true)[slotOf(cpu.MSRKernelGSBase)].value))
	if cpu.CPU.RDTSCP {
		c.ctx.HostTSCAux = uintptr(unsafe.Pointer(&c.msrArea(true)[slotOf(cpu.MSRTSCAux)].value))
	}
	if cpu.CPU.PKU {
		c.ctx.UsePKRU = 1
	}
	*(*uint32)(unsafe.Pointer(mm.PhysAddr(c.vmcs))) = capabilities().Revision()
	if err := c.setup(r); err != nil {
		c.release()
		return nil, err
	}
	v.nextID++
	c.id = v.nextID
	v.vcpus = append(v.vcpus, c)
	return c, nil
}

// release frees what newVCPU acquired, whatever it got to.
func (c *VCPU) release() {
	if c.vmcs != 0 {
		for !cpu.UnloadVMCS(&c.ctx) {
			c.fetch()
		}
		freePage(c.vmcs)
		c.vmcs = 0
	}
	if c.msrPage != 0 {
		freePage(c.msrPage)
		c.msrPage = 0
	}
	if c.vpid != 0 {
		freeVPID(c.vpid)
		c.vpid = 0
	}
	c.exited = true
}

// controls adjusts the wanted controls to the capability MSR: the
// required ones must be allowed; optional ones are used where they are.
func controls(kind string, required, optional uint32, msr uint64) (uint32, error) {
	v, err := vmx.Adjust(required, optional, msr)
	if err != nil {
		return 0, fmt.Errorf("level 4: %s controls: %v", kind, err)
	}
	return v, nil
}

// setup writes every field of the new VMCS.
func (c *VCPU) setup(r sandbox.Regs) error {
	caps := capabilities()
	pin, err := controls("pin-based", vmx.PinExternalInterruptExiting|vmx.PinNMIExiting, vmx.PinPreemptionTimer, caps.PinCtls)
	if err != nil {
		return err
	}
	if pin&vmx.PinPreemptionTimer == 0 {
		return errors.New("level 4 needs the VMX-preemption timer (IA32_VMX_PINBASED_CTLS allowed-1 bit 6) for its budget")
	}
	// CR8 accesses exit: without a TPR shadow they would reach the real
	// TPR (SDM Vol. 3C §26.3). MWAIT, MONITOR and RDPMC exit, so the
	// guest cannot park or probe the CPU.
	proc, err := controls("processor-based",
		vmx.ProcHLTExiting|vmx.ProcUnconditionalIOExiting|vmx.ProcMOVDRExiting|vmx.ProcUseTSCOffsetting|
			vmx.ProcCR8LoadExiting|vmx.ProcCR8StoreExiting|vmx.ProcMWAITExiting|vmx.ProcMONITORExiting|
			vmx.ProcRDPMCExiting|vmx.ProcActivateSecondary, 0, caps.ProcCtls)
	if err != nil {
		return err
	}
	proc2, err := controls("secondary processor-based",
		vmx.Proc2EnableEPT|vmx.Proc2EnableVPID|vmx.Proc2UnrestrictedGuest,
		vmx.Proc2EnableRDTSCP|vmx.Proc2EnableINVPCID|vmx.Proc2EnableXSAVES|vmx.Proc2WBINVDExiting, caps.ProcCtls2)
	if err != nil {
		return err
	}
	exit, err := controls("VM-exit",
		vmx.ExitHostAddressSpaceSize|vmx.ExitSaveEFER|vmx.ExitLoadEFER|vmx.ExitSavePAT|vmx.ExitLoadPAT, 0, caps.ExitCtls)
	if err != nil {
		return err
	}
	entry, err := controls("VM-entry", vmx.EntryLoadEFER|vmx.EntryLoadPAT, 0, caps.EntryCtls)
	if err != nil {
		return err
	}
	c.procCtls, c.proc2Ctls = proc, proc2
	c.ctx.ProcControls = proc
	unrestricted := uint64(cr0PE | cr0PG)
	c.cr0Mask = (caps.CR0Fixed0&^unrestricted | ^caps.CR0Fixed1) & 0xffffffff
	c.cr4Mask = (caps.CR4Fixed0 | ^caps.CR4Fixed1) & 0xffffffff
	guestCR0 := uint64(cr0PE | cr0ET)

	// The switched MSRs: guest values start at 0, host values are now's.
	guest, host := c.msrArea(false), c.msrArea(true)
	for i, m := range switchedMSRs {
		guest[i] = msrEntry{index: m}
		host[i] = msrEntry{index: m, value: cpu.Rdmsr(m)}
	}
	n := uint64(len(switchedMSRs))
	if !cpu.CPU.RDTSCP {
		n-- // TSC_AUX is last: a CPU without RDTSCP has no such MSR
	}

	fields := []struct {
		f vmx.Field
		v uint64
	}{
		{vmx.PinBasedControls, uint64(pin)},
		{vmx.ProcBasedControls, uint64(proc)},
		{vmx.SecondaryProcBasedControls, uint64(proc2)},
		{vmx.VMExitControls, uint64(exit)},
		{vmx.VMEntryControls, uint64(entry)},
		{vmx.ExceptionBitmap, uint64(c.vm.cfg.VM.Exceptions)},
		{vmx.VirtualProcessorID, uint64(c.vpid)},
		{vmx.EPTPointer, c.vm.ept.Pointer()},
		{vmx.TSCOffset, c.vm.tscOffset},
		{vmx.VMCSLinkPointer, ^uint64(0)},
		{vmx.CR0GuestHostMask, c.cr0Mask},
		{vmx.CR0ReadShadow, guestCR0},
		{vmx.CR4GuestHostMask, c.cr4Mask},
		{vmx.CR4ReadShadow, 0},
		{vmx.VMEntryMSRLoadAddr, c.msrPage},
		{vmx.VMEntryMSRLoadCount, n},
		{vmx.VMExitMSRStoreAddr, c.msrPage},
		{vmx.VMExitMSRStoreCount, n},
		{vmx.VMExitMSRLoadAddr, c.msrPage + 1024},
		{vmx.VMExitMSRLoadCount, n},

		{vmx.HostCR0, cpu.CR0()},
		{vmx.HostCR3, cpu.KernelCR3() &^ cpu.CR3NoFlush},
		// EnterGuest writes the CR4 of each entry; the CPU is in VMX
		// operation by then (the checker sees this value first).
		{vmx.HostCR4, cpu.CR4() | cpu.CR4VMXE},
		{vmx.HostCSSelector, cpu.SelKernelCode},
		{vmx.HostSSSelector, cpu.SelKernelData},
		{vmx.HostDSSelector, 0},
		{vmx.HostESSelector, 0},
		{vmx.HostFSSelector, 0},
		{vmx.HostGSSelector, 0},
		{vmx.HostTRSelector, uint64(cpu.HostTRSelector())},
		{vmx.HostFSBase, 0},
		{vmx.HostGSBase, cpu.HostGSBase()},
		{vmx.HostTRBase, cpu.HostTRBase()},
		{vmx.HostGDTRBase, cpu.HostGDTR()},
		{vmx.HostIDTRBase, cpu.HostIDTR()},
		{vmx.HostIA32SysenterCS, cpu.Rdmsr(cpu.MSRSysenterCS)},
		{vmx.HostIA32SysenterESP, cpu.Rdmsr(cpu.MSRSysenterESP)},
		{vmx.HostIA32SysenterEIP, cpu.Rdmsr(cpu.MSRSysenterEIP)},
		{vmx.HostIA32EFER, cpu.Rdmsr(cpu.MSREFER)},
		{vmx.HostIA32PAT, cpu.Rdmsr(cpu.MSRPAT)},
		{vmx.HostRIP, uint64(cpu.VMExitPC())},

		{vmx.GuestCR0, (guestCR0 | caps.CR0Fixed0&^unrestricted) & caps.CR0Fixed1},
		{vmx.GuestCR3, 0},
		{vmx.GuestCR4, caps.CR4Fixed0 & caps.CR4Fixed1},
		{vmx.GuestDR7, 0x400},
		{vmx.GuestRSP, r.RSP},
		{vmx.GuestRIP, r.RIP},
		{vmx.GuestRFLAGS, r.RFLAGS&^(cpu.FlagIF|cpu.FlagTF) | 2},
		{vmx.GuestCSSelector, 0x08},
		{vmx.GuestCSBase, 0},
		{vmx.GuestCSLimit, 0xffffffff},
		{vmx.GuestCSAccessRights, arCode32},
		{vmx.GuestTRSelector, 0},
		{vmx.GuestTRBase, 0},
		{vmx.GuestTRLimit, 0x67},
		{vmx.GuestTRAccessRights, arTSS32Busy},
		{vmx.GuestLDTRSelector, 0},
		{vmx.GuestLDTRBase, 0},
		{vmx.GuestLDTRLimit, 0},
		{vmx.GuestLDTRAccessRights, arUnusable},
		{vmx.GuestGDTRBase, 0},
		{vmx.GuestGDTRLimit, 0},
		{vmx.GuestIDTRBase, 0},
		{vmx.GuestIDTRLimit, 0},
		{vmx.GuestFSBase, r.FSBase & 0xffffffff},
		{vmx.GuestGSBase, r.GSBase & 0xffffffff},
		{vmx.GuestIA32EFER, 0},
		{vmx.GuestIA32PAT, 0x0007040600070406}, // the power-on value (SDM Vol. 3A §13.12.4)
		{vmx.GuestIA32SysenterCS, 0},
		{vmx.GuestIA32SysenterESP, 0},
		{vmx.GuestIA32SysenterEIP, 0},
		{vmx.GuestInterruptibility, 0},
		{vmx.GuestActivityState, 0},
		{vmx.GuestPendingDebugExceptions, 0},
		{vmx.VMXPreemptionTimerValue, 0},
	}
	for _, seg := range []struct{ sel, base, limit, ar vmx.Field }{
		{vmx.GuestDSSelector, vmx.GuestDSBase, vmx.GuestDSLimit, vmx.GuestDSAccessRights},
		{vmx.GuestESSelector, vmx.GuestESBase, vmx.GuestESLimit, vmx.GuestESAccessRights},
		{vmx.GuestSSSelector, vmx.GuestSSBase, vmx.GuestSSLimit, vmx.GuestSSAccessRights},
		{vmx.GuestFSSelector, 0, vmx.GuestFSLimit, vmx.GuestFSAccessRights},
		{vmx.GuestGSSelector, 0, vmx.GuestGSLimit, vmx.GuestGSAccessRights},
	} {
		fields = append(fields, struct {
			f vmx.Field
			v uint64
		}{seg.sel, 0x10}, struct {
			f vmx.Field
			v uint64
		}{seg.limit, 0xffffffff}, struct {
			f vmx.Field
			v uint64
		}{seg.ar, arData32})
		if seg.base != 0 {
			fields = append(fields, struct {
				f vmx.Field
				v uint64
			}{seg.base, 0})
		}
	}
	var bad vmx.Field
	failed := false
	loaded := c.access(func() {
		for _, f := range fields {
			if !cpu.Vmwrite(f.f, f.v) {
				bad, failed = f.f, true
				return
			}
		}
	})
	if !loaded {
		return fmt.Errorf("level 4: CPU %d could not load the new VMCS (VMXON or VMPTRLD failed)", cpu.Index())
	}
	if failed {
		return fmt.Errorf("level 4: VMWRITE of %v refused", bad)
	}
	c.SetRegs(r)
	if c.vm.cfg.VM.CheckEntry {
		if err := c.check(); err != nil {
			return err
		}
	}
	return nil
}

// access calls fn with the vCPU's VMCS current on this CPU and interrupts
// off (cpu.VMCSAccess), first taking the VMCS from the CPU it is active
// on if that is another; false if the VMCS could not be loaded.
func (c *VCPU) access(fn func()) bool {
	for {
		switch cpu.VMCSAccess(&c.ctx, fn) {
		case cpu.VMEntryOK:
			return true
		case cpu.VMEntryElsewhere:
			c.fetch()
		default:
			return false
		}
	}
}

// fetch gets the VMCS cleared on the CPU it is active on, if that is not
// this one: that CPU clears it in an IPI while this goroutine waits with
// interrupts on (the rules in cpu's "VMCSs and CPUs").
func (c *VCPU) fetch() {
	at, ok := c.ctx.ActiveCPU()
	if !ok || at == cpu.Index() {
		return
	}
	c.ctx.WantCleared()
	kernel.ClearVMCSOn(at)
	for {
		// Done when it is clear, or on this CPU: the goroutine may have
		// moved to the CPU it waits for, which sends itself no IPI.
		if now, ok := c.ctx.ActiveCPU(); !ok || now != at || now == cpu.Index() {
			return
		}
		runtime.Gosched()
	}
}

// vmcsReader reads the current VMCS for the checker (inside access).
type vmcsReader struct{}

func (vmcsReader) Read(f vmx.Field) uint64 { return cpu.Vmread(f) }

// check runs the VM-entry checker on the VMCS and names every broken
// rule.
func (c *VCPU) check() error {
	var violations []vmx.Violation
	fields := make(vmx.Fields, len(vmx.AllFields))
	c.access(func() {
		for _, f := range vmx.AllFields {
			fields[f] = cpu.Vmread(f)
		}
	})
	// The state EnterGuest writes at entry is part of what is checked.
	if c.ctx.Dirty&cpu.VMDirtyRIP != 0 {
		fields[vmx.GuestRIP] = c.ctx.RIP
	}
	if c.ctx.Dirty&cpu.VMDirtyRSP != 0 {
		fields[vmx.GuestRSP] = c.ctx.RSP
	}
	if c.ctx.Dirty&cpu.VMDirtyRFLAGS != 0 {
		fields[vmx.GuestRFLAGS] = c.ctx.RFLAGS
	}
	if c.ctx.Dirty&cpu.VMDirtyEvent != 0 {
		fields[vmx.VMEntryInterruptionInfo] = uint64(c.ctx.EntryEvent)
		fields[vmx.VMEntryExceptionErrorCode] = uint64(c.ctx.EntryErrorCode)
		fields[vmx.VMEntryInstructionLength] = uint64(c.ctx.EntryInstrLen)
	}
	fields[vmx.HostRSP] = 0x1000 // written by EnterGuest; any canonical value
	fields[vmx.HostFSBase] = 0
	violations = vmx.Check(fields, capabilities())
	if len(violations) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("level 4: the VMCS breaks the VM-entry checks:")
	for _, v := range violations {
		b.WriteString("\n  ")
		b.WriteString(v.Error())
	}
	return errors.New(b.String())
}

// Run runs the vCPU until an exit the host must see.
func (c *VCPU) Run() (sandbox.Exit, error) {
	if !c.running.CompareAndSwap(false, true) {
		return sandbox.Exit{}, sandbox.ErrRunning
	}
	defer c.running.Store(false)
	v := c.vm
	v.mu.Lock()
	closed := v.closed || c.exited
	v.mu.Unlock()
	if closed {
		return sandbox.Exit{}, sandbox.ErrClosed
	}
	shift := capabilities().PreemptionTimerShift()
	deadline := cpu.Rdtsc() + v.budgetTicks()
	for {
		if atomic.SwapUint32(&c.ctx.Cancel, 0) != 0 {
			return c.exit(sandbox.ExitInterrupted), nil
		}
		now := cpu.Rdtsc()
		if now >= deadline {
			return c.exit(sandbox.ExitBudget), nil
		}
		until := deadline
		if c.eventAt != 0 && c.eventAt < until {
			until = max(c.eventAt, now)
		}
		c.ctx.Timer = uint32(min((until-now)>>shift, 0xffffffff))
		c.ctx.Dirty |= cpu.VMDirtyTimer
		cpu.EnterGuest(&c.ctx)
		switch c.ctx.EntryFailed {
		case cpu.VMEntryOK:
		case cpu.VMEntryCancelled:
			continue // Cancel is taken at the top
		case cpu.VMEntryElsewhere:
			c.fetch()
			continue
		default:
			return c.entryFailed(), nil
		}
		c.Entries++
		raw := c.ctx.ExitReason
		reason := vmx.ExitReason(raw & 0xffff)
		if raw&(1<<31) != 0 {
			// A failed entry that exited (invalid guest state, MSR loading).
			ex := c.exit(sandbox.ExitKilled)
			ex.Reason = fmt.Sprintf("VM entry failed: %v (qualification %#x)", reason, c.ctx.ExitQual)
			if err := c.check(); err != nil {
				ex.Reason += ": " + err.Error()
			}
			c.exited = true
			return ex, nil
		}
		c.requeueVectoring()
		switch reason {
		case vmx.ExitExternalInterrupt:
			// The kernel took the interrupt when EnterGuest returned. The
			// goroutine yields here: EnterGuest is no preemption point, and
			// other goroutines (a timer's, the collector's stop) may be due.
			runtime.Gosched()
			continue
		case vmx.ExitPreemptionTimer:
			if c.eventAt != 0 && cpu.Rdtsc() >= c.eventAt {
				c.eventAt = 0
				return c.exit(sandbox.ExitVM), nil
			}
			runtime.Gosched()
			continue
		case vmx.ExitExceptionOrNMI:
			ev := vmx.EventInfo(c.ctx.ExitIntrInfo)
			if ev.Type() == vmx.EventNMI {
				cpu.RaiseNMI()
				continue
			}
			ex := c.exit(sandbox.ExitFault)
			ex.Fault = sandbox.Fault{Vector: uint64(ev.Vector()), RIP: c.ctx.RIP}
			if ev.ErrorCodeValid() {
				ex.Fault.ErrorCode = uint64(c.ctx.ExitIntrError)
			}
			if ev.Vector() == vmx.VectorPF {
				ex.Fault.CR2 = c.ctx.ExitQual
			}
			return ex, nil
		case vmx.ExitVMCALL:
			c.Skip()
			ex := c.exit(sandbox.ExitSyscall)
			g := &c.ctx.GPR
			ex.Syscall = sandbox.Syscall{Nr: g[0], Args: [6]uint64{g[7], g[6], g[2], g[10], g[8], g[9]}}
			return ex, nil
		}
		ex := c.exit(sandbox.ExitVM)
		return ex, nil
	}
}

// exit builds an Exit of kind k with the last exit's information.
func (c *VCPU) exit(k sandbox.ExitKind) sandbox.Exit {
	ex := sandbox.Exit{Kind: k, Thread: c}
	if k == sandbox.ExitVM {
		c.lastExit = c.LastExit()
		ex.VM = &c.lastExit
	}
	return ex
}

// LastExit is the information of the vCPU's last VM exit.
func (c *VCPU) LastExit() sandbox.VMExit {
	return sandbox.VMExit{
		Reason:            vmx.ExitReason(c.ctx.ExitReason & 0xffff),
		Qualification:     c.ctx.ExitQual,
		GuestPhysical:     c.ctx.GuestPhys,
		GuestLinear:       c.ctx.GuestLinear,
		InstructionLength: c.ctx.ExitInstrLen,
		InstructionInfo:   c.ctx.ExitInstrInfo,
		Interruption:      vmx.EventInfo(c.ctx.ExitIntrInfo),
		InterruptionError: c.ctx.ExitIntrError,
		RIP:               c.ctx.RIP,
	}
}

// entryFailed reports a VMLAUNCH or VMRESUME that failed: the
// VM-instruction error and, from the checker, the rules broken.
func (c *VCPU) entryFailed() sandbox.Exit {
	ex := c.exit(sandbox.ExitKilled)
	var code uint64
	c.access(func() { code = cpu.Vmread(vmx.VMInstructionError) })
	switch c.ctx.EntryFailed {
	case cpu.VMEntryNoVMCS:
		ex.Reason = "VMPTRLD failed"
	case cpu.VMEntryNoVMX:
		ex.Reason = fmt.Sprintf("CPU %d could not enter VMX operation (IA32_FEATURE_CONTROL or VMXON)", cpu.Index())
	case cpu.VMEntryFailInvalid:
		ex.Reason = "VM entry failed: VMfailInvalid"
	default:
		ex.Reason = fmt.Sprintf("VM entry failed: %v", vmx.VMInstructionErrorNumber(code))
	}
	if err := c.check(); err != nil {
		ex.Reason += ": " + err.Error()
	}
	c.exited = true
	return ex
}

// requeueVectoring re-injects an event whose delivery the exit
// interrupted (SDM Vol. 3C §28.2.4, §29.2.1.1): it was not delivered.
func (c *VCPU) requeueVectoring() {
	ev := vmx.EventInfo(c.ctx.IDTVectoring)
	if !ev.Valid() {
		return
	}
	c.ctx.EntryEvent = uint32(ev) &^ (1 << 12) // bits 12 (undefined here) cleared
	c.ctx.EntryErrorCode = c.ctx.IDTVectoringError
	c.ctx.EntryInstrLen = c.ctx.ExitInstrLen
	c.ctx.Dirty |= cpu.VMDirtyEvent
}

// Resume: a vCPU runs only inside Run.
func (c *VCPU) Resume() error { return sandbox.ErrNoPort }

// Regs reads the general registers, RIP, RFLAGS and the FS and GS bases.
func (c *VCPU) Regs() sandbox.Regs {
	if c.running.Load() {
		return sandbox.Regs{}
	}
	g := &c.ctx.GPR
	r := sandbox.Regs{
		RAX: g[0], RCX: g[1], RDX: g[2], RBX: g[3], RBP: g[5], RSI: g[6], RDI: g[7],
		R8: g[8], R9: g[9], R10: g[10], R11: g[11], R12: g[12], R13: g[13], R14: g[14], R15: g[15],
		RIP: c.RIP(), RSP: c.GPR(4), RFLAGS: c.RFLAGS(),
	}
	r.FSBase = c.Read(vmx.GuestFSBase)
	r.GSBase = c.Read(vmx.GuestGSBase)
	return r
}

// SetRegs replaces them. RFLAGS keeps its reserved bit 1 set and VM clear.
func (c *VCPU) SetRegs(r sandbox.Regs) error {
	if c.running.Load() {
		return sandbox.ErrRunning
	}
	c.ctx.GPR = [16]uint64{r.RAX, r.RCX, r.RDX, r.RBX, 0, r.RBP, r.RSI, r.RDI, r.R8, r.R9, r.R10, r.R11, r.R12, r.R13, r.R14, r.R15}
	c.SetRIP(r.RIP)
	c.SetGPR(4, r.RSP)
	c.SetRFLAGS(r.RFLAGS)
	return nil
}

// SetReturn sets RAX, the hypercall's result.
func (c *VCPU) SetReturn(v uint64) { c.ctx.GPR[0] = v }

// PKRU is the guest's PKRU at its last exit.
func (c *VCPU) PKRU() uint32 { return c.ctx.PKRU }

// VectorState: the vCPU's vector state is the VM's own.
func (c *VCPU) VectorState([]byte) error { return sandbox.ErrNoVectorState }

// SetVectorState: the vCPU's vector state is the VM's own.
func (c *VCPU) SetVectorState([]byte) error { return sandbox.ErrNoVectorState }

// Interrupt makes the current or next Run return ExitInterrupted, and
// wakes a vCPU waiting in Sleep. A guest running on another CPU leaves
// it for an IPI: EnterGuest reads Cancel after its VMCS is active on its
// CPU, so either it sees the flag or this sees that CPU.
func (c *VCPU) Interrupt() {
	atomic.StoreUint32(&c.ctx.Cancel, 1)
	if at, ok := c.ctx.ActiveCPU(); ok {
		kernel.KickCPU(at)
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Exit: a vCPU lives as long as its VM.
func (c *VCPU) Exit() error { return sandbox.ErrVCPUExit }

// Sleep waits for d or an Interrupt, whichever comes first (a halted
// vCPU waiting for its next interrupt); false if interrupted.
func (c *VCPU) Sleep(d time.Duration) bool {
	if atomic.LoadUint32(&c.ctx.Cancel) != 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.wake:
		return false
	}
}

// GPR reads general register i (encoding order; 4 is RSP).
func (c *VCPU) GPR(i int) uint64 {
	if i == 4 {
		return c.ctx.RSP
	}
	return c.ctx.GPR[i&15]
}

// SetGPR writes general register i.
func (c *VCPU) SetGPR(i int, v uint64) {
	if i == 4 {
		c.ctx.RSP = v
		c.ctx.Dirty |= cpu.VMDirtyRSP
		return
	}
	c.ctx.GPR[i&15] = v
}

// RIP is the guest's RIP at the last exit (or as set since).
func (c *VCPU) RIP() uint64 { return c.ctx.RIP }

// SetRIP sets the RIP the next entry resumes at.
func (c *VCPU) SetRIP(v uint64) {
	c.ctx.RIP = v
	c.ctx.Dirty |= cpu.VMDirtyRIP
}

// RFLAGS is the guest's RFLAGS.
func (c *VCPU) RFLAGS() uint64 { return c.ctx.RFLAGS }

// SetRFLAGS sets it, with bit 1 set and the reserved bits and VM clear.
func (c *VCPU) SetRFLAGS(v uint64) {
	c.ctx.RFLAGS = (v&0x3f7fd7 | 2) &^ (1 << 17)
	c.ctx.Dirty |= cpu.VMDirtyRFLAGS
}

// Skip moves RIP past the instruction that exited, which the host
// emulated, and ends blocking by STI or MOV SS (SDM Vol. 3C §26.1:
// the instruction completed).
func (c *VCPU) Skip() { c.Advance(uint64(c.ctx.ExitInstrLen)) }

// Advance moves RIP n bytes on, past an instruction the host emulated.
func (c *VCPU) Advance(n uint64) {
	c.SetRIP(c.ctx.RIP + n)
	if c.ctx.Interruptible&(vmx.InterruptibilitySTI|vmx.InterruptibilityMOVSS) != 0 {
		c.ctx.Interruptible &^= vmx.InterruptibilitySTI | vmx.InterruptibilityMOVSS
		c.ctx.Dirty |= cpu.VMDirtyInterruptible
	}
}

// Read reads a VMCS field of the vCPU.
func (c *VCPU) Read(f vmx.Field) uint64 {
	var v uint64
	c.access(func() { v = cpu.Vmread(f) })
	return v
}

// Write writes a VMCS field of the vCPU; false if the CPU refused.
func (c *VCPU) Write(f vmx.Field, v uint64) bool {
	ok := false
	c.access(func() { ok = cpu.Vmwrite(f, v) })
	return ok
}

// EventPending reports whether the next entry injects an event already.
func (c *VCPU) EventPending() bool { return c.ctx.Dirty&cpu.VMDirtyEvent != 0 }

// Inject makes the next entry deliver ev (with errorCode where ev says
// it has one) through the guest's IDT. It replaces nothing: false if an
// event is pending already.
func (c *VCPU) Inject(ev vmx.EventInfo, errorCode uint32) bool {
	if c.EventPending() {
		return false
	}
	c.ctx.EntryEvent = uint32(ev)
	c.ctx.EntryErrorCode = errorCode
	c.ctx.EntryInstrLen = c.ctx.ExitInstrLen
	c.ctx.Dirty |= cpu.VMDirtyEvent
	return true
}

// InjectException injects a hardware exception (with its error code for
// the vectors that have one).
func (c *VCPU) InjectException(vector uint8, errorCode uint32) bool {
	return c.Inject(vmx.NewEvent(vmx.EventHardwareException, vector, vmx.ExceptionHasErrorCode(vector)), errorCode)
}

// Interruptible reports whether the guest can take an external interrupt
// now: RFLAGS.IF set, no STI or MOV SS blocking, no event pending.
func (c *VCPU) Interruptible() bool {
	return c.ctx.RFLAGS&cpu.FlagIF != 0 &&
		c.ctx.Interruptible&(vmx.InterruptibilitySTI|vmx.InterruptibilityMOVSS) == 0 &&
		!c.EventPending()
}

// Secondary is the secondary processor-based controls: which of the
// optional instructions (RDTSCP, INVPCID, XSAVES) the guest has.
func (c *VCPU) Secondary() uint32 { return c.proc2Ctls }

// InterruptWindow turns interrupt-window exiting on or off: on, the
// vCPU exits (ExitInterruptWindow) as soon as it can take an interrupt.
func (c *VCPU) InterruptWindow(on bool) {
	p := c.procCtls &^ vmx.ProcInterruptWindowExiting
	if on {
		p |= vmx.ProcInterruptWindowExiting
	}
	if p != c.procCtls {
		c.procCtls = p
		c.ctx.ProcControls = p
		c.ctx.Dirty |= cpu.VMDirtyProcControls
	}
}

// XCR0 is the guest's XCR0; SetXCR0 sets it, false (the guest gets
// #GP) for a value XSETBV refuses (SDM Vol. 2 "XSETBV"): x87 clear, AVX
// without SSE, or a component the kernel has not enabled.
func (c *VCPU) XCR0() uint64 { return c.ctx.XCR0 }
func (c *VCPU) SetXCR0(v uint64) bool {
	if v&cpu.XCR0X87 == 0 || v&cpu.XCR0AVX != 0 && v&cpu.XCR0SSE == 0 || v&^cpu.XCR0 != 0 {
		return false
	}
	c.ctx.XCR0 = v
	return true
}

// CR0 and CR4 are the values the guest sees (the read shadows'
// host-owned bits and the rest of the real registers).
func (c *VCPU) CR0() uint64 {
	return c.Read(vmx.GuestCR0)&^c.cr0Mask | c.Read(vmx.CR0ReadShadow)&c.cr0Mask
}
func (c *VCPU) CR4() uint64 {
	return c.Read(vmx.GuestCR4)&^c.cr4Mask | c.Read(vmx.CR4ReadShadow)&c.cr4Mask
}

// SetCR0 emulates MOV to CR0 with value v; false if the CPU would raise
// #GP. Paging turned on with EFER.LME set enters IA-32e mode (the CPU
// does that itself for writes that do not exit).
func (c *VCPU) SetCR0(v uint64) bool {
	caps := capabilities()
	if v>>32 != 0 || v&cr0PG != 0 && v&cr0PE == 0 || v&(1<<29) != 0 && v&(1<<30) == 0 {
		return false
	}
	efer := c.Read(vmx.GuestIA32EFER)
	// The CPU keeps the IA-32e mode guest control equal to EFER.LMA at
	// every exit (SDM Vol. 3C §28.2.1), so the VMCS has the current one.
	entry := uint32(c.Read(vmx.VMEntryControls))
	if v&cr0PG != 0 && efer&eferLME != 0 {
		if c.CR4()&cpu.CR4PAE == 0 {
			return false
		}
		efer |= eferLMA
		entry |= vmx.EntryIA32eModeGuest
	} else if v&cr0PG == 0 {
		efer &^= eferLMA
		entry &^= vmx.EntryIA32eModeGuest
	}
	unrestricted := uint64(cr0PE | cr0PG)
	real := (v | caps.CR0Fixed0&^unrestricted) & caps.CR0Fixed1
	return c.Write(vmx.CR0ReadShadow, v) && c.Write(vmx.GuestCR0, real) &&
		c.Write(vmx.GuestIA32EFER, efer) && c.Write(vmx.VMEntryControls, uint64(entry))
}

// SetCR4 emulates MOV to CR4; false for bits the CPU does not allow
// (VMXE included: the guest has no VMX).
func (c *VCPU) SetCR4(v uint64) bool {
	caps := capabilities()
	if v&^caps.CR4Fixed1 != 0 || v&cpu.CR4VMXE != 0 {
		return false
	}
	return c.Write(vmx.CR4ReadShadow, v) && c.Write(vmx.GuestCR4, v|caps.CR4Fixed0)
}

// MSR reads a switched MSR of the guest (STAR, LSTAR, CSTAR, SFMASK,
// KERNEL_GS_BASE, TSC_AUX); false for any other.
func (c *VCPU) MSR(index uint32) (uint64, bool) {
	area := c.msrArea(false)
	for i := range area {
		if area[i].index == index {
			return area[i].value, true
		}
	}
	return 0, false
}

// SetMSR writes one; false for any other MSR.
func (c *VCPU) SetMSR(index uint32, v uint64) bool {
	area := c.msrArea(false)
	for i := range area {
		if area[i].index == index {
			area[i].value = v
			return true
		}
	}
	return false
}

// WakeAt asks for the vCPU back when the guest's TSC reaches tsc (0:
// never): Run returns ExitVM with reason ExitPreemptionTimer then.
func (c *VCPU) WakeAt(tsc uint64) {
	if tsc == 0 {
		c.eventAt = 0
		return
	}
	c.eventAt = max(tsc-c.vm.tscOffset, 1)
}

// TSC is the guest's TSC now.
func (c *VCPU) TSC() uint64 { return cpu.Rdtsc() + c.vm.tscOffset }

// SetTSC makes the guest's TSC read v now (WRMSR IA32_TSC).
func (c *VCPU) SetTSC(v uint64) {
	c.vm.tscOffset = v - cpu.Rdtsc()
	for _, o := range c.vm.vcpus {
		o.Write(vmx.TSCOffset, c.vm.tscOffset)
	}
}

// Mode is the guest's operating mode for instruction decoding: 16, 32
// or 64 bits.
func (c *VCPU) Mode() int {
	ar := c.Read(vmx.GuestCSAccessRights)
	switch {
	case c.Read(vmx.VMEntryControls)&vmx.EntryIA32eModeGuest != 0 && ar&(1<<13) != 0:
		return 64
	case ar&(1<<14) != 0:
		return 32
	}
	return 16
}

// Paging is the guest's paging state.
func (c *VCPU) Paging() (cr0, cr3, cr4, efer uint64) {
	return c.Read(vmx.GuestCR0), c.Read(vmx.GuestCR3), c.Read(vmx.GuestCR4), c.Read(vmx.GuestIA32EFER)
}

// CSBase is the guest's code-segment base (for the linear address of RIP).
func (c *VCPU) CSBase() uint64 { return c.Read(vmx.GuestCSBase) }
