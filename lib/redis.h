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

#endif
