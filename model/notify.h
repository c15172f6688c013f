/*
 * notify — the outbox of task notices and the users' mini-program subscriptions
 * (migration 0014 has the life of a row; docs/dispatcher.md the dispatcher's side).
 *
 * An ended task gets one notice: notify_enqueue picks its channel, writes its outbox row and
 * marks the task notified in one transaction, so no task is notified twice or lost between
 * the two.  notify_claim hands each due row to one dispatcher run (SKIP LOCKED; the claim —
 * status 'sending', attempt + 1, a lease — is committed before WeChat is called); the run
 * then records the outcome with notify_sent / notify_retry / notify_refused, each fenced on
 * the claimed (id, attempt) and status 'sending' (E_CONFLICT when the claim was lost).  A
 * claim whose lease expired is never sent again (notify_expire marks it 'unknown'): a notice
 * is sent at most once.
 */
#ifndef AIPHOTO_MODEL_NOTIFY_H
#define AIPHOTO_MODEL_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"

/* What notify_enqueue may use (NULL: not configured). */
struct notify_targets {
	const char *oa_template_id; /* system_config.notify.task_template_id */
	const char *mp_template_id; /* system_config.notify.mp.template_id */
	const char *mp_appid; /* WECHAT_MP_APPID: whose openid a subscribe message goes to */
};

/* How notify_enqueue's tasks were routed. */
struct notify_enqueued {
	size_t oa, mp, skipped;
};

/*
 * Takes up to limit ended tasks (completed, partial, failed) not yet notified (SKIP LOCKED)
 * and, in one transaction, writes the outbox row of each and marks it notified.  The channel:
 * an 'mp' task goes to the mini program first, any other task to the Official Account first;
 * when that app cannot reach the user the other one is tried.  The OA needs its template
 * and a subscribed OA binding; the mini program needs its template, an mp binding of
 * mp_appid and one accepted subscription of the template left, which the row reserves.  A
 * task neither can reach gets a 'skipped' row saying why.  *done counts the tasks.
 */
enum api_err notify_enqueue(struct arena *a, int limit, const struct notify_targets *to,
                            struct notify_enqueued *done);

/* A claimed notice with what its message shows (strings in the arena). */
struct notify_item {
	int64_t id, task_id, credits_refunded;
	int attempt;
	const char *channel; /* "oa" | "mp" */
	const char *touser, *template_id;
	const char *type, *status, *finished_at; /* the task's */
	int count, done, failed;
};

/* Claims up to limit due 'pending' rows for lease_s seconds (SKIP LOCKED). */
enum api_err notify_claim(struct arena *a, int limit, long lease_s, struct notify_item **out,
                          size_t *n);
/* WeChat accepted the message. */
enum api_err notify_sent(struct arena *a, const struct notify_item *it);
/* A passing failure: due again after delay_ms, with what happened (errcode 0: no answer). */
enum api_err notify_retry(struct arena *a, const struct notify_item *it, long delay_ms,
                          long errcode, const char *error);
/* Failed for good (WeChat refused, or the attempts are spent).  For a subscribe message the
 * reserved subscription is given back, except on 43101 (the user refused or has none left),
 * which sets the user's count of that template to 0. */
enum api_err notify_refused(struct arena *a, const struct notify_item *it, long errcode,
                            const char *error);
/* Rows still 'sending' after their lease become 'unknown' (not sent again); *n counts them. */
enum api_err notify_expire(size_t *n);
/* *ms until the earliest pending row is due (0: now), -1 when none is pending. */
enum api_err notify_next_due(long *ms);

/* One template's subscription count. */
struct notify_subscription {
	const char *template_id;
	int remaining;
};

/*
 * Records a wx.requestSubscribeMessage result in one transaction: each template of
 * accepted_json (a JSON array of distinct ids) allows one more message (at most 100 kept),
 * each of rejected_json is counted as refused this time (what was accepted before stays).
 * *out gets every named template's count, by template id.
 */
enum api_err notify_subscriptions_record(struct arena *a, int64_t user_id,
                                         const char *accepted_json, const char *rejected_json,
                                         struct notify_subscription **out, size_t *n);

#endif
