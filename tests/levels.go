package tests

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"beelzebox/cpu"
	"beelzebox/kernel"
	"beelzebox/mm"
	"beelzebox/sandbox"
	"beelzebox/sandbox/abi"
	"beelzebox/syscall"
)

// The level1 and level2 suites: the adversarial cases every level must
// survive, run at both levels, plus what only level 2 protects. Each
// guest-facing case ends with the kernel and the host healthy, which the
// last test of each suite checks again.
func init() {
	for _, l := range ringLevels {
		reg := levelRegistrar(l)
		if l == sandbox.Level2 {
			Register("level2", "availability", testL2Availability)
		}
		reg("abi-round-trip", testABIRoundTrip)
		reg("host-memory", testHostMemory)
		reg("other-guest-memory", testOtherGuest)
		reg("garbage-pointers", testGarbagePointers)
		reg("privileged-instructions", testPrivileged)
		reg("divide-by-zero", testDivZero)
		reg("loop-forever-budget", testLoopForever)
		reg("goroutines-run-during-guest", testGoroutinesDuringGuest)
		reg("stack-overflow", testStackOverflow)
		reg("write-then-execute", testWriteExecute)
		reg("wx-refused", testWXRefused)
		if l != sandbox.Level3 { // guests of levels 1 and 2 share an address space
			reg("collision-refused", testCollision)
		}
		if l == sandbox.Level2 {
			reg("wrpkru-refused", testWRPKRURefused)
			reg("wrpkru-hidden", testWRPKRUHidden)
			reg("wrpkru-across-pages", testWRPKRUAcrossPages)
			reg("wrpkru-across-regions", testWRPKRUAcrossRegions)
			reg("xrstor-harmless", testXRSTORHarmless)
			reg("protect-rescans", testProtectRescans)
			reg("host-write-rescans", testHostWriteRescans)
			reg("shared-read-only", testSharedRO)
			reg("shared-read-write", testSharedRW)
			reg("print-my-pkru", testPrintPKRU)
			reg("keys-exhausted", testKeysExhausted)
		} else {
			reg("100-guests-no-leak", testNoLeak)
			reg("memory-exhaustion-refused", testMemoryExhaustion)
		}
		if l == sandbox.Level3 { // level 1 guests see every share anyway
			reg("shared-read-only", testSharedRO)
			reg("shared-read-write", testSharedRW)
		}
		reg("kernel-healthy-after", testHealthyAfter)
	}
}

// ringLevels are the levels the level suites run at.
var ringLevels = []sandbox.Level{sandbox.Level1, sandbox.Level2, sandbox.Level3}

// levelRegistrar returns a function that registers tests of the suite of
// level l ("level1", "level2"). At level 2 they SKIP on a CPU without PKU.
func levelRegistrar(l sandbox.Level) func(name string, fn func(*T, sandbox.Level)) {
	suite := fmt.Sprintf("level%d", l)
	return func(name string, fn func(*T, sandbox.Level)) {
		Register(suite, name, func(t *T) {
			if l == sandbox.Level2 && !cpu.CPU.PKU {
				t.Skip("pku", "(CPUID.(EAX=7,ECX=0):ECX.PKU) is missing: level 2 is unavailable")
			}
			fn(t, l)
			// Every guest, group and shared region a test made is closed
			// when it returns: no key stays taken.
			if n := sandbox.KeysInUse(); l == sandbox.Level2 && n != 0 {
				t.Fatalf("%d protection keys still in use after the test", n)
			}
		})
	}
}

// exitWith ends a blob guest with exit(rax).
var exitWithRAX = code([]byte{0x48, 0x89, 0xc7}, movEAX(abi.SysExit), insSyscall) // mov rdi, rax

func levelGuest(t *T, l sandbox.Level, text []byte) sandbox.Guest {
	g, err := blobGuest(l, text, 0)
	if err != nil {
		t.Fatalf("creating %v guest: %v", l, err)
	}
	return g
}

func serve(t *T, g sandbox.Guest) abi.Result {
	h := &abi.Host{Guest: g, Out: os.Stdout}
	r, err := h.Serve()
	if err != nil {
		t.Fatalf("serving guest: %v", err)
	}
	return r
}

