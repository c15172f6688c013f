/*
 * media — the content-addressed file store under MEDIA_DIR.
 *
 * A stored file is named after the SHA-256 of its bytes, fanned out over two directory
 * levels: "<sha[0:2]>/<sha[2:4]>/<sha>.<ext>".  That relative name is the storage key kept
 * in the database; lighttpd serves MEDIA_DIR under /media/, so the public URL is
 * PUBLIC_BASE_URL + "/media/" + key.
 */
#ifndef AIPHOTO_MEDIA_H
#define AIPHOTO_MEDIA_H

#include <stddef.h>

#include "lib/arena.h"
#include "lib/errors.h"

/*
 * Stores data (already probed) as MEDIA_DIR/<sha[0:2]>/<sha[2:4]>/<sha>.<ext>, written to
 * a temp file in the same directory, fsync'd and renamed (an existing file with that name
 * is kept).  sha_hex gets the 64 lowercase hex digits; *key (arena) the storage key
 * "<sha[0:2]>/<sha[2:4]>/<sha>.<ext>".  E_OK / E_INTERNAL.
 */
enum api_err media_store(struct arena *a, const void *data, size_t len, const char *ext,
                         char sha_hex[65], const char **key);
/* The same with the hash already known: sha_hex must be the SHA-256 of data (64 lowercase
 * hex digits, else E_INTERNAL), as computed by crypto_sha256_hex. */
enum api_err media_store_hashed(struct arena *a, const void *data, size_t len, const char *ext,
                                const char *sha_hex, const char **key);
/* The storage key "<sha[0:2]>/<sha[2:4]>/<sha>.<ext>" of a hash and extension (arena), the
 * one media_store hands out. */
const char *media_key(struct arena *a, const char *sha_hex, const char *ext);
/* Absolute file path of a storage key (arena), NULL for a key that is not of that form. */
const char *media_path(struct arena *a, const char *key);
/* Public URL of a storage key: PUBLIC_BASE_URL + "/media/" + key (arena). */
const char *media_url(struct arena *a, const char *key);
/* Reads a stored file whole (≤ IMAGE_MAX_BYTES) into the arena.  E_OK / E_NOT_FOUND
 * (E_INTERNAL only for an I/O error other than a missing file). */
enum api_err media_read(struct arena *a, const char *key, const unsigned char **data, size_t *len);

#endif
