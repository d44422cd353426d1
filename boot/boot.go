// Package boot is the kernel's entry: the multiboot header target
// (entry_amd64.s), and start, which brings the machine up in order and
// enters the Go runtime as the Linux ELF loader would enter a program.
// It decodes the loader's hand-over (Multiboot v1 or v2) into Info and
// the ACPI tables into Machine, which the rest of the kernel reads.
//
// Everything in start runs before the Go runtime is initialized: no
// allocation, no package-level variables that need initialization code,
// no goroutines. Errors are reported with kernel.Panic, which needs none
// of those.
package boot

import (
	"unsafe"

	"beelzebox/acpi"
	"beelzebox/boot/bootinfo"
	"beelzebox/cpu"
	"beelzebox/dev/fb"
	"beelzebox/dev/ioapic"
	"beelzebox/kernel"
	"beelzebox/mm"
	"beelzebox/syscall"
)

const (
	bootStackSize    = 64 << 10
	processStackSize = 256 << 10
	// MinMemory is the least available RAM the kernel runs with.
	MinMemory = 48 << 20
)

// Set by start64 and used there; the array sizes are fixed.
var (
	bootMagic    uint64
	bootInfo     uint64
	bootStack    [bootStackSize]byte
	bootTLS      [4]uint64
	bootG        [64]uint64
	processStack [processStackSize]byte
	bootTables   [8 * 4096]byte // see entry_amd64.s

	// Info is the loader's information, kept for the rest of the kernel
	// (the initramfs module, the command line, the memory map).
	Info bootinfo.Info
)

func mbentry()
func start64()
func getpc()
func enterRuntime(sp uintptr)
func imageBounds() (text, etext, rodataEnd, end uintptr)

// physMem reads physical memory through the loader's identity map.
type physMem struct{}

func (physMem) U32(a uint64) uint32 { return *(*uint32)(unsafe.Pointer(uintptr(a))) }
func (physMem) U64(a uint64) uint64 { return *(*uint64)(unsafe.Pointer(uintptr(a))) }
func (physMem) U8(a uint64) uint8   { return *(*uint8)(unsafe.Pointer(uintptr(a))) }

// start is called by start64 on the boot stack.
func start() {
	kernel.BootTSC = cpu.Rdtsc()
	cpu.EarlyInit()
	// Until the first thread has its own kernel stack, faults are taken
	// on the boot stack, as nested faults (reported, then fatal).
	base := uintptr(unsafe.Pointer(&bootStack[0]))
	cpu.SetKernelStack(base, base+bootStackSize)
	kernel.EarlyInit()
	cpu.Init()
	msg := parseLoader(physMem{}, bootMagic, bootInfo)
	if Info.HasWord("console=e9") {
		kernel.UseE9()
	} else {
		kernel.InitConsole()
	}
	kernel.Print("beelzebox: booting\n")
	if msg != "" {
		kernel.Panic(msg)
	}
	if Info.HasWord("nopcid") {
		cpu.DisablePCID() // before the kernel's CR3 value is set
	}
	if Info.HasWord("noinvpcid") {
		cpu.CPU.INVPCID = false
	}
	kernel.Print("boot: ")
	kernel.Print(Info.Loader)
	kernel.Print(" information at ")
	kernel.PrintHex(bootInfo)
	kernel.Print(", ")
	kernel.PrintDec(Info.Memory.TotalAvailable() >> 20)
	kernel.Print(" MiB of RAM")
	if fb := &Info.Framebuffer; fb.Present {
		kernel.Print(", framebuffer ")
		kernel.PrintDec(uint64(fb.Width))
		kernel.Print("x")
		kernel.PrintDec(uint64(fb.Height))
		kernel.Print("x")
		kernel.PrintDec(uint64(fb.BPP))
		if fb.Type == bootinfo.FramebufferEGAText {
			kernel.Print(" text")
		}
		kernel.Print(" at ")
		kernel.PrintHex(fb.Addr)
	}
	kernel.Print("\n")
	initMachine()
	if Machine.NIOAPICs > 0 {
		ioapic.SetBase(uint64(Machine.IOAPICs[0].Addr))
	}
	text, etext, rodataEnd, end := imageBounds()
	img := mm.Image{Start: uint64(text) - mm.PageSize, TextEnd: uint64(etext), RodataEnd: uint64(rodataEnd), End: uint64(end)}
	if msg := mm.Init(&Info.Memory, img, MinMemory); msg != "" {
		kernel.Print("kernel: ")
		kernel.PrintDec(Info.Memory.TotalAvailable() >> 20)
		kernel.Print(" MiB of memory available, ")
		kernel.PrintDec(MinMemory >> 20)
		kernel.Print(" MiB needed\n")
		kernel.Panic(msg)
	}
	if Info.NModules > 0 {
		kernel.SetInitrd(Info.Modules[0].Start, Info.Modules[0].End)
	}
	if f := &Info.Framebuffer; f.Present && f.Type == bootinfo.FramebufferRGB {
		fb.Init(f.Addr, f.Pitch, f.Width, f.Height, uint32(f.BPP))
	}
	kernel.Init()
	startCPUs()
	syscall.Init()
	sp := processStackTop()
	kernel.RuntimeEntryTSC = cpu.Rdtsc()
	enterRuntime(sp)
}

