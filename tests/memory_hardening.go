package tests

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"beelzebox/cpu"
	"beelzebox/kernel"
	"beelzebox/mm"
	"beelzebox/sandbox"
	"beelzebox/sandbox/abi"
	"beelzebox/syscall"
)

// Memory ownership, resource exhaustion and memory hygiene (issue 6,
// deliverables 1, 4, 5 and 6): each test reproduces a finding of the
// audit against the kernel as it was and checks that the kernel now
// refuses cleanly or copes.
func init() {
	for _, l := range ringLevels {
		reg := levelRegistrar(l)
		if l != sandbox.Level3 { // placement in the address space levels 1 and 2 share
			reg("region-in-runtime-window-refused", testRuntimeWindowRefused)
			reg("region-over-kernel-refused", testKernelRangesRefused)
			reg("other-guest-slot-refused", testOtherSlotRefused)
			reg("guard-page-between-guests", testGuardBetweenGuests)
			reg("elf-segment-in-runtime-refused", testELFSegmentInRuntime)
		}
		reg("elf-far-apart-segments", testELFFarSegments)
		reg("elf-over-limit-refused", testELFOverLimit)
		reg("guest-mmaps-exhausted-cleanly", testGuestMmapsExhausted)
		reg("locked-threads-per-guest", testLockedThreads)
		reg("no-leak-every-frame", testNoLeakEveryFrame)
		reg("shared-region-kernel-view", testSharedKernelView)
		if l == sandbox.Level2 {
			reg("exec-map-over-limit-refused", testExecMapOverLimit)
			reg("exec-map-no-heap-copy", testExecMapNoHeapCopy)
		}
	}
	Register("runtime", "direct-map-ram-only", testDirectMapRAMOnly)
}

// wantErr fails unless err is an error that mentions every one of words.
func wantErr(t *T, what string, err error, words ...string) {
	if err == nil {
		t.Fatalf("%s: accepted, want an error naming %q", what, words)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("%s: error %q does not name %q", what, err, w)
		}
	}
}

// newRegion creates a guest with one region and returns the error.
func newRegion(l sandbox.Level, r sandbox.Region) error {
	g, err := sandbox.New(sandbox.Config{Level: l, Regions: []sandbox.Region{r}})
	if err == nil {
		g.Close()
	}
	return err
}

// testRuntimeWindowRefused: a region at an explicit address where the Go
// runtime places its unhinted mappings (4-64 GiB) or its heap arenas
// (above 512 GiB) is refused with the range and its owner named. Before
// the owner record the runtime later mapped its own memory over such a
// region.
func testRuntimeWindowRefused(t *T, l sandbox.Level) {
	for _, addr := range []uint64{8 << 30, mm.RuntimeLo, mm.GuestWindowLo - 4096, mm.GuestWindowHi, 0xc000000000} {
		err := newRegion(l, sandbox.Region{Name: "in-runtime", Addr: addr, Size: 8192, Perm: sandbox.Read | sandbox.Write})
		wantErr(t, fmt.Sprintf("region at %#x", addr), err, fmt.Sprintf("%#x", addr), "Go runtime")
	}
}

// testKernelRangesRefused: regions over the kernel image or the device
// registers are refused naming the owner.
func testKernelRangesRefused(t *T, l sandbox.Level) {
	err := newRegion(l, sandbox.Region{Name: "over-kernel", Addr: 0x1000000, Size: 8192, Perm: sandbox.Read})
	wantErr(t, "region over the kernel image", err, "0x1000000", "kernel image")
	err = newRegion(l, sandbox.Region{Name: "over-mmio", Addr: 0xfee00000, Size: 4096, Perm: sandbox.Read})
	wantErr(t, "region over the local APIC", err, "0xfee00000", "kernel")
	err = newRegion(l, sandbox.Region{Name: "straddles", Addr: 0xff0000, Size: 0x20000, Perm: sandbox.Read})
	wantErr(t, "region reaching into the kernel image", err, "kernel image")
}

