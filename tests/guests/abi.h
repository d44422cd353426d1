/*
 * abi.h: the default beelzebox guest ABI (sandbox/abi) for freestanding C
 * guests. No libc: everything a guest needs is here and in start.S.
 *
 * System calls use the `syscall` instruction, Linux style: number in RAX,
 * arguments in RDI, RSI, RDX, R10, R8, R9, result in RAX (negative errno on
 * failure); RCX and R11 are clobbered, every other register is preserved.
 *
 * Entry: start.S defines _start, which aligns the stack and calls
 *     long main(long arg);
 * with arg = the guest's initial RDI (chosen by the host, 0 by default), then
 * calls exit(main's return value). Guests define main, never _start.
 *
 * Everything here is static inline so that a guest contains only what it
 * uses. Nothing here uses a table of pointers, so the pie flavour links with
 * no relocations at all.
 */
#ifndef BEELZEBOX_GUEST_ABI_H
#define BEELZEBOX_GUEST_ABI_H

typedef unsigned long u64;
typedef long i64;
typedef unsigned int u32;
typedef unsigned char u8;

/* System-call numbers. */
#define SYS_WRITE         1
#define SYS_MMAP          9
#define SYS_MUNMAP        11
#define SYS_EXIT          60
#define SYS_CLOCK_GETTIME 228
#define SYS_PKRU          0x1000

/* Errno values (Linux's); calls return their negation. */
#define EBADF  9
#define ENOMEM 12
#define EACCES 13
#define EFAULT 14
#define EINVAL 22
#define ENOSYS 38

#define CLOCK_REALTIME  0
#define CLOCK_MONOTONIC 1

#define PROT_NONE  0
#define PROT_READ  1
#define PROT_WRITE 2
#define PROT_EXEC  4

#define PAGE_SIZE 4096UL

struct timespec {
	i64 tv_sec;
	i64 tv_nsec;
};

long main(long arg);

/* Defined in start.S (hidden: accessed RIP-relative, no GOT, no relocation). */
#define GUEST_HIDDEN __attribute__((visibility("hidden")))
#define GUEST_DATA_MAGIC 0x6f62657a6c656562UL /* "beelzebo" */
extern GUEST_HIDDEN const volatile u64 guest_data_magic; /* in .data */
extern GUEST_HIDDEN volatile u64 guest_start_rsp;        /* initial RSP (.bss) */
extern GUEST_HIDDEN volatile u64 guest_arg;              /* initial RDI (.bss) */

/* ---- raw system calls ------------------------------------------------- */

static inline long sys0(long nr)
{
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline long sys1(long nr, long a)
{
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a)
			 : "rcx", "r11", "memory");
	return ret;
}

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

static inline long sys6(long nr, long a, long b, long c, long d, long e, long f)
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

/* True if a call's result is an error (-4095..-1), as in Linux. */
static inline int is_err(long r)
{
	return (u64)r >= (u64)-4095L;
}

/* ---- typed wrappers --------------------------------------------------- */

static inline long sys_write(long fd, const void *buf, u64 len)
{
	return sys3(SYS_WRITE, fd, (long)buf, (long)len);
}

static inline __attribute__((noreturn)) void sys_exit(long code)
{
	sys1(SYS_EXIT, code);
	for (;;)
		__asm__ volatile("ud2");
}

static inline long sys_clock_gettime(long clock, struct timespec *ts)
{
	return sys2(SYS_CLOCK_GETTIME, clock, (long)ts);
}

/* mmap(0, len, prot): the host ignores R10, R8 and R9 (flags, fd, offset). */
static inline long sys_mmap(u64 len, long prot)
{
	return sys3(SYS_MMAP, 0, (long)len, prot);
}

/* munmap(addr, len): addr must be a region's start and len must round up
 * to the region's page-rounded size. */
static inline long sys_munmap(long addr, u64 len)
{
	return sys2(SYS_MUNMAP, addr, (long)len);
}

static inline long sys_pkru(void)
{
	return sys0(SYS_PKRU);
}

/* ---- output ----------------------------------------------------------- */

static inline u64 str_len(const char *s)
{
	u64 n = 0;
	while (s[n])
		n++;
	return n;
}

static inline void print(const char *s)
{
	sys_write(1, s, str_len(s));
}

/* fmt_dec and fmt_hex write a NUL-terminated number into buf (at least 24
 * bytes) and return buf. */
static inline char *fmt_udec(char *buf, u64 v)
{
	char tmp[24];
	int n = 0, i = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		buf[i++] = tmp[--n];
	buf[i] = 0;
	return buf;
}

static inline char *fmt_dec(char *buf, i64 v)
{
	if (v < 0) {
		buf[0] = '-';
		fmt_udec(buf + 1, (u64)0 - (u64)v);
		return buf;
	}
	return fmt_udec(buf, (u64)v);
}

/* "0x" followed by lowercase hex digits, no leading zeros. */
static inline char *fmt_hex(char *buf, u64 v)
{
	char tmp[16];
	int n = 0, i = 2;
	do {
		tmp[n++] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	buf[0] = '0';
	buf[1] = 'x';
	while (n)
		buf[i++] = tmp[--n];
	buf[i] = 0;
	return buf;
}

static inline void print_dec(i64 v)
{
	char buf[24];
	print(fmt_dec(buf, v));
}

static inline void print_hex(u64 v)
{
	char buf[24];
	print(fmt_hex(buf, v));
}

#endif
