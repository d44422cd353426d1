package host

import (
	"encoding/binary"
	"runtime"
	"time"

	"beelzebox/kernel"
	"beelzebox/linux"
	"beelzebox/syscall"
	"golang.org/x/sys/unix"
)

var le = binary.LittleEndian

// hostCalls puts the host's own calls in the table: process, thread,
// identity, time, signal and system-information calls.
func hostCalls() {
	def(linux.SysExit, Full, "", sysExit)
	def(linux.SysExitGroup, Full, "", sysExitGroup)
	def(linux.SysGetpid, Full, "", func(t *Thread, a [6]uint64) (uint64, linux.Errno) { return uint64(t.p.pid), 0 })
	def(linux.SysGettid, Full, "", func(t *Thread, a [6]uint64) (uint64, linux.Errno) { return uint64(t.tid), 0 })
	def(linux.SysGetppid, Full, "", func(t *Thread, a [6]uint64) (uint64, linux.Errno) { return uint64(t.p.ppid.Load()), 0 })
	def(linux.SysGetpgrp, Full, "", func(t *Thread, a [6]uint64) (uint64, linux.Errno) {
		_, pgid, _ := t.p.sb.ids(t.p)
		return uint64(pgid), 0
	})
	def(linux.SysGetpgid, Full, "", sysGetpgid)
	def(linux.SysGetsid, Full, "", sysGetsid)
	def(linux.SysSetpgid, Full, "", sysSetpgid)
	def(linux.SysSetsid, Full, "", sysSetsid)
	def(linux.SysGetuid, Full, "", func(t *Thread, a [6]uint64) (uint64, linux.Errno) { return uint64(t.p.ids.uid), 0 })
	def(linux.SysGeteuid, Full, "", func(t *Thread, a [6]uint64) (uint64, linux.Errno) { return uint64(t.p.ids.euid), 0 })
	def(linux.SysGetgid, Full, "", func(t *Thread, a [6]uint64) (uint64, linux.Errno) { return uint64(t.p.ids.gid), 0 })
	def(linux.SysGetegid, Full, "", func(t *Thread, a [6]uint64) (uint64, linux.Errno) { return uint64(t.p.ids.egid), 0 })
	def(linux.SysGetresuid, Full, "", sysGetres(true))
	def(linux.SysGetresgid, Full, "", sysGetres(false))
	def(linux.SysSetuid, Full, "", sysSetid(true))
	def(linux.SysSetgid, Full, "", sysSetid(false))
	def(linux.SysSetresuid, Partial, "sets all three ids to the first given", sysSetid(true))
	def(linux.SysSetresgid, Partial, "sets all three ids to the first given", sysSetid(false))
	def(linux.SysSetreuid, Partial, "sets every id to the effective one given", sysSetre(true))
	def(linux.SysSetregid, Partial, "sets every id to the effective one given", sysSetre(false))
	def(linux.SysGetgroups, Full, "", func(t *Thread, a [6]uint64) (uint64, linux.Errno) { return 0, 0 })
	def(linux.SysSetgroups, Partial, "the list is not kept", func(t *Thread, a [6]uint64) (uint64, linux.Errno) { return 0, 0 })
	def(linux.SysUname, Full, "", sysUname)
	def(linux.SysSysinfo, Full, "", sysSysinfo)
	def(linux.SysArchPrctl, Partial, "ARCH_SET/GET_FS and _GS; no CPUID faulting or shadow stacks", sysArchPrctl)
	def(linux.SysSetTidAddress, Full, "", func(t *Thread, a [6]uint64) (uint64, linux.Errno) {
		t.clearTID = a[0]
		return uint64(t.tid), 0
	})
	def(linux.SysSetRobustList, Partial, "the list is kept but not walked at thread exit", func(t *Thread, a [6]uint64) (uint64, linux.Errno) {
		if a[1] != 24 {
			return 0, linux.EINVAL
		}
		t.robustList, t.robustLen = a[0], a[1]
		return 0, 0
	})
	def(linux.SysGetRobustList, Partial, "the calling thread's only", func(t *Thread, a [6]uint64) (uint64, linux.Errno) {
		if a[0] != 0 && int(a[0]) != t.tid {
			return 0, linux.ESRCH
		}
		if err := t.putU64(a[1], t.robustList); err != 0 {
			return 0, err
		}
		return 0, t.putU64(a[2], t.robustLen)
	})
	def(linux.SysRseq, Refused, "restartable sequences are not registered (ENOSYS: the C libraries go on without)", func(t *Thread, a [6]uint64) (uint64, linux.Errno) { return 0, linux.ENOSYS })
	def(linux.SysPrlimit64, Partial, "the process's own limits only; limits are recorded, AS/DATA/NOFILE are what the sandbox enforces", sysPrlimit)
	def(linux.SysGetrlimit, Full, "", func(t *Thread, a [6]uint64) (uint64, linux.Errno) { return sysPrlimit(t, [6]uint64{0, a[0], 0, a[1]}) })
	def(linux.SysSetrlimit, Full, "", func(t *Thread, a [6]uint64) (uint64, linux.Errno) { return sysPrlimit(t, [6]uint64{0, a[0], a[1], 0}) })
	def(linux.SysGetrandom, Full, "", sysGetrandom)
	def(linux.SysClockGettime, Full, "", sysClockGettime)
	def(linux.SysClockGetres, Full, "", sysClockGetres)
	def(linux.SysGettimeofday, Full, "", sysGettimeofday)
	def(linux.SysTime, Full, "", sysTime)
	def(linux.SysNanosleep, Full, "", sysNanosleep)
	def(linux.SysClockNanosleep, Full, "", sysClockNanosleep)
	def(linux.SysSchedYield, Full, "", func(t *Thread, a [6]uint64) (uint64, linux.Errno) {
		runtime.Gosched()
		return 0, 0
	})
	def(linux.SysSchedGetaffinity, Full, "", sysSchedGetaffinity)
	def(linux.SysSchedSetaffinity, Partial, "accepted, not applied: the guest's threads run where the kernel schedules them", func(t *Thread, a [6]uint64) (uint64, linux.Errno) { return 0, 0 })
	def(linux.SysGetcpu, Full, "", func(t *Thread, a [6]uint64) (uint64, linux.Errno) {
		if a[0] != 0 {
			if err := t.putU32(a[0], 0); err != 0 {
				return 0, err
			}
		}
		if a[1] != 0 {
			return 0, t.putU32(a[1], 0)
		}
		return 0, 0
	})
	def(linux.SysSchedGetparam, Full, "", func(t *Thread, a [6]uint64) (uint64, linux.Errno) { return 0, t.putU32(a[1], 0) })
	def(linux.SysSchedGetscheduler, Full, "", func(t *Thread, a [6]uint64) (uint64, linux.Errno) { return 0, 0 })
	def(linux.SysGetpriority, Full, "", func(t *Thread, a [6]uint64) (uint64, linux.Errno) { return 20, 0 })
	def(linux.SysSetpriority, Partial, "accepted, not applied", func(t *Thread, a [6]uint64) (uint64, linux.Errno) { return 0, 0 })
	def(linux.SysPrctl, Partial, "PR_SET_NAME, PR_GET_NAME, PR_SET_PDEATHSIG, PR_GET_DUMPABLE, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS; others EINVAL", sysPrctl)
	def(linux.SysGetrusage, Partial, "times only", sysGetrusage)
	def(linux.SysTimes, Partial, "the process's CPU time is its wall time", sysTimes)
	def(linux.SysClone, Partial, "a new process from a copy at level 3; at levels 1 and 2 only with CLONE_VFORK (vfork, posix_spawn), else EAGAIN; CLONE_VM without CLONE_THREAD only with CLONE_VFORK; no namespaces, pidfds or CLONE_PARENT", sysClone)
	def(linux.SysClone3, Partial, "as clone; set_tid and cgroup are ignored", sysClone3)
	def(linux.SysFork, Partial, "level 3 only: levels 1 and 2 share one address space (EAGAIN; vfork works there)", func(t *Thread, a [6]uint64) (uint64, linux.Errno) {
		return t.p.fork(t, 0, 0, 0, 0)
	})
	def(linux.SysVfork, Partial, "at level 3 the child has a copy of the memory; at levels 1 and 2 it runs in the parent's memory until its execve; the parent waits for that or its end", func(t *Thread, a [6]uint64) (uint64, linux.Errno) {
		return t.p.fork(t, unix.CLONE_VFORK, 0, 0, 0)
	})
	def(linux.SysExecve, Full, "", sysExecve)
	def(linux.SysWait4, Partial, "ended children only (no stopped or continued ones); rusage is zero", sysWait4)
	def(linux.SysWaitid, Partial, "ended children only; no P_PIDFD", sysWaitid)
	def(linux.SysFutex, Partial, "no priority-inheritance operations (ENOSYS)", sysFutex)
	def(linux.SysRtSigaction, Full, "", sysRtSigaction)
	def(linux.SysRtSigprocmask, Full, "", sysRtSigprocmask)
	def(linux.SysRtSigreturn, Full, "", func(t *Thread, a [6]uint64) (uint64, linux.Errno) { return t.sigreturn() })
	def(linux.SysRtSigpending, Full, "", sysRtSigpending)
	def(linux.SysRtSigsuspend, Full, "", sysRtSigsuspend)
	def(linux.SysRtSigtimedwait, Full, "", sysRtSigtimedwait)
	def(linux.SysSigaltstack, Full, "", sysSigaltstack)
	def(linux.SysKill, Full, "", sysKill)
	def(linux.SysTgkill, Full, "", sysTgkill)
	def(linux.SysTkill, Full, "", func(t *Thread, a [6]uint64) (uint64, linux.Errno) {
		return sysTgkill(t, [6]uint64{uint64(t.p.pid), a[0], a[1]})
	})
	def(linux.SysPause, Full, "", func(t *Thread, a [6]uint64) (uint64, linux.Errno) {
		t.Wait(nil, time.Time{})
		return 0, linux.EINTR
	})
	def(linux.SysAlarm, Full, "", sysAlarm)
	def(linux.SysSetitimer, Partial, "ITIMER_REAL only", sysSetitimer)
	def(linux.SysGetitimer, Partial, "ITIMER_REAL only", sysGetitimer)
	def(linux.SysMembarrier, Refused, "not needed on one CPU: ENOSYS", func(t *Thread, a [6]uint64) (uint64, linux.Errno) { return 0, linux.ENOSYS })
	def(linux.SysSocket, Refused, "no networking: EAFNOSUPPORT", func(t *Thread, a [6]uint64) (uint64, linux.Errno) { return 0, linux.EAFNOSUPPORT })
	def(linux.SysSync, Full, "", func(t *Thread, a [6]uint64) (uint64, linux.Errno) { return 0, 0 })
}

