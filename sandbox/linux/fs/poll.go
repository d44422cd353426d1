package fs

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"beelzebox/linux"

	"golang.org/x/sys/unix"
)

// readiness returns the events of of; always-ready files (regular files,
// directories, devices) report POLLIN|POLLOUT.
func readiness(of *file) uint32 {
	if of.isPath() {
		return unix.POLLNVAL
	}
	return of.ops.events(of)
}

// waitAny waits until one of the queues is notified, the deadline passes
// or a signal comes. check is called after the waiter is registered and
// says whether to stop waiting (it returns true when something is ready).
// zero says no waiting at all (a zero timeout).
func waitAny(t Task, queues func(add func(*waitQueue)), check func() bool, zero bool, deadline time.Time) linux.Errno {
	for {
		w := newWaiter()
		var qs []*waitQueue
		queues(func(q *waitQueue) {
			if q != nil {
				q.add(w)
				qs = append(qs, q)
			}
		})
		ready := check()
		if ready || zero {
			for _, q := range qs {
				q.remove(w)
			}
			return 0
		}
		err := t.Wait(w.ch, deadline)
		for _, q := range qs {
			q.remove(w)
		}
		if err == linux.ETIMEDOUT {
			// One last look, then report the timeout.
			check()
			return linux.ETIMEDOUT
		}
		if err != 0 {
			return err
		}
	}
}

// --- poll ---

type pollEntry struct {
	fd     int32
	events uint16
	of     *file
}

func (f *Files) doPoll(t Task, addr, nfds uint64, zero bool, deadline time.Time) (uint64, linux.Errno) {
	if nfds > MaxFDs {
		return 0, linux.EINVAL
	}
	raw, err := readMem(t, addr, int(nfds)*linux.SizeofPollFd)
	if err != 0 {
		return 0, err
	}
	ents := make([]pollEntry, nfds)
	for i := range ents {
		p := linux.DecodePollFd(raw[i*8:])
		ents[i] = pollEntry{fd: p.Fd, events: uint16(p.Events)}
		if p.Fd >= 0 {
			ents[i].of = f.get(int(p.Fd))
		}
	}
	defer func() {
		for _, e := range ents {
			if e.of != nil {
				e.of.decRef()
			}
		}
	}()
	revents := make([]uint16, nfds)
	count := 0
	check := func() bool {
		count = 0
		for i, e := range ents {
			var r uint16
			switch {
			case e.fd < 0:
			case e.of == nil:
				r = unix.POLLNVAL
			default:
				r = uint16(readiness(e.of)) & (e.events | unix.POLLERR | unix.POLLHUP | unix.POLLNVAL)
			}
			revents[i] = r
			if r != 0 {
				count++
			}
		}
		return count > 0
	}
	werr := waitAny(t, func(add func(*waitQueue)) {
		for _, e := range ents {
			if e.of != nil {
				add(e.of.ops.queue(e.of))
			}
		}
	}, check, zero, deadline)
	if werr != 0 && werr != linux.ETIMEDOUT {
		return 0, werr
	}
	for i := range ents {
		le.PutUint16(raw[i*8+6:], revents[i])
	}
	if e := writeMem(t, addr, raw); e != 0 {
		return 0, e
	}
	return uint64(count), 0
}

// Poll is poll(fds, nfds, timeout_ms).
func (f *Files) Poll(t Task, a [6]uint64) (uint64, linux.Errno) {
	ms := int32(a[2])
	var deadline time.Time
	if ms > 0 {
		deadline = addTimeout(time.Duration(ms), time.Millisecond, 0)
	}
	return f.doPoll(t, a[0], a[1], ms == 0, deadline)
}

