/*
 * credits — packages, daily check-in, the ledger listing and consumption.
 *
 * GET  /credits/packages (public) → 200 [{"id","name","price_fen","credits","bonus_credits"}]
 *      active packages in display order.
 * POST /credits/checkin (user) → 200 {"credits_awarded","credits","streak"}; the second time
 *      the same Asia/Shanghai day → 409 ALREADY_DONE.  Rules from system_config.checkin
 *      (base_credits + streak_bonus × min(streak − 1, max_bonus_days)).  On a development
 *      stack the header X-Test-Date: YYYY-MM-DD sets the day (tests cross midnight with it).
 * GET  /credits/records?kind=recharge|consume|all&limit=1-50&cursor= (user) → 200
 *      {"items":[{"id","delta","balance_after","kind","memo","created_at"}],"next_cursor"}
 *      newest first; consume includes refunds; 400 naming a bad parameter.
 * POST /credits/consume (user) {"amount":1-100000,"reason"?} + Idempotency-Key (required,
 *      checked by the router) → 200 {"credits"}; short balance → 402 and nothing changed;
 *      the same key and body → the first answer (also a 402); the same key with another
 *      body → 409 IDEMPOTENCY_MISMATCH.  One statement the first time, one read a repeat.
 * All: 503 when the database is down.
 */
#include <stdio.h>
#include <string.h>

#include "handlers/handlers.h"
#include "lib/jsonx.h"
#include "model/credits.h"
#include "model/packages.h"

static enum api_err credits_packages(struct request *req, struct reply *rep)
{
	struct package *p;
	size_t n;
	enum api_err err = packages_list_active(req->arena, &p, &n);
	json_object *arr;

	if (err != E_OK)
		return err;
	arr = json_object_new_array_ext((int)n);
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_int64(p[i].id));
		json_object_object_add(o, "name", json_object_new_string(p[i].name));
		json_object_object_add(o, "price_fen", json_object_new_int64(p[i].price_fen));
		json_object_object_add(o, "credits", json_object_new_int64(p[i].credits));
		json_object_object_add(o, "bonus_credits",
		                       json_object_new_int64(p[i].bonus_credits));
		json_object_array_add(arr, o);
	}
	return reply_ok(rep, 200, arr);
}

static enum api_err credits_checkin_post(struct request *req, struct reply *rep)
{
	struct checkin_rule rule = {.base = 5, .streak_bonus = 1, .max_bonus_days = 6};
	struct checkin_result r;
	char today[11];
	enum api_err err;
	json_object *o;

	if ((err = handlers_today(req, rep, today)) != E_OK)
		return err;
	handlers_config_int(req, "checkin", "base_credits", &rule.base);
	handlers_config_int(req, "checkin", "streak_bonus", &rule.streak_bonus);
	handlers_config_int(req, "checkin", "max_bonus_days", &rule.max_bonus_days);
	if ((err = credits_checkin(req->arena, req->user_id, today, &rule, &r)) != E_OK)
		return err == E_ALREADY_DONE ? reply_error(rep, err, "今天已经签到过了") : err;
	o = json_object_new_object();
	json_object_object_add(o, "credits_awarded", json_object_new_int64(r.awarded));
	json_object_object_add(o, "credits", json_object_new_int64(r.credits));
	json_object_object_add(o, "streak", json_object_new_int64(r.streak));
	return reply_ok(rep, 200, o);
}

static enum api_err credits_records_get(struct request *req, struct reply *rep)
{
	const char *kind = request_query(req, "kind");
	enum credits_filter f = CREDITS_ALL;
	long limit, before;
	struct ledger_row *rows;
	size_t n;
	bool more;
	enum api_err err;
	json_object *items;

	if (kind != NULL && *kind != '\0') {
		if (strcmp(kind, "recharge") == 0)
			f = CREDITS_RECHARGE;
		else if (strcmp(kind, "consume") == 0)
			f = CREDITS_CONSUME;
		else if (strcmp(kind, "all") != 0)
			return reply_error(rep, E_BAD_REQUEST, "kind: recharge, consume or all");
	}
	if ((err = handlers_page_params(req, rep, &limit, &before)) != E_OK ||
	    (err = credits_records(req->arena, req->user_id, f, before, (int)limit, &rows, &n,
	                           &more)) != E_OK)
		return err;
	items = json_object_new_array_ext((int)n);
	for (size_t i = 0; i < n; i++) {
		json_object *r = json_object_new_object();
		json_object_object_add(r, "id", json_object_new_int64(rows[i].id));
		json_object_object_add(r, "delta", json_object_new_int64(rows[i].delta));
		json_object_object_add(r, "balance_after",
		                       json_object_new_int64(rows[i].balance_after));
		json_object_object_add(r, "kind", json_object_new_string(rows[i].kind));
		json_object_object_add(r, "memo", json_object_new_string(rows[i].memo));
		json_object_object_add(r, "created_at", json_object_new_string(rows[i].created_at));
		json_object_array_add(items, r);
	}
	return reply_ok(rep, 200,
	                handlers_page(req, items, more && n > 0, n > 0 ? rows[n - 1].id : 0));
}

static enum api_err credits_consume_post(struct request *req, struct reply *rep)
{
	struct idem_key k = handlers_idem_key(req);
	struct idem_outcome out;
	const char *why = NULL, *reason = "";
	int64_t amount = 0, credits = 0;
	enum api_err err;
	json_object *o;

	if ((err = jsonx_require_object(req->arena, req->json, &why)) != E_OK ||
	    (err = jsonx_int(req->arena, req->json, "amount", true, 1, 100000, &amount, &why)) !=
	        E_OK ||
	    (err = jsonx_string(req->arena, req->json, "reason", false, 0, 128, &reason, &why)) !=
	        E_OK)
		return reply_error(rep, err, why);
	if ((err = credits_consume(req->arena, &k, amount, reason, &out, &credits)) != E_OK)
		return err;
	if (out.err != E_OK)
		return out.err; /* a short balance, also when replayed */
	o = json_object_new_object();
	json_object_object_add(o, "credits", json_object_new_int64(credits));
	return reply_ok(rep, 200, o);
}

static const struct route credits_list[] = {
    {.method = HTTP_GET,
     .pattern = "/credits/packages",
     .auth = AUTH_PUBLIC,
     .handler = credits_packages},
    {.method = HTTP_POST,
     .pattern = "/credits/checkin",
     .auth = AUTH_USER,
     .body = BODY_JSON_OPTIONAL,
     .max_body = 1024,
     .handler = credits_checkin_post},
    {.method = HTTP_GET,
     .pattern = "/credits/records",
     .auth = AUTH_USER,
     .handler = credits_records_get},
    {.method = HTTP_POST,
     .pattern = "/credits/consume",
     .auth = AUTH_USER,
     .body = BODY_JSON,
     .max_body = 4096,
     .handler = credits_consume_post,
     .idempotency = IDEMPOTENCY_REQUIRED},
};

ROUTE_TABLE(credits_routes, credits_list);
