/* The smallest program: built static, static-PIE and dynamic. */
#include <stdio.h>

int main(int argc, char **argv) {
	printf("hello from %s (%d args)\n", argv[0], argc);
	return 0;
}
