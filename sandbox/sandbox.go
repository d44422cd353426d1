// Package sandbox is the host API of beelzebox: one interface to create a
// guest, run it to its next exit, inspect and change its registers and
// memory, and close it, whatever the level that isolates it.
//
//	Level 1  ring 3 in the kernel's address space; a system call switches
//	         the host thread into the guest and the guest's next system
//	         call switches it back. No protection between guests: a level
//	         1 guest sees every guest's memory, level 2 guests' included.
//	         It runs with protection keys off (WRPKRU is #UD).
//	Level 2  level 1 plus protection keys: the guest sees only its own
//	         memory and what the host shares with it. Keys do not limit
//	         instruction fetch, so while a level 2 guest exists every
//	         guest's executable memory passes the code scan
//	         (sandbox/ring).
//	         Refused on CPUs exposed to Meltdown.
//	Level 3  a guest is a process: an address space of its own that maps
//	         none of the kernel but the entry pages (supervisor-only), so
//	         any lower-half address but those is the guest's to use, and
//	         threads that are kernel threads of their own, preemptively
//	         scheduled beside the host's. A thread's system call stops it
//	         for the host goroutine in its Run, or for a Port where one
//	         goroutine serves many threads of many guests (sandbox/process).
//	Level 4  a guest is a VMX virtual machine: guest-physical memory
//	         behind EPT, vCPUs as its threads, each run by the goroutine
//	         in its Run (sandbox/vm). Run returns the VM exits the
//	         backend does not handle itself as ExitVM, VMCALL as
//	         ExitSyscall (the hypercall ABI is the system-call ABI), and
//	         intercepted exceptions as ExitFault; sandbox/vm/machine is
//	         the hypervisor host that turns a VM into a PC for multiboot
//	         kernels.
//
// The host is ordinary Go code. A typical host loop implements the
// guest's system-call ABI:
//
//	g, err := sandbox.New(sandbox.Config{Level: sandbox.Level2, Regions: ..., Regs: ...})
//	if err != nil { ... }
//	defer g.Close()
//	t := g.Main()
//	for {
//		exit, err := t.Run()
//		if err != nil { ... }
//		switch exit.Kind {
//		case sandbox.ExitSyscall:
//			t.SetReturn(handle(g, exit.Syscall))
//		default:
//			return exit // a fault, an expired budget, a kill, an interrupt
//		}
//	}
//
// Package abi is such a host: the small default ABI the tests and the demo
// use. Because every level implements Guest, the same handler serves a
// guest at any level; the level is a field of Config.
//
// Each level is a Backend that its package registers (sandbox/ring for
// levels 1 and 2): a program has the levels whose packages it imports.
// What this package exports for backends alone (AllocKey, FreeKey,
// KeyGroup.Acquire and Release, SharedRegion.Use and Unuse) says so.
package sandbox

import (
	"errors"
	"fmt"
	"time"

	"beelzebox/cpu"
	"beelzebox/cpu/vmx"
	"beelzebox/kernel"
)

// Level is how a guest is isolated.
type Level int

const (
	Level1 Level = 1 + iota
	Level2
	Level3
	Level4
)

func (l Level) String() string { return fmt.Sprintf("level %d", int(l)) }

// Perm is what guest code may do with a region.
type Perm uint8

const (
	Read Perm = 1 << iota
	Write
	Exec
)

func (p Perm) String() string {
	b := []byte("---")
	if p&Read != 0 {
		b[0] = 'r'
	}
	if p&Write != 0 {
		b[1] = 'w'
	}
	if p&Exec != 0 {
		b[2] = 'x'
	}
	return string(b)
}

// Region is guest memory: Size bytes at guest address Addr (0: the
// sandbox picks the address) with permission Perm, initialised with Data
// (the rest is zero).
type Region struct {
	Name string
	Addr uint64
	Size uint64
	Perm Perm
	Data []byte
}

