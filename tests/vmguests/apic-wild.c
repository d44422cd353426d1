/* apic-wild (adversarial): OPS (5,000) pseudo-random (xorshift32, seed 1 or
 * seed=N on the command line) local APIC operations with interrupts enabled:
 *   first half, xAPIC: random values written to random register offsets
 *     0x000-0x3F0 (reserved ones included), random reads, LVT timer set to
 *     periodic with initial count 1 at divide 1, and random MSR reads and
 *     writes in 0x800-0x8FF (each must raise #GP, caught);
 *   second half (when CPUID has x2APIC): x2APIC enabled, random MSR writes
 *     and reads in 0x800-0x8FF (faults caught), the same tiny periodic timer
 *     through MSRs, random self-IPIs.
 * To keep the guest alive, written values are sanitized where they could
 * reset or wedge the guest itself: ICR and LVT delivery modes are forced to
 * fixed (no INIT/SIPI/SMI/NMI/ExtINT to self) and every vector field
 * (ICR, LVTs, SVR, SELF IPI) is at least 0x20 (vectors 16-31 would land
 * on exception vectors without an error code). Every interrupt is counted
 * and EOIed; STORM (50) interrupts between two operations mask the
 * timer (an interrupt storm cannot starve the loop). At the end: timer
 * masked, initial count 0, APIC software-disabled, exit 0. */
#include "apic.h"

const char rt_kernel_name[] = "apic-wild";

#ifndef OPS
#define OPS 5000
#endif
/* Interrupts between two operations that count as a storm: each costs the
 * host two exits (the injection's window and the EOI), so the bound keeps
 * a run to seconds of emulated time. */
#ifndef STORM
#define STORM 50
#endif

static uint32_t rng = 1;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static int x2;
/* Initial count of the tiny periodic timer: 1, or mincount=N on the command
 * line (QEMU TCG's main loop starves on a 1 ns period, so a QEMU run of this
 * guest uses e.g. mincount=100000). */
static uint32_t tiny = 1;
static volatile unsigned irqs, irqs_since_op, storm_trips;

static void mask_timer(void)
{
	if (x2) {
		wrmsr(0x832, LVT_MASKED | 0x30);
		wrmsr(0x838, 0);
	} else {
		apic_write(APIC_LVT_TIMER, LVT_MASKED | 0x30);
		apic_write(APIC_TIMER_INIT, 0);
	}
}

static void any_irq(struct rt_frame *f)
{
	(void)f;
	irqs++;
	if (x2)
		wrmsr(0x80B, 0);
	else
		apic_write(APIC_EOI, 0);
	if (++irqs_since_op == STORM) {
		storm_trips++;
		mask_timer();
	}
}

static uint32_t fix_vector(uint32_t v)
{
	if ((v & 0xFF) < 0x20)
		v |= 0x20;
	return v;
}

/* xAPIC offset (or x2APIC MSR - 0x800 << 4 equivalent) sanitizing. */
static uint32_t sanitize(uint32_t off, uint32_t v)
{
	switch (off) {
	case 0x300:                          /* ICR low */
	case 0x2F0:                          /* LVT CMCI */
	case 0x320: case 0x330: case 0x340:  /* LVT timer, thermal, perf */
	case 0x350: case 0x360: case 0x370:  /* LVT LINT0, LINT1, error */
		return fix_vector(v & ~0x700u);
	case 0x0F0: /* SVR */
	case 0x3F0: /* x2APIC SELF IPI (0x83F) */
		return fix_vector(v);
	}
	return v;
}

static unsigned gp_expected, gp_seen, x2_faults, x2_ops;

