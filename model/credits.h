/*
 * credits — the balance-changing operations users start: check-in, invites, consumption,
 * and the ledger listing.  Each change is one transaction (usually one statement) that
 * updates users.credits conditionally and appends its ledger row with a unique
 * idempotency key, so users.credits = SUM(credit_ledger.delta) holds after every commit.
 */
#ifndef AIPHOTO_MODEL_CREDITS_H
#define AIPHOTO_MODEL_CREDITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"
#include "model/audit.h"
#include "model/idempotency.h"

struct checkin_rule {
	int64_t base, streak_bonus, max_bonus_days;
};

struct checkin_result {
	int64_t awarded, credits, streak;
};

/* Checks the user in for day (YYYY-MM-DD); E_ALREADY_DONE the second time that day. */
enum api_err credits_checkin(struct arena *a, int64_t user_id, const char *day,
                             const struct checkin_rule *rule, struct checkin_result *out);

/*
 * The invitee enters the inviter's code: once per invitee, not one's own, no cycles.  Both
 * sides are rewarded in the same transaction.  The code lookup, the cycle check and the write
 * are one serialised decision (a transaction-scoped advisory lock shared by all invites), so
 * concurrent invites can never close a ring of any length; a deadlock or serialization
 * failure is retried here, never answered.  E_NOT_FOUND unknown code, E_BAD_REQUEST own code
 * or a cycle (*why says which), E_ALREADY_DONE already invited.
 */
enum api_err credits_invite(struct arena *a, int64_t invitee, const char *code,
                            int64_t invitee_bonus, int64_t inviter_bonus, int64_t *credits,
                            const char **why);

/*
 * Spends amount credits under the client's key (k->key required), in one statement that
 * claims the key, debits the balance when it suffices, writes the ledger row (key
 * "consume:<user>:<key>") and stores the outcome: out->err E_OK with *credits the balance
 * after, or E_INSUFFICIENT_CREDITS (nothing spent; the key keeps that answer too).  A repeat
 * with the same request is one read of the stored outcome (out->replayed, *credits the
 * balance right after the first); another request under the key E_IDEMPOTENCY_MISMATCH.
 */
enum api_err credits_consume(struct arena *a, const struct idem_key *k, int64_t amount,
                             const char *reason, struct idem_outcome *out, int64_t *credits);

/* An admin's adjustment as the ledger holds it. */
struct credits_adjusted {
	int64_t ledger_id, user_id, delta, balance_after;
	const char *memo, *created_at;
};

/*
 * An admin gives (delta > 0) or takes (delta < 0) a user's credits under the admin's key
 * (k->admin_id and k->key required): the conditional balance change and its ledger row (kind
 * 'admin', reference "admin:<admin id>", key "admin:<admin id>:<key>"), the audit row
 * (user.credits: the balance before and after) and the key's outcome, in one transaction.
 * The balance never goes below 0, whatever the user spends meanwhile: such a debit is
 * E_INSUFFICIENT_CREDITS and writes nothing, not even the key (a retry may succeed later).
 * A repeat of the same request: out->replayed and *res the first one's row; another request
 * under the key: E_IDEMPOTENCY_MISMATCH.  Unknown user: E_NOT_FOUND.
 */
enum api_err credits_admin_adjust(struct arena *a, const struct audit_actor *who,
                                  const struct idem_key *k, int64_t user_id, int64_t delta,
                                  const char *memo, struct idem_outcome *out,
                                  struct credits_adjusted *res);

struct ledger_row {
	int64_t id, delta, balance_after;
	const char *kind, *memo, *created_at;
};

enum credits_filter { CREDITS_ALL, CREDITS_RECHARGE, CREDITS_CONSUME };

/* Newest first, ids below before_id (0 = from the newest), at most limit rows; *more tells
 * whether older rows exist. */
enum api_err credits_records(struct arena *a, int64_t user_id, enum credits_filter f,
                             int64_t before_id, int limit, struct ledger_row **rows, size_t *n,
                             bool *more);

/* Users whose balance differs from their ledger sum, or is negative: ids and both values. */
struct audit_row {
	int64_t user_id, credits, ledger_sum;
};
enum api_err credits_audit(struct arena *a, struct audit_row **rows, size_t *n);

#endif
