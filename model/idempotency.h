/*
 * idempotency — the one path for client Idempotency-Keys (API.md "Idempotency").
 *
 * The router checks the header's shape per route (.idempotency) and fingerprints the request
 * (struct request.idempotency_hash); models claim the key through here.  A key row stores
 * what the first request came to as an api_err (E_OK, or a refusal the key keeps, such as a
 * consumption's E_INSUFFICIENT_CREDITS) plus the id of the resource it made — never an HTTP
 * answer: a replay renders that resource as it is now.
 *
 *   same key, same request hash  → the stored outcome (out->replayed)
 *   same key, another hash       → E_IDEMPOTENCY_MISMATCH (409, one message: errors.h)
 *   same key, concurrently       → waits for the first one's transaction, then as above
 *
 * Transactions are opened and ended here and in the models, never by handlers.
 */
#ifndef AIPHOTO_MODEL_IDEMPOTENCY_H
#define AIPHOTO_MODEL_IDEMPOTENCY_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"

/* A request's key, as the router checked it (handlers_idem_key builds it).  A user's keys
 * live in idempotency_keys; an admin's (admin_id > 0, user_id 0) in admin_idempotency_keys
 * (migration 0015): the two never meet. */
struct idem_key {
	int64_t user_id;
	int64_t admin_id;
	const char *key; /* 1-64 characters; NULL: the request carries none */
	const char *route; /* the route pattern, e.g. "/credits/consume" */
	const char *hash; /* sha256 hex of method, route and body */
};

/* What the key's first request came to. */
struct idem_outcome {
	enum api_err err; /* E_OK, or the refusal stored for the key */
	int64_t resource_id; /* what it made (task, ledger row, order); 0 = nothing */
	bool replayed; /* this is a repeat: nothing new was done */
	bool pending; /* the first request made the resource but has not stored its outcome
	                 yet (create-order around the WeChat Pay call) */
};

/* The effect of a keyed request, run inside the transaction that claims the key: E_OK with
 * *resource_id, or an error (everything is rolled back and the key stays free). */
typedef enum api_err idempotency_work(struct arena *a, void *ctx, int64_t *resource_id);

/*
 * Runs work once per key, in one transaction with the claim and the stored outcome.
 * E_OK: *out says what happened (out->err E_OK for a fresh success, or a stored outcome of
 * a replay).  With pending, the outcome is left unstored (out->pending) for a later
 * idempotency_finish: the key and the resource are committed, the answer comes after an
 * outside call.  k->key NULL: work simply runs in a transaction of its own.
 * Errors: work's own (nothing kept), E_IDEMPOTENCY_MISMATCH, database errors.
 */
enum api_err idempotency_run(struct arena *a, const struct idem_key *k, bool pending,
                             idempotency_work *work, void *ctx, struct idem_outcome *out);

/* Stores the outcome of a pending key (a later repeat no longer sees it pending).  A key
 * already finished by a concurrent repeat is left as it is.  k->key NULL: nothing. */
enum api_err idempotency_finish(struct arena *a, const struct idem_key *k, enum api_err outcome);

/*
 * For a model whose one statement claims the key itself (credits_consume): decodes a stored
 * row (hash, outcome code or NULL, resource id) against the request into *out: E_OK (a
 * replay) or E_IDEMPOTENCY_MISMATCH.
 */
enum api_err idempotency_decode(const struct idem_key *k, const char *hash, const char *outcome,
                                int64_t resource_id, struct idem_outcome *out);

/* Reads the key's stored row into *out (after such a statement lost a race for the key):
 * E_OK, E_IDEMPOTENCY_MISMATCH, or E_CONFLICT when there is no row. */
enum api_err idempotency_stored(struct arena *a, const struct idem_key *k,
                                struct idem_outcome *out);

#endif
