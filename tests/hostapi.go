package tests

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"beelzebox/cpu"
	"beelzebox/sandbox"
	"beelzebox/sandbox/abi"
)

// The levels suite: the host API's contract as the level backends keep
// it: which levels this kernel and CPU offer, a thread's identity in its
// exits, what a one-thread level refuses, and Interrupt.
func init() {
	Register("levels", "levels-reported", testLevelsReported)
	Register("levels", "level1-interrupt-spinning-guest", testInterruptSpinning)
	Register("levels", "level1-regs-while-running", testRegsWhileRunning)
	for _, l := range ringLevels {
		reg := func(name string, fn func(*T, sandbox.Level)) {
			Register("levels", fmt.Sprintf("level%d-%s", l, name), func(t *T) {
				if err := sandbox.Available(l); err != nil {
					t.Skip("pku", err.Error())
				}
				fn(t, l)
			})
		}
		reg("interrupt-before-run", testInterruptBeforeRun)
		reg("exit-names-its-thread", testExitThread)
		if l != sandbox.Level3 { // level 3 guests have many threads (suite level3)
			reg("threads", testRingThreads)
		}
	}
	Register("levels", "level2-abi-pkru-through-interface", testABIPKRU)
}

// testLevelsReported: Levels describes the four levels in order; level 1
// runs on any CPU, level 2 exactly where the CPU has protection keys and
// is not exposed to Meltdown, and a level that no backend registered says
// so and refuses guests.
func testLevelsReported(t *T) {
	infos := sandbox.Levels()
	if len(infos) != 4 {
		t.Fatalf("Levels() lists %d levels, want 4", len(infos))
	}
	for i, info := range infos {
		if info.Level != sandbox.Level(i+1) {
			t.Fatalf("Levels()[%d] is %v", i, info.Level)
		}
		if info.Requires == "" {
			t.Errorf("%v requires nothing, by its report", info.Level)
		}
		if (info.Err == nil) != (sandbox.Available(info.Level) == nil) {
			t.Errorf("%v: Levels says %v, Available says %v", info.Level, info.Err, sandbox.Available(info.Level))
		}
	}
	if infos[0].Err != nil || infos[0].Requires != "ring 3 (any x86-64)" {
		t.Errorf("level 1: %q, %v; want available on any x86-64", infos[0].Requires, infos[0].Err)
	}
	pkuLevel := cpu.CPU.PKU && !cpu.CPU.Exposed(cpu.Meltdown)
	if (infos[1].Err == nil) != pkuLevel || !strings.Contains(infos[1].Requires, "PKU") {
		t.Errorf("level 2 on a CPU with PKU=%v, Meltdown-exposed=%v: %q, %v", cpu.CPU.PKU, cpu.CPU.Exposed(cpu.Meltdown), infos[1].Requires, infos[1].Err)
	}
	for _, info := range infos[2:] {
		if info.Requires != "not built yet" {
			continue // registered: its own suite tests it
		}
		if info.Err == nil || !strings.Contains(info.Err.Error(), "not implemented") {
			t.Errorf("%v has no backend, yet reports %v", info.Level, info.Err)
		}
		if _, err := sandbox.New(sandbox.Config{Level: info.Level}); err == nil {
			t.Errorf("%v has no backend, yet New made a guest", info.Level)
		}
	}
	for _, info := range infos {
		t.Logf("levels: %v [%s]: %s", info.Level, info.Requires, availability(info.Err))
	}
}

func availability(err error) string {
	if err != nil {
		return "unavailable: " + err.Error()
	}
	return "available"
}

// spinUntilR13 counts in R12 until R13 is set, then makes system call
// 1000: a guest that runs until the host, through its registers, lets it
// go on.
var spinUntilR13 = code(
	[]byte{0x49, 0xff, 0xc4}, // inc r12
	[]byte{0x4d, 0x85, 0xed}, // test r13, r13
	[]byte{0x74, 0xf8},       // jz back to the inc
	movEAX(1000), insSyscall,
)

// runInterrupted runs th in this goroutine while another goroutine
// interrupts it after a while, and returns the exit and how long Run took.
func runInterrupted(t *T, th sandbox.Thread) (sandbox.Exit, time.Duration) {
	go func() {
		time.Sleep(20 * time.Millisecond)
		th.Interrupt()
	}()
	start := time.Now()
	e, err := th.Run()
	t.Require("Run", err)
	return e, time.Since(start)
}

