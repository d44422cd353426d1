package tests

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"beelzebox/cpu"
	"beelzebox/kernel"
	"beelzebox/mm"
	"beelzebox/sandbox"
)

// The level 3 suite: what only separate address spaces and guest threads
// give, and the attacks on them. The suites shared with levels 1 and 2
// (levels.go, elfguests.go, memory_hardening.go) run at level 3 too.
func init() {
	reg := func(name string, fn func(*T)) { Register("level3", name, fn) }
	reg("kernel-memory-unreadable", testL3KernelMemory)
	reg("entry-pages-read-only-to-nobody", testL3EntryPagesWrite)
	reg("any-lower-half-address", testL3AnyAddress)
	reg("same-address-two-guests", testL3SameAddress)
	reg("entry-pages-refused", testL3EntryPagesRefused)
	reg("demand-zero-pages", testL3DemandZero)
	reg("host-copies-checked", testL3HostCopies)
	reg("tlb-invalidated-in-other-space", testL3Invalidation)
	reg("one-goroutine-serves-many", testL3OneServesMany)
	reg("thread-bomb-limited", testL3ThreadBomb)
	reg("spinning-thread-preempted", testL3Preempted)
	reg("interrupt-running-thread", testL3Interrupt)
	reg("close-while-blocked-and-running", testL3CloseBusy)
	reg("100-guests-10-threads-no-leak", testL3NoLeak)
	reg("pcid-per-space", testL3PCID)
}

// Guest system calls of this suite's hosts.
const (
	l3SysAddOne = 1000 // returns RDI+1
	l3SysClone  = 56   // a new thread with the caller's registers, RAX 0
	l3SysExit   = 60
	eagain      = 11
)

// l3Guest makes a level 3 guest from machine code, with a stack.
func l3Guest(t *T, text []byte, cfg sandbox.Config) sandbox.Guest {
	cfg.Level = sandbox.Level3
	cfg.Regions = append([]sandbox.Region{
		{Name: "text", Size: 4096, Perm: sandbox.Read | sandbox.Exec, Data: text},
		{Name: "stack", Size: 16384, Perm: sandbox.Read | sandbox.Write},
	}, cfg.Regions...)
	g, err := sandbox.New(cfg)
	if err != nil {
		t.Fatalf("creating a level 3 guest: %v", err)
	}
	t.Require("SetRegs", g.Main().SetRegs(sandbox.Regs{RIP: textAddr(g), RSP: stackTop(g)}))
	return g
}

// wantPF checks that e is a page fault at addr with error code bits want
// (P, W, U), and that the guest got nothing: RAX still holds sentinel.
func wantPF(t *T, what string, e sandbox.Exit, err error, addr, want, sentinel uint64) {
	if err != nil || e.Kind != sandbox.ExitFault || e.Fault.Vector != cpu.VectorPF || e.Fault.CR2 != addr {
		t.Fatalf("%s at %#x: %v %v, want a page fault there", what, addr, e, err)
	}
	if got := e.Fault.ErrorCode & 7; got != want {
		t.Fatalf("%s at %#x: error code %#x, want %#x", what, addr, e.Fault.ErrorCode, want)
	}
	if rax := e.Thread.Regs().RAX; rax != sentinel {
		t.Fatalf("%s at %#x: RAX %#x after the fault: the load completed", what, addr, rax)
	}
}

var kernelSecret = [8]byte{'k', 'e', 'r', 'n', 'e', 'l', '!', '!'}

