package tests

import (
	"math/rand/v2"
	"unsafe"

	"beelzebox/cpu"
	"beelzebox/mm"
	"beelzebox/sandbox"
	"beelzebox/sandbox/abi"
)

// The fuzzer's cases: what a guest runs and with what registers. Machine
// code is written out byte by byte (Intel SDM Vol. 2 encodings).

// fuzzStackSize is the stack blobGuest gives a guest.
const fuzzStackSize = 16384

// fuzzLayout is where the fuzz guest's regions are.
type fuzzLayout struct{ text, stackLo, stackTop uint64 }

// fuzzCase is one case.
type fuzzCase struct {
	template string
	body     []byte       // code, run after fuzzPrelude
	regs     sandbox.Regs // RIP at the text, RSP at the stack top unless the template says
	stack    []byte       // bytes at the top of the (otherwise zeroed) stack
	exits    int          // exits served before the case ends
	resume   bool         // after a fault, run on from the saved RIP
	// threads are extra threads' registers (level 3; NewThread must
	// refuse bad ones, and levels 1 and 2 every one), run beside the
	// main thread on the same code.
	threads []sandbox.Regs
	// close is when the guest is closed under its running threads.
	close fuzzClose
	// interrupt: another goroutine interrupts every thread while they run.
	interrupt bool
}

// fuzzClose is when a case closes its guest.
type fuzzClose int

const (
	closeNever     fuzzClose = iota
	closeAtStart             // as the extra threads start
	closeAfterMain           // after the main thread's exits
)

// fuzzGen is what a template draws from.
type fuzzGen struct {
	r      *rand.Rand
	level  sandbox.Level
	layout fuzzLayout
	victim []uint64 // the bystander guest's addresses (levels 2 and 3)
}

// fuzzTemplate makes a kind of case.
type fuzzTemplate struct {
	name string
	gen  func(g *fuzzGen, c *fuzzCase)
}

// fuzzTemplates are every kind of case, drawn with equal chance.
var fuzzTemplates = []fuzzTemplate{
	{"random-bytes", genRandomBytes},
	{"random-instructions", genRandomInstructions},
	{"privileged", genPrivileged},
	{"segment-load", genSegmentLoad},
	{"movss-shadow", genMovSSShadow},
	{"far-transfer", genFarTransfer},
	{"int-n", genIntN},
	{"syscall-registers", genSyscallRegisters},
	{"sysenter", genSysenter},
	{"fpu-control", genFPUControl},
	{"xsave-area", genXsaveArea},
	{"flags", genFlags},
	{"self-modify", genSelfModify},
	{"stack", genStack},
	{"wild-jump", genWildJump},
	{"pkru", genPKRU},
	{"abi", genABI},
	{"kernel-memory", genKernelMemory},
	{"threads", genThreads},
}

func fuzzTemplateNamed(name string) *fuzzTemplate {
	for i := range fuzzTemplates {
		if fuzzTemplates[i].name == name {
			return &fuzzTemplates[i]
		}
	}
	return nil
}

func fuzzTemplateNames() (names []string) {
	for _, tp := range fuzzTemplates {
		names = append(names, tp.name)
	}
	return names
}

// fuzzTemplatesIn are the templates fuzz.exclude leaves in.
func fuzzTemplatesIn() (in []fuzzTemplate) {
	for _, tp := range fuzzTemplates {
		if !fuzzSettings.exclude[tp.name] {
			in = append(in, tp)
		}
	}
	return in
}

// The code image of a case: the prelude, the body, exit(0) for a body
// that falls through, INT3 up to the end of the page, whose last four
// bytes are the MXCSR the prelude loads. The prelude resets the x87 and
// SSE control state, which a reused guest keeps from its previous case.
const (
	fuzzPageSize     = 4096
	fuzzMXCSROffset  = fuzzPageSize - 4
	fuzzPreludeBytes = 9
)

func fuzzImage(body []byte) []byte {
	ldmxcsrEnd := fuzzPreludeBytes
	img := code(
		[]byte{0xdb, 0xe3},                                                 // fninit
		[]byte{0x0f, 0xae, 0x15}, le32(uint32(fuzzMXCSROffset-ldmxcsrEnd)), // ldmxcsr [rip+disp32]
		body,
		movEAX(abi.SysExit), []byte{0x31, 0xff}, insSyscall) // xor edi, edi
	img = img[:min(len(img), fuzzMXCSROffset)]
	for len(img) < fuzzMXCSROffset {
		img = append(img, insInt3[0])
	}
	avoidEmulatorCrashes(img)
	return append(img, le32(0x1f80)...)
}

// avoidEmulatorCrashes rewrites, wherever they start, instructions that
// crash an emulator itself (not the kernel). QEMU 7.2 TCG (Debian 12):
//   - NP 0F 38 0C /r, an SSE4 opcode without an MMX form: SIGSEGV. It
//     becomes 0F 38 0B (PMULHRSW mm).
//   - VEX-encoded PINSRW/B/D/Q (opcodes C4, 20, 22): an assertion in
//     gen_pinsr ("vec_len == 16") kills QEMU, seen for random VEX bytes
//     and still seen with VEX.L cleared, so the opcode after any VEX
//     prefix becomes 58 (VADDPS).
//   - LOCK with BT, BTS, BTR or BTC (0F A3, AB, B3, BB, BA), e.g.
//     F0 64 0F BB EF: "tcg fatal error" (tcg.c:3243) kills QEMU. The LOCK
//     prefix becomes 90 (NOP).
//
// QEMU translates ahead of what runs, so which bytes it decodes depends on
// where interrupts land: every offset is rewritten.
func avoidEmulatorCrashes(img []byte) {
	isPinsr := func(op byte) bool { return op == 0xc4 || op == 0x20 || op == 0x22 }
	for i := 0; i+3 < len(img); i++ {
		if img[i] == 0xf0 && lockedBitTest(img[i+1:]) {
			img[i] = 0x90
		}
		switch {
		case img[i] == 0x0f && img[i+1] == 0x38 && img[i+2] == 0x0c:
			img[i+2] = 0x0b
		case img[i] == 0xc5 && isPinsr(img[i+2]):
			img[i+2] = 0x58
		case img[i] == 0xc4 && isPinsr(img[i+3]):
			img[i+3] = 0x58
		}
	}
}

