// PERCPU(off) is the per-CPU field at offset off (perCPU_* from go_asm.h):
// the per-CPU block lives in the entry pages (entrypages.go), which every
// address space maps.
#define PERCPU(off) ·entry+entryData_percpu+off(SB)
