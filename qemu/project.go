package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Default build artefacts, relative to the module root (see the Makefile's
// build target).
const (
	defaultKernel = "build/kernel.elf"
	defaultInitrd = "build/initramfs.cpio"
	defaultISO    = "build/beelzebox.iso"
	moduleName    = "beelzebox"
)

// findRoot returns the directory of the beelzebox go.mod at or above the
// working directory, so the runner works from any subdirectory.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isModuleRoot(dir) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the beelzebox module (no go.mod with \"module beelzebox\" above the working directory)")
		}
		dir = parent
	}
}

func isModuleRoot(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if f := strings.Fields(s.Text()); len(f) == 2 && f[0] == "module" {
			return f[1] == moduleName
		}
	}
	return false
}

// makeBuild runs "make -s build" in the module root. Its output goes to
// stderr: stdout is reserved for console and bench lines.
func makeBuild(root string) error {
	cmd := exec.Command("make", "-s", "build")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("make -s build: %v", err)
	}
	return nil
}

// artefactFlags are the flags that choose what to boot.
type artefactFlags struct {
	kernel  string
	initrd  string
	noBuild bool
}

// resolve builds (unless told not to, or given an explicit kernel) and
// returns the files to boot. An empty initrd flag means build/initramfs.cpio
// if it exists; "none" means no module.
func (f artefactFlags) resolve(root string) (Artefacts, error) {
	a := Artefacts{Root: root, Kernel: defaultKernel}
	if f.kernel == "" && !f.noBuild {
		if err := makeBuild(root); err != nil {
			return a, err
		}
	}
	if f.kernel != "" {
		a.Kernel = relativeTo(root, f.kernel)
	}
	switch f.initrd {
	case "none":
	case "":
		if _, err := os.Stat(filepath.Join(root, defaultInitrd)); err == nil {
			a.Initrd = defaultInitrd
		}
	default:
		a.Initrd = relativeTo(root, f.initrd)
	}
	for _, p := range []string{a.Kernel, a.Initrd} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(a.path(p)); err != nil {
			return a, err
		}
	}
	return a, nil
}

// relativeTo turns a path given on the command line (relative to the
// working directory) into one relative to root if it lies inside root, or
// an absolute one. Emulators run in root, and QEMU puts the kernel path
// into the multiboot command line, so short paths keep that tidy.
func relativeTo(root, p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	if rel, err := filepath.Rel(root, abs); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return abs
}

// path returns p as an absolute path.
func (a Artefacts) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(a.Root, p)
}
