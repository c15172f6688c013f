/*
 * viewsql — what the models of model/view.h share to run their statements (model/ only:
 * it speaks libpq).
 */
#ifndef AIPHOTO_MODEL_VIEWSQL_H
#define AIPHOTO_MODEL_VIEWSQL_H

#include "lib/db.h"
#include "model/audit.h"
#include "model/view.h"

/*
 * Runs statement idx of s, whose rows are (id bigint, json text) read as limit + 1 rows, into
 * *out (the extra row only sets out->more).  The caller passes limit + 1 as the statement's
 * LIMIT itself.
 */
enum api_err viewsql_page(struct arena *a, struct db_stmts *s, int idx, int np,
                          const char *const *p, int limit, struct view_page *out);

/* Runs statement idx of s, whose first row's first column is JSON text, into *json (arena);
 * E_NOT_FOUND when there is no row. */
enum api_err viewsql_one(struct arena *a, struct db_stmts *s, int idx, int np, const char *const *p,
                         char **json);

/* Runs statement idx of s, whose rows' first column is JSON text, into rows[0..*n). */
enum api_err viewsql_all(struct arena *a, struct db_stmts *s, int idx, int np, const char *const *p,
                         const char ***rows, size_t *n);

/* One audited change of one row of a view (model/audit.h): */
struct viewsql_change {
	struct db_stmts *stmts;
	const char *target_type; /* for the audit row */
	int lock; /* statement reading the row before ($1 = its id, the first parameter), locked
	             FOR UPDATE; -1 for a creation */
	int change; /* statement making the change, answering (id, json) of the row after, or
	               of the row removed; no row: E_NOT_FOUND */
	bool removed; /* the change deletes the row: the audit row has no after */
	int np;
	const char *const *p;
	char *json; /* out: the change's row */
	int64_t id; /* out: its id */
};

/* Runs c in audit_run under action: E_OK with c->json and c->id; E_NOT_FOUND (no such row),
 * or the statements' errors (nothing changed). */
enum api_err viewsql_audited(struct arena *a, const struct audit_actor *who, const char *action,
                             struct viewsql_change *c);

/* The cursor's parameters: before_id (NULL for 0) and limit + 1. */
const char *viewsql_before(struct arena *a, const struct view_cursor *c);
const char *viewsql_limit(struct arena *a, const struct view_cursor *c);

#endif
