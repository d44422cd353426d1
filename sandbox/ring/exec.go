package ring

import (
	"fmt"
	"sort"
	"sync"

	"beelzebox/sandbox"
)

// Executable memory. Protection keys restrict data accesses, never
// instruction fetch (SDM Vol. 3A §4.6.2): a level 2 guest can jump into
// any user-executable page of the shared address space, a level 1
// guest's included, and run it with its own PKRU. So while a level 2
// guest exists, every user-executable page obeys the level 2 scan rules
// (no WRPKRU and no XRSTOR at any offset, sandbox/codescan):
//
//   - a level 2 guest's code is scanned before it becomes executable;
//   - a level 1 guest's code is scanned before it becomes executable
//     while a level 2 guest is open, and refused if it fails (level 1
//     code with WRPKRU runs only while no level 2 guest exists);
//   - a level 2 guest is refused while a level 1 guest's executable code
//     fails the scan; the error names the region.
//
// Executable regions of different guests are at least a guard page apart
// (package space), so no instruction spans two guests and each guest's code is
// scanned with its own neighbours alone. The host's own code is not user
// memory (the kernel image is supervisor-only), and shared regions are
// never executable.
//
// code.Mutex serialises every change to executable memory with the scan
// that vouches for it, across all guests: a scan and the mapping change
// or write it allows are one step, so no other goroutine changes the
// bytes in between. A region that is to become executable loses write
// access before it is scanned, so its own guest, running meanwhile,
// cannot change it either. Lock order: a guest's mu, then code.
var code struct {
	sync.Mutex
	level2 int                 // open level 2 guests
	guests map[*guest]struct{} // guests with executable regions
}

// mustScan reports whether g's code must pass the scan before it becomes
// executable. code must be locked.
func (g *guest) mustScan() bool { return g.level == sandbox.Level2 || code.level2 > 0 }

// addCode records r as executable code of g; removeCode forgets it. code
// must be locked.
func (g *guest) addCode(r *region) {
	at := sort.Search(len(g.code), func(i int) bool { return g.code[i].Addr > r.Addr })
	g.code = append(g.code, nil)
	copy(g.code[at+1:], g.code[at:])
	g.code[at] = r
	if code.guests == nil {
		code.guests = map[*guest]struct{}{}
	}
	code.guests[g] = struct{}{}
}

func (g *guest) removeCode(r *region) {
	for i, c := range g.code {
		if c == r {
			g.code = append(g.code[:i], g.code[i+1:]...)
			break
		}
	}
	if len(g.code) == 0 {
		delete(code.guests, g)
	}
}

// codeAt returns g's executable region holding a, or nil. code must be
// locked.
func (g *guest) codeAt(a uint64) *region {
	for _, r := range g.code {
		if a >= r.Addr && a < r.End() {
			return r
		}
	}
	return nil
}

// registerLevel2 counts a new level 2 guest in, once every executable
// region of the level 1 guests passes the scan (regions already scanned
// since their last change are not scanned again).
func registerLevel2() error {
	code.Lock()
	defer code.Unlock()
	for o := range code.guests {
		if o.level == sandbox.Level2 {
			continue
		}
		for _, r := range o.code {
			if r.scanned {
				continue
			}
			if err := o.scan(r, r.Addr, r.End(), 0, nil); err != nil {
				return fmt.Errorf("sandbox: level 2 refused: level 1 code at [%#x, %#x) (region %q) fails the level 2 scan, and protection keys do not stop a level 2 guest from executing it: %w", r.Addr, r.End(), r.Name, err)
			}
			r.scanned = true
		}
	}
	code.level2++
	return nil
}

// unregisterLevel2 counts a closed level 2 guest out.
func unregisterLevel2() {
	code.Lock()
	code.level2--
	code.Unlock()
}
