/* argv, envp and the auxiliary vector as a static Linux program sees them.
 * Prints only what is the same on every Linux: no addresses, no ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv, char **envp) {
	printf("argc=%d\n", argc);
	for (int i = 0; i < argc; i++)
		printf("argv[%d]=\"%s\"\n", i, argv[i]);
	if (argv[argc] != NULL)
		printf("argv not NULL-terminated\n");
	int n = 0;
	for (char **e = envp; *e; e++, n++)
		printf("env[%d]=\"%s\"\n", n, *e);
	printf("environ==envp: %s\n", environ == envp ? "yes" : "no");
	printf("getenv(PATH)=%s\n", getenv("PATH") ? getenv("PATH") : "(null)");
	printf("getenv(NOPE)=%s\n", getenv("NOPE") ? getenv("NOPE") : "(null)");
	printf("AT_PAGESZ=%lu\n", getauxval(AT_PAGESZ));
	printf("sysconf(_SC_PAGESIZE)=%ld\n", sysconf(_SC_PAGESIZE));
	printf("AT_CLKTCK=%lu\n", getauxval(AT_CLKTCK));
	printf("AT_PHENT=%lu\n", getauxval(AT_PHENT));
	printf("AT_PHNUM>0: %s\n", getauxval(AT_PHNUM) > 0 ? "yes" : "no");
	printf("AT_PHDR set: %s\n", getauxval(AT_PHDR) ? "yes" : "no");
	printf("AT_ENTRY set: %s\n", getauxval(AT_ENTRY) ? "yes" : "no");
	printf("AT_SECURE=%lu\n", getauxval(AT_SECURE));
	unsigned char *rnd = (unsigned char *)getauxval(AT_RANDOM);
	if (rnd) {
		unsigned sum = 0;
		for (int i = 0; i < 16; i++)
			sum |= rnd[i];
		printf("AT_RANDOM: 16 readable bytes%s\n", sum ? "" : " (all zero!)");
	} else {
		printf("AT_RANDOM: missing\n");
	}
	const char *fn = (const char *)getauxval(AT_EXECFN);
	printf("AT_EXECFN=%s\n", fn ? fn : "(missing)");
	return 0;
}
