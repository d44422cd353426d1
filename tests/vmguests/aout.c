/* aout: a flat binary loaded through the multiboot a.out kludge (header
 * flags bit 16). Reaching kmain is the check. */
#include "rt.h"

const char rt_kernel_name[] = "aout";

void kmain(void)
{
	rt_ok("aout");
}
