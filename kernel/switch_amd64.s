#include "textflag.h"

// func swtch(save *uintptr, sp uintptr, fs uint64)
// Saves the callee-saved registers on the current kernel stack, stores SP
// in *save, and continues on the stack sp from its own swtch call (or from
// threadTrampoline for a new thread). In the Go ABI0 every register but
// SP, BP and the ones saved here is clobbered by a call anyway.
TEXT ·swtch(SB),NOSPLIT|NOFRAME,$0-24
	MOVQ	save+0(FP), DI
	MOVQ	sp+8(FP), SI
	MOVQ	fs+16(FP), AX
	MOVQ	AX, DX
	SHRQ	$32, DX
	MOVL	$0xC0000100, CX		// IA32_FS_BASE
	// Stores and loads instead of PUSH/POP: the assembler rejects
	// unbalanced pushes, and here the stack changes under us by design.
	LEAQ	-48(SP), SP
	MOVQ	R15, 0(SP)
	MOVQ	R14, 8(SP)
	MOVQ	R13, 16(SP)
	MOVQ	R12, 24(SP)
	MOVQ	BX, 32(SP)
	MOVQ	BP, 40(SP)
	MOVQ	SP, (DI)
	WRMSR
	MOVQ	SI, SP
	MOVQ	0(SP), R15
	MOVQ	8(SP), R14
	MOVQ	16(SP), R13
	MOVQ	24(SP), R12
	MOVQ	32(SP), BX
	MOVQ	40(SP), BP
	LEAQ	48(SP), SP
	RET

// threadTrampoline is where a new thread's first swtch returns: R12 holds
// its entry frame and R13 the cpu package's return path.
// It releases the kernel lock the switch was made with (a handler thread,
// whose body runs with the lock held, goes on to handlerTrampoline, which
// skips that: R15 holds its argument, so the check is on R13).
TEXT ·threadTrampoline(SB),NOSPLIT|NOFRAME,$0
	MOVQ	R12, SP
	LEAQ	·handlerTrampoline(SB), AX
	CMPQ	R13, AX
	JEQ	handler
	PUSHQ	R13
	CALL	·unlockKernel(SB)
	POPQ	R13
handler:
	JMP	R13

TEXT ·threadTrampolinePC(SB),NOSPLIT,$0-8
	LEAQ	·threadTrampoline(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// handlerTrampoline starts a handler thread (spawnHandler): R15 and R14
// hold its arguments. The call goes through handlerThreadMain's ABI0
// wrapper, which takes g (kernelG) from the TLS block and zeroes X15.
TEXT ·handlerTrampoline(SB),NOSPLIT|NOFRAME,$0
	SUBQ	$16, SP
	MOVQ	R15, 0(SP)
	MOVQ	R14, 8(SP)
	CALL	·handlerThreadMain(SB)
	BYTE	$0xcc	// INT3: handlerThreadMain does not return

TEXT ·handlerTrampolinePC(SB),NOSPLIT,$0-8
	LEAQ	·handlerTrampoline(SB), AX
	MOVQ	AX, ret+0(FP)
	RET
