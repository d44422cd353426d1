/* exits32: the VMM's exit handlers from 32-bit protected mode (paging off):
 * CPUID filtering, COM1, unknown ports, the MSR allow-list, XSETBV, CR0/CR4
 * writes, RDTSC, hypercalls, the guest's own IDT (int $0x80, #UD, #DE, #BP)
 * and VMX instructions raising #UD. Ends with debug_exit(0) when all pass. */
#include "rt.h"

const char rt_kernel_name[] = "exits32";

static void check_cpuid(void)
{
	uint32_t a, b, c, d;
	cpuid(1, 0, &a, &b, &c, &d);
	if (!rt_beelzebox) {
		rt_skip("cpuid-hypervisor-bit", "not under beelzebox");
		rt_skip("cpuid-vmx-clear", "not under beelzebox");
		rt_skip("cpuid-signature", "not under beelzebox");
		rt_skip("cpuid-tsc-leaf", "not under beelzebox");
		return;
	}
	CHECK("cpuid-hypervisor-bit", c & (1u << 31), "leaf 1 ecx %x", c);
	CHECK("cpuid-vmx-clear", !(c & (1u << 5)), "leaf 1 ecx %x", c);
	cpuid(0x40000000, 0, &a, &b, &c, &d);
	CHECK("cpuid-signature", a >= 0x40000010 && b == 0x6c656562 && c == 0x6f62657a && d == 0x4d4d5678,
	      "eax %x ebx %x ecx %x edx %x", a, b, c, d);
	cpuid(0x40000010, 0, &a, &b, &c, &d);
	CHECK("cpuid-tsc-leaf", a != 0 && b != 0, "tsc kHz %u bus kHz %u", a, b);
}

static void check_ports(void)
{
	/* Reaching this line at all shows COM1 output works. */
	rt_ok("com1-output");
	uint8_t b = inb(0x1234);
	uint16_t w = inw(0x1234);
	uint32_t l = inl(0x1234);
	CHECK("port-unknown-all-ones", b == 0xff && w == 0xffff && l == 0xffffffff, "inb %x inw %x inl %x",
	      b, w, l);
	outb(0x1234, 0x5a); /* ignored */
	outb(0x80, 0x42);
	rt_ok("port-unknown-write-ignored");
}

static void check_msrs(void)
{
	uint64_t v, w;
	int e = rdmsr_safe(0xC0000080, &v);
	CHECK("msr-efer-read", e == 0 && !(v & (1u << 10)), "vector %d value %llx", e, (unsigned long long)v);

	uint64_t pat;
	e = rdmsr_safe(0x277, &pat);
	uint64_t want = 0x0007010600070106ull; /* WB WT UC- UC, WB WC UC- UC */
	int e2 = wrmsr_safe(0x277, want);
	int e3 = rdmsr_safe(0x277, &w);
	CHECK("msr-pat-write-read", !e && !e2 && !e3 && w == want, "vectors %d %d %d read %llx", e, e2, e3,
	      (unsigned long long)w);
	wrmsr_safe(0x277, pat);

	e = wrmsr_safe(0xC0000103, 0x1234);
	e2 = rdmsr_safe(0xC0000103, &w);
	CHECK("msr-tsc-aux-write-read", !e && !e2 && w == 0x1234, "vectors %d %d read %llx", e, e2,
	      (unsigned long long)w);

	uint64_t t1 = rdtsc();
	e = rdmsr_safe(0x10, &v);
	uint64_t t2 = rdtsc();
	uint64_t slack = rt_tsc_khz; /* 1 ms */
	CHECK_VMM("msr-tsc-read", !e && v + slack >= t1 && v <= t2 + slack, "vector %d msr %llx rdtsc %llx..%llx", e,
	      (unsigned long long)v, (unsigned long long)t1, (unsigned long long)t2);

	e = rdmsr_safe(0x12345678, &v);
	CHECK_VMM("msr-disallowed-read-gp", e == 13, "vector %d", e);
	e = wrmsr_safe(0x12345678, 1);
	CHECK_VMM("msr-disallowed-write-gp", e == 13, "vector %d", e);

	e = rdmsr_safe(0x3A, &v);
	if (e)
		rt_printf("vmguest: exits32: IA32_FEATURE_CONTROL raised vector %d\n", e);
	else
		rt_printf("vmguest: exits32: IA32_FEATURE_CONTROL reads %llx\n", (unsigned long long)v);
	rt_ok("msr-feature-control-survives");
	if (rt_beelzebox)
		CHECK("msr-feature-control-no-vmx", e == 13 || !(v & 6), "value %llx", (unsigned long long)v);
	else
		rt_skip("msr-feature-control-no-vmx", "not under beelzebox");
}

