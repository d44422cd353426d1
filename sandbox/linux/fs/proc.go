package fs

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"beelzebox/linux"

	"golang.org/x/sys/unix"
)

// /proc is made of dynamic inodes: directories whose entries are looked up
// and listed by functions, symbolic links whose targets are computed, and
// files whose contents are made when they are opened. Inode numbers are
// stable per name.

func (fsys *FS) procIno(key string) uint64 {
	m := fsys.proc
	if n, ok := m.procInos[key]; ok {
		return n
	}
	if len(m.procInos) > 1<<16 {
		// Bound the table: forget everything (numbers stay unique).
		clear(m.procInos)
	}
	n := m.newIno()
	m.procInos[key] = n
	return n
}

// procNode makes a dynamic inode. FS.mu is held.
func (fsys *FS) procNode(key string, mode uint32, parent *inode, name string) *inode {
	n := &inode{mnt: fsys.proc, ino: fsys.procIno(key), mode: mode, nlink: 1, parent: parent, name: name}
	t := fsys.now()
	n.atime, n.mtime, n.ctime = t, t, t
	if n.isDir() {
		n.nlink = 2
	}
	return n
}

// procFile makes a file whose contents gen makes at open time.
func (fsys *FS) procFile(key string, parent *inode, name string, gen func() string) *inode {
	n := fsys.procNode(key, unix.S_IFREG|0o444, parent, name)
	n.openFn = func(fsys *FS, f *Files, ino *inode, flags uint32) (fileOps, linux.Errno) {
		if flags&unix.O_ACCMODE != unix.O_RDONLY {
			return nil, linux.EACCES
		}
		return &snapOps{data: []byte(gen())}, 0
	}
	return n
}

var procTop = []string{"cpuinfo", "filesystems", "meminfo", "mounts", "self", "uptime"}

func (fsys *FS) procRoot() *inode {
	root := fsys.procNode("/", unix.S_IFDIR|0o555, nil, "proc")
	root.lookupFn = func(f *Files, name string) *inode {
		switch name {
		case "self":
			l := fsys.procNode("self", unix.S_IFLNK|0o777, root, name)
			l.linkFn = func(f *Files) string {
				if f == nil || f.pid == 0 {
					return ""
				}
				return itoa(f.pid)
			}
			return l
		case "cpuinfo":
			return fsys.procFile(name, root, name, cpuinfo)
		case "meminfo":
			return fsys.procFile(name, root, name, meminfo)
		case "filesystems":
			return fsys.procFile(name, root, name, func() string {
				return "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tdevtmpfs\nnodev\tramfs\n"
			})
		case "mounts":
			return fsys.procFile(name, root, name, mounts)
		case "uptime":
			return fsys.procFile(name, root, name, func() string { return "1.00 1.00\n" })
		}
		pid, err := strconv.Atoi(name)
		if err != nil || pid <= 0 || itoa(pid) != name {
			return nil
		}
		target := fsys.procs[pid]
		if target == nil {
			return nil
		}
		return fsys.pidDir(root, target)
	}
	root.listFn = func(f *Files) []dirent {
		var out []dirent
		for _, name := range procTop {
			n := root.lookupFn(f, name)
			if n != nil {
				out = append(out, dirent{name, n.ino, dtype(n.mode)})
			}
		}
		pids := make([]int, 0, len(fsys.procs))
		for pid := range fsys.procs {
			pids = append(pids, pid)
		}
		sort.Ints(pids)
		for _, pid := range pids {
			out = append(out, dirent{itoa(pid), fsys.procIno(itoa(pid)), unix.DT_DIR})
		}
		return out
	}
	return root
}

func mounts() string {
	return "rootfs / rootfs ro 0 0\nproc /proc proc rw,nosuid,nodev,noexec 0 0\n" +
		"devtmpfs /dev devtmpfs rw,nosuid 0 0\ntmpfs /tmp tmpfs rw,nosuid,nodev 0 0\n"
}

