package kernel

import (
	"unsafe"

	"beelzebox/cpu"
	"beelzebox/mm"
)

// Tasks are the guest threads of level 3: each is a kernel thread of its
// own (a handler thread, spawnHandler) that runs a ring-3 context in its
// guest's address space, scheduled and preempted like every other thread.
// A task runs until an event the host must see (a system call, a fault,
// its budget, an interrupt request, a kill), then stops: it posts the
// event to the host goroutine waiting for it (TaskRun) or to its port,
// where host goroutines take the events of many tasks (PortWait), and
// blocks until the host resumes it. Meanwhile every other thread runs.
//
// Task and Port records live in kernel memory and hold no Go pointers
// (handler code must not store pointers): their owner (sandbox/process)
// allocates them, keeps the address space alive, and frees a task only
// after TaskReap.
//
// Invariants:
//   - A task's fields change only in handler context (interrupts off, one
//     CPU), except Interrupt and Budget, which the owner sets with the task
//     stopped or as a request the loop reads.
//   - State Stopped: the task's thread is blocked (or about to block) in
//     taskMain and its context is the host's to read and change.
//   - A stopped task's event is posted exactly once: to its waiter if one
//     is in TaskRun, else queued on its port if the port resumed it, else
//     left for the next TaskRun (Pending).

// TaskState is where a task is.
type TaskState uint32

const (
	TaskStopped TaskState = iota // waiting for the host
	TaskRunning                  // runnable, running, or preempted
	TaskExited                   // its thread has ended or is ending
)

// TaskEvent is why a task stopped.
type TaskEvent uint32

const (
	EventNone TaskEvent = iota
	EventSyscall
	EventFault
	EventBudget
	EventInterrupted
	EventExited
)

// NullSyscall is the one system call the kernel answers itself, at every
// ring-3 level, without waking the host: it returns 0. It is the bare
// SYSCALL/SYSRET round trip through the kernel's entry and exit path that
// the transition benchmarks compare the levels with.
const NullSyscall = 0x7fff_0000

// Task is a guest thread's kernel record.
type Task struct {
	Ctx cpu.UserContext
	// Space is the address of the task's mm.UserSpace.
	Space uintptr
	// Port is the address of the port its events go to (0: none).
	Port uintptr
	// Budget, when not 0, is the CPU time (ns) left to the host's Run
	// before the task stops with EventBudget (negative: none left): its
	// owner sets it when a Run begins, and it runs down across the
	// TaskRuns of that Run (a Run that resolves page faults itself makes
	// several).
	Budget int64
	State  TaskState
	Event  TaskEvent
	// Pending: the event was posted and no host has taken it yet.
	Pending uint32
	// NotEntered: the last fault is the #GP of a state that could not be
	// loaded (cpu.UserContext.EntryValid); the task ran nothing.
	NotEntered uint32
	// Interrupt, set by any goroutine, asks the task to stop with
	// EventInterrupted at its next interrupt (or at once if stopped).
	Interrupt uint32
	kill      uint32
	// bounded: the task was started by a TaskRun, whose Budget bounds
	// it; a task resumed for its port runs unbounded. It is set where the
	// task is started, not read from waiter when it begins to run: a
	// signal may take the waiter away before the task's thread runs (on
	// another CPU), and the task must not then run unbounded while the
	// host calls TaskRun again and waits for it.
	bounded uint32
	thread  uintptr // *Thread running the task
	waiter  uintptr // *Thread blocked in TaskRun for this task, or 0
	next    uintptr // the next task queued on the same port
	reaper  uintptr // *Thread blocked in TaskReap, or 0
}

// Port is a queue of stopped tasks for host goroutines to serve.
type Port struct {
	head, tail uintptr
	closed     uint32
	_          uint32
}

// Errors of the task calls, returned to Go as negative numbers.
const (
	TaskErrInterrupted = -4  // a signal for the host thread: call again
	TaskErrNoMemory    = -12 // no memory for the task's kernel thread
	TaskErrClosed      = -9  // the port is closed
)

func taskOf(a uintptr) *Task { return (*Task)(unsafe.Pointer(a)) }

// TaskStart creates the kernel thread of the stopped task tk.
func TaskStart(tk *Task) int64 {
	tk.State = TaskStopped
	t := spawnHandler(bodyTask, uintptr(unsafe.Pointer(tk)))
	if t == nil {
		tk.State = TaskExited
		return TaskErrNoMemory
	}
	tk.thread = uintptr(unsafe.Pointer(t))
	return 0
}

