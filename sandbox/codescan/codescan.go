// Package codescan proves that guest code cannot change its own protection-key
// rights before the kernel maps it executable at level 2.
//
// # Threat
//
// At level 2 a guest runs at ring 3 with a PKRU value that opens only its own
// protection key (plus keys the host shares with it). PKRU is writable from
// ring 3, so the kernel must make sure no executable guest byte sequence can
// change it. On x86-64 exactly these instructions write PKRU:
//
//   - WRPKRU, encoded NP 0F 01 EF. The ModRM byte is fixed (EF), and neither
//     a prefix nor a REX byte can sit between 0F, 01 and EF, so every
//     execution of WRPKRU, with or without prefixes, executes the three bytes
//     0F 01 EF in a row.
//   - XRSTOR / XRSTOR64 (0F AE /5, memory operand) which loads PKRU from a
//     guest-controlled XSAVE area whenever XCR0.PKRU (bit 9) is set.
//   - XRSTORS / XRSTORS64 (0F C7 /3, memory operand). It faults at CPL 3, but it
//     is refused as well so that the guarantee does not depend on that.
//
// Privileged writers (WRMSR, XSETBV, ...) fault at ring 3 and are not the
// subject of this package. Restoring PKRU from a signal frame or a saved
// context is the kernel's job and must never use guest-controlled state.
//
// # What is checked
//
// The guest may jump to any byte, including into the middle of an instruction
// the compiler emitted, so the scan considers EVERY byte offset of the region,
// not only the instruction boundaries of a linear disassembly:
//
//  1. Raw bytes: 0F 01 EF at any offset is a WRPKRU.
//  2. Raw bytes: 0F AE m with m.reg == 5 and m.mod != 3 at any offset is an
//     XRSTOR memory form; 0F C7 m with m.reg == 3 and m.mod != 3 is an
//     XRSTORS memory form. Any legacy, REX or operand-size prefixes sit in
//     front of the 0F, so these three bytes are present whatever the prefixes,
//     and the test is independent of whether golang.org/x/arch/x86/x86asm
//     knows the particular encoding. 0F AE /5 with mod == 3 is LFENCE (and with
//     F3, INCSSP), which is allowed.
//  3. Decoding: at every offset the bytes are decoded with x86asm in 64-bit
//     mode, and XRSTOR, XRSTOR64, XRSTORS and XRSTORS64 are refused. Rule 2
//     already covers every such instruction the CPU can execute; the decoder
//     is defence in depth and gives the finding its precise name (with REX.W
//     it reports XRSTOR64, and it includes the prefixes in Finding.Bytes).
//
// Rules 1 and 2 depend only on byte patterns whose meaning is the same in
// 16-, 32- and 64-bit code segments, so the result does not depend on the
// code segment the guest runs with.
//
// x86asm does not decode WRPKRU (it reports "unrecognized instruction"), which
// is why rule 1 is a byte scan. Decode errors are not findings: almost every
// offset inside real code decodes to garbage, and the byte rules are what make
// the scan complete.
//
// Allowed on purpose: LFENCE (0F AE E8), XSAVE/XSAVEOPT/XSAVEC/XSAVES (they
// store state, they do not load PKRU), FXRSTOR (0F AE /1: it restores only
// x87/SSE state, never PKRU), RDPKRU (0F 01 EE).
//
// # Region contract
//
// The caller passes the whole contiguous executable region as one slice, so a
// sequence that straddles two 4 KiB pages is inside the slice. A sequence that
// is cut off by the end of the slice (for example a lone 0F 01 at the very
// end) is not a finding: the missing bytes lie in memory that is not
// executable, and fetching them faults. When a region grows or some of its
// bytes change, ScanRange rescans only what can be affected (see there).
//
// The package is pure Go, allocation-light, and safe to use inside the kernel:
// it takes byte slices, touches no files and starts no goroutines.
package codescan

import (
	"bytes"
	"fmt"
	"strings"

	"golang.org/x/arch/x86/x86asm"
)

// MaxInsnLen is the architectural maximum length of one x86 instruction.
// Longer byte sequences raise #GP, so no instruction the CPU executes can
// span more bytes than this.
const MaxInsnLen = 15