// testOtherSlotRefused: a region at an explicit address inside another
// guest's slot of the guest window is refused, even where the other
// guest has nothing mapped yet.
func testOtherSlotRefused(t *T, l sandbox.Level) {
	a := levelGuest(t, l, insSyscall)
	defer a.Close()
	slot := textAddr(a) &^ (1<<30 - 1)
	err := newRegion(l, sandbox.Region{Name: "intruder", Addr: slot + 512<<20, Size: 4096, Perm: sandbox.Read})
	wantErr(t, "region in another guest's slot", err, fmt.Sprintf("%#x", slot+512<<20), "slot", "guest")
	// The guest itself may use the rest of its slot.
	if _, err := a.Map(sandbox.Region{Name: "own", Addr: slot + 512<<20, Size: 4096, Perm: sandbox.Read}); err != nil {
		t.Fatalf("guest refused a region in its own slot: %v", err)
	}
}

// testGuardBetweenGuests: regions of different guests never touch, so no
// instruction spans two guests: a region right after another guest's is
// refused naming the neighbour; one page further is accepted.
func testGuardBetweenGuests(t *T, l sandbox.Level) {
	a, err := sandbox.New(sandbox.Config{Level: l, Regions: []sandbox.Region{{Name: "a-text", Addr: 0x400000, Size: 4096, Perm: sandbox.Read | sandbox.Exec, Data: insSyscall}}})
	if err != nil {
		t.Fatalf("guest at 0x400000: %v", err)
	}
	defer a.Close()
	for _, addr := range []uint64{0x401000, 0x3ff000} {
		err = newRegion(l, sandbox.Region{Name: "b-text", Addr: addr, Size: 4096, Perm: sandbox.Read | sandbox.Exec, Data: insSyscall})
		wantErr(t, fmt.Sprintf("region touching another guest's at %#x", addr), err, "a-text", "guard")
	}
	if err := newRegion(l, sandbox.Region{Name: "b-text", Addr: 0x402000, Size: 4096, Perm: sandbox.Read | sandbox.Exec, Data: insSyscall}); err != nil {
		t.Fatalf("region one guard page away refused: %v", err)
	}
	// Shared regions are kept apart from guests: they hold a slot.
	s, err := sandbox.NewSharedRegion("neighbour", 4096)
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer s.Close()
	b := levelGuest(t, l, insSyscall)
	defer b.Close()
	_, err = b.Map(sandbox.Region{Name: "b-touch", Addr: s.Addr() + 4096, Size: 4096, Perm: sandbox.Read})
	wantErr(t, "region right after a shared region", err, "shared region", "neighbour")
}

// elfFile builds a static ET_EXEC (or ET_DYN) x86-64 ELF: the entry code
// exit(42) in a segment at text, and a zero-filled writable segment of
// bssSize bytes at bss.
func elfFile(pie bool, text, bss, bssSize uint64) []byte {
	exit42 := code(movEAX(abi.SysExit), []byte{0xbf, 42, 0, 0, 0}, insSyscall) // mov edi, 42
	f := make([]byte, 0x1000+len(exit42))
	copy(f[0x1000:], exit42)
	le := binary.LittleEndian
	copy(f, "\x7fELF\x02\x01\x01")
	typ := uint16(2)
	if pie {
		typ = 3
	}
	le.PutUint16(f[16:], typ)
	le.PutUint16(f[18:], 62) // EM_X86_64
	le.PutUint32(f[20:], 1)
	le.PutUint64(f[24:], text)
	le.PutUint64(f[32:], 64) // e_phoff
	le.PutUint16(f[52:], 64)
	le.PutUint16(f[54:], 56)
	le.PutUint16(f[56:], 2)
	phdr := func(i int, flags uint32, off, vaddr, filesz, memsz uint64) {
		p := f[64+56*i:]
		le.PutUint32(p[0:], 1) // PT_LOAD
		le.PutUint32(p[4:], flags)
		le.PutUint64(p[8:], off)
		le.PutUint64(p[16:], vaddr)
		le.PutUint64(p[24:], vaddr)
		le.PutUint64(p[32:], filesz)
		le.PutUint64(p[40:], memsz)
		le.PutUint64(p[48:], 4096)
	}
	phdr(0, 5, 0x1000, text, uint64(len(exit42)), uint64(len(exit42))) // R+X
	phdr(1, 6, 0, bss, 0, bssSize)                                     // R+W
	return f
}

// runELF loads file and serves it; it returns the load error, or fails
// the test unless the guest exits with 42.
func runELF(t *T, l sandbox.Level, file []byte, opt sandbox.ELFOptions) error {
	g, err := sandbox.NewELF(l, file, opt)
	if err != nil {
		return err
	}
	defer g.Close()
	if r := serve(t, g); !r.Exited || r.Code != 42 {
		t.Fatalf("ELF guest: %v, want exit(42)", r)
	}
	return nil
}

