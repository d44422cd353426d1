package main

import (
	"maps"
	"slices"
)

// skipFeatures is the one closed list of tokens a SKIP line may start
// with: CPU features the kernel's tests gate on CPUID (or on a VMX
// capability MSR). A SKIP naming anything else fails the boot, and a
// manifest may expect no other SKIP. A new token belongs here, with what
// the kernel reads to decide it is missing.
var skipFeatures = map[string]string{
	"avx512": "CPUID.(EAX=7,ECX=0):EBX.AVX512F",
	"pku":    "CPUID.(EAX=7,ECX=0):ECX.PKU (protection keys)",
	"pcid":   "CPUID.1:ECX.PCID",
	"umip":   "CPUID.(EAX=7,ECX=0):ECX.UMIP",
	"vmx":    "CPUID.1:ECX.VMX",
	"ept":    "IA32_VMX_PROCBASED_CTLS2 allowed-1 bit 1 (EPT)",
	"smp":    "a second CPU in the ACPI MADT (enabled, started)",
	"rdtscp": "CPUID.80000001H:EDX.RDTSCP",
}

// knownSkipFeature reports whether token is in skipFeatures.
func knownSkipFeature(token string) bool {
	_, ok := skipFeatures[token]
	return ok
}

// skipFeatureList is the closed list, sorted, for messages.
func skipFeatureList() []string {
	return slices.Sorted(maps.Keys(skipFeatures))
}
