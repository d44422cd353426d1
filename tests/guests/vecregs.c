/*
 * vecregs (fixed; built WITHOUT -mgeneral-regs-only): the host must preserve
 * the guest's SSE state across a system call.
 *
 * 16 rounds: load xmm0-xmm15 with distinct patterns (every byte of the 256
 * differs, and the patterns change every round, so stale state from an
 * earlier round is caught too), make a clock_gettime call, store all 16
 * registers and compare. Loads, the call and stores are one asm block, so the
 * compiler cannot touch the registers in between.
 *
 * Host should observe: "vecregs: ok" and exit(0). Otherwise the guest prints
 * the register and exits 1+index of the first bad register (1..16), or 17 if
 * clock_gettime itself failed.
 */
#include "abi.h"

#define ROUNDS 16

#define LD(i) "movdqu " #i "*16(%[in]), %%xmm" #i "\n\t"
#define ST(i) "movdqu %%xmm" #i ", " #i "*16(%[out])\n\t"

long main(long arg)
{
	(void)arg;
	u8 pat[16][16] __attribute__((aligned(16)));
	u8 got[16][16] __attribute__((aligned(16)));
	struct timespec ts;

	for (int round = 0; round < ROUNDS; round++) {
		for (int r = 0; r < 16; r++)
			for (int b = 0; b < 16; b++) {
				pat[r][b] = (u8)(((r << 4) | b) ^ (round * 0x5b) ^ 0xa5);
				got[r][b] = 0;
			}
		long ret;
		__asm__ volatile(
			LD(0) LD(1) LD(2) LD(3) LD(4) LD(5) LD(6) LD(7)
			LD(8) LD(9) LD(10) LD(11) LD(12) LD(13) LD(14) LD(15)
			"syscall\n\t"
			ST(0) ST(1) ST(2) ST(3) ST(4) ST(5) ST(6) ST(7)
			ST(8) ST(9) ST(10) ST(11) ST(12) ST(13) ST(14) ST(15)
			: "=a"(ret)
			: "0"((long)SYS_CLOCK_GETTIME), "D"((long)CLOCK_MONOTONIC), "S"(&ts),
			  [in] "r"(pat), [out] "r"(got)
			: "rcx", "r11", "memory",
			  "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
			  "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
		if (ret != 0) {
			print("vecregs: FAIL: clock_gettime returned ");
			print_dec(ret);
			print("\n");
			return 17;
		}
		for (int r = 0; r < 16; r++)
			for (int b = 0; b < 16; b++)
				if (got[r][b] != pat[r][b]) {
					print("vecregs: FAIL: xmm");
					print_dec(r);
					print(" changed across a system call in round ");
					print_dec(round);
					print("\n");
					return 1 + r;
				}
	}
	print("vecregs: ok\n");
	return 0;
}
