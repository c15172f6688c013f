/*
 * provider — the AI provider adapters of the dispatcher: how one work item becomes an HTTP
 * request for a provider style, and how the provider's answer becomes an outcome.  No I/O
 * here: dispatcher/main.c performs the transfers (curl multi) and acts on the outcomes.
 *
 *   openai     sync:  POST <endpoint>/images/generations → data[0].b64_json | data[0].url
 *   dashscope  async: POST <endpoint>/services/aigc/{text2image|image2image}/image-synthesis
 *                     (X-DashScope-Async: enable) → output.task_id;
 *                     GET <endpoint>/tasks/<task_id> → output.task_status, results[0].url |
 *                     output.image_url
 */
#ifndef AIPHOTO_DISPATCHER_PROVIDER_H
#define AIPHOTO_DISPATCHER_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/arena.h"
#include "model/works.h"

#define PROVIDER_MAX_HEADERS 6

/* What a provider call is made of (arena strings). */
struct provider_request {
	const char *method; /* GET | POST */
	const char *url;
	const char *headers[PROVIDER_MAX_HEADERS + 1]; /* "Name: value", NULL-terminated */
	const char *body; /* NULL for GET */
	size_t body_len;
};

/* The inputs of one call. */
struct provider_call {
	const struct ai_model *model;
	const struct work_claim *work;
	const char *api_key;
	/* the input images, in order: data URLs, or signed media URLs (GET /api/v1/media/…)
	 * for an adapter with input_urls when MEDIA_URL_KEY is set */
	const char *const *inputs;
	size_t ninputs;
};

enum provider_outcome {
	PV_IMAGE, /* bytes/len hold the image */
	PV_URL, /* url names the image to download */
	PV_JOB, /* job_id: poll it */
	PV_PENDING, /* the job is still running */
	PV_RETRY, /* retryable: code, message, retry_after_s */
	PV_FATAL /* not retryable (content policy, bad request, oversize, redirect) */
};

struct provider_result {
	enum provider_outcome kind;
	unsigned char *bytes; /* PV_IMAGE, in the arena */
	size_t len;
	const char *url;
	const char *job_id;
	const char *code; /* short machine code, e.g. http_500, timeout, content_policy */
	const char *message; /* detail for the work row and the log (no secrets) */
	long retry_after_s; /* from Retry-After, 0 = none */
	bool forget_job; /* PV_RETRY from a poll: the provider lost the job, submit again */
};

struct provider_ops {
	const char *name;
	bool async;
	/* the provider fetches input images by URL (DashScope try-on): it is given signed,
	 * expiring media URLs (MEDIA_URL_BASE, MEDIA_URL_TTL_SECONDS) instead of data URLs,
	 * whenever MEDIA_URL_KEY is set; data URLs otherwise */
	bool input_urls;
	void (*submit)(struct arena *a, const struct provider_call *c,
	               struct provider_request *out);
	/* Parses a 2xx answer of the submit. */
	void (*parse_submit)(struct arena *a, const char *body, size_t len,
	                     struct provider_result *r);
	void (*poll)(struct arena *a, const struct provider_call *c, const char *job_id,
	             struct provider_request *out);
	void (*parse_poll)(struct arena *a, const char *body, size_t len,
	                   struct provider_result *r);
};

/* The adapter for ai_models.provider, or NULL. */
const struct provider_ops *provider_find(const char *name);

/*
 * Classifies a failed call: a transport error (curl_code ≠ 0, with too_large when the answer
 * passed its limit) or a non-2xx status with its body.  Retryable: timeouts, connection
 * errors, 408, 429 (retry_after_s honoured), 5xx, 401/403 (another model may work);
 * fatal: redirects (never followed), other 4xx (bad request, content policy), oversize.
 */
void provider_classify(struct arena *a, long status, int curl_code, bool too_large,
                       long retry_after_s, const char *body, struct provider_result *r);

#endif
