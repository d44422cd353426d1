/* Runtime for the level 4 test guests: console, IDT, exception catching,
 * reports, MSR helpers. See rt.h and README.md. */
#include "rt.h"

uint32_t mb_magic __attribute__((section(".data"))), mb_info __attribute__((section(".data")));
volatile uintptr_t rt_recover;
volatile int rt_caught_vec = -1;
volatile uintptr_t rt_caught_err;
volatile unsigned rt_unexpected;
unsigned rt_passed, rt_failed, rt_skipped;
int rt_beelzebox;
uint32_t rt_tsc_khz, rt_bus_khz;

/* ---- console: COM1 16550 ---- */
#define COM1 0x3F8

static void serial_init(void)
{
	outb(COM1 + 1, 0x00); /* no UART interrupts */
	outb(COM1 + 3, 0x80); /* DLAB */
	outb(COM1 + 0, 0x01); /* 115200 */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03); /* 8N1 */
	outb(COM1 + 2, 0xC7); /* FIFO on, cleared */
	outb(COM1 + 4, 0x03); /* DTR, RTS */
}

static void serial_put(char c)
{
	/* LSR bit 5: THR empty. Bounded: a missing UART must not hang us (an
	 * absent port reads all-ones, which says "empty"). */
	for (int i = 0; i < 1000000 && !(inb(COM1 + 5) & 0x20); i++)
		pause();
	outb(COM1, (uint8_t)c);
}

void rt_putc(char c)
{
	if (c == '\n')
		serial_put('\r');
	serial_put(c);
}

void rt_puts(const char *s)
{
	while (*s)
		rt_putc(*s++);
}

uint64_t rt_udiv64(uint64_t n, uint32_t d, uint32_t *rem)
{
#ifdef __x86_64__
	if (rem)
		*rem = (uint32_t)(n % d);
	return n / d;
#else
	/* No libgcc for -m32 here: two divl steps. */
	uint32_t hi = (uint32_t)(n >> 32), lo = (uint32_t)n, qhi = hi / d, r = hi % d, qlo;
	__asm__("divl %4" : "=a"(qlo), "=d"(r) : "a"(lo), "d"(r), "rm"(d));
	if (rem)
		*rem = r;
	return ((uint64_t)qhi << 32) | qlo;
#endif
}

static void put_unsigned(unsigned long long v, unsigned base)
{
	char buf[24];
	int i = 0;
	do {
		uint32_t r;
		v = rt_udiv64(v, base, &r);
		buf[i++] = "0123456789abcdef"[r];
	} while (v);
	while (i)
		rt_putc(buf[--i]);
}

void rt_vprintf(const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			rt_putc(*fmt);
			continue;
		}
		int l = 0;
		fmt++;
		while (*fmt == 'l') {
			l++;
			fmt++;
		}
		unsigned long long u;
		long long s;
		switch (*fmt) {
		case 's': {
			const char *str = va_arg(ap, const char *);
			rt_puts(str ? str : "(null)");
			break;
		}
		case 'c':
			rt_putc((char)va_arg(ap, int));
			break;
		case 'd':
			s = l >= 2 ? va_arg(ap, long long) : l ? va_arg(ap, long) : va_arg(ap, int);
			if (s < 0) {
				rt_putc('-');
				u = -(unsigned long long)s;
			} else {
				u = s;
			}
			put_unsigned(u, 10);
			break;
		case 'u':
		case 'x':
			u = l >= 2 ? va_arg(ap, unsigned long long) : l ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
			if (*fmt == 'x')
				rt_puts("0x");
			put_unsigned(u, *fmt == 'x' ? 16 : 10);
			break;
		case 'p':
			rt_puts("0x");
			put_unsigned((uintptr_t)va_arg(ap, void *), 16);
			break;
		case '%':
			rt_putc('%');
			break;
		default:
			rt_putc('?');
			break;
		}
	}
}

void rt_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rt_vprintf(fmt, ap);
	va_end(ap);
}

/* ---- reports ---- */
void rt_ok(const char *name)
{
	rt_passed++;
	rt_printf("vmguest: %s: ok\n", name);
}

void rt_fail(const char *name, const char *fmt, ...)
{
	va_list ap;
	rt_failed++;
	rt_printf("vmguest: %s: FAIL ", name);
	va_start(ap, fmt);
	rt_vprintf(fmt, ap);
	va_end(ap);
	rt_putc('\n');
}

