/*
 * getppid: 1,000,000 getppid() system calls, for the linuxbench workload
 * "getppid-1000000" (the system-call round trip inside a whole program).
 */
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
	long sum = 0;
	for (int i = 0; i < 1000000; i++)
		sum += syscall(SYS_getppid);
	return sum < 0;
}
