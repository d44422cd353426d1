package ring

import (
	"errors"

	"beelzebox/cpu"
)

// pkruAllowing returns the PKRU value that denies every key except the
// read-write keys rw and the read-only keys ro. A denied key gets AD (no
// data access) without WD: with AD set, WD changes nothing on a real CPU,
// and leaving it clear keeps Bochs 2.7 working, which wrongly applies WD
// of key 0 to the kernel's own supervisor pages, so that the CPU could not
// even push the exception frame when the guest is interrupted.
func pkruAllowing(rw []int, ro []int) uint32 {
	v := uint32(0x55555555) // AD for every key
	for _, k := range rw {
		v &^= 3 << (2 * k)
	}
	for _, k := range ro {
		v = v&^(3<<(2*k)) | 2<<(2*k) // WD only
	}
	return v
}

// checkPKU is level 2's Backend.Available: the error of a level 2 request
// on a CPU without PKU.
//
// It also refuses a CPU that does not declare itself immune to rogue data
// cache load (Meltdown): level 2 runs guests on the kernel's page tables,
// which map all of memory, and such a CPU lets them read it speculatively
// whatever the protection keys say (README, security notes).
func checkPKU() error {
	if !cpu.CPU.PKU {
		return errors.New("sandbox: level 2 needs protection keys (CPUID.(EAX=7,ECX=0):ECX.PKU[bit 3]), which this CPU does not have")
	}
	if cpu.CPU.Exposed(cpu.Meltdown) {
		return errors.New("sandbox: level 2 cannot separate guests on this CPU: it does not declare itself immune to rogue data cache load (Meltdown, CVE-2017-5754; IA32_ARCH_CAPABILITIES.RDCL_NO clear), and level 2 guests run on page tables that map all of memory")
	}
	return nil
}
