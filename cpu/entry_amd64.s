// Kernel entry and exit paths.
//
// Three ways into the kernel, all ending in a cpu.Frame:
//
//  1. SYSCALL (IA32_LSTAR = syscallEntry). SYSCALL does not switch stacks
//     (SDM Vol. 2B "SYSCALL"), so the entry parks RSP in percpu.scratch.
//     From ring 0 (the Go runtime's own system calls) the frame is built
//     at the top of the running thread's kernel stack; from ring 3 it is
//     built directly in the current UserContext.
//  2. Interrupts and exceptions. Every IDT gate uses an IST stack (SDM
//     Vol. 3A §7.14.5): at ring 0 the kernel usually runs on a small Go
//     goroutine stack, which has no room for an exception frame plus the
//     XSAVE area. intrCommon copies the hardware frame from the IST stack
//     to where the frame belongs (below the interrupted RSP if that is on
//     the kernel stack already, i.e. nested in handler code; else the top
//     of the kernel stack; or the UserContext for ring 3) and switches
//     there. Until that switch it must not fault: it touches only the IST
//     stack, percpu and the kernel stack, all mapped at boot.
//  3. #DF and #MC use fatalStubs and stay on their own IST stack. NMIs
//     are counted and returned from on theirs (nmiEntry).
//
// Handler context: after the frame is built, the g slot of the TLS block
// (FS:-8) is pointed at kernelG (see entry.go) and the interrupted g is
// kept in Frame.G; the exit path puts it back. Interrupts stay disabled
// throughout (SYSCALL clears IF through IA32_FMASK; all gates are
// interrupt gates).
//
// Events are classified by state, not by CS alone. The entry window is
// ring 0 while percpu.user is set: from EnterUser's first store of it,
// through the loading of the context's state and the return to ring 3,
// and again from the first instruction of syscallEntry or intrCommon
// after ring 3 until userExit has put the kernel's FS base back. There,
// RSP may be the guest's and FS base is the guest's. Only three events
// can arrive in the window: a #DB single-step trap of a SYSCALL made
// with TF set (delivered at syscallEntry's first instruction, on the #DB
// IST stack: resumed with no other effect), an NMI (counted on its own
// IST stack) and #MC (fatal, with the kernel's FS base loaded first);
// anything else is a kernel bug, reported as fatal after the kernel's FS
// base is loaded (windowFault). No handler in the window ever reads or
// writes through an FS base the kernel has not set.
//
// Address spaces (level 3): a context whose UserContext.CR3 is set runs
// in a guest's address space, which maps of the kernel only the entry
// pages (entrypages.go: the entry text, the per-CPU block, GDT, TSS, IDT
// and IST stacks). So:
//
//   - on an entry from such a context, the first thing after parking RSP
//     (SYSCALL) or saving two registers on the IST stack (interrupts,
//     exceptions) is loading percpu.kernelCR3, before the UserContext,
//     the kernel stack or anything else outside the entry pages is
//     touched; percpu.userCR3 says whether to;
//   - on the way back, EnterUser copies RAX and the IRETQ frame to
//     percpu.tramp, loads the other registers from the UserContext, then
//     the context's CR3, then RAX, and IRETQs from percpu.tramp;
//   - the window handlers (#DB single-step, NMI) touch only the entry
//     pages, whichever CR3 is loaded; windowFault and fatalCommon load
//     the kernel's CR3 before anything else;
//   - contexts of levels 1 and 2 (CR3 0) run in the kernel's address
//     space, and these paths cost them a compare each way.
//
// Ring-3 state that survives an entry from ring 3, and what resets it
// before kernel code depends on it:
//
//   - RSP: the guest's at SYSCALL until syscallEntry parks it in
//     percpu.scratch and switches; interrupts and exceptions arrive on an
//     IST stack. userExit returns on the host's kernel stack (hostSP).
//   - RFLAGS: SYSCALL clears IF, TF, DF, AC and NT (IA32_FMASK, cpu.Init);
//     interrupt gates clear IF, TF, NT and RF but keep DF and AC, which
//     userExit clears by loading RFLAGS = 2 (everything clear, IF off).
//     (Ring 0 too can be interrupted with DF set, in the runtime's
//     backward memmove: intrCommon clears it before calling Go.)
//   - General registers: saved in the UserContext. userExit restores the
//     host's callee-saved registers (BX, BP, R12-R15); the others keep
//     guest values, which Go code treats as clobbered by the call to
//     EnterUser (the ABI wrapper re-zeroes X15 and reloads R14 = g).
//   - FS base: the guest's until userExit saves it and loads the running
//     thread's (percpu.kernelFS). The windowFault and fatalCommon paths
//     load the kernel's before anything reads FS:-8.
//   - GS base: the guest's, swapped out by SWAPGS at the entry (it is
//     then in IA32_KERNEL_GS_BASE), saved by userExit, which puts the
//     CPU's block back there (see "Per-CPU data" below).
//   - Segment selectors: SYSCALL, interrupt delivery and IRETQ set CS and
//     SS; DS, ES, FS and GS may hold the guest's null or user data
//     selector, which 64-bit mode ignores for the kernel's data accesses.
//   - x87/SSE/AVX state: saved by XSAVE into the UserContext's area;
//     userExit then loads the kernel's MXCSR (percpu.mxcsr, every
//     exception masked) and runs FNINIT (control word 0x37f, no pending
//     x87 exception). The vector registers keep guest values: Go code
//     treats them as clobbered (X15 is re-zeroed as above).
//   - PKRU: level 2 contexts run with CR4.PKE on and their PKRU loaded;
//     userExit saves what the context left (the sandbox kills a context
//     that changed it) and loads the kernel's 0. Level 1 contexts run with
//     CR4.PKE off, so they cannot change PKRU at all.
//   - Debug registers: not accessible at CPL 3; DR7 is cleared at boot,
//     so no breakpoint can fire in the window (CVE-2018-8897).
//   - CR2: the faulting address of a ring-3 #PF, read by the sandbox
//     before anything else can fault.
//   - CPU buffers: on CPUs exposed to MDS that have MD_CLEAR, VERW clears
//     them before every return to ring 3 (percpu.verwSel).
//   - The state loaded into ring 3 is checked at every entry
//     (UserContext.EntryValid): lower-half RIP and segment bases, a
//     canonical RSP, so neither IRETQ, SYSRETQ nor WRMSR faults in ring 0.
//   - CR3: a level 3 context's own until the entry loads the kernel's
//     (above); TLB entries of its PCID stay tagged with it, and nothing
//     of the kernel in the lower half is global (mm/kernel.go).

