/*
 * badptrs (fixed): every ABI call with garbage arguments.
 *
 * Each call must return the documented negative errno; the host must neither
 * fault nor touch memory the guest could not touch itself, and this guest
 * never dereferences a bad pointer, so it never faults.
 *
 * Host should observe: "badptrs: ok" and exit(0). Otherwise the guest prints
 * "badptrs: FAIL #<n> <call>: got <r> want <errno>" for the first check that
 * failed and exits with n (checks are numbered 1.. in program order; the
 * numbers are printed, so there is no table to keep in sync here).
 *
 * Conventions checked that the ABI summary leaves implicit (sandbox/abi does
 * all of them): write checks fd, then len, then the buffer; clock_gettime
 * checks the clock before the pointer; munmap's length must round up to the
 * region's size; mmap rejects prot bits other than 1|2|4 with -EINVAL; the
 * call number is the full 64-bit RAX (0x100000001 is not write).
 */
#include "abi.h"

#define KERNEL_HALF 0xffff800000000000L /* first kernel-half address */
#define KERNEL_IMG  0x1000000L          /* the kernel image, at 16 MiB */
#define NONCANON    0x0000800000000000L /* first non-canonical address */
#define MIB         (1024 * 1024UL)

static int nchecks;
static const char rodata[32] = "read-only data, not writable";

static void expect(const char *what, long got, long want)
{
	nchecks++;
	if (got == want)
		return;
	print("badptrs: FAIL #");
	print_dec(nchecks);
	print(" ");
	print(what);
	print(": got ");
	print_dec(got);
	print(" want ");
	print_dec(want);
	print("\n");
	sys_exit(nchecks);
}

/* A call that must succeed: anything but an errno is fine. */
static long expect_ok(const char *what, long got)
{
	nchecks++;
	if (!is_err(got))
		return got;
	print("badptrs: FAIL #");
	print_dec(nchecks);
	print(" ");
	print(what);
	print(": got ");
	print_dec(got);
	print(", want success\n");
	sys_exit(nchecks);
}

static int ts_untouched(const struct timespec *t)
{
	return t->tv_sec == 0x5151515151515151L && t->tv_nsec == 0x5151515151515151L;
}

