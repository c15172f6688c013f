/*
 * superv — see superv.h.
 */
#include "fcgi/superv.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/pool.h"
#include "lib/xalloc.h"

/* Longest sleep between two looks at the pool, even with nothing to do. */
#define SUPERV_TICK_MS 1000L
/* A status-2 exit sooner than this after the start counts as a refused configuration. */
#define SUPERV_CONFIG_EXIT_MS 1000L
#define SUPERV_EXIT_CONFIG 2

struct superv_slot {
	pid_t pid; /* 0: not running */
	long long started; /* monotonic ms of the fork */
	long long restart_at; /* monotonic ms; meaningful while pid == 0 */
	unsigned quick; /* quick deaths in a row */
	unsigned refused; /* quick status-2 exits in a row */
};

struct superv {
	struct superv_slot *slots;
	int n;
	bool stopping;
	int status; /* what superv_run returns */
	pid_t self;
	sigset_t mask; /* the signals taken with sigtimedwait */
};

/* The signals the supervisor waits for; everything else keeps its default. */
static const int superv_signals[] = {SIGCHLD, SIGTERM, SIGINT, SIGUSR1, SIGHUP};

long superv_backoff_ms(unsigned quick)
{
	long ms = SUPERV_BACKOFF_FIRST_MS;

	if (quick <= 1)
		return 0;
	for (unsigned i = 2; i < quick && ms < SUPERV_BACKOFF_MAX_MS; i++)
		ms *= 2;
	return ms < SUPERV_BACKOFF_MAX_MS ? ms : SUPERV_BACKOFF_MAX_MS;
}

static long long superv_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int superv_alive(const struct superv *s)
{
	int n = 0;

	for (int i = 0; i < s->n; i++)
		n += s->slots[i].pid > 0;
	return n;
}

static void superv_signal_all(const struct superv *s, int sig)
{
	for (int i = 0; i < s->n; i++)
		if (s->slots[i].pid > 0)
			kill(s->slots[i].pid, sig);
}

static void superv_stop(struct superv *s, const char *why)
{
	if (s->stopping)
		return;
	s->stopping = true;
	log_info("supervisor: %s: stopping %d workers", why, superv_alive(s));
	superv_signal_all(s, SIGUSR1);
}

/* SIGHUP: the supervisor opens its log file again, then each worker does (lib/log). */
static void superv_hup(const struct superv *s)
{
	if (log_reopen() != 0)
		log_error("supervisor: SIGHUP: cannot open the log file again (%s)",
		          strerror(errno));
	superv_signal_all(s, SIGHUP);
	log_info("supervisor: SIGHUP: log file opened again, %d workers told", superv_alive(s));
}

/* In the new worker: a clean signal state, death with the supervisor, then the worker.
 * Never returns. */
static void superv_child(struct superv *s, int slot, int (*worker)(void))
{
	sigset_t none;

	for (size_t i = 0; i < ARRAY_LEN(superv_signals); i++)
		signal(superv_signals[i], SIG_DFL);
	log_reopen_on_hup(); /* before SIGHUP is unblocked: a forwarded one never kills */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* the supervisor may have died between fork and prctl: then leave at once */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != s->self)
		_exit(1);
	free(s->slots);
	s->slots = NULL;
	metrics_attach(slot); /* this slot's counters go on from the dead worker's */
	exit(worker());
}

static void superv_spawn(struct superv *s, int slot, int (*worker)(void))
{
	struct superv_slot *sl = &s->slots[slot];
	pid_t pid = fork();

	if (pid == 0)
		superv_child(s, slot, worker);
	if (pid < 0) {
		log_error("supervisor: slot %d: fork failed (%s), next try in %ld ms", slot,
		          strerror(errno), SUPERV_TICK_MS);
		sl->restart_at = superv_now_ms() + SUPERV_TICK_MS;
		return;
	}
	sl->pid = pid;
	sl->started = superv_now_ms();
}

