/*
 * exit42 (static-pie, exit42-pie): exits 42 with the Linux exit call; the
 * program vforkexec runs. A static-pie can load wherever there is room,
 * so at levels 1 and 2 it runs beside a parent linked at 0x400000.
 */
#include "linux.h"

long main(long a)
{
	(void)a;
	return 42;
}
