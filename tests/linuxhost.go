package tests

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"beelzebox/kernel"
	"beelzebox/kernel/initramfs"
	"beelzebox/linux"
	"beelzebox/sandbox"
	"beelzebox/sandbox/linux/fs"
	"beelzebox/sandbox/linux/host"
)

// The Linux host (sandbox/linux/host) against hostile and broken
// programs, at every ring-3 level; real programs are the differential
// suite's (go run ./qemu linux).
func init() {
	Register("linux", "system-call-table", testLinuxTable)
	for _, l := range []sandbox.Level{sandbox.Level1, sandbox.Level2, sandbox.Level3} {
		reg := func(name string, fn func(*T, sandbox.Level)) {
			Register("linux", fmt.Sprintf("level%d-%s", l, name), func(t *T) {
				if err := sandbox.Available(l); err != nil {
					t.Skip("pku", err.Error())
				}
				fn(t, l)
			})
		}
		reg("garbage-system-calls", testLinuxFuzz)
		reg("memory-limit-is-enomem", testLinuxMemoryLimit)
		reg("garbage-signal-frames", testLinuxSigreturn)
		reg("bad-programs-refused", testLinuxBadPrograms)
		reg("faults-are-signals", testLinuxFaults)
		reg("kill-a-spinning-program", testLinuxKill)
		reg("fork-and-wait", testLinuxForkWait)
		reg("vfork-and-execve", testLinuxVforkExec)
		reg("fork-bomb-contained", testLinuxForkBomb)
	}
}

// linuxConsole collects a program's output.
type linuxConsole struct {
	mu  sync.Mutex
	out [3]bytes.Buffer
}

func (c *linuxConsole) Read(p []byte) (int, error) { return 0, io.EOF }

func (c *linuxConsole) Write(fd int, p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if fd != 2 {
		fd = 1
	}
	return c.out[fd].Write(p)
}

func (c *linuxConsole) stdout() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out[1].String()
}

// linuxRoot is a file system over the whole initramfs, with extra files
// placed over it.
func linuxRoot(t *T, con fs.Console) *fs.FS {
	ird, err := initramfs.Open(kernel.Initrd())
	t.Require("the initramfs", err)
	root, err := fs.New(ird, "", con)
	t.Require("a file system over it", err)
	return root
}

func runLinux(t *T, l sandbox.Level, cfg host.Config) (host.Status, *linuxConsole) {
	con := &linuxConsole{}
	if cfg.FS == nil {
		cfg.FS = linuxRoot(t, con)
	}
	cfg.Level = l
	return host.Run(cfg), con
}

// testLinuxTable: every x86-64 system call is in the table with a name
// and a status, the ones the issue names are implemented.
func testLinuxTable(t *T) {
	calls := host.Table()
	named := 0
	for _, name := range linux.SyscallNames {
		if name != "" {
			named++
		}
	}
	if len(calls) != named {
		t.Errorf("the table has %d calls, <asm/unistd_64.h> %d", len(calls), named)
	}
	byName := map[string]host.Call{}
	for _, c := range calls {
		byName[c.Name] = c
		if c.Status == host.Partial && c.Missing == "" {
			t.Errorf("%s is partial without saying what is missing", c.Name)
		}
	}
	for _, name := range []string{"read", "write", "openat", "mmap", "munmap", "mprotect", "brk", "clone", "futex",
		"rt_sigaction", "rt_sigreturn", "exit_group", "arch_prctl", "clock_gettime", "getdents64", "newfstatat",
		"epoll_pwait", "pipe2", "tgkill", "sigaltstack", "prlimit64", "getrandom"} {
		if c, ok := byName[name]; !ok || c.Status == host.NotImplemented {
			t.Errorf("%s is not implemented", name)
		}
	}
	fmt.Printf("linux: system calls: %s\n", host.Summary())
}

// testLinuxFuzz: linuxfuzz calls every system call with garbage, with
// several seeds; each run must survive (exit 0) and leave no frames
// behind.
func testLinuxFuzz(t *T, l sandbox.Level) {
	before := framesInUse()
	for seed := 1; seed <= 16; seed++ {
		st, con := runLinux(t, l, host.Config{Argv: []string{"/linuxfuzz", fmt.Sprint(seed)}})
		if st.Code != 0 || st.Err != nil || !strings.Contains(con.stdout(), "survived") {
			t.Fatalf("seed %d: status %d (%v), output %q", seed, st.Code, st.Err, con.stdout())
		}
		if seed == 1 && len(st.Unimplemented) == 0 {
			t.Errorf("no unimplemented calls were counted")
		}
	}
	if after := framesInUse(); after > before+64 {
		t.Errorf("frames in use: %d before, %d after sixteen runs", before, after)
	}
}

