/* redis — see redis.h. */
#include "lib/redis.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/metrics.h"

static struct {
	struct redis_url url;
	bool configured;
	redisContext *ctx;
	time_t next_try;
	struct timespec last_ok; /* when a command last got an answer */
} redis;

int redis_url_parse(const char *url, struct redis_url *out)
{
	const char *p, *slash, *colon, *at;
	long v;
	char num[16];

	memset(out, 0, sizeof(*out));
	if (strncmp(url, "unix://", 7) == 0) {
		const char *q;
		p = url + 7;
		if (*p != '/')
			return -1;
		q = strchr(p, '?');
		if ((size_t)(q ? q - p : (long)strlen(p)) >= sizeof(out->path))
			return -1;
		snprintf(out->path, sizeof(out->path), "%.*s", (int)(q ? q - p : (long)strlen(p)),
		         p);
		if (q != NULL) {
			if (strncmp(q, "?db=", 4) != 0 || config_parse_long(q + 4, 0, 15, &v) < 0)
				return -1;
			out->db = (int)v;
		}
		return 0;
	}
	if (strncmp(url, "redis://", 8) != 0)
		return -1;
	p = url + 8;
	at = strchr(p, '@');
	if (at != NULL) {
		const char *pw = memchr(p, ':', (size_t)(at - p));
		pw = pw ? pw + 1 : p;
		if ((size_t)(at - pw) >= sizeof(out->password))
			return -1;
		snprintf(out->password, sizeof(out->password), "%.*s", (int)(at - pw), pw);
		p = at + 1;
	}
	slash = strchr(p, '/');
	colon = memchr(p, ':', slash ? (size_t)(slash - p) : strlen(p));
	{
		const char *hend = colon ? colon : (slash ? slash : p + strlen(p));
		if (hend == p || (size_t)(hend - p) >= sizeof(out->host))
			return -1;
		snprintf(out->host, sizeof(out->host), "%.*s", (int)(hend - p), p);
	}
	out->port = 6379;
	if (colon != NULL) {
		size_t n = slash ? (size_t)(slash - colon - 1) : strlen(colon + 1);
		if (n == 0 || n >= sizeof(num))
			return -1;
		memcpy(num, colon + 1, n);
		num[n] = '\0';
		if (config_parse_long(num, 1, 65535, &v) < 0)
			return -1;
		out->port = (int)v;
	}
	if (slash != NULL && slash[1] != '\0') {
		if (config_parse_long(slash + 1, 0, 15, &v) < 0)
			return -1;
		out->db = (int)v;
	}
	return 0;
}

int redis_init(const char *url)
{
	redis.configured = false;
	if (url == NULL || redis_url_parse(url, &redis.url) < 0)
		return -1;
	redis.configured = true;
	return 0;
}

void redis_fini(void)
{
	if (redis.ctx != NULL)
		redisFree(redis.ctx);
	redis.ctx = NULL;
}

static void redis_drop(const char *why)
{
	if (redis.ctx != NULL) {
		log_warn("redis: %s: %s", why, redis.ctx->errstr[0] ? redis.ctx->errstr : "error");
		redisFree(redis.ctx);
	}
	redis.ctx = NULL;
	redis.next_try = time(NULL) + 1;
	redis.last_ok.tv_sec = 0;
}

/* Runs a command on a live connection; the caller frees the reply. NULL on failure. */
static redisReply *redis_run(int argc, const char **argv)
{
	redisReply *r;

	if (redis.ctx == NULL) {
		const struct timeval tv = {.tv_sec = 1, .tv_usec = 0};
		if (!redis.configured || time(NULL) < redis.next_try)
			return NULL;
		redis.ctx = redis.url.path[0]
		                ? redisConnectUnixWithTimeout(redis.url.path, tv)
		                : redisConnectWithTimeout(redis.url.host, redis.url.port, tv);
		if (redis.ctx == NULL || redis.ctx->err) {
			redis_drop("connect failed");
			return NULL;
		}
		redisSetTimeout(redis.ctx, tv);
		metrics_count(METRICS_REDIS_CONNECTS);
		if (redis.url.password[0]) {
			r = redisCommand(redis.ctx, "AUTH %s", redis.url.password);
			if (r == NULL || r->type == REDIS_REPLY_ERROR) {
				freeReplyObject(r);
				redis_drop("AUTH refused");
				return NULL;
			}
			freeReplyObject(r);
		}
		if (redis.url.db != 0) {
			r = redisCommand(redis.ctx, "SELECT %d", redis.url.db);
			if (r == NULL || r->type == REDIS_REPLY_ERROR) {
				freeReplyObject(r);
				redis_drop("SELECT refused");
				return NULL;
			}
			freeReplyObject(r);
		}
	}
	r = redisCommandArgv(redis.ctx, argc, argv, NULL);
	if (r == NULL) {
		metrics_count(METRICS_REDIS_ERRORS);
		redis_drop("command failed");
		return NULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &redis.last_ok);
	return r;
}

