package fs

import (
	"strings"

	"beelzebox/linux"
	"golang.org/x/sys/unix"
)

// MapFile is an open file as mmap copies it: its bytes at offsets, its
// name for /proc/self/maps and the access mode it was opened with.
type MapFile struct {
	File
	access int
}

// AccessMode is the O_ACCMODE the file was opened with.
func (m *MapFile) AccessMode() int { return m.access }

// MapSource is the open file fd for mmap: EBADF if none, EACCES if it
// is not a regular file (devices and pipes cannot be mapped here).
func (f *Files) MapSource(fd int) (*MapFile, linux.Errno) {
	of := f.get(fd)
	if of == nil {
		return nil, linux.EBADF
	}
	defer of.decRef()
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if !of.ino.isReg() || of.ino.openFn != nil {
		return nil, linux.EACCES
	}
	return &MapFile{File: &loaderFile{fsys: f.fs, ino: of.ino, name: of.path}, access: int(of.flags.Load() & unix.O_ACCMODE)}, 0
}

// WriteFile creates (or replaces) a regular file in /tmp with data, as a
// host places a file for its guest; path must be under /tmp.
func (fsys *FS) WriteFile(path string, data []byte, mode uint32) error {
	name, ok := strings.CutPrefix(path, "/tmp/")
	if !ok || name == "" || strings.Contains(name, "/") {
		return linux.EINVAL
	}
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	dir := fsys.tmp.root
	if used := fsys.tmp.used + int64(len(data)); used > fsys.tmp.limit {
		return linux.ENOSPC
	}
	n := fsys.newInode(fsys.tmp, unix.S_IFREG|mode&0o7777)
	n.parent, n.name = dir, name
	n.data = append([]byte(nil), data...)
	fsys.tmp.used += int64(len(data))
	if old := dir.kids[name]; old != nil && old.isReg() {
		old.nlink--
		fsys.maybeFree(old)
	}
	dir.kids[name] = n
	return nil
}

// Pipes is what a Console implements to say that it stands for pipes
// rather than a terminal (a program run by the runner's exec, whose
// output is captured): the terminal ioctls then give ENOTTY, so the
// program buffers and formats its output as it would into a pipe.
type Pipes interface {
	Pipes() bool
}

// SetCwd sets the working directory (the host's, before the program
// starts): path is absolute.
func (f *Files) SetCwd(path string) error {
	n, _, err := f.lookupPath(atFDCWD, path, true, false)
	if err != 0 {
		return err
	}
	if !n.isDir() {
		return linux.ENOTDIR
	}
	f.mu.Lock()
	f.cwd = n
	f.mu.Unlock()
	return nil
}

// SetTerminal gives the terminal its foreground process group and the
// host's way to signal a group, for the line discipline's Ctrl-C and
// Ctrl-\.
func (fsys *FS) SetTerminal(pgrp int32, interrupt func(pgrp int32, sig int)) {
	c := fsys.con
	c.mu.Lock()
	c.pgrp, c.interrupt = pgrp, interrupt
	c.mu.Unlock()
}
