package sandbox_test

import (
	"fmt"
	"os"

	"beelzebox/sandbox"
	"beelzebox/sandbox/abi"
)

// A host that runs a guest at level 2, serving its system calls with the
// default ABI. The guest is three instructions: exit(7). The example runs
// inside the kernel (tests/levels.go does the same), so it has no Output
// line: go test on the build machine only compiles it.
func Example() {
	text := []byte{
		0xb8, 60, 0, 0, 0, // mov eax, 60 (exit)
		0xbf, 7, 0, 0, 0, // mov edi, 7
		0x0f, 0x05, // syscall
	}
	g, err := sandbox.New(sandbox.Config{
		Level: sandbox.Level2,
		Regions: []sandbox.Region{
			{Name: "text", Addr: 0x400000, Size: 4096, Perm: sandbox.Read | sandbox.Exec, Data: text},
			{Name: "stack", Addr: 0x500000, Size: 16384, Perm: sandbox.Read | sandbox.Write},
		},
		Regs: sandbox.Regs{RIP: 0x400000, RSP: 0x504000},
	})
	if err != nil {
		fmt.Println(err) // e.g. level 2 needs protection keys (...)
		return
	}
	defer g.Close()
	host := &abi.Host{Guest: g, Out: os.Stdout}
	r, err := host.Serve()
	fmt.Println(r, err) // exit(7) <nil>
}
