/* hlt: the VMM's HLT path. Three times: arm a 1 ms one-shot xAPIC timer,
 * then sti; hlt. The interrupt must wake the guest (a VMM that never wakes a
 * halted guest runs into its CPU budget instead: this guest cannot bound a
 * HLT wait by itself). Then checks that time passed and exactly one
 * interrupt arrived. */
#include "apic.h"

const char rt_kernel_name[] = "hlt";

static volatile unsigned timer_count;

static void timer_handler(struct rt_frame *f)
{
	(void)f;
	timer_count++;
	apic_write(APIC_EOI, 0);
}

void kmain(void)
{
	rt_set_handler(0x30, timer_handler);
	apic_write(APIC_SVR, 0x1FF);
	apic_write(APIC_TIMER_DIV, 0xB);
	for (int i = 0; i < 3; i++) {
		timer_count = 0;
		apic_write(APIC_LVT_TIMER, 0x30);
		rt_printf("vmguest: hlt: round %d: one-shot timer armed, sti; hlt\n", i + 1);
		uint64_t t0 = rdtsc();
		apic_write(APIC_TIMER_INIT, apic_ticks_us(1000));
		__asm__ volatile("sti; hlt; cli" ::: "memory");
		uint64_t t1 = rdtsc();
		unsigned n = wait_count(&timer_count, 2, 10000);
		apic_write(APIC_LVT_TIMER, LVT_MASKED | 0x30);
		apic_write(APIC_TIMER_INIT, 0);
		static const char *names[] = { "hlt-wake-1", "hlt-wake-2", "hlt-wake-3" };
		CHECK(names[i], n == 1 && t1 > t0, "%u interrupts, %llu tsc ticks in hlt", n,
		      (unsigned long long)(t1 - t0));
	}
}
