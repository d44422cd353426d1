package boot

import (
	"beelzebox/acpi"
	"beelzebox/cpu"
	"beelzebox/kernel"
)

// Machine is what the ACPI tables say about the machine: its processors,
// I/O APICs, interrupt overrides and HPET. Without tables it lists one
// processor, the one the kernel boots on.
var Machine acpi.Tables

// identityLimit is the end of the boot identity map (entry_amd64.s).
const identityLimit = 4 << 30

// firmwareMem reads physical memory through the boot identity map; what
// lies beyond it reads as all-ones, like a floating bus, so a table
// pointer above 4 GiB fails its checks instead of faulting.
type firmwareMem struct{}

func (firmwareMem) ok(a, n uint64) bool { return a < identityLimit && a+n <= identityLimit }

func (f firmwareMem) U8(a uint64) uint8 {
	if !f.ok(a, 1) {
		return 0xff
	}
	return physMem{}.U8(a)
}

func (f firmwareMem) U32(a uint64) uint32 {
	if !f.ok(a, 4) {
		return 0xffffffff
	}
	return physMem{}.U32(a)
}

func (f firmwareMem) U64(a uint64) uint64 {
	if !f.ok(a, 8) {
		return ^uint64(0)
	}
	return physMem{}.U64(a)
}

// initMachine finds and decodes the ACPI tables into Machine and prints
// one line about them. It runs on the boot identity map, before mm.Init
// replaces it: the tables are in memory the kernel's own map leaves out.
func initMachine() {
	m := firmwareMem{}
	var rsdp uint64
	found := false
	if Info.RSDP != 0 || !underOwnVMM() {
		rsdp, found = acpi.Find(m, Info.RSDP)
	}
	if found {
		if msg := acpi.Parse(m, rsdp, &Machine); msg != "" {
			kernel.Print(msg)
			kernel.Print("\n")
		}
	}
	if !Machine.HaveMADT || Machine.NCPUs == 0 {
		Machine.CPUs[0] = acpi.CPU{APICID: bspAPICID(), Enabled: true}
		Machine.NCPUs = 1
		if !found {
			kernel.Print("acpi: no tables, one CPU\n")
		} else {
			kernel.Print("acpi: no processors in the tables, one CPU\n")
		}
	} else {
		kernel.Print("acpi: ")
		kernel.PrintDec(uint64(Machine.NCPUs))
		kernel.Print(" CPUs (")
		for i, c := range Machine.CPUs[:Machine.NCPUs] {
			if i > 0 {
				kernel.Print(" ")
			}
			kernel.PrintDec(uint64(c.APICID))
			if !c.Enabled {
				kernel.Print("-off")
			}
		}
		kernel.Print("), ")
		kernel.PrintDec(uint64(Machine.NIOAPICs))
		kernel.Print(" IOAPICs, ")
		if Machine.HaveHPET {
			kernel.Print("HPET at ")
			kernel.PrintHex(Machine.HPETAddr)
		} else {
			kernel.Print("no HPET")
		}
		kernel.Print("\n")
	}
	if Machine.HaveHPET && Machine.HPETAddr < identityLimit {
		kernel.SetHPETAddress(Machine.HPETAddr)
	}
}

// vmmSignature is what CPUID leaf 0x40000000 returns in EBX, ECX, EDX in
// the kernel's own level 4 VM (sandbox/vm/machine.Signature).
const vmmSignature = "beelzeboxVMM"

// underOwnVMM reports whether the kernel runs in a level 4 VM of its own.
// That PC has no firmware and no ACPI tables, and a read outside its RAM
// stops the VM, so the BIOS areas must not be searched there (its memory
// map lists 0xF0000-0xFFFFF as reserved, but no memory backs it).
func underOwnVMM() bool {
	if _, _, c, _ := cpu.CPUID(1, 0); c&(1<<31) == 0 { // CPUID.1:ECX[31]: hypervisor present
		return false
	}
	_, b, c, d := cpu.CPUID(0x40000000, 0)
	for i, r := range [3]uint32{b, c, d} {
		for j := 0; j < 4; j++ {
			if byte(r>>(8*j)) != vmmSignature[4*i+j] {
				return false
			}
		}
	}
	return true
}

// bspAPICID is the APIC ID of the processor running this: the x2APIC ID
// of CPUID leaf 0BH where there is one, else CPUID.1:EBX[31:24] (SDM
// Vol. 3A §11.4.6, §11.12.8.1).
func bspAPICID() uint32 {
	const leafTopology = 0x0B
	if max, _, _, _ := cpu.CPUID(0, 0); max >= leafTopology {
		if _, b, _, d := cpu.CPUID(leafTopology, 0); b != 0 {
			return d
		}
	}
	_, b, _, _ := cpu.CPUID(1, 0)
	return b >> 24
}
