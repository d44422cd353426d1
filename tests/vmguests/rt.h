/* Runtime shared by the level 4 test guest kernels (see README.md).
 * Built for -m32 (protected mode, paging off) and -m64 (long mode through
 * start64.S); the two differ only in the interrupt frame and pointer size. */
#ifndef VMGUEST_RT_H
#define VMGUEST_RT_H

#include <stdarg.h>
#include <stdint.h>

/* Each kernel defines its name and its body; rt_main calls kmain and then
 * prints the summary and exits (0 when no check failed, 1 otherwise). */
extern const char rt_kernel_name[];
void kmain(void);

/* Multiboot v1 values saved by the entry code. */
extern uint32_t mb_magic, mb_info;
#define MB_BOOT_MAGIC 0x2BADB002u

struct mb_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
	uint32_t mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
	uint32_t drives_length, drives_addr, config_table, boot_loader_name;
};
struct mb_module {
	uint32_t mod_start, mod_end, string, reserved;
};

/* Interrupt frame built by the stubs (isr_common) for rt_isr. */
#ifdef __x86_64__
struct rt_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t bp, di, si, dx, cx, bx, ax;
	uint64_t vec, err, ip, cs, flags, sp, ss;
};
#else
struct rt_frame {
	uint32_t di, si, bp, sp0, bx, dx, cx, ax; /* pusha */
	uint32_t vec, err, ip, cs, flags;
};
#endif

/* Handlers for vectors >= 32 (and for exceptions that no try block expects
 * when set). A vector with no handler is an unexpected event: a FAIL. */
typedef void (*rt_handler)(struct rt_frame *f);
void rt_set_handler(int vec, rt_handler h);
extern volatile unsigned rt_unexpected;

/* Exception catching: RT_CATCH runs one asm block; a CPU exception inside it
 * resumes execution right after the block. It evaluates to -1 when nothing
 * was raised, else the vector (the error code is in rt_caught_err). The asm
 * operands follow the instruction text, starting with ':' (at least one
 * clobber list, e.g. RT_CATCH("ud2", ::: "memory")). */
extern volatile uintptr_t rt_recover;
extern volatile int rt_caught_vec;
extern volatile uintptr_t rt_caught_err;
#ifdef __x86_64__
#define RT_SETREC "movq $1f, rt_recover(%%rip)\n\t"
#else
#define RT_SETREC "movl $1f, rt_recover\n\t"
#endif
#define RT_CATCH(insn, ...) ({                                              \
	rt_caught_vec = -1;                                                 \
	__asm__ volatile(RT_SETREC insn "\n1:\n\t" __VA_ARGS__);            \
	rt_recover = 0;                                                     \
	rt_caught_vec;                                                      \
})

/* Console (COM1) and printing: %s %c %d %u %x %lx %llx %ld %lu %lld %llu, and
 * %p. No widths. */
void rt_putc(char c);
void rt_puts(const char *s);
void rt_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rt_vprintf(const char *fmt, va_list ap);

/* Reports: one line per check. */
void rt_ok(const char *name);
void rt_fail(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rt_skip(const char *name, const char *why);
#define CHECK(name, cond, ...) \
	do { if (cond) rt_ok(name); else rt_fail(name, __VA_ARGS__); } while (0)
/* A check whose expectation is the VMM's contract: under another emulator
 * (QEMU TCG) a miss is a SKIP that shows what was seen, not a FAIL. */
#define CHECK_VMM(name, cond, ...) \
	do { if (cond) rt_ok(name); else if (!rt_beelzebox) rt_skip_fmt(name, __VA_ARGS__); else rt_fail(name, __VA_ARGS__); } while (0)
void rt_skip_fmt(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
extern unsigned rt_passed, rt_failed, rt_skipped;
/* Prints the summary and exits: 0 when nothing failed, else 1. */
void rt_finish(void) __attribute__((noreturn));

/* Ends the VM (port 0xF4) with code. */
void debug_exit(uint32_t code) __attribute__((noreturn));

/* Port I/O. */
static inline void outb(uint16_t p, uint8_t v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(p)); }
static inline void outl(uint16_t p, uint32_t v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(p)); }
static inline uint8_t inb(uint16_t p) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline uint16_t inw(uint16_t p) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline uint32_t inl(uint16_t p) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(p)); return v; }

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}
static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" :: "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}
/* 0 on success, else the vector raised (13 for #GP). */
int rdmsr_safe(uint32_t msr, uint64_t *v);
int wrmsr_safe(uint32_t msr, uint64_t v);

static inline uintptr_t read_cr0(void) { uintptr_t v; __asm__ volatile("mov %%cr0, %0" : "=r"(v)); return v; }
static inline uintptr_t read_cr2(void) { uintptr_t v; __asm__ volatile("mov %%cr2, %0" : "=r"(v)); return v; }
static inline uintptr_t read_cr4(void) { uintptr_t v; __asm__ volatile("mov %%cr4, %0" : "=r"(v)); return v; }
static inline void write_cr0(uintptr_t v) { __asm__ volatile("mov %0, %%cr0" :: "r"(v) : "memory"); }
static inline void write_cr4(uintptr_t v) { __asm__ volatile("mov %0, %%cr4" :: "r"(v) : "memory"); }
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void pause(void) { __asm__ volatile("pause" ::: "memory"); }

/* Hypercall: vmcall with RAX = nr, RDI/RSI/RDX = a/b/c; result in RAX. */
static inline long vmcall(unsigned long nr, unsigned long a, unsigned long b, unsigned long c)
{
	long r;
	__asm__ volatile("vmcall" : "=a"(r) : "a"(nr), "D"(a), "S"(b), "d"(c) : "memory");
	return r;
}
#define HC_WRITE 1
#define HC_MMAP 9
#define HC_MUNMAP 11
#define HC_EXIT 60
#define HC_CLOCK_GETTIME 228
#define HC_PKRU 0x1000
#define HC_EFAULT (-14)
#define HC_ENOSYS (-38)
struct hc_timespec { int64_t sec, nsec; };

/* Environment, filled by rt_main before kmain:
 * rt_beelzebox: CPUID 0x40000000 says "beelzeboxVMM" (the level 4 VMM);
 *   checks that need the VMM (hypercalls, its CPUID filtering) SKIP without.
 * rt_tsc_khz / rt_bus_khz: from CPUID 0x40000010 under beelzebox, else
 *   fixed assumptions (printed). */
extern int rt_beelzebox;
extern uint32_t rt_tsc_khz, rt_bus_khz;
/* rdtsc value rt_us microseconds from now. */
uint64_t rt_deadline_us(uint64_t us);

/* Small helpers. rt_udiv64: n / d (and n % d in *rem when rem != 0),
 * without libgcc in 32-bit code. */
uint64_t rt_udiv64(uint64_t n, uint32_t d, uint32_t *rem);
uint32_t rt_strlen(const char *s);
int rt_strcmp(const char *a, const char *b);
int rt_memcmp(const void *a, const void *b, uint32_t n);
void rt_memset(void *p, int c, uint32_t n);
/* Finds word "key=" in the multiboot command line; returns its value text
 * (up to the next space) or 0. */
const char *rt_cmdline_value(const char *key);
const char *rt_cmdline(void);

#endif