long main(long arg)
{
	(void)arg;
	static const char msg[] = "x";
	struct timespec ts = {0x5151515151515151L, 0x5151515151515151L};
	long stack_page = (long)&ts & ~(long)(PAGE_SIZE - 1);
	long code = (long)&main;
	long ro = (long)rodata;
	long good = (long)msg;

	/* ---- write ---- */
	expect("write(fd 3)", sys_write(3, msg, 1), -EBADF);
	expect("write(fd 0)", sys_write(0, msg, 1), -EBADF);
	expect("write(fd -1)", sys_write(-1, msg, 1), -EBADF);
	expect("write(fd 1<<32|1)", sys3(SYS_WRITE, (1L << 32) | 1, good, 1), -EBADF);
	expect("write(NULL)", sys_write(1, (void *)0, 1), -EFAULT);
	expect("write(kernel half)", sys_write(1, (void *)KERNEL_HALF, 8), -EFAULT);
	expect("write(kernel image)", sys_write(1, (void *)KERNEL_IMG, 8), -EFAULT);
	expect("write(non-canonical)", sys_write(1, (void *)NONCANON, 8), -EFAULT);
	expect("write(page 1)", sys_write(1, (void *)0x1000, 8), -EFAULT);
	expect("write(top of memory, wraps)", sys_write(1, (void *)-4096L, 8192), -EFAULT);
	expect("write(-8, len 16, wraps)", sys_write(1, (void *)-8L, 16), -EFAULT);
	expect("write(len 1<<62)", sys_write(1, msg, 1UL << 62), -EINVAL);
	expect("write(len -1)", sys_write(1, msg, (u64)-1L), -EINVAL);
	expect("write(stack, len wraps to 8)", sys_write(1, &ts, (u64)0 - (u64)&ts + 8), -EINVAL);
	/* 1 MiB + 1 from 2 MiB of readable memory: only the length is wrong. */
	long big = expect_ok("mmap(2 MiB, R)", sys_mmap(2 * MIB, PROT_READ));
	expect("write(readable, len 1 MiB + 1)", sys_write(1, (void *)big, MIB + 1), -EINVAL);
	expect("munmap(2 MiB)", sys_munmap(big, 2 * MIB), 0);

	/* ---- clock_gettime ---- */
	expect("clock_gettime(NULL)", sys_clock_gettime(CLOCK_MONOTONIC, (void *)0), -EFAULT);
	expect("clock_gettime(kernel half)", sys_clock_gettime(CLOCK_MONOTONIC, (void *)KERNEL_HALF), -EFAULT);
	expect("clock_gettime(kernel image)", sys_clock_gettime(CLOCK_REALTIME, (void *)KERNEL_IMG), -EFAULT);
	expect("clock_gettime(non-canonical)", sys_clock_gettime(CLOCK_MONOTONIC, (void *)NONCANON), -EFAULT);
	expect("clock_gettime(-8, wraps)", sys_clock_gettime(CLOCK_MONOTONIC, (void *)-8L), -EFAULT);
	expect("clock_gettime(own code)", sys2(SYS_CLOCK_GETTIME, CLOCK_MONOTONIC, code), -EFAULT);
	expect("clock_gettime(rodata)", sys2(SYS_CLOCK_GETTIME, CLOCK_MONOTONIC, ro), -EFAULT);
	long rdonly = expect_ok("mmap(4 KiB, R)", sys_mmap(PAGE_SIZE, PROT_READ));
	expect("clock_gettime(PROT_READ mmap)", sys2(SYS_CLOCK_GETTIME, CLOCK_REALTIME, rdonly), -EFAULT);
	expect("munmap(PROT_READ mmap)", sys_munmap(rdonly, PAGE_SIZE), 0);
	expect("clock_gettime(clock 2)", sys_clock_gettime(2, &ts), -EINVAL);
	expect("clock_gettime(clock -1)", sys_clock_gettime(-1, &ts), -EINVAL);
	expect("clock_gettime(clock 1000)", sys_clock_gettime(1000, &ts), -EINVAL);
	expect("clock_gettime(clock 1<<32|1)", sys_clock_gettime((1L << 32) | 1, &ts), -EINVAL);
	expect("failed clock_gettime left ts alone", ts_untouched(&ts), 1);

	/* ---- mmap ---- */
	expect("mmap(len 0)", sys_mmap(0, PROT_READ | PROT_WRITE), -EINVAL);
	expect("mmap(len 1<<62)", sys_mmap(1UL << 62, PROT_READ | PROT_WRITE), -EINVAL);
	expect("mmap(len 64 MiB + 1)", sys_mmap(64 * MIB + 1, PROT_READ | PROT_WRITE), -EINVAL);
	expect("mmap(len -1, rounding wraps)", sys_mmap((u64)-1L, PROT_READ), -EINVAL);
	expect("mmap(prot RWX)", sys_mmap(PAGE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC), -EACCES);
	expect("mmap(prot WX)", sys_mmap(PAGE_SIZE, PROT_WRITE | PROT_EXEC), -EACCES);
	expect("mmap(prot 0x10)", sys_mmap(PAGE_SIZE, 0x10), -EINVAL);
	expect("mmap(addr 0x10000000)", sys3(SYS_MMAP, 0x10000000, PAGE_SIZE, PROT_READ), -EINVAL);
	expect("mmap(addr = own image)", sys3(SYS_MMAP, 0x400000, PAGE_SIZE, PROT_READ), -EINVAL);
	/* Exhaust the memory limit with 64 MiB mappings, then give it back. */
	{
		long maps[64];
		int n = 0;
		long r = 0;
		while (n < 64) {
			r = sys_mmap(64 * MIB, PROT_READ);
			if (is_err(r))
				break;
			maps[n++] = r;
		}
		expect("mmap(64 MiB) until the limit", r, -ENOMEM);
		while (n > 0)
			expect("munmap(64 MiB)", sys_munmap(maps[--n], 64 * MIB), 0);
		long again = expect_ok("mmap after freeing everything", sys_mmap(PAGE_SIZE, PROT_READ));
		expect("munmap(4 KiB)", sys_munmap(again, PAGE_SIZE), 0);
	}

	/* ---- munmap ---- */
	expect("munmap(0xdead000)", sys_munmap(0xdead000, PAGE_SIZE), -EINVAL);
	expect("munmap(NULL)", sys_munmap(0, PAGE_SIZE), -EINVAL);
	expect("munmap(kernel half)", sys_munmap(KERNEL_HALF, PAGE_SIZE), -EINVAL);
	expect("munmap(own code)", sys_munmap(code & ~(long)(PAGE_SIZE - 1), PAGE_SIZE), -EINVAL);
	expect("munmap(stack)", sys_munmap(stack_page, PAGE_SIZE), -EINVAL);
	long reg = expect_ok("mmap(3 pages, RW)", sys_mmap(3 * PAGE_SIZE, PROT_READ | PROT_WRITE));
	expect("munmap(inside a region)", sys_munmap(reg + PAGE_SIZE, PAGE_SIZE), -EINVAL);
	expect("munmap(region + 1)", sys_munmap(reg + 1, 3 * PAGE_SIZE), -EINVAL);
	expect("munmap(region, len -1)", sys_munmap(reg, (u64)-1L), -EINVAL);
	expect("munmap(region)", sys_munmap(reg, 3 * PAGE_SIZE), 0);
	expect("munmap(region) again", sys_munmap(reg, 3 * PAGE_SIZE), -EINVAL);
	expect("write(unmapped region)", sys_write(1, (void *)reg, 8), -EFAULT);
	expect("clock_gettime(unmapped region)", sys2(SYS_CLOCK_GETTIME, CLOCK_MONOTONIC, reg), -EFAULT);

	/* ---- unknown calls ---- */
	expect("syscall 999", sys0(999), -ENOSYS);
	expect("syscall -1", sys0(-1), -ENOSYS);
	expect("syscall 0x1001", sys0(0x1001), -ENOSYS);
	expect("syscall 39 (Linux getpid)", sys0(39), -ENOSYS);
	/* If the host truncated RAX to 32 bits this would be a write of msg2. */
	static const char msg2[] = "badptrs: the host truncated a syscall number\n";
	expect("syscall 0x100000001", sys3((1L << 32) | SYS_WRITE, 1, (long)msg2, sizeof msg2 - 1), -ENOSYS);

	print("badptrs: ");
	print_dec(nchecks);
	print(" checks passed\n");
	print("badptrs: ok\n");
	return 0;
}