bool redis_recently_ok(long ms)
{
	struct timespec now;

	if (redis.ctx == NULL || redis.last_ok.tv_sec == 0)
		return false;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - redis.last_ok.tv_sec) * 1000 +
	           (now.tv_nsec - redis.last_ok.tv_nsec) / 1000000 <
	       ms;
}

bool redis_ping(void)
{
	const char *argv[] = {"PING"};
	redisReply *r = redis_run(1, argv);
	bool ok = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
	freeReplyObject(r);
	return ok;
}

enum api_err redis_get(struct arena *a, const char *key, char **out)
{
	const char *argv[] = {"GET", key};
	redisReply *r = redis_run(2, argv);
	enum api_err err = E_UNAVAILABLE;

	*out = NULL;
	if (r == NULL)
		return E_UNAVAILABLE;
	if (r->type == REDIS_REPLY_STRING) {
		*out = arena_strndup(a, r->str, r->len);
		err = E_OK;
	} else if (r->type == REDIS_REPLY_NIL) {
		err = E_OK;
	}
	freeReplyObject(r);
	return err;
}

enum api_err redis_set_ex(const char *key, const char *value, long ttl_seconds)
{
	char ttl[24];
	const char *argv[] = {"SET", key, value, "EX", ttl};
	redisReply *r;
	enum api_err err;

	snprintf(ttl, sizeof(ttl), "%ld", ttl_seconds > 0 ? ttl_seconds : 1);
	r = redis_run(5, argv);
	err = (r != NULL && r->type == REDIS_REPLY_STATUS) ? E_OK : E_UNAVAILABLE;
	freeReplyObject(r);
	return err;
}

enum api_err redis_del(const char *key)
{
	const char *argv[] = {"DEL", key};
	redisReply *r = redis_run(2, argv);
	enum api_err err = (r != NULL && r->type == REDIS_REPLY_INTEGER) ? E_OK : E_UNAVAILABLE;
	freeReplyObject(r);
	return err;
}

/* GCRA with a weight: tat (theoretical arrival time, ms, fractional) is stored at the key;
 * with interval = period / rate (ms per unit), a request of cost units is allowed when
 * max(tat, now) + interval × cost − now ≤ interval × burst, and then moves tat on by
 * interval × cost.  With cost 1 that is max(tat, now) − now ≤ interval × (burst − 1).
 * Refused: the answer is how many ms until it would pass (rounded up, so never 0). */
static const char redis_gcra_lua[] =
    "local t = redis.call('TIME') "
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
    "local interval = tonumber(ARGV[1]) / tonumber(ARGV[2]) "
    "local limit = interval * tonumber(ARGV[3]) "
    "local cost = interval * tonumber(ARGV[4]) "
    "local tat = tonumber(redis.call('GET', KEYS[1])) or now "
    "if tat < now then tat = now end "
    "local over = tat + cost - now - limit "
    "if over > 0 then return math.ceil(over) end "
    "redis.call('SET', KEYS[1], string.format('%.3f', tat + cost), 'PX', "
    "math.ceil(tat + cost - now)) "
    "return 0";

enum api_err redis_gcra_cost(const char *key, long period_ms, long long rate, long long burst,
                             long long cost, long *wait_ms)
{
	char pv[24], rv[24], bv[24], cv[24];
	const char *argv[] = {"EVAL", redis_gcra_lua, "1", key, pv, rv, bv, cv};
	redisReply *r;
	enum api_err err = E_UNAVAILABLE;

	snprintf(pv, sizeof(pv), "%ld", period_ms > 0 ? period_ms : 1);
	snprintf(rv, sizeof(rv), "%lld", rate > 0 ? rate : 1);
	snprintf(bv, sizeof(bv), "%lld", burst);
	snprintf(cv, sizeof(cv), "%lld", cost);
	*wait_ms = 0;
	r = redis_run(8, argv);
	if (r != NULL && r->type == REDIS_REPLY_INTEGER) {
		*wait_ms = (long)r->integer;
		err = E_OK;
	} else if (r != NULL && r->type == REDIS_REPLY_ERROR) {
		log_error("redis: rate-limit script failed: %s", r->str);
	}
	freeReplyObject(r);
	return err;
}

