package tests

import (
	"bytes"
	"errors"
	"strings"
	"time"

	"beelzebox/cpu"
	"beelzebox/cpu/vmx"
	"beelzebox/sandbox"
	"beelzebox/sandbox/abi"
	"beelzebox/sandbox/vm"
)

// Level 4: VMX virtual machines (sandbox/vm) and the PC around them
// (sandbox/vm/machine). The raw tests drive a VM through the host API
// alone with a few bytes of guest code; the machine tests boot the test
// kernels of tests/vmguests.

func init() {
	reg := func(name string, fn func(*T)) { Register("level4", name, fn) }
	reg("availability", level4Availability)
	reg("raw-hypercall", needVMX(level4RawHypercall))
	reg("abi-host-serves-a-vm", needVMX(level4ABIHost))
	reg("budget-ends-cli-spin", needVMX(level4Budget))
	reg("interrupt", needVMX(level4Interrupt))
	reg("outside-ram-exits", needVMX(level4OutsideRAM))
	reg("entry-checker-names-the-rule", needVMX(level4EntryChecker))
	reg("memory-is-the-guests", needVMX(level4Memory))
	reg("close-frees-everything", needVMX(level4CloseFrees))
	reg("more-vms-than-a-cpu-keeps-active", needVMX(level4ManyVMs))
}

// needVMX skips a test on CPUs without level 4.
func needVMX(fn func(*T)) func(*T) {
	return func(t *T) {
		if !cpu.CPU.VMX {
			t.Skip("vmx", "level 4 needs VMX")
		}
		if !cpu.CPU.EPT {
			t.Skip("ept", "level 4 needs EPT")
		}
		fn(t)
	}
}

// level4Availability: without VMX, level 4 refuses with the spec's error
// naming the feature; with it, the level is available.
func level4Availability(t *T) {
	err := sandbox.Available(sandbox.Level4)
	if !cpu.CPU.VMX {
		if err == nil || !strings.Contains(err.Error(), "VMX (CPUID.1:ECX.VMX[5])") {
			t.Fatalf("level 4 on a CPU without VMX: %v, want an error naming CPUID.1:ECX.VMX[5]", err)
		}
		if _, err := sandbox.New(sandbox.Config{Level: sandbox.Level4}); err == nil {
			t.Fatalf("sandbox.New(level 4) succeeded without VMX")
		}
		return
	}
	if cpu.CPU.EPT && err != nil {
		t.Fatalf("level 4 unavailable on a CPU with VMX and EPT: %v", err)
	}
}

// guestCode is where the raw tests put their 32-bit code.
const guestCode = 0x100000

// rawVM makes a level 4 guest of 1 MiB of RAM at 1 MiB holding code,
// entered at its first byte in 32-bit protected mode.
func rawVM(t *T, code []byte, budget time.Duration) *vm.VM {
	g, err := sandbox.New(sandbox.Config{
		Level:   sandbox.Level4,
		Regions: []sandbox.Region{{Name: "ram", Addr: guestCode, Size: 1 << 20, Perm: sandbox.Read | sandbox.Write | sandbox.Exec, Data: code}},
		Regs:    sandbox.Regs{RIP: guestCode, RSP: guestCode + 1<<20},
		Budget:  budget,
		VM:      sandbox.VMConfig{CheckEntry: true},
	})
	if err != nil {
		t.Fatalf("level 4 guest: %v", err)
	}
	return g.(*vm.VM)
}

// 32-bit guest instructions (the 64-bit ones are in ring3.go).
var (
	insVMCALL = []byte{0x0f, 0x01, 0xc1}
	insCLI    = []byte{0xfa}
)

// countingHypercalls is a 32-bit guest that counts its turns in EBX and
// makes a hypercall after each: inc ebx; vmcall; jmp to the start.
var countingHypercalls = code([]byte{0x43}, insVMCALL, []byte{0xeb, 0xfa})

func movEDI(v uint32) []byte { return append([]byte{0xbf}, le32(v)...) }
func movESI(v uint32) []byte { return append([]byte{0xbe}, le32(v)...) }
func movEDX(v uint32) []byte { return append([]byte{0xba}, le32(v)...) }