// testELFSegmentInRuntime: an ELF segment linked into the runtime's
// window is refused like a region.
func testELFSegmentInRuntime(t *T, l sandbox.Level) {
	err := runELF(t, l, elfFile(false, 0x400000, 16<<30, 4096), sandbox.ELFOptions{})
	wantErr(t, "ELF segment at 16 GiB", err, "0x400000000", "Go runtime")
}

// testELFFarSegments: an 8 KiB ELF whose two segments are far apart
// loads segment by segment; the loader used to allocate their whole span
// (here 100 GiB, or 900 MiB for the static-pie) and run out of memory.
func testELFFarSegments(t *T, l sandbox.Level) {
	before := heapBacked()
	if err := runELF(t, l, elfFile(false, 0x400000, mm.GuestWindowLo+100<<30, 4096), sandbox.ELFOptions{}); err != nil {
		t.Fatalf("fixed ELF with segments 100 GiB apart: %v", err)
	}
	if err := runELF(t, l, elfFile(true, 0x1000, 900<<20, 4096), sandbox.ELFOptions{}); err != nil {
		t.Fatalf("static-pie with segments 900 MiB apart: %v", err)
	}
	if grown := heapBacked() - before; grown > 8<<20 {
		t.Fatalf("loading two 2-page ELF guests grew the Go heap by %d KiB", grown>>10)
	}
}

// testELFOverLimit: an ELF whose segments need more than the guest's
// memory limit (a 1 GiB segment 200 GiB away from the other) is refused
// before anything is allocated; the loader used to allocate the span.
func testELFOverLimit(t *T, l sandbox.Level) {
	before := framesInUse()
	err := runELF(t, l, elfFile(false, 0x400000, mm.GuestWindowLo+200<<30, 1<<30), sandbox.ELFOptions{MemoryLimit: 1 << 20})
	wantErr(t, "ELF with a 1 GiB segment under a 1 MiB limit", err, "memory limit")
	if after := framesInUse(); after != before {
		t.Fatalf("frames in use: %d before, %d after the refused ELF", before, after)
	}
}

// testGuestMmapsExhausted: a guest maps 4 KiB pages through the default
// ABI until it is refused (at most 2,000 tries). It gets -ENOMEM, the
// runtime's range table is untouched, and the Go runtime still grows.
// It used to fill the kernel's 1024-entry range table after 993 mmaps,
// and the runtime's next heap growth was fatal.
func testGuestMmapsExhausted(t *T, l sandbox.Level) {
	loop := code(
		[]byte{0x31, 0xdb},                      // xor ebx, ebx
		movEAX(abi.SysMmap), []byte{0x31, 0xff}, // mmap(0, 4096, PROT_READ)
		[]byte{0xbe, 0, 0x10, 0, 0}, []byte{0xba, 1, 0, 0, 0}, insSyscall,
		[]byte{0x48, 0x85, 0xc0, 0x78, 0x0a}, // test rax, rax; js done
		[]byte{0xff, 0xc3},                   // inc ebx
		[]byte{0x81, 0xfb, 0xd0, 0x07, 0, 0}, // cmp ebx, 2000
		[]byte{0x72, 0xde},                   // jb loop
		[]byte{0x49, 0x89, 0xc4},             // done: mov r12, rax
		[]byte{0x89, 0xdf},                   // mov edi, ebx
		movEAX(abi.SysExit), insSyscall)
	var tableBefore int
	syscall.InKernel(func() { tableBefore = len(mm.Runtime.Ranges()) })
	g := levelGuest(t, l, loop)
	defer g.Close()
	r := serve(t, g)
	if !r.Exited {
		t.Fatalf("guest: %v", r)
	}
	last := int64(g.Main().Regs().R12)
	fmt.Printf("%v: %d guest mmaps succeeded, then %d\n", l, r.Code, last)
	if r.Code >= 2000 || last != -abi.ENOMEM {
		t.Fatalf("%d mmaps, last result %d: want -ENOMEM before 2000", r.Code, last)
	}
	var tableAfter int
	syscall.InKernel(func() { tableAfter = len(mm.Runtime.Ranges()) })
	if tableAfter > tableBefore+32 {
		t.Fatalf("the runtime's range table grew from %d to %d entries during guest mmaps", tableBefore, tableAfter)
	}
	runtime.GC()
	b := make([]byte, 16<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
}

// testLockedThreads: a host that locks one OS thread per guest, 120
// guests at once: each goroutine locks its thread and waits until all
// are locked (so 120 kernel threads exist together) before it runs its
// guest. The kernel's 64-slot thread table used to make clone fail at 65
// threads, which the Go runtime cannot survive.
func testLockedThreads(t *T, l sandbox.Level) {
	const n = 120
	var group *sandbox.KeyGroup
	if l == sandbox.Level2 {
		group = sandbox.NewKeyGroup()
	}
	var locked, wg sync.WaitGroup
	locked.Add(n)
	wg.Add(n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			locked.Done()
			locked.Wait()
			g, err := sandbox.New(sandbox.Config{Level: l, Group: group, Regions: []sandbox.Region{
				{Name: "text", Size: 4096, Perm: sandbox.Read | sandbox.Exec, Data: code([]byte{0xbf, 42, 0, 0, 0}, movEAX(abi.SysExit), insSyscall)}}})
			if err != nil {
				errs <- err
				return
			}
			defer g.Close()
			g.Main().SetRegs(sandbox.Regs{RIP: textAddr(g)})
			if r, err := (&abi.Host{Guest: g}).Serve(); err != nil || !r.Exited || r.Code != 42 {
				errs <- fmt.Errorf("guest: %v %v", r, err)
			}
		}()
	}
	locked.Wait()
	var threads int
	syscall.InKernel(func() { threads = kernel.CountThreads() })
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("%v", err)
	}
	fmt.Printf("%v: %d guests on locked threads, %d kernel threads at the peak\n", l, n, threads)
	if threads <= n {
		t.Fatalf("%d kernel threads with %d locked goroutines", threads, n)
	}
}

