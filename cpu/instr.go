// Package cpu holds the x86-64 primitives the kernel is built on: port and
// MSR access, control registers, CPUID, the descriptor tables (GDT, TSS,
// IDT), XSAVE and PKRU management, and the kernel entry paths (SYSCALL,
// interrupts and exceptions, and the switch to and from ring 3).
//
// Everything in this package may run in handler context: on a kernel
// stack, with interrupts disabled and the kernel g installed (see
// entry.go). It must not allocate and must not block.
package cpu

// Port I/O (SDM Vol. 1 §19.2).
func Inb(port uint16) uint8
func Outb(port uint16, v uint8)
func Outw(port uint16, v uint16)
func Outl(port uint16, v uint32)

// Model-specific registers (SDM Vol. 4).
func Rdmsr(msr uint32) uint64
func Wrmsr(msr uint32, v uint64)

// CPUID returns EAX, EBX, ECX, EDX of leaf/subleaf (SDM Vol. 2A "CPUID").
func CPUID(leaf, sub uint32) (a, b, c, d uint32)

// Control registers (SDM Vol. 3A §2.5).
func CR0() uint64
func SetCR0(v uint64)
func CR2() uint64
func CR3() uint64
func SetCR3(v uint64)
func CR4() uint64
func SetCR4(v uint64)

// Extended control registers (SDM Vol. 1 §13.3).
func Xgetbv(idx uint32) uint64
func Xsetbv(idx uint32, v uint64)

// Rdpkru and Wrpkru read and write PKRU (SDM Vol. 3A §4.6.2; raw bytes:
// the Go assembler has no mnemonic for them). CR4.PKE is off while
// level 1 guests run and stays off until a context with PKRU runs again
// (entry_amd64.s), so Rdpkru reports 0, the kernel's value, while it is
// off, and Wrpkru turns it back on first; both with interrupts disabled,
// so that no guest entry changes CR4.PKE between the test and the use.
func Rdpkru() uint32
func Wrpkru(v uint32)

// Invlpg invalidates the TLB entries for the page containing va.
func Invlpg(va uintptr)

// Rdtscp reads the time-stamp counter and IA32_TSC_AUX, which holds the
// CPU's number (initThisCPU); only where CPU.RDTSCP (SDM Vol. 2B
// "RDTSCP").
func Rdtscp() (tsc uint64, aux uint32)

// Rdtsc reads the time-stamp counter. RdtscOrdered fences it with LFENCE
// first so that earlier instructions have completed (SDM Vol. 2B "RDTSC").
func Rdtsc() uint64
func RdtscOrdered() uint64

// Pause is the spin-loop hint.
func Pause()

// Halt enables interrupts and waits for one (STI; HLT): the STI shadow
// guarantees no interrupt is taken between the two, so a wake-up cannot be
// lost. Interrupts are disabled again before it returns.
func Halt()

// HaltForever disables interrupts and halts.
func HaltForever()

// DisableInterrupts is CLI.
func DisableInterrupts()

// EnableInterrupts is STI.
func EnableInterrupts()

// Xsave saves every state component enabled in XCR0 to a 64-byte aligned
// area of XsaveSize bytes.
func Xsave(area uintptr)

func lgdt(p uintptr)
func lidt(p uintptr)
func ltr(sel uint16)
func reloadSegments()

// Flags reads RFLAGS (SDM Vol. 1 §3.4.3).
func Flags() uint64

// MXCSR reads the SSE control and status register (SDM Vol. 1 §10.2.3)
// and FPUControl the x87 control word (SDM Vol. 1 §8.1.5). The kernel
// runs with DefaultMXCSR and FPUControlDefault (every exception masked,
// round to nearest).
func MXCSR() uint32
func FPUControl() uint16

// Debug registers (SDM Vol. 3B §19.2).
func DR7() uint64
func SetDR7(v uint64)
func SetDR6(v uint64)

const (
	DefaultMXCSR      = 0x1f80
	FPUControlDefault = 0x037f
)

// INVPCID types (SDM Vol. 2A "INVPCID").
const (
	InvpcidAddress = 0 // one linear address of one PCID
	InvpcidContext = 1 // every non-global entry of one PCID
)

// Invpcid invalidates TLB and paging-structure-cache entries of PCID pcid
// (the CPU must have INVPCID): the entries for va (InvpcidAddress) or all
// of them (InvpcidContext), whether or not pcid is current.
func Invpcid(typ uint64, pcid uint64, va uintptr)

// FlushAll invalidates every TLB entry, global ones and those of every
// PCID included: toggling CR4.PGE does (SDM Vol. 3A §4.10.4.1).
func FlushAll() {
	c := CR4()
	if c&CR4PGE == 0 {
		SetCR4(c | CR4PGE)
	} else {
		SetCR4(c &^ CR4PGE)
	}
	SetCR4(c)
}
