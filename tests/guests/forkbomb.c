/*
 * forkbomb: every process forks for ever. The sandbox's process limit
 * must stop it with EAGAIN (or ENOMEM where memory runs out first) and
 * the kernel stay healthy; the test ends it by killing the sandbox.
 */
#include "linux.h"

long main(long a)
{
	(void)a;
	for (;;)
		syscall6(57, 0, 0, 0, 0, 0, 0); /* fork */
}
