// PERCPU(off) is the running CPU's per-CPU field at offset off (perCPU_*
// from go_asm.h): in ring 0, outside the entry window, GS base is the
// CPU's block (entry_amd64.s, "Per-CPU data"). The blocks live in the
// entry pages (entrypages.go), which every address space maps.
#define PERCPU(off) off(GS)
