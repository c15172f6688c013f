/*
 * aiphoto-fcgi — the FastCGI worker, and the supervisor of its pool.
 *
 *   spawn-fcgi -n -s SOCK -M 0600 -- aiphoto-fcgi --workers N
 * runs the supervisor (fcgi/superv.c), which forks N workers and keeps N alive; without
 * --workers the process is a single worker (for another process manager).  Either way the
 * listening unix socket is on fd 0 and the configuration is read and checked before any
 * fork.  Each worker serves one request at a time:
 *   FCGX_Accept_r → struct request (params, query, headers; body read on demand by the
 *   router up to the route's limit) → router_dispatch → response bytes → FCGX_Finish_r
 *   → access-log line → arena reset.
 * Shutdown: libfcgi's own SIGTERM/SIGUSR1 handlers (installed by FCGX_Init, without
 * SA_RESTART) mark the shutdown pending; an idle worker leaves accept() at once, a busy
 * one finishes its request and exits before the next accept.
 * PostgreSQL and Redis are connected lazily, after fork, on first use.
 */
#include <errno.h>
#include <fcgiapp.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fcgi/query.h"
#include "fcgi/response.h"
#include "fcgi/router.h"
#include "fcgi/superv.h"
#include "lib/config.h"
#include "lib/db.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/redis.h"
#include "model/admins.h"
#include "model/users.h"

static long worker_read_body(void *ctx, char *buf, size_t n)
{
	FCGX_Request *r = ctx;
	int got = FCGX_GetStr(buf, n > 65536 ? 65536 : (int)n, r->in);
	return got < 0 ? -1 : got;
}

/* A fresh request id: 16 hex characters from a per-worker generator (splitmix64) seeded
 * from the OS once; ids need to be unique, not secret. */
static char *worker_request_id(struct arena *a)
{
	static const char hex[] = "0123456789abcdef";
	static uint64_t state;
	uint64_t z;
	char *id = arena_alloc(a, 17);

	if (state == 0 && getrandom(&state, sizeof(state), 0) != (ssize_t)sizeof(state))
		state = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
	z = (state += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	z ^= z >> 31;
	for (int i = 15; i >= 0; i--, z >>= 4)
		id[i] = hex[z & 15];
	id[16] = '\0';
	return id;
}

/* The params this worker reads on every request, picked out in one pass over envp. */
struct worker_params {
	const char *uri, *method, *content_type, *content_length, *authorization;
	const char *idempotency_key, *remote_addr, *request_id;
};

static void worker_scan(char **envp, struct worker_params *p)
{
	static const struct {
		const char *name;
		size_t len;
		size_t off;
	} wanted[] = {
#define WP(n, f) {n "=", sizeof(n), offsetof(struct worker_params, f)}
	    WP("REQUEST_URI", uri),
	    WP("REQUEST_METHOD", method),
	    WP("CONTENT_TYPE", content_type),
	    WP("CONTENT_LENGTH", content_length),
	    WP("HTTP_AUTHORIZATION", authorization),
	    WP("HTTP_IDEMPOTENCY_KEY", idempotency_key),
	    WP("REMOTE_ADDR", remote_addr),
	    WP("HTTP_X_REQUEST_ID", request_id),
#undef WP
	};

	memset(p, 0, sizeof(*p));
	for (char **e = envp; e != NULL && *e != NULL; e++) {
		char c = (*e)[0];
		if (c != 'R' && c != 'C' && c != 'H')
			continue;
		for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
			if (wanted[i].name[0] == c &&
			    strncmp(*e, wanted[i].name, wanted[i].len) == 0) {
				*(const char **)((char *)p + wanted[i].off) = *e + wanted[i].len;
				break;
			}
		}
	}
}

static void worker_build_request(struct request *req, struct arena *a, FCGX_Request *r)
{
	struct worker_params p;
	const char *uri, *q;
	long v;

	worker_scan(r->envp, &p);
	memset(req, 0, sizeof(*req));
	req->arena = a;
	req->env = r->envp;
	req->method_name = p.method;
	req->method = http_method_parse(p.method);
	uri = p.uri ? p.uri : "/";
	q = strchr(uri, '?');
	req->path = q ? arena_strndup(a, uri, (size_t)(q - uri)) : uri;
	req->query = q ? q + 1 : "";
	req->nparams = query_parse(a, req->query, &req->params);
	req->content_type = p.content_type;
	if (p.content_length == NULL || *p.content_length == '\0')
		req->content_length = -1;
	else if (config_parse_long(p.content_length, 0, 1L << 40, &v) == 0)
		req->content_length = v;
	else
		req->content_length = (long long)1 << 40; /* unusable: answered 413 */
	req->authorization = p.authorization;
	req->idempotency_key = p.idempotency_key;
	req->remote_addr = p.remote_addr;
	req->request_id =
	    response_request_id_ok(p.request_id) ? p.request_id : worker_request_id(a);
	req->read_body = worker_read_body;
	req->read_ctx = r;
}

