/*
 * Test harness for package vdso (built and run by vdso_test.go on a Linux
 * x86-64 host): maps a data page and a vDSO image the way the beelzebox
 * host does (data page read-only, image read+execute right above it, at an
 * address the kernel picks), calls the vDSO's functions through their
 * offsets and prints what they return next to the host's own answers.
 *
 *   harness calibrate
 *       two lines "cal <tsc> <mono> <real> <boot> <tai>" 200 ms apart
 *   harness run <mode> <image> <vvar> <clock_gettime> <gettimeofday> <time> <clock_getres> <getcpu>
 *       mode "fast" or "fallback" (the latter adds the calls that only a
 *       system call survives: bad pointers) or "bracket" (CLOCK_MONOTONIC
 *       between TSC readings); offsets in hex or decimal.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

typedef int (*clock_gettime_fn)(int, struct timespec *);
typedef int (*gettimeofday_fn)(void *, void *);
typedef long (*time_fn)(long *);
typedef int (*clock_getres_fn)(int, struct timespec *);
typedef long (*getcpu_fn)(unsigned *, unsigned *, void *);

struct tv { long sec, usec; };
struct tz { int minwest, dst; };

static long long host_ns(int clk)
{
	struct timespec ts;
	if (syscall(SYS_clock_gettime, clk, &ts) != 0) {
		perror("clock_gettime");
		exit(2);
	}
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	void *b;
	if (!f || fstat(fileno(f), &st) != 0) {
		perror(path);
		exit(2);
	}
	*n = st.st_size;
	b = malloc(*n + 1);
	if (fread(b, 1, *n, f) != *n) {
		perror(path);
		exit(2);
	}
	fclose(f);
	return b;
}

static void calibrate(void)
{
	for (int i = 0; i < 2; i++) {
		/* A pair of host readings close around the TSC's (retried
		 * when the harness was preempted between them). */
		long long m0, m1;
		unsigned long long tsc;
		for (int try = 0;; try++) {
			m0 = host_ns(CLOCK_MONOTONIC);
			tsc = __rdtsc();
			m1 = host_ns(CLOCK_MONOTONIC);
			if (m1 - m0 < 10000 || try == 1000)
				break;
		}
		long long real = host_ns(CLOCK_REALTIME) - (host_ns(CLOCK_MONOTONIC) - m1);
		long long boot = host_ns(CLOCK_BOOTTIME) - (host_ns(CLOCK_MONOTONIC) - m1);
		long long tai = host_ns(CLOCK_TAI) - (host_ns(CLOCK_MONOTONIC) - m1);
		printf("cal %llu %lld %lld %lld %lld\n", tsc, (m0 + m1) / 2, real, boot, tai);
		if (i == 0)
			usleep(200000);
	}
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "calibrate") == 0) {
		calibrate();
		return 0;
	}
	if (argc != 10 || strcmp(argv[1], "run") != 0) {
		fprintf(stderr, "usage: harness calibrate | harness run fast|fallback image vvar off...\n");
		return 2;
	}
	int fallback = strcmp(argv[2], "fallback") == 0;
	size_t isz, vsz;
	unsigned char *img = slurp(argv[3], &isz), *vv = slurp(argv[4], &vsz);
	if (vsz != 4096 || isz == 0 || isz % 4096 != 0) {
		fprintf(stderr, "bad sizes %zu %zu\n", isz, vsz);
		return 2;
	}
	unsigned char *m = mmap(NULL, 4096 + isz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	memcpy(m, vv, 4096);
	memcpy(m + 4096, img, isz);
	if (mprotect(m, 4096, PROT_READ) != 0 || mprotect(m + 4096, isz, PROT_READ | PROT_EXEC) != 0) {
		perror("mprotect");
		return 2;
	}
	unsigned char *base = m + 4096;
	clock_gettime_fn cg = (clock_gettime_fn)(base + strtoul(argv[5], 0, 0));
	gettimeofday_fn gtod = (gettimeofday_fn)(base + strtoul(argv[6], 0, 0));
	time_fn tm = (time_fn)(base + strtoul(argv[7], 0, 0));
	clock_getres_fn gr = (clock_getres_fn)(base + strtoul(argv[8], 0, 0));
	getcpu_fn gc = (getcpu_fn)(base + strtoul(argv[9], 0, 0));

	/* "bracket": CLOCK_MONOTONIC between two TSC readings, for a
	 * comparison with the Go reference (ClockParams.Monotonic). */
	if (strcmp(argv[2], "bracket") == 0) {
		for (int i = 0; i < 100; i++) {
			struct timespec ts;
			_mm_lfence();
			unsigned long long a = __rdtsc();
			int r = cg(CLOCK_MONOTONIC, &ts);
			_mm_lfence();
			unsigned long long b = __rdtsc();
			printf("bracket %d %llu %lld %llu\n", r, a, ts.tv_sec * 1000000000LL + ts.tv_nsec, b);
		}
		printf("done\n");
		return 0;
	}

	/* Each vDSO clock next to the host clock it should match: the same
	 * clock when the system call answers, else the fine clock whose value
	 * the page's clock takes (MONOTONIC_RAW and the _COARSE clocks read
	 * the same counter as MONOTONIC and REALTIME). */
	static const int ids[][2] = {{0, 0}, {1, 1}, {4, 1}, {5, 0}, {6, 1}, {7, 7}, {11, 11}};
	for (unsigned i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		struct timespec ts = {-1, -1};
		int ref = fallback ? ids[i][0] : ids[i][1];
		long long a = host_ns(ref);
		int r = cg(ids[i][0], &ts);
		long long b = host_ns(ref);
		printf("clock %d %d %lld %lld %lld\n", ids[i][0], r, a, ts.tv_sec * 1000000000LL + ts.tv_nsec, b);
		printf("clockparts %d %ld %ld\n", ids[i][0], ts.tv_sec, ts.tv_nsec);
	}
	/* The rate: two CLOCK_MONOTONIC readings 300 ms apart, each
	 * bracketed by the host's. */
	if (!fallback) {
		struct timespec t1, t2;
		long long a1 = host_ns(CLOCK_MONOTONIC);
		int r1 = cg(CLOCK_MONOTONIC, &t1);
		long long b1 = host_ns(CLOCK_MONOTONIC);
		usleep(300000);
		long long a2 = host_ns(CLOCK_MONOTONIC);
		int r2 = cg(CLOCK_MONOTONIC, &t2);
		long long b2 = host_ns(CLOCK_MONOTONIC);
		printf("rate %d %lld %lld %lld %lld %lld %lld\n", r1 | r2, a1, t1.tv_sec * 1000000000LL + t1.tv_nsec, b1,
		       a2, t2.tv_sec * 1000000000LL + t2.tv_nsec, b2);
	}
	/* Clocks the page does not serve: the system call answers. */
	{
		struct timespec ts = {-1, -1};
		int r = cg(CLOCK_PROCESS_CPUTIME_ID, &ts);
		printf("clock_cpu %d %ld\n", r, ts.tv_nsec);
		printf("clock_bad 99 %d\n", cg(99, &ts));
		printf("clock_bad -1 %d\n", cg(-1, &ts));
		printf("clock_null %d\n", cg(CLOCK_MONOTONIC, NULL));
	}
	{
		struct tv t = {-1, -1};
		struct tz z = {12345, 12345};
		long long a = host_ns(CLOCK_REALTIME) / 1000;
		int r = gtod(&t, &z);
		long long b = host_ns(CLOCK_REALTIME) / 1000;
		printf("gtod %d %lld %lld %lld\n", r, a, t.sec * 1000000LL + t.usec, b);
		printf("gtodparts %ld %ld\n", t.sec, t.usec);
		printf("gtod_tz %d %d\n", z.minwest, z.dst);
		printf("gtod_null %d\n", gtod(NULL, NULL));
		struct tz z2 = {12345, 12345};
		r = gtod(NULL, &z2);
		printf("gtod_tzonly %d %d %d\n", r, z2.minwest, z2.dst);
		struct tv t2 = {-1, -1};
		r = gtod(&t2, NULL);
		printf("gtod_tvonly %d %ld\n", r, t2.sec);
	}
	{
		long stored = -1;
		long a = host_ns(CLOCK_REALTIME) / 1000000000LL;
		long r = tm(&stored);
		long b = host_ns(CLOCK_REALTIME) / 1000000000LL;
		printf("time %ld %ld %ld %ld\n", a, r, b, stored);
		printf("time_null %ld\n", tm(NULL));
	}
	{
		static const int ids2[] = {0, 1, 4, 5, 6, 7, 11};
		for (unsigned i = 0; i < sizeof ids2 / sizeof ids2[0]; i++) {
			struct timespec ts = {-1, -1};
			int r = gr(ids2[i], &ts);
			printf("res %d %d %ld %ld\n", ids2[i], r, ts.tv_sec, ts.tv_nsec);
		}
		struct timespec ts = {-1, -1};
		printf("res_null %d\n", gr(CLOCK_MONOTONIC, NULL));
		printf("res_bad %d\n", gr(99, &ts));
		printf("res_cpu %d\n", gr(CLOCK_PROCESS_CPUTIME_ID, &ts));
	}
	{
		unsigned cpu = 0xdeadbeef, node = 0xdeadbeef;
		int r = gc(&cpu, &node, NULL);
		printf("getcpu %d %u %u\n", r, cpu, node);
		printf("getcpu_null %ld\n", gc(NULL, NULL, NULL));
		cpu = 0xdeadbeef;
		r = gc(&cpu, NULL, NULL);
		printf("getcpu_cpuonly %d %u\n", r, cpu);
	}
	if (fallback) {
		/* Only the system call survives a bad pointer: a fast path
		 * writing through it would crash the harness. */
		printf("fault_clock %d\n", cg(CLOCK_REALTIME, (struct timespec *)8));
		printf("fault_gtod %d\n", gtod((void *)8, NULL));
		printf("fault_time %ld\n", tm((long *)8));
		printf("fault_res %d\n", gr(CLOCK_MONOTONIC, (struct timespec *)8));
		printf("fault_getcpu %ld\n", gc((unsigned *)8, NULL, NULL));
	}
	printf("done\n");
	return 0;
}
