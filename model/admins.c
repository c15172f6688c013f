/* admins — see admins.h. */
#include "model/admins.h"

#include <string.h>

#include "model/viewsql.h"

enum admins_stmt {
	ADMINS_GET,
	ADMINS_GET_ID,
	ADMINS_OK,
	ADMINS_SESSION,
	ADMINS_LISTEN,
	ADMINS_CREATE,
	ADMINS_LOCK,
	ADMINS_LOCK_OWNERS,
	ADMINS_UPDATE,
	ADMINS_OWNERS,
	ADMINS_PASSWORD,
	ADMINS_LIST,
	ADMINS_VIEW,
	ADMINS__MAX
};

#define ADMINS_COLS "id, username, password_hash, disabled, role, session_version"

/* An account as the admin API and the audit log show it: never the password hash. */
#define ADMINS_JSON                                                            \
	"jsonb_build_object('id', id, 'username', username, 'role', role, "    \
	"'disabled', disabled, 'last_login_at', aiphoto_time(last_login_at), " \
	"'session_version', session_version, 'created_at', aiphoto_time(created_at))::text"

/* The lockout lives in Redis per (username, address) (handlers/admin.c); the columns
 * failed_logins and locked_until of migration 0001 are no longer written. */
static const char *const admins_sql[ADMINS__MAX] = {
    [ADMINS_GET] = "SELECT " ADMINS_COLS " FROM admins WHERE username = $1",
    [ADMINS_GET_ID] = "SELECT " ADMINS_COLS " FROM admins WHERE id = $1",
    [ADMINS_OK] = "UPDATE admins SET last_login_at = now() WHERE id = $1",
    /* the router's account rule: one primary-key read */
    [ADMINS_SESSION] = "SELECT disabled, role, session_version FROM admins WHERE id = $1",
    /* migration 0015: every change of an account notifies this channel */
    [ADMINS_LISTEN] = "LISTEN aiphoto_admins",
    [ADMINS_CREATE] = "INSERT INTO admins (username, password_hash, role) VALUES ($1, $2, $3) "
                      "RETURNING id, " ADMINS_JSON,
    [ADMINS_LOCK] = "SELECT " ADMINS_JSON " FROM admins WHERE id = $1 FOR UPDATE",
    /* changes of owners take turns: each counts the owners left after its own change */
    [ADMINS_LOCK_OWNERS] = "SELECT id FROM admins WHERE role = 'owner' AND NOT disabled "
                           "ORDER BY id FOR UPDATE",
    /* $2 role, $3 disabled (NULL: as it is); a new role or a disabling ends the sessions */
    [ADMINS_UPDATE] = "UPDATE admins SET role = COALESCE($2, role), "
                      "disabled = COALESCE($3::boolean, disabled), "
                      "session_version = session_version + CASE WHEN COALESCE($2, role) <> role "
                      "OR (COALESCE($3::boolean, disabled) AND NOT disabled) THEN 1 ELSE 0 END "
                      "WHERE id = $1 RETURNING " ADMINS_JSON,
    [ADMINS_OWNERS] = "SELECT count(*) FROM admins WHERE role = 'owner' AND NOT disabled",
    [ADMINS_PASSWORD] = "UPDATE admins SET password_hash = $2, "
                        "session_version = session_version + 1 "
                        "WHERE id = $1 RETURNING " ADMINS_JSON ", session_version",
    [ADMINS_LIST] =
        "SELECT id, " ADMINS_JSON " FROM admins "
        "WHERE id < COALESCE($1::bigint, 9223372036854775807) ORDER BY id DESC LIMIT $2",
    [ADMINS_VIEW] = "SELECT " ADMINS_JSON " FROM admins WHERE id = $1",
};

static struct db_stmts admins_stmts = DB_STMTS("admins", admins_sql);

/* Runs a statement that needs no result. */
static enum api_err admins_run(int idx, int n, const char *const *p)
{
	PGresult *res;
	enum api_err err = db_exec(&admins_stmts, idx, n, p, &res);

	PQclear(res);
	return err;
}

static enum api_err admins_read(struct arena *a, int idx, const char *key, struct admin *out)
{
	const char *params[1] = {key};
	PGresult *res;
	enum api_err err = db_exec(&admins_stmts, idx, 1, params, &res);

