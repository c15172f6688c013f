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
};

/*
 * Records the user's asset unless the user already has one with that hash (INSERT … ON
 * CONFLICT (user_id, sha256) DO NOTHING), then reads the row into *out; *created tells
 * whether this call inserted it.  An unknown user → E_NOT_FOUND.
 */
enum api_err assets_put(struct arena *a, int64_t user_id, const char *sha256, const char *mime,
                        uint32_t width, uint32_t height, int64_t size_bytes,
                        const char *storage_key, struct asset *out, bool *created);
/* The user's asset with that hash (64 lowercase hex digits); E_NOT_FOUND otherwise. */
enum api_err assets_get_by_sha(struct arena *a, int64_t user_id, const char *sha256,
                               struct asset *out);
/*
 * How many entries of ids[0..n) name assets of that user (an id given twice counts twice),
 * so *count == n exactly when every id is the user's.
 */
enum api_err assets_owned(struct arena *a, int64_t user_id, const int64_t *ids, size_t n,
                          size_t *count);
/*
 * Storage key and mime of each asset of ids[0..n), whoever owns it, in the given order
 * (arena strings).  E_NOT_FOUND when one of them does not exist.
 */
enum api_err assets_keys(struct arena *a, const int64_t *ids, size_t n, const char **keys,
                         const char **mimes);

#endif
