#include "textflag.h"
#include "go_asm.h"
#include "entry.h"

TEXT ·Inb(SB),NOSPLIT,$0-9
	MOVW	port+0(FP), DX
	INB
	MOVB	AX, ret+8(FP)
	RET

TEXT ·Outb(SB),NOSPLIT,$0-3
	MOVW	port+0(FP), DX
	MOVB	v+2(FP), AX
	OUTB
	RET

TEXT ·Outw(SB),NOSPLIT,$0-4
	MOVW	port+0(FP), DX
	MOVW	v+2(FP), AX
	OUTW
	RET

TEXT ·Outl(SB),NOSPLIT,$0-8
	MOVW	port+0(FP), DX
	MOVL	v+4(FP), AX
	OUTL
	RET

TEXT ·Rdmsr(SB),NOSPLIT,$0-16
	MOVL	msr+0(FP), CX
	RDMSR
	SHLQ	$32, DX
	MOVL	AX, AX
	ORQ	DX, AX
	MOVQ	AX, ret+8(FP)
	RET

TEXT ·Wrmsr(SB),NOSPLIT,$0-16
	MOVL	msr+0(FP), CX
	MOVQ	v+8(FP), AX
	MOVQ	AX, DX
	SHRQ	$32, DX
	WRMSR
	RET

TEXT ·CPUID(SB),NOSPLIT,$0-24
	MOVL	leaf+0(FP), AX
	MOVL	sub+4(FP), CX
	CPUID
	MOVL	AX, a+8(FP)
	MOVL	BX, b+12(FP)
	MOVL	CX, c+16(FP)
	MOVL	DX, d+20(FP)
	RET

TEXT ·CR0(SB),NOSPLIT,$0-8
	MOVQ	CR0, AX
	MOVQ	AX, ret+0(FP)
	RET

TEXT ·SetCR0(SB),NOSPLIT,$0-8
	MOVQ	v+0(FP), AX
	MOVQ	AX, CR0
	RET

TEXT ·CR2(SB),NOSPLIT,$0-8
	MOVQ	CR2, AX
	MOVQ	AX, ret+0(FP)
	RET

TEXT ·CR3(SB),NOSPLIT,$0-8
	MOVQ	CR3, AX
	MOVQ	AX, ret+0(FP)
	RET

TEXT ·SetCR3(SB),NOSPLIT,$0-8
	MOVQ	v+0(FP), AX
	MOVQ	AX, CR3
	RET

TEXT ·CR4(SB),NOSPLIT,$0-8
	MOVQ	CR4, AX
	MOVQ	AX, ret+0(FP)
	RET

TEXT ·SetCR4(SB),NOSPLIT,$0-8
	MOVQ	v+0(FP), AX
	MOVQ	AX, CR4
	RET

TEXT ·Xgetbv(SB),NOSPLIT,$0-16
	MOVL	idx+0(FP), CX
	XGETBV
	SHLQ	$32, DX
	MOVL	AX, AX
	ORQ	DX, AX
	MOVQ	AX, ret+8(FP)
	RET

TEXT ·Xsetbv(SB),NOSPLIT,$0-16
	MOVL	idx+0(FP), CX
	MOVQ	v+8(FP), AX
	MOVQ	AX, DX
	SHRQ	$32, DX
	XSETBV
	RET

TEXT ·Rdpkru(SB),NOSPLIT,$0-4
	PUSHFQ
	CLI
	XORL	AX, AX
	CMPQ	PERCPU(perCPU_pke), $0
	JEQ	off
	XORL	CX, CX
	BYTE	$0x0f; BYTE $0x01; BYTE $0xee	// RDPKRU
off:
	POPFQ
	MOVL	AX, ret+0(FP)
	RET

TEXT ·Wrpkru(SB),NOSPLIT,$0-4
	PUSHFQ
	CLI
	CMPQ	PERCPU(perCPU_pke), $0
	JNE	on
	MOVQ	CR4, AX
	ORQ	$const_CR4PKE, AX
	MOVQ	AX, CR4
	MOVQ	$1, PERCPU(perCPU_pke)
on:
	MOVL	v+0(FP), AX
	XORL	CX, CX
	XORL	DX, DX
	BYTE	$0x0f; BYTE $0x01; BYTE $0xef	// WRPKRU
	POPFQ
	RET

TEXT ·Invlpg(SB),NOSPLIT,$0-8
	MOVQ	va+0(FP), AX
	INVLPG	(AX)
	RET

TEXT ·Rdtsc(SB),NOSPLIT,$0-8
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ret+0(FP)
	RET

// func Rdtscp() (tsc uint64, aux uint32)
TEXT ·Rdtscp(SB),NOSPLIT,$0-12
	RDTSCP
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, tsc+0(FP)
	MOVL	CX, aux+8(FP)
	RET

