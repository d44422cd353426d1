# The vDSO for Linux guests: $(VDSO_SO) (= $(BUILD)/vdso/vdso.so), built by
# the machine's gcc from image/. Included by the top-level Makefile, which
# defines BUILD; `make vdso` builds it. The initramfs carries it as
# linux/vdso.so (mkinitramfs argument linux/vdso.so=$(VDSO_SO)). Package
# vdso's test builds it through this file too (make -f vdso.mk BUILD=...).

BUILD    ?= build
VDSO_CC  ?= gcc
READELF  ?= readelf

# This file's directory, so the fragment works from any including Makefile.
VDSO_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
VDSO_SRC := $(VDSO_DIR)/image
VDSO_OUT := $(BUILD)/vdso
VDSO_SO  := $(VDSO_OUT)/vdso.so

# The kernel version the image's "Linux" note states (LINUX_VERSION_CODE:
# major<<16 | minor<<8 | patch); glibc reads it before trying uname.
VDSO_LINUX_VERSION ?= 0x060100

# -fPIC with hidden visibility and the linker script give position-
# independent code with no dynamic relocations; -z defs makes any call
# into a runtime library (memset, __udivti3, ...) a link error.
VDSO_CFLAGS  := -O2 -fPIC -ffreestanding -fno-builtin -fno-stack-protector \
                -fcf-protection=none -fno-plt -fno-tree-loop-distribute-patterns \
                -fasynchronous-unwind-tables -mgeneral-regs-only \
                -Wall -Wextra -Werror -DVDSO_LINUX_VERSION=$(VDSO_LINUX_VERSION)
VDSO_LDFLAGS := -nostdlib -shared -Wl,-T,$(VDSO_SRC)/vdso.lds \
                -Wl,--version-script=$(VDSO_SRC)/vdso.map \
                -Wl,--hash-style=both -Wl,-soname=linux-vdso.so.1 \
                -Wl,--eh-frame-hdr -Wl,--build-id=none -Wl,-z,defs \
                -Wl,-z,noexecstack -Wl,-z,max-page-size=4096 -Wl,-Bsymbolic

VDSO_DEPS := $(addprefix $(VDSO_SRC)/,vdso.c vvar.h vdso.lds vdso.map) $(VDSO_DIR)/vdso.mk

.PHONY: vdso
vdso: $(VDSO_SO)

$(VDSO_OUT):
	@mkdir -p $@

# A vDSO is mapped without a loader: any dynamic relocation is an error.
$(VDSO_SO): $(VDSO_DEPS) | $(VDSO_OUT)
	$(VDSO_CC) $(VDSO_CFLAGS) $(VDSO_LDFLAGS) -o $@.tmp $(VDSO_SRC)/vdso.c
	@if $(READELF) -rW $@.tmp | grep -q 'Relocation section'; then \
		$(READELF) -rW $@.tmp; echo "$@: the vDSO has dynamic relocations" >&2; rm -f $@.tmp; exit 1; \
	fi
	@mv $@.tmp $@
