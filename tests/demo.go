package tests

import (
	"fmt"
	"os"
	"slices"
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

func demoLevels(t *T) {
	hello, err := guestFile("hello")
	if err != nil {
		t.Fatalf("%v", err)
	}
	fmt.Printf("demo: CPU %s, PKU=%v VMX=%v EPT=%v PCID=%v; timer %s, clock %s at %d MHz\n",
		cpu.CPU.VendorString(), cpu.CPU.PKU, cpu.CPU.VMX, cpu.CPU.EPT, cpu.CPU.PCID,
		kernel.TimerSource(), kernel.ClockSource(), kernel.TSCFrequency()/1e6)
	bare := median(roundTripsN(t, sandbox.Level1, sandbox.NullSyscall, 1000))
	fmt.Printf("demo: bare SYSCALL/SYSRET round trip through the kernel: %d cycles\n", bare)
	for _, l := range []sandbox.Level{sandbox.Level1, sandbox.Level2, sandbox.Level3, sandbox.Level4} {
		g, err := sandbox.NewELF(l, hello, sandbox.ELFOptions{Arg: uint64(l)})
		if err != nil {
			fmt.Printf("demo: %v: unavailable: %v\n", l, err)
			continue
		}
		h := &abi.Host{Guest: g, Out: os.Stdout}
		r, err := h.Serve()
		g.Close()
		if err != nil || !r.Exited || r.Code != 0 {
			t.Fatalf("%v: hello guest ended with %v, %v", l, r, err)
		}
		rt := median(roundTripsN(t, l, 1000, 1000))
		fmt.Printf("demo: %v: ran the hello guest (%d system calls served by the Go host); a guest system call round trip costs %d cycles (%.0f ns), %.1fx the bare one\n",
			l, h.Calls, rt, float64(rt)*1e9/float64(kernel.TSCFrequency()), float64(rt)/float64(bare))
	}
}

func median(s []uint64) uint64 {
	slices.Sort(s)
	return s[len(s)/2]
}
