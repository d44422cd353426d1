// Package mm manages memory: the physical frame allocator, x86-64 4-level
// page tables, the kernel's address space (a direct map of physical memory
// in the upper half, the kernel image, MMIO), and the anonymous mappings
// the Go runtime asks for, which are backed on demand.
package mm

import "beelzebox/cpu"

// PTE is a page-table entry at any level (SDM Vol. 3A §5.5, tables 5-15 to
// 5-20).
type PTE uint64

// Entry bits.
const (
	Present      PTE = 1 << 0
	Writable     PTE = 1 << 1
	User         PTE = 1 << 2
	WriteThrough PTE = 1 << 3
	CacheDisable PTE = 1 << 4
	Accessed     PTE = 1 << 5
	Dirty        PTE = 1 << 6
	Huge         PTE = 1 << 7 // PS: 2 MiB in a PDE, 1 GiB in a PDPTE
	Global       PTE = 1 << 8
	NoExec       PTE = 1 << 63

	// Protection key of a user page, bits 62:59 (SDM Vol. 3A §5.6.2).
	pkeyShift      = 59
	pkeyMask   PTE = 0xf << pkeyShift
	addrMask   PTE = 0x000f_ffff_ffff_f000
	hugeAddr2M PTE = 0x000f_ffff_ffe0_0000
)

// Page sizes.
const (
	PageSize   = 4096
	PageSize2M = 2 << 20
	PageSize1G = 1 << 30
)

// Addr is the physical address an entry points to.
func (e PTE) Addr() uint64 {
	if e&Huge != 0 {
		return uint64(e & hugeAddr2M)
	}
	return uint64(e & addrMask)
}

// PKey is the entry's protection key.
func (e PTE) PKey() int { return int(e & pkeyMask >> pkeyShift) }

// WithPKey returns e with protection key k (0-15).
func (e PTE) WithPKey(k int) PTE { return e&^pkeyMask | PTE(k&0xf)<<pkeyShift }

// Perm is what a mapping allows.
type Perm uint8

const (
	PermRead Perm = 1 << iota
	PermWrite
	PermExec
	PermUser
)

// Flags encodes p as the leaf entry bits; read access is implied by
// Present (x86 has no write-only or execute-only pages).
func (p Perm) Flags() PTE {
	e := Present | NoExec
	if p&PermWrite != 0 {
		e |= Writable
	}
	if p&PermExec != 0 {
		e &^= NoExec
	}
	if p&PermUser != 0 {
		e |= User
	}
	return e
}

// index returns the table index of va at level (4 = PML4 ... 1 = PT).
func index(va uintptr, level int) int { return int(va>>(12+9*(level-1))) & 511 }

// entrySpan is the bytes one entry of a table at level maps, and
// entryBase the first address of entry i of a table at level whose first
// entry starts at base (the upper half of the PML4 is sign-extended).
func entrySpan(level int) uintptr { return uintptr(1) << (12 + 9*(level-1)) }

func entryBase(base uintptr, i, level int) uintptr {
	lo := base + uintptr(i)*entrySpan(level)
	if level == 4 && i >= 256 {
		lo |= 0xffff_0000_0000_0000
	}
	return lo
}

// Canonical reports whether va is a canonical 48-bit address.
func Canonical(va uintptr) bool { return cpu.Canonical(uint64(va)) }