// Memory helpers: a bad pointer is EFAULT.
func (t *Thread) putU32(addr uint64, v uint32) linux.Errno {
	var b [4]byte
	le.PutUint32(b[:], v)
	return t.write(addr, b[:])
}

func (t *Thread) putU64(addr uint64, v uint64) linux.Errno {
	var b [8]byte
	le.PutUint64(b[:], v)
	return t.write(addr, b[:])
}

func (t *Thread) getU64(addr uint64) (uint64, linux.Errno) {
	var b [8]byte
	if err := t.read(addr, b[:]); err != 0 {
		return 0, err
	}
	return le.Uint64(b[:]), 0
}

func (t *Thread) read(addr uint64, b []byte) linux.Errno {
	if t.p.g.ReadMemory(addr, b) != nil {
		return linux.EFAULT
	}
	return 0
}

func (t *Thread) write(addr uint64, b []byte) linux.Errno {
	if t.p.g.WriteMemory(addr, b) != nil {
		return linux.EFAULT
	}
	return 0
}

func sysExit(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	p := t.p
	p.mu.Lock()
	last := len(p.threads) == 1
	p.mu.Unlock()
	if last {
		p.exitGroup(int(a[0]), 0)
	}
	t.exited = true
	t.noReturn = true
	return 0, 0
}

