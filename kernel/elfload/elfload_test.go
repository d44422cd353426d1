package elfload

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// cSource is a freestanding program with one pointer in data, so that the
// static-pie build carries exactly one R_X86_64_RELATIVE relocation.
const cSource = `
static const char msg[] = "hi\n";
static long counter = 5;
const char *volatile ptr = msg;
void _start(void) {
	long r;
	counter += ptr[0];
	__asm__ volatile("syscall" : "=a"(r) : "a"(1), "D"(1), "S"(ptr), "d"(3) : "rcx", "r11", "memory");
	__asm__ volatile("syscall" :: "a"(60), "D"(counter & 0) : "rcx", "r11");
	for (;;) {}
}
`

const goSource = `package main

import "fmt"

func main() { fmt.Println("hello") }
`

// binaries builds the real test binaries once per test process.
var binaries struct {
	once                   sync.Once
	dir                    string
	exec, pie, goExe       []byte
	execErr, pieErr, goErr error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binaries.dir != "" {
		os.RemoveAll(binaries.dir)
	}
	os.Exit(code)
}

func build() {
	b := &binaries
	dir, err := os.MkdirTemp("", "elfload-test")
	if err != nil {
		b.execErr, b.pieErr, b.goErr = err, err, err
		return
	}
	b.dir = dir
	run := func(name string, env []string, args ...string) ([]byte, error) {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, errors.New(strings.Join(args, " ") + ": " + err.Error() + ": " + string(out))
		}
		return os.ReadFile(filepath.Join(dir, name))
	}
	if err := os.WriteFile(filepath.Join(dir, "s.c"), []byte(cSource), 0o644); err != nil {
		b.execErr, b.pieErr = err, err
	} else if _, err := exec.LookPath("gcc"); err != nil {
		b.execErr, b.pieErr = err, err
	} else {
		b.exec, b.execErr = run("s_exec", nil, "gcc", "-nostdlib", "-static", "-O2", "-o", "s_exec", "s.c")
		b.pieErr = b.execErr
		if b.execErr == nil {
			b.pie, b.pieErr = run("s_pie", nil, "gcc", "-nostdlib", "-static-pie", "-fpie", "-O2", "-o", "s_pie", "s.c")
		}
	}
	gdir := filepath.Join(dir, "hello")
	if err := os.Mkdir(gdir, 0o755); err != nil {
		b.goErr = err
		return
	}
	os.WriteFile(filepath.Join(gdir, "go.mod"), []byte("module hello\n\ngo 1.21\n"), 0o644)
	os.WriteFile(filepath.Join(gdir, "main.go"), []byte(goSource), 0o644)
	goTool, err := exec.LookPath("go")
	if err != nil {
		b.goErr = err
		return
	}
	b.goExe, b.goErr = run("hello/hello", []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=-mod=mod", "GOWORK=off"},
		goTool, "build", "-C", "hello", "-o", "hello", ".")
}

// realBinary returns a copy of one of "exec", "pie" or "go", skipping the
// test if it cannot be built here.
func realBinary(tb testing.TB, which string) []byte {
	tb.Helper()
	binaries.once.Do(build)
	var b []byte
	var err error
	switch which {
	case "exec":
		b, err = binaries.exec, binaries.execErr
	case "pie":
		b, err = binaries.pie, binaries.pieErr
	case "go":
		b, err = binaries.goExe, binaries.goErr
	default:
		tb.Fatalf("unknown binary %q", which)
	}
	if err != nil {
		tb.Skipf("cannot build %s binary: %v", which, err)
	}
	return bytes.Clone(b)
}

// symbol returns the value of a symbol of a trusted test binary.
func symbol(t *testing.T, file []byte, name string) uint64 {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if s.Name == name {
			return s.Value
		}
	}
	t.Fatalf("no symbol %q", name)
	return 0
}

// checkAgainstDebugElf compares the plan with debug/elf's reading of a
// trusted binary.
func checkAgainstDebugElf(t *testing.T, file []byte, im *Image) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if im.Entry != f.Entry {
		t.Errorf("Entry = %#x, want %#x", im.Entry, f.Entry)
	}
	var i int
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Memsz == 0 {
			continue
		}
		if i >= len(im.Segments) {
			t.Fatalf("only %d segments", len(im.Segments))
		}
		s := im.Segments[i]
		i++
		if s.Vaddr != p.Vaddr || s.Memsz != p.Memsz || uint64(len(s.Data)) != p.Filesz ||
			s.Read != (p.Flags&elf.PF_R != 0) || s.Write != (p.Flags&elf.PF_W != 0) || s.Exec != (p.Flags&elf.PF_X != 0) {
			t.Errorf("segment %d = {%#x %#x %#x %s}, want {%#x %#x %#x %v}", i-1, s.Vaddr, s.Memsz, len(s.Data), s.perm(), p.Vaddr, p.Memsz, p.Filesz, p.Flags)
		}
		if !bytes.Equal(s.Data, file[p.Off:p.Off+p.Filesz]) {
			t.Errorf("segment %d data differs from the file", i-1)
		}
	}
	if i != len(im.Segments) {
		t.Errorf("%d segments, want %d", len(im.Segments), i)
	}
	if int(im.Phnum) != len(f.Progs) || im.Phent != 56 {
		t.Errorf("Phnum, Phent = %d, %d, want %d, 56", im.Phnum, im.Phent, len(f.Progs))
	}
}