// framesInUse counts every frame in use except the Go runtime's own: its
// demand-paged memory and the page tables of its address ranges. Guest
// memory, guest page tables, saved-state pages, kernel stacks and the
// kernel's own page tables are all counted.
func framesInUse() (n int) {
	syscall.InKernel(func() { n = kernelFramesInUse() })
	return n
}

// kernelFramesInUse is framesInUse in handler context.
func kernelFramesInUse() int {
	kernel.ReapDead()
	runtimeTables := mm.Kernel.TablesIn(mm.RuntimeLo, mm.GuestWindowLo) + mm.Kernel.TablesIn(mm.GuestWindowHi, cpu.UserTop)
	return mm.Phys.Total() - mm.Phys.FreeCount() - mm.Runtime.Backed - runtimeTables - mm.KernelMemoryTables()
}

// testNoLeakEveryFrame creates and closes 1,000 guests (a blob guest, a
// region mapped and unmapped, a shared region) and counts every frame,
// page tables included: the count comes back exactly. Kernel threads the
// Go runtime starts meanwhile take 16 frames of stack each; a run where
// the thread count changed is measured again.
func testNoLeakEveryFrame(t *T, l sandbox.Level) {
	round := func(n int) {
		for i := 0; i < n; i++ {
			s, err := sandbox.NewSharedRegion("leak-check", 8192)
			if err != nil {
				t.Fatalf("%v", err)
			}
			g, err := blobGuest(l, code(movEAX(abi.SysExit), insSyscall), 0)
			if err != nil {
				t.Fatalf("%v", err)
			}
			serve(t, g)
			a, err := g.Map(sandbox.Region{Name: "extra", Size: 3 << 20, Perm: sandbox.Read | sandbox.Write})
			if err != nil {
				t.Fatalf("%v", err)
			}
			if err := g.Unmap(a); err != nil {
				t.Fatalf("%v", err)
			}
			g.Close()
			if err := s.Close(); err != nil {
				t.Fatalf("%v", err)
			}
		}
	}
	threads := func() (n int) {
		syscall.InKernel(func() { n = kernel.CountThreads() })
		return n
	}
	round(20)
	var f0, f1, n0, n1 int
	for try := 0; try < 3; try++ {
		f0, n0 = framesInUse(), threads()
		round(1000)
		f1, n1 = framesInUse(), threads()
		if n0 == n1 {
			break
		}
	}
	fmt.Printf("%v: 1000 guests: frames in use %d -> %d (kernel threads %d -> %d)\n", l, f0, f1, n0, n1)
	if f1 != f0 || n1 != n0 {
		t.Fatalf("frames in use: %d before, %d after 1000 guests (threads %d -> %d)", f0, f1, n0, n1)
	}
}

