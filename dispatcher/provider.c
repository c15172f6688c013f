/* provider — see provider.h. */
#include "dispatcher/provider.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "lib/crypto.h"
#include "lib/jsonx.h"

/* JSON text of obj in the arena; drops obj. */
static const char *provider_text(struct arena *a, json_object *obj, size_t *len)
{
	const char *s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
	                                                        JSON_C_TO_STRING_NOSLASHESCAPE);
	char *copy = arena_strdup(a, s);

	json_object_put(obj);
	*len = strlen(copy);
	return copy;
}

/* Copies every member of the model's options object into dst (provider-specific fields:
 * size, quality, response_format, …). */
static void provider_merge_options(const struct ai_model *m, json_object *dst)
{
	json_object *opts = jsonx_parse_or_empty(m->options);

	json_object_object_foreach(opts, k, v)
	{
		json_object_object_add(dst, k, json_object_get(v));
	}
	json_object_put(opts);
}

static void provider_common_headers(struct arena *a, const struct provider_call *c,
                                    struct provider_request *out, int *n)
{
	out->headers[(*n)++] = arena_printf(a, "Authorization: Bearer %s", c->api_key);
	out->headers[(*n)++] = arena_printf(a, "X-Client-Request-Id: work-%lld-%d",
	                                    (long long)c->work->id, c->work->attempt);
	out->headers[(*n)++] = "Accept: application/json";
}

static void provider_fail(struct provider_result *r, enum provider_outcome kind, const char *code,
                          const char *message)
{
	r->kind = kind;
	r->code = code;
	r->message = message;
}

