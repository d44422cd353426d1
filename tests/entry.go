package tests

import (
	"fmt"
	"math"
	"runtime/debug"
	"strings"
	"time"
	"unsafe"

	"beelzebox/cpu"
	"beelzebox/kernel"
	"beelzebox/sandbox"
	"beelzebox/sandbox/ring"
)

// The entry suite: ring-3 state must never reach ring 0. Each test leaves
// some piece of user-controlled state behind at an entry into the kernel
// (RFLAGS bits, MXCSR, the x87 control word, PKRU, TF at a SYSCALL, a
// non-canonical RIP or RSP to resume) and checks that the kernel runs with
// its own state and survives. The kernel itself checks its state at every
// interrupt and fault exit of a guest (kernel.CheckEntryState) and stops
// with a report if ring-3 state got through, so a regression here ends
// the boot rather than passing quietly.
func init() {
	Register("entry", "flags-reset-on-interrupt", testEntryFlagsInterrupt)
	Register("entry", "flags-reset-on-exception", testEntryFlagsException)
	Register("entry", "mxcsr-and-x87-reset", testEntryFPState)
	Register("entry", "level1-pkru-write-disable", testEntryPKRUWriteDisable)
	Register("entry", "tf-syscall-window", testEntryTFSyscall)
	Register("entry", "tf-syscall-window-guest-fs", testEntryTFSyscallGuestFS)
	Register("entry", "noncanonical-rip-resume", testEntryNonCanonicalRIP)
	Register("entry", "noncanonical-rsp-resume", testEntryNonCanonicalRSP)
	Register("entry", "setregs-refuses-noncanonical", testEntrySetRegs)
	Register("entry", "debug-registers-clear", testEntryDR7)
	Register("entry", "nmi-counted-and-returned", testEntryNMI)
	Register("entry", "level2-pkru-left-behind-killed", testEntryPKRULeftBehind)
	Register("entry", "smap-kernel-cannot-touch-guest-pages", testEntrySMAP)
	Register("entry", "df-clear-in-handlers-of-go-code", testEntryDFInGo)
}

// Guest instructions for the entry tests.
var (
	insPushfq  = []byte{0x9c}
	insPopfq   = []byte{0x9d}
	insStd     = []byte{0xfd}
	insWrpkru  = []byte{0x31, 0xc9, 0x31, 0xd2, 0x0f, 0x01, 0xef} // xor ecx,ecx; xor edx,edx; wrpkru
	insJmpRAX  = []byte{0xff, 0xe0}
	insLdmxcsr = []byte{0x0f, 0xae, 0x10} // ldmxcsr [rax]
	insFldcw   = []byte{0xd9, 0x28}       // fldcw [rax]
)

// orFlags sets bits in RFLAGS: pushfq; or qword [rsp], imm32; popfq.
func orFlags(bits uint32) []byte {
	return code(insPushfq, []byte{0x48, 0x81, 0x0c, 0x24}, le32(bits), insPopfq)
}

// movRSP is movabs rsp, imm64.
func movRSP(v uint64) []byte { return append([]byte{0x48, 0xbc}, le64(v)...) }

// testEntryFlagsInterrupt: the guest sets DF and AC and spins until the
// timer stops it, many times over; the kernel handles each interrupt (and
// switches threads) with its own flags.
func testEntryFlagsInterrupt(t *T) {
	g := mustGuest(t, sandbox.Level1, code(insStd, orFlags(cpu.FlagAC), insJmpSelf))
	defer g.Close()
	for i := 0; i < 3; i++ {
		e, err := g.Main().Run()
		if err != nil || e.Kind != sandbox.ExitBudget {
			t.Fatalf("run %d: %v %v, want budget", i, e, err)
		}
	}
	if fl := g.Main().Regs().RFLAGS; fl&(cpu.FlagDF|cpu.FlagAC) != cpu.FlagDF|cpu.FlagAC {
		t.Fatalf("guest RFLAGS %#x lost its own DF and AC", fl)
	}
}

// testEntryFlagsException: the same flags, then an exception.
func testEntryFlagsException(t *T) {
	g := mustGuest(t, sandbox.Level1, code(insStd, orFlags(cpu.FlagAC), insUD2))
	defer g.Close()
	expectFault(t, g, cpu.VectorUD)
}