func cpuinfo() string {
	c := CPUInfo
	var b strings.Builder
	fmt.Fprintf(&b, "processor\t: 0\nvendor_id\t: %s\ncpu family\t: %s\nmodel\t\t: %s\nmodel name\t: %s\nstepping\t: %s\n",
		c.Vendor, c.Family, c.Model, c.ModelName, c.Stepping)
	fmt.Fprintf(&b, "cpu MHz\t\t: %s\ncache size\t: %s\nphysical id\t: 0\nsiblings\t: 1\ncore id\t\t: 0\ncpu cores\t: 1\n", c.MHz, c.CacheSize)
	fmt.Fprintf(&b, "fpu\t\t: yes\nfpu_exception\t: yes\nwp\t\t: yes\nflags\t\t: %s\n", c.Flags)
	b.WriteString("clflush size\t: 64\ncache_alignment\t: 64\naddress sizes\t: 46 bits physical, 48 bits virtual\npower management:\n\n")
	return b.String()
}

func meminfo() string {
	total, free := MemInfo()
	return fmt.Sprintf("MemTotal:       %8d kB\nMemFree:        %8d kB\nMemAvailable:   %8d kB\nBuffers:               0 kB\nCached:                0 kB\nSwapCached:            0 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n",
		total>>10, free>>10, free>>10)
}

var pidEntries = []string{"cmdline", "cwd", "exe", "fd", "maps", "stat", "status"}

// pidDir is /proc/<pid> of process p. FS.mu is held.
func (fsys *FS) pidDir(root *inode, p *Files) *inode {
	key := itoa(p.pid)
	d := fsys.procNode(key, unix.S_IFDIR|0o555, root, key)
	info := p.proc
	d.lookupFn = func(f *Files, name string) *inode {
		k := key + "/" + name
		switch name {
		case "exe":
			l := fsys.procNode(k, unix.S_IFLNK|0o777, d, name)
			l.linkFn = func(*Files) string { return info.Exe() }
			return l
		case "cwd":
			l := fsys.procNode(k, unix.S_IFLNK|0o777, d, name)
			l.linkFn = func(*Files) string {
				p.mu.Lock()
				cwd := p.cwd
				p.mu.Unlock()
				return pathOf(cwd)
			}
			return l
		case "cmdline":
			return fsys.procFile(k, d, name, func() string {
				var b strings.Builder
				for _, a := range info.Cmdline() {
					b.WriteString(a)
					b.WriteByte(0)
				}
				return b.String()
			})
		case "maps":
			return fsys.procFile(k, d, name, info.Maps)
		case "stat":
			return fsys.procFile(k, d, name, info.Stat)
		case "status":
			return fsys.procFile(k, d, name, info.Status)
		case "fd":
			return fsys.fdDir(d, k, p)
		}
		return nil
	}
	d.listFn = func(f *Files) []dirent {
		var out []dirent
		for _, name := range pidEntries {
			n := d.lookupFn(f, name)
			out = append(out, dirent{name, n.ino, dtype(n.mode)})
		}
		return out
	}
	return d
}

// fdDir is /proc/<pid>/fd: one magic link per open descriptor.
func (fsys *FS) fdDir(parent *inode, key string, p *Files) *inode {
	d := fsys.procNode(key, unix.S_IFDIR|0o500, parent, "fd")
	d.lookupFn = func(f *Files, name string) *inode {
		fd, err := strconv.Atoi(name)
		if err != nil || fd < 0 || itoa(fd) != name || p.peek(fd) == nil {
			return nil
		}
		l := fsys.procNode(key+"/"+name, unix.S_IFLNK|0o700, d, name)
		l.magicFn = func(*Files) *file { return p.peek(fd) }
		return l
	}
	d.listFn = func(f *Files) []dirent {
		var out []dirent
		for _, fd := range p.openFDs() {
			name := itoa(fd)
			out = append(out, dirent{name, fsys.procIno(key + "/" + name), unix.DT_LNK})
		}
		return out
	}
	return d
}

// describe is what /proc/<pid>/fd/N reads as. FS.mu is held.
func (of *file) describe() string {
	if of.ino != nil && of.ino.nlink == 0 && of.ino.isReg() {
		return of.path + " (deleted)"
	}
	return of.path
}
