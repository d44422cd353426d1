package host

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"beelzebox/cpu"
	"beelzebox/kernel"
	"beelzebox/kernel/elfload"
	"beelzebox/linux"
	"beelzebox/sandbox"
	"beelzebox/sandbox/linux/vdso"
	"beelzebox/sandbox/linux/vmem"
	"beelzebox/syscall"
	"golang.org/x/sys/unix"
)

const page = 4096

func pageUp(x uint64) uint64   { return (x + page - 1) &^ (page - 1) }
func pageDown(x uint64) uint64 { return x &^ (page - 1) }

// maxArgs bounds argv and envp together, as Linux's ARG_MAX would.
const maxArgs = 2 << 20

// program is a program ready to map: parsed, its interpreter found, its
// arguments final (a script's interpreter in front). Nothing of the
// guest's memory has been touched yet: every error so far is one execve
// returns to the caller.
type program struct {
	path, exe  string // as named, and the resolved file
	argv, env  []string
	im, interp *elfload.Image
	interpPath string
}

// prepare reads and parses the program at path (relative to the working
// directory), following #! lines as execve does (up to four deep).
func (p *Process) prepare(path string, argv, env []string) (*program, error) {
	exe, file, err := p.readProgram(path)
	if err != nil {
		return nil, err
	}
	for depth := 0; bytes.HasPrefix(file, []byte("#!")); depth++ {
		interp, arg, ok := shebang(file)
		if !ok || depth == 4 {
			return nil, fmt.Errorf("%s: %w: a bad #! line", path, ErrNotProgram)
		}
		nargv := []string{interp}
		if arg != "" {
			nargv = append(nargv, arg)
		}
		nargv = append(nargv, path)
		if len(argv) > 1 {
			nargv = append(nargv, argv[1:]...)
		}
		argv, path = nargv, interp
		if exe, file, err = p.readProgram(interp); err != nil {
			return nil, err
		}
	}
	pr := &program{path: path, exe: exe, argv: argv, env: env}
	if pr.im, err = elfload.ParseProgram(file); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrNotProgram, err)
	}
	if pr.im.Interp != "" {
		ipath, ifile, err := p.readProgram(pr.im.Interp)
		if err != nil {
			return nil, fmt.Errorf("%s: dynamically linked, and its interpreter %s is not in the guest's files: %w", path, pr.im.Interp, ErrNotFound)
		}
		pr.interp, err = elfload.ParseProgram(ifile)
		if err != nil || pr.interp.Kind != elfload.PIE || pr.interp.Interp != "" {
			return nil, fmt.Errorf("%s: interpreter %s: %w: %v", path, pr.im.Interp, ErrNotProgram, err)
		}
		pr.interpPath = ipath
	}
	return pr, nil
}

// load maps a prepared program (and its interpreter), the vDSO and the
// stack into the process's memory, and returns the main thread's
// registers, as execve leaves them.
func (p *Process) load(pr *program) (sandbox.Regs, error) {
	p.exe = pr.exe
	im := pr.im
	if _, err := p.mapImage(pr.exe, im); err != nil {
		return sandbox.Regs{}, err
	}
	entry, base := im.Entry, uint64(0)
	if pr.interp != nil {
		var err error
		if base, err = p.mapImage(pr.interpPath, pr.interp); err != nil {
			return sandbox.Regs{}, err
		}
		entry = pr.interp.Entry
	}
	p.mem.SetBrkBase(pageUp(im.High))
	var vdsoAddr uint64
	if p.cfg.VDSO != nil {
		var err error
		if vdsoAddr, err = p.mapVDSO(); err != nil {
			return sandbox.Regs{}, err
		}
	}
	size := p.stackSize()
	stack, errno := p.mem.Map("[stack]", 0, size, unix.PROT_READ|unix.PROT_WRITE, nil)
	if errno != 0 {
		return sandbox.Regs{}, fmt.Errorf("mapping the stack: %v", errno)
	}
	sp, err := p.buildStack(stack+size, pr, base, vdsoAddr)
	if err != nil {
		return sandbox.Regs{}, err
	}
	return sandbox.Regs{RIP: entry, RSP: sp}, nil
}

