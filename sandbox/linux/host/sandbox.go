package host

import (
	"sort"
	"sync"
	"time"

	"beelzebox/linux"
	"beelzebox/sandbox"
	"beelzebox/sandbox/linux/vmem"
	"golang.org/x/sys/unix"
)

// Sandbox is the processes of one sandbox: the program Start began with
// and every process it forked, with their IDs (processes and threads
// draw from one space, as on Linux), parents, process groups and
// sessions. The first process is the sandbox's init: orphans become its
// children, and when it ends the sandbox ends.
type Sandbox struct {
	cfg Config

	mu     sync.Mutex
	procs  map[int]*Process // every process not yet reaped
	nextID int
	init   *Process
	dying  bool // init has ended: no more forks

	// growMu makes the memory limit's check and the growth it allows one
	// step: processes on several CPUs grow at once, and two that both
	// fit alone must not pass together.
	growMu sync.Mutex

	nosysMu sync.Mutex
	nosys   map[string]int
}

// DefaultMaxProcesses is how many processes (zombies included) a sandbox
// may hold: a fork past it is EAGAIN, as is a fork whose copy would take
// the sandbox past its memory limit (Config.MemoryLimit is the limit of
// all its processes together).
const DefaultMaxProcesses = 64

func newSandbox(cfg Config) *Sandbox {
	return &Sandbox{cfg: cfg, procs: map[int]*Process{}, nextID: firstPID, nosys: map[string]int{}}
}

// interruptGroup is the terminal's Ctrl-C and Ctrl-\: sig to every
// process of group pgrp (0: the first process's).
func (sb *Sandbox) interruptGroup(pgrp int32, sig int) {
	sb.mu.Lock()
	if pgrp == 0 && sb.init != nil {
		pgrp = int32(sb.init.pgid)
	}
	var ps []*Process
	for _, q := range sb.procs {
		if int32(q.pgid) == pgrp && !q.zombie {
			ps = append(ps, q)
		}
	}
	sb.mu.Unlock()
	for _, q := range ps {
		q.signalProcess(linux.SigInfo{Signo: int32(sig), Code: linux.SI_KERNEL})
	}
}

// memoryUse is the accessible memory of every live process of the
// sandbox.
func (sb *Sandbox) memoryUse() uint64 {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	var n uint64
	for _, p := range sb.procs {
		if !p.zombie && p.mem != nil {
			n += p.mem.Mapped()
		}
	}
	return n
}

// memoryFits reports whether grow more bytes keep the sandbox within its
// memory limit (Config.MemoryLimit, across all its processes; each guest
// is held to it on its own too).
func (sb *Sandbox) memoryFits(grow uint64) bool {
	use := sb.memoryUse()
	return use+grow >= use && use+grow <= sb.cfg.MemoryLimit
}

// Processes is how many processes (zombies included) p's sandbox holds.
func (p *Process) Processes() int {
	p.sb.mu.Lock()
	defer p.sb.mu.Unlock()
	return len(p.sb.procs)
}

// newID gives a process or thread ID.
func (sb *Sandbox) newID() int {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	id := sb.nextID
	sb.nextID++
	return id
}

// newProcess makes an empty process of the sandbox, the child of parent.
func (sb *Sandbox) newProcess(parent *Process) *Process {
	p := &Process{sb: sb, parent: parent, level: sb.cfg.Level, fsys: sb.cfg.FS, pid: sb.newID(),
		threads: map[int]*Thread{}, done: make(chan struct{}), start: time.Now(),
		children: map[int]*Process{}, childEvent: make(chan struct{}), vforked: make(chan struct{})}
	p.futexes.init()
	p.pgid, p.sid = p.pid, p.pid
	if parent != nil {
		p.pgid, p.sid = parent.pgid, parent.sid
	}
	return p
}

// add records p in the sandbox (and with its parent); the first becomes
// init.
func (sb *Sandbox) add(p *Process) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	sb.procs[p.pid] = p
	if sb.init == nil {
		sb.init = p
	}
	if p.parent != nil {
		p.parent.children[p.pid] = p
		p.ppid.Store(int32(p.parent.pid))
	}
}

