// Package vmem is the Linux memory map of a sandbox guest: mmap, munmap,
// mprotect, mremap, brk, madvise, msync, mincore and mlock over the
// sandbox's whole-region API, and /proc/self/maps. The semantics live in
// package vmcore (which links in host tests: package sandbox does not);
// this package binds them to sandbox.Guest.
package vmem

import (
	"beelzebox/linux"
	"beelzebox/sandbox"
	"beelzebox/sandbox/linux/vmem/vmcore"
)

// Guest is the part of sandbox.Guest the memory manager uses.
type Guest interface {
	Map(r sandbox.Region) (uint64, error)
	Unmap(addr uint64) error
	Protect(addr uint64, p sandbox.Perm) error
	ReadMemory(addr uint64, b []byte) error
	WriteMemory(addr uint64, b []byte) error
}

var _ Guest = sandbox.Guest(nil)

// Space is a guest's memory map (see vmcore.Space for its methods).
type Space = vmcore.Space

// Source is file data a private file mapping copies from.
type Source = vmcore.Source

// AccessMode may be implemented by a Source: the open file's O_ACCMODE.
type AccessMode = vmcore.AccessMode

// Call, Status: the system-call table's entries.
type (
	Call   = vmcore.Call
	Status = vmcore.Status
)

const (
	Full    = vmcore.Full
	Partial = vmcore.Partial
)

// Calls are the memory-management system calls by number.
var Calls = vmcore.Calls

// New manages g's mappings; mappings without a fixed address are placed
// in [lo, hi), top-down below hi like Linux's mmap base.
func New(g Guest, lo, hi uint64) *Space { return vmcore.New(guest{g}, lo, hi) }

// Clone is s's map for g, a copy-on-write duplicate of s's guest (fork).
func Clone(s *Space, g Guest) *Space { return s.Clone(guest{g}) }

// guest adapts a sandbox guest to vmcore's region API.
type guest struct{ g Guest }

func (g guest) Map(r vmcore.Region) (uint64, error) {
	return g.g.Map(sandbox.Region{Name: r.Name, Addr: r.Addr, Size: r.Size, Perm: sandbox.Perm(r.Perm), Data: r.Data})
}
func (g guest) Unmap(addr uint64) error                 { return g.g.Unmap(addr) }
func (g guest) Protect(addr uint64, p uint8) error      { return g.g.Protect(addr, sandbox.Perm(p)) }
func (g guest) ReadMemory(addr uint64, b []byte) error  { return g.g.ReadMemory(addr, b) }
func (g guest) WriteMemory(addr uint64, b []byte) error { return g.g.WriteMemory(addr, b) }

// The region permission bits are sandbox's.
var _ = [1]int{}[int(sandbox.Read)-vmcore.PermRead+int(sandbox.Write)-vmcore.PermWrite+int(sandbox.Exec)-vmcore.PermExec]

// Errno is linux.Errno (the type of every result).
type Errno = linux.Errno
