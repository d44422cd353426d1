package mmio

import (
	"errors"
	"math/rand"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	type want = Access
	cases := []struct {
		name string
		mode int
		code []byte
		want want
	}{
		{"mov eax,[rdi]", 64, []byte{0x8b, 0x07}, want{Size: 4, Reg: RAX, DestSize: 4, Length: 2}},
		{"mov [rdx],ecx", 64, []byte{0x89, 0x0a}, want{Size: 4, Write: true, Reg: RCX, Length: 2}},
		{"mov dword [rax],1", 64, []byte{0xc7, 0x00, 0x01, 0, 0, 0}, want{Size: 4, Write: true, Reg: NoRegister, Immediate: 1, Length: 6}},
		{"mov rax,[rbx+0x10]", 64, []byte{0x48, 0x8b, 0x43, 0x10}, want{Size: 8, Reg: RAX, DestSize: 8, Length: 4}},
		{"mov [rax+0x20],r8d", 64, []byte{0x44, 0x89, 0x40, 0x20}, want{Size: 4, Write: true, Reg: R8, Length: 4}},
		{"mov [rsi],ah", 64, []byte{0x88, 0x26}, want{Size: 1, Write: true, Reg: RAX, HighByte: true, Length: 2}},
		{"mov [rsi],spl", 64, []byte{0x40, 0x88, 0x26}, want{Size: 1, Write: true, Reg: RSP, Length: 3}},
		{"mov al,[rdi]", 64, []byte{0x8a, 0x07}, want{Size: 1, Reg: RAX, DestSize: 1, Length: 2}},
		{"mov r15d,[r15]", 64, []byte{0x45, 0x8b, 0x3f}, want{Size: 4, Reg: R15, DestSize: 4, Length: 3}},
		{"mov [rdi],ax", 64, []byte{0x66, 0x89, 0x07}, want{Size: 2, Write: true, Reg: RAX, Length: 3}},
		{"mov eax,[rip+0x1000]", 64, []byte{0x8b, 0x05, 0x00, 0x10, 0, 0}, want{Size: 4, Reg: RAX, DestSize: 4, Length: 6}},
		{"mov byte [rdi],0xff", 64, []byte{0xc6, 0x07, 0xff}, want{Size: 1, Write: true, Reg: NoRegister, Immediate: 0xff, Length: 3}},
		{"mov word [rdi],0x1234", 64, []byte{0x66, 0xc7, 0x07, 0x34, 0x12}, want{Size: 2, Write: true, Reg: NoRegister, Immediate: 0x1234, Length: 5}},
		{"mov qword [rdi],-1", 64, []byte{0x48, 0xc7, 0x07, 0xff, 0xff, 0xff, 0xff}, want{Size: 8, Write: true, Reg: NoRegister, Immediate: ^uint64(0), Length: 7}},
		{"movzx eax,byte [rdi]", 64, []byte{0x0f, 0xb6, 0x07}, want{Size: 1, Reg: RAX, ZeroExtend: true, DestSize: 4, Length: 3}},
		{"movzx r9,word [rdi]", 64, []byte{0x4c, 0x0f, 0xb7, 0x0f}, want{Size: 2, Reg: R9, ZeroExtend: true, DestSize: 8, Length: 4}},
		{"movsx rax,word [rdi]", 64, []byte{0x48, 0x0f, 0xbf, 0x07}, want{Size: 2, Reg: RAX, SignExtend: true, DestSize: 8, Length: 4}},
		{"movsx ax,byte [rdi]", 64, []byte{0x66, 0x0f, 0xbe, 0x07}, want{Size: 1, Reg: RAX, SignExtend: true, DestSize: 2, Length: 4}},
		{"movsxd rax,dword [rdi]", 64, []byte{0x48, 0x63, 0x07}, want{Size: 4, Reg: RAX, SignExtend: true, DestSize: 8, Length: 3}},
		{"mov rax,[moffs64]", 64, []byte{0x48, 0xa1, 0, 0, 0xe0, 0xfe, 0, 0, 0, 0}, want{Size: 8, Reg: RAX, DestSize: 8, Length: 10}},
		{"mov [moffs64],eax", 64, []byte{0xa3, 0, 0, 0xe0, 0xfe, 0, 0, 0, 0}, want{Size: 4, Write: true, Reg: RAX, Length: 9}},
		{"mov ecx,[rdx] with ds override", 64, []byte{0x3e, 0x8b, 0x0a}, want{Size: 4, Reg: RCX, DestSize: 4, Length: 3}},

		{"mov eax,[0xfee00000] (moffs)", 32, []byte{0xa1, 0, 0, 0xe0, 0xfe}, want{Size: 4, Reg: RAX, DestSize: 4, Length: 5}},
		{"mov [moffs],al", 32, []byte{0xa2, 0xb0, 0, 0xe0, 0xfe}, want{Size: 1, Write: true, Reg: RAX, Length: 5}},
		{"mov [moffs],ax", 32, []byte{0x66, 0xa3, 0xb0, 0, 0xe0, 0xfe}, want{Size: 2, Write: true, Reg: RAX, Length: 6}},
		{"mov al,[moffs]", 32, []byte{0xa0, 0x20, 0, 0xe0, 0xfe}, want{Size: 1, Reg: RAX, DestSize: 1, Length: 5}},
		{"mov eax,[edi] 32", 32, []byte{0x8b, 0x07}, want{Size: 4, Reg: RAX, DestSize: 4, Length: 2}},
		{"mov ax,[edi] 32", 32, []byte{0x66, 0x8b, 0x07}, want{Size: 2, Reg: RAX, DestSize: 2, Length: 3}},
		{"mov [ebx+0x300],esi", 32, []byte{0x89, 0xb3, 0x00, 0x03, 0, 0}, want{Size: 4, Write: true, Reg: RSI, Length: 6}},
		{"mov [esi],bh", 32, []byte{0x88, 0x3e}, want{Size: 1, Write: true, Reg: RBX, HighByte: true, Length: 2}},
		{"movzx edx,word [eax]", 32, []byte{0x0f, 0xb7, 0x10}, want{Size: 2, Reg: RDX, ZeroExtend: true, DestSize: 4, Length: 3}},

		{"mov ax,[bx] 16", 16, []byte{0x8b, 0x07}, want{Size: 2, Reg: RAX, DestSize: 2, Length: 2}},
		{"mov eax,[bx] 16", 16, []byte{0x66, 0x8b, 0x07}, want{Size: 4, Reg: RAX, DestSize: 4, Length: 3}},
		{"mov ax,[0x1234] 16", 16, []byte{0xa1, 0x34, 0x12}, want{Size: 2, Reg: RAX, DestSize: 2, Length: 3}},
		{"mov dword [eax],imm 16", 16, []byte{0x66, 0x67, 0xc7, 0x00, 0x78, 0x56, 0x34, 0x12}, want{Size: 4, Write: true, Reg: NoRegister, Immediate: 0x12345678, Length: 8}},
	}
	for _, c := range cases {
		got, err := Decode(c.code, c.mode)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s:\n got  %+v\n want %+v", c.name, got, c.want)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	cases := []struct {
		name    string
		mode    int
		code    []byte
		mention string
	}{
		{"inc dword [rax]", 64, []byte{0xff, 0x00}, "INC"},
		{"rep movsd", 64, []byte{0xf3, 0xa5}, "MOVS"},
		{"rep movsd 32", 32, []byte{0xf3, 0xa5}, "MOVS"},
		{"add [rdi],eax", 64, []byte{0x01, 0x07}, "ADD"},
		{"xchg [rdi],eax", 64, []byte{0x87, 0x07}, "XCHG"},
		{"movups xmm0,[rdi]", 64, []byte{0x0f, 0x10, 0x07}, "MOVUPS"},
		{"mov eax,ecx (no memory)", 64, []byte{0x89, 0xc8}, "MOV"},
		{"mov [rax],ds", 64, []byte{0x8c, 0x18}, "MOV"},
		{"mov ds,[rax]", 64, []byte{0x8e, 0x18}, "MOV"},
		{"mov rax,cr0", 64, []byte{0x0f, 0x20, 0xc0}, "MOV"},
		{"lock add [rdi],eax", 64, []byte{0xf0, 0x01, 0x07}, "ADD"},
		{"mov eax,imm", 64, []byte{0xb8, 1, 0, 0, 0}, "MOV"},
		{"movzx eax,cl", 64, []byte{0x0f, 0xb6, 0xc1}, "MOVZX"},
	}
	for _, c := range cases {
		_, err := Decode(c.code, c.mode)
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: err %v, want ErrUnsupported", c.name, err)
			continue
		}
		if !strings.Contains(strings.ToUpper(err.Error()), c.mention) {
			t.Errorf("%s: error %q does not name the instruction", c.name, err)
		}
	}
	for _, bad := range []struct {
		code []byte
		mode int
	}{{nil, 64}, {[]byte{0x8b}, 64}, {[]byte{0x8b, 0x07}, 8}, {[]byte{0x0f, 0x0b}, 64}} {
		if _, err := Decode(bad.code, bad.mode); err == nil {
			t.Errorf("Decode(% x, %d) accepted", bad.code, bad.mode)
		}
	}
}

