/* users — see users.h. */
#include "model/users.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "lib/bizday.h"
#include "lib/db.h"
#include "model/sql.h"
#include "model/viewsql.h"

enum users_stmt {
	USERS_GET,
	USERS_CREDITS,
	USERS_ACTIVE,
	USERS_LISTEN,
	USERS_CREATE,
	USERS_UPDATE_PROFILE,
	USERS_SEARCH,
	USERS_DETAIL,
	USERS_LOCK,
	USERS_SET_STATUS,
	USERS__MAX
};

static const char *const users_sql[USERS__MAX] = {
    [USERS_GET] = "SELECT u.id, u.nickname, u.avatar_url, u.credits, u.invite_code, " SQL_TIME(
        "u.created_at") ", "
                        "EXISTS (SELECT 1 FROM wechat_identities w WHERE w.user_id = u.id AND "
                        "w.subscribed), "
                        "u.status <> 'active' FROM users u WHERE u.id = $1",
    /* $2 = today (lib/bizday); the check-in state lives on the row (migration 0002) */
    [USERS_CREDITS] = "SELECT credits, COALESCE(last_checkin_day = $2::date, false), "
                      "CASE WHEN last_checkin_day >= $2::date - 1 THEN checkin_streak ELSE 0 END, "
                      "status <> 'active' FROM users WHERE id = $1",
    /* the router's account rule: one primary-key read */
    [USERS_ACTIVE] = "SELECT status = 'active' FROM users WHERE id = $1",
    /* migration 0008: a status change or a deletion notifies this channel */
    [USERS_LISTEN] = "LISTEN aiphoto_accounts",
    [USERS_CREATE] = "INSERT INTO users (nickname) VALUES ($1) RETURNING id",
    /* NULL leaves a field as it is */
    [USERS_UPDATE_PROFILE] =
        "UPDATE users SET nickname = COALESCE($2, nickname), "
        "avatar_url = COALESCE($3, avatar_url) WHERE id = $1 AND status = 'active'",
    /* $1 q (NULL: everyone), $2 before id, $3 q as an id (NULL unless digits), $4 q as an
     * ILIKE pattern, $5 limit.  The exact keys use their indexes; the nickname is scanned. */
    [USERS_SEARCH] = "SELECT u.id, " SQL_USER_JSON "::text FROM users u "
                     "WHERE u.id < COALESCE($2::bigint, 9223372036854775807) "
                     "AND ($1::text IS NULL OR u.id = $3::bigint "
                     "OR u.invite_code = upper($1) OR u.nickname ILIKE $4 "
                     "OR u.id IN (SELECT w.user_id FROM wechat_identities w "
                     "WHERE w.openid = $1 OR w.unionid = $1)) ORDER BY u.id DESC LIMIT $5",
    /* the user with their identities and the 20 newest ledger rows, orders and tasks */
    [USERS_DETAIL] = "SELECT jsonb_build_object('user', " SQL_USER_JSON
                     " || jsonb_build_object('last_checkin_day', u.last_checkin_day, "
                     "'checkin_streak', u.checkin_streak), "
                     "'identities', COALESCE((SELECT jsonb_agg(" SQL_IDENTITY_JSON
                     " ORDER BY w.id) FROM wechat_identities w WHERE w.user_id = u.id), '[]'), "
                     "'ledger', COALESCE((SELECT jsonb_agg(" SQL_LEDGER_JSON
                     " ORDER BY l.id DESC) FROM (SELECT * FROM credit_ledger "
                     "WHERE user_id = u.id ORDER BY id DESC LIMIT 20) l), '[]'), "
                     "'orders', COALESCE((SELECT jsonb_agg(" SQL_ORDER_JSON
                     " ORDER BY o.id DESC) FROM (SELECT * FROM orders "
                     "WHERE user_id = u.id ORDER BY id DESC LIMIT 20) o), '[]'), "
                     "'tasks', COALESCE((SELECT jsonb_agg(" SQL_TASK_JSON
                     " ORDER BY t.id DESC) FROM (SELECT * FROM tasks "
                     "WHERE user_id = u.id ORDER BY id DESC LIMIT 20) t), '[]'))::text "
                     "FROM users u WHERE u.id = $1",
    [USERS_LOCK] = "SELECT " SQL_USER_JSON "::text FROM users u WHERE u.id = $1 FOR UPDATE",
    /* migration 0008's trigger notifies every worker's account memory at commit */
    [USERS_SET_STATUS] = "UPDATE users u SET status = $2 WHERE u.id = $1 AND u.status <> $2 "
                         "RETURNING " SQL_USER_JSON "::text",
};