// testInterruptSpinning: a level 1 guest spinning with a 10 s budget is
// interrupted from another goroutine: its Run returns ExitInterrupted
// long before the budget, with the guest's registers as it left them, and
// the guest runs on from there.
func testInterruptSpinning(t *T) {
	g, err := blobGuest(sandbox.Level1, spinUntilR13, 10*time.Second)
	t.Require("creating the guest", err)
	defer g.Close()
	th := g.Main()
	e, took := runInterrupted(t, th)
	if e.Kind != sandbox.ExitInterrupted || took > 2*time.Second {
		t.Fatalf("Run returned %v after %v, want interrupted within 2 s (budget 10 s)", e, took)
	}
	r := th.Regs()
	if r.R12 == 0 {
		t.Fatalf("the guest did not run before the interrupt (R12 = 0)")
	}
	counted := r.R12
	r.R13 = 1
	t.Require("SetRegs", th.SetRegs(r))
	e, err = th.Run()
	if err != nil || e.Kind != sandbox.ExitSyscall || e.Syscall.Nr != 1000 {
		t.Fatalf("after the interrupt: %v %v, want system call 1000", e, err)
	}
	if th.Regs().R12 < counted {
		t.Fatalf("R12 went from %d to %d: the guest did not run on where it stopped", counted, th.Regs().R12)
	}
}

// testRegsWhileRunning: while another goroutine runs the thread, Regs is
// the zero Regs, SetRegs and Close get ErrRunning; once the Run ends
// (Interrupt) they work.
func testRegsWhileRunning(t *T) {
	g, err := blobGuest(sandbox.Level1, insJmpSelf, 10*time.Second)
	t.Require("creating the guest", err)
	defer g.Close()
	th := g.Main()
	before := th.Regs()
	exits := make(chan sandbox.Exit, 1)
	go func() {
		e, _ := th.Run()
		exits <- e
	}()
	deadline := time.Now().Add(2 * time.Second)
	for th.SetRegs(before) != sandbox.ErrRunning {
		if time.Now().After(deadline) {
			t.Fatalf("SetRegs never saw the thread running")
		}
		time.Sleep(time.Millisecond)
	}
	if r := th.Regs(); r != (sandbox.Regs{}) {
		t.Errorf("Regs of a running thread: %+v, want the zero Regs", r)
	}
	if err := g.Close(); err != sandbox.ErrRunning {
		t.Errorf("Close of a guest whose thread runs: %v, want ErrRunning", err)
	}
	th.Interrupt()
	if e := <-exits; e.Kind != sandbox.ExitInterrupted {
		t.Fatalf("the Run ended with %v, want interrupted", e)
	}
	if r := th.Regs(); r.RIP != before.RIP {
		t.Fatalf("Regs after the Run: RIP %#x, want %#x (the jmp-self)", r.RIP, before.RIP)
	}
}

// testInterruptBeforeRun: an Interrupt while no Run is in progress makes
// the next Run return ExitInterrupted without entering the guest (whose
// first instruction is a system call), and only that one Run.
func testInterruptBeforeRun(t *T, l sandbox.Level) {
	g := levelGuest(t, l, code(movEAX(1000), insSyscall))
	defer g.Close()
	th := g.Main()
	rip := th.Regs().RIP
	th.Interrupt()
	e, err := th.Run()
	if err != nil || e.Kind != sandbox.ExitInterrupted {
		t.Fatalf("Run after Interrupt: %v %v, want interrupted", e, err)
	}
	if r := th.Regs(); r.RIP != rip {
		t.Fatalf("the interrupted Run entered the guest: RIP %#x, was %#x", r.RIP, rip)
	}
	e, err = th.Run()
	if err != nil || e.Kind != sandbox.ExitSyscall || e.Syscall.Nr != 1000 {
		t.Fatalf("the Run after it: %v %v, want system call 1000", e, err)
	}
}

// testExitThread: every kind of exit names the guest's one thread, which
// is Main, belongs to the guest, is number 1 and is all Threads lists.
func testExitThread(t *T, l sandbox.Level) {
	// 200 ms: the runs before the last must reach their exits within the
	// budget, which is wall-clock time on an emulator's descheduled vCPU.
	g, err := blobGuest(l, code(movEAX(1000), insSyscall, insUD2), 200*time.Millisecond)
	t.Require("creating the guest", err)
	defer g.Close()
	th := g.Main()
	if th.Guest() != g || th.ID() != 1 {
		t.Fatalf("Main: guest %v, ID %d; want its guest and 1", th.Guest(), th.ID())
	}
	if ts := g.Threads(); len(ts) != 1 || ts[0] != th {
		t.Fatalf("Threads() = %v, want [Main()]", ts)
	}
	check := func(want sandbox.ExitKind) {
		e, err := th.Run()
		t.Require("Run", err)
		if e.Kind != want || e.Thread != th {
			t.Fatalf("exit %v of thread %v, want %v of Main()", e, e.Thread, want)
		}
	}
	check(sandbox.ExitSyscall)
	check(sandbox.ExitFault)
	th.Interrupt()
	check(sandbox.ExitInterrupted)
	// A jmp-self where the ud2 was, which faulted with RIP at it.
	t.Require("writing a loop", g.WriteMemory(th.Regs().RIP, insJmpSelf))
	check(sandbox.ExitBudget)
}