// readProgram reads a program file, resolved against the working
// directory.
func (p *Process) readProgram(path string) (string, []byte, error) {
	if path == "" {
		return "", nil, fmt.Errorf("no program named: %w", ErrNotFound)
	}
	f, errno := p.files.OpenExec(path)
	if errno != 0 {
		if errno == linux.ENOENT || errno == linux.ENOTDIR {
			return "", nil, fmt.Errorf("%s: %w", path, ErrNotFound)
		}
		return "", nil, fmt.Errorf("%s: %w: %w", path, ErrNotProgram, errno)
	}
	if f.Size() > maxProgram {
		return "", nil, fmt.Errorf("%s: %w: %d bytes", path, ErrNotProgram, f.Size())
	}
	file := make([]byte, f.Size())
	if _, err := f.ReadAt(file, 0); err != nil && len(file) > 0 {
		return "", nil, fmt.Errorf("%s: %w: %v", path, ErrNotProgram, err)
	}
	return f.Name(), file, nil
}

// maxProgram bounds the file of a program.
const maxProgram = 256 << 20

// shebang parses a script's first line: "#!interpreter [one argument]".
func shebang(file []byte) (interp, arg string, ok bool) {
	line := file[2:min(len(file), 256)]
	end := bytes.IndexByte(line, '\n')
	if end < 0 {
		if len(file) > 256 {
			return "", "", false
		}
		end = len(line)
	}
	fields := strings.TrimSpace(string(line[:end]))
	interp, arg, _ = strings.Cut(fields, " ")
	arg = strings.TrimSpace(arg)
	return interp, arg, interp != ""
}

// mapImage maps im's segments, a static-pie where the guest's memory
// has room for its whole span, and returns the bias it was moved by.
func (p *Process) mapImage(name string, im *elfload.Image) (uint64, error) {
	lo := pageDown(im.Low)
	span := pageUp(im.High) - lo
	var bias uint64
	if im.Kind == elfload.PIE {
		at, errno := p.mem.Mmap(0, span, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, nil, 0)
		if errno != 0 {
			return 0, fmt.Errorf("%s: no room for its %d KiB: %v", name, span>>10, errno)
		}
		bias = at - lo
		if err := im.Rebase(bias); err != nil {
			return 0, fmt.Errorf("%s: %w: %v", name, ErrNotProgram, err)
		}
	}
	for _, s := range im.Segments {
		start := pageDown(s.Vaddr)
		size := pageUp(s.End()) - start
		data := make([]byte, s.Vaddr-start+uint64(len(s.Data)))
		copy(data[s.Vaddr-start:], s.Data)
		prot := 0
		if s.Read {
			prot |= unix.PROT_READ
		}
		if s.Write {
			prot |= unix.PROT_WRITE
		}
		if s.Exec {
			prot |= unix.PROT_EXEC
		}
		if _, errno := p.mem.Map(name, start, size, prot, data); errno != 0 {
			if err := p.mem.LastError(); err != nil {
				return 0, fmt.Errorf("%s: %w: %v", name, ErrNotProgram, err)
			}
			return 0, fmt.Errorf("%s: mapping [%#x, %#x): %v", name, start, start+size, errno)
		}
	}
	return bias, nil
}

// mapVDSO maps the vvar page and the vDSO image after it.
func (p *Process) mapVDSO() (uint64, error) {
	v := p.cfg.VDSO
	at, errno := p.mem.Mmap(0, page+v.Size(), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, nil, 0)
	if errno != 0 {
		return 0, fmt.Errorf("mapping the vDSO: %v", errno)
	}
	data := vdsoData()
	if _, errno := p.mem.Map("[vvar]", at, page, unix.PROT_READ, data[:]); errno != 0 {
		return 0, fmt.Errorf("mapping the vDSO data: %v", errno)
	}
	if _, errno := p.mem.Map("[vdso]", at+page, v.Size(), unix.PROT_READ|unix.PROT_EXEC, v.Bytes()); errno != 0 {
		return 0, fmt.Errorf("mapping the vDSO: %v", errno)
	}
	return at + page, nil
}

