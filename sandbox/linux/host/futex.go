package host

import (
	"sync"
	"time"

	"beelzebox/linux"
)

// futexTable is the process's futex wait queues, keyed by guest address
// (private and shared futexes are the same within one process).
type futexTable struct {
	mu     sync.Mutex
	queues map[uint64][]*futexWaiter
}

type futexWaiter struct {
	bitset uint32
	ch     chan struct{}
	woken  bool
	addr   uint64
}

func (f *futexTable) init() { f.queues = map[uint64][]*futexWaiter{} }

// wake wakes up to n waiters on addr whose bitset meets mask.
func (f *futexTable) wake(addr uint64, n int, mask uint32) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wakeLocked(addr, n, mask)
}

func (f *futexTable) wakeLocked(addr uint64, n int, mask uint32) int {
	q := f.queues[addr]
	woken := 0
	rest := q[:0]
	for _, w := range q {
		if woken < n && w.bitset&mask != 0 {
			w.woken = true
			close(w.ch)
			woken++
			continue
		}
		rest = append(rest, w)
	}
	f.setQueue(addr, rest)
	return woken
}

func (f *futexTable) setQueue(addr uint64, q []*futexWaiter) {
	if len(q) == 0 {
		delete(f.queues, addr)
	} else {
		f.queues[addr] = q
	}
}

// requeue wakes n waiters on from and moves up to m of the rest to to.
func (f *futexTable) requeue(from, to uint64, n, m int) int {
	woken := f.wakeLocked(from, n, linux.FUTEX_BITSET_MATCH_ANY)
	q := f.queues[from]
	moved := 0
	for moved < m && moved < len(q) {
		w := q[moved]
		w.addr = to
		f.queues[to] = append(f.queues[to], w)
		moved++
	}
	f.setQueue(from, q[moved:])
	return woken + moved
}

// remove takes a waiter that timed out or was interrupted off its queue;
// false if a wake took it first.
func (f *futexTable) remove(w *futexWaiter) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if w.woken {
		return false
	}
	q := f.queues[w.addr]
	for i, x := range q {
		if x == w {
			f.setQueue(w.addr, append(q[:i:i], q[i+1:]...))
			break
		}
	}
	return true
}

// maxFutexWake bounds the waiters one call wakes or moves.
const maxFutexWake = 1 << 30