// lockedBitTest reports whether b, the bytes after a LOCK prefix, start
// with more prefixes (at most four) and then a bit-test opcode.
func lockedBitTest(b []byte) bool {
	isPrefix := func(p byte) bool {
		switch p {
		case 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3:
			return true
		}
		return p&0xf0 == 0x40 // REX
	}
	j := 0
	for j < 4 && j < len(b) && isPrefix(b[j]) {
		j++
	}
	if j+1 >= len(b) || b[j] != 0x0f {
		return false
	}
	switch b[j+1] {
	case 0xa3, 0xab, 0xb3, 0xbb, 0xba:
		return true
	}
	return false
}

// Registers by their encoding number.
const (
	regAX = iota
	regCX
	regDX
	regBX
	regSP
	regBP
	regSI
	regDI
	regR8
	regR9
	regR10
	regR11
)

// movImm is movabs reg, imm64.
func movImm(reg int, v uint64) []byte {
	rex := byte(0x48)
	if reg >= 8 {
		rex |= 1 // REX.B
	}
	return append([]byte{rex, 0xb8 + byte(reg&7)}, le64(v)...)
}

// push is push reg (rax-rdi).
func push(reg int) []byte { return []byte{0x50 + byte(reg)} }

// pushImm pushes a 64-bit value through RAX.
func pushImm(v uint64) []byte { return code(movImm(regAX, v), push(regAX)) }

// withFlags sets the given RFLAGS bits: pushfq; or qword [rsp], imm32;
// popfq.
func withFlags(bits uint32) []byte {
	return code([]byte{0x9c, 0x48, 0x81, 0x0c, 0x24}, le32(bits), []byte{0x9d})
}

// Guest-chosen RFLAGS bits worth setting: TF, DF, AC, NT, RF, IOPL 3.
const fuzzFlagBits = cpu.FlagTF | cpu.FlagDF | 1<<18 | 1<<14 | 1<<16 | 3<<12

func (g *fuzzGen) chance(n int) bool { return g.r.IntN(n) == 0 }

func pick[E any](g *fuzzGen, from []E) E { return from[g.r.IntN(len(from))] }

// value is a register or address value: a boundary, an address of the
// guest, of the kernel (its entry pages too) or of nothing, of the
// bystander guest, or random bits.
func (g *fuzzGen) value() uint64 {
	l := g.layout
	switch g.r.IntN(4) {
	case 0:
		return g.r.Uint64()
	case 1:
		return uint64(g.r.IntN(4096)) - 2048
	}
	return pick(g, append([]uint64{g.entryAddr(),
		0, 1, ^uint64(0), 1 << 31, 1<<32 - 1, 1 << 32, 1 << 63, 1<<63 - 1,
		1<<47 - 1, 1 << 47, 1<<47 - 8, cpu.UserTop, cpu.UserTop - 8, 0xffff_7fff_ffff_ffff,
		l.text, l.text + 1, l.text + 4095, l.text - 1, l.text - 4096,
		l.stackLo, l.stackLo - 8, l.stackLo - 1, l.stackTop, l.stackTop - 8, l.stackTop - 3, l.stackTop + 8,
		mm.PhysBase, mm.PhysBase + 0x1000000, mm.StackBase, 0x1000000, 0x1001000, mm.RuntimeLo,
		mm.GuestWindowLo, mm.GuestWindowHi, 0xc000000000, 0xfee00000, 0xfec00000, 0x400000, 0x10000,
	}, g.victim...))
}

// entryAddr is an address in the kernel's entry pages (cpu.EntryPages):
// all a level 3 guest's space maps of the kernel (supervisor-only: the
// entry code, the per-CPU block, GDT, TSS, IDT and IST stacks), kernel
// memory like the rest at levels 1 and 2.
func (g *fuzzGen) entryAddr() uint64 {
	text, data := cpu.EntryPages()
	r := pick(g, []cpu.Range{text, data})
	switch g.r.IntN(4) {
	case 0:
		return uint64(r.Start)
	case 1:
		return uint64(r.End) - 8
	}
	return uint64(r.Start) + uint64(g.r.IntN(int(r.End-r.Start)))
}

// randomRegs fills the general registers with values; RIP and RSP stay.
func (g *fuzzGen) randomRegs(c *fuzzCase) {
	for _, r := range []*uint64{&c.regs.RAX, &c.regs.RBX, &c.regs.RCX, &c.regs.RDX, &c.regs.RSI, &c.regs.RDI, &c.regs.RBP,
		&c.regs.R8, &c.regs.R9, &c.regs.R10, &c.regs.R11, &c.regs.R12, &c.regs.R13, &c.regs.R14, &c.regs.R15} {
		*r = g.value()
	}
	if g.chance(2) {
		// Not TF: the prelude must run to the case's own code (templates
		// set TF with POPF).
		c.regs.RFLAGS = g.r.Uint64() &^ cpu.FlagTF
	}
	if g.chance(4) {
		c.regs.FSBase, c.regs.GSBase = g.value(), g.value()
	}
}

