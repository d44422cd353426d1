package codescan

import (
	"bytes"
	"debug/elf"
	"errors"
	"math/rand"
	"os"
	"testing"

	"golang.org/x/arch/x86/x86asm"
)

// goCode is main.sum, main.fib and main.lookup of a tiny Go program (go1.26,
// amd64), copied from the linked binary with their INT3 padding, as shown by
// `go tool objdump`. It is real compiler output and contains no forbidden
// sequence.
var goCode = []byte{
	// main.sum
	0x48, 0x89, 0x44, 0x24, 0x08, // MOVQ AX, 0x8(SP)
	0x31, 0xc9, // XORL CX, CX
	0x31, 0xd2, // XORL DX, DX
	0xeb, 0x0e, // JMP
	0x48, 0x8b, 0x34, 0xc8, // MOVQ 0(AX)(CX*8), SI
	0x48, 0x8d, 0x34, 0x76, // LEAQ 0(SI)(SI*2), SI
	0x48, 0x01, 0xf2, // ADDQ SI, DX
	0x48, 0xff, 0xc1, // INCQ CX
	0x48, 0x39, 0xcb, // CMPQ BX, CX
	0x7f, 0xed, // JG
	0x48, 0x89, 0xd0, // MOVQ DX, AX
	0xc3, // RET
	0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc,
	0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc,
	// main.fib
	0x49, 0x3b, 0x66, 0x10, // CMPQ SP, 0x10(R14)
	0x76, 0x42, // JBE
	0x55,             // PUSHQ BP
	0x48, 0x89, 0xe5, // MOVQ SP, BP
	0x48, 0x83, 0xec, 0x10, // SUBQ $0x10, SP
	0x48, 0x83, 0xf8, 0x02, // CMPQ AX, $0x2
	0x7d, 0x06, // JGE
	0x48, 0x83, 0xc4, 0x10, // ADDQ $0x10, SP
	0x5d,                         // POPQ BP
	0xc3,                         // RET
	0x48, 0x89, 0x44, 0x24, 0x20, // MOVQ AX, 0x20(SP)
	0x48, 0xff, 0xc8, // DECQ AX
	0xe8, 0xd9, 0xff, 0xff, 0xff, // CALL main.fib
	0x48, 0x89, 0x44, 0x24, 0x08, // MOVQ AX, 0x8(SP)
	0x48, 0x8b, 0x44, 0x24, 0x20, // MOVQ 0x20(SP), AX
	0x48, 0x83, 0xc0, 0xfe, // ADDQ $-0x2, AX
	0xe8, 0xc6, 0xff, 0xff, 0xff, // CALL main.fib
	0x48, 0x8b, 0x4c, 0x24, 0x08, // MOVQ 0x8(SP), CX
	0x48, 0x01, 0xc8, // ADDQ CX, AX
	0x48, 0x83, 0xc4, 0x10, // ADDQ $0x10, SP
	0x5d,                         // POPQ BP
	0xc3,                         // RET
	0x48, 0x89, 0x44, 0x24, 0x08, // MOVQ AX, 0x8(SP)
	0xe8, 0x8e, 0xb4, 0xff, 0xff, // CALL runtime.morestack_noctxt
	0x48, 0x8b, 0x44, 0x24, 0x08, // MOVQ 0x8(SP), AX
	0xeb, 0xa7, // JMP main.fib
	0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc,
	// main.lookup
	0x49, 0x3b, 0x66, 0x10, // CMPQ SP, 0x10(R14)
	0x76, 0x2b, // JBE
	0x55,             // PUSHQ BP
	0x48, 0x89, 0xe5, // MOVQ SP, BP
	0x48, 0x83, 0xec, 0x20, // SUBQ $0x20, SP
	0x48, 0x89, 0x5c, 0x24, 0x38, // MOVQ BX, 0x38(SP)
	0x48, 0x89, 0xcf, // MOVQ CX, DI
	0x48, 0x89, 0xd9, // MOVQ BX, CX
	0x48, 0x89, 0xc3, // MOVQ AX, BX
	0x48, 0x8d, 0x05, 0x5d, 0x9e, 0x00, 0x00, // LEAQ 0x9e5d(IP), AX
	0xe8, 0x18, 0x2f, 0xf9, 0xff, // CALL runtime.mapaccess2_faststr
	0x48, 0x8b, 0x00, // MOVQ 0(AX), AX
	0x48, 0x83, 0xc4, 0x20, // ADDQ $0x20, SP
	0x5d,                         // POPQ BP
	0xc3,                         // RET
	0x48, 0x89, 0x44, 0x24, 0x08, // MOVQ AX, 0x8(SP)
	0x48, 0x89, 0x5c, 0x24, 0x10, // MOVQ BX, 0x10(SP)
	0x48, 0x89, 0x4c, 0x24, 0x18, // MOVQ CX, 0x18(SP)
	0xe8, 0x3b, 0xb4, 0xff, 0xff, // CALL runtime.morestack_noctxt
	0x48, 0x8b, 0x44, 0x24, 0x08, // MOVQ 0x8(SP), AX
	0x48, 0x8b, 0x5c, 0x24, 0x10, // MOVQ 0x10(SP), BX
	0x48, 0x8b, 0x4c, 0x24, 0x18, // MOVQ 0x18(SP), CX
	0xeb, 0xaa, // JMP main.lookup
}