// Per-CPU data. Every CPU has a block (perCPU, in the entry pages) that
// the entry code needs before it can touch anything else. The choice,
// and why:
//
//   - In ring 0, outside the entry window, GS base and
//     IA32_KERNEL_GS_BASE both hold the running CPU's block, and
//     PERCPU(off) is a GS-relative access. The Go runtime on linux/amd64
//     never uses GS (g is in FS-based TLS and R14), so the kernel has it.
//   - While ring 3 runs, GS base is the guest's and KERNEL_GS_BASE the
//     CPU's block. Guests cannot read or change KERNEL_GS_BASE (RDMSR
//     and WRMSR fault at CPL 3, and SWAPGS is privileged).
//   - SYSCALL: syscallEntry's first instruction is SWAPGS, always. From
//     ring 0 both bases are the block, so it changes nothing; from ring
//     3 it brings the block in and parks the guest's base in
//     KERNEL_GS_BASE. So the entry needs no test of where it came from
//     before it can read percpu.user, which says that (as before).
//     userExit saves the guest's base from KERNEL_GS_BASE and writes the
//     block back there.
//   - EnterUser writes the guest's base into KERNEL_GS_BASE early and
//     SWAPGS is its last instruction but the IRETQ or SYSRETQ: the block
//     stays in GS for every PERCPU access of the way out.
//   - Interrupts and exceptions never trust GS in ring 0: every IDT gate
//     has an IST stack, and the last word of each IST stack of a CPU
//     holds its block's address (gdt.go, loadCPUTables), at a fixed
//     offset from the frame the CPU pushes there. intrCommon reads
//     percpu.user through that address: from ring 3 it does SWAPGS
//     (the bases are then exactly as after syscallEntry's); from ring 0
//     outside the window GS is already right; in the window (GS may be
//     the guest's, or KERNEL_GS_BASE may be) it never uses GS, and the
//     fatal report of windowFault first writes the block into both.
//     NMIs, #DF and #MC find their block the same way.
//
// Why not the classic alternative, SWAPGS decided by the CS of the
// interrupted context: an NMI or #DB in the window arrives from ring 0
// with the guest's GS base loaded, which CS cannot tell, and Linux's
// answer (a paranoid entry reading MSR_GS_BASE and comparing it with
// kernel addresses) does not work here, where the kernel and level 1
// guests share the lower half. The IST word costs one load and cannot
// be wrong: a CPU's IST stacks are its own.

