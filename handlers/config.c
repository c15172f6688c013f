/*
 * config — what a mini-program client needs to know before its first call.
 *
 * GET /config/backend?openid= (public) → 200 {"backend_type","server_url","gray_release",
 *   "gray_percent","decision"}: system_config.backend_config (a missing row reads as
 *   GRAY_DEFAULT_CONFIG: cloud, gray release off) and the gray-release decision for that
 *   openid, "server" or "cloud" (lib/gray.h; docs/gray-release.md).  Without openid (or
 *   with an empty one) the decision is backend_type's alone.  server_url is the stored one,
 *   else PUBLIC_BASE_URL.  The lists are never answered: they name other users.
 *   400 for an openid of more than 128 characters or not UTF-8; 503 database down.
 *   Per client address: 300 at once, then 10 a second (many users share a carrier's address).
 *
 * The document is read on every request, one primary-key statement with no per-worker
 * copy, so a change made with `aiphotoctl gray set` is what the next request answers.
 *
 * GET /config/pricing (public) → 200 {"photography","fitting"}: the credits one generated
 *   image costs, by task type — system_config.pricing with the defaults the task routes
 *   charge (photography 10, fitting 15), so that a page can show the price of a batch
 *   before it is asked for.  Same limit as /config/backend.
 */
#include "handlers/handlers.h"
#include "lib/config.h"
#include "lib/gray.h"
#include "model/system.h"

static enum api_err config_backend_get(struct request *req, struct reply *rep)
{
	const char *openid = request_query(req, "openid");
	struct gray_subject subject = {0};
	struct gray_config c;
	char *text;
	enum api_err err;
	json_object *o;

	if (openid != NULL && *openid == '\0')
		openid = NULL;
	if (openid != NULL && !gray_openid(openid, &subject.hash))
		return reply_error(rep, E_BAD_REQUEST,
		                   "openid: at most 128 characters of UTF-8 text");
	if ((err = system_backend_get(req->arena, openid, &text, &subject.white, &subject.black)) !=
	    E_OK)
		return err;
	gray_config_parse(req->arena, text, &c);
	o = json_object_new_object();
	json_object_object_add(o, "backend_type", json_object_new_string(c.backend_type));
	json_object_object_add(
	    o, "server_url",
	    json_object_new_string(c.server_url ? c.server_url : config_get()->public_base_url));
	json_object_object_add(o, "gray_release", json_object_new_boolean(c.gray_release));
	json_object_object_add(o, "gray_percent",
	                       c.percent_integral ? json_object_new_int64((int64_t)c.gray_percent)
	                                          : json_object_new_double(c.gray_percent));
	json_object_object_add(
	    o, "decision",
	    json_object_new_string(gray_backend_name(gray_decide(&c, openid ? &subject : NULL))));
	return reply_ok(rep, 200, o);
}

static enum api_err config_pricing_get(struct request *req, struct reply *rep)
{
	int64_t photo = 10, fitting = 15;
	json_object *o;

	handlers_config_int(req, "pricing", "photography", &photo);
	handlers_config_int(req, "pricing", "fitting", &fitting);
	o = json_object_new_object();
	json_object_object_add(o, "photography", json_object_new_int64(photo < 0 ? 0 : photo));
	json_object_object_add(o, "fitting", json_object_new_int64(fitting < 0 ? 0 : fitting));
	return reply_ok(rep, 200, o);
}

/* Anonymous and asked once per mini-program launch: generous, and let through while Redis
 * is down (a read of one row). */
static const struct rate_limit config_limit = {.name = "config", .per_minute = 600, .burst = 300};

static const struct route config_list[] = {
    {.method = HTTP_GET,
     .pattern = "/config/backend",
     .auth = AUTH_PUBLIC,
     .handler = config_backend_get,
     .limit = &config_limit},
    {.method = HTTP_GET,
     .pattern = "/config/pricing",
     .auth = AUTH_PUBLIC,
     .handler = config_pricing_get,
     .limit = &config_limit},
};

ROUTE_TABLE(config_routes, config_list);
