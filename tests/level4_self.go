package tests

import (
	"bytes"
	"regexp"
	"strings"
	"time"

	"beelzebox/kernel"
	"beelzebox/sandbox/abi"
	"beelzebox/sandbox/vm/loader"
	"beelzebox/sandbox/vm/machine"
)

// beelzebox boots itself as a level 4 guest: the kernel in the
// initramfs (vm/beelzebox, this very kernel), with this initramfs as its
// module, runs its runtime, ring3, level1 and level2 suites inside the VM
// to a passing summary line, and powers off through port 0xF4. Its
// console lines come out prefixed "vm| ", so the runner does not take
// them for this kernel's.

func init() {
	RegisterWithTimeout("level4-self", "beelzebox-in-a-vm", 15*time.Minute, needVMX(level4Self))
}

// selfSuites are the suites the guest kernel runs.
const selfSuites = "runtime,ring3,level1,level2"

var innerSummary = regexp.MustCompile(`^kernel: (\d+) passed, (\d+) failed, (\d+) skipped$`)

func level4Self(t *T) {
	img, err := guestFile("vm/beelzebox")
	if err != nil {
		t.Fatalf("%v", err)
	}
	var lines []string
	var line bytes.Buffer
	console := func(b byte) {
		if b != '\n' {
			if b != '\r' && line.Len() < 4096 {
				line.WriteByte(b)
			}
			return
		}
		s := line.String()
		line.Reset()
		lines = append(lines, s)
		t.Logf("vm| %s", s)
	}
	m, err := machine.New(machine.Config{
		MainMemory: 128 << 20,
		Kernel:     img,
		CmdLine:    "suites=" + selfSuites,
		Modules:    []loader.Module{{Data: kernel.Initrd(), String: "initramfs.cpio"}},
		Console:    console,
		CheckEntry: true,
	})
	if err != nil {
		t.Fatalf("machine: %v", err)
	}
	defer m.Close()
	h := &abi.Host{Guest: m.VM, Out: &bytes.Buffer{}}
	var s machine.Stop
	for {
		if s, err = m.Serve(h); err != nil {
			t.Fatalf("serve: %v", err)
		}
		if s.Kind != machine.StopBudget {
			break
		}
	}
	summary := ""
	for _, l := range lines {
		if innerSummary.MatchString(l) {
			summary = l
		}
	}
	if s.Kind != machine.StopDebugExit || s.Code != 0 {
		t.Fatalf("the guest kernel stopped with %v (summary %q); last lines: %s", s, summary, strings.Join(lastN(lines, 8), " | "))
	}
	f := innerSummary.FindStringSubmatch(summary)
	if f == nil || f[2] != "0" || f[1] == "0" {
		t.Fatalf("the guest kernel's summary is %q", summary)
	}
	t.Logf("level4-self: the guest kernel ran %s: %s (%d VM exits handled by the machine)", selfSuites, summary, total(m.Exits[:]))
}

func lastN(s []string, n int) []string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func total(v []uint64) uint64 {
	var n uint64
	for _, x := range v {
		n += x
	}
	return n
}
