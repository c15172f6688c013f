/*
 * admins — operator accounts: their login, their role (lib/role.h), the check the router makes
 * of every admin token, and the changes an owner (or aiphotoctl) makes to them, each audited
 * (model/audit.h).
 *
 * At least one active owner always remains: a change that would leave none is refused
 * (E_CONFLICT), whoever makes it.
 */
#ifndef AIPHOTO_MODEL_ADMINS_H
#define AIPHOTO_MODEL_ADMINS_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"
#include "lib/role.h"
#include "model/audit.h"
#include "model/view.h"

struct admin {
	int64_t id;
	const char *username;
	const char *password_hash;
	bool disabled;
	enum role role;
	long session_version; /* what its tokens carry (claim sv) */
};

/* E_NOT_FOUND when there is no such username. */
enum api_err admins_get(struct arena *a, const char *username, struct admin *out);
/* The same by id. */
enum api_err admins_get_id(struct arena *a, int64_t id, struct admin *out);
/* Records a successful login. */
enum api_err admins_login_ok(struct arena *a, int64_t id);

/*
 * The router's account rule for an admin token (subject id, of role, issued under session
 * version session): E_OK when the admin exists, is not disabled, has that role and that
 * session version (admins.session_version); else E_UNAUTHORIZED with *why (a literal
 * message), or a database error.  With fresh (the request changes something) the row is
 * always read; otherwise the answer is remembered per worker until a change of the admins is
 * notified (migration 0015): a read costs no statement, and a change made anywhere is seen
 * as soon as its notification has reached the worker (within milliseconds of its commit).
 */
enum api_err admins_session(struct arena *a, int64_t id, long session, enum role role, bool fresh,
                            const char **why);

/* Creates an admin of role (ROLE_NONE: viewer); *id gets it.  E_CONFLICT when the username
 * exists (any case), E_BAD_REQUEST when it is not 1-64 of [A-Za-z0-9_.@-]. */
enum api_err admins_create(struct arena *a, const struct audit_actor *who, const char *username,
                           const char *password_hash, enum role role, int64_t *id);

/* A change of an admin: ROLE_NONE and -1 leave a field as it is.  A new role or disabling
 * ends the admin's sessions. */
struct admin_change {
	enum role role;
	int disabled; /* 1 disable, 0 enable, -1 keep */
};
/* E_NOT_FOUND; E_CONFLICT when no active owner would remain.  *json (may be NULL) gets the
 * admin after the change. */
enum api_err admins_update(struct arena *a, const struct audit_actor *who, int64_t id,
                           const struct admin_change *c, char **json);
/* Stores a new password hash and ends the admin's sessions (their session version moves on:
 * *session, may be NULL, gets the new one, for a token of the new session). */
enum api_err admins_set_password(struct arena *a, const struct audit_actor *who, int64_t id,
                                 const char *password_hash, long *session);

/* The accounts, newest first: {"id","username","role","disabled","last_login_at",
 * "session_version","created_at"} — never the password hash. */
enum api_err admins_list(struct arena *a, const struct view_cursor *c, struct view_page *out);
/* One account as admins_list shows it; E_NOT_FOUND. */
enum api_err admins_view(struct arena *a, int64_t id, char **json);

#endif