// cCode is `gcc -O2` output for a C function that uses the allowed
// state-management instructions next to each other.
var cCode = []byte{
	0x48, 0x89, 0xf2, // mov %rsi,%rdx
	0x89, 0xf0, // mov %esi,%eax
	0x48, 0xc1, 0xea, 0x20, // shr $0x20,%rdx
	0x48, 0x0f, 0xae, 0x27, // xsave64 (%rdi)
	0x0f, 0xae, 0x37, // xsaveopt (%rdi)
	0x0f, 0xae, 0xe8, // lfence
	0x48, 0x0f, 0xae, 0x0f, // fxrstor64 (%rdi)
	0x31, 0xc9, // xor %ecx,%ecx
	0x0f, 0x01, 0xee, // rdpkru
	0x8d, 0x14, 0xc5, 0x00, 0x00, 0x00, 0x00, // lea 0x0(,%rax,8),%edx
	0x29, 0xc2, // sub %eax,%edx
	0x0f, 0xb6, 0x47, 0x03, // movzbl 0x3(%rdi),%eax
	0x01, 0xd0, // add %edx,%eax
	0xc3, // ret
}

// nops returns n one-byte NOPs.
func nops(n int) []byte { return bytes.Repeat([]byte{0x90}, n) }

// at returns n NOPs with seq written at offset off.
func at(n, off int, seq ...byte) []byte {
	b := nops(n)
	copy(b[off:], seq)
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestScan(t *testing.T) {
	const base = 0x400000
	tests := []struct {
		name string
		code []byte
		// want is nil for clean code; otherwise Offset, Insn and Bytes
		// of the expected finding (Addr is checked as base+Offset).
		want *Finding
	}{
		{name: "nil", code: nil},
		{name: "empty", code: []byte{}},
		{name: "real Go code", code: goCode},
		{name: "real C code with xsave, xsaveopt, lfence, fxrstor64, rdpkru", code: cCode},
		{name: "LFENCE", code: []byte{0x0f, 0xae, 0xe8}},
		{name: "XSAVE", code: []byte{0x0f, 0xae, 0x20}},
		{name: "XSAVE64", code: []byte{0x48, 0x0f, 0xae, 0x20}},
		{name: "XSAVEOPT", code: []byte{0x0f, 0xae, 0x30}},
		{name: "XSAVEC", code: []byte{0x0f, 0xc7, 0x20}},
		{name: "XSAVES64", code: []byte{0x48, 0x0f, 0xc7, 0x2f}},
		{name: "FXRSTOR", code: []byte{0x0f, 0xae, 0x08}},
		{name: "FXRSTOR64 with disp8", code: []byte{0x48, 0x0f, 0xae, 0x4f, 0x10}},
		{name: "RDPKRU", code: []byte{0x0f, 0x01, 0xee}},
		{name: "CMPXCHG16B", code: []byte{0x48, 0x0f, 0xc7, 0x0e}},
		{name: "RDRAND EAX (0f c7 /6 register form)", code: []byte{0x0f, 0xc7, 0xf0}},
		{name: "0f c7 /3 register form is not XRSTORS", code: []byte{0x0f, 0xc7, 0xd8}},
		{name: "INCSSPQ (f3 REX.W 0f ae /5 register form)", code: []byte{0xf3, 0x48, 0x0f, 0xae, 0xe8}},
		{name: "lone 0f 01 at the end is cut off", code: []byte{0x90, 0x0f, 0x01}},
		{name: "lone 0f ae at the end is cut off", code: []byte{0x90, 0x0f, 0xae}},

		{
			name: "WRPKRU at offset 0",
			code: cat([]byte{0x0f, 0x01, 0xef}, goCode),
			want: &Finding{Offset: 0, Insn: "WRPKRU", Bytes: []byte{0x0f, 0x01, 0xef}},
		},
		{
			name: "WRPKRU inside the immediate of mov eax, imm32",
			code: []byte{0x90, 0xb8, 0x0f, 0x01, 0xef, 0x00, 0xc3},
			want: &Finding{Offset: 2, Insn: "WRPKRU", Bytes: []byte{0x0f, 0x01, 0xef}},
		},
		{
			name: "WRPKRU inside a disp32",
			code: []byte{0x48, 0x8b, 0x80, 0x00, 0x0f, 0x01, 0xef, 0xc3},
			want: &Finding{Offset: 4, Insn: "WRPKRU", Bytes: []byte{0x0f, 0x01, 0xef}},
		},
		{
			name: "WRPKRU straddling a 4 KiB page boundary (0f | 01 ef)",
			code: at(8192, 4095, 0x0f, 0x01, 0xef),
			want: &Finding{Offset: 4095, Insn: "WRPKRU", Bytes: []byte{0x0f, 0x01, 0xef}},
		},
		{
			name: "WRPKRU straddling a 4 KiB page boundary (0f 01 | ef)",
			code: at(8192, 4094, 0x0f, 0x01, 0xef),
			want: &Finding{Offset: 4094, Insn: "WRPKRU", Bytes: []byte{0x0f, 0x01, 0xef}},
		},
		{
			name: "WRPKRU at the very end",
			code: cat(goCode, []byte{0x0f, 0x01, 0xef}),
			want: &Finding{Offset: len(goCode), Insn: "WRPKRU", Bytes: []byte{0x0f, 0x01, 0xef}},
		},
		{
			name: "WRPKRU behind prefixes",
			code: []byte{0x66, 0x41, 0x0f, 0x01, 0xef},
			want: &Finding{Offset: 2, Insn: "WRPKRU", Bytes: []byte{0x0f, 0x01, 0xef}},
		},

		{
			name: "XRSTOR [rax]",
			code: []byte{0x0f, 0xae, 0x28},
			want: &Finding{Offset: 0, Insn: "XRSTOR", Bytes: []byte{0x0f, 0xae, 0x28}},
		},
		{
			name: "XRSTOR64 [rax]",
			code: []byte{0x90, 0x48, 0x0f, 0xae, 0x28},
			want: &Finding{Offset: 1, Insn: "XRSTOR64", Bytes: []byte{0x48, 0x0f, 0xae, 0x28}},
		},
		{
			name: "XRSTOR [r12+8] with REX.B, SIB and disp8",
			code: []byte{0x41, 0x0f, 0xae, 0x6c, 0x24, 0x08},
			want: &Finding{Offset: 0, Insn: "XRSTOR", Bytes: []byte{0x41, 0x0f, 0xae, 0x6c, 0x24, 0x08}},
		},
		{
			name: "XRSTOR64 [rsp+disp32] with SIB and disp32",
			code: []byte{0x48, 0x0f, 0xae, 0xac, 0x24, 0x00, 0x10, 0x00, 0x00},
			want: &Finding{Offset: 0, Insn: "XRSTOR64", Bytes: []byte{0x48, 0x0f, 0xae, 0xac, 0x24, 0x00, 0x10, 0x00, 0x00}},
		},
		{
			name: "XRSTOR [rip+disp32]",
			code: []byte{0x0f, 0xae, 0x2d, 0x78, 0x56, 0x34, 0x12},
			want: &Finding{Offset: 0, Insn: "XRSTOR", Bytes: []byte{0x0f, 0xae, 0x2d, 0x78, 0x56, 0x34, 0x12}},
		},
		{
			name: "LOCK REX.W XRSTOR64",
			code: []byte{0xf0, 0x48, 0x0f, 0xae, 0x28},
			want: &Finding{Offset: 0, Insn: "XRSTOR64", Bytes: []byte{0xf0, 0x48, 0x0f, 0xae, 0x28}},
		},
		{
			name: "operand-size and segment prefixes",
			code: []byte{0x66, 0x3e, 0x0f, 0xae, 0x2f},
			want: &Finding{Offset: 0, Insn: "XRSTOR", Bytes: []byte{0x66, 0x3e, 0x0f, 0xae, 0x2f}},
		},
		{
			name: "XRSTORS [rax]",
			code: []byte{0x0f, 0xc7, 0x18},
			want: &Finding{Offset: 0, Insn: "XRSTORS", Bytes: []byte{0x0f, 0xc7, 0x18}},
		},
		{
			name: "XRSTORS64 [rsp+0x10]",
			code: []byte{0x48, 0x0f, 0xc7, 0x5c, 0x24, 0x10},
			want: &Finding{Offset: 0, Insn: "XRSTORS64", Bytes: []byte{0x48, 0x0f, 0xc7, 0x5c, 0x24, 0x10}},
		},
		{
			name: "XRSTOR hidden in a movabs imm64",
			code: []byte{0x48, 0xb8, 0x11, 0x0f, 0xae, 0x28, 0x22, 0x33, 0x44, 0x55, 0xc3},
			want: &Finding{Offset: 3, Insn: "XRSTOR", Bytes: []byte{0x0f, 0xae, 0x28}},
		},
		{
			name: "XRSTORS hidden in a mov imm32, straddling a page boundary",
			code: cat(nops(4093), []byte{0xb8, 0x0f, 0xc7, 0x18, 0x00}, nops(10)),
			want: &Finding{Offset: 4094, Insn: "XRSTORS", Bytes: []byte{0x0f, 0xc7, 0x18}},
		},
		{
			name: "XRSTOR behind 14 prefixes",
			// 14 prefixes + 3 bytes is over 15 bytes: from offset 0 or 1
			// it would #GP, but a jump to offset 2 executes a valid
			// 15-byte XRSTOR, and that is where it is reported.
			code: cat(bytes.Repeat([]byte{0x66}, 14), []byte{0x0f, 0xae, 0x28}),
			want: &Finding{Offset: 2, Insn: "XRSTOR", Bytes: []byte{0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x0f, 0xae, 0x28}},
		},
		{
			name: "lowest offset wins",
			code: []byte{0x90, 0x0f, 0xc7, 0x18, 0x0f, 0x01, 0xef},
			want: &Finding{Offset: 1, Insn: "XRSTORS", Bytes: []byte{0x0f, 0xc7, 0x18}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Scan(tt.code, base)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Scan = %v, want nil", err)
				}
				return
			}
			var f *Finding
			if !errors.As(err, &f) {
				t.Fatalf("Scan = %v, want a *Finding", err)
			}
			if f.Offset != tt.want.Offset || f.Insn != tt.want.Insn || !bytes.Equal(f.Bytes, tt.want.Bytes) {
				t.Errorf("Scan = {Offset %#x, Insn %s, Bytes % x}, want {Offset %#x, Insn %s, Bytes % x}",
					f.Offset, f.Insn, f.Bytes, tt.want.Offset, tt.want.Insn, tt.want.Bytes)
			}
			if f.Addr != base+uint64(f.Offset) {
				t.Errorf("Addr = %#x, want %#x", f.Addr, base+uint64(f.Offset))
			}
		})
	}
}

