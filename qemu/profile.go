package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// The profile subcommand: where a boot's instructions go, by kernel
// function. QEMU logs every translation block it translates (-d in_asm:
// its instructions) and every block it executes (-d exec, nochain so that
// chained blocks are logged too); the runner adds up the instructions of
// the executed blocks by the function their first instruction is in.
// With -at FUNC the trace is cut at each entry to FUNC, and the pieces
// with the same make-up are counted together: a benchmark loop's
// iterations come out as one line per kind of iteration, with the
// functions it went through. Run it on qemu-icount (the default), where
// instruction counts are what the bench figures count.

// cmdProfile runs one QEMU boot with the trace on and prints the profile.
func cmdProfile(args []string) int {
	fs := flag.NewFlagSet("profile", flag.ContinueOnError)
	var c commonFlags
	var bf bootFlags
	c.register(fs)
	bf.register(fs, string(QEMUICount))
	at := fs.String("at", "", "cut the trace at each entry to this function (as go tool nm names it, e.g. beelzebox/cpu.syscallEntry.abi0)")
	top := fs.Int("top", 8, "how many functions, or with -at how many kinds of piece, to print")
	if !parse(fs, args) {
		return exitUsage
	}
	b := bf.boot()
	if !b.Emu.IsQEMU() || b.Firmware != Direct {
		logf("profile needs QEMU loading the kernel itself (-emu qemu or qemu-icount, no -firmware)")
		return exitUsage
	}
	a, ok := prepare(b, c)
	if !ok {
		return exitUsage
	}
	syms, err := readSymbols(a.path(a.Kernel))
	if err != nil {
		logf("profile: %v", err)
		return exitUsage
	}
	var marker uint64
	if *at != "" {
		if marker, ok = syms.addr(*at); !ok {
			logf("profile: no function %q in %s", *at, a.path(a.Kernel))
			return exitUsage
		}
	}
	dir, err := makeTempDir("beelzebox-profile-")
	if err != nil {
		logf("profile: %v", err)
		return exitUsage
	}
	defer removeTempDir(dir)
	trace := filepath.Join(dir, "trace.log")
	code := interactive(b, a, runOptions{live: true, trace: trace, noTimeout: bf.timeout == 0})
	f, err := os.Open(trace)
	if err != nil {
		logf("profile: %v", err)
		return exitUsage
	}
	defer f.Close()
	p, err := readTrace(f, syms, marker)
	if err != nil {
		logf("profile: %v", err)
		return exitUsage
	}
	p.print(os.Stdout, *top)
	return code
}

// symbols are a kernel's functions, sorted by address.
type symbols struct {
	addrs []uint64
	ends  []uint64
	names []string
}

// readSymbols reads the function symbols of the ELF file at path.
func readSymbols(path string) (*symbols, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	all, err := f.Symbols()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	var fns []elf.Symbol
	for _, s := range all {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Value != 0 {
			fns = append(fns, s)
		}
	}
	sort.Slice(fns, func(i, j int) bool { return fns[i].Value < fns[j].Value })
	s := &symbols{}
	for _, fn := range fns {
		s.addrs = append(s.addrs, fn.Value)
		s.ends = append(s.ends, fn.Value+max(fn.Size, 1))
		s.names = append(s.names, fn.Name)
	}
	return s, nil
}

// name is the function pc is in, or "?" and the 64 KiB region for code
// outside the kernel's functions (firmware, guests).
func (s *symbols) name(pc uint64) string {
	i := sort.Search(len(s.addrs), func(i int) bool { return s.addrs[i] > pc }) - 1
	if i >= 0 && pc < s.ends[i] {
		return s.names[i]
	}
	return fmt.Sprintf("?%#x", pc&^0xffff)
}

// addr is the entry of the function called name.
func (s *symbols) addr(name string) (uint64, bool) {
	for i, n := range s.names {
		if n == name {
			return s.addrs[i], true
		}
	}
	return 0, false
}

// profile is what readTrace found.
type profile struct {
	total     uint64
	functions map[string]uint64
	// pieces counts the pieces between entries to the -at function by
	// their make-up (the functions and their instructions, as a string).
	pieces map[string]int
}

