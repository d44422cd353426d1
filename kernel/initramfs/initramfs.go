// Package initramfs serves the files of a newc cpio archive held in memory:
// the kernel's initramfs, from which guests are loaded.
//
// Parsing is done by github.com/u-root/u-root/pkg/cpio, whose newc reader
// works on any io.ReaderAt; here that is a bytes.Reader over the archive.
// That reader only calls ReadAt, encoding/hex, encoding/binary and
// path.Clean: it opens no files and makes no system calls, so the package
// works inside the kernel. (pkg/cpio's file-system helpers, which do touch
// the host file system, are never called.)
//
// Two gaps of that reader on hostile or damaged input are closed here:
//
//   - It allocates the name buffer from the header's c_namesize before
//     reading it, so a garbage header could ask for 4 GiB. Before every
//     record, Open decodes c_namesize itself and checks that the name fits in
//     the rest of the archive.
//   - It reports a short read at the end of the archive as io.EOF, which is
//     also how it reports the TRAILER!!! record, so a truncated archive would
//     look complete. Open requires the trailer, and checks that each file's
//     data lies inside the archive.
//
// Semantics: names are normalized as pkg/cpio does (leading "/" removed,
// path.Clean), so "/bin/x", "bin/x" and "bin//x" are the same file. A later
// record with the same name replaces an earlier one, as when Linux unpacks an
// initramfs. Hard links (newc stores the data once, usually with the last
// link) are resolved. Directories are recorded; symbolic links are recorded
// but not followed, and device nodes, FIFOs and sockets are skipped.
//
// File data is not copied: the slices returned by File alias the archive,
// which the caller must therefore keep alive and unmodified.
package initramfs

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"
)

// Error reports a problem with the archive or with a lookup. Lookups of
// missing files wrap fs.ErrNotExist; lookups of directories and symlinks wrap
// ErrNotRegular; damaged archives wrap ErrCorrupt.
type Error struct {
	Op     string // "open" (reading the archive) or "file" (a lookup)
	Name   string // the file concerned, if any
	Offset int64  // archive offset of the record concerned, or -1
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("initramfs: ")
	b.WriteString(e.Op)
	if e.Name != "" || e.Op == "file" {
		fmt.Fprintf(&b, " %q", e.Name)
	}
	if e.Offset >= 0 {
		fmt.Fprintf(&b, " (record at offset %#x)", e.Offset)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

var (
	// ErrCorrupt is wrapped by every error about a damaged archive.
	ErrCorrupt = errors.New("corrupt cpio archive")
	// ErrNotRegular is wrapped when File names a directory or a symlink.
	ErrNotRegular = errors.New("not a regular file")
)

func corrupt(off int64, name, format string, args ...any) error {
	return &Error{Op: "open", Name: name, Offset: off, Err: fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))}
}

// newc header layout: "070701" followed by 13 fields of 8 hex digits.
const (
	headerLen     = 6 + 13*8
	namesizeField = 6 + 11*8 // c_namesize
	filesizeField = 6 + 6*8  // c_filesize
)

type kind uint8

const (
	regular kind = iota
	directory
	symlink
)

type entry struct {
	kind kind
	data []byte // contents (regular) or target (symlink)
	info Entry
}

// Entry describes one record of the archive as Lookup and Entries return
// it: the metadata cpio stored, with hard links resolved.
type Entry struct {
	Name  string // normalized, without a leading "/" ("." for the root)
	Mode  uint32 // file type and permission bits (S_IFREG|0755 ...)
	UID   uint32
	GID   uint32
	MTime int64 // seconds since the epoch
	NLink uint32
	// Ino, Dev: the record's inode number and device (major<<32|minor);
	// hard links share both.
	Ino uint64
	Dev uint64
	// Data is the contents of a regular file (aliasing the archive: do
	// not modify) and nil otherwise.
	Data []byte
	// Target is the target of a symbolic link.
	Target string
}