// TestPatternRule checks the byte rule against every ModRM value, so that it
// is exactly "reg 5 (AE) / reg 3 (C7), memory form", independent of x86asm.
func TestPatternRule(t *testing.T) {
	for _, op := range []byte{0x01, 0xae, 0xc7, 0xba} {
		for m := 0; m < 256; m++ {
			modrm := byte(m)
			mod, reg := modrm>>6, (modrm>>3)&7
			var want string
			switch {
			case op == 0x01 && modrm == 0xef:
				want = "WRPKRU"
			case op == 0xae && reg == 5 && mod != 3:
				want = "XRSTOR"
			case op == 0xc7 && reg == 3 && mod != 3:
				want = "XRSTORS"
			}
			got := ""
			if f := patternAt([]byte{0x0f, op, modrm}, 0, 0); f != nil {
				got = f.Insn
			}
			if got != want {
				t.Errorf("patternAt(0f %02x %02x) = %q, want %q", op, modrm, got, want)
			}
		}
	}
}

func TestFindingError(t *testing.T) {
	err := Scan(at(0x2001, 0x1ffe, 0x0f, 0x01, 0xef), 0x400000)
	const want = "codescan: WRPKRU (0f 01 ef) at offset 0x1ffe (address 0x401ffe)"
	if err == nil || err.Error() != want {
		t.Fatalf("Scan error = %v, want %q", err, want)
	}
}

