/* users — see users.h. */
#include "model/users.h"

#include <string.h>
#include <time.h>

#include "lib/bizday.h"
#include "lib/db.h"
#include "model/sql.h"

enum users_stmt {
	USERS_GET,
	USERS_CREDITS,
	USERS_ACTIVE,
	USERS_CREATE,
	USERS_UPDATE_PROFILE,
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
    [USERS_CREATE] = "INSERT INTO users (nickname) VALUES ($1) RETURNING id",
    /* NULL leaves a field as it is */
    [USERS_UPDATE_PROFILE] =
        "UPDATE users SET nickname = COALESCE($2, nickname), "
        "avatar_url = COALESCE($3, avatar_url) WHERE id = $1 AND status = 'active'",
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

enum api_err users_active(struct arena *a, int64_t id, bool *active)
{
	const char *params[1] = {db_param_i64(a, id)};
	PGresult *res;
	enum api_err err = db_exec(&users_stmts, USERS_ACTIVE, 1, params, &res);

	*active = false;
	if (err != E_OK)
		return err;
	if (PQntuples(res) != 1)
		err = E_NOT_FOUND;
	else
		*active = db_bool(res, 0, 0);
	PQclear(res);
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
