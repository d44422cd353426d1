/*
 * wrpkru (fixed): a guest that contains WRPKRU (0F 01 EF).
 *
 * Executes WRPKRU with EAX = ECX = EDX = 0 (PKRU = 0: every protection key
 * readable and writable), then asks the host for its PKRU and exits with the
 * low byte of the answer.
 *
 * Host should observe: at level 2 the loader refuses the image (sandbox/
 * codescan finds the WRPKRU in its executable segment), so it never runs.
 * At level 1 it runs and WRPKRU raises #UD: level 1 guests run with
 * CR4.PKE clear, so that they can never leave a PKRU value behind.
 */
#include "abi.h"

long main(long arg)
{
	(void)arg;
	__asm__ volatile(".byte 0x0f, 0x01, 0xef" /* wrpkru */
			 : : "a"(0), "c"(0), "d"(0) : "memory");
	return sys_pkru() & 0xff;
}
