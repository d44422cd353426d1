#include "textflag.h"

// func backwardCopy(dst, src, n uintptr)
// Copies n bytes backwards with DF set, as the Go runtime's memmove does
// on CPUs without AVX (STD; REP MOVSB; CLD): interrupts that arrive
// during the copy find DF set in ring 0.
TEXT ·backwardCopy(SB),NOSPLIT,$0-24
	MOVQ	dst+0(FP), DI
	MOVQ	src+8(FP), SI
	MOVQ	n+16(FP), CX
	LEAQ	-1(DI)(CX*1), DI
	LEAQ	-1(SI)(CX*1), SI
	STD
	REP;	MOVSB
	CLD
	RET
