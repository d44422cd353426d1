package host

import (
	"encoding/binary"
	"time"

	"beelzebox/cpu"
	"beelzebox/linux"
	"beelzebox/sandbox"
)

// Default actions (signal(7)).
const (
	actTerm = iota
	actIgnore
	actCore
	actStop
)

func defaultAction(sig int) int {
	switch sig {
	case linux.SIGCHLD, linux.SIGURG, linux.SIGWINCH, linux.SIGCONT:
		return actIgnore
	case linux.SIGSTOP, linux.SIGTSTP, linux.SIGTTIN, linux.SIGTTOU:
		return actStop
	case linux.SIGQUIT, linux.SIGILL, linux.SIGTRAP, linux.SIGABRT, linux.SIGBUS, linux.SIGFPE,
		linux.SIGSEGV, linux.SIGXCPU, linux.SIGXFSZ, linux.SIGSYS:
		return actCore
	}
	return actTerm
}

// ignored reports whether sig would be discarded on arrival (p.mu held).
func (p *Process) ignored(sig int) bool {
	h := p.actions[sig].Handler
	return sig != linux.SIGSTOP && (h == linux.SIG_IGN || (h == linux.SIG_DFL && defaultAction(sig) == actIgnore))
}

// sent is what sending sig does at once, before any delivery: SIGCONT
// resumes a stopped process and discards pending stop signals; a stop
// signal discards a pending SIGCONT (signal(7)).
func (p *Process) sent(sig int) {
	const stops = 1<<(linux.SIGSTOP-1) | 1<<(linux.SIGTSTP-1) | 1<<(linux.SIGTTIN-1) | 1<<(linux.SIGTTOU-1)
	switch {
	case sig == linux.SIGCONT:
		p.mu.Lock()
		p.pending &^= stops
		for _, t := range p.threads {
			t.pending &^= stops
		}
		p.mu.Unlock()
		p.sb.resume(p)
	case linux.SigBit(sig)&stops != 0:
		p.mu.Lock()
		p.pending &^= linux.SigBit(linux.SIGCONT)
		for _, t := range p.threads {
			t.pending &^= linux.SigBit(linux.SIGCONT)
		}
		p.mu.Unlock()
	}
}

// signalThread makes sig pending for t (tgkill, faults, SIGPIPE).
func (p *Process) signalThread(t *Thread, info linux.SigInfo) {
	sig := int(info.Signo)
	p.sent(sig)
	p.mu.Lock()
	if p.ignored(sig) && sig != linux.SIGKILL {
		p.mu.Unlock()
		return
	}
	t.pending |= linux.SigBit(sig)
	t.infos[sig] = info
	t.attention.Store(true)
	wake := t.mask&linux.SigBit(sig) == 0
	p.mu.Unlock()
	if sig == linux.SIGKILL {
		p.exitGroup(0, linux.SIGKILL)
		return
	}
	if wake {
		t.kick()
	}
}

// signalProcess makes sig pending for the process: a thread that does
// not block it takes it (kill, alarm).
func (p *Process) signalProcess(info linux.SigInfo) {
	sig := int(info.Signo)
	p.sent(sig)
	if sig == linux.SIGKILL {
		p.exitGroup(0, linux.SIGKILL)
		return
	}
	p.mu.Lock()
	if p.ignored(sig) {
		p.mu.Unlock()
		return
	}
	var target *Thread
	for _, t := range p.threadList() {
		if t.mask&linux.SigBit(sig) == 0 {
			target = t
			break
		}
	}
	if target == nil {
		p.pending |= linux.SigBit(sig)
		p.mu.Unlock()
		return
	}
	target.pending |= linux.SigBit(sig)
	target.infos[sig] = info
	target.attention.Store(true)
	p.mu.Unlock()
	target.kick()
}