func testL2Availability(t *T) {
	g, err := blobGuest(sandbox.Level2, insSyscall, 0)
	if cpu.CPU.PKU {
		if err != nil {
			t.Fatalf("level 2 refused on a CPU with PKU: %v", err)
		}
		g.Close()
		return
	}
	want := "level 2 needs protection keys (CPUID.(EAX=7,ECX=0):ECX.PKU"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("level 2 without PKU: err = %v, want it to say %q", err, want)
	}
	fmt.Println("level2: refused as it must be:", err)
	// Level 1 still works on this CPU.
	testABIRoundTrip(t, sandbox.Level1)
}

// testABIRoundTrip: write, clock_gettime, exit through the default host.
func testABIRoundTrip(t *T, l sandbox.Level) {
	msg := []byte("guest says hi\n")
	g := levelGuest(t, l, nil)
	defer g.Close()
	data, err := g.Map(sandbox.Region{Name: "data", Size: 4096, Perm: sandbox.Read | sandbox.Write, Data: msg})
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	text := code(
		movEAX(abi.SysWrite), movRDI(1), movRSI(data), movRDX(uint64(len(msg))), insSyscall,
		movEAX(abi.SysClockGettime), movRDI(1), movRSI(data+64), insSyscall,
		movEAX(abi.SysExit), movRDI(7), insSyscall)
	if err := g.WriteMemory(textAddr(g), text); err != nil {
		t.Fatalf("WriteMemory: %v", err)
	}
	r := serve(t, g)
	if !r.Exited || r.Code != 7 {
		t.Fatalf("guest ended with %v, want exit(7)", r)
	}
	var ts [16]byte
	t.Require("ReadMemory", g.ReadMemory(data+64, ts[:]))
	if bytes.Equal(ts[:], make([]byte, 16)) {
		t.Fatalf("clock_gettime wrote nothing")
	}
}

// testHostMemory: a guest reads and writes host-owned user memory. Level 1
// has no protection, so it succeeds by definition; level 2 takes a page
// fault with the PK bit and the host's bytes stay as they were.
func testHostMemory(t *T, l sandbox.Level) {
	host, err := sandbox.NewSharedRegion("host-private", 4096)
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer host.Close()
	copy(host.Bytes(), "host secret")
	g := levelGuest(t, l, code(loadAbs(host.Addr()), movRAX(0x4141414141414141), storeAbs(host.Addr()), movEAX(abi.SysExit), insSyscall))
	defer g.Close()
	r := serve(t, g)
	if l == sandbox.Level1 {
		if !r.Exited || !bytes.Equal(host.Bytes()[:8], []byte("AAAAAAAA")) {
			t.Fatalf("level 1 guest could not use host memory: %v", r)
		}
		fmt.Println("level1: guest read and wrote host memory (no protection at level 1, by definition)")
		return
	}
	if l == sandbox.Level3 {
		if r.Exited || r.Exit.Fault.Vector != cpu.VectorPF || r.Exit.Fault.PK() || r.Exit.Fault.CR2 != host.Addr() {
			t.Fatalf("level 3 guest: %v, want a page fault at %#x (not mapped in its space)", r, host.Addr())
		}
	} else if r.Exited || !r.Exit.Fault.PK() || r.Exit.Fault.CR2 != host.Addr() {
		t.Fatalf("level 2 guest: %v, want a PK page fault at %#x", r, host.Addr())
	}
	if string(host.Bytes()[:11]) != "host secret" {
		t.Fatalf("host memory changed: %q", host.Bytes()[:11])
	}
}

