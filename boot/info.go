package boot

import (
	"beelzebox/boot/multiboot"
	"beelzebox/boot/multiboot2"
)

// Scratch space for the loaders' own decoding (too big for the boot
// stack's comfort).
var (
	mb1 multiboot.Info
	mb2 multiboot2.Info
)

// parseLoader decodes the loader's information at addr, as magic says
// which loader it was, into Info.
func parseLoader(m physMem, magic, addr uint64) string {
	switch magic {
	case multiboot.BootMagic:
		if msg := multiboot.Parse(m, magic, addr, &mb1); msg != "" {
			Info.SetCmdline(mb1.Cmdline[:mb1.CmdlineLen]) // for console=e9
			return msg
		}
		return Info.FromMultiboot1(&mb1)
	case multiboot2.BootMagic:
		if msg := multiboot2.Parse(m, magic, addr, &mb2); msg != "" {
			Info.SetCmdline(mb2.Cmdline[:mb2.CmdlineLen])
			return msg
		}
		return Info.FromMultiboot2(&mb2)
	}
	return "not booted by a multiboot loader (EAX is neither 0x2BADB002 nor 0x36D76289)"
}