// exited makes p a zombie for its parent to reap (init's zombie is gone
// at once: nobody reaps it), gives its children to init, and tells the
// parent (SIGCHLD and its wait).
func (sb *Sandbox) exited(p *Process) {
	sb.mu.Lock()
	p.zombie = true
	closeOnce(p.vforked)
	heir := sb.init
	if heir == p || (heir != nil && heir.zombie) {
		heir = nil
	}
	for pid, c := range p.children {
		delete(p.children, pid)
		c.parent = heir
		c.ppid.Store(0)
		if heir != nil {
			heir.children[pid] = c
			c.ppid.Store(int32(heir.pid))
		} else if c.zombie {
			delete(sb.procs, pid)
		}
	}
	if heir != nil && len(p.children) == 0 {
		heir.notifyChild()
	}
	parent := p.parent
	if parent == nil {
		delete(sb.procs, p.pid)
	} else {
		parent.notifyChild()
	}
	sb.mu.Unlock()
	if parent != nil {
		code := 1 // CLD_EXITED
		p.mu.Lock()
		st := p.status
		p.mu.Unlock()
		if st.Signal != 0 {
			code = 2 // CLD_KILLED
		}
		parent.signalProcess(linux.SigInfo{Signo: linux.SIGCHLD, Code: int32(code), Kill: true, PID: uint32(p.pid), Value: uint64(st.Code)})
	}
}

// stop stops p (a stop signal's default action): its threads wait, its
// parent hears of it (wait's WUNTRACED, SIGCHLD unless SA_NOCLDSTOP).
func (sb *Sandbox) stop(p *Process, sig int) {
	sb.mu.Lock()
	if p.stopped || p.zombie {
		sb.mu.Unlock()
		return
	}
	p.stopped, p.stopSig, p.cont = true, sig, make(chan struct{})
	p.stopReport, p.contReport = true, false
	parent := p.parent
	if parent != nil {
		parent.notifyChild()
	}
	sb.mu.Unlock()
	p.mu.Lock()
	for _, t := range p.threads {
		t.attention.Store(true)
	}
	ts := p.threadList()
	p.mu.Unlock()
	for _, t := range ts {
		t.kick()
	}
	if parent != nil {
		parent.childSignal(p.pid, 5, sig) // CLD_STOPPED
	}
}

// resume continues a stopped p (SIGCONT).
func (sb *Sandbox) resume(p *Process) {
	sb.mu.Lock()
	if !p.stopped {
		sb.mu.Unlock()
		return
	}
	p.stopped, p.stopReport, p.contReport = false, false, true
	close(p.cont)
	parent := p.parent
	if parent != nil {
		parent.notifyChild()
	}
	sb.mu.Unlock()
	if parent != nil {
		parent.childSignal(p.pid, 6, linux.SIGCONT) // CLD_CONTINUED
	}
}

// childSignal sends p the SIGCHLD of a child's stop or continue, unless
// its handler asks not to hear of them (SA_NOCLDSTOP).
func (p *Process) childSignal(pid int, code int32, status int) {
	p.mu.Lock()
	noStop := p.actions[linux.SIGCHLD].Flags&linux.SA_NOCLDSTOP != 0
	p.mu.Unlock()
	if !noStop {
		p.signalProcess(linux.SigInfo{Signo: linux.SIGCHLD, Code: code, Kill: true, PID: uint32(pid), Value: uint64(status)})
	}
}

// notifyChild wakes the process's waits for a child (sb.mu held).
func (p *Process) notifyChild() {
	close(p.childEvent)
	p.childEvent = make(chan struct{})
}

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// killAll ends every process of the sandbox and waits for them: the end
// of init.
func (sb *Sandbox) killAll() {
	sb.mu.Lock()
	sb.dying = true
	sb.mu.Unlock()
	for {
		sb.mu.Lock()
		var ps []*Process
		for _, p := range sb.procs {
			select {
			case <-p.done:
			default:
				ps = append(ps, p)
			}
		}
		sb.mu.Unlock()
		if len(ps) == 0 {
			return
		}
		for _, p := range ps {
			p.Kill()
		}
		for _, p := range ps {
			<-p.done
		}
	}
}

