/*
 * linux.h: raw Linux system calls for the freestanding guests that test the
 * Linux host (sandbox/linux/host) rather than the default ABI. Same entry
 * (start.S): under the Linux host RDI is 0 at the entry, so main(0).
 */
#ifndef BEELZEBOX_GUEST_LINUX_H
#define BEELZEBOX_GUEST_LINUX_H

typedef unsigned long u64;
typedef long i64;

long main(long arg);

static inline long syscall6(long nr, long a, long b, long c, long d, long e, long f)
{
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline long sys_write(long fd, const void *buf, long n) { return syscall6(1, fd, (long)buf, n, 0, 0, 0); }

static inline long strlen_(const char *s)
{
	long n = 0;
	while (s[n])
		n++;
	return n;
}

static inline void say(const char *s) { sys_write(1, s, strlen_(s)); }

static inline char *dec(char *end, u64 v)
{
	*--end = 0;
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

#endif
