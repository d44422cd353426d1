// Package syscall answers the Linux system calls of the Go runtime that
// runs the kernel itself: its threads (clone, futex), memory (mmap and
// friends, backed on demand by mm), clocks, signals (rt_sigaction,
// rt_sigreturn, tgkill for asynchronous preemption), the netpoller's
// epoll and eventfd, and console output. It also routes the kernel's own
// system calls (numbers from PrivateBase up, such as the sandbox's Run) to
// the packages that register them.
//
// Everything here runs in handler context (see package cpu): no
// allocation, interrupts disabled. Pointers come from the Go runtime,
// which the kernel trusts; touching one that is not backed yet takes a
// nested page fault that mm backs.
package syscall

import (
	"unsafe"

	"beelzebox/cpu"
	"beelzebox/kernel"
	"beelzebox/linux"
	"beelzebox/mm"
)

// Linux errno values (package linux holds them), as handler results.
const (
	EPERM     = int64(linux.EPERM)
	ENOENT    = int64(linux.ENOENT)
	EINTR     = int64(linux.EINTR)
	EBADF     = int64(linux.EBADF)
	EAGAIN    = int64(linux.EAGAIN)
	ENOMEM    = int64(linux.ENOMEM)
	EFAULT    = int64(linux.EFAULT)
	ENODEV    = int64(linux.ENODEV)
	EINVAL    = int64(linux.EINVAL)
	ENOSYS    = int64(linux.ENOSYS)
	ETIMEDOUT = int64(linux.ETIMEDOUT)
	ESRCH     = int64(linux.ESRCH)
)

// PrivateBase is the first of the kernel's own system-call numbers, far
// above Linux's.
const PrivateBase = 0x4000

// Handler handles a system call and returns its result (a negative errno
// on failure).
type Handler func(f *cpu.Frame) int64

var private [16]Handler

// Register installs h for the private call PrivateBase+n. It is called
// from package initialisation, before any such call can be made.
func Register(n int, h Handler) { private[n] = h }

var (
	// Unknown counts calls answered with ENOSYS.
	Unknown  uint64
	reported [512]bool
)

// Init installs the dispatcher.
func Init() { cpu.SyscallHook = dispatch }

//go:nosplit
func dispatch(f *cpu.Frame) {
	nr := f.AX
	if nr == sysRtSigreturn {
		kernel.Lock()
		kernel.SigReturn(f)
		kernel.Unlock()
		kernel.DeliverSignals(f)
		return
	}
	var r int64
	switch {
	case nr == PrivateBase+CallRun:
		// The round trip of levels 1 and 2 takes the kernel lock only
		// when it needs the scheduler (kernel/smp.go).
		r = private[CallRun](f)
	case nr < uint64(len(lockFree)) && lockFree[nr]:
		r = answerLinux(f, nr)
	case nr >= PrivateBase && nr < PrivateBase+uint64(len(private)) && private[nr-PrivateBase] != nil:
		kernel.Lock()
		r = private[nr-PrivateBase](f)
		kernel.Unlock()
	default:
		kernel.Lock()
		r = answerLinux(f, nr)
		kernel.Unlock()
	}
	f.AX = uint64(r)
	// Linux returns with RCX = RIP and R11 = RFLAGS, as SYSRET leaves them.
	f.CX = f.RIP
	f.R11 = f.RFLAGS
	kernel.DeliverSignals(f)
}

// lockFree are the calls answerLinux answers without the kernel lock:
// they read constants, the running thread's own record or the clock, and
// write only the caller's memory (a page fault there takes the lock in
// the fault handler).
var lockFree = [...]bool{
	sysGetpid:       true,
	sysGettid:       true,
	sysClockGettime: true,
	sysClockGetres:  true,
	sysGettimeofday: true,
	sysTime:         true,
}