func (g *fuzzGen) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return b
}

// afterward is what a template does once it has set the state it is
// after: enter the kernel through each way in, or fall through to exit.
func (g *fuzzGen) afterward() []byte {
	return pick(g, [][]byte{
		insSyscall,
		code(movEAX(abi.SysPKRU), insSyscall),
		insInt3,
		insUD2,
		{0xcd, byte(g.r.IntN(256))},    // int n
		{0xf1},                         // int1 (icebp)
		loadAbs(0),                     // #PF
		loadAbs(1 << 47),               // #GP: non-canonical
		{0x31, 0xc9, 0xf7, 0xf1},       // xor ecx, ecx; div ecx: #DE
		{0x48, 0x8b, 0x44, 0x24, 0x01}, // mov rax, [rsp+1]: unaligned
		insJmpSelf,                     // the budget's timer interrupt
		nil,
	})
}

func genRandomBytes(g *fuzzGen, c *fuzzCase) {
	c.body = g.bytes(1 + g.r.IntN(64))
	if g.chance(2) {
		g.randomRegs(c)
	}
	c.exits, c.resume = 1+g.r.IntN(3), g.chance(2)
}

// genRandomInstructions strings together instruction-shaped random bytes:
// prefixes, opcode maps, ModRM with memory operands, immediates, with the
// registers pointing into the stack so that memory operands often hit.
func genRandomInstructions(g *fuzzGen, c *fuzzCase) {
	prefixes := []byte{0x66, 0x67, 0xf2, 0xf3, 0xf0, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x48, 0x41, 0x4c, 0x4f}
	for range 1 + g.r.IntN(8) {
		for range g.r.IntN(3) {
			c.body = append(c.body, pick(g, prefixes))
		}
		switch g.r.IntN(4) {
		case 0:
			c.body = append(c.body, 0x0f)
		case 1:
			c.body = append(c.body, 0x0f, pick(g, []byte{0x38, 0x3a, 0x01, 0xae, 0xc7, 0x00}))
		case 2:
			c.body = append(c.body, pick(g, []byte{0xc4, 0xc5, 0x62, 0x8f})) // VEX, EVEX, XOP
		}
		c.body = append(c.body, g.bytes(1+g.r.IntN(6))...)
	}
	for _, r := range []*uint64{&c.regs.RAX, &c.regs.RBX, &c.regs.RCX, &c.regs.RDX, &c.regs.RSI, &c.regs.RDI, &c.regs.RBP} {
		*r = g.layout.stackLo + uint64(g.r.IntN(fuzzStackSize))
	}
	c.stack = g.bytes(256)
	c.exits, c.resume = 1+g.r.IntN(3), g.chance(2)
}

// privilegedInstructions fault at ring 3 (or must not matter there).
var privilegedInstructions = [][]byte{
	{0xf4}, {0xfa}, {0xfb}, {0xec}, {0xee}, {0xe4, 0x80}, {0xe6, 0x80}, {0x6c}, {0x6e}, // hlt cli sti in out ins outs
	{0x0f, 0x22, 0xc0}, {0x0f, 0x22, 0xd8}, {0x0f, 0x22, 0xe0}, {0x44, 0x0f, 0x22, 0xc0}, // mov cr0/cr3/cr4/cr8, rax
	{0x0f, 0x20, 0xc0}, {0x0f, 0x20, 0xd0}, {0x0f, 0x20, 0xd8}, // mov rax, cr0/cr2/cr3
	{0x0f, 0x23, 0xf8}, {0x0f, 0x23, 0xc0}, {0x0f, 0x21, 0xf0}, // mov dr7/dr0, rax; mov rax, dr6
	{0x0f, 0x30}, {0x0f, 0x32}, {0x0f, 0x33}, {0x0f, 0x31}, {0x0f, 0x01, 0xf9}, // wrmsr rdmsr rdpmc rdtsc rdtscp
	{0x0f, 0x01, 0x14, 0x24}, {0x0f, 0x01, 0x1c, 0x24}, {0x0f, 0x01, 0x04, 0x24}, {0x0f, 0x01, 0x0c, 0x24}, // lgdt lidt sgdt sidt [rsp]
	{0x0f, 0x00, 0xd0}, {0x0f, 0x00, 0xd8}, {0x0f, 0x00, 0xc0}, {0x0f, 0x00, 0xc8}, {0x0f, 0x00, 0xe0}, {0x0f, 0x00, 0xe8}, // lldt ltr sldt str verr verw
	{0x0f, 0x02, 0xc1}, {0x0f, 0x03, 0xc1}, // lar lsl
	{0x0f, 0x01, 0x38}, {0x0f, 0x09}, {0x0f, 0x08}, {0x0f, 0x06}, {0x0f, 0x01, 0xf0}, {0x0f, 0x01, 0xe0}, // invlpg wbinvd invd clts lmsw smsw
	{0x0f, 0x01, 0xf8}, {0x0f, 0x01, 0xd1}, {0x0f, 0x01, 0xd0}, {0x0f, 0x01, 0xc8}, {0x0f, 0x01, 0xc9}, // swapgs xsetbv xgetbv monitor mwait
	{0x0f, 0x01, 0xc1}, {0x0f, 0x01, 0xc2}, {0x0f, 0x01, 0xc4}, {0x0f, 0x01, 0xd9}, {0x0f, 0x01, 0xd8}, // vmcall vmlaunch vmxoff vmmcall vmrun
	{0x0f, 0x01, 0xcb}, {0x0f, 0x01, 0xca}, {0x0f, 0x01, 0xcf}, {0x0f, 0x01, 0xd7}, {0x0f, 0x37}, {0x0f, 0xaa}, // stac clac encls enclu getsec rsm
	{0xf3, 0x48, 0x0f, 0xae, 0xc0}, {0xf3, 0x48, 0x0f, 0xae, 0xd0}, {0xf3, 0x48, 0x0f, 0xae, 0xd8}, // rdfsbase wrfsbase wrgsbase
	{0x0f, 0xa2}, {0x0f, 0xc7, 0xf0}, {0x0f, 0xc7, 0xf8}, {0xf3, 0x0f, 0xc7, 0xf8}, // cpuid rdrand rdseed rdpid
	{0x66, 0x0f, 0x38, 0x82, 0x00}, {0x0f, 0x01, 0xe8}, {0x0f, 0xae, 0x3c, 0x24}, {0x0f, 0x01, 0xee}, // invpcid serialize clflush rdpkru
	{0x0f, 0xc7, 0x2c, 0x24}, {0x48, 0x0f, 0xc7, 0x1c, 0x24}, // xsaves xrstors64 [rsp]
	{0x0f, 0x0b}, {0x0f, 0xff}, {0x0f, 0xb9, 0xc0}, {0xf0, 0x90}, // ud2 ud0 ud1 lock nop
}