/*
 * router_limit_hook: a GCRA limit in Redis per user (a token was presented) or per client
 * address: the request count (bytes 0, key rl:…) or the byte budget (bytes > 0 is the cost,
 * key rlb:…).  Redis unreachable: the request goes through with a log line, or, for a class
 * that fails closed (admin login), answers 503.
 */
static enum api_err worker_limit(const struct request *req, const struct rate_limit *rl,
                                 long long bytes, long *retry_after)
{
	const char *kind = bytes > 0 ? "rlb" : "rl";
	char key[160];
	long wait_ms = 0;
	enum api_err err;

	if (req->authenticated && (req->user_id > 0 || req->admin_id > 0))
		snprintf(key, sizeof(key), "%s:%s:%c%lld", kind, rl->name, req->admin ? 'a' : 'u',
		         (long long)(req->admin ? req->admin_id : req->user_id));
	else
		snprintf(key, sizeof(key), "%s:%s:ip:%.64s", kind, rl->name,
		         req->remote_addr ? req->remote_addr : "-");
	if (bytes > 0)
		err = redis_gcra_cost(key, 3600000L, rl->bytes_per_hour, rl->bytes_burst, bytes,
		                      &wait_ms);
	else
		err = redis_gcra(key, 60000L / (rl->per_minute > 0 ? rl->per_minute : 1), rl->burst,
		                 &wait_ms);
	if (err != E_OK) {
		log_warn("rate limit %s%s: Redis unreachable, request %s", rl->name,
		         bytes > 0 ? " (bytes)" : "", rl->fail_closed ? "refused" : "let through");
		return rl->fail_closed ? E_UNAVAILABLE : E_OK;
	}
	if (wait_ms > 0) {
		metrics_event(METRICS_RATE_LIMITED, rl->name);
		*retry_after = (wait_ms + 999) / 1000;
		return E_RATE_LIMITED;
	}
	return E_OK;
}

/* router_admin_hook: the admin of an admin token, as model/admins remembers it for a read;
 * read again for anything else (a write is never made on a notification still in flight). */
static enum api_err worker_admin(struct request *req, const char **why)
{
	return admins_session(req->arena, req->admin_id, req->admin_session, req->role,
	                      req->method != HTTP_GET, why);
}

/* router_account_hook: one primary-key read of the user's status. */
static enum api_err worker_account(struct request *req)
{
	bool active = false;
	enum api_err err = users_active(req->arena, req->user_id, &active);

	if (err == E_NOT_FOUND)
		return E_UNAUTHORIZED;
	if (err != E_OK)
		return err;
	return active ? E_OK : E_FORBIDDEN;
}

