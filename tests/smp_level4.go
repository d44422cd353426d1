package tests

import (
	"encoding/binary"
	"time"

	"beelzebox/cpu"
	"beelzebox/cpu/vmx"
	"beelzebox/sandbox"
)

// Level 4 on many CPUs: a vCPU's VMCS follows its goroutine from CPU to
// CPU (cleared on the CPU it left, with the host state of the CPU it
// arrives on), an EPT change reaches the CPU a vCPU runs on before it
// returns, and Interrupt stops a vCPU running on another CPU.
func init() {
	Register("smp", "level4-vcpu-moves-between-cpus", needVMX(testSMPLevel4Moves))
	Register("smp", "level4-unmap-seen-by-other-cpu-at-once", needVMX(testSMPLevel4Unmap))
	Register("smp", "level4-interrupt-from-another-cpu", needVMX(testSMPLevel4Interrupt))
}

// testSMPLevel4Moves: one vCPU runs on every CPU in turn, a hypercall at
// a time, and counts in EBX. After each exit the count is intact, the
// goroutine is on the CPU it is pinned to with that CPU's GS base,
// KERNEL_GS_BASE and TSC_AUX (the VM exit loaded them from the VMCS and
// its MSR-load area), and the VMCS names that CPU's block and TSS. A VMCS field
// written on one CPU is read back on another.
func testSMPLevel4Moves(t *T) {
	needSMP(t, "a vCPU has no other CPU to move to")
	n := onlineCPUs()
	g := rawVM(t, countingHypercalls, time.Second)
	defer g.Close()
	defer unpin()
	c := g.VCPU0()
	const rounds = 200
	for i := range rounds {
		at := i % n
		pinTo(t, at)
		e, err := c.Run()
		if err != nil || e.Kind != sandbox.ExitSyscall {
			t.Fatalf("round %d on CPU %d: %v %v, want the hypercall", i, at, e, err)
		}
		if got := cpu.Index(); got != at {
			t.Fatalf("round %d: back from the guest on CPU %d, pinned to %d", i, got, at)
		}
		if got, want := cpu.Rdmsr(cpu.MSRKernelGSBase), cpu.HostGSBase(); got != want {
			t.Fatalf("round %d on CPU %d: KERNEL_GS_BASE %#x after the exit, want the CPU's block %#x", i, at, got, want)
		}
		if cpu.CPU.RDTSCP {
			if _, aux := cpu.Rdtscp(); int(aux) != at {
				t.Fatalf("round %d on CPU %d: TSC_AUX %d after the exit", i, at, aux)
			}
		}
		if got, want := c.Read(vmx.HostGSBase), cpu.HostGSBase(); got != want {
			t.Fatalf("round %d on CPU %d: HOST_GS_BASE %#x, want %#x", i, at, got, want)
		}
		if got, want := c.Read(vmx.HostTRBase), cpu.HostTRBase(); got != want {
			t.Fatalf("round %d on CPU %d: HOST_TR_BASE %#x, want %#x", i, at, got, want)
		}
		if got := c.Regs().RBX; got != uint64(i+1) {
			t.Fatalf("round %d on CPU %d: EBX %d, want %d", i, at, got, i+1)
		}
	}
	// Written on one CPU, read on another.
	pinTo(t, 1)
	if !c.Write(vmx.GuestFSBase, 0x12345000) {
		t.Fatalf("VMWRITE of the guest FS base refused")
	}
	pinTo(t, 0)
	if got := c.Regs().FSBase; got != 0x12345000 {
		t.Fatalf("guest FS base %#x read on CPU 0, written as 0x12345000 on CPU 1", got)
	}
	if e, err := c.Run(); err != nil || e.Kind != sandbox.ExitSyscall || c.Regs().RBX != rounds+1 {
		t.Fatalf("after the moves: %v %v, EBX %d", e, err, c.Regs().RBX)
	}
}

// testSMPLevel4Unmap: a vCPU on CPU 1 reads a page of guest RAM in a loop
// and counts its rounds in another; the host, on CPU 0, unmaps the page.
// When Unmap returns, CPU 1 must have dropped what it caches of the EPT:
// the guest's next read is an EPT violation, so the count moves by at
// most the round in flight. Without the shootdown (INVEPT on CPU 1) the
// guest reads on through the stale translation until its budget ends.
func testSMPLevel4Unmap(t *T) {
	needSMP(t, "no other CPU to keep a stale translation")
	const (
		counter = guestCode + 0x800
		probe   = 0x300000
	)
	// STI first: Bochs exits for the shootdown's IPI only with the
	// guest's RFLAGS.IF set (see level4/interrupt).
	loop := code(
		[]byte{0xfb},                                 // sti
		append([]byte{0xa1}, le32(probe)...),         // mov eax, [probe]
		append([]byte{0xff, 0x05}, le32(counter)...), // inc dword [counter]
		[]byte{0xeb, 0xf3},                           // jmp to the mov
	)
	g := rawVM(t, loop, 5*time.Second)
	defer g.Close()
	_, err := g.Map(sandbox.Region{Name: "probe", Addr: probe, Size: 4096, Perm: sandbox.Read})
	t.Require("Map", err)
	rounds := func() uint64 {
		var b [4]byte
		t.Require("ReadMemory", g.ReadMemory(counter, b[:]))
		return uint64(binary.LittleEndian.Uint32(b[:]))
	}
	e, err := unmapUnderRunningGuest(t, g, probe, rounds, "vCPU")
	if err != nil || e.Kind != sandbox.ExitVM || e.VM.Reason != vmx.ExitEPTViolation || e.VM.GuestPhysical != probe {
		t.Fatalf("the vCPU stopped with %v %v, want an EPT violation at %#x", e, err, probe)
	}
}

// testSMPLevel4Interrupt: Interrupt from CPU 0 stops a vCPU spinning on
// CPU 1 at once: the IPI that Interrupt sends CPU 1 makes the guest exit
// there, within microseconds (about 60 under Bochs). Without it the vCPU
// would see the request only at CPU 1's next timer interrupt (about 4 ms
// later under Bochs, whose clock is the instruction count) or at the end
// of its budget.
func testSMPLevel4Interrupt(t *T) {
	needSMP(t, "no other CPU to run the vCPU on")
	// STI: Bochs takes external interrupts in VMX non-root operation only
	// with the guest's RFLAGS.IF set (see level4/interrupt).
	g := rawVM(t, code([]byte{0xfb}, insJmpSelf), 10*time.Second)
	defer g.Close()
	pinTo(t, 0)
	defer unpin()
	exits := make(chan sandbox.Exit, 1)
	started := make(chan struct{})
	go func() {
		pinTo(t, 1)
		defer unpin()
		close(started)
		e, _ := g.Main().Run()
		exits <- e
	}()
	<-started
	time.Sleep(20 * time.Millisecond)
	t0 := time.Now()
	g.Main().Interrupt()
	select {
	case e := <-exits:
		if e.Kind != sandbox.ExitInterrupted {
			t.Fatalf("the vCPU stopped with %v, want interrupted", e)
		}
		d := time.Since(t0)
		if d > time.Millisecond {
			t.Fatalf("interrupted after %v: the vCPU saw the request only at its CPU's next interrupt, not at once", d)
		}
		t.Logf("smp: a vCPU on another CPU interrupted after %v", d)
	case <-time.After(5 * time.Second):
		t.Fatalf("the vCPU on CPU 1 ran on 5 s after Interrupt")
	}
}