func genPrivileged(g *fuzzGen, c *fuzzCase) {
	g.randomRegs(c)
	c.regs.RSP = g.layout.stackTop - 512
	c.stack = g.bytes(512)
	c.body = code(pick(g, privilegedInstructions), g.afterward())
	c.exits, c.resume = 2, g.chance(4)
}

// selector is a segment selector worth loading: null (any RPL), the
// kernel's, the user ones, the null 32-bit user one, the TSS, beyond the
// GDT, in the LDT, or random.
func (g *fuzzGen) selector() uint16 {
	if g.chance(4) {
		return uint16(g.r.Uint32())
	}
	return pick(g, []uint16{0, 1, 2, 3, cpu.SelKernelCode, cpu.SelKernelData, cpu.SelKernelData | 3, 0x18, 0x1b,
		cpu.SelUserData, cpu.SelUserData &^ 3, cpu.SelUserCode, cpu.SelUserCode &^ 3, 0x30, 0x33, 0x38, 0x40, 0x100, 0xfff8, 0x4, 0x27})
}

func genSegmentLoad(g *fuzzGen, c *fuzzCase) {
	sel := g.selector()
	load := pick(g, [][]byte{
		code(movEAX(uint32(sel)), []byte{0x8e, 0xc0 | byte(g.r.IntN(6))<<3}), // mov es/cs/ss/ds/fs/gs, eax (cs: #UD)
		code(pushImm(uint64(sel)), []byte{0x8e, 0x14, 0x24}),                 // mov ss, [rsp]
		code(pushImm(uint64(sel)), []byte{0x0f, 0xa1}),                       // pop fs
		code(pushImm(uint64(sel)), []byte{0x0f, 0xa9}),                       // pop gs
		code(pushImm(uint64(sel)), []byte{0x17}),                             // pop ss: #UD in 64-bit mode
		code(pushImm(uint64(sel)), []byte{0x1f}),                             // pop ds: #UD
		// lss/lfs/lgs rbx, [rsp]: an m16:64 pointer (offset, then selector).
		code(pushImm(uint64(sel)), pushImm(g.value()), []byte{0x48, 0x0f, pick(g, []byte{0xb2, 0xb4, 0xb5}), 0x1c, 0x24}),
		code(pushImm(uint64(sel)), pushImm(g.value()), []byte{0x0f, 0xb2, 0x1c, 0x24}), // lss ebx, [rsp]: m16:32
	})
	use := pick(g, [][]byte{
		{0x64, 0x48, 0x8b, 0x04, 0x25, 0, 0, 0, 0}, // mov rax, fs:[0]
		{0x65, 0x48, 0x8b, 0x04, 0x25, 0, 0, 0, 0}, // mov rax, gs:[0]
		{0x36, 0x48, 0x8b, 0x04, 0x24},             // mov rax, ss:[rsp]
		g.afterward(),
	})
	c.body = code(load, use, g.afterward())
	c.exits, c.resume = 2, g.chance(4)
}

// genMovSSShadow: MOV SS or POP SS delays a #DB (TF, or a data breakpoint)
// to after the next instruction; if that instruction enters the kernel, the
// #DB arrives at the kernel's first instruction (CVE-2018-8897).
func genMovSSShadow(g *fuzzGen, c *fuzzCase) {
	movSS := pick(g, [][]byte{
		{0x8c, 0xd0, 0x8e, 0xd0},             // mov eax, ss; mov ss, eax
		{0x8c, 0xd0, 0x50, 0x8e, 0x14, 0x24}, // mov eax, ss; push rax; mov ss, [rsp]
	})
	enter := pick(g, [][]byte{insSyscall, insInt3, {0xcd, byte(g.r.IntN(256))}, {0xf1}, insUD2, {0x0f, 0x34}, loadAbs(0)})
	var flags uint32 = cpu.FlagTF
	if g.chance(2) {
		flags |= uint32(g.r.Uint64() & fuzzFlagBits)
	}
	if g.chance(2) {
		g.randomRegs(c)
		c.regs.RSP = g.layout.stackTop
	}
	if g.chance(3) {
		c.stack = g.bytes(64)
		c.regs.FSBase = g.layout.stackTop - 64 // the kernel must not take its g from here
	}
	c.body = code(withFlags(flags), movSS, enter)
	c.exits, c.resume = 4, true
}