func sysExitGroup(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	t.p.exitGroup(int(a[0]), 0)
	t.noReturn = true
	return 0, 0
}

func sysGetres(user bool) handler {
	return func(t *Thread, a [6]uint64) (uint64, linux.Errno) {
		t.p.mu.Lock()
		ids := t.p.ids
		t.p.mu.Unlock()
		v := [3]uint32{ids.gid, ids.egid, ids.sgid}
		if user {
			v = [3]uint32{ids.uid, ids.euid, ids.suid}
		}
		for i, x := range v {
			if err := t.putU32(a[i], x); err != 0 {
				return 0, err
			}
		}
		return 0, 0
	}
}

func (p *Process) setIDs(user bool, real, eff, saved uint32) linux.Errno {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ids.euid != 0 {
		return linux.EPERM
	}
	if user {
		p.ids.uid, p.ids.euid, p.ids.suid = real, eff, saved
	} else {
		p.ids.gid, p.ids.egid, p.ids.sgid = real, eff, saved
	}
	return 0
}

func sysSetid(user bool) handler {
	return func(t *Thread, a [6]uint64) (uint64, linux.Errno) {
		id := uint32(a[0])
		return 0, t.p.setIDs(user, id, id, id)
	}
}

func sysSetre(user bool) handler {
	return func(t *Thread, a [6]uint64) (uint64, linux.Errno) {
		id := uint32(a[1])
		return 0, t.p.setIDs(user, id, id, id)
	}
}