func (sb *Sandbox) countNosys(name string) {
	sb.nosysMu.Lock()
	sb.nosys[name]++
	sb.nosysMu.Unlock()
}

func (sb *Sandbox) nosysCounts() map[string]int {
	sb.nosysMu.Lock()
	defer sb.nosysMu.Unlock()
	out := make(map[string]int, len(sb.nosys))
	for k, v := range sb.nosys {
		out[k] = v
	}
	return out
}

// ids are p's parent's ID (0 for init), process group and session.
func (sb *Sandbox) ids(p *Process) (ppid, pgid, sid int) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if p.parent != nil {
		ppid = p.parent.pid
	}
	return ppid, p.pgid, p.sid
}

// fork makes a child process. At level 3 its memory is a copy-on-write
// duplicate of the caller's, with the calling thread's registers (RAX 0,
// or the given stack) and vector state. Levels 1 and 2 share one address
// space, so a copy cannot have the parent's addresses: plain fork is
// EAGAIN there, which a shell survives, and vfork (CLONE_VFORK, as
// posix_spawn uses) runs the child as a thread of its parent's guest, in
// its memory, as vfork's child does on Linux, until its execve gives it a
// guest of its own (a program linked at a fixed address must find the low
// guest area free of the parent's) or it ends. Either way the child
// shares the descriptors as dup would and inherits the dispositions,
// signal mask, alternate stack, limits and IDs; a vfork parent waits
// until the child execs or ends.
func (p *Process) fork(t *Thread, flags, sp, childTID, parentTID uint64) (uint64, linux.Errno) {
	sb := p.sb
	// The limit's check holds until the child counts in memoryUse.
	sb.growMu.Lock()
	growing := true
	doneGrowing := func() {
		if growing {
			growing = false
			sb.growMu.Unlock()
		}
	}
	defer doneGrowing()
	sb.mu.Lock()
	full := len(sb.procs) >= DefaultMaxProcesses || sb.dying
	sb.mu.Unlock()
	if full || p.isExiting() || !sb.memoryFits(p.mem.Mapped()) {
		return 0, linux.EAGAIN
	}
	vfork := flags&unix.CLONE_VFORK != 0
	g, main := p.g, sandbox.Thread(nil)
	if p.level != sandbox.Level3 {
		if !vfork {
			return 0, linux.EAGAIN
		}
		st, errno := t.sibling(sp, nil)
		if errno != 0 {
			return 0, errno
		}
		main = st
	} else {
		var err error
		if g, err = p.g.Duplicate(t.t); err != nil {
			if err == sandbox.ErrNoDuplicate {
				return 0, linux.EAGAIN
			}
			return 0, linux.ENOMEM
		}
		main = g.Main()
		main.SetReturn(0)
		if sp != 0 {
			r := main.Regs()
			r.RSP = sp
			main.SetRegs(r)
		}
	}
	c := sb.newProcess(p)
	c.cfg, c.g, c.exe, c.comm = p.cfg, g, p.exe, p.comm
	if g == p.g {
		c.mem, c.borrowed, c.lender = p.mem, true, p
		p.borrowers.Add(1)
	} else {
		c.mem = vmem.Clone(p.mem, g)
		c.mem.Files = c.fileSource
	}
	c.files = p.files.Clone(procInfo{c})
	p.mu.Lock()
	c.actions, c.limits, c.ids = p.actions, p.limits, p.ids
	mask := t.mask
	p.mu.Unlock()
	ct := c.addThread(main, c.pid)
	ct.mask = mask
	ct.altSP, ct.altSize, ct.altFlags = t.altSP, t.altSize, t.altFlags
	if flags&unix.CLONE_CHILD_SETTID != 0 {
		var b [4]byte
		le.PutUint32(b[:], uint32(c.pid))
		c.g.WriteMemory(childTID, b[:])
	}
	if flags&unix.CLONE_CHILD_CLEARTID != 0 {
		ct.clearTID = childTID
	}
	if flags&unix.CLONE_PARENT_SETTID != 0 {
		t.putU32(parentTID, uint32(c.pid))
	}
	sb.add(c)
	doneGrowing()
	c.run(ct)
	for vfork && t.Wait(c.vforked, time.Time{}) != 0 && !p.isExiting() {
	}
	return uint64(c.pid), 0
}