func TestFindingBytesAreACopy(t *testing.T) {
	code := []byte{0x0f, 0x01, 0xef}
	var f *Finding
	if !errors.As(Scan(code, 0), &f) {
		t.Fatal("no finding")
	}
	code[0] = 0x90
	if f.Bytes[0] != 0x0f {
		t.Fatal("Finding.Bytes aliases the scanned code")
	}
}

func TestScanRangeBadRange(t *testing.T) {
	code := nops(16)
	for _, r := range [][2]int{{-1, 4}, {5, 4}, {0, 17}, {17, 17}} {
		var re *RangeError
		if err := ScanRange(code, 0, r[0], r[1]); !errors.As(err, &re) {
			t.Errorf("ScanRange(len 16, %d, %d) = %v, want *RangeError", r[0], r[1], err)
		}
	}
}

// TestScanRangeLooksBack checks that an instruction starting before lo but
// reaching into [lo, hi) is found, and one that ends before lo-Overlap is
// not looked at.
func TestScanRangeLooksBack(t *testing.T) {
	// 11 prefixes at 100..110, then 0f ae 28 at 111..113; lo = 113 is the
	// ModRM byte, so the instruction starts lo-13 bytes before the range.
	code := cat(nops(100), bytes.Repeat([]byte{0x66}, 11), []byte{0x0f, 0xae, 0x28}, nops(50))
	var f *Finding
	if err := ScanRange(code, 0, 113, 120); !errors.As(err, &f) || f.Offset != 100 || f.Insn != "XRSTOR" {
		t.Fatalf("ScanRange = %v, want XRSTOR at offset 100", err)
	}
	old := at(200, 10, 0x0f, 0x01, 0xef)
	if err := ScanRange(old, 0, 10+3+Overlap, 200); err != nil {
		t.Fatalf("ScanRange looked before lo-Overlap: %v", err)
	}
}