// testL3KernelMemory: a guest loads from the kernel's image, Go heap,
// direct map, kernel memory and entry pages. Each load is a page fault
// exit and the guest's RAX keeps its value: nothing was read. Only the
// entry pages are present (supervisor-only); nothing else of the kernel
// is mapped at all.
func testL3KernelMemory(t *T) {
	heap := new([4096]byte)
	copy(heap[:], kernelSecret[:])
	text, data := cpu.EntryPages()
	var stackVar uint64
	targets := []struct {
		what       string
		addr, code uint64
	}{
		{"kernel image (text)", uint64(reflect.ValueOf(kernel.TimerSource).Pointer()), 0x4},
		{"kernel image (data)", uint64(uintptr(unsafe.Pointer(&kernelSecret))), 0x4},
		{"Go heap", uint64(uintptr(unsafe.Pointer(heap))), 0x4},
		{"goroutine stack", uint64(uintptr(unsafe.Pointer(&stackVar))), 0x4},
		{"direct map", mm.PhysBase + 0x100000, 0x4},
		{"kernel memory", mm.StackBase, 0x4},
		{"entry text", uint64(text.Start), 0x5},
		{"entry data", uint64(data.Start), 0x5},
		{"entry data (per-CPU block)", uint64(data.Start) + 0x1000, 0x5},
		{"non-canonical", 0x8000_0000_0000_0000, 0},
	}
	const sentinel = 0x5e5e5e5e5e5e5e5e
	for _, c := range targets {
		g := l3Guest(t, code(movRAX(sentinel), loadAbs(c.addr), exitWithRAX), sandbox.Config{})
		e, err := g.Main().Run()
		if c.code == 0 { // a non-canonical address is a #GP, not a #PF
			if err != nil || e.Kind != sandbox.ExitFault || e.Fault.Vector != cpu.VectorGP || e.Thread.Regs().RAX != sentinel {
				t.Fatalf("%s load: %v %v, want a #GP", c.what, e, err)
			}
		} else {
			wantPF(t, c.what, e, err, c.addr, c.code, sentinel)
		}
		g.Close()
	}
}

// testL3EntryPagesWrite: the entry pages are supervisor pages: a guest
// store to them faults (present, write, user) and changes nothing. The
// word is the IDT's first: the rest of the entry data (the per-CPU block,
// the TSS) changes as threads switch.
func testL3EntryPagesWrite(t *T) {
	addr := uint64(cpu.IDTAddr())
	before := *(*uint64)(unsafe.Pointer(uintptr(addr)))
	g := l3Guest(t, code(movRAX(0x4141414141414141), storeAbs(addr), exitWithRAX), sandbox.Config{})
	defer g.Close()
	e, err := g.Main().Run()
	wantPF(t, "store to the entry data", e, err, addr, 0x7, 0x4141414141414141)
	if after := *(*uint64)(unsafe.Pointer(uintptr(addr))); after != before {
		t.Fatalf("entry data changed: %#x -> %#x", before, after)
	}
}

// testL3AnyAddress: a guest uses addresses the kernel itself uses in its
// own space: 0x400000 (static Linux binaries), the kernel image's 16 MiB
// (outside the entry pages), the Go runtime's windows and its heap at
// 0xc000000000. Its code at 0x400000 writes each and reads it back.
func testL3AnyAddress(t *T) {
	addrs := []uint64{0x1000000, 0x200000000, 0xc000000000, 0x7fff_ffff_e000}
	var text []byte
	for i, a := range addrs {
		text = append(text, code(movRAX(uint64(i+1)<<32|0x1234), storeAbs(a))...)
	}
	sum := code()
	for _, a := range addrs {
		sum = append(sum, code(loadAbs(a), []byte{0x48, 0x01, 0xc3})...) // add rbx, rax
	}
	text = code([]byte{0x31, 0xdb}, text, sum, []byte{0x48, 0x89, 0xdf}, movEAX(l3SysExit), insSyscall) // xor ebx,ebx ... mov rdi, rbx
	g, err := sandbox.New(sandbox.Config{Level: sandbox.Level3, Regions: []sandbox.Region{
		{Name: "text", Addr: 0x400000, Size: 4096, Perm: sandbox.Read | sandbox.Exec, Data: text},
	}})
	t.Require("creating the guest", err)
	defer g.Close()
	for _, a := range addrs {
		if _, err := g.Map(sandbox.Region{Name: fmt.Sprintf("at %#x", a), Addr: a, Size: 4096, Perm: sandbox.Read | sandbox.Write}); err != nil {
			t.Fatalf("mapping %#x: %v", a, err)
		}
	}
	t.Require("SetRegs", g.Main().SetRegs(sandbox.Regs{RIP: 0x400000}))
	e, err := g.Main().Run()
	var want uint64
	for i := range addrs {
		want += uint64(i+1)<<32 | 0x1234
	}
	if err != nil || e.Kind != sandbox.ExitSyscall || e.Syscall.Nr != l3SysExit || e.Syscall.Args[0] != want {
		t.Fatalf("guest at 0x400000: %v %v (arg %#x), want exit(%#x)", e, err, e.Syscall.Args[0], want)
	}
	var b [8]byte
	t.Require("ReadMemory", g.ReadMemory(0xc000000000, b[:]))
	if b[0] != 0x34 || b[1] != 0x12 || b[4] != 3 {
		t.Fatalf("host reads % x at 0xc000000000", b)
	}
	t.Logf("level 3: a guest used 0x400000, %#x", addrs)
}

