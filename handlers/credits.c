/*
 * credits — credit packages (and, later, check-in, records, consumption).
 *
 * GET /credits/packages (public) → 200 [{"id","name","price_fen","credits","bonus_credits"}]
 *   active packages in display order; 503 when the database is down.
 */
#include "handlers/handlers.h"
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

static const struct route credits_list[] = {
    {.method = HTTP_GET,
     .pattern = "/credits/packages",
     .auth = AUTH_PUBLIC,
     .handler = credits_packages},
};

ROUTE_TABLE(credits_routes, credits_list);
