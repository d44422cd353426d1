/* Prints the clocks as libc reads them (through the vDSO when
 * AT_SYSINFO_EHDR names one) next to the system call's, for package vdso's
 * loader test; built static with glibc and with musl. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static long long sys_ns(int clk)
{
	struct timespec ts;
	syscall(SYS_clock_gettime, clk, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(void)
{
	struct timespec ts;
	struct timeval tv;
	long long a = sys_ns(CLOCK_REALTIME);
	clock_gettime(CLOCK_REALTIME, &ts);
	long long b = sys_ns(CLOCK_REALTIME);
	printf("realtime %lld %lld %lld\n", a, ts.tv_sec * 1000000000LL + ts.tv_nsec, b);
	a = sys_ns(CLOCK_MONOTONIC);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	b = sys_ns(CLOCK_MONOTONIC);
	printf("monotonic %lld %lld %lld\n", a, ts.tv_sec * 1000000000LL + ts.tv_nsec, b);
	a = sys_ns(CLOCK_REALTIME);
	gettimeofday(&tv, NULL);
	b = sys_ns(CLOCK_REALTIME);
	printf("gettimeofday %lld %lld %lld\n", a, tv.tv_sec * 1000000000LL + tv.tv_usec * 1000LL, b);
	a = sys_ns(CLOCK_REALTIME);
	long long t = time(NULL);
	b = sys_ns(CLOCK_REALTIME);
	printf("time %lld %lld %lld\n", a, t * 1000000000LL, b);
	clock_getres(CLOCK_MONOTONIC_COARSE, &ts);
	printf("getres %ld\n", ts.tv_nsec);
	printf("getcpu %d\n", sched_getcpu());
	printf("done\n");
	return 0;
}
