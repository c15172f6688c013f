/* system — see system.h. */
#include "model/system.h"

#include "lib/db.h"
#include "lib/gray.h"
#include "model/sql.h"
#include "model/viewsql.h"

enum system_stmt {
	SYSTEM_PING,
	SYSTEM_CONFIG_GET,
	SYSTEM_BACKEND_GET,
	SYSTEM_BACKEND_ENSURE,
	SYSTEM_BACKEND_EDIT,
	SYSTEM_CONFIG_VIEW,
	SYSTEM_CONFIG_LOCK,
	SYSTEM_CONFIG_PUT,
	SYSTEM__MAX
};

/* A list of backend_config (white_list, black_list) as a jsonb array: [] when it is not one. */
#define SYSTEM_LIST(field)                                                          \
	"(CASE WHEN jsonb_typeof(value->'" field "') = 'array' THEN value->'" field \
	"' ELSE '[]'::jsonb END)"
#define SYSTEM_WHITE SYSTEM_LIST("white_list")
#define SYSTEM_BLACK SYSTEM_LIST("black_list")
/* That list edited as struct system_list_edit says, from the text[] parameters add and del
 * and the boolean parameter clear. */
#define SYSTEM_LIST_EDIT(list, add, del, clear)                                      \
	"(((CASE WHEN " clear "::boolean THEN '[]'::jsonb ELSE " list " END) - " del \
	"::text[]) - " add "::text[]) || to_jsonb(" add "::text[])"
#define SYSTEM_WHITE_EDIT SYSTEM_LIST_EDIT(SYSTEM_WHITE, "$5", "$6", "$7")
#define SYSTEM_BLACK_EDIT SYSTEM_LIST_EDIT(SYSTEM_BLACK, "$8", "$9", "$10")
#define SYSTEM_NOW SQL_TIME("now()")
/* A document as the admin API shows it. */
#define SYSTEM_VIEW                                                                 \
	"jsonb_build_object('key', key, 'value', value, 'updated_by', updated_by, " \
	"'updated_at', aiphoto_time(updated_at))::text"

static const char *const system_sql[SYSTEM__MAX] = {
    [SYSTEM_PING] = "SELECT 1",
    [SYSTEM_CONFIG_GET] = "SELECT value::text FROM system_config WHERE key = $1",
    /* $1 = the openid asked about, or NULL (then both memberships are false) */
    [SYSTEM_BACKEND_GET] = "SELECT (CASE WHEN jsonb_typeof(value) = 'object' "
                           "THEN value - 'white_list' - 'black_list' ELSE '{}'::jsonb END)::text, "
                           "COALESCE(" SYSTEM_WHITE " ? $1, false), "
                           "COALESCE(" SYSTEM_BLACK " ? $1, false) "
                           "FROM system_config WHERE key = '" SYSTEM_BACKEND_KEY "'",
    [SYSTEM_BACKEND_ENSURE] = "INSERT INTO system_config (key, value) VALUES ('" SYSTEM_BACKEND_KEY
                              "', '" GRAY_DEFAULT_CONFIG "') ON CONFLICT (key) DO NOTHING",
    /* $1 backend_type, $2 server_url, $3 gray_percent, $4 gray_release (NULL: unchanged);
     * white list $5 add, $6 del, $7 clear; black list $8 add, $9 del, $10 clear */
    [SYSTEM_BACKEND_EDIT] =
        "UPDATE system_config SET value = "
        "(CASE WHEN jsonb_typeof(value) = 'object' THEN value ELSE '{}'::jsonb END) "
        "|| jsonb_strip_nulls(jsonb_build_object('backend_type', $1::text, 'server_url', "
        "$2::text, 'gray_percent', $3::integer, 'gray_release', $4::boolean)) "
        "|| jsonb_build_object('white_list', " SYSTEM_WHITE_EDIT
        ", 'black_list', " SYSTEM_BLACK_EDIT ", 'updated_at', " SYSTEM_NOW ") "
        "WHERE key = '" SYSTEM_BACKEND_KEY "' RETURNING value::text",
    [SYSTEM_CONFIG_VIEW] = "SELECT " SYSTEM_VIEW " FROM system_config WHERE key = $1",
    [SYSTEM_CONFIG_LOCK] = "SELECT " SYSTEM_VIEW " FROM system_config WHERE key = $1 FOR UPDATE",
    /* $1 key, $2 value, $3 admin (NULL: aiphotoctl) */
    [SYSTEM_CONFIG_PUT] =
        "INSERT INTO system_config AS c (key, value, updated_by) VALUES ($1, $2::jsonb || "
        "(CASE WHEN $1 = '" SYSTEM_BACKEND_KEY "' THEN jsonb_build_object('updated_at', " SYSTEM_NOW
        ") ELSE '{}'::jsonb END), $3) ON CONFLICT (key) DO UPDATE SET "
        "value = EXCLUDED.value, updated_by = EXCLUDED.updated_by, updated_at = now() "
        "RETURNING " SYSTEM_VIEW,
};

