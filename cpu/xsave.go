package cpu

import "unsafe"

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

// NewXsaveArea returns a zeroed, 64-byte aligned buffer of XsaveSize
// bytes, as XSAVE and XRSTOR need, from the Go heap.
func NewXsaveArea() []byte {
	buf := make([]byte, XsaveSize+63)
	off := (64 - uintptr(unsafe.Pointer(&buf[0]))%64) % 64
	return buf[off : off+XsaveSize]
}

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
	SetCR4(CR4() | CR4OSXSAVE)
	XCR0 = CPU.XCR0Supported &^ XCR0PKRU
	Xsetbv(0, XCR0)
}

// SanitizeXsave makes b, an XSAVE image in the standard format from an
// untrusted source (a guest's signal frame), one that XRSTOR loads without
// a fault and that names only the components the kernel enabled (SDM Vol.
// 1 §13.8.1, the checks XRSTOR makes): MXCSR's reserved bits clear,
// XSTATE_BV within XCR0 (so never PKRU), XCOMP_BV zero (standard form) and
// the rest of the header zero. b must be XsaveSize bytes.
func SanitizeXsave(b []byte) {
	const mxcsrMask = 0xFFBF // MXCSR_MASK of every CPU without DAZ-less quirks
	m := uint32(b[24]) | uint32(b[25])<<8 | uint32(b[26])<<16 | uint32(b[27])<<24
	m &= mxcsrMask
	b[24], b[25], b[26], b[27] = byte(m), byte(m>>8), byte(m>>16), byte(m>>24)
	bv := uint64(0)
	for i := 7; i >= 0; i-- {
		bv = bv<<8 | uint64(b[512+i])
	}
	bv &= XCR0
	for i := range 8 {
		b[512+i] = byte(bv >> (8 * i))
	}
	clear(b[520:576])
}
