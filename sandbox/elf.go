package sandbox

import (
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
// placed where it is linked, which fails with an error naming the range if
// something is there already; a static-pie (ET_DYN) is placed in a free
// slot and relocated.
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
	var slot uint64
	if im.Kind == elfload.PIE {
		if im.High-im.Low+stack+2*mm.PageSize > slotSize {
			return nil, errors.New("sandbox: static-pie image too large for a guest slot")
		}
		base, err := takeSlot()
		if err != nil {
			return nil, err
		}
		slot = base
		if err := im.Rebase(base + mm.PageSize); err != nil {
			giveSlot(base)
			return nil, err
		}
	}
	mem := make([]byte, im.High-im.Low)
	for _, s := range im.Segments {
		copy(mem[s.Vaddr-im.Low:], s.Data)
	}
	if err := im.ApplyRelocs(mem, im.Low); err != nil {
		giveSlot(slot)
		return nil, err
	}
	cfg := Config{Level: level, Budget: opt.Budget, MemoryLimit: opt.MemoryLimit, Shared: opt.Shared, Group: opt.Group}
	for i, s := range im.Segments {
		lo, hi := s.Vaddr&^(mm.PageSize-1), (s.End()+mm.PageSize-1)&^(mm.PageSize-1)
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
		cfg.Regions = append(cfg.Regions, Region{Name: fmt.Sprintf("segment %d (%v)", i, p), Addr: lo, Size: hi - lo, Perm: p, Data: mem[lo-im.Low : hi-im.Low]})
	}
	stackRegion := Region{Name: "stack", Size: stack, Perm: Read | Write}
	if slot != 0 {
		stackRegion.Addr = im.High + mm.PageSize // above the image, past a guard page
	}
	cfg.Regions = append(cfg.Regions, stackRegion)
	g, err := newRingGuest(cfg)
	if err != nil {
		giveSlot(slot)
		return nil, err
	}
	if slot != 0 {
		g.ownSlot = slot
	}
	top := g.order[len(g.order)-1] + stack
	if err := g.SetRegs(Regs{RIP: im.Entry, RSP: top, RDI: opt.Arg}); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}
