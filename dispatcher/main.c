/*
 * aiphoto-dispatch — one run of the AI work dispatcher (DESIGN §5), started by cron or a
 * systemd timer every minute (the local stack runs it on a short loop).
 *
 * A run:
 *   1. rescues expired leases (compare-and-set, safe in concurrent runs); in the run holding
 *      the maintenance advisory lock only, reconciles unpaid orders and refunds WeChat Pay
 *      has not confirmed yet;
 *   2. claims due items (SKIP LOCKED), up to DISPATCH_CONCURRENCY at once, and drives each
 *      through its provider with curl multi: submit → (poll) → download → store → complete;
 *      every write is fenced on the claimed attempt; leases are extended while calls run;
 *   3. retryable failures go back to the queue with exponential back-off and jitter
 *      (Retry-After honoured) until max_attempts; a final failure refunds the item in the
 *      transaction that marks it failed;
 *   4. tells the user of each ended task once, as soon as it ends: a mini-program subscribe
 *      message for a task from the mini program, an Official Account template message
 *      otherwise (model/notify: an outbox row per task, claimed with SKIP LOCKED and sent by
 *      one run; a passing failure is retried with back-off, a refusal is recorded, a send
 *      interrupted by a crash is never repeated: at most once); one call to WeChat per pass
 *      of its loop, so a backlog of notices never holds back claims or transfers for more
 *      than one call;
 *   5. fetches up to DISPATCH_CLOUD_FETCH_BATCH cloud:// images of imported works into the
 *      media store on the same multi handle (dispatcher/cloudfetch.c, docs/cloud-files.md);
 *   6. between claims waits on PostgreSQL LISTEN (channel aiphoto_tasks, WORKS_CHANNEL) as
 *      well as on its transfers: task creation, retry, release and rescue NOTIFY in their own
 *      transactions, so a new task is claimed within milliseconds, not at the next tick;
 *      with nothing notified it claims again when the earliest queued item is due (≤ 5 s);
 *   7. exits when its time budget is spent and nothing runs (async jobs still waiting are
 *      released, keeping their provider job id for the next run); cron (or the timer)
 *      starting a run every minute stays the safety net.
 *
 * Environment: DESIGN §8 and the DISPATCH_* variables, all in lib/config's table (so
 * `aiphotoctl check-config` validates them too): DISPATCH_CONCURRENCY (8),
 * DISPATCH_BUDGET_SECONDS (50), DISPATCH_LEASE_SECONDS (120; must exceed every active model's
 * timeout by 10 s), DISPATCH_RETRY_BASE_MS (5000), DISPATCH_MAX_RESULT_BYTES (10 MiB),
 * DISPATCH_MAX_WAIT_SECONDS (600: how long an async job may stay pending, counted from its
 * submit across runs), DISPATCH_MAX_INPUT_BYTES (32 MiB: the input images of one item
 * together; more fails the item, refunded), DISPATCH_RECONCILE_AFTER_SECONDS (300),
 * DISPATCH_CLOUD_FETCH_BATCH (50: imported works' cloud images fetched per run; 0: none).
 *
 * Options: --until-idle (tests, manual runs: also exit as soon as nothing is due and nothing
 * runs, without waiting for notifications); --claim-only (benchmark and test of the queue
 * itself: claim one item at a time and complete it without calling anyone, until nothing
 * is due).
 * Exit status: 0 done; 1 a configuration error (any variable, the message names it) or a
 * database or Redis failure at start; 2 usage.
 */
#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dispatcher/cloudfetch.h"
#include "dispatcher/provider.h"
#include "dispatcher/runstats.h"
#include "service/reconcile.h"
#include "lib/arena.h"
#include "lib/config.h"
#include "lib/crypto.h"
#include "lib/db.h"
#include "lib/httpc.h"
#include "lib/image.h"
#include "lib/imgproc.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/media.h"
#include "lib/redis.h"
#include "lib/wechat/wxapi.h"
#include "lib/wechat/wxnotice.h"
#include "lib/xalloc.h"
#include "model/notify.h"
#include "model/system.h"
#include "model/works.h"

enum phase { PH_SUBMIT, PH_POLL, PH_DOWNLOAD, PH_WAIT };

/* Largest JSON answer of an async provider (submit, poll). */
#define DISPATCH_MAX_JSON (1L << 20)

struct job {
	struct arena arena;
	struct work_claim w; /* strings in arena */
	const struct ai_model *model;
	const struct provider_ops *ops;
	struct provider_call call;
	const char *job_id; /* async provider job */
	const char *provider_url; /* the result URL being downloaded */
	enum phase phase;
	double wait_until, poll_deadline;
	CURL *easy;
	struct curl_slist *hdrs;
	struct httpc_buf body; /* the answer of the current transfer */
	long retry_after;
	double claimed_at; /* dispatch_now() at the claim, for the outcome's duration */
	struct job *next;
};

/* system_config.notify as the senders read it (strings in the call's arena). */
struct notify_conf {
	struct notify_targets to;
	const char *oa_page; /* task_page_url */
	const char *mp_page, *mp_state, *mp_lang, *mp_data; /* mp.page, …, mp.data as JSON */
};

struct dispatch {
	int concurrency;
	long budget_s, lease_s, retry_base_ms, max_wait_s, reconcile_after_s, cloud_batch;
	size_t max_result, max_input;
	char owner[96];
	struct arena arena; /* the run: models */
	struct ai_model *models;
	size_t nmodels;
	CURLM *multi;
	struct job *jobs;
	int active;
	struct cloudfetch *cloud; /* this run's fetch of imported works' cloud images */
	double deadline, last_heartbeat;
	bool development;
	bool until_idle; /* --until-idle: exit once nothing is due and nothing runs */
	bool notices_due; /* ended tasks or due notices may wait (dispatch_notify) */
	double next_notify; /* when the outbox is looked at again while nothing is known due */
	struct {
		struct arena arena; /* the batch below and its sends */
		struct notify_conf conf; /* system_config.notify as the batch was taken */
		struct notify_item *items; /* claimed ('sending'): items[next..n) still to send */
		size_t n, next;
	} notices;
	struct {
		size_t claimed, succeeded, retried, failed, released, fenced, rescued, notified,
		    sent;
	} n;
};