// TaskRun resumes tk (unless it has an event no host has taken yet) and
// waits for its next event, which it returns.
func TaskRun(tk *Task) int64 {
	if tk.Pending == 0 {
		if tk.State == TaskExited {
			return int64(EventExited)
		}
		if tk.Interrupt != 0 {
			tk.Interrupt = 0
			return int64(EventInterrupted)
		}
		if tk.State == TaskStopped {
			tk.State, tk.bounded = TaskRunning, 1
			tk.waiter = uintptr(unsafe.Pointer(cur()))
			why := handTo((*Thread)(unsafe.Pointer(tk.thread)))
			left(tk)
			if why == WokenBySignal && tk.Pending == 0 {
				return TaskErrInterrupted
			}
		}
	}
	for tk.Pending == 0 {
		tk.waiter = uintptr(unsafe.Pointer(cur()))
		why := Block(0, 0)
		left(tk)
		if why == WokenBySignal && tk.Pending == 0 {
			return TaskErrInterrupted
		}
	}
	tk.Pending = 0
	return int64(tk.Event)
}

// handTo blocks the running thread and runs t, which waits for what the
// running thread just did: at once if t is blocked (BlockSwitch), else
// (t is runnable already: a new task's thread that has not run yet) in
// its turn.
func handTo(t *Thread) WakeReason {
	if t.State == StateBlocked {
		return BlockSwitch(t)
	}
	return Block(0, 0)
}

// left records that the waiter is done with tk: a reaper waits for it.
func left(tk *Task) {
	tk.waiter = 0
	if tk.reaper != 0 && tk.State == TaskExited {
		Unblock((*Thread)(unsafe.Pointer(tk.reaper)))
	}
}

// TaskResume lets the stopped task tk run on; its next event goes to its
// port.
func TaskResume(tk *Task) int64 {
	tk.Pending = 0
	resume(tk)
	return 0
}

func resume(tk *Task) {
	if tk.State != TaskStopped {
		return
	}
	tk.State, tk.bounded = TaskRunning, 0
	Unblock((*Thread)(unsafe.Pointer(tk.thread)))
}

// PortWait waits for a task to stop with an event on port p and returns
// its address.
func PortWait(p *Port) int64 {
	for {
		for p.head != 0 {
			tk := taskOf(p.head)
			p.head = tk.next
			if p.head == 0 {
				p.tail = 0
			}
			tk.next = 0
			if tk.Pending != 0 { // not taken by a TaskRun meanwhile
				tk.Pending = 0
				return int64(uintptr(unsafe.Pointer(tk)))
			}
		}
		if p.closed != 0 {
			return TaskErrClosed
		}
		if Block(uintptr(unsafe.Pointer(p)), 0) == WokenBySignal && p.head == 0 {
			return TaskErrInterrupted
		}
	}
}

// PortClose wakes every goroutine waiting on p, for good.
func PortClose(p *Port) {
	p.closed = 1
	Wake(uintptr(unsafe.Pointer(p)), WakeAll)
}

// TaskKill ends tk: at once if it is stopped, at its next interrupt if it
// runs (which Kick makes come now when it runs on another CPU).
func TaskKill(tk *Task) {
	tk.kill = 1
	Kick(tk.thread)
	if tk.Pending != 0 && tk.Port != 0 {
		unqueue(tk, (*Port)(unsafe.Pointer(tk.Port)))
	}
	tk.Pending = 0
	if tk.State == TaskStopped {
		tk.State = TaskRunning
		Unblock((*Thread)(unsafe.Pointer(tk.thread)))
	}
}

// unqueue takes tk off p's queue, where it may wait for a host.
func unqueue(tk *Task, p *Port) {
	a := uintptr(unsafe.Pointer(tk))
	var prev uintptr
	for at := p.head; at != 0; prev, at = at, taskOf(at).next {
		if at != a {
			continue
		}
		if prev == 0 {
			p.head = tk.next
		} else {
			taskOf(prev).next = tk.next
		}
		if p.tail == a {
			p.tail = prev
		}
		tk.next = 0
		return
	}
}

// TaskReap waits until tk's thread has ended and no host thread waits in
// TaskRun for it (handler code is not preempted: a woken waiter is done
// with tk by the time the reaper runs).
func TaskReap(tk *Task) int64 {
	for tk.State != TaskExited || tk.waiter != 0 {
		tk.reaper = uintptr(unsafe.Pointer(cur()))
		why := Block(0, 0)
		tk.reaper = 0
		if why == WokenBySignal && (tk.State != TaskExited || tk.waiter != 0) {
			return TaskErrInterrupted
		}
	}
	return 0
}