// testL3SameAddress: two guests at the same addresses, each sees only its
// own memory.
func testL3SameAddress(t *T) {
	mk := func(v uint64) sandbox.Guest {
		g, err := sandbox.New(sandbox.Config{Level: sandbox.Level3, Regions: []sandbox.Region{
			{Name: "text", Addr: 0x400000, Size: 4096, Perm: sandbox.Read | sandbox.Exec, Data: code(loadAbs(0x600000), exitWithRAX)},
			{Name: "data", Addr: 0x600000, Size: 4096, Perm: sandbox.Read, Data: le64(v)},
		}})
		t.Require("creating a guest", err)
		t.Require("SetRegs", g.Main().SetRegs(sandbox.Regs{RIP: 0x400000}))
		return g
	}
	a, b := mk(0xaaaa), mk(0xbbbb)
	defer a.Close()
	defer b.Close()
	for _, c := range []struct {
		g    sandbox.Guest
		want int
	}{{a, 0xaaaa}, {b, 0xbbbb}, {a, 0xaaaa}} {
		if r := serve(t, c.g); !r.Exited || r.Code != c.want {
			t.Fatalf("guest at 0x400000: %v, want exit(%#x)", r, c.want)
		}
		t.Require("SetRegs", c.g.Main().SetRegs(sandbox.Regs{RIP: 0x400000}))
	}
}

// testL3EntryPagesRefused: the entry pages are the addresses a guest
// cannot have.
func testL3EntryPagesRefused(t *T) {
	text, data := cpu.EntryPages()
	g := l3Guest(t, insSyscall, sandbox.Config{})
	defer g.Close()
	for _, a := range []uintptr{text.Start, data.Start, data.End - 4096, text.Start - 4096} {
		_, err := g.Map(sandbox.Region{Name: "over", Addr: uint64(a), Size: 8192, Perm: sandbox.Read})
		if err == nil || !strings.Contains(err.Error(), "entry pages") {
			t.Fatalf("region over %#x: %v, want an error naming the entry pages", a, err)
		}
	}
}