func TestParseRealExec(t *testing.T) {
	file := realBinary(t, "exec")
	im, err := Parse(file)
	if err != nil {
		t.Fatal(err)
	}
	checkAgainstDebugElf(t, file, im)
	if im.Kind != Exec || im.Kind.String() != "exec" {
		t.Errorf("Kind = %v, want exec", im.Kind)
	}
	if len(im.Relocs) != 0 {
		t.Errorf("Relocs = %v, want none", im.Relocs)
	}
	if im.Low != 0x400000 || im.High%PageSize != 0 || im.High <= im.Low {
		t.Errorf("Low, High = %#x, %#x", im.Low, im.High)
	}
	if im.PhdrAddr != 0x400040 {
		t.Errorf("PhdrAddr = %#x, want 0x400040", im.PhdrAddr)
	}
	if err := im.Rebase(0x10000); !errors.Is(err, ErrUsage) {
		t.Errorf("Rebase of an exec image = %v, want ErrUsage", err)
	}
}

func TestParseRealPIE(t *testing.T) {
	file := realBinary(t, "pie")
	im, err := Parse(file)
	if err != nil {
		t.Fatal(err)
	}
	checkAgainstDebugElf(t, file, im)
	if im.Kind != PIE || im.Kind.String() != "pie" {
		t.Errorf("Kind = %v, want pie", im.Kind)
	}
	ptr, msg := symbol(t, file, "ptr"), symbol(t, file, "msg")
	if len(im.Relocs) != 1 || im.Relocs[0] != (Reloc{Addr: ptr, Value: msg}) {
		t.Fatalf("Relocs = %#v, want [{%#x %#x}]", im.Relocs, ptr, msg)
	}
	if im.Low != 0 || im.PhdrAddr != 0x40 {
		t.Errorf("Low, PhdrAddr = %#x, %#x, want 0, 0x40", im.Low, im.PhdrAddr)
	}

	const base = 0x5555_0000_0000
	entry, high, size := im.Entry, im.High, im.Size()
	if err := im.Rebase(base); err != nil {
		t.Fatal(err)
	}
	if im.Entry != entry+base || im.Low != base || im.High != high+base || im.PhdrAddr != base+0x40 || im.Bias != base || im.Size() != size {
		t.Errorf("after Rebase: Entry %#x Low %#x High %#x PhdrAddr %#x Bias %#x", im.Entry, im.Low, im.High, im.PhdrAddr, im.Bias)
	}
	if im.Relocs[0] != (Reloc{Addr: ptr + base, Value: msg + base}) {
		t.Errorf("rebased reloc = %#v", im.Relocs[0])
	}
	if err := im.Rebase(base); !errors.Is(err, ErrUsage) {
		t.Errorf("second Rebase = %v, want ErrUsage", err)
	}

	// Lay the image out flat and apply the relocation.
	mem := make([]byte, im.High-im.Low)
	for _, s := range im.Segments {
		copy(mem[s.Vaddr-im.Low:], s.Data)
	}
	if err := im.ApplyRelocs(mem, im.Low); err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint64(mem[ptr:]); got != base+msg {
		t.Errorf("ptr after relocation = %#x, want %#x", got, base+msg)
	}
	if got := string(mem[msg : msg+3]); got != "hi\n" {
		t.Errorf("msg = %q", got)
	}
	if err := im.ApplyRelocs(mem[:ptr], im.Low); !errors.Is(err, ErrUsage) {
		t.Errorf("ApplyRelocs on too little memory = %v, want ErrUsage", err)
	}
}

func TestRebaseErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		base uint64
	}{
		{"unaligned", 0x1001},
		{"above user space", UserTop},
		{"overflow", 0xffff_ffff_ffff_f000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			im, err := Parse(synthPIE())
			if err != nil {
				t.Fatal(err)
			}
			before := *im
			if err := im.Rebase(tt.base); !errors.Is(err, ErrUsage) {
				t.Fatalf("Rebase(%#x) = %v, want ErrUsage", tt.base, err)
			}
			if im.Entry != before.Entry || im.Bias != 0 || im.Segments[0].Vaddr != before.Segments[0].Vaddr {
				t.Error("failed Rebase changed the image")
			}
		})
	}
}

