package process

import (
	"errors"
	"fmt"
	"unsafe"

	"beelzebox/cpu"
	"beelzebox/mm"
	"beelzebox/sandbox"
	"beelzebox/syscall"
)

// Duplicate makes a guest whose memory is a copy-on-write copy of g's and
// whose Main thread is a stopped copy of from (see sandbox.Guest).
//
// The duplicate is built like a new guest: its space, the same shared
// regions, then each private region in g's mapping order, mapped (so
// charged in full to its limit and its pages committed) before its pages
// get anything, then its thread. Its charge is g's less g's other
// threads, so it always fits the same limit. A backed page of g becomes
// a second reference to the same frame, read-only in both spaces (see
// memory.go); a page g has not backed stays unbacked in both.
func (g *guest) Duplicate(from sandbox.Thread) (sandbox.Guest, error) {
	ft, ok := from.(*thread)
	if !ok || ft.g != g {
		return nil, errors.New("sandbox: Duplicate: the thread is not one of the guest's")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, sandbox.ErrClosed
	}
	if err := ft.hold(); err != nil {
		return nil, err
	}
	defer ft.release()
	d := &guest{limit: g.limit, budget: g.budget, maxThreads: g.maxThreads, port: g.port}
	if err := d.init(); err != nil {
		return nil, err
	}
	err := d.share(g.shared)
	for _, a := range g.order {
		if err != nil {
			break
		}
		err = g.duplicateRegion(g.find(a), d)
	}
	if err == nil {
		d.main, err = d.newThread(func(t *thread) error {
			t.copyState(ft)
			return nil
		})
	}
	if err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// duplicateRegion maps r, a private region of g, into d, sharing its
// backed pages copy-on-write. g.mu is held.
func (g *guest) duplicateRegion(r *region, d *guest) error {
	if _, err := d.mapLocked(sandbox.Region{Name: r.name, Addr: r.addr, Size: r.size, Perm: r.perm}, nil); err != nil {
		return err
	}
	c := d.find(r.addr)
	ro := pteFlags(r.perm) &^ mm.Writable
	var failed mm.Error // not an error: handler code stores no interfaces
	// A page table's worth of pages at a time: interrupts wait for no
	// more than that.
	for lo := 0; lo < len(r.frames) && failed == 0; lo += 512 {
		hi := min(lo+512, len(r.frames))
		syscall.InKernel(func() {
			for i, pa := range r.frames[lo:hi] {
				i += lo
				if pa == 0 {
					continue
				}
				if !mm.Phys.Ref(pa) {
					failed = mm.ErrRefLimit
					return
				}
				va := uintptr(r.addr) + uintptr(i)*mm.PageSize
				if r.perm != 0 {
					if e := d.space.Map(va, pa, ro); e != nil {
						mm.Phys.Free(pa) // the reference just taken
						failed = e.(mm.Error)
						return
					}
					if r.perm&sandbox.Write != 0 {
						g.space.Protect(va, ro)
						g.space.Invalidate(va)
					}
				}
				// The page's commitment stands for the frame's new
				// reference now.
				c.frames[i] = pa
			}
		})
	}
	if failed != 0 {
		return fmt.Errorf("sandbox: duplicating region %q: %v", r.name, failed)
	}
	return nil
}

// copyState gives t the registers and vector state of from, stopped.
func (t *thread) copyState(from *thread) {
	t.tk.Ctx.Regs = from.tk.Ctx.Regs
	t.tk.Ctx.FSBase, t.tk.Ctx.GSBase = from.tk.Ctx.FSBase, from.tk.Ctx.GSBase
	copy(xsaveArea(t), xsaveArea(from))
}

func xsaveArea(t *thread) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(t.tk.Ctx.Xsave)), cpu.XsaveSize)
}
