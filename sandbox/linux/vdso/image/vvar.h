/*
 * The vvar page: one read-only page the host maps immediately before the
 * vDSO image and fills once when the program starts. The vDSO code reaches
 * it RIP-relatively through the linker-script symbol vvar_page (image start
 * - 4096). Package vdso (vdso.go) writes the same layout; its test reads the
 * VVAR_OFF_* / VVAR_* lines of this file and compares them with its own
 * constants, and the _Static_asserts below tie them to the struct, so the
 * two cannot drift apart.
 *
 * Time: for a TSC value t,
 *   mono = mono_base + (u64)(((u128)(t - base_tsc) * mult) >> shift)
 *   CLOCK_MONOTONIC, _RAW, _COARSE          mono
 *   CLOCK_BOOTTIME                          mono + boottime_offset
 *   CLOCK_REALTIME, _COARSE                 mono + realtime_offset
 *   CLOCK_TAI                               mono + realtime_offset + tai_offset
 * which, with base_tsc/mult/shift from the kernel's own calibration and
 * mono_base 0, is exactly beelzebox's kernel.Nanotime.
 *
 * seq is reserved for a seqlock should the host ever update the page while
 * the program runs: today it is written once and stays 0, and the code does
 * not read it. flags bit VVAR_FLAG_FALLBACK (or a zero mult, which an
 * unwritten page has) makes every function make the system call instead.
 */
#ifndef BEELZEBOX_VVAR_H
#define BEELZEBOX_VVAR_H

#define VVAR_SIZE               4096

#define VVAR_OFF_SEQ            0
#define VVAR_OFF_FLAGS          4
#define VVAR_OFF_BASE_TSC       8
#define VVAR_OFF_MULT           16
#define VVAR_OFF_SHIFT          24
#define VVAR_OFF_RES_NS         28
#define VVAR_OFF_MONO_BASE      32
#define VVAR_OFF_REALTIME_OFF   40
#define VVAR_OFF_BOOTTIME_OFF   48
#define VVAR_OFF_TAI_OFF        56
#define VVAR_OFF_COARSE_RES_NS  64
#define VVAR_OFF_CPU            68
#define VVAR_OFF_NODE           72
#define VVAR_OFF_TZ_MINWEST     76
#define VVAR_OFF_TZ_DSTTIME     80
#define VVAR_DATA_END           84

#define VVAR_FLAG_FALLBACK      1

#ifndef __ASSEMBLER__
#include <stddef.h>

struct vvar_data {
	unsigned int seq;
	unsigned int flags;
	unsigned long long base_tsc;
	unsigned long long mult;
	unsigned int shift;
	unsigned int res_ns;
	long long mono_base;
	long long realtime_offset;
	long long boottime_offset;
	long long tai_offset;
	unsigned int coarse_res_ns;
	unsigned int cpu;
	unsigned int node;
	int tz_minuteswest;
	int tz_dsttime;
};

_Static_assert(offsetof(struct vvar_data, seq) == VVAR_OFF_SEQ, "seq");
_Static_assert(offsetof(struct vvar_data, flags) == VVAR_OFF_FLAGS, "flags");
_Static_assert(offsetof(struct vvar_data, base_tsc) == VVAR_OFF_BASE_TSC, "base_tsc");
_Static_assert(offsetof(struct vvar_data, mult) == VVAR_OFF_MULT, "mult");
_Static_assert(offsetof(struct vvar_data, shift) == VVAR_OFF_SHIFT, "shift");
_Static_assert(offsetof(struct vvar_data, res_ns) == VVAR_OFF_RES_NS, "res_ns");
_Static_assert(offsetof(struct vvar_data, mono_base) == VVAR_OFF_MONO_BASE, "mono_base");
_Static_assert(offsetof(struct vvar_data, realtime_offset) == VVAR_OFF_REALTIME_OFF, "realtime_offset");
_Static_assert(offsetof(struct vvar_data, boottime_offset) == VVAR_OFF_BOOTTIME_OFF, "boottime_offset");
_Static_assert(offsetof(struct vvar_data, tai_offset) == VVAR_OFF_TAI_OFF, "tai_offset");
_Static_assert(offsetof(struct vvar_data, coarse_res_ns) == VVAR_OFF_COARSE_RES_NS, "coarse_res_ns");
_Static_assert(offsetof(struct vvar_data, cpu) == VVAR_OFF_CPU, "cpu");
_Static_assert(offsetof(struct vvar_data, node) == VVAR_OFF_NODE, "node");
_Static_assert(offsetof(struct vvar_data, tz_minuteswest) == VVAR_OFF_TZ_MINWEST, "tz_minuteswest");
_Static_assert(offsetof(struct vvar_data, tz_dsttime) == VVAR_OFF_TZ_DSTTIME, "tz_dsttime");
_Static_assert(sizeof(struct vvar_data) <= VVAR_SIZE, "size");
#endif

#endif
