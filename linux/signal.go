package linux

import "encoding/binary"

// Signal numbers, the ones the host names (the rest are numbers).
const (
	SIGHUP    = 1
	SIGINT    = 2
	SIGQUIT   = 3
	SIGILL    = 4
	SIGTRAP   = 5
	SIGABRT   = 6
	SIGBUS    = 7
	SIGFPE    = 8
	SIGKILL   = 9
	SIGUSR1   = 10
	SIGSEGV   = 11
	SIGUSR2   = 12
	SIGPIPE   = 13
	SIGALRM   = 14
	SIGTERM   = 15
	SIGSTKFLT = 16
	SIGCHLD   = 17
	SIGCONT   = 18
	SIGSTOP   = 19
	SIGTSTP   = 20
	SIGTTIN   = 21
	SIGTTOU   = 22
	SIGURG    = 23
	SIGXCPU   = 24
	SIGXFSZ   = 25
	SIGVTALRM = 26
	SIGPROF   = 27
	SIGWINCH  = 28
	SIGIO     = 29
	SIGPWR    = 30
	SIGSYS    = 31
	// NSIG is the highest signal number (real-time signals included).
	NSIG = 64
)

// sigaction flags and special handlers.
const (
	SA_NOCLDSTOP = 0x1
	SA_NOCLDWAIT = 0x2
	SA_SIGINFO   = 0x4
	SA_RESTORER  = 0x04000000
	SA_ONSTACK   = 0x08000000
	SA_RESTART   = 0x10000000
	SA_NODEFER   = 0x40000000
	SA_RESETHAND = 0x80000000
	SIG_DFL      = 0
	SIG_IGN      = 1
)

// sigprocmask hows, sigaltstack flags.
const (
	SIG_BLOCK     = 0
	SIG_UNBLOCK   = 1
	SIG_SETMASK   = 2
	SS_ONSTACK    = 1
	SS_DISABLE    = 2
	SS_AUTODISARM = 1 << 31
	MINSIGSTKSZ   = 2048
)

// si_code values.
const (
	SI_USER     = 0
	SI_KERNEL   = 0x80
	SI_QUEUE    = -1
	SI_TIMER    = -2
	SI_TKILL    = -6
	SEGV_MAPERR = 1
	SEGV_ACCERR = 2
	SEGV_PKUERR = 4
	BUS_ADRERR  = 2
	ILL_ILLOPN  = 2
	FPE_INTDIV  = 1
	FPE_FLTDIV  = 3
	FPE_FLTINV  = 7
	TRAP_BRKPT  = 1
	TRAP_TRACE  = 2
)

// SigBit is sig's bit in a signal set.
func SigBit(sig int) uint64 { return 1 << (sig - 1) }

// Unblockable is the set no mask can block.
const Unblockable = 1<<(SIGKILL-1) | 1<<(SIGSTOP-1)

// SigAction is the kernel's struct sigaction on x86-64 (32 bytes:
// handler, flags, restorer, mask).
type SigAction struct {
	Handler, Flags, Restorer, Mask uint64
}

// SigActionSize is the size of struct sigaction in guest memory.
const SigActionSize = 32

func (a *SigAction) Decode(b []byte) {
	a.Handler = binary.LittleEndian.Uint64(b[0:])
	a.Flags = binary.LittleEndian.Uint64(b[8:])
	a.Restorer = binary.LittleEndian.Uint64(b[16:])
	a.Mask = binary.LittleEndian.Uint64(b[24:])
}

func (a *SigAction) Encode(b []byte) {
	binary.LittleEndian.PutUint64(b[0:], a.Handler)
	binary.LittleEndian.PutUint64(b[8:], a.Flags)
	binary.LittleEndian.PutUint64(b[16:], a.Restorer)
	binary.LittleEndian.PutUint64(b[24:], a.Mask)
}

// SigInfo is the part of siginfo_t the host fills (128 bytes in memory).
type SigInfo struct {
	Signo, Errno, Code int32
	// Addr is si_addr for faults; for kill and tkill the first 8 bytes of
	// the union are si_pid and si_uid instead (PID, UID).
	Addr     uint64
	PID, UID uint32
	// Value is si_value for queued signals, si_status for SIGCHLD.
	Value uint64
	Kill  bool // the union holds pid and uid, then Value
}

// SigInfoSize is the size of siginfo_t.
const SigInfoSize = 128

func (s *SigInfo) Encode(b []byte) {
	clear(b[:SigInfoSize])
	le := binary.LittleEndian
	le.PutUint32(b[0:], uint32(s.Signo))
	le.PutUint32(b[4:], uint32(s.Errno))
	le.PutUint32(b[8:], uint32(s.Code))
	if s.Kill {
		le.PutUint32(b[16:], s.PID)
		le.PutUint32(b[20:], s.UID)
		le.PutUint64(b[24:], s.Value)
	} else {
		le.PutUint64(b[16:], s.Addr)
	}
}

// The Linux x86-64 signal frame (arch/x86/include/uapi/asm/sigcontext.h,
// ucontext.h): rt_sigframe is the return address (sa_restorer), the
// ucontext, the siginfo, and apart from them, 64-byte aligned, the XSAVE
// image of the vector state with the software-reserved bytes that say so.
const (
	// UContextSize: flags, link, stack_t (24), sigcontext (256), sigmask.
	UContextSize = 8 + 8 + 24 + SigContextSize + 8
	// SigContextSize is struct sigcontext.
	SigContextSize = 256
	// UContext offsets.
	UCFlags    = 0
	UCStack    = 16 // ss_sp, ss_flags (int32 + pad), ss_size
	UCMcontext = 40
	UCSigmask  = UCMcontext + SigContextSize
	// uc_flags bits.
	UC_FP_XSTATE     = 1
	UC_SIGCONTEXT_SS = 2
	// FPXStateMagic1 goes in the XSAVE image's software-reserved bytes
	// (offset 464: magic1, extended_size, xfeatures, xstate_size),
	// FPXStateMagic2 right after the image.
	FPXStateMagic1 = 0x46505853
	FPXStateMagic2 = 0x46505845
	FPXSwBytes     = 464
)

// SigContext is struct sigcontext: the interrupted registers.
type SigContext struct {
	R8, R9, R10, R11, R12, R13, R14, R15 uint64
	RDI, RSI, RBP, RBX, RDX, RAX, RCX    uint64
	RSP, RIP, RFLAGS                     uint64
	CSGSFS                               uint64 // cs, gs, fs, ss (16 bits each)
	Err, Trapno, Oldmask, CR2            uint64
	Fpstate                              uint64
}

func (c *SigContext) words() []*uint64 {
	return []*uint64{&c.R8, &c.R9, &c.R10, &c.R11, &c.R12, &c.R13, &c.R14, &c.R15,
		&c.RDI, &c.RSI, &c.RBP, &c.RBX, &c.RDX, &c.RAX, &c.RCX, &c.RSP, &c.RIP, &c.RFLAGS,
		&c.CSGSFS, &c.Err, &c.Trapno, &c.Oldmask, &c.CR2, &c.Fpstate}
}

// Encode writes the sigcontext into b (SigContextSize bytes; the reserved
// words are zero).
func (c *SigContext) Encode(b []byte) {
	clear(b[:SigContextSize])
	for i, w := range c.words() {
		binary.LittleEndian.PutUint64(b[8*i:], *w)
	}
}

func (c *SigContext) Decode(b []byte) {
	for i, w := range c.words() {
		*w = binary.LittleEndian.Uint64(b[8*i:])
	}
}
