package host

import (
	"time"

	"beelzebox/linux"
	"beelzebox/sandbox"
	"golang.org/x/sys/unix"
)

func sysRtSigaction(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	sig := int(a[0])
	if sig < 1 || sig > linux.NSIG || a[3] != 8 {
		return 0, linux.EINVAL
	}
	var act linux.SigAction
	if a[1] != 0 {
		var b [linux.SigActionSize]byte
		if err := t.read(a[1], b[:]); err != 0 {
			return 0, err
		}
		act.Decode(b[:])
		if sig == linux.SIGKILL || sig == linux.SIGSTOP {
			return 0, linux.EINVAL
		}
	}
	p := t.p
	p.mu.Lock()
	old := p.actions[sig]
	if a[1] != 0 {
		act.Mask &^= linux.Unblockable
		p.actions[sig] = act
		if p.ignored(sig) {
			// Setting a signal to be ignored discards it where pending.
			p.pending &^= linux.SigBit(sig)
			for _, u := range p.threads {
				u.pending &^= linux.SigBit(sig)
			}
		}
	}
	p.mu.Unlock()
	if a[2] != 0 {
		var b [linux.SigActionSize]byte
		old.Encode(b[:])
		return 0, t.write(a[2], b[:])
	}
	return 0, 0
}

func sysRtSigprocmask(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	if a[3] != 8 {
		return 0, linux.EINVAL
	}
	var set uint64
	if a[1] != 0 {
		var err linux.Errno
		if set, err = t.getU64(a[1]); err != 0 {
			return 0, err
		}
	}
	p := t.p
	p.mu.Lock()
	old := t.mask
	if a[1] != 0 {
		switch a[0] {
		case linux.SIG_BLOCK:
			t.mask |= set
		case linux.SIG_UNBLOCK:
			t.mask &^= set
		case linux.SIG_SETMASK:
			t.mask = set
		default:
			p.mu.Unlock()
			return 0, linux.EINVAL
		}
		t.mask &^= linux.Unblockable
		t.attention.Store(true)
	}
	p.mu.Unlock()
	if a[2] != 0 {
		return 0, t.putU64(a[2], old)
	}
	return 0, 0
}

func sysRtSigpending(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	if a[1] != 8 {
		return 0, linux.EINVAL
	}
	t.p.mu.Lock()
	set := (t.pending | t.p.pending) & t.mask
	t.p.mu.Unlock()
	return 0, t.putU64(a[0], set)
}

// withMask runs a call with a temporary signal mask (rt_sigsuspend,
// ppoll, pselect6, epoll_pwait): a handler that interrupts it returns to
// the old mask.
func (t *Thread) withMask(addr uint64, call func() (uint64, linux.Errno)) (uint64, linux.Errno) {
	if addr == 0 {
		return call()
	}
	m, err := t.getU64(addr)
	if err != 0 {
		return 0, err
	}
	p := t.p
	p.mu.Lock()
	old := t.mask
	t.mask = m &^ linux.Unblockable
	t.attention.Store(true)
	p.mu.Unlock()
	ret, errno := call()
	p.mu.Lock()
	t.attention.Store(true)
	if errno == linux.EINTR && (t.pending|p.pending)&^t.mask != 0 {
		// The handler runs with the temporary mask; its sigreturn
		// restores the old one (saved in the frame).
		t.savedMask, t.hasSavedMask = old, true
	} else {
		t.mask = old
	}
	p.mu.Unlock()
	return ret, errno
}

func sysRtSigsuspend(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	if a[1] != 8 {
		return 0, linux.EINVAL
	}
	return t.withMask(a[0], func() (uint64, linux.Errno) {
		t.Wait(nil, time.Time{})
		return 0, linux.EINTR
	})
}

