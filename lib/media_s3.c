/* media_s3 — see media_s3.h. */
#include "lib/media_s3.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/config.h"
#include "lib/crypto.h"
#include "lib/httpc.h"
#include "lib/image.h"
#include "lib/log.h"
#include "lib/media.h"
#include "lib/netpolicy.h"

#define MEDIA_S3_TRIES 3

const char *media_s3_object_url(struct arena *a, const char *endpoint, const char *bucket,
                                bool path_style, const char *key)
{
	size_t scheme, n = endpoint ? strlen(endpoint) : 0;

	if (n > 8 && strncmp(endpoint, "https://", 8) == 0)
		scheme = 8;
	else if (n > 7 && strncmp(endpoint, "http://", 7) == 0)
		scheme = 7;
	else
		return NULL;
	while (n > scheme && endpoint[n - 1] == '/')
		n--;
	if (path_style)
		return arena_printf(a, "%.*s/%s/%s", (int)n, endpoint, bucket, key);
	return arena_printf(a, "%.*s%s.%.*s/%s", (int)scheme, endpoint, bucket, (int)(n - scheme),
	                    endpoint + scheme, key);
}

enum api_err media_s3_status_err(long status)
{
	if (status == 200 || status == 204 || status == 206)
		return E_OK;
	if (status == 404)
		return E_NOT_FOUND;
	return E_UPSTREAM_ERROR;
}

bool media_s3_retryable(enum api_err err, long status)
{
	if (err != E_OK)
		return err == E_UPSTREAM_ERROR; /* a timeout has spent the request's time already */
	return status >= 500 || status == 429;
}

/*
 * One signed request for key: method with body (PUT) or none, tried again while the
 * answer is retryable.  E_OK with *out (any status) or the last transport error.
 */
static enum api_err media_s3_call(struct arena *a, const char *method, const char *key,
                                  const void *body, size_t len, long timeout_ms,
                                  struct httpc_response *out)
{
	static const char *const want[] = {"Content-Length", NULL};
	const struct config *c = config_get();
	const char *url =
	    media_s3_object_url(a, c->s3_endpoint, c->s3_bucket, c->s3_path_style, key);
	char sha[65];
	const char *headers[4] = {NULL, NULL, NULL, NULL};
	enum api_err err = E_UPSTREAM_ERROR;

	if (url == NULL || c->s3_region == NULL || c->s3_access_key_id == NULL ||
	    c->s3_secret_access_key == NULL) {
		log_error("media: the s3 backend is not configured (S3_* variables)");
		return E_UNAVAILABLE;
	}
	if (!netpolicy_url_allowed(url, c->development)) {
		log_error("media: S3_ENDPOINT is refused by the outbound policy (https:// and a "
		          "public address outside development)");
		return E_UNAVAILABLE;
	}
	crypto_sha256_hex(body ? body : "", body ? len : 0, sha);
	headers[0] = arena_printf(a, "x-amz-content-sha256: %s", sha);
	if (body != NULL) {
		headers[1] = arena_printf(a, "Content-Type: %s", media_mime(key));
		/* named after its content: never changes, so a CDN or browser may keep it */
		headers[2] = "Cache-Control: public, max-age=31536000, immutable";
	}
	for (int i = 0; i < MEDIA_S3_TRIES; i++) {
		if (i > 0) {
			struct timespec ts = {0, (i == 1 ? 200L : 600L) * 1000000L};
			nanosleep(&ts, NULL);
		}
		err = httpc_do(a,
		               &(const struct httpc_request){
		                   .method = method,
		                   .url = url,
		                   .headers = headers,
		                   .body = body,
		                   .body_len = len,
		                   .timeout_ms = timeout_ms,
		                   .want = want,
		                   .max_body = IMAGE_MAX_BYTES,
		                   .aws_sigv4 = arena_printf(a, "aws:amz:%s:s3", c->s3_region),
		                   .userpwd = arena_printf(a, "%s:%s", c->s3_access_key_id,
		                                           c->s3_secret_access_key),
		               },
		               out);
		if (!media_s3_retryable(err, out->status))
			break;
		log_warn("media: s3 %s %s: %s (try %d of %d)", method, key,
		         err != E_OK ? api_err_code(err) : arena_printf(a, "HTTP %ld", out->status),
		         i + 1, MEDIA_S3_TRIES);
	}
	return err;
}

/* The error of a finished call: its transport error, else what its status means (logged
 * unless the object is simply missing). */
static enum api_err media_s3_result(const char *method, const char *key, enum api_err err,
                                    const struct httpc_response *r)
{
	if (err != E_OK)
		return err;
	err = media_s3_status_err(r->status);
	if (err != E_OK && err != E_NOT_FOUND)
		log_error("media: s3 %s %s answered HTTP %ld%s", method, key, r->status,
		          r->status == 403 ? " (check S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY and "
		                             "the bucket's policy)"
		                           : "");
	return err;
}

static enum api_err media_s3_put(struct arena *a, const char *key, const void *data, size_t len)
{
	struct httpc_response r;
	enum api_err err = media_s3_call(a, "PUT", key, data ? data : "", len, 60000, &r);

	return media_s3_result("PUT", key, err, &r);
}

static enum api_err media_s3_get(struct arena *a, const char *key, const unsigned char **data,
                                 size_t *len)
{
	struct httpc_response r;
	enum api_err err = media_s3_call(a, "GET", key, NULL, 0, 30000, &r);

	if ((err = media_s3_result("GET", key, err, &r)) != E_OK)
		return err;
	*data = (const unsigned char *)r.body;
	*len = r.len;
	return E_OK;
}

static enum api_err media_s3_stat(struct arena *a, const char *key, long long *size)
{
	struct httpc_response r;
	enum api_err err = media_s3_call(a, "HEAD", key, NULL, 0, 5000, &r);

	*size = 0;
	if ((err = media_s3_result("HEAD", key, err, &r)) != E_OK)
		return err;
	for (int i = 0; i < 8 && r.header_names[i] != NULL; i++)
		if (strcmp(r.header_names[i], "Content-Length") == 0)
			*size = strtoll(r.header_values[i], NULL, 10);
	return E_OK;
}

/* MEDIA_CDN_BASE + "/" + key, else the object's own URL in the bucket. */
static const char *media_s3_url(struct arena *a, const char *key)
{
	const struct config *c = config_get();
	size_t n;

	if (c->media_cdn_base == NULL)
		return media_s3_object_url(a, c->s3_endpoint, c->s3_bucket, c->s3_path_style, key);
	n = strlen(c->media_cdn_base);
	while (n > 0 && c->media_cdn_base[n - 1] == '/')
		n--;
	return arena_printf(a, "%.*s/%s", (int)n, c->media_cdn_base, key);
}

const struct media_backend_ops media_s3_ops = {
    .name = "s3",
    .put = media_s3_put,
    .get = media_s3_get,
    .stat = media_s3_stat,
    .url = media_s3_url,
};
