package sandbox

import (
	"encoding/binary"
	"fmt"
	"time"

	"beelzebox/kernel/elfload"
	"beelzebox/mm"
)

// ELFOptions are the settings of a guest loaded from an ELF file.
type ELFOptions struct {
	StackSize   uint64 // default 64 KiB
	Arg         uint64 // passed in RDI
	Budget      time.Duration
	MemoryLimit uint64
	Shared      []Share
	Group       *KeyGroup
}

// NewELF creates a guest at level from a static x86-64 ELF executable:
// one region per PT_LOAD segment with the segment's permissions (the
// loader refuses W+X segments), a stack below an unmapped guard page, RIP
// at the entry point, RSP at the top of the stack (16-byte aligned, nothing
// pushed) and RDI = opt.Arg. A fixed-address executable (ET_EXEC) is
// placed where it is linked, which fails with an error naming the range
// and its owner if the place is not free for guests; a static-pie (ET_DYN)
// is relocated to wherever the backend places its first segment, a
// region at address 0, and its other segments follow at their offsets.
//
// It is built on the Guest interface alone, so every level loads ELF
// files the same way. The segments and the stack are checked against the
// guest's memory limit before anything is allocated, and loaded one by
// one: each is mapped writable, filled and relocated, then given its
// permissions (scanned first at level 2), so nothing ever holds the span
// between segments.
func NewELF(level Level, file []byte, opt ELFOptions) (Guest, error) {
	im, err := elfload.Parse(file)
	if err != nil {
		return nil, err
	}
	stack := opt.StackSize
	if stack == 0 {
		stack = 64 << 10
	}
	stack = (stack + mm.PageSize - 1) &^ (mm.PageSize - 1)
	limit := opt.MemoryLimit
	if limit == 0 {
		limit = DefaultMemoryLimit
	}
	if need := im.Size() + stack; need > limit || need < stack {
		return nil, fmt.Errorf("sandbox: the executable's segments and stack (%d KiB) exceed the guest's memory limit of %d KiB", need>>10, limit>>10)
	}
	g, err := New(Config{Level: level, Budget: opt.Budget, MemoryLimit: limit, Shared: opt.Shared, Group: opt.Group})
	if err != nil {
		return nil, err
	}
	stackAt, err := load(g, im, stack)
	if err == nil {
		err = g.Main().SetRegs(Regs{RIP: im.Entry, RSP: stackAt + stack, RDI: opt.Arg})
	}
	if err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// load maps the segments of im and a stack of stack bytes, placed by the
// backend (after the image's, for a static-pie), and returns the stack's
// address.
func load(g Guest, im *elfload.Image, stack uint64) (uint64, error) {
	for i, s := range im.Segments {
		lo, hi := s.Vaddr&^(mm.PageSize-1), (s.End()+mm.PageSize-1)&^(mm.PageSize-1)
		at := lo
		if im.Kind == elfload.PIE && i == 0 {
			at = 0
		}
		addr, err := g.Map(Region{Name: fmt.Sprintf("segment %d", i), Addr: at, Size: hi - lo, Perm: Read | Write})
		if err != nil {
			return 0, err
		}
		if at == 0 {
			// The backend placed the image: the rest follows it.
			if addr < lo {
				return 0, fmt.Errorf("sandbox: static-pie linked at %#x cannot move down to %#x", lo, addr)
			}
			if err := im.Rebase(addr - lo); err != nil {
				return 0, err
			}
		}
		if err := g.WriteMemory(im.Segments[i].Vaddr, s.Data); err != nil {
			return 0, err
		}
	}
	var word [8]byte
	for _, rel := range im.Relocs {
		binary.LittleEndian.PutUint64(word[:], rel.Value)
		if err := g.WriteMemory(rel.Addr, word[:]); err != nil {
			return 0, err
		}
	}
	for _, s := range im.Segments {
		var p Perm
		if s.Read {
			p |= Read
		}
		if s.Write {
			p |= Write
		}
		if s.Exec {
			p |= Exec
		}
		if err := g.Protect(s.Vaddr&^(mm.PageSize-1), p); err != nil {
			return 0, err
		}
	}
	return g.Map(Region{Name: "stack", Size: stack, Perm: Read | Write})
}