#include "textflag.h"
#include "go_asm.h"
#include "entry.h"

#define MSR_FS_BASE 0xC0000100
#define MSR_GS_BASE 0xC0000101
#define MSR_KERNEL_GS_BASE 0xC0000102

// FS:-8 access; the Go assembler has no segment override for it.
#define PUSH_TLS_G BYTE $0x64; BYTE $0xff; BYTE $0x34; BYTE $0x25; LONG $0xfffffff8
#define STORE_AX_TLS_G BYTE $0x64; BYTE $0x48; BYTE $0x89; BYTE $0x04; BYTE $0x25; LONG $0xfffffff8

#define PUSH_GPRS \
	PUSHQ	AX; PUSHQ BX; PUSHQ CX; PUSHQ DX; PUSHQ SI; PUSHQ DI; PUSHQ BP; \
	PUSHQ	R8; PUSHQ R9; PUSHQ R10; PUSHQ R11; PUSHQ R12; PUSHQ R13; PUSHQ R14; PUSHQ R15

#define POP_GPRS \
	POPQ	R15; POPQ R14; POPQ R13; POPQ R12; POPQ R11; POPQ R10; POPQ R9; POPQ R8; \
	POPQ	BP; POPQ DI; POPQ SI; POPQ DX; POPQ CX; POPQ BX; POPQ AX

// XSAVE writes only the XSTATE_BV bits of the components it saves (RFBM)
// in the 64-byte XSAVE header at offset 512, leaving its other bits,
// XCOMP_BV and the reserved bytes as memory had them (SDM Vol. 1 §13.7);
// XRSTOR faults if any of those is set (§13.8.1), so areas on the stack
// get a clean header first.
#define ZERO_XSAVE_HEADER(r) \
	MOVQ	$0, 512(r); MOVQ $0, 520(r); MOVQ $0, 528(r); MOVQ $0, 536(r); \
	MOVQ	$0, 544(r); MOVQ $0, 552(r); MOVQ $0, 560(r); MOVQ $0, 568(r)

// LOAD_KERNEL_FS loads the running thread's FS base (percpu.kernelFS);
// it clobbers AX, CX and DX.
#define LOAD_KERNEL_FS \
	MOVQ	PERCPU(perCPU_kernelFS), AX; MOVQ AX, DX; SHRQ $32, DX; \
	MOVL	$MSR_FS_BASE, CX; WRMSR

// ISTBLOCK(n) is the offset from SP of the CPU's block address on an IST
// stack holding n bytes below the 7-word frame of a vector stub (vector,
// error code, and the CPU's 5 words): the frame starts at the IST
// pointer, and the block's address is the last word of the reserved
// istReserve bytes above it (gdt.go).
#define ISTBLOCK(n) (n+56+const_istReserve-8)

// SET_GS_BASES writes AX, a CPU's block, into GS base and KERNEL_GS_BASE;
// it clobbers CX and DX.
#define SET_GS_BASES \
	MOVQ	AX, DX; SHRQ $32, DX; \
	MOVL	$MSR_GS_BASE, CX; WRMSR; \
	MOVL	$MSR_KERNEL_GS_BASE, CX; WRMSR

