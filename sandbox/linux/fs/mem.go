package fs

import (
	"encoding/binary"
	"sync"
	"time"

	"beelzebox/linux"
)

var le = binary.LittleEndian

// --- guest memory ---

const pageSize = 4096

// readPath reads a NUL-terminated path of at most PATH_MAX bytes from
// guest memory, a page at a time so that a string ending just before an
// unmapped page is read.
func readPath(t Task, addr uint64) (string, linux.Errno) {
	var buf []byte
	var chunk [pageSize]byte
	for len(buf) < linux.PathMax {
		n := pageSize - int(addr%pageSize)
		if n > linux.PathMax-len(buf) {
			n = linux.PathMax - len(buf)
		}
		if addr+uint64(n) < addr {
			return "", linux.EFAULT
		}
		if err := t.ReadMemory(addr, chunk[:n]); err != nil {
			return "", linux.EFAULT
		}
		for i := 0; i < n; i++ {
			if chunk[i] == 0 {
				return string(append(buf, chunk[:i]...)), 0
			}
		}
		buf = append(buf, chunk[:n]...)
		addr += uint64(n)
	}
	return "", linux.ENAMETOOLONG
}

func readMem(t Task, addr uint64, n int) ([]byte, linux.Errno) {
	b := make([]byte, n)
	if n == 0 {
		return b, 0
	}
	if addr+uint64(n) < addr || t.ReadMemory(addr, b) != nil {
		return nil, linux.EFAULT
	}
	return b, 0
}

func writeMem(t Task, addr uint64, b []byte) linux.Errno {
	if len(b) == 0 {
		return 0
	}
	if addr+uint64(len(b)) < addr || t.WriteMemory(addr, b) != nil {
		return linux.EFAULT
	}
	return 0
}

func writeU32(t Task, addr uint64, v uint32) linux.Errno {
	var b [4]byte
	le.PutUint32(b[:], v)
	return writeMem(t, addr, b[:])
}

func writeU64(t Task, addr uint64, v uint64) linux.Errno {
	var b [8]byte
	le.PutUint64(b[:], v)
	return writeMem(t, addr, b[:])
}

func readU64(t Task, addr uint64) (uint64, linux.Errno) {
	b, err := readMem(t, addr, 8)
	if err != 0 {
		return 0, err
	}
	return le.Uint64(b), 0
}

// --- wake-ups ---

// waiter is one wait: a channel closed by the first wake-up, or a
// function called on every wake-up (epoll's subscriptions).
type waiter struct {
	ch   chan struct{}
	once sync.Once
	fn   func()
}

func newWaiter() *waiter { return &waiter{ch: make(chan struct{})} }

func (w *waiter) wake() {
	if w.fn != nil {
		w.fn()
		return
	}
	w.once.Do(func() { close(w.ch) })
}

// waitQueue is the list of waiters of one object whose readiness changes.
// Waiters add themselves before checking the object's state; whoever
// changes the state calls notify after the change, with no lock held.
type waitQueue struct {
	mu sync.Mutex
	ws map[*waiter]struct{}
}

func (q *waitQueue) add(w *waiter) {
	q.mu.Lock()
	if q.ws == nil {
		q.ws = make(map[*waiter]struct{})
	}
	q.ws[w] = struct{}{}
	q.mu.Unlock()
}

func (q *waitQueue) remove(w *waiter) {
	q.mu.Lock()
	delete(q.ws, w)
	q.mu.Unlock()
}

func (q *waitQueue) notify() {
	q.mu.Lock()
	if len(q.ws) == 0 {
		q.mu.Unlock()
		return
	}
	ws := make([]*waiter, 0, len(q.ws))
	for w := range q.ws {
		ws = append(ws, w)
	}
	q.mu.Unlock()
	for _, w := range ws {
		w.wake()
	}
}

// lockQueue wakes sleepers on record locks and flock.
type lockQueue struct{ waitQueue }

// block waits on q for a change (after cond, checked under the caller's
// protocol, said to wait). It returns 0 when woken.
func (q *waitQueue) wait(t Task, w *waiter, deadline time.Time) linux.Errno {
	err := t.Wait(w.ch, deadline)
	q.remove(w)
	return err
}

// --- timeouts ---

// deadlineFromTimespec converts a relative timeout; ok false if invalid.
func deadlineFromTimespec(ts linux.Timespec) (time.Time, bool) {
	if ts.Sec < 0 || ts.Nsec < 0 || ts.Nsec >= 1e9 {
		return time.Time{}, false
	}
	return addTimeout(time.Duration(ts.Sec), time.Second, time.Duration(ts.Nsec)), true
}

// addTimeout returns now + sec*unit + extra, saturating far in the future.
func addTimeout(sec, unit, extra time.Duration) time.Time {
	const maxSec = 100 * 365 * 24 * 3600 // a century is "forever"
	if sec > maxSec*time.Second/unit {
		return time.Now().Add(maxSec * time.Second)
	}
	return time.Now().Add(sec*unit + extra)
}

func remaining(deadline time.Time) time.Duration {
	d := time.Until(deadline)
	if d < 0 {
		return 0
	}
	return d
}