// testRingThreads: a level 1 or 2 guest has as many threads as its limit
// allows, each run by the goroutine in its Run, with registers of its
// own, side by side in two goroutines; Exit ends one (it cannot run
// again, the others run on); Resume gives ErrNoPort and the level has no
// ports.
func testRingThreads(t *T, l sandbox.Level) {
	// Each thread returns RBX+1000 as its call number.
	g, err := sandbox.New(sandbox.Config{
		Level:      l,
		MaxThreads: 3,
		Regions: []sandbox.Region{
			{Name: "text", Size: 4096, Perm: sandbox.Read | sandbox.Exec, Data: code(movEAX(1000), []byte{0x48, 0x01, 0xd8}, insSyscall, insJmpSelf)}, // add rax, rbx
		},
	})
	t.Require("creating the guest", err)
	defer g.Close()
	main := g.Main()
	r := main.Regs()
	r.RIP, r.RBX = textAddr(g), 1
	t.Require("main's registers", main.SetRegs(r))
	var extra []sandbox.Thread
	for i := 2; i <= 3; i++ {
		r.RBX = uint64(i)
		th, err := g.NewThread(r)
		t.Require("NewThread", err)
		if th.ID() != i {
			t.Errorf("thread %d has ID %d", i, th.ID())
		}
		extra = append(extra, th)
	}
	if th, err := g.NewThread(r); th != nil || !errors.Is(err, sandbox.ErrThreadLimit) {
		t.Errorf("a fourth thread past MaxThreads 3: %v, %v; want ErrThreadLimit", th, err)
	}
	if n := len(g.Threads()); n != 3 {
		t.Errorf("Threads lists %d, want 3", n)
	}
	results := make(chan string, 3)
	for _, th := range append([]sandbox.Thread{main}, extra...) {
		go func(th sandbox.Thread) {
			e, err := th.Run()
			switch {
			case err != nil:
				results <- fmt.Sprintf("thread %d: Run: %v", th.ID(), err)
			case e.Kind != sandbox.ExitSyscall || e.Syscall.Nr != uint64(1000+th.ID()) || e.Thread != th:
				results <- fmt.Sprintf("thread %d: %v (thread %v), want syscall %d", th.ID(), e, e.Thread, 1000+th.ID())
			default:
				results <- ""
			}
		}(th)
	}
	for range 3 {
		if msg := <-results; msg != "" {
			t.Errorf("%s", msg)
		}
	}
	t.Require("Exit of thread 2", extra[0].Exit())
	if _, err := extra[0].Run(); !errors.Is(err, sandbox.ErrClosed) {
		t.Errorf("Run of an exited thread: %v, want ErrClosed", err)
	}
	if n := len(g.Threads()); n != 2 {
		t.Errorf("Threads lists %d after an Exit, want 2", n)
	}
	if _, err := g.NewThread(r); err != nil {
		t.Errorf("a thread in the place of the exited one: %v", err)
	}
	if err := main.Resume(); !errors.Is(err, sandbox.ErrNoPort) {
		t.Errorf("Resume: %v, want ErrNoPort", err)
	}
	if p, err := sandbox.NewPort(l); p != nil || err == nil {
		t.Errorf("NewPort(%v): %v, %v; want an error", l, p, err)
	}
}

// testABIPKRU: abi.Host at level 2 answers the pkru call with the PKRU
// the guest runs with (what RDPKRU reads in the guest), which it reads
// through the Thread interface, and the thread keeps it after the exit.
func testABIPKRU(t *T) {
	if err := sandbox.Available(sandbox.Level2); err != nil {
		t.Skip("pku", err.Error())
	}
	g := levelGuest(t, sandbox.Level2, code(
		[]byte{0x31, 0xc9},       // xor ecx, ecx
		[]byte{0x0f, 0x01, 0xee}, // rdpkru
		[]byte{0x49, 0x89, 0xc4}, // mov r12, rax
		movEAX(abi.SysPKRU), insSyscall,
		exitWithRAX,
	))
	defer g.Close()
	h := &abi.Host{Guest: g, Out: os.Stdout}
	r, err := h.Serve()
	t.Require("serving", err)
	seen := uint32(g.Main().Regs().R12)
	if !r.Exited || uint32(r.Code) != seen || seen == 0 {
		t.Fatalf("%v: the host answered PKRU %#x, the guest read %#x with RDPKRU", r, uint32(r.Code), seen)
	}
	if p := g.Main().PKRU(); p != seen {
		t.Fatalf("Thread.PKRU() = %#x after the exit, the guest ran with %#x", p, seen)
	}
}