// testSharedKernelView: the host reaches a shared region through a
// kernel (supervisor) view of its frames, never through the user address
// guests use, so the kernel can run with SMAP; the guest sees what the
// host writes.
func testSharedKernelView(t *T, l sandbox.Level) {
	s, err := sandbox.NewSharedRegion("view", 4096)
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer s.Close()
	b := s.Bytes()
	if va := uintptr(unsafe.Pointer(&b[0])); va < mm.PhysBase {
		t.Fatalf("SharedRegion.Bytes is at %#x, a user address (region at %#x)", va, s.Addr())
	}
	copy(b, "\x2a")
	g, err := sandbox.New(sandbox.Config{Level: l, Shared: []sandbox.Share{{Region: s}}, Regions: []sandbox.Region{
		{Name: "text", Size: 4096, Perm: sandbox.Read | sandbox.Exec, Data: code(loadAbs(s.Addr()), exitWithRAX)}}})
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer g.Close()
	g.Main().SetRegs(sandbox.Regs{RIP: textAddr(g)})
	if r := serve(t, g); !r.Exited || r.Code != 0x2a {
		t.Fatalf("guest read %v through the shared region, want exit(42)", r)
	}
}

// heapBacked is the memory backing the Go runtime's heap and stacks.
func heapBacked() (n int) {
	syscall.InKernel(func() { n = mm.Runtime.Backed * mm.PageSize })
	return n
}

// testExecMapOverLimit: a 60 MiB executable region on a 16 MiB limit is
// refused with the limit named, before anything is allocated.
func testExecMapOverLimit(t *T, l sandbox.Level) {
	g, err := sandbox.New(sandbox.Config{Level: l, MemoryLimit: 16 << 20})
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer g.Close()
	before, heap := framesInUse(), heapBacked()
	_, err = g.Map(sandbox.Region{Name: "big-code", Size: 60 << 20, Perm: sandbox.Read | sandbox.Exec})
	wantErr(t, "60 MiB executable region on a 16 MiB limit", err, "memory limit")
	if framesInUse() != before || heapBacked()-heap > 4<<20 {
		t.Fatalf("the refused Map allocated memory")
	}
}

// testExecMapNoHeapCopy: a 32 MiB executable region under the limit is
// mapped and scanned where it lies, in bounded chunks, or refused for
// want of memory on a small machine: either way the Go heap does not
// grow by its size (it used to grow by twice the size, which for 60 MiB
// on a 96 MiB machine was fatal; 32 MiB keeps the scan short under
// Bochs). A WRPKRU at the end of a region is still found.
func testExecMapNoHeapCopy(t *T, l sandbox.Level) {
	g, err := sandbox.New(sandbox.Config{Level: l})
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer g.Close()
	runtime.GC()
	heap := heapBacked()
	const size = 32 << 20
	big, err := g.Map(sandbox.Region{Name: "big-code", Size: size, Perm: sandbox.Read | sandbox.Exec, Data: insSyscall})
	fmt.Printf("%v: 32 MiB executable region: %v\n", l, err)
	if err != nil && !strings.Contains(err.Error(), "out of memory") {
		t.Fatalf("32 MiB executable region: %v", err)
	}
	if grown := heapBacked() - heap; grown > 8<<20 {
		t.Fatalf("mapping a 32 MiB executable region grew the Go heap by %d KiB", grown>>10)
	}
	if err == nil {
		g.Unmap(big)
	}
	data := make([]byte, 8<<20)
	copy(data[len(data)-3:], []byte{0x0f, 0x01, 0xef})
	_, err = g.Map(sandbox.Region{Name: "wrpkru-at-end", Size: uint64(len(data)), Perm: sandbox.Read | sandbox.Exec, Data: data})
	wantErr(t, "WRPKRU in the last bytes of an 8 MiB region", err, "WRPKRU")
}

// testDirectMapRAMOnly: the direct map covers the RAM of the memory map,
// never device holes at write-back: the legacy VGA window at 0xA0000
// (never RAM on a PC) is not mapped through it.
func testDirectMapRAMOnly(t *T) {
	var mapped bool
	syscall.InKernel(func() {
		e, _ := mm.Kernel.Lookup(uintptr(mm.PhysAddr(0xa0000)))
		mapped = e != nil
	})
	if mapped {
		t.Fatalf("the direct map covers the VGA hole at 0xa0000")
	}
}
