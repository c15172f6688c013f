/*
 * metrics — GET /metrics: the Prometheus text format (0.0.4) of the whole worker pool.
 *
 * Never public: answered to a client whose REMOTE_ADDR is one of METRICS_ALLOW (exact
 * addresses, comma-separated; default "127.0.0.1,::1") or that presents the token of an
 * active admin (any role: model/admins checks it as the admin routes' account rule does);
 * anyone else gets 403.  Behind lighttpd REMOTE_ADDR is the address of the client that
 * connected to lighttpd, so a Prometheus on the same host scraping http://127.0.0.1/… is
 * let in and a public client is not; behind another proxy on the same host every client
 * looks local — then empty METRICS_ALLOW and scrape with an admin token
 * (docs/operations.md).
 *
 * What it says: the workers' counters summed over the pool's slots (lib/metrics: requests
 * per route pattern and status class, latency histograms, errors by API code, database and
 * Redis connects, rate-limit refusals, payment notifications, Official Account callbacks),
 * the pool (configured, alive, restarts, each worker's RSS), whether the database and Redis
 * answer, one cheap statement of queue, task and order counts, and the dispatcher's textfile
 * (DISPATCH_METRICS_FILE) when there is one, so a single scrape sees everything.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "handlers/handlers.h"
#include "lib/config.h"
#include "lib/metrics.h"
#include "lib/pool.h"
#include "lib/redis.h"
#include "lib/token.h"
#include "model/admins.h"
#include "model/stats.h"
#include "model/system.h"

#define METRICS_PROBE_MS 1000
#define METRICS_TEXTFILE_MAX (1024 * 1024)

/* A valid admin token of an active admin, as the admin routes' account rule sees it
 * (model/admins: not disabled, the token's role and session). */
static bool metrics_admin(const struct request *req)
{
	const struct config *cfg = config_get();
	struct token_claims claims;
	const char *h = req->authorization, *why;

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	for (h += 7; *h == ' '; h++)
		;
	return token_verify_cached(cfg->jwt_secret, cfg->jwt_secret_len, cfg->jwt_issuer, h,
	                           time(NULL), &claims) == TOKEN_OK &&
	       claims.admin &&
	       admins_session(req->arena, claims.sub, claims.session, claims.role, false, &why) ==
	           E_OK;
}

static void metrics_gauge(struct metrics_buf *b, const char *name, const char *help, double v)
{
	metrics_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name, v);
}