// The system calls answered here (package linux numbers them all).
const (
	sysRead             = linux.SysRead
	sysWrite            = linux.SysWrite
	sysClose            = linux.SysClose
	sysMmap             = linux.SysMmap
	sysMprotect         = linux.SysMprotect
	sysMunmap           = linux.SysMunmap
	sysRtSigaction      = linux.SysRtSigaction
	sysRtSigprocmask    = linux.SysRtSigprocmask
	sysRtSigreturn      = linux.SysRtSigreturn
	sysSchedYield       = linux.SysSchedYield
	sysMadvise          = linux.SysMadvise
	sysNanosleep        = linux.SysNanosleep
	sysGetpid           = linux.SysGetpid
	sysClone            = linux.SysClone
	sysExit             = linux.SysExit
	sysKill             = linux.SysKill
	sysFcntl            = linux.SysFcntl
	sysGettimeofday     = linux.SysGettimeofday
	sysSigaltstack      = linux.SysSigaltstack
	sysPrctl            = linux.SysPrctl
	sysArchPrctl        = linux.SysArchPrctl
	sysGettid           = linux.SysGettid
	sysTkill            = linux.SysTkill
	sysTime             = linux.SysTime
	sysFutex            = linux.SysFutex
	sysSchedGetaffinity = linux.SysSchedGetaffinity
	sysSchedSetaffinity = linux.SysSchedSetaffinity
	sysClockGettime     = linux.SysClockGettime
	sysClockGetres      = linux.SysClockGetres
	sysExitGroup        = linux.SysExitGroup
	sysEpollCtl         = linux.SysEpollCtl
	sysTgkill           = linux.SysTgkill
	sysOpenat           = linux.SysOpenat
	sysEpollPwait       = linux.SysEpollPwait
	sysEventfd2         = linux.SysEventfd2
	sysEpollCreate1     = linux.SysEpollCreate1
	sysPrlimit64        = linux.SysPrlimit64
	sysGetrandom        = linux.SysGetrandom
	sysEpollPwait2      = linux.SysEpollPwait2
)

