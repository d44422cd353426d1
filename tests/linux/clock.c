/* Time: the monotonic clock never goes back and advances over a sleep;
 * the real-time clock is after 2020. Prints no times. */
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

static long long ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

int main(void) {
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	int back = 0;
	for (int i = 0; i < 10000; i++) {
		clock_gettime(CLOCK_MONOTONIC, &b);
		if (ns(b) < ns(a))
			back++;
		a = b;
	}
	printf("monotonic went back %d times in 10000 reads\n", back);
	struct timespec s = {0, 20 * 1000 * 1000};
	clock_gettime(CLOCK_MONOTONIC, &a);
	nanosleep(&s, NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	long long d = ns(b) - ns(a);
	printf("nanosleep 20 ms: slept at least 20 ms: %s\n", d >= 20000000 ? "yes" : "no");
	printf("slept less than 10 s: %s\n", d < 10000000000LL ? "yes" : "no");
	clock_gettime(CLOCK_REALTIME, &a);
	printf("realtime after 2020: %s\n", a.tv_sec > 1577836800 ? "yes" : "no");
	struct timeval tv;
	gettimeofday(&tv, NULL);
	printf("gettimeofday within 100 s of realtime: %s\n", tv.tv_sec - a.tv_sec < 100 && tv.tv_sec >= a.tv_sec ? "yes" : "no");
	time_t t = time(NULL);
	printf("time() within 100 s: %s\n", t - a.tv_sec < 100 && t >= a.tv_sec ? "yes" : "no");
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
	printf("process CPU time not negative: %s\n", ns(a) >= 0 ? "yes" : "no");
	struct timespec res;
	printf("clock_getres monotonic ok: %s\n", clock_getres(CLOCK_MONOTONIC, &res) == 0 && ns(res) > 0 && ns(res) <= 1000000 ? "yes" : "no");
	return 0;
}
