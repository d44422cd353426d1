/*
 * beelzebox's vDSO for Linux guests: clock_gettime, gettimeofday, time,
 * clock_getres and getcpu answered from the vvar page (vvar.h) without a
 * system call. Freestanding: no libc, no relocations, no writable data;
 * the host maps the image at any address, read+execute, with the vvar
 * page just below it.
 *
 * Every function returns what the system call would: 0 or a negative
 * errno (the Linux vDSO convention; libc turns it into errno). Whatever
 * the page cannot answer (the fallback flag, clock ids other than the
 * seven below, a NULL timespec for clock_gettime) goes to the system call
 * itself, made here with the syscall instruction.
 */
#include "vvar.h"

/* Linux x86-64 system-call numbers (asm/unistd_64.h). */
#define NR_gettimeofday   96
#define NR_time           201
#define NR_clock_gettime  228
#define NR_clock_getres   229
#define NR_getcpu         309

/* Clock ids (linux/time.h). */
#define CLOCK_REALTIME          0
#define CLOCK_MONOTONIC         1
#define CLOCK_MONOTONIC_RAW     4
#define CLOCK_REALTIME_COARSE   5
#define CLOCK_MONOTONIC_COARSE  6
#define CLOCK_BOOTTIME          7
#define CLOCK_TAI               11

#define NSEC_PER_SEC  1000000000LL

struct k_timespec { long tv_sec; long tv_nsec; };
struct k_timeval { long tv_sec; long tv_usec; };
struct k_timezone { int tz_minuteswest; int tz_dsttime; };

/* Defined by vdso.lds at the image start - 4096: hidden, so the compiler
 * addresses it RIP-relatively and no GOT entry or relocation is made. */
extern const struct vvar_data vvar_page __attribute__((visibility("hidden")));