func TestRebaseZeroCountsAsRebased(t *testing.T) {
	im, err := Parse(synthPIE())
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Rebase(0); err != nil {
		t.Fatal(err)
	}
	if err := im.Rebase(0x10000); !errors.Is(err, ErrUsage) {
		t.Fatalf("Rebase after Rebase(0) = %v, want ErrUsage", err)
	}
}

func TestParseRealGo(t *testing.T) {
	file := realBinary(t, "go")
	im, err := Parse(file)
	if err != nil {
		t.Fatal(err)
	}
	checkAgainstDebugElf(t, file, im)
	if im.Kind != Exec || len(im.Relocs) != 0 || im.PhdrAddr != 0x400040 {
		t.Errorf("Kind %v, %d relocs, PhdrAddr %#x", im.Kind, len(im.Relocs), im.PhdrAddr)
	}
	var text, data bool
	for _, s := range im.Segments {
		text = text || (s.Exec && !s.Write)
		data = data || (s.Write && !s.Exec && s.Memsz > uint64(len(s.Data)))
	}
	if !text || !data {
		t.Errorf("want a text segment and a data segment with .bss: %+v", im.Segments)
	}
}

// Field offsets for corrupting headers.
const (
	offPhoff     = 32
	offPhentsize = 54
	offPhnum     = 56
	phType       = 0
	phFlags      = 4
	phOffset     = 8
	phVaddr      = 16
	phFilesz     = 32
	phMemsz      = 40
)

func put16(b []byte, off int, v uint16) { binary.LittleEndian.PutUint16(b[off:], v) }
func put32(b []byte, off int, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }
func put64(b []byte, off int, v uint64) { binary.LittleEndian.PutUint64(b[off:], v) }
func get64(b []byte, off int) uint64    { return binary.LittleEndian.Uint64(b[off:]) }

// phOff returns the file offset of program header i.
func phOff(b []byte, i int) int { return int(get64(b, offPhoff)) + i*56 }

// loads returns the indexes of the PT_LOAD program headers.
func loads(b []byte) []int {
	var idx []int
	for i := 0; i < int(binary.LittleEndian.Uint16(b[offPhnum:])); i++ {
		if binary.LittleEndian.Uint32(b[phOff(b, i):]) == ptLoad {
			idx = append(idx, i)
		}
	}
	return idx
}

// firstLoad returns the index of the first PT_LOAD with the given flags.
func firstLoad(b []byte, flags uint32) int {
	for _, i := range loads(b) {
		if binary.LittleEndian.Uint32(b[phOff(b, i)+phFlags:]) == flags {
			return i
		}
	}
	panic("no such segment")
}

// dynEntry returns the file offset of the first dynamic entry with tag.
func dynEntry(b []byte, tag int64) int {
	for i := 0; i < int(binary.LittleEndian.Uint16(b[offPhnum:])); i++ {
		p := phOff(b, i)
		if binary.LittleEndian.Uint32(b[p:]) == ptDynamic {
			off := int(get64(b, p+phOffset))
			for e := off; e+16 <= off+int(get64(b, p+phFilesz)); e += 16 {
				if int64(get64(b, e)) == tag {
					return e
				}
			}
		}
	}
	panic("no such dynamic entry")
}

// relaEntry returns the file offset of the first RELA entry (static-pie: the
// table is in the first, file-offset == vaddr segment).
func relaEntry(b []byte) int { return int(get64(b, dynEntry(b, dtRela)+8)) }

type corruption struct {
	name   string
	on     []string // which real binaries it applies to
	mutate func(b []byte) []byte
	kind   error
	msg    string // substring of the error message
}

var all = []string{"exec", "pie", "go"}

