/*
 * health — GET /health (public).
 *
 * Answers {"status":"ok"|"degraded","db":"ok"|"down","redis":"ok"|"down","version":…}:
 * 200 while the database answers (status "degraded" when only Redis is down), 503
 * UNAVAILABLE with the same report in "data" when the database is down.
 * A dependency that answered this worker less than HEALTH_PROBE_MS ago, on a connection
 * that is still open, is not probed again: a stopped database shows within that time,
 * and a health check under load costs no round trips.
 */
#include "handlers/handlers.h"
#include "lib/redis.h"
#include "lib/db.h"
#include "model/system.h"

#define HEALTH_PROBE_MS 1000

static enum api_err health_get(struct request *req, struct reply *rep)
{
	bool db_ok = db_recently_ok(HEALTH_PROBE_MS) || system_ping() == E_OK;
	bool redis_ok = redis_recently_ok(HEALTH_PROBE_MS) || redis_ping();
	json_object *o = json_object_new_object();

	(void)req;
	json_object_object_add(o, "status",
	                       json_object_new_string(db_ok && redis_ok ? "ok" : "degraded"));
	json_object_object_add(o, "db", json_object_new_string(db_ok ? "ok" : "down"));
	json_object_object_add(o, "redis", json_object_new_string(redis_ok ? "ok" : "down"));
	json_object_object_add(o, "version", json_object_new_string(AIPHOTO_VERSION));
	reply_ok(rep, 200, o);
	if (!db_ok)
		return reply_error(rep, E_UNAVAILABLE, "数据库不可用");
	return E_OK;
}

static const struct route health_list[] = {
    {.method = HTTP_GET, .pattern = "/health", .auth = AUTH_PUBLIC, .handler = health_get},
};

ROUTE_TABLE(health_routes, health_list);