// readTrace adds up a QEMU -d in_asm,exec,nochain log: a block's
// instructions are those its last translation listed (its "IN:" block).
// marker, if not 0, cuts the trace into pieces at each block starting
// there.
func readTrace(r io.Reader, syms *symbols, marker uint64) (*profile, error) {
	p := &profile{functions: make(map[string]uint64), pieces: make(map[string]int)}
	size := make(map[uint64]uint64) // instructions of the block at each address
	names := make(map[uint64]string)
	piece := make(map[string]uint64)
	started := false
	endPiece := func() {
		if started && len(piece) > 0 {
			p.pieces[pieceKey(piece)]++
		}
		clear(piece)
		started = true
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	var blockPC, blockLen uint64
	inBlock := false
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case bytes.HasPrefix(line, []byte("IN:")):
			inBlock, blockPC, blockLen = true, 0, 0
		case inBlock && bytes.HasPrefix(line, []byte("0x")):
			if blockLen == 0 {
				pc, err := strconv.ParseUint(string(line[2:bytes.IndexByte(line, ':')]), 16, 64)
				if err != nil {
					return nil, fmt.Errorf("trace: %q: %v", line, err)
				}
				blockPC = pc
			}
			blockLen++
		case bytes.HasPrefix(line, []byte("Trace ")):
			if inBlock {
				inBlock = false
				size[blockPC] = blockLen
			}
			pc, ok := tracePC(line)
			if !ok {
				return nil, fmt.Errorf("trace: cannot read %q", line)
			}
			n := size[pc]
			if n == 0 {
				n = 1
			}
			name, ok := names[pc]
			if !ok {
				name = syms.name(pc)
				names[pc] = name
			}
			if marker != 0 && pc == marker {
				endPiece()
			}
			p.total += n
			p.functions[name] += n
			if started {
				piece[name] += n
			}
		default:
			if inBlock && blockLen > 0 {
				inBlock = false
				size[blockPC] = blockLen
			}
		}
	}
	return p, sc.Err()
}

// tracePC reads the guest PC of a "Trace N: host [cs_base/pc/flags/cflags]"
// line.
func tracePC(line []byte) (uint64, bool) {
	i := bytes.IndexByte(line, '[')
	if i < 0 {
		return 0, false
	}
	f := bytes.Split(line[i+1:], []byte("/"))
	if len(f) < 2 {
		return 0, false
	}
	pc, err := strconv.ParseUint(string(f[1]), 16, 64)
	return pc, err == nil
}

// pieceKey is a piece's make-up: its functions, most instructions first.
func pieceKey(piece map[string]uint64) string {
	type fn struct {
		name string
		n    uint64
	}
	var fns []fn
	for name, n := range piece {
		fns = append(fns, fn{name, n})
	}
	sort.Slice(fns, func(i, j int) bool {
		if fns[i].n != fns[j].n {
			return fns[i].n > fns[j].n
		}
		return fns[i].name < fns[j].name
	})
	var b strings.Builder
	for _, f := range fns {
		fmt.Fprintf(&b, "%d %s\n", f.n, f.name)
	}
	return b.String()
}

// print writes the top functions or, with pieces, the top kinds of piece.
func (p *profile) print(w io.Writer, top int) {
	if len(p.pieces) == 0 {
		fmt.Fprintf(w, "profile: %d instructions\n", p.total)
		for _, f := range topFunctions(p.functions, top) {
			fmt.Fprintf(w, "%12d %s\n", p.functions[f], f)
		}
		return
	}
	keys := make([]string, 0, len(p.pieces))
	for k := range p.pieces {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if p.pieces[keys[i]] != p.pieces[keys[j]] {
			return p.pieces[keys[i]] > p.pieces[keys[j]]
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys[:min(top, len(keys))] {
		var total uint64
		lines := strings.Split(strings.TrimSuffix(k, "\n"), "\n")
		for _, l := range lines {
			n, _, _ := strings.Cut(l, " ")
			v, _ := strconv.ParseUint(n, 10, 64)
			total += v
		}
		fmt.Fprintf(w, "profile: %d pieces of %d instructions\n", p.pieces[k], total)
		for _, l := range lines {
			n, name, _ := strings.Cut(l, " ")
			fmt.Fprintf(w, "%8s %s\n", n, name)
		}
	}
}

// topFunctions are the n functions with the most instructions.
func topFunctions(m map[string]uint64, n int) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		if m[names[i]] != m[names[j]] {
			return m[names[i]] > m[names[j]]
		}
		return names[i] < names[j]
	})
	return names[:min(n, len(names))]
}