// processStackTop lays out the initial stack of a Linux process (System V
// AMD64 ABI §3.4.1): argc, argv, envp, the auxiliary vector and the
// strings they point to. argv is "beelzebox" and the words of the kernel
// command line, without the image path QEMU puts first (GRUB puts none). The auxiliary
// vector carries AT_PAGESZ (without it the runtime probes /proc) and
// AT_RANDOM (16 bytes for the runtime's seeds).
func processStackTop() uintptr {
	top := uintptr(unsafe.Pointer(&processStack[0])) + processStackSize
	sp := top
	put := func(b []byte) uintptr {
		sp -= uintptr(len(b) + 1)
		copy(unsafe.Slice((*byte)(unsafe.Pointer(sp)), len(b)), b)
		*(*byte)(unsafe.Pointer(sp + uintptr(len(b)))) = 0
		return sp
	}
	var argv [64]uintptr
	argc := 0
	argv[argc] = put([]byte("beelzebox"))
	argc++
	line := Info.Cmdline[:Info.CmdlineLen]
	first := true
	for i := 0; i < len(line); {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		j := i
		for j < len(line) && line[j] != ' ' {
			j++
		}
		if j > i {
			word := line[i:j]
			// A path has a slash and no '=' (GRUB passes none; an
			// option such as suites=smp/ipi-delivered has both).
			slash, equals := false, false
			for _, c := range word {
				slash = slash || c == '/'
				equals = equals || c == '='
			}
			isPath := slash && !equals
			if !(first && isPath) && argc < len(argv)-1 {
				argv[argc] = put(word)
				argc++
			}
			first = false
		}
		i = j
	}
	sp -= 16
	rnd := sp
	*(*uint64)(unsafe.Pointer(rnd)) = kernel.Random()
	*(*uint64)(unsafe.Pointer(rnd + 8)) = kernel.Random()
	const atNull, atPagesz, atRandom = 0, 6, 25
	words := 1 + argc + 1 + 1 + 4 + 2
	sp = (sp - uintptr(words)*8) &^ 15
	w := unsafe.Slice((*uintptr)(unsafe.Pointer(sp)), words)
	i := 0
	w[i] = uintptr(argc)
	i++
	for _, a := range argv[:argc] {
		w[i] = a
		i++
	}
	w[i] = 0 // end of argv
	i++
	w[i] = 0 // empty environment
	i++
	w[i], w[i+1], w[i+2], w[i+3], w[i+4], w[i+5] = atPagesz, mm.PageSize, atRandom, rnd, atNull, 0
	return sp
}

// startCPUs starts the other enabled CPUs the firmware lists (the
// MADT), through a trampoline in a free page of low memory, which the
// frame allocator never hands out.
func startCPUs() {
	var ids [acpi.MaxCPUs]uint32
	n := 0
	self := bspAPICID()
	for _, c := range Machine.CPUs[:Machine.NCPUs] {
		if c.Enabled && c.APICID != self {
			ids[n] = c.APICID
			n++
		}
	}
	if n == 0 || Info.HasWord("nosmp") {
		kernel.StartCPUs(nil, 0, 0)
		return
	}
	page, ok := trampolinePage()
	if !ok {
		kernel.Print("smp: no free page below 1 MiB for the trampoline; one CPU\n")
		kernel.StartCPUs(nil, 0, 0)
		return
	}
	pml4 := (uintptr(unsafe.Pointer(&bootTables[0])) + 0xfff) &^ 0xfff
	online := kernel.StartCPUs(ids[:n], page, uint32(pml4))
	kernel.Print("smp: ")
	kernel.PrintDec(uint64(online))
	kernel.Print(" CPUs online\n")
}

// trampolinePage finds a page below 1 MiB (above the real-mode interrupt
// table and BIOS data, below the EBDA) that the memory map says is RAM,
// free of what the loader left there.
func trampolinePage() (uintptr, bool) {
	const lo, hi = 0x1000, 0x9f000
	for _, r := range Info.Memory.Regions[:Info.Memory.NRegions] {
		if r.Type != mm.RegionAvailable {
			continue
		}
		for p := max((r.Base+mm.PageSize-1)&^(mm.PageSize-1), lo); p+mm.PageSize <= min(r.End(), hi); p += mm.PageSize {
			if !Info.Memory.IsReserved(p, p+mm.PageSize) && !moduleAt(p, p+mm.PageSize) {
				return uintptr(p), true
			}
		}
	}
	return 0, false
}

func moduleAt(start, end uint64) bool {
	for _, m := range Info.Modules[:Info.NModules] {
		if start < m.End && m.Start < end {
			return true
		}
	}
	return false
}
