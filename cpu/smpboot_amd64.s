#include "textflag.h"
#include "go_asm.h"

// apEntry: an AP arrives here from the trampoline, in 64-bit mode on the
// loader's page tables, interrupts off, with no stack. The kernel's page
// tables first (they map this text where the loader's do), then the
// stack and the FS base the bootstrap processor chose.
TEXT ·apEntry(SB),NOSPLIT|NOFRAME,$0
	MOVQ	·apStart+apBoot_cr3(SB), AX
	MOVQ	AX, CR3
	MOVQ	·apStart+apBoot_stack(SB), SP
	MOVQ	·apStart+apBoot_fs(SB), AX
	MOVQ	AX, DX
	SHRQ	$32, DX
	MOVL	$0xC0000100, CX		// IA32_FS_BASE
	WRMSR
	// The x87 unit as the BSP's (boot/entry_amd64.s): INIT leaves the
	// control word at 0x40 (SDM Vol. 3A §10.1.1, Table 10-1), FNINIT
	// makes it 0x37f, which the kernel's checks and Go expect.
	BYTE	$0xdb; BYTE $0xe3	// FNINIT
	CALL	·apMain(SB)
	CLI
	HLT

TEXT ·apEntryPC(SB),NOSPLIT,$0-8
	LEAQ	·apEntry(SB), AX
	MOVQ	AX, ret+0(FP)
	RET
