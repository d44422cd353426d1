// Command mkinitramfs writes a deterministic newc cpio archive for the
// kernel's initramfs.
//
// Usage:
//
//	go run ./tools/mkinitramfs -o out.cpio [name=path | dir]...
//
// An argument name=path stores the host file path under the archive name
// name (a leading "/" is dropped). A bare argument names a host directory
// whose regular files are all stored under their paths relative to it;
// symlinks and special files in it are skipped with a note on stderr. The
// same archive name given twice is an error.
//
// Determinism: the output depends only on the archive names and the file
// contents, never on the host (timestamps, owners, permissions, inode
// numbers, directory order, argument order). Entries are sorted by name; each
// file is written with mtime 0, uid/gid 0, mode 0755, nlink 1 and an inode
// number given by its position; every parent directory gets a record of its
// own (mode 0755) just before its first entry, so that Linux can also unpack
// the archive. Two runs over the same inputs give byte-identical archives,
// which reproducible benchmarks rely on. The archive is written to a
// temporary file and renamed over the output, so a failed run leaves no
// partial archive.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mkinitramfs:", err)
		os.Exit(1)
	}
}

// run parses the command line, collects the files and writes the archive.
func run(args []string, stderr io.Writer) error {
	flags := flag.NewFlagSet("mkinitramfs", flag.ContinueOnError)
	flags.SetOutput(stderr)
	out := flags.String("o", "", "output archive (required)")
	flags.Usage = func() {
		fmt.Fprintln(stderr, "usage: mkinitramfs -o out.cpio [name=path | dir]...")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		flags.Usage()
		return errors.New("-o is required")
	}
	files := make(map[string]string) // archive name -> host path
	for _, arg := range flags.Args() {
		var err error
		if name, src, ok := strings.Cut(arg, "="); ok {
			err = addFile(files, name, src)
		} else {
			err = addDir(files, arg, stderr)
		}
		if err != nil {
			return err
		}
	}
	contents := make(map[string][]byte, len(files))
	for name, src := range files {
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		contents[name] = b
	}
	archive, err := build(contents)
	if err != nil {
		return err
	}
	return writeAtomic(*out, archive)
}

// archiveName validates and normalizes a name for the archive.
func archiveName(name string) (string, error) {
	n := cpio.Normalize(name)
	if n == "." || n == ".." || strings.HasPrefix(n, "../") {
		return "", fmt.Errorf("bad archive name %q: it must name a file below the root", name)
	}
	if n == cpio.Trailer {
		return "", fmt.Errorf("bad archive name %q: it is the cpio end marker", name)
	}
	return n, nil
}

func add(files map[string]string, name, src string) error {
	n, err := archiveName(name)
	if err != nil {
		return err
	}
	if prev, ok := files[n]; ok {
		return fmt.Errorf("archive name %q given twice (%s and %s)", n, prev, src)
	}
	files[n] = src
	return nil
}

// addFile adds one name=path argument; path must be a regular file.
func addFile(files map[string]string, name, src string) error {
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s (for %q) is not a regular file", src, name)
	}
	return add(files, name, src)
}

// addDir adds every regular file below dir under its relative name.
func addDir(files map[string]string, dir string, stderr io.Writer) error {
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory (use name=path for a single file)", dir)
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			fmt.Fprintf(stderr, "mkinitramfs: skipping %s: not a regular file\n", p)
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		return add(files, filepath.ToSlash(rel), p)
	})
}

// build returns the archive bytes for the given files (archive name ->
// contents); see the package comment for the layout. Names must already be
// normalized.
func build(files map[string][]byte) ([]byte, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)

	var buf bytes.Buffer
	w := cpio.Newc.Writer(&buf)
	var ino uint64
	dirs := make(map[string]bool)
	var mkdirs func(dir string) error
	mkdirs = func(dir string) error {
		if dir == "." || dirs[dir] {
			return nil
		}
		if err := mkdirs(path.Dir(dir)); err != nil {
			return err
		}
		if _, isFile := files[dir]; isFile {
			return fmt.Errorf("%q is both a file and a directory", dir)
		}
		dirs[dir] = true
		ino++
		return w.WriteRecord(cpio.Record{Info: cpio.Info{
			Name: dir, Ino: ino, Mode: cpio.S_IFDIR | 0o755, NLink: 2,
		}})
	}
	for _, n := range names {
		if err := mkdirs(path.Dir(n)); err != nil {
			return nil, err
		}
		ino++
		rec := cpio.StaticRecord(files[n], cpio.Info{
			Name: n, Ino: ino, Mode: cpio.S_IFREG | 0o755, NLink: 1,
		})
		if err := w.WriteRecord(rec); err != nil {
			return nil, err
		}
	}
	if err := cpio.WriteTrailer(w); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeAtomic writes data to a temporary file next to out and renames it.
func writeAtomic(out string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(out), ".mkinitramfs-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}
