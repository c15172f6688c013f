/*
 * test_provider — the dispatcher's provider adapters (dispatcher/provider.c), no I/O: the
 * request each adapter builds for a work item, and the outcome of each recorded provider
 * answer (fixtures under tests/unit/fixtures/provider/, found from the repository root,
 * written from the providers' documented formats and the simulator, tests/sim/ext_ai.py).
 */
#include <check.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatcher/provider.h"
#include "tests/unit/suites.h"

#define PV_T_DIR "tests/unit/fixtures/provider/"

/* A fixture's text in the arena; fails the test when it is missing. */
static const char *pv_fixture(struct arena *a, const char *name, size_t *len)
{
	char path[256];
	FILE *f;
	char *buf;
	long size;

	snprintf(path, sizeof(path), PV_T_DIR "%s", name);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s (run from the repository root)", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	ck_assert(size > 0);
	rewind(f);
	buf = arena_alloc(a, (size_t)size + 1);
	*len = fread(buf, 1, (size_t)size, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static const struct ai_model pv_openai = {.id = 3,
                                          .name = "openai-main",
                                          .provider = "openai",
                                          .endpoint = "https://api.example.com/v1",
                                          .model = "gpt-image-1",
                                          .options =
                                              "{\"size\":\"1024x1024\",\"quality\":\"high\"}"};

static const struct ai_model pv_dashscope = {.id = 4,
                                             .name = "wanx",
                                             .provider = "dashscope",
                                             .endpoint = "https://dashscope.example.cn/api/v1",
                                             .model = "wanx-v1",
                                             .options = "{\"size\":\"1024*1024\"}"};

static const char *const pv_inputs[] = {"data:image/png;base64,AAAA",
                                        "data:image/jpeg;base64,BBBB"};

static struct work_claim pv_work(const char *type)
{
	return (struct work_claim){.id = 42,
	                           .task_id = 7,
	                           .attempt = 2,
	                           .max_attempts = 3,
	                           .type = type,
	                           .prompt = "a portrait, film style",
	                           .negative_prompt = "blurry"};
}

/* The header named name ("Name: value") of rq, or NULL. */
static const char *pv_header(const struct provider_request *rq, const char *name)
{
	size_t n = strlen(name);

	for (int i = 0; rq->headers[i] != NULL; i++)
		if (strncmp(rq->headers[i], name, n) == 0 && rq->headers[i][n] == ':')
			return rq->headers[i] + n + 2;
	return NULL;
}

/* A string member at a dotted path of o ("input.prompt"), or NULL. */
static const char *pv_str(json_object *o, const char *path)
{
	char buf[128], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k != NULL; k = strtok_r(NULL, ".", &save))
		if (!json_object_object_get_ex(o, k, &o))
			return NULL;
	return json_object_get_string(o);
}

START_TEST(provider_openai_request)
{
	struct arena a;
	struct work_claim w = pv_work("photography");
	struct provider_call c = {.model = &pv_openai,
	                          .work = &w,
	                          .api_key = "sk-test",
	                          .inputs = pv_inputs,
	                          .ninputs = 1};
	struct provider_request rq = {0};
	const struct provider_ops *ops = provider_find("openai");
	json_object *body, *img;

	ck_assert_ptr_nonnull(ops);
	ck_assert(!ops->async);
	arena_init(&a, 4096);
	ops->submit(&a, &c, &rq);
	ck_assert_str_eq(rq.method, "POST");
	ck_assert_str_eq(rq.url, "https://api.example.com/v1/images/generations");
	ck_assert_str_eq(pv_header(&rq, "Authorization"), "Bearer sk-test");
	ck_assert_str_eq(pv_header(&rq, "X-Client-Request-Id"), "work-42-2");
	ck_assert_str_eq(pv_header(&rq, "Content-Type"), "application/json");
	ck_assert_ptr_null(pv_header(&rq, "X-DashScope-Async"));
	ck_assert_uint_eq(rq.body_len, strlen(rq.body));
	body = json_tokener_parse(rq.body);
	ck_assert_ptr_nonnull(body);
	ck_assert_str_eq(pv_str(body, "model"), "gpt-image-1");
	ck_assert_str_eq(pv_str(body, "prompt"), "a portrait, film style");
	ck_assert_str_eq(pv_str(body, "negative_prompt"), "blurry");
	ck_assert_str_eq(pv_str(body, "n"), "1");
	ck_assert_str_eq(pv_str(body, "user"), "work-42");
	ck_assert_str_eq(pv_str(body, "size"), "1024x1024"); /* the model's options */
	ck_assert_str_eq(pv_str(body, "quality"), "high");
	ck_assert(json_object_object_get_ex(body, "image", &img));
	ck_assert_int_eq(json_object_array_length(img), 1);
	ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(img, 0)), pv_inputs[0]);
	json_object_put(body);
	arena_fini(&a);
}
END_TEST

