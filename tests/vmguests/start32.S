/* Multiboot v1 header and 32-bit entry for the level 4 test guests.
 *
 * Built with -m32: stays in protected mode (paging off) and calls rt_main.
 * Built with -m64: the same 32-bit entry jumps to start64 (start64.S), which
 * enters long mode first. With -DMB_AOUT the header carries the a.out kludge
 * addresses (flags bit 16), for a flat binary made by objcopy -O binary. */

#define MB_MAGIC 0x1BADB002
#ifdef MB_AOUT
#define MB_FLAGS 0x00010003 /* page-align modules, memory info, a.out kludge */
#else
#define MB_FLAGS 0x00000003 /* page-align modules, memory info */
#endif

	.section .multiboot, "a"
	.balign 4
mb_header:
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)
#ifdef MB_AOUT
	.long mb_header    /* header_addr */
	.long _load_start  /* load_addr */
	.long _load_end    /* load_end_addr */
	.long _bss_end     /* bss_end_addr */
	.long _start       /* entry_addr */
#endif

	.text
	.code32
	.globl _start
_start:
	cli
	cld
	mov %eax, mb_magic
	mov %ebx, mb_info
	lgdt gdt_desc
	ljmp $0x08, $1f
1:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %ax, %fs
	mov %ax, %gs
	mov $rt_stack_top, %esp
	/* Zero .bss (the multiboot loader does too; a.out-kludge loaders may
	 * not be trusted). mb_magic/mb_info live in .data. */
	mov $_bss_start, %edi
	mov $_bss_end, %ecx
	sub %edi, %ecx
	xor %eax, %eax
	rep stosb
#ifdef __x86_64__
	jmp start64
#else
	call rt_main
2:	cli
	hlt
	jmp 2b

/* 256 interrupt stubs, 16 bytes apart: push a zero error code where the CPU
 * pushes none, push the vector, go to isr_common. */
	.balign 16
	.globl isr_stubs
isr_stubs:
	.set vec, 0
	.rept 256
	.balign 16
	.if !(vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21 || vec == 29 || vec == 30)
	push $0
	.endif
	push $vec
	jmp isr_common
	.set vec, vec + 1
	.endr

isr_common:
	pusha
	cld
	push %esp
	call rt_isr
	add $4, %esp
	popa
	add $8, %esp
	iret
#endif

	.data
	.balign 16
	.globl rt_gdt
rt_gdt:
	.quad 0
	.quad 0x00CF9A000000FFFF /* 0x08: 32-bit code */
	.quad 0x00CF92000000FFFF /* 0x10: data */
	.quad 0x00AF9A000000FFFF /* 0x18: 64-bit code */
rt_gdt_end:
	.balign 8
	.word 0
	.globl gdt_desc
gdt_desc:
	.word rt_gdt_end - rt_gdt - 1
	.long rt_gdt, 0

	.bss
	.balign 16
	.skip 65536
	.globl rt_stack_top
rt_stack_top:
