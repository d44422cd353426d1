package main

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"beelzebox/kernel"
	"beelzebox/kernel/initramfs"
	"beelzebox/sandbox/abi"
	"beelzebox/sandbox/vm/loader"
	"beelzebox/sandbox/vm/machine"
)

// vmrun boots the multiboot kernel the runner's vm command put in the
// initramfs (vmrun/kernel, its command line in vmrun/cmdline, modules in
// vmrun/module/<n> with their strings in vmrun/module/<n>.string) in a
// level 4 VM with mem MiB of main memory, and reports how it ended. It
// is the kernel's half of "go run ./qemu vm":
//
//	vm| <line>        a line the guest wrote (COM1 or the write hypercall)
//	vm|- <text>       the guest's last, unterminated line
//	vm: exit <status> <how>
//
// where status is what the runner exits with (qemu/vm.go documents the
// values). The guest runs without a CPU budget: the runner's time limit
// bounds it.
func vmrun(mem uint64) int {
	fsys, err := initramfs.Open(kernel.Initrd())
	if err != nil {
		return vmFail("no initramfs: %v", err)
	}
	img, err := fsys.File("vmrun/kernel")
	if err != nil {
		return vmFail("%v", err)
	}
	cmdline, _ := fsys.File("vmrun/cmdline")
	var mods []loader.Module
	var names []string
	for _, n := range fsys.Names() {
		if rest, ok := strings.CutPrefix(n, "vmrun/module/"); ok && !strings.HasSuffix(rest, ".string") {
			names = append(names, rest)
		}
	}
	sort.Slice(names, func(i, j int) bool {
		a, _ := strconv.Atoi(names[i])
		b, _ := strconv.Atoi(names[j])
		return a < b
	})
	for _, n := range names {
		data, _ := fsys.File("vmrun/module/" + n)
		str, _ := fsys.File("vmrun/module/" + n + ".string")
		mods = append(mods, loader.Module{Data: data, String: string(str)})
	}
	out := &guestLines{}
	m, err := machine.New(machine.Config{
		MainMemory: mem << 20,
		Kernel:     img,
		CmdLine:    strings.TrimSpace(string(cmdline)),
		Modules:    mods,
		Console:    out.byte,
		CheckEntry: true,
	})
	if err != nil {
		return vmFail("%v", err)
	}
	h := &abi.Host{Guest: m.VM, Out: out}
	var s machine.Stop
	for {
		if s, err = m.Serve(h); err != nil || s.Kind != machine.StopBudget {
			break
		}
	}
	out.flush()
	if err != nil {
		return vmFail("%v", err)
	}
	status := vmStatus(s)
	fmt.Printf("vm: exit %d %s\n", status, s)
	m.Close()
	return 0
}

// Exit statuses of the vm command (qemu/vm.go): the guest's code is its
// low 8 bits; the rest are the host's.
const (
	vmStatusTripleFault = 125
	vmStatusStopped     = 126 // halted for good, a fault, a failed entry
	vmStatusError       = 127 // the VM could not be made
)

func vmStatus(s machine.Stop) int {
	switch s.Kind {
	case machine.StopDebugExit:
		return int(s.Code & 0xff)
	case machine.StopTripleFault:
		return vmStatusTripleFault
	}
	return vmStatusStopped
}

func vmFail(format string, args ...any) int {
	fmt.Printf("vm: error: %s\n", fmt.Sprintf(format, args...))
	fmt.Printf("vm: exit %d error\n", vmStatusError)
	return 0
}

// guestLines passes the guest's output on, a line at a time, prefixed.
type guestLines struct{ line bytes.Buffer }

func (g *guestLines) byte(b byte) {
	if b == '\n' {
		fmt.Fprintf(os.Stdout, "vm| %s\n", g.line.Bytes())
		g.line.Reset()
		return
	}
	if b != '\r' {
		g.line.WriteByte(b)
	}
	if g.line.Len() >= 4096 {
		fmt.Fprintf(os.Stdout, "vm|+ %s\n", g.line.Bytes())
		g.line.Reset()
	}
}

func (g *guestLines) Write(p []byte) (int, error) {
	for _, b := range p {
		g.byte(b)
	}
	return len(p), nil
}

func (g *guestLines) flush() {
	if g.line.Len() > 0 {
		fmt.Fprintf(os.Stdout, "vm|- %s\n", g.line.Bytes())
		g.line.Reset()
	}
}