static volatile sig_atomic_t dispatch_stop;
static CURLM *dispatch_multi; /* woken by a signal out of its wait */

/* Longest wait without a claim while idle: the safety net for a notification lost with a
 * connection (the LISTEN is issued again before each wait). */
#define DISPATCH_IDLE_MAX_MS 5000

/* Ended tasks given their outbox rows at once, and notices claimed at once (the notices then
 * go out one per pass of the run's loop). */
#define DISPATCH_NOTICE_BATCH 8

static void dispatch_on_signal(int sig)
{
	(void)sig;
	dispatch_stop = 1;
	if (dispatch_multi != NULL)
		curl_multi_wakeup(dispatch_multi); /* writes to curl's wakeup pipe */
}

static double dispatch_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ transfers */

static size_t dispatch_header(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct job *j = ctx;
	size_t n = size * nmemb;
	static const char name[] = "retry-after:";

	if (n > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
		char tmp[32];
		size_t k = n - (sizeof(name) - 1);
		long v = 0;

		if (k >= sizeof(tmp))
			k = sizeof(tmp) - 1;
		memcpy(tmp, data + sizeof(name) - 1, k);
		tmp[k] = '\0';
		for (char *p = tmp; *p; p++)
			if (*p == '\r' || *p == '\n')
				*p = '\0';
		char *s = tmp;
		while (*s == ' ' || *s == '\t')
			s++;
		if (config_parse_long(s, 0, 86400, &v) == 0)
			j->retry_after = v;
	}
	return n;
}

/* Starts one HTTP call for the job (its previous handle is gone). */
static void dispatch_start(struct dispatch *d, struct job *j, const struct provider_request *rq,
                           long timeout_ms, size_t limit)
{
	CURL *e = curl_easy_init();

	if (e == NULL)
		abort();
	httpc_buf_reset(&j->body, limit);
	j->retry_after = 0;
	curl_slist_free_all(j->hdrs);
	j->hdrs = httpc_easy_setup(e, &(const struct httpc_easy){
	                                  .method = rq->method,
	                                  .url = rq->url,
	                                  .headers = rq->headers,
	                                  .body = rq->body,
	                                  .body_len = rq->body_len,
	                                  .timeout_ms = timeout_ms,
	                                  .user_agent = "aiphoto-dispatch/" AIPHOTO_VERSION,
	                                  .development = d->development,
	                                  .write = httpc_buf_write,
	                                  .write_ctx = &j->body,
	                                  .header = dispatch_header,
	                                  .header_ctx = j,
	                              });
	curl_easy_setopt(e, CURLOPT_PRIVATE, j);
	j->easy = e;
	curl_multi_add_handle(d->multi, e);
}

static void dispatch_drop(struct dispatch *d, struct job *j)
{
	struct job **pp = &d->jobs;

	while (*pp != NULL && *pp != j)
		pp = &(*pp)->next;
	if (*pp == j)
		*pp = j->next;
	if (j->easy != NULL) {
		curl_multi_remove_handle(d->multi, j->easy);
		curl_easy_cleanup(j->easy);
	}
	curl_slist_free_all(j->hdrs);
	httpc_buf_free(&j->body);
	arena_fini(&j->arena);
	free(j);
	d->active--;
}

/* ------------------------------------------------------------------ outcomes */

static void dispatch_log_outcome(const struct job *j, const char *outcome, const char *code,
                                 const char *detail)
{
	log_info("work %lld task %lld attempt %d/%d model %s: %s%s%s%s%s", (long long)j->w.id,
	         (long long)j->w.task_id, j->w.attempt, j->w.max_attempts,
	         j->model ? j->model->name : "-", outcome, code ? " " : "", code ? code : "",
	         detail ? ": " : "", detail ? detail : "");
}

/* The outcome in the run's textfile counters (dispatcher/runstats). */
static void dispatch_count(const struct job *j, const char *outcome)
{
	runstats_outcome(j->model ? j->model->name : NULL, outcome, dispatch_now() - j->claimed_at);
}

static int64_t dispatch_model_id(const struct job *j)
{
	return j->model ? j->model->id : 0;
}

static void dispatch_fail(struct dispatch *d, struct job *j, const char *code, const char *msg)
{
	bool ended = false;
	enum api_err err =
	    works_fail(&j->arena, j->w.id, j->w.attempt, dispatch_model_id(j), code, msg, &ended);

	d->notices_due |= ended;
	if (err == E_OK) {
		d->n.failed++;
		dispatch_count(j, "failed");
		dispatch_log_outcome(j, "failed, refunded", code, msg);
	} else if (err == E_CONFLICT) {
		d->n.fenced++;
		dispatch_count(j, "fenced");
		dispatch_log_outcome(j, "fenced out (no longer ours)", code, NULL);
	} else {
		log_error("work %lld: could not record the failure (%s); its lease will expire",
		          (long long)j->w.id, api_err_code(err));
	}
	dispatch_drop(d, j);
}

/* Back-off of attempt a: base × 2^(a−1), ±10 % jitter, at least Retry-After, ≤ 10 min. */
static long dispatch_backoff(const struct dispatch *d, int attempt, long retry_after_s)
{
	double ms = (double)d->retry_base_ms * pow(2.0, attempt > 1 ? attempt - 1 : 0);
	unsigned char r = 0;
	char hex[3];

	if (crypto_random_hex(1, hex) == 0)
		r = (unsigned char)strtoul(hex, NULL, 16);
	ms *= 0.9 + 0.2 * (double)r / 255.0;
	if ((double)retry_after_s * 1000.0 > ms)
		ms = (double)retry_after_s * 1000.0;
	if (ms > 600000.0)
		ms = 600000.0;
	return (long)ms;
}

