// Package machine is the hypervisor host of level 4: it turns a VM
// (sandbox/vm) into a PC that boots multiboot v1 kernels. It loads the
// kernel and its modules (sandbox/vm/loader), and serves the VM exits a
// PC's devices and instructions cause, each by one handler in a table
// keyed by exit reason (composable, after hvpp):
//
//	CPUID            the host's leaves, filtered (no VMX, no MONITOR),
//	                 with the hypervisor bit and leaves 0x40000000
//	                 ("beelzeboxVMM") and 0x40000010 (TSC and APIC timer
//	                 frequencies in kHz)
//	HLT              the vCPU sleeps until its next interrupt
//	I/O              COM1 (a 16550, its output to Config.Console), the
//	                 debug exit port 0xF4 (the guest's exit code); every
//	                 other port reads all-ones and ignores writes
//	EPT violation    the local APIC page is MMIO (the instruction is
//	                 decoded and emulated); anything else outside RAM
//	                 stops the VM (StopFault)
//	RDMSR, WRMSR     an allow-list; any other MSR is #GP
//	CR access        CR0 and CR4 bits the host owns, CR8 as the APIC TPR
//	XSETBV           the guest's XCR0, checked
//	VMX instructions, MONITOR, MWAIT, RDPMC   #UD
//	triple fault, INIT                        stop the VM
//
// VMCALL is the guest's system call: Run returns it (StopHypercall) for
// the caller's ABI, which is how the same handler serves a guest at
// every level (package abi).
package machine

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"beelzebox/cpu"
	"beelzebox/cpu/vmx"
	"beelzebox/kernel"
	"beelzebox/sandbox"
	"beelzebox/sandbox/vm"
	"beelzebox/sandbox/vm/lapic"
	"beelzebox/sandbox/vm/loader"
	"beelzebox/sandbox/vm/mmio"
	"beelzebox/sandbox/vm/uart"
)

// Config describes a machine.
type Config struct {
	// MainMemory is the RAM from 1 MiB, in bytes (the 640 KiB below 1 MiB
	// come with it).
	MainMemory uint64
	Kernel     []byte
	CmdLine    string
	Modules    []loader.Module
	// Console receives COM1's output, byte by byte.
	Console func(b byte)
	// Budget is the CPU time one Run may use (sandbox.Config.Budget).
	Budget time.Duration
	// Exceptions are the vectors intercepted (StopFault).
	Exceptions uint32
	// CheckEntry runs the VM-entry checker before the first entry.
	CheckEntry bool
}

// Ports.
const (
	PortCOM1      = 0x3f8
	PortDebugExit = 0xf4
)

// minWakeMicros is the soonest, in µs of guest time, that the machine
// asks for its vCPU back for a timer event: longer than a VM exit takes
// under emulation, so that a guest programming a 1 µs period cannot keep
// its vCPU exiting for timer events and nothing else (KVM likewise
// clamps periodic timers). A timer due sooner is delivered that late.
const minWakeMicros = 50

// BusHz is the virtual APIC timer's input clock.
const BusHz = 100_000_000

// Machine is a VM with a PC's devices.
type Machine struct {
	VM   *vm.VM
	CPU  *vm.VCPU
	APIC *lapic.LAPIC
	COM1 *uart.UART
	Boot loader.Boot
	// Exits counts the VM exits handled here, by basic reason.
	Exits    [128]uint64
	handlers [128]handler
	tscHz    uint64
	// debugRegs are the guest's DR0-DR7 as it wrote them. They are not
	// loaded into the CPU: guest breakpoints do not fire (documented).
	debugRegs [8]uint64
	// decoded caches the MMIO instructions decoded so far, by linear
	// address: a driver touches its device from a handful of places, and
	// decoding is most of an MMIO exit's cost. An entry is used only if
	// the bytes at the address are still the ones decoded.
	decoded map[decodeKey]decodedAccess
}

type decodeKey struct {
	rip  uint64
	mode int
}

type decodedAccess struct {
	code []byte
	acc  mmio.Access
}

// maxDecoded bounds the cache; past it, it starts again empty.
const maxDecoded = 256

// StopKind says why Run returned.
type StopKind int

const (
	// StopHypercall: the guest executed VMCALL (Exit.Syscall); answer
	// with CPU.SetReturn and Run again.
	StopHypercall StopKind = iota + 1
	// StopDebugExit: the guest wrote Code to port 0xF4.
	StopDebugExit
	// StopTripleFault: the guest triple-faulted (or was sent INIT).
	StopTripleFault
	// StopHalted: the guest halted with no interrupt that can ever wake
	// it (HLT with interrupts disabled, or with no timer armed).
	StopHalted
	// StopFault: an access outside RAM and devices, an instruction the
	// host cannot emulate, or an intercepted exception (Exit.Fault).
	StopFault
	// StopBudget: the Run used its budget.
	StopBudget
	// StopInterrupted: CPU.Interrupt was called.
	StopInterrupted
	// StopFailed: the VM cannot run on (a failed VM entry, an exit the
	// machine does not handle); Detail says why.
	StopFailed
)

var stopNames = [...]string{StopHypercall: "hypercall", StopDebugExit: "debug exit", StopTripleFault: "triple fault",
	StopHalted: "halted", StopFault: "fault", StopBudget: "budget", StopInterrupted: "interrupted", StopFailed: "failed"}

func (k StopKind) String() string {
	if k > 0 && int(k) < len(stopNames) {
		return stopNames[k]
	}
	return "unknown"
}

// Stop is why Run returned.
type Stop struct {
	Kind   StopKind
	Code   uint32 // StopDebugExit
	Exit   sandbox.Exit
	Detail string
}

func (s Stop) String() string {
	switch s.Kind {
	case StopDebugExit:
		return fmt.Sprintf("debug exit %d", s.Code)
	case StopHypercall:
		return fmt.Sprintf("hypercall %d", s.Exit.Syscall.Nr)
	}
	if s.Detail != "" {
		return s.Kind.String() + ": " + s.Detail
	}
	return s.Kind.String()
}

// handler serves one exit reason: it returns nil to run on, or why the
// machine stops.
type handler func(m *Machine, e *sandbox.VMExit) *Stop

// RAM layout (loader): low memory, then main memory from 1 MiB.
const lowRAM = loader.LowMemoryEnd

// New builds the machine and loads the kernel.
func New(cfg Config) (*Machine, error) {
	if cfg.MainMemory == 0 || cfg.MainMemory%(1<<20) != 0 {
		return nil, errors.New("machine: main memory must be a whole number of MiB")
	}
	if cfg.Console == nil {
		cfg.Console = func(byte) {}
	}
	v, err := vm.New(sandbox.Config{
		Level: sandbox.Level4,
		Regions: []sandbox.Region{
			{Name: "low memory", Addr: 0, Size: lowRAM, Perm: sandbox.Read | sandbox.Write | sandbox.Exec},
			{Name: "main memory", Addr: loader.MainMemoryStart, Size: cfg.MainMemory, Perm: sandbox.Read | sandbox.Write | sandbox.Exec},
		},
		MemoryLimit: cfg.MainMemory + lowRAM,
		Budget:      cfg.Budget,
		VM:          sandbox.VMConfig{Exceptions: cfg.Exceptions, CheckEntry: cfg.CheckEntry},
	})
	if err != nil {
		return nil, err
	}
	boot, err := loader.Load(v, loader.Config{Kernel: cfg.Kernel, CmdLine: cfg.CmdLine, Modules: cfg.Modules, MainSize: cfg.MainMemory})
	if err != nil {
		v.Close()
		return nil, err
	}
	m := &Machine{VM: v, CPU: v.VCPU0(), Boot: boot, tscHz: kernel.TSCFrequency()}
	m.APIC = lapic.New(0, m.tscHz, BusHz)
	m.COM1 = uart.New(cfg.Console)
	r := m.CPU.Regs()
	r.RAX, r.RBX, r.RIP = uint64(boot.Magic), uint64(boot.InfoAddr), uint64(boot.EntryPoint)
	if err := m.CPU.SetRegs(r); err != nil {
		v.Close()
		return nil, err
	}
	m.install()
	return m, nil
}

