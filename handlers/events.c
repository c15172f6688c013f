/*
 * events — client analytics.
 *
 * POST /events (public, or user when a token is sent: it must then be valid, else 401)
 *   body ≤ 8 KiB application/json {"name": 1–64 characters, "props"?: object}
 *   → 204; 400 naming the field; 413 over 8 KiB; 415 not JSON; 503 database down.
 *   Per user (with a token) or per client address: 120 at once, then two a second, and
 *   256 KiB of bodies at once, then 4 MiB an hour → 429 with Retry-After (each event is a
 *   row: nobody may fill the table at will).
 */
#include "handlers/handlers.h"
#include "lib/jsonx.h"
#include "model/events.h"

static enum api_err events_post(struct request *req, struct reply *rep)
{
	const char *why = NULL, *name = NULL;
	json_object *props = NULL;
	enum api_err err;

	if ((err = jsonx_require_object(req->arena, req->json, &why)) != E_OK ||
	    (err = jsonx_string(req->arena, req->json, "name", true, 1, 64, &name, &why)) != E_OK ||
	    (err = jsonx_object(req->arena, req->json, "props", false, &props, &why)) != E_OK)
		return reply_error(rep, err, why);
	err = events_insert(req->arena, req->user_id, name,
	                    props ? jsonx_text(req->arena, props) : "{}", req->remote_addr);
	if (err == E_NOT_FOUND)
		return reply_error(rep, E_UNAUTHORIZED, "用户不存在");
	if (err != E_OK)
		return err;
	return reply_ok(rep, 204, NULL);
}

static const struct rate_limit events_limit = {.name = "events",
                                               .per_minute = 120,
                                               .burst = 120,
                                               .bytes_per_hour = 4LL * 1024 * 1024,
                                               .bytes_burst = 256LL * 1024};

static const struct route events_list[] = {
    {.method = HTTP_POST,
     .pattern = "/events",
     .auth = AUTH_OPTIONAL,
     .body = BODY_JSON,
     .max_body = 8192,
     .handler = events_post,
     .limit = &events_limit},
};

ROUTE_TABLE(events_routes, events_list);