// testL3DemandZero: a large region costs frames only for the pages the
// guest touches; untouched pages read as zero without being backed.
func testL3DemandZero(t *T) {
	const size = 8 << 20
	g := l3Guest(t, insSyscall, sandbox.Config{})
	defer g.Close()
	base, err := g.Map(sandbox.Region{Name: "big", Size: size, Perm: sandbox.Read | sandbox.Write})
	t.Require("Map", err)
	// Touch three pages from the guest: store RAX at base, base+1 MiB and
	// the last page.
	touch := code(movRAX(7), storeAbs(base), storeAbs(base+1<<20), storeAbs(base+size-8), movEAX(l3SysExit), insSyscall)
	t.Require("WriteMemory", g.WriteMemory(textAddr(g), touch))
	before := framesInUse()
	e, err := g.Main().Run()
	if err != nil || e.Kind != sandbox.ExitSyscall || e.Syscall.Nr != l3SysExit {
		t.Fatalf("guest touching its region: %v %v", e, err)
	}
	var b [8]byte
	t.Require("ReadMemory", g.ReadMemory(base+2<<20, b[:]))
	after := framesInUse()
	// 3 pages, plus at most a page table for each 2 MiB span touched and
	// a directory.
	if n := after - before; n < 3 || n > 3+3+1 {
		t.Fatalf("touching 3 pages of %d MiB took %d frames", size>>20, n)
	}
	if b != [8]byte{} {
		t.Fatalf("an untouched page reads % x", b)
	}
	t.Require("ReadMemory", g.ReadMemory(base+1<<20, b[:]))
	if b[0] != 7 {
		t.Fatalf("the host reads % x where the guest stored 7", b)
	}
	t.Logf("level 3: touching 3 pages of an 8 MiB region took %d frames, page tables included", after-before)
}

// testL3HostCopies: host copies to and from addresses outside the guest's
// regions fail, kernel addresses included, and a copy that straddles the
// end of a region writes nothing.
func testL3HostCopies(t *T) {
	g := l3Guest(t, insSyscall, sandbox.Config{})
	defer g.Close()
	top := stackTop(g)
	for _, a := range []uint64{0, 0x400000, mm.PhysBase, mm.StackBase, top, 0xffff_ffff_ffff_fff0, uint64(uintptr(unsafe.Pointer(&kernelSecret)))} {
		var b [16]byte
		if err := g.ReadMemory(a, b[:]); err == nil {
			t.Fatalf("ReadMemory at %#x succeeded", a)
		}
		if err := g.WriteMemory(a, b[:]); err == nil {
			t.Fatalf("WriteMemory at %#x succeeded", a)
		}
	}
	if err := g.WriteMemory(top-8, []byte("0123456789abcdef")); err == nil {
		t.Fatalf("a write straddling the stack's end succeeded")
	}
	var b [8]byte
	t.Require("ReadMemory", g.ReadMemory(top-8, b[:]))
	if b != [8]byte{} {
		t.Fatalf("a refused write left % x", b)
	}
}

// testL3OneServesMany: one goroutine serves every thread of 10 guests of
// 4 threads each through one port; each thread's count comes back right.
func testL3OneServesMany(t *T) {
	port, err := sandbox.NewPort(sandbox.Level3)
	t.Require("NewPort", err)
	defer port.Close()
	var guests []sandbox.Guest
	defer func() {
		for _, g := range guests {
			g.Close()
		}
	}()
	threads := 0
	for i := 0; i < 10; i++ {
		g := l3Guest(t, l3CountText(20), sandbox.Config{Port: port})
		guests = append(guests, g)
		for j := 0; j < 4; j++ {
			th := g.Main()
			if j > 0 {
				th, err = g.NewThread(sandbox.Regs{RIP: textAddr(g), RSP: stackTop(g)})
				t.Require("NewThread", err)
			}
			t.Require("Resume", th.Resume())
			threads++
		}
	}
	calls := 0
	for threads > 0 {
		e, err := port.Next()
		t.Require("Next", err)
		switch {
		case e.Kind == sandbox.ExitSyscall && e.Syscall.Nr == l3SysAddOne:
			calls++
			e.Thread.SetReturn(e.Syscall.Args[0] + 1)
			t.Require("Resume", e.Thread.Resume())
		case e.Kind == sandbox.ExitSyscall && e.Syscall.Nr == l3SysExit:
			if e.Syscall.Args[0] != 20 {
				t.Fatalf("thread %d exits with %d, want 20", e.Thread.ID(), e.Syscall.Args[0])
			}
			t.Require("Exit", e.Thread.Exit())
			threads--
		default:
			t.Fatalf("unexpected exit %v of thread %d", e, e.Thread.ID())
		}
	}
	if calls != 40*20 {
		t.Fatalf("%d calls served, want %d", calls, 40*20)
	}
	t.Logf("level 3: one goroutine served %d calls of 40 threads in 10 guests", calls)
}