// genFarTransfer: far JMP, CALL and RET, and IRETQ, to selectors and
// addresses of every kind.
func genFarTransfer(g *fuzzGen, c *fuzzCase) {
	target := g.value()
	if g.chance(2) {
		target = g.layout.text + fuzzPreludeBytes + uint64(g.r.IntN(64))
	}
	cs := g.selector()
	if g.chance(3) {
		cs = cpu.SelUserCode
	}
	switch g.r.IntN(4) {
	case 0: // jmp/call far [rsp]: m16:64 or m16:32
		op := pick(g, [][]byte{{0x48, 0xff, 0x2c, 0x24}, {0x48, 0xff, 0x1c, 0x24}, {0xff, 0x2c, 0x24}, {0xff, 0x1c, 0x24}})
		c.body = code(pushImm(uint64(cs)), pushImm(target), op)
	case 1: // retfq / retf
		c.body = code(pushImm(uint64(cs)), pushImm(target), pick(g, [][]byte{{0x48, 0xcb}, {0xcb}, {0xca, 0x08, 0x00}}))
	case 2: // iretq: ss, rsp, rflags, cs, rip
		ss := g.selector()
		if g.chance(2) {
			ss = cpu.SelUserData
		}
		rsp := g.value()
		if g.chance(2) {
			rsp = g.layout.stackTop - 256
		}
		flags := g.r.Uint64()
		if g.chance(2) {
			flags = cpu.FlagIF | g.r.Uint64()&fuzzFlagBits
		}
		c.body = code(pushImm(uint64(ss)), pushImm(rsp), pushImm(flags), pushImm(uint64(cs)), pushImm(target),
			pick(g, [][]byte{{0x48, 0xcf}, {0xcf}}))
	default: // the far forms 64-bit mode does not have
		c.body = code(pick(g, [][]byte{{0xea, 0, 0, 0, 0, 0x2b, 0}, {0x9a, 0, 0, 0, 0, 0x2b, 0}}), g.afterward())
	}
	c.exits, c.resume = 3, g.chance(2)
}

func genIntN(g *fuzzGen, c *fuzzCase) {
	if g.chance(2) {
		g.randomRegs(c)
	}
	ins := pick(g, [][]byte{{0xcd, byte(g.r.IntN(256))}, {0xcd, byte(g.r.IntN(256))}, insInt3, {0xce}, {0xf1}, {0xcd, 3}, {0xcd, 1}})
	if g.chance(4) {
		ins = code(withFlags(uint32(g.r.Uint64()&fuzzFlagBits)), ins)
	}
	c.body = code(ins, g.afterward())
	c.exits, c.resume = 3, g.chance(2)
}

// genSyscallRegisters: SYSCALL with every register random, RSP among
// them, maybe TF set, maybe a kernel-answered or unknown number.
func genSyscallRegisters(g *fuzzGen, c *fuzzCase) {
	g.randomRegs(c)
	c.regs.RAX = pick(g, []uint64{g.value(), sandbox.NullSyscall, abi.SysPKRU, abi.SysClockGettime, abi.SysWrite, g.r.Uint64() & 0xffff})
	if g.chance(2) {
		c.regs.RSP = g.value()
	}
	var pre []byte
	if g.chance(3) {
		pre = withFlags(uint32(cpu.FlagTF | g.r.Uint64()&fuzzFlagBits))
		if g.chance(2) {
			pre = code(pre, movImm(regSP, g.value())) // after popfq: RSP is anything
		}
		pre = code(pre, movImm(regAX, c.regs.RAX))
	}
	c.body = code(pre, insSyscall, pick(g, [][]byte{nil, insSyscall, g.afterward()}))
	c.exits, c.resume = 4, g.chance(2)
}

func genSysenter(g *fuzzGen, c *fuzzCase) {
	g.randomRegs(c)
	c.body = code(pick(g, [][]byte{{0x0f, 0x34}, {0x0f, 0x35}, {0x48, 0x0f, 0x35}, {0x0f, 0x07}, {0x48, 0x0f, 0x07}}), g.afterward())
	c.exits, c.resume = 2, g.chance(2)
}

// genFPUControl: MXCSR and the x87 control word with exceptions unmasked
// (or reserved bits set), then an operation that raises one, or an entry
// into the kernel with the state still loaded.
func genFPUControl(g *fuzzGen, c *fuzzCase) {
	var set []byte
	if g.chance(2) {
		mxcsr := pick(g, []uint32{0, 0x1f80 &^ uint32(g.r.IntN(0x40)<<7), g.r.Uint32(), 0x8000 | uint32(g.r.IntN(0x10000))})
		set = code([]byte{0xc7, 0x44, 0x24, 0xf8}, le32(mxcsr), pick(g, [][]byte{
			{0x0f, 0xae, 0x54, 0x24, 0xf8},       // ldmxcsr [rsp-8]
			{0xc5, 0xf8, 0xae, 0x54, 0x24, 0xf8}, // vldmxcsr [rsp-8]
		}))
	} else {
		fcw := pick(g, []uint16{0, 0x0340, uint16(g.r.Uint32()), 0x037f &^ uint16(g.r.IntN(0x40))})
		set = code([]byte{0x66, 0xc7, 0x44, 0x24, 0xf8, byte(fcw), byte(fcw >> 8), 0xd9, 0x6c, 0x24, 0xf8}) // mov word [rsp-8]; fldcw [rsp-8]
	}
	raise := pick(g, [][]byte{
		{0x66, 0x0f, 0x57, 0xc0, 0xf2, 0x0f, 0x5e, 0xc0}, // xorpd xmm0, xmm0; divsd xmm0, xmm0
		{0x66, 0x0f, 0x57, 0xc9, 0x0f, 0x5e, 0xc9},       // xorpd xmm1, xmm1; divps xmm1, xmm1
		{0xd9, 0xe8, 0xd9, 0xee, 0xde, 0xf9},             // fld1; fldz; fdivp: 1/0 pending
		{0xd9, 0xe8, 0xd9, 0xee, 0xde, 0xf9, 0x9b},       // ... fwait: #MF
		{0xd9, 0xee, 0xd9, 0xfa, 0xdd, 0x1c, 0x24},       // fldz; fsqrt; fstp qword [rsp]
		{0xdb, 0xe2}, {0xdb, 0xe3}, {0x0f, 0x77}, // fnclex fninit emms
		nil,
	})
	c.body = code(set, raise, g.afterward(), raise)
	c.exits, c.resume = 3, g.chance(2)
}