static void dispatch_retry(struct dispatch *d, struct job *j, const struct provider_result *r)
{
	long delay;
	enum api_err err;

	if (j->w.attempt >= j->w.max_attempts) {
		dispatch_fail(d, j, r->code, r->message);
		return;
	}
	delay = dispatch_backoff(d, j->w.attempt, r->retry_after_s);
	err = works_retry(&j->arena, j->w.id, j->w.attempt, delay, dispatch_model_id(j),
	                  r->forget_job ? NULL : j->job_id, r->code, r->message);
	if (err == E_OK) {
		d->n.retried++;
		dispatch_count(j, "retried");
		dispatch_log_outcome(j, arena_printf(&j->arena, "retry in %ld ms", delay), r->code,
		                     r->message);
	} else if (err == E_CONFLICT) {
		d->n.fenced++;
		dispatch_count(j, "fenced");
		dispatch_log_outcome(j, "fenced out (no longer ours)", r->code, NULL);
	}
	dispatch_drop(d, j);
}

/* Stores the image and completes the item: the result is decoded, normalised (upright, no
 * metadata: lib/imgproc) and stored with its two thumbnails, made here, off the request
 * path; the work's thumb_url names the 360 px one. */
static void dispatch_store(struct dispatch *d, struct job *j, const unsigned char *bytes,
                           size_t len)
{
	struct image_info info;
	struct imgproc_image img;
	char sha[65];
	const char *key = NULL, *url, *thumb, *why;
	bool ended = false;
	enum api_err err;

	if (image_probe(bytes, len, &info) != 0 ||
	    imgproc_normalise(&j->arena, bytes, len, info.width, info.height, &img, &why) != E_OK) {
		dispatch_fail(d, j, "bad_image", "the result is not a JPEG, PNG or WebP image");
		return;
	}
	if (media_store(&j->arena, img.data, img.len, img.ext, sha, &key) != E_OK ||
	    media_thumbs(&j->arena, key, img.data, img.len) != E_OK) {
		struct provider_result r = {.code = "storage", .message = "cannot store the image"};
		dispatch_retry(d, j, &r);
		return;
	}
	url = media_url(&j->arena, key);
	thumb = media_url(&j->arena, media_thumb_key(&j->arena, key, IMGPROC_THUMB_SMALL));
	err = works_succeed(&j->arena, j->w.id, j->w.attempt, dispatch_model_id(j), url, thumb,
	                    j->provider_url, &ended);
	d->notices_due |= ended;
	if (err == E_OK) {
		d->n.succeeded++;
		dispatch_count(j, "succeeded");
		dispatch_log_outcome(j, ended ? "succeeded (task ended)" : "succeeded", NULL, key);
	} else if (err == E_CONFLICT) {
		d->n.fenced++;
		dispatch_count(j, "fenced");
		dispatch_log_outcome(j, "fenced out (no longer ours)", NULL, NULL);
	} else {
		log_error("work %lld: could not record the result (%s)", (long long)j->w.id,
		          api_err_code(err));
	}
	dispatch_drop(d, j);
}

static const char **dispatch_inputs(const struct dispatch *d, struct job *j, struct arena *tmp,
                                    size_t *count, const char **why);

/* Submits the item: the request body (with its inputs) is built in the job's arena, the
 * inputs' intermediate copies in a temporary one.  A sync provider answers with the image
 * itself (base64 in JSON), so its answer may be as large as the largest image allows. */
static void dispatch_submit(struct dispatch *d, struct job *j)
{
	struct provider_request rq = {0};
	struct arena tmp;
	const char *why = NULL;
	size_t limit = j->ops->async ? DISPATCH_MAX_JSON : d->max_result / 3 * 4 + 65536;

	arena_init(&tmp, 4096);
	j->call.inputs = dispatch_inputs(d, j, &tmp, &j->call.ninputs, &why);
	if (j->call.inputs != NULL) {
		j->phase = PH_SUBMIT;
		j->ops->submit(&j->arena, &j->call, &rq);
	}
	j->call.inputs = NULL;
	j->call.ninputs = 0;
	arena_fini(&tmp);
	if (why != NULL && strcmp(why, "storage") == 0) {
		struct provider_result r = {.code = "storage",
		                            .message = "the media store cannot be reached"};
		dispatch_retry(d, j, &r);
		return;
	}
	if (why != NULL) {
		dispatch_fail(d, j, why,
		              strcmp(why, "input_too_large") == 0
		                  ? "the input images together exceed DISPATCH_MAX_INPUT_BYTES"
		                  : "an input image is missing from the media store");
		return;
	}
	dispatch_start(d, j, &rq, j->model->timeout_ms, limit);
}

static void dispatch_poll(struct dispatch *d, struct job *j)
{
	struct provider_request rq = {0};

	j->phase = PH_POLL;
	j->ops->poll(&j->arena, &j->call, j->job_id, &rq);
	dispatch_start(d, j, &rq, j->model->timeout_ms, DISPATCH_MAX_JSON);
}

static void dispatch_download(struct dispatch *d, struct job *j, const char *url)
{
	struct provider_request rq = {.method = "GET", .url = url, .headers = {NULL}};

	j->phase = PH_DOWNLOAD;
	j->provider_url = url;
	dispatch_start(d, j, &rq, j->model->timeout_ms, d->max_result);
}

static void dispatch_wait(struct dispatch *d, struct job *j)
{
	(void)d;
	j->phase = PH_WAIT;
	j->wait_until = dispatch_now() + (double)j->model->poll_interval_ms / 1000.0;
}

