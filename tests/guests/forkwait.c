/*
 * forkwait: fork, the child exits 7, the parent reaps it with wait4 and
 * exits 100 + the child's exit status (107), after checking getppid in
 * the child is the parent's pid (else the child exits 9). Where fork is
 * EAGAIN (levels 1 and 2) it exits 50.
 */
#include "linux.h"

long main(long a)
{
	(void)a;
	long parent = syscall6(39, 0, 0, 0, 0, 0, 0); /* getpid */
	long r = syscall6(57, 0, 0, 0, 0, 0, 0);      /* fork */
	if (r == -11)
		return 50;
	if (r < 0)
		return 51;
	if (r == 0)
		return syscall6(110, 0, 0, 0, 0, 0, 0) == parent ? 7 : 9; /* getppid */
	int status = 0;
	long w = syscall6(61, r, (long)&status, 0, 0, 0, 0); /* wait4 */
	if (w != r)
		return 52;
	if (syscall6(61, -1, 0, 1, 0, 0, 0) != -10) /* no child left: ECHILD */
		return 53;
	return 100 + ((status >> 8) & 0xff);
}
