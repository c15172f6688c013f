/* users — accounts, their balance and their check-in state. */
#ifndef AIPHOTO_MODEL_USERS_H
#define AIPHOTO_MODEL_USERS_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"
#include "model/audit.h"
#include "model/view.h"

struct user {
	int64_t id;
	const char *nickname;
	const char *avatar_url;
	int64_t credits;
	const char *invite_code;
	const char *created_at; /* RFC 3339 */
	bool subscribed; /* follows the Official Account */
	bool disabled;
};

struct user_credits {
	int64_t credits;
	bool checked_in_today;
	int64_t checkin_streak; /* the streak still alive (checked in today or yesterday), else 0 */
	bool disabled;
};

/* E_NOT_FOUND when there is no such user. */
enum api_err users_get(struct arena *a, int64_t id, struct user *out);
enum api_err users_credits(struct arena *a, int64_t id, struct user_credits *out);
/* Whether the user may use the service (status 'active'); E_NOT_FOUND when there is none.
 * The answer is remembered per worker until a status change or a deletion is notified
 * (migration 0008), so a user seen before costs no statement; a change made anywhere
 * (API, aiphotoctl, psql) is seen by the next request. */
enum api_err users_active(struct arena *a, int64_t id, bool *active);
/* Sets the nickname and/or avatar (NULL = unchanged) of an active user. */
enum api_err users_update_profile(struct arena *a, int64_t id, const char *nickname,
                                  const char *avatar_url);
/* Creates an active user with a zero balance; *id gets its id. */
enum api_err users_create(struct arena *a, const char *nickname, int64_t *id);

/* ------------------------------------------------------------------ the admin API */

/*
 * Users newest first (GET /admin/users): all of them, or with q those whose id is q, whose
 * invite code is q (any case), who have a WeChat identity with openid or unionid q, or whose
 * nickname contains q (any case).  Each row {"id","nickname","avatar_url","credits","status",
 * "invite_code","invited_by","upload_quota_bytes","upload_quota_files","created_at"}.
 */
enum api_err users_search(struct arena *a, const char *q, const struct view_cursor *c,
                          struct view_page *out);
/* One user for an admin: {"user": the search's row and "last_checkin_day","checkin_streak",
 * "identities": [...], "ledger": the 20 newest rows, "orders": the 20 newest, "tasks": the 20
 * newest}.  E_NOT_FOUND. */
enum api_err users_detail(struct arena *a, int64_t id, char **json);
/* Sets the status ("active" | "disabled"), audited (user.status); every token of a disabled
 * user is refused from the next request on (migration 0008).  The same status again changes
 * nothing (no audit row).  *json gets the user as users_search shows it.  E_NOT_FOUND. */
enum api_err users_set_status(struct arena *a, const struct audit_actor *who, int64_t id,
                              const char *status, char **json);

#endif
