package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cmdVM boots a multiboot kernel of the user's in a level 4 VM:
//
//	go run ./qemu vm [-emu bochs] [-m MEM] [-module FILE]... -- KERNEL [ARGS...]
//
// The runner packs KERNEL, its command line (ARGS) and the modules into
// an initramfs, boots beelzebox with "vmrun" on its command line
// (vmrun.go), and passes the guest's output (COM1 and the write
// hypercall) to stdout, byte for byte, kernel messages to stderr. It exits
// with:
//
//	0-255  the value the guest wrote to port 0xF4 (or gave the exit
//	       hypercall), its low 8 bits; a guest's own 124-127 cannot be
//	       told from the statuses below (the line "vm: exit ..." on stderr
//	       can)
//	124    the time limit (-timeout) expired
//	125    the guest triple-faulted (or was sent INIT)
//	126    the guest stopped without writing the port: it halted with no
//	       interrupt to wake it, touched memory outside its RAM, or ran an
//	       instruction the hypervisor cannot emulate
//	127    the VM could not run: a bad kernel image, no VMX (QEMU has none:
//	       use -emu bochs), the emulator failed
const (
	vmExitTimeout     = 124
	vmExitTripleFault = 125
	vmExitStopped     = 126
	vmExitError       = 127
)

// vmOverhead is what beelzebox itself needs beside the VM's memory.
const vmOverheadMiB = 96

type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(s string) error { *f = append(*f, s); return nil }

func cmdVM(args []string) int {
	fs := flag.NewFlagSet("vm", flag.ContinueOnError)
	var c commonFlags
	c.register(fs)
	emu := fs.String("emu", string(Bochs), "emulator (level 4 needs VMX: bochs)")
	mem := fs.String("m", "64M", "the VM's main memory (from 1 MiB), e.g. 64M")
	timeout := fs.Duration("timeout", 10*time.Minute, "time limit")
	var modules fileList
	fs.Var(&modules, "module", "a multiboot module for the guest (repeatable; its string is the file name)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() < 1 {
		fmt.Fprintln(os.Stderr, "usage: go run ./qemu vm [-emu bochs] [-m MEM] [-module FILE]... -- KERNEL [ARGS...]")
		return exitUsage
	}
	vmMiB, err := memoryMiB(*mem)
	if err != nil || vmMiB < 1 {
		logf("vm: -m %s: %v", *mem, err)
		return exitUsage
	}
	a, ok := setup(c)
	if !ok {
		return vmExitError
	}
	work, err := os.MkdirTemp("", "beelzebox-vm-")
	if err != nil {
		logf("vm: %v", err)
		return vmExitError
	}
	defer os.RemoveAll(work)
	initrd, err := vmInitramfs(a.Root, work, fs.Arg(0), fs.Args()[1:], modules)
	if err != nil {
		logf("vm: %v", err)
		return vmExitError
	}
	a.Initrd = initrd
	b := Boot{
		Name:    "vm",
		Emu:     Emulator(*emu),
		Memory:  fmt.Sprintf("%dM", vmMiB+vmOverheadMiB),
		Append:  fmt.Sprintf("vmrun vmmem=%d", vmMiB),
		Timeout: *timeout,
		// Judged here, by the vm lines, not by a manifest: the boot is
		// declared an expected failure only so that it needs none.
		Expect:   ExpectFail,
		Patterns: []string{`^vm: exit `},
	}
	b.CPU = "max"
	if b.Emu == Bochs {
		b.CPU = "tigerlake"
	}
	if err := b.Validate(); err != nil {
		logf("vm: %v", err)
		return exitUsage
	}
	status := -1
	hook := func(line string) bool {
		switch {
		case strings.HasPrefix(line, "vm| "):
			fmt.Fprintln(os.Stdout, line[len("vm| "):])
		case strings.HasPrefix(line, "vm|+ "):
			fmt.Fprint(os.Stdout, line[len("vm|+ "):])
		case strings.HasPrefix(line, "vm|- "):
			fmt.Fprint(os.Stdout, line[len("vm|- "):])
		case strings.HasPrefix(line, "vm: exit "):
			f := strings.Fields(line)
			if n, err := strconv.Atoi(f[2]); err == nil {
				status = n
			}
			fmt.Fprintln(os.Stderr, line)
		default:
			fmt.Fprintln(os.Stderr, line)
		}
		return true
	}
	r := runBoot(b, a, runOptions{keep: c.keep, lineHook: hook})
	switch {
	case r.Outcome.TimedOut:
		logf("vm: the time limit of %v expired", *timeout)
		return vmExitTimeout
	case status < 0:
		logf("vm: the kernel ended without reporting the guest's end (%v)", r.Outcome.Err)
		return vmExitError
	}
	return status
}

// vmInitramfs writes the initramfs of a vm run: the kernel, its command
// line and the modules under vmrun/.
func vmInitramfs(root, work, kernel string, args []string, modules []string) (string, error) {
	abs := func(p string) (string, error) {
		p, err := filepath.Abs(p)
		if err != nil {
			return "", err
		}
		st, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		if !st.Mode().IsRegular() {
			return "", fmt.Errorf("%s is not a regular file", p)
		}
		return p, nil
	}
	k, err := abs(kernel)
	if err != nil {
		return "", err
	}
	cmdline := filepath.Join(work, "cmdline")
	if err := os.WriteFile(cmdline, []byte(strings.Join(args, " ")), 0o644); err != nil {
		return "", err
	}
	entries := []string{"vmrun/kernel=" + k, "vmrun/cmdline=" + cmdline}
	for i, m := range modules {
		p, err := abs(m)
		if err != nil {
			return "", err
		}
		str := filepath.Join(work, fmt.Sprintf("module%d.string", i))
		if err := os.WriteFile(str, []byte(filepath.Base(m)), 0o644); err != nil {
			return "", err
		}
		entries = append(entries, fmt.Sprintf("vmrun/module/%d=%s", i, p), fmt.Sprintf("vmrun/module/%d.string=%s", i, str))
	}
	out := filepath.Join(work, "vm.cpio")
	cmd := exec.Command("go", append([]string{"run", "./tools/mkinitramfs", "-o", out}, entries...)...)
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("mkinitramfs: %v", err)
	}
	return out, nil
}
