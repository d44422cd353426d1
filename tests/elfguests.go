package tests

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"beelzebox/cpu"
	"beelzebox/kernel"
	"beelzebox/kernel/elfload"
	"beelzebox/sandbox"
	"beelzebox/sandbox/abi"
	"beelzebox/syscall"
)

// Real guest programs (tests/guests, C without libc, from the initramfs)
// at levels 1 and 2, served by the default host.
func init() {
	for _, l := range ringLevels {
		reg := levelRegistrar(l)
		reg("elf-hello", func(t *T, l sandbox.Level) { wantExit(t, l, "hello", uint64(l), 0) })
		reg("elf-hello-pie", func(t *T, l sandbox.Level) { wantExit(t, l, "hello-pie", uint64(l), 0) })
		reg("elf-garbage-pointers", func(t *T, l sandbox.Level) { wantExit(t, l, "badptrs", 0, 0) })
		reg("elf-vector-registers", func(t *T, l sandbox.Level) { wantExit(t, l, "vecregs", 0, 0) })
		reg("elf-read-host", testELFReadHost)
		reg("elf-spin", func(t *T, l sandbox.Level) { wantStop(t, l, "spin", sandbox.ExitBudget, 0) })
		reg("elf-stack-overflow", func(t *T, l sandbox.Level) { wantStop(t, l, "recurse", sandbox.ExitFault, cpu.VectorPF) })
		reg("elf-jit", testELFJit)
		reg("elf-divide-by-zero", func(t *T, l sandbox.Level) { wantStop(t, l, "divzero", sandbox.ExitFault, cpu.VectorDE) })
		reg("elf-wrpkru", func(t *T, l sandbox.Level) { testELFRefusedAt2(t, l, "wrpkru", "WRPKRU") })
		reg("elf-xrstor-cannot-reach-pkru", testELFXrstor)
		reg("elf-twice-at-0x400000", testELFTwice)
		reg("elf-malformed-refused", testELFMalformed)
		reg("100-concurrent-guests", testConcurrentGuests)
	}
}

