/*
 * http — the request and reply seen by the router and the handlers.
 *
 * Nothing here depends on libfcgi: fcgi/main.c fills struct request from the FastCGI
 * params and writes struct reply back, so the router and every handler can be driven
 * by unit tests and fuzzers with plain memory.
 */
#ifndef AIPHOTO_HTTP_H
#define AIPHOTO_HTTP_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"
#include "lib/role.h"
#include "lib/token.h"

enum http_method { HTTP_GET, HTTP_POST, HTTP_PUT, HTTP_PATCH, HTTP_DELETE, HTTP__MAX };

/* Who may call a route (checked by the router before the handler runs). */
enum auth_level {
	AUTH_PUBLIC, /* anyone; an Authorization header is ignored */
	AUTH_OPTIONAL, /* anyone; a token, when sent, must be a valid user token */
	AUTH_USER, /* a valid user token */
	AUTH_ADMIN, /* a valid admin token (a user token → 403) of at least the route's role */
	AUTH_SIGNED /* WeChat callbacks: the handler verifies their own signature */
};

/* Whose token a route accepts (checked by the router after the token, DESIGN §7). */
enum account_rule {
	ACCOUNT_ACTIVE, /* the default: the token's user exists (else 401) and is not disabled
	                   (else 403), read once per request, so disabling works at once; for
	                   an admin token, the admin exists, is not disabled and still has the
	                   token's role and session version (else 401) */
	ACCOUNT_ANY /* the token alone (no route uses it today; for a route that must still
	               answer a disabled user, say so where it is used) */
};

/* Whether a route takes a client Idempotency-Key (checked by the router, API.md): the
 * header, when sent, must be 1-64 characters; model/idempotency does the rest. */
enum idempotency_rule {
	IDEMPOTENCY_NONE, /* the default: the header is ignored (req->idempotency_key NULL) */
	IDEMPOTENCY_OPTIONAL, /* a key may be sent */
	IDEMPOTENCY_REQUIRED /* a key must be sent (else 400) */
};

/* What body a route takes. */
enum body_kind {
	BODY_NONE, /* any body is discarded */
	BODY_JSON, /* application/json, required, parsed into req->json */
	BODY_JSON_OPTIONAL, /* application/json when present */
	BODY_RAW /* any type, read into req->body (the handler checks it) */
};

#define ROUTE_MAX_CAPTURES 4
#define QUERY_MAX_PARAMS 64

struct query_param {
	const char *name; /* percent-decoded, NUL-terminated */
	const char *value; /* percent-decoded; "" for a bare name */
};

struct request {
	struct arena *arena;
	char **env; /* the CGI/FastCGI params, for rarely used headers */
	enum http_method method;
	const char *method_name; /* as sent */
	const char *path; /* REQUEST_URI up to '?', undecoded */
	const char *query; /* after '?', undecoded; "" when absent */
	struct query_param *params; /* decoded query */
	size_t nparams;
	const char *content_type; /* NULL when absent */
	long long content_length; /* -1 when absent */
	const char *authorization;
	const char *idempotency_key; /* NULL when absent or ignored by the route */
	const char *idempotency_hash; /* with a key: sha256 hex of method, route, captures, body */
	const char *remote_addr;
	const char *request_id; /* ours: echoed or generated */
	const struct route *route; /* set by the router */
	const char *log_route; /* what the access log names instead of route->pattern (a cloud
	                          action: "cloud user.register"); NULL: the pattern */
	const char *captures[ROUTE_MAX_CAPTURES]; /* ":name" segments, percent-decoded */
	int ncaptures;
	bool authenticated; /* a valid token was presented */
	bool admin; /* ... with audience admin */
	int64_t user_id; /* a user token's subject; 0 = none (also for admin tokens) */
	int64_t admin_id; /* an admin token's subject; 0 = none (also for user tokens) */
	enum role role; /* an admin token's role (checked against the admin's by the router) */
	long admin_session; /* an admin token's session version (checked like the role) */
	/* Which app is calling, from a user token (set by the router): the channel the token was
	 * issued for (TOKEN_CHANNEL_OA for tokens issued before channels) and that app's appid, the
	 * configured one of the channel (lib/config config_channel_appid; the token's own when
	 * that app is not configured, NULL when neither names one).  NONE and NULL for admin
	 * tokens and requests without a token. */
	enum token_channel channel;
	const char *appid;
	char *body; /* NUL-terminated copy in the arena; NULL when none */
	size_t body_len;
	json_object *json; /* parsed body for BODY_JSON routes (freed by the worker) */
	/* Reads up to n body bytes; returns the count, 0 at the end, -1 on error. */
	long (*read_body)(void *ctx, char *buf, size_t n);
	void *read_ctx;
};

