package syscall

import (
	"unsafe"

	"beelzebox/kernel"
)

// The netpoller. The Go runtime creates one epoll instance and one eventfd
// (netpollBreak writes it to wake a thread sleeping in epoll_pwait), and
// registers nothing else because the kernel offers no sockets or files.
// So epoll here is that pair: a wait until the eventfd counter is non-zero
// or the timeout passes, returning the epoll_data the runtime registered.
const (
	fdEpoll   = 3
	fdEventfd = 4
	epollIn   = 1
)

var (
	eventCount  uint64
	eventData   uint64
	eventPolled bool
	epollKey    byte // its address is the wait key
)

func eventfdWrite(buf, n uint64) int64 {
	if n < 8 {
		return -EINVAL
	}
	eventCount += *(*uint64)(ptr(buf))
	kernel.Wake(uintptr(unsafe.Pointer(&epollKey)), kernel.WakeAll)
	return 8
}

func eventfdRead(buf, n uint64) int64 {
	if n < 8 {
		return -EINVAL
	}
	if eventCount == 0 {
		return -EAGAIN
	}
	*(*uint64)(ptr(buf)) = eventCount
	eventCount = 0
	return 8
}

func epollCtl(epfd, op, fd, ev uint64) int64 {
	const epollCtlAdd = 1
	if epfd != fdEpoll {
		return -EBADF
	}
	if fd == fdEventfd && op == epollCtlAdd && ev != 0 {
		eventData = *(*uint64)(ptr(ev + 4)) // struct epoll_event is packed: u32 events, u64 data
		eventPolled = true
	}
	return 0
}

// epollWait waits up to timeout milliseconds (-1 forever, 0 poll).
func epollWait(events uint64, timeout int64) int64 {
	var deadline int64
	if timeout > 0 {
		deadline = kernel.Nanotime() + timeout*1e6
	}
	for {
		if eventPolled && eventCount > 0 {
			*(*uint32)(ptr(events)) = epollIn
			*(*uint64)(ptr(events + 4)) = eventData
			return 1
		}
		if timeout == 0 {
			return 0
		}
		switch kernel.Block(uintptr(unsafe.Pointer(&epollKey)), deadline) {
		case kernel.WokenByTimeout:
			return 0
		case kernel.WokenBySignal:
			return -EINTR
		}
	}
}
