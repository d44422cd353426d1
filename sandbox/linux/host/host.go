// Package host is the Linux host of beelzebox: it runs an unmodified
// static Linux x86-64 program as a sandbox guest and answers its system
// calls with Linux's semantics, at levels 1, 2 and 3 with the same code
// (it uses the host API of package sandbox alone).
//
// A Process is one guest with its memory (sandbox/linux/vmem: Linux's
// mappings over sandbox regions), its files (sandbox/linux/fs: the file
// system, the descriptor table), its signal dispositions and its threads.
// Every guest thread is served by a goroutine of its own that runs it
// (Thread.Run) and answers its system calls from the one table of calls
// (table.go); a call that blocks blocks that goroutine only, and a signal
// for the thread wakes it (Task.Wait).
//
// Levels 1 and 2 guests live in the kernel's address space: a program
// linked at a fixed address (ET_EXEC, 0x400000) takes the low guest area,
// which one such guest can hold at a time; a static-pie and every mapping
// go in the guest's own slots of the guest window.
package host

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"beelzebox/cpu"
	"beelzebox/kernel"
	"beelzebox/linux"
	"beelzebox/sandbox"
	"beelzebox/sandbox/linux/fs"
	"beelzebox/sandbox/linux/vdso"
	"beelzebox/sandbox/linux/vmem"
)

// Config describes a program to run.
type Config struct {
	// Level isolates the program (0: Best).
	Level sandbox.Level
	// FS is the file system it sees; Path is the program in it (Argv[0]
	// if empty), resolved against Cwd.
	FS   *fs.FS
	Path string
	Argv []string
	Env  []string
	Cwd  string
	// MemoryLimit caps the memory of the sandbox's processes together,
	// and of each one's guest (DefaultMemoryLimit if 0).
	MemoryLimit uint64
	// MaxThreads caps its threads (sandbox.DefaultMaxThreads if 0).
	MaxThreads int
	// VDSO, if not nil, is mapped into the guest and named by
	// AT_SYSINFO_EHDR.
	VDSO *vdso.Image
}

func init() { fs.Random = kernel.RandomBytes }

// Defaults.
const (
	DefaultMemoryLimit = 256 << 20
	// addressSpace is how much of the guest window a level 1 or 2
	// program takes: room for the reservations of a Go runtime.
	addressSpace = 16 << 30
	// stackSize is the main thread's stack (RLIMIT_STACK) at level 3,
	// where memory is backed when first touched; levels 1 and 2 back and
	// zero every page when it is mapped, so their stacks (and, through
	// RLIMIT_STACK, the C libraries' thread stacks) are smaller.
	stackSize     = 8 << 20
	ringStackSize = 1 << 20
	// firstPID is the process's ID; its threads count up from it.
	firstPID = 1000
)

// Status is how a program ended.
type Status struct {
	// Code is the exit status as a shell reports it: the exit code, or
	// 128 plus the signal that killed the program, 126 for a file that
	// is not a program this host runs, 127 for a missing one.
	Code int
	// Signal is the signal that killed it (0: it exited).
	Signal int
	// Err says why the program could not start or the host stopped it.
	Err error
	// Level is the level it ran at.
	Level sandbox.Level
	// Unimplemented counts the calls it made that the host does not
	// implement, by name.
	Unimplemented map[string]int
}

// Best is the most isolating level the CPU offers that runs Linux
// programs (every ring-3 level does).
func Best() sandbox.Level {
	for _, l := range []sandbox.Level{sandbox.Level3, sandbox.Level2} {
		if sandbox.Available(l) == nil {
			return l
		}
	}
	return sandbox.Level1
}

// Errors that decide the exit status of a program that did not start.
var (
	ErrNotFound   = errors.New("no such file")
	ErrNotProgram = errors.New("not a program this host runs")
)

