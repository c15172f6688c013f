/* events — see events.h. */
#include "model/events.h"

#include "lib/db.h"

enum events_stmt { EVENTS_INSERT, EVENTS__MAX };

static const char *const events_sql[EVENTS__MAX] = {
    [EVENTS_INSERT] =
        "INSERT INTO events (user_id, name, props, ip) VALUES ($1, $2, $3::jsonb, $4)",
};

static struct db_stmts events_stmts = DB_STMTS("events", events_sql);

enum api_err events_insert(struct arena *a, int64_t user_id, const char *name,
                           const char *props_json, const char *ip)
{
	const char *params[4] = {user_id > 0 ? db_param_i64(a, user_id) : NULL, name, props_json,
	                         ip};
	PGresult *res;
	enum api_err err = db_exec(&events_stmts, EVENTS_INSERT, 4, params, &res);

	PQclear(res);
	return err;
}