TEXT ·RdtscOrdered(SB),NOSPLIT,$0-8
	LFENCE
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ret+0(FP)
	RET

TEXT ·Pause(SB),NOSPLIT,$0-0
	PAUSE
	RET

TEXT ·Halt(SB),NOSPLIT,$0-0
	STI
	HLT
	CLI
	RET

TEXT ·HaltForever(SB),NOSPLIT,$0-0
	CLI
again:
	HLT
	JMP	again

TEXT ·DisableInterrupts(SB),NOSPLIT,$0-0
	CLI
	RET

TEXT ·EnableInterrupts(SB),NOSPLIT,$0-0
	STI
	RET

// Xsave clears the whole XSAVE header first: XSAVE writes XSTATE_BV only
// for the components it saves (RFBM) and leaves its other bits, XCOMP_BV
// and the reserved bytes as they were (SDM Vol. 1 §13.7), and XRSTOR
// faults on any of them set (§13.8.1).
TEXT ·Xsave(SB),NOSPLIT,$0-8
	MOVQ	area+0(FP), DI
	MOVQ	$0, 512(DI)
	MOVQ	$0, 520(DI)
	MOVQ	$0, 528(DI)
	MOVQ	$0, 536(DI)
	MOVQ	$0, 544(DI)
	MOVQ	$0, 552(DI)
	MOVQ	$0, 560(DI)
	MOVQ	$0, 568(DI)
	MOVL	$-1, AX
	MOVL	$-1, DX
	XSAVE64	(DI)
	RET

TEXT ·lgdt(SB),NOSPLIT,$0-8
	MOVQ	p+0(FP), AX
	LGDT	(AX)
	RET

TEXT ·lidt(SB),NOSPLIT,$0-8
	MOVQ	p+0(FP), AX
	LIDT	(AX)
	RET

TEXT ·ltr(SB),NOSPLIT,$0-2
	MOVW	sel+0(FP), AX
	LTR	AX
	RET

// reloadSegments loads the new GDT's kernel selectors: data segments
// directly, CS through a far return (SDM Vol. 3A §3.4.3).
TEXT ·reloadSegments(SB),NOSPLIT,$0-0
	MOVL	$const_SelKernelData, AX
	MOVW	AX, DS
	MOVW	AX, ES
	MOVW	AX, SS
	XORL	AX, AX
	MOVW	AX, GS
	// FS keeps its base MSR; loading a null selector in 64-bit mode
	// would not clear it, but leave FS alone anyway.
	LEAQ	reloaded<>(SB), AX
	PUSHQ	$const_SelKernelCode
	PUSHQ	AX
	BYTE	$0x48; BYTE $0xcb	// RETFQ
TEXT reloaded<>(SB),NOSPLIT|NOFRAME,$0
	RET

TEXT ·Flags(SB),NOSPLIT,$0-8
	PUSHFQ
	POPQ	AX
	MOVQ	AX, ret+0(FP)
	RET

TEXT ·MXCSR(SB),NOSPLIT,$8-4
	STMXCSR	0(SP)
	MOVL	0(SP), AX
	MOVL	AX, ret+0(FP)
	RET

TEXT ·FPUControl(SB),NOSPLIT,$8-2
	// FNSTCW [RSP]: the assembler's FSTCW waits for pending x87
	// exceptions first, which would raise one here.
	BYTE	$0xd9; BYTE $0x3c; BYTE $0x24
	MOVW	0(SP), AX
	MOVW	AX, ret+0(FP)
	RET

TEXT ·DR7(SB),NOSPLIT,$0-8
	MOVQ	DR7, AX
	MOVQ	AX, ret+0(FP)
	RET

TEXT ·SetDR7(SB),NOSPLIT,$0-8
	MOVQ	v+0(FP), AX
	MOVQ	AX, DR7
	RET

TEXT ·SetDR6(SB),NOSPLIT,$0-8
	MOVQ	v+0(FP), AX
	MOVQ	AX, DR6
	RET

// func Invpcid(typ uint64, pcid uint64, va uintptr)
// The descriptor is 16 bytes: PCID in bits 11:0, the address in 127:64.
TEXT ·Invpcid(SB),NOSPLIT,$16-24
	MOVQ	pcid+8(FP), AX
	MOVQ	AX, 0(SP)
	MOVQ	va+16(FP), AX
	MOVQ	AX, 8(SP)
	MOVQ	typ+0(FP), AX
	// INVPCID AX, (SP): 66 0F 38 82 /r with ModRM 04 (SIB) and SIB 24.
	BYTE	$0x66; BYTE $0x0f; BYTE $0x38; BYTE $0x82; BYTE $0x04; BYTE $0x24
	RET