// readTimeout reads a relative timespec (NULL: none).
func readTimespec(t Task, addr uint64) (time.Time, bool, linux.Errno) {
	if addr == 0 {
		return time.Time{}, false, 0
	}
	b, err := readMem(t, addr, linux.SizeofTimespec)
	if err != 0 {
		return time.Time{}, false, err
	}
	ts := linux.DecodeTimespec(b)
	d, ok := deadlineFromTimespec(ts)
	if !ok {
		return time.Time{}, false, linux.EINVAL
	}
	return d, ts.Sec == 0 && ts.Nsec == 0, 0
}

func writeRemaining(t Task, addr uint64, deadline time.Time, timeval bool) {
	if addr == 0 || deadline.IsZero() {
		return
	}
	r := remaining(deadline)
	var b [16]byte
	if timeval {
		linux.Timeval{Sec: int64(r / time.Second), Usec: int64(r%time.Second) / 1000}.Encode(b[:])
	} else {
		linux.Timespec{Sec: int64(r / time.Second), Nsec: int64(r % time.Second)}.Encode(b[:])
	}
	writeMem(t, addr, b[:])
}

// Ppoll is ppoll(fds, nfds, tmo_p, sigmask, sigsetsize); the host swaps
// the signal mask.
func (f *Files) Ppoll(t Task, a [6]uint64) (uint64, linux.Errno) {
	deadline, zero, err := readTimespec(t, a[2])
	if err != 0 {
		return 0, err
	}
	n, err := f.doPoll(t, a[0], a[1], zero, deadline)
	if err == 0 || err == linux.EINTR {
		writeRemaining(t, a[2], deadline, false)
	}
	return n, err
}

// --- select ---

func (f *Files) doSelect(t Task, nfds int64, addrs [3]uint64, zero bool, deadline time.Time) (uint64, linux.Errno) {
	if nfds < 0 {
		return 0, linux.EINVAL
	}
	if nfds > MaxFDs {
		nfds = MaxFDs
	}
	words := int((nfds + 63) / 64)
	var sets [3][]uint64
	for i, addr := range addrs {
		if addr == 0 {
			continue
		}
		b, err := readMem(t, addr, words*8)
		if err != 0 {
			return 0, err
		}
		sets[i] = make([]uint64, words)
		for j := range sets[i] {
			sets[i][j] = le.Uint64(b[j*8:])
		}
	}
	type sel struct {
		fd  int
		of  *file
		any [3]bool
	}
	var fds []sel
	defer func() {
		for _, s := range fds {
			s.of.decRef()
		}
	}()
	for fd := 0; fd < int(nfds); fd++ {
		var s sel
		want := false
		for i := range sets {
			if sets[i] != nil && sets[i][fd/64]&(1<<(fd%64)) != 0 {
				s.any[i] = true
				want = true
			}
		}
		if !want {
			continue
		}
		s.fd = fd
		s.of = f.get(fd)
		if s.of == nil {
			return 0, linux.EBADF
		}
		fds = append(fds, s)
	}
	var out [3][]uint64
	count := 0
	const in = unix.POLLIN | linux.POLLRDNORM | unix.POLLHUP | unix.POLLERR
	const outEv = unix.POLLOUT | linux.POLLWRNORM | unix.POLLERR
	const ex = unix.POLLPRI
	check := func() bool {
		count = 0
		for i := range out {
			out[i] = make([]uint64, words)
		}
		for _, s := range fds {
			r := readiness(s.of)
			for i, mask := range []uint32{in, outEv, ex} {
				if s.any[i] && r&mask != 0 {
					out[i][s.fd/64] |= 1 << (s.fd % 64)
					count++
				}
			}
		}
		return count > 0
	}
	werr := waitAny(t, func(add func(*waitQueue)) {
		for _, s := range fds {
			add(s.of.ops.queue(s.of))
		}
	}, check, zero, deadline)
	if werr != 0 && werr != linux.ETIMEDOUT {
		return 0, werr
	}
	for i, addr := range addrs {
		if addr == 0 {
			continue
		}
		b := make([]byte, words*8)
		for j, v := range out[i] {
			le.PutUint64(b[j*8:], v)
		}
		if e := writeMem(t, addr, b); e != 0 {
			return 0, e
		}
	}
	return uint64(count), 0
}