// Offset of Frame.G from the frame base: G, Vector, ErrorCode and the five
// IRETQ words follow it.
#define TAIL_WORDS 8

// entryTextStart marks the start of the entry text (entrypages.go):
// everything from here to entryTextEnd, at the end of vectors_amd64.s, is
// mapped in every guest's address space.
TEXT ·entryTextStart(SB),NOSPLIT|NOFRAME,$0
	BYTE	$0xcc	// INT3

TEXT ·syscallEntry(SB),NOSPLIT|NOFRAME,$0
	SWAPGS		// the CPU's block in GS, from ring 0 or 3 ("Per-CPU data")
	MOVQ	SP, PERCPU(perCPU_scratch)
	CMPQ	PERCPU(perCPU_user), $0
	JNE	fromUser
	MOVQ	PERCPU(perCPU_kstackHi), SP
	PUSHQ	$const_SelKernelData
	PUSHQ	PERCPU(perCPU_scratch)
	PUSHQ	R11			// RFLAGS
	PUSHQ	$const_SelKernelCode
	PUSHQ	CX			// RIP
	PUSHQ	$0			// error code
	PUSHQ	$const_VectorSyscall
	PUSH_TLS_G
	PUSH_GPRS
	MOVQ	PERCPU(perCPU_kernelG), AX
	STORE_AX_TLS_G
	MOVQ	SP, BX
	SUBQ	$16, SP
	MOVQ	BX, 0(SP)
	MOVQ	BX, 8(SP)
	CALL	·syscallDispatch(SB)
	MOVQ	8(SP), SP
	// rt_sigreturn asks for an XSAVE area to be loaded last of all.
	MOVQ	PERCPU(perCPU_xrstor), DI
	TESTQ	DI, DI
	JNZ	xrstor
	JMP	kernelReturn<>(SB)
xrstor:
	MOVQ	$0, PERCPU(perCPU_xrstor)
	MOVL	$-1, AX
	MOVL	$-1, DX
	XRSTOR64	(DI)
	JMP	kernelReturn<>(SB)

fromUser:
	// A context in an address space of its own (level 3): the kernel's
	// page tables first, before anything outside the entry pages is
	// touched (entrypages.go).
	CMPQ	PERCPU(perCPU_userCR3), $0
	JEQ	kernelSpace
	MOVQ	PERCPU(perCPU_kernelCR3), SP
	MOVQ	SP, CR3
kernelSpace:
	// Build the frame in the UserContext: Regs is its first field.
	MOVQ	PERCPU(perCPU_user), SP
	ADDQ	$Frame__size, SP
	PUSHQ	$const_SelUserData
	PUSHQ	PERCPU(perCPU_scratch)
	PUSHQ	R11
	PUSHQ	$const_SelUserCode
	PUSHQ	CX
	PUSHQ	$0
	PUSHQ	$const_VectorSyscall
	PUSHQ	$0
	PUSH_GPRS
	JMP	userExit<>(SB)

// kernelReturn: SP points at a ring-0 Frame; resume it.
TEXT kernelReturn<>(SB),NOSPLIT|NOFRAME,$0
	MOVQ	Frame_G(SP), AX
	STORE_AX_TLS_G
	POP_GPRS
	ADDQ	$24, SP			// G, Vector, ErrorCode
	IRETQ

// userExit: SP points at ctx.Regs, fully saved. Save the rest of the user
// state, restore the kernel's, and return from EnterUser.
TEXT userExit<>(SB),NOSPLIT|NOFRAME,$0
	MOVQ	PERCPU(perCPU_user), DI
	MOVQ	UserContext_Xsave(DI), SI
	MOVL	$-1, AX
	MOVL	$-1, DX
	XSAVE64	(SI)
	// The context's vector state is saved: give the kernel its own
	// control state back (SDM Vol. 1 §10.2.3, §8.1.5). A guest that
	// unmasked SIMD or x87 exceptions must not make kernel code fault.
	LDMXCSR	PERCPU(perCPU_mxcsr)
	BYTE	$0xdb; BYTE $0xe3		// FNINIT: x87 control word 0x37f
	CMPL	UserContext_UsePKRU(DI), $0
	JEQ	bases
	// Level 2: keep what the context left in PKRU for the host to check,
	// and give the kernel back every key (SDM Vol. 3A §4.6.2).
	XORL	CX, CX
	BYTE	$0x0f; BYTE $0x01; BYTE $0xee	// RDPKRU
	MOVL	AX, UserContext_ExitPKRU(DI)
	XORL	AX, AX
	XORL	CX, CX
	XORL	DX, DX
	BYTE	$0x0f; BYTE $0x01; BYTE $0xef	// WRPKRU
