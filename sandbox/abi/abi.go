// Package abi is the default host of beelzebox guests: a small
// Linux-flavoured system-call ABI that the tests and the demo use, served
// the same way at every sandbox level.
//
//	nr      call                              result
//	1       write(fd 1|2, buf, len)           len | -EBADF | -EFAULT | -EINVAL
//	60      exit(code)                        (ends the guest)
//	228     clock_gettime(0|1, *timespec)     0 | -EINVAL | -EFAULT
//	9       mmap(0, len, prot)                address | -EINVAL | -ENOMEM | -EACCES
//	11      munmap(addr, len)                 0 | -EINVAL
//	0x1000  pkru()                            the thread's PKRU at the call
//	other                                     -ENOSYS
//
// Every pointer and size a guest passes is checked against its memory by
// the sandbox's copy functions: garbage gets an errno, never a fault in
// the host.
package abi

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"beelzebox/sandbox"
)

// System-call numbers.
const (
	SysWrite        = 1
	SysMmap         = 9
	SysMunmap       = 11
	SysExit         = 60
	SysClockGettime = 228
	SysPKRU         = 0x1000
)

// Errno values (Linux's).
const (
	EBADF  = 9
	ENOMEM = 12
	EACCES = 13
	EFAULT = 14
	EINVAL = 22
	ENOSYS = 38
)

const (
	maxWrite = 1 << 20
	maxMmap  = 64 << 20
)

var boot = time.Now()

// Host serves the default ABI to one guest's main thread (Guest.Main).
type Host struct {
	Guest sandbox.Guest
	// Out receives what the guest writes, as whole lines that start with
	// GuestPrefix and hold only printable ASCII (see console).
	Out io.Writer
	// Calls counts the system calls served.
	Calls int
	mmaps map[uint64]uint64
	cons  console
}

// Result is how a guest ended.
type Result struct {
	Exited bool         // the guest called exit
	Code   int          // its exit code
	Exit   sandbox.Exit // otherwise: the exit that stopped it
}

func (r Result) String() string {
	if r.Exited {
		return fmt.Sprintf("exit(%d)", r.Code)
	}
	return r.Exit.String()
}

// Serve runs the guest until it exits or stops on something other than a
// system call (a fault, an expired budget, a kill).
func (h *Host) Serve() (Result, error) {
	defer h.Flush()
	t := h.Guest.Main()
	for {
		e, err := t.Run()
		if err != nil {
			return Result{}, err
		}
		if e.Kind != sandbox.ExitSyscall {
			return Result{Exit: e}, nil
		}
		h.Calls++
		ret, done, code := h.Handle(e.Syscall)
		if done {
			return Result{Exited: true, Code: code}, nil
		}
		t.SetReturn(ret)
	}
}

// Flush ends the guest's unfinished output line (Serve does when it
// returns).
func (h *Host) Flush() {
	h.cons.out = h.Out
	h.cons.flush()
}

func neg(errno int) uint64 { return uint64(-int64(errno)) }

// Handle serves one system call. done reports an exit.
func (h *Host) Handle(sc sandbox.Syscall) (ret uint64, done bool, code int) {
	a := sc.Args
	switch sc.Nr {
	case SysExit:
		return 0, true, int(int32(a[0]))
	case SysWrite:
		if a[0] != 1 && a[0] != 2 {
			return neg(EBADF), false, 0
		}
		if a[2] > maxWrite {
			return neg(EINVAL), false, 0
		}
		buf := make([]byte, a[2])
		if h.Guest.ReadMemory(a[1], buf) != nil {
			return neg(EFAULT), false, 0
		}
		h.cons.out = h.Out
		h.cons.write(buf)
		return a[2], false, 0
	case SysClockGettime:
		var ns int64
		switch a[0] {
		case 0:
			ns = time.Now().UnixNano()
		case 1:
			ns = int64(time.Since(boot))
		default:
			return neg(EINVAL), false, 0
		}
		var ts [16]byte
		binary.LittleEndian.PutUint64(ts[0:], uint64(ns/1e9))
		binary.LittleEndian.PutUint64(ts[8:], uint64(ns%1e9))
		if !h.writable(a[1], len(ts)) || h.Guest.WriteMemory(a[1], ts[:]) != nil {
			return neg(EFAULT), false, 0
		}
		return 0, false, 0
	case SysMmap:
		return h.mmap(a[0], a[1], a[2]), false, 0
	case SysMunmap:
		if n, ok := h.mmaps[a[0]]; !ok || (a[1]+4095)&^4095 != n {
			return neg(EINVAL), false, 0
		}
		delete(h.mmaps, a[0])
		if h.Guest.Unmap(a[0]) != nil {
			return neg(EINVAL), false, 0
		}
		return 0, false, 0
	case SysPKRU:
		v := h.Guest.Main().PKRU()
		if h.Out != nil {
			h.Flush()
			fmt.Fprintf(h.Out, "%spkru=%#08x\n", GuestPrefix, v)
		}
		return uint64(v), false, 0
	}
	return neg(ENOSYS), false, 0
}

// writable reports whether the guest itself may write [addr, addr+n): the
// host must not write where the guest could not (its code, for one).
func (h *Host) writable(addr uint64, n int) bool {
	// One look per page: off steps to each page boundary inside the range.
	for off := uint64(0); off < uint64(n); off += 4096 - (addr+off)%4096 {
		perm, mapped := h.Guest.PermAt(addr + off)
		if !mapped || perm&sandbox.Write == 0 {
			return false
		}
	}
	return true
}

func (h *Host) mmap(addr, length, prot uint64) uint64 {
	const protRead, protWrite, protExec = 1, 2, 4
	if addr != 0 || length == 0 || length > maxMmap || prot&^7 != 0 {
		return neg(EINVAL)
	}
	if prot&protWrite != 0 && prot&protExec != 0 {
		return neg(EACCES)
	}
	var perm sandbox.Perm
	if prot&protRead != 0 {
		perm |= sandbox.Read
	}
	if prot&protWrite != 0 {
		perm |= sandbox.Write | sandbox.Read
	}
	if prot&protExec != 0 {
		perm |= sandbox.Exec | sandbox.Read
	}
	size := (length + 4095) &^ 4095
	va, err := h.Guest.Map(sandbox.Region{Name: "mmap", Size: size, Perm: perm})
	if err != nil {
		return neg(ENOMEM)
	}
	if h.mmaps == nil {
		h.mmaps = map[uint64]uint64{}
	}
	h.mmaps[va] = size
	return va
}
