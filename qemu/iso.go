package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
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

// grubMenuConfig is /boot/grub/grub.cfg of the full image: one entry,
// booted after a short pause so a person at the machine can edit the
// command line.
func grubMenuConfig(cmdline string, initrd bool) string {
	return "set timeout=3\nset default=0\n\nmenuentry \"beelzebox\" {\n" +
		grubMenuBody(cmdline, initrd, "\t") + "}\n"
}

// buildRescueISO writes to out a full GRUB image made by grub-mkrescue: a
// hybrid ISO that boots from a CD or a USB stick on BIOS machines (and on
// UEFI ones if grub-efi and mtools are installed).
func buildRescueISO(dir string, a Artefacts, cmdline, out string) error {
	tree, err := stageISOTree(dir, a)
	if err != nil {
		return err
	}
	cfg := filepath.Join(tree, "boot", "grub", "grub.cfg")
	if err := os.WriteFile(cfg, []byte(grubMenuConfig(cmdline, a.Initrd != "")), 0o644); err != nil {
		return err
	}
	return runTool("grub-mkrescue", "-o", out, tree)
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