// Regs is the guest's general register state.
type Regs struct {
	RAX, RBX, RCX, RDX, RSI, RDI, RBP, RSP uint64
	R8, R9, R10, R11, R12, R13, R14, R15   uint64
	RIP, RFLAGS                            uint64
	FSBase, GSBase                         uint64
}

// Share gives a guest access to a host region (see NewSharedRegion).
type Share struct {
	Region   *SharedRegion
	Writable bool
}

// Config describes a guest.
type Config struct {
	Level   Level
	Regions []Region
	Regs    Regs
	// Budget is the CPU time a Run may use before it returns ExitBudget
	// (0: DefaultBudget).
	Budget time.Duration
	// MemoryLimit caps the bytes of all regions, including ones added
	// later with Map (0: DefaultMemoryLimit).
	MemoryLimit uint64
	// Shared are host regions the guest may access.
	Shared []Share
	// Group, at level 2, makes guests share one protection key: guests of
	// one group are not separated from each other. Nil: a key of its own.
	Group *KeyGroup
	// MaxThreads caps the guest's threads (DefaultMaxThreads if 0).
	MaxThreads int
	// AddressSpace, at levels 1 and 2, is how much of the guest window
	// the guest takes for regions it places, or the host places inside
	// AddressRange (rounded up to 1 GiB slots; 0: one slot).
	AddressSpace uint64
	// Port, at level 3, takes the exits of the guest's threads that the
	// host resumed with Resume. Nil: the guest has none, and its threads
	// run only inside Run.
	Port Port
	// VM configures a level 4 guest.
	VM VMConfig
}

// VMConfig is what a level 4 guest has beyond memory and registers. Its
// Regions are guest-physical RAM (any permission, W and X together
// included: the guest's own page tables protect its memory); its Regs
// are the vCPU's general registers and RIP, and the vCPU starts as a
// multiboot loader leaves a processor (SDM Vol. 3A §10.1 and Multiboot
// §3.2): 32-bit protected mode, paging off, flat 4 GiB segments.
type VMConfig struct {
	// Exceptions is the exception bitmap: the vectors whose exceptions
	// stop the vCPU with ExitFault instead of going to the guest's IDT.
	Exceptions uint32
	// CheckEntry runs the VM-entry checker (cpu/vmx.Check) before the
	// first entry and whenever an entry fails, and names the broken
	// rules in the error.
	CheckEntry bool
}

// Defaults of Config.
const (
	DefaultBudget      = 50 * time.Millisecond
	DefaultMemoryLimit = 64 << 20
	DefaultMaxThreads  = 64
)

// ExitKind says why a thread stopped.
type ExitKind int

const (
	// ExitSyscall: the thread made a system call; it waits for the host
	// to answer (SetReturn, then Run or Resume).
	ExitSyscall ExitKind = iota + 1
	// ExitFault: an exception in the thread.
	ExitFault
	// ExitBudget: the thread ran its Run's budget of CPU time without
	// another exit.
	ExitBudget
	// ExitKilled: the kernel stopped the thread for good (Reason says
	// why); it cannot run again.
	ExitKilled
	// ExitInterrupted: another goroutine called the thread's Interrupt.
	// Nothing happened to the thread: it can run on.
	ExitInterrupted
	// ExitThreadExited: the thread ended (Thread.Exit, or the guest was
	// closed) while a goroutine waited for its exits.
	ExitThreadExited
	// ExitVM: a VM exit of a level 4 vCPU that the host handles (VM).
	ExitVM
)

func (k ExitKind) String() string {
	switch k {
	case ExitSyscall:
		return "syscall"
	case ExitFault:
		return "fault"
	case ExitBudget:
		return "budget"
	case ExitKilled:
		return "killed"
	case ExitInterrupted:
		return "interrupted"
	case ExitThreadExited:
		return "thread exited"
	case ExitVM:
		return "vm exit"
	}
	return "unknown"
}

// Syscall is a guest system call: its number (RAX) and arguments (RDI,
// RSI, RDX, R10, R8, R9, the Linux convention).
type Syscall struct {
	Nr   uint64
	Args [6]uint64
}