// fault turns an exception in the guest into its synchronous signal.
func (t *Thread) fault(f sandbox.Fault) {
	info := linux.SigInfo{Code: linux.SI_KERNEL}
	switch f.Vector {
	case cpu.VectorPF:
		info.Signo, info.Addr = linux.SIGSEGV, f.CR2
		info.Code = linux.SEGV_MAPERR
		if f.PK() {
			info.Code = linux.SEGV_PKUERR
		} else if _, ok := t.p.g.PermAt(f.CR2); ok {
			info.Code = linux.SEGV_ACCERR
		}
	case 0: // #DE
		info.Signo, info.Code, info.Addr = linux.SIGFPE, linux.FPE_INTDIV, f.RIP
	case 1: // #DB
		info.Signo, info.Code, info.Addr = linux.SIGTRAP, linux.TRAP_TRACE, f.RIP
	case 3: // #BP
		info.Signo = linux.SIGTRAP
	case 6: // #UD
		info.Signo, info.Code, info.Addr = linux.SIGILL, linux.ILL_ILLOPN, f.RIP
	case 16, 19: // #MF, #XM
		info.Signo, info.Code, info.Addr = linux.SIGFPE, linux.FPE_FLTINV, f.RIP
	case 17: // #AC
		info.Signo, info.Code = linux.SIGBUS, linux.BUS_ADRERR
	default: // #GP, #SS, #NP, #TS and the rest
		info.Signo = linux.SIGSEGV
	}
	p := t.p
	sig := int(info.Signo)
	p.mu.Lock()
	// A fault signal that is blocked or ignored kills, as on Linux: the
	// instruction would fault again forever.
	if t.mask&linux.SigBit(sig) != 0 || p.actions[sig].Handler == linux.SIG_IGN {
		p.actions[sig].Handler = linux.SIG_DFL
		t.mask &^= linux.SigBit(sig)
	}
	t.pending |= linux.SigBit(sig)
	t.infos[sig] = info
	t.attention.Store(true)
	p.mu.Unlock()
}

// deliverSignals runs before the thread enters the guest: it takes the
// lowest deliverable signal and acts on it (a handler's frame, a default
// action). false: the process is ending.
func (t *Thread) deliverSignals() bool {
	p := t.p
	if !t.waitWhileStopped() {
		return false
	}
	for {
		p.mu.Lock()
		ready := (t.pending | p.pending) &^ t.mask
		if ready == 0 && !p.exiting {
			t.attention.Store(false)
		}
		if ready == 0 || p.exiting {
			restart := t.restart
			t.restart = false
			p.mu.Unlock()
			if restart {
				t.restartCall()
			}
			return !p.isExiting()
		}
		sig := 1
		for ready&1 == 0 {
			ready >>= 1
			sig++
		}
		bit := linux.SigBit(sig)
		var info linux.SigInfo
		if t.pending&bit != 0 {
			t.pending &^= bit
			info = t.infos[sig]
		} else {
			p.pending &^= bit
			info = linux.SigInfo{Signo: int32(sig), Code: linux.SI_KERNEL}
		}
		act := p.actions[sig]
		if act.Handler == linux.SIG_DFL || act.Handler == linux.SIG_IGN {
			p.mu.Unlock()
			switch {
			case act.Handler == linux.SIG_IGN && sig != linux.SIGSTOP, defaultAction(sig) == actIgnore:
				continue
			case defaultAction(sig) == actStop:
				// Every thread stops until a SIGCONT (or the end).
				p.sb.stop(p, sig)
				if !t.waitWhileStopped() {
					return false
				}
				continue
			}
			p.exitGroup(0, sig)
			return false
		}
		if act.Flags&linux.SA_RESETHAND != 0 {
			p.actions[sig].Handler = linux.SIG_DFL
		}
		oldMask := t.mask
		if t.hasSavedMask {
			oldMask, t.hasSavedMask = t.savedMask, false
		}
		t.mask |= act.Mask
		if act.Flags&linux.SA_NODEFER == 0 {
			t.mask |= bit
		}
		t.mask &^= linux.Unblockable
		restart := t.restart && act.Flags&linux.SA_RESTART != 0
		t.restart = false
		p.mu.Unlock()
		if restart {
			t.restartCall()
		}
		if !t.pushFrame(sig, info, act, oldMask) {
			// No room for the frame: Linux kills with SIGSEGV.
			p.exitGroup(0, linux.SIGSEGV)
			return false
		}
	}
}

