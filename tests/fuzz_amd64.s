#include "textflag.h"

// func hostCPUState() (mxcsr uint32, fcw uint16, rflags uint64)
// The calling goroutine's MXCSR, x87 control word and RFLAGS, for the
// fuzzer's check that no guest state leaks back into the host.
TEXT ·hostCPUState(SB),NOSPLIT,$0-16
	STMXCSR	mxcsr+0(FP)
	// FNSTCW [RSP+12], i.e. fcw+4(FP): the assembler's FSTCW waits for
	// pending x87 exceptions, which would raise one here.
	BYTE	$0xd9; BYTE $0x7c; BYTE $0x24; BYTE $0x0c
	PUSHFQ
	POPQ	AX
	MOVQ	AX, rflags+8(FP)
	RET

// func setHostFPControl(mxcsr uint32, fcw uint16)
// Puts back the MXCSR and x87 control word a guest leaked into the host,
// so that one leak is reported once. FNCLEX first: a pending x87
// exception would be raised by the next waiting x87 instruction.
TEXT ·setHostFPControl(SB),NOSPLIT,$0-6
	BYTE	$0xdb; BYTE $0xe2 // FNCLEX
	LDMXCSR	mxcsr+0(FP)
	FLDCW	fcw+4(FP)
	RET
