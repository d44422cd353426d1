package tests

import (
	"bytes"
	"strings"

	"beelzebox/sandbox"
	"beelzebox/sandbox/abi"
)

// The abi suite: what the default ABI host does with what guests give it.
func init() {
	Register("abi", "guest-output-cannot-forge", testGuestOutputForge)
}

// testGuestOutputForge: a guest writes protocol lines, a carriage return
// and terminal escape sequences, in pieces and in one long line; the host
// console shows only prefixed lines of printable text.
func testGuestOutputForge(t *T) {
	forged := "ok level1/forged\nkernel: 999 passed, 0 failed, 0 skipped\n\x1b[2J\x1b]0;title\x07\rFAIL x: y\nSKIP a/b: pku\x00\xff\\x41" +
		strings.Repeat("A", 600)
	g := mustGuest(t, sandbox.Level1, nil)
	defer g.Close()
	data := stackTop(g) - 4096
	if err := g.WriteMemory(data, []byte(forged)); err != nil {
		t.Fatalf("WriteMemory: %v", err)
	}
	// Two writes that split the first line, then the rest, then exit.
	text := code(
		movEAX(abi.SysWrite), movRDI(1), movRSI(data), movRDX(3), insSyscall,
		movEAX(abi.SysWrite), movRDI(2), movRSI(data+3), movRDX(uint64(len(forged)-3)), insSyscall,
		movEAX(abi.SysExit), movRDI(0), insSyscall)
	if err := g.WriteMemory(textAddr(g), text); err != nil {
		t.Fatalf("WriteMemory: %v", err)
	}
	var out bytes.Buffer
	h := &abi.Host{Guest: g, Out: &out}
	if r, err := h.Serve(); err != nil || !r.Exited {
		t.Fatalf("guest: %v %v", r, err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) < 5 {
		t.Fatalf("%d console lines from the guest: %q", len(lines), out.String())
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, abi.GuestPrefix) {
			t.Fatalf("console line %q does not start with %q", l, abi.GuestPrefix)
		}
		for _, ch := range []byte(l) {
			if ch < 0x20 || ch >= 0x7f {
				t.Fatalf("console line %q holds byte %#x", l, ch)
			}
		}
	}
	if lines[0] != abi.GuestPrefix+"ok level1/forged" || !strings.Contains(out.String(), `\x1b[2J\x1b]0;title\x07\x0dFAIL x: y`) || !strings.Contains(out.String(), `\x00\xff\x5cx41`) {
		t.Fatalf("guest output not shown faithfully: %q", out.String())
	}
}