/* A transfer of j ended with curl code cc. */
static void dispatch_done(struct dispatch *d, struct job *j, CURLcode cc)
{
	struct provider_result r = {0};
	long status = 0;

	curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(d->multi, j->easy);
	curl_easy_cleanup(j->easy);
	j->easy = NULL;

	if (cc != CURLE_OK || status < 200 || status >= 300) {
		provider_classify(&j->arena, status, (int)cc, j->body.too_large, j->retry_after,
		                  j->body.data, &r);
		if (j->phase == PH_POLL && r.kind == PV_RETRY && status >= 400 && status < 500 &&
		    status != 429)
			r.forget_job = true; /* the provider no longer knows the job */
	} else if (j->phase == PH_DOWNLOAD) {
		dispatch_store(d, j, (const unsigned char *)j->body.data, j->body.len);
		return;
	} else if (j->phase == PH_SUBMIT) {
		j->ops->parse_submit(&j->arena, j->body.data, j->body.len, &r);
	} else {
		j->ops->parse_poll(&j->arena, j->body.data, j->body.len, &r);
	}

	switch (r.kind) {
	case PV_IMAGE:
		dispatch_store(d, j, r.bytes, r.len);
		break;
	case PV_URL:
		dispatch_download(d, j, r.url);
		break;
	case PV_JOB:
		j->job_id = r.job_id;
		if (works_set_job(&j->arena, j->w.id, j->w.attempt, j->model->id, j->job_id) !=
		    E_OK) {
			d->n.fenced++;
			dispatch_log_outcome(j, "fenced out before polling", NULL, NULL);
			dispatch_drop(d, j);
			break;
		}
		j->poll_deadline = dispatch_now() + (double)d->max_wait_s;
		dispatch_wait(d, j);
		break;
	case PV_PENDING:
		if (dispatch_now() > j->poll_deadline) {
			r.kind = PV_RETRY;
			r.code = "poll_timeout";
			r.message = "the provider job did not finish in time";
			r.forget_job = true;
			dispatch_retry(d, j, &r);
		} else {
			dispatch_wait(d, j);
		}
		break;
	case PV_RETRY:
		dispatch_retry(d, j, &r);
		break;
	case PV_FATAL:
		dispatch_fail(d, j, r.code, r.message);
		break;
	}
}

/* ------------------------------------------------------------------ starting items */

/* The model for an item: the one holding its provider job; else, among the active models of
 * its kind, the lowest priority number, weighted random inside it, avoiding the model whose
 * call just failed when another exists. */
static const struct ai_model *dispatch_choose(struct dispatch *d, const struct work_claim *w)
{
	const struct ai_model *best = NULL;
	int prio = 0;
	long total = 0, pick;
	int64_t avoid = 0;
	size_t usable = 0;
	char hex[9];

	if (w->provider_job_id != NULL)
		for (size_t i = 0; i < d->nmodels; i++)
			if (d->models[i].id == w->ai_model_id)
				return &d->models[i];
	for (size_t i = 0; i < d->nmodels; i++)
		if (strcmp(d->models[i].kind, w->type) == 0 && provider_find(d->models[i].provider))
			usable++;
	if (w->last_error != NULL && strcmp(w->last_error, "lease_expired") != 0 && usable > 1)
		avoid = w->ai_model_id;
	for (size_t i = 0; i < d->nmodels; i++) {
		const struct ai_model *m = &d->models[i];
		if (strcmp(m->kind, w->type) != 0 || m->id == avoid || !provider_find(m->provider))
			continue;
		if (best == NULL || m->priority < prio) {
			best = m;
			prio = m->priority;
			total = 0;
		}
		if (m->priority == prio)
			total += m->weight;
	}
	if (best == NULL || total <= 0)
		return best;
	pick = crypto_random_hex(4, hex) == 0
	           ? (long)(strtoul(hex, NULL, 16) % (unsigned long)total)
	           : 0;
	for (size_t i = 0; i < d->nmodels; i++) {
		const struct ai_model *m = &d->models[i];
		if (strcmp(m->kind, w->type) != 0 || m->id == avoid || m->priority != prio ||
		    !provider_find(m->provider))
			continue;
		if (pick < m->weight)
			return m;
		pick -= m->weight;
	}
	return best;
}

static char *dispatch_copy(struct arena *a, const char *s)
{
	return s ? arena_strdup(a, s) : NULL;
}

/*
 * The item's input images for an adapter that fetches them by URL (provider_ops.input_urls,
 * MEDIA_URL_KEY set): signed media URLs valid for MEDIA_URL_TTL_SECONDS, built in tmp, each
 * file checked to be in the store (any backend).  NULL with *why "input_missing" otherwise,
 * or "storage" when the store could not tell (an object store down: tried again later).
 */
static const char **dispatch_input_urls(struct job *j, json_object *arr, size_t n,
                                        struct arena *tmp, const char **why)
{
	const char **urls = arena_zalloc(tmp, (n + 1) * sizeof(*urls));
	long long exp = (long long)time(NULL) + config_get()->media_url_ttl_s;

	(void)j;
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(arr, i), *k;
		const char *key = NULL;
		char sha[65];
		long long size;

		if (json_object_object_get_ex(o, "key", &k))
			key = json_object_get_string(k);
		enum api_err err = key != NULL ? media_size(tmp, key, &size) : E_NOT_FOUND;

		if (err != E_OK) {
			*why = err == E_NOT_FOUND ? "input_missing" : "storage";
			return NULL;
		}
		memcpy(sha, key + 6, 64);
		sha[64] = '\0';
		if ((urls[i] = media_signed_url(tmp, sha, exp)) == NULL) {
			*why = "input_missing";
			return NULL;
		}
	}
	return urls;
}

/*
 * Data URLs of the item's input images, built in tmp (the caller frees it once the request
 * body holds them: several 10 MiB images must not stay in memory three times over).  Each
 * file is read into a scratch arena freed at once.  NULL with *why when an input is missing
 * from the store ("storage" when the store could not tell) or the inputs together exceed
 * DISPATCH_MAX_INPUT_BYTES.
 */
