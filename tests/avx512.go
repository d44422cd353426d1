package tests

import (
	"beelzebox/cpu"
	"beelzebox/kernel"
)

func avx512Survives(spins uint64) (k1, zlow, zhigh17 uint64)

func init() { Register("runtime", "avx512-state-survives-interrupts", testAVX512) }

// testAVX512 holds values in an opmask register and in the upper halves of
// ZMM1 and ZMM17 across timer interrupts and thread switches.
func testAVX512(t *T) {
	if !cpu.CPU.AVX512F || cpu.XCR0&0xe0 != 0xe0 {
		t.Skip("avx512", "(CPUID.(EAX=7,ECX=0):EBX.AVX512F) is missing")
	}
	ticks := kernel.Ticks
	k1, z1, z17 := avx512Survives(20_000_000)
	if kernel.Ticks == ticks {
		t.Fatalf("no timer interrupt during the spin")
	}
	if k1 != 0x5a5a5a5a5a5a5a5a || z1 != 0x5a5a5a5a5a5a5a5a || z17 != 0x1717171717171717 {
		t.Fatalf("after interrupts: k1=%#x zmm1[511:448]=%#x zmm17[511:448]=%#x", k1, z1, z17)
	}
}
