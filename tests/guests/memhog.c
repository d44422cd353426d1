/*
 * memhog: maps 1 MiB at a time and touches every page until the host says
 * ENOMEM; then prints how many MiB it got and exits 0. A memory limit must
 * end in ENOMEM for the guest, never in the kernel running out.
 */
#include "linux.h"

long main(long a)
{
	char num[24];
	u64 mib = 0;
	(void)a;
	for (;;) {
		long p = syscall6(9, 0, 1 << 20, 3, 0x22, -1, 0); /* RW, private|anonymous */
		if (p < 0 && p > -4096) {
			if (p != -12)
				return 2;
			break;
		}
		for (long i = 0; i < (1 << 20); i += 4096)
			((volatile char *)p)[i] = 1;
		mib++;
		if (mib > 100000)
			return 3;
	}
	say("memhog: ");
	say(dec(num + sizeof num, mib));
	say(" MiB then ENOMEM\n");
	return 0;
}
