package linux

import "golang.org/x/sys/unix"

// Memory-mapping constants (mmap, mprotect, mremap, madvise, msync,
// mlock): from x/sys/unix where it has them, the rest from the uapi
// headers (<asm-generic/mman-common.h>, <linux/mman.h>).
const (
	// TaskSize is the end of an x86-64 process's address space with
	// 4-level paging (TASK_SIZE_MAX: the lower half less its last page).
	TaskSize = 1<<47 - 4096
	// MmapMinAddr is vm.mmap_min_addr's default: an unprivileged process
	// cannot map below it.
	MmapMinAddr = 0x10000
	// MaxMapCount is vm.max_map_count's default.
	MaxMapCount = 65530

	PROT_NONE      = unix.PROT_NONE
	PROT_READ      = unix.PROT_READ
	PROT_WRITE     = unix.PROT_WRITE
	PROT_EXEC      = unix.PROT_EXEC
	PROT_SEM       = 0x8
	PROT_GROWSDOWN = unix.PROT_GROWSDOWN
	PROT_GROWSUP   = unix.PROT_GROWSUP

	MAP_SHARED          = unix.MAP_SHARED
	MAP_PRIVATE         = unix.MAP_PRIVATE
	MAP_SHARED_VALIDATE = unix.MAP_SHARED_VALIDATE
	MAP_DROPPABLE       = unix.MAP_DROPPABLE
	MAP_TYPE            = unix.MAP_TYPE
	MAP_FIXED           = unix.MAP_FIXED
	MAP_ANONYMOUS       = unix.MAP_ANONYMOUS
	MAP_32BIT           = unix.MAP_32BIT
	MAP_ABOVE4G         = unix.MAP_ABOVE4G
	MAP_GROWSDOWN       = unix.MAP_GROWSDOWN
	MAP_DENYWRITE       = unix.MAP_DENYWRITE
	MAP_EXECUTABLE      = unix.MAP_EXECUTABLE
	MAP_LOCKED          = unix.MAP_LOCKED
	MAP_NORESERVE       = unix.MAP_NORESERVE
	MAP_POPULATE        = unix.MAP_POPULATE
	MAP_NONBLOCK        = unix.MAP_NONBLOCK
	MAP_STACK           = unix.MAP_STACK
	MAP_HUGETLB         = unix.MAP_HUGETLB
	MAP_SYNC            = unix.MAP_SYNC
	MAP_FIXED_NOREPLACE = unix.MAP_FIXED_NOREPLACE
	MAP_UNINITIALIZED   = 0x4000000
	// MAP_LEGACY_MASK is what MAP_SHARED_VALIDATE accepts (LEGACY_MAP_MASK).
	MAP_LEGACY_MASK = MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_DENYWRITE |
		MAP_EXECUTABLE | MAP_UNINITIALIZED | MAP_GROWSDOWN | MAP_LOCKED | MAP_NORESERVE |
		MAP_POPULATE | MAP_NONBLOCK | MAP_STACK | MAP_HUGETLB

	MREMAP_MAYMOVE   = unix.MREMAP_MAYMOVE
	MREMAP_FIXED     = unix.MREMAP_FIXED
	MREMAP_DONTUNMAP = unix.MREMAP_DONTUNMAP

	MADV_NORMAL          = unix.MADV_NORMAL
	MADV_RANDOM          = unix.MADV_RANDOM
	MADV_SEQUENTIAL      = unix.MADV_SEQUENTIAL
	MADV_WILLNEED        = unix.MADV_WILLNEED
	MADV_DONTNEED        = unix.MADV_DONTNEED
	MADV_FREE            = unix.MADV_FREE
	MADV_REMOVE          = unix.MADV_REMOVE
	MADV_DONTFORK        = unix.MADV_DONTFORK
	MADV_DOFORK          = unix.MADV_DOFORK
	MADV_MERGEABLE       = unix.MADV_MERGEABLE
	MADV_UNMERGEABLE     = unix.MADV_UNMERGEABLE
	MADV_HUGEPAGE        = unix.MADV_HUGEPAGE
	MADV_NOHUGEPAGE      = unix.MADV_NOHUGEPAGE
	MADV_DONTDUMP        = unix.MADV_DONTDUMP
	MADV_DODUMP          = unix.MADV_DODUMP
	MADV_WIPEONFORK      = unix.MADV_WIPEONFORK
	MADV_KEEPONFORK      = unix.MADV_KEEPONFORK
	MADV_COLD            = unix.MADV_COLD
	MADV_PAGEOUT         = unix.MADV_PAGEOUT
	MADV_POPULATE_READ   = unix.MADV_POPULATE_READ
	MADV_POPULATE_WRITE  = unix.MADV_POPULATE_WRITE
	MADV_DONTNEED_LOCKED = unix.MADV_DONTNEED_LOCKED
	MADV_COLLAPSE        = unix.MADV_COLLAPSE
	MADV_GUARD_INSTALL   = 102
	MADV_GUARD_REMOVE    = 103
	MADV_HWPOISON        = unix.MADV_HWPOISON
	MADV_SOFT_OFFLINE    = 101

	MS_ASYNC      = unix.MS_ASYNC
	MS_INVALIDATE = unix.MS_INVALIDATE
	MS_SYNC       = unix.MS_SYNC

	MLOCK_ONFAULT = 0x1
	MCL_CURRENT   = unix.MCL_CURRENT
	MCL_FUTURE    = unix.MCL_FUTURE
	MCL_ONFAULT   = unix.MCL_ONFAULT
)