// testOtherGuest: guest B reads guest A's memory.
func testOtherGuest(t *T, l sandbox.Level) {
	a := levelGuest(t, l, insSyscall)
	defer a.Close()
	secret := stackTop(a) - 4096
	t.Require("WriteMemory", a.WriteMemory(secret, []byte("A's secret")))
	b := levelGuest(t, l, code(loadAbs(secret), exitWithRAX))
	defer b.Close()
	r := serve(t, b)
	if l == sandbox.Level1 {
		if !r.Exited || r.Code != 0x20732741 { // "A's " little-endian, the low 32 bits
			t.Fatalf("level 1: %v", r)
		}
		return
	}
	if l == sandbox.Level3 {
		// The address is B's own stack in B's own space: B reads its
		// own zeroes, never A's secret.
		if !r.Exited || r.Code != 0 {
			t.Fatalf("level 3: %v, want exit(0): B's own memory at %#x", r, secret)
		}
		return
	}
	if r.Exited || !r.Exit.Fault.PK() || r.Exit.Fault.CR2 != secret {
		t.Fatalf("level 2: %v, want a PK page fault at guest A's secret %#x", r, secret)
	}
}

// testGarbagePointers passes garbage to every call of the default ABI; the
// host answers with errors and never faults.
func testGarbagePointers(t *T, l sandbox.Level) {
	kernelAddr := uint64(mm.PhysBase)
	cases := []struct {
		name       string
		nr         uint64
		a0, a1, a2 uint64
		want       int64
	}{
		{"write NULL", abi.SysWrite, 1, 0, 16, -abi.EFAULT},
		{"write kernel", abi.SysWrite, 1, kernelAddr, 16, -abi.EFAULT},
		{"write kernel image", abi.SysWrite, 1, 0x1000000, 16, -abi.EFAULT},
		{"write huge", abi.SysWrite, 1, 0x10000, 1 << 40, -abi.EINVAL},
		{"write wrap", abi.SysWrite, 1, ^uint64(0) - 4, 64, -abi.EFAULT},
		{"write bad fd", abi.SysWrite, 7, 0, 0, -abi.EBADF},
		{"clock NULL", abi.SysClockGettime, 1, 0, 0, -abi.EFAULT},
		{"clock kernel", abi.SysClockGettime, 1, kernelAddr, 0, -abi.EFAULT},
		{"clock bad id", abi.SysClockGettime, 99, 0, 0, -abi.EINVAL},
		{"mmap zero", abi.SysMmap, 0, 0, 3, -abi.EINVAL},
		{"mmap huge", abi.SysMmap, 0, 1 << 62, 3, -abi.EINVAL},
		{"mmap wx", abi.SysMmap, 0, 4096, 7, -abi.EACCES},
		{"mmap addr", abi.SysMmap, 0x400000, 4096, 3, -abi.EINVAL},
		{"munmap garbage", abi.SysMunmap, 0xdeadbeef000, 4096, 0, -abi.EINVAL},
		{"munmap kernel", abi.SysMunmap, kernelAddr, 4096, 0, -abi.EINVAL},
		{"unknown", 999, 0, 0, 0, -abi.ENOSYS},
	}
	for _, c := range cases {
		g := levelGuest(t, l, code(movRAX(c.nr), movRDI(c.a0), movRSI(c.a1), movRDX(c.a2), insSyscall, exitWithRAX))
		r := serve(t, g)
		g.Close()
		if !r.Exited || int64(int32(r.Code)) != c.want {
			t.Fatalf("%s: %v, want exit(%d)", c.name, r, c.want)
		}
	}
}

func testPrivileged(t *T, l sandbox.Level) {
	for _, ins := range [][]byte{insHlt, {0xfa}, {0xec}, {0xee}, {0x0f, 0x22, 0xd8}, {0x0f, 0x30}, {0x0f, 0x01, 0xf8}} {
		g := levelGuest(t, l, ins)
		r := serve(t, g)
		g.Close()
		if r.Exited || r.Exit.Kind != sandbox.ExitFault || r.Exit.Fault.Vector != cpu.VectorGP {
			t.Fatalf("% x: %v, want #GP", ins, r)
		}
	}
}

func testDivZero(t *T, l sandbox.Level) {
	g := levelGuest(t, l, []byte{0x31, 0xc9, 0xf7, 0xf1})
	defer g.Close()
	if r := serve(t, g); r.Exited || r.Exit.Fault.Vector != cpu.VectorDE {
		t.Fatalf("%v, want #DE", r)
	}
}