// post hands the event of the stopped task tk to the host. A waiter in
// TaskRun gets the CPU at once (the task's thread blocks meanwhile). The
// event of a task a TaskRun started is that TaskRun's even when its
// waiter left for a signal (it calls again): it stays Pending, never on
// the port, whose goroutines serve the threads they resumed.
func post(tk *Task, ev TaskEvent) {
	tk.Event = ev
	tk.Pending = 1
	tk.State = TaskStopped
	switch {
	case tk.waiter != 0:
		handTo((*Thread)(unsafe.Pointer(tk.waiter)))
	case tk.Port != 0 && tk.bounded == 0:
		p := (*Port)(unsafe.Pointer(tk.Port))
		if p.tail != 0 {
			taskOf(p.tail).next = uintptr(unsafe.Pointer(tk))
		} else {
			p.head = uintptr(unsafe.Pointer(tk))
		}
		p.tail = uintptr(unsafe.Pointer(tk))
		Wake(uintptr(unsafe.Pointer(p)), 1)
	}
}

// taskMain is a task's kernel thread: run, post, wait for the host, until
// killed.
func taskMain(arg uintptr) {
	tk := taskOf(arg)
	for tk.kill == 0 {
		if tk.State != TaskRunning {
			Block(0, 0)
			continue
		}
		ev := runTask(tk)
		if tk.kill != 0 {
			break // nothing to post: the host that killed it reaps it
		}
		post(tk, ev)
	}
	tk.State = TaskExited
	tk.Event = EventExited
	if tk.waiter != 0 {
		tk.Pending = 1
		Unblock((*Thread)(unsafe.Pointer(tk.waiter)))
	}
	if tk.reaper != 0 {
		Unblock((*Thread)(unsafe.Pointer(tk.reaper)))
	}
}

// runTask runs tk's context until an event for the host. Interrupts that
// stop it are handled here: the timer may switch to other threads (the
// task's state is in its context, its loop's on its kernel stack).
func runTask(tk *Task) TaskEvent {
	// A budget bounds a TaskRun, not a task resumed for its port.
	if tk.Budget == 0 || tk.bounded == 0 {
		return runUntilEvent(tk, nil)
	}
	if tk.Budget < 0 {
		return EventBudget
	}
	deadline := Nanotime() + tk.Budget
	SetGuestDeadline(deadline)
	ev := runUntilEvent(tk, &deadline)
	SetGuestDeadline(0)
	if ev == EventFault {
		// The owner may resolve the fault and run on in the same Run
		// (only then does what is left matter: off the round trip).
		left := deadline - Nanotime()
		if left <= 0 {
			left = -1 // spent (0 would mean no budget)
		}
		tk.Budget = left
	}
	return ev
}

// runUntilEvent runs tk until an event; deadline, if not nil, is when its
// budget ends, moved on by the time other threads run meanwhile.
func runUntilEvent(tk *Task, deadline *int64) TaskEvent {
	ctx := &tk.Ctx
	space := (*mm.UserSpace)(unsafe.Pointer(tk.Space))
	tk.NotEntered = 0
	for {
		if tk.kill != 0 {
			return EventExited
		}
		if tk.Interrupt != 0 {
			tk.Interrupt = 0
			return EventInterrupted
		}
		if !ctx.EntryValid() {
			ctx.Regs.Vector, ctx.Regs.ErrorCode = cpu.VectorGP, 0
			tk.NotEntered = 1
			return EventFault
		}
		i := cpu.Index() // the thread may move at a switch, not in here
		ctx.CR3 = space.Enter(i)
		EnterUser(ctx)
		space.Leave(i)
		v := ctx.Regs.Vector
		if v == cpu.VectorSyscall {
			if ctx.Regs.AX != NullSyscall {
				return EventSyscall
			}
			ctx.Regs.AX = 0
			continue
		}
		if v == cpu.VectorPF {
			ctx.CR2 = cpu.CR2()
		}
		if v < 32 {
			CheckEntryState()
			return EventFault
		}
		before := Nanotime()
		if GuestInterrupt(v) && deadline != nil {
			*deadline += Nanotime() - before
			SetGuestDeadline(*deadline)
		}
		if deadline != nil && Nanotime() >= *deadline {
			return EventBudget
		}
	}
}

// TaskInterrupted makes the CPU that runs tk, if another, take it out of
// ring 3 now, after its Interrupt was set.
func TaskInterrupted(tk *Task) { Kick(tk.thread) }
