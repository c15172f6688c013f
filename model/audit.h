/*
 * audit — the admin audit log (admin_audit, migration 0015) and the one way an admin write
 * is made.
 *
 * Every model function that changes something for an admin (the API's admin routes and the
 * admin commands of aiphotoctl) runs its change through audit_run: the change and its audit
 * row — who, what, on what, the target before and after as JSON, the request id and the
 * client address — are committed in one transaction, or neither is.  Handlers never open
 * transactions: they call those model functions.
 */
#ifndef AIPHOTO_MODEL_AUDIT_H
#define AIPHOTO_MODEL_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"
#include "model/view.h"

/* Who makes a change: an admin (the token's subject) or aiphotoctl (admin_id 0). */
struct audit_actor {
	int64_t admin_id;
	const char *request_id, *address; /* NULL when there is none */
};

/* What a change did, filled by its work function (JSON texts, arena). */
struct audit_change {
	const char *target_type; /* "user", "scene", "config", … */
	const char *target_id; /* NULL: none */
	const char *before, *after; /* the target's snapshots; NULL before a creation, after a
	                               deletion */
	bool unchanged; /* nothing changed (a repeat): the transaction commits, no audit row */
};

/* A change, run inside the transaction; E_OK with *chg filled, or an error (all rolled back). */
typedef enum api_err audit_work(struct arena *a, void *ctx, struct audit_change *chg);

/*
 * Runs work and inserts its audit row (action: "<target>.<verb>", e.g. "user.credits") in one
 * transaction: the caller's when one is open (model/idempotency runs the change of a keyed
 * request inside the key's), else one of its own, committed here.  E_OK: both are done (or,
 * unchanged, neither was needed); an error: nothing is (a transaction opened here is rolled
 * back; a joined one is left for its owner to roll back).
 */
enum api_err audit_run(struct arena *a, const struct audit_actor *who, const char *action,
                       audit_work *work, void *ctx);

/* Which rows GET /admin/audit lists (NULL / 0: any). */
struct audit_filter {
	int64_t admin_id;
	const char *action, *target_type, *target_id;
};

/* The log, newest first: each row {"id","admin_id","actor","action","target_type","target_id",
 * "before","after","request_id","address","created_at"}. */
enum api_err audit_list(struct arena *a, const struct audit_filter *f, const struct view_cursor *c,
                        struct view_page *out);

#endif