// testEntryFPState: the guest unmasks every SSE and x87 exception and
// makes a system call; the host then divides by zero in floating point,
// which must give +Inf, not a #XM in the host (MXCSR is the host's again).
func testEntryFPState(t *T) {
	g := mustGuest(t, sandbox.Level1, nil)
	defer g.Close()
	zero := stackTop(g) - 64 // four zero bytes on the guest's stack
	text := code(movRAX(zero), insLdmxcsr, insFldcw, movEAX(0x7fff), insSyscall, insUD2)
	if err := g.WriteMemory(textAddr(g), text); err != nil {
		t.Fatalf("WriteMemory: %v", err)
	}
	e, err := g.Main().Run()
	if err != nil || e.Kind != sandbox.ExitSyscall {
		t.Fatalf("exit = %v %v, want the system call", e, err)
	}
	if m, cw := cpu.MXCSR(), cpu.FPUControl(); m&^0x3f != 0x1f80 || cw&0x0f3f != 0x033f {
		t.Fatalf("host MXCSR %#x, x87 control word %#x after the guest's: want the defaults 0x1f80 and 0x037f", m, cw)
	}
	one, nought := 1.0, float64(len(t.why)) // a zero the compiler cannot fold
	if q := one / nought; !math.IsInf(q, 1) {
		t.Fatalf("1/0 = %v in the host", q)
	}
}

// testEntryPKRUWriteDisable: a level 1 guest makes every key write-disabled
// (and access-disabled) and then takes an exception and makes a system
// call. Bochs applies WD to supervisor writes, so the exception frame
// itself could not be pushed if the guest's PKRU were live at an entry.
func testEntryPKRUWriteDisable(t *T) {
	if !cpu.CPU.PKU {
		t.Skip("pku", "(CPUID.(EAX=7,ECX=0):ECX.PKU) is missing: no PKRU to abuse")
	}
	for _, tail := range [][]byte{insUD2, code(movEAX(0x7fff), insSyscall), insJmpSelf} {
		g := mustGuest(t, sandbox.Level1, code(movEAX(0xffffffff), insWrpkru, tail))
		e, err := g.Main().Run()
		g.Close()
		if err != nil || e.Kind == sandbox.ExitKilled {
			t.Fatalf("guest % x: %v %v", tail, e, err)
		}
		if k := cpu.Rdpkru(); k != 0 {
			t.Fatalf("host PKRU %#x after the guest (% x), want 0", k, tail)
		}
	}
}

// tfSyscallCode sets TF and makes a system call: the single-step trap of the
// SYSCALL instruction is delivered at the first instruction of the
// kernel's entry, before it has switched stacks.
var tfSyscallCode = code(movEAX(0x7fff), orFlags(cpu.FlagTF), insSyscall, []byte{0x90, 0x90}, insUD2)

func wantTFSyscall(t *T, g sandbox.Guest) {
	e, err := g.Main().Run()
	if err != nil || e.Kind != sandbox.ExitSyscall || e.Syscall.Nr != 0x7fff {
		t.Fatalf("first exit = %v %v, want system call 0x7fff", e, err)
	}
	after := g.Main().Regs().RIP
	// SYSRETQ restores TF from R11: the guest stops with #DB right after
	// SYSRETQ (QEMU) or after its next instruction (Bochs, as after POPF).
	e, err = g.Main().Run()
	if err != nil || e.Kind != sandbox.ExitFault || e.Fault.Vector != cpu.VectorDB || e.Fault.RIP != after && e.Fault.RIP != after+1 {
		t.Fatalf("second exit = %v %v, want #DB at %#x or %#x", e, err, after, after+1)
	}
}

func testEntryTFSyscall(t *T) {
	g := mustGuest(t, sandbox.Level1, tfSyscallCode)
	defer g.Close()
	before := cpu.WindowTraps()
	wantTFSyscall(t, g)
	// Bochs delivers the trap in the entry window; QEMU TCG does not.
	fmt.Printf("entry: %d single-step traps in the SYSCALL entry window\n", cpu.WindowTraps()-before)
}

