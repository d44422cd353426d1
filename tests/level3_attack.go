package tests

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"beelzebox/cpu"
	"beelzebox/mm"
	"beelzebox/sandbox"
)

// Attacks on level 3: the entry window with the guest's page tables
// loaded, every way a guest can raise an exception, impossible register
// state, the entry pages and the top of the lower half, threads raced by
// Close, ports whose guests close under them, Interrupt storms, bad
// NewThread registers, stacks shared within a guest but not across
// guests, and vector state across guests on one CPU. Each ends with the
// kernel healthy (level3/attack-kernel-healthy-after).
func init() {
	reg := func(name string, fn func(*T)) { Register("level3", name, fn) }
	reg("attack-syscall-single-step", testL3SyscallTF)
	reg("attack-exceptions-are-exits", testL3Exceptions)
	reg("attack-non-canonical-rsp", testL3NonCanonicalRSP)
	reg("attack-jump-into-entry-pages", testL3JumpEntry)
	reg("attack-top-of-lower-half", testL3TopOfLowerHalf)
	reg("attack-close-races", testL3CloseRaces)
	reg("attack-port-guests-closed-while-served", testL3PortGuestsClosed)
	reg("attack-interrupt-storm", testL3InterruptStorm)
	reg("attack-new-thread-bad-registers", testL3NewThreadBadRegs)
	reg("attack-thread-stacks", testL3ThreadStacks)
	reg("attack-vector-state-isolated", testL3VectorState)
	reg("attack-far-transfers", testL3FarTransfers)
	reg("attack-kernel-healthy-after", func(t *T) { testHealthyAfter(t, sandbox.Level3) })
}

// testL3SyscallTF: SYSCALL with TF set while the guest's page tables are
// loaded. The single-step trap arrives at the entry's first instruction
// (Bochs), before the switch to the kernel's page tables: the #DB handler
// must work there from the entry pages alone. The guest's FS base points
// at a fake g in its own memory, which the kernel must never use. Repeated,
// with another guest's thread spinning so that switches come between.
func testL3SyscallTF(t *T) {
	port, err := sandbox.NewPort(sandbox.Level3)
	t.Require("NewPort", err)
	defer port.Close()
	spinner := l3Guest(t, insJmpSelf, sandbox.Config{Port: port})
	defer spinner.Close()
	t.Require("Resume", spinner.Main().Resume())
	before := cpu.WindowTraps()
	const rounds = 20
	for i := 0; i < rounds; i++ {
		g := mustGuest(t, sandbox.Level3, tfSyscallCode)
		fake := stackTop(g) - 8192
		poison := make([]byte, 4096)
		for j := range poison {
			poison[j] = 0x41
		}
		t.Require("WriteMemory", g.WriteMemory(fake-2048, poison))
		r := g.Main().Regs()
		r.FSBase = fake
		t.Require("SetRegs", g.Main().SetRegs(r))
		wantTFSyscall(t, g)
		back := make([]byte, len(poison))
		t.Require("ReadMemory", g.ReadMemory(fake-2048, back))
		if string(back) != string(poison) {
			t.Fatalf("the kernel wrote guest memory through the guest's FS base")
		}
		t.Require("Close", g.Close())
	}
	traps := cpu.WindowTraps() - before
	if traps != 0 && traps != rounds {
		t.Fatalf("%d single-step traps in the entry window for %d SYSCALLs with TF: want all or none", traps, rounds)
	}
	// Bochs delivers the trap in the entry window; QEMU TCG does not.
	t.Logf("level 3: %d single-step traps in the SYSCALL entry window with the guest's CR3 loaded", traps)
}