void rt_skip(const char *name, const char *why)
{
	rt_skipped++;
	rt_printf("vmguest: %s: SKIP %s\n", name, why);
}

void rt_skip_fmt(const char *name, const char *fmt, ...)
{
	va_list ap;
	rt_skipped++;
	rt_printf("vmguest: %s: SKIP foreign emulator: ", name);
	va_start(ap, fmt);
	rt_vprintf(fmt, ap);
	va_end(ap);
	rt_putc('\n');
}

void rt_finish(void)
{
	if (rt_unexpected)
		rt_fail("unexpected-events", "%u unexpected interrupts or exceptions", rt_unexpected);
	if (rt_failed) {
		rt_printf("vmguest: %s failed %u of %u checks\n", rt_kernel_name, rt_failed, rt_passed + rt_failed);
		debug_exit(1);
	}
	if (rt_skipped)
		rt_printf("vmguest: %s passed %u checks, skipped %u\n", rt_kernel_name, rt_passed, rt_skipped);
	else
		rt_printf("vmguest: %s passed %u checks\n", rt_kernel_name, rt_passed);
	debug_exit(0);
}

void debug_exit(uint32_t code)
{
	/* Let the UART drain (LSR bit 6: transmitter empty), bounded. */
	for (int i = 0; i < 1000000 && !(inb(COM1 + 5) & 0x40); i++)
		pause();
	outl(0xF4, code);
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* ---- IDT ---- */
extern char isr_stubs[]; /* 256 stubs, 16 bytes apart (start32.S / start64.S) */
static rt_handler handlers[256];

#ifdef __x86_64__
struct idt_gate {
	uint16_t off0, sel;
	uint8_t ist, type;
	uint16_t off1;
	uint32_t off2, zero;
} __attribute__((packed));
#define CODE_SEL 0x18
#else
struct idt_gate {
	uint16_t off0, sel;
	uint8_t zero, type;
	uint16_t off1;
} __attribute__((packed));
#define CODE_SEL 0x08
#endif
static struct idt_gate idt[256] __attribute__((aligned(16)));

static void idt_init(void)
{
	for (int v = 0; v < 256; v++) {
		uintptr_t a = (uintptr_t)isr_stubs + 16 * v;
		struct idt_gate *g = &idt[v];
		rt_memset(g, 0, sizeof *g);
		g->off0 = (uint16_t)a;
		g->sel = CODE_SEL;
		g->type = 0x8E; /* present, DPL 0, interrupt gate */
		g->off1 = (uint16_t)(a >> 16);
#ifdef __x86_64__
		g->off2 = (uint32_t)(a >> 32);
#endif
	}
	struct {
		uint16_t limit;
		uintptr_t base;
	} __attribute__((packed)) d = { sizeof idt - 1, (uintptr_t)idt };
	__asm__ volatile("lidt %0" :: "m"(d));
}

void rt_set_handler(int vec, rt_handler h)
{
	handlers[vec & 255] = h;
}

void rt_isr(struct rt_frame *f);
void rt_isr(struct rt_frame *f)
{
	if (f->vec < 32 && f->vec != 2 && rt_recover) { /* an NMI is not the caught fault */
		rt_caught_vec = (int)f->vec;
		rt_caught_err = f->err;
		f->ip = rt_recover;
		rt_recover = 0;
		return;
	}
	if (handlers[f->vec]) {
		handlers[f->vec](f);
		return;
	}
	rt_unexpected++;
	rt_printf("vmguest: %s: unexpected vector %u err %lx ip %lx\n", rt_kernel_name,
		  (unsigned)f->vec, (unsigned long)f->err, (unsigned long)f->ip);
	if (f->vec < 32) {
		/* A fault would repeat forever: give up. */
		rt_fail("exception", "unexpected exception %u at %lx", (unsigned)f->vec, (unsigned long)f->ip);
		rt_finish();
	}
}

/* ---- MSRs ---- */
int rdmsr_safe(uint32_t msr, uint64_t *v)
{
	uint32_t lo = 0, hi = 0;
	int vec = RT_CATCH("rdmsr", : "+a"(lo), "+d"(hi) : "c"(msr) : "memory");
	*v = ((uint64_t)hi << 32) | lo;
	return vec < 0 ? 0 : vec;
}

int wrmsr_safe(uint32_t msr, uint64_t v)
{
	int vec = RT_CATCH("wrmsr", :: "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
	return vec < 0 ? 0 : vec;
}

/* ---- environment ---- */
uint64_t rt_deadline_us(uint64_t us)
{
	return rdtsc() + rt_udiv64(us * rt_tsc_khz, 1000, 0);
}

static void env_init(void)
{
	uint32_t a, b, c, d;
	cpuid(1, 0, &a, &b, &c, &d);
	int hv = (c >> 31) & 1;
	uint32_t max = 0;
	if (hv) {
		cpuid(0x40000000, 0, &a, &b, &c, &d);
		max = a;
		rt_beelzebox = b == 0x6c656562 && c == 0x6f62657a && d == 0x4d4d5678; /* "beel" "zebo" "xVMM" */
	}
	if (rt_beelzebox && max >= 0x40000010) {
		cpuid(0x40000010, 0, &a, &b, &c, &d);
		rt_tsc_khz = a;
		rt_bus_khz = b;
	}
	if (rt_beelzebox && rt_tsc_khz && rt_bus_khz) {
		rt_printf("vmguest: %s: env beelzebox, tsc %u kHz, apic bus %u kHz\n", rt_kernel_name, rt_tsc_khz, rt_bus_khz);
		return;
	}
	/* Not under beelzebox (e.g. QEMU TCG): fixed assumptions. A too-high
	 * TSC figure only makes the bounded waits longer. */
	if (!rt_tsc_khz)
		rt_tsc_khz = 3000000;
	if (!rt_bus_khz)
		rt_bus_khz = 1000000;
	rt_printf("vmguest: %s: env %s, tsc %u kHz (assumed), apic bus %u kHz (assumed)\n", rt_kernel_name,
		  rt_beelzebox ? "beelzebox without leaf 0x40000010" : "foreign (no beelzebox leaf)",
		  rt_tsc_khz, rt_bus_khz);
}

/* Legacy 8259 PICs (QEMU has them; the beelzebox VMM has none and ignores
 * the writes): move them off the exception vectors (the BIOS leaves IRQ0 at
 * vector 8) to 0x20-0x2F and mask every line. */
static void pic_disable(void)
{
	outb(0x20, 0x11);
	outb(0xA0, 0x11);
	outb(0x21, 0x20);
	outb(0xA1, 0x28);
	outb(0x21, 0x04);
	outb(0xA1, 0x02);
	outb(0x21, 0x01);
	outb(0xA1, 0x01);
	outb(0x21, 0xFF);
	outb(0xA1, 0xFF);
}

/* Called by the entry code with flat segments and a stack. */
void rt_main(void);
void rt_main(void)
{
	serial_init();
	pic_disable();
	idt_init();
	rt_printf("vmguest: %s: start\n", rt_kernel_name);
	CHECK("multiboot", mb_magic == MB_BOOT_MAGIC, "magic %x", mb_magic);
	env_init();
	kmain();
	rt_finish();
}

/* ---- helpers ---- */
uint32_t rt_strlen(const char *s)
{
	uint32_t n = 0;
	while (s[n])
		n++;
	return n;
}

int rt_strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}

int rt_memcmp(const void *a, const void *b, uint32_t n)
{
	const unsigned char *x = a, *y = b;
	for (uint32_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] - y[i];
	return 0;
}

void rt_memset(void *p, int c, uint32_t n)
{
	volatile unsigned char *q = p;
	while (n--)
		*q++ = (unsigned char)c;
}

const char *rt_cmdline(void)
{
	struct mb_info *mi = (struct mb_info *)(uintptr_t)mb_info;
	if (mb_magic != MB_BOOT_MAGIC || !(mi->flags & (1u << 2)) || !mi->cmdline)
		return "";
	return (const char *)(uintptr_t)mi->cmdline;
}

const char *rt_cmdline_value(const char *key)
{
	const char *s = rt_cmdline();
	uint32_t kl = rt_strlen(key);
	while (*s) {
		while (*s == ' ')
			s++;
		if (!rt_memcmp(s, key, kl) && s[kl] == '=')
			return s + kl + 1;
		while (*s && *s != ' ')
			s++;
	}
	return 0;
}