// genXsaveArea: FXRSTOR, XRSTOR (refused by the level 2 scan), FXSAVE and
// the XSAVE family with random areas and component masks.
func genXsaveArea(g *fuzzGen, c *fuzzCase) {
	area := g.bytes(1024)
	if g.chance(2) { // an FXSAVE/XSAVE legacy area with a valid MXCSR
		copy(area[24:], le32(0x1f80&^uint32(g.r.IntN(0x40)<<7)))
		copy(area[28:], le32(0xffff))
	}
	if g.chance(2) { // an XSAVE header: XSTATE_BV random, XCOMP_BV 0, the rest 0
		copy(area[512:], le64(g.r.Uint64()&0x2ff))
		clear(area[520:576])
	}
	c.stack = area
	c.regs.RAX, c.regs.RDX = g.value(), g.value()
	if g.chance(2) {
		c.regs.RAX, c.regs.RDX = g.r.Uint64()&0x2ff, 0
	}
	c.regs.RSP = g.layout.stackTop - 1024 // 64-byte aligned: the area
	if g.chance(8) {
		c.regs.RSP += uint64(1 + g.r.IntN(63))
	}
	op := pick(g, [][]byte{
		{0x0f, 0xae, 0x0c, 0x24}, {0x48, 0x0f, 0xae, 0x0c, 0x24}, // fxrstor [rsp], fxrstor64
		{0x0f, 0xae, 0x04, 0x24}, {0x48, 0x0f, 0xae, 0x04, 0x24}, // fxsave
		{0x0f, 0xae, 0x2c, 0x24}, {0x48, 0x0f, 0xae, 0x2c, 0x24}, // xrstor, xrstor64
		{0x0f, 0xae, 0x24, 0x24}, {0x0f, 0xae, 0x34, 0x24}, {0x0f, 0xc7, 0x24, 0x24}, // xsave xsaveopt xsavec
	})
	c.body = code(op, g.afterward(), op)
	c.exits, c.resume = 3, g.chance(2)
}

// genFlags: TF, AC, DF, NT, RF and IOPL set by POPF, then a way into the
// kernel or a string operation.
func genFlags(g *fuzzGen, c *fuzzCase) {
	bits := uint32(g.r.Uint64() & fuzzFlagBits)
	if g.chance(4) {
		bits = g.r.Uint32()
	}
	set := withFlags(bits)
	if g.chance(4) {
		set = code(set, []byte{0xfd}) // std
	}
	c.regs.RSI, c.regs.RDI, c.regs.RCX = g.layout.stackTop-64, g.layout.stackTop-128, uint64(g.r.IntN(64))
	then := pick(g, [][]byte{g.afterward(), g.afterward(), {0xf3, 0xa4}, {0xf3, 0x48, 0xab}, {0x0f, 0xa2}, {0x9c, 0x58}})
	c.body = code(set, then, g.afterward())
	c.exits, c.resume = 4, g.chance(2)
}

// genSelfModify: writes to the guest's own code, directly and through the
// host.
func genSelfModify(g *fuzzGen, c *fuzzCase) {
	target := g.layout.text + uint64(g.r.IntN(fuzzPageSize))
	switch g.r.IntN(4) {
	case 0:
		c.body = code([]byte{0x48, 0x8d, 0x05, 0, 0, 0, 0, 0xc6, 0x00, 0x90}) // lea rax, [rip]; mov byte [rax], 0x90
	case 1:
		c.body = code(movRAX(0x9090909090909090), storeAbs(target))
	case 2: // clock_gettime into the code
		c.body = code(movEAX(abi.SysClockGettime), movRDI(1), movRSI(target), insSyscall, exitWithRAX)
	default: // map memory executable, then try to write it
		c.body = code(movEAX(abi.SysMmap), movRDI(0), movRSI(4096), movRDX(5), insSyscall,
			[]byte{0x48, 0x89, 0xc6}, // mov rsi, rax
			pick(g, [][]byte{
				{0xc6, 0x06, 0xc3}, // mov byte [rsi], 0xc3
				code(movEAX(abi.SysClockGettime), movRDI(1), insSyscall),
				{0xff, 0xe6}, // jmp rsi
			}))
	}
	c.exits, c.resume = 4, g.chance(4)
}