static const char **dispatch_inputs(const struct dispatch *d, struct job *j, struct arena *tmp,
                                    size_t *count, const char **why)
{
	json_object *arr = json_tokener_parse(j->w.inputs ? j->w.inputs : "[]");
	size_t n =
	    arr && json_object_is_type(arr, json_type_array) ? json_object_array_length(arr) : 0;
	const char **urls = arena_zalloc(tmp, (n + 1) * sizeof(*urls));
	size_t total = 0;
	struct arena scratch;

	*why = NULL;
	*count = n;
	if (j->ops->input_urls && config_get()->media_url_key != NULL) {
		urls = dispatch_input_urls(j, arr, n, tmp, why);
		json_object_put(arr);
		return urls;
	}
	arena_init(&scratch, 4096);
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(arr, i), *k, *m;
		const unsigned char *data;
		size_t len;
		char *b64;

		enum api_err err = E_NOT_FOUND;

		if (!json_object_object_get_ex(o, "key", &k) ||
		    !json_object_object_get_ex(o, "mime", &m) ||
		    (err = media_read(&scratch, json_object_get_string(k), &data, &len)) != E_OK) {
			*why = err == E_NOT_FOUND ? "input_missing" : "storage";
			break;
		}
		if ((total += len) > d->max_input) {
			*why = "input_too_large";
			break;
		}
		b64 = crypto_b64_encode(data, len);
		urls[i] = arena_printf(tmp, "data:%s;base64,%s", json_object_get_string(m), b64);
		free(b64);
		arena_reset(&scratch);
	}
	arena_fini(&scratch);
	json_object_put(arr);
	*count = n;
	return *why == NULL ? urls : NULL;
}

static void dispatch_begin(struct dispatch *d, const struct work_claim *c)
{
	struct job *j = xcalloc(1, sizeof(*j));
	const char *key;

	arena_init(&j->arena, 8192);
	j->w = *c;
	j->w.type = dispatch_copy(&j->arena, c->type);
	j->w.provider_job_id = dispatch_copy(&j->arena, c->provider_job_id);
	j->w.last_error = dispatch_copy(&j->arena, c->last_error);
	j->w.prompt = dispatch_copy(&j->arena, c->prompt ? c->prompt : "");
	j->w.negative_prompt = dispatch_copy(&j->arena, c->negative_prompt);
	j->w.params = dispatch_copy(&j->arena, c->params);
	j->w.inputs = dispatch_copy(&j->arena, c->inputs);
	j->claimed_at = dispatch_now();
	j->next = d->jobs;
	d->jobs = j;
	d->active++;
	d->n.claimed++;

	if (j->w.attempt > j->w.max_attempts && j->w.provider_job_id == NULL) {
		dispatch_fail(d, j, "attempts_exhausted", "no attempt left");
		return;
	}
	j->model = dispatch_choose(d, &j->w);
	if (j->model == NULL) {
		struct provider_result r = {.code = "no_model",
		                            .message = "no active AI model for this kind of work"};
		dispatch_retry(d, j, &r);
		return;
	}
	j->ops = provider_find(j->model->provider);
	key = getenv(j->model->api_key_env);
	if (key == NULL || key[0] == '\0') {
		struct provider_result r = {.code = "no_api_key"};
		r.message = arena_printf(&j->arena, "%s is not set", j->model->api_key_env);
		dispatch_retry(d, j, &r);
		return;
	}
	j->call.model = j->model;
	j->call.work = &j->w;
	j->call.api_key = key;
	if (j->w.provider_job_id != NULL && j->ops->async && j->w.ai_model_id == j->model->id) {
		/* a rescued or released item: its job exists at the provider, poll it */
		j->job_id = j->w.provider_job_id;
		j->poll_deadline = dispatch_now() + (double)(d->max_wait_s - j->w.job_age_s);
		dispatch_poll(d, j);
		return;
	}
	dispatch_submit(d, j);
}

/* ------------------------------------------------------------------ the run */

static void dispatch_heartbeat(struct dispatch *d)
{
	struct job *j = d->jobs, *next;

	for (; j != NULL; j = next) {
		next = j->next;
		if (works_heartbeat(&j->arena, j->w.id, j->w.attempt, d->lease_s) == E_CONFLICT) {
			d->n.fenced++;
			dispatch_log_outcome(j, "lease lost (rescued or canceled): abandoned", NULL,
			                     NULL);
			dispatch_drop(d, j);
		}
	}
	d->last_heartbeat = dispatch_now();
}

/* How long a claimed notice may stay 'sending' (a send is one WeChat call of at most 5 s,
 * plus an access-token refresh); after that it is 'unknown' and never sent again. */
#define NOTIFY_LEASE_S 60
/* Sends of a notice before it counts as failed (≈ 40 min with the default back-off). */
#define NOTIFY_MAX_ATTEMPTS 10

static void dispatch_notify_conf(struct arena *a, struct notify_conf *c)
{
	char *text = NULL;
	json_object *conf = NULL, *mp = NULL, *data = NULL;

	memset(c, 0, sizeof(*c));
	if (system_config_get(a, "notify", &text) == E_OK && text != NULL)
		conf = jsonx_parse_or_empty(text);
	if (conf != NULL)
		json_object_object_get_ex(conf, "mp", &mp);
	c->to.oa_template_id = jsonx_dup_str(a, conf, "task_template_id");
	c->to.mp_template_id = jsonx_dup_str(a, mp, "template_id");
	c->to.mp_appid = config_get()->wechat_mp_appid;
	c->oa_page = jsonx_dup_str(a, conf, "task_page_url");
	c->mp_page = jsonx_dup_str(a, mp, "page");
	c->mp_state = jsonx_dup_str(a, mp, "miniprogram_state");
	c->mp_lang = jsonx_dup_str(a, mp, "lang");
	if (mp != NULL && json_object_object_get_ex(mp, "data", &data))
		c->mp_data = jsonx_text(a, data);
	json_object_put(conf);
}

