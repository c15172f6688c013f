/*
 * httpc — outbound HTTP for WeChat, WeChat Pay and AI providers (libcurl).
 *
 * One curl handle per process, reused (keep-alive), reset between calls.  Every call has
 * a connect timeout (3 s) and a total timeout; redirects are never followed; the answer
 * body is capped (HTTPC_MAX_BODY).  In production only https:// URLs are allowed; on a
 * development stack (AIPHOTO_ENV=development) http:// to any host is allowed too, so the
 * simulator can stand in for the real services.
 */
#ifndef AIPHOTO_HTTPC_H
#define AIPHOTO_HTTPC_H

#include <stddef.h>

#include "lib/arena.h"
#include "lib/errors.h"

#define HTTPC_MAX_BODY (4L * 1024 * 1024)

struct httpc_response {
	long status; /* HTTP status */
	char *body; /* NUL-terminated arena copy */
	size_t len;
	const char *header_names[8]; /* response headers the caller asked for (see want) */
	const char *header_values[8];
};

struct httpc_request {
	const char *method; /* "GET", "POST" */
	const char *url;
	const char *const *headers; /* "Name: value" strings, NULL-terminated; may be NULL */
	const char *body; /* NULL for none */
	size_t body_len;
	long timeout_ms; /* total; 0 = 10 s */
	const char *const *want; /* response header names to capture (≤ 8), NULL-terminated */
};

/*
 * Performs the request.  E_OK whatever the HTTP status (check out->status);
 * E_UPSTREAM_ERROR when the server cannot be reached, the connection breaks, the body is
 * too large, or the URL is not allowed; E_TIMEOUT when the time limit passes.
 */
enum api_err httpc_do(struct arena *a, const struct httpc_request *req, struct httpc_response *out);

/* Percent-encodes s for a query value (arena copy). */
char *httpc_escape(struct arena *a, const char *s);

void httpc_fini(void);

#endif
