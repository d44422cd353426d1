// Multiboot entry and the switch to long mode.
//
// The loader jumps to mbentry in 32-bit protected mode with paging off and
// EBX = the physical address of its information structure. A Multiboot v1
// loader (QEMU -kernel, GRUB's multiboot) leaves EAX = 0x2BADB002
// (Multiboot Specification 0.6.96 §3.2); a Multiboot2 loader (GRUB's
// multiboot2, entering at the entry address tag's entry_addr) leaves
// EAX = 0x36D76289 (Multiboot2 Specification 1.0 §3.3). The machine state
// is otherwise the same, so one entry serves both: EAX and EBX are kept
// (in bootMagic and bootInfo) and start decodes the structure EAX names.
// The Go assembler only emits 64-bit code, so until the far return into
// start64 every instruction here is one whose encoding means the same in
// 32-bit mode: no REX prefixes, no RIP-relative operands except the
// getpc/LEAL pair below (a RIP-relative disp32 reads as an absolute disp32
// in 32-bit mode). Check with `objdump -D -b binary -m i386` after changes.

#include "textflag.h"
#include "go_asm.h"

// The boot page tables and GDT live in bootTables (.bss). The kernel runs
// where it is linked (identity-mapped), so their physical address is
// their link address; 32-bit code finds it with the getpc trick below.
// Offsets within the page-aligned part of bootTables:
#define BOOT_PML4 0x0000
#define BOOT_PDPT 0x1000
#define BOOT_PD   0x2000	// four page directories, 0x2000-0x5fff
#define BOOT_GDT  0x6000
// A scratch stack for the single CALL that finds our address. ESP is
// undefined at entry (Multiboot §3.2); 0x7000 is conventional memory below
// the boot sector that no loader puts its structures in (QEMU puts the
// information block at 0x9500, GRUB's multiboot at 0x10000; GRUB 2.12's
// multiboot2 put it at 0x8424b8 under QEMU with 256 MiB).
#define SCRATCH_STACK 0x7000

// Control-register and MSR bits (SDM Vol. 3A §2.5, §4.1.1).
#define CR0_PE 0x00000001
#define CR0_PG 0x80000000
#define CR4_PAE 0x20
#define MSR_EFER 0xC0000080
#define EFER_LME 0x100

TEXT ·mbentry(SB),NOSPLIT|NOFRAME,$0
	CLI
	MOVL	AX, SI			// multiboot v1 or v2 magic, kept for start64
	MOVL	BX, DI			// its information structure, kept for start64
	MOVL	$SCRATCH_STACK, SP
	CLD

	// BP = bootTables rounded up to a page. getpc leaves the address of
	// the LEAL in AX; the LEAL (6 bytes) reads as an absolute disp32 in
	// 32-bit mode, i.e. bootTables - (its own end).
	CALL	·getpc(SB)
	LEAL	·bootTables(SB), BP
	ADDL	AX, BP
	ADDL	$6, BP
	ADDL	$0xfff, BP
	ANDL	$~0xfff, BP

	// Zero the tables and the GDT page.
	MOVL	DI, DX
	MOVL	BP, DI
	XORL	AX, AX
	MOVL	$0x1C00, CX
	REP;	STOSL
	MOVL	DX, DI

	// Identity-map 0-4 GiB with 2 MiB pages (SDM Vol. 3A §4.5): enough for
	// the kernel image, the loader's structures and MMIO until mm takes over.
	LEAL	BOOT_PDPT(BP), AX
	ORL	$3, AX
	MOVL	AX, BOOT_PML4(BP)
	LEAL	BOOT_PD(BP), AX
	ORL	$3, AX
	MOVL	AX, BOOT_PDPT(BP)
	ADDL	$0x1000, AX
	MOVL	AX, (BOOT_PDPT+8)(BP)
	ADDL	$0x1000, AX
	MOVL	AX, (BOOT_PDPT+16)(BP)
	ADDL	$0x1000, AX
	MOVL	AX, (BOOT_PDPT+24)(BP)
	LEAL	BOOT_PD(BP), BX
	MOVL	$0x83, AX		// P | RW | PS
	MOVL	$2048, CX