// Select is select(nfds, readfds, writefds, exceptfds, timeout).
func (f *Files) Select(t Task, a [6]uint64) (uint64, linux.Errno) {
	var deadline time.Time
	zero := false
	if a[4] != 0 {
		b, err := readMem(t, a[4], linux.SizeofTimeval)
		if err != 0 {
			return 0, err
		}
		tv := linux.DecodeTimeval(b)
		if tv.Sec < 0 || tv.Usec < 0 || tv.Usec >= 1e6 {
			return 0, linux.EINVAL
		}
		zero = tv.Sec == 0 && tv.Usec == 0
		deadline = addTimeout(time.Duration(tv.Sec), time.Second, time.Duration(tv.Usec)*time.Microsecond)
	}
	n, err := f.doSelect(t, int64(int32(a[0])), [3]uint64{a[1], a[2], a[3]}, zero, deadline)
	if err == 0 || err == linux.EINTR {
		writeRemaining(t, a[4], deadline, true)
	}
	return n, err
}

// Pselect6 is pselect6(nfds, readfds, writefds, exceptfds, timeout, sigmask).
func (f *Files) Pselect6(t Task, a [6]uint64) (uint64, linux.Errno) {
	deadline, zero, err := readTimespec(t, a[4])
	if err != 0 {
		return 0, err
	}
	n, err := f.doSelect(t, int64(int32(a[0])), [3]uint64{a[1], a[2], a[3]}, zero, deadline)
	if err == 0 || err == linux.EINTR {
		writeRemaining(t, a[4], deadline, false)
	}
	return n, err
}

// --- epoll ---

type epollKey struct {
	fd int
	of *file
}

type epollItem struct {
	key      epollKey
	events   uint32 // requested, with EPOLLET / EPOLLONESHOT
	data     uint64
	disabled bool        // EPOLLONESHOT fired
	signaled atomic.Bool // the file notified since the last report (edge)
	sub      *waiter     // subscription on the file's queue
	q        *waitQueue
}

type epollOps struct {
	baseOps
	q     waitQueue
	mu    sync.Mutex
	items map[epollKey]*epollItem
	order []*epollItem // round robin
}

func (e *epollOps) queue(*file) *waitQueue { return &e.q }

func (e *epollOps) events(*file) uint32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, it := range e.order {
		if e.ready(it) != 0 {
			return unix.POLLIN | linux.POLLRDNORM
		}
	}
	return 0
}

func (e *epollOps) release(*file) {
	e.mu.Lock()
	items := e.order
	e.items, e.order = nil, nil
	e.mu.Unlock()
	for _, it := range items {
		it.drop()
	}
}

func (it *epollItem) drop() {
	if it.q != nil {
		it.q.remove(it.sub)
	}
	it.key.of.decRef()
}

const epollAlways = unix.EPOLLERR | unix.EPOLLHUP

// ready is the events of it to report now (0: none). e.mu is held.
func (e *epollOps) ready(it *epollItem) uint32 {
	if it.disabled || it.key.of.refs.Load() <= 1 {
		return 0
	}
	r := readiness(it.key.of) & (it.events&^(unix.EPOLLET|unix.EPOLLONESHOT|unix.EPOLLEXCLUSIVE|unix.EPOLLWAKEUP) | epollAlways)
	if r != 0 && it.events&unix.EPOLLET != 0 && !it.signaled.Load() {
		return 0
	}
	return r
}