// Wait options and idtypes.
const (
	wNoHang    = 1
	wUntraced  = 2 // WSTOPPED for waitid
	wContinued = 8
	wExited    = 4
	wNoWait    = 0x01000000
	pAll       = 0
	pPID       = 1
	pPGID      = 2
	waitFlags  = wNoHang | 2 | wExited | 8 | wNoWait | 0x20000000 | 0x40000000 | 0x80000000
)

// waitChild waits for a child that matches (pid > 0: that one; 0: the
// caller's group; -1: any; < -1: group -pid) to end, and reaps it unless
// noWait. It returns the child (nil with 0: WNOHANG and none has ended).
func (p *Process) waitChild(t *Thread, pid int, options uint64) (*Process, *waitReport, linux.Errno) {
	sb := p.sb
	for {
		sb.mu.Lock()
		var match []*Process
		for _, c := range p.children {
			switch {
			case pid > 0 && c.pid != pid, pid == 0 && c.pgid != p.pgid, pid < -1 && c.pgid != -pid:
				continue
			}
			match = append(match, c)
		}
		if len(match) == 0 {
			sb.mu.Unlock()
			return nil, nil, linux.ECHILD
		}
		sort.Slice(match, func(i, j int) bool { return match[i].pid < match[j].pid })
		for _, c := range match {
			switch {
			case c.zombie:
				if options&wNoWait == 0 {
					delete(p.children, c.pid)
					delete(sb.procs, c.pid)
				}
				sb.mu.Unlock()
				return c, nil, 0
			case c.stopReport && options&wUntraced != 0, c.contReport && options&wContinued != 0:
				r := &waitReport{c: c, stopped: c.stopReport && options&wUntraced != 0, sig: c.stopSig}
				if options&wNoWait == 0 {
					if r.stopped {
						c.stopReport = false
					} else {
						c.contReport = false
					}
				}
				sb.mu.Unlock()
				return c, r, 0
			}
		}
		ev := p.childEvent
		sb.mu.Unlock()
		if options&wNoHang != 0 {
			return nil, nil, 0
		}
		if err := t.Wait(ev, time.Time{}); err != 0 {
			return nil, nil, err
		}
	}
}

// waitReport is a stopped or continued child that a wait reports.
type waitReport struct {
	c       *Process
	stopped bool
	sig     int
}

// reportStatus is the status word and siginfo code of what waitChild
// returned: a stop or continue if r says so, else the end.
func reportStatus(c *Process, r *waitReport) (status uint32, code int32, value int) {
	if r != nil {
		if r.stopped {
			return uint32(r.sig)<<8 | 0x7f, 5, r.sig // CLD_STOPPED
		}
		return 0xffff, 6, linux.SIGCONT // CLD_CONTINUED
	}
	return c.waitStatus()
}

// waitStatus is the status word wait4 reports for an ended process.
func (p *Process) waitStatus() (status uint32, code int32, value int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.status.Signal != 0 {
		return uint32(p.status.Signal), 2, p.status.Signal // CLD_KILLED
	}
	return uint32(p.status.Code&0xff) << 8, 1, p.status.Code & 0xff // CLD_EXITED
}

