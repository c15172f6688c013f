/* identities — see identities.h. */
#include "model/identities.h"

#include <string.h>

#include "lib/db.h"

enum identities_stmt {
	ID_LOCK,
	ID_FIND,
	ID_FIND_UNION,
	ID_NEW_USER,
	ID_UPSERT,
	ID_FILL_PROFILE,
	ID_UNSUBSCRIBE,
	ID_CLAIM_MESSAGE,
	ID_OPENID,
	ID__MAX
};

static const char *const identities_sql[ID__MAX] = {
    [ID_LOCK] = "SELECT pg_advisory_xact_lock(hashtext($1))",
    [ID_FIND] = "SELECT user_id FROM wechat_identities WHERE appid = $1 AND openid = $2",
    [ID_FIND_UNION] =
        "SELECT user_id FROM wechat_identities WHERE unionid = $1 ORDER BY id LIMIT 1",
    [ID_NEW_USER] = "INSERT INTO users (nickname, avatar_url) VALUES ($1, $2) RETURNING id",
    /* $6: true/false sets the subscribed flag, NULL keeps it */
    [ID_UPSERT] =
        "INSERT INTO wechat_identities (user_id, app_kind, appid, openid, unionid, subscribed, "
        "subscribed_at) VALUES ($1, $2, $3, $4, $5, COALESCE($6::boolean, false), "
        "CASE WHEN $6::boolean THEN now() END) "
        "ON CONFLICT (appid, openid) DO UPDATE SET "
        "unionid = COALESCE(EXCLUDED.unionid, wechat_identities.unionid), "
        "subscribed = COALESCE($6::boolean, wechat_identities.subscribed), "
        "subscribed_at = CASE WHEN $6::boolean AND NOT wechat_identities.subscribed THEN now() "
        "ELSE wechat_identities.subscribed_at END "
        "RETURNING user_id",
    [ID_FILL_PROFILE] =
        "UPDATE users SET "
        "nickname = CASE WHEN nickname = '' THEN COALESCE($2, '') ELSE nickname END, "
        "avatar_url = CASE WHEN avatar_url = '' THEN COALESCE($3, '') "
        "ELSE avatar_url END WHERE id = $1",
    [ID_UNSUBSCRIBE] = "UPDATE wechat_identities SET subscribed = false "
                       "WHERE appid = $1 AND openid = $2 RETURNING user_id",
    [ID_CLAIM_MESSAGE] = "INSERT INTO wechat_messages (msg_key, msg_type) VALUES ($1, $2) "
                         "ON CONFLICT DO NOTHING RETURNING 1",
    [ID_OPENID] = "SELECT openid FROM wechat_identities WHERE user_id = $1 AND appid = $2 "
                  "ORDER BY id LIMIT 1",
};

static struct db_stmts identities_stmts = DB_STMTS("identities", identities_sql);

/* Runs statement idx; *rows gets the row count and *first the first column of row 0. */
static enum api_err identities_run(int idx, int n, const char *const *params, int *rows,
                                   int64_t *first)
{
	PGresult *res;
	enum api_err err = db_exec(&identities_stmts, idx, n, params, &res);

	if (err != E_OK)
		return err;
	if (rows != NULL)
		*rows = PQntuples(res);
	if (first != NULL)
		*first = PQntuples(res) > 0 ? db_i64(res, 0, 0) : 0;
	PQclear(res);
	return E_OK;
}