/* A string member (borrowed) or NULL. */
static const char *provider_str(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static json_object *provider_member(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (o != NULL && json_object_is_type(o, json_type_object))
		json_object_object_get_ex(o, key, &v);
	return v;
}

/* Parses a provider answer that must be a JSON object; NULL (and r set) otherwise. */
static json_object *provider_parse(const char *body, size_t len, struct provider_result *r)
{
	json_object *root = NULL;
	struct json_tokener *tok = json_tokener_new();

	if (body != NULL && len > 0 && jsonx_text_ok(body, len))
		root = json_tokener_parse_ex(tok, body, (int)len);
	if (root != NULL && (json_tokener_get_error(tok) != json_tokener_success ||
	                     !json_object_is_type(root, json_type_object))) {
		json_object_put(root);
		root = NULL;
	}
	json_tokener_free(tok);
	if (root == NULL)
		provider_fail(r, PV_RETRY, "invalid_answer", "the provider's answer is not JSON");
	return root;
}

/* ------------------------------------------------------------------ OpenAI-compatible */

static void openai_submit(struct arena *a, const struct provider_call *c,
                          struct provider_request *out)
{
	json_object *body = json_object_new_object();
	int n = 0;

	json_object_object_add(body, "model", json_object_new_string(c->model->model));
	json_object_object_add(body, "prompt", json_object_new_string(c->work->prompt));
	if (c->work->negative_prompt != NULL && c->work->negative_prompt[0] != '\0')
		json_object_object_add(body, "negative_prompt",
		                       json_object_new_string(c->work->negative_prompt));
	json_object_object_add(body, "n", json_object_new_int(1));
	json_object_object_add(
	    body, "user",
	    json_object_new_string(arena_printf(a, "work-%lld", (long long)c->work->id)));
	if (c->ninputs > 0) {
		json_object *imgs = json_object_new_array();
		for (size_t i = 0; i < c->ninputs; i++)
			json_object_array_add(imgs, json_object_new_string(c->inputs[i]));
		json_object_object_add(body, "image", imgs);
	}
	provider_merge_options(c->model, body);
	out->method = "POST";
	out->url = arena_printf(a, "%s/images/generations", c->model->endpoint);
	provider_common_headers(a, c, out, &n);
	out->headers[n++] = "Content-Type: application/json";
	out->headers[n] = NULL;
	out->body = provider_text(a, body, &out->body_len);
}

static void openai_parse(struct arena *a, const char *text, size_t len, struct provider_result *r)
{
	json_object *root = provider_parse(text, len, r), *data, *first;
	const char *b64, *url;

	if (root == NULL)
		return;
	data = provider_member(root, "data");
	first = data != NULL && json_object_is_type(data, json_type_array) &&
	                json_object_array_length(data) > 0
	            ? json_object_array_get_idx(data, 0)
	            : NULL;
	if ((b64 = provider_str(first, "b64_json")) != NULL) {
		size_t n = 0;
		unsigned char *bytes = crypto_b64_decode(b64, strlen(b64), false, &n);

		if (bytes == NULL) {
			provider_fail(r, PV_RETRY, "invalid_answer", "b64_json is not base64");
		} else {
			r->kind = PV_IMAGE;
			r->bytes = arena_alloc(a, n + 1);
			memcpy(r->bytes, bytes, n);
			r->len = n;
			free(bytes);
		}
	} else if ((url = provider_str(first, "url")) != NULL) {
		r->kind = PV_URL;
		r->url = arena_strdup(a, url);
	} else {
		provider_fail(r, PV_RETRY, "invalid_answer", "no image in data[0]");
	}
	json_object_put(root);
}

/* ------------------------------------------------------------------ DashScope style */

static void dashscope_submit(struct arena *a, const struct provider_call *c,
                             struct provider_request *out)
{
	json_object *body = json_object_new_object(), *input = json_object_new_object();
	json_object *params = json_object_new_object();
	bool fitting = strcmp(c->work->type, "fitting") == 0;
	int n = 0;

	json_object_object_add(body, "model", json_object_new_string(c->model->model));
	json_object_object_add(input, "prompt", json_object_new_string(c->work->prompt));
	if (c->work->negative_prompt != NULL && c->work->negative_prompt[0] != '\0')
		json_object_object_add(input, "negative_prompt",
		                       json_object_new_string(c->work->negative_prompt));
	if (fitting && c->ninputs >= 2) {
		json_object_object_add(input, "person_image_url",
		                       json_object_new_string(c->inputs[0]));
		json_object_object_add(input, "top_garment_url",
		                       json_object_new_string(c->inputs[1]));
	} else if (c->ninputs > 0) {
		json_object *imgs = json_object_new_array();
		for (size_t i = 0; i < c->ninputs; i++)
			json_object_array_add(imgs, json_object_new_string(c->inputs[i]));
		json_object_object_add(input, "ref_images", imgs);
	}
	json_object_object_add(body, "input", input);
	provider_merge_options(c->model, params);
	json_object_object_add(params, "n", json_object_new_int(1));
	json_object_object_add(body, "parameters", params);
	out->method = "POST";
	out->url = arena_printf(a, "%s/services/aigc/%s/image-synthesis", c->model->endpoint,
	                        fitting ? "image2image" : "text2image");
	provider_common_headers(a, c, out, &n);
	out->headers[n++] = "Content-Type: application/json";
	out->headers[n++] = "X-DashScope-Async: enable";
	out->headers[n] = NULL;
	out->body = provider_text(a, body, &out->body_len);
}

static void dashscope_parse_submit(struct arena *a, const char *text, size_t len,
                                   struct provider_result *r)
{
	json_object *root = provider_parse(text, len, r);
	const char *id;

	if (root == NULL)
		return;
	id = provider_str(provider_member(root, "output"), "task_id");
	if (id != NULL && id[0] != '\0' && strlen(id) <= 128) {
		r->kind = PV_JOB;
		r->job_id = arena_strdup(a, id);
	} else {
		provider_fail(r, PV_RETRY, "invalid_answer", "no output.task_id");
	}
	json_object_put(root);
}

static void dashscope_poll(struct arena *a, const struct provider_call *c, const char *job_id,
                           struct provider_request *out)
{
	CURL *esc = curl_easy_init();
	char *e = esc ? curl_easy_escape(esc, job_id, 0) : NULL;
	int n = 0;

	out->method = "GET";
	out->url = arena_printf(a, "%s/tasks/%s", c->model->endpoint, e ? e : "");
	curl_free(e);
	curl_easy_cleanup(esc);
	provider_common_headers(a, c, out, &n);
	out->headers[n] = NULL;
	out->body = NULL;
	out->body_len = 0;
}

/* Failure codes after which another attempt would be refused the same way. */
static bool dashscope_final_code(const char *code)
{
	static const char *const final[] = {"DataInspectionFailed", "InvalidParameter",
	                                    "IPInfringementSuspect", "InvalidInputLength"};

	for (size_t i = 0; code != NULL && i < sizeof(final) / sizeof(final[0]); i++)
		if (strcmp(code, final[i]) == 0)
			return true;
	return false;
}

static void dashscope_parse_poll(struct arena *a, const char *text, size_t len,
                                 struct provider_result *r)
{
	json_object *root = provider_parse(text, len, r), *out, *results;
	const char *status, *url = NULL, *code;

	if (root == NULL)
		return;
	out = provider_member(root, "output");
	status = provider_str(out, "task_status");
	if (status == NULL) {
		provider_fail(r, PV_RETRY, "invalid_answer", "no output.task_status");
	} else if (strcmp(status, "PENDING") == 0 || strcmp(status, "RUNNING") == 0) {
		r->kind = PV_PENDING;
	} else if (strcmp(status, "SUCCEEDED") == 0) {
		results = provider_member(out, "results");
		if (results != NULL && json_object_is_type(results, json_type_array) &&
		    json_object_array_length(results) > 0)
			url = provider_str(json_object_array_get_idx(results, 0), "url");
		if (url == NULL)
			url = provider_str(out, "image_url");
		if (url != NULL) {
			r->kind = PV_URL;
			r->url = arena_strdup(a, url);
		} else {
			provider_fail(r, PV_RETRY, "invalid_answer",
			              "SUCCEEDED without a result url");
		}
	} else if (strcmp(status, "FAILED") == 0) {
		code = provider_str(out, "code");
		provider_fail(r, dashscope_final_code(code) ? PV_FATAL : PV_RETRY,
		              code ? arena_strdup(a, code) : "provider_failed",
		              arena_strdup(a, provider_str(out, "message")
		                                  ? provider_str(out, "message")
		                                  : "the provider failed"));
		r->forget_job = true;
	} else { /* CANCELED, UNKNOWN (expired or unknown id) */
		provider_fail(r, PV_RETRY, "job_lost",
		              arena_printf(a, "task_status %.32s", status));
		r->forget_job = true;
	}
	json_object_put(root);
}

static const struct provider_ops provider_table[] = {
    {.name = "openai", .async = false, .submit = openai_submit, .parse_submit = openai_parse},
    {.name = "dashscope",
     .async = true,
     .input_urls = true,
     .submit = dashscope_submit,
     .parse_submit = dashscope_parse_submit,
     .poll = dashscope_poll,
     .parse_poll = dashscope_parse_poll},
};

const struct provider_ops *provider_find(const char *name)
{
	for (size_t i = 0; name != NULL && i < sizeof(provider_table) / sizeof(provider_table[0]);
	     i++)
		if (strcmp(provider_table[i].name, name) == 0)
			return &provider_table[i];
	return NULL;
}

/* The error code a provider put in its error body: {"error":{"code"|"type"}} (OpenAI) or
 * {"code"} (DashScope). */
static const char *provider_error_code(struct arena *a, const char *body)
{
	json_object *root = body ? json_tokener_parse(body) : NULL, *err;
	const char *code = NULL;

	if (root != NULL && json_object_is_type(root, json_type_object)) {
		err = provider_member(root, "error");
		code = provider_str(err, "code");
		if (code == NULL)
			code = provider_str(err, "type");
		if (code == NULL)
			code = provider_str(root, "code");
		if (code != NULL) {
			/* a machine code goes to works.error_code: keep it to [A-Za-z0-9_.-] so an
			 * odd provider body (any bytes, any length) cannot break the write */
			char *c = arena_strndup(a, code, 64);
			for (char *p = c; *p; p++)
				if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
				      (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' ||
				      *p == '-'))
					*p = '_';
			code = c;
		}
	}
	json_object_put(root);
	return code;
}