func sysRtSigtimedwait(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	if a[3] != 8 {
		return 0, linux.EINVAL
	}
	set, err := t.getU64(a[0])
	if err != 0 {
		return 0, err
	}
	set &^= linux.Unblockable
	var deadline time.Time
	if a[2] != 0 {
		d, err := t.readTimespec(a[2])
		if err != 0 {
			return 0, err
		}
		deadline = time.Now().Add(d)
	}
	p := t.p
	for {
		p.mu.Lock()
		ready := (t.pending | p.pending) & set
		if ready != 0 {
			sig := 1
			for ready&1 == 0 {
				ready >>= 1
				sig++
			}
			info := linux.SigInfo{Signo: int32(sig), Code: linux.SI_USER, Kill: true}
			if t.pending&linux.SigBit(sig) != 0 {
				t.pending &^= linux.SigBit(sig)
				info = t.infos[sig]
			} else {
				p.pending &^= linux.SigBit(sig)
			}
			p.mu.Unlock()
			if a[1] != 0 {
				var b [linux.SigInfoSize]byte
				info.Encode(b[:])
				if err := t.write(a[1], b[:]); err != 0 {
					return 0, err
				}
			}
			return uint64(sig), 0
		}
		// Wait with the set unblocked, so that its signals wake us.
		old := t.mask
		t.mask &^= set
		p.mu.Unlock()
		werr := t.Wait(nil, deadline)
		p.mu.Lock()
		t.mask = old
		t.attention.Store(true)
		waiting := (t.pending|p.pending)&set != 0
		p.mu.Unlock()
		if waiting {
			continue
		}
		switch werr {
		case linux.ETIMEDOUT:
			return 0, linux.EAGAIN
		case linux.EINTR:
			return 0, linux.EINTR
		}
	}
}

func sysSigaltstack(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	r := t.t.Regs()
	onAlt := t.onAltStack(r.RSP)
	if a[1] != 0 {
		var b [24]byte
		flags := uint32(0)
		switch {
		case t.altFlags&linux.SS_DISABLE != 0 || t.altSize == 0:
			flags = linux.SS_DISABLE
		case onAlt:
			flags = linux.SS_ONSTACK
		}
		le.PutUint64(b[0:], t.altSP)
		le.PutUint32(b[8:], flags)
		le.PutUint64(b[16:], t.altSize)
		if err := t.write(a[1], b[:]); err != 0 {
			return 0, err
		}
	}
	if a[0] != 0 {
		var b [24]byte
		if err := t.read(a[0], b[:]); err != 0 {
			return 0, err
		}
		if onAlt {
			return 0, linux.EPERM
		}
		sp, flags, size := le.Uint64(b[0:]), le.Uint32(b[8:]), le.Uint64(b[16:])
		switch {
		case flags&linux.SS_DISABLE != 0:
			t.altSP, t.altSize, t.altFlags = 0, 0, linux.SS_DISABLE
		case flags&^uint32(linux.SS_AUTODISARM) != 0:
			return 0, linux.EINVAL
		case size < linux.MINSIGSTKSZ:
			return 0, linux.ENOMEM
		default:
			t.altSP, t.altSize, t.altFlags = sp, size, 0
		}
	}
	return 0, 0
}

func killInfo(t *Thread, sig int) linux.SigInfo {
	return linux.SigInfo{Signo: int32(sig), Code: linux.SI_USER, Kill: true, PID: uint32(t.p.pid)}
}

func sysKill(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	pid, sig := int(int32(a[0])), int(a[1])
	if sig < 0 || sig > linux.NSIG {
		return 0, linux.EINVAL
	}
	targets := t.p.signalTargets(pid)
	if pid == -1 {
		// Every process the caller may signal, itself included.
		found := false
		for _, q := range targets {
			found = found || q == t.p
		}
		if !found {
			targets = append(targets, t.p)
		}
	}
	if len(targets) == 0 {
		return 0, linux.ESRCH
	}
	if sig != 0 {
		for _, q := range targets {
			q.signalProcess(killInfo(t, sig))
		}
	}
	return 0, 0
}