/* The write callback of a streamed reply: one piece of the body to the FastCGI stream. */
static int worker_write(void *ctx, const void *buf, size_t n)
{
	FCGX_Stream *out = ctx;
	const char *p = buf;

	while (n > 0) {
		int k = n > (1 << 20) ? 1 << 20 : (int)n;
		if (FCGX_PutStr(p, k, out) != k)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static void worker_handle(FCGX_Request *r, struct arena *a)
{
	struct request req;
	struct reply rep = {0};
	struct timespec t0, t1;
	enum api_err err;
	size_t len;
	int status;
	char *out;
	const char *method, *route;
	long long us;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	worker_build_request(&req, a, r);
	log_set_request(req.request_id);
	/* an unknown method matches no route: the router answers 405 + Allow or 404 */
	err = router_dispatch(router_tables, router_ntables, &req, &rep);
	out = response_render(a, &req, &rep, err, &len, &status);
	/* the params (method, path) are freed by FCGX_Finish_r: keep copies for the log line */
	method = arena_strdup(a, req.method_name ? req.method_name : "-");
	route = req.log_route ? req.log_route
	        : req.route   ? req.route->pattern
	                      : arena_strdup(a, req.path);
	FCGX_PutStr(out, (int)len, r->out);
	if (err == E_OK && rep.stream != NULL &&
	    rep.stream(rep.stream_ctx, worker_write, r->out) != 0)
		log_warn("%s %s: streamed body cut short", method, route);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = (t1.tv_sec - t0.tv_sec) * 1000000LL + (t1.tv_nsec - t0.tv_nsec) / 1000;
	/* counted before the request is finished: a client that has its answer (and then
	 * scrapes, through another worker) always finds it counted.  Labelled by pattern
	 * (never the raw path): an unmatched request is "(unmatched)". */
	metrics_request(req.method < HTTP__MAX ? method : NULL,
	                req.log_route ? req.log_route
	                : req.route   ? req.route->pattern
	                              : NULL,
	                status, err, us);
	FCGX_Finish_r(r);
	log_access(method, route, status, us, req.user_id, req.admin_id);
	log_set_request(NULL);
	json_object_put(rep.data);
	json_object_put(req.json);
}

/* One worker: the accept loop until libfcgi reports a shutdown.  Runs after the fork, so
 * every connection it opens is its own.  Returns the process exit status (2: Redis URL
 * unusable, a configuration error the supervisor counts). */
static int worker_main(void)
{
	const struct config *cfg = config_get();
	FCGX_Request r;
	struct arena a;

	log_init("aiphoto-fcgi", (enum log_level)cfg->log_level); /* this process's pid */
	if (FCGX_Init() != 0) {
		fprintf(stderr, "aiphoto-fcgi: FCGX_Init failed\n");
		return 1;
	}
	db_init(cfg->database_url, cfg->db_statement_timeout_ms, "aiphoto-fcgi");
	if (redis_init(cfg->redis_url) < 0) {
		fprintf(stderr, "aiphoto-fcgi: REDIS_URL cannot be used\n");
		return 2;
	}
	router_limit_hook = worker_limit;
	router_account_hook = worker_account;
	router_admin_hook = worker_admin;
	arena_init(&a, 64 * 1024);
	FCGX_InitRequest(&r, 0, 0);
	log_info("worker started");
	while (FCGX_Accept_r(&r) >= 0) {
		worker_handle(&r, &a);
		arena_reset(&a);
	}
	log_info("worker exiting");
	FCGX_Free(&r, 1);
	arena_fini(&a);
	db_fini();
	redis_fini();
	return 0;
}

/* Parses the command line: no argument (one worker) or `--workers N`.  Returns N, 0 for
 * a single worker, -1 for a usage error. */
static int main_workers(int argc, char **argv)
{
	long n;

	if (argc == 1)
		return 0;
	if (argc == 3 && strcmp(argv[1], "--workers") == 0 &&
	    config_parse_long(argv[2], 1, SUPERV_MAX_WORKERS, &n) == 0)
		return (int)n;
	return -1;
}

int main(int argc, char **argv)
{
	char err[256];
	int on = 0, n;
	socklen_t len = sizeof(on);

	n = main_workers(argc, argv);
	if (n < 0) {
		fprintf(stderr, "usage: aiphoto-fcgi [--workers 1..%d]\n", SUPERV_MAX_WORKERS);
		return 2;
	}
	if (config_load(CONFIG_NEED_ALL, err, sizeof(err)) < 0) {
		fprintf(stderr, "aiphoto-fcgi: configuration error: %s\n", err);
		return 2;
	}
	log_init("aiphoto-fcgi", (enum log_level)config_get()->log_level);
	if (config_get()->log_file != NULL && log_open(config_get()->log_file) != 0) {
		fprintf(stderr, "aiphoto-fcgi: configuration error: LOG_FILE %s: %s\n",
		        config_get()->log_file, strerror(errno));
		return 2;
	}
	if (getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) < 0 || !on) {
		fprintf(stderr, "aiphoto-fcgi: fd 0 is not a listening socket; start it with "
		                "spawn-fcgi (see systemd/aiphoto-fcgi.service)\n");
		return 2;
	}
	/* the counters of every worker (lib/metrics); a single worker counts in its own memory */
	if (config_get()->metrics_enabled &&
	    metrics_create(n > 0 ? config_get()->metrics_file : NULL, n > 0 ? n : 1) < 0)
		log_warn("metrics: no shared mapping; GET /metrics will report no requests");
	if (n > 0)
		return superv_run(n, worker_main);
	metrics_attach(0);
	log_reopen_on_hup();
	return worker_main();
}