START_TEST(provider_dashscope_requests)
{
	struct arena a;
	struct work_claim photo = pv_work("photography"), fit = pv_work("fitting");
	struct provider_call c = {.model = &pv_dashscope,
	                          .work = &photo,
	                          .api_key = "ds-key",
	                          .inputs = pv_inputs,
	                          .ninputs = 1};
	struct provider_request rq = {0};
	const struct provider_ops *ops = provider_find("dashscope");
	json_object *body, *refs;

	ck_assert_ptr_nonnull(ops);
	ck_assert(ops->async);
	arena_init(&a, 4096);
	/* photography: text2image with the uploads as ref_images */
	ops->submit(&a, &c, &rq);
	ck_assert_str_eq(rq.method, "POST");
	ck_assert_str_eq(rq.url, "https://dashscope.example.cn/api/v1/services/aigc/text2image/"
	                         "image-synthesis");
	ck_assert_str_eq(pv_header(&rq, "X-DashScope-Async"), "enable");
	ck_assert_str_eq(pv_header(&rq, "Authorization"), "Bearer ds-key");
	ck_assert_str_eq(pv_header(&rq, "X-Client-Request-Id"), "work-42-2");
	body = json_tokener_parse(rq.body);
	ck_assert_str_eq(pv_str(body, "model"), "wanx-v1");
	ck_assert_str_eq(pv_str(body, "input.prompt"), "a portrait, film style");
	ck_assert_str_eq(pv_str(body, "input.negative_prompt"), "blurry");
	ck_assert_str_eq(pv_str(body, "parameters.size"), "1024*1024");
	ck_assert_str_eq(pv_str(body, "parameters.n"), "1");
	ck_assert(
	    json_object_object_get_ex(json_object_object_get(body, "input"), "ref_images", &refs));
	ck_assert_int_eq(json_object_array_length(refs), 1);
	json_object_put(body);

	/* fitting: image2image with the person and the garment */
	c.work = &fit;
	c.ninputs = 2;
	memset(&rq, 0, sizeof(rq));
	ops->submit(&a, &c, &rq);
	ck_assert_str_eq(rq.url, "https://dashscope.example.cn/api/v1/services/aigc/image2image/"
	                         "image-synthesis");
	body = json_tokener_parse(rq.body);
	ck_assert_str_eq(pv_str(body, "input.person_image_url"), pv_inputs[0]);
	ck_assert_str_eq(pv_str(body, "input.top_garment_url"), pv_inputs[1]);
	ck_assert_ptr_null(pv_str(body, "input.ref_images"));
	json_object_put(body);

	/* poll: GET the task, its id escaped */
	memset(&rq, 0, sizeof(rq));
	ops->poll(&a, &c, "5c1f7e0a/../x y", &rq);
	ck_assert_str_eq(rq.method, "GET");
	ck_assert_str_eq(rq.url, "https://dashscope.example.cn/api/v1/tasks/5c1f7e0a%2F..%2Fx%20y");
	ck_assert_ptr_null(rq.body);
	ck_assert_str_eq(pv_header(&rq, "Authorization"), "Bearer ds-key");
	ck_assert_ptr_null(pv_header(&rq, "X-DashScope-Async"));
	arena_fini(&a);
}
END_TEST

/* One recorded answer: which parser reads it and the outcome it must give. */
static const struct {
	const char *fixture, *provider;
	bool poll; /* parse_poll rather than parse_submit */
	enum provider_outcome kind;
	const char *expect; /* url, job id or error code, by kind; NULL: not checked */
	bool forget_job;
} pv_answers[] = {
    {"openai_b64.json", "openai", false, PV_IMAGE, NULL, false},
    {"openai_url.json", "openai", false, PV_URL,
     "https://images.example.net/results/img-7Hq2.png?se=2026-12-01&sig=abc", false},
    {"openai_empty.json", "openai", false, PV_RETRY, "invalid_answer", false},
    {"not_json.txt", "openai", false, PV_RETRY, "invalid_answer", false},
    {"dashscope_submit.json", "dashscope", false, PV_JOB, "5c1f7e0a-33b2-4a5e-9d0e-2f7b51c0a9e4",
     false},
    {"dashscope_running.json", "dashscope", true, PV_PENDING, NULL, false},
    {"dashscope_succeeded_t2i.json", "dashscope", true, PV_URL,
     "https://results.example.cn/1d/r-0001.png?Expires=1764669609", false},
    {"dashscope_succeeded_tryon.json", "dashscope", true, PV_URL,
     "https://results.example.cn/tryon/t-0002.jpg?Expires=1764669675", false},
    {"dashscope_succeeded_no_url.json", "dashscope", true, PV_RETRY, "invalid_answer", false},
    {"dashscope_failed_policy.json", "dashscope", true, PV_FATAL, "DataInspectionFailed", true},
    {"dashscope_failed_internal.json", "dashscope", true, PV_RETRY, "InternalError.Algo", true},
    {"dashscope_unknown.json", "dashscope", true, PV_RETRY, "job_lost", true},
    {"dashscope_error_throttled.json", "dashscope", false, PV_RETRY, "invalid_answer", false},
    {"not_json.txt", "dashscope", true, PV_RETRY, "invalid_answer", false},
};