static void xapic_op(void)
{
	uint32_t r = rnd(), off = (rnd() % 64) * 0x10;
	switch (r % 4) {
	case 0:
		apic_write(off, sanitize(off, rnd()));
		break;
	case 1:
		(void)apic_read(off);
		break;
	case 2:
		apic_write(APIC_TIMER_DIV, 0xB);
		apic_write(APIC_LVT_TIMER, LVT_PERIODIC | fix_vector(rnd() & 0xFF));
		apic_write(APIC_TIMER_INIT, tiny);
		break;
	case 3: {
		uint32_t msr = 0x800 + (rnd() & 0xFF);
		uint64_t v = ((uint64_t)rnd() << 32) | rnd();
		int e = (r & 4) ? wrmsr_safe(msr, v) : rdmsr_safe(msr, &v);
		gp_expected++;
		gp_seen += e == 13;
		break;
	}
	}
}

static void x2apic_op(void)
{
	uint32_t r = rnd();
	uint32_t msr = 0x800 + (rnd() & 0xFF);
	uint64_t v;
	int e = 0;
	x2_ops++;
	switch (r % 4) {
	case 0:
		v = sanitize((msr - 0x800) << 4, rnd());
		if (r & 8)
			v |= (uint64_t)rnd() << 32;
		e = wrmsr_safe(msr, v);
		break;
	case 1:
		e = rdmsr_safe(msr, &v);
		break;
	case 2:
		wrmsr(0x83E, 0xB);
		wrmsr(0x832, LVT_PERIODIC | fix_vector(rnd() & 0xFF));
		wrmsr(0x838, tiny);
		break;
	case 3:
		e = wrmsr_safe(0x83F, fix_vector(rnd() & 0xFF));
		break;
	}
	x2_faults += e != 0;
}

void kmain(void)
{
	const char *s = rt_cmdline_value("seed");
	if (s) {
		uint32_t v = 0;
		while (*s >= '0' && *s <= '9')
			v = v * 10 + (uint32_t)(*s++ - '0');
		if (v)
			rng = v;
	}
	const char *m = rt_cmdline_value("mincount");
	if (m) {
		uint32_t v = 0;
		while (*m >= '0' && *m <= '9')
			v = v * 10 + (uint32_t)(*m++ - '0');
		if (v)
			tiny = v;
	}
	for (int v = 0x20; v < 256; v++)
		rt_set_handler(v, any_irq);
	uint32_t a, b, c, d;
	cpuid(1, 0, &a, &b, &c, &d);
	int have_x2 = (c >> 21) & 1;
	rt_printf("vmguest: apic-wild: %u random APIC operations, seed %u, timer count %u, x2APIC half %s\n", OPS, rng, tiny,
		  have_x2 ? "yes" : "no (xAPIC throughout)");
	apic_write(APIC_SVR, 0x1FF);
	sti();
	unsigned done = 0;
	for (unsigned i = 0; i < OPS; i++) {
		if (i == OPS / 2 && have_x2) {
			cli();
			mask_timer();
			wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | (1u << 11) | (1u << 10));
			x2 = 1;
			wrmsr(0x80F, 0x1FF);
			rt_puts("vmguest: apic-wild: x2APIC enabled\n");
			sti();
		}
		irqs_since_op = 0;
		if (x2)
			x2apic_op();
		else
			xapic_op();
		done++;
		if ((i + 1) % 25000 == 0)
			rt_printf("vmguest: apic-wild: %u operations, %u interrupts\n", i + 1, irqs);
	}
	cli();
	mask_timer();
	if (x2)
		wrmsr(0x80F, 0xFF);
	else
		apic_write(APIC_SVR, 0xFF);
	rt_printf("vmguest: apic-wild: %u interrupts, %u storm masks, %u of %u xAPIC-mode MSR accesses #GP, "
		  "%u of %u x2APIC operations faulted\n",
		  irqs, storm_trips, gp_seen, gp_expected, x2_faults, x2_ops);
	CHECK("apic-wild-ops", done == OPS, "%u operations", done);
	CHECK_VMM("apic-wild-xapic-msr-gp", gp_seen == gp_expected, "%u of %u MSR accesses in xAPIC mode raised #GP",
		  gp_seen, gp_expected);
}
