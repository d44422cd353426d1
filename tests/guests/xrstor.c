/*
 * xrstor (fixed): a guest that contains XRSTOR64 (REX.W 0F AE /5).
 *
 * Executes `xrstor64 (%rdi)` with EDX:EAX = 0x200 (only the PKRU component,
 * XCR0 bit 9) from a zeroed, 64-byte aligned 4 KiB XSAVE area on its stack.
 * An all-zero header (XSTATE_BV = 0, XCOMP_BV = 0: standard format) asks the
 * CPU to put PKRU in its initial state, 0: every key open. That is how XRSTOR
 * could change PKRU from ring 3 if XCR0 enabled the PKRU component.
 *
 * Host should observe: the kernel's XCR0 leaves PKRU out, so the XRSTOR
 * restores nothing; the level 2 scan accepts it (codescan.Rules), and the
 * guest's PKRU at its pkru call is still the one it was given. Without XSAVE
 * enabled (CR4.OSXSAVE) it gets #UD.
 */
#include "abi.h"

long main(long arg)
{
	(void)arg;
	u8 area[4096] __attribute__((aligned(64)));
	u8 *dst = area;
	u64 n = sizeof area;
	/* Zero it with rep stosb: no memset to link against. */
	__asm__ volatile("rep stosb" : "+D"(dst), "+c"(n) : "a"(0) : "memory");
	__asm__ volatile("xrstor64 (%0)" : : "r"(area), "a"(0x200), "d"(0) : "memory");
	sys_pkru();
	return 0;
}
