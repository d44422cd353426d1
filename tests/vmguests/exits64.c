/* exits64: an ELF64 multiboot kernel (32-bit entry, then long mode through
 * start64.S). Checks CPUID, a hypercall write with 64-bit registers, EFER.LMA,
 * a #PF on an unmapped address caught by the 64-bit IDT, and SSE. */
#include "rt.h"

const char rt_kernel_name[] = "exits64";

static char hc_msg[] = "vmguest: exits64: hypercall write\n";
static uint8_t sse_src[16] __attribute__((aligned(16))) = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
static uint8_t sse_dst[16] __attribute__((aligned(16)));

void kmain(void)
{
	uint32_t a, b, c, d;
	cpuid(0, 0, &a, &b, &c, &d);
	CHECK("cpuid-64", a >= 1, "max basic leaf %u", a);
	cpuid(1, 0, &a, &b, &c, &d);
	if (rt_beelzebox) {
		CHECK("cpuid-64-hypervisor-bit", c & (1u << 31), "leaf 1 ecx %x", c);
		CHECK("cpuid-64-vmx-clear", !(c & (1u << 5)), "leaf 1 ecx %x", c);
		uint64_t n = rt_strlen(hc_msg);
		/* Upper halves set on purpose: 64-bit guests pass full registers. */
		long r = vmcall(HC_WRITE, 1, (uintptr_t)hc_msg, n);
		CHECK("hypercall-write-64", r == (long)n, "returned %ld want %lu", r, (unsigned long)n);
		r = vmcall(HC_WRITE, 1, 0x100000000ull + (uintptr_t)hc_msg, n);
		CHECK("hypercall-write-64-efault", r == HC_EFAULT, "returned %ld for a buffer above 4 GiB", r);
	} else {
		rt_skip("cpuid-64-hypervisor-bit", "not under beelzebox");
		rt_skip("cpuid-64-vmx-clear", "not under beelzebox");
		rt_skip("hypercall-write-64", "not under beelzebox");
		rt_skip("hypercall-write-64-efault", "not under beelzebox");
	}

	uint64_t efer = rdmsr(0xC0000080);
	CHECK("efer-lma", (efer & 0x500) == 0x500, "EFER %lx", (unsigned long)efer);

	volatile uint64_t *unmapped = (volatile uint64_t *)0x100000000ull;
	int e = RT_CATCH("movq (%0), %%rax", :: "r"(unmapped) : "rax", "memory");
	uintptr_t cr2 = read_cr2();
	CHECK("page-fault", e == 14 && cr2 == 0x100000000ull && !(rt_caught_err & 1), "vector %d cr2 %lx err %lx",
	      e, (unsigned long)cr2, (unsigned long)rt_caught_err);

	write_cr0((read_cr0() & ~(uintptr_t)(1u << 2)) | (1u << 1)); /* EM off, MP on */
	write_cr4(read_cr4() | (1u << 9) | (1u << 10));               /* OSFXSR, OSXMMEXCPT */
	e = RT_CATCH("movaps (%0), %%xmm1\n\tpaddb %%xmm1, %%xmm1\n\tmovaps %%xmm1, (%1)",
		     :: "r"(sse_src), "r"(sse_dst) : "memory");
	int good = e < 0;
	for (int i = 0; i < 16; i++)
		good &= sse_dst[i] == 2 * (i + 1);
	CHECK("sse-movaps", good, "vector %d dst[0] %u dst[15] %u", e, sse_dst[0], sse_dst[15]);
}
