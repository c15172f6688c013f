/*
 * legacy — the WeChat cloud database moving in (import) and back out (export): every SQL
 * statement of `aiphotoctl import|export` and POST /admin/migrate/:collection, and the
 * per-document rules (docs/migration.md "Data in and out").
 *
 * Import.  Documents are checked by lib/clouddoc and applied in batches of LEGACY_BATCH,
 * each batch one transaction (one statement does the whole batch), so a document is applied
 * whole or not at all and an interrupted import loses at most the batch in flight; running it
 * again skips what was committed.  Batches of concurrent imports run one at a time.  Each
 * document, found by its _id (legacy_id), is
 *   inserted  when new;
 *   skipped   when equal to the document imported last time for that _id (legacy_doc), or
 *             to what `aiphotoctl export` writes for the row now (so an export imports back
 *             as a no-op);
 *   updated   otherwise (the last import of a document wins);
 *   rejected  when it cannot apply (a work or order of an openid no imported user has, an
 *             openid bound to another user, ...), with the reason; the rest of the batch
 *             still applies;
 *   malformed when lib/clouddoc refuses it (or its _id came earlier in the same import).
 * Users are bound to their mini-program openid (wechat_identities, app kind mp, the appid
 * given: WECHAT_MP_APPID); a users document whose _id is new but whose openid already has a
 * user made on this server (the person signed in here first) joins that user.  Their invite
 * code is kept when it fits ours (4-32 letters and digits, stored upper-cased) and no other
 * user has it; otherwise the user keeps the code they have (a new user gets a new one).
 * Credits only ever move through the ledger (kind migration): a new user's cloud balance is
 * one row keyed "migration:<_id>"; when a later import brings a different balance, the
 * difference since the balance last accounted for is one more row keyed
 * "migration:<_id>:<n>" (n = the user's migration rows + 1), so the server's own activity
 * in between (check-ins, purchases, spending) is kept, and the same document imported again
 * never credits twice.  The balance last accounted for is the credits of the previous
 * document, or, when the document carries a newer "aiphoto_handover" (the export's record
 * of the balance it handed to the cloud), that handover's credits.  A difference that would
 * take the balance below 0 rejects the document.  Orders are history (legacy_orders): never
 * credited, their credits are in the balance already.
 *
 * Export writes the cloud's format back, one document a line, in id order: users bound to
 * the mini program (credits = the balance now, plus the handover), their works that are not
 * deleted (every image, parameters) and their orders (imported ones, then WeChat Pay
 * orders).  _id is the cloud _id, or CLOUDDOC_SERVER_* + our id for rows made here.
 */
#ifndef AIPHOTO_MODEL_LEGACY_H
#define AIPHOTO_MODEL_LEGACY_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/clouddoc.h"
#include "lib/errors.h"
#include "model/audit.h"

#define LEGACY_BATCH 500

struct legacy_counts {
	size_t documents; /* seen so far, malformed ones included */
	size_t inserted, updated, skipped, malformed, rejected;
};

/* A document the import did not apply. */
struct legacy_note {
	long index; /* the caller's numbering (a line, an array index) */
	const char *id; /* its _id; NULL when unknown */
	const char *reason; /* names the field where one is at fault */
	bool malformed; /* the document is wrong (else: well-formed, rejected) */
};

/* Where an import reports; the strings live until the callback returns. */
struct legacy_sink {
	void (*note)(void *ctx, const struct legacy_note *n);
	void (*progress)(void *ctx,
	                 const struct legacy_counts *c); /* after each batch; NULL = none */
	void *ctx;
	const char *index_name; /* "line", "index": for "(first at line 3)" */
};

struct legacy_import;

/* A new import of kind, binding users to mini-program appid mp_appid (NULL is refused for
 * users, works and orders: E_UNAVAILABLE from the first batch), made by who (an admin over
 * HTTP, or aiphotoctl: admin_id 0; its strings must outlive the import).  Each batch that
 * changes something writes its audit row in its own transaction (model/audit: action
 * collection.import, target the collection, "after" the batch's counts and its first and last
 * _id). */
struct legacy_import *legacy_import_new(enum clouddoc_kind kind, const char *mp_appid,
                                        const struct audit_actor *who,
                                        const struct legacy_sink *sink);
/* Adds doc (borrowed); applies a batch when one is full.  E_OK, or the database's error:
 * that batch was not applied and the import must stop. */
enum api_err legacy_import_add(struct legacy_import *imp, long index, json_object *doc);
/* Counts a document that could not even be read (not JSON) as malformed, and says so. */
void legacy_import_refuse(struct legacy_import *imp, long index, const char *id, const char *why);
/* Applies the last batch; the same errors. */
enum api_err legacy_import_finish(struct legacy_import *imp);
const struct legacy_counts *legacy_import_counts(const struct legacy_import *imp);
/* NULL-safe. */
void legacy_import_free(struct legacy_import *imp);

/* Receives one exported document (JSON text of len bytes, no newline); non-zero stops. */
typedef int legacy_emit_fn(void *ctx, const char *line, size_t len);

/*
 * Writes the documents of kind (users, works or orders) through emit, in id order, those
 * changed at or after since (an ISO 8601 time, NULL = all); *n gets how many.  Reads in
 * pages (each page is consistent in itself).  E_BAD_REQUEST for scenes, E_INTERNAL when emit
 * stopped.
 */
enum api_err legacy_export(enum clouddoc_kind kind, const char *mp_appid, const char *since,
                           legacy_emit_fn *emit, void *ctx, size_t *n);

#endif