// testEntryTFSyscallGuestFS: the same with the guest's FS base pointing at
// guest memory full of a fake g: an entry that ran kernel code on the
// guest's FS base would read it (and write through it).
func testEntryTFSyscallGuestFS(t *T) {
	g := mustGuest(t, sandbox.Level1, tfSyscallCode)
	defer g.Close()
	fake := stackTop(g) - 8192
	poison := make([]byte, 4096)
	for i := range poison {
		poison[i] = 0x41
	}
	if err := g.WriteMemory(fake-2048, poison); err != nil {
		t.Fatalf("WriteMemory: %v", err)
	}
	r := g.Main().Regs()
	r.FSBase = fake
	if err := g.Main().SetRegs(r); err != nil {
		t.Fatalf("SetRegs: %v", err)
	}
	wantTFSyscall(t, g)
	back := make([]byte, len(poison))
	if err := g.ReadMemory(fake-2048, back); err != nil {
		t.Fatalf("ReadMemory: %v", err)
	}
	if string(back) != string(poison) {
		t.Fatalf("the kernel wrote guest memory through the guest's FS base")
	}
}

// testEntryNonCanonicalRIP: a guest jumps to a non-canonical address; some
// CPUs (QEMU) save that RIP. Resuming it must be refused by the kernel
// before IRETQ could fault in ring 0: a #GP exit without entering.
func testEntryNonCanonicalRIP(t *T) {
	const bad = 0x0000_8000_0000_0000
	g := mustGuest(t, sandbox.Level1, code(movRAX(bad), insJmpRAX))
	defer g.Close()
	first := expectFault(t, g, cpu.VectorGP)
	fmt.Printf("entry: jump to %#x: %v\n", uint64(bad), first)
	if first.Fault.RIP != bad {
		return // the CPU saved the canonical RIP of the jump (Bochs): resumable
	}
	for i := 0; i < 3; i++ {
		e := expectFault(t, g, cpu.VectorGP)
		if rip := g.Main().Regs().RIP; rip != e.Fault.RIP || !e.Fault.NotEntered {
			t.Fatalf("resumed at RIP %#x: %v, want a #GP without entering", rip, e)
		}
	}
}

// testEntryNonCanonicalRSP: a guest loads a non-canonical stack pointer
// and faults; the host resumes it as it is, and the kernel refuses to
// load it (#GP without entering).
func testEntryNonCanonicalRSP(t *T) {
	g := mustGuest(t, sandbox.Level1, code(movRSP(0x8000_0000_0000_0000), insUD2))
	defer g.Close()
	expectFault(t, g, cpu.VectorUD)
	for i := 0; i < 3; i++ {
		if e := expectFault(t, g, cpu.VectorGP); !e.Fault.NotEntered {
			t.Fatalf("resume %d: %v, want a #GP without entering", i, e)
		}
	}
}

func testEntrySetRegs(t *T) {
	g := mustGuest(t, sandbox.Level1, insSyscall)
	defer g.Close()
	good := g.Main().Regs()
	for _, c := range []struct {
		name string
		set  func(*sandbox.Regs)
	}{
		{"RIP", func(r *sandbox.Regs) { r.RIP = 0x0000_8000_0000_0000 }},
		{"RIP", func(r *sandbox.Regs) { r.RIP = 0xffff_8000_0000_0000 }},
		{"RSP", func(r *sandbox.Regs) { r.RSP = 0x0000_8000_0000_0000 }},
		{"RSP", func(r *sandbox.Regs) { r.RSP = 0x1234_5678_9abc_def0 }},
		{"FS base", func(r *sandbox.Regs) { r.FSBase = 0x0000_8000_0000_0000 }},
		{"GS base", func(r *sandbox.Regs) { r.GSBase = 0xdead_beef_0000_0000 }},
	} {
		r := good
		c.set(&r)
		err := g.Main().SetRegs(r)
		if err == nil || !strings.Contains(err.Error(), c.name) {
			t.Fatalf("SetRegs with a bad %s: err = %v, want an error naming %s", c.name, err, c.name)
		}
		if g.Main().Regs() != good {
			t.Fatalf("a refused SetRegs (%s) changed the registers", c.name)
		}
	}
	if e, err := g.Main().Run(); err != nil || e.Kind != sandbox.ExitSyscall {
		t.Fatalf("guest after refused SetRegs: %v %v", e, err)
	}
}

// testEntryDR7: no hardware breakpoint is armed (a guest cannot set one,
// but one left by the firmware would fire in the kernel's entry window).
func testEntryDR7(t *T) {
	if v := cpu.DR7(); v&0xff != 0 {
		t.Fatalf("DR7 = %#x: breakpoints enabled", v)
	}
	fmt.Printf("entry: DR7 %#x, %d entry-state checks passed\n", cpu.DR7(), kernel.EntryChecks)
}

