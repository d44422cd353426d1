package vmcore

import (
	"fmt"
	"strings"

	"beelzebox/linux"
)

// SetBrkBase sets where the program break starts (the end of the
// executable's bss; rounded up to a page).
func (s *Space) SetBrkBase(addr uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.brkBase = min(pageUp(addr), linux.TaskSize)
	s.brk = s.brkBase
}

// Brk is brk(2): the new break, or the old one if it cannot move there;
// brk(0) is the current break. The heap is the [heap] mapping from the
// base; it never grows over another mapping or within a page of one.
func (s *Space) Brk(addr uint64) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if addr < s.brkBase || addr > linux.TaskSize {
		return s.brk
	}
	if s.BrkLimit != 0 && addr-s.brkBase > s.BrkLimit {
		return s.brk
	}
	newEnd, oldEnd := pageUp(addr), pageUp(s.brk)
	switch {
	case newEnd == oldEnd:
		s.brk = addr
		return addr
	case addr < s.brk:
		if s.unmap(newEnd, oldEnd) != 0 {
			return s.brk
		}
		s.brk = addr
		return addr
	}
	if newEnd+pageSize > linux.TaskSize || !s.free(oldEnd, newEnd+pageSize) || len(s.vmas) >= linux.MaxMapCount {
		return s.brk
	}
	ext := &vma{start: oldEnd, end: newEnd, prot: linux.PROT_READ | linux.PROT_WRITE, name: "[heap]"}
	if i := s.index(oldEnd - 1); oldEnd > s.brkBase && i < len(s.vmas) && compatible(s.vmas[i], ext) {
		if s.extend(ext) != 0 {
			return s.brk
		}
	} else if _, e := s.mapNew(ext); e != 0 {
		return s.brk
	}
	s.brk = addr
	return addr
}

// validAdvice reports whether Linux knows the advice.
func validAdvice(advice int) bool {
	switch advice {
	case linux.MADV_NORMAL, linux.MADV_RANDOM, linux.MADV_SEQUENTIAL, linux.MADV_WILLNEED,
		linux.MADV_DONTNEED, linux.MADV_FREE, linux.MADV_REMOVE, linux.MADV_DONTFORK,
		linux.MADV_DOFORK, linux.MADV_MERGEABLE, linux.MADV_UNMERGEABLE, linux.MADV_HUGEPAGE,
		linux.MADV_NOHUGEPAGE, linux.MADV_DONTDUMP, linux.MADV_DODUMP, linux.MADV_WIPEONFORK,
		linux.MADV_KEEPONFORK, linux.MADV_COLD, linux.MADV_PAGEOUT, linux.MADV_POPULATE_READ,
		linux.MADV_POPULATE_WRITE, linux.MADV_DONTNEED_LOCKED, linux.MADV_COLLAPSE,
		linux.MADV_GUARD_INSTALL, linux.MADV_GUARD_REMOVE, linux.MADV_HWPOISON, linux.MADV_SOFT_OFFLINE:
		return true
	}
	return false
}

// Madvise is madvise(2). MADV_DONTNEED, MADV_FREE and MADV_DONTNEED_LOCKED
// make the range read as zero (a private file mapping: as the file) again;
// MADV_REMOVE does so for shared writable memory. Guard regions
// (MADV_GUARD_INSTALL/REMOVE) and MADV_COLLAPSE are EINVAL, as on a kernel
// without them; MADV_HWPOISON and MADV_SOFT_OFFLINE are EPERM (they need
// CAP_SYS_ADMIN). The other advice changes nothing.
func (s *Space) Madvise(addr, length uint64, advice int) linux.Errno {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !validAdvice(advice) || addr&pageMask != 0 {
		return linux.EINVAL
	}
	n := pageUp(length)
	if length != 0 && n == 0 || addr+n < addr {
		return linux.EINVAL
	}
	if n == 0 {
		return 0
	}
	switch advice {
	case linux.MADV_HWPOISON, linux.MADV_SOFT_OFFLINE:
		return linux.EPERM
	case linux.MADV_GUARD_INSTALL, linux.MADV_GUARD_REMOVE, linux.MADV_COLLAPSE:
		return linux.EINVAL
	}
	end := addr + n
	parts := s.overlapping(addr, end)
	if len(parts) == 0 {
		return linux.ENOMEM
	}
	for _, v := range parts {
		switch advice {
		case linux.MADV_REMOVE:
			if !v.shared || v.prot&linux.PROT_WRITE == 0 {
				return linux.EINVAL
			}
		case linux.MADV_POPULATE_READ:
			if v.prot&linux.PROT_READ == 0 {
				return linux.EINVAL
			}
		case linux.MADV_POPULATE_WRITE:
			if v.prot&linux.PROT_WRITE == 0 {
				return linux.EINVAL
			}
		}
	}
	for _, v := range parts {
		switch advice {
		case linux.MADV_DONTNEED, linux.MADV_FREE, linux.MADV_DONTNEED_LOCKED, linux.MADV_REMOVE:
			if advice == linux.MADV_FREE && v.src != nil {
				continue // Linux frees anonymous pages only
			}
			s.dontNeed(v, max(addr, v.start), min(end, v.end))
		}
	}
	if s.covered(addr, end) < end || parts[0].start > addr {
		return linux.ENOMEM
	}
	for i := 1; i < len(parts); i++ {
		if parts[i-1].end != parts[i].start {
			return linux.ENOMEM
		}
	}
	return 0
}