// NullSyscall is the one system call the kernel answers itself, at every
// ring-3 level, without waking the host: it returns 0 (kernel.NullSyscall).
const NullSyscall = kernel.NullSyscall

// Fault is an exception in the guest.
type Fault struct {
	Vector    uint64
	ErrorCode uint64
	CR2       uint64 // faulting address for #PF
	RIP       uint64
	// NotEntered: the kernel did not enter the guest, whose state could
	// not be loaded (a RIP or segment base outside the lower half, a
	// non-canonical RSP); the #GP is the one the CPU would raise if it
	// tried. The guest ran nothing.
	NotEntered bool
}

// PK reports whether a page fault was a protection-key violation.
func (f Fault) PK() bool { return f.Vector == 14 && f.ErrorCode&(1<<5) != 0 }

// Exit is what stopped a thread: a typed event. Kind says which of the
// fields below it carries; Thread is the thread it happened to, which is
// how a goroutine serving many threads (a Port) knows whom to answer.
type Exit struct {
	Kind    ExitKind
	Thread  Thread
	Syscall Syscall // ExitSyscall
	Fault   Fault   // ExitFault
	Reason  string  // ExitKilled
	// VM is the VM exit (ExitVM; nil otherwise). It is the vCPU's own
	// record, valid until the vCPU runs again. A pointer: every level
	// copies Exit by value on its round trip.
	VM *VMExit
}

// VMExit is a VM exit of a level 4 vCPU (SDM Vol. 3C §28.2): the basic
// exit reason and the exit-information fields that go with it.
type VMExit struct {
	Reason            vmx.ExitReason
	Qualification     uint64
	GuestPhysical     uint64 // EPT violations and misconfigurations
	GuestLinear       uint64
	InstructionLength uint32
	InstructionInfo   uint32
	Interruption      vmx.EventInfo // exception or NMI exits
	InterruptionError uint32
	RIP               uint64
}

func (e VMExit) String() string {
	return fmt.Sprintf("%v qualification %#x gpa %#x rip %#x", e.Reason, e.Qualification, e.GuestPhysical, e.RIP)
}

func (e Exit) String() string {
	switch e.Kind {
	case ExitSyscall:
		return fmt.Sprintf("syscall %d", e.Syscall.Nr)
	case ExitFault:
		s := fmt.Sprintf("fault vector %d err %#x cr2 %#x rip %#x", e.Fault.Vector, e.Fault.ErrorCode, e.Fault.CR2, e.Fault.RIP)
		if e.Fault.NotEntered {
			s += " (state not loadable: not entered)"
		}
		return s
	case ExitKilled:
		return "killed: " + e.Reason
	case ExitVM:
		if e.VM != nil {
			return "vm exit: " + e.VM.String()
		}
	}
	return e.Kind.String()
}