// bombText clones until a clone fails, then exits with the error: every
// thread, the clones too (they start after the syscall with RAX 0).
var bombText = code(movEAX(l3SysClone), insSyscall, []byte{0x48, 0x85, 0xc0, 0x78, 0x02, 0xeb, 0xf2, 0x48, 0x89, 0xc7}, movEAX(l3SysExit), insSyscall)

// testL3ThreadBomb: threads that clone themselves stop at the guest's
// thread limit with an error, which they see; the host and kernel stay
// healthy.
func testL3ThreadBomb(t *T) {
	const limit = 16
	port, err := sandbox.NewPort(sandbox.Level3)
	t.Require("NewPort", err)
	defer port.Close()
	g := l3Guest(t, bombText, sandbox.Config{Port: port, MaxThreads: limit})
	defer g.Close()
	t.Require("Resume", g.Main().Resume())
	live, peak, refused := 1, 1, 0
	for live > 0 {
		e, err := port.Next()
		t.Require("Next", err)
		if e.Kind != sandbox.ExitSyscall {
			t.Fatalf("thread %d: %v", e.Thread.ID(), e)
		}
		switch e.Syscall.Nr {
		case l3SysClone:
			r := e.Thread.Regs()
			r.RAX = 0
			child, err := g.NewThread(r)
			if errors.Is(err, sandbox.ErrThreadLimit) {
				refused++
				e.Thread.SetReturn(negErrno(eagain))
			} else {
				t.Require("NewThread", err)
				t.Require("Resume child", child.Resume())
				live++
				peak = max(peak, live)
				e.Thread.SetReturn(uint64(child.ID()))
			}
			t.Require("Resume", e.Thread.Resume())
		case l3SysExit:
			if int64(e.Syscall.Args[0]) != -eagain {
				t.Fatalf("thread exits with %d, want -EAGAIN", int64(e.Syscall.Args[0]))
			}
			t.Require("Exit", e.Thread.Exit())
			live--
		}
	}
	if peak != limit || refused < limit {
		t.Fatalf("peak %d threads (limit %d), %d clones refused", peak, limit, refused)
	}
	if n := len(g.Threads()); n != 0 {
		t.Fatalf("%d threads left", n)
	}
	t.Logf("level 3: thread bomb stopped at %d threads, %d clones refused", peak, refused)
}

// testL3Preempted: a thread that never makes a system call runs with no
// budget (resumed for a port) while a Go goroutine counts and another
// guest makes round trips: both keep progressing, measured over 200 ms.
func testL3Preempted(t *T) {
	port, err := sandbox.NewPort(sandbox.Level3)
	t.Require("NewPort", err)
	defer port.Close()
	spinner := l3Guest(t, insJmpSelf, sandbox.Config{Port: port})
	defer spinner.Close()
	t.Require("Resume", spinner.Main().Resume())
	worker := l3Guest(t, code(movEAX(l3SysAddOne), insSyscall, []byte{0xeb, 0xf7}), sandbox.Config{}) // loop: call; jmp loop
	defer worker.Close()
	var counted atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				counted.Add(1)
			}
		}
	}()
	trips := 0
	start := time.Now()
	for time.Since(start) < 200*time.Millisecond {
		e, err := worker.Main().Run()
		if err != nil || e.Kind != sandbox.ExitSyscall {
			t.Fatalf("worker: %v %v", e, err)
		}
		trips++
	}
	close(stop)
	wg.Wait()
	if spinner.Main().Regs() != (sandbox.Regs{}) {
		t.Fatalf("the spinner stopped")
	}
	if trips < 3 || counted.Load() == 0 {
		t.Fatalf("in 200 ms beside a spinning guest: %d round trips, %d host loop iterations", trips, counted.Load())
	}
	t.Logf("level 3: in 200 ms beside a spinning thread: %d round trips of another guest, %d iterations of a host goroutine", trips, counted.Load())
}