// Msync is msync(2): there is nothing to write back (no shared file
// mappings), so it checks its arguments and the range.
func (s *Space) Msync(addr, length uint64, flags int) linux.Errno {
	s.mu.Lock()
	defer s.mu.Unlock()
	if flags&^(linux.MS_ASYNC|linux.MS_INVALIDATE|linux.MS_SYNC) != 0 || addr&pageMask != 0 ||
		flags&linux.MS_ASYNC != 0 && flags&linux.MS_SYNC != 0 {
		return linux.EINVAL
	}
	n := pageUp(length)
	end := addr + n
	if end < addr || length != 0 && n == 0 {
		return linux.ENOMEM
	}
	if end == addr {
		return 0
	}
	if s.covered(addr, end) < end {
		return linux.ENOMEM
	}
	return 0
}

// Writable reports whether guest code may write all of [addr, addr+n):
// whether the host may store a system call's result there.
func (s *Space) Writable(addr, n uint64) bool {
	return s.access(addr, n, linux.PROT_WRITE)
}

// Readable reports whether guest code may read all of [addr, addr+n).
func (s *Space) Readable(addr, n uint64) bool {
	return s.access(addr, n, linux.PROT_READ)
}

func (s *Space) access(addr, n uint64, prot int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accessLocked(addr, n, prot)
}

func (s *Space) accessLocked(addr, n uint64, prot int) bool {
	if n == 0 {
		return true
	}
	end := addr + n
	if end < addr {
		return false
	}
	at := addr
	for i := s.index(addr); i < len(s.vmas) && at < end; i++ {
		v := s.vmas[i]
		if v.start > at || v.prot&prot != prot || !v.backed {
			return false
		}
		at = v.end
	}
	return at >= end
}

// Mincore is mincore(2): vec, in guest memory, gets a byte per page of
// [addr, addr+length), 1 for a page backed by a region (resident, as far
// as the guest can tell) and 0 for a reservation.
func (s *Space) Mincore(addr, length, vec uint64) linux.Errno {
	s.mu.Lock()
	defer s.mu.Unlock()
	if addr&pageMask != 0 {
		return linux.EINVAL
	}
	n, ok := pageLen(length)
	if !ok || addr+n < addr || addr+n > linux.TaskSize {
		return linux.ENOMEM
	}
	pages := n / pageSize
	if !s.accessLocked(vec, pages, linux.PROT_WRITE) {
		return linux.EFAULT
	}
	end := addr + n
	buf := make([]byte, 0, min(pages, 4096))
	out := vec
	flush := func() linux.Errno {
		if len(buf) == 0 {
			return 0
		}
		if s.g.WriteMemory(out, buf) != nil {
			return linux.EFAULT
		}
		out += uint64(len(buf))
		buf = buf[:0]
		return 0
	}
	at := addr
	for i := s.index(addr); at < end; i++ {
		if i >= len(s.vmas) || s.vmas[i].start > at {
			flush()
			return linux.ENOMEM
		}
		v := s.vmas[i]
		var b byte
		if v.backed {
			b = 1
		}
		for ; at < min(end, v.end); at += pageSize {
			buf = append(buf, b)
			if len(buf) == cap(buf) {
				if e := flush(); e != 0 {
					return e
				}
			}
		}
	}
	return flush()
}

// Mlock is mlock(2) and munlock(2): nothing is paged out, so it checks
// the range.
func (s *Space) Mlock(addr, length uint64) linux.Errno {
	s.mu.Lock()
	defer s.mu.Unlock()
	length += addr & pageMask
	addr &^= pageMask
	n := pageUp(length)
	end := addr + n
	if end < addr || length != 0 && n == 0 {
		return linux.EINVAL
	}
	if end == addr {
		return 0
	}
	if s.covered(addr, end) < end {
		return linux.ENOMEM
	}
	return 0
}

// Mlock2 is mlock2(2).
func (s *Space) Mlock2(addr, length uint64, flags int) linux.Errno {
	if flags&^linux.MLOCK_ONFAULT != 0 {
		return linux.EINVAL
	}
	return s.Mlock(addr, length)
}

// Mlockall is mlockall(2).
func (s *Space) Mlockall(flags int) linux.Errno {
	if flags == 0 || flags&^(linux.MCL_CURRENT|linux.MCL_FUTURE|linux.MCL_ONFAULT) != 0 || flags == linux.MCL_ONFAULT {
		return linux.EINVAL
	}
	return 0
}

// Maps is /proc/self/maps: a line per mapping (mappings Linux would have as
// one merged), named [heap], [stack], the file's path...
func (s *Space) Maps() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for i := 0; i < len(s.vmas); {
		v := s.vmas[i]
		end := v.end
		j := i + 1
		for ; j < len(s.vmas) && compatible(s.vmas[j-1], s.vmas[j]); j++ {
			end = s.vmas[j].end
		}
		i = j
		p := []byte("---p")
		if v.prot&linux.PROT_READ != 0 {
			p[0] = 'r'
		}
		if v.prot&linux.PROT_WRITE != 0 {
			p[1] = 'w'
		}
		if v.prot&linux.PROT_EXEC != 0 {
			p[2] = 'x'
		}
		if v.shared {
			p[3] = 's'
		}
		var off uint64
		if v.src != nil {
			off = v.off
		}
		line := fmt.Sprintf("%08x-%08x %s %08x 00:00 0 ", v.start, end, p, off)
		name := v.name
		if name == "" && v.shared && v.src == nil {
			name = "/dev/zero (deleted)"
		}
		if name != "" {
			if len(line) < 72 {
				line += strings.Repeat(" ", 72-len(line))
			}
			line += " " + name
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}