static struct db_stmts users_stmts = DB_STMTS("users", users_sql);

enum api_err users_get(struct arena *a, int64_t id, struct user *out)
{
	const char *params[1] = {db_param_i64(a, id)};
	PGresult *res;
	enum api_err err = db_exec(&users_stmts, USERS_GET, 1, params, &res);

	if (err != E_OK)
		return err;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return E_NOT_FOUND;
	}
	out->id = db_i64(res, 0, 0);
	out->nickname = db_str(a, res, 0, 1);
	out->avatar_url = db_str(a, res, 0, 2);
	out->credits = db_i64(res, 0, 3);
	out->invite_code = db_str(a, res, 0, 4);
	out->created_at = db_str(a, res, 0, 5);
	out->subscribed = db_bool(res, 0, 6);
	out->disabled = db_bool(res, 0, 7);
	PQclear(res);
	return E_OK;
}

enum api_err users_credits(struct arena *a, int64_t id, struct user_credits *out)
{
	char today[11];
	const char *params[2] = {db_param_i64(a, id), today};
	PGresult *res;
	enum api_err err;

	bizday_format(time(NULL), today);
	err = db_exec(&users_stmts, USERS_CREDITS, 2, params, &res);

	if (err != E_OK)
		return err;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return E_NOT_FOUND;
	}
	out->credits = db_i64(res, 0, 0);
	out->checked_in_today = db_bool(res, 0, 1);
	out->checkin_streak = db_i64(res, 0, 2);
	out->disabled = db_bool(res, 0, 3);
	PQclear(res);
	return E_OK;
}

/*
 * What users_active found, per worker: a direct-mapped table keyed by id.  It holds only while
 * nothing can have changed: the worker LISTENs on aiphoto_accounts (migration 0008) and any
 * notification on it, a lost connection or a new one empties it (lib/db's watch moves the
 * epoch on).
 */
#define USERS_ACTIVE_SLOTS 1024

static struct {
	int64_t id;
	unsigned long epoch; /* valid while equal to users_watch.epoch */
	enum api_err found; /* E_OK or E_NOT_FOUND */
	bool active;
} users_seen[USERS_ACTIVE_SLOTS];
static struct db_watch users_watch = DB_WATCH("aiphoto_accounts");

/* The watch's LISTEN (db_watch_valid issues it when it is not in place). */
static enum api_err users_listen(void)
{
	PGresult *res;
	enum api_err err = db_exec(&users_stmts, USERS_LISTEN, 0, NULL, &res);

	PQclear(res);
	return err;
}

enum api_err users_active(struct arena *a, int64_t id, bool *active)
{
	const char *params[1] = {db_param_i64(a, id)};
	size_t slot = (size_t)((uint64_t)id % USERS_ACTIVE_SLOTS);
	PGresult *res;
	enum api_err err;

	*active = false;
	if (db_watch_valid(&users_watch, users_listen) && users_seen[slot].id == id &&
	    users_seen[slot].epoch == users_watch.epoch) {
		*active = users_seen[slot].active;
		return users_seen[slot].found;
	}
	if ((err = db_exec(&users_stmts, USERS_ACTIVE, 1, params, &res)) != E_OK)
		return err;
	if (PQntuples(res) != 1)
		err = E_NOT_FOUND;
	else
		*active = db_bool(res, 0, 0);
	PQclear(res);
	/* remembered only when the LISTEN was in place before the read (on this connection) */
	if (db_watch_listening(&users_watch)) {
		users_seen[slot].id = id;
		users_seen[slot].epoch = users_watch.epoch;
		users_seen[slot].found = err;
		users_seen[slot].active = *active;
	}
	return err;
}

