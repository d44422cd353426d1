/* triple-fault (adversarial): loads an empty IDT (limit 0) and executes
 * int3: #BP cannot be delivered (#GP), nor can #GP (#DF), nor #DF: a triple
 * fault. The VMM must end the VM with its triple-fault status. */
#include "rt.h"

const char rt_kernel_name[] = "triple-fault";

void kmain(void)
{
	struct {
		uint16_t limit;
		uintptr_t base;
	} __attribute__((packed)) empty = { 0, 0 };
	rt_puts("vmguest: triple-fault: loading an empty IDT and executing int3\n");
	__asm__ volatile("lidt %0; int3" :: "m"(empty) : "memory");
	rt_fail("triple-fault", "int3 with an empty IDT returned");
}