// testEntryNMI: NMIs sent to this CPU are counted and returned from; the
// kernel goes on.
func testEntryNMI(t *T) {
	before := cpu.NMIs()
	for i := uint64(1); i <= 3; i++ {
		if !kernel.SelfNMI() {
			t.Skip("apic", "no local APIC to send an NMI with")
		}
		deadline := time.Now().Add(time.Second)
		for cpu.NMIs() < before+i && time.Now().Before(deadline) {
		}
		if n := cpu.NMIs() - before; n != i {
			t.Fatalf("%d NMIs counted after sending %d", n, i)
		}
	}
	g := mustGuest(t, sandbox.Level1, insUD2)
	defer g.Close()
	expectFault(t, g, cpu.VectorUD)
}

// testEntryPKRULeftBehind: a level 2 guest whose code got past the scan
// (through the test seam) opens every key with WRPKRU and makes a system
// call; the exit path sees a PKRU other than the guest's and the host gets
// ExitKilled, not a system call made with every key open.
func testEntryPKRULeftBehind(t *T) {
	if !cpu.CPU.PKU {
		t.Skip("pku", "(CPUID.(EAX=7,ECX=0):ECX.PKU) is missing: level 2 is unavailable")
	}
	g := mustGuest(t, sandbox.Level2, insUD2)
	defer g.Close()
	text := code(movEAX(0), insWrpkru, movEAX(0x7fff), insSyscall)
	if err := ring.TestingWriteUnscanned(g, textAddr(g), text); err != nil {
		t.Fatalf("TestingWriteUnscanned: %v", err)
	}
	e, err := g.Main().Run()
	if err != nil || e.Kind != sandbox.ExitKilled || !strings.Contains(e.Reason, "pkru") {
		t.Fatalf("exit = %v %v, want killed for the PKRU it left", e, err)
	}
	if k := cpu.Rdpkru(); k != 0 {
		t.Fatalf("host PKRU %#x, want 0", k)
	}
}

// testEntrySMAP: kernel code that reads or writes a guest page through
// its user address faults (SMAP); the kernel reaches guest memory only
// through kernel views. The fault becomes a recoverable panic here.
func testEntrySMAP(t *T) {
	if !cpu.CPU.SMAP {
		t.Skip("smap", "(CPUID.(EAX=7,ECX=0):EBX.SMAP) is missing")
	}
	g := mustGuest(t, sandbox.Level1, insUD2)
	defer g.Close()
	user := uintptr(stackTop(g) - 8)
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	for _, access := range []struct {
		name string
		fn   func()
	}{
		{"read", func() { _ = *(*byte)(unsafe.Pointer(user)) }},
		{"write", func() { *(*byte)(unsafe.Pointer(user)) = 1 }},
	} {
		faulted := func() (faulted bool) {
			defer func() { faulted = recover() != nil }()
			access.fn()
			return false
		}()
		if !faulted {
			t.Fatalf("the kernel could %s guest memory at its user address %#x: SMAP is off", access.name, user)
		}
	}
	// The guest's memory is intact and reachable through the sandbox.
	var b [8]byte
	t.Require("ReadMemory", g.ReadMemory(uint64(user), b[:]))
	if b != [8]byte{} {
		t.Fatalf("guest stack changed: % x", b)
	}
}

func backwardCopy(dst, src, n uintptr)

// testEntryDFInGo: Go code copies backwards with DF set (the runtime's
// memmove does on CPUs without AVX) while timer interrupts arrive; the
// handlers run with DF clear (kernel.CheckEntryState stops the kernel
// otherwise) and the copies come out right.
func testEntryDFInGo(t *T) {
	buf := make([]byte, 1<<20)
	ticks := kernel.Ticks
	deadline := time.Now().Add(200 * time.Millisecond)
	for n := 0; time.Now().Before(deadline) || kernel.Ticks-ticks < 10; n++ {
		for i := range buf {
			buf[i] = byte(i + n)
		}
		const shift = 4096
		backwardCopy(uintptr(unsafe.Pointer(&buf[shift])), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)-shift))
		for i := shift; i < len(buf); i += 997 {
			if buf[i] != byte(i-shift+n) {
				t.Fatalf("round %d: byte %d is %#x after the backward copy, want %#x", n, i, buf[i], byte(i-shift+n))
			}
		}
	}
	fmt.Printf("entry: %d timer interrupts during backward copies\n", kernel.Ticks-ticks)
}