// IsDir, IsRegular and IsSymlink report the entry's file type.
func (e Entry) IsDir() bool     { return e.Mode&cpio.S_IFMT == cpio.S_IFDIR }
func (e Entry) IsRegular() bool { return e.Mode&cpio.S_IFMT == cpio.S_IFREG }
func (e Entry) IsSymlink() bool { return e.Mode&cpio.S_IFMT == cpio.S_IFLNK }

// FS is a read-only view of the files of one archive.
type FS struct {
	entries map[string]entry
	names   []string // sorted names of the regular files
}

// Open reads every record of a newc archive. The archive must end with the
// TRAILER!!! record (anything after it, such as padding, is ignored).
func Open(archive []byte) (*FS, error) {
	fsys := &FS{entries: make(map[string]entry)}
	// Hard links: newc gives every link the same (dev, ino) and stores the
	// data once; the other links have c_filesize 0.
	type inode struct{ ino, major, minor uint64 }
	linkData := make(map[inode][]byte)
	var linked []struct {
		name string
		ino  inode
	}

	rr := cpio.Newc.Reader(bytes.NewReader(archive))
	var pos int64
	for {
		name, err := peekHeader(archive, pos)
		if err != nil {
			return nil, err
		}
		rec, err := rr.ReadRecord()
		if err == io.EOF {
			if name != cpio.Trailer {
				// peekHeader saw a whole header and name, so a
				// reader EOF here can only be the trailer.
				return nil, corrupt(pos, name, "unexpected end of archive")
			}
			break
		}
		if err != nil {
			return nil, corrupt(pos, name, "%v", err)
		}
		if rec.RecPos != pos {
			return nil, corrupt(pos, rec.Name, "reader is at offset %#x, expected %#x", rec.RecPos, pos)
		}
		end := rec.FilePos + int64(rec.FileSize)
		var data []byte
		if rec.FileSize > 0 {
			if rec.FileSize > uint64(len(archive)) || end > int64(len(archive)) {
				return nil, corrupt(pos, rec.Name, "%d bytes of data at offset %#x run past the end of the %d-byte archive", rec.FileSize, rec.FilePos, len(archive))
			}
			data = archive[rec.FilePos:end:end]
		}
		pos = (end + 3) &^ 3
		info := Entry{
			Name: rec.Name, Mode: uint32(rec.Mode), UID: uint32(rec.UID), GID: uint32(rec.GID),
			MTime: int64(rec.MTime), NLink: uint32(rec.NLink), Ino: rec.Ino, Dev: rec.Major<<32 | rec.Minor,
		}

		switch rec.Mode & cpio.S_IFMT {
		case cpio.S_IFREG:
			fsys.entries[rec.Name] = entry{kind: regular, data: data, info: info}
			if rec.NLink > 1 {
				ino := inode{rec.Ino, rec.Major, rec.Minor}
				if len(data) > 0 {
					linkData[ino] = data
				}
				linked = append(linked, struct {
					name string
					ino  inode
				}{rec.Name, ino})
			}
		case cpio.S_IFDIR:
			fsys.entries[rec.Name] = entry{kind: directory, info: info}
		case cpio.S_IFLNK:
			fsys.entries[rec.Name] = entry{kind: symlink, data: data, info: info}
		default:
			// Devices, FIFOs and sockets mean nothing here; a
			// later record of another type may still replace an
			// earlier file of the same name.
			delete(fsys.entries, rec.Name)
		}
	}
	for _, l := range linked {
		if e := fsys.entries[l.name]; e.kind == regular && len(e.data) == 0 {
			e.data = linkData[l.ino]
			fsys.entries[l.name] = e
		}
	}
	for name, e := range fsys.entries {
		if e.kind == regular {
			fsys.names = append(fsys.names, name)
		}
	}
	slices.Sort(fsys.names)
	return fsys, nil
}

