#define _GNU_SOURCE
/* Pipes and poll: readiness, end of file, EPIPE, and a writer thread
 * pushing more than a pipe holds through a blocking pipe. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAILED line %d: %s (errno %d)\n", __LINE__, #c, errno); return 1; } } while (0)

#define TOTAL (1 << 20)

static int wfd;

static void *writer(void *arg) {
	(void)arg;
	static unsigned char buf[8192];
	for (int off = 0; off < TOTAL; off += sizeof buf) {
		for (size_t i = 0; i < sizeof buf; i++)
			buf[i] = (unsigned char)((off + i) * 31);
		size_t done = 0;
		while (done < sizeof buf) {
			ssize_t w = write(wfd, buf + done, sizeof buf - done);
			if (w <= 0)
				return (void *)1;
			done += w;
		}
	}
	close(wfd);
	return NULL;
}

int main(void) {
	int p[2];
	CHECK(pipe(p) == 0);
	struct pollfd pf = {.fd = p[0], .events = POLLIN};
	CHECK(poll(&pf, 1, 0) == 0);
	printf("empty pipe: poll 0\n");
	CHECK(write(p[1], "abc", 3) == 3);
	CHECK(poll(&pf, 1, 1000) == 1 && (pf.revents & POLLIN));
	printf("after write: POLLIN\n");
	char buf[16];
	CHECK(read(p[0], buf, sizeof buf) == 3);
	struct pollfd wf = {.fd = p[1], .events = POLLOUT};
	CHECK(poll(&wf, 1, 0) == 1 && (wf.revents & POLLOUT));
	printf("write end: POLLOUT\n");
	close(p[1]);
	CHECK(poll(&pf, 1, 1000) == 1 && (pf.revents & POLLHUP));
	CHECK(read(p[0], buf, sizeof buf) == 0);
	printf("writer closed: POLLHUP, read 0\n");
	close(p[0]);

	CHECK(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
	CHECK(read(p[0], buf, 1) == -1 && errno == EAGAIN);
	printf("O_NONBLOCK empty read: EAGAIN\n");
	CHECK((fcntl(p[0], F_GETFD) & FD_CLOEXEC) != 0);
	signal(SIGPIPE, SIG_IGN);
	close(p[0]);
	CHECK(write(p[1], "x", 1) == -1 && errno == EPIPE);
	printf("reader closed: EPIPE\n");
	close(p[1]);

	CHECK(pipe(p) == 0);
	wfd = p[1];
	pthread_t t;
	CHECK(pthread_create(&t, NULL, writer, NULL) == 0);
	unsigned long sum = 0, n = 0;
	static unsigned char rb[3000];
	for (;;) {
		ssize_t r = read(p[0], rb, sizeof rb);
		CHECK(r >= 0);
		if (r == 0)
			break;
		for (ssize_t i = 0; i < r; i++)
			sum = sum * 131 + rb[i];
		n += r;
	}
	void *ret;
	CHECK(pthread_join(t, &ret) == 0 && ret == NULL);
	printf("through the pipe: %lu bytes, hash %lu\n", n, sum);
	return 0;
}
