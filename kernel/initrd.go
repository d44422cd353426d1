package kernel

import (
	"unsafe"

	"beelzebox/mm"
)

// The initramfs is the first boot module; the loader put it in physical
// memory, which mm keeps reserved, and the kernel reads it through the
// direct map.
var initrdStart, initrdEnd uint64

// SetInitrd records where the boot module is.
func SetInitrd(start, end uint64) { initrdStart, initrdEnd = start, end }

// Initrd returns the initramfs archive, or nil if the loader gave none.
func Initrd() []byte {
	if initrdEnd <= initrdStart {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(mm.PhysAddr(initrdStart))), initrdEnd-initrdStart)
}
