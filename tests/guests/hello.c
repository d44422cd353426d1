/*
 * hello (fixed, ET_EXEC at 0x400000) and hello-pie (static-pie, same source):
 * the smoke test of the whole default ABI.
 *
 * Prints "hello from a level N guest" (N = arg, the initial RDI), reads
 * CLOCK_MONOTONIC twice and checks it does not go backwards, reads
 * CLOCK_REALTIME, mmaps 64 KiB RW, checks it is page aligned and zeroed,
 * writes a pattern and reads it back, munmaps it, and asks the host for PKRU
 * (printed in hex; the host prints it too).
 *
 * Host should observe: the greeting, "hello: pkru=0x...", "hello: ok" and
 * exit(0). A failed check prints "hello: FAIL ..." and exits with its code:
 *   1 write to fd 1 did not return its length
 *   2 clock_gettime(MONOTONIC) failed (first or second call)
 *   3 MONOTONIC went backwards or tv_nsec out of [0, 1e9)
 *   4 clock_gettime(REALTIME) failed or tv_nsec out of range
 *   5 mmap(64 KiB, RW) failed or returned an unaligned address
 *   6 the new memory was not zeroed
 *   7 the pattern did not read back
 *   8 munmap failed
 *   9 pkru() returned a value that does not fit in 32 bits
 */
#include "abi.h"

#define MAP_LEN (64 * 1024UL)

static long fail(long code, const char *what, long got)
{
	print("hello: FAIL ");
	print(what);
	print(" (got ");
	print_hex((u64)got);
	print(")\n");
	return code;
}

static int ts_ok(const struct timespec *t)
{
	return t->tv_sec >= 0 && t->tv_nsec >= 0 && t->tv_nsec < 1000000000L;
}

long main(long arg)
{
	static const char msg1[] = "hello from a level ";
	char num[24];
	struct timespec t1, t2, rt;
	long r;

	r = sys_write(1, msg1, sizeof msg1 - 1);
	if (r != (long)(sizeof msg1 - 1))
		return fail(1, "write", r);
	print(fmt_dec(num, arg));
	print(" guest\n");

	r = sys_clock_gettime(CLOCK_MONOTONIC, &t1);
	if (r != 0)
		return fail(2, "clock_gettime(MONOTONIC) #1", r);
	r = sys_clock_gettime(CLOCK_MONOTONIC, &t2);
	if (r != 0)
		return fail(2, "clock_gettime(MONOTONIC) #2", r);
	if (!ts_ok(&t1) || !ts_ok(&t2) || t2.tv_sec < t1.tv_sec ||
	    (t2.tv_sec == t1.tv_sec && t2.tv_nsec < t1.tv_nsec))
		return fail(3, "MONOTONIC went backwards or is malformed", t2.tv_nsec);

	r = sys_clock_gettime(CLOCK_REALTIME, &rt);
	if (r != 0 || !ts_ok(&rt))
		return fail(4, "clock_gettime(REALTIME)", r);

	long addr = sys_mmap(MAP_LEN, PROT_READ | PROT_WRITE);
	if (is_err(addr) || addr == 0 || (addr & (PAGE_SIZE - 1)) != 0)
		return fail(5, "mmap(64 KiB, RW)", addr);
	volatile u64 *p = (volatile u64 *)addr;
	u64 n = MAP_LEN / sizeof(u64);
	for (u64 i = 0; i < n; i++)
		if (p[i] != 0)
			return fail(6, "mmap memory not zeroed at", addr + (long)(i * 8));
	for (u64 i = 0; i < n; i++)
		p[i] = 0x9e3779b97f4a7c15UL * (i + 1);
	for (u64 i = 0; i < n; i++)
		if (p[i] != 0x9e3779b97f4a7c15UL * (i + 1))
			return fail(7, "pattern mismatch at", addr + (long)(i * 8));
	r = sys_munmap(addr, MAP_LEN);
	if (r != 0)
		return fail(8, "munmap", r);

	long pkru = sys_pkru();
	print("hello: pkru=");
	print_hex((u64)pkru);
	print("\n");
	if ((u64)pkru >> 32)
		return fail(9, "pkru() out of range", pkru);

	print("hello: ok\n");
	return 0;
}
