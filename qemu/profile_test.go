package main

import (
	"strings"
	"testing"
)

// A trace as QEMU 7.2 writes it: blocks as they are translated (IN:),
// then every execution of a block (Trace lines).
const sampleTrace = `----------------
IN: 
0x00001000:  48 89 c3                 movq     %rax, %rbx
0x00001003:  eb 00                    jmp      0x1005

Trace 0: 0x7f00 [0000000000000000/0000000000001000/00000040/ff000000] 
----------------
IN: 
0x00001005:  90                       nop
0x00001006:  90                       nop
0x00001007:  c3                       retq

Trace 0: 0x7f40 [0000000000000000/0000000000001005/00000040/ff000000] 
Trace 0: 0x7f00 [0000000000000000/0000000000001000/00000040/ff000000] 
Trace 0: 0x7f40 [0000000000000000/0000000000001005/00000040/ff000000] 
Trace 0: 0x7f80 [0000000000000000/0000000000009000/00000040/ff000000] 
Trace 0: 0x7f00 [0000000000000000/0000000000001000/00000040/ff000000] 
`

func sampleSymbols() *symbols {
	return &symbols{
		addrs: []uint64{0x1000, 0x1005},
		ends:  []uint64{0x1005, 0x1010},
		names: []string{"entry", "body"},
	}
}

func TestReadTraceTotals(t *testing.T) {
	p, err := readTrace(strings.NewReader(sampleTrace), sampleSymbols(), 0)
	if err != nil {
		t.Fatal(err)
	}
	// entry: 3 runs of 2; body: 2 runs of 3; 0x9000: no IN block, 1.
	if p.functions["entry"] != 6 || p.functions["body"] != 6 || p.functions["?0x0"] != 1 || p.total != 13 {
		t.Fatalf("functions %v total %d", p.functions, p.total)
	}
}

func TestReadTracePieces(t *testing.T) {
	p, err := readTrace(strings.NewReader(sampleTrace), sampleSymbols(), 0x1000)
	if err != nil {
		t.Fatal(err)
	}
	// Pieces start at each run of 0x1000; the last is cut off by the end
	// of the trace and not counted.
	want := map[string]int{
		"3 body\n2 entry\n":         1,
		"3 body\n2 entry\n1 ?0x0\n": 1,
	}
	if len(p.pieces) != len(want) {
		t.Fatalf("pieces %v", p.pieces)
	}
	for k, n := range want {
		if p.pieces[k] != n {
			t.Fatalf("pieces %v, want %v", p.pieces, want)
		}
	}
	var out strings.Builder
	p.print(&out, 1)
	if !strings.HasPrefix(out.String(), "profile: 1 pieces of ") {
		t.Fatalf("print: %q", out.String())
	}
}

func TestTracePC(t *testing.T) {
	if pc, ok := tracePC([]byte("Trace 0: 0x7f5f74000240 [00000000000f0000/00000000000fe05b/00000040/ff020200] ")); !ok || pc != 0xfe05b {
		t.Fatalf("tracePC = %#x %v", pc, ok)
	}
	if _, ok := tracePC([]byte("Trace 0: garbage")); ok {
		t.Fatalf("tracePC read a line without a PC")
	}
}
