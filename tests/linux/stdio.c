/* stdio: formatted output, reading stdin line by line, stderr, and (with
 * the argument "big") enough output to need many console chunks. */
#include <stdio.h>
#include <string.h>
#include <ctype.h>

int main(int argc, char **argv) {
	char line[512];
	int n = 0;
	unsigned long bytes = 0;
	while (fgets(line, sizeof line, stdin)) {
		n++;
		bytes += strlen(line);
		for (char *p = line; *p; p++)
			*p = toupper((unsigned char)*p);
		printf("%3d: %s", n, line);
	}
	printf("lines=%d bytes=%lu\n", n, bytes);
	printf("%d %i %u %x %X %o %lld %llu\n", -42, 17, 3000000000u, 0xbeef, 0xcafe, 0755, -1234567890123LL, 18446744073709551615ULL);
	printf("[%8.3f] [%-8d] [%08.2e] [%g] [%g] [%.0f]\n", 3.14159265, 42, 12345.678, 0.0001, 1e20, 2.5);
	printf("[%s] [%10s] [%-10s] [%.3s] [%c] [%%]\n", "str", "right", "left", "truncate", 'c');
	char buf[64];
	volatile size_t cap = 8; /* truncation on purpose */
	int w = snprintf(buf, cap, "%s", "0123456789");
	printf("snprintf=%d buf=%s\n", w, buf);
	fprintf(stderr, "to stderr: %d\n", n);
	if (argc > 1 && strcmp(argv[1], "big") == 0) {
		for (int i = 0; i < 5000; i++)
			printf("big line %05d %s\n", i, "abcdefghijklmnopqrstuvwxyz0123456789");
		for (int i = 0; i < 300; i++)
			fprintf(stderr, "err line %d\n", i);
	}
	return 0;
}