// testL3Interrupt: another goroutine interrupts a thread spinning in Run
// with a 10 s budget; the thread can run on afterwards.
func testL3Interrupt(t *T) {
	g := l3Guest(t, insJmpSelf, sandbox.Config{Budget: 10 * time.Second})
	defer g.Close()
	th := g.Main()
	go func() {
		time.Sleep(20 * time.Millisecond)
		th.Interrupt()
	}()
	start := time.Now()
	e, err := th.Run()
	if err != nil || e.Kind != sandbox.ExitInterrupted || e.Thread != th || time.Since(start) > 2*time.Second {
		t.Fatalf("Run of a spinning thread: %v %v after %v, want interrupted", e, err, time.Since(start))
	}
	th.Interrupt()
	if e, err := th.Run(); err != nil || e.Kind != sandbox.ExitInterrupted {
		t.Fatalf("Run after Interrupt: %v %v", e, err)
	}
}

// testL3CloseBusy: Close of a guest whose threads are blocked in calls no
// one answers, spinning, and waited for by a Run in another goroutine.
func testL3CloseBusy(t *T) {
	before := measureGuestFootprint()
	pcids := mm.PCIDsInUse()
	port, err := sandbox.NewPort(sandbox.Level3)
	t.Require("NewPort", err)
	g := l3Guest(t, code(movEAX(l3SysAddOne), insSyscall), sandbox.Config{Port: port, Budget: 10 * time.Second})
	spinAt, err := g.Map(sandbox.Region{Name: "spin", Size: 4096, Perm: sandbox.Read | sandbox.Exec, Data: insJmpSelf})
	t.Require("Map", err)
	for i := 0; i < 10; i++ {
		rip := textAddr(g)
		if i%2 == 1 {
			rip = spinAt
		}
		th, err := g.NewThread(sandbox.Regs{RIP: rip, RSP: stackTop(g)})
		t.Require("NewThread", err)
		t.Require("Resume", th.Resume())
	}
	inRun := make(chan sandbox.Exit, 1)
	runner, err := g.NewThread(sandbox.Regs{RIP: spinAt})
	t.Require("NewThread", err)
	go func() {
		e, _ := runner.Run()
		inRun <- e
	}()
	time.Sleep(30 * time.Millisecond) // every thread has run: blocked or spinning
	t.Require("Close", g.Close())
	if e := <-inRun; e.Kind != sandbox.ExitThreadExited {
		t.Fatalf("Run during Close: %v, want thread exited", e)
	}
	t.Require("closing the port", port.Close())
	after := measureGuestFootprint()
	if !after.sameAs(before) || mm.PCIDsInUse() != pcids {
		t.Fatalf("after Close: %v (PCIDs %d), before: %v (PCIDs %d)", after, mm.PCIDsInUse(), before, pcids)
	}
}

// testL3NoLeak: 100 guests of 10 threads each, created, run and closed:
// frames (page tables included), kernel threads and PCIDs come back.
func testL3NoLeak(t *T) {
	before := measureGuestFootprint()
	pcids := mm.PCIDsInUse()
	for i := 0; i < 100; i++ {
		g := l3Guest(t, insSyscall, sandbox.Config{})
		for j := 1; j < 10; j++ {
			th, err := g.NewThread(sandbox.Regs{RIP: textAddr(g), RSP: stackTop(g)})
			t.Require("NewThread", err)
			if j%3 == 0 {
				if e, err := th.Run(); err != nil || e.Kind != sandbox.ExitSyscall {
					t.Fatalf("thread %d: %v %v", j, e, err)
				}
			}
		}
		t.Require("Close", g.Close())
	}
	after := measureGuestFootprint()
	t.Logf("level 3: 100 guests of 10 threads: %v -> %v, PCIDs %d -> %d", before, after, pcids, mm.PCIDsInUse())
	if !after.sameAs(before) || mm.PCIDsInUse() != pcids {
		t.Fatalf("after 100 guests of 10 threads: %v, PCIDs %d; before %v, %d", after, mm.PCIDsInUse(), before, pcids)
	}
}

