// Package vdso holds beelzebox's vDSO for Linux guests: the checks on the
// built image and the contents of its data page.
//
// The image (built from image/ by vdso.mk into $(BUILD)/vdso/vdso.so and
// carried in the initramfs as linux/vdso.so) is an ELF shared object whose
// functions __vdso_clock_gettime, __vdso_gettimeofday, __vdso_time,
// __vdso_clock_getres and __vdso_getcpu (version LINUX_2.6, also exported
// under their plain names) answer from a data page without a system call.
// A guest finds it through the auxiliary-vector entry AT_SYSINFO_EHDR (33),
// which holds the address of the image's ELF header.
//
// The host maps, for each Linux program:
//
//	base-4096  the data page (Data), read-only
//	base       Image.Bytes (Image.Size bytes), read+execute
//
// and writes both once at program start. The code reaches the data page
// RIP-relatively at image start - 4096, so the two must be adjacent in
// that order; any base address works (the image has no relocations).
//
// For beelzebox's own clock (the package does not import kernel, so that
// its tests run on the build machine):
//
//	base, mult, shift := kernel.TSCClock()
//	page := vdso.Data(vdso.ClockParams{BaseTSC: base, Mult: mult, Shift: shift,
//		RealtimeOffset: syscall.RealtimeEpoch}) // what the host's CLOCK_REALTIME adds to Nanotime
//
// gives a guest CLOCK_MONOTONIC equal to kernel.Nanotime at the same TSC
// value, and CLOCK_REALTIME equal to it plus the offset: the answers of a
// clock_gettime system call built on kernel.Nanotime, to the nanosecond.
//
// The data page's layout is image/vvar.h's; the Off* constants below are
// the same offsets, and the package test checks them against the header.
package vdso

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// PageSize is the size of the data page and the granule of the image.
const PageSize = 4096

// Offsets in the data page (image/vvar.h VVAR_OFF_*). All fields are
// little-endian.
const (
	OffSeq          = 0  // u32: reserved for a seqlock; written 0, not read
	OffFlags        = 4  // u32: FlagFallback
	OffBaseTSC      = 8  // u64
	OffMult         = 16 // u64
	OffShift        = 24 // u32
	OffResNs        = 28 // u32: clock_getres of the fine clocks
	OffMonoBase     = 32 // s64
	OffRealtimeOff  = 40 // s64
	OffBoottimeOff  = 48 // s64
	OffTAIOff       = 56 // s64
	OffCoarseResNs  = 64 // u32: clock_getres of the _COARSE clocks
	OffCPU          = 68 // u32
	OffNode         = 72 // u32
	OffTZMinWest    = 76 // s32: gettimeofday's struct timezone
	OffTZDSTTime    = 80 // s32
	DataEnd         = 84 // first byte after the fields; the rest is zero
	FlagFallback    = 1  // every function makes the system call
	maxShift        = 64
	defaultResNanos = 1
)

// ClockParams describes the guest's clocks. For a TSC value t,
//
//	monotonic = MonotonicBase + int64((uint128(t-BaseTSC) * Mult) >> Shift)
//
// (CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_MONOTONIC_COARSE), and
//
//	CLOCK_BOOTTIME                  monotonic + BoottimeOffset
//	CLOCK_REALTIME, _COARSE         monotonic + RealtimeOffset
//	CLOCK_TAI                       monotonic + RealtimeOffset + TAIOffset
//
// With BaseTSC, Mult and Shift from kernel.TSCClock and MonotonicBase 0,
// monotonic is exactly kernel.Nanotime at the same TSC value. The guest
// reads the TSC with LFENCE; RDTSC, so RDTSC must be allowed at CPL 3
// (CR4.TSD clear, as beelzebox leaves it) and the guest's TSC must be the
// kernel's (no VMX TSC offset), or Fallback must be set.
type ClockParams struct {
	// Fallback makes every function make the system call (for when the
	// TSC is not usable from the guest).
	Fallback bool

	BaseTSC       uint64
	Mult          uint64
	Shift         uint32 // at most 64; more sets Fallback
	MonotonicBase int64

	RealtimeOffset int64
	BoottimeOffset int64
	TAIOffset      int64

	// Resolution is what clock_getres reports for the fine clocks (1 ns
	// when zero) and CoarseResolution for the _COARSE ones (Resolution
	// when zero); the host's clock_getres system call should agree. The
	// _COARSE clocks read the same counter as the fine ones.
	Resolution, CoarseResolution uint32

	// CPU and Node are what getcpu reports (0 and 0 while beelzebox runs
	// Linux guests on one CPU).
	CPU, Node uint32

	// TZMinutesWest and TZDSTTime fill gettimeofday's struct timezone.
	TZMinutesWest, TZDSTTime int32
}

