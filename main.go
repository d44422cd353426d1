// beelzebox is a freestanding x86-64 kernel in Go that implements four
// levels of process sandboxing. This is its main program: the Go runtime
// the kernel brings up runs it with the kernel command line as arguments.
//
// Command line (words separated by spaces):
//
//	suites=a,b,...  run these in-kernel test suites (all: every suite but
//	                bench and demo), print the summary line and power off
//	demo            run the demo (default when no suites are named)
//	console=e9      console on port 0xE9 instead of COM1 (handled at boot)
//	nosmp           start no other CPU (handled at boot)
//	nopcid          do not use PCIDs even where the CPU has them (handled
//	                at boot): guest address spaces switch by CR3 reloads
//	noinvpcid       do not use INVPCID (handled at boot): a change to a
//	                guest space flushes its PCID at the space's next load
//	test=kfault     deliberately fault in Go code (an expected-failure run)
//	test=hfault     deliberately fault inside a system-call handler
//	test=smppanic   every CPU panics at once (the report is printed once)
//	fuzz.<key>=<v>  guest fuzzer settings (suites=fuzz; see tests/fuzz.go)
//	vmrun           boot the kernel in the initramfs's vmrun/ in a level 4
//	                VM and power off (the runner's vm command; vmrun.go)
//	vmmem=<MiB>     the VM's main memory for vmrun (default 64)
//	exec            run the Linux programs of the initramfs's exec/cases
//	                and power off (the runner's exec command; execmode.go)
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	_ "beelzebox/boot" // the entry point; linked with -E beelzebox/boot.mbentry
	"beelzebox/cpu"
	"beelzebox/kernel"
	_ "beelzebox/sandbox/process"
	_ "beelzebox/sandbox/ring" // levels 1 and 2
	_ "beelzebox/sandbox/vm"   // level 4
	"beelzebox/tests"
)

func main() {
	tests.MainTSC = cpu.Rdtsc()
	suites, mode, err := parseArgs(os.Args[1:])
	if err != nil {
		kernel.Panic("bad command line: " + err.Error())
	}
	switch mode {
	case "vmrun":
		kernel.Exit(vmrun(vmMemory))
	case "exec":
		kernel.Exit(execPrograms())
	}
	switch mode {
	case "kfault":
		tests.FaultInGo()
	case "hfault":
		tests.FaultInHandler()
	case "smppanic":
		tests.PanicOnEveryCPU()
	}
	if suites == nil {
		suites = []string{"demo"}
	}
	passed, failed, skipped := tests.Run(suites)
	fmt.Printf("kernel: %d passed, %d failed, %d skipped\n", passed, failed, skipped)
	code := 0
	if failed > 0 {
		code = 1
	}
	kernel.Exit(code)
}

// vmMemory is the vmrun VM's main memory in MiB (vmmem=).
var vmMemory uint64 = 64

func parseArgs(args []string) (suites []string, mode string, err error) {
	known := map[string]bool{}
	for _, s := range tests.Suites() {
		known[s] = true
	}
	known["all"] = true
	for _, a := range args {
		k, v, hasValue := strings.Cut(a, "=")
		switch {
		case k == "console" && v == "e9", (k == "nopcid" || k == "noinvpcid" || k == "nosmp") && !hasValue: // handled at boot
		case k == "demo" && !hasValue:
			suites = append(suites, "demo")
		case k == "suites" && v != "":
			for _, s := range strings.Split(v, ",") {
				suite, _, one := strings.Cut(s, "/")
				if !known[suite] {
					return nil, "", fmt.Errorf("unknown suite %q (have %s)", s, strings.Join(tests.Suites(), ", "))
				}
				if one && !tests.HasTest(s) {
					return nil, "", fmt.Errorf("unknown test %q", s)
				}
				suites = append(suites, s)
			}
		case k == "test" && (v == "kfault" || v == "hfault" || v == "smppanic"):
			mode = v
		case (k == "vmrun" || k == "exec") && !hasValue:
			mode = k
		case k == "vmmem" && hasValue:
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil || n == 0 {
				return nil, "", fmt.Errorf("vmmem=%s: want a number of MiB", v)
			}
			vmMemory = n
		case strings.HasPrefix(k, "fuzz.") && hasValue:
			if err := tests.SetFuzzOption(strings.TrimPrefix(k, "fuzz."), v); err != nil {
				return nil, "", err
			}
		default:
			return nil, "", fmt.Errorf("unknown option %q", a)
		}
	}
	return suites, mode, nil
}
