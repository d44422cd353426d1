/* Files in /tmp: open, write, read, lseek, pread/pwrite, stat, rename,
 * unlink, mkdir, readdir (sorted: directory order is the file system's),
 * errors. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { printf("FAILED line %d: %s (errno %d %s)\n", __LINE__, #c, errno, strerror(errno)); return 1; } } while (0)

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(void) {
	umask(022);
	CHECK(chdir("/tmp") == 0);
	char cwd[256];
	CHECK(getcwd(cwd, sizeof cwd) != NULL);
	printf("cwd=%s\n", cwd);
	CHECK(mkdir("d", 0755) == 0);
	CHECK(mkdir("d", 0755) == -1 && errno == EEXIST);
	int fd = open("d/a.txt", O_CREAT | O_EXCL | O_RDWR, 0666);
	CHECK(fd >= 0);
	const char *msg = "hello, file\n";
	CHECK(write(fd, msg, strlen(msg)) == (ssize_t)strlen(msg));
	CHECK(lseek(fd, 0, SEEK_CUR) == (off_t)strlen(msg));
	CHECK(lseek(fd, 7, SEEK_SET) == 7);
	char buf[64] = {0};
	CHECK(read(fd, buf, sizeof buf) == 5);
	printf("read after seek: %s", buf);
	CHECK(pwrite(fd, "HELLO", 5, 0) == 5);
	memset(buf, 0, sizeof buf);
	CHECK(pread(fd, buf, 12, 0) == 12);
	printf("pread: %s", buf);
	CHECK(lseek(fd, 100, SEEK_END) == 112);
	CHECK(write(fd, "x", 1) == 1);
	struct stat st;
	CHECK(fstat(fd, &st) == 0);
	printf("size=%lld regular=%d mode=%o\n", (long long)st.st_size, S_ISREG(st.st_mode), st.st_mode & 07777);
	CHECK(pread(fd, buf, 4, 50) == 4);
	printf("hole bytes: %d %d %d %d\n", buf[0], buf[1], buf[2], buf[3]);
	CHECK(ftruncate(fd, 5) == 0);
	CHECK(fstat(fd, &st) == 0 && st.st_size == 5);
	CHECK(close(fd) == 0);
	CHECK(close(fd) == -1 && errno == EBADF);

	fd = open("d/b.txt", O_WRONLY | O_CREAT | O_APPEND, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, "one\n", 4) == 4);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	CHECK(write(fd, "two\n", 4) == 4);
	int fd2 = dup(fd);
	CHECK(fd2 > fd);
	CHECK(write(fd2, "three\n", 6) == 6);
	close(fd2);
	close(fd);
	FILE *f = fopen("d/b.txt", "r");
	CHECK(f != NULL);
	while (fgets(buf, sizeof buf, f))
		printf("b.txt: %s", buf);
	fclose(f);
	CHECK(stat("d/b.txt", &st) == 0);
	printf("b.txt mode=%o size=%lld\n", st.st_mode & 07777, (long long)st.st_size);

	CHECK(rename("d/b.txt", "d/c.txt") == 0);
	CHECK(stat("d/b.txt", &st) == -1 && errno == ENOENT);
	CHECK(open("d/missing", O_RDONLY) == -1 && errno == ENOENT);
	CHECK(open("d/a.txt/x", O_RDONLY) == -1 && errno == ENOTDIR);
	CHECK(mkdir("d/sub", 0700) == 0);
	for (int i = 0; i < 20; i++) {
		char name[32];
		snprintf(name, sizeof name, "d/f%02d", (i * 7) % 20);
		int x = open(name, O_CREAT | O_WRONLY, 0644);
		CHECK(x >= 0);
		close(x);
	}
	DIR *dir = opendir("d");
	CHECK(dir != NULL);
	char *names[64];
	int n = 0;
	struct dirent *de;
	while ((de = readdir(dir)) != NULL && n < 64)
		names[n++] = strdup(de->d_name);
	closedir(dir);
	qsort(names, n, sizeof names[0], cmp);
	printf("readdir d (%d entries):", n);
	for (int i = 0; i < n; i++)
		printf(" %s", names[i]);
	printf("\n");
	CHECK(rmdir("d") == -1 && errno == ENOTEMPTY);
	CHECK(unlink("d/a.txt") == 0);
	CHECK(unlink("d/a.txt") == -1 && errno == ENOENT);
	CHECK(rmdir("d/sub") == 0);
	CHECK(access("d/c.txt", R_OK) == 0);
	CHECK(access("d/nope", F_OK) == -1 && errno == ENOENT);
	CHECK(stat("/tmp/d", &st) == 0 && S_ISDIR(st.st_mode));
	printf("all file checks passed\n");
	return 0;
}
