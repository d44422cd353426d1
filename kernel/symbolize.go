package kernel

import "unsafe"

// Symbolization for fault reports from handler context, where
// runtime.FuncForPC cannot be used (it allocates for inlined frames, and
// handler code must not allocate). These reach the runtime's own
// read-only pclntab lookups, which allocate nothing. They are pulled by
// linkname, which the Go 1.23+ linker refuses for these symbols unless
// the kernel is linked with -checklinkname=0 (the Makefile does); the
// signatures are those of Go 1.26 (runtime/symtab.go) and are checked by
// the kernel's fault tests, which assert a file:line in the report.

type funcInfo struct {
	fn    unsafe.Pointer
	datap unsafe.Pointer
}

//go:linkname findfunc runtime.findfunc
func findfunc(pc uintptr) funcInfo

//go:linkname funcname runtime.funcname
func funcname(f funcInfo) string

//go:linkname funcline1 runtime.funcline1
func funcline1(f funcInfo, targetpc uintptr, strict bool) (file string, line int32)

// printSymbol prints "function (file:line)" for a PC, or "?".
func printSymbol(pc uintptr) {
	f := findfunc(pc)
	if f.fn == nil {
		Print("?")
		return
	}
	Print(funcname(f))
	file, line := funcline1(f, pc, false)
	Print(" (")
	Print(file)
	Putc(':')
	PrintDec(uint64(line))
	Print(")")
}

// printBacktrace walks the frame-pointer chain from bp (the Go compiler
// keeps RBP as a frame pointer on amd64: [bp] is the caller's bp, [bp+8]
// the return address) for at most 32 frames inside [lo, hi).
func printBacktrace(pc, bp, lo, hi uintptr) {
	Print("  ")
	PrintHex(uint64(pc))
	Print(" ")
	printSymbol(pc)
	Print("\n")
	for i := 0; i < 32 && bp >= lo && bp+16 <= hi && bp&7 == 0; i++ {
		ret := *(*uintptr)(unsafe.Pointer(bp + 8))
		if ret == 0 {
			break
		}
		Print("  ")
		PrintHex(uint64(ret))
		Print(" ")
		printSymbol(ret - 1)
		Print("\n")
		next := *(*uintptr)(unsafe.Pointer(bp))
		if next <= bp {
			break
		}
		bp = next
	}
}