/* One worker has ended: log it, publish it, schedule its slot. */
static void superv_reaped(struct superv *s, pid_t pid, int wstatus)
{
	struct superv_slot *sl = NULL;
	long long now = superv_now_ms(), lived;
	char how[48];
	int slot;
	long delay;

	for (slot = 0; slot < s->n; slot++)
		if (s->slots[slot].pid == pid) {
			sl = &s->slots[slot];
			break;
		}
	if (sl == NULL)
		return; /* not one of ours */
	sl->pid = 0;
	lived = now - sl->started;
	pool_note_death(slot, pid, wstatus);
	if (WIFSIGNALED(wstatus))
		snprintf(how, sizeof(how), "signal %d (SIG%s)", WTERMSIG(wstatus),
		         sigabbrev_np(WTERMSIG(wstatus)) ? sigabbrev_np(WTERMSIG(wstatus)) : "?");
	else
		snprintf(how, sizeof(how), "exit status %d", WEXITSTATUS(wstatus));
	if (s->stopping) {
		log_info("supervisor: worker %d (slot %d) ended: %s", (int)pid, slot, how);
		return;
	}

	sl->quick = lived < SUPERV_STABLE_MS ? sl->quick + 1 : 0;
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == SUPERV_EXIT_CONFIG &&
	    lived < SUPERV_CONFIG_EXIT_MS)
		sl->refused++;
	else
		sl->refused = 0;
	delay = superv_backoff_ms(sl->quick);
	sl->restart_at = now + delay;
	log_msg(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0 ? LOG_WARN : LOG_ERROR,
	        "supervisor: worker %d (slot %d) died: %s after %lld ms; restart in %ld ms",
	        (int)pid, slot, how, lived, delay);
	if (sl->refused >= SUPERV_CONFIG_LIMIT) {
		log_error("supervisor: slot %d: %u workers in a row refused their configuration "
		          "(exit status %d); the pool cannot be kept",
		          slot, sl->refused, SUPERV_EXIT_CONFIG);
		s->status = SUPERV_EXIT_CONFIG;
		superv_stop(s, "giving up");
	}
}

/* Starts every slot that is due; returns ms until the next one is (at most the tick). */
static long superv_start_due(struct superv *s, int (*worker)(void))
{
	long long now = superv_now_ms();
	long wait = SUPERV_TICK_MS;

	for (int i = 0; i < s->n && !s->stopping; i++) {
		struct superv_slot *sl = &s->slots[i];
		if (sl->pid > 0)
			continue;
		if (sl->restart_at <= now) {
			bool first = sl->started == 0;
			superv_spawn(s, i, worker);
			if (sl->pid > 0 && !first)
				pool_note_restart();
		}
		if (sl->pid == 0 && sl->restart_at - now < wait)
			wait = sl->restart_at > now ? (long)(sl->restart_at - now) : 0;
	}
	pool_set_alive(superv_alive(s));
	return wait;
}

int superv_run(int nworkers, int (*worker)(void))
{
	struct superv s = {.n = nworkers, .self = getpid()};
	sigset_t old;
	struct timespec ts;
	siginfo_t info;
	int sig, wstatus;
	long wait;
	pid_t pid;

	sigemptyset(&s.mask);
	for (size_t i = 0; i < ARRAY_LEN(superv_signals); i++)
		sigaddset(&s.mask, superv_signals[i]);
	if (sigprocmask(SIG_BLOCK, &s.mask, &old) != 0) {
		log_error("supervisor: sigprocmask: %s", strerror(errno));
		return 1;
	}
	s.slots = xcalloc((size_t)nworkers, sizeof(*s.slots));
	if (pool_create(nworkers) < 0)
		log_warn("supervisor: no shared page for the pool state (%s); /health will not "
		         "report workers",
		         strerror(errno));
	log_info("supervisor: keeping %d workers", nworkers);

	for (;;) {
		wait = superv_start_due(&s, worker);
		if (s.stopping && superv_alive(&s) == 0)
			break;
		ts.tv_sec = wait / 1000;
		ts.tv_nsec = (wait % 1000) * 1000000L;
		sig = sigtimedwait(&s.mask, &info, &ts);
		if (sig == SIGHUP) {
			superv_hup(&s);
			continue;
		}
		if (sig == SIGTERM || sig == SIGINT || sig == SIGUSR1) {
			if (s.stopping && sig != SIGUSR1) {
				log_warn("supervisor: second SIG%s: killing %d workers",
				         sigabbrev_np(sig), superv_alive(&s));
				superv_signal_all(&s, SIGKILL);
			}
			superv_stop(&s, sig == SIGTERM  ? "SIGTERM"
			                : sig == SIGINT ? "SIGINT"
			                                : "SIGUSR1");
		}
		/* reap whatever ended, whether or not SIGCHLD was the signal taken */
		while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0)
			superv_reaped(&s, pid, wstatus);
	}
	pool_set_alive(0);
	log_info("supervisor: all workers gone, exiting with status %d", s.status);
	free(s.slots);
	/* signals that came in meanwhile (SIGCHLD) are left pending for a caller that waits */
	sigprocmask(SIG_SETMASK, &old, NULL);
	return s.status;
}
