package tests

import (
	"encoding/binary"
	"time"

	"beelzebox/cpu"
	"beelzebox/cpu/vmx"
	"beelzebox/sandbox"
	"beelzebox/sandbox/vm"
)

// The level 4 figures: a guest loop "RDTSC; VMCALL; RDTSC" measured
// inside the guest (its TSC is the host's plus an offset, and RDTSC does
// not exit), once against a minimal assembly handler (the bare VM exit
// and entry: move RIP past the VMCALL, VMRESUME) and once through the Go
// host (Run returns the hypercall, SetReturn, Run again); and the
// instructions from creating a VM to the guest's first instruction.
func init() {
	Register("bench", "level4", needVMX(benchLevel4))
}

const (
	benchVMResults = 0x200000 // guest-physical: the samples, 4 bytes each
	benchVMFirst   = 0x2ffff0 // the TSC at the guest's first instruction
)

// benchVMGuest is the 32-bit guest: it records its first TSC, then n
// round trips of hypercall nr.
func benchVMGuest(n uint32, nr uint32) []byte {
	return code(
		[]byte{0x0f, 0x31},               // rdtsc
		[]byte{0xa3}, le32(benchVMFirst), // mov [first], eax
		[]byte{0x89, 0x15}, le32(benchVMFirst+4), // mov [first+4], edx
		movEDI(benchVMResults),
		[]byte{0xb9}, le32(n), // mov ecx, n
		// loop:
		[]byte{0x0f, 0x31},       // rdtsc
		[]byte{0x89, 0xc6},       // mov esi, eax
		movEAX(nr),               // mov eax, nr
		insVMCALL,                // vmcall
		[]byte{0x0f, 0x31},       // rdtsc
		[]byte{0x29, 0xf0},       // sub eax, esi
		[]byte{0x89, 0x07},       // mov [edi], eax
		[]byte{0x83, 0xc7, 0x04}, // add edi, 4
		[]byte{0x49},             // dec ecx
		[]byte{0x75, 0xe8},       // jnz loop (-24)
		insHlt,
	)
}

func benchLevel4(t *T) {
	const n = benchIters
	newVM := func() *vm.VM {
		g, err := sandbox.New(sandbox.Config{
			Level:   sandbox.Level4,
			Regions: []sandbox.Region{{Name: "ram", Addr: guestCode, Size: 2 << 20, Perm: sandbox.Read | sandbox.Write | sandbox.Exec, Data: benchVMGuest(n, 39)}},
			Regs:    sandbox.Regs{RIP: guestCode, RSP: guestCode + 2<<20},
			Budget:  10 * time.Second,
		})
		if err != nil {
			t.Fatalf("%v", err)
		}
		return g.(*vm.VM)
	}
	samples := func(g *vm.VM, count int) []uint64 {
		raw := make([]byte, 4*count)
		if err := g.ReadMemory(benchVMResults, raw); err != nil {
			t.Fatalf("%v", err)
		}
		out := make([]uint64, count)
		for i := range out {
			out[i] = uint64(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return out
	}
	run := func(c *vm.VCPU, want sandbox.ExitKind) {
		e, err := c.Run()
		if err != nil || e.Kind != want {
			t.Fatalf("Run = %v %v, want %v", e, err, want)
		}
	}
	hlt := func(c *vm.VCPU) {
		e, err := c.Run()
		if err != nil || e.Kind != sandbox.ExitVM || e.VM.Reason != vmx.ExitHLT {
			t.Fatalf("Run = %v %v, want the guest's HLT", e, err)
		}
	}

	// Creation to the first instruction, and the bare handler.
	t0 := cpu.Rdtsc()
	g := newVM()
	c := g.VCPU0()
	if !c.Write(vmx.HostRIP, uint64(cpu.VMExitBenchPC())) {
		t.Fatalf("VMWRITE HOST_RIP refused")
	}
	cpu.SetVMBench(n)
	run(c, sandbox.ExitSyscall) // the n-th VMCALL, past the bare handler
	var first [8]byte
	if err := g.ReadMemory(benchVMFirst, first[:]); err != nil {
		t.Fatalf("%v", err)
	}
	c.Write(vmx.HostRIP, uint64(cpu.VMExitPC()))
	hlt(c)
	created := g.HostTSC(binary.LittleEndian.Uint64(first[:])) - t0
	bare := report(t, "level4-vmexit-bare", samples(g, n-1), 0)
	g.Close()

	// Through the Go host.
	g = newVM()
	c = g.VCPU0()
	for i := 0; i < n; i++ {
		run(c, sandbox.ExitSyscall)
		c.SetReturn(0)
	}
	hlt(c)
	report(t, "level4-hypercall-round-trip", samples(g, n), bare)
	g.Close()
	report(t, "level4-create-to-first-instruction", []uint64{created}, 0)
}