// testL3Exceptions: every way a guest raises an exception is a fault exit
// with the vector, error code and RIP the CPU gives, and the thread runs
// on afterwards.
func testL3Exceptions(t *T) {
	intGP := func(n uint64) uint64 { return n<<3 | 2 } // the IDT entry, IDT bit set
	cases := []struct {
		name        string
		ins         []byte
		vector, err uint64
		trap        bool // RIP is past the instruction
		// orUD: #UD at the instruction is right too (QEMU 7.2 TCG has no
		// INT1).
		orUD bool
	}{
		{"int3", insInt3, cpu.VectorBP, 0, true, false},
		{"int 3", []byte{0xcd, 0x03}, cpu.VectorBP, 0, true, false},
		{"int1", []byte{0xf1}, cpu.VectorDB, 0, true, true},
		{"int 0x80", []byte{0xcd, 0x80}, cpu.VectorGP, intGP(0x80), false, false},
		{"int 14", []byte{0xcd, 0x0e}, cpu.VectorGP, intGP(14), false, false},
		{"int 1", []byte{0xcd, 0x01}, cpu.VectorGP, intGP(1), false, false},
		{"int 2", []byte{0xcd, 0x02}, cpu.VectorGP, intGP(2), false, false},
		{"int 8", []byte{0xcd, 0x08}, cpu.VectorGP, intGP(8), false, false},
		{"int 18", []byte{0xcd, 0x12}, cpu.VectorGP, intGP(18), false, false},
		{"int 0x20", []byte{0xcd, 0x20}, cpu.VectorGP, intGP(0x20), false, false},
		{"int 0xff", []byte{0xcd, 0xff}, cpu.VectorGP, intGP(0xff), false, false},
		{"into", []byte{0xce}, cpu.VectorUD, 0, false, false},
		{"ud2", insUD2, cpu.VectorUD, 0, false, false},
		{"hlt", insHlt, cpu.VectorGP, 0, false, false},
		{"cli", []byte{0xfa}, cpu.VectorGP, 0, false, false},
		{"in al, dx", []byte{0xec}, cpu.VectorGP, 0, false, false},
		{"out 0x80, al", []byte{0xe6, 0x80}, cpu.VectorGP, 0, false, false},
		{"mov cr3, rax", []byte{0x0f, 0x22, 0xd8}, cpu.VectorGP, 0, false, false},
		{"mov rax, cr3", []byte{0x0f, 0x20, 0xd8}, cpu.VectorGP, 0, false, false},
		{"mov dr7, rax", []byte{0x0f, 0x23, 0xf8}, cpu.VectorGP, 0, false, false},
		{"wrmsr", []byte{0x0f, 0x30}, cpu.VectorGP, 0, false, false},
		{"rdmsr", []byte{0x0f, 0x32}, cpu.VectorGP, 0, false, false},
		{"lidt [rsp]", []byte{0x0f, 0x01, 0x1c, 0x24}, cpu.VectorGP, 0, false, false},
		{"invlpg [rsp]", []byte{0x0f, 0x01, 0x3c, 0x24}, cpu.VectorGP, 0, false, false},
		{"swapgs", []byte{0x0f, 0x01, 0xf8}, cpu.VectorGP, 0, false, false},
		{"wbinvd", []byte{0x0f, 0x09}, cpu.VectorGP, 0, false, false},
		{"div by zero", []byte{0x31, 0xc9, 0xf7, 0xf1}, cpu.VectorDE, 0, false, false},
	}
	for _, c := range cases {
		g := l3Guest(t, code(c.ins, movEAX(l3SysExit), insSyscall), sandbox.Config{})
		e, err := g.Main().Run()
		at := textAddr(g)
		if c.name == "div by zero" {
			at += 2 // after the xor
		}
		rip := at
		if c.trap {
			rip += uint64(len(c.ins))
		}
		if c.err&2 != 0 && e.Fault.ErrorCode == (c.err&^7)<<1|2 {
			c.err = e.Fault.ErrorCode // QEMU 7.2 TCG: the gate's offset in the 64-bit IDT, vector×16, in the index field
		}
		if c.orUD && err == nil && e.Kind == sandbox.ExitFault && e.Fault.Vector == cpu.VectorUD && e.Fault.RIP == at {
			rip, c.vector = at, cpu.VectorUD
		}
		if err != nil || e.Kind != sandbox.ExitFault || e.Fault.Vector != c.vector || e.Fault.ErrorCode != c.err || e.Fault.RIP != rip {
			t.Fatalf("%s: %v %v, want vector %d error %#x at %#x", c.name, e, err, c.vector, c.err, rip)
		}
		// The thread runs on past it.
		r := g.Main().Regs()
		r.RIP = textAddr(g) + uint64(len(c.ins))
		t.Require("SetRegs", g.Main().SetRegs(r))
		if e, err := g.Main().Run(); err != nil || e.Kind != sandbox.ExitSyscall || e.Syscall.Nr != l3SysExit {
			t.Fatalf("%s: after the fault: %v %v, want the exit call", c.name, e, err)
		}
		t.Require("Close", g.Close())
	}
	if err := knownGoodRoundTrip(sandbox.Level3); err != nil {
		t.Fatalf("after the exceptions: %v", err)
	}
}

