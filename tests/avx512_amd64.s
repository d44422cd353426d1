#include "textflag.h"

// func avx512Survives(spins uint64) (k1, zlow, zhigh17 uint64)
// Loads K1, ZMM1 and ZMM17 with patterns, spins (timer interrupts and
// thread switches happen meanwhile), and returns what they hold after.
TEXT ·avx512Survives(SB),NOSPLIT,$0-32
	MOVQ	$0x5a5a5a5a5a5a5a5a, AX
	KMOVQ	AX, K1
	VPBROADCASTQ	AX, Z1
	MOVQ	$0x1717171717171717, BX
	VPBROADCASTQ	BX, Z17
	MOVQ	spins+0(FP), CX
loop:
	DECQ	CX
	JNZ	loop
	KMOVQ	K1, AX
	MOVQ	AX, k1+8(FP)
	VEXTRACTI64X4	$1, Z1, Y2
	VEXTRACTI128	$1, Y2, X2
	VPEXTRQ	$1, X2, AX
	MOVQ	AX, zlow+16(FP)
	VEXTRACTI64X4	$1, Z17, Y18
	VEXTRACTI64X2	$1, Y18, X18
	VPEXTRQ	$1, X18, AX
	MOVQ	AX, zhigh17+24(FP)
	VZEROUPPER
	RET
