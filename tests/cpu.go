package tests

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"beelzebox/cpu"
	"beelzebox/kernel"
	"beelzebox/syscall"
)

// The cpu suite checks the processor state the kernel set up and the
// features the sandbox levels need, where the CPU has them.
func init() {
	Register("cpu", "feature-table", testFeatureTable)
	Register("cpu", "xsave-without-pkru", testXSAVE)
	Register("cpu", "xsave-over-garbage-restorable", testXsaveOverGarbage)
	Register("cpu", "timer-source", testTimerSource)
	Register("cpu", "pku-wrpkru-rdpkru", testPKU)
	Register("cpu", "pcid-tagged-cr3", testPCID)
	Register("cpu", "vmx-capabilities", testVMX)
	Register("cpu", "ept-capabilities", testEPT)
	Register("cpu", "tsc-aux-is-the-cpu-number", testTSCAux)
}

// testTSCAux: on every CPU, RDTSCP's TSC_AUX is the CPU's number (what
// Linux programs read through RDTSCP or RDPID, and what a VM exit must
// restore on the CPU it happens on).
func testTSCAux(t *T) {
	if !cpu.CPU.RDTSCP {
		t.Skip("rdtscp", "no RDTSCP")
	}
	defer unpin()
	for i := range onlineCPUs() {
		pinTo(t, i)
		if _, aux := cpu.Rdtscp(); int(aux) != i {
			t.Fatalf("TSC_AUX %d on CPU %d", aux, i)
		}
	}
}

func testFeatureTable(t *T) {
	f := &cpu.CPU
	fmt.Printf("cpu: %s max leaf %#x xsave=%v avx=%v avx512f=%v pku=%v vmx=%v ept=%v vpid=%v pcid=%v invpcid=%v fsgsbase=%v smep=%v smap=%v x2apic=%v nx=%v 1g=%v xcr0=%#x xsave-size=%d\n",
		f.VendorString(), f.MaxLeaf, f.XSAVE, f.AVX, f.AVX512F, f.PKU, f.VMX, f.EPT, f.VPID, f.PCID, f.INVPCID, f.FSGSBASE, f.SMEP, f.SMAP, f.X2APIC, f.NX, f.Page1G, cpu.XCR0, cpu.XsaveSize)
	fmt.Printf("cpu: IA32_ARCH_CAPABILITIES %#x md-clear=%v exposed: meltdown=%v mds=%v\n", f.ArchCapabilities, f.MDClear, f.Exposed(cpu.Meltdown), f.Exposed(cpu.MDS))
	var cr0, cr4, efer uint64
	syscall.InKernel(func() { cr0, cr4, efer = cpu.CR0(), cpu.CR4(), cpu.Rdmsr(cpu.MSREFER) })
	if cr0&cpu.CR0WP == 0 {
		t.Errorf("CR0.WP clear: the kernel could write read-only pages")
	}
	if f.SMEP && cr4&cpu.CR4SMEP == 0 {
		t.Errorf("SMEP available but off")
	}
	if f.SMAP && cr4&cpu.CR4SMAP == 0 {
		t.Errorf("SMAP available but off")
	}
	if f.NX && efer&cpu.EFERNXE == 0 {
		t.Errorf("NX available but EFER.NXE off")
	}
	if efer&cpu.EFERSCE == 0 {
		t.Errorf("EFER.SCE off")
	}
}

func testXSAVE(t *T) {
	if cpu.XCR0&(cpu.XCR0X87|cpu.XCR0SSE) != cpu.XCR0X87|cpu.XCR0SSE {
		t.Fatalf("XCR0 %#x lacks x87/SSE", cpu.XCR0)
	}
	if cpu.XCR0&cpu.XCR0PKRU != 0 {
		t.Fatalf("XCR0 %#x enables PKRU: XRSTOR could load protection keys", cpu.XCR0)
	}
	if want := cpu.CPU.XCR0Supported &^ cpu.XCR0PKRU; cpu.XCR0 != want {
		t.Fatalf("XCR0 %#x, want every supported user component but PKRU (%#x)", cpu.XCR0, want)
	}
	var xcr0 uint64
	syscall.InKernel(func() { xcr0 = cpu.Xgetbv(0) })
	if xcr0 != cpu.XCR0 || cpu.XsaveSize < 576 || cpu.XsaveSize%64 != 0 {
		t.Fatalf("XGETBV(0) = %#x, XsaveSize = %d", xcr0, cpu.XsaveSize)
	}
}

// testXsaveOverGarbage: cpu.Xsave into memory full of ones (a reused
// signal stack) leaves a header XRSTOR accepts (SDM Vol. 1 §13.8.1):
// XSTATE_BV within XCR0, XCOMP_BV and the reserved bytes zero. XSAVE
// itself leaves XSTATE_BV's bits outside XCR0 as memory had them.
func testXsaveOverGarbage(t *T) {
	area := cpu.NewXsaveArea()
	for i := range area {
		area[i] = 0xff
	}
	syscall.InKernel(func() { cpu.Xsave(uintptr(unsafe.Pointer(&area[0]))) })
	bv := binary.LittleEndian.Uint64(area[512:])
	if bv&^cpu.XCR0 != 0 {
		t.Fatalf("XSTATE_BV %#x names components outside XCR0 %#x: XRSTOR would fault", bv, cpu.XCR0)
	}
	for i, b := range area[520:576] {
		if b != 0 {
			t.Fatalf("XSAVE header byte %d is %#x, want 0", 520+i, b)
		}
	}
}

