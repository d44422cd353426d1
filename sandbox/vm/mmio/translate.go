package mmio

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Control register and EFER bits that select the paging mode, SDM Vol. 3A
// §4.1 "Paging Modes and Control Bits".
const (
	CR0PG    = 1 << 31
	CR4PSE   = 1 << 4
	CR4PAE   = 1 << 5
	CR4LA57  = 1 << 12
	EFERLMA  = 1 << 10
	pageSize = 4096
)

// Paging-structure entry bits, SDM Vol. 3A §4.3 (32-bit), §4.4 (PAE) and
// §4.5 (4-level and 5-level paging).
const (
	entryPresent  = 1 << 0
	entryPageSize = 1 << 7 // PS: the entry maps a page (4 MiB, 2 MiB, 1 GiB)

	// Physical-address bits 51:12 of a 64-bit entry (MAXPHYADDR taken
	// as the architectural maximum of 52).
	addrMask64 = 0x000F_FFFF_FFFF_F000
	addrMask32 = 0xFFFF_F000

	// 32-bit paging 4 MiB page (PSE-36): bits 31:22 are address bits
	// 31:22, bits 20:13 are address bits 39:32, bit 21 is reserved.
	pde4MAddrLow   = 0xFFC0_0000
	pde4MAddrHigh  = 0x001F_E000
	pde4MReserved  = 1 << 21
	pde4MHighShift = 32 - 13

	// PAE PDPTE: bits 2:1 and 8:5 are reserved (§4.4.1).
	pdptePAEReserved = 0x1E6
	// 32-byte alignment of CR3 in PAE mode.
	cr3PAEMask = 0xFFFF_FFE0
)

// Errors from Translate.
var (
	ErrNotPresent   = errors.New("mmio: page not present")
	ErrReservedBits = errors.New("mmio: reserved bit set in paging entry")
)

// PhysReader reads guest-physical memory.
type PhysReader interface {
	ReadPhys(p []byte, gpa uint64) error
}

// Paging is the guest's paging state at the exit.
type Paging struct{ CR0, CR3, CR4, EFER uint64 }