// testL3PCID: where the CPU has PCIDs, every live guest space holds one
// of its own.
func testL3PCID(t *T) {
	if !cpu.CPU.PCID {
		t.Skip("pcid", "(CPUID.1:ECX.PCID) is missing: spaces switch with a CR3 reload that flushes the TLB")
	}
	before := mm.PCIDsInUse()
	loop := code(insSyscall, []byte{0xeb, 0xfc}) // syscall; jmp back
	a := l3Guest(t, loop, sandbox.Config{})
	defer a.Close()
	b := l3Guest(t, loop, sandbox.Config{})
	defer b.Close()
	if n := mm.PCIDsInUse() - before; n != 2 {
		t.Fatalf("two guests hold %d PCIDs", n)
	}
	for _, g := range []sandbox.Guest{a, b, a} {
		if e, err := g.Main().Run(); err != nil || e.Kind != sandbox.ExitSyscall {
			t.Fatalf("%v %v", e, err)
		}
	}
}

// negErrno is -errno as a system call returns it.
func negErrno(errno int64) uint64 { return uint64(-errno) }

// testL3Invalidation: the host changes a guest's mappings while the
// guest's space is not loaded (the host runs in the kernel's), after the
// guest has used them: a protection made stricter and a region unmapped
// take effect at once, with no stale TLB entry left in the guest's PCID
// (INVPCID on Bochs tigerlake; a CR3 reload flushes them where there are
// no PCIDs).
func testL3Invalidation(t *T) {
	const page = 0x600000
	// load [page]; store [page]; syscall; store [page] (after Protect:
	// must fault); syscall; load [page] (after Unmap: must fault).
	text := code(loadAbs(page), storeAbs(page), insSyscall, movRAX(2), storeAbs(page), insSyscall, loadAbs(page), insSyscall)
	g, err := sandbox.New(sandbox.Config{Level: sandbox.Level3, Budget: 10 * time.Second, Regions: []sandbox.Region{
		{Name: "text", Addr: 0x400000, Size: 4096, Perm: sandbox.Read | sandbox.Exec, Data: text},
		{Name: "data", Addr: page, Size: 4096, Perm: sandbox.Read | sandbox.Write, Data: le64(1)},
	}})
	t.Require("creating the guest", err)
	defer g.Close()
	th := g.Main()
	t.Require("SetRegs", th.SetRegs(sandbox.Regs{RIP: 0x400000}))
	if e, err := th.Run(); err != nil || e.Kind != sandbox.ExitSyscall {
		t.Fatalf("first run: %v %v", e, err)
	}
	t.Require("Protect", g.Protect(page, sandbox.Read))
	e, err := th.Run()
	if err != nil || e.Kind != sandbox.ExitFault || e.Fault.Vector != cpu.VectorPF || e.Fault.CR2 != page || e.Fault.ErrorCode&7 != 7 {
		t.Fatalf("store after the page became read-only: %v %v, want a write protection fault", e, err)
	}
	var b [8]byte
	t.Require("ReadMemory", g.ReadMemory(page, b[:]))
	if b[0] != 1 {
		t.Fatalf("the read-only page holds % x: the store went through", b)
	}
	r := th.Regs()
	r.RIP += uint64(len(storeAbs(page)))
	t.Require("SetRegs", th.SetRegs(r)) // skip the store
	if e, err := th.Run(); err != nil || e.Kind != sandbox.ExitSyscall {
		t.Fatalf("after the fault: %v %v", e, err)
	}
	t.Require("Unmap", g.Unmap(page))
	e, err = th.Run()
	if err != nil || e.Kind != sandbox.ExitFault || e.Fault.Vector != cpu.VectorPF || e.Fault.CR2 != page || e.Fault.ErrorCode&1 != 0 {
		t.Fatalf("load after Unmap: %v %v, want a not-present fault", e, err)
	}
}
