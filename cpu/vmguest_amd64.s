// VMX instructions and the switch to a vCPU (vmguest.go).
//
// The Go assembler has no VMX mnemonics; they are bytes, with the
// operands fixed as the comments say (SDM Vol. 3C chapter 31):
//   VMXON   m64    F3 0F C7 /6   operand (AX)
//   VMCLEAR m64    66 0F C7 /6   operand (AX)
//   VMPTRLD m64    0F C7 /6      operand (AX)
//   VMREAD  r/m64, r64   0F 78 /r   AX <- field DX
//   VMWRITE r64, r/m64   0F 79 /r   field DX <- AX
//   VMLAUNCH 0F 01 C2, VMRESUME 0F 01 C3
//   INVEPT  r64, m128    66 0F 38 80 /r   type AX, descriptor (DX)
//   INVVPID r64, m128    66 0F 38 81 /r   type AX, descriptor (DX)
// A VMX instruction reports failure in RFLAGS: CF (VMfailInvalid) or ZF
// (VMfailValid) set (SDM Vol. 3C §31.2).

#include "textflag.h"
#include "go_asm.h"
#include "entry.h"


#define VMXON_AX	BYTE $0xf3; BYTE $0x0f; BYTE $0xc7; BYTE $0x30
#define VMCLEAR_AX	BYTE $0x66; BYTE $0x0f; BYTE $0xc7; BYTE $0x30
#define VMPTRLD_AX	BYTE $0x0f; BYTE $0xc7; BYTE $0x30
#define VMREAD_DX_AX	BYTE $0x0f; BYTE $0x78; BYTE $0xd0
#define VMWRITE_AX_DX	BYTE $0x0f; BYTE $0x79; BYTE $0xd0
#define VMLAUNCH	BYTE $0x0f; BYTE $0x01; BYTE $0xc2
#define VMRESUME	BYTE $0x0f; BYTE $0x01; BYTE $0xc3
#define INVEPT_AX_DX	BYTE $0x66; BYTE $0x0f; BYTE $0x38; BYTE $0x80; BYTE $0x02
#define INVVPID_AX_DX	BYTE $0x66; BYTE $0x0f; BYTE $0x38; BYTE $0x81; BYTE $0x02
#define RDPKRU		BYTE $0x0f; BYTE $0x01; BYTE $0xee
#define WRPKRU		BYTE $0x0f; BYTE $0x01; BYTE $0xef
#define FNINIT		BYTE $0xdb; BYTE $0xe3

// VMREAD of field f into the 32- or 64-bit context field dst.
#define READ64(f, dst) MOVL $f, DX; VMREAD_DX_AX; MOVQ AX, dst(DI)
#define READ32(f, dst) MOVL $f, DX; VMREAD_DX_AX; MOVL AX, dst(DI)

// func vmxon(pa uint64) bool
TEXT ·vmxon(SB),NOSPLIT,$0-9
	LEAQ	pa+0(FP), AX
	VMXON_AX
	SETHI	ret+8(FP)		// CF=0 and ZF=0: success
	RET

// func vmclear(pa uint64) bool
TEXT ·vmclear(SB),NOSPLIT,$0-9
	LEAQ	pa+0(FP), AX
	VMCLEAR_AX
	SETHI	ret+8(FP)
	RET

// func vmptrld(pa uint64) bool
TEXT ·vmptrld(SB),NOSPLIT,$0-9
	LEAQ	pa+0(FP), AX
	VMPTRLD_AX
	SETHI	ret+8(FP)
	RET

// func vmread(f uint64) uint64
TEXT ·vmread(SB),NOSPLIT,$0-16
	MOVQ	f+0(FP), DX
	XORL	AX, AX
	VMREAD_DX_AX
	MOVQ	AX, ret+8(FP)
	RET

// func vmwrite(f, v uint64) bool
TEXT ·vmwrite(SB),NOSPLIT,$0-17
	MOVQ	f+0(FP), DX
	MOVQ	v+8(FP), AX
	VMWRITE_AX_DX
	SETHI	ret+16(FP)
	RET

// func invept(typ uint64, eptp uint64) bool
// The descriptor is {EPTP, 0} (SDM Vol. 2 "INVEPT").
TEXT ·invept(SB),NOSPLIT,$16-17
	MOVQ	eptp+8(FP), AX
	MOVQ	AX, 0(SP)
	MOVQ	$0, 8(SP)
	MOVQ	typ+0(FP), AX
	LEAQ	0(SP), DX
	INVEPT_AX_DX
	SETHI	ret+16(FP)
	RET

