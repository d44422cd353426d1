/*
 * linuxfuzz: throws garbage at the Linux host. For ROUNDS rounds it calls
 * every system-call number from 0 to 470 with six arguments drawn from a
 * xorshift generator seeded by argv[1] (a decimal number; the test varies
 * it): small integers, -1, huge sizes, kernel addresses,
 * non-canonical addresses, unaligned and unmapped user addresses, and
 * pointers into a buffer of its own. It skips the calls that would end
 * it or stop it legitimately (exit, signals to itself, sleeps, waits,
 * unmapping or protecting its own memory, replacing fds 0-2, execve).
 * Surviving is the test: it exits 0. The host must answer every call
 * with a result, never fault or hang.
 */
#include "linux.h"

#define ROUNDS 3

static u64 state = 0x9e3779b97f4a7c15UL;
/* Pointer arguments into our own memory land in the first 4 KiB of a
 * 1 MiB buffer: whatever a call writes there stays inside it, rather than
 * in our stack or variables, which a garbage call may legitimately ruin. */
static char scratch[1 << 20];

static u64 next(void)
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

static long arg(void)
{
	switch (next() % 12) {
	case 0: return 0;
	case 1: return -1;
	case 2: return (long)(next() % 64);
	case 3: return (long)0xffff800000000000UL + (long)(next() % (1UL << 40)); /* kernel half */
	case 4: return (long)0x0000800000000000UL + (long)(next() % 4096);       /* non-canonical */
	case 5: return (long)(next() % (1UL << 47));                              /* anywhere below */
	case 6: return (long)&scratch[next() % 4096];                             /* our data */
	case 7: return (long)&scratch[4096 - 8 * (next() % 8)];                   /* aligned */
	case 8: return (long)(1UL << (next() % 64));
	case 9: return (long)0x1000000 + (long)(next() % 0x100000);                /* the kernel image */
	case 10: return (long)(next() & 0xffffffff);
	default: return (long)next();
	}
}

static int skipped(long nr)
{
	switch (nr) {
	case 11: case 10: case 25: case 28: case 12:     /* munmap mprotect mremap madvise brk */
	case 15: case 60: case 231:                      /* rt_sigreturn exit exit_group */
	case 13: case 14: case 127: case 128: case 130: /* sigaction procmask pending timedwait suspend */
	case 34: case 35: case 230: case 37: case 38:   /* pause nanosleep clock_nanosleep alarm setitimer */
	case 61: case 247:                               /* wait4 waitid */
	case 62: case 200: case 234: case 129: case 297: /* kill tkill tgkill rt_sigqueueinfo rt_tgsigqueueinfo */
	case 202:                                        /* futex (waits) */
	case 7: case 23: case 270: case 271: case 232: case 281: /* poll select pselect6 ppoll epoll_wait epoll_pwait */
	case 441:                                        /* epoll_pwait2 */
	case 33: case 292: case 3:                       /* dup2 dup3 close (fds 0-2) */
	case 59: case 322:                               /* execve execveat */
	case 56: case 57: case 58: case 435:             /* clone fork vfork clone3 */
	case 0: case 17: case 19: case 295: case 327:    /* read pread readv preadv preadv2 (stdin blocks) */
	case 158:                                        /* arch_prctl (our TLS) */
	case 131:                                        /* sigaltstack */
	case 218: case 273:                              /* set_tid_address set_robust_list (written at exit) */
	case 40: case 326: case 275: case 276: case 278: /* sendfile copy_file_range splice tee vmsplice */
		return 1;
	}
	return 0;
}

/* start.S keeps the entry RSP: under Linux it points at argc, argv. */
extern u64 guest_start_rsp __attribute__((visibility("hidden")));

long main(long a)
{
	char num[24];
	(void)a;
	u64 *sp = (u64 *)guest_start_rsp;
	if (sp[0] >= 2) {
		const char *s = (const char *)sp[2];
		u64 seed = 0;
		while (*s >= '0' && *s <= '9')
			seed = seed * 10 + (u64)(*s++ - '0');
		state ^= seed * 0xbf58476d1ce4e5b9UL;
		if (state == 0)
			state = 1;
	}
	u64 calls = 0;
	for (int r = 0; r < ROUNDS; r++)
		for (long nr = 0; nr <= 470; nr++) {
			if (skipped(nr))
				continue;
			syscall6(nr, arg(), arg(), arg(), arg(), arg(), arg());
			calls++;
		}
	say("linuxfuzz: survived ");
	say(dec(num + sizeof num, calls));
	say(" calls\n");
	return 0;
}
