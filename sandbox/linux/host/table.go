package host

import (
	"fmt"
	"sort"
	"strings"

	"beelzebox/linux"
	"beelzebox/sandbox"
	"beelzebox/sandbox/linux/fs"
	"beelzebox/sandbox/linux/vmem"
)

// CallStatus says how much of a system call the host implements.
type CallStatus int

const (
	// NotImplemented calls return ENOSYS and are counted.
	NotImplemented CallStatus = iota
	// Full: Linux's semantics, every flag.
	Full
	// Partial: implemented but for what Missing says.
	Partial
	// Refused: deliberately ENOSYS or an errno, for the reason Missing
	// gives; counted like NotImplemented.
	Refused
)

func (s CallStatus) String() string {
	return [...]string{"ENOSYS", "full", "partial", "refused"}[s]
}

// The statuses of the file and memory calls, in the host's terms.
var (
	fileStatus = map[fs.Status]CallStatus{fs.Full: Full, fs.Partial: Partial}
	memStatus  = map[vmem.Status]CallStatus{vmem.Full: Full, vmem.Partial: Partial}
)

// handler serves a call; a is the six argument registers.
type handler func(t *Thread, a [6]uint64) (uint64, linux.Errno)

// Call is an entry of the system-call table.
type Call struct {
	Name    string
	Status  CallStatus
	Missing string
	fn      handler
	// restart: interrupted by a signal whose handler has SA_RESTART, the
	// call runs again (Linux's ERESTARTSYS calls).
	restart bool
}

// maxNr bounds the table: x86-64 numbers end below 512.
const maxNr = 512

// table is every x86-64 system call by number, built at start from the
// host's own calls, the file calls of package fs and the memory calls of
// package vmem; a number in none of them is NotImplemented.
var table [maxNr]Call

func def(nr uint64, st CallStatus, missing string, fn handler) {
	if table[nr].fn != nil || table[nr].Status != NotImplemented {
		panic(fmt.Sprintf("host: system call %d (%s) in the table twice", nr, linux.SyscallNames[nr]))
	}
	table[nr] = Call{Name: linux.SyscallNames[nr], Status: st, Missing: missing, fn: fn}
}

func init() {
	for nr, name := range linux.SyscallNames {
		if nr < maxNr && name != "" {
			table[nr].Name = name
		}
	}
	hostCalls()
	for nr, c := range fs.Calls {
		fn := c.Fn
		def(nr, fileStatus[c.Status], c.Missing, func(t *Thread, a [6]uint64) (uint64, linux.Errno) {
			return fn(t.p.files, t, a)
		})
	}
	for nr, c := range vmem.Calls {
		fn, nr := c.Fn, nr
		def(nr, memStatus[c.Status], c.Missing, func(t *Thread, a [6]uint64) (uint64, linux.Errno) {
			if grow := memoryGrowth(t, nr, a); grow > 0 {
				sb := t.p.sb
				sb.growMu.Lock()
				defer sb.growMu.Unlock()
				if !sb.memoryFits(grow) {
					if nr == linux.SysBrk {
						return t.p.mem.Brk(0), 0 // brk fails by returning the old break
					}
					return 0, linux.ENOMEM
				}
			}
			return fn(t.p.mem, a)
		})
	}
	// The calls that wait with a temporary signal mask: the file calls
	// wait, the host swaps the mask around them. a[i] is the mask's
	// address, a[j] its size (pselect6 passes both through a[5]).
	for _, m := range []struct {
		nr   uint64
		i, j int
	}{{linux.SysPpoll, 3, 4}, {linux.SysEpollPwait, 4, 5}, {linux.SysEpollPwait2, 4, 5}, {linux.SysPselect6, -1, -1}} {
		c := &table[m.nr]
		if c.fn == nil {
			continue
		}
		fn, m := c.fn, m
		c.fn = func(t *Thread, a [6]uint64) (uint64, linux.Errno) {
			mask, size := uint64(0), uint64(8)
			if m.i >= 0 {
				mask, size = a[m.i], a[m.j]
			} else if a[5] != 0 {
				var b [16]byte
				if err := t.read(a[5], b[:]); err != 0 {
					return 0, err
				}
				mask, size = le.Uint64(b[0:]), le.Uint64(b[8:])
			}
			if mask != 0 && size != 8 {
				return 0, linux.EINVAL
			}
			return t.withMask(mask, func() (uint64, linux.Errno) { return fn(t, a) })
		}
	}
	for _, nr := range []uint64{linux.SysRead, linux.SysReadv, linux.SysWrite, linux.SysWritev,
		linux.SysPread64, linux.SysPwrite64, linux.SysWait4, linux.SysWaitid, linux.SysOpenat, linux.SysOpen,
		linux.SysFcntl, linux.SysFlock, linux.SysIoctl, linux.SysSendfile} {
		table[nr].restart = true
	}
}

// memoryGrowth is how much accessible memory a memory call asks for:
// mmap with access (reservations cost nothing), brk above the break,
// mremap growing. The sandbox's limit across its processes is checked
// against it.
func memoryGrowth(t *Thread, nr uint64, a [6]uint64) uint64 {
	switch nr {
	case linux.SysMmap:
		if a[2] != 0 {
			return a[1]
		}
	case linux.SysBrk:
		if cur := t.p.mem.Brk(0); a[0] > cur {
			return a[0] - cur
		}
	case linux.SysMremap:
		if a[2] > a[1] {
			return a[2] - a[1]
		}
	}
	return 0
}

// Table lists every system call with its status, by number.
func Table() []Call {
	var out []Call
	for _, c := range table {
		if c.Name != "" {
			out = append(out, c)
		}
	}
	return out
}

// Summary is the table's counts by status, for the documentation and the
// tests.
func Summary() string {
	n := map[CallStatus]int{}
	for _, c := range Table() {
		n[c.Status]++
	}
	var parts []string
	for _, s := range []CallStatus{Full, Partial, Refused, NotImplemented} {
		parts = append(parts, fmt.Sprintf("%d %v", n[s], s))
	}
	return strings.Join(parts, ", ")
}

// syscall answers one guest system call.
func (t *Thread) syscall(sc sandbox.Syscall) {
	var c *Call
	if sc.Nr < maxNr {
		c = &table[sc.Nr]
	}
	if c == nil || c.fn == nil {
		name := fmt.Sprintf("syscall_%d", sc.Nr)
		if c != nil && c.Name != "" {
			name = c.Name
		}
		t.p.sb.countNosys(name)
		t.t.SetReturn(linux.ENOSYS.Ret())
		return
	}
	if c.Status == Refused {
		t.p.sb.countNosys(c.Name)
	}
	t.nr = sc.Nr
	t.noReturn = false
	ret, errno := c.fn(t, sc.Args)
	if t.noReturn {
		return
	}
	if errno != 0 {
		if errno == linux.EINTR && c.restart {
			t.restart = true
		}
		if errno == linux.ERESTARTSYS {
			t.restart, errno = true, linux.EINTR
		}
		ret = errno.Ret()
	}
	t.t.SetReturn(ret)
}

// SortedNosys formats the unimplemented calls made, by name.
func SortedNosys(m map[string]int) []string {
	var out []string
	for name, n := range m {
		out = append(out, fmt.Sprintf("%s=%d", name, n))
	}
	sort.Strings(out)
	return out
}
