# Guest programs: freestanding C (no libc), built by the machine's gcc into
# $(BUILD)/guests/<name>, the directory tools/mkinitramfs packs. Included by
# the top-level Makefile, which defines BUILD; `make guests` builds them all.
# Each guest is one gcc invocation (start.S + <name>.c), so nothing but the
# final executables lands in $(BUILD)/guests. See tests/guests/README.md.

BUILD     ?= build
GUEST_CC  ?= gcc

# This file's directory, so the fragment works from any including Makefile.
GUEST_SRC := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
GUEST_OUT := $(BUILD)/guests

# Fixed (ET_EXEC at 0x400000) and pie (static-pie ET_DYN) guests. A pie guest
# <name>-pie is built from <name>.c.
GUESTS_FIXED := hello badptrs readhost spin recurse jit wrpkru xrstor vecregs divzero linuxfuzz memhog sigreturnfuzz forkwait forkbomb vforkexec
GUESTS_PIE   := hello-pie exit42-pie
GUESTS       := $(GUESTS_FIXED) $(GUESTS_PIE)
GUEST_BINS   := $(addprefix $(GUEST_OUT)/,$(GUESTS))

# -fno-tree-loop-distribute-patterns: gcc would otherwise turn loops into
# calls to memset/memcpy/strlen, which do not exist here.
GUEST_CFLAGS  := -O2 -static -ffreestanding -fno-stack-protector \
                 -fno-asynchronous-unwind-tables -fno-builtin \
                 -fcf-protection=none -fno-tree-loop-distribute-patterns \
                 -Wall -Wextra -nostdlib
# Guests must not depend on SSE state; vecregs, which is about it, clears this.
GUEST_ISA     := -mgeneral-regs-only
GUEST_LDFLAGS := -Wl,--build-id=none -Wl,-z,noexecstack
GUEST_FIXED   := -fno-pie -no-pie -Wl,-Ttext-segment=0x400000
GUEST_PIE     := -fpie -static-pie

GUEST_DEPS := $(GUEST_SRC)/start.S $(GUEST_SRC)/abi.h $(GUEST_SRC)/linux.h $(GUEST_SRC)/guests.mk

.PHONY: guests
guests: $(GUEST_BINS)

$(GUEST_OUT):
	@mkdir -p $@

$(GUEST_OUT)/vecregs: GUEST_ISA :=

$(addprefix $(GUEST_OUT)/,$(GUESTS_FIXED)): $(GUEST_OUT)/%: $(GUEST_SRC)/%.c $(GUEST_DEPS) | $(GUEST_OUT)
	$(GUEST_CC) $(GUEST_CFLAGS) $(GUEST_ISA) $(GUEST_FIXED) $(GUEST_LDFLAGS) -o $@ $(GUEST_SRC)/start.S $<

$(addprefix $(GUEST_OUT)/,$(GUESTS_PIE)): $(GUEST_OUT)/%-pie: $(GUEST_SRC)/%.c $(GUEST_DEPS) | $(GUEST_OUT)
	$(GUEST_CC) $(GUEST_CFLAGS) $(GUEST_ISA) $(GUEST_PIE) $(GUEST_LDFLAGS) -o $@ $(GUEST_SRC)/start.S $<
