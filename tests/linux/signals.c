/* Signals: sigaction and raise, sigprocmask and sigpending, a SIGSEGV
 * handler on an alternate stack that reads siginfo and jumps out of a
 * null dereference, alarm and pause. */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t usr1, usr2, alrm, term;
static sigjmp_buf jb;
static volatile void *faultAddr;
static volatile int faultSigno, faultCode, onAltStack;
static char altstack[64 * 1024];

static void onUsr1(int sig) { (void)sig; usr1++; }
static void onUsr2(int sig) { (void)sig; usr2++; }
static void onAlarm(int sig) { (void)sig; alrm++; }
static void onTerm(int sig, siginfo_t *si, void *uc) { (void)uc; term = si->si_signo == sig ? 1 : -1; }

static void onSegv(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	char here;
	faultSigno = sig;
	faultAddr = si->si_addr;
	faultCode = si->si_code;
	onAltStack = (uintptr_t)&here >= (uintptr_t)altstack && (uintptr_t)&here < (uintptr_t)altstack + sizeof altstack;
	siglongjmp(jb, 1);
}

int main(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = onUsr1;
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);
	raise(SIGUSR1);
	printf("SIGUSR1 handled %d times\n", (int)usr1);

	sa.sa_handler = onUsr2;
	sigaction(SIGUSR2, &sa, NULL);
	sigset_t set, old, pend;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, &old);
	raise(SIGUSR2);
	sigpending(&pend);
	printf("blocked SIGUSR2: handled %d, pending %d\n", (int)usr2, sigismember(&pend, SIGUSR2));
	sigprocmask(SIG_SETMASK, &old, NULL);
	printf("unblocked: handled %d\n", (int)usr2);

	struct sigaction cur;
	sigaction(SIGUSR2, NULL, &cur);
	printf("sigaction reads back the handler: %s\n", cur.sa_handler == onUsr2 ? "yes" : "no");

	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
	if (sigaltstack(&ss, NULL) != 0)
		printf("sigaltstack failed\n");
	sa.sa_handler = NULL;
	sa.sa_sigaction = onSegv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigaction(SIGSEGV, &sa, NULL);
	for (int i = 0; i < 3; i++) {
		if (sigsetjmp(jb, 1) == 0) {
			volatile int *np = (volatile int *)(uintptr_t)(i * 8);
			*np = 1;
			printf("no fault?\n");
		} else {
			printf("SIGSEGV %d: signo=%d si_addr=%#lx code=%s altstack=%d\n", i, faultSigno, (unsigned long)faultAddr,
			       faultCode == SEGV_MAPERR ? "SEGV_MAPERR" : "other", onAltStack);
		}
	}

	sa.sa_sigaction = onTerm;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGTERM, &sa, NULL);
	kill(getpid(), SIGTERM);
	printf("SIGTERM via kill: %d\n", (int)term);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = onAlarm;
	sigaction(SIGALRM, &sa, NULL);
	alarm(1);
	while (!alrm)
		pause();
	printf("SIGALRM after alarm(1): %d\n", (int)alrm);

	signal(SIGUSR1, SIG_IGN);
	raise(SIGUSR1);
	printf("ignored SIGUSR1: still running\n");
	return 0;
}
