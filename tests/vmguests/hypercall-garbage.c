/* hypercall-garbage (adversarial): every hypercall number in 0..1100 and
 * 0x1000..0x1010, plus 0x80000000 and 0xffffffff, each with several sets of
 * garbage arguments (pointers 0, 0xffffffff, RAM end - 1, 0xF0000000;
 * lengths 0xffffffff, 0x80000000, RAM end, -1). Number 60 (exit) is left
 * out: it would end the VM. Every call must return; numbers the default
 * ABI does not define (all but 1, 9, 11, 228 and 0x1000) must return -38
 * (ENOSYS), and mmap and munmap with garbage must fail. 32-bit mode: only the low halves
 * of the registers exist. */
#include "rt.h"

const char rt_kernel_name[] = "hypercall-garbage";

static uint32_t calls, enosys, mismatches, first_bad_nr, first_bad_ret;

static void one(uint32_t nr, uint32_t a, uint32_t b, uint32_t c)
{
	long r = vmcall(nr, a, b, c);
	calls++;
	int defined = nr == HC_WRITE || nr == HC_CLOCK_GETTIME || nr == HC_PKRU || nr == HC_MMAP || nr == HC_MUNMAP;
	if ((nr == HC_MMAP || nr == HC_MUNMAP) && r >= 0 && r < 0x100000) {
		/* garbage must not map or unmap anything below 1 MiB */
		if (!mismatches) {
			first_bad_nr = nr;
			first_bad_ret = (uint32_t)r;
		}
		mismatches++;
	}
	if (r == HC_ENOSYS)
		enosys++;
	if (!defined && r != HC_ENOSYS) {
		if (!mismatches) {
			first_bad_nr = nr;
			first_bad_ret = (uint32_t)r;
		}
		mismatches++;
	}
	if (nr == HC_WRITE && r >= 0 && b != 0 && c != 0)
		rt_printf("vmguest: hypercall-garbage: write(%u, %x, %x) returned %ld\n", a, b, c, r);
}

static void garbage(uint32_t nr, uint32_t ram_end)
{
	static const uint32_t fds[] = { 1, 2, 0, 0xffffffff };
	uint32_t ptrs[] = { 0, 0xffffffff, ram_end - 1, 0xF0000000 };
	uint32_t lens[] = { 0xffffffff, 0x80000000, ram_end, 0xfffffff0 };
	for (int i = 0; i < 4; i++)
		one(nr, fds[i], ptrs[i], lens[(i + nr) & 3]);
}

void kmain(void)
{
	if (!rt_beelzebox) {
		rt_skip("hypercall-garbage", "not under beelzebox (vmcall would raise #UD)");
		return;
	}
	struct mb_info *mi = (struct mb_info *)(uintptr_t)mb_info;
	uint32_t ram_end = 0x100000 + mi->mem_upper * 1024;
	rt_printf("vmguest: hypercall-garbage: RAM ends at %x\n", ram_end);
	for (uint32_t nr = 0; nr <= 1100; nr++)
		if (nr != HC_EXIT)
			garbage(nr, ram_end);
	for (uint32_t nr = 0x1000; nr <= 0x1010; nr++)
		garbage(nr, ram_end);
	garbage(0x80000000, ram_end);
	garbage(0xffffffff, ram_end);
	rt_printf("vmguest: hypercall-garbage: %u calls returned, %u ENOSYS\n", calls, enosys);
	CHECK("hypercall-garbage-returned", calls == 4 * (1100 + 17 + 2), "%u calls", calls);
	CHECK("hypercall-garbage-enosys", !mismatches, "%u numbers did not return -38, first %u returned %x",
	      mismatches, first_bad_nr, first_bad_ret);
}
