/* System calls Linux does not have: ENOSYS, and the program goes on. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
	long nums[] = {500, 1000, 4095};
	for (int i = 0; i < 3; i++) {
		errno = 0;
		long r = syscall(nums[i], 1, 2, 3);
		printf("syscall(%ld) = %ld, errno %s\n", nums[i], r, errno == ENOSYS ? "ENOSYS" : strerror(errno));
	}
	printf("getpid works after: %s\n", syscall(SYS_getpid) > 0 ? "yes" : "no");
	return 0;
}
