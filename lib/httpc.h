/*
 * httpc — outbound HTTP for WeChat, WeChat Pay and AI providers (libcurl).
 *
 * The only module that sets up libcurl handles.  httpc_do() is the synchronous path (one
 * curl handle per process, reused for keep-alive, reset between calls); the dispatcher
 * drives its provider calls concurrently with curl multi, on easy handles prepared by
 * httpc_easy_setup(), so both paths apply the same options: a connect timeout (3 s) and a
 * total timeout, redirects never followed, no signals, the outbound policy of
 * lib/netpolicy.h on the scheme and on every address a socket is opened to (https only and
 * no private addresses in production; on a development stack, AIPHOTO_ENV=development,
 * http:// and loopback too, so the simulator can stand in for the real services).
 */
#ifndef AIPHOTO_HTTPC_H
#define AIPHOTO_HTTPC_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/arena.h"
#include "lib/errors.h"

#define HTTPC_MAX_BODY (4L * 1024 * 1024)

struct httpc_response {
	long status; /* HTTP status */
	char *body; /* NUL-terminated arena copy */
	size_t len;
	bool too_large; /* the answer passed the request's max_body (httpc_do answered an error) */
	const char *header_names[8]; /* response headers the caller asked for (see want) */
	const char *header_values[8];
};

struct httpc_request {
	const char *method; /* "GET", "POST", "PUT"; "HEAD" asks for the headers only */
	const char *url;
	const char *const *headers; /* "Name: value" strings, NULL-terminated; may be NULL */
	const char *body; /* NULL for none */
	size_t body_len;
	long timeout_ms; /* total; 0 = 10 s */
	const char *const *want; /* response header names to capture (≤ 8), NULL-terminated */
	size_t max_body; /* largest answer body; 0 = HTTPC_MAX_BODY */
	/* AWS Signature V4 by libcurl (CURLOPT_AWS_SIGV4), e.g. "aws:amz:ap-shanghai:s3", with
	 * the credentials "key id:secret" (CURLOPT_USERPWD; never logged); NULL: unsigned.
	 * libcurl signs the headers given here too: the caller sends x-amz-content-sha256. */
	const char *aws_sigv4;
	const char *userpwd;
};

/*
 * Performs the request.  E_OK whatever the HTTP status (check out->status);
 * E_UPSTREAM_ERROR when the server cannot be reached, the connection breaks, the body is
 * too large (out->too_large), or the URL is not allowed; E_TIMEOUT when the time limit passes.
 */
enum api_err httpc_do(struct arena *a, const struct httpc_request *req, struct httpc_response *out);

/* One transfer's options for httpc_easy_setup (strings borrowed until the transfer ends). */
struct httpc_easy {
	const char
	    *method; /* "GET" and "HEAD" send no body; anything else sends body (may be NULL) */
	const char *url;
	const char *const *headers; /* "Name: value", NULL-terminated; may be NULL */
	const char *body;
	size_t body_len;
	long timeout_ms; /* total; 0 = 10 s */
	const char *user_agent; /* NULL: "aiphoto/<version>" */
	bool development; /* the outbound policy's mode (config_get()->development) */
	size_t (*write)(char *data, size_t size, size_t nmemb, void *ctx);
	void *write_ctx;
	size_t (*header)(char *data, size_t size, size_t nmemb, void *ctx); /* may be NULL */
	void *header_ctx;
	const char *aws_sigv4, *userpwd; /* as in struct httpc_request; NULL: unsigned */
};

/*
 * A growing answer buffer for httpc_easy's write callback (malloc'd, for transfers that
 * outlive a request arena: the dispatcher's): at most limit bytes, kept NUL-terminated; a
 * byte more aborts the transfer (CURLE_WRITE_ERROR) with too_large set.
 */
struct httpc_buf {
	char *data; /* NULL until the first byte */
	size_t len, cap, limit;
	bool too_large;
};

/* Empties b (its memory is freed) for a new transfer of at most limit bytes. */
void httpc_buf_reset(struct httpc_buf *b, size_t limit);
/* Frees b's memory (b may be all zero). */
void httpc_buf_free(struct httpc_buf *b);
/* The write callback (ctx: the struct httpc_buf). */
size_t httpc_buf_write(char *data, size_t size, size_t nmemb, void *ctx);

/*
 * Sets every option of one transfer on the easy handle e (fresh or reset).  Returns the
 * request header list, which must outlive the transfer (free it with curl_slist_free_all).
 * The URL's scheme is checked by libcurl (CURLOPT_PROTOCOLS_STR): a refused one ends the
 * transfer with CURLE_UNSUPPORTED_PROTOCOL; a refused address with CURLE_COULDNT_CONNECT.
 */
struct curl_slist *httpc_easy_setup(CURL *e, const struct httpc_easy *o);

/* Percent-encodes s for a query value (arena copy). */
char *httpc_escape(struct arena *a, const char *s);

void httpc_fini(void);

#endif
