/* hello: the minimal guest for the `vm` runner's tests. Prints a greeting,
 * the multiboot command line and the modules, then exits with the number
 * given as exit=N on the command line (decimal, or 0x hex; default 0). It
 * prints no check lines and no summary. */
#include "rt.h"

const char rt_kernel_name[] = "hello";

static uint32_t parse_num(const char *s)
{
	uint32_t v = 0, base = 10;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (;; s++) {
		uint32_t d;
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			break;
		v = v * base + d;
	}
	return v;
}

void kmain(void)
{
	struct mb_info *mi = (struct mb_info *)(uintptr_t)mb_info;
	rt_puts("hello from a level 4 guest\n");
	rt_printf("cmdline: %s\n", rt_cmdline());
	if (mb_magic == MB_BOOT_MAGIC && (mi->flags & (1u << 3))) {
		struct mb_module *m = (struct mb_module *)(uintptr_t)mi->mods_addr;
		rt_printf("modules: %u\n", mi->mods_count);
		for (uint32_t i = 0; i < mi->mods_count; i++)
			rt_printf("module %u: %s %u bytes\n", i, m[i].string ? (const char *)(uintptr_t)m[i].string : "",
				  m[i].mod_end - m[i].mod_start);
	} else {
		rt_puts("modules: none\n");
	}
	if (mb_magic == MB_BOOT_MAGIC && (mi->flags & (1u << 9)) && mi->boot_loader_name)
		rt_printf("boot loader: %s\n", (const char *)(uintptr_t)mi->boot_loader_name);
	const char *e = rt_cmdline_value("exit");
	uint32_t code = e ? parse_num(e) : 0;
	rt_printf("hello: exit %u\n", code);
	debug_exit(code);
}
