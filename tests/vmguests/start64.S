/* The shared long-mode path: from the 32-bit entry (start32.S, flat
 * segments, stack set, .bss zeroed) identity-map the first 4 GiB with 2 MiB
 * pages, enable PAE, EFER.LME and paging, far-jump to 64-bit code and call
 * rt_main. Also the 64-bit interrupt stubs. Addresses above 4 GiB are not
 * mapped: touching them raises #PF. */

	.text
	.code32
	.globl start64
start64:
	/* pml4[0] -> pdpt; pdpt[0..3] -> pd[0..3]; pd: 2048 2 MiB pages. */
	mov $rt_pdpt, %eax
	or $3, %eax
	mov %eax, rt_pml4
	xor %ecx, %ecx
1:	mov %ecx, %eax
	shl $12, %eax
	add $rt_pd, %eax
	or $3, %eax
	mov %eax, rt_pdpt(, %ecx, 8)
	inc %ecx
	cmp $4, %ecx
	jne 1b
	xor %ecx, %ecx
2:	mov %ecx, %eax
	shl $21, %eax
	or $0x83, %eax /* present, writable, 2 MiB */
	mov %eax, rt_pd(, %ecx, 8)
	movl $0, rt_pd + 4(, %ecx, 8)
	inc %ecx
	cmp $2048, %ecx
	jne 2b

	mov %cr4, %eax
	or $0x20, %eax /* PAE */
	mov %eax, %cr4
	mov $rt_pml4, %eax
	mov %eax, %cr3
	mov $0xC0000080, %ecx
	rdmsr
	or $0x100, %eax /* LME */
	wrmsr
	mov %cr0, %eax
	or $0x80000001, %eax /* PG, PE */
	mov %eax, %cr0
	ljmp $0x18, $long64

	.code64
long64:
	mov $0x10, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov %eax, %fs
	mov %eax, %gs
	lgdt gdt_desc(%rip)
	mov $rt_stack_top, %rsp
	call rt_main
3:	cli
	hlt
	jmp 3b

	.balign 16
	.globl isr_stubs
isr_stubs:
	.set vec, 0
	.rept 256
	.balign 16
	.if !(vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21 || vec == 29 || vec == 30)
	pushq $0
	.endif
	pushq $vec
	jmp isr_common
	.set vec, vec + 1
	.endr

isr_common:
	push %rax
	push %rbx
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	push %rbp
	push %r8
	push %r9
	push %r10
	push %r11
	push %r12
	push %r13
	push %r14
	push %r15
	cld
	mov %rsp, %rdi
	mov %rsp, %rbx
	and $-16, %rsp
	call rt_isr
	mov %rbx, %rsp
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %r11
	pop %r10
	pop %r9
	pop %r8
	pop %rbp
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	pop %rbx
	pop %rax
	add $16, %rsp
	iretq

	.bss
	.balign 4096
rt_pml4: .skip 4096
rt_pdpt: .skip 4096
rt_pd:   .skip 4 * 4096
