// Package mmio emulates the guest instruction that touched an MMIO page: an
// EPT violation on a guest-physical page with no RAM behind it. It walks the
// guest's page tables to fetch the instruction (translate.go), decodes it with
// golang.org/x/arch/x86/x86asm and describes the single memory access it
// makes (decode.go), and applies the result to the guest's registers.
//
// Only the moves a driver uses on device registers are emulated: MOV between
// a general-purpose register and memory (opcodes 88, 89, 8A, 8B), MOV of an
// immediate to memory (C6, C7), MOV between the A register and a memory
// offset (A0-A3), and MOVZX, MOVSX and MOVSXD from memory. Everything else
// (read-modify-write arithmetic, string moves, SSE/AVX loads, XCHG, LOCK
// prefixed instructions...) is refused with an error naming the instruction;
// the host turns that into a fault exit.
package mmio

import (
	"errors"
	"fmt"

	"golang.org/x/arch/x86/x86asm"
)

// General-purpose register numbers in x86 encoding order, as used by GPRs
// and Access.Reg.
const (
	RAX = iota
	RCX
	RDX
	RBX
	RSP
	RBP
	RSI
	RDI
	R8
	R9
	R10
	R11
	R12
	R13
	R14
	R15
)

// NoRegister is Access.Reg when the value written is an immediate.
const NoRegister = -1

// MaxInstructionLength is the architectural limit on an x86 instruction.
const MaxInstructionLength = 15

// GPRs holds the guest's general-purpose registers, indexed by RAX..R15.
type GPRs [16]uint64

// Access is the memory access an emulated instruction makes.
type Access struct {
	Size       int    // bytes accessed in memory: 1, 2, 4 or 8
	Write      bool   // true: memory is written; false: memory is read
	Reg        int    // the register operand (RAX..R15), or NoRegister for an immediate source
	HighByte   bool   // the register operand is AH, CH, DH or BH (bits 15:8 of Reg)
	Immediate  uint64 // the value of MOV m, imm (already truncated to Size)
	ZeroExtend bool   // MOVZX: the value read is zero-extended to DestSize
	SignExtend bool   // MOVSX/MOVSXD: the value read is sign-extended to DestSize
	DestSize   int    // bytes of the destination register of a read
	Length     int    // instruction length in bytes, to advance RIP
}

// ErrUnsupported is wrapped by Decode's error for an instruction it does not
// emulate.
var ErrUnsupported = errors.New("mmio: instruction not emulated")

// Decode decodes the instruction at the start of code in the given mode (16,
// 32 or 64 bits) and returns the memory access it makes.
func Decode(code []byte, mode int) (Access, error) {
	if mode != 16 && mode != 32 && mode != 64 {
		return Access{}, fmt.Errorf("mmio: invalid processor mode %d", mode)
	}
	if len(code) > MaxInstructionLength {
		code = code[:MaxInstructionLength]
	}
	inst, err := x86asm.Decode(code, mode)
	if err != nil {
		return Access{}, fmt.Errorf("mmio: cannot decode % x: %w", code, err)
	}
	unsupported := func() (Access, error) {
		return Access{}, fmt.Errorf("%w: %v", ErrUnsupported, inst)
	}
	for _, p := range inst.Prefix {
		if p&0xFF == x86asm.PrefixLOCK&0xFF {
			return unsupported()
		}
	}
	dst, src := inst.Args[0], inst.Args[1]
	if dst == nil || src == nil || inst.Args[2] != nil {
		return unsupported()
	}
	a := Access{Length: inst.Len}
	switch inst.Op {
	case x86asm.MOV:
		if _, ok := dst.(x86asm.Mem); ok {
			a.Write = true
			switch s := src.(type) {
			case x86asm.Reg:
				size, ok := a.setReg(s)
				if !ok {
					return unsupported()
				}
				a.Size = size
			case x86asm.Imm:
				a.Reg = NoRegister
				a.Size = inst.MemBytes
				a.Immediate = uint64(s) & sizeMask(a.Size)
			default:
				return unsupported()
			}
		} else if _, ok := src.(x86asm.Mem); ok {
			r, isReg := dst.(x86asm.Reg)
			if !isReg {
				return unsupported()
			}
			size, ok := a.setReg(r)
			if !ok {
				return unsupported()
			}
			a.Size, a.DestSize = size, size
		} else {
			return unsupported()
		}
	case x86asm.MOVZX, x86asm.MOVSX, x86asm.MOVSXD:
		r, isReg := dst.(x86asm.Reg)
		_, isMem := src.(x86asm.Mem)
		if !isReg || !isMem {
			return unsupported()
		}
		size, ok := a.setReg(r)
		if !ok || a.HighByte {
			return unsupported()
		}
		a.DestSize, a.Size = size, inst.MemBytes
		if inst.Op == x86asm.MOVZX {
			a.ZeroExtend = true
		} else {
			a.SignExtend = true
		}
	default:
		return unsupported()
	}
	switch a.Size {
	case 1, 2, 4, 8:
	default:
		return unsupported()
	}
	return a, nil
}

