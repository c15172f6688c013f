/*
 * health — GET /health (public).
 *
 * Answers {"status":"ok"|"degraded","db":"ok"|"down","redis":"ok"|"down","version":…,
 * "workers":{"configured":N,"alive":N,"restarts":N,"last_death":{…}|null}}:
 * 200 while the database answers (status "degraded" when only Redis is down, or while
 * fewer workers are alive than configured), 503 UNAVAILABLE with the same report in
 * "data" when the database is down.  "workers" comes from the supervisor's shared pool
 * state (lib/pool) and is left out when this worker runs without the supervisor;
 * last_death is {"slot","pid","exit" (or null),"signal" (or null),"seconds_ago"}.
 * A dependency that answered this worker less than HEALTH_PROBE_MS ago, on a connection
 * that is still open, is not probed again: a stopped database shows within that time,
 * and a health check under load costs no round trips.
 *
 * For orchestrators (docs/operations.md: systemd, a load balancer, Kubernetes probes):
 *   GET /health/live   200 {"status":"ok"} whenever a worker answers; touches nothing else,
 *                      so a database outage never gets workers restarted.
 *   GET /health/ready  200 {"status":"ok"|"degraded","db":"ok","redis":…,"schema":N,
 *                      "schema_wanted":M} while the database answers and its schema is at
 *                      least the newest migration this build ships (AIPHOTO_SCHEMA_VERSION);
 *                      Redis down is "degraded", still ready (rate limits let requests
 *                      through).  Otherwise 503 UNAVAILABLE with the same report in "data":
 *                      take the instance out of rotation, do not restart it.
 */
#include <time.h>

#include "handlers/handlers.h"
#include "lib/redis.h"
#include "lib/pool.h"
#include "model/stats.h"
#include "model/system.h"

#define HEALTH_PROBE_MS 1000

/* The "workers" object, or NULL without a supervisor.  *full: every worker is alive. */
static json_object *health_workers(bool *full)
{
	struct pool_view v;
	json_object *o, *d = NULL;

	*full = true;
	if (!pool_read(&v))
		return NULL;
	*full = v.alive >= v.configured;
	o = json_object_new_object();
	json_object_object_add(o, "configured", json_object_new_int(v.configured));
	json_object_object_add(o, "alive", json_object_new_int(v.alive));
	json_object_object_add(o, "restarts", json_object_new_int64(v.restarts));
	if (v.last_death != 0) {
		d = json_object_new_object();
		json_object_object_add(d, "slot", json_object_new_int(v.last_slot));
		json_object_object_add(d, "pid", json_object_new_int(v.last_pid));
		json_object_object_add(d, "exit",
		                       v.last_exit >= 0 ? json_object_new_int(v.last_exit) : NULL);
		json_object_object_add(
		    d, "signal", v.last_signal > 0 ? json_object_new_int(v.last_signal) : NULL);
		json_object_object_add(d, "seconds_ago",
		                       json_object_new_int64((long long)time(NULL) - v.last_death));
	}
	json_object_object_add(o, "last_death", d);
	return o;
}

static enum api_err health_get(struct request *req, struct reply *rep)
{
	bool db_ok = system_ping(HEALTH_PROBE_MS) == E_OK;
	bool redis_ok = redis_recently_ok(HEALTH_PROBE_MS) || redis_ping();
	bool pool_full;
	json_object *o = json_object_new_object(), *workers = health_workers(&pool_full);

	(void)req;
	json_object_object_add(
	    o, "status",
	    json_object_new_string(db_ok && redis_ok && pool_full ? "ok" : "degraded"));
	json_object_object_add(o, "db", json_object_new_string(db_ok ? "ok" : "down"));
	json_object_object_add(o, "redis", json_object_new_string(redis_ok ? "ok" : "down"));
	json_object_object_add(o, "version", json_object_new_string(AIPHOTO_VERSION));
	if (workers != NULL)
		json_object_object_add(o, "workers", workers);
	reply_ok(rep, 200, o);
	if (!db_ok)
		return reply_error(rep, E_UNAVAILABLE, "数据库不可用");
	return E_OK;
}

/* GET /health/live, public: always 200 {"status":"ok"}. */
static enum api_err health_live(struct request *req, struct reply *rep)
{
	json_object *o = json_object_new_object();

	(void)req;
	json_object_object_add(o, "status", json_object_new_string("ok"));
	return reply_ok(rep, 200, o);
}

/* GET /health/ready, public: 200 ok|degraded, or 503 UNAVAILABLE with the report in "data"
 * (the file comment has the contract). */
static enum api_err health_ready(struct request *req, struct reply *rep)
{
	long schema = 0;
	/* the schema read is the database probe: always one round trip */
	bool db_ok = stats_schema_version(&schema) == E_OK;
	bool redis_ok = redis_recently_ok(HEALTH_PROBE_MS) || redis_ping();
	bool schema_ok = db_ok && schema >= AIPHOTO_SCHEMA_VERSION;
	json_object *o = json_object_new_object();

	(void)req;
	json_object_object_add(o, "status",
	                       json_object_new_string(!db_ok || !schema_ok ? "unavailable"
	                                              : redis_ok           ? "ok"
	                                                                   : "degraded"));
	json_object_object_add(o, "db", json_object_new_string(db_ok ? "ok" : "down"));
	json_object_object_add(o, "redis", json_object_new_string(redis_ok ? "ok" : "down"));
	json_object_object_add(o, "schema", db_ok ? json_object_new_int64(schema) : NULL);
	json_object_object_add(o, "schema_wanted", json_object_new_int(AIPHOTO_SCHEMA_VERSION));
	reply_ok(rep, 200, o);
	if (!db_ok)
		return reply_error(rep, E_UNAVAILABLE, "数据库不可用");
	if (!schema_ok)
		return reply_error(rep, E_UNAVAILABLE, "数据库结构未迁移到当前版本");
	return E_OK;
}

static const struct route health_list[] = {
    {.method = HTTP_GET, .pattern = "/health", .auth = AUTH_PUBLIC, .handler = health_get},
    {.method = HTTP_GET, .pattern = "/health/live", .auth = AUTH_PUBLIC, .handler = health_live},
    {.method = HTTP_GET, .pattern = "/health/ready", .auth = AUTH_PUBLIC, .handler = health_ready},
};

ROUTE_TABLE(health_routes, health_list);
