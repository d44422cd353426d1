/*
 * hello (fixed, ET_EXEC at 0x400000) and hello-pie (static-pie, same source):
 * the smoke test of the whole default ABI.
 *
 * Prints "hello from a level N guest" (N = arg, the initial RDI), checks
 * what the loader set up (initialised .data, zeroed .bss, the initial RSP
 * 16-byte aligned, start.S saw the same arg), reads
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
 *  10 .data does not hold its initial value or .bss is not zero
 *  11 the initial RSP was not 16-byte aligned
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

static volatile u64 bss_probe[32]; /* .bss: must start out zero */

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

	if (guest_data_magic != GUEST_DATA_MAGIC)
		return fail(10, ".data not loaded: guest_data_magic", (long)guest_data_magic);
	if (guest_arg != (u64)arg)
		return fail(10, ".bss: start.S saved a different arg", (long)guest_arg);
	for (int i = 0; i < 32; i++)
		if (bss_probe[i] != 0)
			return fail(10, ".bss not zeroed", (long)bss_probe[i]);
	bss_probe[0] = 1; /* .bss is writable */
	if ((guest_start_rsp & 15) != 0)
		return fail(11, "initial RSP not 16-byte aligned", (long)guest_start_rsp);

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
