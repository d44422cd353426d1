package tests

import (
	"encoding/binary"
	"fmt"
	"slices"
	gosyscall "syscall"

	"beelzebox/cpu"
	"beelzebox/kernel"
	"beelzebox/sandbox"
	"beelzebox/sandbox/abi"
)

// The bench suite measures in TSC ticks. Under QEMU -icount shift=0 a tick
// is one emulated instruction, so the figures are path lengths that repeat
// exactly; under Bochs the TSC follows emulated instructions too. Each
// figure is a min and median over single-shot measurements (one RDTSC
// pair around each iteration); ratios compare with the bare SYSCALL/SYSRET
// round trip measured in the same run.
func init() {
	Register("bench", "boot", benchBoot)
	Register("bench", "transitions", benchTransitions)
}

const benchIters = 10000

// MainTSC and FirstTestTSC are taken by main and by Run.
var MainTSC, firstTestTSC uint64

func report(name string, samples []uint64, base uint64) (median uint64) {
	slices.Sort(samples)
	median = samples[len(samples)/2]
	line := fmt.Sprintf("bench %s median=%d min=%d unit=cycles", name, median, samples[0])
	if base != 0 {
		line += fmt.Sprintf(" ratio=%.2f", float64(median)/float64(base))
	}
	fmt.Println(line)
	return median
}

func benchBoot(t *T) {
	report("boot-to-runtime-entry", []uint64{kernel.RuntimeEntryTSC - kernel.BootTSC}, 0)
	report("boot-to-main", []uint64{MainTSC - kernel.BootTSC}, 0)
	report("boot-to-first-test", []uint64{firstTestTSC - kernel.BootTSC}, 0)
	fmt.Printf("kernel: TSC %d Hz, calibrated against the %s\n", kernel.TSCFrequency(), kernel.ClockSource())
}

// roundTripGuest runs benchIters iterations of "RDTSC; SYSCALL nr; RDTSC"
// at level l, the host answering with 0 (abi.Host is not used: the loop
// is the minimal host), and returns the samples.
func roundTrips(t *T, l sandbox.Level, nr uint32) []uint64 { return roundTripsN(t, l, nr, benchIters) }

// roundTripsN is roundTrips with n iterations.
func roundTripsN(t *T, l sandbox.Level, nr uint32, n int) []uint64 {
	rdtsc := []byte{0x0f, 0xae, 0xe8, 0x0f, 0x31, 0x48, 0xc1, 0xe2, 0x20, 0x48, 0x09, 0xd0} // lfence; rdtsc; rax |= rdx<<32
	body := code(
		rdtsc, []byte{0x49, 0x89, 0xc5}, // mov r13, rax
		movEAX(nr), insSyscall,
		rdtsc, []byte{0x4c, 0x29, 0xe8}, // sub rax, r13
		[]byte{0x49, 0x89, 0x06},       // mov [r14], rax
		[]byte{0x49, 0x83, 0xc6, 0x08}, // add r14, 8
		[]byte{0x49, 0xff, 0xcc},       // dec r12
	)
	text := code(body, []byte{0x75, byte(-(len(body) + 2))}, movEAX(abi.SysExit), insSyscall) // jnz loop
	g, err := blobGuest(l, text, 0)
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer g.Close()
	buf, err := g.Map(sandbox.Region{Name: "samples", Size: uint64(n) * 8, Perm: sandbox.Read | sandbox.Write})
	if err != nil {
		t.Fatalf("%v", err)
	}
	r := g.Regs()
	r.R12, r.R14 = uint64(n), buf
	g.SetRegs(r)
	for {
		e, err := g.Run()
		if err != nil || e.Kind == sandbox.ExitFault || e.Kind == sandbox.ExitKilled {
			t.Fatalf("bench guest: %v %v", e, err)
		}
		if e.Kind == sandbox.ExitSyscall {
			if e.Syscall.Nr == abi.SysExit {
				break
			}
			g.SetReturn(0)
		}
	}
	raw := make([]byte, n*8)
	g.ReadMemory(buf, raw)
	out := make([]uint64, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(raw[i*8:])
	}
	return out
}

func benchTransitions(t *T) {
	ring0 := make([]uint64, benchIters)
	for i := range ring0 {
		t0 := cpu.RdtscOrdered()
		gosyscall.RawSyscall(gosyscall.SYS_GETPID, 0, 0, 0)
		ring0[i] = cpu.RdtscOrdered() - t0
	}
	report("null-syscall-ring0", ring0, 0)
	bare := report("syscall-sysret-round-trip", roundTrips(t, sandbox.Level1, sandbox.NullSyscall), 0)
	report("level1-round-trip", roundTrips(t, sandbox.Level1, 1000), bare)
	if !cpu.CPU.PKU {
		t.Skip("pku", "level 2 round trip not measured")
	}
	report("level2-round-trip", roundTrips(t, sandbox.Level2, 1000), bare)
}