// TestScanRangeIncremental checks the invariant stated on ScanRange with
// random regions: if both unchanged parts pass Scan on their own and
// ScanRange over the changed part passes, then the whole region passes.
func TestScanRangeIncremental(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	forbidden := [][]byte{
		{0x0f, 0x01, 0xef},
		{0x0f, 0xae, 0x28},
		{0x48, 0x0f, 0xae, 0x6c, 0x24, 0x08},
		{0x0f, 0xc7, 0x18},
		{0x66, 0x66, 0x0f, 0xae, 0x2d, 0x00, 0x00, 0x00, 0x00},
	}
	decisive := 0 // trials where only ScanRange stands between a finding and a pass
	for trial := 0; trial < 5000; trial++ {
		region := neutralise(randomCode(rng, 64+rng.Intn(200)))
		lo := rng.Intn(len(region) + 1)
		hi := lo + rng.Intn(len(region)-lo+1)
		seq := forbidden[rng.Intn(len(forbidden))]
		// Plant the sequence near lo or hi (often straddling it).
		edge := lo
		if rng.Intn(2) == 0 {
			edge = hi
		}
		p := min(max(edge-rng.Intn(len(seq)+Overlap), 0), len(region)-len(seq))
		copy(region[p:], seq)

		whole := Scan(region, 0)
		parts := Scan(region[:lo], 0) == nil && Scan(region[hi:], 0) == nil
		ranged := ScanRange(region, 0, lo, hi)
		if whole != nil && parts && ranged == nil {
			t.Fatalf("region % x, range [%d, %d): Scan finds %v, but both parts are clean and ScanRange passes", region, lo, hi, whole)
		}
		if whole != nil && parts {
			decisive++
		}
		var f *Finding
		if errors.As(ranged, &f) && (f.Offset < lo-Overlap || f.Offset >= hi) {
			t.Fatalf("ScanRange(%d, %d) reported offset %d", lo, hi, f.Offset)
		}
	}
	if decisive < 1000 {
		t.Fatalf("only %d decisive trials; the generator no longer exercises the invariant", decisive)
	}
}