// setReg records a general-purpose register operand and returns its width
// in bytes; false for any other register (segment, control, debug, vector).
func (a *Access) setReg(r x86asm.Reg) (int, bool) {
	switch {
	case r >= x86asm.AL && r <= x86asm.BL:
		a.Reg = int(r - x86asm.AL)
		return 1, true
	case r >= x86asm.AH && r <= x86asm.BH:
		a.Reg, a.HighByte = int(r-x86asm.AH), true
		return 1, true
	case r >= x86asm.SPB && r <= x86asm.R15B:
		a.Reg = int(r-x86asm.SPB) + RSP
		return 1, true
	case r >= x86asm.AX && r <= x86asm.R15W:
		a.Reg = int(r - x86asm.AX)
		return 2, true
	case r >= x86asm.EAX && r <= x86asm.R15L:
		a.Reg = int(r - x86asm.EAX)
		return 4, true
	case r >= x86asm.RAX && r <= x86asm.R15:
		a.Reg = int(r - x86asm.RAX)
		return 8, true
	}
	return 0, false
}

func sizeMask(size int) uint64 {
	if size >= 8 {
		return ^uint64(0)
	}
	return 1<<(8*uint(size)) - 1
}

// Complete finishes a read access: it writes value, read from the device,
// into the destination register with x86 semantics. 8- and 16-bit writes
// merge into the register (AH..BH into bits 15:8), 32-bit writes zero-extend
// to 64 bits, MOVZX/MOVSX extend value from Size to DestSize first. A write
// access leaves the registers alone.
func (a Access) Complete(regs *GPRs, value uint64) {
	if a.Write || a.Reg < 0 || a.Reg >= len(regs) {
		return
	}
	value &= sizeMask(a.Size)
	if a.SignExtend && a.Size < 8 {
		shift := 64 - 8*uint(a.Size)
		value = uint64(int64(value<<shift) >> shift)
	}
	dest := a.DestSize
	if dest == 0 {
		dest = a.Size
	}
	value &= sizeMask(dest)
	r := &regs[a.Reg]
	switch {
	case a.HighByte:
		*r = *r&^0xFF00 | value<<8
	case dest == 1 || dest == 2:
		*r = *r&^sizeMask(dest) | value
	default: // 4 bytes zero-extends; 8 replaces
		*r = value
	}
}

// Value is the value a write access stores: the source register (or its
// high byte) or the immediate, truncated to Size.
func (a Access) Value(regs *GPRs) uint64 {
	if a.Reg < 0 || a.Reg >= len(regs) {
		return a.Immediate & sizeMask(a.Size)
	}
	v := regs[a.Reg]
	if a.HighByte {
		v >>= 8
	}
	return v & sizeMask(a.Size)
}