// Close frees the VM.
func (m *Machine) Close() error { return m.VM.Close() }

// Run runs the guest until a stop its caller must see.
func (m *Machine) Run() (Stop, error) {
	for {
		m.deliver()
		ex, err := m.CPU.Run()
		if err != nil {
			return Stop{}, err
		}
		switch ex.Kind {
		case sandbox.ExitSyscall:
			return Stop{Kind: StopHypercall, Exit: ex}, nil
		case sandbox.ExitFault:
			return Stop{Kind: StopFault, Exit: ex, Detail: ex.String()}, nil
		case sandbox.ExitBudget:
			return Stop{Kind: StopBudget, Exit: ex}, nil
		case sandbox.ExitInterrupted:
			return Stop{Kind: StopInterrupted, Exit: ex}, nil
		case sandbox.ExitKilled:
			return Stop{Kind: StopFailed, Exit: ex, Detail: ex.Reason}, nil
		}
		e := ex.VM
		reason := int(e.Reason)
		if reason >= len(m.handlers) || m.handlers[reason] == nil {
			return Stop{Kind: StopFailed, Exit: ex, Detail: "unhandled VM exit: " + e.String()}, nil
		}
		m.Exits[reason]++
		if s := m.handlers[reason](m, e); s != nil {
			s.Exit = ex
			return *s, nil
		}
	}
}

// deliver injects the APIC's highest pending interrupt if the guest can
// take it, or asks for an interrupt-window exit; and asks for the vCPU
// back at the APIC timer's next event.
func (m *Machine) deliver() {
	now := m.CPU.TSC()
	m.APIC.Update(now)
	if vec, ok := m.APIC.PendingVector(); ok {
		if m.CPU.Interruptible() {
			m.CPU.Inject(vmx.NewEvent(vmx.EventExternalInterrupt, vec, false), 0)
			m.APIC.Acknowledge(vec)
			m.CPU.InterruptWindow(false)
		} else {
			m.CPU.InterruptWindow(true)
		}
	} else {
		m.CPU.InterruptWindow(false)
	}
	if next, ok := m.APIC.NextEvent(); ok {
		m.CPU.WakeAt(max(next, now+m.tscHz/1_000_000*minWakeMicros))
	} else {
		m.CPU.WakeAt(0)
	}
}

// install fills the handler table.
func (m *Machine) install() {
	h := &m.handlers
	h[vmx.ExitCPUID] = (*Machine).cpuid
	h[vmx.ExitHLT] = (*Machine).hlt
	h[vmx.ExitIO] = (*Machine).io
	h[vmx.ExitEPTViolation] = (*Machine).eptViolation
	h[vmx.ExitRDMSR] = (*Machine).rdmsr
	h[vmx.ExitWRMSR] = (*Machine).wrmsr
	h[vmx.ExitCRAccess] = (*Machine).crAccess
	h[vmx.ExitMOVDR] = (*Machine).movDR
	h[vmx.ExitXSETBV] = (*Machine).xsetbv
	h[vmx.ExitInterruptWindow] = func(m *Machine, _ *sandbox.VMExit) *Stop { m.CPU.InterruptWindow(false); return nil }
	h[vmx.ExitPreemptionTimer] = func(*Machine, *sandbox.VMExit) *Stop { return nil } // deliver runs next
	h[vmx.ExitTripleFault] = func(*Machine, *sandbox.VMExit) *Stop { return &Stop{Kind: StopTripleFault} }
	h[vmx.ExitINIT] = func(*Machine, *sandbox.VMExit) *Stop {
		return &Stop{Kind: StopTripleFault, Detail: "INIT signal (a reset)"}
	}
	h[vmx.ExitINVD] = skip
	h[vmx.ExitWBINVD] = skip
	for _, r := range []vmx.ExitReason{vmx.ExitVMCLEAR, vmx.ExitVMLAUNCH, vmx.ExitVMPTRLD, vmx.ExitVMPTRST,
		vmx.ExitVMREAD, vmx.ExitVMRESUME, vmx.ExitVMWRITE, vmx.ExitVMXOFF, vmx.ExitVMXON, vmx.ExitINVEPT,
		vmx.ExitINVVPID, vmx.ExitVMFUNC, vmx.ExitGETSEC, vmx.ExitMONITOR, vmx.ExitMWAIT, vmx.ExitRDPMC,
		vmx.ExitENCLS, vmx.ExitXSAVES, vmx.ExitXRSTORS} {
		h[r] = undefinedOpcode
	}
	h[vmx.ExitEPTMisconfig] = func(_ *Machine, e *sandbox.VMExit) *Stop {
		return &Stop{Kind: StopFailed, Detail: fmt.Sprintf("EPT misconfiguration at %#x (a hypervisor bug)", e.GuestPhysical)}
	}
}

