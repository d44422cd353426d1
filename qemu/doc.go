// Command qemu is beelzebox's host-side runner: it boots the kernel under
// QEMU or Bochs, streams the kernel console to stdout, and judges the run
// from the console protocol and the emulator's exit status.
//
// # Usage
//
//	go run ./qemu [boot] [flags]   one boot, judged (the default subcommand)
//	go run ./qemu test [flags]     the test table (table.go), QEMU boots in parallel
//	go run ./qemu fuzz [flags]     the fuzz table (table.go): the guest fuzzer's long run
//	go run ./qemu bench [flags]    the bench table: qemu-icount twice (figures must repeat), then Bochs
//	go run ./qemu manifest [flags] run the table boots and print (or -write) the manifests they show
//	go run ./qemu run [flags]      the demo: one boot, no time limit, exit status = kernel exit code
//	go run ./qemu debug [flags]    QEMU halted at reset, waiting for gdb
//	go run ./qemu profile [flags]  one QEMU boot traced: its instructions by kernel function
//	go run ./qemu iso [flags]      build build/beelzebox.iso
//
// Flags of every booting subcommand (boot, test, fuzz, bench, run, debug, profile, iso):
//
//	-nobuild        do not run "make -s build" first (it runs by default)
//	-kernel PATH    boot this multiboot ELF instead of build/kernel.elf (implies -nobuild)
//	-initrd PATH    multiboot module; default build/initramfs.cpio if it exists, "none" for none
//	-keep           keep Bochs work directories (ISO, bochsrc, bochs.log) and print where
//
// Flags that describe one boot (boot, run, debug, profile):
//
//	-emu qemu|qemu-icount|qemu-kvm|bochs   (default qemu; qemu-kvm: -accel kvm, for real KVM hosts)
//	-cpu MODEL      default max (QEMU) or tigerlake (Bochs); QEMU takes modifiers: max,-pku
//	-m SIZE         guest memory, QEMU syntax (512M, 1G); default 128M
//	-append TEXT    kernel command line
//	-timeout D      time limit; default 2m on QEMU, 3m with -firmware uefi, 10m on Bochs, none for run and debug
//	-firmware F     bios or uefi: the firmware boots the hybrid ISO of make iso from a CD
//	                (QEMU: SeaBIOS, or OVMF for uefi; Bochs: its BIOS); default QEMU -kernel,
//	                or Bochs' BIOS with the minimal El Torito CD
//	-smp N          CPUs (QEMU -smp N, Bochs cpu: count=N); default 1
//
// boot only: -expect pass|fail, -want REGEXP (repeatable; every one must
// match a console line), -manifest NAME (judge the tests by that table
// boot's manifest), -print-manifest (print the manifest the run shows).
// manifest: -only NAME[,NAME] (any table boots; default every test-table
// boot that must pass), -j N, -write (replace qemu/manifests/<boot>.txt).
// test and fuzz: -only NAME[,NAME] (table entries), -j N (QEMU boots at once, default
// 2), -list. bench: -only, -v (stream consoles; otherwise a console is shown
// only when its boot fails). debug: -gdb ADDR (default 127.0.0.1:1234; the
// loopback form of QEMU's -s -S, which would listen on every interface).
// iso: -o FILE, -append TEXT, -menu-timeout SECONDS (default 3), -eltorito.
// profile (default -emu qemu-icount): -at FUNC cuts the trace at each
// entry to FUNC and counts the pieces of each make-up (a bench loop's
// iterations: go run ./qemu profile -nobuild -append suites=bench/transitions
// -at beelzebox/cpu.syscallEntry.abi0), -top N (default 8). A trace of a
// bench suite is hundreds of MB in a temporary directory while it runs.
//
// Output: console lines go to stdout unchanged (no prefix). Runner messages
// go to stderr: "=== RUN <name>: <how>", "--- PASS|FAIL <name> (...):
// <summary>" followed by one problem per line, and QEMU's own stderr as
// "qemu: ...". When several QEMU boots run at once, each boot's console is
// held back and printed as one block when the boot ends, so consoles never
// interleave; a boot that runs alone streams live.
//
// Exit status: 0 all verdicts passed; 1 a verdict failed; 2 usage error,
// failed build or missing tool. run and debug exit with the kernel's exit
// code instead (QEMU status (code<<1)|1 gives code; a triple fault gives
// 1; Bochs gives 0 or 1 from the console verdict), or 124 on timeout.
//
// # Console protocol
//
// The kernel prints, one per line, starting in column 0:
//
//	ok <suite>/<name>
//	FAIL <suite>/<name>: <why>
//	SKIP <suite>/<name>: <feature> <free text>     feature: from the closed list in features.go
//	bench <name> median=<n> min=<n> unit=<unit>[ ratio=<x>]
//	kernel: N passed, N failed, N skipped          the final line
//
// Lines starting "kernel: panic:", "kernel: fault", "panic: ", "fatal error: "
// or "unexpected fault address" report a dead kernel. A line that starts like
// a protocol line but does not parse (e.g. "SKIP x/y: PKU") fails the boot.
//
// # Verdicts
//
// A boot that must pass is held to its manifest, qemu/manifests/<boot>.txt
// (manifest.go): every test it lists with its verdict (ok, SKIP <feature>,
// or XFAIL <text> for a behaviour the emulator lacks), and every bench
// figure, each under its ceilings (benchCeilings in table.go). It fails on:
// a missing test, an extra test, a changed verdict, a test reported twice;
// a SKIP whose feature is not in the closed list (features.go); a missing,
// extra or repeated bench figure, or one above a ceiling; a fatal line; no
// final line; a final line that disagrees with the counted ok/FAIL/SKIP
// lines (lost output); an unmatched pattern; a timeout; on QEMU an exit
// status other than the kernel's (0, or 1 when the manifest's expected
// failures FAILed); on Bochs a Bochs panic other than the shutdown port.
// An ad-hoc boot without a manifest fails on any FAIL line instead. An expected failure must match all its patterns and end failing:
// QEMU status other than 1, or on Bochs no final line or a fatal line. A
// timeout fails either kind: a dying kernel must still exit.
//
// # Emulators
//
// QEMU runs as
//
//	qemu-system-x86_64 -accel tcg -cpu CPU -m MEM -smp 1 -display none -monitor none -nic none
//	    -no-reboot -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04
//	    -kernel build/kernel.elf -initrd build/initramfs.cpio -append CMDLINE
//
// with -debugcon stdio (and COM1 to a file, replayed after exit) when the
// command line has console=e9. qemu-icount adds -icount shift=0,sleep=off
// -seed 1 -rtc base=2025-01-01T00:00:00,clock=vm, which makes one TSC tick
// one instruction.
//
// With -firmware (table field Firmware) QEMU loads no kernel itself: the
// runner writes the hybrid ISO (as make iso, with the boot's command line
// and no menu delay) into a temporary directory and passes -cdrom ISO;
// for uefi also OVMF (Debian's ovmf) as two flash chips, -drive
// if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd
// and unit=1 a copy of OVMF_VARS_4M.fd. Firmware and GRUB write to COM1
// too, with terminal escapes and bare carriage returns; the runner shows
// and judges each such line as a terminal would end up showing it
// (firmwareScreenLine in firmware.go). The test table's qemu-uefi boot runs
// this way; OVMF's start-up takes about 4-7 s of it under TCG.
//
// Bochs boots a minimal GRUB El Torito CD made per boot (grub-mkimage -O
// i386-pc-eltorito with an embedded config: set root=(cd); multiboot
// /boot/kernel.elf CMDLINE; module /boot/initramfs.cpio; boot) and gets
// console=e9 added to the command line. Its bochsrc (see bochsrc in
// bochs.go) sets megs from -m, the CPU model, ips=200000000,
// reset_on_triple_fault=0, fastboot BIOS, port_e9_hack, display_library
// term, clock sync=none with a fixed start time. Bochs runs under
// script -qfec so the term display has a pty that is not the runner's
// terminal; the debugger built into Debian's Bochs is answered with an -rc
// file holding "c" and "quit". Port 0xE9 output arrives on a pipe (bochs
// stdout, with Bochs' banner and debugger lines filtered out) and COM1 on
// another (/dev/fd/4).
//
// The iso subcommand makes the hybrid image with grub-mkrescue: GRUB for
// i386-pc and x86_64-efi (Debian's grub-pc-bin and grub-efi-amd64-bin;
// mtools for the EFI System Partition image), bootable on BIOS and UEFI
// machines from a CD or a USB stick (dd it onto the stick). It refuses to
// write an image that lacks either platform (xorriso's El Torito report
// must list BIOS and UEFI). Its grub.cfg boots the kernel with multiboot2
// and module2 when the kernel has a Multiboot2 header (GRUB's file
// --is-x86-multiboot2), with multiboot and module otherwise; the menu
// entry waits 3 seconds. -eltorito makes the El Torito image used for
// Bochs instead (CD boot on BIOS machines only).
//
// # What the kernel must do
//
//   - print the protocol lines above on COM1 (0x3F8), or on port 0xE9 when
//     the command line contains console=e9, ending each line with "\n";
//   - finish with the final line, then exit: write "Shutdown" to port
//     0x8900 (Bochs) and the exit code byte to port 0xf4 (QEMU
//     isa-debug-exit: 0 for success, nonzero for failure). On COM1, wait
//     for the transmitter to drain (LSR bit 6) before exiting, or Bochs
//     loses the last byte;
//   - after a panic or fault report, exit the same way with a nonzero code
//     rather than halting forever;
//   - parse the command line as whole words: QEMU passes
//     "<kernel path> <-append text>", GRUB only the words after the path.
package main