func TestComplete(t *testing.T) {
	const junk = 0xDEAD_BEEF_CAFE_F00D
	cases := []struct {
		name  string
		code  []byte
		value uint64
		reg   int
		want  uint64
	}{
		{"32-bit zero-extends", []byte{0x8b, 0x07}, 0x1234_5678, RAX, 0x1234_5678},
		{"64-bit replaces", []byte{0x48, 0x8b, 0x07}, 0x1122_3344_5566_7788, RAX, 0x1122_3344_5566_7788},
		{"16-bit merges", []byte{0x66, 0x8b, 0x07}, 0xFFFF_1234, RAX, junk&^0xFFFF | 0x1234},
		{"8-bit merges", []byte{0x8a, 0x07}, 0x1FF, RAX, junk&^0xFF | 0xFF},
		{"high byte merges", []byte{0x8a, 0x27}, 0x42, RAX, junk&^0xFF00 | 0x4200},
		{"r8d zero-extends", []byte{0x44, 0x8b, 0x07}, 0xFFFF_FFFF_0000_0001, R8, 1},
		{"movzx byte to 32", []byte{0x0f, 0xb6, 0x07}, 0xFF80, RAX, 0x80},
		{"movsx byte to 32", []byte{0x0f, 0xbe, 0x07}, 0x80, RAX, 0xFFFF_FF80},
		{"movsx word to 64", []byte{0x48, 0x0f, 0xbf, 0x07}, 0x8000, RAX, 0xFFFF_FFFF_FFFF_8000},
		{"movsx byte to 16 merges", []byte{0x66, 0x0f, 0xbe, 0x07}, 0x80, RAX, junk&^0xFFFF | 0xFF80},
		{"movsxd", []byte{0x48, 0x63, 0x07}, 0x8000_0000, RAX, 0xFFFF_FFFF_8000_0000},
		{"movzx word to 64 positive", []byte{0x48, 0x0f, 0xb7, 0x07}, 0x7FFF, RAX, 0x7FFF},
	}
	for _, c := range cases {
		a, err := Decode(c.code, 64)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var regs GPRs
		for i := range regs {
			regs[i] = junk
		}
		a.Complete(&regs, c.value)
		if regs[c.reg] != c.want {
			t.Errorf("%s: reg = %#x, want %#x", c.name, regs[c.reg], c.want)
		}
		for i := range regs {
			if i != c.reg && regs[i] != junk {
				t.Errorf("%s: register %d clobbered", c.name, i)
			}
		}
	}
	// Completing a write access changes nothing.
	a, _ := Decode([]byte{0x89, 0x07}, 64)
	var regs GPRs
	a.Complete(&regs, 99)
	if regs != (GPRs{}) {
		t.Fatal("write access completed into a register")
	}
}