// peekHeader checks that a whole newc header and its name lie inside the
// archive at pos, so that the cpio reader neither allocates a name buffer
// larger than the archive nor mistakes a truncated record for the end. It
// returns the record's name (for errors and to recognise the trailer).
func peekHeader(archive []byte, pos int64) (string, error) {
	rest := int64(len(archive)) - pos
	if rest < headerLen {
		if rest <= 0 {
			return "", corrupt(pos, "", "archive ends without the %s record", cpio.Trailer)
		}
		return "", corrupt(pos, "", "truncated header: %d bytes left, a newc header is %d", rest, headerLen)
	}
	if magic := string(archive[pos : pos+6]); magic != "070701" {
		return "", corrupt(pos, "", "bad magic %q, want \"070701\" (newc)", magic)
	}
	namesize, err := hexField(archive[pos+namesizeField:][:8])
	if err != nil {
		return "", corrupt(pos, "", "c_namesize: %v", err)
	}
	filesize, err := hexField(archive[pos+filesizeField:][:8])
	if err != nil {
		return "", corrupt(pos, "", "c_filesize: %v", err)
	}
	if namesize == 0 || int64(namesize) > rest-headerLen {
		return "", corrupt(pos, "", "name of %d bytes does not fit in the %d bytes left", namesize, rest-headerLen)
	}
	name := archive[pos+headerLen:][:namesize]
	if name[namesize-1] != 0 {
		return "", corrupt(pos, "", "name is not NUL-terminated")
	}
	clean := cpio.Normalize(string(name[:namesize-1]))
	dataPos := (pos + headerLen + int64(namesize) + 3) &^ 3
	if filesize > 0 && int64(filesize) > int64(len(archive))-dataPos {
		return "", corrupt(pos, clean, "%d bytes of data run past the end of the %d-byte archive", filesize, len(archive))
	}
	return clean, nil
}

// hexField decodes one 8-digit newc header field.
func hexField(b []byte) (uint32, error) {
	var v [4]byte
	if _, err := hex.Decode(v[:], b); err != nil {
		return 0, fmt.Errorf("%q is not 8 hex digits", b)
	}
	return binary.BigEndian.Uint32(v[:]), nil
}

// clean normalizes a lookup name the way the archive's names are normalized.
func clean(name string) string { return cpio.Normalize(name) }

// File returns the contents of the regular file name ("bin/x" or "/bin/x").
// The slice aliases the archive and must not be modified.
func (f *FS) File(name string) ([]byte, error) {
	n := clean(name)
	e, ok := f.entries[n]
	if !ok {
		return nil, &Error{Op: "file", Name: name, Offset: -1, Err: fmt.Errorf("%w (the archive has %d files)", fs.ErrNotExist, len(f.names))}
	}
	switch e.kind {
	case directory:
		return nil, &Error{Op: "file", Name: name, Offset: -1, Err: fmt.Errorf("%w: it is a directory", ErrNotRegular)}
	case symlink:
		return nil, &Error{Op: "file", Name: name, Offset: -1, Err: fmt.Errorf("%w: it is a symlink to %q, and symlinks are not followed", ErrNotRegular, shorten(string(e.data)))}
	}
	return e.data, nil
}

// shorten bounds a string taken from the archive before it goes into an
// error message.
func shorten(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Names returns the names of the regular files, sorted, without a leading
// "/". The slice is a copy.
func (f *FS) Names() []string { return slices.Clone(f.names) }

// Lookup returns the entry named name ("bin/x" or "/bin/x") of any type:
// regular file, directory or symbolic link.
func (f *FS) Lookup(name string) (Entry, bool) {
	e, ok := f.entries[clean(name)]
	if !ok {
		return Entry{}, false
	}
	return e.export(), true
}

func (e entry) export() Entry {
	x := e.info
	switch e.kind {
	case regular:
		x.Data = e.data
	case symlink:
		x.Target = string(e.data)
	}
	return x
}

// Entries returns every entry (regular files, directories and symbolic
// links), sorted by name.
func (f *FS) Entries() []Entry {
	out := make([]Entry, 0, len(f.entries))
	for _, e := range f.entries {
		out = append(out, e.export())
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// IsDir reports whether the archive has a directory record named name.
func (f *FS) IsDir(name string) bool {
	e, ok := f.entries[clean(name)]
	return ok && e.kind == directory
}
