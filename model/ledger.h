/*
 * ledger — the append-only credit ledger.  Every balance change is one statement that
 * updates users.credits conditionally and inserts its ledger row (DESIGN §4), so the
 * invariant users.credits = SUM(credit_ledger.delta) holds after every commit.
 */
#ifndef AIPHOTO_MODEL_LEDGER_H
#define AIPHOTO_MODEL_LEDGER_H

#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"

/*
 * Applies delta (≠ 0) to the user's balance with a ledger row of kind (recharge, consume,
 * refund, checkin, invite, admin, migration).  A debit never takes the balance below 0:
 * E_INSUFFICIENT_CREDITS.  A reused idempotency_key: E_CONFLICT.  Missing user: E_NOT_FOUND.
 * *balance gets the balance after the change.
 */
enum api_err ledger_apply(struct arena *a, int64_t user_id, int64_t delta, const char *kind,
                          const char *reference, const char *memo, const char *idempotency_key,
                          int64_t *balance);
/* ledger_apply, and *ledger_id gets the id of the row it wrote. */
enum api_err ledger_apply_row(struct arena *a, int64_t user_id, int64_t delta, const char *kind,
                              const char *reference, const char *memo, const char *idempotency_key,
                              int64_t *balance, int64_t *ledger_id);

#endif