// testLinuxMemoryLimit: a program that maps memory until it cannot gets
// ENOMEM at its limit.
func testLinuxMemoryLimit(t *T, l sandbox.Level) {
	st, con := runLinux(t, l, host.Config{Argv: []string{"/memhog"}, MemoryLimit: 32 << 20})
	var mib int
	if _, err := fmt.Sscanf(con.stdout(), "memhog: %d MiB then ENOMEM", &mib); err != nil || st.Code != 0 {
		t.Fatalf("status %d (%v), output %q", st.Code, st.Err, con.stdout())
	}
	if mib < 16 || mib > 32 {
		t.Errorf("%d MiB under a 32 MiB limit", mib)
	}
}

// testLinuxBadPrograms: a missing file, a truncated ELF, an ELF for
// another machine, a dynamic program without its interpreter: each a
// clear error and 126 or 127, as a shell would report.
func testLinuxBadPrograms(t *T, l sandbox.Level) {
	ird, err := initramfs.Open(kernel.Initrd())
	t.Require("the initramfs", err)
	good, err := ird.File("linuxfuzz")
	t.Require("linuxfuzz", err)
	i386 := bytes.Clone(good)
	i386[18] = 3 // EM_386
	interp := withInterp(good, "/lib64/ld-linux-x86-64.so.2")
	cases := []struct {
		name string
		file []byte
		code int
		want string
	}{
		{"missing", nil, 127, "no such file"},
		{"truncated", good[:100], 126, "not a program"},
		{"i386", i386, 126, "e_machine"},
		{"text", []byte("just text\n"), 126, "not a program"},
		{"script", []byte("#!/nowhere/sh -e\necho hi\n"), 127, "/nowhere/sh"},
		{"dynamic", interp, 127, "interpreter /lib64/ld-linux-x86-64.so.2"},
	}
	for _, c := range cases {
		con := &linuxConsole{}
		root := linuxRoot(t, con)
		if c.file != nil {
			t.Require("placing "+c.name, root.WriteFile("/tmp/"+c.name, c.file, 0o755))
		}
		st, _ := runLinux(t, l, host.Config{FS: root, Argv: []string{"/tmp/" + c.name}})
		if st.Code != c.code || st.Err == nil || !strings.Contains(st.Err.Error(), c.want) {
			t.Errorf("%s: status %d, error %v; want %d and %q", c.name, st.Code, st.Err, c.code, c.want)
		}
	}
}

// withInterp gives an ELF a PT_INTERP naming path: its PT_GNU_STACK
// header becomes one, pointing at the path appended to the file.
func withInterp(file []byte, path string) []byte {
	out := append(bytes.Clone(file), path...)
	out = append(out, 0)
	phoff := le64get(out[32:])
	phnum := int(out[56]) | int(out[57])<<8
	for i := 0; i < phnum; i++ {
		ph := out[phoff+uint64(i*56):]
		if le32get(ph) == 0x6474e551 { // PT_GNU_STACK
			copy(ph[0:], le32(3))
			copy(ph[8:], le64(uint64(len(file))))
			copy(ph[32:], le64(uint64(len(path)+1)))
			copy(ph[40:], le64(uint64(len(path)+1)))
		}
	}
	return out
}