func testLoopForever(t *T, l sandbox.Level) {
	g := levelGuest(t, l, insJmpSelf)
	defer g.Close()
	for i := 0; i < 3; i++ {
		if r := serve(t, g); r.Exited || r.Exit.Kind != sandbox.ExitBudget {
			t.Fatalf("run %d: %v, want budget", i, r)
		}
	}
}

// testGoroutinesDuringGuest: Run is a blocking system call, so while a
// guest spins through a long budget the runtime hands the P to another
// thread and other goroutines make progress (there is one P).
func testGoroutinesDuringGuest(t *T, l sandbox.Level) {
	g, err := blobGuest(l, insJmpSelf, 200*time.Millisecond)
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer g.Close()
	var ticks atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				ticks.Add(1)
			}
		}
	}()
	time.Sleep(5 * time.Millisecond) // let the ticker goroutine start
	before := ticks.Load()
	// Meanwhile another goroutine tries to run and to close the same guest.
	overlap := make(chan [2]error)
	go func() {
		time.Sleep(20 * time.Millisecond)
		_, errRun := g.Main().Run()
		errClose := sandbox.ErrRunning
		if l != sandbox.Level3 { // at level 3, Close kills a running thread
			errClose = g.Close()
		}
		overlap <- [2]error{errRun, errClose}
	}()
	e, err := g.Main().Run()
	during := ticks.Load() - before
	if errs := <-overlap; errs[0] != sandbox.ErrRunning || errs[1] != sandbox.ErrRunning {
		t.Fatalf("Run and Close during a Run from another goroutine: %v, %v; want ErrRunning", errs[0], errs[1])
	}
	close(stop)
	<-done
	if err != nil || e.Kind != sandbox.ExitBudget {
		t.Fatalf("%v %v, want budget", e, err)
	}
	if during < 10 {
		t.Fatalf("only %d ticks of another goroutine during a 200 ms guest run", during)
	}
}

// testStackOverflow: call itself until the stack runs into the unmapped
// page below it.
func testStackOverflow(t *T, l sandbox.Level) {
	g := levelGuest(t, l, []byte{0xe8, 0xfb, 0xff, 0xff, 0xff}) // call self
	defer g.Close()
	r := serve(t, g)
	bottom := stackTop(g) - 16384
	if r.Exited || r.Exit.Fault.Vector != cpu.VectorPF || r.Exit.Fault.CR2 >= bottom || r.Exit.Fault.CR2 < bottom-4096 {
		t.Fatalf("%v, want a page fault just below the stack at %#x", r, bottom)
	}
}

// testWriteExecute: the guest writes code to its stack and jumps there.
// Writable memory is never executable: an instruction-fetch page fault.
func testWriteExecute(t *T, l sandbox.Level) {
	g := levelGuest(t, l, nil)
	defer g.Close()
	target := stackTop(g) - 4096
	text := code(movRAX(0x050f0000003cb8), storeAbs(target), movRAX(target), []byte{0xff, 0xe0}) // mov eax,60; syscall / jmp rax
	t.Require("WriteMemory", g.WriteMemory(textAddr(g), text))
	r := serve(t, g)
	if r.Exited || r.Exit.Fault.Vector != cpu.VectorPF || r.Exit.Fault.ErrorCode&cpu.PFFetch == 0 || r.Exit.Fault.CR2 != target {
		t.Fatalf("%v, want an instruction-fetch page fault at %#x", r, target)
	}
}

func testWXRefused(t *T, l sandbox.Level) {
	_, err := sandbox.New(sandbox.Config{Level: l, Regions: []sandbox.Region{{Name: "rwx", Size: 4096, Perm: sandbox.Read | sandbox.Write | sandbox.Exec}}})
	if err == nil || !strings.Contains(err.Error(), "W^X") {
		t.Fatalf("W+X region: err = %v", err)
	}
	g := levelGuest(t, l, insSyscall)
	defer g.Close()
	if err := g.Protect(textAddr(g), sandbox.Read|sandbox.Write|sandbox.Exec); err == nil {
		t.Fatalf("Protect to W+X succeeded")
	}
}

