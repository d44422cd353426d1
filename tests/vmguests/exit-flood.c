/* exit-flood (adversarial): FLOOD_ITERS iterations of cpuid plus an out to an
 * unused port (two VM exits each), then one check line and exit 0. */
#include "rt.h"

#ifndef FLOOD_ITERS
#define FLOOD_ITERS 500000
#endif

const char rt_kernel_name[] = "exit-flood";

void kmain(void)
{
	uint32_t a, b, c, d, sum = 0;
	rt_printf("vmguest: exit-flood: %u iterations of cpuid + out 0x1234\n", (unsigned)FLOOD_ITERS);
	uint64_t t0 = rdtsc();
	for (uint32_t i = 0; i < FLOOD_ITERS; i++) {
		cpuid(0, 0, &a, &b, &c, &d);
		sum += a;
		outb(0x1234, (uint8_t)i);
		if ((i + 1) % 500000 == 0)
			rt_printf("vmguest: exit-flood: %u done\n", i + 1);
	}
	uint64_t t1 = rdtsc();
	rt_printf("vmguest: exit-flood: %llu tsc ticks\n", (unsigned long long)(t1 - t0));
	CHECK("exit-flood", sum != 0, "cpuid leaf 0 returned max leaf 0 every time");
}
