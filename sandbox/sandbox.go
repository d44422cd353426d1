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
//	         guest's executable memory passes the code scan (exec.go).
//	         Refused on CPUs exposed to Meltdown.
//	Level 3  separate address spaces (not built yet).
//	Level 4  VMX virtual machines (not built yet).
//
// The host is ordinary Go code. A typical host loop implements the
// guest's system-call ABI:
//
//	g, err := sandbox.New(sandbox.Config{Level: sandbox.Level2, Regions: ..., Regs: ...})
//	if err != nil { ... }
//	defer g.Close()
//	for {
//		exit, err := g.Run()
//		if err != nil { ... }
//		switch exit.Kind {
//		case sandbox.ExitSyscall:
//			g.SetReturn(handle(g, exit.Syscall))
//		default:
//			return exit // a fault, an expired budget, a kill
//		}
//	}
//
// Package abi is such a host: the small default ABI the tests and the demo
// use. Because every level implements Guest, the same handler serves a
// guest at any level; the level is a field of Config.
package sandbox

import (
	"errors"
	"fmt"
	"time"
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
	// (default 50 ms).
	Budget time.Duration
	// MemoryLimit caps the bytes of all regions, including ones added
	// later with Map (default 64 MiB).
	MemoryLimit uint64
	// Shared are host regions the guest may access.
	Shared []Share
	// Group, at level 2, makes guests share one protection key: guests of
	// one group are not separated from each other. Nil: a key of its own.
	Group *KeyGroup
}

// ExitKind says why Run returned.
type ExitKind int

const (
	ExitSyscall ExitKind = iota + 1
	ExitFault
	ExitBudget
	ExitKilled
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
	}
	return "unknown"
}

// Syscall is a guest system call: its number (RAX) and arguments (RDI,
// RSI, RDX, R10, R8, R9, the Linux convention).
type Syscall struct {
	Nr   uint64
	Args [6]uint64
}

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

// Exit is what stopped the guest.
type Exit struct {
	Kind    ExitKind
	Syscall Syscall
	Fault   Fault
	Reason  string // ExitKilled
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
	}
	return e.Kind.String()
}

// Guest is a sandboxed guest. Its methods are meant for the one goroutine
// that hosts it; Run and Close refuse to overlap with a Run in another
// goroutine (ErrRunning).
type Guest interface {
	// Level is the guest's isolation level.
	Level() Level
	// Run runs the guest until its next exit.
	Run() (Exit, error)
	// Regs and SetRegs read and replace the register state.
	Regs() Regs
	SetRegs(Regs) error
	// SetReturn sets RAX, the system-call result.
	SetReturn(v uint64)
	// ReadMemory and WriteMemory copy from and to guest memory; the range
	// must lie in the guest's regions.
	ReadMemory(addr uint64, b []byte) error
	WriteMemory(addr uint64, b []byte) error
	// Map adds a region, Unmap removes one, Protect changes a region's
	// permission (making memory executable scans it again at level 2).
	Map(r Region) (uint64, error)
	Unmap(addr uint64) error
	Protect(addr uint64, p Perm) error
	// Close releases everything the guest holds.
	Close() error
}

// ErrClosed is returned by the methods of a closed guest.
var ErrClosed = errors.New("sandbox: guest is closed")

// New creates a guest at cfg.Level.
func New(cfg Config) (Guest, error) {
	switch cfg.Level {
	case Level1, Level2:
		return newRingGuest(cfg)
	case Level3:
		return nil, errors.New("sandbox: level 3 (separate address spaces) is not implemented yet")
	case Level4:
		return nil, errors.New("sandbox: level 4 (virtual machines) is not implemented yet")
	}
	return nil, fmt.Errorf("sandbox: no such level %d", int(cfg.Level))
}