func sysWait4(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	if a[2]&^uint64(waitFlags) != 0 {
		return 0, linux.EINVAL
	}
	c, r, err := t.p.waitChild(t, int(int32(a[0])), a[2]&^wNoWait)
	if err != 0 || c == nil {
		return 0, err
	}
	status, _, _ := reportStatus(c, r)
	if a[1] != 0 {
		if err := t.putU32(a[1], status); err != 0 {
			return 0, err
		}
	}
	if a[3] != 0 {
		var ru [144]byte
		if err := t.write(a[3], ru[:]); err != 0 {
			return 0, err
		}
	}
	return uint64(c.pid), 0
}

func sysWaitid(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	if a[3]&^uint64(waitFlags) != 0 || a[3]&(wExited|wUntraced|wContinued) == 0 {
		return 0, linux.EINVAL
	}
	pid := -1
	switch a[0] {
	case pAll:
	case pPID:
		pid = int(int32(a[1]))
		if pid <= 0 {
			return 0, linux.EINVAL
		}
	case pPGID:
		pid = -int(int32(a[1]))
		if a[1] == 0 {
			pid = 0
		}
	default:
		return 0, linux.EINVAL
	}
	c, r, err := t.p.waitChild(t, pid, a[3])
	if err != 0 {
		return 0, err
	}
	if a[2] != 0 {
		var b [linux.SigInfoSize]byte
		if c != nil {
			_, code, value := reportStatus(c, r)
			info := linux.SigInfo{Signo: linux.SIGCHLD, Code: code, Kill: true, PID: uint32(c.pid), Value: uint64(value)}
			info.Encode(b[:])
		}
		return 0, t.write(a[2], b[:])
	}
	return 0, 0
}

// signalTargets are the processes kill(pid) reaches: pid > 0 that one,
// 0 the caller's group, -1 every process but init, < -1 group -pid.
func (p *Process) signalTargets(pid int) []*Process {
	sb := p.sb
	sb.mu.Lock()
	defer sb.mu.Unlock()
	var out []*Process
	for _, q := range sb.procs {
		if q.zombie {
			continue
		}
		switch {
		case pid > 0 && q.pid == pid,
			pid == 0 && q.pgid == p.pgid,
			pid == -1 && q != sb.init,
			pid < -1 && q.pgid == -pid:
			out = append(out, q)
		}
	}
	return out
}

func sysSetpgid(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	p := t.p
	sb := p.sb
	pid, pgid := int(int32(a[0])), int(int32(a[1]))
	if pgid < 0 {
		return 0, linux.EINVAL
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	target := p
	if pid != 0 && pid != p.pid {
		c := p.children[pid]
		if c == nil {
			return 0, linux.ESRCH
		}
		target = c
	}
	if pgid == 0 {
		pgid = target.pid
	}
	if target.sid != p.sid || target.pid == target.sid {
		return 0, linux.EPERM
	}
	if pgid != target.pid {
		found := false
		for _, q := range sb.procs {
			if q.pgid == pgid && q.sid == p.sid {
				found = true
				break
			}
		}
		if !found {
			return 0, linux.EPERM
		}
	}
	target.pgid = pgid
	return 0, 0
}

func sysGetpgid(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	p := t.p
	pid := int(int32(a[0]))
	if pid == 0 || pid == p.pid {
		_, pgid, _ := p.sb.ids(p)
		return uint64(pgid), 0
	}
	p.sb.mu.Lock()
	defer p.sb.mu.Unlock()
	if q := p.sb.procs[pid]; q != nil {
		return uint64(q.pgid), 0
	}
	return 0, linux.ESRCH
}

func sysGetsid(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	p := t.p
	pid := int(int32(a[0]))
	p.sb.mu.Lock()
	defer p.sb.mu.Unlock()
	if pid == 0 {
		return uint64(p.sid), 0
	}
	if q := p.sb.procs[pid]; q != nil {
		return uint64(q.sid), 0
	}
	return 0, linux.ESRCH
}

func sysSetsid(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	p := t.p
	p.sb.mu.Lock()
	defer p.sb.mu.Unlock()
	for _, q := range p.sb.procs {
		if q.pgid == p.pid {
			return 0, linux.EPERM // already a group leader
		}
	}
	p.sid, p.pgid = p.pid, p.pid
	return uint64(p.pid), 0
}