func TestValue(t *testing.T) {
	var regs GPRs
	regs[RAX] = 0x1122_3344_5566_7788
	regs[R8] = 0xAAAA_BBBB_CCCC_DDDD
	cases := []struct {
		name string
		code []byte
		want uint64
	}{
		{"mov [rdi],eax", []byte{0x89, 0x07}, 0x5566_7788},
		{"mov [rdi],rax", []byte{0x48, 0x89, 0x07}, 0x1122_3344_5566_7788},
		{"mov [rdi],ax", []byte{0x66, 0x89, 0x07}, 0x7788},
		{"mov [rdi],al", []byte{0x88, 0x07}, 0x88},
		{"mov [rdi],ah", []byte{0x88, 0x27}, 0x77},
		{"mov [rdi],r8d", []byte{0x44, 0x89, 0x07}, 0xCCCC_DDDD},
		{"mov dword [rdi],imm", []byte{0xc7, 0x07, 0x78, 0x56, 0x34, 0x12}, 0x1234_5678},
		{"mov qword [rdi],-2", []byte{0x48, 0xc7, 0x07, 0xfe, 0xff, 0xff, 0xff}, 0xFFFF_FFFF_FFFF_FFFE},
		{"mov byte [rdi],imm", []byte{0xc6, 0x07, 0x80}, 0x80},
	}
	for _, c := range cases {
		a, err := Decode(c.code, 64)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !a.Write {
			t.Fatalf("%s: not a write", c.name)
		}
		if got := a.Value(&regs); got != c.want {
			t.Errorf("%s: value %#x, want %#x", c.name, got, c.want)
		}
	}
}