func (f *Files) epollCreate(flags uint32) (uint64, linux.Errno) {
	if flags&^unix.EPOLL_CLOEXEC != 0 {
		return 0, linux.EINVAL
	}
	f.fs.mu.Lock()
	ino := f.fs.newAnon(0o600)
	ino.openFn = anonOpen
	f.fs.mu.Unlock()
	of := f.fs.newFile(ino, &epollOps{items: make(map[epollKey]*epollItem)}, unix.O_RDWR, "anon_inode:[eventpoll]")
	return f.installNew(of, flags&unix.EPOLL_CLOEXEC != 0)
}

// EpollCreate is epoll_create(size).
func (f *Files) EpollCreate(t Task, a [6]uint64) (uint64, linux.Errno) {
	if int32(a[0]) <= 0 {
		return 0, linux.EINVAL
	}
	return f.epollCreate(0)
}

// EpollCreate1 is epoll_create1(flags).
func (f *Files) EpollCreate1(t Task, a [6]uint64) (uint64, linux.Errno) {
	return f.epollCreate(uint32(a[0]))
}

// EpollCtl is epoll_ctl(epfd, op, fd, event).
func (f *Files) EpollCtl(t Task, a [6]uint64) (uint64, linux.Errno) {
	epfd, _ := fdArg(a[0])
	op := int(int32(a[1]))
	fd, _ := fdArg(a[2])
	var ev linux.EpollEvent
	if op != unix.EPOLL_CTL_DEL {
		b, err := readMem(t, a[3], linux.SizeofEpollEvent)
		if err != 0 {
			return 0, err
		}
		ev = linux.DecodeEpollEvent(b)
	}
	epf := f.get(epfd)
	if epf == nil {
		return 0, linux.EBADF
	}
	defer epf.decRef()
	target := f.get(fd)
	if target == nil {
		return 0, linux.EBADF
	}
	keep := false
	defer func() {
		if !keep {
			target.decRef()
		}
	}()
	ep, ok := epf.ops.(*epollOps)
	if !ok || epfd == fd {
		return 0, linux.EINVAL
	}
	if _, isEp := target.ops.(*epollOps); isEp {
		return 0, linux.EINVAL // nested epoll is not supported
	}
	if target.ops.queue(target) == nil || target.isPath() {
		return 0, linux.EPERM // regular files and directories
	}
	key := epollKey{fd, target}
	const valid = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLPRI | unix.EPOLLERR | unix.EPOLLHUP |
		unix.EPOLLRDNORM | unix.EPOLLRDBAND | unix.EPOLLWRNORM | unix.EPOLLWRBAND | unix.EPOLLMSG |
		unix.EPOLLET | unix.EPOLLONESHOT | unix.EPOLLWAKEUP | unix.EPOLLEXCLUSIVE
	ep.mu.Lock()
	it := ep.items[key]
	switch op {
	case unix.EPOLL_CTL_ADD:
		if it != nil {
			ep.mu.Unlock()
			return 0, linux.EEXIST
		}
		if len(ep.items) >= 65536 {
			ep.mu.Unlock()
			return 0, linux.ENOSPC
		}
		it = &epollItem{key: key, events: ev.Events & uint32(valid), data: ev.Data}
		it.signaled.Store(true)
		it.sub = &waiter{fn: func() {
			it.signaled.Store(true)
			ep.q.notify()
		}}
		it.q = target.ops.queue(target)
		ep.items[key] = it
		ep.order = append(ep.order, it)
		keep = true
		ep.mu.Unlock()
		it.q.add(it.sub)
		ep.q.notify()
		return 0, 0
	case unix.EPOLL_CTL_MOD:
		if it == nil {
			ep.mu.Unlock()
			return 0, linux.ENOENT
		}
		if ev.Events&unix.EPOLLEXCLUSIVE != 0 || it.events&unix.EPOLLEXCLUSIVE != 0 {
			ep.mu.Unlock()
			return 0, linux.EINVAL
		}
		it.events, it.data, it.disabled = ev.Events&uint32(valid), ev.Data, false
		it.signaled.Store(true)
		ep.mu.Unlock()
		ep.q.notify()
		return 0, 0
	case unix.EPOLL_CTL_DEL:
		if it == nil {
			ep.mu.Unlock()
			return 0, linux.ENOENT
		}
		delete(ep.items, key)
		for i, x := range ep.order {
			if x == it {
				ep.order = append(ep.order[:i], ep.order[i+1:]...)
				break
			}
		}
		ep.mu.Unlock()
		it.drop()
		return 0, 0
	}
	ep.mu.Unlock()
	return 0, linux.EINVAL
}

