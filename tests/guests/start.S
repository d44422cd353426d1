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
 * Position independent: `call main` is RIP-relative, so the pie flavour has
 * no relocations.
 */
	.text
	.globl	_start
	.type	_start, @function
_start:
	xorl	%ebp, %ebp		/* outermost frame */
	andq	$-16, %rsp		/* call pushes 8: main sees RSP = 8 mod 16 */
	call	main			/* arg is already in RDI */
	movq	%rax, %rdi
	movl	$60, %eax		/* exit(main's result) */
	syscall
1:	ud2
	jmp	1b
	.size	_start, . - _start

/* No executable stack (PT_GNU_STACK RW). */
	.section .note.GNU-stack, "", @progbits