// Guest is a sandboxed guest: its memory, its lifetime and limits, and
// its threads of execution. Levels 1 and 2 have exactly one thread (the
// host goroutine that runs it becomes it); level 3 guests have as many as
// their thread limit allows, each a kernel thread scheduled on its own;
// level 4 guests' threads will be their vCPUs.
//
// Every method may be called from any goroutine. Memory methods of one
// guest are serialised; a copy never sees a region freed under it.
type Guest interface {
	// Level is the guest's isolation level.
	Level() Level

	// Main is the guest's first thread, created from Config.Regs.
	Main() Thread
	// NewThread creates a stopped thread with registers r. It runs once
	// the host calls its Run (or, at level 3, Resume). A guest past its
	// thread limit gets ErrThreadLimit.
	NewThread(r Regs) (Thread, error)
	// Threads lists the threads that have not exited.
	Threads() []Thread

	// ReadMemory and WriteMemory copy from and to guest memory; the range
	// must lie in the guest's regions.
	ReadMemory(addr uint64, b []byte) error
	WriteMemory(addr uint64, b []byte) error
	// Map adds a region, Unmap removes one, Protect changes a region's
	// permission (making memory executable scans it again at level 2).
	Map(r Region) (uint64, error)
	Unmap(addr uint64) error
	Protect(addr uint64, p Perm) error
	// PermAt is the permission of the guest page at addr; false if no
	// region holds it.
	PermAt(addr uint64) (Perm, bool)
	// RegionAddrs lists the start of each region in the order they were
	// mapped (for hosts that place regions at address 0).
	RegionAddrs() []uint64
	// AddressRange is where the host may place the guest's regions by
	// address itself: [lo, hi) holds nothing of the kernel's or of
	// another guest's (levels 1 and 2: the guest's slots of the guest
	// window, Config.AddressSpace; level 3: the lower half above 4 GiB;
	// level 4: its guest-physical RAM). Regions by address elsewhere are
	// refused where they collide.
	AddressRange() (lo, hi uint64)

	// Duplicate makes a new guest of the same level whose memory is a
	// copy of this guest's: every region at the same address with the
	// same permission, the same limits (memory, threads, budget) and
	// port, and the same shared regions, shared rather than copied. The
	// copy is copy-on-write: a page the guest has backed is not copied
	// until either guest (or the host, with WriteMemory) writes it, and a
	// page it has not backed yet stays a demand-zero page in both. The
	// new guest's memory is charged in full to its own limit, as if every
	// page were copied. Its one thread, Main, is stopped, with a copy of
	// the registers and vector state of from, a stopped thread of this
	// guest (the base for fork); the other threads are not duplicated.
	// Levels 1 and 2 return ErrNoDuplicate.
	Duplicate(from Thread) (Guest, error)

	// Close stops every thread (a thread blocked in a call or running is
	// killed) and releases everything the guest holds. Close of a level 1
	// or 2 guest whose thread is running in another goroutine returns
	// ErrRunning.
	Close() error
}

// Thread is a thread of execution of a guest.
type Thread interface {
	// Guest is the guest the thread belongs to.
	Guest() Guest
	// ID is the thread's number in its guest, from 1 (Main) up.
	ID() int
	// Run lets the thread run until its next exit and returns it. At
	// levels 1 and 2 the calling goroutine becomes the thread; at level 3
	// the thread runs as its own kernel thread and Run waits for it. Run
	// returns ExitBudget once the thread used Config.Budget of CPU time
	// without another exit. One Run at a time: a second gets ErrRunning.
	Run() (Exit, error)
	// Resume lets a stopped level 3 thread run on without waiting for it:
	// its next exit goes to its guest's Port (Config.Port). Without a
	// port, and at levels 1 and 2 (their thread runs only inside Run),
	// it returns ErrNoPort. A thread is served one way at a time: an
	// exit goes to the goroutine in its Run if there is one, else to the
	// port.
	Resume() error
	// Regs and SetRegs read and replace the register state of a stopped
	// thread; a running one gives ErrRunning (Regs: the zero Regs).
	Regs() Regs
	SetRegs(Regs) error
	// SetReturn sets RAX, the system-call result.
	SetReturn(v uint64)
	// VectorState copies the XSAVE image (standard format, cpu.XsaveSize
	// bytes) of the stopped thread's x87, SSE and AVX state into b;
	// SetVectorState loads one, sanitised so that it names only the
	// components the kernel enables (cpu.SanitizeXsave). A running thread
	// gives ErrRunning; level 4 vCPUs give ErrNoVectorState.
	VectorState(b []byte) error
	SetVectorState(b []byte) error
	// PKRU is the protection-key rights register the thread had when it
	// last stopped (level 2; 0 at other levels).
	PKRU() uint32
	// Interrupt, from any goroutine, makes the thread's current or next
	// Run return ExitInterrupted soon after; nothing else changes.
	Interrupt()
	// Exit ends the thread: it never runs again; a goroutine waiting for
	// it gets ExitThreadExited (level 3; at levels 1 and 2 a thread that
	// is running gives ErrRunning). The last thread's exit does not close
	// the guest.
	Exit() error
}

// Port is where the exits of level 3 threads that the host resumed with
// Resume wait to be served: one goroutine, or several, take them with
// Next and answer each through Exit.Thread. A port may serve the threads
// of many guests (Config.Port).
type Port interface {
	// Next waits for the next exit of any thread served by the port.
	// After Close it returns ErrClosed.
	Next() (Exit, error)
	// Close wakes every goroutine in Next; the guests keep their threads,
	// whose exits wait for no one.
	Close() error
}

// Errors of the host API.
var (
	// ErrClosed is returned by the methods of a closed guest or port.
	ErrClosed = errors.New("sandbox: guest is closed")
	// ErrRunning is returned by Run and Close while another goroutine runs
	// the thread, and by the register methods of a running thread.
	ErrRunning = errors.New("sandbox: the thread is running")
	// ErrNoVectorState: level 4 keeps a vCPU's vector state inside the VM.
	ErrNoVectorState = errors.New("sandbox: a vCPU's vector state is not the host's")
	// ErrVCPUExit: a level 4 vCPU lives as long as its VM.
	ErrVCPUExit = errors.New("sandbox: a vCPU lives as long as its VM")
	// ErrNoPort: the thread has no port to take its exits (Resume at
	// levels 1 and 2).
	ErrNoPort = errors.New("sandbox: the thread's exits have no port: use Run")
	// ErrThreadLimit: the guest has Config.MaxThreads threads.
	ErrThreadLimit = errors.New("sandbox: the guest is at its thread limit")
	// ErrExited: the thread has exited.
	ErrExited = errors.New("sandbox: the thread has exited")
	// ErrNoDuplicate: level 1 and 2 guests share one address space (the
	// kernel's), where a copy of a guest cannot have the same addresses.
	ErrNoDuplicate = errors.New("sandbox: a level 1 or 2 guest cannot be duplicated: all of them share one address space, where a copy cannot have the same addresses")
)

// Backend is a level's implementation, registered by its package
// (sandbox/ring for levels 1 and 2, sandbox/process for level 3) the way
// gVisor registers platforms: with what it needs from the CPU.
type Backend struct {
	// Requires names the CPU features the level needs, for people.
	Requires string
	// Available says why this CPU cannot run the level, or nil.
	Available func() error
	// New creates a guest.
	New func(cfg Config) (Guest, error)
	// NewPort creates a port (levels whose threads run on their own).
	NewPort func() (Port, error)
}

var backends [Level4 + 1]*Backend

// Register installs the backend of level l; a level registers once.
func Register(l Level, b *Backend) {
	if l < Level1 || l > Level4 || backends[l] != nil {
		panic(fmt.Sprintf("sandbox: bad or repeated registration of %v", l))
	}
	backends[l] = b
}

// LevelInfo describes a level on this machine.
type LevelInfo struct {
	Level    Level
	Requires string
	// Err says why the level cannot run here (nil: it can).
	Err error
}

// Levels describes every level: what it requires and whether this CPU
// has it.
func Levels() []LevelInfo {
	var out []LevelInfo
	for l := Level1; l <= Level4; l++ {
		out = append(out, LevelInfo{Level: l, Requires: requires(l), Err: Available(l)})
	}
	return out
}

func requires(l Level) string {
	if b := backends[l]; b != nil {
		return b.Requires
	}
	return "not built yet"
}

// Available reports why this machine cannot run guests at level l, or nil.
func Available(l Level) error {
	if l < Level1 || l > Level4 {
		return fmt.Errorf("sandbox: no such level %d", int(l))
	}
	b := backends[l]
	if b == nil {
		return fmt.Errorf("sandbox: %v is not implemented yet", l)
	}
	if b.Available != nil {
		return b.Available()
	}
	return nil
}

// New creates a guest at cfg.Level.
func New(cfg Config) (Guest, error) {
	if err := Available(cfg.Level); err != nil {
		return nil, err
	}
	return backends[cfg.Level].New(cfg)
}

// NewPort creates a port for guests at level l.
func NewPort(l Level) (Port, error) {
	if err := Available(l); err != nil {
		return nil, err
	}
	if backends[l].NewPort == nil {
		return nil, fmt.Errorf("sandbox: %v has no ports: its threads run inside Run", l)
	}
	return backends[l].NewPort()
}

