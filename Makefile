# beelzebox build. The kernel is an ordinary GOOS=linux Go program linked
# at 16 MiB with the multiboot entry as its ELF entry point; boot/mkboot
# stamps the multiboot header into it after linking.

GO       ?= go
BUILD    := build
KERNEL   := $(BUILD)/kernel.elf
INITRD   := $(BUILD)/initramfs.cpio
# -checklinkname=0: kernel/symbolize.go reaches runtime.findfunc & co.
LDFLAGS  := -E beelzebox/boot.mbentry -T 0x1001000 -checklinkname=0
# nogreenteagc: Go 1.26's green tea collector scans with AVX-512 + GFNI +
# VBMI instructions where the CPU has them, and Bochs 2.7 (tigerlake)
# emulates them wrongly: run inside the kernel with interrupts disabled,
# internal/runtime/gc/scan.ExpandAVX512 disagreed with ExpandReference in
# 3575 of 3718 cases, where the same comparison passes on a real AVX-512
# CPU (go test internal/runtime/gc/scan). The collector then frees live
# objects. The classic collector does not use those instructions.
KGOENV   := GOOS=linux GOARCH=amd64 CGO_ENABLED=0 GOEXPERIMENT=nogreenteagc
DEBS     := qemu-system-x86 bochs bochs-term bochsbios vgabios grub-common grub-pc-bin xorriso gcc
# make iso: GRUB for UEFI beside grub-pc-bin, and mtools, with which
# grub-mkrescue writes the EFI System Partition image; ovmf is the UEFI
# firmware of QEMU's -firmware uefi boots.
DEBS     += grub-efi-amd64-bin mtools ovmf
# The Linux programs suite (tests/linux/linux.mk) builds musl guests.
DEBS     += musl-tools
RUNNER   := $(GO) run ./qemu

.PHONY: all build kernel initramfs guests vmguests test test-host test-emu fuzz run bench manifests iso debug deps vet clean

all: build

build: kernel initramfs

kernel:
	@mkdir -p $(BUILD)
	$(KGOENV) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BUILD)/kernel.unstamped .
	$(GO) run ./boot/mkboot $(BUILD)/kernel.unstamped $(KERNEL)

include tests/guests/guests.mk
include tests/vmguests/vmguests.mk
include sandbox/linux/vdso/vdso.mk
# Linux programs: build/linuxroot (make linux-guests), make exec, make linux.
include tests/linux/linux.mk

# build/guests/vm/<name> (the level 4 VM guests) lands in the archive as
# vm/<name>; the kernel itself as vm/beelzebox, the guest of the level4-self
# suite; the vDSO of Linux guests as linux/vdso.so.
initramfs: guests vmguests kernel vdso
	$(GO) run ./tools/mkinitramfs -o $(INITRD) $(BUILD)/guests vm/beelzebox=$(KERNEL) linux/vdso.so=$(VDSO_SO)

# Debian packages for the emulators and GRUB, installed when missing.
deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends $$missing; \
	fi

vet:
	gofmt -l . | (! grep .)
	$(GO) vet ./boot/multiboot ./boot/mkboot ./qemu ./tools/... ./sandbox/codescan ./kernel/elfload ./kernel/initramfs
	# Kernel packages trip two vet checks by nature: unsafeptr (physical
	# and device addresses become pointers) and framepointer (entry code
	# switches stacks before it can save RBP).
	$(KGOENV) $(GO) vet -unsafeptr=false -framepointer=false ./...
	# crypto/rand links a 32 MiB buffer (crypto/internal/fips140/drbg)
	# that the kernel image would carry as .bss: kernel.RandomBytes instead.
	! $(KGOENV) $(GO) list -deps . | grep -qx 'crypto/rand'

test-host:
	$(GO) test ./...

test-emu: deps build
	$(RUNNER) test -nobuild

test: vet test-host test-emu

# The guest fuzzer's long run: 100,000 cases per level (make test runs 5,000).
fuzz: deps build
	$(RUNNER) fuzz -nobuild

# The demo runs under -icount, so its cycle figures are instruction counts.
run: deps build
	$(RUNNER) run -nobuild -emu qemu-icount

bench: deps build linux-guests
	$(RUNNER) bench -nobuild
	$(RUNNER) linuxbench -nobuild

# Rewrites qemu/manifests/*.txt from fresh runs of the test table; review
# the diff. Bench boots: go run ./qemu manifest -nobuild -write -only bench-qemu-icount,bench-bochs
manifests: deps build
	$(RUNNER) manifest -nobuild -write

# build/beelzebox.iso: boots on BIOS and UEFI machines, from a CD or a USB
# stick (dd if=build/beelzebox.iso of=/dev/sdX); the kernel command line is
# in its GRUB menu entry (go run ./qemu iso -append "..." to set it).
iso: deps build
	$(RUNNER) iso -nobuild

debug: deps build
	$(RUNNER) debug -nobuild

clean:
	rm -rf $(BUILD)