func answerLinux(f *cpu.Frame, nr uint64) int64 {
	a0, a1, a2, a3 := f.DI, f.SI, f.DX, f.R10
	switch nr {
	case sysRead:
		if a0 == fdEventfd {
			return eventfdRead(a1, a2)
		}
		if a0 == 0 {
			return 0
		}
		return -EBADF
	case sysWrite:
		switch a0 {
		case 1, 2:
			kernel.PrintBytes(unsafe.Slice((*byte)(ptr(a1)), a2))
			return int64(a2)
		case fdEventfd:
			return eventfdWrite(a1, a2)
		}
		return -EBADF
	case sysClose:
		return 0
	case sysMmap:
		return mmap(a0, a1, a2, a3, f.R8)
	case sysMprotect:
		return -int64(mm.Runtime.Mprotect(uintptr(a0), uintptr(a1), perm(a2)))
	case sysMunmap:
		return -int64(mm.Runtime.Munmap(uintptr(a0), uintptr(a1)))
	case sysMadvise:
		const madvDontneed, madvFree = 4, 8
		if a2 == madvDontneed || a2 == madvFree {
			return -int64(mm.Runtime.DontNeed(uintptr(a0), uintptr(a1)))
		}
		return 0
	case sysRtSigaction:
		return sigaction(a0, a1, a2)
	case sysRtSigprocmask:
		return sigprocmask(a0, a1, a2)
	case sysSigaltstack:
		return sigaltstack(a0, a1)
	case sysSchedYield:
		kernel.Yield()
		return 0
	case sysNanosleep:
		ts := (*timespec)(ptr(a0))
		if kernel.Block(0, kernel.Nanotime()+ts.nanos()) == kernel.WokenBySignal {
			return -EINTR
		}
		return 0
	case sysGetpid:
		return 1
	case sysGettid:
		return int64(kernel.Current().TID)
	case sysClone:
		return clone(f)
	case sysExit:
		kernel.ExitThread()
	case sysExitGroup:
		kernel.Exit(int(int32(a0)))
	case sysKill:
		kernel.Signal(kernel.Current(), int(a1))
		return 0
	case sysTkill, sysTgkill:
		tid, sig := a0, a1
		if nr == sysTgkill {
			tid, sig = a1, a2
		}
		t := kernel.FindThread(int32(tid))
		if t == nil || sig == 0 || sig > kernel.NSIG {
			return -EINVAL
		}
		kernel.Signal(t, int(sig))
		return 0
	case sysFcntl:
		const fGetfl = 3
		if a1 == fGetfl {
			return 2 // O_RDWR
		}
		return 0
	case sysPrctl:
		return 0
	case sysArchPrctl:
		const archSetFS, archGetFS = 0x1002, 0x1003
		switch a0 {
		case archSetFS:
			kernel.SetFS(f, a1)
			return 0
		case archGetFS:
			*(*uint64)(ptr(a1)) = kernel.Current().FSBase
			return 0
		}
		return -EINVAL
	case sysFutex:
		return futex(a0, a1, a2, a3)
	case sysSchedGetaffinity:
		if a1 < 8 {
			return -EINVAL
		}
		m, ok := kernel.Affinity(int32(a0))
		if !ok {
			return -ESRCH
		}
		*(*uint64)(ptr(a2)) = m
		return 8
	case sysSchedSetaffinity:
		if a1 < 8 {
			return -EINVAL
		}
		if _, ok := kernel.SetAffinity(int32(a0), *(*uint64)(ptr(a2))); !ok {
			return -EINVAL
		}
		return 0
	case sysClockGettime:
		ts := (*timespec)(ptr(a1))
		ts.set(clock(a0))
		return 0
	case sysClockGetres:
		if a1 != 0 {
			(*timespec)(ptr(a1)).set(1)
		}
		return 0
	case sysGettimeofday:
		if a0 != 0 {
			now := clock(0)
			tv := (*[2]int64)(ptr(a0))
			tv[0], tv[1] = now/1e9, now%1e9/1e3
		}
		return 0
	case sysTime:
		return clock(0) / 1e9
	case sysEpollCreate1:
		return fdEpoll
	case sysEventfd2:
		return fdEventfd
	case sysEpollCtl:
		return epollCtl(a0, a1, a2, a3)
	case sysEpollPwait, sysEpollPwait2:
		timeout := int64(int32(a3))
		if nr == sysEpollPwait2 {
			timeout = -1
			if a3 != 0 {
				timeout = (*timespec)(ptr(a3)).nanos() / 1e6
			}
		}
		return epollWait(a1, timeout)
	case sysOpenat:
		return -ENOENT
	case sysPrlimit64:
		if f.R10 != 0 {
			lim := (*[2]uint64)(ptr(f.R10))
			lim[0], lim[1] = 1024, 1024
		}
		return 0
	case sysGetrandom:
		buf := unsafe.Slice((*byte)(ptr(a0)), a1)
		for i := range buf {
			buf[i] = byte(kernel.Random())
		}
		return int64(a1)
	}
	Unknown++
	if !reported[min(nr, 511)] {
		reported[min(nr, 511)] = true
		kernel.Print("kernel: unknown system call ")
		kernel.PrintDec(nr)
		kernel.Print(" -> ENOSYS\n")
	}
	return -ENOSYS
}

func ptr(a uint64) unsafe.Pointer { return unsafe.Pointer(uintptr(a)) }

type timespec struct{ sec, nsec int64 }

func (ts *timespec) nanos() int64 { return ts.sec*1e9 + ts.nsec }
func (ts *timespec) set(ns int64) { ts.sec, ts.nsec = ns/1e9, ns%1e9 }

// RealtimeEpoch is what CLOCK_REALTIME reads at boot: the kernel has no
// RTC driver yet, so wall time starts at 2026-01-01T00:00:00Z.
const RealtimeEpoch = 1767225600 * 1e9

func clock(id uint64) int64 {
	now := kernel.Nanotime()
	switch id {
	case 0, 5, 8, 11: // REALTIME, REALTIME_COARSE, REALTIME_ALARM, TAI
		now += RealtimeEpoch
	}
	return now
}

func perm(prot uint64) mm.Perm {
	const protRead, protWrite, protExec = 1, 2, 4
	var p mm.Perm
	if prot&(protRead|protWrite|protExec) != 0 {
		p |= mm.PermRead
	}
	if prot&protWrite != 0 {
		p |= mm.PermWrite
	}
	if prot&protExec != 0 {
		p |= mm.PermExec
	}
	return p
}

