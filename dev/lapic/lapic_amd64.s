#include "textflag.h"

// func storeFence()
// MFENCE then LFENCE: WRMSR to an x2APIC register is not serializing, so
// an IPI could overtake the sender's earlier stores without them (SDM
// Vol. 3A §12.12.3).
TEXT ·storeFence(SB), NOSPLIT|NOFRAME, $0-0
	MFENCE
	LFENCE
	RET