// testTimerSource: the LAPIC timer where CPUID says there is a local APIC,
// the PIT through the 8259 otherwise; either way it ticks.
func testTimerSource(t *T) {
	want := "pit"
	if cpu.CPU.APIC {
		want = "lapic"
	}
	fmt.Printf("cpu: timer %s, clock calibrated against the %s\n", kernel.TimerSource(), kernel.ClockSource())
	if got := kernel.TimerSource(); got != want {
		t.Fatalf("timer %s, want %s", got, want)
	}
	start := kernel.Ticks
	testSpinPreempted(t)
	if kernel.Ticks == start {
		t.Fatalf("no timer interrupt while a goroutine spun")
	}
}

func testPKU(t *T) {
	if !cpu.CPU.PKU {
		t.Skip("pku", "(CPUID.(EAX=7,ECX=0):ECX.PKU) is missing")
	}
	var cr4 uint64
	var got, after uint32
	syscall.InKernel(func() {
		// CR4.PKE is off after a level 1 guest; WRPKRU turns it on.
		cpu.Wrpkru(0x55555554)
		cr4 = cpu.CR4()
		got = cpu.Rdpkru()
		cpu.Wrpkru(0)
		after = cpu.Rdpkru()
	})
	if cr4&cpu.CR4PKE == 0 || got != 0x55555554 || after != 0 {
		t.Fatalf("CR4.PKE=%v, RDPKRU after WRPKRU = %#x, after restore %#x", cr4&cpu.CR4PKE != 0, got, after)
	}
}

// testPCID switches CR3 to PCID 1 and back without flushing (CR3 bit 63)
// and checks the kernel keeps running on the same tables.
func testPCID(t *T) {
	if !cpu.CPU.PCID {
		t.Skip("pcid", "(CPUID.1:ECX.PCID) is missing")
	}
	const noFlush = 1 << 63
	var cr4, inside, back uint64
	probe := 0
	syscall.InKernel(func() {
		cr4 = cpu.CR4()
		root := cpu.CR3()
		cpu.SetCR3(root | 1)
		inside = cpu.CR3()
		probe = 42 // a store to the Go heap, translated under PCID 1
		cpu.SetCR3(root | noFlush)
		back = cpu.CR3()
	})
	if cr4&cpu.CR4PCIDE == 0 || inside&0xfff != 1 || back&0xfff != 0 || probe != 42 {
		t.Fatalf("CR4.PCIDE=%v, CR3 under PCID 1 = %#x, back = %#x", cr4&cpu.CR4PCIDE != 0, inside, back)
	}
}

const (
	msrFeatureControl = 0x3a
	msrVMXBasic       = 0x480
	msrVMXEPTVPIDCap  = 0x48c
)

// testVMX reads what level 4 will need from the VMX capability MSRs
// (SDM Vol. 3D App. A.1): a VMCS revision, a VMCS that fits a page,
// write-back VMCS memory, and VMXON allowed by IA32_FEATURE_CONTROL.
func testVMX(t *T) {
	if !cpu.CPU.VMX {
		t.Skip("vmx", "(CPUID.1:ECX.VMX) is missing")
	}
	var basic, fc uint64
	syscall.InKernel(func() { basic, fc = cpu.Rdmsr(msrVMXBasic), cpu.Rdmsr(msrFeatureControl) })
	rev, size, memType := basic&0x7fffffff, basic>>32&0x1fff, basic>>50&0xf
	fmt.Printf("cpu: VMX revision %#x, VMCS %d bytes, memory type %d, true controls %v, IA32_FEATURE_CONTROL %#x\n", rev, size, memType, basic&(1<<55) != 0, fc)
	if rev == 0 || size == 0 || size > 4096 || memType != 6 {
		t.Fatalf("IA32_VMX_BASIC = %#x", basic)
	}
	if fc&1 != 0 && fc&4 == 0 {
		t.Fatalf("IA32_FEATURE_CONTROL %#x is locked with VMXON outside SMX disabled", fc)
	}
}

// testEPT: 4-level EPT walks and write-back EPT paging structures
// (IA32_VMX_EPT_VPID_CAP bits 6 and 14).
func testEPT(t *T) {
	if !cpu.CPU.EPT {
		t.Skip("ept", "(IA32_VMX_PROCBASED_CTLS2 allowed-1 bit 1) is missing")
	}
	var cap uint64
	syscall.InKernel(func() { cap = cpu.Rdmsr(msrVMXEPTVPIDCap) })
	fmt.Printf("cpu: EPT/VPID capabilities %#x (2 MiB pages %v, 1 GiB pages %v, A/D %v)\n", cap, cap&(1<<16) != 0, cap&(1<<17) != 0, cap&(1<<21) != 0)
	if cap&(1<<6) == 0 || cap&(1<<14) == 0 {
		t.Fatalf("EPT capabilities %#x lack a 4-level walk or write-back", cap)
	}
}
