/*
 * recurse (fixed): stack overflow.
 *
 * Unbounded recursion, each frame holding a 256-byte volatile array, so the
 * 64 KiB stack runs out after a couple of hundred frames. The asm after the
 * recursive call keeps the frame alive (no tail call, no loop).
 *
 * Host should observe: a page fault (vector 14, write, not present) with CR2
 * just below the stack's lowest page (its guard), never an exit. If the
 * recursion somehow returned, the guest exits 99.
 */
#include "abi.h"

#pragma GCC diagnostic ignored "-Winfinite-recursion"

static __attribute__((noinline)) long down(long depth)
{
	volatile u8 frame[256];
	frame[0] = (u8)depth;
	frame[255] = (u8)depth;
	long r = down(depth + 1);
	__asm__ volatile("" : : "r"(frame) : "memory");
	return r + frame[0] + frame[255];
}

long main(long arg)
{
	down(arg);
	return 99;
}