struct reply {
	int status; /* 0: derived from the error (or 200 on success) */
	json_object *data; /* success payload (owned; NULL renders null) */
	const char *message; /* error detail for the envelope (names the field) */
	const char *allow; /* Allow header (405) */
	long retry_after; /* Retry-After seconds (429), 0 = none */
	const char *location; /* Location header (302) */
	const char *set_cookie; /* Set-Cookie header value, NULL = none */
	const char *raw_type; /* non-JSON body: Content-Type */
	const char *raw; /* non-JSON body */
	size_t raw_len;
	/* The absolute path of a file that the front end sends as the body (with raw_type); the
	 * worker sends headers only: X-Sendfile for lighttpd ("allow-x-send-file" in the
	 * fastcgi.server block), or, with MEDIA_SENDFILE=x-accel-redirect, X-Accel-Redirect to
	 * nginx's internal location CONFIG_ACCEL_MEDIA_PREFIX + the path below MEDIA_DIR (a path
	 * outside MEDIA_DIR then answers 500: nginx could not reach it). */
	const char *sendfile;
	const char *disposition; /* Content-Disposition header, NULL = none */
	/*
	 * Streaming mode, for bodies too large to build in memory (the batch ZIP): on success
	 * the worker writes the headers (raw_type, no Content-Length: lighttpd sends the body
	 * chunked), then calls stream(stream_ctx, write, wctx), which hands the body over in
	 * pieces through write (0, or -1 once the client is gone) and returns 0, or -1 to cut
	 * the body short: after the first byte the status cannot change any more, so a failure
	 * leaves the client with a truncated body (for a ZIP, one without its central
	 * directory, which no unzip accepts).  Everything that can fail with a status (the
	 * database, ownership, the size cap) is decided by the handler before it returns.
	 */
	int (*stream)(void *ctx, int (*write)(void *wctx, const void *buf, size_t n), void *wctx);
	void *stream_ctx;
	/* CORS (set by the router, docs/security.md): vary_origin when CORS_ALLOWED_ORIGINS is
	 * set (the answer depends on the Origin header); cors_origin the request's Origin when it
	 * is one of them (echoed, with credentials; never "*"); preflight for an OPTIONS request
	 * on a path that has routes (204, allow then lists their methods). */
	bool vary_origin;
	const char *cors_origin;
	bool preflight;
};

typedef enum api_err route_handler(struct request *req, struct reply *rep);

/*
 * A rate-limit class (DESIGN §7): at most `burst` requests at once, refilled at per_minute,
 * counted per user on routes that need a token, else per client address.  Optionally a
 * byte budget as well (bytes_per_hour > 0): at most bytes_burst body bytes at once, refilled
 * at bytes_per_hour, each request costing its Content-Length (see router_byte_cost).  Both
 * are applied by the router before the body is read; either refuses with 429 + Retry-After.
 * While Redis is unreachable a class lets requests through (with a log line) unless
 * fail_closed.
 */
struct rate_limit {
	const char *name; /* key part: rl:<name>:<subject>, rlb:<name>:<subject> for bytes */
	int per_minute;
	int burst;
	long long bytes_per_hour; /* 0: no byte budget */
	long long bytes_burst;
	bool fail_closed;
};

/* Which path prefix a route's pattern is below (checked by the router). */
enum route_prefix {
	ROUTE_V1, /* the default: /api/v1, the API of API.md */
	ROUTE_CLOUD /* /api but not /api/v1: the paths the mini program's cloud-function adapter
	               sends (handlers/cloud.c); never matched by a path under /api/v1/ */
};

struct route {
	enum http_method method;
	const char *pattern; /* below the prefix, e.g. "/scenes/:id" */
	enum auth_level auth;
	enum account_rule account; /* for user tokens; ACCOUNT_ACTIVE unless set */
	enum body_kind body;
	size_t max_body; /* bytes; larger bodies answer 413 */
	route_handler *handler;
	const struct rate_limit *limit; /* NULL: none */
	enum idempotency_rule idempotency; /* IDEMPOTENCY_NONE unless set */
	enum route_prefix prefix; /* ROUTE_V1 unless set */
	enum role role; /* AUTH_ADMIN: the least role allowed (lib/role.h); unset = owner only */
};

struct route_table {
	const struct route *routes;
	size_t n;
};

#define ROUTE_TABLE(name, arr) \
	const struct route_table name = {.routes = (arr), .n = sizeof(arr) / sizeof((arr)[0])}

/* Sets an error reply with a detail message and returns err, for
 * `return reply_error(rep, E_BAD_REQUEST, "name: …")` in handlers.  The pointer is stored, not
 * copied: message must live until the reply is written (a literal, or the request arena). */
enum api_err reply_error(struct reply *rep, enum api_err err, const char *message);
/* Sets a success reply: status (200, 201, 202, 204) and data (ownership moves in). */
enum api_err reply_ok(struct reply *rep, int status, json_object *data);

/* The value of query parameter name, or NULL. */
const char *request_query(const struct request *req, const char *name);
/* A param from the environment ("HTTP_X_FOO"), or NULL. */
const char *request_env(const struct request *req, const char *name);

const char *http_method_name(enum http_method m);
/* Returns HTTP__MAX for an unknown method. */
enum http_method http_method_parse(const char *s);

#endif
