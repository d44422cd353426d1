package tests

import (
	"errors"
	"fmt"
	"strings"

	"beelzebox/mm"
	"beelzebox/sandbox"
	"beelzebox/sandbox/process"
	"beelzebox/syscall"
)

// Copy-on-write duplicates of level 3 guests (Guest.Duplicate): each side
// sees its own writes, frames are shared until written and counted
// exactly, and every order of closing returns them all.
func init() {
	reg := func(name string, fn func(*T)) { Register("level3", name, fn) }
	reg("cow-both-sides-write-one-page", testCowBothWrite)
	reg("cow-registers-and-vector-state", testCowState)
	reg("cow-thread-checked", testCowThreadChecked)
	reg("cow-frames-counted", testCowFramesCounted)
	reg("cow-unbacked-stay-unbacked", testCowUnbacked)
	reg("cow-read-only-still-faults", testCowReadOnly)
	reg("cow-protect-writable-still-copies", testCowProtect)
	reg("cow-host-write-breaks-sharing", testCowHostWrite)
	reg("cow-shared-regions-shared", testCowSharedRegion)
	reg("cow-three-generations-close-any-order", testCowGenerations)
	reg("cow-charged-in-full", testCowLimit)
	reg("cow-refused-without-memory-no-leak", testCowNoMemory)
	reg("cow-refused-at-levels-1-and-2", testCowLevels12)
}

// cowData is where the guests of these tests have a 2 MiB data region:
// one page table maps it all.
const cowData = 0x4000_0000

// The guests' text has three entry points, each ending in exit(RAX):
// cowWriter stores RAX in the first word of the 10 pages from RBX, at
// cowStore1 stores it at RBX, at cowLoad1 loads RAX from RBX.
var (
	cowWriter = func() []byte {
		var b []byte
		for i := uint32(0); i < 10; i++ {
			b = append(b, 0x48, 0x89, 0x83) // mov [rbx+disp32], rax
			b = append(b, le32(i*mm.PageSize)...)
		}
		return code(b, exitWithRAX)
	}()
	cowStore1 = uint64(len(cowWriter))
	cowLoad1  = cowStore1 + uint64(len(cowStore1Text))
	cowText   = code(cowWriter, cowStore1Text, cowLoad1Text)
)

var (
	cowStore1Text = code([]byte{0x48, 0x89, 0x03}, exitWithRAX) // mov [rbx], rax
	cowLoad1Text  = code([]byte{0x48, 0x8b, 0x03}, exitWithRAX) // mov rax, [rbx]
)

// cowGuest is a level 3 guest of cowText with a 2 MiB data region at
// cowData and extra regions.
func cowGuest(t *T, cfg sandbox.Config, extra ...sandbox.Region) sandbox.Guest {
	cfg.Regions = append([]sandbox.Region{{Name: "data", Addr: cowData, Size: 2 << 20, Perm: sandbox.Read | sandbox.Write}}, extra...)
	return l3Guest(t, cowText, cfg)
}

// cowRun runs g's Main from entry (an offset in cowText) with RBX and RAX
// and returns the exit, which must be exit(RAX).
func cowRun(t *T, g sandbox.Guest, entry, rbx, rax uint64) uint64 {
	th := g.Main()
	t.Require("SetRegs", th.SetRegs(sandbox.Regs{RIP: textAddr(g) + entry, RSP: stackTop(g), RBX: rbx, RAX: rax}))
	e, err := th.Run()
	if err != nil || e.Kind != sandbox.ExitSyscall || e.Syscall.Nr != l3SysExit {
		t.Fatalf("guest at %#x with RBX %#x: %v %v, want exit", textAddr(g)+entry, rbx, e, err)
	}
	return e.Syscall.Args[0]
}

// cowWrite has g store v in the first word of the 10 pages from addr.
func cowWrite(t *T, g sandbox.Guest, addr, v uint64) { cowRun(t, g, 0, addr, v) }