pd:
	MOVL	AX, (BX)
	ADDL	$0x200000, AX
	ADDL	$8, BX
	DECL	CX
	JNZ	pd

	// A three-entry GDT (null, 64-bit code 0x08, data 0x10) and its
	// pseudo-descriptor at +0x40; cpu.Init installs the real one.
	LEAL	BOOT_GDT(BP), BX
	MOVL	$0x0000FFFF, 8(BX)
	MOVL	$0x00AF9A00, 12(BX)
	MOVL	$0x0000FFFF, 16(BX)
	MOVL	$0x00CF9200, 20(BX)
	MOVW	$23, 0x40(BX)
	MOVL	BX, 0x42(BX)

	// Long mode activation, SDM Vol. 3A §10.8.5: CR4.PAE, CR3, EFER.LME,
	// then CR0.PG (with PE) enters IA-32e compatibility mode.
	MOVL	CR4, AX
	ORL	$CR4_PAE, AX
	MOVL	AX, CR4
	LEAL	BOOT_PML4(BP), AX
	MOVL	AX, CR3
	MOVL	$MSR_EFER, CX
	RDMSR
	ORL	$EFER_LME, AX
	WRMSR
	MOVL	CR0, AX
	ORL	$(CR0_PG|CR0_PE), AX
	MOVL	AX, CR0
	LEAL	(BOOT_GDT+0x40)(BP), AX
	LGDT	(AX)

	// Far return into the 64-bit code segment, at start64 (found the same
	// way as bootTables).
	CALL	·getpc(SB)
	LEAL	·start64(SB), BX
	ADDL	BX, AX
	ADDL	$6, AX
	PUSHQ	$0x08
	PUSHQ	AX
	RETFL

TEXT ·getpc(SB),NOSPLIT|NOFRAME,$0
	MOVL	(SP), AX
	RET

// start64 runs in 64-bit mode on the boot page tables. It sets up what
// every Go function needs before it can run (SDM Vol. 3A §13.1.4 for SSE):
// SSE enabled, because ABI wrappers clear X15; and an FS base whose -8
// slot holds a g, because ABI wrappers load g from there. bootG has a
// zero stack guard, so stack checks in the early Go code always pass.
TEXT ·start64(SB),NOSPLIT|NOFRAME,$0
	MOVL	$0x10, AX
	MOVW	AX, DS
	MOVW	AX, ES
	MOVW	AX, SS
	MOVW	AX, FS
	MOVW	AX, GS
	LEAQ	·bootStack+const_bootStackSize(SB), SP
	MOVL	SI, SI
	MOVQ	SI, ·bootMagic(SB)
	MOVL	DI, DI
	MOVQ	DI, ·bootInfo(SB)
	XORL	BP, BP

	MOVQ	CR0, AX
	ANDQ	$~4, AX			// clear EM
	ORQ	$2, AX			// set MP
	MOVQ	AX, CR0
	MOVQ	CR4, AX
	ORQ	$0x600, AX		// OSFXSR | OSXMMEXCPT
	MOVQ	AX, CR4
	BYTE	$0xdb; BYTE $0xe3	// FNINIT

	// FS base = &bootTLS[1]: FS:-8 is bootTLS[0] = &bootG.
	LEAQ	·bootG(SB), AX
	MOVQ	AX, ·bootTLS(SB)
	LEAQ	·bootTLS+8(SB), AX
	MOVQ	AX, DX
	SHRQ	$32, DX
	MOVL	$0xC0000100, CX		// IA32_FS_BASE
	WRMSR

	CALL	·start(SB)
	// start never returns; if it did, stop here.
hang:
	CLI
	HLT
	JMP	hang

// enterRuntime switches to the initial process stack built by start and
// jumps to the Go runtime's own Linux entry point, as the Linux ELF loader
// would: RSP points at argc, all other registers are don't-care.
TEXT ·enterRuntime(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	sp+0(FP), AX
	MOVQ	AX, SP
	XORL	BP, BP
	// Go code runs with interrupts enabled: the timer preempts it. Every
	// later entry saves and restores RFLAGS, so this is the only STI.
	STI
	JMP	_rt0_amd64_linux(SB)

// func imageBounds() (text, etext, rodataEnd, end uintptr)
// The linker's section symbols: the read-only segment runs from the end
// of text up to noptrdata, where the writable one starts.
TEXT ·imageBounds(SB),NOSPLIT,$0-32
	LEAQ	runtime·text(SB), AX
	MOVQ	AX, text+0(FP)
	LEAQ	runtime·etext(SB), AX
	MOVQ	AX, etext+8(FP)
	LEAQ	runtime·noptrdata(SB), AX
	MOVQ	AX, rodataEnd+16(FP)
	LEAQ	runtime·end(SB), AX
	MOVQ	AX, end+24(FP)
	RET
