/*
 * handlers — the route tables of every resource file, collected by fcgi/routes.c.
 * Each handlers/<resource>.c exports exactly one table, <resource>_routes.
 */
#ifndef AIPHOTO_HANDLERS_H
#define AIPHOTO_HANDLERS_H

#include "fcgi/http.h"
#include "model/idempotency.h"

extern const struct route_table health_routes;
extern const struct route_table metrics_routes;
extern const struct route_table credits_routes;
extern const struct route_table scenes_routes;
extern const struct route_table user_routes;
extern const struct route_table events_routes;
extern const struct route_table auth_routes;
extern const struct route_table wechat_routes;
extern const struct route_table admin_routes;
extern const struct route_table payment_routes;
extern const struct route_table uploads_routes;
extern const struct route_table prompts_routes;
extern const struct route_table tasks_routes;
extern const struct route_table works_routes;
extern const struct route_table cloud_routes;
extern const struct route_table config_routes;
extern const struct route_table migrate_routes;

struct user;
struct work;

/* The API's User object: {"id","nickname","avatar_url","credits","invite_code","created_at",
 * "subscribed"}. */
json_object *handlers_user_json(const struct user *u);

/* A new token for user_id as {"token","expires_in"} added to obj (E_INTERNAL when signing
 * fails): a user token for the channel and its configured app (lib/config
 * config_channel_appid), or, for TOKEN_CHANNEL_NONE, an admin token (admins sign in with a
 * password, through no WeChat app). */
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

/* The API's Work object (handlers/works.c; tasks embed their works). */
json_object *works_json(const struct work *w);

/* The request's Idempotency-Key for model/idempotency, as the router checked it (.key NULL
 * when none was sent or the route takes none). */
struct idem_key handlers_idem_key(const struct request *req);

/* Parses a path id capture: a positive decimal integer; E_NOT_FOUND otherwise (an id
 * that cannot exist is answered as a missing one). */
enum api_err handlers_id(const struct request *req, int idx, int64_t *id);

#endif