	if (err != E_OK)
		return err;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return E_NOT_FOUND;
	}
	out->id = db_i64(res, 0, 0);
	out->username = db_str(a, res, 0, 1);
	out->password_hash = db_str(a, res, 0, 2);
	out->disabled = db_bool(res, 0, 3);
	out->role = role_parse(PQgetvalue(res, 0, 4));
	out->session_version = (long)db_i64(res, 0, 5);
	PQclear(res);
	return E_OK;
}

enum api_err admins_get(struct arena *a, const char *username, struct admin *out)
{
	return admins_read(a, ADMINS_GET, username, out);
}

enum api_err admins_get_id(struct arena *a, int64_t id, struct admin *out)
{
	return admins_read(a, ADMINS_GET_ID, db_param_i64(a, id), out);
}

enum api_err admins_login_ok(struct arena *a, int64_t id)
{
	const char *params[1] = {db_param_i64(a, id)};
	return admins_run(ADMINS_OK, 1, params);
}

/*
 * What admins_session read, per worker (a direct-mapped table keyed by id), while nothing can
 * have changed: the worker LISTENs on aiphoto_admins (migration 0015) and any notification on
 * it, a lost connection or a new one empties it (lib/db's watch).
 */
#define ADMINS_SEEN_SLOTS 64

static struct {
	int64_t id;
	unsigned long epoch; /* valid while equal to admins_watch.epoch */
	bool found, disabled;
	enum role role;
	long session_version;
} admins_seen[ADMINS_SEEN_SLOTS];
static struct db_watch admins_watch = DB_WATCH("aiphoto_admins");

static enum api_err admins_listen(void)
{
	return admins_run(ADMINS_LISTEN, 0, NULL);
}

enum api_err admins_session(struct arena *a, int64_t id, long session, enum role role, bool fresh,
                            const char **why)
{
	const char *params[1] = {db_param_i64(a, id)};
	size_t slot = (size_t)((uint64_t)id % ADMINS_SEEN_SLOTS);
	PGresult *res;
	enum api_err err;

	*why = NULL;
	if (!db_watch_valid(&admins_watch, admins_listen) || fresh || admins_seen[slot].id != id ||
	    admins_seen[slot].epoch != admins_watch.epoch) {
		if ((err = db_exec(&admins_stmts, ADMINS_SESSION, 1, params, &res)) != E_OK)
			return err;
		admins_seen[slot].id = id;
		admins_seen[slot].found = PQntuples(res) == 1;
		if (admins_seen[slot].found) {
			admins_seen[slot].disabled = db_bool(res, 0, 0);
			admins_seen[slot].role = role_parse(PQgetvalue(res, 0, 1));
			admins_seen[slot].session_version = (long)db_i64(res, 0, 2);
		}
		PQclear(res);
		/* remembered only when the LISTEN was in place before the read */
		admins_seen[slot].epoch =
		    db_watch_listening(&admins_watch) ? admins_watch.epoch : 0;
	}
	if (!admins_seen[slot].found)
		*why = "管理员账号不存在 (no such admin)";
	else if (admins_seen[slot].disabled)
		*why = "管理员账号已停用 (admin disabled)";
	else if (admins_seen[slot].role != role)
		*why = "角色已变更，请重新登录 (role changed: sign in again)";
	else if (session != admins_seen[slot].session_version)
		*why = "登录已失效，请重新登录 (session ended: sign in again)";
	return *why == NULL ? E_OK : E_UNAUTHORIZED;
}

/* ------------------------------------------------------------------ audited changes */

/* A username the table takes: 1-64 of [A-Za-z0-9_.@-] (its CHECK, said before the insert). */
static bool admins_username_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("_.@-", s[i]) != NULL))
			return false;
	return true;
}

struct admins_create_ctx {
	const char *username, *hash;
	enum role role;
	int64_t id;
};

static enum api_err admins_create_tx(struct arena *a, void *ctx, struct audit_change *chg)
{
	struct admins_create_ctx *c = ctx;
	const char *p[3] = {c->username, c->hash, role_name(c->role)};
	PGresult *res;
	enum api_err err = db_exec(&admins_stmts, ADMINS_CREATE, 3, p, &res);

	if (err != E_OK)
		return err;
	c->id = db_i64(res, 0, 0);
	chg->target_type = "admin";
	chg->target_id = db_str(a, res, 0, 0);
	chg->after = db_str(a, res, 0, 1);
	PQclear(res);
	return E_OK;
}

