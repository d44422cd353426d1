/* Ways to end: exit(N) (stdio flushed, atexit handlers run), return N,
 * _exit(N) (nothing flushed), abort(), a signal. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void bye(void) { printf("atexit handler\n"); }

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: exitcode exit|return|_exit|abort|signal N\n");
		return 2;
	}
	int n = atoi(argv[2]);
	atexit(bye);
	printf("buffered text before %s %d\n", argv[1], n);
	if (strcmp(argv[1], "exit") == 0)
		exit(n);
	if (strcmp(argv[1], "_exit") == 0)
		_exit(n);
	if (strcmp(argv[1], "abort") == 0)
		abort();
	if (strcmp(argv[1], "signal") == 0) {
		fflush(stdout);
		raise(n);
		printf("survived signal %d\n", n);
	}
	return n;
}
