/*
 * aiphoto-fcgi — the FastCGI worker.
 *
 * Started N times by `spawn-fcgi -n … -- multiwatch -f N -- aiphoto-fcgi`, each process
 * inherits the listening unix socket on fd 0 and serves one request at a time:
 *   FCGX_Accept_r → struct request (params, query, headers; body read on demand by the
 *   router up to the route's limit) → router_dispatch → response bytes → FCGX_Finish_r
 *   → access-log line → arena reset.
 * Shutdown: libfcgi's own SIGTERM/SIGUSR1 handlers (installed by FCGX_Init, without
 * SA_RESTART) mark the shutdown pending; an idle worker leaves accept() at once, a busy
 * one finishes its request and exits before the next accept.
 * PostgreSQL and Redis are connected lazily, after fork, on first use.
 */
#include <fcgiapp.h>
#include <inttypes.h>
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
#include "lib/config.h"
#include "lib/db.h"
#include "lib/log.h"
#include "lib/redis.h"

static long worker_read_body(void *ctx, char *buf, size_t n)
{
	FCGX_Request *r = ctx;
	int got = FCGX_GetStr(buf, n > 65536 ? 65536 : (int)n, r->in);
	return got < 0 ? -1 : got;
}

/* A fresh request id: 16 hex characters. */
static char *worker_request_id(struct arena *a)
{
	uint64_t v = 0;
	static uint64_t counter;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
		v = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL) ^ ++counter;
	return arena_printf(a, "%016" PRIx64, v);
}

static void worker_build_request(struct request *req, struct arena *a, FCGX_Request *r)
{
	const char *uri = FCGX_GetParam("REQUEST_URI", r->envp);
	const char *q, *cl, *rid;
	long v;

	memset(req, 0, sizeof(*req));
	req->arena = a;
	req->env = r->envp;
	req->method_name = FCGX_GetParam("REQUEST_METHOD", r->envp);
	req->method = http_method_parse(req->method_name);
	if (uri == NULL)
		uri = "/";
	q = strchr(uri, '?');
	req->path = q ? arena_strndup(a, uri, (size_t)(q - uri)) : uri;
	req->query = q ? q + 1 : "";
	req->nparams = query_parse(a, req->query, &req->params);
	req->content_type = FCGX_GetParam("CONTENT_TYPE", r->envp);
	cl = FCGX_GetParam("CONTENT_LENGTH", r->envp);
	req->content_length =
	    (cl != NULL && *cl != '\0' && config_parse_long(cl, 0, 1L << 40, &v) == 0)
	        ? v
	        : (cl != NULL && *cl != '\0' ? (long long)1 << 40 : -1);
	req->authorization = FCGX_GetParam("HTTP_AUTHORIZATION", r->envp);
	req->idempotency_key = FCGX_GetParam("HTTP_IDEMPOTENCY_KEY", r->envp);
	req->remote_addr = FCGX_GetParam("REMOTE_ADDR", r->envp);
	rid = FCGX_GetParam("HTTP_X_REQUEST_ID", r->envp);
	req->request_id = response_request_id_ok(rid) ? rid : worker_request_id(a);
	req->read_body = worker_read_body;
	req->read_ctx = r;
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

	clock_gettime(CLOCK_MONOTONIC, &t0);
	worker_build_request(&req, a, r);
	log_set_request(req.request_id);
	/* an unknown method matches no route: the router answers 405 + Allow or 404 */
	err = router_dispatch(router_tables, router_ntables, &req, &rep);
	out = response_render(a, &req, &rep, err, &len, &status);
	FCGX_PutStr(out, (int)len, r->out);
	FCGX_Finish_r(r);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_access(req.method_name ? req.method_name : "-",
	           req.route ? req.route->pattern : req.path, status,
	           (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000,
	           req.user_id);
	log_set_request(NULL);
	json_object_put(rep.data);
	json_object_put(req.json);
}

int main(void)
{
	char err[256];
	const struct config *cfg;
	FCGX_Request r;
	struct arena a;
	int on = 0;
	socklen_t len = sizeof(on);

	if (config_load(CONFIG_NEED_ALL, err, sizeof(err)) < 0) {
		fprintf(stderr, "aiphoto-fcgi: configuration error: %s\n", err);
		return 2;
	}
	cfg = config_get();
	log_init("aiphoto-fcgi", (enum log_level)cfg->log_level);
	if (getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) < 0 || !on) {
		fprintf(stderr, "aiphoto-fcgi: fd 0 is not a listening socket; start it with "
		                "spawn-fcgi (see systemd/aiphoto-fcgi.service)\n");
		return 2;
	}
	if (FCGX_Init() != 0) {
		fprintf(stderr, "aiphoto-fcgi: FCGX_Init failed\n");
		return 1;
	}
	db_init(cfg->database_url, cfg->db_statement_timeout_ms, "aiphoto-fcgi");
	if (redis_init(cfg->redis_url) < 0) {
		fprintf(stderr, "aiphoto-fcgi: REDIS_URL cannot be used\n");
		return 2;
	}
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
