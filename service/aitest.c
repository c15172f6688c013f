/* aitest — see aitest.h. */
#include "service/aitest.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dispatcher/provider.h"
#include "lib/config.h"
#include "lib/crypto.h"
#include "lib/httpc.h"
#include "lib/image.h"
#include "lib/log.h"
#include "lib/media.h"

const char *aitest_mode(const char *provider)
{
	const struct provider_ops *ops = provider_find(provider);

	if (ops == NULL)
		return NULL;
	return ops->async ? "async" : "sync";
}

/* Milliseconds since t0. */
static long aitest_ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* One test in progress. */
struct aitest {
	struct arena *a;
	const struct ai_model *m;
	struct timespec t0;
	long budget_ms;
	struct aitest_result *out;
};

/* What is left of the budget for one call (at most the model's timeout); 0 when none. */
static long aitest_call_ms(const struct aitest *t)
{
	long left = t->budget_ms - aitest_ms_since(&t->t0);

	if (left <= 0)
		return 0;
	return t->m->timeout_ms > 0 && t->m->timeout_ms < left ? t->m->timeout_ms : left;
}

/* Ends the test with outcome (the result's code and message from r when given). */
static void aitest_end(struct aitest *t, const char *outcome, const struct provider_result *r)
{
	t->out->outcome = outcome;
	if (r != NULL) {
		t->out->code = r->code;
		t->out->message = r->message;
	}
	t->out->duration_ms = aitest_ms_since(&t->t0);
}

/*
 * Performs rq: true with a 2xx answer in *resp; false with *r the classified failure (a
 * transport error, a non-2xx answer, or the budget spent).
 */
static bool aitest_call(struct aitest *t, const struct provider_request *rq,
                        struct httpc_response *resp, struct provider_result *r)
{
	static const char *const want[] = {"Retry-After", NULL};
	long ms = aitest_call_ms(t), retry_after = 0;
	struct httpc_request hr = {.method = rq->method,
	                           .url = rq->url,
	                           .headers = rq->headers,
	                           .body = rq->body,
	                           .body_len = rq->body_len,
	                           .timeout_ms = ms,
	                           .want = want};
	enum api_err err;

	memset(r, 0, sizeof(*r));
	if (ms <= 0) {
		provider_classify(t->a, 0, CURLE_OPERATION_TIMEDOUT, false, 0, NULL, r);
		return false;
	}
	err = httpc_do(t->a, &hr, resp);
	if (err != E_OK) {
		provider_classify(
		    t->a, 0, err == E_TIMEOUT ? CURLE_OPERATION_TIMEDOUT : CURLE_COULDNT_CONNECT,
		    false, 0, NULL, r);
		return false;
	}
	t->out->http_status = resp->status;
	if (resp->status >= 200 && resp->status < 300)
		return true;
	if (resp->header_values[0] != NULL)
		retry_after = strtol(resp->header_values[0], NULL, 10);
	provider_classify(t->a, resp->status, CURLE_OK, false, retry_after, resp->body, r);
	return false;
}

/* Stores the image bytes in the media store and ends the test. */
static void aitest_store(struct aitest *t, const unsigned char *bytes, size_t len)
{
	struct provider_result r = {.code = "bad_image"};
	struct image_info info;
	char sha[65];
	const char *key;

	if (image_probe(bytes, len, &info) != 0) {
		r.message = "the result is not a JPEG, PNG or WebP image";
		aitest_end(t, "failed", &r);
		return;
	}
	if (media_store(t->a, bytes, len, info.ext, sha, &key) != E_OK) {
		r.code = "storage";
		r.message = "cannot store the image";
		aitest_end(t, "retryable", &r);
		return;
	}
	t->out->image_url = media_url(t->a, key);
	t->out->mime = info.mime;
	t->out->width = info.width;
	t->out->height = info.height;
	t->out->bytes = len;
	aitest_end(t, "succeeded", NULL);
}