static struct db_stmts system_stmts = DB_STMTS("system", system_sql);

enum api_err system_ping(long fresh_ms)
{
	PGresult *res;
	enum api_err err;

	if (fresh_ms > 0 && db_recently_ok(fresh_ms))
		return E_OK;
	err = db_exec(&system_stmts, SYSTEM_PING, 0, NULL, &res);
	PQclear(res);
	return err == E_OK ? E_OK : E_UNAVAILABLE;
}

enum api_err system_config_get(struct arena *a, const char *key, char **json)
{
	const char *params[1] = {key};
	PGresult *res;
	enum api_err err = db_exec(&system_stmts, SYSTEM_CONFIG_GET, 1, params, &res);

	*json = NULL;
	if (err != E_OK)
		return err;
	if (PQntuples(res) == 1)
		*json = db_str(a, res, 0, 0);
	PQclear(res);
	return E_OK;
}

enum api_err system_backend_get(struct arena *a, const char *openid, char **json, bool *white,
                                bool *black)
{
	const char *params[1] = {openid};
	PGresult *res;
	enum api_err err = db_exec(&system_stmts, SYSTEM_BACKEND_GET, 1, params, &res);

	*json = NULL;
	*white = *black = false;
	if (err != E_OK)
		return err;
	if (PQntuples(res) == 1) {
		*json = db_str(a, res, 0, 0);
		*white = db_bool(res, 0, 1);
		*black = db_bool(res, 0, 2);
	}
	PQclear(res);
	return E_OK;
}

enum api_err system_backend_edit(struct arena *a, const struct system_backend_edit *e, char **json)
{
	const char *params[10] = {
	    e->backend_type,
	    e->server_url,
	    e->gray_percent >= 0 ? db_param_i64(a, e->gray_percent) : NULL,
	    e->gray_release >= 0 ? (e->gray_release ? "true" : "false") : NULL,
	    db_param_text_array(a, e->white.add, e->white.nadd),
	    db_param_text_array(a, e->white.del, e->white.ndel),
	    e->white.clear ? "true" : "false",
	    db_param_text_array(a, e->black.add, e->black.nadd),
	    db_param_text_array(a, e->black.del, e->black.ndel),
	    e->black.clear ? "true" : "false",
	};
	PGresult *res;
	enum api_err err;

	*json = NULL;
	if ((err = db_exec(&system_stmts, SYSTEM_BACKEND_ENSURE, 0, NULL, &res)) != E_OK)
		return err;
	PQclear(res);
	if ((err = db_exec(&system_stmts, SYSTEM_BACKEND_EDIT, 10, params, &res)) != E_OK)
		return err;
	if (PQntuples(res) == 1)
		*json = db_str(a, res, 0, 0);
	else
		err = E_NOT_FOUND; /* deleted between the two statements */
	PQclear(res);
	return err;
}

enum api_err system_config_view(struct arena *a, const char *key, char **json)
{
	const char *p[1] = {key};
	return viewsql_one(a, &system_stmts, SYSTEM_CONFIG_VIEW, 1, p, json);
}

struct system_put_ctx {
	const struct audit_actor *who;
	const char *key, *value;
	char *json;
};

static enum api_err system_put_tx(struct arena *a, void *ctx, struct audit_change *chg)
{
	struct system_put_ctx *c = ctx;
	const char *p[3] = {c->key, c->value,
	                    c->who->admin_id > 0 ? db_param_i64(a, c->who->admin_id) : NULL};
	PGresult *res;
	enum api_err err = db_exec(&system_stmts, SYSTEM_CONFIG_LOCK, 1, p, &res);

	if (err != E_OK)
		return err;
	chg->before = PQntuples(res) == 1 ? db_str(a, res, 0, 0) : NULL;
	PQclear(res);
	if ((err = db_exec(&system_stmts, SYSTEM_CONFIG_PUT, 3, p, &res)) != E_OK)
		return err;
	c->json = db_str(a, res, 0, 0);
	PQclear(res);
	chg->target_type = "config";
	chg->target_id = c->key;
	chg->after = c->json;
	return E_OK;
}

enum api_err system_config_put(struct arena *a, const struct audit_actor *who, const char *key,
                               const char *value, char **json)
{
	struct system_put_ctx c = {.who = who, .key = key, .value = value};
	enum api_err err = audit_run(a, who, "config.update", system_put_tx, &c);

	*json = err == E_OK ? c.json : NULL;
	return err;
}
