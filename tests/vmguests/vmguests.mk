# Level 4 test guest kernels: freestanding multiboot v1 kernels (C + asm, no
# libc) that the level 4 suite boots inside VMs. Included by the top-level
# Makefile, which defines BUILD; `make vmguests` builds them into
# $(BUILD)/guests/vm/<name>, which tools/mkinitramfs packs as vm/<name>.
# Every output is checked with grub-file --is-x86-multiboot. Intermediate
# files go to $(BUILD)/vmguests-obj, outside the packed directory.
# See tests/vmguests/README.md.

BUILD      ?= build
VMG_CC     ?= gcc
VMG_OBJCOPY ?= objcopy
VMG_CHECK  ?= grub-file --is-x86-multiboot

VMG_SRC := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
VMG_OUT := $(BUILD)/guests/vm
VMG_OBJ := $(BUILD)/vmguests-obj

# ELF32 kernels (protected mode), one ELF64 kernel (long mode via start64.S)
# and one flat binary with the a.out kludge.
VMG_ELF32 := exits32 apic hlt outside-ram triple-fault cli-spin exit-flood \
             apic-wild hypercall-garbage hello
VMG_ELF64 := exits64
VMG_AOUT  := aout
VMGUESTS  := $(VMG_ELF32) $(VMG_ELF64) $(VMG_AOUT)
VMG_BINS  := $(addprefix $(VMG_OUT)/,$(VMGUESTS))

# -fno-tree-loop-distribute-patterns: no memset/memcpy calls appear.
# -mgeneral-regs-only: interrupt stubs do not save SSE state; exits64 tests
# SSE with inline asm only.
VMG_CFLAGS := -O2 -ffreestanding -nostdlib -fno-builtin -fno-pic -fno-pie -no-pie \
              -fno-stack-protector -fcf-protection=none -mgeneral-regs-only \
              -fno-asynchronous-unwind-tables -fno-tree-loop-distribute-patterns \
              -Wall -Wextra
VMG_LDFLAGS := -static -Wl,--build-id=none -Wl,-z,noexecstack -Wl,-z,max-page-size=4096 \
               -Wl,--no-warn-rwx-segments -Wl,-T,$(VMG_SRC)/link.ld
VMG_32 := -m32
VMG_64 := -m64 -mcmodel=small -mno-red-zone

VMG_RT   := $(VMG_SRC)/start32.S $(VMG_SRC)/rt.c
VMG_DEPS := $(VMG_RT) $(VMG_SRC)/apic.h $(VMG_SRC)/start64.S $(VMG_SRC)/rt.h $(VMG_SRC)/link.ld $(VMG_SRC)/vmguests.mk

.PHONY: vmguests
vmguests: $(VMG_BINS)

$(VMG_OUT) $(VMG_OBJ):
	@mkdir -p $@

$(addprefix $(VMG_OUT)/,$(VMG_ELF32)): $(VMG_OUT)/%: $(VMG_SRC)/%.c $(VMG_DEPS) | $(VMG_OUT)
	$(VMG_CC) $(VMG_32) $(VMG_CFLAGS) $(VMG_LDFLAGS) -o $@.tmp $(VMG_RT) $<
	$(VMG_CHECK) $@.tmp
	mv $@.tmp $@

$(addprefix $(VMG_OUT)/,$(VMG_ELF64)): $(VMG_OUT)/%: $(VMG_SRC)/%.c $(VMG_DEPS) | $(VMG_OUT)
	$(VMG_CC) $(VMG_64) $(VMG_CFLAGS) $(VMG_LDFLAGS) -o $@.tmp $(VMG_RT) $(VMG_SRC)/start64.S $<
	$(VMG_CHECK) $@.tmp
	mv $@.tmp $@

# a.out kludge: link an ELF with the kludge header, then keep the bytes.
$(addprefix $(VMG_OUT)/,$(VMG_AOUT)): $(VMG_OUT)/%: $(VMG_SRC)/%.c $(VMG_DEPS) | $(VMG_OUT) $(VMG_OBJ)
	$(VMG_CC) $(VMG_32) -DMB_AOUT $(VMG_CFLAGS) $(VMG_LDFLAGS) -o $(VMG_OBJ)/$*.elf $(VMG_RT) $<
	$(VMG_OBJCOPY) -O binary $(VMG_OBJ)/$*.elf $@.tmp
	$(VMG_CHECK) $@.tmp
	mv $@.tmp $@