func sysTgkill(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	tgid, tid, sig := int32(a[0]), int32(a[1]), int(a[2])
	if sig < 0 || sig > linux.NSIG || tid <= 0 {
		return 0, linux.EINVAL
	}
	ps := t.p.signalTargets(int(tgid))
	if tgid <= 0 || len(ps) != 1 {
		return 0, linux.ESRCH
	}
	q := ps[0]
	q.mu.Lock()
	target := q.threads[int(tid)]
	q.mu.Unlock()
	if target == nil {
		return 0, linux.ESRCH
	}
	if sig != 0 {
		info := killInfo(t, sig)
		info.Code = linux.SI_TKILL
		q.signalThread(target, info)
	}
	return 0, 0
}

// alarmAt arms (or, with 0, disarms) SIGALRM after d and returns what
// was left of the previous one.
func (p *Process) alarmAt(d time.Duration) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var left time.Duration
	if p.alarm != nil {
		if p.alarm.Stop() {
			left = time.Until(p.alarmDue)
		}
		p.alarm = nil
	}
	if d > 0 {
		p.alarmDue = time.Now().Add(d)
		p.alarm = time.AfterFunc(d, func() {
			p.signalProcess(linux.SigInfo{Signo: linux.SIGALRM, Code: linux.SI_KERNEL})
			p.mu.Lock()
			if p.alarmEvery > 0 && p.alarm != nil {
				p.alarmDue = time.Now().Add(p.alarmEvery)
				p.alarm.Reset(p.alarmEvery)
			}
			p.mu.Unlock()
		})
	}
	return left
}

func sysAlarm(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	t.p.mu.Lock()
	t.p.alarmEvery = 0
	t.p.mu.Unlock()
	left := t.p.alarmAt(time.Duration(uint32(a[0])) * time.Second)
	secs := uint64((left + time.Second/2) / time.Second)
	if left > 0 && secs == 0 {
		secs = 1
	}
	return secs, 0
}

func (t *Thread) readTimeval(addr uint64) (time.Duration, linux.Errno) {
	var b [16]byte
	if err := t.read(addr, b[:]); err != 0 {
		return 0, err
	}
	sec, usec := int64(le.Uint64(b[0:])), int64(le.Uint64(b[8:]))
	if sec < 0 || usec < 0 || usec >= 1e6 {
		return 0, linux.EINVAL
	}
	return time.Duration(sec)*time.Second + time.Duration(usec)*time.Microsecond, 0
}

func (t *Thread) putItimer(addr uint64, interval, value time.Duration) linux.Errno {
	var b [32]byte
	linux.PutTimespec(b[0:], int64(interval/time.Second), int64(interval%time.Second/time.Microsecond))
	linux.PutTimespec(b[16:], int64(value/time.Second), int64(value%time.Second/time.Microsecond))
	return t.write(addr, b[:])
}

func sysSetitimer(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	if a[0] != unix.ITIMER_REAL {
		return 0, linux.EINVAL
	}
	interval, err := t.readTimeval(a[1])
	if err != 0 {
		return 0, err
	}
	value, err := t.readTimeval(a[1] + 16)
	if err != 0 {
		return 0, err
	}
	p := t.p
	p.mu.Lock()
	oldEvery := p.alarmEvery
	p.alarmEvery = interval
	p.mu.Unlock()
	left := p.alarmAt(value)
	if a[2] != 0 {
		return 0, t.putItimer(a[2], oldEvery, left)
	}
	return 0, 0
}

func sysGetitimer(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	if a[0] != unix.ITIMER_REAL {
		return 0, linux.EINVAL
	}
	p := t.p
	p.mu.Lock()
	var left time.Duration
	if p.alarm != nil {
		left = max(time.Until(p.alarmDue), 0)
	}
	every := p.alarmEvery
	p.mu.Unlock()
	return 0, t.putItimer(a[1], every, left)
}

// Clone flags a new thread must have, may have, and must not have.
const (
	cloneThread  = unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SIGHAND
	cloneAllowed = cloneThread | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SYSVSEM | unix.CLONE_SETTLS |
		unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID | unix.CLONE_CHILD_SETTID | unix.CLONE_DETACHED | unix.CLONE_IO
)