func sysUname(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	var b [linux.UtsnameSize]byte
	linux.EncodeUtsname(b[:], [6]string{"Linux", "beelzebox", "6.1.0-beelzebox", "#1 SMP beelzebox", "x86_64", "(none)"})
	return 0, t.write(a[0], b[:])
}

func sysSysinfo(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	var b [112]byte
	le.PutUint64(b[0:], uint64(time.Since(t.p.start)/time.Second)) // uptime
	le.PutUint64(b[32:], t.p.cfg.MemoryLimit)                      // totalram
	le.PutUint64(b[40:], t.p.cfg.MemoryLimit/2)                    // freeram
	le.PutUint16(b[80:], 1)                                        // procs
	le.PutUint32(b[104:], 1)                                       // mem_unit
	return 0, t.write(a[0], b[:])
}

func sysArchPrctl(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	r := t.t.Regs()
	switch a[0] {
	case linux.ARCH_SET_FS, linux.ARCH_SET_GS:
		if a[1] >= 1<<47 {
			return 0, linux.EPERM
		}
		if a[0] == linux.ARCH_SET_FS {
			r.FSBase = a[1]
		} else {
			r.GSBase = a[1]
		}
		r.RAX = 0
		if t.t.SetRegs(r) != nil {
			return 0, linux.EPERM
		}
		return 0, 0
	case linux.ARCH_GET_FS:
		return 0, t.putU64(a[1], r.FSBase)
	case linux.ARCH_GET_GS:
		return 0, t.putU64(a[1], r.GSBase)
	}
	return 0, linux.EINVAL
}

func sysPrlimit(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	if a[0] != 0 && int(a[0]) != t.p.pid {
		return 0, linux.ESRCH
	}
	res := a[1]
	if res >= linux.RLIM_NLIMITS {
		return 0, linux.EINVAL
	}
	var nv [16]byte
	if a[2] != 0 {
		if err := t.read(a[2], nv[:]); err != 0 {
			return 0, err
		}
		if le.Uint64(nv[0:]) > le.Uint64(nv[8:]) {
			return 0, linux.EINVAL
		}
	}
	p := t.p
	p.mu.Lock()
	old := p.limits[res]
	if a[2] != 0 {
		if le.Uint64(nv[8:]) > old[1] && p.ids.euid != 0 {
			p.mu.Unlock()
			return 0, linux.EPERM
		}
		p.limits[res] = [2]uint64{le.Uint64(nv[0:]), le.Uint64(nv[8:])}
	}
	p.mu.Unlock()
	if a[3] != 0 {
		var ov [16]byte
		le.PutUint64(ov[0:], old[0])
		le.PutUint64(ov[8:], old[1])
		return 0, t.write(a[3], ov[:])
	}
	return 0, 0
}

// maxRandom is the most one getrandom call fills (Linux: 32 MiB - 1).
const maxRandom = 1 << 20

func sysGetrandom(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	if a[2]&^uint64(unix.GRND_NONBLOCK|unix.GRND_RANDOM|unix.GRND_INSECURE) != 0 {
		return 0, linux.EINVAL
	}
	n := min(a[1], maxRandom)
	b := make([]byte, n)
	kernel.RandomBytes(b)
	return n, t.write(a[0], b)
}

// clockNow is the time of a clock, in ns (monotonic clocks count from
// the kernel's boot as the vDSO's do).
func clockNow(t *Thread, id uint64) (int64, linux.Errno) {
	switch id {
	case linux.CLOCK_REALTIME, linux.CLOCK_REALTIME_COARSE, linux.CLOCK_TAI:
		return monotonic() + syscall.RealtimeEpoch, 0
	case linux.CLOCK_MONOTONIC, linux.CLOCK_MONOTONIC_RAW, linux.CLOCK_MONOTONIC_COARSE, linux.CLOCK_BOOTTIME:
		return monotonic(), 0
	case linux.CLOCK_PROCESS_CPUTIME_ID, linux.CLOCK_THREAD_CPUTIME_ID:
		return int64(time.Since(t.p.start)), 0
	}
	return 0, linux.EINVAL
}

func putTime(t *Thread, addr uint64, ns int64, micro bool) linux.Errno {
	var b [16]byte
	sub := ns % 1e9
	if micro {
		sub /= 1000
	}
	linux.PutTimespec(b[:], ns/1e9, sub)
	return t.write(addr, b[:])
}

func sysClockGettime(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	ns, err := clockNow(t, a[0])
	if err != 0 {
		return 0, err
	}
	return 0, putTime(t, a[1], ns, false)
}

