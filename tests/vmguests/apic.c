/* apic: the VMM's local APIC emulation: xAPIC registers, the LVT timer in
 * one-shot, periodic and TSC-deadline modes, EOI, self-IPIs, INIT/SIPI to
 * another APIC ID (dropped), software disable/enable, and x2APIC MSRs. Every
 * wait is a bounded spin (sti; pause) with an rdtsc deadline: a missing
 * interrupt is a FAIL line. One HLT wait (oneshot-hlt) runs only after the
 * spinning one-shot check passed, so only a broken HLT path can hang it. */
#include "apic.h"

const char rt_kernel_name[] = "apic";

#define VEC_TIMER 0x30
#define VEC_IPI 0x40
#define VEC_SPURIOUS 0xFF

static volatile unsigned timer_count, ipi_count, spurious_count;
static volatile uint64_t timer_tsc;
static int x2apic_mode;

static void eoi(void)
{
	if (x2apic_mode)
		wrmsr(0x80B, 0);
	else
		apic_write(APIC_EOI, 0);
}
static void timer_handler(struct rt_frame *f)
{
	(void)f;
	timer_tsc = rdtsc();
	timer_count++;
	eoi();
}
static void ipi_handler(struct rt_frame *f)
{
	(void)f;
	ipi_count++;
	eoi();
}
static void spurious_handler(struct rt_frame *f)
{
	(void)f;
	spurious_count++;
}

static int isr_clear(void)
{
	for (int i = 0; i < 8; i++)
		if (apic_read(APIC_ISR + 0x10 * i))
			return 0;
	return 1;
}

