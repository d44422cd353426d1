/* cli-spin (adversarial): cli and spin forever. Only the VMM's CPU budget
 * (the VMX preemption timer) can end it. */
#include "rt.h"

const char rt_kernel_name[] = "cli-spin";

void kmain(void)
{
	rt_puts("vmguest: cli-spin: spinning with interrupts disabled\n");
	__asm__ volatile("cli\n1: jmp 1b" ::: "memory");
}
