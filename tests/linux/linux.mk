# The Linux programs suite's guests: $(BUILD)/linuxroot, the root file
# system that `go run ./qemu linux` runs its cases in (natively, chrooted,
# and in beelzebox) and that `make exec` can use (-dir build/linuxroot:/).
# Included by the top-level Makefile, which defines BUILD, GO, KGOENV and
# RUNNER. Nothing here is committed as a binary: busybox comes from
# Debian's busybox-static package, the rest is built from source.
#
#   bin/busybox, bin/<applet>   busybox-static, every applet a symlink
#   bin/musl/<prog>             tests/linux/<prog>.c, musl-gcc -static
#   bin/glibc/<prog>            the same, gcc -static (glibc)
#   bin/glibc/hello-pie         hello.c, gcc -static-pie
#   bin/glibc/hello-dynamic     hello.c, plain gcc: needs an interpreter the root lacks
#   bin/u/<cmd>                 u-root's cmds/core/<cmd> (go.mod's version)
#   bin/go/<prog>               tests/linux/goprogs/<prog>
#   data/1mib                   1 MiB of zeros (the linuxbench's sha256sum input)

LINUX_SRC     := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
LINUXROOT     := $(BUILD)/linuxroot
LINUX_CPROGS  := args stdio malloc files pipepoll clock threads signals exitcode fault nosys hello empty getppid
LINUX_UROOT   := echo cat ls wc sort tr base64 shasum
LINUX_GOPROGS := psum hello gosum
LINUX_CFLAGS  := -O2 -Wall

LINUX_BINS := $(LINUXROOT)/bin/busybox \
	$(addprefix $(LINUXROOT)/bin/musl/,$(LINUX_CPROGS)) \
	$(addprefix $(LINUXROOT)/bin/glibc/,$(LINUX_CPROGS) hello-pie hello-dynamic) \
	$(addprefix $(LINUXROOT)/bin/u/,$(LINUX_UROOT)) \
	$(addprefix $(LINUXROOT)/bin/go/,$(LINUX_GOPROGS)) \
	$(LINUXROOT)/data/1mib

.PHONY: linux-guests exec linux shell

linux-guests: $(LINUX_BINS)

# The linuxbench's input file (go run ./qemu linuxbench).
$(LINUXROOT)/data/1mib:
	@mkdir -p $(@D)
	head -c 1048576 /dev/zero > $@

# busybox-static from Debian, fetched as a .deb (apt-get update only if the
# download fails) and unpacked under $(BUILD).
$(BUILD)/busybox-static/bin/busybox:
	@mkdir -p $(BUILD)/busybox-deb
	cd $(BUILD)/busybox-deb && rm -f busybox-static_*.deb && \
		{ apt-get download busybox-static || { apt-get update -q && apt-get download busybox-static; }; }
	rm -rf $(BUILD)/busybox-static
	dpkg-deb -x $(BUILD)/busybox-deb/busybox-static_*.deb $(BUILD)/busybox-static
	touch $@

$(LINUXROOT)/bin/busybox: $(BUILD)/busybox-static/bin/busybox
	@mkdir -p $(@D)
	cp $< $@
	cd $(@D) && for a in $$(./busybox --list); do [ "$$a" = busybox ] || ln -sfn busybox "$$a"; done

$(LINUXROOT)/bin/musl/%: $(LINUX_SRC)/%.c | deps
	@mkdir -p $(@D)
	musl-gcc -static $(LINUX_CFLAGS) -o $@ $<

$(LINUXROOT)/bin/glibc/%: $(LINUX_SRC)/%.c | deps
	@mkdir -p $(@D)
	gcc -static -pthread $(LINUX_CFLAGS) -o $@ $<

$(LINUXROOT)/bin/glibc/hello-pie: $(LINUX_SRC)/hello.c | deps
	@mkdir -p $(@D)
	gcc -static-pie $(LINUX_CFLAGS) -o $@ $<

$(LINUXROOT)/bin/glibc/hello-dynamic: $(LINUX_SRC)/hello.c | deps
	@mkdir -p $(@D)
	gcc $(LINUX_CFLAGS) -o $@ $<

# Go guests get the kernel's environment: GOEXPERIMENT=nogreenteagc keeps
# the collector off the AVX-512 code that Bochs emulates wrongly (see
# KGOENV in the Makefile).
$(LINUXROOT)/bin/u/%: go.mod go.sum
	@mkdir -p $(@D)
	$(KGOENV) $(GO) build -trimpath -o $@ github.com/u-root/u-root/cmds/core/$*

$(LINUXROOT)/bin/go/%: $(LINUX_SRC)/goprogs/%/*.go
	@mkdir -p $(@D)
	$(KGOENV) $(GO) build -trimpath -o $@ ./$(LINUX_SRC)/goprogs/$*

# make exec ARGS="-dir build/linuxroot:/ -- /bin/sh -c 'echo hi'"
# A built runner rather than go run, which reports every failing status as
# 1: make then names the program's own status ("Error 42").
exec: deps build
	$(GO) build -o $(BUILD)/runner ./qemu
	$(BUILD)/runner exec -nobuild $(ARGS)

# make linux ARGS="-emu bochs -run busybox"
linux: deps build linux-guests
	$(RUNNER) linux -nobuild $(ARGS)

# make shell: busybox sh on the console, at the best level the CPU offers
# (3 under QEMU -cpu max), with busybox's applets and a writable /tmp; the
# kernel's line discipline echoes, erases, and turns Ctrl-C into SIGINT
# for the foreground job and Ctrl-D into end of file. exit leaves.
shell: deps build linux-guests
	$(GO) build -o $(BUILD)/runner ./qemu
	$(BUILD)/runner exec -nobuild -tty -timeout 24h -dir $(LINUXROOT):/ \
		-env PATH=/bin -env HOME=/ -env 'PS1=beelzebox$$ ' -env TERM=$${TERM:-linux} -- /bin/sh -i
