/*
 * idempotency — client Idempotency-Key handling for requests whose effect must happen once
 * (API.md "Idempotency").
 *
 * idempotency_begin() opens a transaction and claims (user, key, route): the first caller
 * owns it and keeps the transaction open while it works; a concurrent caller with the same
 * key waits on that row until the owner commits, then gets the stored answer.  The owner
 * ends with idempotency_commit() (stores the answer in the same transaction as its effect)
 * or idempotency_abort() (nothing happened; the key is free again).
 */
#ifndef AIPHOTO_MODEL_IDEMPOTENCY_H
#define AIPHOTO_MODEL_IDEMPOTENCY_H

#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"

/*
 * E_OK: the caller owns the key (a transaction is open).  E_ALREADY_DONE: a stored answer
 * for the same request is in *status and *body (JSON text of the data, may be NULL).
 * E_IDEMPOTENCY_MISMATCH: the key was used for another request.
 */
enum api_err idempotency_begin(struct arena *a, int64_t user_id, const char *key, const char *route,
                               const char *request_hash, int *status, const char **body);
enum api_err idempotency_commit(struct arena *a, int64_t user_id, const char *key, int status,
                                const char *body);
void idempotency_abort(void);

#endif