// testCollision: guests placed over the kernel image or over each other
// are refused with an error naming the range.
func testCollision(t *T, l sandbox.Level) {
	_, err := sandbox.New(sandbox.Config{Level: l, Regions: []sandbox.Region{{Name: "over-kernel", Addr: 0x1000000, Size: 8192, Perm: sandbox.Read}}})
	if err == nil || !strings.Contains(err.Error(), "0x1000000") || !strings.Contains(err.Error(), "collides") {
		t.Fatalf("region over the kernel image: err = %v", err)
	}
	a, err := sandbox.New(sandbox.Config{Level: l, Regions: []sandbox.Region{{Name: "fixed", Addr: 0x400000, Size: 8192, Perm: sandbox.Read}}})
	if err != nil {
		t.Fatalf("guest at 0x400000: %v", err)
	}
	defer a.Close()
	_, err = sandbox.New(sandbox.Config{Level: l, Regions: []sandbox.Region{{Name: "fixed", Addr: 0x401000, Size: 4096, Perm: sandbox.Read}}})
	if err == nil || !strings.Contains(err.Error(), "[0x401000, 0x402000)") {
		t.Fatalf("second guest over the first: err = %v", err)
	}
}

func wantRefused(t *T, text []byte, insn string, offset int) {
	g, err := blobGuest(sandbox.Level2, text, 0)
	if err == nil {
		g.Close()
		t.Fatalf("guest with %s at offset %#x was accepted", insn, offset)
	}
	if !strings.Contains(err.Error(), insn) || !strings.Contains(err.Error(), fmt.Sprintf("%#x", offset)) {
		t.Fatalf("error %q does not name %s at offset %#x", err, insn, offset)
	}
}

func testWRPKRURefused(t *T, _ sandbox.Level) {
	wantRefused(t, code(movEAX(0), []byte{0x31, 0xc9, 0x31, 0xd2, 0x0f, 0x01, 0xef}), "WRPKRU", 9)
}

// testWRPKRUHidden: 0F 01 EF inside another instruction's immediate is
// still reachable by a jump into the middle of it.
func testWRPKRUHidden(t *T, _ sandbox.Level) {
	wantRefused(t, code(insSyscall, movEAX(0x90ef010f)), "WRPKRU", 3)
}

// testWRPKRUAcrossPages: 0F 01 at the end of one page, EF at the start of
// the next.
func testWRPKRUAcrossPages(t *T, _ sandbox.Level) {
	text := make([]byte, 8192)
	for i := range text {
		text[i] = 0x90
	}
	copy(text[4094:], []byte{0x0f, 0x01, 0xef})
	_, err := sandbox.New(sandbox.Config{Level: sandbox.Level2, Regions: []sandbox.Region{{Name: "text", Size: 8192, Perm: sandbox.Read | sandbox.Exec, Data: text}}})
	if err == nil || !strings.Contains(err.Error(), "WRPKRU") || !strings.Contains(err.Error(), "0xffe") {
		t.Fatalf("WRPKRU across the page boundary: err = %v", err)
	}
}

// testWRPKRUAcrossRegions: two executable regions mapped side by side
// whose bytes only form WRPKRU together.
func testWRPKRUAcrossRegions(t *T, _ sandbox.Level) {
	g := levelGuest(t, sandbox.Level2, insSyscall)
	defer g.Close()
	first := make([]byte, 4096)
	copy(first[4094:], []byte{0x0f, 0x01})
	base := uint64(0x600000)
	if _, err := g.Map(sandbox.Region{Name: "a", Addr: base, Size: 4096, Perm: sandbox.Read | sandbox.Exec, Data: first}); err != nil {
		t.Fatalf("first region: %v", err)
	}
	_, err := g.Map(sandbox.Region{Name: "b", Addr: base + 4096, Size: 4096, Perm: sandbox.Read | sandbox.Exec, Data: []byte{0xef}})
	if err == nil || !strings.Contains(err.Error(), "WRPKRU") {
		t.Fatalf("second region completing WRPKRU: err = %v", err)
	}
}