// Monotonic returns CLOCK_MONOTONIC at TSC value tsc as the vDSO computes
// it (the reference for tests and for the host's own clock_gettime).
func (p *ClockParams) Monotonic(tsc uint64) int64 {
	hi, lo := bits.Mul64(tsc-p.BaseTSC, p.Mult)
	var v uint64
	switch s := p.Shift; {
	case s == 0:
		v = lo
	case s < 64:
		v = lo>>s | hi<<(64-s)
	default:
		v = hi >> (s - 64)
	}
	return p.MonotonicBase + int64(v)
}

// Data returns the data page for p.
func Data(p ClockParams) [PageSize]byte {
	var d [PageSize]byte
	le := binary.LittleEndian
	var flags uint32
	if p.Fallback || p.Mult == 0 || p.Shift > maxShift {
		flags |= FlagFallback
	}
	res := p.Resolution
	if res == 0 {
		res = defaultResNanos
	}
	coarse := p.CoarseResolution
	if coarse == 0 {
		coarse = res
	}
	le.PutUint32(d[OffSeq:], 0)
	le.PutUint32(d[OffFlags:], flags)
	le.PutUint64(d[OffBaseTSC:], p.BaseTSC)
	le.PutUint64(d[OffMult:], p.Mult)
	le.PutUint32(d[OffShift:], p.Shift)
	le.PutUint32(d[OffResNs:], res)
	le.PutUint64(d[OffMonoBase:], uint64(p.MonotonicBase))
	le.PutUint64(d[OffRealtimeOff:], uint64(p.RealtimeOffset))
	le.PutUint64(d[OffBoottimeOff:], uint64(p.BoottimeOffset))
	le.PutUint64(d[OffTAIOff:], uint64(p.TAIOffset))
	le.PutUint32(d[OffCoarseResNs:], coarse)
	le.PutUint32(d[OffCPU:], p.CPU)
	le.PutUint32(d[OffNode:], p.Node)
	le.PutUint32(d[OffTZMinWest:], uint32(p.TZMinutesWest))
	le.PutUint32(d[OffTZDSTTime:], uint32(p.TZDSTTime))
	return d
}

// Version is the symbol version of every function.
const Version = "LINUX_2.6"

// Functions are the symbols Parse requires, all of version Version.
var Functions = []string{
	"__vdso_clock_gettime",
	"__vdso_gettimeofday",
	"__vdso_time",
	"__vdso_clock_getres",
	"__vdso_getcpu",
}

// Image is a parsed, validated vDSO.
type Image struct {
	bytes   []byte            // the file, page-rounded
	symbols map[string]uint64 // defined, versioned function symbols
}

// Size is the byte size of the text mapping (a multiple of PageSize).
func (im *Image) Size() uint64 { return uint64(len(im.bytes)) }

// Bytes returns the image to copy to the guest: the whole file, zero-padded
// to Size. The caller must not modify it.
func (im *Image) Bytes() []byte { return im.bytes }

// Symbol returns the offset from the image start of an exported function
// of version LINUX_2.6.
func (im *Image) Symbol(name string) (uint64, bool) {
	v, ok := im.symbols[name]
	return v, ok
}

// MaxImageSize bounds what Parse accepts.
const MaxImageSize = 64 << 10

// ELF constants (the System V gABI and its GNU extensions).
const (
	etDyn        = 3
	emX86_64     = 62
	ptLoad       = 1
	ptDynamic    = 2
	ptInterp     = 3
	ptTLS        = 7
	pfW          = 2
	pfX          = 1
	dtNull       = 0
	dtNeeded     = 1
	dtPLTRelSz   = 2
	dtHash       = 4
	dtStrtab     = 5
	dtSymtab     = 6
	dtRela       = 7
	dtRelaSz     = 8
	dtStrSz      = 10
	dtSymEnt     = 11
	dtRel        = 17
	dtRelSz      = 18
	dtTextRel    = 22
	dtJmpRel     = 23
	dtRelrSz     = 35
	dtRelr       = 36
	dtGNUHash    = 0x6ffffef5
	dtVersym     = 0x6ffffff0
	dtVerdef     = 0x6ffffffc
	dtVerdefNum  = 0x6ffffffd
	dtFlags      = 30
	dfTextRel    = 4
	symEntSize   = 24
	sttFunc      = 2
	stbGlobal    = 1
	stbWeak      = 2
	shnUndef     = 0
	verFlgBase   = 1
	versymHidden = 0x8000
)

// Parse validates a vDSO image: ELF64 little-endian x86-64 ET_DYN; its
// PT_LOAD segments lie in the file at their virtual addresses (p_offset ==
// p_vaddr, the first at 0, p_filesz == p_memsz, none writable) so the file
// is the mapped image; a PT_DYNAMIC with no dynamic relocations, no
// DT_NEEDED and no undefined symbols; and the five Functions, defined as
// executable code, of version LINUX_2.6, found both through DT_HASH (as Go
// and musl look them up) and DT_GNU_HASH (as glibc does).
func Parse(so []byte) (*Image, error) {
	if len(so) > MaxImageSize {
		return nil, fmt.Errorf("vdso: image of %d bytes, more than %d", len(so), MaxImageSize)
	}
	f := &file{b: so}
	if len(so) < 64 || !bytes.Equal(so[:4], []byte("\x7fELF")) {
		return nil, errors.New("vdso: not an ELF file")
	}
	if so[4] != 2 || so[5] != 1 {
		return nil, errors.New("vdso: not ELF64 little-endian")
	}
	if f.u16(16) != etDyn || f.u16(18) != emX86_64 {
		return nil, errors.New("vdso: not an x86-64 shared object (ET_DYN)")
	}
	phoff, phentsize, phnum := f.u64(32), uint64(f.u16(54)), uint64(f.u16(56))
	if phentsize != 56 || phnum == 0 || !f.in(phoff, phnum*phentsize) {
		return nil, errors.New("vdso: bad program header table")
	}
	var loadEnd, dynOff, dynSize uint64
	var text [][2]uint64 // executable ranges
	haveDyn := false
	for i := range phnum {
		ph := phoff + i*phentsize
		typ, flags := f.u32(ph), f.u32(ph+4)
		off, vaddr, filesz, memsz := f.u64(ph+8), f.u64(ph+16), f.u64(ph+32), f.u64(ph+40)
		switch typ {
		case ptLoad:
			if off != vaddr || filesz != memsz || !f.in(off, filesz) {
				return nil, fmt.Errorf("vdso: PT_LOAD %d is not the file at its own address (offset %#x vaddr %#x filesz %#x memsz %#x)", i, off, vaddr, filesz, memsz)
			}
			if loadEnd == 0 && vaddr != 0 {
				return nil, fmt.Errorf("vdso: first PT_LOAD at %#x, not 0", vaddr)
			}
			if vaddr < loadEnd {
				return nil, fmt.Errorf("vdso: PT_LOAD %d overlaps or is out of order", i)
			}
			if flags&pfW != 0 {
				return nil, fmt.Errorf("vdso: PT_LOAD %d is writable", i)
			}
			if flags&pfX != 0 {
				text = append(text, [2]uint64{vaddr, vaddr + memsz})
			}
			loadEnd = vaddr + memsz
		case ptDynamic:
			haveDyn, dynOff, dynSize = true, off, filesz
		case ptInterp, ptTLS:
			return nil, fmt.Errorf("vdso: program header type %d not allowed", typ)
		}
	}
	if loadEnd == 0 {
		return nil, errors.New("vdso: no PT_LOAD")
	}
	if !haveDyn || dynOff+dynSize > loadEnd || !f.in(dynOff, dynSize) {
		return nil, errors.New("vdso: no PT_DYNAMIC inside the loaded image")
	}
	// Within the image, file offsets and virtual addresses are the same;
	// f.loaded limits lookups to the mapped part.
	f.loaded = loadEnd
	dyn := map[int64]uint64{}
	for p := dynOff; p+16 <= dynOff+dynSize; p += 16 {
		tag, val := int64(f.u64(p)), f.u64(p+8)
		if tag == dtNull {
			break
		}
		switch tag {
		case dtNeeded:
			return nil, errors.New("vdso: has DT_NEEDED")
		case dtRela, dtRel, dtJmpRel, dtRelr, dtTextRel:
			return nil, fmt.Errorf("vdso: has dynamic relocations (tag %d)", tag)
		case dtRelaSz, dtRelSz, dtPLTRelSz, dtRelrSz:
			if val != 0 {
				return nil, fmt.Errorf("vdso: has dynamic relocations (tag %d)", tag)
			}
		case dtFlags:
			if val&dfTextRel != 0 {
				return nil, errors.New("vdso: has DF_TEXTREL")
			}
		}
		dyn[tag] = val
	}
	for _, tag := range []int64{dtHash, dtGNUHash, dtStrtab, dtSymtab, dtStrSz, dtVersym, dtVerdef} {
		if _, ok := dyn[tag]; !ok {
			return nil, fmt.Errorf("vdso: dynamic tag %#x missing", tag)
		}
	}
	if e, ok := dyn[dtSymEnt]; ok && e != symEntSize {
		return nil, fmt.Errorf("vdso: DT_SYMENT %d", e)
	}
	t := &tables{f: f, symtab: dyn[dtSymtab], strtab: dyn[dtStrtab], strsz: dyn[dtStrSz],
		versym: dyn[dtVersym], verdef: dyn[dtVerdef], verdefnum: dyn[dtVerdefNum]}
	if !f.inImage(t.strtab, t.strsz) {
		return nil, errors.New("vdso: DT_STRTAB outside the image")
	}
	// DT_HASH: nbucket, nchain, buckets, chains; nchain is the symbol count.
	hash := dyn[dtHash]
	if !f.inImage(hash, 8) {
		return nil, errors.New("vdso: DT_HASH outside the image")
	}
	nbucket, nchain := uint64(f.u32(hash)), uint64(f.u32(hash+4))
	if nbucket == 0 || !f.inImage(hash+8, (nbucket+nchain)*4) || !f.inImage(t.symtab, nchain*symEntSize) ||
		!f.inImage(t.versym, nchain*2) {
		return nil, errors.New("vdso: DT_HASH, DT_SYMTAB or DT_VERSYM out of bounds")
	}
	t.nsym = nchain
	for i := uint64(1); i < t.nsym; i++ {
		if f.u16(t.symtab+i*symEntSize+6) == shnUndef {
			name, _ := t.str(uint64(f.u32(t.symtab + i*symEntSize)))
			return nil, fmt.Errorf("vdso: undefined symbol %q", name)
		}
	}
	im := &Image{symbols: map[string]uint64{}}
	for _, name := range Functions {
		i, err := t.lookupHash(hash, nbucket, name)
		if err != nil {
			return nil, err
		}
		j, err := t.lookupGNUHash(dyn[dtGNUHash], name)
		if err != nil {
			return nil, err
		}
		if i != j {
			return nil, fmt.Errorf("vdso: %s is symbol %d by DT_HASH, %d by DT_GNU_HASH", name, i, j)
		}
		sym := t.symtab + i*symEntSize
		info, value, size := f.b[sym+4], f.u64(sym+8), f.u64(sym+16)
		if info&0xf != sttFunc || (info>>4 != stbGlobal && info>>4 != stbWeak) {
			return nil, fmt.Errorf("vdso: %s is not a global function", name)
		}
		inText := false
		for _, r := range text {
			if value >= r[0] && value+size <= r[1] && value < r[1] {
				inText = true
			}
		}
		if !inText {
			return nil, fmt.Errorf("vdso: %s at %#x is not in an executable segment", name, value)
		}
		v, err := t.version(i)
		if err != nil {
			return nil, fmt.Errorf("vdso: %s: %v", name, err)
		}
		if v != Version {
			return nil, fmt.Errorf("vdso: %s has version %q, not %s", name, v, Version)
		}
		im.symbols[name] = value
	}
	size := (max(uint64(len(so)), loadEnd) + PageSize - 1) &^ (PageSize - 1)
	im.bytes = make([]byte, size)
	copy(im.bytes, so)
	return im, nil
}

// file reads little-endian fields of the ELF file; out-of-range reads give
// zero (callers check ranges with in/inImage first where it matters).
type file struct {
	b      []byte
	loaded uint64 // end of the loaded image
}

func (f *file) in(off, n uint64) bool {
	return off <= uint64(len(f.b)) && n <= uint64(len(f.b))-off
}

func (f *file) inImage(off, n uint64) bool {
	return f.in(off, n) && off+n <= f.loaded
}

func (f *file) u16(off uint64) uint16 {
	if !f.in(off, 2) {
		return 0
	}
	return binary.LittleEndian.Uint16(f.b[off:])
}

func (f *file) u32(off uint64) uint32 {
	if !f.in(off, 4) {
		return 0
	}
	return binary.LittleEndian.Uint32(f.b[off:])
}

func (f *file) u64(off uint64) uint64 {
	if !f.in(off, 8) {
		return 0
	}
	return binary.LittleEndian.Uint64(f.b[off:])
}

type tables struct {
	f                           *file
	symtab, strtab, strsz, nsym uint64
	versym, verdef, verdefnum   uint64
}

// str returns the NUL-terminated string at offset off of the string table.
func (t *tables) str(off uint64) (string, bool) {
	if off >= t.strsz {
		return "", false
	}
	s := t.f.b[t.strtab+off : t.strtab+t.strsz]
	n := bytes.IndexByte(s, 0)
	if n < 0 {
		return "", false
	}
	return string(s[:n]), true
}

func (t *tables) symName(i uint64) string {
	s, _ := t.str(uint64(t.f.u32(t.symtab + i*symEntSize)))
	return s
}

// lookupHash finds name through the SysV hash table (gABI "Hash Table").
func (t *tables) lookupHash(hash, nbucket uint64, name string) (uint64, error) {
	var h uint32
	for _, c := range []byte(name) {
		h = h<<4 + uint32(c)
		g := h & 0xf0000000
		h ^= g >> 24
		h &^= g
	}
	i := uint64(t.f.u32(hash + 8 + uint64(h)%nbucket*4))
	for steps := uint64(0); i != 0; steps++ {
		if i >= t.nsym || steps > t.nsym {
			return 0, fmt.Errorf("vdso: DT_HASH chain for %s is broken", name)
		}
		if t.symName(i) == name {
			return i, nil
		}
		i = uint64(t.f.u32(hash + 8 + nbucket*4 + i*4))
	}
	return 0, fmt.Errorf("vdso: %s not found through DT_HASH", name)
}

// lookupGNUHash finds name through the GNU hash table: nbuckets, symoffset,
// bloom size, bloom shift, the bloom words (64-bit), the buckets and the
// chain values (hash with bit 0 marking a chain's end).
func (t *tables) lookupGNUHash(gh uint64, name string) (uint64, error) {
	f := t.f
	if !f.inImage(gh, 16) {
		return 0, errors.New("vdso: DT_GNU_HASH outside the image")
	}
	nbuckets, symoff := uint64(f.u32(gh)), uint64(f.u32(gh+4))
	bloomSize, bloomShift := uint64(f.u32(gh+8)), f.u32(gh+12)
	buckets := gh + 16 + bloomSize*8
	chains := buckets + nbuckets*4
	if nbuckets == 0 || bloomSize == 0 || symoff > t.nsym || !f.inImage(gh+16, (bloomSize*2+nbuckets)*4) ||
		!f.inImage(chains, (t.nsym-symoff)*4) {
		return 0, errors.New("vdso: DT_GNU_HASH out of bounds")
	}
	h := uint32(5381)
	for _, c := range []byte(name) {
		h = h*33 + uint32(c)
	}
	word := f.u64(gh + 16 + uint64(h/64)%bloomSize*8)
	if (word>>(h%64))&(word>>((h>>bloomShift)%64))&1 == 0 {
		return 0, fmt.Errorf("vdso: %s rejected by the DT_GNU_HASH bloom filter", name)
	}
	i := uint64(f.u32(buckets + uint64(h)%nbuckets*4))
	if i != 0 && i < symoff {
		return 0, fmt.Errorf("vdso: DT_GNU_HASH bucket for %s below symoffset", name)
	}
	for ; i != 0 && i < t.nsym; i++ {
		ch := f.u32(chains + (i-symoff)*4)
		if ch|1 == h|1 && t.symName(i) == name {
			return i, nil
		}
		if ch&1 != 0 {
			break
		}
	}
	return 0, fmt.Errorf("vdso: %s not found through DT_GNU_HASH", name)
}

// version returns the name of symbol i's version: DT_VERSYM gives an index
// (bit 15 hidden), DT_VERDEF the chain of Elf64_Verdef (vd_version u16,
// vd_flags u16, vd_ndx u16, vd_cnt u16, vd_hash u32, vd_aux u32, vd_next
// u32) whose first Elf64_Verdaux (vda_name u32, vda_next u32) names it.
func (t *tables) version(i uint64) (string, error) {
	f := t.f
	vs := f.u16(t.versym + i*2)
	if vs&versymHidden != 0 {
		return "", errors.New("version is hidden")
	}
	ndx := vs & 0x7fff
	if ndx <= 1 {
		return "", errors.New("symbol is unversioned")
	}
	d := t.verdef
	for n := uint64(0); n < max(t.verdefnum, 1) && n < 64; n++ {
		if !f.inImage(d, 20) || f.u16(d) != 1 {
			return "", errors.New("bad DT_VERDEF")
		}
		if f.u16(d+2)&verFlgBase == 0 && f.u16(d+4) == ndx {
			aux := d + uint64(f.u32(d+12))
			if f.u16(d+6) == 0 || !f.inImage(aux, 8) {
				return "", errors.New("bad DT_VERDEF entry")
			}
			s, ok := t.str(uint64(f.u32(aux)))
			if !ok {
				return "", errors.New("bad version name")
			}
			return s, nil
		}
		next := uint64(f.u32(d + 16))
		if next == 0 {
			break
		}
		d += next
	}
	return "", fmt.Errorf("version index %d not defined", ndx)
}