func mmap(addr, length, prot, flags, fd uint64) int64 {
	const mapFixed, mapAnon, mapFixedNoreplace = 0x10, 0x20, 0x100000
	if flags&mapAnon == 0 {
		return -ENODEV
	}
	if flags&mapFixedNoreplace != 0 && mm.Runtime.Overlaps(uintptr(addr), uintptr(addr+length)) {
		return -17 // EEXIST
	}
	va, e := mm.Runtime.Mmap(uintptr(addr), uintptr(length), perm(prot), flags&(mapFixed|mapFixedNoreplace) != 0)
	if e != 0 {
		return -int64(e)
	}
	return int64(va)
}

func clone(f *cpu.Frame) int64 {
	const cloneSettls, cloneParentSettid = 0x80000, 0x100000
	child := *f
	child.AX = 0
	child.RSP = f.SI
	child.G = 0
	child.CX = f.RIP
	child.R11 = f.RFLAGS
	fs := kernel.Current().FSBase
	if f.DI&cloneSettls != 0 {
		fs = f.R8
	}
	t := kernel.Spawn(&child, fs)
	if t == nil {
		return -EAGAIN
	}
	t.SetMask(kernel.Current().Mask())
	if f.DI&cloneParentSettid != 0 && f.DX != 0 {
		*(*int32)(ptr(f.DX)) = t.TID
	}
	return int64(t.TID)
}

func futex(addr, op, val, timeout uint64) int64 {
	const (
		futexWait, futexWake, futexWaitBitset, futexWakeBitset = 0, 1, 9, 10
		futexCmdMask                                           = 0x7f
	)
	switch op & futexCmdMask {
	case futexWait, futexWaitBitset:
		if *(*uint32)(ptr(addr)) != uint32(val) {
			return -EAGAIN
		}
		var deadline int64
		if timeout != 0 {
			ts := (*timespec)(ptr(timeout))
			if op&futexCmdMask == futexWait {
				deadline = kernel.Nanotime() + ts.nanos()
			} else {
				deadline = ts.nanos() // absolute CLOCK_MONOTONIC
			}
			if deadline <= 0 {
				deadline = 1
			}
		}
		switch kernel.Block(uintptr(addr), deadline) {
		case kernel.WokenByTimeout:
			return -ETIMEDOUT
		case kernel.WokenBySignal:
			return -EINTR
		}
		return 0
	case futexWake, futexWakeBitset:
		return int64(kernel.Wake(uintptr(addr), int(int32(val))))
	}
	return -ENOSYS
}

func sigaction(sig, act, oact uint64) int64 {
	if sig == 0 || sig > kernel.NSIG {
		return -EINVAL
	}
	if oact != 0 {
		*(*kernel.SigAction)(ptr(oact)) = kernel.Actions[sig]
	}
	if act != 0 {
		if sig == kernel.SIGKILL || sig == 19 {
			return -EINVAL
		}
		kernel.Actions[sig] = *(*kernel.SigAction)(ptr(act))
	}
	return 0
}

func sigprocmask(how, set, oset uint64) int64 {
	t := kernel.Current()
	if oset != 0 {
		*(*uint64)(ptr(oset)) = t.Mask()
	}
	if set == 0 {
		return 0
	}
	s := *(*uint64)(ptr(set))
	switch how {
	case 0: // SIG_BLOCK
		t.SetMask(t.Mask() | s)
	case 1: // SIG_UNBLOCK
		t.SetMask(t.Mask() &^ s)
	case 2: // SIG_SETMASK
		t.SetMask(s)
	default:
		return -EINVAL
	}
	return 0
}

// stack_t: ss_sp, ss_flags (int32, padded), ss_size.
type stackT struct {
	sp    uint64
	flags int32
	_     int32
	size  uint64
}

func sigaltstack(ss, oss uint64) int64 {
	t := kernel.Current()
	if oss != 0 {
		sp, size, off := t.AltStack()
		o := (*stackT)(ptr(oss))
		*o = stackT{sp: sp, size: size}
		if off {
			o.flags = 2 // SS_DISABLE
		}
	}
	if ss != 0 {
		n := (*stackT)(ptr(ss))
		t.SetAltStack(n.sp, n.size, n.flags&2 != 0)
	}
	return 0
}
