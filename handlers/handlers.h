/*
 * handlers — the route tables of every resource file, collected by fcgi/routes.c.
 * Each handlers/<resource>.c exports exactly one table, <resource>_routes.
 */
#ifndef AIPHOTO_HANDLERS_H
#define AIPHOTO_HANDLERS_H

#include "fcgi/http.h"
#include "model/audit.h"
#include "model/idempotency.h"
#include "model/view.h"

extern const struct route_table health_routes;
extern const struct route_table metrics_routes;
extern const struct route_table credits_routes;
extern const struct route_table scenes_routes;
extern const struct route_table user_routes;
extern const struct route_table events_routes;
extern const struct route_table auth_routes;
extern const struct route_table wechat_routes;
extern const struct route_table admin_routes;
extern const struct route_table admin_accounts_routes;
extern const struct route_table admin_users_routes;
extern const struct route_table admin_stats_routes;
extern const struct route_table admin_content_routes;
extern const struct route_table admin_models_routes;
extern const struct route_table admin_config_routes;
extern const struct route_table admin_tasks_routes;
extern const struct route_table admin_refunds_routes;
extern const struct route_table admin_config_routes;
extern const struct route_table payment_routes;
extern const struct route_table uploads_routes;
extern const struct route_table prompts_routes;
extern const struct route_table tasks_routes;
extern const struct route_table media_routes;
extern const struct route_table works_routes;
extern const struct route_table cloud_routes;
extern const struct route_table config_routes;
extern const struct route_table migrate_routes;

struct user;
struct work;

/* The API's User object: {"id","nickname","avatar_url","credits","invite_code","created_at",
 * "subscribed"}. */
json_object *handlers_user_json(const struct user *u);

/* A new user token for user_id as {"token","expires_in"} added to obj (E_INTERNAL when
 * signing fails): for the channel and its configured app (lib/config config_channel_appid);
 * TOKEN_CHANNEL_NONE makes none (admin tokens come from handlers/admin.c, with a role). */
enum api_err handlers_add_token(json_object *obj, int64_t user_id, enum token_channel channel);

/* Reads system_config[key].field as an integer into *out; leaves *out (the default) as it
 * is when the key, the field or the database is missing. */
void handlers_config_int(struct request *req, const char *key, const char *field, int64_t *out);

/* The pagination query of API.md: ?limit= (1-50, default 12) and ?cursor= (opaque: the
 * last id of the previous page).  E_BAD_REQUEST naming the parameter. */
enum api_err handlers_page_params(struct request *req, struct reply *rep, long *limit,
                                  long *before_id);
/* {"items": items, "next_cursor": last_id as a string when more, else null} (takes items). */
json_object *handlers_page(struct request *req, json_object *items, bool more, int64_t last_id);

/* Loads the user and answers {"token","expires_in","user"} (the login answer) with a token of
 * the channel the user signed in through. */
enum api_err handlers_login_reply(struct request *req, struct reply *rep, int64_t user_id,
                                  enum token_channel channel);

struct image_info;

/* The image of an upload request (handlers/uploads.c, shared with the scene thumbnails of
 * the admin API): the "file" part of a multipart form or the raw body, checked before anything
 * is stored (empty → 400, over 10 MiB → 413, not JPEG/PNG/WebP → 415, no pixels or over 40
 * megapixels → 400, each message naming "file").  *data points into the request. */
enum api_err uploads_image(struct request *req, struct reply *rep, const unsigned char **data,
                           size_t *len, struct image_info *info);

/* The API's Work object (handlers/works.c; tasks embed their works). */
json_object *works_json(const struct work *w);

/* The request's Idempotency-Key for model/idempotency, as the router checked it (.key NULL
 * when none was sent or the route takes none). */
struct idem_key handlers_idem_key(const struct request *req);

/* Parses a path id capture: a positive decimal integer; E_NOT_FOUND otherwise (an id
 * that cannot exist is answered as a missing one). */
enum api_err handlers_id(const struct request *req, int idx, int64_t *id);

/* The business day of the request (lib/bizday, "YYYY-MM-DD") into today; on a development
 * stack the header X-Test-Date: YYYY-MM-DD sets it (tests cross midnight with it): another
 * form of it → E_BAD_REQUEST naming it. */
enum api_err handlers_today(struct request *req, struct reply *rep, char today[11]);

/* A new WeChat Pay merchant number (out_trade_no, out_refund_no): prefix (2 letters) + UTC
 * time to the hundredth of a second (16 digits) + 8 random hex digits.  NULL when the random
 * source fails. */
const char *handlers_pay_no(struct arena *a, const char *prefix);

/* ------------------------------------------------------------------ the admin API */

/* Who an admin request acts as, for the audit log: the token's admin, the request id, the
 * client address. */
struct audit_actor handlers_actor(const struct request *req);

/* The admin lists' paging (?limit= 1-50, default 20, and ?cursor=) as a view_cursor;
 * E_BAD_REQUEST naming the parameter. */
enum api_err handlers_view_cursor(struct request *req, struct reply *rep, struct view_cursor *c);
/* A page of model/view rows as {"items":[…],"next_cursor"}. */
json_object *handlers_view_page(struct request *req, const struct view_page *p);
/* An array of model/view rows. */
json_object *handlers_view_array(const char *const *rows, size_t n);
/* The path's id (handlers_id: E_NOT_FOUND) of a route whose body is a JSON object (else
 * E_BAD_REQUEST naming it); optional: no body at all is fine too. */
enum api_err handlers_id_object(struct request *req, struct reply *rep, bool optional, int64_t *id);
/* An optional positive id query parameter (?user=12): *id 0 when absent or empty;
 * E_BAD_REQUEST naming it otherwise. */
enum api_err handlers_query_id(struct request *req, struct reply *rep, const char *name,
                               int64_t *id);

#endif
