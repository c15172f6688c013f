/*
 * router — matches a request against the route tables and applies every cross-cutting
 * policy before the handler runs (DESIGN §3), in this order:
 *   path under /api/v1 (or, for ROUTE_CLOUD routes, under /api but not /api/v1)
 *   and a pattern matching it                       else 404 NOT_FOUND
 *   (OPTIONS: 204 + Allow, a CORS preflight's headers for an allowed Origin; nothing below)
 *   the method among that pattern's routes          else 405 METHOD_NOT_ALLOWED + Allow
 *   auth level (token checked by lib/token)          else 401 UNAUTHORIZED / 403 FORBIDDEN
 *   account rule (a user token's user is active)     else 401 (no such user) / 403 (disabled)
 *   (an admin token's admin is active, has the token's role and session version)
 *                                                    else 401 UNAUTHORIZED
 *   the route's least admin role (AUTH_ADMIN routes) else 403 FORBIDDEN
 *   rate-limit class                                 else 429 RATE_LIMITED + Retry-After
 *   Idempotency-Key: 1-64 characters when sent,
 *   and sent on IDEMPOTENCY_REQUIRED routes          else 400 BAD_REQUEST (ROUTER_IDEM_MESSAGE)
 *   body size (Content-Length, then bytes read)      else 413 PAYLOAD_TOO_LARGE
 *   content type for JSON routes                     else 415 UNSUPPORTED_MEDIA_TYPE
 *   JSON syntax (depth ≤ 16, UTF-8, no trailing data) else 400 BAD_REQUEST
 * A handler may therefore assume an authenticated caller of the right kind, for
 * BODY_JSON routes a parsed req->json, and with req->idempotency_key a well-formed key and
 * its request fingerprint req->idempotency_hash (sha256 of method, route pattern, the path's
 * captures and body — the JSON re-serialised, so spacing does not count; key order does).
 */
#ifndef AIPHOTO_ROUTER_H
#define AIPHOTO_ROUTER_H

#include "fcgi/http.h"

#define ROUTER_PREFIX "/api/v1"
/* The prefix of the cloud-function adapter's paths (ROUTE_CLOUD routes): /api/<rest> where
 * <rest> is not under /v1. */
#define ROUTER_CLOUD_PREFIX "/api"
#define ROUTER_MAX_DRAIN (64L * 1024 * 1024)
/* The one answer to a missing or malformed Idempotency-Key. */
#define ROUTER_IDEM_MESSAGE "Idempotency-Key: a header of 1-64 characters is required"
/* The one message of 409 IDEMPOTENCY_MISMATCH, whichever route's model found it. */
#define ROUTER_IDEM_MISMATCH "Idempotency-Key: already used with a different request"

/*
 * Finds the route for req->method and req->path.  E_OK sets req->route and the
 * captures; E_METHOD_NOT_ALLOWED sets *allow (arena string, e.g. "GET, POST") and
 * req->log_route (the first pattern the path matched: the access log and the metrics name it,
 * not the path).
 */
enum api_err router_match(const struct route_table *const *tables, size_t ntables,
                          struct request *req, const char **allow);

/* Match, policy, handler.  Returns the final error; rep is filled for the writer.  With
 * CORS_ALLOWED_ORIGINS set, rep->vary_origin, and rep->cors_origin for an allowed Origin,
 * are set for every answer (docs/security.md, "CORS"). */
enum api_err router_dispatch(const struct route_table *const *tables, size_t ntables,
                             struct request *req, struct reply *rep);

/*
 * The rate-limit check, run after authentication for routes with a limit class: once for
 * the request count (bytes 0), then, when the class has a byte budget and the request a
 * body, once more with bytes = router_byte_cost(req).  E_OK to go on, E_RATE_LIMITED with
 * *retry_after (seconds), or E_UNAVAILABLE.  Installed by the worker (fcgi/main.c, Redis);
 * NULL (unit tests, fuzzers) lets every request through.
 */
extern enum api_err (*router_limit_hook)(const struct request *req, const struct rate_limit *rl,
                                         long long bytes, long *retry_after);

/*
 * What a matched request costs against its class's byte budget: the Content-Length (a body
 * of unknown length counts as the route's max_body), at most max_body (larger is refused
 * with 413 anyway) and at most bytes_burst (so one request is never refused forever).
 * 0 when the class has no byte budget or the request no body.
 */
long long router_byte_cost(const struct request *req);

/*
 * The account check, run after authentication for user tokens on ACCOUNT_ACTIVE routes:
 * E_OK, E_UNAUTHORIZED (the user does not exist), E_FORBIDDEN (disabled) or E_UNAVAILABLE.
 * Installed by the worker (fcgi/main.c, the users model); NULL (unit tests, fuzzers) lets
 * every token through.
 */
extern enum api_err (*router_account_hook)(struct request *req);

/*
 * The account check of admin tokens on ACCOUNT_ACTIVE routes (every admin route): E_OK when
 * the admin req->admin_id exists, is not disabled, has the role req->role and the session
 * version req->admin_session; E_UNAUTHORIZED with *why (a literal) otherwise, or
 * E_UNAVAILABLE.  Installed by the worker (fcgi/main.c, the admins model); NULL (unit tests,
 * fuzzers) lets every admin token through to the role check.
 */
extern enum api_err (*router_admin_hook)(struct request *req, const char **why);

/* The route tables of the service (fcgi/routes.c). */
extern const struct route_table *const router_tables[];
extern const size_t router_ntables;

#endif