// Process is a running program.
type Process struct {
	cfg   Config
	level sandbox.Level
	g     sandbox.Guest
	mem   *vmem.Space
	fsys  *fs.FS
	files *fs.Files
	exe   string
	pid   int
	start time.Time
	// The process tree (sandbox.go), guarded by sb.mu: the parent (nil
	// for the sandbox's first process), the children that have not been
	// reaped, the process group and session, and once every thread has
	// ended, the zombie's wait status.
	sb       *Sandbox
	parent   *Process
	ppid     atomic.Int32 // parent's pid, for getppid without sb.mu
	children map[int]*Process
	pgid     int
	sid      int
	zombie   bool
	// Job control: a stopped process's threads wait for cont (closed by
	// SIGCONT); stopReport and contReport are what the parent's wait has
	// not reported yet (WUNTRACED, WCONTINUED).
	stopped    bool
	stopSig    int
	cont       chan struct{}
	stopReport bool
	contReport bool
	// childEvent is closed (and replaced) when a child changes state.
	childEvent chan struct{}
	// vforked is closed when the process execs or ends (its vfork parent
	// waits for that).
	vforked chan struct{}
	// borrowed: a vfork child at level 1 or 2 runs as a thread of its
	// parent's guest, in its memory, until it execs (which gives it a
	// guest of its own) or ends; it must not release what it borrows,
	// and the parent keeps its guest until every borrower is done.
	borrowed  bool
	lender    *Process
	borrowers sync.WaitGroup

	mu      sync.Mutex
	threads map[int]*Thread
	live    sync.WaitGroup
	// Signals: the dispositions and the process-directed pending set.
	actions [linux.NSIG + 1]linux.SigAction
	pending uint64
	// Exit: exiting is set once by the first exit_group or fatal signal.
	exiting    bool
	status     Status
	done       chan struct{}
	futexes    futexTable
	ids        ids
	limits     [linux.RLIM_NLIMITS][2]uint64
	comm       string
	alarm      *time.Timer
	alarmDue   time.Time
	alarmEvery time.Duration
}

type ids struct{ uid, euid, suid, gid, egid, sgid uint32 }

// Start loads the program as the first process of a new sandbox and
// starts its main thread. The program runs until Wait says how it ended.
func Start(cfg Config) (*Process, error) {
	if cfg.Level == 0 {
		cfg.Level = Best()
	}
	if cfg.MemoryLimit == 0 {
		cfg.MemoryLimit = DefaultMemoryLimit
	}
	if cfg.Cwd == "" {
		cfg.Cwd = "/"
	}
	if cfg.Path == "" && len(cfg.Argv) > 0 {
		cfg.Path = cfg.Argv[0]
	}
	sb := newSandbox(cfg)
	p := sb.newProcess(nil)
	p.cfg = cfg
	p.initLimits()
	p.files = p.fsys.NewFiles(procInfo{p})
	if err := p.files.SetCwd(cfg.Cwd); err != nil {
		p.release()
		return nil, fmt.Errorf("working directory %s: %v", cfg.Cwd, err)
	}
	pr, err := p.prepare(cfg.Path, cfg.Argv, cfg.Env)
	if err != nil {
		p.release()
		return nil, err
	}
	regs, err := p.newImage(pr)
	if err != nil {
		p.release()
		return nil, err
	}
	main := p.g.Main()
	if err := main.SetRegs(regs); err != nil {
		p.release()
		return nil, err
	}
	sb.add(p)
	p.fsys.SetTerminal(int32(p.pid), sb.interruptGroup)
	p.run(p.addThread(main, p.pid))
	return p, nil
}

// newImage gives the process a new guest holding the prepared program.
func (p *Process) newImage(pr *program) (sandbox.Regs, error) {
	g, err := sandbox.New(sandbox.Config{
		Level:        p.level,
		MemoryLimit:  p.cfg.MemoryLimit,
		MaxThreads:   p.cfg.MaxThreads,
		AddressSpace: addressSpace,
	})
	if err != nil {
		return sandbox.Regs{}, err
	}
	lo, hi := g.AddressRange()
	p.g, p.mem = g, vmem.New(g, lo, hi)
	p.mem.Files = p.fileSource
	p.cfg.Argv, p.cfg.Path = pr.argv, pr.path
	p.comm = baseName(pr.path)
	return p.load(pr)
}

// Run starts a program and waits for its end: the common case.
func Run(cfg Config) Status {
	p, err := Start(cfg)
	if err != nil {
		st := Status{Code: 126, Err: err, Level: cfg.Level}
		if errors.Is(err, ErrNotFound) {
			st.Code = 127
		}
		return st
	}
	return p.Wait()
}

// run starts the thread t of a new process and the goroutine that, once
// every thread has ended, releases the process and leaves it a zombie.
func (p *Process) run(t *Thread) {
	p.live.Add(1)
	go t.serve()
	go func() {
		p.live.Wait()
		p.release()
		p.sb.exited(p)
		close(p.done)
	}()
}

// Wait waits until the first process of the sandbox has ended, then ends
// every process it leaves behind (as the end of a PID namespace's init
// does), and says how it ended.
func (p *Process) Wait() Status {
	<-p.done
	p.sb.killAll()
	p.mu.Lock()
	st := p.status
	p.mu.Unlock()
	st.Level = p.level
	st.Unimplemented = p.sb.nosysCounts()
	return st
}

// Kill ends the program as SIGKILL would.
func (p *Process) Kill() { p.exitGroup(128+linux.SIGKILL, linux.SIGKILL) }