func sysClockGetres(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	if _, err := clockNow(t, a[0]); err != 0 {
		return 0, err
	}
	if a[1] == 0 {
		return 0, 0
	}
	return 0, putTime(t, a[1], 1, false)
}

func sysGettimeofday(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	if a[0] != 0 {
		if err := putTime(t, a[0], time.Now().UnixNano(), true); err != 0 {
			return 0, err
		}
	}
	if a[1] != 0 {
		var tz [8]byte
		return 0, t.write(a[1], tz[:])
	}
	return 0, 0
}

func sysTime(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	now := uint64(time.Now().Unix())
	if a[0] != 0 {
		if err := t.putU64(a[0], now); err != 0 {
			return 0, err
		}
	}
	return now, 0
}

// readTimespec reads a guest timespec as a duration.
func (t *Thread) readTimespec(addr uint64) (time.Duration, linux.Errno) {
	var b [16]byte
	if err := t.read(addr, b[:]); err != 0 {
		return 0, err
	}
	sec, nsec, ok := linux.GetTimespec(b[:])
	if !ok {
		return 0, linux.EINVAL
	}
	if sec > 1<<32 {
		sec = 1 << 32
	}
	return time.Duration(sec)*time.Second + time.Duration(nsec), 0
}

// sleep waits d (or to the deadline) and writes the time left to rem
// when a signal interrupts it.
func (t *Thread) sleep(deadline time.Time, rem uint64) (uint64, linux.Errno) {
	if err := t.Wait(nil, deadline); err == linux.EINTR {
		if rem != 0 {
			left := max(time.Until(deadline), 0)
			putTime(t, rem, int64(left), false)
		}
		return 0, linux.EINTR
	}
	return 0, 0
}

func sysNanosleep(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	d, err := t.readTimespec(a[0])
	if err != 0 {
		return 0, err
	}
	return t.sleep(time.Now().Add(d), a[1])
}

func sysClockNanosleep(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	now, err := clockNow(t, a[0])
	if err != 0 {
		return 0, err
	}
	if a[0] == linux.CLOCK_THREAD_CPUTIME_ID {
		return 0, linux.EINVAL
	}
	d, err := t.readTimespec(a[2])
	if err != 0 {
		return 0, err
	}
	if a[1]&linux.TIMER_ABSTIME != 0 {
		d -= time.Duration(now)
		a[3] = 0
	}
	return t.sleep(time.Now().Add(d), a[3])
}

func sysSchedGetaffinity(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	if a[1] < 8 || a[1]%8 != 0 {
		return 0, linux.EINVAL
	}
	n := min(a[1], 128)
	b := make([]byte, n)
	for i := 0; i < runtime.NumCPU() && i < int(n)*8; i++ {
		b[i/8] |= 1 << (i % 8)
	}
	return n, t.write(a[2], b)
}

func sysPrctl(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	switch a[0] {
	case unix.PR_SET_NAME:
		var b [16]byte
		if err := t.read(a[1], b[:]); err != 0 {
			return 0, err
		}
		n := 0
		for n < 15 && b[n] != 0 {
			n++
		}
		t.p.mu.Lock()
		t.p.comm = string(b[:n])
		t.p.mu.Unlock()
		return 0, 0
	case unix.PR_GET_NAME:
		var b [16]byte
		t.p.mu.Lock()
		copy(b[:15], t.p.comm)
		t.p.mu.Unlock()
		return 0, t.write(a[1], b[:])
	case unix.PR_SET_PDEATHSIG, unix.PR_SET_DUMPABLE, unix.PR_SET_NO_NEW_PRIVS:
		return 0, 0
	case unix.PR_GET_DUMPABLE:
		return 1, 0
	}
	return 0, linux.EINVAL
}

func sysGetrusage(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	var b [144]byte
	used := time.Since(t.p.start)
	linux.PutTimespec(b[0:], int64(used/time.Second), int64(used%time.Second/time.Microsecond))
	return 0, t.write(a[1], b[:])
}

func sysTimes(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	ticks := uint64(time.Since(t.p.start) / (10 * time.Millisecond))
	if a[0] != 0 {
		var b [32]byte
		le.PutUint64(b[0:], ticks)
		if err := t.write(a[0], b[:]); err != 0 {
			return 0, err
		}
	}
	return uint64(monotonic() / 1e7), 0
}

// monotonic is CLOCK_MONOTONIC in ns: the kernel's clock, which the
// vDSO computes from the TSC the same way.
func monotonic() int64 { return kernel.Nanotime() }
