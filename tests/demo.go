package tests

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"beelzebox/cpu"
	"beelzebox/kernel"
	"beelzebox/kernel/initramfs"
	"beelzebox/sandbox"
	"beelzebox/sandbox/abi"
)

// The demo: the hello guest at every level the CPU offers, served by the
// default host, with one line per level saying what ran and what a guest
// system call round trip through the host cost there; levels that cannot
// run say why.
func init() {
	Register("demo", "levels", demoLevels)
}

var (
	initrdOnce sync.Once
	initrdFS   *initramfs.FS
	initrdErr  error
)

// guestFile returns a guest program from the initramfs.
func guestFile(name string) ([]byte, error) {
	initrdOnce.Do(func() {
		archive := kernel.Initrd()
		if archive == nil {
			initrdErr = fmt.Errorf("no initramfs: boot with the module build/initramfs.cpio")
			return
		}
		initrdFS, initrdErr = initramfs.Open(archive)
	})
	if initrdErr != nil {
		return nil, initrdErr
	}
	return initrdFS.File(name)
}

// demoLevels runs the hello guest at every level the kernel has and the
// CPU offers (sandbox.Levels; the levels suite checks which those must
// be), and says for the others what they need. A guest that runs must
// greet with its level and report success, and a round trip through the
// host must cost more than the bare SYSCALL/SYSRET round trip it
// contains.
func demoLevels(t *T) {
	hello, err := guestFile("hello")
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Logf("demo: CPU %s, PKU=%v VMX=%v EPT=%v PCID=%v; timer %s, clock %s at %d MHz",
		cpu.CPU.VendorString(), cpu.CPU.PKU, cpu.CPU.VMX, cpu.CPU.EPT, cpu.CPU.PCID,
		kernel.TimerSource(), kernel.ClockSource(), kernel.TSCFrequency()/1e6)
	bare := median(roundTripsN(t, sandbox.Level1, sandbox.NullSyscall, 1000))
	t.Logf("demo: bare SYSCALL/SYSRET round trip through the kernel: %d cycles", bare)
	if bare == 0 {
		t.Errorf("the bare round trip measured 0 cycles")
	}
	for _, info := range sandbox.Levels() {
		l := info.Level
		if info.Err != nil {
			t.Logf("demo: %v [%s]: unavailable: %v", l, info.Requires, info.Err)
			continue
		}
		g, err := sandbox.NewELF(l, hello, sandbox.ELFOptions{Arg: uint64(l)})
		if err != nil {
			t.Fatalf("%v is available on this CPU, but the hello guest could not be loaded: %v", l, err)
		}
		var out bytes.Buffer
		h := &abi.Host{Guest: g, Out: io.MultiWriter(os.Stdout, &out)}
		r, err := h.Serve()
		g.Close()
		if err != nil || !r.Exited || r.Code != 0 {
			t.Fatalf("%v: hello guest ended with %v, %v", l, r, err)
		}
		greeting := fmt.Sprintf("hello from a level %d guest\n", l)
		if !strings.Contains(out.String(), greeting) || !strings.Contains(out.String(), "hello: ok\n") {
			t.Errorf("%v: the hello guest printed %q, want %q and \"hello: ok\"", l, out.String(), greeting)
		}
		rt := median(roundTripsN(t, l, 1000, 1000))
		if rt <= bare {
			t.Errorf("%v: a guest system call round trip (%d cycles) is not above the bare one (%d) it contains", l, rt, bare)
		}
		t.Logf("demo: %v: ran the hello guest (%d system calls served by the Go host); a guest system call round trip costs %d cycles (%.0f ns), %.1fx the bare one",
			l, h.Calls, rt, float64(rt)*1e9/float64(kernel.TSCFrequency()), float64(rt)/float64(bare))
	}
}

func median(s []uint64) uint64 {
	slices.Sort(s)
	return s[len(s)/2]
}