// Overlap is how many bytes before a changed range ScanRange rescans: an
// instruction that starts Overlap bytes before the range still reaches into
// it.
const Overlap = MaxInsnLen - 1

// Finding describes a forbidden instruction found in guest code. It is the
// error returned by Scan and ScanRange.
type Finding struct {
	// Offset is the index in the scanned slice of the first byte of the
	// instruction (including any prefixes the decoder attributed to it).
	Offset int
	// Addr is base+Offset, the guest virtual address of that byte.
	Addr uint64
	// Insn names the instruction: "WRPKRU", "XRSTOR", "XRSTOR64",
	// "XRSTORS" or "XRSTORS64".
	Insn string
	// Bytes is a copy of the instruction's bytes (for byte-pattern findings,
	// the opcode bytes and the ModRM byte).
	Bytes []byte
}

// Error implements error, e.g.
// "codescan: WRPKRU (0f 01 ef) at offset 0x1ffe (address 0x401ffe)".
func (f *Finding) Error() string {
	var hex strings.Builder
	for i, b := range f.Bytes {
		if i > 0 {
			hex.WriteByte(' ')
		}
		fmt.Fprintf(&hex, "%02x", b)
	}
	return fmt.Sprintf("codescan: %s (%s) at offset %#x (address %#x)", f.Insn, hex.String(), f.Offset, f.Addr)
}

// RangeError reports a ScanRange call whose range does not lie inside the
// region. It is a caller bug, reported instead of a panic.
type RangeError struct {
	Lo, Hi, Len int
}

func (e *RangeError) Error() string {
	return fmt.Sprintf("codescan: range [%#x, %#x) does not lie inside a region of %#x bytes", e.Lo, e.Hi, e.Len)
}

// Rules says which PKRU writers a scan refuses. WRPKRU always. The XSAVE
// restores only when Restores is set: XRSTOR restores the components in
// EDX:EAX AND XCR0 (SDM Vol. 1 §13.8), so it reaches PKRU only if XCR0
// enables the PKRU component; XRSTORS faults at CPL 3 (§13.12) and takes
// user components from XCR0 too. The kernel never enables PKRU in XCR0
// (cpu.XCR0), so it scans with Restores false and runs real programs:
// glibc's lazy-binding trampolines (_dl_runtime_resolve_xsave, linked into
// every static glibc program) use XRSTOR, and the bytes of XRSTORS turn up
// inside other instructions of Go programs.
type Rules struct {
	Restores bool
}

// Strict refuses every instruction that can write PKRU on some
// configuration: what Scan and ScanRange apply.
var Strict = Rules{Restores: true}

// Scan checks code that will be mapped executable at guest virtual address
// base. code must be the whole contiguous executable region (see the package
// comment). It returns nil, or a *Finding for the forbidden instruction at the
// lowest offset. Empty code passes.
func Scan(code []byte, base uint64) error {
	return ScanRange(code, base, 0, len(code))
}

// ScanRange checks the part of an executable region that a change of
// region[lo:hi] can affect: every instruction that starts in
// [lo-Overlap, hi). Bytes after hi are read as context (an instruction may run
// past hi), bytes before lo-Overlap are not looked at.
//
// Invariant relied on by callers: if every byte of region outside [lo, hi) is
// unchanged since it was part of a region that passed Scan (or ScanRange),
// with the same bytes following it, and ScanRange(region, base, lo, hi)
// returns nil, then Scan(region, base) returns nil. Typical uses:
//   - a region grows at its end by new pages [lo, len): ScanRange(r, b, lo, len)
//   - new pages [0, hi) are prepended: ScanRange(r, b, 0, hi)
//   - pages [lo, hi) in the middle were rewritten (after having been made
//     non-executable, per W^X) or fill a hole between two regions:
//     ScanRange(r, b, lo, hi)
//
// This holds because no forbidden sequence is longer than MaxInsnLen bytes
// and the outcome at an offset depends only on the MaxInsnLen bytes from it.
func ScanRange(region []byte, base uint64, lo, hi int) error {
	return Strict.ScanRange(region, base, lo, hi)
}

// ScanRange is the package's ScanRange under rules r.
func (r Rules) ScanRange(region []byte, base uint64, lo, hi int) error {
	if lo < 0 || hi < lo || hi > len(region) {
		return &RangeError{Lo: lo, Hi: hi, Len: len(region)}
	}
	start := max(lo-Overlap, 0)
	if !r.Restores {
		// WRPKRU alone: its three bytes, found by bytes.Index.
		if i := bytes.Index(region[start:min(hi+2, len(region))], wrpkru); i >= 0 {
			return newFinding(region, base, start+i, start+i+3, "WRPKRU")
		}
		return nil
	}

	// Decoding every offset costs ~150 ns and allocates (x86asm boxes
	// operands), yet almost no offset can decode to an XRSTOR form. Those
	// forms exist only in the legacy encoding, whose opcode bytes 0F AE or
	// 0F C7 appear verbatim inside the instruction; VEX, EVEX and XOP have
	// no XRSTOR. So offset i is handed to the decoder only if a pair
	// 0F AE / 0F C7 starts in [i, i+MaxInsnLen-2]; next tracks the first
	// such pair at or after i. The tests check that x86asm never reports
	// XRSTOR*/XRSTORS* without such a pair and that this filtered scan
	// agrees with decoding every offset. (The byte rules do not depend on
	// the filter.)
	next := nextOpcodePair(region, start)
	for i := start; i < hi; i++ {
		if next < i {
			next = nextOpcodePair(region, i)
		}
		if next <= i+MaxInsnLen-2 && next < len(region) {
			if f := decodeAt(region, base, i); f != nil && r.Restores {
				return f
			}
		}
		if f := patternAt(region, base, i); f != nil && (r.Restores || f.Insn == "WRPKRU") {
			return f
		}
	}
	return nil
}

var wrpkru = []byte{0x0F, 0x01, 0xEF}

// nextOpcodePair returns the index of the first 0F AE or 0F C7 pair that
// starts at or after from, or len(b) if there is none.
func nextOpcodePair(b []byte, from int) int {
	for j := from; j+1 < len(b); j++ {
		if j = indexByteFrom(b, j, 0x0F); j < 0 || j+1 >= len(b) {
			break
		}
		if c := b[j+1]; c == 0xAE || c == 0xC7 {
			return j
		}
	}
	return len(b)
}

// indexByteFrom returns the index of the first c in b at or after from, or
// -1.
func indexByteFrom(b []byte, from int, c byte) int {
	if i := bytes.IndexByte(b[from:], c); i >= 0 {
		return from + i
	}
	return -1
}

// decodeAt decodes one instruction at b[i:] (at most MaxInsnLen bytes) and
// reports it if it is an XRSTOR/XRSTORS form.
func decodeAt(b []byte, base uint64, i int) *Finding {
	end := min(i+MaxInsnLen, len(b))
	inst, err := x86asm.Decode(b[i:end], 64)
	if err != nil {
		return nil
	}
	switch inst.Op {
	case x86asm.XRSTOR, x86asm.XRSTOR64, x86asm.XRSTORS, x86asm.XRSTORS64:
		return newFinding(b, base, i, i+inst.Len, inst.Op.String())
	}
	return nil
}

// patternAt applies the raw byte rules at offset i.
func patternAt(b []byte, base uint64, i int) *Finding {
	if b[i] != 0x0F || i+2 >= len(b) {
		return nil
	}
	op, modrm := b[i+1], b[i+2]
	mod, reg := modrm>>6, (modrm>>3)&7
	switch {
	case op == 0x01 && modrm == 0xEF:
		return newFinding(b, base, i, i+3, "WRPKRU")
	case op == 0xAE && reg == 5 && mod != 3:
		return newFinding(b, base, i, i+3, "XRSTOR")
	case op == 0xC7 && reg == 3 && mod != 3:
		return newFinding(b, base, i, i+3, "XRSTORS")
	}
	return nil
}

func newFinding(b []byte, base uint64, from, to int, insn string) *Finding {
	return &Finding{
		Offset: from,
		Addr:   base + uint64(from),
		Insn:   insn,
		Bytes:  append([]byte(nil), b[from:to]...),
	}
}
