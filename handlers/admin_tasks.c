/*
 * admin_tasks — every user's tasks and orders, as the operators watch and mend them.
 *
 * GET  /admin/tasks?status=&type=&model=&user=&limit=&cursor= (viewer) → 200 {"items":[task],
 *      "next_cursor"}, newest first; status one of queued, running, completed, partial,
 *      failed, canceled; type photography | fitting; model an AI model id an item ran on; user
 *      a user id.  A task = its counters and money ("credits_charged","credits_refunded") and
 *      "items": each work item with its "status","attempt","max_attempts","ai_model_id",
 *      "error_code","error","image_url","refunded","finished_at" (model/tasks.h).
 * GET  /admin/tasks/:id (viewer) → 200 the task with "prompt","negative_prompt","params" and its
 *      inputs; 404.
 * POST /admin/tasks/:id/retry (operator) → 200 {"requeued": n, "task"}: the failed items are
 *      queued again (three more attempts each) and the task is open again (its end is not
 *      notified a second time: one notice per task); nothing is charged
 *      (their prices went back when they failed: they are free now), and an item that fails
 *      again is not refunded again.  Audited (task.retry).  No item to retry → 409; 404.
 * POST /admin/tasks/:id/cancel (operator) → 200 {"canceled": n, "task"}: the queued items are
 *      canceled and the price of those not refunded before goes back once, as the owner's
 *      own cancel does; an ended task changes nothing ("canceled": 0).  Audited (task.cancel)
 *      when it cancels something.  404.
 * GET  /admin/orders?status=&user=&limit=&cursor= (viewer) → 200 {"items":[order],
 *      "next_cursor"}, newest first; status created | paid | closed | refunded; each order with
 *      "trade_state", WeChat Pay's last word on it (model/sql.h SQL_ORDER_JSON).
 * 400 names the parameter; 503 database down.
 */
#include <string.h>

#include "handlers/handlers.h"
#include "lib/jsonx.h"
#include "model/orders.h"
#include "model/tasks.h"

/* An optional query parameter that must be one of choices (NULL-terminated): *out NULL when
 * absent or empty. */
static enum api_err admin_tasks_choice(struct request *req, struct reply *rep, const char *name,
                                       const char *const *choices, const char **out)
{
	const char *s = request_query(req, name), *list = "";

	*out = NULL;
	if (s == NULL || *s == '\0')
		return E_OK;
	for (const char *const *c = choices; *c != NULL; c++) {
		if (strcmp(*c, s) == 0) {
			*out = s;
			return E_OK;
		}
		list = arena_printf(req->arena, "%s%s%s", list, *list ? ", " : "", *c);
	}
	return reply_error(rep, E_BAD_REQUEST,
	                   arena_printf(req->arena, "%s: one of %s", name, list));
}

static enum api_err admin_tasks_list(struct request *req, struct reply *rep)
{
	static const char *const statuses[] = {"queued", "running",  "completed", "partial",
	                                       "failed", "canceled", NULL};
	static const char *const types[] = {"photography", "fitting", NULL};
	struct tasks_filter f = {0};
	struct view_cursor c;
	struct view_page pg;
	enum api_err err;

	if ((err = handlers_view_cursor(req, rep, &c)) != E_OK ||
	    (err = admin_tasks_choice(req, rep, "status", statuses, &f.status)) != E_OK ||
	    (err = admin_tasks_choice(req, rep, "type", types, &f.type)) != E_OK ||
	    (err = handlers_query_id(req, rep, "user", &f.user_id)) != E_OK ||
	    (err = handlers_query_id(req, rep, "model", &f.model_id)) != E_OK ||
	    (err = tasks_admin_list(req->arena, &f, &c, &pg)) != E_OK)
		return err;
	return reply_ok(rep, 200, handlers_view_page(req, &pg));
}

static enum api_err admin_tasks_get(struct request *req, struct reply *rep)
{
	int64_t id;
	char *json;
	enum api_err err;

	if ((err = handlers_id(req, 0, &id)) != E_OK ||
	    (err = tasks_admin_get(req->arena, id, &json)) != E_OK)
		return err;
	return reply_ok(rep, 200, jsonx_parse_or_empty(json));
}

/* {"<count_name>": n, "task": the task after}. */
static enum api_err admin_tasks_done(struct reply *rep, const char *count_name, int n,
                                     const char *json)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, count_name, json_object_new_int(n));
	json_object_object_add(o, "task", jsonx_parse_or_empty(json));
	return reply_ok(rep, 200, o);
}

static enum api_err admin_tasks_retry(struct request *req, struct reply *rep)
{
	struct audit_actor who = handlers_actor(req);
	int64_t id;
	int n = 0;
	char *json;
	enum api_err err;

	if ((err = handlers_id(req, 0, &id)) != E_OK)
		return err;
	err = tasks_admin_retry(req->arena, &who, id, &n, &json);
	if (err == E_CONFLICT)
		return reply_error(rep, err, "没有可重试的失败项 (no failed item to retry)");
	if (err != E_OK)
		return err;
	return admin_tasks_done(rep, "requeued", n, json);
}

static enum api_err admin_tasks_cancel(struct request *req, struct reply *rep)
{
	struct audit_actor who = handlers_actor(req);
	int64_t id;
	int n = 0;
	char *json;
	enum api_err err;

	if ((err = handlers_id(req, 0, &id)) != E_OK ||
	    (err = tasks_admin_cancel(req->arena, &who, id, &n, &json)) != E_OK)
		return err;
	return admin_tasks_done(rep, "canceled", n, json);
}

static enum api_err admin_orders_list(struct request *req, struct reply *rep)
{
	static const char *const statuses[] = {"created",  "paid", "closed", "partially_refunded",
	                                       "refunded", NULL};
	const char *status = NULL;
	int64_t user_id = 0;
	struct view_cursor c;
	struct view_page pg;
	enum api_err err;

	if ((err = handlers_view_cursor(req, rep, &c)) != E_OK ||
	    (err = admin_tasks_choice(req, rep, "status", statuses, &status)) != E_OK ||
	    (err = handlers_query_id(req, rep, "user", &user_id)) != E_OK ||
	    (err = orders_admin_list(req->arena, status, user_id, &c, &pg)) != E_OK)
		return err;
	return reply_ok(rep, 200, handlers_view_page(req, &pg));
}

static const struct route admin_tasks_routes_list[] = {
    {.method = HTTP_GET,
     .pattern = "/admin/tasks",
     .auth = AUTH_ADMIN,
     .role = ROLE_VIEWER,
     .handler = admin_tasks_list},
    {.method = HTTP_GET,
     .pattern = "/admin/tasks/:id",
     .auth = AUTH_ADMIN,
     .role = ROLE_VIEWER,
     .handler = admin_tasks_get},
    {.method = HTTP_POST,
     .pattern = "/admin/tasks/:id/retry",
     .auth = AUTH_ADMIN,
     .role = ROLE_OPERATOR,
     .body = BODY_JSON_OPTIONAL,
     .max_body = 1024,
     .handler = admin_tasks_retry},
    {.method = HTTP_POST,
     .pattern = "/admin/tasks/:id/cancel",
     .auth = AUTH_ADMIN,
     .role = ROLE_OPERATOR,
     .body = BODY_JSON_OPTIONAL,
     .max_body = 1024,
     .handler = admin_tasks_cancel},
    {.method = HTTP_GET,
     .pattern = "/admin/orders",
     .auth = AUTH_ADMIN,
     .role = ROLE_VIEWER,
     .handler = admin_orders_list},
};

ROUTE_TABLE(admin_tasks_routes, admin_tasks_routes_list);
