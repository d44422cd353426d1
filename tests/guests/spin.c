/*
 * spin (fixed): a guest that never yields.
 *
 * Loops forever in ring 3 without a single system call. The empty asm
 * volatile (with a memory clobber) keeps the compiler from deleting the loop.
 *
 * Host should observe: the guest's CPU budget expiring (timer preemption of
 * ring 3, ExitBudget), every time it is resumed; it never exits by itself.
 */
#include "abi.h"

long main(long arg)
{
	(void)arg;
	for (;;)
		__asm__ volatile("" ::: "memory");
}