// genStack: RSP at guard pages, non-canonical, in the kernel, unaligned,
// then something that uses the stack or enters the kernel.
func genStack(g *fuzzGen, c *fuzzCase) {
	l := g.layout
	rsp := pick(g, []uint64{l.stackLo, l.stackLo + 8, l.stackTop + 8, l.stackTop + 4096, l.stackTop - 3, l.text + 64,
		1 << 47, 1<<47 + 8, 1 << 63, mm.PhysBase + 0x100000, mm.StackBase, 0x1000000, 0, 8, cpu.UserTop, g.value(), g.entryAddr()})
	use := pick(g, [][]byte{
		push(regAX), {0xe8, 0, 0, 0, 0}, {0x9c}, {0xc3}, {0x48, 0xcf}, {0xc8, 0x10, 0x00, 0x00}, {0xc9}, {0x58},
		g.afterward(), g.afterward(),
	})
	if g.chance(2) {
		c.body = code(movImm(regSP, rsp), use, g.afterward())
	} else {
		c.regs.RSP = rsp // SetRegs may refuse it
		c.body = code(use, g.afterward())
	}
	c.exits, c.resume = 3, g.chance(2)
}

// genWildJump: control transfers to non-canonical addresses, the kernel,
// the last bytes of the lower half, data and guard pages. Resuming after
// the fault re-enters the guest at whatever RIP the CPU saved.
func genWildJump(g *fuzzGen, c *fuzzCase) {
	l := g.layout
	target := pick(g, []uint64{1 << 47, 1<<47 + 1, 1 << 63, 0xffff_7fff_ffff_f000, 0x8000_0000_0000_0001,
		mm.PhysBase, mm.PhysBase + 0x1000000, mm.StackBase, 0x1000000, 0x1001000,
		1<<47 - 1, 1<<47 - 2, cpu.UserTop - 2, cpu.UserTop, l.stackTop - 16, l.stackLo - 16, l.text + fuzzPageSize, g.value(),
		g.entryAddr(), g.entryAddr()})
	jump := pick(g, [][]byte{{0xff, 0xe0}, {0xff, 0xd0}, {0x50, 0xc3}, {0x50, 0xff, 0x24, 0x24}, {0x50, 0x48, 0xcb}})
	c.body = code(movImm(regAX, target), jump)
	if jump[len(jump)-1] == 0xcb { // retfq pops the selector too
		c.body = code(pushImm(cpu.SelUserCode), c.body)
	}
	c.exits, c.resume = 3, g.chance(2)
}

// genPKRU: WRPKRU with any value (at levels 1 and 3, which run with
// CR4.PKE off, it is #UD; at level 2 the scan must refuse it) and RDPKRU,
// then a memory access and a way into the kernel. Level 3 has no keys:
// what keeps memory apart is the address space, so its access aims at the
// kernel's entry pages and the bystander guest's address instead of the
// guest's own stack.
func genPKRU(g *fuzzGen, c *fuzzCase) {
	pkru := pick(g, []uint32{0, 1, 2, 3, 0xffffffff, 0x55555554, 0x55555555, g.r.Uint32()})
	ecx := uint32(0)
	if g.chance(8) {
		ecx = g.r.Uint32()
	}
	wrpkru := code(movEAX(pkru), []byte{0xb9}, le32(ecx), []byte{0x31, 0xd2, 0x0f, 0x01, 0xef}) // mov ecx; xor edx, edx; wrpkru
	rdpkru := []byte{0x31, 0xc9, 0x0f, 0x01, 0xee}                                              // xor ecx, ecx; rdpkru
	target := g.layout.stackTop - 8
	if g.level == sandbox.Level3 {
		target = pick(g, append([]uint64{g.entryAddr(), g.entryAddr()}, g.victim...))
	}
	c.body = code(pick(g, [][]byte{wrpkru, wrpkru, rdpkru}), pick(g, [][]byte{loadAbs(target), storeAbs(target), nil}), g.afterward())
	c.exits, c.resume = 3, g.chance(4)
}

// abiArg is an argument for call nr: one of the call's boundaries or any
// value.
func (g *fuzzGen) abiArg() uint64 {
	if g.chance(2) {
		return g.value()
	}
	return pick(g, []uint64{0, 1, 2, 3, 4, 5, 7, 8, 4095, 4096, 4097, 1 << 20, 1<<20 + 1, 64 << 20, 64<<20 + 1, 1 << 40, 1 << 62,
		g.layout.stackTop - 16, g.layout.stackTop - 4096, g.layout.text})
}

// genABI: calls of the default ABI (and unknown numbers) with random and
// boundary arguments; a call may use the previous call's result (mmap
// then use or unmap it).
func genABI(g *fuzzGen, c *fuzzCase) {
	nrs := []uint64{abi.SysWrite, abi.SysMmap, abi.SysMunmap, abi.SysClockGettime, abi.SysPKRU, abi.SysExit, sandbox.NullSyscall}
	calls := 1 + g.r.IntN(5)
	for range calls {
		nr := pick(g, nrs)
		if g.chance(8) {
			nr = g.value()
		}
		args := []uint64{g.abiArg(), g.abiArg(), g.abiArg(), g.abiArg(), g.abiArg(), g.abiArg()}
		if nr == abi.SysWrite && g.chance(4) {
			args[0] = 1 // to the console: the host discards it
		}
		if nr == abi.SysMmap && g.chance(2) {
			args[0] = 0
		}
		set := code(movImm(regDI, args[0]), movImm(regSI, args[1]), movImm(regDX, args[2]),
			movImm(regR10, args[3]), movImm(regR8, args[4]), movImm(regR9, args[5]))
		if g.chance(4) {
			// Use the last result: as munmap's address or as a buffer.
			set = code(set, pick(g, [][]byte{{0x48, 0x89, 0xc7}, {0x48, 0x89, 0xc6}})) // mov rdi, rax / mov rsi, rax
		}
		c.body = code(c.body, set, movImm(regAX, nr), insSyscall)
	}
	if g.chance(4) {
		c.body = code(c.body, []byte{0xff, 0xe0}) // jmp rax: into a mapping
	}
	c.exits = calls + 2
}