func skip(m *Machine, _ *sandbox.VMExit) *Stop { m.CPU.Skip(); return nil }

// undefinedOpcode: the guest has no VMX (or MONITOR/MWAIT, RDPMC, SGX):
// the instruction raises #UD in the guest, as on a CPU without it.
func undefinedOpcode(m *Machine, _ *sandbox.VMExit) *Stop {
	m.CPU.InjectException(vmx.VectorUD, 0)
	return nil
}

func (m *Machine) gp() *Stop {
	m.CPU.InjectException(vmx.VectorGP, 0)
	return nil
}

// hlt: the vCPU waits for its next interrupt.
func (m *Machine) hlt(_ *sandbox.VMExit) *Stop {
	m.CPU.Skip()
	if m.CPU.RFLAGS()&cpu.FlagIF == 0 {
		return &Stop{Kind: StopHalted, Detail: "HLT with interrupts disabled"}
	}
	for {
		now := m.CPU.TSC()
		m.APIC.Update(now)
		if _, ok := m.APIC.PendingVector(); ok {
			return nil
		}
		next, ok := m.APIC.NextEvent()
		if !ok {
			return &Stop{Kind: StopHalted, Detail: "HLT with no interrupt source armed"}
		}
		wait := time.Duration((next - now) * 1_000_000_000 / m.tscHz)
		if next <= now {
			continue
		}
		if !m.CPU.Sleep(wait) {
			return &Stop{Kind: StopInterrupted}
		}
	}
}

// io serves IN and OUT (not the string forms).
func (m *Machine) io(e *sandbox.VMExit) *Stop {
	q := vmx.IOQualification(e.Qualification)
	if q.StringInstruction() {
		return &Stop{Kind: StopFault, Detail: fmt.Sprintf("string I/O (INS/OUTS) to port %#x is not emulated", q.Port())}
	}
	port, size := q.Port(), q.Size()
	mask := uint64(1)<<(8*size) - 1
	if q.In() {
		v := mask
		if port >= PortCOM1 && port < PortCOM1+8 && size == 1 {
			v = uint64(m.COM1.Read(port - PortCOM1))
		}
		rax := m.CPU.GPR(0)
		if size == 4 {
			rax = v // a 32-bit destination zero-extends
		} else {
			rax = rax&^mask | v
		}
		m.CPU.SetGPR(0, rax)
		m.CPU.Skip()
		return nil
	}
	v := m.CPU.GPR(0) & mask
	m.CPU.Skip()
	switch {
	case port >= PortCOM1 && port < PortCOM1+8:
		m.COM1.Write(port-PortCOM1, uint8(v))
	case port == PortDebugExit:
		return &Stop{Kind: StopDebugExit, Code: uint32(v)}
	}
	return nil
}

// eptViolation: the APIC page is MMIO; anything else is a fault.
func (m *Machine) eptViolation(e *sandbox.VMExit) *Stop {
	gpa := e.GuestPhysical
	if m.APIC.XAPICEnabled() && gpa&^0xfff == m.APIC.Base() {
		return m.apicMMIO(gpa & 0xfff)
	}
	q := vmx.EPTViolationQualification(e.Qualification)
	what := "read"
	switch {
	case q.Write():
		what = "write"
	case q.Fetch():
		what = "instruction fetch"
	}
	where := "outside RAM"
	if m.VM.IsRAM(gpa) {
		where = "to RAM the host protected"
	}
	return &Stop{Kind: StopFault, Detail: fmt.Sprintf("guest-physical %s at %#x %s (rip %#x)", what, gpa, where, e.RIP)}
}

// apicMMIO emulates the instruction that touched APIC register off.
func (m *Machine) apicMMIO(off uint64) *Stop {
	cr0, cr3, cr4, efer := m.CPU.Paging()
	pg := mmio.Paging{CR0: cr0, CR3: cr3, CR4: cr4, EFER: efer}
	mode := m.CPU.Mode()
	rip := m.CPU.RIP()
	if mode != 64 {
		rip = (rip + m.CPU.CSBase()) & 0xffffffff
	}
	code, err := mmio.FetchInstruction(m.VM, pg, rip)
	if err != nil {
		return &Stop{Kind: StopFault, Detail: fmt.Sprintf("APIC access: cannot fetch the instruction at %#x: %v", rip, err)}
	}
	key := decodeKey{rip, mode}
	d, ok := m.decoded[key]
	if !ok || len(code) < len(d.code) || !bytes.Equal(code[:len(d.code)], d.code) {
		acc, err := mmio.Decode(code, mode)
		if err != nil {
			return &Stop{Kind: StopFault, Detail: fmt.Sprintf("APIC access at %#x: %v", rip, err)}
		}
		if m.decoded == nil || len(m.decoded) >= maxDecoded {
			m.decoded = map[decodeKey]decodedAccess{}
		}
		d = decodedAccess{code: bytes.Clone(code[:acc.Length]), acc: acc}
		m.decoded[key] = d
	}
	acc := d.acc
	var regs mmio.GPRs
	for i := range regs {
		regs[i] = m.CPU.GPR(i)
	}
	now := m.CPU.TSC()
	if acc.Write {
		if acc.Size == 4 || acc.Size == 8 {
			m.APIC.WriteMMIO(uint32(off), uint32(acc.Value(&regs)), now)
		}
	} else {
		v := uint64(0)
		if acc.Size == 4 || acc.Size == 8 {
			v = uint64(m.APIC.ReadMMIO(uint32(off), now))
		}
		acc.Complete(&regs, v)
		for i := range regs {
			if i != 4 && regs[i] != m.CPU.GPR(i) {
				m.CPU.SetGPR(i, regs[i])
			}
		}
	}
	m.CPU.Advance(uint64(acc.Length))
	return nil
}

// Hypercalls serves the guest's VMCALLs: abi.Host is one.
type Hypercalls interface {
	Handle(sc sandbox.Syscall) (ret uint64, done bool, code int)
}

// Serve runs the guest, answering its hypercalls with h, until another
// stop; a hypercall that ends the guest (exit) is StopDebugExit with its
// code, as if the guest had written it to port 0xF4.
func (m *Machine) Serve(h Hypercalls) (Stop, error) {
	for {
		s, err := m.Run()
		if err != nil || s.Kind != StopHypercall {
			return s, err
		}
		ret, done, code := h.Handle(s.Exit.Syscall)
		if done {
			return Stop{Kind: StopDebugExit, Code: uint32(code), Exit: s.Exit, Detail: "exit hypercall"}, nil
		}
		m.CPU.SetReturn(ret)
	}
}
