package ring

import (
	"errors"

	"beelzebox/sandbox"
)

// TestingWriteUnscanned writes b into a guest's memory at addr without the
// level 2 code scan. It exists for the kernel's test suites alone: the
// scan keeps WRPKRU out of every guest, so without this seam nothing could
// prove the defence behind it, the PKRU check at every exit (a guest that
// leaves a PKRU other than its own is killed). A host has no use for it:
// the code it places is what level 2 exists to refuse.
func TestingWriteUnscanned(g sandbox.Guest, addr uint64, b []byte) error {
	rg, ok := g.(*guest)
	if !ok {
		return errors.New("sandbox: TestingWriteUnscanned: not a level 1 or 2 guest")
	}
	rg.mu.Lock()
	defer rg.mu.Unlock()
	if rg.closed {
		return sandbox.ErrClosed
	}
	if err := rg.rangeRegions(addr, len(b), func(*region, uint64, int, int) {}); err != nil {
		return err
	}
	code.Lock()
	defer code.Unlock()
	return rg.rangeRegions(addr, len(b), func(r *region, a uint64, lo, hi int) {
		r.scanned = false
		r.CopyIn(a, b[lo:hi])
	})
}