void provider_classify(struct arena *a, long status, int curl_code, bool too_large,
                       long retry_after_s, const char *body, struct provider_result *r)
{
	const char *code;

	r->retry_after_s = 0;
	if (too_large) {
		provider_fail(r, PV_FATAL, "oversize", "the answer exceeds the size limit");
	} else if (curl_code == CURLE_OPERATION_TIMEDOUT) {
		provider_fail(r, PV_RETRY, "timeout", "the provider did not answer in time");
	} else if (curl_code == CURLE_UNSUPPORTED_PROTOCOL) {
		provider_fail(r, PV_FATAL, "url_refused", "only https URLs are allowed");
	} else if (curl_code != CURLE_OK) {
		provider_fail(r, PV_RETRY, "transport",
		              arena_strdup(a, curl_easy_strerror((CURLcode)curl_code)));
	} else if (status >= 300 && status < 400) {
		provider_fail(r, PV_FATAL, "redirect_refused",
		              arena_printf(a, "HTTP %ld: redirects are not followed", status));
	} else if (status == 429 || status == 408 || status >= 500 || status == 401 ||
	           status == 403) {
		code = provider_error_code(a, body);
		provider_fail(r, PV_RETRY, arena_printf(a, "http_%ld", status),
		              code ? arena_printf(a, "HTTP %ld %s", status, code)
		                   : arena_printf(a, "HTTP %ld", status));
		if (status == 429)
			r->retry_after_s = retry_after_s;
	} else {
		code = provider_error_code(a, body);
		provider_fail(
		    r, PV_FATAL, code ? code : arena_printf(a, "http_%ld", status),
		    arena_printf(a, "HTTP %ld%s%s", status, code ? " " : "", code ? code : ""));
	}
}