enum api_err redis_gcra(const char *key, long interval_ms, long burst, long *wait_ms)
{
	return redis_gcra_cost(key, interval_ms, 1, burst, 1, wait_ms);
}

enum api_err redis_incr(const char *key, long long *value)
{
	const char *argv[] = {"INCR", key};
	redisReply *r = redis_run(2, argv);
	enum api_err err = (r != NULL && r->type == REDIS_REPLY_INTEGER) ? E_OK : E_UNAVAILABLE;

	if (err == E_OK && value != NULL)
		*value = r->integer;
	freeReplyObject(r);
	return err;
}

/* Runs a conditional SET: an OK status means it was set, a nil answer that the condition
 * did not hold. */
static enum api_err redis_set_if(int argc, const char **argv, bool *set)
{
	redisReply *r = redis_run(argc, argv);
	enum api_err err = E_UNAVAILABLE;

	*set = false;
	if (r != NULL && r->type == REDIS_REPLY_STATUS) {
		*set = true;
		err = E_OK;
	} else if (r != NULL && r->type == REDIS_REPLY_NIL) {
		err = E_OK;
	}
	freeReplyObject(r);
	return err;
}

enum api_err redis_set_nx_ex(const char *key, const char *value, long ttl_seconds, bool *set)
{
	char ttl[24];
	const char *argv[] = {"SET", key, value, "NX", "EX", ttl};

	snprintf(ttl, sizeof(ttl), "%ld", ttl_seconds > 0 ? ttl_seconds : 1);
	return redis_set_if(6, argv, set);
}

enum api_err redis_set_xx_keepttl(const char *key, const char *value, bool *set)
{
	const char *argv[] = {"SET", key, value, "XX", "KEEPTTL"};
	return redis_set_if(5, argv, set);
}

enum api_err redis_getdel(struct arena *a, const char *key, char **out)
{
	const char *argv[] = {"GETDEL", key};
	redisReply *r = redis_run(2, argv);
	enum api_err err = E_UNAVAILABLE;

	*out = NULL;
	if (r != NULL && r->type == REDIS_REPLY_STRING) {
		*out = arena_strndup(a, r->str, r->len);
		err = E_OK;
	} else if (r != NULL && r->type == REDIS_REPLY_NIL) {
		err = E_OK;
	}
	freeReplyObject(r);
	return err;
}

enum api_err redis_swap_if_equal(const char *key, const char *expect, const char *value, bool *done)
{
	/* compare-and-set (or compare-and-delete when value is NULL) in one step on the server */
	static const char script[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then "
	                             "if ARGV[2] == '' then return redis.call('DEL', KEYS[1]) end "
	                             "redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') return 1 end "
	                             "return 0";
	const char *argv[] = {"EVAL", script, "1", key, expect, value ? value : ""};
	redisReply *r = redis_run(6, argv);
	enum api_err err = E_UNAVAILABLE;

	*done = false;
	if (r != NULL && r->type == REDIS_REPLY_INTEGER) {
		*done = r->integer == 1;
		err = E_OK;
	}
	freeReplyObject(r);
	return err;
}

enum api_err redis_del_if_equal(const char *key, const char *value, bool *deleted)
{
	return redis_swap_if_equal(key, value, NULL, deleted);
}

enum api_err redis_counter(const char *key, bool incr, long ttl_seconds, long long *count,
                           long *ttl_left)
{
	/* INCR starts the window on the first count; a read leaves everything as it is */
	static const char script[] =
	    "local n if ARGV[2] == '1' then n = redis.call('INCR', KEYS[1]) "
	    "if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
	    "else n = tonumber(redis.call('GET', KEYS[1]) or '0') end "
	    "return {n, redis.call('TTL', KEYS[1])}";
	char ttl[24];
	const char *argv[] = {"EVAL", script, "1", key, ttl, incr ? "1" : "0"};
	redisReply *r;
	enum api_err err = E_UNAVAILABLE;

	snprintf(ttl, sizeof(ttl), "%ld", ttl_seconds);
	*count = 0;
	*ttl_left = 0;
	r = redis_run(6, argv);
	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_INTEGER &&
	    r->element[1]->type == REDIS_REPLY_INTEGER) {
		*count = r->element[0]->integer;
		*ttl_left = r->element[1]->integer > 0 ? (long)r->element[1]->integer : 0;
		err = E_OK;
	}
	freeReplyObject(r);
	return err;
}
