package host

import (
	"errors"
	"runtime"

	"beelzebox/linux"
)

// Bounds on what execve reads from the guest.
const (
	maxExecStrings = 1 << 16
	maxStringLen   = 128 << 10
)

// readString reads a NUL-terminated string from the guest.
func (t *Thread) readString(addr uint64, max int) (string, linux.Errno) {
	var out []byte
	var chunk [256]byte
	for len(out) < max {
		n := min(len(chunk), max-len(out))
		// Read up to the end of the page, so that a string ending just
		// before unmapped memory reads.
		if left := int(page - addr%page); left < n {
			n = left
		}
		if err := t.read(addr, chunk[:n]); err != 0 {
			return "", err
		}
		for i, c := range chunk[:n] {
			if c == 0 {
				return string(append(out, chunk[:i]...)), 0
			}
		}
		out = append(out, chunk[:n]...)
		addr += uint64(n)
	}
	return "", linux.ENAMETOOLONG
}

// readStrings reads a NULL-terminated array of string pointers (argv,
// envp); a NULL array is empty.
func (t *Thread) readStrings(addr uint64) ([]string, linux.Errno) {
	var out []string
	total := 0
	for addr != 0 {
		p, err := t.getU64(addr)
		if err != 0 {
			return nil, err
		}
		if p == 0 {
			return out, 0
		}
		s, err := t.readString(p, maxStringLen)
		if err != 0 {
			if err == linux.ENAMETOOLONG {
				err = linux.E2BIG
			}
			return nil, err
		}
		total += len(s) + 1
		if len(out) == maxExecStrings || total > maxArgs {
			return nil, linux.E2BIG
		}
		out = append(out, s)
		addr += 8
	}
	return out, 0
}

func sysExecve(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	path, err := t.readString(a[0], linux.PathMax)
	if err != 0 {
		return 0, err
	}
	argv, err := t.readStrings(a[1])
	if err != 0 {
		return 0, err
	}
	env, err := t.readStrings(a[2])
	if err != 0 {
		return 0, err
	}
	return t.p.execve(t, path, argv, env)
}

// execve replaces the process's program, as Linux's execve does: the
// program is read and checked first (an error returns to the caller);
// then the other threads end, the old memory goes, the new program is
// mapped (an error now kills the process), descriptors marked
// close-on-exec close, handled signals go back to their default action,
// and the calling thread becomes the new program's main thread.
func (p *Process) execve(t *Thread, path string, argv, env []string) (uint64, linux.Errno) {
	if path == "" {
		return 0, linux.ENOENT
	}
	pr, perr := p.prepare(path, argv, env)
	if perr != nil {
		var e linux.Errno
		switch {
		case errors.Is(perr, ErrNotFound):
			return 0, linux.ENOENT
		case errors.As(perr, &e):
			return 0, e
		}
		return 0, linux.ENOEXEC
	}
	// The point of no return.
	p.endOtherThreads(t)
	old := p.g
	t.t.Exit()
	if p.borrowed {
		// A vfork child at level 1 or 2 leaves its parent's guest.
		p.borrowed = false
		p.giveBack()
	} else {
		p.mem.Release()
		old.Close()
	}
	regs, err := p.newImage(pr)
	if err == nil {
		err = p.g.Main().SetRegs(regs)
	}
	if err != nil {
		p.fail(err)
		t.exited = true
		t.noReturn = true
		return 0, 0
	}
	p.mu.Lock()
	t.t = p.g.Main()
	if t.tid != p.pid {
		delete(p.threads, t.tid)
		t.tid = p.pid
		p.threads[t.tid] = t
	}
	for sig := range p.actions {
		if p.actions[sig].Handler != linux.SIG_IGN {
			p.actions[sig] = linux.SigAction{}
		}
	}
	p.mu.Unlock()
	t.altSP, t.altSize, t.altFlags = 0, 0, linux.SS_DISABLE
	t.clearTID, t.robustList, t.robustLen = 0, 0, 0
	p.files.CloseOnExec()
	closeOnce(p.vforked)
	t.noReturn = true
	return 0, 0
}

// endOtherThreads ends every thread but t and waits until they are gone.
func (p *Process) endOtherThreads(t *Thread) {
	p.mu.Lock()
	others := p.threadList()
	for _, u := range others {
		if u != t {
			u.exited = true
			u.attention.Store(true)
		}
	}
	p.mu.Unlock()
	for _, u := range others {
		if u != t {
			u.kick()
		}
	}
	for {
		p.mu.Lock()
		n := len(p.threads)
		p.mu.Unlock()
		if n == 1 {
			return
		}
		runtime.Gosched()
	}
}
