/* Local APIC helpers shared by the apic, hlt and apic-wild guests. */
#ifndef VMGUEST_APIC_H
#define VMGUEST_APIC_H
#include "rt.h"

#define APIC_BASE_PA 0xFEE00000u
#define MSR_APIC_BASE 0x1B
#define MSR_TSC_DEADLINE 0x6E0
#define APIC_ID 0x020
#define APIC_VER 0x030
#define APIC_TPR 0x080
#define APIC_EOI 0x0B0
#define APIC_SVR 0x0F0
#define APIC_ISR 0x100
#define APIC_ESR 0x280
#define APIC_ICR_LO 0x300
#define APIC_ICR_HI 0x310
#define APIC_LVT_TIMER 0x320
#define APIC_TIMER_INIT 0x380
#define APIC_TIMER_CUR 0x390
#define APIC_TIMER_DIV 0x3E0
#define LVT_MASKED (1u << 16)
#define LVT_PERIODIC (1u << 17)
#define LVT_TSC_DEADLINE (2u << 17)

static inline uint32_t apic_read(uint32_t reg) { return *(volatile uint32_t *)(uintptr_t)(APIC_BASE_PA + reg); }
static inline void apic_write(uint32_t reg, uint32_t v) { *(volatile uint32_t *)(uintptr_t)(APIC_BASE_PA + reg) = v; }

/* Spins with interrupts enabled until *count reaches target or us
 * microseconds pass (by rdtsc). Returns the count. Never hangs. */
static inline unsigned wait_count(volatile unsigned *count, unsigned target, uint64_t us)
{
	uint64_t end = rt_deadline_us(us);
	sti();
	while (*count < target && rdtsc() < end)
		pause();
	cli();
	return *count;
}

/* APIC timer counts for us microseconds at divide 1. */
static inline uint32_t apic_ticks_us(uint32_t us)
{
	uint64_t t = rt_udiv64((uint64_t)rt_bus_khz * us, 1000, 0);
	return t ? (uint32_t)t : 1;
}
#endif