static inline long sys2(long nr, long a, long b)
{
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline long sys3(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return ret;
}

/* LFENCE orders the read after earlier loads (SDM Vol. 2B, RDTSC). */
static inline unsigned long long rdtsc_ordered(void)
{
	unsigned int lo, hi;
	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return (unsigned long long)hi << 32 | lo;
}

/* An unwritten (all-zero) page has mult 0: it falls back too. */
static inline int usable(const struct vvar_data *d)
{
	return !(d->flags & VVAR_FLAG_FALLBACK) && d->mult != 0;
}

/* Sums wrap (as in the Go reference, ClockParams.Monotonic) rather than
 * overflow, which C leaves undefined for signed integers. */
static inline long long add(long long a, long long b)
{
	return (long long)((unsigned long long)a + (unsigned long long)b);
}

static inline long long mono_ns(const struct vvar_data *d)
{
	unsigned long long delta = rdtsc_ordered() - d->base_tsc;
	unsigned __int128 p = (unsigned __int128)delta * d->mult;
	return add(d->mono_base, (long long)(unsigned long long)(p >> (d->shift & 127)));
}

/* offset_of sets *off to the clock's offset from CLOCK_MONOTONIC and
 * returns 1, or returns 0 for a clock the page does not serve. */
static inline int offset_of(int clk, const struct vvar_data *d, long long *off)
{
	switch (clk) {
	case CLOCK_MONOTONIC:
	case CLOCK_MONOTONIC_RAW:
	case CLOCK_MONOTONIC_COARSE:
		*off = 0;
		return 1;
	case CLOCK_BOOTTIME:
		*off = d->boottime_offset;
		return 1;
	case CLOCK_REALTIME:
	case CLOCK_REALTIME_COARSE:
		*off = d->realtime_offset;
		return 1;
	case CLOCK_TAI:
		*off = add(d->realtime_offset, d->tai_offset);
		return 1;
	}
	return 0;
}

/* split divides ns into seconds and a non-negative remainder. */
static inline long split(long long ns, long *rem)
{
	long long s = ns / NSEC_PER_SEC, r = ns % NSEC_PER_SEC;
	if (r < 0) {
		r += NSEC_PER_SEC;
		s--;
	}
	*rem = r;
	return s;
}

int __vdso_clock_gettime(int clk, struct k_timespec *ts)
{
	const struct vvar_data *d = &vvar_page;
	long long off;
	if (!usable(d) || ts == 0 || !offset_of(clk, d, &off))
		return sys2(NR_clock_gettime, clk, (long)ts);
	ts->tv_sec = split(add(mono_ns(d), off), &ts->tv_nsec);
	return 0;
}

int __vdso_gettimeofday(struct k_timeval *tv, struct k_timezone *tz)
{
	const struct vvar_data *d = &vvar_page;
	if (!usable(d))
		return sys2(NR_gettimeofday, (long)tv, (long)tz);
	if (tv) {
		long ns;
		tv->tv_sec = split(add(mono_ns(d), d->realtime_offset), &ns);
		tv->tv_usec = ns / 1000;
	}
	if (tz) {
		tz->tz_minuteswest = d->tz_minuteswest;
		tz->tz_dsttime = d->tz_dsttime;
	}
	return 0;
}

long __vdso_time(long *t)
{
	const struct vvar_data *d = &vvar_page;
	long s, ns;
	if (!usable(d))
		return sys2(NR_time, (long)t, 0);
	s = split(add(mono_ns(d), d->realtime_offset), &ns);
	if (t)
		*t = s;
	return s;
}

int __vdso_clock_getres(int clk, struct k_timespec *res)
{
	const struct vvar_data *d = &vvar_page;
	long long off;
	if (!usable(d) || !offset_of(clk, d, &off))
		return sys2(NR_clock_getres, clk, (long)res);
	if (res) {
		int coarse = clk == CLOCK_REALTIME_COARSE || clk == CLOCK_MONOTONIC_COARSE;
		res->tv_sec = 0;
		res->tv_nsec = coarse ? d->coarse_res_ns : d->res_ns;
	}
	return 0;
}

/* The third argument (struct getcpu_cache *) has been unused since Linux
 * 2.6.24; it is ignored here as there. */
long __vdso_getcpu(unsigned *cpu, unsigned *node, void *cache)
{
	const struct vvar_data *d = &vvar_page;
	if (d->flags & VVAR_FLAG_FALLBACK)
		return sys3(NR_getcpu, (long)cpu, (long)node, (long)cache);
	if (cpu)
		*cpu = d->cpu;
	if (node)
		*node = d->node;
	return 0;
}

/* The plain names, which Linux's x86-64 vDSO exports as well. */
int clock_gettime(int, struct k_timespec *) __attribute__((weak, alias("__vdso_clock_gettime")));
int gettimeofday(struct k_timeval *, struct k_timezone *) __attribute__((weak, alias("__vdso_gettimeofday")));
long time(long *) __attribute__((weak, alias("__vdso_time")));
int clock_getres(int, struct k_timespec *) __attribute__((weak, alias("__vdso_clock_getres")));
long getcpu(unsigned *, unsigned *, void *) __attribute__((weak, alias("__vdso_getcpu")));

/*
 * The "Linux" ELF note (name "Linux", type 0, a 4-byte LINUX_VERSION_CODE)
 * that Linux's vDSO carries: glibc reads the kernel version from it before
 * trying uname. VDSO_LINUX_VERSION comes from vdso.mk.
 */
#ifndef VDSO_LINUX_VERSION
#error "VDSO_LINUX_VERSION must be defined (vdso.mk does)"
#endif
#define STR_(x) #x
#define STR(x) STR_(x)
__asm__(".pushsection .note.Linux, \"a\", @note\n"
	".balign 4\n"
	".long 6\n"         /* namesz: "Linux\0" */
	".long 4\n"         /* descsz */
	".long 0\n"         /* type */
	".asciz \"Linux\"\n"
	".balign 4\n"
	".long " STR(VDSO_LINUX_VERSION) "\n"
	".popsection\n");
