package vmcore

import "beelzebox/linux"

// Status says how much of a system call's Linux behaviour is there.
type Status int

const (
	Full Status = iota + 1
	Partial
)

// Call is a system call's raw-argument adapter (the six argument
// registers) and how complete it is; Missing says what is not there.
type Call struct {
	Fn      func(*Space, [6]uint64) (uint64, linux.Errno)
	Status  Status
	Missing string
}

func ret(e linux.Errno) (uint64, linux.Errno) { return 0, e }

// mmapCall is mmap(addr, length, prot, flags, fd, offset).
func mmapCall(s *Space, a [6]uint64) (uint64, linux.Errno) {
	flags := int(a[3])
	var src Source
	if a[5]&pageMask != 0 {
		return 0, linux.EINVAL
	}
	if flags&linux.MAP_ANONYMOUS == 0 {
		if s.Files == nil {
			return 0, linux.EBADF
		}
		f, e := s.Files(int(int32(a[4])))
		if e != 0 {
			return 0, e
		}
		if f == nil {
			return 0, linux.EBADF
		}
		src = f
	}
	return s.Mmap(a[0], a[1], int(a[2]), flags, src, a[5])
}

// Calls are the memory-management system calls.
var Calls = map[uint64]Call{
	linux.SysMmap: {Fn: mmapCall, Status: Partial, Missing: "MAP_SHARED anonymous memory is private to the process (nothing shares it); " +
		"writable MAP_SHARED file mappings are ENODEV (read-only ones are private copies); PROT_WRITE|PROT_EXEC is EACCES (guest memory is W^X); " +
		"MAP_GROWSDOWN does not grow; MAP_HUGETLB is ENOMEM (no huge pages); a file mapping past the end of the file reads zeros instead of raising SIGBUS"},
	linux.SysMunmap: {Fn: func(s *Space, a [6]uint64) (uint64, linux.Errno) { return ret(s.Munmap(a[0], a[1])) }, Status: Full},
	linux.SysMprotect: {Fn: func(s *Space, a [6]uint64) (uint64, linux.Errno) { return ret(s.Mprotect(a[0], a[1], int(a[2]))) },
		Status: Partial, Missing: "PROT_WRITE|PROT_EXEC is EACCES (W^X), and so is PROT_WRITE on a shared file mapping"},
	linux.SysMremap: {Fn: func(s *Space, a [6]uint64) (uint64, linux.Errno) { return s.Mremap(a[0], a[1], a[2], int(a[3]), a[4]) },
		Status: Partial, Missing: "old_size 0 (duplicating a shared mapping) is ENOMEM"},
	linux.SysBrk: {Fn: func(s *Space, a [6]uint64) (uint64, linux.Errno) { return s.Brk(a[0]), 0 }, Status: Full},
	linux.SysMadvise: {Fn: func(s *Space, a [6]uint64) (uint64, linux.Errno) { return ret(s.Madvise(a[0], a[1], int(int32(a[2])))) },
		Status: Partial, Missing: "MADV_GUARD_INSTALL/REMOVE and MADV_COLLAPSE are EINVAL; MADV_HWPOISON/SOFT_OFFLINE are EPERM; other advice is accepted and changes nothing"},
	linux.SysMsync: {Fn: func(s *Space, a [6]uint64) (uint64, linux.Errno) { return ret(s.Msync(a[0], a[1], int(int32(a[2])))) }, Status: Full},
	linux.SysMincore: {Fn: func(s *Space, a [6]uint64) (uint64, linux.Errno) { return ret(s.Mincore(a[0], a[1], a[2])) },
		Status: Partial, Missing: "residency is approximated: pages of mapped regions count as resident, PROT_NONE reservations as not"},
	linux.SysMlock: {Fn: func(s *Space, a [6]uint64) (uint64, linux.Errno) { return ret(s.Mlock(a[0], a[1])) },
		Status: Partial, Missing: "no effect (nothing is paged out); RLIMIT_MEMLOCK is not checked"},
	linux.SysMunlock: {Fn: func(s *Space, a [6]uint64) (uint64, linux.Errno) { return ret(s.Mlock(a[0], a[1])) },
		Status: Partial, Missing: "no effect (nothing is paged out)"},
	linux.SysMlock2: {Fn: func(s *Space, a [6]uint64) (uint64, linux.Errno) { return ret(s.Mlock2(a[0], a[1], int(int32(a[2])))) },
		Status: Partial, Missing: "no effect (nothing is paged out); RLIMIT_MEMLOCK is not checked"},
	linux.SysMlockall: {Fn: func(s *Space, a [6]uint64) (uint64, linux.Errno) { return ret(s.Mlockall(int(int32(a[0])))) },
		Status: Partial, Missing: "no effect (nothing is paged out)"},
	linux.SysMunlockall: {Fn: func(s *Space, a [6]uint64) (uint64, linux.Errno) { return 0, 0 },
		Status: Partial, Missing: "no effect (nothing is paged out)"},
}
