package linux

import "encoding/binary"

// Auxiliary-vector entry types (include/uapi/linux/auxvec.h and the x86
// additions).
const (
	AT_NULL         = 0
	AT_PHDR         = 3
	AT_PHENT        = 4
	AT_PHNUM        = 5
	AT_PAGESZ       = 6
	AT_BASE         = 7
	AT_FLAGS        = 8
	AT_ENTRY        = 9
	AT_UID          = 11
	AT_EUID         = 12
	AT_GID          = 13
	AT_EGID         = 14
	AT_PLATFORM     = 15
	AT_HWCAP        = 16
	AT_CLKTCK       = 17
	AT_SECURE       = 23
	AT_RANDOM       = 25
	AT_HWCAP2       = 26
	AT_EXECFN       = 31
	AT_SYSINFO_EHDR = 33
	AT_MINSIGSTKSZ  = 51
)

// clone flags beyond x/sys/unix's names, and clone3's argument size.
const (
	CloneArgsSizeVer0 = 64
	CSIGNAL           = 0xff
)

// futex operations (include/uapi/linux/futex.h).
const (
	FUTEX_WAIT             = 0
	FUTEX_WAKE             = 1
	FUTEX_FD               = 2
	FUTEX_REQUEUE          = 3
	FUTEX_CMP_REQUEUE      = 4
	FUTEX_WAKE_OP          = 5
	FUTEX_LOCK_PI          = 6
	FUTEX_UNLOCK_PI        = 7
	FUTEX_TRYLOCK_PI       = 8
	FUTEX_WAIT_BITSET      = 9
	FUTEX_WAKE_BITSET      = 10
	FUTEX_PRIVATE_FLAG     = 128
	FUTEX_CLOCK_REALTIME   = 256
	FUTEX_BITSET_MATCH_ANY = 0xffffffff
)

// arch_prctl codes.
const (
	ARCH_SET_GS = 0x1001
	ARCH_SET_FS = 0x1002
	ARCH_GET_FS = 0x1003
	ARCH_GET_GS = 0x1004
)

// Resource limits (getrlimit, prlimit64).
const (
	RLIMIT_CPU     = 0
	RLIMIT_FSIZE   = 1
	RLIMIT_DATA    = 2
	RLIMIT_STACK   = 3
	RLIMIT_CORE    = 4
	RLIMIT_RSS     = 5
	RLIMIT_NPROC   = 6
	RLIMIT_NOFILE  = 7
	RLIMIT_MEMLOCK = 8
	RLIMIT_AS      = 9
	RLIM_NLIMITS   = 16
	RLIM_INFINITY  = ^uint64(0)
)

// Clock ids.
const (
	CLOCK_REALTIME           = 0
	CLOCK_MONOTONIC          = 1
	CLOCK_PROCESS_CPUTIME_ID = 2
	CLOCK_THREAD_CPUTIME_ID  = 3
	CLOCK_MONOTONIC_RAW      = 4
	CLOCK_REALTIME_COARSE    = 5
	CLOCK_MONOTONIC_COARSE   = 6
	CLOCK_BOOTTIME           = 7
	CLOCK_TAI                = 11
	TIMER_ABSTIME            = 1
)

// UtsnameSize is struct utsname: six fields of 65 bytes.
const UtsnameSize = 6 * 65

// EncodeUtsname lays out struct utsname.
func EncodeUtsname(b []byte, fields [6]string) {
	clear(b[:UtsnameSize])
	for i, f := range fields {
		copy(b[65*i:65*i+64], f)
	}
}

// PutTimespec writes struct timespec (or timeval, with microseconds) at b.
func PutTimespec(b []byte, sec, nsec int64) {
	binary.LittleEndian.PutUint64(b[0:], uint64(sec))
	binary.LittleEndian.PutUint64(b[8:], uint64(nsec))
}

// GetTimespec reads a struct timespec; ok is false for a negative or
// unnormalised one (EINVAL).
func GetTimespec(b []byte) (sec, nsec int64, ok bool) {
	sec = int64(binary.LittleEndian.Uint64(b[0:]))
	nsec = int64(binary.LittleEndian.Uint64(b[8:]))
	return sec, nsec, sec >= 0 && nsec >= 0 && nsec < 1e9
}