// collect gathers up to max ready events. e.mu is held.
func (e *epollOps) collect(max int) []linux.EpollEvent {
	var out []linux.EpollEvent
	var stale []*epollItem
	n := len(e.order)
	for i := 0; i < n && len(out) < max; i++ {
		it := e.order[0]
		e.order = append(e.order[1:], it)
		if it.key.of.refs.Load() <= 1 {
			// Only our reference is left: every descriptor of the
			// file was closed, so the item goes away.
			stale = append(stale, it)
			continue
		}
		r := e.ready(it)
		if r == 0 {
			continue
		}
		if it.events&unix.EPOLLET != 0 {
			it.signaled.Store(false)
		}
		if it.events&unix.EPOLLONESHOT != 0 {
			it.disabled = true
		}
		out = append(out, linux.EpollEvent{Events: r, Data: it.data})
	}
	for _, it := range stale {
		delete(e.items, it.key)
		for i, x := range e.order {
			if x == it {
				e.order = append(e.order[:i], e.order[i+1:]...)
				break
			}
		}
		go it.drop() // decRef may take FS.mu: not under e.mu
	}
	return out
}

func (f *Files) epollWait(t Task, epfd int, addr uint64, maxev int32, ms int32) (uint64, linux.Errno) {
	if maxev <= 0 || int64(maxev) > math.MaxInt32/linux.SizeofEpollEvent {
		return 0, linux.EINVAL
	}
	epf := f.get(epfd)
	if epf == nil {
		return 0, linux.EBADF
	}
	defer epf.decRef()
	ep, ok := epf.ops.(*epollOps)
	if !ok {
		return 0, linux.EINVAL
	}
	max := int(min(maxev, 4096))
	// Check the buffer before consuming edge-triggered events.
	if t.WriteMemory(addr, make([]byte, linux.SizeofEpollEvent)) != nil {
		return 0, linux.EFAULT
	}
	var deadline time.Time
	if ms > 0 {
		deadline = addTimeout(time.Duration(ms), time.Millisecond, 0)
	}
	var got []linux.EpollEvent
	err := waitAny(t, func(add func(*waitQueue)) { add(&ep.q) }, func() bool {
		ep.mu.Lock()
		got = ep.collect(max)
		ep.mu.Unlock()
		return len(got) > 0
	}, ms == 0, deadline)
	if err != 0 && err != linux.ETIMEDOUT {
		return 0, err
	}
	b := make([]byte, len(got)*linux.SizeofEpollEvent)
	for i, e := range got {
		e.Encode(b[i*linux.SizeofEpollEvent:])
	}
	if e := writeMem(t, addr, b); e != 0 {
		return 0, e
	}
	return uint64(len(got)), 0
}

// EpollWait is epoll_wait(epfd, events, maxevents, timeout_ms).
func (f *Files) EpollWait(t Task, a [6]uint64) (uint64, linux.Errno) {
	fd, _ := fdArg(a[0])
	return f.epollWait(t, fd, a[1], int32(a[2]), int32(a[3]))
}

// EpollPwait is epoll_pwait(epfd, events, maxevents, timeout, sigmask,
// sigsetsize); the host swaps the signal mask.
func (f *Files) EpollPwait(t Task, a [6]uint64) (uint64, linux.Errno) {
	fd, _ := fdArg(a[0])
	return f.epollWait(t, fd, a[1], int32(a[2]), int32(a[3]))
}
