/* A null dereference with no handler: death by SIGSEGV, status 139. */
#include <stdint.h>
#include <stdio.h>

int main(void) {
	printf("about to fault\n");
	fflush(stdout);
	volatile int *p = (volatile int *)(uintptr_t)0;
	*p = 42;
	printf("still alive?\n");
	return 0;
}