/* The login steps, inside the caller's transaction. */
static enum api_err identities_login_tx(struct arena *a, const struct identity_login *in,
                                        int64_t *user_id, bool *created)
{
	const char *key[1] = {arena_printf(a, "wxid:%s:%s", in->appid, in->openid)};
	const char *find[2] = {in->appid, in->openid};
	const char *sub = in->subscribe == IDENTITY_SUB_ON    ? "true"
	                  : in->subscribe == IDENTITY_SUB_OFF ? "false"
	                                                      : NULL;
	enum api_err err;
	int rows = 0;
	int64_t uid = 0;

	*created = false;
	/* the openid lock first, then the unionid's: every login takes them in this order */
	if ((err = identities_run(ID_LOCK, 1, key, NULL, NULL)) != E_OK)
		return err;
	if (in->unionid != NULL) {
		const char *ukey[1] = {arena_printf(a, "wxunion:%s", in->unionid)};
		if ((err = identities_run(ID_LOCK, 1, ukey, NULL, NULL)) != E_OK)
			return err;
	}
	if ((err = identities_run(ID_FIND, 2, find, &rows, &uid)) != E_OK)
		return err;
	if (rows == 0 && in->unionid != NULL) {
		const char *u[1] = {in->unionid};
		if ((err = identities_run(ID_FIND_UNION, 1, u, &rows, &uid)) != E_OK)
			return err;
	}
	if (rows == 0) {
		const char *p[2] = {in->nickname ? in->nickname : "",
		                    in->avatar_url ? in->avatar_url : ""};
		if ((err = identities_run(ID_NEW_USER, 2, p, NULL, &uid)) != E_OK)
			return err;
		*created = true;
	} else if (in->nickname != NULL || in->avatar_url != NULL) {
		const char *p[3] = {db_param_i64(a, uid), in->nickname, in->avatar_url};
		if ((err = identities_run(ID_FILL_PROFILE, 3, p, NULL, NULL)) != E_OK)
			return err;
	}
	{
		const char *p[6] = {db_param_i64(a, uid), in->app_kind, in->appid,
		                    in->openid,           in->unionid,  sub};
		if ((err = identities_run(ID_UPSERT, 6, p, NULL, &uid)) != E_OK)
			return err;
	}
	*user_id = uid;
	return E_OK;
}

enum api_err identities_login(struct arena *a, const struct identity_login *in, int64_t *user_id,
                              bool *created)
{
	enum api_err err;

	if ((err = db_begin()) != E_OK)
		return err;
	if ((err = identities_login_tx(a, in, user_id, created)) != E_OK ||
	    (err = db_commit()) != E_OK) {
		db_rollback();
		return err;
	}
	return E_OK;
}

enum api_err identities_oa_message(struct arena *a, const char *msg_key, const char *msg_type,
                                   const struct identity_login *in, bool unsubscribe,
                                   int64_t *user_id, bool *duplicate)
{
	const char *claim[2] = {msg_key, msg_type ? msg_type : ""};
	enum api_err err;
	int rows = 0;
	bool created;

	*user_id = 0;
	*duplicate = false;
	if ((err = db_begin()) != E_OK)
		return err;
	if ((err = identities_run(ID_CLAIM_MESSAGE, 2, claim, &rows, NULL)) != E_OK)
		goto fail;
	if (rows == 0) {
		*duplicate = true;
		db_rollback();
		return E_OK;
	}
	if (in != NULL && !unsubscribe)
		err = identities_login_tx(a, in, user_id, &created);
	else if (in != NULL) {
		const char *p[2] = {in->appid, in->openid};
		err = identities_run(ID_UNSUBSCRIBE, 2, p, NULL, user_id);
	}
	if (err != E_OK || (err = db_commit()) != E_OK)
		goto fail;
	return E_OK;
fail:
	db_rollback();
	return err;
}

enum api_err identities_openid(struct arena *a, int64_t user_id, const char *appid,
                               const char **openid)
{
	const char *p[2] = {db_param_i64(a, user_id), appid};
	PGresult *res;
	enum api_err err = db_exec(&identities_stmts, ID_OPENID, 2, p, &res);

	*openid = NULL;
	if (err != E_OK)
		return err;
	if (PQntuples(res) == 1)
		*openid = db_str(a, res, 0, 0);
	PQclear(res);
	return *openid ? E_OK : E_NOT_FOUND;
}
