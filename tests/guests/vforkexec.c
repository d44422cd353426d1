/*
 * vforkexec: vfork, the child execs /exit42-pie (exit status 42), the
 * parent reaps it and exits with the child's status: 42 at every level
 * (levels 1 and 2 run the child in the parent's memory until its execve,
 * level 3 in a copy). 60 if vfork failed, 61 if wait4 did, 99 if the
 * child's execve did.
 */
#include "linux.h"

long main(long a)
{
	(void)a;
	static char path[] = "/exit42-pie";
	static char *argv[] = {path, 0};
	static char *envp[] = {0};
	long r = syscall6(58, 0, 0, 0, 0, 0, 0); /* vfork */
	if (r < 0)
		return 60;
	if (r == 0) {
		syscall6(59, (long)path, (long)argv, (long)envp, 0, 0, 0); /* execve */
		syscall6(60, 99, 0, 0, 0, 0, 0);                           /* _exit */
	}
	int status = 0;
	if (syscall6(61, r, (long)&status, 0, 0, 0, 0) != r)
		return 61;
	return (status >> 8) & 0xff;
}