// testL3NonCanonicalRSP: a guest loads a non-canonical RSP (or one in the
// entry data, present but supervisor) and then faults, pushes or calls
// the kernel. The exception frame goes on an IST stack, never the
// guest's; a saved non-canonical RSP is refused at the next entry (#GP,
// not entered) instead of faulting the kernel's IRETQ.
func testL3NonCanonicalRSP(t *T) {
	_, data := cpu.EntryPages()
	for _, rsp := range []uint64{1 << 63, 1 << 47, 0xffff_7fff_ffff_fff8} {
		pushFault := uint64(cpu.VectorSS) // a non-canonical stack address
		if cpu.Canonical(rsp - 8) {
			pushFault = cpu.VectorPF // unmapped
		}
		for _, c := range []struct {
			name   string
			ins    []byte
			kind   sandbox.ExitKind
			vector uint64
		}{
			{"ud2", insUD2, sandbox.ExitFault, cpu.VectorUD},
			{"int3", insInt3, sandbox.ExitFault, cpu.VectorBP},
			{"push", push(regAX), sandbox.ExitFault, pushFault},
			{"syscall", code(movEAX(l3SysAddOne), insSyscall), sandbox.ExitSyscall, 0},
		} {
			g := l3Guest(t, code(movRSP(rsp), c.ins), sandbox.Config{})
			e, err := g.Main().Run()
			if c.vector == cpu.VectorSS && err == nil && e.Fault.Vector == cpu.VectorGP {
				c.vector = cpu.VectorGP // QEMU 7.2 TCG: #GP(0) where the SDM says #SS(0)
			}
			if err != nil || e.Kind != c.kind || c.kind == sandbox.ExitFault && e.Fault.Vector != c.vector {
				t.Fatalf("RSP %#x, %s: %v %v, want %v %d", rsp, c.name, e, err, c.kind, c.vector)
			}
			if got := g.Main().Regs().RSP; got != rsp {
				t.Fatalf("RSP %#x, %s: saved RSP %#x", rsp, c.name, got)
			}
			e, err = g.Main().Run()
			if err != nil || e.Kind != sandbox.ExitFault || e.Fault.Vector != cpu.VectorGP || !e.Fault.NotEntered {
				t.Fatalf("RSP %#x, %s: resuming: %v %v, want #GP, not entered", rsp, c.name, e, err)
			}
			t.Require("Close", g.Close())
		}
	}
	// In the entry data (the IST stacks' pages): present, supervisor.
	for _, rsp := range []uint64{uint64(data.End) - 64, uint64(data.Start) + 0x1000 + 64} {
		g := l3Guest(t, code(movRSP(rsp), push(regAX)), sandbox.Config{})
		e, err := g.Main().Run()
		if err != nil || e.Kind != sandbox.ExitFault || e.Fault.Vector != cpu.VectorPF || e.Fault.CR2 != rsp-8 || e.Fault.ErrorCode&7 != 7 {
			t.Fatalf("push with RSP %#x: %v %v, want a #PF (present, write, user) at %#x", rsp, e, err, rsp-8)
		}
		t.Require("Close", g.Close())
	}
}

// testL3JumpEntry: the entry pages are mapped in the guest's space but
// supervisor-only: a jump or call into them is an instruction-fetch #PF
// with P set, at the target.
func testL3JumpEntry(t *T) {
	text, data := cpu.EntryPages()
	targets := []uint64{uint64(text.Start), uint64(text.Start) + 1, uint64(text.End) - 1, uint64(data.Start), uint64(data.Start) + 0x1000, uint64(data.End) - 16}
	for i := 0; i < 8; i++ {
		targets = append(targets, uint64(text.Start)+uint64(rand.IntN(int(text.End-text.Start))))
	}
	for _, target := range targets {
		for _, jump := range [][]byte{insJmpRAX, {0xff, 0xd0}, {0x50, 0xc3}} { // jmp rax; call rax; push rax; ret
			g := l3Guest(t, code(movRAX(target), jump), sandbox.Config{})
			e, err := g.Main().Run()
			if err != nil || e.Kind != sandbox.ExitFault || e.Fault.Vector != cpu.VectorPF || e.Fault.CR2 != target || e.Fault.RIP != target ||
				e.Fault.ErrorCode&(cpu.PFPresent|cpu.PFUser|cpu.PFFetch) != cpu.PFPresent|cpu.PFUser|cpu.PFFetch {
				t.Fatalf("% x to %#x: %v %v, want an instruction-fetch #PF (present, user) there", jump, target, e, err)
			}
			t.Require("Close", g.Close())
		}
	}
}

// testL3TopOfLowerHalf: the last page below 1<<47 cannot be mapped; code
// in the page below it runs up to its end; a SYSCALL there returns to the
// first byte of the unmapped last page (a fetch #PF there, not a
// non-canonical SYSRET), and an instruction straddling into it faults.
func testL3TopOfLowerHalf(t *T) {
	g := l3Guest(t, insSyscall, sandbox.Config{})
	defer g.Close()
	if _, err := g.Map(sandbox.Region{Name: "last", Addr: cpu.UserTop, Size: 4096, Perm: sandbox.Read}); err == nil {
		t.Fatalf("the last page of the lower half was mapped")
	}
	page := make([]byte, 4096)
	copy(page[4096-2:], insSyscall)                 // syscall as the last two bytes
	copy(page[4096-2-3:], []byte{0x48, 0xff, 0xc0}) // inc rax before it
	lo := uint64(cpu.UserTop - 4096)
	_, err := g.Map(sandbox.Region{Name: "top", Addr: lo, Size: 4096, Perm: sandbox.Read | sandbox.Exec, Data: page})
	t.Require("Map below the last page", err)
	th := g.Main()
	t.Require("SetRegs", th.SetRegs(sandbox.Regs{RIP: lo + 4096 - 5, RSP: stackTop(g)}))
	e, err := th.Run()
	if err != nil || e.Kind != sandbox.ExitSyscall || th.Regs().RIP != cpu.UserTop {
		t.Fatalf("syscall at the end of %#x: %v %v, RIP %#x, want a call returning to %#x", lo, e, err, th.Regs().RIP, uint64(cpu.UserTop))
	}
	e, err = th.Run()
	if err != nil || e.Kind != sandbox.ExitFault || e.Fault.Vector != cpu.VectorPF || e.Fault.CR2 != cpu.UserTop || e.Fault.ErrorCode&(cpu.PFPresent|cpu.PFFetch) != cpu.PFFetch {
		t.Fatalf("running on from the call: %v %v, want a fetch #PF at %#x", e, err, uint64(cpu.UserTop))
	}
	// jmp rel8 as the last byte: its operand is in the last page.
	t.Require("WriteMemory", g.WriteMemory(cpu.UserTop-1, []byte{0xeb}))
	t.Require("SetRegs", th.SetRegs(sandbox.Regs{RIP: cpu.UserTop - 1, RSP: stackTop(g)}))
	e, err = th.Run()
	if err != nil || e.Kind != sandbox.ExitFault || e.Fault.Vector != cpu.VectorPF || e.Fault.CR2 != cpu.UserTop || e.Fault.RIP != cpu.UserTop-1 {
		t.Fatalf("an instruction straddling into the last page: %v %v, want a #PF at %#x, RIP %#x", e, err, uint64(cpu.UserTop), uint64(cpu.UserTop-1))
	}
	for _, target := range []uint64{1<<47 - 2, 1<<47 - 1, cpu.UserTop} {
		t.Require("SetRegs", th.SetRegs(sandbox.Regs{RIP: textAddr(g), RSP: stackTop(g)}))
		t.Require("WriteMemory", g.WriteMemory(textAddr(g), code(movRAX(target), insJmpRAX)))
		e, err := th.Run()
		if err != nil || e.Kind != sandbox.ExitFault || e.Fault.Vector != cpu.VectorPF || e.Fault.CR2 != target || e.Fault.ErrorCode&cpu.PFPresent != 0 {
			t.Fatalf("jump to %#x: %v %v, want a #PF (not present) there", target, e, err)
		}
	}
}