/* Sends one claimed notice and records what WeChat answered. */
static void dispatch_send_notice(struct dispatch *d, struct arena *a, const struct notify_conf *c,
                                 const struct notify_item *it)
{
	const struct wxnotice_task t = {.task_id = it->task_id,
	                                .type = it->type,
	                                .status = it->status,
	                                .done = it->done,
	                                .count = it->count,
	                                .failed = it->failed,
	                                .credits_refunded = it->credits_refunded,
	                                .finished_at = it->finished_at};
	bool mp = strcmp(it->channel, "mp") == 0;
	struct wxapi_message m = {.touser = it->touser, .template_id = it->template_id};
	const char *what = mp ? "subscribe message" : "template message";
	long errcode = 0;
	enum api_err err = E_OK, rec;

	if (mp) {
		m.data_json = wxnotice_subscribe_data(a, c->mp_data, &t);
		m.page = c->mp_page ? wxnotice_render(a, c->mp_page, &t) : NULL;
		m.miniprogram_state = c->mp_state;
		m.lang = c->mp_lang;
	} else {
		m.data_json = wxnotice_task_data(a, &t);
		m.page = c->oa_page;
	}
	if (m.data_json == NULL) {
		rec =
		    notify_refused(a, it, 0, "notify.mp.data is not an object of string templates");
		log_warn("task %lld: %s not sent: notify.mp.data is not an object of strings",
		         (long long)it->task_id, what);
		goto out;
	}
	err = mp ? wxapi_subscribe_send(a, &m, &errcode) : wxapi_template_send(a, &m, &errcode);
	switch (wxnotice_classify(err, errcode)) {
	case WXNOTICE_SENT:
		d->n.sent++;
		rec = notify_sent(a, it);
		log_info("task %lld %s: %s sent", (long long)it->task_id, it->status, what);
		break;
	case WXNOTICE_RETRY:
		if (it->attempt < NOTIFY_MAX_ATTEMPTS) {
			long delay = dispatch_backoff(d, it->attempt, 0);
			rec =
			    notify_retry(a, it, delay, errcode,
			                 err != E_OK ? api_err_code(err) : "passing WeChat error");
			log_warn(
			    "task %lld: %s failed (%s, errcode %ld), attempt %d: retry in %ld ms",
			    (long long)it->task_id, what, api_err_code(err), errcode, it->attempt,
			    delay);
			break;
		}
		rec = notify_refused(a, it, errcode, "attempts spent");
		log_warn("task %lld: %s failed %d times: given up", (long long)it->task_id, what,
		         it->attempt);
		break;
	default:
		rec = notify_refused(a, it, errcode, "refused by WeChat");
		log_warn("task %lld: %s refused by WeChat (errcode %ld): not retried",
		         (long long)it->task_id, what, errcode);
		break;
	}
out:
	if (rec == E_CONFLICT)
		log_warn("task %lld: the %s's claim was lost (its lease expired): not recorded",
		         (long long)it->task_id, what);
	else if (rec != E_OK)
		log_error("task %lld: the %s's outcome could not be recorded (%s); its lease will "
		          "expire and it is not sent again",
		          (long long)it->task_id, what, api_err_code(rec));
}

/*
 * Takes the next batch of notices into d->notices, replacing the one before: first the outbox
 * rows of up to DISPATCH_NOTICE_BATCH ended tasks (model/notify: each task once, whichever
 * run takes it), then up to DISPATCH_NOTICE_BATCH due rows, claimed for this run.  Returns
 * how many tasks and rows it took (0: nothing waits).
 */
static size_t dispatch_notices_take(struct dispatch *d)
{
	struct notify_enqueued q = {0};
	size_t ended;

	arena_reset(&d->notices.arena);
	d->notices.n = d->notices.next = 0;
	d->notices.items = NULL;
	dispatch_notify_conf(&d->notices.arena, &d->notices.conf);
	if (notify_enqueue(&d->notices.arena, DISPATCH_NOTICE_BATCH, &d->notices.conf.to, &q) !=
	    E_OK)
		memset(&q, 0, sizeof(q));
	ended = q.oa + q.mp + q.skipped;
	if (ended > 0) {
		d->n.notified += ended;
		log_info("dispatch: %zu ended tasks: %zu template, %zu subscribe, %zu without a "
		         "notice",
		         ended, q.oa, q.mp, q.skipped);
	}
	if (notify_claim(&d->notices.arena, DISPATCH_NOTICE_BATCH, NOTIFY_LEASE_S,
	                 &d->notices.items, &d->notices.n) != E_OK)
		d->notices.n = 0;
	return ended + d->notices.n;
}

/*
 * Sends one notice, taking the next batch when the last one is spent.  A call blocks the run
 * (no claim, no transfer moves while it lasts), so one per pass of the loop: a backlog of
 * notices is worked off between claims, and a task created meanwhile waits for one call at
 * most.  Returns true while more may wait; when nothing does, d->next_notify becomes when the
 * earliest retry is due (at most DISPATCH_IDLE_MAX_MS away).
 */
static bool dispatch_notify(struct dispatch *d)
{
	long due = -1;

	if (d->notices.next < d->notices.n) {
		dispatch_send_notice(d, &d->notices.arena, &d->notices.conf,
		                     &d->notices.items[d->notices.next++]);
		return true;
	}
	if (dispatch_notices_take(d) > 0)
		return true;
	if (notify_next_due(&due) != E_OK || due < 0 || due > DISPATCH_IDLE_MAX_MS)
		due = DISPATCH_IDLE_MAX_MS;
	d->next_notify = dispatch_now() + (double)(due < 100 ? 100 : due) / 1000.0;
	return false;
}

/*
 * Rescue runs in every run: it is a compare-and-set over SKIP LOCKED rows, so concurrent runs
 * rescue each expired lease once, and a stalled run holding the maintenance lock cannot keep
 * its own expired items from being rescued.  Reconciliation calls WeChat Pay and runs only in
 * the run that holds the maintenance lock.
 */