// neutralise overwrites every finding in code with NOPs until Scan passes.
// Each round removes at least one 0x0F byte and NOPs create none, so it
// terminates; by ScanRange's invariant each round only rescans from the
// change on.
func neutralise(code []byte) []byte {
	from := 0
	for {
		var f *Finding
		if !errors.As(ScanRange(code, 0, from, len(code)), &f) {
			return code
		}
		copy(code[f.Offset:], nops(len(f.Bytes)))
		from = f.Offset
	}
}

// oracle is the definition the optimised scan must match: decode at every
// offset and apply the byte rules at every offset.
func oracle(code []byte, base uint64) *Finding {
	for i := range code {
		if f := decodeAt(code, base, i); f != nil {
			return f
		}
		if f := patternAt(code, base, i); f != nil {
			return f
		}
	}
	return nil
}

// randomCode returns bytes biased towards the interesting ones: escape and
// opcode bytes, prefixes, VEX/EVEX leaders and ModRM values.
func randomCode(rng *rand.Rand, n int) []byte {
	alphabet := []byte{0x0f, 0x01, 0xef, 0xee, 0xae, 0xc7, 0x28, 0x18, 0x2c, 0x6c, 0xac, 0xe8, 0x24,
		0x48, 0x41, 0x66, 0xf2, 0xf3, 0xf0, 0x3e, 0xc4, 0xc5, 0x62, 0x8f, 0xb8, 0x90, 0x00, 0xff}
	b := make([]byte, n)
	for i := range b {
		if rng.Intn(4) == 0 {
			b[i] = byte(rng.Intn(256))
		} else {
			b[i] = alphabet[rng.Intn(len(alphabet))]
		}
	}
	return b
}

func sameFinding(a, b *Finding) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Offset == b.Offset && a.Insn == b.Insn && a.Addr == b.Addr && bytes.Equal(a.Bytes, b.Bytes)
}

// TestPrefilterMatchesOracle checks that skipping offsets with no 0F AE /
// 0F C7 pair ahead gives exactly the result of decoding every offset.
func TestPrefilterMatchesOracle(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for trial := 0; trial < 20000; trial++ {
		code := randomCode(rng, 1+rng.Intn(40))
		var got *Finding
		errors.As(Scan(code, 0x1000), &got)
		if want := oracle(code, 0x1000); !sameFinding(got, want) {
			t.Fatalf("code % x: Scan = %v, oracle = %v", code, got, want)
		}
	}
}

// TestDecoderNeedsOpcodePair backs the prefilter's premise: whenever
// x86asm decodes an XRSTOR/XRSTORS form, the instruction contains the bytes
// 0F AE or 0F C7. It tries every opcode and ModRM byte behind legacy, REX,
// VEX2, VEX3, EVEX and XOP leaders.
func TestDecoderNeedsOpcodePair(t *testing.T) {
	leads := [][]byte{{0x0f}, {0x48, 0x0f}, {0x66, 0x0f}, {0xf3, 0x0f}, {0xc4, 0xe1, 0x78}, {0xc4, 0xe1, 0xf9}, {0xc5, 0xf8}, {0xc5, 0xf9}, {0x62, 0xf1, 0x7c, 0x48}, {0x62, 0xf1, 0xfd, 0x08}, {0x8f, 0xe9, 0x78}}
	for _, lead := range leads {
		for op := 0; op < 256; op++ {
			for modrm := 0; modrm < 256; modrm++ {
				code := cat(lead, []byte{byte(op), byte(modrm), 0, 0, 0, 0, 0})
				inst, err := x86asm.Decode(code, 64)
				if err != nil {
					continue
				}
				switch inst.Op {
				case x86asm.XRSTOR, x86asm.XRSTOR64, x86asm.XRSTORS, x86asm.XRSTORS64:
					b := code[:inst.Len]
					if !bytes.Contains(b, []byte{0x0f, 0xae}) && !bytes.Contains(b, []byte{0x0f, 0xc7}) {
						t.Errorf("% x decodes as %v without 0f ae / 0f c7", b, inst)
					}
				}
			}
		}
	}
}