// TestDecodeRandomBytes feeds random byte strings to Decode: it must never
// panic, and whatever it accepts must be a sane access.
func TestDecodeRandomBytes(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	prefixes := []byte{0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x2e, 0x3e, 0x26, 0x64, 0x65, 0x36, 0x40, 0x44, 0x48, 0x4c, 0x41, 0x45}
	opcodes := []byte{0x88, 0x89, 0x8a, 0x8b, 0xc6, 0xc7, 0xa0, 0xa1, 0xa2, 0xa3, 0x0f, 0x63, 0x8c, 0x8e}
	accepted := 0
	for i := 0; i < 200000; i++ {
		code := make([]byte, rng.Intn(17))
		rng.Read(code)
		// Bias towards interesting encodings.
		if len(code) > 2 && rng.Intn(2) == 0 {
			j := 0
			for ; j < len(code)-1 && rng.Intn(3) == 0; j++ {
				code[j] = prefixes[rng.Intn(len(prefixes))]
			}
			code[j] = opcodes[rng.Intn(len(opcodes))]
		}
		mode := []int{16, 32, 64}[rng.Intn(3)]
		a, err := Decode(code, mode)
		if err != nil {
			continue
		}
		accepted++
		switch a.Size {
		case 1, 2, 4, 8:
		default:
			t.Fatalf("% x mode %d: size %d", code, mode, a.Size)
		}
		if a.Length < 1 || a.Length > MaxInstructionLength || a.Length > len(code) {
			t.Fatalf("% x mode %d: length %d", code, mode, a.Length)
		}
		if a.Reg < NoRegister || a.Reg > R15 || a.Reg == NoRegister && !a.Write {
			t.Fatalf("% x mode %d: reg %d", code, mode, a.Reg)
		}
		var regs GPRs
		a.Complete(&regs, rng.Uint64())
		a.Value(&regs)
	}
	if accepted == 0 {
		t.Fatal("no random instruction was accepted; the generator is broken")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte{0x8b, 0x07}, 64)
	f.Add([]byte{0x88, 0x26}, 32)
	f.Add([]byte{0x66, 0xa3, 0, 0, 0, 0}, 16)
	f.Fuzz(func(t *testing.T, code []byte, mode int) {
		a, err := Decode(code, mode)
		if err == nil && (a.Length < 1 || a.Length > len(code)) {
			t.Fatalf("length %d of %d bytes", a.Length, len(code))
		}
	})
}
