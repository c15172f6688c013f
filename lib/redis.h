/*
 * redis — the worker's one Redis connection (hiredis), for tokens, limits and caches.
 *
 * Lazy: nothing connects until the first command.  Connect and command timeouts are one
 * second each; a failed connection is dropped and retried on a later call after a short
 * back-off, so a Redis outage costs each caller at most one timeout, then fails fast.
 * redisReply objects never leave this file.
 */
#ifndef AIPHOTO_REDIS_H
#define AIPHOTO_REDIS_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/arena.h"
#include "lib/errors.h"

struct redis_url {
	char path[256]; /* unix socket path, or "" for TCP */
	char host[256];
	int port;
	int db;
	char password[128];
};

/* Parses unix:///abs/path.sock[?db=N] or redis://[:password@]host[:port][/db]; 0 or -1. */
int redis_url_parse(const char *url, struct redis_url *out);

/* Remembers the URL (already validated by config); connects nothing. */
int redis_init(const char *url);
void redis_fini(void);

/* True when a command got an answer on the current connection less than ms ago. */
bool redis_recently_ok(long ms);
/* PING; true when Redis answered PONG. */
bool redis_ping(void);
/* GET key → *out (arena copy) or NULL when absent.  E_UNAVAILABLE when Redis is down. */
enum api_err redis_get(struct arena *a, const char *key, char **out);
/* SET key value EX ttl (ttl > 0). */
enum api_err redis_set_ex(const char *key, const char *value, long ttl_seconds);
/* DEL key. */
enum api_err redis_del(const char *key);
/*
 * One request against a GCRA limit kept at key (atomically, in a server-side script using the
 * server's clock): at most burst requests at once, one more every interval_ms.  E_OK with
 * *wait_ms 0 when allowed; E_OK with *wait_ms > 0 (how long until the next is allowed) when
 * refused; E_UNAVAILABLE when Redis is unreachable.
 */
enum api_err redis_gcra(const char *key, long interval_ms, long burst, long *wait_ms);
/*
 * A counter that lives ttl_seconds from its first count (failed attempts in a window): with
 * incr, INCR (setting the expiry when it starts); without, just reads.  *count gets the value
 * (0 when absent), *ttl_left the seconds until it expires (0 when absent).
 */
enum api_err redis_counter(const char *key, bool incr, long ttl_seconds, long long *count,
                           long *ttl_left);
/*
 * The same GCRA with a weight: rate units refill every period_ms, at most burst units are
 * available at once, and this request takes cost of them (a byte budget: cost = the body's
 * size).  A cost above burst can never pass: the caller caps it.  redis_gcra(k, i, b, w) is
 * redis_gcra_cost(k, i, 1, b, 1, w).  Same answers as redis_gcra.
 */
enum api_err redis_gcra_cost(const char *key, long period_ms, long long rate, long long burst,
                             long long cost, long *wait_ms);
/* INCR key (a missing key counts from 0); *value (optional) gets the new value. */
enum api_err redis_incr(const char *key, long long *value);
/* SET key value NX EX ttl: *set tells whether this call created it (a lock, a one-time state). */
enum api_err redis_set_nx_ex(const char *key, const char *value, long ttl_seconds, bool *set);
/* SET key value XX KEEPTTL: replaces an existing value without touching its expiry. */
enum api_err redis_set_xx_keepttl(const char *key, const char *value, bool *set);
/* GETDEL key: reads and removes in one step (single-use values); *out NULL when absent. */
enum api_err redis_getdel(struct arena *a, const char *key, char **out);
/* Replaces key's value by value (keeping its expiry), or deletes it when value is NULL, only
 * while it still holds expect (compare-and-set); *done tells whether it did. */
enum api_err redis_swap_if_equal(const char *key, const char *expect, const char *value,
                                 bool *done);
/* Deletes key only while it still holds value (compare-and-delete). */
enum api_err redis_del_if_equal(const char *key, const char *value, bool *deleted);

#endif