func sysFutex(t *Thread, a [6]uint64) (uint64, linux.Errno) {
	addr, op, val := a[0], a[1], uint32(a[2])
	if addr%4 != 0 {
		return 0, linux.EINVAL
	}
	cmd := op &^ (linux.FUTEX_PRIVATE_FLAG | linux.FUTEX_CLOCK_REALTIME)
	realtime := op&linux.FUTEX_CLOCK_REALTIME != 0
	if realtime && cmd != linux.FUTEX_WAIT_BITSET && cmd != linux.FUTEX_WAIT {
		return 0, linux.ENOSYS
	}
	f := &t.p.futexes
	switch cmd {
	case linux.FUTEX_WAIT, linux.FUTEX_WAIT_BITSET:
		mask := uint32(linux.FUTEX_BITSET_MATCH_ANY)
		if cmd == linux.FUTEX_WAIT_BITSET {
			mask = uint32(a[5])
			if mask == 0 {
				return 0, linux.EINVAL
			}
		}
		var deadline time.Time
		if a[3] != 0 {
			d, err := t.readTimespec(a[3])
			if err != 0 {
				return 0, err
			}
			if cmd == linux.FUTEX_WAIT {
				deadline = time.Now().Add(d)
			} else if realtime {
				deadline = time.Unix(0, int64(d))
			} else {
				deadline = time.Now().Add(d - time.Duration(monotonic()))
			}
		}
		return t.futexWait(addr, val, mask, deadline)
	case linux.FUTEX_WAKE, linux.FUTEX_WAKE_BITSET:
		mask := uint32(linux.FUTEX_BITSET_MATCH_ANY)
		if cmd == linux.FUTEX_WAKE_BITSET {
			mask = uint32(a[5])
			if mask == 0 {
				return 0, linux.EINVAL
			}
		}
		return uint64(f.wake(addr, int(min(val, maxFutexWake)), mask)), 0
	case linux.FUTEX_REQUEUE, linux.FUTEX_CMP_REQUEUE:
		to := a[4]
		if to%4 != 0 {
			return 0, linux.EINVAL
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if cmd == linux.FUTEX_CMP_REQUEUE {
			var b [4]byte
			if err := t.read(addr, b[:]); err != 0 {
				return 0, err
			}
			if le.Uint32(b[:]) != uint32(a[5]) {
				return 0, linux.EAGAIN
			}
		}
		n, m := int(min(val, maxFutexWake)), int(min(uint32(a[3]), maxFutexWake))
		if int32(val) < 0 || int32(a[3]) < 0 {
			return 0, linux.EINVAL
		}
		return uint64(f.requeue(addr, to, n, m)), 0
	case linux.FUTEX_WAKE_OP:
		return t.futexWakeOp(addr, a[4], int(min(val, maxFutexWake)), int(min(uint32(a[3]), maxFutexWake)), uint32(a[5]))
	}
	return 0, linux.ENOSYS
}

// futexWait blocks while *addr == val, until a wake, the deadline or a
// signal.
func (t *Thread) futexWait(addr uint64, val, mask uint32, deadline time.Time) (uint64, linux.Errno) {
	f := &t.p.futexes
	f.mu.Lock()
	var b [4]byte
	if t.p.g.ReadMemory(addr, b[:]) != nil {
		f.mu.Unlock()
		return 0, linux.EFAULT
	}
	if le.Uint32(b[:]) != val {
		f.mu.Unlock()
		return 0, linux.EAGAIN
	}
	w := &futexWaiter{bitset: mask, ch: make(chan struct{}), addr: addr}
	f.queues[addr] = append(f.queues[addr], w)
	f.mu.Unlock()
	err := t.Wait(w.ch, deadline)
	if err != 0 && !f.remove(w) {
		err = 0 // woken as the timeout or signal came
	}
	return 0, err
}

// futexWakeOp is FUTEX_WAKE_OP: *addr2 is changed by the encoded
// operation; waiters on addr are woken, and those on addr2 if the old
// value meets the encoded comparison.
func (t *Thread) futexWakeOp(addr, addr2 uint64, n, n2 int, enc uint32) (uint64, linux.Errno) {
	if addr2%4 != 0 {
		return 0, linux.EINVAL
	}
	op, cmp := (enc>>28)&7, (enc>>24)&15
	oparg, cmparg := (enc>>12)&0xfff, enc&0xfff
	if enc>>31 != 0 { // FUTEX_OP_OPARG_SHIFT
		if oparg > 31 {
			return 0, linux.EINVAL
		}
		oparg = 1 << oparg
	}
	f := &t.p.futexes
	f.mu.Lock()
	defer f.mu.Unlock()
	var b [4]byte
	if err := t.read(addr2, b[:]); err != 0 {
		return 0, err
	}
	old := le.Uint32(b[:])
	var nv uint32
	switch op {
	case 0:
		nv = oparg
	case 1:
		nv = old + oparg
	case 2:
		nv = old | oparg
	case 3:
		nv = old &^ oparg
	case 4:
		nv = old ^ oparg
	default:
		return 0, linux.ENOSYS
	}
	le.PutUint32(b[:], nv)
	if err := t.write(addr2, b[:]); err != 0 {
		return 0, err
	}
	woken := f.wakeLocked(addr, n, linux.FUTEX_BITSET_MATCH_ANY)
	var hit bool
	o, c := int32(old), int32(cmparg)
	switch cmp {
	case 0:
		hit = o == c
	case 1:
		hit = o != c
	case 2:
		hit = o < c
	case 3:
		hit = o <= c
	case 4:
		hit = o > c
	case 5:
		hit = o >= c
	default:
		return 0, linux.ENOSYS
	}
	if hit {
		woken += f.wakeLocked(addr2, n2, linux.FUTEX_BITSET_MATCH_ANY)
	}
	return uint64(woken), 0
}