// waitWhileStopped holds the thread while its process is stopped; false:
// the process is ending.
func (t *Thread) waitWhileStopped() bool {
	p := t.p
	for {
		p.sb.mu.Lock()
		stopped, cont := p.stopped, p.cont
		p.sb.mu.Unlock()
		if !stopped {
			return true
		}
		if p.isExiting() {
			return false
		}
		t.Wait(cont, time.Time{})
	}
}

// restartCall makes the interrupted system call run again when the
// thread resumes: RAX back to its number, RIP back over SYSCALL.
func (t *Thread) restartCall() {
	r := t.t.Regs()
	r.RAX = t.nr
	r.RIP -= 2
	t.t.SetRegs(r)
}

// sigFrameSize is the most a signal frame takes on the stack.
func (p *Process) sigFrameSize() int {
	return int(cpu.XsaveSize) + 4 + 64 + linux.SigInfoSize + linux.UContextSize + 8 + 16 + 128
}

// pushFrame builds the rt_sigframe of sig on the thread's stack (or its
// alternate stack) and points the thread at the handler.
func (t *Thread) pushFrame(sig int, info linux.SigInfo, act linux.SigAction, oldMask uint64) bool {
	r := t.t.Regs()
	xs := make([]byte, cpu.XsaveSize+4)
	if t.t.VectorState(xs) != nil {
		return false
	}
	sp := r.RSP
	onAlt := t.onAltStack(sp)
	if act.Flags&linux.SA_ONSTACK != 0 && t.altFlags&linux.SS_DISABLE == 0 && t.altSize != 0 && !onAlt {
		sp = t.altSP + t.altSize
	} else {
		sp -= 128 // the red zone
	}
	// The vector state, 64-byte aligned, with the bytes that mark it as
	// an XSAVE image (and the second magic after it).
	fpstate := (sp - uint64(len(xs))) &^ 63
	le := binary.LittleEndian
	le.PutUint32(xs[linux.FPXSwBytes:], linux.FPXStateMagic1)
	le.PutUint32(xs[linux.FPXSwBytes+4:], uint32(cpu.XsaveSize+4))
	le.PutUint64(xs[linux.FPXSwBytes+8:], cpu.XCR0)
	le.PutUint32(xs[linux.FPXSwBytes+16:], uint32(cpu.XsaveSize))
	le.PutUint32(xs[cpu.XsaveSize:], linux.FPXStateMagic2)
	// rt_sigframe: return address, ucontext, siginfo.
	frameSize := uint64(8 + linux.UContextSize + linux.SigInfoSize)
	frame := ((fpstate - frameSize) &^ 15) - 8
	uc := frame + 8
	si := uc + linux.UContextSize
	buf := make([]byte, frameSize)
	le.PutUint64(buf[0:], act.Restorer)
	u := buf[8:]
	le.PutUint64(u[linux.UCFlags:], linux.UC_FP_XSTATE|linux.UC_SIGCONTEXT_SS)
	le.PutUint64(u[linux.UCStack:], t.altSP)
	ssFlags := uint32(0)
	switch {
	case t.altFlags&linux.SS_DISABLE != 0 || t.altSize == 0:
		ssFlags = linux.SS_DISABLE
	case onAlt:
		ssFlags = linux.SS_ONSTACK
	}
	le.PutUint32(u[linux.UCStack+8:], ssFlags)
	le.PutUint64(u[linux.UCStack+16:], t.altSize)
	f := t.lastFault(sig, info)
	sc := linux.SigContext{
		R8: r.R8, R9: r.R9, R10: r.R10, R11: r.R11, R12: r.R12, R13: r.R13, R14: r.R14, R15: r.R15,
		RDI: r.RDI, RSI: r.RSI, RBP: r.RBP, RBX: r.RBX, RDX: r.RDX, RAX: r.RAX, RCX: r.RCX,
		RSP: r.RSP, RIP: r.RIP, RFLAGS: r.RFLAGS, CSGSFS: 0x2b<<48 | 0x33,
		Trapno: f, Oldmask: oldMask, CR2: info.Addr, Fpstate: fpstate,
	}
	sc.Encode(u[linux.UCMcontext:])
	le.PutUint64(u[linux.UCSigmask:], oldMask)
	info.Encode(buf[8+linux.UContextSize:])
	if frame < 4096 || t.p.g.WriteMemory(fpstate, xs) != nil || t.p.g.WriteMemory(frame, buf) != nil {
		return false
	}
	r.RSP = frame
	r.RIP = act.Handler
	r.RDI, r.RSI, r.RDX, r.RAX = uint64(sig), si, uc, 0
	r.RFLAGS &^= 1<<8 | 1<<10 // TF, DF
	return t.t.SetRegs(r) == nil
}