static void dispatch_maintenance(struct dispatch *d)
{
	bool got = false;
	size_t n = 0;
	struct reconcile_stats st;
	struct reconcile_refund_stats rs;
	struct arena a;

	arena_init(&a, 8192);
	if (works_rescue(&a, &n) == E_OK && n > 0)
		log_info("dispatch: %zu expired leases rescued", n);
	d->n.rescued = n;
	if (notify_expire(&n) == E_OK && n > 0)
		log_warn("dispatch: %zu notices were claimed by a run that stopped during the "
		         "send: marked unknown, not sent again",
		         n);
	if (works_maintenance_lock(&got) != E_OK || !got) {
		log_info("dispatch: another run holds the maintenance lock; skipping maintenance");
	} else if (config_get()->wxpay_mchid != NULL && config_get()->wxpay_mchid[0] != '\0') {
		(void)reconcile_orders(&a, d->reconcile_after_s, 7200, RECONCILE_BATCH, &st);
		if (st.checked > 0)
			log_info("dispatch: orders %zu checked, %zu settled, %zu closed",
			         st.checked, st.settled, st.closed);
		/* refunds WeChat Pay has not confirmed: asked again (and sent again when it does
		 * not know them) with their own out_refund_no */
		(void)reconcile_refunds(&a, d->reconcile_after_s, RECONCILE_BATCH, &rs);
		if (rs.checked > 0)
			log_info("dispatch: refunds %zu checked, %zu succeeded, %zu closed, %zu "
			         "failed",
			         rs.checked, rs.succeeded, rs.closed, rs.failed);
	}
	arena_fini(&a);
}

/* Claims what the free slots can take and starts it; returns how many were claimed. */
static size_t dispatch_claim(struct dispatch *d)
{
	struct arena a;
	struct work_claim *c;
	size_t n = 0;
	int slots = d->concurrency - d->active;

	if (slots <= 0)
		return 0;
	arena_init(&a, 16384);
	if (works_claim(&a, slots, d->lease_s, d->owner, &c, &n) == E_OK) {
		runstats_claims(n);
		for (size_t i = 0; i < n; i++)
			dispatch_begin(d, &c[i]);
	}
	arena_fini(&a);
	return n;
}

/* Budget spent: async jobs waiting between polls go back to the queue. */
static void dispatch_release_waiting(struct dispatch *d)
{
	struct job *j = d->jobs, *next;

	for (; j != NULL; j = next) {
		next = j->next;
		if (j->phase != PH_WAIT)
			continue;
		if (works_release(&j->arena, j->w.id, j->w.attempt, j->model->poll_interval_ms) ==
		    E_OK) {
			d->n.released++;
			dispatch_log_outcome(j, "released (time budget spent), job kept", NULL,
			                     j->job_id);
		}
		dispatch_drop(d, j);
	}
}

/*
 * When to claim next once a claim found nothing due: at the earliest queued item's
 * run_after, at most DISPATCH_IDLE_MAX_MS away; a notification on WORKS_CHANNEL (a task
 * created, an item retried, released or rescued anywhere) claims at once.
 */
static double dispatch_next_claim(double now)
{
	long due = -1;

	if (works_listen() != E_OK || works_next_due(&due) != E_OK)
		due = 200; /* the database is away: try again soon */
	if (due < 0 || due > DISPATCH_IDLE_MAX_MS)
		due = DISPATCH_IDLE_MAX_MS;
	else if (due < 100)
		due = 100; /* due but not claimed: locked by another claim; no busy loop */
	return now + (double)due / 1000.0;
}

/*
 * The run: claims while slots are free, drives the transfers, and waits on curl's sockets
 * and the database's (LISTEN) at once, so a task created while the run waits starts at
 * the next wake-up, within milliseconds.  It ends when the budget is spent and nothing runs
 * (or, --until-idle, also as soon as nothing is due and nothing runs).
 */
static void dispatch_run(struct dispatch *d)
{
	double next_claim = 0;
	bool drained = false;

	d->notices_due = true; /* tasks an earlier run left unnotified, worked off between claims */
	dispatch_maintenance(d);
	if (works_models(&d->arena, &d->models, &d->nmodels) != E_OK) {
		log_error("dispatch: cannot read ai_models");
		return;
	}
	for (size_t i = 0; i < d->nmodels; i++)
		if (d->models[i].timeout_ms / 1000 + 10 > d->lease_s)
			log_warn(
			    "dispatch: model %s timeout %ld ms is too close to the lease (%ld s)",
			    d->models[i].name, d->models[i].timeout_ms, d->lease_s);
	d->cloud = cloudfetch_start(d->multi, d->cloud_batch, d->development);
	if (!d->until_idle && works_listen() != E_OK)
		log_warn("dispatch: LISTEN failed; new tasks wait for the next claim");
	d->last_heartbeat = dispatch_now();
	for (;;) {
		double now = dispatch_now();
		bool time_left = now < d->deadline && !dispatch_stop;
		int running = 0, numfds = 0;
		CURLMsg *msg;
		int left;
		long wait_ms = 200;
		struct curl_waitfd pg = {.events = CURL_WAIT_POLLIN};

		if (time_left && d->active < d->concurrency && (!drained || now >= next_claim)) {
			size_t got = dispatch_claim(d);
			drained = got == 0;
			next_claim = now + 0.2;
			if (drained && !d->until_idle)
				next_claim = dispatch_next_claim(now);
		}
		if (!time_left)
			dispatch_release_waiting(d);
		if (d->active == 0 && !cloudfetch_busy(d->cloud) &&
		    (!time_left || (drained && d->until_idle && !d->notices_due)))
			break;
		for (struct job *j = d->jobs, *next; j != NULL; j = next) {
			next = j->next;
			if (j->phase == PH_WAIT && j->wait_until <= now)
				dispatch_poll(d, j);
			else if (j->phase == PH_WAIT &&
			         (long)((j->wait_until - now) * 1000) < wait_ms)
				wait_ms = (long)((j->wait_until - now) * 1000) + 1;
		}
		curl_multi_perform(d->multi, &running);
		while ((msg = curl_multi_info_read(d->multi, &left)) != NULL) {
			struct job *j = NULL;
			if (msg->msg != CURLMSG_DONE ||
			    cloudfetch_done(d->cloud, msg->easy_handle, msg->data.result))
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
			dispatch_done(d, j, msg->data.result);
		}
		if (now - d->last_heartbeat >= (double)d->lease_s / 3.0)
			dispatch_heartbeat(d);
		if (!d->notices_due && now >= d->next_notify)
			d->notices_due = true; /* a retry may be due */
		if (d->notices_due)
			d->notices_due = dispatch_notify(d);
		if (d->active == 0 && drained && time_left) { /* idle: until a claim is due */
			double until = next_claim < d->deadline ? next_claim : d->deadline;
			if (d->next_notify < until)
				until = d->next_notify;
			wait_ms = (long)((until - now) * 1000.0) + 1;
		}
		if (d->notices_due)
			wait_ms = 0; /* the next message in the next pass, after its claims */
		pg.fd = db_socket(); /* after the statements above: a reconnect changes it */
		if (pg.fd >= 0 && db_notifies() > 0) {
			/* received while the statements above ran: libpq holds them already, so the
			 * socket would stay quiet until the next claim was due */
			drained = false;
			continue;
		}
		curl_multi_poll(d->multi, &pg, pg.fd >= 0 ? 1 : 0, (int)(wait_ms > 0 ? wait_ms : 1),
		                &numfds);
		if (pg.fd >= 0 && db_notifies() != 0)
			drained = false; /* notified, or the connection is lost: claim now */
	}
	cloudfetch_end(d->cloud);
	d->cloud = NULL;
	/* the batch taken (marked notified) is sent; a longer backlog is the next run's, so this
	 * run exits (and the next one listens) without waiting for it */
	while (d->notices.next < d->notices.n)
		(void)dispatch_notify(d);
}

