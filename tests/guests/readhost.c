/*
 * readhost (fixed): touch memory the guest does not own.
 *
 * arg (initial RDI) is an address chosen by the host, typically host memory.
 * The guest reads the 8 bytes there, then writes 0x4242424242424242 there,
 * then exits with (the value read & 0xff). It makes no system call before
 * the read, so the read is the first thing that can fault.
 *
 * Host should observe: at level 1 (no protection between guest and host)
 * exit(low byte of the value) and the 8 bytes overwritten with 0x42s; at
 * level 2 a page fault with the protection-key bit (PF error code bit 5) and
 * CR2 = arg, on the read, with the memory unchanged.
 */
#include "abi.h"

long main(long arg)
{
	volatile u64 *p = (volatile u64 *)arg;
	u64 v = *p;
	*p = 0x4242424242424242UL;
	return (long)(v & 0xff);
}