// lastFault is the trap number a fault signal's sigcontext reports.
func (t *Thread) lastFault(sig int, info linux.SigInfo) uint64 {
	switch {
	case info.Code <= 0 || info.Kill:
		return 0
	case sig == linux.SIGSEGV:
		return cpu.VectorPF
	case sig == linux.SIGFPE:
		return 0
	case sig == linux.SIGILL:
		return 6
	}
	return 0
}

func (t *Thread) onAltStack(sp uint64) bool {
	return t.altSize != 0 && sp > t.altSP && sp <= t.altSP+t.altSize
}

// sigreturn restores what pushFrame saved: the frame's ucontext is at the
// stack pointer the handler returned with.
func (t *Thread) sigreturn() (uint64, linux.Errno) {
	r := t.t.Regs()
	u := make([]byte, linux.UContextSize)
	if t.p.g.ReadMemory(r.RSP, u) != nil {
		t.p.signalThread(t, linux.SigInfo{Signo: linux.SIGSEGV, Code: linux.SI_KERNEL})
		return 0, 0
	}
	var sc linux.SigContext
	sc.Decode(u[linux.UCMcontext:])
	le := binary.LittleEndian
	nr := sandbox.Regs{
		R8: sc.R8, R9: sc.R9, R10: sc.R10, R11: sc.R11, R12: sc.R12, R13: sc.R13, R14: sc.R14, R15: sc.R15,
		RDI: sc.RDI, RSI: sc.RSI, RBP: sc.RBP, RBX: sc.RBX, RDX: sc.RDX, RAX: sc.RAX, RCX: sc.RCX,
		RSP: sc.RSP, RIP: sc.RIP, RFLAGS: sc.RFLAGS, FSBase: r.FSBase, GSBase: r.GSBase,
	}
	if sc.Fpstate != 0 {
		xs := make([]byte, cpu.XsaveSize)
		if t.p.g.ReadMemory(sc.Fpstate, xs) != nil {
			t.p.signalThread(t, linux.SigInfo{Signo: linux.SIGSEGV, Code: linux.SI_KERNEL})
			return 0, 0
		}
		t.t.SetVectorState(xs)
	}
	if t.t.SetRegs(nr) != nil {
		// A context the CPU could not enter: Linux sends SIGSEGV.
		t.p.signalThread(t, linux.SigInfo{Signo: linux.SIGSEGV, Code: linux.SI_KERNEL})
		return 0, 0
	}
	p := t.p
	p.mu.Lock()
	t.mask = le.Uint64(u[linux.UCSigmask:]) &^ linux.Unblockable
	t.attention.Store(true)
	p.mu.Unlock()
	t.noReturn = true
	return 0, 0
}