var corruptions = []corruption{
	{"empty", all, func(b []byte) []byte { return nil }, ErrNotELF, "shorter than"},
	{"truncated to 63 bytes", all, func(b []byte) []byte { return b[:63] }, ErrNotELF, "shorter than"},
	{"truncated inside the program headers", all, func(b []byte) []byte { return b[:100] }, ErrMalformed, "program header table"},
	{"truncated inside the text", all, func(b []byte) []byte {
		p := phOff(b, firstLoad(b, pfR|pfX))
		return b[:get64(b, p+phOffset)+get64(b, p+phFilesz)/2]
	}, ErrMalformed, "past the end"},
	{"bad magic", all, func(b []byte) []byte { b[1] = 'X'; return b }, ErrNotELF, "bad magic"},
	{"32-bit class", all, func(b []byte) []byte { b[4] = 1; return b }, ErrNotELF, "ELFCLASS64"},
	{"big endian", all, func(b []byte) []byte { b[5] = 2; return b }, ErrNotELF, "little endian"},
	{"bad version", all, func(b []byte) []byte { put32(b, 20, 2); return b }, ErrNotELF, "e_version"},
	{"wrong machine (aarch64)", all, func(b []byte) []byte { put16(b, 18, 183); return b }, ErrUnsupported, "e_machine 183"},
	{"relocatable object", all, func(b []byte) []byte { put16(b, 16, 1); return b }, ErrUnsupported, "e_type 1"},
	{"zero phnum", all, func(b []byte) []byte { put16(b, offPhnum, 0); return b }, ErrMalformed, "no program headers"},
	{"huge phnum", all, func(b []byte) []byte { put16(b, offPhnum, 0xfffe); return b }, ErrMalformed, "at most 256"},
	{"PN_XNUM", all, func(b []byte) []byte { put16(b, offPhnum, 0xffff); return b }, ErrMalformed, "PN_XNUM"},
	{"phnum past EOF", all, func(b []byte) []byte { put16(b, offPhnum, 200); return b[:phOff(b, 100)] }, ErrMalformed, "runs past the end"},
	{"phoff past EOF", all, func(b []byte) []byte { put64(b, offPhoff, 1<<62); return b }, ErrMalformed, "runs past the end"},
	{"phoff overflow", all, func(b []byte) []byte { put64(b, offPhoff, ^uint64(0)-8); return b }, ErrMalformed, "runs past the end"},
	{"phoff inside the ELF header", all, func(b []byte) []byte { put64(b, offPhoff, 8); return b }, ErrMalformed, "overlaps the ELF header"},
	{"phentsize", all, func(b []byte) []byte { put16(b, offPhentsize, 64); return b }, ErrMalformed, "e_phentsize"},
	{"text writable (W+X)", all, func(b []byte) []byte {
		i := firstLoad(b, pfR|pfX)
		put32(b, phOff(b, i)+phFlags, pfR|pfW|pfX)
		return b
	}, ErrWriteExec, "is both writable and executable"},
	{"data executable (W+X)", all, func(b []byte) []byte {
		put32(b, phOff(b, firstLoad(b, pfR|pfW))+phFlags, pfR|pfW|pfX)
		return b
	}, ErrWriteExec, "both writable and executable"},
	{"executable stack", []string{"exec", "go"}, func(b []byte) []byte {
		for i := 0; i < int(binary.LittleEndian.Uint16(b[offPhnum:])); i++ {
			if binary.LittleEndian.Uint32(b[phOff(b, i):]) == ptGNUStk {
				put32(b, phOff(b, i)+phFlags, pfR|pfW|pfX)
			}
		}
		return b
	}, ErrWriteExec, "executable stack"},
	{"overlapping segments", all, func(b []byte) []byte {
		l := loads(b)
		p0, p1 := phOff(b, l[0]), phOff(b, l[1])
		put64(b, p1+phVaddr, get64(b, p0+phVaddr)+get64(b, p1+phOffset)%PageSize)
		return b
	}, ErrMalformed, "overlaps program header"},
	{"segments out of order", all, func(b []byte) []byte {
		l := loads(b)
		p0, p1 := phOff(b, l[0]), phOff(b, l[1])
		put64(b, p0+phVaddr, get64(b, p1+phVaddr)&^(PageSize-1)+0x100000+get64(b, p0+phOffset)%PageSize)
		return b
	}, ErrMalformed, "ascending"},
	{"segment offset past EOF", all, func(b []byte) []byte {
		p := phOff(b, firstLoad(b, pfR|pfW))
		put64(b, p+phOffset, uint64(len(b))&^(PageSize-1)+PageSize+get64(b, p+phVaddr)%PageSize)
		return b
	}, ErrMalformed, "past the end"},
	{"segment offset overflow", all, func(b []byte) []byte {
		p := phOff(b, firstLoad(b, pfR|pfW))
		put64(b, p+phOffset, ^uint64(0)-PageSize+1+get64(b, p+phVaddr)%PageSize)
		return b
	}, ErrMalformed, "past the end"},
	{"filesz > memsz", all, func(b []byte) []byte {
		p := phOff(b, firstLoad(b, pfR|pfW))
		put64(b, p+phMemsz, get64(b, p+phFilesz)-1)
		return b
	}, ErrMalformed, "p_filesz"},
	{"misaligned vaddr", all, func(b []byte) []byte {
		p := phOff(b, firstLoad(b, pfR|pfW))
		put64(b, p+phVaddr, get64(b, p+phVaddr)+8)
		return b
	}, ErrMalformed, "modulo the page size"},
	{"memsz overflow", all, func(b []byte) []byte {
		p := phOff(b, firstLoad(b, pfR|pfW))
		put64(b, p+phMemsz, ^uint64(0)-0x100)
		return b
	}, ErrMalformed, "leaves the user address space"},
	{"above user space", all, func(b []byte) []byte {
		p := phOff(b, firstLoad(b, pfR|pfW))
		put64(b, p+phVaddr, 0x7fff_ffff_f000+get64(b, p+phVaddr)%PageSize)
		put64(b, p+phMemsz, get64(b, p+phFilesz)+0x2000)
		return b
	}, ErrMalformed, "leaves the user address space"},
	{"non-canonical", all, func(b []byte) []byte {
		p := phOff(b, firstLoad(b, pfR|pfW))
		put64(b, p+phVaddr, 0xffff_8000_0000_0000+get64(b, p+phVaddr)%PageSize)
		return b
	}, ErrMalformed, "leaves the user address space"},
	{"no PT_LOAD", all, func(b []byte) []byte {
		for _, i := range loads(b) {
			put32(b, phOff(b, i), 4) // PT_NOTE
		}
		return b
	}, ErrMalformed, "no PT_LOAD"},
	{"PT_INTERP", all, func(b []byte) []byte {
		l := loads(b)
		put32(b, phOff(b, l[len(l)-1]), ptInterp)
		return b
	}, ErrUnsupported, "PT_INTERP"},
	{"entry outside every segment", all, func(b []byte) []byte { put64(b, 24, 0x7000_0000_0000); return b }, ErrEntry, "not inside"},
	{"entry in data", all, func(b []byte) []byte {
		put64(b, 24, get64(b, phOff(b, firstLoad(b, pfR|pfW))+phVaddr))
		return b
	}, ErrEntry, "non-executable segment"},
	{"entry past text", all, func(b []byte) []byte {
		p := phOff(b, firstLoad(b, pfR|pfX))
		put64(b, 24, get64(b, p+phVaddr)+get64(b, p+phFilesz))
		return b
	}, ErrEntry, "not inside"},
	{"DT_NEEDED", []string{"pie"}, func(b []byte) []byte {
		put64(b, dynEntry(b, 21), dtNeeded) // DT_DEBUG -> DT_NEEDED
		return b
	}, ErrUnsupported, "DT_NEEDED"},
	{"DT_RELR", []string{"pie"}, func(b []byte) []byte { put64(b, dynEntry(b, 21), dtRelr); return b }, ErrUnsupported, "DT_RELR"},
	{"DT_REL", []string{"pie"}, func(b []byte) []byte { put64(b, dynEntry(b, 21), dtRel); return b }, ErrUnsupported, "DT_REL"},
	{"R_X86_64_64", []string{"pie"}, func(b []byte) []byte { put64(b, relaEntry(b)+8, 1); return b }, ErrUnsupported, "R_X86_64_64"},
	{"R_X86_64_IRELATIVE", []string{"pie"}, func(b []byte) []byte { put64(b, relaEntry(b)+8, 37); return b }, ErrUnsupported, "R_X86_64_IRELATIVE"},
	{"unknown relocation", []string{"pie"}, func(b []byte) []byte { put64(b, relaEntry(b)+8, 99); return b }, ErrUnsupported, "type 99"},
	{"relocation with symbol", []string{"pie"}, func(b []byte) []byte { put64(b, relaEntry(b)+8, 1<<32|rRelative); return b }, ErrMalformed, "names symbol"},
	{"relocation target outside", []string{"pie"}, func(b []byte) []byte { put64(b, relaEntry(b), 0x7000_0000); return b }, ErrMalformed, "not inside a loaded segment"},
	{"DT_RELAENT", []string{"pie"}, func(b []byte) []byte { put64(b, dynEntry(b, dtRelaEnt)+8, 16); return b }, ErrMalformed, "DT_RELAENT"},
	{"DT_RELASZ", []string{"pie"}, func(b []byte) []byte { put64(b, dynEntry(b, dtRelaSz)+8, 25); return b }, ErrMalformed, "multiple of 24"},
	{"DT_RELA outside", []string{"pie"}, func(b []byte) []byte { put64(b, dynEntry(b, dtRela)+8, 1<<40); return b }, ErrMalformed, "not inside the file bytes"},
	{"DT_RELASZ huge", []string{"pie"}, func(b []byte) []byte { put64(b, dynEntry(b, dtRelaSz)+8, 24<<40); return b }, ErrMalformed, "not inside the file bytes"},
	{"no DT_NULL", []string{"pie"}, func(b []byte) []byte {
		// Cut PT_DYNAMIC just before its first DT_NULL.
		null := uint64(dynEntry(b, dtNull))
		for i := 0; i < int(binary.LittleEndian.Uint16(b[offPhnum:])); i++ {
			if p := phOff(b, i); binary.LittleEndian.Uint32(b[p:]) == ptDynamic {
				put64(b, p+phFilesz, null-get64(b, p+phOffset))
			}
		}
		return b
	}, ErrMalformed, "DT_NULL"},
}

func TestParseCorrupt(t *testing.T) {
	for _, c := range corruptions {
		for _, which := range c.on {
			t.Run(c.name+"/"+which, func(t *testing.T) {
				file := c.mutate(realBinary(t, which))
				im, err := Parse(file)
				if err == nil {
					t.Fatalf("Parse succeeded: %+v", im)
				}
				var e *Error
				if !errors.As(err, &e) || !errors.Is(err, c.kind) {
					t.Fatalf("Parse = %v (%T), want an *Error of kind %v", err, err, c.kind)
				}
				if !strings.Contains(err.Error(), c.msg) || !strings.HasPrefix(err.Error(), "elfload: ") {
					t.Errorf("Parse = %q, want it to contain %q", err, c.msg)
				}
			})
		}
	}
}

// ph is a program header for synthetic files.
type ph struct {
	typ, flags                uint32
	off, vaddr, filesz, memsz uint64
}

// synth builds an ELF file with the given header fields and program headers;
// the file is size bytes long (at least large enough for the headers) and
// filled with 0xcc after the headers.
func synth(etype uint16, entry uint64, size int, phs ...ph) []byte {
	size = max(size, 64+56*len(phs))
	b := bytes.Repeat([]byte{0xcc}, size)
	copy(b, "\x7fELF\x02\x01\x01")
	clear(b[7:64])
	put16(b, 16, etype)
	put16(b, 18, emX86_64)
	put32(b, 20, 1)
	put64(b, 24, entry)
	put64(b, offPhoff, 64)
	put16(b, 52, 64)
	put16(b, offPhentsize, 56)
	put16(b, offPhnum, uint16(len(phs)))
	for i, p := range phs {
		o := 64 + 56*i
		put32(b, o+phType, p.typ)
		put32(b, o+phFlags, p.flags)
		put64(b, o+phOffset, p.off)
		put64(b, o+phVaddr, p.vaddr)
		put64(b, o+24, p.vaddr)
		put64(b, o+phFilesz, p.filesz)
		put64(b, o+phMemsz, p.memsz)
		put64(b, o+48, PageSize)
	}
	return b
}

// synthPIE is a minimal valid static-pie: text at 0x1000, data at 0x2000
// with a dynamic section and one RELATIVE relocation.
func synthPIE() []byte {
	b := synth(etDyn, 0x1000, 0x3000,
		ph{typ: ptLoad, flags: pfR, off: 0, vaddr: 0, filesz: 0x400, memsz: 0x400},
		ph{typ: ptLoad, flags: pfR | pfX, off: 0x1000, vaddr: 0x1000, filesz: 0x10, memsz: 0x10},
		ph{typ: ptLoad, flags: pfR | pfW, off: 0x2000, vaddr: 0x2000, filesz: 0x100, memsz: 0x1000},
		ph{typ: ptDynamic, flags: pfR | pfW, off: 0x2000, vaddr: 0x2000, filesz: 0x100, memsz: 0x100},
	)
	clear(b[0x2000:0x2100])
	dyn := [][2]uint64{{dtRela, 0x300}, {dtRelaSz, 24}, {dtRelaEnt, 24}, {dtTextRel, 0}, {dtNull, 0}}
	for i, d := range dyn {
		put64(b, 0x2000+16*i, d[0])
		put64(b, 0x2000+16*i+8, d[1])
	}
	put64(b, 0x300, 0x2080)    // r_offset
	put64(b, 0x308, rRelative) // r_info
	put64(b, 0x310, 0x1008)    // r_addend
	return b
}

// addDyn appends tag/value pairs to synthPIE's dynamic section, before its
// DT_NULL (entry 4).
func addDyn(b []byte, kv ...uint64) {
	for i := 0; i < len(kv); i += 2 {
		put64(b, 0x2000+16*(4+i/2), kv[i])
		put64(b, 0x2000+16*(4+i/2)+8, kv[i+1])
	}
}

func TestParseSynthetic(t *testing.T) {
	text := ph{typ: ptLoad, flags: pfR | pfX, off: 0x1000, vaddr: 0x401000, filesz: 0x10, memsz: 0x10}
	data := ph{typ: ptLoad, flags: pfR | pfW, off: 0x2000, vaddr: 0x402000, filesz: 0x10, memsz: 0x100}
	many := func(n int) []ph {
		var phs []ph
		for i := 0; i < n; i++ {
			phs = append(phs, ph{typ: ptLoad, flags: pfR | pfX, off: 0x1000, vaddr: 0x401000 + uint64(i)*PageSize, filesz: 0x10, memsz: 0x10})
		}
		return phs
	}
	tests := []struct {
		name string
		file []byte
		kind error  // nil: must parse
		msg  string // substring of the error
	}{
		{name: "minimal exec", file: synth(etExec, 0x401000, 0x3000, text, data)},
		{name: "minimal pie", file: synthPIE()},
		{name: "16 PT_LOADs", file: synth(etExec, 0x401000, 0x2000, many(16)...)},
		{name: "17 PT_LOADs", file: synth(etExec, 0x401000, 0x2000, many(17)...), kind: ErrMalformed, msg: "more than 16 PT_LOAD"},
		{name: "empty PT_LOAD is dropped", file: synth(etExec, 0x401000, 0x3000, text, ph{typ: ptLoad, flags: pfR, off: 0x1000, vaddr: 0x401000}, data)},
		{name: "only empty PT_LOADs", file: synth(etExec, 0x401000, 0x3000, ph{typ: ptLoad, flags: pfR | pfX, off: 0x1000, vaddr: 0x401000}), kind: ErrMalformed, msg: "every PT_LOAD segment is empty"},
		{name: "same page, different segments", file: synth(etExec, 0x401000, 0x3000, text, ph{typ: ptLoad, flags: pfR | pfW, off: 0x1800, vaddr: 0x401800, filesz: 0x10, memsz: 0x10}), kind: ErrMalformed, msg: "overlaps"},
		{name: "segment ending at UserTop", file: synth(etExec, 0x7fff_ffff_e000, 0x2000, ph{typ: ptLoad, flags: pfR | pfX, off: 0x1000, vaddr: 0x7fff_ffff_e000, filesz: 0x10, memsz: 0x2000})},
		{name: "segment crossing UserTop", file: synth(etExec, 0x7fff_ffff_e000, 0x2000, ph{typ: ptLoad, flags: pfR | pfX, off: 0x1000, vaddr: 0x7fff_ffff_e000, filesz: 0x10, memsz: 0x2001}), kind: ErrMalformed, msg: "user address space"},
		{name: "PT_INTERP names the interpreter", file: func() []byte {
			b := synth(etExec, 0x401000, 0x3000, ph{typ: ptInterp, off: 0x1800, filesz: 28}, text, data)
			copy(b[0x1800:], "/lib64/ld-linux-x86-64.so.2\x00")
			return b
		}(), kind: ErrUnsupported, msg: "PT_INTERP (/lib64/ld-linux-x86-64.so.2)"},
		{name: "two PT_DYNAMIC", file: synth(etDyn, 0x401000, 0x3000, text, data, ph{typ: ptDynamic, off: 0x2000, filesz: 16}, ph{typ: ptDynamic, off: 0x2000, filesz: 16}), kind: ErrMalformed, msg: "both PT_DYNAMIC"},
		{name: "PT_DYNAMIC past EOF", file: synth(etDyn, 0x401000, 0x3000, text, data, ph{typ: ptDynamic, off: 0x2ff0, filesz: 32}), kind: ErrMalformed, msg: "past the end"},
		{name: "PT_PHDR outside the segments", file: synth(etExec, 0x401000, 0x3000, ph{typ: ptPhdr, vaddr: 0x500000, filesz: 56 * 3, memsz: 56 * 3}, text, data), kind: ErrMalformed, msg: "PT_PHDR"},
		{name: "DT_JMPREL table is read", file: func() []byte {
			b := synthPIE()
			addDyn(b, dtJmpRel, 0x318, dtPltRelSz, 24, dtPltRel, dtRela)
			put64(b, 0x318, 0x2088)
			put64(b, 0x320, 37) // R_X86_64_IRELATIVE
			put64(b, 0x328, 0x1000)
			return b
		}(), kind: ErrUnsupported, msg: "DT_JMPREL entry 0: relocation R_X86_64_IRELATIVE"},
		{name: "DT_JMPREL RELATIVE entries are collected", file: func() []byte {
			b := synthPIE()
			addDyn(b, dtJmpRel, 0x318, dtPltRelSz, 24)
			put64(b, 0x318, 0x2088)
			put64(b, 0x320, rRelative)
			put64(b, 0x328, 0x1000)
			return b
		}()},
		{name: "DT_PLTREL must be DT_RELA", file: func() []byte {
			b := synthPIE()
			addDyn(b, dtJmpRel, 0x300, dtPltRelSz, 24, dtPltRel, dtRel)
			return b
		}(), kind: ErrUnsupported, msg: "DT_PLTREL"},
		{name: "R_X86_64_NONE is skipped", file: func() []byte {
			b := synthPIE()
			put64(b, 0x308, rNone)
			return b
		}()},
		{name: "relocation straddling the segment end", file: func() []byte {
			b := synthPIE()
			put64(b, 0x300, 0x2ffc)
			return b
		}(), kind: ErrMalformed, msg: "not inside a loaded segment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			im, err := Parse(tt.file)
			if tt.kind == nil {
				if err != nil {
					t.Fatal(err)
				}
				checkInvariants(t, tt.file, im)
				return
			}
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Parse = %v, want %v containing %q", err, tt.kind, tt.msg)
			}
		})
	}
}

func TestSyntheticPIEDetails(t *testing.T) {
	im, err := Parse(synthPIE())
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Segments) != 3 || len(im.Relocs) != 1 || im.Relocs[0] != (Reloc{Addr: 0x2080, Value: 0x1008}) {
		t.Fatalf("segments %d, relocs %#v", len(im.Segments), im.Relocs)
	}
	if im.PhdrAddr != 0x40 || im.Phnum != 4 || im.Low != 0 || im.High != 0x3000 || im.Size() != 0x3000 {
		t.Errorf("PhdrAddr %#x Phnum %d Low %#x High %#x Size %#x", im.PhdrAddr, im.Phnum, im.Low, im.High, im.Size())
	}
	if d := im.Segments[2].Data; len(d) != 0x100 || cap(d) != 0x100 {
		t.Errorf("data segment: len %#x cap %#x, want 0x100 and a capped slice", len(d), cap(d))
	}
}

// checkInvariants asserts what every successful Parse promises.
func checkInvariants(t *testing.T, file []byte, im *Image) {
	t.Helper()
	if len(im.Segments) == 0 || len(im.Segments) > MaxLoads {
		t.Fatalf("%d segments", len(im.Segments))
	}
	entryOK := false
	var prevEnd uint64
	for i, s := range im.Segments {
		if s.Write && s.Exec {
			t.Errorf("segment %d is W+X", i)
		}
		if s.Memsz == 0 || uint64(len(s.Data)) > s.Memsz {
			t.Errorf("segment %d: memsz %#x, filesz %#x", i, s.Memsz, len(s.Data))
		}
		if i > 0 && pageDown(s.Vaddr) < prevEnd {
			t.Errorf("segment %d overlaps its predecessor", i)
		}
		prevEnd = pageUp(s.End())
		if prevEnd > UserTop || prevEnd < s.Vaddr {
			t.Errorf("segment %d ends at %#x", i, prevEnd)
		}
		if s.Exec && im.Entry >= s.Vaddr && im.Entry < s.Vaddr+uint64(len(s.Data)) {
			entryOK = true
		}
	}
	if !entryOK {
		t.Errorf("entry %#x not in executable file bytes", im.Entry)
	}
	if im.Low != pageDown(im.Segments[0].Vaddr) || im.High != prevEnd {
		t.Errorf("Low, High = %#x, %#x", im.Low, im.High)
	}
	for _, r := range im.Relocs {
		if !im.inSegment(r.Addr, 8) {
			t.Errorf("reloc target %#x outside the segments", r.Addr)
		}
	}
	if uint64(len(im.Relocs))*24 > uint64(len(file)) {
		t.Errorf("%d relocs from a %d-byte file", len(im.Relocs), len(file))
	}
}

func FuzzParse(f *testing.F) {
	f.Add(synthPIE())
	f.Add(synth(etExec, 0x401000, 0x3000,
		ph{typ: ptLoad, flags: pfR | pfX, off: 0x1000, vaddr: 0x401000, filesz: 0x10, memsz: 0x10},
		ph{typ: ptLoad, flags: pfR | pfW, off: 0x2000, vaddr: 0x402000, filesz: 0x10, memsz: 0x100}))
	// The gcc binaries are small enough to fuzz whole. The Go binary
	// (~2 MiB) would make every execution slow, so only its headers and
	// first page go in, plus its corruptions' headers.
	binaries.once.Do(build)
	seeds := map[string][]byte{"exec": binaries.exec, "pie": binaries.pie}
	if binaries.goExe != nil {
		seeds["go"] = binaries.goExe[:PageSize]
	}
	for which, b := range seeds {
		if b == nil {
			continue
		}
		f.Add(bytes.Clone(b))
		for _, c := range corruptions {
			for _, on := range c.on {
				if on == which && (which != "go" || c.name != "truncated inside the text") {
					func() {
						defer func() { recover() }() // a helper may not apply to a cut binary
						f.Add(c.mutate(bytes.Clone(b)))
					}()
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, file []byte) {
		orig := bytes.Clone(file)
		im, err := Parse(file)
		if !bytes.Equal(orig, file) {
			t.Fatal("Parse modified its input")
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Category == nil {
				t.Fatalf("error %v is not a categorised *Error", err)
			}
			return
		}
		checkInvariants(t, file, im)
		if im.Kind == PIE {
			if err := im.Rebase(0x5555_5555_0000); err != nil && !errors.Is(err, ErrUsage) {
				t.Fatal(err)
			}
		}
	})
}
