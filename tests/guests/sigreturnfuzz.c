/*
 * sigreturnfuzz: rt_sigreturn with frames of garbage. argv[1] is a seed,
 * argv[2] the mode:
 *   "garbage"  the whole frame is random: the process may die of any
 *              signal, but the kernel must stay up;
 *   "fpstate"  a frame whose registers are sound (RIP at a stub that exits
 *              0, a good stack) but whose fpstate points at 4 KiB of random
 *              bytes: the host must sanitise them (reserved MXCSR bits, an
 *              XSTATE_BV naming components the kernel does not enable,
 *              PKRU) so that restoring them cannot fault in the kernel,
 *              and the program exits 0.
 */
#include "linux.h"

static u64 state = 0x2545f4914f6cdd1dUL;

static u64 next(void)
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

extern u64 guest_start_rsp __attribute__((visibility("hidden")));

static u64 frame[512] __attribute__((aligned(64)));
static u64 fpstate[1024] __attribute__((aligned(64)));
static u64 stack2[1024] __attribute__((aligned(16)));

__attribute__((noreturn)) static void exit_stub(void)
{
	syscall6(60, 0, 0, 0, 0, 0, 0);
	for (;;)
		;
}

/* Offsets in the rt_sigframe the handler returns past (RSP points at the
 * ucontext): uc_flags 0, uc_stack 16, uc_mcontext 40 (r8..r15, rdi, rsi,
 * rbp, rbx, rdx, rax, rcx, rsp, rip, eflags, csgsfs, err, trapno, oldmask,
 * cr2, fpstate), uc_sigmask 296. */
#define MC(i) (5 + (i))

long main(long a)
{
	(void)a;
	u64 *sp = (u64 *)guest_start_rsp;
	int fp = 0;
	if (sp[0] >= 2) {
		const char *s = (const char *)sp[2];
		u64 seed = 0;
		while (*s >= '0' && *s <= '9')
			seed = seed * 10 + (u64)(*s++ - '0');
		state ^= seed * 0x9e3779b97f4a7c15UL;
		if (!state)
			state = 1;
	}
	if (sp[0] >= 3 && ((const char *)sp[3])[0] == 'f')
		fp = 1;
	for (int i = 0; i < 512; i++)
		frame[i] = next();
	for (int i = 0; i < 1024; i++)
		fpstate[i] = next();
	if (fp) {
		for (int i = 0; i < 24; i++)
			frame[MC(i)] = 0;
		frame[0] = 0;
		frame[MC(15)] = (u64)&stack2[1000];   /* rsp */
		frame[MC(16)] = (u64)exit_stub;       /* rip */
		frame[MC(17)] = 0x202;                /* eflags */
		frame[MC(18)] = 0x2b000000000033UL;   /* csgsfs */
		frame[MC(23)] = (u64)fpstate;         /* fpstate */
		frame[37] = 0;                        /* uc_sigmask */
	}
	__asm__ volatile("mov %0, %%rsp\n\tmov $15, %%eax\n\tsyscall\n\tud2" : : "r"(frame) : "memory");
	return 3;
}