func le64get(b []byte) uint64 { return uint64(le32get(b)) | uint64(le32get(b[4:]))<<32 }
func le32get(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// testLinuxFaults: a division by zero dies of SIGFPE (136), a stack
// overflow of SIGSEGV (139).
func testLinuxFaults(t *T, l sandbox.Level) {
	for _, c := range []struct {
		prog string
		sig  int
	}{{"/divzero", linux.SIGFPE}, {"/recurse", linux.SIGSEGV}} {
		st, _ := runLinux(t, l, host.Config{Argv: []string{c.prog}})
		if st.Signal != c.sig || st.Code != 128+c.sig {
			t.Errorf("%s: status %d signal %d (%v), want %d", c.prog, st.Code, st.Signal, st.Err, 128+c.sig)
		}
	}
}

// testLinuxKill: a program that never makes a system call ends at once
// when killed.
func testLinuxKill(t *T, l sandbox.Level) {
	con := &linuxConsole{}
	p, err := host.Start(host.Config{Level: l, FS: linuxRoot(t, con), Argv: []string{"/spin"}})
	t.Require("starting spin", err)
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	p.Kill()
	st := p.Wait()
	if st.Code != 137 || st.Signal != linux.SIGKILL {
		t.Errorf("status %d signal %d, want 137 and SIGKILL", st.Code, st.Signal)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the kill took %v", d)
	}
}

// testLinuxSigreturn: rt_sigreturn with random frames ends the program by
// a signal or lets it run on, never the kernel; a sound frame whose
// vector state is random bytes is restored sanitised, and the program
// exits 0.
func testLinuxSigreturn(t *T, l sandbox.Level) {
	for seed := 1; seed <= 16; seed++ {
		st, _ := runLinux(t, l, host.Config{Argv: []string{"/sigreturnfuzz", fmt.Sprint(seed), "garbage"}})
		if st.Err != nil || (st.Signal == 0 && st.Code != 0) {
			t.Errorf("seed %d garbage: status %d signal %d (%v)", seed, st.Code, st.Signal, st.Err)
		}
		st, _ = runLinux(t, l, host.Config{Argv: []string{"/sigreturnfuzz", fmt.Sprint(seed), "fpstate"}})
		if st.Code != 0 || st.Err != nil {
			t.Errorf("seed %d fpstate: status %d signal %d (%v), want 0", seed, st.Code, st.Signal, st.Err)
		}
	}
}

// testLinuxForkWait: at level 3 a child forks off, exits 7, and its
// parent reaps it (status 107); levels 1 and 2 cannot fork (50: EAGAIN).
func testLinuxForkWait(t *T, l sandbox.Level) {
	want := 107
	if l != sandbox.Level3 {
		want = 50
	}
	st, _ := runLinux(t, l, host.Config{Argv: []string{"/forkwait"}})
	if st.Code != want || st.Err != nil {
		t.Errorf("status %d signal %d (%v), want %d", st.Code, st.Signal, st.Err, want)
	}
}

// testLinuxForkBomb: a fork bomb stops at the sandbox's process limit,
// or at its memory limit across its processes (each holds an 8 MiB stack:
// 48 MiB hold at most five), ends when the sandbox is killed, and leaves
// the kernel's memory as it was.
func testLinuxForkBomb(t *T, l sandbox.Level) {
	before := framesInUse()
	for _, c := range []struct {
		limit    uint64
		min, max int
	}{{1 << 30, 2, host.DefaultMaxProcesses}, {48 << 20, 2, 5}} {
		con := &linuxConsole{}
		p, err := host.Start(host.Config{Level: l, FS: linuxRoot(t, con), Argv: []string{"/forkbomb"}, MemoryLimit: c.limit})
		t.Require("starting forkbomb", err)
		time.Sleep(300 * time.Millisecond)
		n := p.Processes()
		start := time.Now()
		p.Kill()
		st := p.Wait()
		if st.Signal != linux.SIGKILL {
			t.Errorf("status %d signal %d (%v), want SIGKILL", st.Code, st.Signal, st.Err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("ending the bomb took %v", d)
		}
		if l == sandbox.Level3 && (n < c.min || n > c.max) {
			t.Errorf("%d processes at the peak under %d MiB, want %d to %d", n, c.limit>>20, c.min, c.max)
		}
		fmt.Printf("%v: fork bomb under %d MiB: %d processes\n", l, c.limit>>20, n)
	}
	if after := framesInUse(); after > before+64 {
		t.Errorf("frames in use: %d before, %d after", before, after)
	}
}

// testLinuxVforkExec: vfork and execve start a new program at every
// level (at levels 1 and 2 the child runs in its parent's memory until
// its execve), and the parent reaps its status.
func testLinuxVforkExec(t *T, l sandbox.Level) {
	st, _ := runLinux(t, l, host.Config{Argv: []string{"/vforkexec"}})
	if st.Code != 42 || st.Err != nil {
		t.Errorf("status %d signal %d (%v), want 42", st.Code, st.Signal, st.Err)
	}
}
