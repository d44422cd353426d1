/*
 * divzero (fixed): an integer divide error in ring 3.
 *
 * Divides 42 by a volatile 0 (idiv), so the compiler can neither fold nor
 * drop the division.
 *
 * Host should observe: "divzero: dividing by zero", then a #DE fault (vector 0)
 * with RIP at the idiv; the guest is killed. If it survives it exits 99.
 */
#include "abi.h"

long main(long arg)
{
	(void)arg;
	volatile long zero = 0, num = 42, out;
	print("divzero: dividing by zero\n");
	out = num / zero;
	print("divzero: FAIL: survived a division by zero\n");
	(void)out;
	return 99;
}