/* Sleeps the model's poll interval, or what is left of the budget when less. */
static void aitest_wait(const struct aitest *t)
{
	long ms = t->budget_ms - aitest_ms_since(&t->t0);
	struct timespec d;

	if (ms > t->m->poll_interval_ms)
		ms = t->m->poll_interval_ms;
	if (ms <= 0)
		return;
	d.tv_sec = ms / 1000;
	d.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&d, NULL);
}

/* Drives one provider answer r to its end: an image, a URL to download, a job to poll. */
static void aitest_follow(struct aitest *t, const struct provider_ops *ops,
                          const struct provider_call *c, struct provider_result *r)
{
	struct provider_request rq;
	struct httpc_response resp;

	for (;;) {
		switch (r->kind) {
		case PV_IMAGE:
			aitest_store(t, r->bytes, r->len);
			return;
		case PV_URL:
			rq = (struct provider_request){.method = "GET", .url = r->url};
			if (!aitest_call(t, &rq, &resp, r))
				break;
			aitest_store(t, (const unsigned char *)resp.body, resp.len);
			return;
		case PV_JOB:
		case PV_PENDING:
			if (r->kind == PV_JOB)
				t->out->job_id = r->job_id;
			aitest_wait(t);
			if (t->budget_ms - aitest_ms_since(&t->t0) <= 0) {
				aitest_end(t, "pending", NULL);
				return;
			}
			memset(&rq, 0, sizeof(rq));
			ops->poll(t->a, c, t->out->job_id, &rq);
			t->out->polls++;
			if (!aitest_call(t, &rq, &resp, r))
				break;
			memset(r, 0, sizeof(*r));
			ops->parse_poll(t->a, resp.body, resp.len, r);
			continue;
		case PV_RETRY:
		case PV_FATAL:
			break;
		}
		aitest_end(t, r->kind == PV_FATAL ? "failed" : "retryable", r);
		return;
	}
}

enum api_err aitest_run(struct arena *a, const struct ai_model *m, const char *prompt,
                        long budget_ms, struct aitest_result *out)
{
	struct aitest t = {.a = a, .m = m, .budget_ms = budget_ms, .out = out};
	const struct provider_ops *ops = provider_find(m->provider);
	const char *key = getenv(m->api_key_env);
	struct work_claim w = {.attempt = 1,
	                       .max_attempts = 1,
	                       .type = m->kind,
	                       .prompt = prompt,
	                       .negative_prompt = "",
	                       .params = "{}",
	                       .inputs = "[]"};
	struct provider_call c = {.model = m, .work = &w, .api_key = key};
	struct provider_result r = {0};
	struct provider_request rq = {0};
	struct httpc_response resp;

	memset(out, 0, sizeof(*out));
	clock_gettime(CLOCK_MONOTONIC, &t.t0);
	if (t.budget_ms <= 0 || t.budget_ms > AITEST_MAX_MS)
		t.budget_ms = AITEST_MAX_MS;
	if (ops == NULL) {
		r.code = "no_adapter";
		r.message = arena_printf(a, "no adapter for provider %s", m->provider);
		aitest_end(&t, "not_configured", &r);
		return E_OK;
	}
	if (key == NULL || key[0] == '\0') {
		r.code = "no_api_key";
		r.message =
		    arena_printf(a, "%s is not set in the workers' environment", m->api_key_env);
		aitest_end(&t, "not_configured", &r);
		return E_OK;
	}
	ops->submit(a, &c, &rq);
	if (aitest_call(&t, &rq, &resp, &r)) {
		memset(&r, 0, sizeof(r));
		ops->parse_submit(a, resp.body, resp.len, &r);
	}
	aitest_follow(&t, ops, &c, &r);
	log_info("ai model %lld %s tested: %s%s%s in %ld ms", (long long)m->id, m->name,
	         out->outcome, out->code ? " " : "", out->code ? out->code : "", out->duration_ms);
	return E_OK;
}
