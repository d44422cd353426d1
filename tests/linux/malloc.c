/* malloc: many small blocks (brk), big blocks (mmap), realloc, calloc,
 * every byte written and checked. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint32_t seed = 12345;
static uint32_t rnd(void) { seed = seed * 1103515245 + 12345; return seed >> 8; }

#define N 20000

int main(void) {
	static unsigned char *p[N];
	static size_t sz[N];
	for (int i = 0; i < N; i++) {
		sz[i] = 1 + rnd() % 512;
		p[i] = malloc(sz[i]);
		if (!p[i]) { printf("small malloc failed\n"); return 1; }
		memset(p[i], i & 0xff, sz[i]);
	}
	int bad = 0;
	for (int i = 0; i < N; i += 2) {
		for (size_t j = 0; j < sz[i]; j++)
			if (p[i][j] != (i & 0xff)) bad++;
		free(p[i]);
		p[i] = NULL;
	}
	for (int i = 1; i < N; i += 2) {
		size_t nsz = sz[i] * 3;
		p[i] = realloc(p[i], nsz);
		for (size_t j = 0; j < sz[i]; j++)
			if (p[i][j] != (i & 0xff)) bad++;
		memset(p[i], 0x5a, nsz);
		sz[i] = nsz;
	}
	printf("small blocks: %d, bad bytes: %d\n", N, bad);
	size_t bigs[] = {128 << 10, 1 << 20, 8 << 20, 32 << 20};
	for (int k = 0; k < 4; k++) {
		unsigned char *b = malloc(bigs[k]);
		if (!b) { printf("big malloc %zu failed\n", bigs[k]); return 1; }
		for (size_t j = 0; j < bigs[k]; j += 4096)
			b[j] = (unsigned char)(j >> 12);
		unsigned long sum = 0;
		for (size_t j = 0; j < bigs[k]; j += 4096)
			sum += b[j];
		printf("big block %zu KiB: page sum %lu\n", bigs[k] >> 10, sum);
		b = realloc(b, bigs[k] * 2);
		sum = 0;
		for (size_t j = 0; j < bigs[k]; j += 4096)
			sum += b[j];
		printf("  realloc x2: page sum %lu\n", sum);
		free(b);
	}
	unsigned char *z = calloc(1 << 20, 4);
	size_t nz = 0;
	for (size_t j = 0; j < (4u << 20); j++)
		if (z[j]) nz++;
	printf("calloc 4 MiB: %zu non-zero bytes\n", nz);
	free(z);
	for (int i = 1; i < N; i += 2)
		free(p[i]);
	/* Many allocations and frees of mid-sized blocks. */
	for (int r = 0; r < 200; r++) {
		void *q = malloc(200000 + r * 100);
		memset(q, r, 1000);
		free(q);
	}
	printf("done\n");
	return 0;
}