// testXRSTORHarmless: the kernel's XCR0 leaves PKRU out, so the level 2
// scan accepts XRSTOR and XRSTORS (real C libraries carry them): XRSTOR
// of the PKRU component from a zeroed area (PKRU's initial state opens
// every key) restores nothing, and XRSTORS faults at ring 3.
func testXRSTORHarmless(t *T, _ sandbox.Level) {
	if cpu.XCR0&cpu.XCR0PKRU != 0 {
		t.Fatalf("XCR0 %#x enables PKRU", cpu.XCR0)
	}
	g := levelGuest(t, sandbox.Level2, code(movEAX(0x200), []byte{0x31, 0xd2, 0x48, 0x0f, 0xae, 0x2f}, // xrstor64 [rdi]
		insSyscall, []byte{0x48, 0x0f, 0xc7, 0x1f})) // xrstors64 [rdi]
	defer g.Close()
	area, err := g.Map(sandbox.Region{Name: "xsave area", Size: 8192, Perm: sandbox.Read | sandbox.Write})
	t.Require("the XSAVE area", err)
	th := g.Main()
	r := th.Regs()
	r.RDI = area
	t.Require("SetRegs", th.SetRegs(r))
	e, err := th.Run()
	t.Require("Run", err)
	if e.Kind != sandbox.ExitSyscall || e.Syscall.Nr != 0x200 {
		t.Fatalf("after XRSTOR: %v, want system call 0x200", e)
	}
	if th.PKRU() == 0 {
		t.Fatalf("PKRU 0 after XRSTOR: every key open")
	}
	// #GP at CPL 3; #UD where the CPU lacks XSAVES (QEMU TCG).
	if e, err = th.Run(); err != nil || e.Kind != sandbox.ExitFault || (e.Fault.Vector != cpu.VectorGP && e.Fault.Vector != cpu.VectorUD) {
		t.Fatalf("XRSTORS at ring 3: %v %v, want #GP or #UD", e, err)
	}
}

// testProtectRescans: data holding WRPKRU cannot become executable;
// clean data can, and then runs.
func testProtectRescans(t *T, _ sandbox.Level) {
	g := levelGuest(t, sandbox.Level2, insSyscall)
	defer g.Close()
	bad, err := g.Map(sandbox.Region{Name: "bad", Size: 4096, Perm: sandbox.Read | sandbox.Write, Data: []byte{0x0f, 0x01, 0xef}})
	if err != nil {
		t.Fatalf("%v", err)
	}
	if err := g.Protect(bad, sandbox.Read|sandbox.Exec); err == nil || !strings.Contains(err.Error(), "WRPKRU") {
		t.Fatalf("Protect of WRPKRU data to executable: %v", err)
	}
	good, err := g.Map(sandbox.Region{Name: "good", Size: 4096, Perm: sandbox.Read | sandbox.Write, Data: code(movEAX(abi.SysExit), movRDI(5), insSyscall)})
	t.Require("Map", err)
	if err := g.Protect(good, sandbox.Read|sandbox.Exec); err != nil {
		t.Fatalf("Protect of clean code: %v", err)
	}
	regs := g.Main().Regs()
	regs.RIP = good
	t.Require("SetRegs", g.Main().SetRegs(regs))
	if r := serve(t, g); !r.Exited || r.Code != 5 {
		t.Fatalf("code made executable did not run: %v", r)
	}
}

// testHostWriteRescans: the host's own writes into executable memory are
// scanned too.
func testHostWriteRescans(t *T, _ sandbox.Level) {
	g := levelGuest(t, sandbox.Level2, insSyscall)
	defer g.Close()
	if err := g.WriteMemory(textAddr(g)+100, []byte{0x0f, 0x01, 0xef}); err == nil {
		t.Fatalf("host write of WRPKRU into guest code accepted")
	}
	if err := g.WriteMemory(textAddr(g)+100, []byte{0x90, 0x90}); err != nil {
		t.Fatalf("host write of NOPs refused: %v", err)
	}
}