// release gives back the guest, its files and its memory records.
func (p *Process) release() {
	if p.files != nil {
		p.files.Close()
	}
	p.giveBack()
	p.borrowers.Wait()
	if p.mem != nil && !p.borrowed {
		p.mem.Release()
	}
	if p.g != nil && !p.borrowed {
		p.g.Close()
	}
	p.mu.Lock()
	if p.alarm != nil {
		p.alarm.Stop()
	}
	p.mu.Unlock()
}

// giveBack ends a vfork child's borrowing of its parent's guest (its
// execve, or its end).
func (p *Process) giveBack() {
	if p.lender != nil {
		p.lender.borrowers.Done()
		p.lender = nil
	}
}

// exitGroup ends every thread: code is the status, sig the killing
// signal (0 for exit_group). The first call decides the status.
func (p *Process) exitGroup(code, sig int) {
	p.mu.Lock()
	if !p.exiting {
		p.exiting = true
		p.status.Code, p.status.Signal = code&0xff, sig
		if sig != 0 {
			p.status.Code = 128 + sig
		}
	}
	ts := p.threadList()
	for _, t := range ts {
		t.attention.Store(true)
	}
	p.mu.Unlock()
	for _, t := range ts {
		t.kick()
	}
}

// fail stops the program because the host cannot go on serving it.
func (p *Process) fail(err error) {
	p.mu.Lock()
	if p.status.Err == nil && !p.exiting {
		p.status.Err = err
	}
	p.mu.Unlock()
	p.exitGroup(128+linux.SIGKILL, linux.SIGKILL)
}

func (p *Process) threadList() []*Thread {
	ts := make([]*Thread, 0, len(p.threads))
	for _, t := range p.threads {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].tid < ts[j].tid })
	return ts
}

func (p *Process) initLimits() {
	inf := linux.RLIM_INFINITY
	for i := range p.limits {
		p.limits[i] = [2]uint64{inf, inf}
	}
	p.limits[linux.RLIMIT_STACK] = [2]uint64{p.stackSize(), inf}
	p.limits[linux.RLIMIT_NOFILE] = [2]uint64{1024, 1024}
	p.limits[linux.RLIMIT_CORE] = [2]uint64{0, inf}
	p.limits[linux.RLIMIT_NPROC] = [2]uint64{64, 64}
	p.limits[linux.RLIMIT_MEMLOCK] = [2]uint64{8 << 20, 8 << 20}
	p.limits[linux.RLIMIT_AS] = [2]uint64{p.cfg.MemoryLimit, p.cfg.MemoryLimit}
	p.limits[linux.RLIMIT_DATA] = [2]uint64{p.cfg.MemoryLimit, p.cfg.MemoryLimit}
}

// stackSize is the main thread's stack at the process's level.
func (p *Process) stackSize() uint64 {
	if p.level == sandbox.Level3 {
		return stackSize
	}
	return ringStackSize
}

func baseName(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		path = path[i+1:]
	}
	if len(path) > 15 {
		path = path[:15]
	}
	return path
}

// procInfo gives the file system's /proc/self the process's view.
type procInfo struct{ p *Process }

func (pi procInfo) Exe() string       { return pi.p.exe }
func (pi procInfo) Cmdline() []string { return pi.p.cfg.Argv }
func (pi procInfo) Maps() string      { return pi.p.mem.Maps() }
func (pi procInfo) PID() int          { return pi.p.pid }
func (pi procInfo) Stat() string      { return pi.p.statLine() }
func (pi procInfo) Status() string    { return pi.p.statusText() }

func (p *Process) statLine() string {
	ppid, pgid, sid := p.sb.ids(p)
	return fmt.Sprintf("%d (%s) R %d %d %d 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 %d 0 0 %d 0\n",
		p.pid, p.comm, ppid, pgid, sid, len(p.threads), p.cfg.MemoryLimit)
}

func (p *Process) statusText() string {
	ppid, _, _ := p.sb.ids(p)
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("Name:\t%s\nState:\tR (running)\nTgid:\t%d\nPid:\t%d\nPPid:\t%d\nUid:\t%d\t%d\t%d\t%d\nGid:\t%d\t%d\t%d\t%d\nThreads:\t%d\n",
		p.comm, p.pid, p.pid, ppid, p.ids.uid, p.ids.euid, p.ids.suid, p.ids.euid, p.ids.gid, p.ids.egid, p.ids.sgid, p.ids.egid, len(p.threads))
}

// vectorStateSize is the size of a thread's XSAVE image.
func vectorStateSize() int { return int(cpu.XsaveSize) }