// buildStack lays out argc, argv, envp and the auxiliary vector below top
// as Linux's execve does, and returns the stack pointer (at argc).
func (p *Process) buildStack(top uint64, pr *program, base, vdsoAddr uint64) (uint64, error) {
	argv, env, im := pr.argv, pr.env, pr.im
	size := 0
	for _, s := range append(append([]string{}, argv...), env...) {
		size += len(s) + 1
	}
	if size > maxArgs {
		return 0, fmt.Errorf("argument list too long (%d bytes): %w", size, linux.E2BIG)
	}
	// Strings at the top: the executable's name, the environment, the
	// arguments, then 16 random bytes.
	var strs []byte
	strAddr := func(s string) uint64 {
		strs = append(strs, s...)
		strs = append(strs, 0)
		return uint64(len(strs) - len(s) - 1)
	}
	execfn := strAddr(pr.path)
	argOff := make([]uint64, len(argv))
	for i, s := range argv {
		argOff[i] = strAddr(s)
	}
	envOff := make([]uint64, len(env))
	for i, s := range env {
		envOff[i] = strAddr(s)
	}
	var random [16]byte
	kernel.RandomBytes(random[:])
	strBase := (top - 8 - uint64(len(strs))) &^ 15
	randAddr := strBase - 16

	_, _, _, edx := cpu.CPUID(1, 0)
	auxv := [][2]uint64{
		{linux.AT_SYSINFO_EHDR, vdsoAddr},
		{linux.AT_MINSIGSTKSZ, uint64(p.sigFrameSize())},
		{linux.AT_HWCAP, uint64(edx)},
		{linux.AT_PAGESZ, page},
		{linux.AT_CLKTCK, 100},
		{linux.AT_PHDR, im.PhdrAddr},
		{linux.AT_PHENT, uint64(im.Phent)},
		{linux.AT_PHNUM, uint64(im.Phnum)},
		{linux.AT_BASE, base},
		{linux.AT_FLAGS, 0},
		{linux.AT_ENTRY, im.Entry},
		{linux.AT_UID, 0}, {linux.AT_EUID, 0}, {linux.AT_GID, 0}, {linux.AT_EGID, 0},
		{linux.AT_SECURE, 0},
		{linux.AT_RANDOM, randAddr},
		{linux.AT_HWCAP2, 0},
		{linux.AT_EXECFN, strBase + execfn},
		{linux.AT_NULL, 0},
	}
	if vdsoAddr == 0 {
		auxv = auxv[1:]
	}
	words := 1 + len(argv) + 1 + len(env) + 1 + 2*len(auxv)
	sp := (randAddr - uint64(8*words)) &^ 15
	vec := make([]byte, 8*words)
	put := func(i int, v uint64) { binary.LittleEndian.PutUint64(vec[8*i:], v) }
	i := 0
	put(i, uint64(len(argv)))
	i++
	for _, o := range argOff {
		put(i, strBase+o)
		i++
	}
	i++ // NULL
	for _, o := range envOff {
		put(i, strBase+o)
		i++
	}
	i++ // NULL
	for _, a := range auxv {
		put(i, a[0])
		put(i+1, a[1])
		i += 2
	}
	if sp < top-p.stackSize()+page {
		return 0, fmt.Errorf("arguments and environment do not fit the stack: %w", linux.E2BIG)
	}
	for _, w := range []struct {
		at uint64
		b  []byte
	}{{strBase, strs}, {randAddr, random[:]}, {sp, vec}} {
		if err := p.g.WriteMemory(w.at, w.b); err != nil {
			return 0, err
		}
	}
	return sp, nil
}

// fileSource gives vmem a file to map.
func (p *Process) fileSource(fd int) (vmem.Source, linux.Errno) {
	m, err := p.files.MapSource(fd)
	if err != 0 {
		return nil, err
	}
	return m, 0
}

// vdsoData is the vDSO's data page: the kernel's clock (kernel.Nanotime
// and the realtime epoch of package syscall), so that the guest's clocks
// read without a system call agree with the host's to the nanosecond.
func vdsoData() [vdso.PageSize]byte {
	base, mult, shift := kernel.TSCClock()
	return vdso.Data(vdso.ClockParams{BaseTSC: base, Mult: mult, Shift: shift, RealtimeOffset: syscall.RealtimeEpoch})
}