func sharedGuest(t *T, l sandbox.Level, s *sandbox.SharedRegion, writable bool, text []byte) sandbox.Guest {
	g, err := sandbox.New(sandbox.Config{
		Level:   l,
		Regions: []sandbox.Region{{Name: "text", Size: 4096, Perm: sandbox.Read | sandbox.Exec, Data: text}, {Name: "stack", Size: 16384, Perm: sandbox.Read | sandbox.Write}},
		Shared:  []sandbox.Share{{Region: s, Writable: writable}},
	})
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Require("SetRegs", g.Main().SetRegs(sandbox.Regs{RIP: textAddr(g), RSP: stackTop(g)}))
	return g
}

func testSharedRO(t *T, l sandbox.Level) {
	s, err := sandbox.NewSharedRegion("ro", 4096)
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer s.Close()
	copy(s.Bytes(), "shared!!")
	g := sharedGuest(t, l, s, false, code(loadAbs(s.Addr()), storeAbs(s.Addr()+8), exitWithRAX))
	defer g.Close()
	r := serve(t, g)
	// The load works; the store faults: at level 2 with the PK bit (write
	// disable), at level 3 on the read-only page of its own space.
	wantPK := l == sandbox.Level2
	if r.Exited || r.Exit.Fault.PK() != wantPK || r.Exit.Fault.ErrorCode&cpu.PFWrite == 0 || r.Exit.Fault.CR2 != s.Addr()+8 {
		t.Fatalf("%v, want a write fault (PK: %v) at %#x", r, wantPK, s.Addr()+8)
	}
	if s.Bytes()[8] != 0 {
		t.Fatalf("the read-only share was written")
	}
	if g.Main().Regs().RAX != 0x2121646572616873 { // "shared!!"
		t.Fatalf("read %#x from the read-only share", g.Main().Regs().RAX)
	}
}

func testSharedRW(t *T, l sandbox.Level) {
	s, err := sandbox.NewSharedRegion("rw", 4096)
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer s.Close()
	g := sharedGuest(t, l, s, true, code(movRAX(0x6b6f), storeAbs(s.Addr()), movEAX(abi.SysExit), insSyscall))
	defer g.Close()
	if r := serve(t, g); !r.Exited || string(s.Bytes()[:2]) != "ok" {
		t.Fatalf("%v; host sees %q", r, s.Bytes()[:2])
	}
	// While a guest holds the region's key, the region cannot be freed
	// (its key would go to the next owner with this guest still able to
	// open it).
	if err := s.Close(); err == nil {
		t.Fatalf("shared region closed while a guest was given it")
	}
	g.Close()
	if err := s.Close(); err != nil {
		t.Fatalf("closing the shared region after its guest: %v", err)
	}
}

func testPrintPKRU(t *T, _ sandbox.Level) {
	g := levelGuest(t, sandbox.Level2, code(movEAX(abi.SysPKRU), insSyscall, exitWithRAX))
	defer g.Close()
	r := serve(t, g)
	pkru := uint32(r.Code)
	// Key 0 (the kernel's) is access-disabled; exactly one other key is
	// fully open: the guest's own.
	if pkru&1 == 0 {
		t.Fatalf("PKRU %#x leaves key 0 open", pkru)
	}
	open := 0
	for k := 1; k < 16; k++ {
		if pkru>>(2*k)&3 == 0 {
			open++
		}
	}
	if !r.Exited || open != 1 {
		t.Fatalf("%v: PKRU %#x opens %d keys", r, pkru, open)
	}
}