func loadELF(t *T, l sandbox.Level, name string, arg uint64) sandbox.Guest {
	file, err := guestFile(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	g, err := sandbox.NewELF(l, file, sandbox.ELFOptions{Arg: arg})
	if err != nil {
		t.Fatalf("loading %s at %v: %v", name, l, err)
	}
	return g
}

func wantExit(t *T, l sandbox.Level, name string, arg uint64, code int) {
	g := loadELF(t, l, name, arg)
	defer g.Close()
	if r := serve(t, g); !r.Exited || r.Code != code {
		t.Fatalf("%s: %v, want exit(%d)", name, r, code)
	}
}

func wantStop(t *T, l sandbox.Level, name string, kind sandbox.ExitKind, vector uint64) sandbox.Exit {
	g := loadELF(t, l, name, 0)
	defer g.Close()
	r := serve(t, g)
	if r.Exited || r.Exit.Kind != kind || kind == sandbox.ExitFault && r.Exit.Fault.Vector != vector {
		t.Fatalf("%s: %v, want %v (vector %d)", name, r, kind, vector)
	}
	return r.Exit
}

// testELFReadHost: readhost reads and overwrites the address it is given,
// host memory here.
func testELFReadHost(t *T, l sandbox.Level) {
	host, err := sandbox.NewSharedRegion("host-private", 4096)
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer host.Close()
	copy(host.Bytes(), "\x5ahost")
	g := loadELF(t, l, "readhost", host.Addr())
	defer g.Close()
	r := serve(t, g)
	if l == sandbox.Level1 {
		if !r.Exited || r.Code != 0x5a || host.Bytes()[0] != 0x42 {
			t.Fatalf("level 1: %v, host byte %#x", r, host.Bytes()[0])
		}
		return
	}
	if l == sandbox.Level3 {
		// Its own address space does not map the host's region: the
		// address is unmapped there, or the guest's own memory.
		if r.Exited && r.Code == 0x5a || !r.Exited && r.Exit.Fault.Vector != cpu.VectorPF || host.Bytes()[0] != 0x5a {
			t.Fatalf("level 3: %v, host byte %#x; want the guest's own memory or a page fault at %#x, and the host untouched", r, host.Bytes()[0], host.Addr())
		}
		return
	}
	if r.Exited || !r.Exit.Fault.PK() || host.Bytes()[0] != 0x5a {
		t.Fatalf("level 2: %v, host byte %#x; want a PK fault and the host untouched", r, host.Bytes()[0])
	}
}

func testELFJit(t *T, l sandbox.Level) {
	e := wantStop(t, l, "jit", sandbox.ExitFault, cpu.VectorPF)
	if e.Fault.ErrorCode&cpu.PFFetch == 0 {
		t.Fatalf("jit: %v, want an instruction-fetch fault", e)
	}
}

// testELFRefusedAt2: a guest whose code holds insn loads and runs at level
// 1 (nothing protects anything there) and level 3 (its own address space
// protects everything, keys play no part), and is refused at level 2 with
// an error that names the instruction and where it is.
func testELFRefusedAt2(t *T, l sandbox.Level, name, insn string) {
	file, err := guestFile(name)
	if err != nil {
		t.Fatalf("%v", err)
	}
	g, err := sandbox.NewELF(l, file, sandbox.ELFOptions{})
	if l != sandbox.Level2 {
		if err != nil {
			t.Fatalf("%v refused %s: %v", l, name, err)
		}
		defer g.Close()
		r := serve(t, g)
		if name == "wrpkru" {
			// Levels 1 and 3 run with CR4.PKE clear: WRPKRU is an
			// invalid opcode there, with or without PKU.
			if r.Exited || r.Exit.Fault.Vector != cpu.VectorUD {
				t.Fatalf("%s at %v: %v, want #UD", name, l, r)
			}
			return
		}
		if !r.Exited || r.Code != 0 {
			t.Fatalf("%s at %v: %v", name, l, r)
		}
		return
	}
	if err == nil {
		g.Close()
		t.Fatalf("level 2 loaded %s", name)
	}
	if !strings.Contains(err.Error(), insn) || !strings.Contains(err.Error(), "offset 0x") {
		t.Fatalf("refusal %q does not name %s and its offset", err, insn)
	}
	fmt.Fprintf(os.Stdout, "level2: %s refused: %v\n", name, err)
}

// testELFXrstor: xrstor asks XRSTOR for the PKRU component with a zeroed
// area (PKRU's initial state: every key open). The kernel's XCR0 leaves
// PKRU out, so XRSTOR cannot reach it: the level 2 scan accepts the
// guest, and its PKRU at its next system call is the one it was given.
func testELFXrstor(t *T, l sandbox.Level) {
	if cpu.XCR0&cpu.XCR0PKRU != 0 {
		t.Fatalf("XCR0 %#x enables PKRU", cpu.XCR0)
	}
	g := loadELF(t, l, "xrstor", 0)
	defer g.Close()
	th := g.Main()
	e, err := th.Run()
	t.Require("running xrstor", err)
	if e.Kind != sandbox.ExitSyscall || e.Syscall.Nr != abi.SysPKRU {
		t.Fatalf("xrstor at %v: %v, want its pkru call", l, e)
	}
	if l == sandbox.Level2 {
		if got := th.PKRU(); got == 0 {
			t.Fatalf("level 2: PKRU %#x after XRSTOR: every key open", got)
		}
	}
}

// testELFTwice: two fixed-address guests at 0x400000 cannot coexist in one
// address space; the second is refused with the range named.
func testELFTwice(t *T, l sandbox.Level) {
	a := loadELF(t, l, "hello", 0)
	defer a.Close()
	file, err := guestFile("hello")
	t.Require("hello", err)
	b, err := sandbox.NewELF(l, file, sandbox.ELFOptions{})
	if l == sandbox.Level3 {
		// Each in its own address space: both at 0x400000, both run.
		t.Require("second guest at 0x400000", err)
		defer b.Close()
		for _, g := range []sandbox.Guest{a, b} {
			if r := serve(t, g); !r.Exited || r.Code != 0 {
				t.Fatalf("hello at 0x400000: %v", r)
			}
		}
		return
	}
	if err == nil {
		b.Close()
		t.Fatalf("second guest at 0x400000 loaded")
	}
	if !strings.Contains(err.Error(), "[0x400000,") || !strings.Contains(err.Error(), "collides") {
		t.Fatalf("error %q does not name the range", err)
	}
	// A static-pie copy goes elsewhere and runs beside it.
	wantExit(t, l, "hello-pie", 1, 0)
}

// testELFMalformed: broken executables are refused with an error, and the
// kernel goes on.
func testELFMalformed(t *T, l sandbox.Level) {
	file, err := guestFile("hello")
	if err != nil {
		t.Fatalf("%v", err)
	}
	bad := []struct {
		name string
		file []byte
		want error // the elfload category the refusal must wrap
	}{
		{"empty", nil, elfload.ErrNotELF},
		{"truncated", file[:100], elfload.ErrMalformed},
		{"bad magic", append([]byte{0x7f, 'E', 'L', 'G'}, file[4:]...), elfload.ErrNotELF},
		{"32-bit", append(append([]byte{}, file[:4]...), append([]byte{1}, file[5:]...)...), elfload.ErrNotELF},
		{"not an ELF", []byte("#!/bin/sh\necho hi\n"), elfload.ErrNotELF},
		{"phoff huge", withU64(file, 32, 1<<62), elfload.ErrMalformed},
		{"entry wrong", withU64(file, 24, 0xdead0000), elfload.ErrEntry},
	}
	for _, b := range bad {
		g, err := sandbox.NewELF(l, b.file, sandbox.ELFOptions{})
		if err == nil {
			g.Close()
			t.Fatalf("%s ELF loaded", b.name)
		}
		if !errors.Is(err, b.want) {
			t.Errorf("%s ELF refused with %q, want %q", b.name, err, b.want)
		}
	}
	wantExit(t, l, "hello", uint64(l), 0)
}

func withU64(b []byte, off int, v uint64) []byte {
	c := append([]byte(nil), b...)
	for i := 0; i < 8; i++ {
		c[off+i] = byte(v >> (8 * i))
	}
	return c
}

// guestsAtOnce is how many guests testConcurrentGuests requires in ring 3
// at the same moment, each holding its own kernel thread inside Run (the
// kernel's thread table grows with them).
const guestsAtOnce = 16

// barrierText is a guest that counts itself in at *counter (lock inc) and
// spins until guestsAtOnce guests have, then exits. It never makes a system
// call before that, so every guest waiting there occupies a kernel thread
// inside Run.
func barrierText(counter uint64) []byte {
	return code(movRAX(counter),
		[]byte{0xf0, 0x48, 0xff, 0x00},         // lock inc qword [rax]
		[]byte{0xf3, 0x90},                     // wait: pause
		[]byte{0x48, 0x83, 0x38, guestsAtOnce}, // cmp qword [rax], guestsAtOnce
		[]byte{0x72, 0xf8},                     // jb wait
		movEAX(abi.SysExit), insSyscall)
}

// testConcurrentGuests runs 100 guests, each hosted by its own goroutine,
// at most guestsAtOnce at a time: a static-pie hello served by the default
// host, a barrier guest that leaves ring 3 only once guestsAtOnce guests
// are in ring 3 together (so that many kernel threads were inside Run at
// once: the first guestsAtOnce meet there, later ones pass), then a guest
// spinning through two 5 ms budgets. At level 2 the guests share one key
// group (they need no separation from each other) and the barrier's
// counter is a shared region.
func testConcurrentGuests(t *T, l sandbox.Level) {
	file, err := guestFile("hello-pie")
	if err != nil {
		t.Fatalf("%v", err)
	}
	var group *sandbox.KeyGroup
	if l == sandbox.Level2 {
		group = sandbox.NewKeyGroup()
	}
	arrived, err := sandbox.NewSharedRegion("barrier", 4096)
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer arrived.Close() // after a failure; closed before the key check otherwise
	counter := func() uint64 { return binary.LittleEndian.Uint64(arrived.Bytes()) }
	shares := []sandbox.Share{{Region: arrived, Writable: true}}
	// One guest triple per goroutine; the result is sent after the deferred
	// Closes ran, so the key check below sees them all closed.
	one := func() error {
		// Up to guestsAtOnce threads share the CPU: more than the default budget.
		g, err := sandbox.NewELF(l, file, sandbox.ELFOptions{Arg: uint64(l), Group: group, Budget: 10 * time.Second})
		if err != nil {
			return err
		}
		defer g.Close()
		h := &abi.Host{Guest: g} // quiet: no output
		if r, err := h.Serve(); err != nil || !r.Exited || r.Code != 0 {
			return fmt.Errorf("hello-pie: %v %v", r, err)
		}
		barrier, err := sandbox.New(sandbox.Config{Level: l, Group: group, Shared: shares, Budget: 30 * time.Second,
			Regions: []sandbox.Region{{Name: "text", Size: 4096, Perm: sandbox.Read | sandbox.Exec, Data: barrierText(arrived.Addr())}}})
		if err != nil {
			return err
		}
		defer barrier.Close()
		if err := barrier.Main().SetRegs(sandbox.Regs{RIP: regionAddr(barrier, 0)}); err != nil {
			return err
		}
		if e, err := barrier.Main().Run(); err != nil || e.Kind != sandbox.ExitSyscall || e.Syscall.Nr != abi.SysExit {
			return fmt.Errorf("barrier: %v %v with %d of %d guests in ring 3 at once", e, err, counter(), guestsAtOnce)
		}
		spin, err := sandbox.New(sandbox.Config{Level: l, Group: group, Budget: 5 * time.Millisecond,
			Regions: []sandbox.Region{{Name: "text", Addr: 0, Size: 4096, Perm: sandbox.Read | sandbox.Exec, Data: insJmpSelf}}})
		if err != nil {
			return err
		}
		defer spin.Close()
		if err := spin.Main().SetRegs(sandbox.Regs{RIP: regionAddr(spin, 0)}); err != nil {
			return err
		}
		for i := 0; i < 2; i++ {
			if e, err := spin.Main().Run(); err != nil || e.Kind != sandbox.ExitBudget {
				return fmt.Errorf("spin: %v %v", e, err)
			}
		}
		return nil
	}
	gate := make(chan struct{}, guestsAtOnce)
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		go func() {
			gate <- struct{}{}
			err := one()
			<-gate
			errs <- err
		}()
	}
	// Every goroutine is waited for, so that none still holds a guest (or
	// the shared region) when the test ends.
	for i := 0; i < 100; i++ {
		if err := <-errs; err != nil {
			t.Errorf("guest %d: %v", i, err)
		}
	}
	var threads int
	syscall.InKernel(func() { threads = kernel.CountThreads() })
	t.Logf("%v: 100 guests done, %d in ring 3 at once at the barrier; %d kernel threads", l, guestsAtOnce, threads)
	if n := counter(); n != 100 {
		t.Fatalf("%d guests passed the barrier, want 100", n)
	}
	t.Require("closing the barrier", arrived.Close())
	if sandbox.KeysInUse() != 0 {
		t.Fatalf("%d protection keys still in use", sandbox.KeysInUse())
	}
}
