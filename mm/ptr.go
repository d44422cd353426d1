package mm

import "unsafe"

// ptr turns a kernel virtual address into a pointer. The address always
// comes from the direct map or another kernel mapping, never from the Go
// heap, so the garbage collector has nothing to track.
func ptr(va uintptr) unsafe.Pointer { return unsafe.Pointer(va) }

// unsafeWords views n words of kernel memory at va as a slice.
func unsafeWords(va uintptr, n int) []uint64 { return unsafe.Slice((*uint64)(ptr(va)), n) }

// unsafeCounts views n 16-bit counts of kernel memory at va as a slice.
func unsafeCounts(va uintptr, n int) []uint16 { return unsafe.Slice((*uint16)(ptr(va)), n) }
