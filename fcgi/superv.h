/*
 * superv — the supervisor of the worker pool (`aiphoto-fcgi --workers N`).
 *
 * Started by `spawn-fcgi -n` with the listening socket on fd 0, the supervisor forks N
 * workers that inherit it, and keeps N alive for as long as it runs:
 *   - a worker that ends, whatever the reason, is logged (slot, pid, exit status or
 *     signal, lifetime) and its slot started again after superv_backoff_ms();
 *     a slot is never given up;
 *   - SIGTERM, SIGINT or SIGUSR1 stop the pool gracefully: each worker gets SIGUSR1
 *     (libfcgi finishes the request in progress, then leaves accept), nothing is
 *     restarted, and the supervisor returns 0 once the last worker has gone; a second
 *     SIGTERM/SIGINT sends SIGKILL to what is left;
 *   - a slot whose worker exits with status 2 (it refused its configuration) within a
 *     second of starting SUPERV_CONFIG_LIMIT times in a row cannot be kept: the pool is
 *     stopped and the supervisor returns 2, so that systemd restarts it and says so;
 *   - SIGHUP (logrotate): the supervisor opens LOG_FILE again and sends SIGHUP to every
 *     worker, which opens it again before its next log line (lib/log.h);
 *   - the pool state (configured, alive, restarts, last death) is published through
 *     lib/pool for GET /health.
 * Signals are taken synchronously (blocked, then sigtimedwait), so no handler runs in the
 * supervisor; workers start with an empty signal mask, default dispositions (SIGHUP: the
 * log's reopen handler), and
 * PR_SET_PDEATHSIG = SIGTERM, so they leave when the supervisor is killed.
 * The supervisor itself opens no database, Redis or HTTP handle.
 */
#ifndef AIPHOTO_SUPERV_H
#define AIPHOTO_SUPERV_H

#define SUPERV_BACKOFF_FIRST_MS 100L /* the delay after the second quick death */
#define SUPERV_BACKOFF_MAX_MS 5000L /* the delay never grows past this */
#define SUPERV_STABLE_MS 10000L /* a worker that lived this long resets its slot */
#define SUPERV_CONFIG_LIMIT 5 /* quick exits with status 2 in a row: give up */
#define SUPERV_MAX_WORKERS 256

/* The delay before restarting a slot whose worker has just died, `quick` being the number
 * of deaths in a row of workers that lived less than SUPERV_STABLE_MS, this one included
 * (0 when this worker lived longer): 0 for the first, then SUPERV_BACKOFF_FIRST_MS
 * doubling per further quick death, capped at SUPERV_BACKOFF_MAX_MS.  Pure. */
long superv_backoff_ms(unsigned quick);

/* Runs the pool until it is stopped (see above).  In the supervisor, returns its exit
 * status; in a worker it never returns: the worker exits with worker()'s status.
 * nworkers is 1..SUPERV_MAX_WORKERS. */
int superv_run(int nworkers, int (*worker)(void));

#endif
