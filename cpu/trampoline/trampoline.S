// The application-processor trampoline (SDM Vol. 3A §9.4.4 "MP
// initialization example", §10.8.5 "Initializing IA-32e mode").
//
// A STARTUP IPI with vector v starts the AP in real mode at CS = v<<8,
// IP = 0. The kernel copies these bytes to a page below 1 MiB, fills in
// the header, and sends the SIPI with that page's number. The code is
// position independent: real mode finds the page from CS, protected and
// 64-bit mode from EBX, which holds the page's linear address.
//
// Header (offsets fixed, the kernel writes them: cpu/smpboot.go):
//   8  u32  CR3 for the switch to IA-32e mode: page tables below 4 GiB
//           that identity-map this page and the kernel image
//   12 u32  EFER bits to set besides LME (NXE when the kernel uses NX)
//   16 u64  the 64-bit entry point, which runs with these page tables,
//           interrupts off, RBX = the page's address, on no usable stack
//
// Build: go generate ./cpu (gen_trampoline.go) assembles this with GNU as
// and writes ztrampoline.go.

	.text
	.code16
	.globl	start
start:
	jmp	real
	.balign	8
cr3:	.long	0
efer:	.long	0
entry:	.quad	0

real:
	cli
	cld
	movw	%cs, %ax
	movw	%ax, %ds
	movzwl	%ax, %ebx
	shll	$4, %ebx
	// The GDTR and the far pointer to 32-bit code take linear addresses.
	leal	gdt(%ebx), %eax
	movl	%eax, gdtr+2
	lgdtl	gdtr
	leal	prot(%ebx), %eax
	movl	%eax, farptr
	movl	%cr0, %eax
	orl	$1, %eax		// CR0.PE
	movl	%eax, %cr0
	ljmpl	*farptr

	.code32
prot:
	movw	$0x10, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	%ax, %fs
	movw	%ax, %gs
	leal	stack_top(%ebx), %esp
	// CR4: PAE, and SSE (OSFXSR, OSXMMEXCPT): Go code uses SSE at once.
	movl	%cr4, %eax
	orl	$(1<<5 | 1<<9 | 1<<10), %eax
	movl	%eax, %cr4
	movl	cr3(%ebx), %eax
	movl	%eax, %cr3
	movl	$0xc0000080, %ecx	// IA32_EFER
	rdmsr
	orl	$(1<<8), %eax		// LME
	orl	efer(%ebx), %eax
	wrmsr
	// CR0: PG and PE on, EM off, MP on (SSE and x87 without traps).
	movl	%cr0, %eax
	andl	$~(1<<2), %eax
	orl	$(1<<31 | 1<<1 | 1), %eax
	movl	%eax, %cr0
	pushl	$0x18
	leal	long(%ebx), %eax
	pushl	%eax
	lret

	.code64
long:
	movl	%ebx, %ebx		// the upper halves are undefined after the switch
	movq	entry(%rbx), %rax
	jmp	*%rax

	.balign	8
gdt:
	.quad	0
	.quad	0x00cf9a000000ffff	// 0x08: 32-bit code, flat
	.quad	0x00cf92000000ffff	// 0x10: data, flat
	.quad	0x00af9a000000ffff	// 0x18: 64-bit code
gdtr:
	.word	4*8-1
	.long	0
farptr:
	.long	0
	.word	0x08
	.balign	16
	.skip	64
stack_top:
	.globl	end
end:
