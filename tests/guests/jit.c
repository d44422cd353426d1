/*
 * jit (fixed): executing data must fault (W^X).
 *
 * mmaps 4 KiB read+write, stores the code of `mov eax, 7; ret` in it
 * (B8 07 00 00 00 C3) and calls it.
 *
 * Host should observe: a page fault on an instruction fetch (vector 14, error
 * code with the I/D bit 4 set) with CR2 = RIP = the mmap'd address, because
 * RW guest memory is not executable. If the call returns, the guest prints
 * that and exits 99 (98 if the mmap itself failed).
 */
#include "abi.h"

long main(long arg)
{
	(void)arg;
	long addr = sys_mmap(PAGE_SIZE, PROT_READ | PROT_WRITE);
	if (is_err(addr)) {
		print("jit: mmap failed\n");
		return 98;
	}
	volatile u8 *code = (volatile u8 *)addr;
	code[0] = 0xb8; /* mov eax, imm32 */
	code[1] = 0x07;
	code[2] = 0x00;
	code[3] = 0x00;
	code[4] = 0x00;
	code[5] = 0xc3; /* ret */
	print("jit: calling RW memory at ");
	print_hex((u64)addr);
	print("\n");
	long (*fn)(void) = (long (*)(void))addr;
	long r = fn();
	print("jit: FAIL: data memory executed, returned ");
	print_dec(r);
	print("\n");
	return 99;
}