// level4RawHypercall: VMCALL stops the vCPU as a system call with RAX
// and the Linux argument registers; SetReturn answers it; HLT then
// comes back as a VM exit with the answer in RAX and RIP past the HLT.
func level4RawHypercall(t *T) {
	g := rawVM(t, code(movEAX(42), movEDI(1), movESI(2), movEDX(3), insVMCALL, insHlt), time.Second)
	defer g.Close()
	th := g.Main()
	e, err := th.Run()
	if err != nil || e.Kind != sandbox.ExitSyscall {
		t.Fatalf("first exit: %v %v, want the hypercall", e, err)
	}
	if e.Syscall.Nr != 42 || e.Syscall.Args[0] != 1 || e.Syscall.Args[1] != 2 || e.Syscall.Args[2] != 3 {
		t.Fatalf("hypercall %+v, want 42(1, 2, 3)", e.Syscall)
	}
	th.SetReturn(7)
	e, err = th.Run()
	if err != nil || e.Kind != sandbox.ExitVM || e.VM.Reason != vmx.ExitHLT {
		t.Fatalf("second exit: %v %v, want HLT", e, err)
	}
	r := th.Regs()
	if r.RAX != 7 {
		t.Fatalf("RAX %d after the hypercall returned 7", r.RAX)
	}
	if want := uint64(guestCode + 23); e.VM.RIP != want {
		t.Fatalf("HLT exit at %#x, want %#x", e.VM.RIP, want)
	}
}

// level4ABIHost: the default ABI's host, written for levels 1-3, serves
// a VM's hypercalls unchanged: write from guest-physical memory, exit.
func level4ABIHost(t *T) {
	msg := []byte("hello from level 4\n")
	const buf = guestCode + 0x800
	c := code(movEAX(abi.SysWrite), movEDI(1), movESI(buf), movEDX(uint32(len(msg))), insVMCALL,
		movEAX(abi.SysExit), movEDI(5), insVMCALL, insHlt)
	img := make([]byte, 0x800+len(msg))
	copy(img, c)
	copy(img[0x800:], msg)
	g := rawVM(t, img, time.Second)
	defer g.Close()
	var out bytes.Buffer
	h := &abi.Host{Guest: g, Out: &out}
	res, err := h.Serve()
	if err != nil || !res.Exited || res.Code != 5 {
		t.Fatalf("Serve = %v, %v; want exit(5)", res, err)
	}
	if !strings.Contains(out.String(), "hello from level 4") {
		t.Fatalf("output %q", out.String())
	}
}

// level4Budget: a guest that disables interrupts and spins comes back
// when its budget ends (the VMX-preemption timer), and again after that.
func level4Budget(t *T) {
	g := rawVM(t, code(insCLI, insJmpSelf), 20*time.Millisecond)
	defer g.Close()
	for i := 0; i < 3; i++ {
		t0 := time.Now()
		e, err := g.Main().Run()
		if err != nil || e.Kind != sandbox.ExitBudget {
			t.Fatalf("run %d: %v %v, want the budget", i, e, err)
		}
		if d := time.Since(t0); d > 2*time.Second {
			t.Fatalf("run %d took %v for a 20 ms budget", i, d)
		}
	}
}

// level4Interrupt: Interrupt from another goroutine stops a spinning
// vCPU with ExitInterrupted.
func level4Interrupt(t *T) {
	// STI: Bochs 2.7 takes external interrupts in VMX non-root operation
	// only while the guest has RFLAGS.IF set, although external-interrupt
	// exiting makes them exit whatever IF is (SDM Vol. 3C §26.3); a guest
	// with IF clear is bounded by its budget there (budget-ends-cli-spin).
	g := rawVM(t, code([]byte{0xfb}, insJmpSelf), 2*time.Second)
	defer g.Close()
	th := g.Main()
	go func() {
		time.Sleep(20 * time.Millisecond)
		th.Interrupt()
	}()
	e, err := th.Run()
	if err != nil || e.Kind != sandbox.ExitInterrupted {
		t.Fatalf("Run = %v %v, want interrupted (%d entries)", e, err, g.VCPU0().Entries)
	}
}

// level4ManyVMs: more VMs than a CPU keeps VMCSs active (8) take turns
// on one CPU, a hypercall each per turn: loading one clears another
// (VMCLEAR), which must then be entered with VMLAUNCH again and keep its
// state. Each guest counts its turns in EBX.
func level4ManyVMs(t *T) {
	const vms, turns = 12, 3
	pinTo(t, 0)
	defer unpin()
	gs := make([]*vm.VM, vms)
	for i := range gs {
		gs[i] = rawVM(t, countingHypercalls, time.Second)
		defer gs[i].Close()
	}
	for turn := 1; turn <= turns; turn++ {
		for i, g := range gs {
			e, err := g.Main().Run()
			if err != nil || e.Kind != sandbox.ExitSyscall {
				t.Fatalf("turn %d, VM %d: %v %v, want the hypercall", turn, i, e, err)
			}
			if got := g.Main().Regs().RBX; got != uint64(turn) {
				t.Fatalf("turn %d, VM %d: EBX %d, want %d", turn, i, got, turn)
			}
		}
	}
}

// level4OutsideRAM: an access to guest-physical memory that is not RAM
// is an EPT violation exit that names the address.
func level4OutsideRAM(t *T) {
	// mov dword [0x40000000], 0x1234
	store := []byte{0xc7, 0x05, 0x00, 0x00, 0x00, 0x40, 0x34, 0x12, 0x00, 0x00}
	g := rawVM(t, code(store, insHlt), time.Second)
	defer g.Close()
	e, err := g.Main().Run()
	if err != nil || e.Kind != sandbox.ExitVM || e.VM.Reason != vmx.ExitEPTViolation {
		t.Fatalf("Run = %v %v, want an EPT violation", e, err)
	}
	q := vmx.EPTViolationQualification(e.VM.Qualification)
	if e.VM.GuestPhysical != 0x40000000 || !q.Write() {
		t.Fatalf("EPT violation at %#x (qualification %v), want a write at 0x40000000", e.VM.GuestPhysical, q)
	}
}

// level4EntryChecker: a VMCS the guest state checks reject does not
// enter; the exit names the SDM rule the checker found broken.
func level4EntryChecker(t *T) {
	g := rawVM(t, code(insHlt), time.Second)
	defer g.Close()
	c := g.VCPU0()
	// A code segment that is a system descriptor (S clear, SDM 27.3.1.2).
	if !c.Write(vmx.GuestCSAccessRights, 0xc08b) {
		t.Fatalf("VMWRITE refused")
	}
	e, err := c.Run()
	if err != nil || e.Kind != sandbox.ExitKilled {
		t.Fatalf("Run = %v %v, want the failed entry", e, err)
	}
	if !strings.Contains(e.Reason, "27.3.1.2") || !strings.Contains(e.Reason, "GuestCSAccessRights") {
		t.Fatalf("failed entry: %q, want the rule 27.3.1.2 on GuestCSAccessRights", e.Reason)
	}
	if _, err := c.Run(); err == nil {
		t.Fatalf("a vCPU whose entry failed ran again")
	}
}

// level4Memory: host copies reach guest-physical RAM and nothing else.
func level4Memory(t *T) {
	g := rawVM(t, code(insHlt), time.Second)
	defer g.Close()
	if err := g.WriteMemory(guestCode+0x1000, []byte("abc")); err != nil {
		t.Fatalf("%v", err)
	}
	b := make([]byte, 3)
	if err := g.ReadMemory(guestCode+0x1000, b); err != nil || string(b) != "abc" {
		t.Fatalf("read back %q %v", b, err)
	}
	for _, a := range []uint64{0, guestCode - 1, guestCode + 1<<20 - 1, 1 << 62} {
		if err := g.ReadMemory(a, b); err == nil {
			t.Errorf("ReadMemory(%#x, 3) outside RAM succeeded", a)
		}
	}
	if _, err := g.Map(sandbox.Region{Name: "overlap", Addr: guestCode + 4096, Size: 4096}); err == nil {
		t.Errorf("an overlapping region was mapped")
	}
}

// level4CloseFrees: creating, running and closing VMs leaks no frame.
func level4CloseFrees(t *T) {
	before := vm.FramesHeld()
	for i := 0; i < 20; i++ {
		g := rawVM(t, code(movEAX(1), insVMCALL, insHlt), time.Second)
		if _, err := g.Main().Run(); err != nil {
			t.Fatalf("%v", err)
		}
		if err := g.Close(); err != nil {
			t.Fatalf("%v", err)
		}
		if err := g.Close(); !errors.Is(err, sandbox.ErrClosed) {
			t.Fatalf("second Close: %v", err)
		}
	}
	if after := vm.FramesHeld(); after != before {
		t.Fatalf("VMs hold %d frames before 20 VMs were made and closed, %d after", before, after)
	}
}
