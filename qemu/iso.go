package main

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// stageISOTree copies the kernel (and initramfs) into dir/iso/boot, the
// tree that becomes the CD image, and returns the tree's root.
func stageISOTree(dir string, a Artefacts) (string, error) {
	tree := filepath.Join(dir, "iso")
	if err := os.MkdirAll(filepath.Join(tree, "boot", "grub"), 0o755); err != nil {
		return "", err
	}
	if err := copyFile(a.path(a.Kernel), filepath.Join(tree, isoKernel)); err != nil {
		return "", err
	}
	if a.Initrd != "" {
		if err := copyFile(a.path(a.Initrd), filepath.Join(tree, isoInitrd)); err != nil {
			return "", err
		}
	}
	return tree, nil
}

// buildElToritoISO writes to out a minimal GRUB CD image: an i386-pc El
// Torito core image whose embedded config boots the kernel with cmdline.
// It boots in Bochs and on BIOS machines from a CD (or virtual CD), but is
// not a hybrid image, so it does not boot from a USB stick.
func buildElToritoISO(dir string, a Artefacts, cmdline, out string) error {
	tree, err := stageISOTree(dir, a)
	if err != nil {
		return err
	}
	cfg := filepath.Join(dir, "embed.cfg")
	if err := os.WriteFile(cfg, []byte(grubEmbedConfig(cmdline, a.Initrd != "")), 0o644); err != nil {
		return err
	}
	mkimage := append([]string{"-O", "i386-pc-eltorito", "-p", "/boot/grub", "-c", cfg,
		"-o", filepath.Join(tree, "boot", "core.img")}, grubModules...)
	if err := runTool("grub-mkimage", mkimage...); err != nil {
		return err
	}
	return runTool("xorriso", "-as", "mkisofs", "-quiet", "-R",
		"-b", "boot/core.img", "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table",
		"-o", out, tree)
}

// grubHybridBody is the boot stanza of the hybrid image: multiboot2 when
// the kernel carries a Multiboot2 header (GRUB's file --is-x86-multiboot2
// looks for it as the loader would), the original Multiboot otherwise, so
// the same image works for kernels with either header. all_video gives
// GRUB the framebuffer drivers (efi_gop, vbe, ...) it needs to set the
// video mode a kernel's header asks for.
func grubHybridBody(cmdline string, initrd bool, indent string) string {
	var words strings.Builder
	for _, w := range strings.Fields(cmdline) {
		words.WriteString(" " + grubQuote(w))
	}
	var sb strings.Builder
	line := func(depth int, s string) {
		sb.WriteString(indent + strings.Repeat("\t", depth) + s + "\n")
	}
	line(0, "insmod all_video")
	line(0, "if file --is-x86-multiboot2 "+isoKernel+"; then")
	line(1, "multiboot2 "+isoKernel+words.String())
	if initrd {
		line(1, "module2 "+isoInitrd)
	}
	line(0, "else")
	line(1, "multiboot "+isoKernel+words.String())
	if initrd {
		line(1, "module "+isoInitrd)
	}
	line(0, "fi")
	line(0, "boot")
	return sb.String()
}

// grubMenuConfig is /boot/grub/grub.cfg of the hybrid image: one entry,
// booted after timeout seconds; make iso waits 3 s so a person at the
// machine can edit the command line, the runner's boots wait 0.
func grubMenuConfig(cmdline string, initrd bool, timeout int) string {
	return fmt.Sprintf("set timeout=%d\nset default=0\n\nmenuentry \"beelzebox\" {\n", timeout) +
		grubHybridBody(cmdline, initrd, "\t") + "}\n"
}

// GRUB platforms of the hybrid image: where Debian's grub-pc-bin and
// grub-efi-amd64-bin put their modules. grub-mkrescue puts every platform
// it finds there into the image and leaves out, silently, the ones it
// does not find; mformat (mtools) writes the EFI System Partition image.
var (
	grubPlatformDirs = map[string]string{
		"/usr/lib/grub/i386-pc":    "grub-pc-bin",
		"/usr/lib/grub/x86_64-efi": "grub-efi-amd64-bin",
	}
	hybridTools = map[string]string{
		"grub-mkrescue": "grub-common",
		"xorriso":       "xorriso",
		"mformat":       "mtools",
	}
)

// checkHybridTools reports what is missing for an image that boots on
// both BIOS and UEFI machines, with the Debian packages to install.
func checkHybridTools() error {
	var missing []string
	for dir, pkg := range grubPlatformDirs {
		if _, err := os.Stat(filepath.Join(dir, "modinfo.sh")); err != nil {
			missing = append(missing, pkg)
		}
	}
	for tool, pkg := range hybridTools {
		if !haveTool(tool) {
			missing = append(missing, pkg)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("a BIOS and UEFI image needs the Debian packages %s (make deps installs them)", strings.Join(missing, " "))
	}
	return nil
}

// buildRescueISO writes to out the hybrid image made by grub-mkrescue:
// GRUB for i386-pc (El Torito, and an MBR for a USB stick) and for
// x86_64-efi (an EFI System Partition image, as El Torito's EFI entry and
// as a partition of the stick), one ISO 9660 tree with the kernel, the
// initramfs and grub.cfg.
func buildRescueISO(dir string, a Artefacts, cmdline, out string, timeout int) error {
	if err := checkHybridTools(); err != nil {
		return err
	}
	tree, err := stageISOTree(dir, a)
	if err != nil {
		return err
	}
	cfg := filepath.Join(tree, "boot", "grub", "grub.cfg")
	if err := os.WriteFile(cfg, []byte(grubMenuConfig(cmdline, a.Initrd != "", timeout)), 0o644); err != nil {
		return err
	}
	if err := runTool("grub-mkrescue", "-o", out, tree); err != nil {
		return err
	}
	return checkHybridISO(out)
}

// checkHybridISO checks that out has both El Torito boot entries, BIOS
// and UEFI, as xorriso reports them.
func checkHybridISO(out string) error {
	cmd := exec.Command("xorriso", "-indev", out, "-report_el_torito", "plain")
	report, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("xorriso -report_el_torito: %v\n%s", err, report)
	}
	return elToritoPlatforms(string(report))
}

// elToritoPlatforms checks an xorriso -report_el_torito report for a BIOS
// and a UEFI boot image.
func elToritoPlatforms(report string) error {
	have := map[string]bool{}
	for _, line := range strings.Split(report, "\n") {
		// El Torito boot img :   2  UEFI  y   none  0x0000  0x00   5760          72
		rest, ok := strings.CutPrefix(line, "El Torito boot img :")
		if f := strings.Fields(rest); ok && len(f) >= 2 {
			have[f[1]] = true
		}
	}
	if !have["BIOS"] || !have["UEFI"] {
		return fmt.Errorf("the image is not hybrid: El Torito boot images for %v, want BIOS and UEFI", slices.Sorted(maps.Keys(have)))
	}
	return nil
}

// runTool runs a host tool and folds its output into the error if it fails.
func runTool(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %v\n%s", name, err, strings.TrimSpace(out.String()))
	}
	return nil
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