/* --claim-only: the queue without providers (benchmarks, overlap tests). */
static int dispatch_claim_only(struct dispatch *d)
{
	struct arena a;
	size_t total = 0;

	arena_init(&a, 8192);
	for (;;) {
		struct work_claim *c;
		size_t n = 0;
		bool ended;

		if (works_claim(&a, 1, d->lease_s, d->owner, &c, &n) != E_OK)
			return 1;
		if (n == 0)
			break;
		if (works_succeed(&a, c[0].id, c[0].attempt, 0, "claim-only:", NULL, NULL,
		                  &ended) != E_OK)
			return 1;
		total++;
		arena_reset(&a);
	}
	arena_fini(&a);
	printf("%zu\n", total);
	return 0;
}

int main(int argc, char **argv)
{
	struct dispatch d = {0};
	const struct config *cfg;
	char err[256], host[64] = "host";
	double started;
	bool claim_only = argc == 2 && strcmp(argv[1], "--claim-only") == 0;
	int rc = 0;

	d.until_idle = argc == 2 && strcmp(argv[1], "--until-idle") == 0;
	if (argc > 2 || (argc == 2 && !claim_only && !d.until_idle)) {
		fputs("usage: aiphoto-dispatch [--until-idle | --claim-only]\n", stderr);
		return 2;
	}
	if (config_load(CONFIG_NEED_DB | CONFIG_NEED_REDIS, err, sizeof(err)) < 0) {
		fprintf(stderr, "aiphoto-dispatch: %s\n", err);
		return 1;
	}
	cfg = config_get();
	log_init("aiphoto-dispatch", (enum log_level)cfg->log_level);
	if (cfg->log_file != NULL && log_open(cfg->log_file) != 0) {
		fprintf(stderr, "aiphoto-dispatch: LOG_FILE %s: %s\n", cfg->log_file,
		        strerror(errno));
		return 1;
	}
	log_reopen_on_hup();
	d.concurrency = (int)cfg->dispatch_concurrency;
	d.budget_s = cfg->dispatch_budget_s;
	d.lease_s = cfg->dispatch_lease_s;
	d.retry_base_ms = cfg->dispatch_retry_base_ms;
	d.max_wait_s = cfg->dispatch_max_wait_s;
	d.reconcile_after_s = cfg->dispatch_reconcile_after_s;
	d.max_result = (size_t)cfg->dispatch_max_result_bytes;
	d.max_input = (size_t)cfg->dispatch_max_input_bytes;
	d.cloud_batch = cfg->dispatch_cloud_fetch_batch;
	d.development = cfg->development;
	gethostname(host, sizeof(host) - 1);
	snprintf(d.owner, sizeof(d.owner), "%.60s:%ld", host, (long)getpid());

	signal(SIGTERM, dispatch_on_signal);
	signal(SIGINT, dispatch_on_signal);
	signal(SIGPIPE, SIG_IGN);
	db_init(cfg->database_url, cfg->db_statement_timeout_ms, "aiphoto-dispatch");
	if (redis_init(cfg->redis_url) < 0) {
		fprintf(stderr, "aiphoto-dispatch: REDIS_URL cannot be used\n");
		return 1;
	}
	if (system_ping(0) != E_OK) {
		log_error("dispatch: the database is unreachable");
		db_fini();
		return 1;
	}
	if (claim_only) {
		rc = dispatch_claim_only(&d);
		db_fini();
		return rc;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	arena_init(&d.arena, 16384);
	arena_init(&d.notices.arena, 8192);
	d.multi = curl_multi_init();
	dispatch_multi = d.multi;
	started = dispatch_now();
	d.deadline = started + (double)d.budget_s;
	dispatch_run(&d);
	log_info(
	    "dispatch: run done in %.1f s: %zu claimed, %zu succeeded, %zu retried, %zu failed, "
	    "%zu released, %zu fenced out, %zu rescued, %zu tasks notified, %zu notices sent",
	    dispatch_now() - started, d.n.claimed, d.n.succeeded, d.n.retried, d.n.failed,
	    d.n.released, d.n.fenced, d.n.rescued, d.n.notified, d.n.sent);
	runstats_write(cfg->dispatch_metrics_file, dispatch_now() - started);
	while (d.jobs != NULL)
		dispatch_drop(&d, d.jobs);
	dispatch_multi = NULL;
	curl_multi_cleanup(d.multi);
	arena_fini(&d.notices.arena);
	arena_fini(&d.arena);
	redis_fini();
	httpc_fini();
	db_fini();
	curl_global_cleanup();
	return rc;
}