/* The pool as the supervisor publishes it, and each worker's resident memory. */
static void metrics_pool(struct metrics_buf *b)
{
	struct pool_view v;
	int pids[256], n = metrics_slot_pids(pids, 256);
	long page = sysconf(_SC_PAGESIZE);

	if (pool_read(&v)) {
		metrics_gauge(b, "aiphoto_workers_configured", "Workers the supervisor keeps.",
		              v.configured);
		metrics_gauge(b, "aiphoto_workers_alive", "Workers running now.", v.alive);
		metrics_printf(b,
		               "# HELP aiphoto_worker_restarts_total Workers started to replace "
		               "one that ended.\n# TYPE aiphoto_worker_restarts_total counter\n"
		               "aiphoto_worker_restarts_total %lld\n",
		               v.restarts);
	}
	metrics_printf(b, "# HELP aiphoto_worker_rss_bytes Resident memory of each pool slot's "
	                  "worker.\n# TYPE aiphoto_worker_rss_bytes gauge\n");
	for (int i = 0; i < n; i++) {
		char path[64];
		long size, rss;
		FILE *f;
		if (pids[i] <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/statm", pids[i]);
		f = fopen(path, "re");
		if (f == NULL)
			continue;
		if (fscanf(f, "%ld %ld", &size, &rss) == 2)
			metrics_printf(b, "aiphoto_worker_rss_bytes{slot=\"%d\"} %ld\n", i,
			               rss * page);
		fclose(f);
	}
}

static void metrics_database(struct metrics_buf *b, bool db_ok)
{
	struct stats_scrape s;
	bool ok = db_ok && stats_scrape(&s) == E_OK;

	metrics_gauge(b, "aiphoto_scrape_db_ok", "1 when the scrape's database counts were read.",
	              ok);
	if (!ok)
		return;
	metrics_printf(b,
	               "# HELP aiphoto_queue_depth Works in the dispatcher's queue by status.\n"
	               "# TYPE aiphoto_queue_depth gauge\n"
	               "aiphoto_queue_depth{status=\"queued\"} %lld\n"
	               "aiphoto_queue_depth{status=\"running\"} %lld\n",
	               s.works_queued, s.works_running);
	metrics_gauge(b, "aiphoto_queue_oldest_seconds",
	              "Age of the oldest queued work that is due (0: none).", s.oldest_queued_s);
	metrics_printf(b,
	               "# HELP aiphoto_tasks Tasks not yet ended, by status.\n"
	               "# TYPE aiphoto_tasks gauge\n"
	               "aiphoto_tasks{status=\"queued\"} %lld\n"
	               "aiphoto_tasks{status=\"running\"} %lld\n",
	               s.tasks_queued, s.tasks_running);
	metrics_printf(b,
	               "# HELP aiphoto_orders Payment orders by status.\n"
	               "# TYPE aiphoto_orders gauge\n"
	               "aiphoto_orders{status=\"created\"} %lld\n"
	               "aiphoto_orders{status=\"paid\"} %lld\n"
	               "aiphoto_orders{status=\"closed\"} %lld\n"
	               "aiphoto_orders{status=\"partially_refunded\"} %lld\n"
	               "aiphoto_orders{status=\"refunded\"} %lld\n",
	               s.orders_created, s.orders_paid, s.orders_closed,
	               s.orders_partially_refunded, s.orders_refunded);
}

/* The dispatcher's textfile, as it is (it is written by atomic rename: never half). */
static void metrics_dispatcher(struct metrics_buf *b)
{
	const char *path = config_get()->dispatch_metrics_file;
	char buf[8192];
	size_t n, total = 0;
	FILE *f;

	if (path == NULL || (f = fopen(path, "re")) == NULL)
		return;
	while (total < METRICS_TEXTFILE_MAX && (n = fread(buf, 1, sizeof(buf), f)) > 0) {
		metrics_printf(b, "%.*s", (int)n, buf);
		total += n;
	}
	fclose(f);
	if (b->len > 0 && b->p[b->len - 1] != '\n')
		metrics_printf(b, "\n");
}

/* GET /metrics, public level (the check is ours, above): 200 text/plain version 0.0.4, or
 * 403 FORBIDDEN to a client neither in METRICS_ALLOW nor holding an admin token.  The
 * database and Redis being down are reported in the text (aiphoto_db_up 0), not as 503:
 * a scrape must still succeed then. */
static enum api_err metrics_get(struct request *req, struct reply *rep)
{
	struct metrics_buf b = {0};
	bool db_ok, redis_ok;
	char *out;

	if (!metrics_allowed(config_get()->metrics_allow, req->remote_addr) && !metrics_admin(req))
		return reply_error(rep, E_FORBIDDEN,
		                   "metrics: only for METRICS_ALLOW addresses or an admin token");
	db_ok = system_ping(METRICS_PROBE_MS) == E_OK;
	redis_ok = redis_recently_ok(METRICS_PROBE_MS) || redis_ping();
	metrics_printf(&b,
	               "# HELP aiphoto_build_info The running version.\n"
	               "# TYPE aiphoto_build_info gauge\n"
	               "aiphoto_build_info{version=\"%s\"} 1\n",
	               AIPHOTO_VERSION);
	metrics_gauge(&b, "aiphoto_db_up", "1 when PostgreSQL answers the worker.", db_ok);
	metrics_gauge(&b, "aiphoto_redis_up", "1 when Redis answers the worker.", redis_ok);
	metrics_render(&b);
	metrics_pool(&b);
	metrics_database(&b, db_ok);
	metrics_dispatcher(&b);
	out = arena_alloc(req->arena, b.len + 1);
	memcpy(out, b.p, b.len);
	out[b.len] = '\0';
	rep->raw = out;
	rep->raw_len = b.len;
	rep->raw_type = "text/plain; version=0.0.4; charset=utf-8";
	free(b.p);
	rep->status = 200;
	return E_OK;
}

static const struct route metrics_list[] = {
    {.method = HTTP_GET, .pattern = "/metrics", .auth = AUTH_PUBLIC, .handler = metrics_get},
};

ROUTE_TABLE(metrics_routes, metrics_list);