// genKernelMemory: memory operations of every form (loads, stores,
// locked and string operations, cache and non-temporal instructions,
// masked SIMD stores, FXSAVE, fetches, the stack) on the kernel's entry
// pages, other kernel memory and the bystander guest's address. Each
// faults (or, a masked store with an empty mask, does nothing); at level
// 3 the entry pages are present, so the #PF has P set.
func genKernelMemory(g *fuzzGen, c *fuzzCase) {
	target := pick(g, append([]uint64{g.entryAddr(), g.entryAddr(), g.entryAddr(),
		uint64(uintptr(unsafe.Pointer(&fuzzSettings))), mm.PhysBase + 0x100000, mm.StackBase, 0x1000000, g.value()}, g.victim...))
	if g.chance(8) {
		target += uint64(4096 - 1 - g.r.IntN(16)) // across into the next page
	}
	access := pick(g, [][]byte{
		{0x48, 0x8b, 0x03},       // mov rax, [rbx]
		{0x48, 0x89, 0x03},       // mov [rbx], rax
		{0x48, 0x87, 0x03},       // xchg [rbx], rax
		{0xf0, 0x01, 0x03},       // lock add [rbx], eax
		{0x0f, 0xae, 0x3b},       // clflush [rbx]
		{0x0f, 0x18, 0x0b},       // prefetcht0 [rbx]
		{0x48, 0x0f, 0xc3, 0x03}, // movnti [rbx], rax
		{0x48, 0x0f, 0xc7, 0x0b}, // cmpxchg16b [rbx]
		{0x0f, 0xae, 0x03},       // fxsave [rbx]
		{0x0f, 0xae, 0x0b},       // fxrstor [rbx]
		{0x0f, 0x28, 0x03},       // movaps xmm0, [rbx]
		{0xff, 0xe3},             // jmp rbx
		{0xff, 0xd3},             // call rbx
		{0xff, 0x23},             // jmp [rbx]
		{0x48, 0x89, 0xde, 0x48, 0x8d, 0x7c, 0x24, 0x80, 0xb9, 0x10, 0, 0, 0, 0xf3, 0xa4}, // mov rsi, rbx; lea rdi, [rsp-128]; mov ecx, 16; rep movsb
		{0x48, 0x89, 0xdf, 0xb9, 0x10, 0, 0, 0, 0xf3, 0xaa},                               // mov rdi, rbx; mov ecx, 16; rep stosb
		{0x48, 0x89, 0xdf, 0x66, 0x0f, 0x74, 0xc9, 0x66, 0x0f, 0xf7, 0xc1},                // mov rdi, rbx; pcmpeqb xmm1, xmm1; maskmovdqu xmm0, xmm1
		{0xc5, 0xf4, 0x57, 0xc9, 0xc4, 0xe2, 0x75, 0x2e, 0x03},                            // vxorps ymm1, ymm1, ymm1; vmaskmovps [rbx], ymm1, ymm0: empty mask
		{0xc5, 0xf5, 0x76, 0xc9, 0xc4, 0xe2, 0x75, 0x2e, 0x03},                            // vpcmpeqd ymm1, ymm1, ymm1; vmaskmovps [rbx], ymm1, ymm0
		{0x48, 0x89, 0xdc, 0x50}, // mov rsp, rbx; push rax
		{0x48, 0x89, 0xdc},       // mov rsp, rbx: the way in below finds it there
	})
	c.body = code(movImm(regBX, target), access, g.afterward())
	c.exits, c.resume = 3, g.chance(2)
}

// genThreads: extra threads (level 3) with registers of every kind, run
// beside the main thread on code that calls, faults or spins; maybe
// interrupted all along by another goroutine, maybe closed under them.
func genThreads(g *fuzzGen, c *fuzzCase) {
	l := g.layout
	for range 1 + g.r.IntN(4) {
		r := sandbox.Regs{RIP: l.text, RSP: l.stackTop - uint64(g.r.IntN(4))*1024, RFLAGS: cpu.FlagIF}
		if g.chance(4) {
			r.RIP = g.value()
		}
		if g.chance(4) {
			r.RSP = g.value()
		}
		if g.chance(4) {
			r.FSBase, r.GSBase = g.value(), g.value()
		}
		if g.chance(4) {
			r.RFLAGS = g.r.Uint64() &^ cpu.FlagTF
		}
		c.threads = append(c.threads, r)
	}
	c.body = pick(g, [][]byte{
		code(movEAX(abi.SysClockGettime), movRDI(1), movRSI(l.stackTop-64), insSyscall, []byte{0xeb, 0xfe}), // a call, then spin
		code(movEAX(sandbox.NullSyscall), insSyscall, []byte{0xeb, 0xf7}),                                   // the kernel's null call, forever
		code(movImm(regAX, l.stackTop-8), []byte{0x48, 0xff, 0x00}, g.afterward()),                          // inc qword [rax]: the shared stack
		insJmpSelf,
		g.bytes(1 + g.r.IntN(32)),
		g.afterward(),
	})
	c.close = fuzzClose(max(0, g.r.IntN(4)-1)) // never half the time
	c.interrupt = g.chance(3)
	c.exits, c.resume = 1+g.r.IntN(4), g.chance(2)
}