func sysClone(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	// x86-64: clone(flags, stack, parent_tid, child_tid, tls).
	return t.clone(a[0], a[1], a[2], a[3], a[4])
}

func sysClone3(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	if a[1] < linux.CloneArgsSizeVer0 || a[1] > 4096 {
		return 0, linux.EINVAL
	}
	var b [linux.CloneArgsSizeVer0]byte
	if err := t.read(a[0], b[:]); err != 0 {
		return 0, err
	}
	flags, childTID, parentTID := le.Uint64(b[0:]), le.Uint64(b[16:]), le.Uint64(b[24:])
	exitSignal, stack, stackSize, tls := le.Uint64(b[32:]), le.Uint64(b[40:]), le.Uint64(b[48:]), le.Uint64(b[56:])
	if exitSignal != 0 && flags&unix.CLONE_THREAD != 0 {
		return 0, linux.EINVAL
	}
	sp := uint64(0)
	if stack != 0 {
		sp = stack + stackSize
	}
	return t.clone(flags, sp, parentTID, childTID, tls)
}

// sibling makes a thread in t's guest that resumes where t does: t's
// registers with RAX 0, the stack sp (if not 0) and the FS base *fs (if
// not nil), and t's vector state.
func (t *Thread) sibling(sp uint64, fs *uint64) (sandbox.Thread, linux.Errno) {
	r := t.t.Regs()
	r.RAX = 0
	if sp != 0 {
		r.RSP = sp
	}
	if fs != nil {
		r.FSBase = *fs
	}
	xs := make([]byte, vectorStateSize())
	if t.t.VectorState(xs) != nil {
		return nil, linux.EAGAIN
	}
	st, err := t.p.g.NewThread(r)
	if err != nil {
		if err == sandbox.ErrThreadLimit {
			return nil, linux.EAGAIN
		}
		return nil, linux.ENOMEM
	}
	st.SetVectorState(xs)
	return st, 0
}

// clone makes a new thread of the process: the caller's registers (RAX
// 0, the given stack and TLS), its vector state and signal mask.
func (t *Thread) clone(flags, sp, parentTID, childTID, tls uint64) (uint64, linux.Errno) {
	if flags&unix.CLONE_THREAD == 0 {
		// A new process. CLONE_VM with CLONE_VFORK (posix_spawn) gets a
		// copy too: the parent waits for the child's execve or end, so
		// the memory the child would have shared is not the parent's
		// business meanwhile.
		if flags&unix.CLONE_VM != 0 && flags&unix.CLONE_VFORK == 0 || flags&(unix.CLONE_SIGHAND|unix.CLONE_SETTLS) != 0 {
			return 0, linux.EINVAL
		}
		return t.p.fork(t, flags, sp, childTID, parentTID)
	}
	if flags&cloneThread != cloneThread {
		return 0, linux.EINVAL
	}
	if flags&^uint64(cloneAllowed|linux.CSIGNAL) != 0 {
		return 0, linux.EINVAL
	}
	var fs *uint64
	if flags&unix.CLONE_SETTLS != 0 {
		if tls >= 1<<47 {
			return 0, linux.EPERM
		}
		fs = &tls
	}
	st, errno := t.sibling(sp, fs)
	if errno != 0 {
		return 0, errno
	}
	nt := t.p.addThread(st, 0)
	t.p.mu.Lock()
	nt.mask = t.mask
	t.p.mu.Unlock()
	if flags&unix.CLONE_CHILD_CLEARTID != 0 {
		nt.clearTID = childTID
	}
	if flags&unix.CLONE_PARENT_SETTID != 0 {
		t.putU32(parentTID, uint32(nt.tid))
	}
	if flags&unix.CLONE_CHILD_SETTID != 0 {
		t.putU32(childTID, uint32(nt.tid))
	}
	t.p.live.Add(1)
	go nt.serve()
	return uint64(nt.tid), 0
}
