/*
 * admin_stats — the dashboard's figures.
 *
 * GET /admin/stats (viewer) → 200 {"day": today (Asia/Shanghai), "users":{"total",
 *     "new_today","dau"}, "orders_today":{"orders","revenue_fen"}, "by_day":[{"day","orders",
 *     "revenue_fen","tasks","new_users"}] (the 30 days up to today, oldest first),
 *     "credits_today":{"issued","spent","refunded","taken_back","by_kind"},
 *     "tasks":{"created_today":{status: n},"open":{"queued","running"}},
 *     "queue":{"depth","due","running","oldest_queued_seconds"},
 *     "providers":[{"ai_model_id","name","succeeded","failed","success_rate","p95_ms"}]
 *     (work items ended in the last 24 h, by model)} — model/stats.h says what each counts.
 *     On a development stack the header X-Test-Date: YYYY-MM-DD sets the day.  503 database
 *     down.
 */
#include "handlers/handlers.h"
#include "lib/jsonx.h"
#include "model/stats.h"

static enum api_err stats_get(struct request *req, struct reply *rep)
{
	struct stats_dashboard s;
	char today[11];
	enum api_err err;
	json_object *o;

	if ((err = handlers_today(req, rep, today)) != E_OK ||
	    (err = stats_dashboard(req->arena, today, &s)) != E_OK)
		return err;
	o = json_object_new_object();
	json_object_object_add(o, "day", json_object_new_string(today));
	json_object_object_add(o, "users", jsonx_parse_or_empty(s.users));
	json_object_object_add(o, "orders_today", jsonx_parse_or_empty(s.orders_today));
	json_object_object_add(o, "by_day", json_tokener_parse(s.by_day ? s.by_day : "[]"));
	json_object_object_add(o, "credits_today", jsonx_parse_or_empty(s.credits_today));
	json_object_object_add(o, "tasks", jsonx_parse_or_empty(s.tasks));
	json_object_object_add(o, "queue", jsonx_parse_or_empty(s.queue));
	json_object_object_add(o, "providers",
	                       json_tokener_parse(s.providers ? s.providers : "[]"));
	return reply_ok(rep, 200, o);
}

static const struct route admin_stats_list[] = {
    {.method = HTTP_GET,
     .pattern = "/admin/stats",
     .auth = AUTH_ADMIN,
     .role = ROLE_VIEWER,
     .handler = stats_get},
};

ROUTE_TABLE(admin_stats_routes, admin_stats_list);
