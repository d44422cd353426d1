package tests

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"beelzebox/sandbox/abi"
	"beelzebox/sandbox/vm"
	"beelzebox/sandbox/vm/loader"
	"beelzebox/sandbox/vm/machine"
)

// The test kernels of tests/vmguests, booted in a machine (the initramfs
// holds them as vm/<name>). Each prints "vmguest: <check>: ok" lines and
// a summary, and ends through port 0xF4; the adversarial ones end as the
// host must make them end. After each, the VM's frames are all back.

func init() {
	for _, g := range []struct {
		name, kernel, cmdline string
		budget                time.Duration
		check                 func(t *T, s machine.Stop, out string)
	}{
		{"exits32", "exits32", "", 0, passed("exits32")},
		{"exits64", "exits64", "", 0, passed("exits64")},
		{"aout-kludge", "aout", "", 0, passed("aout")},
		{"apic", "apic", "", 0, passed("apic")},
		{"hlt", "hlt", "", 0, passed("hlt")},
		{"hello-exit-code", "hello", "exit=7 greeting", 0, helloExit},
		{"attack-exit-flood", "exit-flood", "", 0, passed("exit-flood")},
		{"attack-apic-wild", "apic-wild", "", 0, passed("apic-wild")},
		{"attack-hypercall-garbage", "hypercall-garbage", "", 0, passed("hypercall-garbage")},
		{"attack-outside-ram", "outside-ram", "", 0, stopped(machine.StopFault, "0x40000000")},
		{"attack-triple-fault", "triple-fault", "", 0, stopped(machine.StopTripleFault, "")},
		{"attack-cli-spin", "cli-spin", "", 100 * time.Millisecond, stopped(machine.StopBudget, "")},
	} {
		g := g
		Register("level4", "guest-"+g.name, needVMX(func(t *T) {
			s, out := bootVMGuest(t, g.kernel, g.cmdline, g.budget)
			g.check(t, s, out)
		}))
	}
}

// vmGuestMemory is the test kernels' main memory.
const vmGuestMemory = 16 << 20

// bootVMGuest boots vm/<kernel> with the command line and, as its one
// module, a small text file; it serves the hypercalls with the default
// ABI host and returns how the machine stopped and the guest's COM1 and
// hypercall output. The VM is closed and its frames checked.
func bootVMGuest(t *T, kernel, cmdline string, budget time.Duration) (machine.Stop, string) {
	img, err := guestFile("vm/" + kernel)
	if err != nil {
		t.Fatalf("%v", err)
	}
	held := vm.FramesHeld()
	var out bytes.Buffer
	m, err := machine.New(machine.Config{
		MainMemory: vmGuestMemory,
		Kernel:     img,
		CmdLine:    cmdline,
		Modules:    []loader.Module{{Data: []byte("module data\n"), String: "mod0 text"}},
		Console:    func(b byte) { out.WriteByte(b) },
		Budget:     budget,
		CheckEntry: true,
	})
	if err != nil {
		t.Fatalf("machine: %v", err)
	}
	h := &abi.Host{Guest: m.VM, Out: &out}
	var s machine.Stop
	start := time.Now()
	deadline := start.Add(60 * time.Second)
	for {
		s, err = m.Serve(h)
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
		// A run that used its budget runs on unless the test is about
		// the budget, up to a minute of wall time.
		if s.Kind != machine.StopBudget || budget != 0 || time.Now().After(deadline) {
			break
		}
	}
	h.Flush()
	t.Logf("level4: %s: %v after %v, %d VM entries, %d exits handled by the machine", kernel, s, time.Since(start).Round(time.Millisecond), m.CPU.Entries, total(m.Exits[:]))
	if err := m.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if after := vm.FramesHeld(); after != held {
		t.Errorf("VMs hold %d frames after the guest closed, %d before", after, held)
	}
	return s, out.String()
}

// tail is the end of a guest's output, for failure messages.
func tail(out string) string {
	if len(out) > 600 {
		out = "..." + out[len(out)-600:]
	}
	return strings.ReplaceAll(out, "\n", " | ")
}

// passed: the guest wrote 0 to the debug exit port after its summary
// line, with no failed check.
func passed(kernel string) func(t *T, s machine.Stop, out string) {
	return func(t *T, s machine.Stop, out string) {
		if s.Kind != machine.StopDebugExit || s.Code != 0 {
			t.Fatalf("%s stopped with %v; output: %s", kernel, s, tail(out))
		}
		if strings.Contains(out, ": FAIL") || !strings.Contains(out, fmt.Sprintf("vmguest: %s passed", kernel)) {
			t.Fatalf("%s: no clean summary; output: %s", kernel, tail(out))
		}
	}
}

// stopped: the machine stopped the guest the way kind says, naming what.
func stopped(kind machine.StopKind, what string) func(t *T, s machine.Stop, out string) {
	return func(t *T, s machine.Stop, out string) {
		if s.Kind != kind || !strings.Contains(s.String(), what) {
			t.Fatalf("stopped with %v, want %v naming %q; output: %s", s, kind, what, tail(out))
		}
	}
}

// helloExit: the command line reaches the guest and its exit code is
// the one it was told.
func helloExit(t *T, s machine.Stop, out string) {
	if s.Kind != machine.StopDebugExit || s.Code != 7 {
		t.Fatalf("hello stopped with %v, want debug exit 7; output: %s", s, tail(out))
	}
	if !strings.Contains(out, "exit=7 greeting") || !strings.Contains(out, "mod0 text") {
		t.Fatalf("hello did not see its command line and module; output: %s", tail(out))
	}
}