// l3Leaks reports what guests hold beyond before: frames, kernel threads
// and PCIDs.
func l3Leaks(before guestFootprint, pcids int) error {
	if after := measureGuestFootprint(); !after.sameAs(before) || mm.PCIDsInUse() != pcids {
		return fmt.Errorf("guests hold %v and %d PCIDs, %v and %d before", after, mm.PCIDsInUse(), before, pcids)
	}
	return nil
}

// testL3CloseRaces: Close at a random moment of a guest whose threads are
// blocked in an unanswered call, spinning, calling through a port that a
// goroutine serves (in Next), and running inside a Run, while another
// goroutine interrupts them all. Many times: no kernel fault, every
// goroutine ends with an exit or error Close explains, nothing leaks.
func testL3CloseRaces(t *T) {
	before, pcids := measureGuestFootprint(), mm.PCIDsInUse()
	loop := code(movEAX(l3SysAddOne), insSyscall, []byte{0xeb, 0xf7}) // call; jmp back
	for i := 0; i < 150; i++ {
		port, err := sandbox.NewPort(sandbox.Level3)
		t.Require("NewPort", err)
		g := l3Guest(t, loop, sandbox.Config{Port: port, Budget: time.Second})
		spin, err := g.Map(sandbox.Region{Name: "spin", Size: 4096, Perm: sandbox.Read | sandbox.Exec, Data: insJmpSelf})
		t.Require("Map", err)
		block, err := g.NewThread(sandbox.Regs{RIP: textAddr(g), RSP: stackTop(g)})
		t.Require("NewThread", err)
		spinner, err := g.NewThread(sandbox.Regs{RIP: spin})
		t.Require("NewThread", err)
		runner, err := g.NewThread(sandbox.Regs{RIP: spin}) // spins inside Run
		t.Require("NewThread", err)
		var wg sync.WaitGroup
		problems := make(chan string, 8)
		// The served thread (Main) calls through the port, answered by a
		// goroutine in Next; block's call is never answered.
		t.Require("Resume", g.Main().Resume())
		t.Require("Resume", block.Resume())
		t.Require("Resume", spinner.Resume())
		wg.Add(3)
		go func() {
			defer wg.Done()
			for {
				e, err := port.Next()
				if err != nil {
					if err != sandbox.ErrClosed {
						problems <- fmt.Sprintf("Next: %v", err)
					}
					return
				}
				if e.Thread == block {
					continue // left blocked in its call
				}
				if e.Kind == sandbox.ExitSyscall {
					e.Thread.SetReturn(e.Syscall.Args[0] + 1)
				}
				if err := e.Thread.Resume(); err != nil && err != sandbox.ErrExited {
					problems <- fmt.Sprintf("Resume: %v", err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for {
				e, err := runner.Run()
				if err == sandbox.ErrExited || err == nil && e.Kind == sandbox.ExitThreadExited {
					return
				}
				if err != nil || e.Kind != sandbox.ExitInterrupted && e.Kind != sandbox.ExitBudget {
					problems <- fmt.Sprintf("Run: %v %v", e, err)
					return
				}
			}
		}()
		stop := make(chan struct{})
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, th := range []sandbox.Thread{g.Main(), block, spinner, runner} {
					th.Interrupt()
				}
				time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
			}
		}()
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		t.Require("Close", g.Close())
		close(stop)
		t.Require("port Close", port.Close())
		wg.Wait()
		close(problems)
		for p := range problems {
			t.Fatalf("round %d: %s", i, p)
		}
		if n := len(g.Threads()); n != 0 {
			t.Fatalf("round %d: %d threads after Close", i, n)
		}
	}
	if err := l3Leaks(before, pcids); err != nil {
		t.Fatalf("after 150 closes under busy threads: %v", err)
	}
}

// testL3PortGuestsClosed: one goroutine serves 8 guests of 4 threads
// through one port while another closes the guests one by one. No exit of
// a guest comes out of a Next begun after its Close returned, the server
// sees the port close, and nothing leaks.
func testL3PortGuestsClosed(t *T) {
	before, pcids := measureGuestFootprint(), mm.PCIDsInUse()
	port, err := sandbox.NewPort(sandbox.Level3)
	t.Require("NewPort", err)
	loop := code(movEAX(l3SysAddOne), insSyscall, []byte{0xeb, 0xf7})
	var guests []sandbox.Guest
	closed := map[sandbox.Guest]*atomic.Bool{}
	for i := 0; i < 8; i++ {
		g := l3Guest(t, loop, sandbox.Config{Port: port})
		guests = append(guests, g)
		closed[g] = new(atomic.Bool)
		for j := 0; j < 4; j++ {
			th := g.Main()
			if j > 0 {
				th, err = g.NewThread(sandbox.Regs{RIP: textAddr(g), RSP: stackTop(g) - uint64(j)*1024})
				t.Require("NewThread", err)
			}
			t.Require("Resume", th.Resume())
		}
	}
	served := 0
	done := make(chan string, 1)
	go func() {
		for {
			var gone []sandbox.Guest
			for g, c := range closed {
				if c.Load() {
					gone = append(gone, g)
				}
			}
			e, err := port.Next()
			if err != nil {
				if err != sandbox.ErrClosed {
					done <- fmt.Sprintf("Next: %v", err)
					return
				}
				done <- ""
				return
			}
			for _, g := range gone {
				if e.Thread.Guest() == g {
					done <- fmt.Sprintf("%v of thread %d of a guest closed before Next began", e, e.Thread.ID())
					return
				}
			}
			if e.Kind == sandbox.ExitThreadExited {
				// Its guest was closed between the port's wait and
				// Next's look at the thread: the thread is gone, which
				// is what Next says.
				continue
			}
			if e.Kind != sandbox.ExitSyscall || e.Syscall.Nr != l3SysAddOne {
				done <- fmt.Sprintf("unexpected exit %v", e)
				return
			}
			served++
			e.Thread.SetReturn(e.Syscall.Args[0] + 1)
			if err := e.Thread.Resume(); err != nil && err != sandbox.ErrExited {
				done <- fmt.Sprintf("Resume: %v", err)
				return
			}
		}
	}()
	for _, g := range guests {
		time.Sleep(time.Duration(1+rand.IntN(5)) * time.Millisecond)
		t.Require("Close", g.Close())
		closed[g].Store(true)
	}
	time.Sleep(5 * time.Millisecond) // the server waits in Next for guests that are gone
	t.Require("port Close", port.Close())
	if p := <-done; p != "" {
		t.Fatalf("%s", p)
	}
	if served == 0 {
		t.Fatalf("no call served before the closes")
	}
	if err := l3Leaks(before, pcids); err != nil {
		t.Fatalf("after closing 8 served guests: %v", err)
	}
	t.Logf("level 3: %d calls served while 8 guests closed under the port", served)
}

// l3CountText calls l3SysAddOne on its count until the count reaches n,
// then exits with it: xor ebx,ebx; loop: mov eax, 1000; mov rdi, rbx;
// syscall; mov rbx, rax; cmp rbx, n; jb loop; mov rdi, rbx; exit.
func l3CountText(n uint32) []byte {
	body := code(movEAX(l3SysAddOne), []byte{0x48, 0x89, 0xdf}, insSyscall, []byte{0x48, 0x89, 0xc3, 0x48, 0x81, 0xfb}, le32(n))
	return code([]byte{0x31, 0xdb}, body, []byte{0x72, byte(-(len(body) + 2))}, []byte{0x48, 0x89, 0xdf}, movEAX(l3SysExit), insSyscall)
}

// testL3InterruptStorm: another goroutine interrupts a thread without
// pause while it makes 500 calls: each interrupt is an exit that changes
// nothing, and no call is lost or made twice.
func testL3InterruptStorm(t *T) {
	const n = 500
	g := l3Guest(t, l3CountText(n), sandbox.Config{})
	defer g.Close()
	th := g.Main()
	stop := make(chan struct{})
	var storm sync.WaitGroup
	storm.Add(1)
	go func() {
		defer storm.Done()
		for {
			select {
			case <-stop:
				return
			default:
				th.Interrupt()
				time.Sleep(time.Duration(rand.IntN(50)) * time.Microsecond)
			}
		}
	}()
	calls, interrupts := 0, 0
	for {
		e, err := th.Run()
		if err != nil {
			close(stop)
			t.Fatalf("Run: %v", err)
		}
		if e.Kind == sandbox.ExitInterrupted {
			interrupts++
			continue
		}
		if e.Kind != sandbox.ExitSyscall {
			close(stop)
			t.Fatalf("exit %v after %d calls", e, calls)
		}
		if e.Syscall.Nr == l3SysExit {
			close(stop)
			storm.Wait()
			if e.Syscall.Args[0] != n || calls != n {
				t.Fatalf("exit(%d) after %d calls, want exit(%d) after %d", e.Syscall.Args[0], calls, n, n)
			}
			break
		}
		calls++
		th.SetReturn(e.Syscall.Args[0] + 1)
		if calls%50 == 0 {
			// A round trip takes microseconds: give the storm's
			// goroutine the CPU now and then, or it may never run.
			time.Sleep(100 * time.Microsecond)
		}
	}
	if interrupts == 0 {
		t.Fatalf("no interrupt in %d calls", calls)
	}
	t.Logf("level 3: %d calls, %d interrupted exits", calls, interrupts)
}

// testL3NewThreadBadRegs: NewThread with a RIP, RSP or segment base the
// kernel could not load is an error and creates nothing; a canonical RSP
// in the kernel's half is the guest's business (a #PF when used).
func testL3NewThreadBadRegs(t *T) {
	g := l3Guest(t, insSyscall, sandbox.Config{})
	defer g.Close()
	ok := sandbox.Regs{RIP: textAddr(g), RSP: stackTop(g)}
	with := func(f func(*sandbox.Regs)) sandbox.Regs { r := ok; f(&r); return r }
	frames := framesInUse()
	for _, c := range []struct {
		name string
		r    sandbox.Regs
	}{
		{"RIP 1<<47", with(func(r *sandbox.Regs) { r.RIP = 1 << 47 })},
		{"RIP in the kernel's half", with(func(r *sandbox.Regs) { r.RIP = 0xffff_8000_0000_0000 })},
		{"RIP non-canonical", with(func(r *sandbox.Regs) { r.RIP = 0x8000_0000_0000_1000 })},
		{"RSP non-canonical", with(func(r *sandbox.Regs) { r.RSP = 1 << 63 })},
		{"RSP 1<<47", with(func(r *sandbox.Regs) { r.RSP = 1 << 47 })},
		{"FS base non-canonical", with(func(r *sandbox.Regs) { r.FSBase = 0x8000_0000_0000_0000 })},
		{"FS base in the kernel's half", with(func(r *sandbox.Regs) { r.FSBase = 0xffff_ffff_ffff_f000 })},
		{"GS base 1<<47", with(func(r *sandbox.Regs) { r.GSBase = 1 << 47 })},
	} {
		th, err := g.NewThread(c.r)
		if err == nil || th != nil {
			t.Fatalf("NewThread with %s: %v, %v; want an error", c.name, th, err)
		}
		if n := len(g.Threads()); n != 1 {
			t.Fatalf("NewThread with %s left %d threads", c.name, n)
		}
		if err := g.Main().SetRegs(c.r); err == nil {
			t.Fatalf("SetRegs with %s accepted", c.name)
		}
	}
	if now := framesInUse(); now != frames {
		t.Fatalf("refused threads took %d frames", now-frames)
	}
	th, err := g.NewThread(with(func(r *sandbox.Regs) { r.RSP = 0xffff_ffff_ffff_fff0; r.RIP = textAddr(g) + 2 }))
	t.Require("NewThread with a kernel-half RSP", err)
	t.Require("WriteMemory", g.WriteMemory(textAddr(g)+2, push(regAX)))
	e, err := th.Run()
	if err != nil || e.Kind != sandbox.ExitFault || e.Fault.Vector != cpu.VectorPF || e.Fault.CR2 != 0xffff_ffff_ffff_ffe8 {
		t.Fatalf("push with RSP in the kernel's half: %v %v, want a #PF at 0xffffffffffffffe8", e, err)
	}
}

// testL3ThreadStacks: a thread may write another thread's stack in the
// same guest (one address space); a thread of another guest writing the
// same address writes its own memory, and where it has none, faults.
func testL3ThreadStacks(t *T) {
	const mark = 0x0123_4567_89ab_cdef
	stack2 := sandbox.Region{Name: "stack2", Addr: 0x7000_0000, Size: 4096, Perm: sandbox.Read | sandbox.Write}
	slot := stack2.Addr + 4096 - 8
	writer := code(movRAX(mark), storeAbs(slot), movEAX(l3SysExit), insSyscall)
	g := l3Guest(t, writer, sandbox.Config{Regions: []sandbox.Region{stack2}})
	defer g.Close()
	reader, err := g.Map(sandbox.Region{Name: "reader", Size: 4096, Perm: sandbox.Read | sandbox.Exec, Data: code([]byte{0x58}, exitWithRAX)}) // pop rax
	t.Require("Map", err)
	second, err := g.NewThread(sandbox.Regs{RIP: reader, RSP: slot})
	t.Require("NewThread", err)
	if e, err := g.Main().Run(); err != nil || e.Kind != sandbox.ExitSyscall || e.Syscall.Nr != l3SysExit {
		t.Fatalf("writer: %v %v", e, err)
	}
	other := l3Guest(t, code(movRAX(0x6666), storeAbs(slot), movEAX(l3SysExit), insSyscall), sandbox.Config{Regions: []sandbox.Region{stack2}})
	defer other.Close()
	if e, err := other.Main().Run(); err != nil || e.Kind != sandbox.ExitSyscall {
		t.Fatalf("the other guest's writer: %v %v", e, err)
	}
	stranger := l3Guest(t, writer, sandbox.Config{})
	defer stranger.Close()
	if e, err := stranger.Main().Run(); err != nil || e.Kind != sandbox.ExitFault || e.Fault.Vector != cpu.VectorPF || e.Fault.CR2 != slot {
		t.Fatalf("a guest without the region writing %#x: %v %v, want a #PF there", slot, e, err)
	}
	e, err := second.Run()
	if err != nil || e.Kind != sandbox.ExitSyscall || e.Syscall.Args[0] != mark {
		t.Fatalf("the second thread read %#x from its stack (%v %v), want %#x, which its sibling wrote", e.Syscall.Args[0], e, err, uint64(mark))
	}
	var b [8]byte
	t.Require("ReadMemory", other.ReadMemory(slot, b[:]))
	if b != [8]byte{0x66, 0x66} {
		t.Fatalf("the other guest reads % x at %#x, want its own 66 66", b, slot)
	}
}

// Calls of the vector-state guests.
const (
	l3SysVecTick = 1001 // every 256 rounds
	l3SysVecBad  = 1002 // a register or MXCSR changed
	l3SysVecDone = 1003
)

// vecText loads every vector register (YMM with AVX, else XMM) and MXCSR
// from the pattern at RBX, then, R13 times, stores them at R12 and
// compares the two with REPE CMPSB; a difference calls l3SysVecBad, every
// 256th round calls l3SysVecTick, the end l3SysVecDone.
func vecText(avx bool) (text []byte, size int) {
	width := 16
	if avx {
		width = 32
	}
	size = 16*width + 4 // registers, MXCSR
	ld := func(reg, base byte, disp int, store bool) []byte {
		op, modrm := byte(0x6f), 0x80|(reg&7)<<3|base
		if store {
			op = 0x7f
		}
		if avx { // vmovdqu ymm, [base+disp32] (VEX.256.F3.0F 6F/7F)
			vex := byte(0x7e)
			if reg < 8 {
				vex |= 0x80
			}
			return code([]byte{0xc5, vex, op, modrm}, le32(uint32(disp)))
		}
		pre := []byte{0xf3} // movdqu xmm, [base+disp32]
		if reg >= 8 {
			pre = append(pre, 0x44)
		}
		return code(pre, []byte{0x0f, op, modrm}, le32(uint32(disp)))
	}
	const rbx, rdi = 3, 7
	var load, store []byte
	for r := byte(0); r < 16; r++ {
		load = append(load, ld(r, rbx, int(r)*width, false)...)
		store = append(store, ld(r, rdi, int(r)*width, true)...)
	}
	load = code(load, []byte{0x0f, 0xae, 0x93}, le32(uint32(16*width)))   // ldmxcsr [rbx+disp32]
	store = code(store, []byte{0x0f, 0xae, 0x9f}, le32(uint32(16*width))) // stmxcsr [rdi+disp32]
	bad := code(movEAX(l3SysVecBad), insSyscall, insUD2)
	done := code(movEAX(l3SysVecDone), insSyscall, insUD2)
	tick := code(movEAX(l3SysVecTick), insSyscall)
	// loop: mov rdi, r12; <store>; mov rsi, rbx; mov rdi, r12; mov ecx, size; repe cmpsb; jne bad;
	// dec r13; jz done; test r13d, 255; jnz loop; <tick>; jmp loop
	check := code([]byte{0x4c, 0x89, 0xe7}, store, []byte{0x48, 0x89, 0xde, 0x4c, 0x89, 0xe7, 0xb9}, le32(uint32(size)), []byte{0xf3, 0xa6})
	tail := code([]byte{0x49, 0xff, 0xcd}, []byte{0x0f, 0x84}, le32(uint32(7+2+len(tick)+5+len(bad))), // dec r13; jz done
		[]byte{0x41, 0xf7, 0xc5}, le32(255), []byte{0x75, byte(len(tick))}, tick) // test r13d, 255; jnz over the tick to the jmp
	loopLen := len(check) + 6 + len(tail) + 5
	body := code(check, []byte{0x0f, 0x85}, le32(uint32(len(tail)+5)), tail, []byte{0xe9}, le32(uint32(-loopLen)))
	return code(load, body, bad, done), size
}

// testL3VectorState: two guests' threads load different vector registers
// and MXCSRs with exceptions unmasked, then check them in a loop for a
// long time, preempted by the timer and switched through the port at
// their calls, on one CPU; meanwhile the host goroutine divides by zero,
// which must not trap. Nothing of one thread's vector state may reach the
// other or the host.
func testL3VectorState(t *T) {
	avx := cpu.CPU.AVX && cpu.XCR0&cpu.XCR0AVX != 0
	text, size := vecText(avx)
	port, err := sandbox.NewPort(sandbox.Level3)
	t.Require("NewPort", err)
	defer port.Close()
	const rounds = 20000
	mxcsrs := []uint32{0x1f80&^(1<<9|1<<7) | 1<<13, 0x1f80&^(1<<10) | 2<<13 | 1<<15}
	var guests []sandbox.Guest
	for i, mx := range mxcsrs {
		pattern := make([]byte, size)
		for j := range pattern {
			pattern[j] = byte(j*(2*i+3) + 17*i)
		}
		copy(pattern[size-4:], le32(mx))
		g := l3Guest(t, text, sandbox.Config{Port: port, Regions: []sandbox.Region{
			{Name: "pattern", Addr: 0x20_0000_0000, Size: 4096, Perm: sandbox.Read, Data: pattern},
			{Name: "scratch", Addr: 0x20_0001_0000, Size: 4096, Perm: sandbox.Read | sandbox.Write},
		}})
		defer g.Close()
		guests = append(guests, g)
		t.Require("SetRegs", g.Main().SetRegs(sandbox.Regs{RIP: textAddr(g), RSP: stackTop(g), RBX: 0x20_0000_0000, R12: 0x20_0001_0000, R13: rounds}))
		t.Require("Resume", g.Main().Resume())
	}
	stop := make(chan struct{})
	hostTrouble := make(chan string, 1)
	go func() {
		zero := float64(len(t.why))
		for {
			select {
			case <-stop:
				hostTrouble <- ""
				return
			default:
			}
			if q := 1 / zero; !math.IsInf(q, 1) {
				hostTrouble <- fmt.Sprintf("1/0 = %v in the host", q)
				return
			}
			if m := cpu.MXCSR() &^ 0x3f; m != 0x1f80 {
				hostTrouble <- fmt.Sprintf("host MXCSR %#x", m)
				return
			}
		}
	}()
	ticks, left := 0, len(guests)
	for left > 0 {
		e, err := port.Next()
		t.Require("Next", err)
		if e.Kind != sandbox.ExitSyscall {
			close(stop)
			t.Fatalf("guest exit %v", e)
		}
		switch e.Syscall.Nr {
		case l3SysVecTick:
			ticks++
			t.Require("Resume", e.Thread.Resume())
		case l3SysVecDone:
			left--
		default:
			close(stop)
			t.Fatalf("a guest saw its vector state change (call %d, thread of guest at RIP %#x)", e.Syscall.Nr, e.Thread.Regs().RIP)
		}
	}
	close(stop)
	if p := <-hostTrouble; p != "" {
		t.Fatalf("%s", p)
	}
	t.Logf("level 3: 2 guests checked their vector state (AVX %v) %d times each, %d calls", avx, rounds, ticks)
}

// testL3FarTransfers: far CALL, JMP and RET to the user code selector
// (allowed: the guest runs on at the target, here an INT3) and to the
// kernel's (#GP with the selector). Each Run must come back within a
// second: the guest makes its exit at once. (Fuzz seed 1, case 72 at
// level 3, QEMU: the supervisor-mode write fault of the far call's push
// was retried forever by the backend, and Run never returned.)
func testL3FarTransfers(t *T) {
	for _, c := range []struct {
		name   string
		sel    uint64
		op     []byte
		vector uint64
	}{
		{"call far [rsp] to user code", cpu.SelUserCode, []byte{0x48, 0xff, 0x1c, 0x24}, cpu.VectorBP},
		{"jmp far [rsp] to user code", cpu.SelUserCode, []byte{0x48, 0xff, 0x2c, 0x24}, cpu.VectorBP},
		{"retfq to user code", cpu.SelUserCode, []byte{0x48, 0xcb}, cpu.VectorBP},
		{"call far [rsp] to kernel code", cpu.SelKernelCode, []byte{0x48, 0xff, 0x1c, 0x24}, cpu.VectorGP},
	} {
		g := l3Guest(t, nil, sandbox.Config{Budget: 10 * time.Millisecond})
		target := textAddr(g) + 0x100
		body := code(pushImm(c.sel), pushImm(target), c.op)
		page := make([]byte, 4096)
		copy(page, body)
		page[0x100] = insInt3[0]
		t.Require("WriteMemory", g.WriteMemory(textAddr(g), page))
		done := make(chan sandbox.Exit, 1)
		go func() {
			e, _ := g.Main().Run()
			done <- e
		}()
		select {
		case e := <-done:
			// QEMU 7.2 TCG makes a far transfer's stack accesses (the
			// call's push of the return address, RETF's pops) as
			// supervisor accesses, which SMAP refuses on a user page: a
			// #PF (present, not user) where a CPU goes on.
			qemuStack := e.Fault.Vector == cpu.VectorPF && e.Fault.ErrorCode&(cpu.PFPresent|cpu.PFUser) == cpu.PFPresent
			if e.Kind != sandbox.ExitFault || e.Fault.Vector != c.vector && !qemuStack {
				t.Fatalf("%s: %v, want vector %d", c.name, e, c.vector)
			}
		case <-time.After(time.Second):
			g.Main().Interrupt()
			e := <-done
			t.Fatalf("%s: Run did not return in 1 s (a 10 ms budget); interrupted: %v at RIP %#x", c.name, e, g.Main().Regs().RIP)
		}
		t.Require("Close", g.Close())
	}
}