static void check_cr_xsetbv(void)
{
	uintptr_t cr4 = read_cr4();
	write_cr4(cr4 | (1u << 9) | (1u << 10)); /* OSFXSR, OSXMMEXCPT */
	uintptr_t got = read_cr4();
	CHECK("cr4-osfxsr", got == (cr4 | (1u << 9) | (1u << 10)), "wrote %lx read %lx",
	      (unsigned long)(cr4 | (1u << 9) | (1u << 10)), (unsigned long)got);
	uintptr_t cr0 = read_cr0();
	write_cr0((cr0 & ~(uintptr_t)(1u << 2)) | (1u << 1) | (1u << 5)); /* EM off, MP, NE */
	got = read_cr0();
	CHECK("cr0-write", (got & 0x26) == 0x22, "read %lx", (unsigned long)got);

	uint32_t a, b, c, d;
	cpuid(1, 0, &a, &b, &c, &d);
	if (!(c & (1u << 26))) {
		rt_skip("xsetbv", "no XSAVE in CPUID");
		return;
	}
	write_cr4(read_cr4() | (1u << 18)); /* OSXSAVE */
	CHECK("cr4-osxsave", read_cr4() & (1u << 18), "cr4 %lx", (unsigned long)read_cr4());
	int e = RT_CATCH("xsetbv", :: "c"(0), "a"(3), "d"(0) : "memory");
	uint32_t lo = 0, hi = 0;
	int e2 = RT_CATCH("xgetbv", : "+a"(lo), "+d"(hi) : "c"(0) : "memory");
	CHECK("xsetbv", e < 0 && e2 < 0 && lo == 3 && hi == 0, "vectors %d %d xcr0 %x:%x", e, e2, hi, lo);
}

static void check_rdtsc(void)
{
	uint64_t prev = rdtsc();
	int bad = -1;
	for (int i = 0; i < 1000; i++) {
		uint64_t t = rdtsc();
		if (t < prev && bad < 0)
			bad = i;
		prev = t;
	}
	CHECK("rdtsc-monotonic", bad < 0, "went backwards at read %d", bad);
}

static char hc_msg[] = "vmguest: exits32: hypercall write\n";

static void check_hypercalls(void)
{
	if (!rt_beelzebox) {
		rt_skip("hypercall-write", "not under beelzebox");
		rt_skip("hypercall-write-efault", "not under beelzebox");
		rt_skip("hypercall-enosys", "not under beelzebox");
		rt_skip("hypercall-zero-enosys", "not under beelzebox");
		rt_skip("hypercall-clock-gettime", "not under beelzebox");
		return;
	}
	uint32_t n = rt_strlen(hc_msg);
	long r = vmcall(HC_WRITE, 1, (uintptr_t)hc_msg, n);
	CHECK("hypercall-write", r == (long)n, "returned %ld want %u", r, n);
	r = vmcall(HC_WRITE, 1, 0xF0000000u, 16);
	CHECK("hypercall-write-efault", r == HC_EFAULT, "returned %ld", r);
	r = vmcall(12345, 0, 0, 0);
	CHECK("hypercall-enosys", r == HC_ENOSYS, "returned %ld", r);
	r = vmcall(0, 0, 0, 0);
	CHECK("hypercall-zero-enosys", r == HC_ENOSYS, "returned %ld", r);
	struct hc_timespec ts = { -1, -1 }, ts2 = { -1, -1 };
	r = vmcall(HC_CLOCK_GETTIME, 1, (uintptr_t)&ts, 0);
	long r2 = vmcall(HC_CLOCK_GETTIME, 1, (uintptr_t)&ts2, 0);
	int later = ts2.sec > ts.sec || (ts2.sec == ts.sec && ts2.nsec >= ts.nsec);
	CHECK("hypercall-clock-gettime",
	      r == 0 && r2 == 0 && ts.sec >= 0 && ts.nsec >= 0 && ts.nsec < 1000000000 && (ts.sec | ts.nsec) && later,
	      "returned %ld %ld ts %lld.%lld then %lld.%lld", r, r2, (long long)ts.sec, (long long)ts.nsec,
	      (long long)ts2.sec, (long long)ts2.nsec);
}

static volatile unsigned int80_count;
static void int80_handler(struct rt_frame *f)
{
	int80_count++;
	f->ax += 1;
}

static void check_idt(void)
{
	rt_set_handler(0x80, int80_handler);
	uint32_t v = 41;
	__asm__ volatile("int $0x80" : "+a"(v) :: "memory");
	CHECK("int80", int80_count == 1 && v == 42, "count %u eax %u", int80_count, v);

	int e = RT_CATCH("ud2", ::: "memory");
	CHECK("ud2", e == 6, "vector %d", e);
	uint32_t a = 1, d = 0;
	e = RT_CATCH("divl %2", : "+a"(a), "+d"(d) : "r"(0) : "memory");
	CHECK("div-zero", e == 0, "vector %d", e);
	e = RT_CATCH("int3", ::: "memory");
	CHECK("int3", e == 3, "vector %d", e);
}

static uint8_t vmx_region[4096] __attribute__((aligned(4096)));

static void check_vmx(void)
{
	uint64_t ptr = (uintptr_t)vmx_region;
	int e = RT_CATCH("vmxon (%0)", :: "r"(&ptr) : "memory");
	CHECK("vmxon-ud", e == 6, "vector %d", e);
	uint32_t val = 0;
	e = RT_CATCH("vmread %1, %0", : "+r"(val) : "r"(0x4400) : "memory");
	CHECK("vmread-ud", e == 6, "vector %d", e);
	e = RT_CATCH("vmwrite %0, %1", :: "r"(0), "r"(0x681e) : "memory");
	CHECK("vmwrite-ud", e == 6, "vector %d", e);
	e = RT_CATCH("vmptrld (%0)", :: "r"(&ptr) : "memory");
	CHECK("vmptrld-ud", e == 6, "vector %d", e);
	uint64_t desc[2] = { 0, 0 };
	e = RT_CATCH("invept (%0), %1", :: "r"(desc), "r"(2) : "memory");
	CHECK("invept-ud", e == 6, "vector %d", e);
}

void kmain(void)
{
	check_cpuid();
	check_ports();
	check_msrs();
	check_cr_xsetbv();
	check_rdtsc();
	check_hypercalls();
	check_idt();
	check_vmx();
}
