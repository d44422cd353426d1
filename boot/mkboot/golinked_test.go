package main

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildGoELF links a tiny Go program the way the kernel is linked (-T
// <text address>, GOOS=linux, static) and returns the file's bytes.
func buildGoELF(t *testing.T, ldflags string) []byte {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module tiny\n\ngo 1.26\n")
	write("main.go", "package main\n\nvar big [1 << 16]byte\n\nfunc main() { big[1] = 1; println(\"tiny\", big[1]) }\n")
	out := filepath.Join(dir, "tiny.elf")
	cmd := exec.Command(gobin, "build", "-trimpath", "-ldflags", ldflags, "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0", "GOFLAGS=", "GOWORK=off")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStampGoLinked checks the stamped header of a real Go-linked file
// against facts read independently from its ELF headers.
func TestStampGoLinked(t *testing.T) {
	for _, tt := range []struct {
		ldflags string
		delta   uint64 // load address: -T minus the 4 KiB header page
	}{
		{"-T 0x1001000", 0x1000000}, // as the Makefile links the kernel
		{"-T 0x101000", 0x100000},
		{"-T 0x101000 -s -w", 0x100000},
	} {
		t.Run(tt.ldflags, func(t *testing.T) {
			orig := buildGoELF(t, tt.ldflags)
			image := bytes.Clone(orig)
			p, err := Stamp(image)
			if err != nil {
				t.Fatal(err)
			}

			f, err := elf.NewFile(bytes.NewReader(orig))
			if err != nil {
				t.Fatal(err)
			}
			var loadEnd, bssEnd uint64
			for _, prog := range f.Progs {
				if prog.Type != elf.PT_LOAD {
					continue
				}
				if prog.Vaddr-prog.Off != tt.delta {
					t.Fatalf("Go linker gave PT_LOAD delta %#x; the kernel's load address assumption is broken", prog.Vaddr-prog.Off)
				}
				loadEnd = max(loadEnd, prog.Vaddr+prog.Filesz)
				bssEnd = max(bssEnd, prog.Vaddr+prog.Memsz)
			}

			h := p.Header
			if s := h.Magic + uint32(h.Flags) + h.Checksum; h.Magic != 0x1BADB002 || s != 0 {
				t.Errorf("magic %#x, magic+flags+checksum = %#x", h.Magic, s)
			}
			if h.Flags != 0x00010002 {
				t.Errorf("flags = %#x, want memory info | address fields", uint32(h.Flags))
			}
			if uint64(h.LoadAddr) != tt.delta || uint64(h.HeaderAddr) != tt.delta+uint64(p.Offset) {
				t.Errorf("load_addr %#x header_addr %#x for offset %#x", h.LoadAddr, h.HeaderAddr, p.Offset)
			}
			if uint64(h.LoadEndAddr) != loadEnd || uint64(h.BSSEndAddr) != bssEnd || uint64(h.EntryAddr) != f.Entry {
				t.Errorf("header %v, want load_end %#x bss_end %#x entry %#x", h, loadEnd, bssEnd, f.Entry)
			}
			if bssEnd <= loadEnd {
				t.Errorf("test program has no .bss (bss_end %#x, load_end %#x)", bssEnd, loadEnd)
			}

			// Placement: aligned, inside 8 KiB, clear of every ELF structure.
			if p.Offset%4 != 0 || p.Offset+32 > 8192 {
				t.Errorf("header at %#x", p.Offset)
			}
			var eh elf.Header64
			if _, err := binary.Decode(orig, binary.LittleEndian, &eh); err != nil {
				t.Fatal(err)
			}
			hdr := span{uint64(p.Offset), uint64(p.Offset) + 32}
			forbidden := map[string]span{
				"ELF header":      {0, 64},
				"program headers": {eh.Phoff, eh.Phoff + uint64(eh.Phnum)*56},
				"section headers": {eh.Shoff, eh.Shoff + uint64(eh.Shnum)*64},
			}
			for _, s := range f.Sections {
				if s.Type != elf.SHT_NOBITS && s.Size > 0 {
					forbidden[s.Name] = span{s.Offset, s.Offset + s.Size}
				}
			}
			for name, s := range forbidden {
				if hdr.overlaps(s) {
					t.Errorf("header %#x-%#x overlaps %s %#x-%#x", hdr.lo, hdr.hi, name, s.lo, s.hi)
				}
			}
			if !bytes.Equal(orig[p.Offset:p.Offset+32], make([]byte, 32)) {
				t.Error("header overwrote nonzero bytes")
			}
			if n := diffCount(orig, image); n > 32 {
				t.Errorf("%d bytes changed, want at most 32", n)
			}

			// The stamped file is still the same ELF to ELF readers.
			g, err := elf.NewFile(bytes.NewReader(image))
			if err != nil {
				t.Fatal(err)
			}
			if len(g.Sections) != len(f.Sections) || len(g.Progs) != len(f.Progs) {
				t.Error("stamped file reads differently")
			}
			if _, err := Check(image); err != nil {
				t.Errorf("Check: %v", err)
			}

			// The Multiboot2 header goes after it, 8-byte aligned, within
			// 32 KiB, and leaves the v1 header as it was.
			p2, err := Stamp2(image)
			if err != nil {
				t.Fatal(err)
			}
			if p2.Offset%8 != 0 || p2.Offset+Header2Size > 32768 || p2.Offset < p.Offset+HeaderSize {
				t.Errorf("multiboot2 header at %#x (v1 at %#x)", p2.Offset, p.Offset)
			}
			h2 := p2.Header
			if uint64(h2.LoadAddr) != tt.delta || uint64(h2.LoadEndAddr) != loadEnd || uint64(h2.BSSEndAddr) != bssEnd || uint64(h2.EntryAddr) != f.Entry {
				t.Errorf("multiboot2 header %v, want load %#x-%#x bss_end %#x entry %#x", h2, tt.delta, loadEnd, bssEnd, f.Entry)
			}
			if _, err := Check(image); err != nil {
				t.Errorf("Check after Stamp2: %v", err)
			}
			if _, err := Check2(image); err != nil {
				t.Errorf("Check2: %v", err)
			}
		})
	}
}

func diffCount(a, b []byte) int {
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

func TestCommandLine(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.elf")
	out := filepath.Join(dir, "out.elf")
	if err := os.WriteFile(in, goLike().bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk")
	if err := os.WriteFile(junk, []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		args       []string
		status     int
		wantStdout string
		wantStderr string
	}{
		{[]string{"-check", in}, 1, "", "no multiboot header"},
		{[]string{"-v", in, out}, 0, "header at file offset 0x1b0", ""},
		{[]string{"-check", out}, 0, "ok: header at file offset 0x1b0", ""},
		{[]string{"-check", out}, 0, "ok: multiboot2 header at file offset 0x1d0", ""},
		{[]string{junk, out}, 1, "", "not a 64-bit"},
		{[]string{filepath.Join(dir, "missing"), out}, 1, "", "no such file"},
		{[]string{in}, 2, "", "usage"},
		{[]string{"-check", in, out}, 2, "", "usage"},
		{[]string{"-bogus"}, 2, "", "flag provided but not defined"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		status := run(tt.args, &stdout, &stderr)
		if status != tt.status ||
			!strings.Contains(stdout.String(), tt.wantStdout) ||
			!strings.Contains(stderr.String(), tt.wantStderr) {
			t.Errorf("mkboot %q = %d\nstdout: %s\nstderr: %s\nwant %d, stdout with %q, stderr with %q",
				tt.args, status, &stdout, &stderr, tt.status, tt.wantStdout, tt.wantStderr)
		}
	}
	// A failed run must not leave a half-written output behind.
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Check(b); err != nil {
		t.Errorf("out.elf after the runs: %v", err)
	}
}