// cowLoad is what g's code loads from addr (through its page tables).
func cowLoad(t *T, g sandbox.Guest, addr uint64) uint64 { return cowRun(t, g, cowLoad1, addr, 0) }

// hostLoad is what the host reads at addr of g.
func hostLoad(t *T, g sandbox.Guest, addr uint64) uint64 {
	var b [8]byte
	t.Require("ReadMemory", g.ReadMemory(addr, b[:]))
	return le64u(b[:])
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func le64u(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func duplicate(t *T, g sandbox.Guest) sandbox.Guest {
	d, err := g.Duplicate(g.Main())
	t.Require("Duplicate", err)
	return d
}

// grew is how many frames guests took since before, less the stacks of
// kernel threads started meanwhile (see guestFootprint.sameAs).
func grew(before guestFootprint) int {
	after := measureGuestFootprint()
	return after.frames - before.frames
}

// wantLoads checks that g's code loads want[i] from page pages[i] of the
// data region.
func wantLoads(t *T, what string, g sandbox.Guest, pages []int, want func(page int) uint64) {
	for _, p := range pages {
		if v := cowLoad(t, g, cowData+uint64(p)*mm.PageSize); v != want(p) {
			t.Fatalf("%s: page %d of the data region holds %#x, want %#x", what, p, v, want(p))
		}
	}
}

// testCowBothWrite: a page written before the duplicate is written by
// both sides after it; each sees its own value, guest and host alike,
// and the other pages keep the value they had.
func testCowBothWrite(t *T) {
	g := cowGuest(t, sandbox.Config{})
	defer g.Close()
	cowWrite(t, g, cowData, 0x0f0f)
	d := duplicate(t, g)
	defer d.Close()
	cowWrite(t, g, cowData, 0xaaaa)
	if v := cowLoad(t, d, cowData); v != 0x0f0f {
		t.Fatalf("the duplicate sees %#x after the original wrote 0xaaaa, want 0x0f0f", v)
	}
	cowWrite(t, d, cowData, 0xbbbb)
	for _, c := range []struct {
		name string
		g    sandbox.Guest
		want uint64
	}{{"original", g, 0xaaaa}, {"duplicate", d, 0xbbbb}} {
		for p := uint64(0); p < 10; p++ {
			a := cowData + p*mm.PageSize
			if v, h := cowLoad(t, c.g, a), hostLoad(t, c.g, a); v != c.want || h != c.want {
				t.Fatalf("%s: page %d: the guest loads %#x, the host reads %#x, want %#x", c.name, p, v, h, c.want)
			}
		}
		if v := cowLoad(t, c.g, cowData+10*mm.PageSize); v != 0 {
			t.Fatalf("%s: page 10, never written, holds %#x", c.name, v)
		}
	}
}

// testCowState: the duplicate's Main is a stopped copy of the thread at
// its fork system call: the same registers, the same vector registers
// (XMM0), and each side goes on from there with its own result.
func testCowState(t *T) {
	const xmm, r12 = 0x1234_5678_9abc_def0, 0x1111
	const fork = 57
	text := code(movRAX(xmm), []byte{0x66, 0x48, 0x0f, 0x6e, 0xc0}, // movq xmm0, rax
		movR12(r12), movEAX(fork), insSyscall,
		storeAbs(cowData), // the result, each side its own
		[]byte{0x66, 0x48, 0x0f, 0x7e, 0xc0, 0x4c, 0x01, 0xe0}, // movq rax, xmm0; add rax, r12
		exitWithRAX)
	g := l3Guest(t, text, sandbox.Config{Regions: []sandbox.Region{{Name: "data", Addr: cowData, Size: 4096, Perm: sandbox.Read | sandbox.Write}}})
	defer g.Close()
	e, err := g.Main().Run()
	if err != nil || e.Kind != sandbox.ExitSyscall || e.Syscall.Nr != fork {
		t.Fatalf("before the fork: %v %v", e, err)
	}
	d := duplicate(t, g)
	defer d.Close()
	if n := len(d.Threads()); n != 1 || d.Main().ID() != 1 || d.Main().Guest() != d {
		t.Fatalf("the duplicate has %d threads, Main %d", n, d.Main().ID())
	}
	if a, b := g.Main().Regs(), d.Main().Regs(); a != b {
		t.Fatalf("registers: original %+v, duplicate %+v", a, b)
	}
	g.Main().SetReturn(2)
	d.Main().SetReturn(0)
	for _, c := range []struct {
		name string
		g    sandbox.Guest
		ret  uint64
	}{{"duplicate", d, 0}, {"original", g, 2}} {
		e, err := c.g.Main().Run()
		if err != nil || e.Kind != sandbox.ExitSyscall || e.Syscall.Nr != l3SysExit || e.Syscall.Args[0] != xmm+r12 {
			t.Fatalf("%s after the fork: %v %v (%#x), want exit(%#x): XMM0 or R12 lost", c.name, e, err, e.Syscall.Args[0], uint64(xmm+r12))
		}
		if v := hostLoad(t, c.g, cowData); v != c.ret {
			t.Fatalf("%s stored %#x, want its fork result %d", c.name, v, c.ret)
		}
	}
}

// testCowThreadChecked: Duplicate takes a stopped thread of the guest
// itself: not a running one, an exited one, another guest's, or one of a
// closed guest.
func testCowThreadChecked(t *T) {
	port, err := sandbox.NewPort(sandbox.Level3)
	t.Require("NewPort", err)
	defer port.Close()
	g := cowGuest(t, sandbox.Config{Port: port})
	defer g.Close()
	spin, err := g.Map(sandbox.Region{Name: "spin", Size: 4096, Perm: sandbox.Read | sandbox.Exec, Data: insJmpSelf})
	t.Require("Map", err)
	th, err := g.NewThread(sandbox.Regs{RIP: spin})
	t.Require("NewThread", err)
	t.Require("Resume", th.Resume())
	if _, err := g.Duplicate(th); !errors.Is(err, sandbox.ErrRunning) {
		t.Fatalf("Duplicate from a running thread: %v, want ErrRunning", err)
	}
	t.Require("Exit", th.Exit())
	if _, err := g.Duplicate(th); !errors.Is(err, sandbox.ErrExited) {
		t.Fatalf("Duplicate from an exited thread: %v, want ErrExited", err)
	}
	o := cowGuest(t, sandbox.Config{})
	if _, err := g.Duplicate(o.Main()); err == nil || !strings.Contains(err.Error(), "not one of the guest's") {
		t.Fatalf("Duplicate from another guest's thread: %v", err)
	}
	t.Require("Close", o.Close())
	if _, err := o.Duplicate(o.Main()); !errors.Is(err, sandbox.ErrClosed) {
		t.Fatalf("Duplicate of a closed guest: %v, want ErrClosed", err)
	}
}

// testCowFramesCounted: duplicating a guest whose 512 data pages are
// backed costs no data frame (at most the page tables that map them
// more than duplicating one whose pages are not backed); then each
// written page costs one frame, a page written by its last sharer costs
// none, and closing the duplicate gives back every frame it took and
// every page it committed.
func testCowFramesCounted(t *T) {
	dupCost := func(g sandbox.Guest) (sandbox.Guest, int) {
		before := measureGuestFootprint()
		d := duplicate(t, g)
		return d, grew(before) + 16 // the duplicate's thread is no runtime thread
	}
	u := cowGuest(t, sandbox.Config{})
	ud, untouched := dupCost(u)
	t.Require("Close", ud.Close())
	t.Require("Close", u.Close())

	g := cowGuest(t, sandbox.Config{})
	defer g.Close()
	page := make([]byte, 2<<20)
	for i := range page {
		page[i] = byte(i / mm.PageSize)
	}
	t.Require("WriteMemory", g.WriteMemory(cowData, page))
	start, committed := measureGuestFootprint(), process.Committed()
	d, touched := dupCost(g)
	if extra := touched - untouched; extra < 0 || extra > 3 {
		t.Fatalf("duplicating 512 backed pages took %d frames, %d more than with none backed", touched, extra)
	}
	before := measureGuestFootprint()
	cowWrite(t, d, cowData, 0xd0)
	if n := grew(before); n != 10 {
		t.Fatalf("the duplicate writing 10 shared pages took %d frames, want 10", n)
	}
	wantLoads(t, "the original", g, []int{0, 9}, func(p int) uint64 { return uint64(byte(p)) * 0x0101010101010101 })
	cowWrite(t, g, cowData, 0x60)
	if n := grew(before); n != 10 {
		t.Fatalf("the original writing the 10 pages the duplicate copied took %d frames, want none", n-10)
	}
	cowWrite(t, g, cowData+100*mm.PageSize, 0x61)
	if n := grew(before); n != 20 {
		t.Fatalf("the original writing 10 shared pages took %d frames, want 10", n-10)
	}
	wantLoads(t, "the duplicate", d, []int{0, 9, 10, 100, 109, 511}, func(p int) uint64 {
		if p < 10 {
			return 0xd0
		}
		return uint64(byte(p)) * 0x0101010101010101
	})
	t.Require("Close", d.Close())
	if n, c := grew(start), process.Committed(); n != 0 || c != committed {
		t.Fatalf("after closing the duplicate: %d frames more than before it, %d pages committed (%d before)", n, c, committed)
	}
	wantLoads(t, "the original", g, []int{0, 9, 10, 100, 109, 511}, func(p int) uint64 {
		switch {
		case p < 10:
			return 0x60
		case p >= 100 && p < 110:
			return 0x61
		}
		return uint64(byte(p)) * 0x0101010101010101
	})
	t.Logf("level 3: duplicating 512 backed pages took %d frames (%d with none backed); 10 pages written, 10 frames", touched, untouched)
}

// testCowUnbacked: pages the original never backed stay unbacked on both
// sides: reading them costs nothing, writing them backs them in the
// writer alone.
func testCowUnbacked(t *T) {
	const big = 0x8000_0000
	g := cowGuest(t, sandbox.Config{}, sandbox.Region{Name: "big", Addr: big, Size: 8 << 20, Perm: sandbox.Read | sandbox.Write})
	defer g.Close()
	t.Require("WriteMemory", g.WriteMemory(big, le64(0x77)))
	d := duplicate(t, g)
	defer d.Close()
	before := measureGuestFootprint()
	b := make([]byte, 8<<20)
	for _, x := range []sandbox.Guest{g, d} {
		t.Require("ReadMemory", x.ReadMemory(big, b))
		if le64u(b) != 0x77 || !allZero(b[8:]) {
			t.Fatalf("the region reads % x, then not only zeros", b[:8])
		}
	}
	if n := grew(before); n != 0 {
		t.Fatalf("reading the unbacked pages of both guests took %d frames", n)
	}
	cowWrite(t, d, big+mm.PageSize, 0xd1)
	if n := grew(before); n != 10 {
		t.Fatalf("the duplicate writing 10 unbacked pages took %d frames, want 10", n)
	}
	t.Require("ReadMemory", g.ReadMemory(big+mm.PageSize, b[:10*mm.PageSize]))
	if !allZero(b[:10*mm.PageSize]) {
		t.Fatalf("the original sees the duplicate's writes to its unbacked pages")
	}
	cowWrite(t, g, big+mm.PageSize, 0x61)
	if n := grew(before); n != 20 {
		t.Fatalf("the original writing the same 10 unbacked pages took %d frames, want 10", n-10)
	}
	if v := cowLoad(t, d, big+mm.PageSize); v != 0xd1 {
		t.Fatalf("the duplicate loads %#x, want its own 0xd1", v)
	}
}

// testCowReadOnly: a store to a read-only region of either side is still
// a protection fault for the host after the duplication, and stores
// nothing.
func testCowReadOnly(t *T) {
	const ro = 0x5000_0000
	g := cowGuest(t, sandbox.Config{}, sandbox.Region{Name: "ro", Addr: ro, Size: 4096, Perm: sandbox.Read, Data: le64(0x5eed)})
	defer g.Close()
	d := duplicate(t, g)
	defer d.Close()
	for _, x := range []sandbox.Guest{d, g} {
		th := x.Main()
		t.Require("SetRegs", th.SetRegs(sandbox.Regs{RIP: textAddr(x) + cowStore1, RSP: stackTop(x), RBX: ro, RAX: 0xbad}))
		e, err := th.Run()
		wantPF(t, "store to a read-only region", e, err, ro, 7, 0xbad)
	}
	for _, x := range []sandbox.Guest{d, g} {
		if v := cowLoad(t, x, ro); v != 0x5eed {
			t.Fatalf("the read-only page holds %#x, want 0x5eed", v)
		}
	}
}

// testCowProtect: a shared page whose region becomes writable stays
// shared until written: the writer gets a copy, the other side keeps
// the value.
func testCowProtect(t *T) {
	const ro = 0x5000_0000
	g := cowGuest(t, sandbox.Config{}, sandbox.Region{Name: "ro", Addr: ro, Size: 4096, Perm: sandbox.Read, Data: le64(0x5eed)})
	defer g.Close()
	d := duplicate(t, g)
	defer d.Close()
	t.Require("Protect", d.Protect(ro, sandbox.Read|sandbox.Write))
	t.Require("Protect", g.Protect(ro, sandbox.Read|sandbox.Write))
	before := measureGuestFootprint()
	cowRun(t, d, cowStore1, ro, 0xd2)
	if v := cowLoad(t, g, ro); v != 0x5eed {
		t.Fatalf("the original loads %#x after the duplicate stored 0xd2 in its writable copy", v)
	}
	cowRun(t, g, cowStore1, ro, 0x62)
	if a, b := cowLoad(t, d, ro), cowLoad(t, g, ro); a != 0xd2 || b != 0x62 {
		t.Fatalf("after both stored: the duplicate loads %#x, the original %#x", a, b)
	}
	if n := grew(before); n != 1 {
		t.Fatalf("both sides writing the page took %d frames, want 1", n)
	}
}

// testCowHostWrite: the host's writes to a shared page give the page of
// the guest written a frame of its own: data and read-only text alike.
func testCowHostWrite(t *T) {
	g := cowGuest(t, sandbox.Config{})
	defer g.Close()
	cowWrite(t, g, cowData, 0x0f0f)
	d := duplicate(t, g)
	defer d.Close()
	before := measureGuestFootprint()
	t.Require("WriteMemory", d.WriteMemory(cowData, le64(0xd3)))
	if a, b := cowLoad(t, g, cowData), cowLoad(t, d, cowData); a != 0x0f0f || b != 0xd3 {
		t.Fatalf("after the host wrote 0xd3 to the duplicate: the original loads %#x, the duplicate %#x", a, b)
	}
	ud2 := []byte{0x0f, 0x0b}
	t.Require("WriteMemory", d.WriteMemory(textAddr(d), ud2))
	cowRun(t, g, cowStore1, cowData, 0x63) // the original's text is intact
	if n := grew(before); n != 2 {
		t.Fatalf("host writes to 2 shared pages took %d frames, want 2", n)
	}
	th := d.Main()
	t.Require("SetRegs", th.SetRegs(sandbox.Regs{RIP: textAddr(d), RSP: stackTop(d)}))
	if e, err := th.Run(); err != nil || e.Kind != sandbox.ExitFault || e.Fault.Vector != 6 {
		t.Fatalf("the duplicate's patched text: %v %v, want #UD", e, err)
	}
	if a, b := hostLoad(t, g, cowData), hostLoad(t, d, cowData); a != 0x63 || b != 0xd3 {
		t.Fatalf("the original holds %#x, the duplicate %#x", a, b)
	}
}

// testCowSharedRegion: a shared region is shared by the duplicate too,
// not copied: a store by either side is seen by the host and the other
// side, and the region cannot close while the duplicate is open.
func testCowSharedRegion(t *T) {
	s, err := sandbox.NewSharedRegion("cow", 8192)
	t.Require("NewSharedRegion", err)
	defer s.Close()
	g := cowGuest(t, sandbox.Config{Shared: []sandbox.Share{{Region: s, Writable: true}}})
	d := duplicate(t, g)
	defer d.Close()
	before := measureGuestFootprint()
	cowRun(t, d, cowStore1, s.Addr(), 0xd4)
	if v := cowLoad(t, g, s.Addr()); v != 0xd4 || le64u(s.Bytes()) != 0xd4 {
		t.Fatalf("after the duplicate stored 0xd4: the original loads %#x, the host reads %#x", v, le64u(s.Bytes()))
	}
	cowRun(t, g, cowStore1, s.Addr()+4096, 0x64)
	if v := cowLoad(t, d, s.Addr()+4096); v != 0x64 {
		t.Fatalf("the duplicate loads %#x where the original stored 0x64", v)
	}
	if n := grew(before); n != 0 {
		t.Fatalf("stores to the shared region took %d frames", n)
	}
	t.Require("Close", g.Close())
	if err := s.Close(); err == nil {
		t.Fatalf("the shared region closed while the duplicate uses it")
	}
}

// testCowGenerations: a duplicate of a duplicate, each generation writing
// pages of the others before and after, closed in each of the 6 orders:
// every guest sees its own pages until it closes, and afterwards every
// frame (page tables included) and PCID is back.
func testCowGenerations(t *T) {
	orders := [][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	pages := []int{0, 4, 5, 7, 8, 9, 10, 14, 15, 17, 18}
	for _, order := range orders {
		before, committed := measureGuestFootprint(), process.Committed()
		pcids := mm.PCIDsInUse()
		var gs [3]sandbox.Guest
		var model [3][20]uint64
		write := func(i, page int, v uint64) {
			cowWrite(t, gs[i], cowData+uint64(page)*mm.PageSize, v)
			for p := page; p < page+10; p++ {
				model[i][p] = v
			}
		}
		gs[0] = cowGuest(t, sandbox.Config{})
		write(0, 0, 1)
		gs[1], model[1] = duplicate(t, gs[0]), model[0]
		write(1, 5, 2)
		gs[2], model[2] = duplicate(t, gs[1]), model[1]
		write(2, 8, 3)
		write(0, 0, 11)
		write(1, 3, 12)
		for n, c := range order {
			for i, g := range gs {
				if g != nil {
					wantLoads(t, fmt.Sprintf("order %v, before closing %d, generation %d", order, n, i+1), g, pages, func(p int) uint64 { return model[i][p] })
				}
			}
			t.Require("Close", gs[c].Close())
			gs[c] = nil
		}
		if n, c := grew(before), process.Committed(); n != 0 || mm.PCIDsInUse() != pcids || c != committed {
			t.Fatalf("closing 3 generations in the order %v: %d frames, %d PCIDs and %d committed pages more than before", order, n, mm.PCIDsInUse()-pcids, int64(c-committed))
		}
	}
}

// testCowLimit: the duplicate is charged its whole memory, shared or
// not: with a data region of 3 MiB under a 4 MiB limit, neither the
// original nor its duplicate can map 1 MiB more, though the duplicate
// holds no data frame of its own.
func testCowLimit(t *T) {
	g := cowGuest(t, sandbox.Config{MemoryLimit: 4 << 20}, sandbox.Region{Name: "more", Addr: 0x9000_0000, Size: 1 << 20, Perm: sandbox.Read | sandbox.Write})
	defer g.Close()
	t.Require("WriteMemory", g.WriteMemory(cowData, make([]byte, 2<<20)))
	d := duplicate(t, g)
	defer d.Close()
	for _, x := range []sandbox.Guest{g, d} {
		if _, err := x.Map(sandbox.Region{Name: "over", Size: 1 << 20, Perm: sandbox.Read}); err == nil || !strings.Contains(err.Error(), "memory limit") {
			t.Fatalf("a 1 MiB region past the 4 MiB limit: %v, want the limit's error", err)
		}
	}
	if _, err := d.Map(sandbox.Region{Name: "fits", Size: 64 << 10, Perm: sandbox.Read}); err != nil {
		t.Fatalf("64 KiB within the duplicate's limit: %v", err)
	}
}

// testCowNoMemory: a duplicate whose unbacked and shared pages the
// machine cannot commit is refused before it holds anything, and the
// original runs on, writing the pages it shared for a moment.
func testCowNoMemory(t *T) {
	// A region of more than half of memory that fits what is free now:
	// the memory the runtime may give back meanwhile cannot make room
	// for a second one.
	var free, total int
	syscall.InKernel(func() { free, total = mm.Phys.FreeCount(), mm.Phys.Total() })
	const reserve = 16 << 20 // sandbox/process's kernelReserve
	half, avail := uint64(total)*mm.PageSize/2, (uint64(free)-process.Committed())*mm.PageSize-reserve
	if avail < half+8<<20 {
		t.Fatalf("%d MiB free of %d: not enough for a region of more than half of memory", free>>8, total>>8)
	}
	size := (half + (avail-half)/2) &^ (2<<20 - 1)
	g := cowGuest(t, sandbox.Config{MemoryLimit: 1 << 40}, sandbox.Region{Name: "big", Addr: 1 << 40, Size: size, Perm: sandbox.Read | sandbox.Write})
	defer g.Close()
	cowWrite(t, g, cowData, 1)
	cowWrite(t, g, 1<<40, 1)
	before, committed := measureGuestFootprint(), process.Committed()
	pcids := mm.PCIDsInUse()
	if d, err := g.Duplicate(g.Main()); err == nil || !strings.Contains(err.Error(), "out of memory") {
		if d != nil {
			d.Close()
		}
		t.Fatalf("duplicating %d MiB with %d MiB free: %v, want out of memory", size>>20, free>>8, err)
	}
	if n, c := grew(before), process.Committed(); n != 0 || mm.PCIDsInUse() != pcids || c != committed {
		t.Fatalf("the refused duplicate left %d frames, %d PCIDs and %d committed pages", n, mm.PCIDsInUse()-pcids, int64(c-committed))
	}
	cowWrite(t, g, cowData, 2)
	cowWrite(t, g, 1<<40+size-10*mm.PageSize, 3)
	if n := grew(before); n != 10+1 {
		t.Fatalf("the original writing 10 pages it shared and 10 new pages took %d frames, want 11 (10 pages, a page table)", n)
	}
}

// testCowLevels12: guests in the shared address space cannot be
// duplicated.
func testCowLevels12(t *T) {
	for _, l := range []sandbox.Level{sandbox.Level1, sandbox.Level2} {
		if sandbox.Available(l) != nil {
			continue
		}
		g := levelGuest(t, l, insSyscall)
		d, err := g.Duplicate(g.Main())
		if !errors.Is(err, sandbox.ErrNoDuplicate) || d != nil {
			t.Fatalf("Duplicate at %v: %v %v, want ErrNoDuplicate", l, d, err)
		}
		t.Require("Close", g.Close())
	}
}
