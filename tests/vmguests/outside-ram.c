/* outside-ram (adversarial): writes guest-physical 0x40000000, beyond RAM and
 * no device. The VMM must end the VM with its fault status; if the write
 * returns, the guest reports FAIL and exits 1. */
#include "rt.h"

const char rt_kernel_name[] = "outside-ram";

void kmain(void)
{
	rt_puts("vmguest: outside-ram: writing guest-physical 0x40000000\n");
	*(volatile uint32_t *)0x40000000 = 0xdeadbeef;
	rt_fail("outside-ram", "the write to 0x40000000 returned");
}