bases:
	MOVL	$MSR_FS_BASE, CX
	RDMSR
	SHLQ	$32, DX
	MOVL	AX, AX
	ORQ	DX, AX
	MOVQ	AX, UserContext_FSBase(DI)
	// The context's GS base is in KERNEL_GS_BASE since the entry's
	// SWAPGS; the CPU's block goes back there.
	MOVL	$MSR_KERNEL_GS_BASE, CX
	RDMSR
	SHLQ	$32, DX
	MOVL	AX, AX
	ORQ	DX, AX
	MOVQ	AX, UserContext_GSBase(DI)
	MOVQ	PERCPU(perCPU_self), AX
	MOVQ	AX, DX
	SHRQ	$32, DX
	WRMSR
	LOAD_KERNEL_FS
	MOVQ	$0, PERCPU(perCPU_user)
	// Unwind EnterUser's pushes with loads: the assembler would count
	// POPs here as unbalanced.
	MOVQ	PERCPU(perCPU_hostSP), SP
	// Kernel RFLAGS: an exception or interrupt from ring 3 keeps the
	// context's DF and AC (only SYSCALL clears them, through
	// IA32_FMASK). Everything clear; IF stays off.
	PUSHQ	$2
	POPFQ
	MOVQ	0(SP), R15
	MOVQ	8(SP), R14
	MOVQ	16(SP), R13
	MOVQ	24(SP), R12
	MOVQ	32(SP), BX
	MOVQ	40(SP), BP
	LEAQ	48(SP), SP
	RET