// LoadRegs, for backends, loads r into ctx, the saved state of a stopped
// thread. RFLAGS keeps only the flags ring 3 may hold (IF always set,
// IOPL 0); RIP and the segment bases must be canonical lower-half
// addresses and RSP canonical, so that entering the thread cannot fault
// in ring 0. A refused state changes nothing.
func LoadRegs(ctx *cpu.UserContext, r Regs) error {
	for _, c := range []struct {
		name string
		v    uint64
		ok   bool
	}{
		{"RIP", r.RIP, cpu.ValidUserRIP(r.RIP)},
		{"RSP", r.RSP, cpu.Canonical(r.RSP)},
		{"FS base", r.FSBase, cpu.ValidUserRIP(r.FSBase)},
		{"GS base", r.GSBase, cpu.ValidUserRIP(r.GSBase)},
	} {
		if !c.ok {
			return fmt.Errorf("sandbox: %s %#x is not a canonical lower-half address", c.name, c.v)
		}
	}
	ctx.Regs = cpu.Frame{
		AX: r.RAX, BX: r.RBX, CX: r.RCX, DX: r.RDX, SI: r.RSI, DI: r.RDI, BP: r.RBP, RSP: r.RSP,
		R8: r.R8, R9: r.R9, R10: r.R10, R11: r.R11, R12: r.R12, R13: r.R13, R14: r.R14, R15: r.R15,
		RIP: r.RIP, RFLAGS: cpu.SanitizeUserFlags(r.RFLAGS),
		CS: cpu.SelUserCode, SS: cpu.SelUserData,
	}
	ctx.FSBase, ctx.GSBase = r.FSBase, r.GSBase
	return nil
}

// SavedRegs, for backends, is the register state saved in ctx.
func SavedRegs(ctx *cpu.UserContext) Regs {
	f := &ctx.Regs
	return Regs{
		RAX: f.AX, RBX: f.BX, RCX: f.CX, RDX: f.DX, RSI: f.SI, RDI: f.DI, RBP: f.BP, RSP: f.RSP,
		R8: f.R8, R9: f.R9, R10: f.R10, R11: f.R11, R12: f.R12, R13: f.R13, R14: f.R14, R15: f.R15,
		RIP: f.RIP, RFLAGS: f.RFLAGS, FSBase: ctx.FSBase, GSBase: ctx.GSBase,
	}
}

// MaxRegions bounds a guest's region table at every level: a guest that
// maps page after page gets an error, not the host's memory.
const MaxRegions = 1024

// CheckRegion, for backends, checks what every level requires of a new
// region of a guest that has n regions already: a size that holds its
// data, W^X, room in the region table. It returns the size in whole pages.
func CheckRegion(r Region, n int) (uint64, error) {
	size := (r.Size + 4095) &^ 4095
	switch {
	case size == 0 || uint64(len(r.Data)) > size:
		return 0, fmt.Errorf("sandbox: region %q: size %d cannot hold %d bytes of data", r.Name, r.Size, len(r.Data))
	case r.Perm&Write != 0 && r.Perm&Exec != 0:
		return 0, fmt.Errorf("sandbox: region %q is writable and executable: guest memory is W^X", r.Name)
	case n >= MaxRegions:
		return 0, fmt.Errorf("sandbox: region %q: the guest already has %d regions, the most it may have", r.Name, MaxRegions)
	}
	return size, nil
}

// CopyVectorState copies between an XSAVE area and b for VectorState and
// SetVectorState, sanitising what is loaded.
func CopyVectorState(area, b []byte, load bool) error {
	if len(b) < len(area) {
		return fmt.Errorf("sandbox: vector state buffer of %d bytes, want %d", len(b), len(area))
	}
	if !load {
		copy(b, area)
		return nil
	}
	tmp := make([]byte, len(area))
	copy(tmp, b)
	cpu.SanitizeXsave(tmp)
	copy(area, tmp)
	return nil
}
