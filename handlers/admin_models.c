/*
 * admin_models — a test call of an AI model.
 *
 * POST /admin/ai-models/:id/test (operator) {"prompt"?: 1-1000 characters} → 200
 *      {"ai_model_id","outcome","code","message","http_status","duration_ms","polls",
 *      "job_id","image_url","mime","width","height","bytes"}: one generation against the
 *      model, active or not, through the dispatcher's adapter, within AITEST_MAX_MS (30 s)
 *      and the model's timeout per call (service/aitest.h says what each outcome means).
 *      Whatever the provider answers is a 200 that says it; the image, when there is one, is
 *      in the media store (image_url).  No task, no charge, no retry; the key comes from the
 *      variable the model names (its value is never answered or logged).  Audited
 *      (ai-model.test, the outcome: a call costs money at the provider).  404 unknown model;
 *      per admin 3 at once, then one every 10 s → 429 (each holds a worker while it runs).
 */
#include "handlers/handlers.h"
#include "lib/jsonx.h"
#include "model/works.h"
#include "service/aitest.h"

#define MODELS_TEST_PROMPT "A portrait photo of a person smiling, soft natural light (test)"

/* The outcome as the answer and the audit row show it. */
static json_object *models_result(int64_t id, const struct aitest_result *r)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ai_model_id", json_object_new_int64(id));
	json_object_object_add(o, "outcome", json_object_new_string(r->outcome));
	json_object_object_add(o, "code", jsonx_str_or_null(r->code));
	json_object_object_add(o, "message", jsonx_str_or_null(r->message));
	json_object_object_add(o, "http_status",
	                       r->http_status ? json_object_new_int64(r->http_status) : NULL);
	json_object_object_add(o, "duration_ms", json_object_new_int64(r->duration_ms));
	json_object_object_add(o, "polls", json_object_new_int(r->polls));
	json_object_object_add(o, "job_id", jsonx_str_or_null(r->job_id));
	json_object_object_add(o, "image_url", jsonx_str_or_null(r->image_url));
	json_object_object_add(o, "mime", jsonx_str_or_null(r->mime));
	json_object_object_add(o, "width", r->image_url ? json_object_new_int64(r->width) : NULL);
	json_object_object_add(o, "height", r->image_url ? json_object_new_int64(r->height) : NULL);
	json_object_object_add(o, "bytes",
	                       r->image_url ? json_object_new_int64((int64_t)r->bytes) : NULL);
	return o;
}

/* audit_work: the test was made outside any transaction; its row records the outcome. */
struct models_tested {
	const char *id, *after;
};

static enum api_err models_audit(struct arena *a, void *ctx, struct audit_change *chg)
{
	const struct models_tested *t = ctx;

	(void)a;
	chg->target_type = "ai-model";
	chg->target_id = t->id;
	chg->after = t->after;
	return E_OK;
}

static enum api_err models_test(struct request *req, struct reply *rep)
{
	struct audit_actor who = handlers_actor(req);
	const char *why = NULL, *prompt = MODELS_TEST_PROMPT;
	struct aitest_result r;
	struct ai_model m;
	struct models_tested t;
	json_object *o;
	int64_t id;
	enum api_err err;

	if ((err = handlers_id_object(req, rep, true, &id)) != E_OK)
		return err;
	if ((err = jsonx_string(req->arena, req->json, "prompt", false, 1, 1000, &prompt, &why)) !=
	    E_OK)
		return reply_error(rep, err, why);
	if ((err = works_model(req->arena, id, &m)) != E_OK)
		return err == E_NOT_FOUND ? reply_error(rep, err, "no such AI model") : err;
	if ((err = aitest_run(req->arena, &m, prompt, AITEST_MAX_MS, &r)) != E_OK)
		return err;
	o = models_result(id, &r);
	t = (struct models_tested){.id = arena_printf(req->arena, "%lld", (long long)id),
	                           .after = jsonx_text(req->arena, o)};
	if ((err = audit_run(req->arena, &who, "ai-model.test", models_audit, &t)) != E_OK) {
		json_object_put(o);
		return err;
	}
	return reply_ok(rep, 200, o);
}

/* Each test holds a worker for up to 30 s: a few at once per admin, then one every 10 s. */
static const struct rate_limit models_test_limit = {
    .name = "admin-ai-test", .per_minute = 6, .burst = 3};

static const struct route admin_models_list[] = {
    {.method = HTTP_POST,
     .pattern = "/admin/ai-models/:id/test",
     .auth = AUTH_ADMIN,
     .role = ROLE_OPERATOR,
     .body = BODY_JSON_OPTIONAL,
     .max_body = 4096,
     .handler = models_test,
     .limit = &models_test_limit},
};

ROUTE_TABLE(admin_models_routes, admin_models_list);