enum api_err admins_create(struct arena *a, const struct audit_actor *who, const char *username,
                           const char *password_hash, enum role role, int64_t *id)
{
	struct admins_create_ctx c = {.username = username,
	                              .hash = password_hash,
	                              .role = role == ROLE_NONE ? ROLE_VIEWER : role};
	enum api_err err;

	if (!admins_username_ok(username))
		return E_BAD_REQUEST;
	err = audit_run(a, who, "admin.create", admins_create_tx, &c);
	*id = err == E_OK ? c.id : 0;
	return err;
}

/* Inside the transaction: the admin's snapshot, locked (E_NOT_FOUND when missing). */
static enum api_err admins_lock(struct arena *a, int64_t id, struct audit_change *chg)
{
	const char *p[1] = {db_param_i64(a, id)};
	char *before;
	enum api_err err = viewsql_one(a, &admins_stmts, ADMINS_LOCK, 1, p, &before);

	chg->target_type = "admin";
	chg->target_id = p[0];
	chg->before = before;
	return err;
}

struct admins_update_ctx {
	int64_t id;
	const struct admin_change *c;
	char *json;
};

static enum api_err admins_update_tx(struct arena *a, void *ctx, struct audit_change *chg)
{
	struct admins_update_ctx *u = ctx;
	const char *p[3] = {db_param_i64(a, u->id),
	                    u->c->role != ROLE_NONE ? role_name(u->c->role) : NULL,
	                    u->c->disabled < 0 ? NULL : (u->c->disabled ? "true" : "false")};
	PGresult *res;
	char *count;
	enum api_err err;

	if ((err = admins_run(ADMINS_LOCK_OWNERS, 0, NULL)) != E_OK ||
	    (err = admins_lock(a, u->id, chg)) != E_OK ||
	    (err = viewsql_one(a, &admins_stmts, ADMINS_UPDATE, 3, p, &u->json)) != E_OK)
		return err;
	chg->after = u->json;
	if ((err = db_exec(&admins_stmts, ADMINS_OWNERS, 0, NULL, &res)) != E_OK)
		return err;
	count = db_str(a, res, 0, 0);
	PQclear(res);
	return strcmp(count, "0") == 0 ? E_CONFLICT : E_OK;
}

enum api_err admins_update(struct arena *a, const struct audit_actor *who, int64_t id,
                           const struct admin_change *c, char **json)
{
	struct admins_update_ctx u = {.id = id, .c = c};
	enum api_err err = audit_run(a, who, "admin.update", admins_update_tx, &u);

	if (json != NULL)
		*json = err == E_OK ? u.json : NULL;
	return err;
}

struct admins_password_ctx {
	int64_t id;
	const char *hash;
	long session;
};

static enum api_err admins_password_tx(struct arena *a, void *ctx, struct audit_change *chg)
{
	struct admins_password_ctx *c = ctx;
	const char *p[2] = {db_param_i64(a, c->id), c->hash};
	PGresult *res;
	enum api_err err;

	if ((err = admins_lock(a, c->id, chg)) != E_OK ||
	    (err = db_exec(&admins_stmts, ADMINS_PASSWORD, 2, p, &res)) != E_OK)
		return err;
	chg->after = db_str(a, res, 0, 0);
	c->session = (long)db_i64(res, 0, 1);
	PQclear(res);
	return E_OK;
}

enum api_err admins_set_password(struct arena *a, const struct audit_actor *who, int64_t id,
                                 const char *password_hash, long *session)
{
	struct admins_password_ctx c = {.id = id, .hash = password_hash};
	enum api_err err = audit_run(a, who, "admin.password", admins_password_tx, &c);

	if (session != NULL)
		*session = err == E_OK ? c.session : 0;
	return err;
}

enum api_err admins_list(struct arena *a, const struct view_cursor *c, struct view_page *out)
{
	const char *p[2] = {viewsql_before(a, c), viewsql_limit(a, c)};
	return viewsql_page(a, &admins_stmts, ADMINS_LIST, 2, p, c->limit, out);
}

enum api_err admins_view(struct arena *a, int64_t id, char **json)
{
	const char *p[1] = {db_param_i64(a, id)};
	return viewsql_one(a, &admins_stmts, ADMINS_VIEW, 1, p, json);
}
