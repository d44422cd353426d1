/*
 * A minimal exec for package vdso's tests: runs a static non-PIE x86-64
 * program (Go, glibc or musl) in this process with AT_SYSINFO_EHDR
 * pointing at a vDSO image mapped with its data page below it, the way
 * the beelzebox host does, so that the program's own runtime finds and
 * calls the vDSO.
 *
 *   loader <image> <vvar> <program> [args...]
 *
 * The program's PT_LOAD segments are mapped at their addresses (this
 * loader is position-independent and lies elsewhere); it gets a fresh
 * 8 MiB stack holding argc, argv, an empty environment and the auxiliary
 * vector (System V x86-64 psABI, "Process Initialization").
 */
#define _GNU_SOURCE
#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 4096UL
#define STACK (8UL << 20)

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static unsigned char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	unsigned char *b;
	if (!f || fstat(fileno(f), &st) != 0)
		die(path);
	*n = st.st_size;
	b = malloc(*n + 1);
	if (!b || fread(b, 1, *n, f) != *n)
		die(path);
	fclose(f);
	return b;
}

static int prot(uint32_t flags)
{
	return (flags & PF_R ? PROT_READ : 0) | (flags & PF_W ? PROT_WRITE : 0) | (flags & PF_X ? PROT_EXEC : 0);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: loader image vvar program [args...]\n");
		return 2;
	}
	size_t isz, vsz, psz;
	unsigned char *img = slurp(argv[1], &isz), *vv = slurp(argv[2], &vsz), *prog = slurp(argv[3], &psz);
	if (vsz != PAGE || isz == 0 || isz % PAGE != 0) {
		fprintf(stderr, "bad image or data page size\n");
		return 2;
	}

	/* The data page, then the image. */
	unsigned char *m = mmap(NULL, PAGE + isz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		die("mmap vdso");
	memcpy(m, vv, PAGE);
	memcpy(m + PAGE, img, isz);
	if (mprotect(m, PAGE, PROT_READ) != 0 || mprotect(m + PAGE, isz, PROT_READ | PROT_EXEC) != 0)
		die("mprotect vdso");
	uintptr_t vdso = (uintptr_t)(m + PAGE);

	/* The program. */
	Elf64_Ehdr *eh = (Elf64_Ehdr *)prog;
	if (psz < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_type != ET_EXEC ||
	    eh->e_machine != EM_X86_64 || eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > psz) {
		fprintf(stderr, "%s: not a static non-PIE x86-64 executable\n", argv[3]);
		return 2;
	}
	Elf64_Phdr *ph = (Elf64_Phdr *)(prog + eh->e_phoff);
	uintptr_t phdr = 0;
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_INTERP) {
			fprintf(stderr, "%s: dynamically linked\n", argv[3]);
			return 2;
		}
		if (ph[i].p_type != PT_LOAD)
			continue;
		if (ph[i].p_offset + ph[i].p_filesz > psz || ph[i].p_filesz > ph[i].p_memsz) {
			fprintf(stderr, "bad PT_LOAD\n");
			return 2;
		}
		uintptr_t start = ph[i].p_vaddr & ~(PAGE - 1), end = (ph[i].p_vaddr + ph[i].p_memsz + PAGE - 1) & ~(PAGE - 1);
		void *p = mmap((void *)start, end - start, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p != (void *)start)
			die("mmap program");
		memcpy((void *)ph[i].p_vaddr, prog + ph[i].p_offset, ph[i].p_filesz);
		if (eh->e_phoff >= ph[i].p_offset && eh->e_phoff < ph[i].p_offset + ph[i].p_filesz)
			phdr = ph[i].p_vaddr + (eh->e_phoff - ph[i].p_offset);
		if (mprotect(p, end - start, prot(ph[i].p_flags)) != 0)
			die("mprotect program");
	}

	/* The stack: strings at the top, then the vectors. */
	unsigned char *stk = mmap(NULL, STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (stk == MAP_FAILED)
		die("mmap stack");
	char *top = (char *)stk + STACK;
	int nargs = argc - 3;
	char **args = calloc(nargs, sizeof *args);
	for (int i = nargs - 1; i >= 0; i--) {
		size_t n = strlen(argv[3 + i]) + 1;
		top -= n;
		memcpy(top, argv[3 + i], n);
		args[i] = top;
	}
	top -= 16;
	unsigned char *random = (unsigned char *)top;
	for (int i = 0; i < 16; i++)
		random[i] = (unsigned char)(i * 37 + 11);
	top -= 8;
	strcpy(top, "x86_64");
	char *platform = top;

	uint64_t auxv[][2] = {
		{AT_SYSINFO_EHDR, vdso}, {AT_PHDR, phdr}, {AT_PHENT, sizeof(Elf64_Phdr)}, {AT_PHNUM, eh->e_phnum},
		{AT_PAGESZ, PAGE}, {AT_BASE, 0}, {AT_FLAGS, 0}, {AT_ENTRY, eh->e_entry},
		{AT_UID, getuid()}, {AT_EUID, geteuid()}, {AT_GID, getgid()}, {AT_EGID, getegid()},
		{AT_SECURE, 0}, {AT_RANDOM, (uintptr_t)random}, {AT_HWCAP, getauxval(AT_HWCAP)},
		{AT_HWCAP2, getauxval(AT_HWCAP2)}, {AT_CLKTCK, 100}, {AT_PLATFORM, (uintptr_t)platform},
		{AT_EXECFN, (uintptr_t)args[0]}, {AT_NULL, 0},
	};
	size_t words = 1 + nargs + 1 + 1 + sizeof auxv / sizeof(uint64_t);
	uint64_t *sp = (uint64_t *)(((uintptr_t)top - words * 8) & ~15UL);
	uint64_t *w = sp;
	*w++ = nargs;
	for (int i = 0; i < nargs; i++)
		*w++ = (uintptr_t)args[i];
	*w++ = 0; /* argv end */
	*w++ = 0; /* envp end */
	memcpy(w, auxv, sizeof auxv);

	fflush(NULL);
	/* RDX = 0: no function for the program to register with atexit. */
	__asm__ volatile("mov %0, %%rsp\n\txor %%edx, %%edx\n\tjmp *%1" : : "r"(sp), "r"(eh->e_entry) : "memory");
	__builtin_unreachable();
}
