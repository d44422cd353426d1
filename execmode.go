package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"beelzebox/cpu"
	"beelzebox/kernel"
	"beelzebox/kernel/initramfs"
	"beelzebox/sandbox"
	"beelzebox/sandbox/linux/fs"
	"beelzebox/sandbox/linux/host"
	"beelzebox/sandbox/linux/vdso"
)

// execCase is a program run of the exec mode, from exec/cases.
type execCase struct {
	name    string
	level   int
	argv    []string
	env     []string
	cwd     string
	stdin   string
	memory  uint64
	discard bool // stdout to nowhere (> /dev/null)
	tty     bool // a terminal fed from COM1 (exec -tty)
}

// execPrograms runs the programs listed in the initramfs's exec/cases in
// the Linux host, one after another, each with a file system of its own
// made from the initramfs's root/, and reports them on the console for
// the runner (qemu/exec.go):
//
//	exec: begin <name> level <n>
//	exec|<fd> <base64>       a chunk of its output on fd 1 or 2
//	exec: nosys <name> <call>=<count>...
//	exec: error <name> <message>
//	exec: instructions <name> <TSC ticks from load to end>
//	exec: end <name> level <n> status <status>
//	exec: done <count>
//
// The program's bytes never reach the console otherwise, so they stay
// apart from kernel messages.
func execPrograms() int {
	fsys, err := initramfs.Open(kernel.Initrd())
	if err != nil {
		fmt.Printf("exec: error - no initramfs: %v\n", err)
		return 1
	}
	text, err := fsys.File("exec/cases")
	if err != nil {
		fmt.Printf("exec: error - %v\n", err)
		return 1
	}
	cases, err := parseExecCases(string(text))
	if err != nil {
		fmt.Printf("exec: error - exec/cases: %v\n", err)
		return 1
	}
	// One program at a time, in a machine sized for it: the collector
	// may let the heap grow further between cycles (each cycle scans
	// the whole kernel heap, millions of instructions).
	debug.SetGCPercent(400)
	var vd *vdso.Image
	if so, err := fsys.File("linux/vdso.so"); err == nil {
		if vd, err = vdso.Parse(so); err != nil {
			fmt.Printf("kernel: vdso: %v (programs run without one)\n", err)
		}
	}
	for _, c := range cases {
		runExecCase(fsys, c, vd)
	}
	fmt.Printf("exec: done %d\n", len(cases))
	return 0
}

func runExecCase(fsys *initramfs.FS, c execCase, vd *vdso.Image) {
	level := sandbox.Level(c.level)
	if level == 0 {
		level = host.Best()
	}
	fmt.Printf("exec: begin %s level %d\n", c.name, level)
	con := &execConsole{discard: c.discard, tty: c.tty}
	if c.stdin != "" {
		data, err := fsys.File(c.stdin)
		if err != nil {
			fmt.Printf("exec: error %s stdin: %v\n", c.name, err)
		}
		con.in = bytes.NewReader(data)
	}
	root, err := fs.New(fsys, "root/", con)
	st := host.Status{Code: 127, Level: level}
	start := cpu.Rdtsc()
	if err != nil {
		st.Err = err
	} else {
		st = host.Run(host.Config{Level: level, FS: root, Argv: c.argv, Env: c.env, Cwd: c.cwd, MemoryLimit: c.memory, VDSO: vd})
	}
	con.over.Store(true)
	// TSC ticks from the program's load to its end: instructions under
	// QEMU -icount shift=0 (the runner's linuxbench).
	fmt.Printf("exec: instructions %s %d\n", c.name, cpu.Rdtsc()-start)
	if len(st.Unimplemented) > 0 {
		fmt.Printf("exec: nosys %s %s\n", c.name, strings.Join(host.SortedNosys(st.Unimplemented), " "))
	}
	if st.Err != nil {
		fmt.Printf("exec: error %s %s\n", c.name, oneLine(st.Err.Error()))
	}
	fmt.Printf("exec: end %s level %d status %d\n", c.name, st.Level, st.Code)
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// execConsole is the program's terminal: stdin from the case's file,
// output as protocol lines.
type execConsole struct {
	mu      sync.Mutex
	in      io.Reader
	discard bool
	tty     bool
	over    atomic.Bool // the program has ended: the terminal's input ends
}

// Pipes: the program's output is captured as the runner's, so it sees
// pipes, not a terminal, as natively under the runner; but for exec -tty,
// a terminal.
func (c *execConsole) Pipes() bool { return !c.tty }

// Read is the program's input: the case's stdin file, or for a terminal
// what COM1 receives, polled every few milliseconds (the kernel takes no
// COM1 interrupt).
func (c *execConsole) Read(p []byte) (int, error) {
	if c.tty {
		for !c.over.Load() {
			if n := kernel.ReadConsole(p); n > 0 {
				return n, nil
			}
			time.Sleep(5 * time.Millisecond)
		}
		return 0, io.EOF
	}
	if c.in == nil {
		return 0, io.EOF
	}
	return c.in.Read(p)
}

func (c *execConsole) Write(fd int, p []byte) (int, error) {
	if fd == 1 && c.discard {
		return len(p), nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	const chunk = 3 << 10
	for off := 0; off < len(p); off += chunk {
		end := min(off+chunk, len(p))
		fmt.Fprintf(os.Stdout, "exec|%d %s\n", fd, base64.StdEncoding.EncodeToString(p[off:end]))
	}
	return len(p), nil
}

// parseExecCases reads the exec/cases format (qemu/exec.go writes it).
func parseExecCases(text string) ([]execCase, error) {
	var out []execCase
	var c *execCase
	s := bufio.NewScanner(strings.NewReader(text))
	s.Buffer(nil, 1<<20)
	for n := 1; s.Scan(); n++ {
		line := s.Text()
		if line == "" {
			continue
		}
		key, val, _ := strings.Cut(line, " ")
		if key != "case" && c == nil {
			return nil, fmt.Errorf("line %d: %q outside a case", n, key)
		}
		str := func() (string, error) {
			v, err := strconv.Unquote(val)
			if err != nil {
				return "", fmt.Errorf("line %d: %s: want a quoted string", n, key)
			}
			return v, nil
		}
		var err error
		var v string
		switch key {
		case "case":
			out = append(out, execCase{name: val, cwd: "/"})
			c = &out[len(out)-1]
		case "level":
			c.level, err = strconv.Atoi(val)
			if err == nil && (c.level < 0 || c.level > 3) {
				err = fmt.Errorf("line %d: level %d", n, c.level)
			}
		case "arg":
			v, err = str()
			c.argv = append(c.argv, v)
		case "env":
			v, err = str()
			c.env = append(c.env, v)
		case "cwd":
			c.cwd, err = str()
		case "stdin":
			c.stdin, err = str()
		case "memory":
			var mib uint64
			mib, err = strconv.ParseUint(val, 10, 32)
			c.memory = mib << 20
		case "discard":
			c.discard = true
		case "tty":
			c.tty = true
		case "end":
			c = nil
		default:
			err = fmt.Errorf("line %d: unknown directive %q", n, key)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