enum api_err users_create(struct arena *a, const char *nickname, int64_t *id)
{
	const char *params[1] = {nickname ? nickname : ""};
	PGresult *res;
	enum api_err err = db_exec(&users_stmts, USERS_CREATE, 1, params, &res);

	(void)a;
	if (err != E_OK)
		return err;
	*id = db_i64(res, 0, 0);
	PQclear(res);
	return E_OK;
}

enum api_err users_update_profile(struct arena *a, int64_t id, const char *nickname,
                                  const char *avatar_url)
{
	const char *params[3] = {db_param_i64(a, id), nickname, avatar_url};
	PGresult *res;
	enum api_err err = db_exec(&users_stmts, USERS_UPDATE_PROFILE, 3, params, &res);

	PQclear(res);
	return err;
}

/* ------------------------------------------------------------------ the admin API */

/* q as an ILIKE pattern matching it anywhere: '%' + q with \, % and _ escaped + '%'. */
static const char *users_like(struct arena *a, const char *q)
{
	size_t n = strlen(q), o = 0;
	char *p = arena_alloc(a, 2 * n + 3);

	p[o++] = '%';
	for (size_t i = 0; i < n; i++) {
		if (q[i] == '\\' || q[i] == '%' || q[i] == '_')
			p[o++] = '\\';
		p[o++] = q[i];
	}
	p[o++] = '%';
	p[o] = '\0';
	return p;
}

/* q as an id parameter when it is all digits (at most 18: a bigint), else NULL. */
static const char *users_q_id(const char *q)
{
	size_t n = strlen(q);

	if (n == 0 || n > 18 || strspn(q, "0123456789") != n)
		return NULL;
	return q;
}

enum api_err users_search(struct arena *a, const char *q, const struct view_cursor *c,
                          struct view_page *out)
{
	const char *p[5] = {q, viewsql_before(a, c), q ? users_q_id(q) : NULL,
	                    q ? users_like(a, q) : NULL, viewsql_limit(a, c)};

	return viewsql_page(a, &users_stmts, USERS_SEARCH, 5, p, c->limit, out);
}

enum api_err users_detail(struct arena *a, int64_t id, char **json)
{
	const char *p[1] = {db_param_i64(a, id)};
	return viewsql_one(a, &users_stmts, USERS_DETAIL, 1, p, json);
}

struct users_status_ctx {
	int64_t id;
	const char *status;
	char *json;
};

static enum api_err users_status_tx(struct arena *a, void *ctx, struct audit_change *chg)
{
	struct users_status_ctx *c = ctx;
	const char *p[2] = {db_param_i64(a, c->id), c->status};
	char *before;
	enum api_err err = viewsql_one(a, &users_stmts, USERS_LOCK, 1, p, &before);

	if (err != E_OK)
		return err;
	chg->target_type = "user";
	chg->target_id = p[0];
	chg->before = before;
	err = viewsql_one(a, &users_stmts, USERS_SET_STATUS, 2, p, &c->json);
	if (err == E_NOT_FOUND) { /* already so: nothing to change or to audit */
		chg->unchanged = true;
		c->json = before;
		return E_OK;
	}
	chg->after = c->json;
	return err;
}

enum api_err users_set_status(struct arena *a, const struct audit_actor *who, int64_t id,
                              const char *status, char **json)
{
	struct users_status_ctx c = {.id = id, .status = status};
	enum api_err err = audit_run(a, who, "user.status", users_status_tx, &c);

	*json = err == E_OK ? c.json : NULL;
	return err;
}