func FuzzScan(f *testing.F) {
	f.Add(goCode)
	f.Add(cCode)
	f.Add([]byte{0x0f, 0x01, 0xef})
	f.Add([]byte{0x48, 0x0f, 0xae, 0x28})
	f.Add([]byte{0x0f, 0xc7, 0x18})
	f.Fuzz(func(t *testing.T, code []byte) {
		var got *Finding
		errors.As(Scan(code, 0x400000), &got)
		if want := oracle(code, 0x400000); !sameFinding(got, want) {
			t.Fatalf("Scan = %v, oracle = %v", got, want)
		}
	})
}

// benchCode returns n bytes of goCode and cCode repeated, with every
// forbidden sequence neutralised so that the scan runs to the end. cCode has
// an XSAVE-family instruction every ~70 bytes, so this is a near worst case
// for the decoder prefilter; BenchmarkScanOwnText is the typical case.
func benchCode(n int) []byte {
	code := make([]byte, 0, n+len(goCode))
	for len(code) < n {
		code = append(code, goCode...)
		code = append(code, cCode...)
	}
	return neutralise(code[:n])
}

// BenchmarkScanDenseXsave2MiB scans 2 MiB of benchCode.
func BenchmarkScanDenseXsave2MiB(b *testing.B) {
	code := benchCode(2 << 20)
	b.SetBytes(int64(len(code)))
	b.ResetTimer()
	for b.Loop() {
		if err := Scan(code, 0x400000); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(code)), "ns/byte")
}

// BenchmarkDecodeEveryOffset2MiB measures the unfiltered definition, for
// comparison with BenchmarkScanDenseXsave2MiB.
func BenchmarkDecodeEveryOffset2MiB(b *testing.B) {
	code := benchCode(2 << 20)
	b.SetBytes(int64(len(code)))
	b.ResetTimer()
	for b.Loop() {
		if f := oracle(code, 0x400000); f != nil {
			b.Fatal(f)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(code)), "ns/byte")
}

// BenchmarkScanOwnText scans the executable segment of the test binary itself
// (host only): a few MiB of real Go compiler output.
func BenchmarkScanOwnText(b *testing.B) {
	exe, err := os.Executable()
	if err != nil {
		b.Skip(err)
	}
	f, err := elf.Open(exe)
	if err != nil {
		b.Skip(err)
	}
	defer f.Close()
	var code []byte
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 {
			code = make([]byte, p.Filesz)
			if _, err := p.ReadAt(code, 0); err != nil {
				b.Skip(err)
			}
		}
	}
	if code == nil {
		b.Skip("no executable segment")
	}
	if err := Scan(code, 0); err != nil {
		b.Logf("%d bytes of text; first finding before neutralising (this test binary compiles its own byte literals into immediates): %v", len(code), err)
	}
	code = neutralise(code)
	if err := Scan(code, 0); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(code)))
	b.ResetTimer()
	for b.Loop() {
		if err := Scan(code, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(code)), "ns/byte")
}

// TestRulesWithoutXRSTOR: with the restores allowed (XCR0 without PKRU),
// XRSTOR, XRSTOR64 and XRSTORS pass, WRPKRU is still refused.
func TestRulesWithoutXRSTOR(t *testing.T) {
	loose := Rules{}
	for _, c := range []struct {
		code []byte
		ok   bool
	}{
		{[]byte{0x0f, 0xae, 0x6c, 0x24, 0x40}, true},        // xrstor 0x40(%rsp)
		{[]byte{0x48, 0x0f, 0xae, 0x2f}, true},              // xrstor64 (%rdi)
		{[]byte{0x0f, 0x01, 0xef}, false},                   // wrpkru
		{[]byte{0x0f, 0xc7, 0x1f}, true},                    // xrstors (%rdi)
		{[]byte{0x0f, 0xae, 0x6c, 0x0f, 0x01, 0xef}, false}, // wrpkru inside
		{[]byte{0x90, 0x0f, 0xae, 0x6c, 0x24, 0x40}, true},  // after a nop
	} {
		err := loose.ScanRange(c.code, 0x1000, 0, len(c.code))
		if (err == nil) != c.ok {
			t.Errorf("% x: %v, want ok=%v", c.code, err, c.ok)
		}
		if Scan(c.code, 0x1000) == nil {
			t.Errorf("% x passes the strict scan", c.code)
		}
	}
}