START_TEST(provider_parse_answers)
{
	struct arena a;
	struct provider_result r = {0};
	const struct provider_ops *ops = provider_find(pv_answers[_i].provider);
	const char *text, *got = NULL;
	size_t len;

	arena_init(&a, 4096);
	text = pv_fixture(&a, pv_answers[_i].fixture, &len);
	if (pv_answers[_i].poll)
		ops->parse_poll(&a, text, len, &r);
	else
		ops->parse_submit(&a, text, len, &r);
	ck_assert_msg(r.kind == pv_answers[_i].kind, "%s: outcome %d, expected %d",
	              pv_answers[_i].fixture, (int)r.kind, (int)pv_answers[_i].kind);
	switch (r.kind) {
	case PV_URL:
		got = r.url;
		break;
	case PV_JOB:
		got = r.job_id;
		break;
	case PV_RETRY:
	case PV_FATAL:
		got = r.code;
		ck_assert_ptr_nonnull(r.message);
		break;
	case PV_IMAGE:
		/* the decoded bytes: PNG signature and the start of IHDR */
		ck_assert_uint_eq(r.len, 16);
		ck_assert_mem_eq(r.bytes, "\x89PNG\r\n\x1a\n", 8);
		break;
	case PV_PENDING:
		break;
	}
	if (pv_answers[_i].expect != NULL)
		ck_assert_str_eq(got, pv_answers[_i].expect);
	ck_assert_int_eq(r.forget_job, pv_answers[_i].forget_job);
	arena_fini(&a);
}
END_TEST

/* Failed calls: status or transport error, with the provider's error body. */
static const struct {
	long status;
	int curl_code;
	bool too_large;
	const char *fixture; /* error body, or NULL */
	enum provider_outcome kind;
	const char *code;
	long retry_after_s; /* expected, given 7 s in the header */
} pv_failures[] = {
    {429, CURLE_OK, false, "openai_error_rate.json", PV_RETRY, "http_429", 7},
    {429, CURLE_OK, false, "dashscope_error_throttled.json", PV_RETRY, "http_429", 7},
    {400, CURLE_OK, false, "openai_error_policy.json", PV_FATAL, "content_policy_violation", 0},
    {500, CURLE_OK, false, "not_json.txt", PV_RETRY, "http_500", 0},
    {503, CURLE_OK, false, NULL, PV_RETRY, "http_503", 0},
    {401, CURLE_OK, false, NULL, PV_RETRY, "http_401", 0},
    {302, CURLE_OK, false, NULL, PV_FATAL, "redirect_refused", 0},
    {404, CURLE_OK, false, NULL, PV_FATAL, "http_404", 0},
    {0, CURLE_OPERATION_TIMEDOUT, false, NULL, PV_RETRY, "timeout", 0},
    {0, CURLE_COULDNT_CONNECT, false, NULL, PV_RETRY, "transport", 0},
    {0, CURLE_UNSUPPORTED_PROTOCOL, false, NULL, PV_FATAL, "url_refused", 0},
    {200, CURLE_WRITE_ERROR, true, NULL, PV_FATAL, "oversize", 0},
};

START_TEST(provider_classify_failures)
{
	struct arena a;
	struct provider_result r = {0};
	const char *body = NULL;
	size_t len;

	arena_init(&a, 4096);
	if (pv_failures[_i].fixture != NULL)
		body = pv_fixture(&a, pv_failures[_i].fixture, &len);
	provider_classify(&a, pv_failures[_i].status, pv_failures[_i].curl_code,
	                  pv_failures[_i].too_large, 7, body, &r);
	ck_assert_msg(r.kind == pv_failures[_i].kind, "case %d: outcome %d", _i, (int)r.kind);
	ck_assert_str_eq(r.code, pv_failures[_i].code);
	ck_assert_ptr_nonnull(r.message);
	ck_assert_int_eq(r.retry_after_s, pv_failures[_i].retry_after_s);
	arena_fini(&a);
}
END_TEST

START_TEST(provider_find_names)
{
	ck_assert_ptr_nonnull(provider_find("openai"));
	ck_assert_ptr_nonnull(provider_find("dashscope"));
	ck_assert_ptr_null(provider_find("OpenAI"));
	ck_assert_ptr_null(provider_find("kling"));
	ck_assert_ptr_null(provider_find(NULL));
}
END_TEST

#define PV_COUNT(t) ((int)(sizeof(t) / sizeof((t)[0])))

Suite *provider_suite(void)
{
	Suite *s = suite_create("provider");
	TCase *tc = tcase_create("requests");

	tcase_add_test(tc, provider_openai_request);
	tcase_add_test(tc, provider_dashscope_requests);
	tcase_add_test(tc, provider_find_names);
	suite_add_tcase(s, tc);
	tc = tcase_create("answers");
	tcase_add_loop_test(tc, provider_parse_answers, 0, PV_COUNT(pv_answers));
	tcase_add_loop_test(tc, provider_classify_failures, 0, PV_COUNT(pv_failures));
	suite_add_tcase(s, tc);
	return s;
}
