// Package ioapic drives the I/O APIC (82093AA I/O APIC datasheet): its
// registers are reached through an index (IOREGSEL) and a data window
// (IOWIN). The kernel routes no interrupt through it yet, so Init masks
// every redirection entry. It is the only code that touches it.
//
// TamaGo's soc/intel/ioapic does not fit: its Init rewrites the I/O APIC
// ID, which the firmware assigned and the ACPI MADT reports, and it has
// no way to mask an entry.
package ioapic

import (
	"sync/atomic"
	"unsafe"

	"beelzebox/mm"
)

// DefaultBase is where PC chipsets (and QEMU and Bochs) place the first I/O
// APIC; the ACPI MADT gives the real address (SetBase).
const DefaultBase = 0xfec00000

// Memory-mapped registers (82093AA §3.0).
const (
	ioRegSel = 0x00
	ioWin    = 0x10
)

// Indirect registers (82093AA §3.2).
const (
	regVersion  = 0x01
	regRedirTbl = 0x10 // entry n: low dword at 0x10+2n, high at 0x11+2n

	versionMaxEntryShift = 16 // bits 23:16: the highest entry's index
	redirMasked          = 1 << 16

	// maxEntries: IOREGSEL's index is 8 bits, so the table (two dwords
	// an entry from 0x10) holds 120 entries at most.
	maxEntries = (0x100 - regRedirTbl) / 2
)

var (
	base uint64 = DefaultBase
	regs uintptr
)

// SetBase sets the physical address of the registers for Init.
func SetBase(pa uint64) { base = pa }

// Init maps the registers and, if an I/O APIC answers there, masks every
// redirection entry (vector 0, fixed delivery, physical destination 0).
// It returns the number of entries, and false where nothing answers.
func Init() (entries int, ok bool) {
	regs = mm.MapMMIO(base, mm.PageSize)
	entries, ok = entriesOf(read(regVersion))
	if !ok {
		return 0, false
	}
	for i := 0; i < entries; i++ {
		lo, hi := redirRegs(i)
		write(lo, redirMasked)
		write(hi, 0)
	}
	return entries, true
}

// entriesOf decodes the version register: the number of redirection
// entries, or false for a value no I/O APIC returns (all ones from a
// missing device).
func entriesOf(version uint32) (int, bool) {
	if version == ^uint32(0) {
		return 0, false
	}
	n := int(version>>versionMaxEntryShift&0xff) + 1
	if n > maxEntries {
		return 0, false
	}
	return n, true
}

// redirRegs returns the indexes of redirection entry i's low and high
// dwords.
func redirRegs(i int) (lo, hi uint32) {
	lo = regRedirTbl + 2*uint32(i)
	return lo, lo + 1
}

func read(index uint32) uint32 {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(regs+ioRegSel)), index)
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(regs + ioWin)))
}

func write(index, v uint32) {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(regs+ioRegSel)), index)
	atomic.StoreUint32((*uint32)(unsafe.Pointer(regs+ioWin)), v)
}