func readEntry(r PhysReader, gpa uint64, size int) (uint64, error) {
	var b [8]byte
	if err := r.ReadPhys(b[:size], gpa); err != nil {
		return 0, fmt.Errorf("mmio: reading paging entry at %#x: %w", gpa, err)
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// Translate walks the guest's page tables and returns the guest-physical
// address of linear. It follows the paging mode set by CR0.PG, CR4.PAE,
// EFER.LMA and CR4.LA57: none (identity), 32-bit (4 KiB and, with CR4.PSE,
// 4 MiB pages), PAE (4 KiB and 2 MiB pages), 4-level and 5-level (4 KiB,
// 2 MiB and 1 GiB pages). The walk has a fixed number of levels, so a
// self-referencing table cannot make it loop.
//
// It is a translation only: access rights (R/W, U/S, XD, protection keys,
// SMEP/SMAP) are not checked and accessed/dirty bits are not set; the CPU did
// both on the access that caused the exit. PAE PDPTEs are read from memory,
// not from the PDPTE registers the CPU loaded with CR3. Only some reserved
// bits are checked: bit 21 of a 4 MiB PDE, the reserved bits of a PAE PDPTE,
// PS in a PML5E or PML4E, and the low address bits of 2 MiB and 1 GiB pages.
func Translate(r PhysReader, pg Paging, linear uint64) (uint64, error) {
	switch {
	case pg.CR0&CR0PG == 0:
		return linear, nil
	case pg.CR4&CR4PAE == 0:
		return translate32(r, pg, uint32(linear))
	case pg.EFER&EFERLMA == 0:
		return translatePAE(r, pg, uint32(linear))
	}
	return translateLong(r, pg, linear)
}

// translate32 is 32-bit paging, SDM §4.3.
func translate32(r PhysReader, pg Paging, linear uint32) (uint64, error) {
	pde, err := readEntry(r, pg.CR3&addrMask32+uint64(linear>>22)*4, 4)
	if err != nil {
		return 0, err
	}
	if pde&entryPresent == 0 {
		return 0, ErrNotPresent
	}
	if pde&entryPageSize != 0 && pg.CR4&CR4PSE != 0 {
		if pde&pde4MReserved != 0 {
			return 0, ErrReservedBits
		}
		base := pde&pde4MAddrLow | (pde&pde4MAddrHigh)<<pde4MHighShift
		return base | uint64(linear&(1<<22-1)), nil
	}
	pte, err := readEntry(r, pde&addrMask32+uint64(linear>>12&0x3FF)*4, 4)
	if err != nil {
		return 0, err
	}
	if pte&entryPresent == 0 {
		return 0, ErrNotPresent
	}
	return pte&addrMask32 | uint64(linear&(pageSize-1)), nil
}

// translatePAE is PAE paging, SDM §4.4.
func translatePAE(r PhysReader, pg Paging, linear uint32) (uint64, error) {
	pdpte, err := readEntry(r, pg.CR3&cr3PAEMask+uint64(linear>>30)*8, 8)
	if err != nil {
		return 0, err
	}
	if pdpte&entryPresent == 0 {
		return 0, ErrNotPresent
	}
	if pdpte&pdptePAEReserved != 0 {
		return 0, ErrReservedBits
	}
	return walk64(r, pdpte&addrMask64, uint64(linear), 2)
}

// translateLong is 4-level paging, or 5-level paging with CR4.LA57, SDM §4.5.
func translateLong(r PhysReader, pg Paging, linear uint64) (uint64, error) {
	levels := 4
	if pg.CR4&CR4LA57 != 0 {
		levels = 5
	}
	return walk64(r, pg.CR3&addrMask64, linear, levels)
}

// walk64 walks levels levels of 64-bit paging structures (9 index bits
// each) starting at table. Level 3 (PDPT) may map a 1 GiB page, level 2 (PD)
// a 2 MiB page; PS in a PML4E or PML5E is reserved. In PAE mode the walk
// starts at the PD with levels = 2, and PS in the PD maps a 2 MiB page.
func walk64(r PhysReader, table, linear uint64, levels int) (uint64, error) {
	for level := levels; level >= 1; level-- {
		shift := 12 + 9*uint(level-1)
		entry, err := readEntry(r, table+(linear>>shift&0x1FF)*8, 8)
		if err != nil {
			return 0, err
		}
		if entry&entryPresent == 0 {
			return 0, ErrNotPresent
		}
		if level == 1 {
			return entry&addrMask64 | linear&(pageSize-1), nil
		}
		if entry&entryPageSize != 0 {
			if level > 3 {
				return 0, ErrReservedBits
			}
			pageMask := uint64(1)<<shift - 1
			// Bits 12 (PAT) .. shift-1 other than PAT are reserved.
			if entry&addrMask64&pageMask&^(1<<12) != 0 {
				return 0, ErrReservedBits
			}
			return entry&addrMask64&^pageMask | linear&pageMask, nil
		}
		table = entry & addrMask64
	}
	return 0, ErrNotPresent // not reached: level 1 always returns
}

// FetchInstruction reads up to MaxInstructionLength bytes at the linear
// address rip (the caller adds the CS base outside 64-bit mode), translating
// each page separately so an instruction that crosses a page boundary is
// read correctly. If the second page cannot be translated or read, the bytes
// of the first page are returned without error; the decoder then reports a
// truncated instruction if it needed more.
func FetchInstruction(r PhysReader, pg Paging, rip uint64) ([]byte, error) {
	code := make([]byte, 0, MaxInstructionLength)
	linear := rip
	for len(code) < MaxInstructionLength {
		n := min(MaxInstructionLength-len(code), int(pageSize-linear%pageSize))
		gpa, err := Translate(r, pg, linear)
		if err == nil {
			buf := make([]byte, n)
			if err = r.ReadPhys(buf, gpa); err == nil {
				code = append(code, buf...)
				linear += uint64(n)
				continue
			}
		}
		if len(code) == 0 {
			return nil, fmt.Errorf("mmio: fetching instruction at %#x: %w", rip, err)
		}
		break
	}
	return code, nil
}