// testKeysExhausted: 15 separated guests take every key; the 16th is
// refused; a key group holds many guests on one key.
func testKeysExhausted(t *T, _ sandbox.Level) {
	if n := sandbox.KeysInUse(); n != 0 {
		t.Fatalf("%d keys in use before the test", n)
	}
	var guests []sandbox.Guest
	defer func() {
		for _, g := range guests {
			g.Close()
		}
	}()
	for i := 0; i < 15; i++ {
		g, err := blobGuest(sandbox.Level2, insSyscall, 0)
		if err != nil {
			t.Fatalf("guest %d: %v", i+1, err)
		}
		guests = append(guests, g)
	}
	before := framesInUse()
	_, err := blobGuest(sandbox.Level2, insSyscall, 0)
	if err == nil || !strings.Contains(err.Error(), "no protection key left") {
		t.Fatalf("16th separated guest: err = %v", err)
	}
	if after := framesInUse(); after != before {
		t.Fatalf("the refused guest left %d frames behind", after-before)
	}
	fmt.Println("level2: 16th guest refused:", err)
	for _, g := range guests {
		g.Close()
	}
	guests = nil
	group := sandbox.NewKeyGroup()
	for i := 0; i < 20; i++ {
		g, err := sandbox.New(sandbox.Config{Level: sandbox.Level2, Group: group, Regions: []sandbox.Region{{Name: "text", Size: 4096, Perm: sandbox.Read | sandbox.Exec}}})
		if err != nil {
			t.Fatalf("grouped guest %d: %v", i+1, err)
		}
		guests = append(guests, g)
	}
	if n := sandbox.KeysInUse(); n != 1 {
		t.Fatalf("20 grouped guests use %d keys", n)
	}
}

// testNoLeak creates and closes 100 level 1 guests and counts every frame
// in use outside the Go runtime's own memory, page tables included (the
// kernel's too): the count must come back to where it was.
func testNoLeak(t *T, l sandbox.Level) {
	before := measureGuestFootprint()
	for i := 0; i < 100; i++ {
		g := levelGuest(t, l, code(movEAX(abi.SysExit), insSyscall))
		serve(t, g)
		g.Close()
	}
	after := measureGuestFootprint()
	fmt.Printf("level1: 100 guests: %v -> %v\n", before, after)
	if !after.sameAs(before) {
		t.Fatalf("guests hold %v after 100 guests, %v before", after, before)
	}
}

// guestFootprint is what guests cost the kernel: every frame in use
// outside the Go runtime's memory, less the kernel stacks of the
// runtime's own threads (it starts more on its own, more so with more
// CPUs) and the page tables of kernel memory (their number depends on
// where allocations fall). threads counts the runtime's threads.
type guestFootprint struct{ frames, threads int }

func measureGuestFootprint() (g guestFootprint) {
	syscall.InKernel(func() {
		var stacks int
		g.threads, stacks = kernel.RuntimeThreads()
		g.frames = kernelFramesInUse() - stacks
	})
	return g
}

// sameAs reports whether guests hold what they held at before.
func (g guestFootprint) sameAs(before guestFootprint) bool {
	return g.frames == before.frames
}

func (g guestFootprint) String() string {
	return fmt.Sprintf("%d frames, %d threads", g.frames, g.threads)
}

// testMemoryExhaustion: guests asking for more memory than the machine
// has get an error once the kernel's reserve is reached; the Go runtime
// keeps allocating, and everything comes back on Close.
func testMemoryExhaustion(t *T, l sandbox.Level) {
	before := framesInUse()
	var guests []sandbox.Guest
	defer func() {
		for _, g := range guests {
			g.Close()
		}
	}()
	var err error
	for i := 0; i < 64 && err == nil; i++ {
		var g sandbox.Guest
		g, err = sandbox.New(sandbox.Config{Level: l, Regions: []sandbox.Region{{Name: "big", Size: 16 << 20, Perm: sandbox.Read | sandbox.Write}}})
		if err == nil {
			guests = append(guests, g)
		}
	}
	if err == nil || !strings.Contains(err.Error(), "out of memory") || len(guests) == 0 {
		t.Fatalf("after %d guests of 16 MiB: err = %v", len(guests), err)
	}
	fmt.Printf("level1: %d guests of 16 MiB fit; the next: %v\n", len(guests), err)
	// The runtime still has memory: 8 MiB of fresh heap, touched.
	b := make([]byte, 8<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	for _, g := range guests {
		g.Close()
	}
	guests = nil
	if after := framesInUse(); after != before {
		t.Fatalf("frames in use: %d before, %d after closing", before, after)
	}
}

func testHealthyAfter(t *T, l sandbox.Level) {
	testChannels(t)
	testABIRoundTrip(t, l)
}
