/* Threads: create/join with return values, a mutex-protected counter, a
 * condition-variable queue, thread-local storage, pthread_once. */
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>

#define NT 4
#define ITER 20000

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static __thread long tls = 100;

static void *adder(void *arg) {
	long id = (long)(intptr_t)arg;
	tls += id;
	for (int i = 0; i < ITER; i++) {
		pthread_mutex_lock(&mu);
		counter++;
		pthread_mutex_unlock(&mu);
	}
	return (void *)(intptr_t)(tls * 10);
}

#define QCAP 8
static int q[QCAP], qhead, qlen, qdone;
static pthread_mutex_t qmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t notfull = PTHREAD_COND_INITIALIZER, notempty = PTHREAD_COND_INITIALIZER;

static void *producer(void *arg) {
	(void)arg;
	for (int i = 1; i <= 5000; i++) {
		pthread_mutex_lock(&qmu);
		while (qlen == QCAP)
			pthread_cond_wait(&notfull, &qmu);
		q[(qhead + qlen) % QCAP] = i;
		qlen++;
		pthread_cond_signal(&notempty);
		pthread_mutex_unlock(&qmu);
	}
	pthread_mutex_lock(&qmu);
	qdone = 1;
	pthread_cond_broadcast(&notempty);
	pthread_mutex_unlock(&qmu);
	return NULL;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int onceRuns;
static void initOnce(void) { onceRuns++; }
static void *onceThread(void *arg) { (void)arg; pthread_once(&once, initOnce); return NULL; }

int main(void) {
	pthread_t t[NT];
	for (long i = 0; i < NT; i++)
		if (pthread_create(&t[i], NULL, adder, (void *)(intptr_t)(i + 1)) != 0) {
			printf("pthread_create failed\n");
			return 1;
		}
	for (int i = 0; i < NT; i++) {
		void *r;
		pthread_join(t[i], &r);
		printf("thread %d returned %ld\n", i + 1, (long)(intptr_t)r);
	}
	printf("counter=%ld (want %d)\n", counter, NT * ITER);
	printf("main's tls=%ld\n", tls);

	pthread_t p;
	pthread_create(&p, NULL, producer, NULL);
	long sum = 0, items = 0;
	for (;;) {
		pthread_mutex_lock(&qmu);
		while (qlen == 0 && !qdone)
			pthread_cond_wait(&notempty, &qmu);
		if (qlen == 0 && qdone) {
			pthread_mutex_unlock(&qmu);
			break;
		}
		sum += q[qhead];
		qhead = (qhead + 1) % QCAP;
		qlen--;
		items++;
		pthread_cond_signal(&notfull);
		pthread_mutex_unlock(&qmu);
	}
	pthread_join(p, NULL);
	printf("queue: %ld items, sum %ld\n", items, sum);

	pthread_t o[3];
	for (int i = 0; i < 3; i++)
		pthread_create(&o[i], NULL, onceThread, NULL);
	for (int i = 0; i < 3; i++)
		pthread_join(o[i], NULL);
	printf("pthread_once ran %d time(s)\n", onceRuns);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t d;
	printf("detached create: %d\n", pthread_create(&d, &attr, onceThread, NULL));
	return 0;
}