// func EnterUser(ctx *UserContext)
TEXT ·EnterUser(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	ctx+0(FP), DI
	PUSHQ	BP
	PUSHQ	BX
	PUSHQ	R12
	PUSHQ	R13
	PUSHQ	R14
	PUSHQ	R15
	MOVQ	SP, PERCPU(perCPU_hostSP)
	MOVQ	DI, PERCPU(perCPU_user)
	INCQ	PERCPU(perCPU_userEntries)
	MOVQ	UserContext_Xsave(DI), SI
	MOVL	$-1, AX
	MOVL	$-1, DX
	XRSTOR64	(SI)
	MOVQ	UserContext_FSBase(DI), AX
	MOVQ	AX, DX
	SHRQ	$32, DX
	MOVL	$MSR_FS_BASE, CX
	WRMSR
	// The context's GS base goes into KERNEL_GS_BASE; the SWAPGS right
	// before the return to ring 3 swaps it in.
	MOVQ	UserContext_GSBase(DI), AX
	MOVQ	AX, DX
	SHRQ	$32, DX
	MOVL	$MSR_KERNEL_GS_BASE, CX
	WRMSR
	// CR4.PKE is on exactly while contexts that use PKRU run (level 2),
	// switched lazily: a context without PKRU (level 1) runs with
	// protection keys off, so its WRPKRU is #UD and it can never leave
	// write-disable bits that a CPU would apply to the kernel's own
	// writes (Bochs does, even to supervisor pages, and then cannot push
	// an exception frame).
	MOVL	UserContext_UsePKRU(DI), AX
	CMPQ	AX, PERCPU(perCPU_pke)
	JNE	switchPKE
pkeSet:
	TESTL	AX, AX
	JEQ	regs
	MOVL	UserContext_PKRU(DI), AX
	XORL	CX, CX
	XORL	DX, DX
	BYTE	$0x0f; BYTE $0x01; BYTE $0xef	// WRPKRU
regs:
	CMPQ	PERCPU(perCPU_verwSel), $0
	JEQ	noVERW
	VERW	PERCPU(perCPU_verwSel)
noVERW:
	MOVQ	UserContext_CR3(DI), AX
	MOVQ	AX, PERCPU(perCPU_userCR3)
	TESTQ	AX, AX
	JNE	spaceSwitch
	MOVQ	DI, SP
	CMPQ	Frame_Vector(DI), $const_VectorSyscall
	JEQ	sysret
	POP_GPRS
	ADDQ	$24, SP
	SWAPGS
	IRETQ
sysret:
	// The context stopped at a SYSCALL, so RCX and R11 are RIP and
	// RFLAGS by definition and SYSRETQ can resume it (SDM Vol. 2B).
	POPQ	R15
	POPQ	R14
	POPQ	R13
	POPQ	R12
	ADDQ	$8, SP			// R11
	POPQ	R10
	POPQ	R9
	POPQ	R8
	POPQ	BP
	POPQ	DI
	POPQ	SI
	POPQ	DX
	ADDQ	$8, SP			// CX
	POPQ	BX
	POPQ	AX
	ADDQ	$24, SP
	MOVQ	0(SP), CX		// RIP
	MOVQ	16(SP), R11		// RFLAGS
	MOVQ	24(SP), SP		// RSP
	SWAPGS
	BYTE	$0x48; BYTE $0x0f; BYTE $0x07	// SYSRETQ
spaceSwitch:
	// The context has an address space of its own, which maps none of
	// the kernel but the entry pages: what the last instructions load
	// (RAX and the IRETQ frame) goes into the per-CPU block first, then
	// the other registers, then CR3, then those.
	MOVQ	Frame_AX(DI), BX
	MOVQ	BX, PERCPU(perCPU_tramp)
	MOVQ	Frame_RIP(DI), BX
	MOVQ	BX, PERCPU(perCPU_tramp+8)
	MOVQ	Frame_CS(DI), BX
	MOVQ	BX, PERCPU(perCPU_tramp+16)
	MOVQ	Frame_RFLAGS(DI), BX
	MOVQ	BX, PERCPU(perCPU_tramp+24)
	MOVQ	Frame_RSP(DI), BX
	MOVQ	BX, PERCPU(perCPU_tramp+32)
	MOVQ	Frame_SS(DI), BX
	MOVQ	BX, PERCPU(perCPU_tramp+40)
	MOVQ	DI, SP
	POPQ	R15; POPQ R14; POPQ R13; POPQ R12; POPQ R11; POPQ R10; POPQ R9; POPQ R8
	POPQ	BP; POPQ DI; POPQ SI; POPQ DX; POPQ CX; POPQ BX
	MOVQ	PERCPU(perCPU_userCR3), AX
	MOVQ	AX, CR3
	// Only the entry pages are mapped from here on. (LEAQ ignores the
	// GS base: the block's address comes from its self field.)
	MOVQ	PERCPU(perCPU_self), SP
	ADDQ	$perCPU_tramp+8, SP
	MOVQ	PERCPU(perCPU_tramp), AX
	SWAPGS
	IRETQ
switchPKE:
	MOVQ	CR4, CX
	ANDQ	$~const_CR4PKE, CX
	TESTL	AX, AX
	JEQ	pkeOff
	ORQ	$const_CR4PKE, CX
pkeOff:
	MOVQ	CX, CR4
	MOVQ	AX, PERCPU(perCPU_pke)
	JMP	pkeSet

// intrCommon: vector stubs jump here on an IST stack holding
//   0 vector, 8 error code, 16 RIP, 24 CS, 32 RFLAGS, 40 RSP, 48 SS.
TEXT ·intrCommon(SB),NOSPLIT|NOFRAME,$0
	PUSHQ	AX
	PUSHQ	BX
	// now: 16 vector, 24 error, 32 RIP, 40 CS, 48 RFLAGS, 56 RSP, 64 SS,
	// and past the IST stack's reserved top, 80 this CPU's block.
	TESTQ	$3, 40(SP)
	JNZ	user
	// Ring 0 with ring 3's state loaded: the entry window (see the
	// list at the top of this file), where GS cannot be trusted.
	MOVQ	ISTBLOCK(16)(SP), BX
	CMPQ	perCPU_user(BX), $0
	JNE	window
	MOVQ	56(SP), AX
	CMPQ	AX, PERCPU(perCPU_kstackLo)
	JCS	top
	CMPQ	AX, PERCPU(perCPU_kstackHi)
	JCC	top
	ANDQ	$~15, AX		// nested in handler code: go below it
	JMP	copy
top:
	MOVQ	PERCPU(perCPU_kstackHi), AX
	JMP	copy
user:
	SWAPGS		// as syscallEntry's: the CPU's block in GS
	// As at fromUser: the kernel's page tables before anything outside
	// the entry pages.
	CMPQ	PERCPU(perCPU_userCR3), $0
	JEQ	userKernelSpace
	MOVQ	PERCPU(perCPU_kernelCR3), AX
	MOVQ	AX, CR3
userKernelSpace:
	MOVQ	PERCPU(perCPU_user), AX
	ADDQ	$Frame__size, AX
copy:
	SUBQ	$56, AX
	MOVQ	16(SP), BX
	MOVQ	BX, 0(AX)
	MOVQ	24(SP), BX
	MOVQ	BX, 8(AX)
	MOVQ	32(SP), BX
	MOVQ	BX, 16(AX)
	MOVQ	40(SP), BX
	MOVQ	BX, 24(AX)
	MOVQ	48(SP), BX
	MOVQ	BX, 32(AX)
	MOVQ	56(SP), BX
	MOVQ	BX, 40(AX)
	MOVQ	64(SP), BX
	MOVQ	BX, 48(AX)
	MOVQ	0(SP), BX
	XCHGQ	AX, 8(SP)
	MOVQ	8(SP), SP
	TESTQ	$3, 24(SP)
	JNZ	userTrap
	PUSH_TLS_G
	PUSH_GPRS
	MOVQ	PERCPU(perCPU_kernelG), AX
	STORE_AX_TLS_G
	// The interrupted code's vector registers are live: save them below
	// the frame for the duration of the handler.
	MOVQ	SP, R12
	SUBQ	PERCPU(perCPU_xsize), SP
	ANDQ	$~63, SP
	ZERO_XSAVE_HEADER(SP)
	MOVL	$-1, AX
	MOVL	$-1, DX
	XSAVE64	(SP)
	SUBQ	$16, SP
	MOVQ	R12, 0(SP)
	MOVQ	R12, 8(SP)
	// Go code may be interrupted with DF set: the runtime's memmove
	// copies backwards with STD; REP MOVSQ; CLD. Handler code runs with
	// it clear; IRETQ gives the interrupted code its own back.
	CLD
	CALL	·trapDispatch(SB)
	ADDQ	$16, SP
	MOVL	$-1, AX
	MOVL	$-1, DX
	XRSTOR64	(SP)
	MOVQ	-8(SP), SP		// the saved frame pointer (8(SP) before the ADDQ)
	JMP	kernelReturn<>(SB)
userTrap:
	PUSHQ	$0			// G
	PUSH_GPRS
	JMP	userExit<>(SB)
window:
	// The single-step trap of a SYSCALL made with TF set arrives at the
	// first instruction of syscallEntry (IA32_FMASK has already cleared
	// TF): nothing to do but resume, on this stack, touching nothing.
	CMPQ	16(SP), $const_VectorDB
	JNE	windowFault
	INCQ	perCPU_windowTraps(BX)
	ANDQ	$~const_FlagTF, 48(SP)
	POPQ	BX
	POPQ	AX
	ADDQ	$16, SP
	IRETQ
windowFault:
	// Anything else is a kernel bug (the state EnterUser loads is
	// checked before it loads it). Report it as a fault in handler code
	// without running on the context's FS base or page tables: the
	// kernel's first.
	MOVQ	perCPU_kernelCR3(BX), AX
	MOVQ	AX, CR3
	PUSHQ	CX
	PUSHQ	DX
	MOVQ	BX, AX
	SET_GS_BASES
	LOAD_KERNEL_FS
	POPQ	DX
	POPQ	CX
	MOVQ	$1, PERCPU(perCPU_windowFault)
	JMP	top

// fatalCommon: #DF and #MC stay on their IST stack and never return.
TEXT ·fatalCommon(SB),NOSPLIT|NOFRAME,$0
	// It never returns: the CPU's block goes into both GS bases (found
	// through the IST stack: GS may be the guest's), and where a guest's
	// state may be loaded, the kernel's page tables and FS base before
	// FS:-8 is read and written.
	PUSHQ	AX
	PUSHQ	CX
	PUSHQ	DX
	MOVQ	ISTBLOCK(24)(SP), AX
	SET_GS_BASES
	CMPQ	PERCPU(perCPU_user), $0
	JEQ	kernelFS
	MOVQ	PERCPU(perCPU_kernelCR3), AX
	MOVQ	AX, CR3
	LOAD_KERNEL_FS
kernelFS:
	POPQ	DX
	POPQ	CX
	POPQ	AX
	PUSH_TLS_G
	PUSH_GPRS
	MOVQ	PERCPU(perCPU_kernelG), AX
	STORE_AX_TLS_G
	MOVQ	SP, BX
	SUBQ	$8, SP
	MOVQ	BX, 0(SP)
	CLD
	CALL	·fatalDispatch(SB)
	CLI
	HLT

// nmiEntry counts a non-maskable interrupt and returns to whatever it
// interrupted, on its own IST stack, touching nothing else: an NMI may
// arrive anywhere, the entry window included, and the kernel uses none
// (no watchdog); a platform's NMI (a hardware error report, a debug
// button) must not stop it.
//
// The one exception is a stop: once a panicking CPU has set entry.stop
// (StopOthers), an NMI halts the CPU it arrives on, for good.
TEXT ·nmiEntry(SB),NOSPLIT|NOFRAME,$0
	PUSHQ	AX
	// The CPU's block, from the IST stack: above AX, the CPU's 5-word
	// frame (no error code, no vector pushed), then istReserve bytes.
	MOVQ	(8+40+const_istReserve-8)(SP), AX
	INCQ	perCPU_nmis(AX)
	CMPQ	·entry+entryData_stop(SB), $0
	JNE	stopped
	POPQ	AX
	IRETQ
stopped:
	CLI
	HLT
	JMP	stopped

TEXT ·nmiEntryPC(SB),NOSPLIT,$0-8
	LEAQ	·nmiEntry(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

TEXT ·syscallEntryPC(SB),NOSPLIT,$0-8
	LEAQ	·syscallEntry(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

TEXT ·vectorStubsPC(SB),NOSPLIT,$0-8
	LEAQ	·vectorStubs(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

TEXT ·fatalStubsPC(SB),NOSPLIT,$0-8
	LEAQ	·fatalStubs(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

TEXT ·KernelReturnPC(SB),NOSPLIT,$0-8
	LEAQ	kernelReturn<>(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

TEXT ·entryTextStartPC(SB),NOSPLIT,$0-8
	LEAQ	·entryTextStart(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

TEXT ·entryTextEndPC(SB),NOSPLIT,$0-8
	LEAQ	·entryTextEnd(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

TEXT ·enterUserPC(SB),NOSPLIT,$0-8
	LEAQ	·EnterUser(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// func this() *perCPU
TEXT ·this(SB),NOSPLIT,$0-8
	MOVQ	PERCPU(perCPU_self), AX
	MOVQ	AX, ret+0(FP)
	RET

// func Index() int
TEXT ·Index(SB),NOSPLIT,$0-8
	MOVQ	PERCPU(perCPU_index), AX
	MOVQ	AX, ret+0(FP)
	RET

// func Local() uintptr
TEXT ·Local(SB),NOSPLIT,$0-8
	MOVQ	PERCPU(perCPU_local), AX
	MOVQ	AX, ret+0(FP)
	RET
