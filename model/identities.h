/*
 * identities — WeChat identities (wechat_identities) and the users behind them.
 *
 * A login or a subscribe finds the user by (appid, openid), else by unionid (so the
 * Official Account and the mini program share one user), else creates one.  Concurrent
 * first logins of one person are serialised by transaction-scoped advisory locks on the
 * openid (and the unionid), so exactly one user is created.
 */
#ifndef AIPHOTO_MODEL_IDENTITIES_H
#define AIPHOTO_MODEL_IDENTITIES_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"

enum identity_subscribe { IDENTITY_SUB_KEEP, IDENTITY_SUB_ON, IDENTITY_SUB_OFF };

struct identity_login {
	const char *app_kind; /* "oa" or "mp" */
	const char *appid;
	const char *openid;
	const char *unionid; /* NULL when unknown */
	const char *nickname; /* fills an empty profile field; NULL = none */
	const char *avatar_url;
	enum identity_subscribe subscribe;
};

/* Finds or creates the user of in; *user_id gets it, *created whether it is new. */
enum api_err identities_login(struct arena *a, const struct identity_login *in, int64_t *user_id,
                              bool *created);

/*
 * Applies one Official Account message exactly once: records msg_key (MsgId, or
 * FromUserName+CreateTime for events) and, in the same transaction, the login/subscribe of
 * `in` (NULL: nothing) or, with unsubscribe, clears the subscribed flag.  *duplicate is set
 * (and nothing changes) when msg_key was seen before.  *user_id is 0 when no user applies.
 */
enum api_err identities_oa_message(struct arena *a, const char *msg_key, const char *msg_type,
                                   const struct identity_login *in, bool unsubscribe,
                                   int64_t *user_id, bool *duplicate);

/* The user's openid in app appid (for payments); E_NOT_FOUND when not bound. */
enum api_err identities_openid(struct arena *a, int64_t user_id, const char *appid,
                               const char **openid);

#endif
