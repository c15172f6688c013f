/*
 * assets — the images users uploaded (one row per user and content hash).
 *
 * The bytes live in the media store (lib/media.h) under storage_key; several users who
 * upload the same bytes share the file but each has a row of their own.  Lookups by user
 * are owner-scoped: another user's asset is answered like a missing one.
 */
#ifndef AIPHOTO_MODEL_ASSETS_H
#define AIPHOTO_MODEL_ASSETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"

struct asset {
	int64_t id, user_id;
	const char *sha256, *mime, *storage_key, *created_at;
	int64_t width, height, size_bytes;
	/* WeChat's media check (migration 0014): NULL never checked, "pending", "pass",
	 * "review", "risky" or "error" */
	const char *check_status;
};

/* A new upload for assets_put. */
struct asset_new {
	int64_t user_id;
	const char *sha256, *mime, *storage_key;
	uint32_t width, height;
	int64_t size_bytes;
	/* the quota of users whose row sets none (UPLOAD_QUOTA_FILES, UPLOAD_QUOTA_BYTES) */
	int64_t default_max_files, default_max_bytes;
	/* the cloud storage file id the bytes came from (POST /assets/cloud), else NULL */
	const char *cloud_file_id;
	/* writes the bytes to the media store under storage_key; E_OK or the error to return */
	enum api_err (*store)(void *ctx);
	void *store_ctx;
};

/* A user's uploads (before this one) against their quota. */
struct assets_usage {
	int64_t files, bytes;
	int64_t max_files, max_bytes;
};

/*
 * Records a user's upload within their quota, race-free: in one transaction, under a
 * per-user advisory lock (concurrent uploads by one user take turns, other users do not
 * wait), it reads the asset the user may already have with that hash, their usage (count
 * and total size of their assets) and their quota (users.upload_quota_files / _bytes, else
 * the defaults in), then
 *   - the user has that hash already: calls in->store (which rewrites a missing file),
 *     inserts nothing, *created false: a re-upload costs no quota;
 *   - one more file or size_bytes more would pass the quota: E_PAYLOAD_TOO_LARGE with
 *     *use filled, without calling in->store: nothing is written, no row;
 *   - otherwise calls in->store and inserts the row (the INSERT checks the quota again),
 *     *created true;
 *   - with in->cloud_file_id, in both first cases the user's link of that file id names this
 *     asset from now on (asset_cloud_files), and the asset's cloud_file_id is set if empty.
 * An error of in->store is returned after a rollback (no row).  On E_OK *out is the row.
 * *use holds the usage before this upload whenever it was read.  Unknown user → E_NOT_FOUND.
 * Nothing else deletes assets today; a row deleted later frees its share at once, since the
 * usage is counted from the rows.
 */
enum api_err assets_put(struct arena *a, const struct asset_new *in, struct asset *out,
                        bool *created, struct assets_usage *use);
/* The user's asset with that hash (64 lowercase hex digits); E_NOT_FOUND otherwise. */
enum api_err assets_get_by_sha(struct arena *a, int64_t user_id, const char *sha256,
                               struct asset *out);
/* The user's asset registered under that cloud storage file id; E_NOT_FOUND otherwise
 * (another user's registration too). */
enum api_err assets_get_by_cloud(struct arena *a, int64_t user_id, const char *file_id,
                                 struct asset *out);
/* What assets_owned found among ids. */
struct assets_owned {
	size_t count; /* entries naming assets of the user (an id given twice counts twice) */
	size_t risky; /* ... of those, judged risky by WeChat's media check */
	size_t unchecked; /* ... whose check could not be made ('error') */
};

/* How many entries of ids[0..n) name assets of that user, so out->count == n exactly when
 * every id is the user's, and their content-check states. */
enum api_err assets_owned(struct arena *a, int64_t user_id, const int64_t *ids, size_t n,
                          struct assets_owned *out);
/*
 * Storage key and mime of each asset of ids[0..n), whoever owns it, in the given order
 * (arena strings).  E_NOT_FOUND when one of them does not exist.
 */
enum api_err assets_keys(struct arena *a, const int64_t *ids, size_t n, const char **keys,
                         const char **mimes);

/*
 * Content checks of uploads (migration 0014).  assets_check_begin records the trace id of a
 * started media check: the asset is 'pending', or takes at once the verdict that arrived
 * before it (media_checks).  assets_check_verdict records a verdict push once per trace id
 * (*fresh false for a repeat, which changes nothing) and applies it to the pending asset of
 * that trace (*applied: how many rows); suggest NULL means WeChat could not check (errcode
 * ≠ 0) and makes the asset 'error'.  Both run in a transaction of their own under an advisory
 * lock on the trace id, so whichever comes second sees the other.
 */
enum api_err assets_check_begin(struct arena *a, int64_t asset_id, const char *trace_id);
enum api_err assets_check_verdict(struct arena *a, const char *trace_id, const char *suggest,
                                  const char *label, long errcode, bool *fresh, int *applied);
/* The check could not be started: the asset is 'error' with why as its label. */
enum api_err assets_check_error(struct arena *a, int64_t asset_id, const char *why);

#endif
