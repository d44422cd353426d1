package sandbox

import (
	"encoding/binary"
	"errors"
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
// is placed in a free slot and relocated.
//
// The segments and the stack are checked against the guest's memory limit
// before anything is allocated, and loaded one by one: each is mapped
// writable, filled and relocated, then given its permissions (scanned
// first at level 2), so nothing ever holds the span between segments.
func NewELF(level Level, file []byte, opt ELFOptions) (Guest, error) {
	if level != Level1 && level != Level2 {
		return nil, fmt.Errorf("sandbox: NewELF: %v is not implemented", level)
	}
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
		limit = defaultLimit
	}
	if need := im.Size() + stack; need > limit || need < stack {
		return nil, fmt.Errorf("sandbox: the executable's segments and stack (%d KiB) exceed the guest's memory limit of %d KiB", need>>10, limit>>10)
	}
	// A static-pie's slot: a guard page, the image, a guard page, the
	// stack, and the slot's last page free (the guard before the next).
	if im.Kind == elfload.PIE && im.High+stack+3*mm.PageSize > slotSize {
		return nil, errors.New("sandbox: static-pie image too large for a guest slot")
	}
	g, err := newRingGuest(Config{Level: level, Budget: opt.Budget, MemoryLimit: limit, Shared: opt.Shared, Group: opt.Group})
	if err != nil {
		return nil, err
	}
	if err := g.load(im, stack); err != nil {
		g.Close()
		return nil, err
	}
	if err := g.SetRegs(Regs{RIP: im.Entry, RSP: g.order[len(g.order)-1] + stack, RDI: opt.Arg}); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// load maps the segments of im and a stack of stack bytes. A static-pie
// goes at the start of the guest's slot (after a guard page), its stack
// above it past another.
func (g *ringGuest) load(im *elfload.Image, stack uint64) error {
	stackAt := uint64(0)
	if im.Kind == elfload.PIE {
		base, err := takeSlot(g.owner)
		if err != nil {
			return err
		}
		if err := im.Rebase(base + mm.PageSize); err != nil {
			return err
		}
		stackAt = im.High + mm.PageSize
		g.slot, g.next = base, stackAt+stack+mm.PageSize
	}
	for i, s := range im.Segments {
		lo, hi := s.Vaddr&^(mm.PageSize-1), (s.End()+mm.PageSize-1)&^(mm.PageSize-1)
		name := fmt.Sprintf("segment %d", i)
		if _, err := g.Map(Region{Name: name, Addr: lo, Size: hi - lo, Perm: Read | Write}); err != nil {
			return err
		}
		if err := g.WriteMemory(s.Vaddr, s.Data); err != nil {
			return err
		}
	}
	var word [8]byte
	for _, rel := range im.Relocs {
		binary.LittleEndian.PutUint64(word[:], rel.Value)
		if err := g.WriteMemory(rel.Addr, word[:]); err != nil {
			return err
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
			return err
		}
	}
	_, err := g.Map(Region{Name: "stack", Addr: stackAt, Size: stack, Perm: Read | Write})
	return err
}
