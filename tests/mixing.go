package tests

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"beelzebox/cpu"
	"beelzebox/sandbox"
)

// Level 1 and level 2 guests in one address space. Protection keys do
// not restrict instruction fetch, so level 1 code is held to the level 2
// scan rules while a level 2 guest exists (sandbox/ring/exec.go), and a level
// 1 guest sees level 2 guests' memory (README, security notes).
func init() {
	Register("level2", "level1-wrpkru-code-refused", testLevel1GadgetRefused)
	Register("level2", "level1-sees-level2-memory", testLevel1SeesLevel2)
	Register("level2", "memory-ops-from-other-goroutines", testMemoryOpsRace)
}

// gadget is level 1 code a level 2 guest could jump into: WRPKRU with
// EAX = 0 opens every key, and the jump back returns to the caller.
var gadget = code(insWrpkru, []byte{0xff, 0xe3}) // wrpkru; jmp rbx

func needPKU(t *T) {
	if !cpu.CPU.PKU {
		t.Skip("pku", "(CPUID.(EAX=7,ECX=0):ECX.PKU) is missing: level 2 is unavailable")
	}
}

// testLevel1GadgetRefused: the audit's escape was a level 2 guest that
// jumped into a level 1 guest's WRPKRU, read another level 2 guest's
// secret, restored its PKRU and exited unkilled. Now the level 2 guest is
// refused while such code exists, and such code is refused while a level
// 2 guest exists, whichever way it would arrive.
func testLevel1GadgetRefused(t *T) {
	needPKU(t)
	l1 := mustGuest(t, sandbox.Level1, gadget)
	_, err := blobGuest(sandbox.Level2, insSyscall, 0)
	if err == nil || !strings.Contains(err.Error(), "level 1 code") || !strings.Contains(err.Error(), "WRPKRU") {
		l1.Close()
		t.Fatalf("level 2 guest beside level 1 WRPKRU code: err = %v, want a refusal naming the level 1 code", err)
	}
	l1.Close()

	l2 := mustGuest(t, sandbox.Level2, insSyscall)
	defer l2.Close()
	if g, err := blobGuest(sandbox.Level1, gadget, 0); err == nil || !strings.Contains(err.Error(), "WRPKRU") {
		if g != nil {
			g.Close()
		}
		t.Fatalf("level 1 WRPKRU code while a level 2 guest exists: err = %v", err)
	}
	clean := mustGuest(t, sandbox.Level1, insUD2)
	defer clean.Close()
	if err := clean.WriteMemory(textAddr(clean), gadget); err == nil || !strings.Contains(err.Error(), "WRPKRU") {
		t.Fatalf("host writes WRPKRU into level 1 code: err = %v", err)
	}
	data := stackTop(clean) - 4096
	t.Require("WriteMemory", clean.WriteMemory(data, gadget))
	if err := clean.Protect(regionAddr(clean, 1), sandbox.Read|sandbox.Exec); err == nil || !strings.Contains(err.Error(), "WRPKRU") {
		t.Fatalf("level 1 data with WRPKRU made executable: err = %v", err)
	}
	// The refused Protect left the region writable, as it was.
	t.Require("WriteMemory after the refused Protect", clean.WriteMemory(data, insUD2))
	expectFault(t, clean, cpu.VectorUD)
}

// testLevel1SeesLevel2: what a level 1 guest can see of a level 2 guest:
// everything. Level 1 has no protection; level 2's guarantee is against
// the host, other level 2 guests and level 2 code.
func testLevel1SeesLevel2(t *T) {
	needPKU(t)
	l2 := mustGuest(t, sandbox.Level2, insSyscall)
	defer l2.Close()
	secret := stackTop(l2) - 4096
	t.Require("WriteMemory", l2.WriteMemory(secret, []byte("L2 secret")))
	l1 := mustGuest(t, sandbox.Level1, code(loadAbs(secret), exitWithRAX))
	defer l1.Close()
	if r := serve(t, l1); !r.Exited || r.Code != 0x7320324c { // "L2 s", the low 32 bits, little-endian
		t.Fatalf("level 1 guest reading level 2 memory: %v", r)
	}
}

// testMemoryOpsRace: while a level 2 guest runs in one goroutine, others
// map, write, read, protect and unmap its memory and rewrite its code, all
// at once. Each operation sees its own effect whole, nothing deadlocks
// (a guest's lock, then the code lock), and the guest keeps running.
func testMemoryOpsRace(t *T) {
	needPKU(t)
	g, err := blobGuest(sandbox.Level2, code([]byte{0x90}, insJmpSelf), 2*time.Millisecond)
	t.Require("creating the guest", err)
	defer g.Close()
	data, err := g.Map(sandbox.Region{Name: "data", Size: 4096, Perm: sandbox.Read | sandbox.Write})
	t.Require("Map", err)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	loop := func(name string, n int, op func(i int) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				if err := op(i); err != nil {
					errs <- fmt.Errorf("%s, round %d: %w", name, i, err)
					return
				}
			}
		}()
	}
	var runs atomic.Int64
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if e, err := g.Main().Run(); err == nil && e.Kind == sandbox.ExitBudget {
				runs.Add(1)
			}
		}
	}()
	loop("map, write, read, unmap", 300, func(i int) error {
		a, err := g.Map(sandbox.Region{Name: "scratch", Size: 8192, Perm: sandbox.Read | sandbox.Write})
		if err != nil {
			return err
		}
		want := bytes.Repeat([]byte{byte(i)}, 8192)
		if err := g.WriteMemory(a, want); err != nil {
			return err
		}
		got := make([]byte, len(want))
		if err := g.ReadMemory(a, got); err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("read back other bytes")
		}
		return g.Unmap(a)
	})
	loop("protect", 300, func(i int) error {
		p := sandbox.Read
		if i%2 == 1 {
			p |= sandbox.Write
		}
		return g.Protect(data, p)
	})
	loop("rewrite code", 300, func(i int) error {
		return g.WriteMemory(textAddr(g), []byte{0x90, 0xeb, 0xfe})
	})
	loop("refused code", 300, func(i int) error {
		if err := g.WriteMemory(textAddr(g), insWrpkru); err == nil || !strings.Contains(err.Error(), "WRPKRU") {
			return fmt.Errorf("WRPKRU written into level 2 code: %v", err)
		}
		return nil
	})
	wg.Wait()
	for deadline := time.Now().Add(time.Second); runs.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	<-ran // the guest is not running when it is closed
	close(errs)
	for err := range errs {
		t.Fatalf("%v", err)
	}
	if runs.Load() == 0 {
		t.Fatalf("the guest never ran to the end of its budget meanwhile")
	}
	fmt.Printf("level2: memory operations from 4 goroutines beside %d runs of the guest\n", runs.Load())
}
