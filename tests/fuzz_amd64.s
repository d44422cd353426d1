#include "textflag.h"

// func setHostFPControl(mxcsr uint32, fcw uint16)
// Puts back the MXCSR and x87 control word a guest leaked into the host,
// so that one leak is reported once. FNCLEX first: a pending x87
// exception would be raised by the next waiting x87 instruction.
TEXT ·setHostFPControl(SB),NOSPLIT,$0-6
	BYTE	$0xdb; BYTE $0xe2 // FNCLEX
	LDMXCSR	mxcsr+0(FP)
	FLDCW	fcw+4(FP)
	RET
