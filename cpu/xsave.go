package cpu

// XSAVE state components (SDM Vol. 1 §13.1).
const (
	XCR0X87  = 1 << 0
	XCR0SSE  = 1 << 1
	XCR0AVX  = 1 << 2
	XCR0PKRU = 1 << 9
)

// XCR0 is the state-component bitmap the kernel enabled, and XsaveSize the
// size in bytes of an XSAVE area for it (CPUID.(0DH,0):EBX after XSETBV).
var (
	XCR0      uint64
	XsaveSize uintptr
)

// initXSAVE enables XSAVE for every user state component the processor has
// except PKRU.
//
// Why not PKRU: with XCR0[9] set, XRSTOR loads PKRU from memory, so every
// XRSTOR of guest state would become a way to change protection keys, and
// a guest's own XRSTOR with bit 9 in its mask would change its rights
// without a WRPKRU. With XCR0[9] clear, XSAVE/XRSTOR never touch PKRU
// (the requested-feature bitmap is masked by XCR0), the kernel manages PKRU
// only with WRPKRU on guest entry and exit, and a guest's XRSTOR cannot
// reach PKRU at all. The level 2 code scan refuses XRSTOR anyway, as
// defence in depth.
func initXSAVE() {
	if !CPU.XSAVE {
		// Every x86-64 CPU has FXSAVE, but the kernel relies on XSAVE.
		HaltForever()
	}
	SetCR4(CR4() | CR4OSXSAVE)
	XCR0 = CPU.XCR0Supported &^ XCR0PKRU
	Xsetbv(0, XCR0)
	_, b, _, _ := CPUID(0xD, 0)
	XsaveSize = (uintptr(b) + 63) &^ 63
	entry.percpu.xsize = uint64(XsaveSize)
}
