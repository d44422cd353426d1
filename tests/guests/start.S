/*
 * start.S: the entry point shared by every guest.
 *
 * The host starts a guest at its ELF entry with RSP at the top of its stack
 * (16-byte aligned, nothing pushed: no return address, no argc/argv), RDI =
 * the argument the host chose and every other register 0. _start is not a C
 * function: it realigns the stack (without trusting the host), ends the frame
 * chain, calls main(arg) with arg still in RDI and passes main's return value
 * to exit. exit does not return; if it ever did, ud2 faults (#UD) instead of
 * running off the end.
 *
 * It also records the initial RSP and RDI in .bss (guest_start_rsp,
 * guest_arg) and defines guest_data_magic in .data, so every guest has a
 * writable, non-executable segment (file-backed .data plus zero-filled .bss)
 * next to its read-only executable one, and its first instructions write to
 * it: a loader that maps the data segment wrongly is caught at once.
 *
 * Position independent: `call main` and the data accesses are RIP-relative,
 * so the pie flavour has no relocations.
 */
	.text
	.globl	_start
	.type	_start, @function
_start:
	movq	%rsp, guest_start_rsp(%rip)
	movq	%rdi, guest_arg(%rip)
	xorl	%ebp, %ebp		/* outermost frame */
	andq	$-16, %rsp		/* call pushes 8: main sees RSP = 8 mod 16 */
	call	main			/* arg is already in RDI */
	movq	%rax, %rdi
	movl	$60, %eax		/* exit(main's result) */
	syscall
1:	ud2
	jmp	1b
	.size	_start, . - _start

	.data
	.balign	8
	.globl	guest_data_magic
	.hidden	guest_data_magic
	.type	guest_data_magic, @object
guest_data_magic:
	.quad	0x6f62657a6c656562	/* "beelzebo", little-endian */
	.size	guest_data_magic, 8

	.bss
	.balign	8
	.globl	guest_start_rsp, guest_arg
	.hidden	guest_start_rsp, guest_arg
	.type	guest_start_rsp, @object
	.type	guest_arg, @object
guest_start_rsp:
	.zero	8
	.size	guest_start_rsp, 8
guest_arg:
	.zero	8
	.size	guest_arg, 8

/* No executable stack (PT_GNU_STACK RW). */
	.section .note.GNU-stack, "", @progbits