static void timer_stop(void)
{
	apic_write(APIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
	apic_write(APIC_TIMER_INIT, 0);
}

/* One-shot of 1 ms (divide 1): exactly one interrupt within 200 ms, none in
 * the following 20 ms. */
static int oneshot(const char *name)
{
	timer_count = 0;
	apic_write(APIC_TIMER_DIV, 0xB);
	apic_write(APIC_LVT_TIMER, VEC_TIMER);
	apic_write(APIC_TIMER_INIT, apic_ticks_us(1000));
	unsigned n = wait_count(&timer_count, 1, 200000);
	unsigned later = wait_count(&timer_count, 2, 20000);
	timer_stop();
	CHECK(name, n == 1 && later == 1, "interrupts: %u within 200 ms, %u after 20 ms more", n, later);
	return n == 1 && later == 1;
}

static void xapic_checks(void)
{
	uint64_t base = rdmsr(MSR_APIC_BASE);
	CHECK("apic-base-msr", (base & 0xFFFFF000u) == APIC_BASE_PA && (base & (1u << 11)), "IA32_APIC_BASE %llx",
	      (unsigned long long)base);
	uint32_t id = apic_read(APIC_ID), ver = apic_read(APIC_VER);
	rt_printf("vmguest: apic: id %x version %x\n", id, ver);
	CHECK("apic-version", (ver & 0xFF) >= 0x10 && (ver & 0xFF) <= 0x15 && ((ver >> 16) & 0xFF) >= 3,
	      "version register %x", ver);
	apic_write(APIC_SVR, 0x100 | VEC_SPURIOUS);
	uint32_t svr = apic_read(APIC_SVR);
	CHECK("apic-svr-enable", (svr & 0x1FF) == (0x100 | VEC_SPURIOUS), "SVR %x", svr);

	apic_write(APIC_TPR, 0x20);
	uint32_t tpr = apic_read(APIC_TPR);
	apic_write(APIC_TPR, 0);
	CHECK("apic-tpr", (tpr & 0xFF) == 0x20 && (apic_read(APIC_TPR) & 0xFF) == 0, "TPR read %x", tpr);

	apic_write(APIC_TIMER_DIV, 0xB);
	uint32_t d1 = apic_read(APIC_TIMER_DIV) & 0xB;
	apic_write(APIC_TIMER_DIV, 0x3);
	uint32_t d16 = apic_read(APIC_TIMER_DIV) & 0xB;
	CHECK("apic-divide-config", d1 == 0xB && d16 == 0x3, "read %x and %x", d1, d16);

	/* Current count: masked one-shot of 100 ms at divide 1 counts down. */
	apic_write(APIC_TIMER_DIV, 0xB);
	apic_write(APIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
	uint32_t init = apic_ticks_us(100000);
	apic_write(APIC_TIMER_INIT, init);
	uint32_t c1 = apic_read(APIC_TIMER_CUR);
	uint64_t end = rt_deadline_us(1000);
	while (rdtsc() < end)
		pause();
	uint32_t c2 = apic_read(APIC_TIMER_CUR);
	timer_stop();
	CHECK("apic-current-count", c1 <= init && c2 < c1, "initial %u then %u then %u", init, c1, c2);

	int oneshot_ok = oneshot("apic-timer-oneshot");
	CHECK("apic-eoi-isr-clear", isr_clear(), "an ISR bit is still set after EOI");

	if (oneshot_ok) {
		rt_puts("vmguest: apic: one-shot timer then sti; hlt\n");
		timer_count = 0;
		apic_write(APIC_LVT_TIMER, VEC_TIMER);
		apic_write(APIC_TIMER_INIT, apic_ticks_us(1000));
		__asm__ volatile("sti; hlt; cli" ::: "memory");
		unsigned n = wait_count(&timer_count, 2, 20000);
		timer_stop();
		CHECK("apic-timer-oneshot-hlt", n == 1, "%u interrupts", n);
	} else {
		rt_fail("apic-timer-oneshot-hlt", "not run: the one-shot timer did not work");
	}

	/* Periodic, 1 ms: at least 5 interrupts, then initial count 0 stops it. */
	timer_count = 0;
	apic_write(APIC_LVT_TIMER, LVT_PERIODIC | VEC_TIMER);
	apic_write(APIC_TIMER_INIT, apic_ticks_us(1000));
	unsigned n = wait_count(&timer_count, 5, 500000);
	apic_write(APIC_TIMER_INIT, 0);
	unsigned stopped = timer_count;
	unsigned after = wait_count(&timer_count, ~0u, 20000);
	apic_write(APIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
	CHECK("apic-timer-periodic", n >= 5, "%u interrupts within 500 ms", n);
	CHECK("apic-timer-periodic-stop", after <= stopped + 1, "%u interrupts at the stop, %u 20 ms later", stopped,
	      after);

	/* TSC deadline. */
	uint32_t a, b, c, d;
	cpuid(1, 0, &a, &b, &c, &d);
	if (c & (1u << 24)) {
		timer_count = 0;
		apic_write(APIC_LVT_TIMER, LVT_TSC_DEADLINE | VEC_TIMER);
		uint64_t deadline = rt_deadline_us(1000);
		wrmsr(MSR_TSC_DEADLINE, deadline);
		unsigned m = wait_count(&timer_count, 1, 200000);
		uint64_t after_fire = rdmsr(MSR_TSC_DEADLINE);
		wrmsr(MSR_TSC_DEADLINE, 0);
		apic_write(APIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
		CHECK("apic-tsc-deadline", m == 1 && timer_tsc >= deadline, "%u interrupts, fired at %llx deadline %llx",
		      m, (unsigned long long)timer_tsc, (unsigned long long)deadline);
		CHECK("apic-tsc-deadline-cleared", after_fire == 0, "IA32_TSC_DEADLINE reads %llx after firing",
		      (unsigned long long)after_fire);
	} else {
		rt_skip("apic-tsc-deadline", "no TSC-deadline in CPUID");
		rt_skip("apic-tsc-deadline-cleared", "no TSC-deadline in CPUID");
	}

	/* Self-IPI through the ICR: shorthand self, fixed, vector 0x40. */
	ipi_count = 0;
	apic_write(APIC_ICR_HI, 0);
	apic_write(APIC_ICR_LO, (1u << 18) | (1u << 14) | VEC_IPI);
	unsigned ipis = wait_count(&ipi_count, 1, 100000);
	uint32_t icr = apic_read(APIC_ICR_LO);
	CHECK("apic-self-ipi", ipis == 1 && !(icr & (1u << 12)), "%u interrupts, ICR %x", ipis, icr);

	/* INIT and SIPI to APIC ID 5: dropped; delivery status never busy. */
	unsigned before = rt_unexpected;
	apic_write(APIC_ICR_HI, 5u << 24);
	apic_write(APIC_ICR_LO, (5u << 8) | (1u << 14));
	end = rt_deadline_us(10000);
	while ((apic_read(APIC_ICR_LO) & (1u << 12)) && rdtsc() < end)
		pause();
	uint32_t icr_init = apic_read(APIC_ICR_LO);
	apic_write(APIC_ICR_HI, 5u << 24);
	apic_write(APIC_ICR_LO, (6u << 8) | (1u << 14) | 0x10);
	end = rt_deadline_us(10000);
	while ((apic_read(APIC_ICR_LO) & (1u << 12)) && rdtsc() < end)
		pause();
	uint32_t icr_sipi = apic_read(APIC_ICR_LO);
	wait_count(&ipi_count, ~0u, 10000);
	CHECK("apic-init-sipi-dropped", !(icr_init & (1u << 12)) && !(icr_sipi & (1u << 12)) && rt_unexpected == before,
	      "ICR after INIT %x after SIPI %x, %u unexpected events", icr_init, icr_sipi, rt_unexpected - before);

	/* Software disable masks the timer; enabling again works; twice. */
	for (int round = 0; round < 2; round++) {
		apic_write(APIC_SVR, VEC_SPURIOUS); /* bit 8 clear */
		timer_count = 0;
		apic_write(APIC_TIMER_DIV, 0xB);
		apic_write(APIC_LVT_TIMER, VEC_TIMER); /* unmasking is ignored while disabled */
		apic_write(APIC_TIMER_INIT, apic_ticks_us(1000));
		unsigned z = wait_count(&timer_count, 1, 20000);
		uint32_t lvt = apic_read(APIC_LVT_TIMER);
		timer_stop();
		CHECK(round ? "apic-svr-disable-2" : "apic-svr-disable-1", z == 0, "%u interrupts while disabled", z);
		/* SDM: while software-disabled every LVT reads masked and
		 * unmasking is ignored, so the timer raises nothing. */
		CHECK_VMM(round ? "apic-svr-disable-lvt-masked-2" : "apic-svr-disable-lvt-masked-1", lvt & LVT_MASKED,
			  "LVT timer %x while disabled", lvt);
		apic_write(APIC_SVR, 0x100 | VEC_SPURIOUS);
		timer_count = 0;
		unsigned stale = wait_count(&timer_count, ~0u, 5000);
		CHECK_VMM(round ? "apic-svr-enable-no-stale-2" : "apic-svr-enable-no-stale-1", stale == 0,
			  "%u timer interrupts from the disabled period delivered after enabling", stale);
		oneshot(round ? "apic-svr-enable-2" : "apic-svr-enable-1");
	}
}

static void x2apic_checks(void)
{
	uint32_t a, b, c, d;
	cpuid(1, 0, &a, &b, &c, &d);
	uint64_t v;
	int e = rdmsr_safe(0x80B, &v);
	CHECK_VMM("x2apic-msr-in-xapic-mode-gp", e == 13, "reading 0x80B in xAPIC mode: vector %d", e);
	if (!(c & (1u << 21))) {
		rt_skip("x2apic", "no x2APIC in CPUID");
		return;
	}
	uint32_t xver = apic_read(APIC_VER);
	wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | (1u << 11) | (1u << 10));
	x2apic_mode = 1;
	uint64_t id, ver;
	int e1 = rdmsr_safe(0x802, &id), e2 = rdmsr_safe(0x803, &ver);
	rt_printf("vmguest: apic: x2APIC id %llx version %llx\n", (unsigned long long)id, (unsigned long long)ver);
	CHECK("x2apic-id-version", !e1 && !e2 && (ver & 0xFF) == (xver & 0xFF), "vectors %d %d, version %llx (xAPIC %x)",
	      e1, e2, (unsigned long long)ver, xver);
	wrmsr(0x80F, 0x100 | VEC_SPURIOUS);

	timer_count = 0;
	wrmsr(0x83E, 0xB);
	wrmsr(0x832, VEC_TIMER);
	wrmsr(0x838, apic_ticks_us(1000));
	unsigned n = wait_count(&timer_count, 1, 200000);
	unsigned later = wait_count(&timer_count, 2, 20000);
	wrmsr(0x832, LVT_MASKED | VEC_TIMER);
	wrmsr(0x838, 0);
	CHECK("x2apic-timer-oneshot", n == 1 && later == 1, "interrupts: %u within 200 ms, %u after 20 ms more", n, later);

	ipi_count = 0;
	wrmsr(0x83F, VEC_IPI);
	unsigned ipis = wait_count(&ipi_count, 1, 100000);
	CHECK("x2apic-self-ipi", ipis == 1, "%u interrupts", ipis);

	e = rdmsr_safe(0x80B, &v);
	CHECK("x2apic-eoi-read-gp", e == 13, "reading the EOI MSR: vector %d", e);
	e = wrmsr_safe(0x802, 7);
	CHECK("x2apic-id-write-gp", e == 13, "writing the read-only ID MSR: vector %d", e);
}

void kmain(void)
{
	rt_set_handler(VEC_TIMER, timer_handler);
	rt_set_handler(VEC_IPI, ipi_handler);
	rt_set_handler(VEC_SPURIOUS, spurious_handler);
	xapic_checks();
	x2apic_checks();
	if (spurious_count)
		rt_printf("vmguest: apic: %u spurious interrupts\n", spurious_count);
}