// func invvpid(typ uint64, vpid uint16, addr uint64) bool
// The descriptor is {VPID in bits 15:0, linear address} (SDM Vol. 2 "INVVPID").
TEXT ·invvpid(SB),NOSPLIT,$16-25
	MOVWQZX	vpid+8(FP), AX
	MOVQ	AX, 0(SP)
	MOVQ	addr+16(FP), AX
	MOVQ	AX, 8(SP)
	MOVQ	typ+0(FP), AX
	LEAQ	0(SP), DX
	INVVPID_AX_DX
	SETHI	ret+24(FP)
	RET

// func RaiseNMI()
TEXT ·RaiseNMI(SB),NOSPLIT,$0-0
	INT	$2
	RET

// func restoreFlags(fl uint64)
TEXT ·restoreFlags(SB),NOSPLIT,$0-8
	PUSHQ	fl+0(FP)
	POPFQ
	RET

// func vmExitPC() uintptr
TEXT ·vmExitPC(SB),NOSPLIT,$0-8
	MOVQ	$vmExit<>(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// func enterGuest(ctx *VMContext)
//
// The caller (EnterGuest) made ctx's VMCS current with interrupts off.
// Stack while the guest runs (HOST_RSP points at the first word):
//   0: ctx   8: R15  16: R14  24: R13  32: R12  40: BX  48: BP  56: RFLAGS
TEXT ·enterGuest(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	ctx+0(FP), DI
	PUSHFQ
	CLI
	PUSHQ	BP
	PUSHQ	BX
	PUSHQ	R12
	PUSHQ	R13
	PUSHQ	R14
	PUSHQ	R15
	PUSHQ	DI
	MOVL	$const_VMEntryOK, VMContext_EntryFailed(DI)

	// Host state that moves: the stack, the thread's FS base, CR4.
	MOVQ	SP, AX
	CMPQ	AX, VMContext_hostRSP(DI)
	JEQ	rspOK
	MOVL	$const_vmcsHostRSP, DX
	VMWRITE_AX_DX
	MOVQ	AX, VMContext_hostRSP(DI)
rspOK:
	MOVQ	PERCPU(perCPU_kernelFS), AX
	CMPQ	AX, VMContext_hostFS(DI)
	JEQ	fsOK
	MOVL	$const_vmcsHostFSBase, DX
	VMWRITE_AX_DX
	MOVQ	AX, VMContext_hostFS(DI)
fsOK:
	CMPL	VMContext_UsePKRU(DI), $0
	JEQ	cr4
	// WRPKRU needs CR4.PKE (switched lazily, as for level 2 contexts).
	CMPQ	PERCPU(perCPU_pke), $0
	JNE	pkeOn
	MOVQ	CR4, AX
	ORQ	$const_CR4PKE, AX
	MOVQ	AX, CR4
	MOVQ	$1, PERCPU(perCPU_pke)
pkeOn:
	MOVL	VMContext_PKRU(DI), AX
	XORL	CX, CX
	XORL	DX, DX
	WRPKRU
cr4:
	MOVQ	CR4, AX
	CMPQ	AX, VMContext_hostCR4(DI)
	JEQ	cr4OK
	MOVL	$const_vmcsHostCR4, DX
	VMWRITE_AX_DX
	MOVQ	AX, VMContext_hostCR4(DI)
cr4OK:
	// Vector state, then the guest's XCR0.
	MOVQ	VMContext_Xsave(DI), SI
	MOVL	$-1, AX
	MOVL	$-1, DX
	XRSTOR64	(SI)
	MOVQ	VMContext_XCR0(DI), AX
	CMPQ	AX, ·XCR0(SB)
	JEQ	xcr0OK
	MOVQ	AX, DX
	SHRQ	$32, DX
	XORL	CX, CX
	XSETBV
xcr0OK:
	MOVQ	VMContext_CR2(DI), AX
	MOVQ	AX, CR2

	// The VMCS writes the host asked for.
	MOVL	VMContext_Dirty(DI), BX
	TESTL	BX, BX
	JEQ	launch
	TESTL	$const_VMDirtyRIP, BX
	JEQ	noRIP
	MOVQ	VMContext_RIP(DI), AX
	MOVL	$const_vmcsGuestRIP, DX
	VMWRITE_AX_DX
noRIP:
	TESTL	$const_VMDirtyRSP, BX
	JEQ	noRSP
	MOVQ	VMContext_RSP(DI), AX
	MOVL	$const_vmcsGuestRSP, DX
	VMWRITE_AX_DX
noRSP:
	TESTL	$const_VMDirtyRFLAGS, BX
	JEQ	noRFLAGS
	MOVQ	VMContext_RFLAGS(DI), AX
	MOVL	$const_vmcsGuestRFLAGS, DX
	VMWRITE_AX_DX
noRFLAGS:
	TESTL	$const_VMDirtyProcControls, BX
	JEQ	noProcControls
	MOVL	VMContext_ProcControls(DI), AX
	MOVL	$const_vmcsProcControls, DX
	VMWRITE_AX_DX
noProcControls:
	TESTL	$const_VMDirtyTimer, BX
	JEQ	noTimer
	MOVL	VMContext_Timer(DI), AX
	MOVL	$const_vmcsTimer, DX
	VMWRITE_AX_DX
noTimer:
	TESTL	$const_VMDirtyInterruptible, BX
	JEQ	noInterruptible
	MOVL	VMContext_Interruptible(DI), AX
	MOVL	$const_vmcsInterruptibility, DX
	VMWRITE_AX_DX
noInterruptible:
	TESTL	$const_VMDirtyEvent, BX
	JEQ	noEvent
	MOVL	VMContext_EntryEvent(DI), AX
	MOVL	$const_vmcsEntryEvent, DX
	VMWRITE_AX_DX
	MOVL	VMContext_EntryErrorCode(DI), AX
	MOVL	$const_vmcsEntryErrorCode, DX
	VMWRITE_AX_DX
	MOVL	VMContext_EntryInstrLen(DI), AX
	MOVL	$const_vmcsEntryInstrLen, DX
	VMWRITE_AX_DX
noEvent:
	MOVL	$0, VMContext_Dirty(DI)
launch:
	// Guest registers last; MOVs keep the flags of the launched test.
	CMPL	VMContext_Launched(DI), $0
	MOVQ	VMContext_GPR+0(DI), AX
	MOVQ	VMContext_GPR+8(DI), CX
	MOVQ	VMContext_GPR+16(DI), DX
	MOVQ	VMContext_GPR+24(DI), BX
	MOVQ	VMContext_GPR+40(DI), BP
	MOVQ	VMContext_GPR+48(DI), SI
	MOVQ	VMContext_GPR+64(DI), R8
	MOVQ	VMContext_GPR+72(DI), R9
	MOVQ	VMContext_GPR+80(DI), R10
	MOVQ	VMContext_GPR+88(DI), R11
	MOVQ	VMContext_GPR+96(DI), R12
	MOVQ	VMContext_GPR+104(DI), R13
	MOVQ	VMContext_GPR+112(DI), R14
	MOVQ	VMContext_GPR+120(DI), R15
	MOVQ	VMContext_GPR+56(DI), DI
	JNE	resume
	VMLAUNCH
	JMP	failed
resume:
	VMRESUME
failed:
	// The entry did not happen: CF set is VMfailInvalid, ZF VMfailValid.
	MOVQ	0(SP), DI
	MOVL	$const_VMEntryFailValid, VMContext_EntryFailed(DI)
	JCS	failInvalid
	JMP	restore<>(SB)
failInvalid:
	MOVL	$const_VMEntryFailInvalid, VMContext_EntryFailed(DI)
	JMP	restore<>(SB)

// vmExit is HOST_RIP: the CPU arrives with the host state of the VMCS
// loaded, RSP = HOST_RSP (EnterGuest's stack above), interrupts off and
// every guest general register but RSP still live.
TEXT vmExit<>(SB),NOSPLIT|NOFRAME,$0
	XCHGQ	DI, 0(SP)
	MOVQ	AX, VMContext_GPR+0(DI)
	MOVQ	CX, VMContext_GPR+8(DI)
	MOVQ	DX, VMContext_GPR+16(DI)
	MOVQ	BX, VMContext_GPR+24(DI)
	MOVQ	BP, VMContext_GPR+40(DI)
	MOVQ	SI, VMContext_GPR+48(DI)
	MOVQ	R8, VMContext_GPR+64(DI)
	MOVQ	R9, VMContext_GPR+72(DI)
	MOVQ	R10, VMContext_GPR+80(DI)
	MOVQ	R11, VMContext_GPR+88(DI)
	MOVQ	R12, VMContext_GPR+96(DI)
	MOVQ	R13, VMContext_GPR+104(DI)
	MOVQ	R14, VMContext_GPR+112(DI)
	MOVQ	R15, VMContext_GPR+120(DI)
	MOVQ	0(SP), AX
	MOVQ	AX, VMContext_GPR+56(DI)
	MOVQ	DI, 0(SP)
	MOVL	$1, VMContext_Launched(DI)
	MOVQ	CR2, AX
	MOVQ	AX, VMContext_CR2(DI)
	READ32(const_vmcsExitReason, VMContext_ExitReason)
	READ64(const_vmcsExitQual, VMContext_ExitQual)
	READ32(const_vmcsExitInstrLen, VMContext_ExitInstrLen)
	READ32(const_vmcsExitIntrInfo, VMContext_ExitIntrInfo)
	READ32(const_vmcsExitIntrError, VMContext_ExitIntrError)
	READ32(const_vmcsIDTVectoring, VMContext_IDTVectoring)
	READ32(const_vmcsIDTVectoringErr, VMContext_IDTVectoringError)
	READ32(const_vmcsExitInstrInfo, VMContext_ExitInstrInfo)
	READ64(const_vmcsGuestPhys, VMContext_GuestPhys)
	READ64(const_vmcsGuestLinear, VMContext_GuestLinear)
	READ64(const_vmcsGuestRIP, VMContext_RIP)
	READ64(const_vmcsGuestRSP, VMContext_RSP)
	READ64(const_vmcsGuestRFLAGS, VMContext_RFLAGS)
	READ32(const_vmcsInterruptibility, VMContext_Interruptible)
	JMP	restore<>(SB)

// restore gives the host back what the VM exit did not (vmguest.go), DI =
// ctx, then returns from EnterGuest.
TEXT restore<>(SB),NOSPLIT|NOFRAME,$0
	MOVQ	VMContext_XCR0(DI), AX
	CMPQ	AX, ·XCR0(SB)
	JEQ	xsave
	MOVQ	·XCR0(SB), AX
	MOVQ	AX, DX
	SHRQ	$32, DX
	XORL	CX, CX
	XSETBV
xsave:
	MOVQ	VMContext_Xsave(DI), SI
	MOVL	$-1, AX
	MOVL	$-1, DX
	XSAVE64	(SI)
	LDMXCSR	PERCPU(perCPU_mxcsr)
	FNINIT
	CMPL	VMContext_UsePKRU(DI), $0
	JEQ	tables
	XORL	CX, CX
	RDPKRU
	MOVL	AX, VMContext_PKRU(DI)
	XORL	AX, AX
	XORL	CX, CX
	XORL	DX, DX
	WRPKRU
tables:
	MOVQ	$·gdtr(SB), AX
	LGDT	(AX)
	MOVQ	$·idtr(SB), AX
	LIDT	(AX)
	JMP	unwind<>(SB)

// unwind pops EnterGuest's frame (as loads: the assembler would count
// POPs in this function as unbalanced) and returns to its caller.
TEXT unwind<>(SB),NOSPLIT|NOFRAME,$0
	MOVQ	8(SP), R15
	MOVQ	16(SP), R14
	MOVQ	24(SP), R13
	MOVQ	32(SP), R12
	MOVQ	40(SP), BX
	MOVQ	48(SP), BP
	PUSHQ	56(SP)
	POPFQ
	LEAQ	64(SP), SP
	RET

// vmExitBench is HOST_RIP while the bare VM exit benchmark runs
// (SetVMBench): the least a hypervisor can do for a VMCALL, move the
// guest's RIP past it and resume, vmBenchLeft times; the last VMCALL
// exits the ordinary way. The guest must keep nothing in RAX and RDX.
TEXT vmExitBench<>(SB),NOSPLIT|NOFRAME,$0
	MOVL	$const_vmcsExitReason, DX
	VMREAD_DX_AX
	CMPL	AX, $const_exitVMCALL
	JNE	last			// any other exit: the ordinary path
	DECQ	·vmBenchLeft(SB)
	JZ	last
	MOVL	$const_vmcsGuestRIP, DX
	VMREAD_DX_AX
	ADDQ	$3, AX
	VMWRITE_AX_DX
	VMRESUME
	MOVQ	0(SP), DI
	MOVL	$const_VMEntryFailValid, VMContext_EntryFailed(DI)
	JMP	restore<>(SB)
last:
	JMP	vmExit<>(SB)

// func vmExitBenchPC() uintptr
TEXT ·vmExitBenchPC(SB),NOSPLIT,$0-8
	MOVQ	$vmExitBench<>(SB), AX
	MOVQ	AX, ret+0(FP)
	RET
