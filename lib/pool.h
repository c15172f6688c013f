/*
 * pool — the state of the worker pool, shared by the supervisor with its workers.
 *
 * The supervisor (fcgi/superv.c) maps one anonymous shared page before its first fork and
 * is its only writer; every worker inherits the mapping, and GET /health reads it.  A
 * worker started without the supervisor (plain `aiphoto-fcgi` under another process
 * manager) has no mapping: pool_read() then returns false and /health says nothing about
 * workers.  Fields are written and read one by one with atomic stores and loads; a reader
 * may see a death before the matching "alive" count, never a torn number.
 */
#ifndef AIPHOTO_POOL_H
#define AIPHOTO_POOL_H

#include <stdbool.h>
#include <sys/types.h>

struct pool_view {
	int configured; /* workers the supervisor keeps */
	int alive; /* workers running now */
	long long restarts; /* workers started to replace one that ended */
	long long last_death; /* unix time of the last death, 0 = none yet */
	int last_slot, last_pid; /* which worker it was */
	int last_exit; /* its exit status, or -1 when a signal ended it */
	int last_signal; /* the signal that ended it, or 0 */
};

/* Maps the shared page (once per process tree) and records `configured`.
 * Returns 0, or -1 when mmap fails (the pool then runs unreported). */
int pool_create(int configured);
/* Supervisor side; no-ops without a mapping. */
void pool_set_alive(int alive);
void pool_note_restart(void);
/* wstatus as returned by waitpid(). */
void pool_note_death(int slot, pid_t pid, int wstatus);
/* Copies the state into *v; false when this process has no supervisor's pool. */
bool pool_read(struct pool_view *v);

#endif
