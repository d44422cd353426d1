// Command mkboot is the post-link step that makes a Go-linked kernel ELF
// bootable by Multiboot v1 loaders (QEMU's -kernel, GRUB's multiboot) and
// by Multiboot2 loaders (GRUB's multiboot2).
//
// Usage:
//
//	mkboot [-v] in.elf out.elf   stamp both headers into a copy of in.elf
//	mkboot -check image.elf      verify that image.elf carries correct headers
//
// The Multiboot2 header (header2.go) says the same with its address and
// entry address tags, asks for page-aligned modules and, optionally, a
// framebuffer; it goes into the first free 8-byte-aligned 96 bytes after
// the v1 header, within the first 32 KiB.
//
// Why a post-link tool: the Go linker cannot emit a multiboot header in the
// first 8 KiB of the file, and QEMU refuses to load an ELF64 multiboot
// kernel unless the header carries the a.out-kludge address fields (flag
// bit 16), which tell the loader to copy the file flat to a physical address
// instead of reading ELF program headers. mkboot therefore writes a 32-byte
// header into zero padding the linker leaves after the ELF section header
// table, with load_addr = (vaddr - offset) of the PT_LOAD segments,
// load_end_addr/bss_end_addr from the segments, and entry_addr = e_entry.
//
// The kernel is linked with
//
//	-ldflags '-E beelzebox/boot.mbentry -T <text address>'
//
// (the Makefile uses -T 0x1001000). The Go linker puts .text at file offset
// 0x1000 and keeps vaddr - offset equal for every PT_LOAD (0x1000000 for
// that -T; 0x100000 for -T 0x101000), so the file loaded flat at that
// address is the kernel's memory image. mkboot checks that all PT_LOADs
// share one delta, that only the last one has zero-fill, and that
// everything lies below 4 GiB; otherwise it fails instead of writing an
// image that would boot wrong.
//
// Exit status: 0 on success, 1 on a bad image, 2 on bad usage.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit status so tests can
// drive the command line.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mkboot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	check := fs.Bool("check", false, "verify the header of image.elf instead of stamping")
	verbose := fs.Bool("v", false, "print where the header went")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mkboot [-v] in.elf out.elf\n       mkboot -check image.elf")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch {
	case *check && fs.NArg() == 1:
		image, err := os.ReadFile(fs.Arg(0))
		if err != nil {
			fmt.Fprintln(stderr, "mkboot:", err)
			return 1
		}
		p, err := Check(image)
		if err != nil {
			fmt.Fprintf(stderr, "mkboot: %s: %v\n", fs.Arg(0), err)
			return 1
		}
		p2, err := Check2(image)
		if err != nil {
			fmt.Fprintf(stderr, "mkboot: %s: %v\n", fs.Arg(0), err)
			return 1
		}
		fmt.Fprintf(stdout, "mkboot: %s: ok: header at file offset %#x: %v\n", fs.Arg(0), p.Offset, p.Header)
		fmt.Fprintf(stdout, "mkboot: %s: ok: multiboot2 header at file offset %#x: %v\n", fs.Arg(0), p2.Offset, p2.Header)
		return 0
	case !*check && fs.NArg() == 2:
		image, err := os.ReadFile(fs.Arg(0))
		if err != nil {
			fmt.Fprintln(stderr, "mkboot:", err)
			return 1
		}
		p, err := Stamp(image)
		if err != nil {
			fmt.Fprintf(stderr, "mkboot: %s: %v\n", fs.Arg(0), err)
			return 1
		}
		p2, err := Stamp2(image)
		if err != nil {
			fmt.Fprintf(stderr, "mkboot: %s: %v\n", fs.Arg(0), err)
			return 1
		}
		if err := os.WriteFile(fs.Arg(1), image, 0o755); err != nil {
			fmt.Fprintln(stderr, "mkboot:", err)
			return 1
		}
		if *verbose {
			fmt.Fprintf(stdout, "mkboot: %s: header at file offset %#x: %v\n", fs.Arg(1), p.Offset, p.Header)
			fmt.Fprintf(stdout, "mkboot: %s: multiboot2 header at file offset %#x: %v\n", fs.Arg(1), p2.Offset, p2.Header)
		}
		return 0
	}
	fs.Usage()
	return 2
}
