/*
 * media — the content-addressed media store, behind a backend (MEDIA_BACKEND).
 *
 * A stored file is named after the SHA-256 of its bytes, fanned out over two directory
 * levels: "<sha[0:2]>/<sha[2:4]>/<sha>.<ext>".  That relative name is the storage key kept
 * in the database, the same in every backend (so moving a store changes no row):
 *   local  files under MEDIA_DIR; lighttpd serves MEDIA_DIR under /media/, so the public URL
 *          is PUBLIC_BASE_URL + "/media/" + key (the default);
 *   s3     objects of the bucket S3_BUCKET at S3_ENDPOINT (S3-compatible: COS, OSS, AWS S3,
 *          MinIO), the object name being the key; requests signed by libcurl (SigV4); the
 *          public URL is MEDIA_CDN_BASE + "/" + key, else the object's own bucket URL (a
 *          public-read bucket).  docs/storage.md.
 * Every function below goes through the configured backend unless it says otherwise.
 */
#ifndef AIPHOTO_MEDIA_H
#define AIPHOTO_MEDIA_H

#include <stdbool.h>
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
 * hex digits, else E_INTERNAL), as computed by crypto_sha256_hex — except for a thumbnail
 * (ext "t360.jpg" / "t720.jpg"), which is named after the hash of the file it shows. */
enum api_err media_store_hashed(struct arena *a, const void *data, size_t len, const char *ext,
                                const char *sha_hex, const char **key);
/* The storage key "<sha[0:2]>/<sha[2:4]>/<sha>.<ext>" of a hash and extension (arena), the
 * one media_store hands out. */
const char *media_key(struct arena *a, const char *sha_hex, const char *ext);
/* The Content-Type of a stored file by its key's extension: image/png, image/webp, else
 * image/jpeg (thumbnails included). */
const char *media_mime(const char *key);
/* Absolute file path of a storage key under MEDIA_DIR (arena), whatever the backend; NULL
 * for a key that is not of that form. */
const char *media_path(struct arena *a, const char *key);
/* The file lighttpd may send for key (X-Sendfile): media_path with the local backend; NULL
 * with s3 (the worker sends the object's bytes itself) or for a malformed key. */
const char *media_sendfile_path(struct arena *a, const char *key);
/* Public URL of a storage key (arena): local PUBLIC_BASE_URL + "/media/" + key; s3
 * MEDIA_CDN_BASE + "/" + key, else the object's bucket URL. */
const char *media_url(struct arena *a, const char *key);
/* The storage key at the end of one of our media URLs (any backend's: the last three path
 * segments form a key), or NULL (arena). */
const char *media_url_key(struct arena *a, const char *url);
/* Reads a stored file whole (≤ IMAGE_MAX_BYTES) into the arena.  E_OK / E_NOT_FOUND;
 * E_INTERNAL for a local I/O error other than a missing file; E_UPSTREAM_ERROR / E_TIMEOUT
 * when the object store fails or cannot be reached. */
enum api_err media_read(struct arena *a, const char *key, const unsigned char **data, size_t *len);
/* The size of a stored file: E_OK with *size, E_NOT_FOUND, or an error as media_read's. */
enum api_err media_size(struct arena *a, const char *key, long long *size);

/*
 * A backend: pure storage of whole objects by key (keys already checked by the callers
 * above).  put stores data under key (replacing nothing partially: local renames a synced
 * temp file, s3 PUTs the object whole); get reads it whole (≤ IMAGE_MAX_BYTES); stat gives
 * its size; url its public URL.  Errors as media_read's (E_NOT_FOUND for a missing key).
 */
struct media_backend_ops {
	const char *name; /* "local", "s3" */
	enum api_err (*put)(struct arena *a, const char *key, const void *data, size_t len);
	enum api_err (*get)(struct arena *a, const char *key, const unsigned char **data,
	                    size_t *len);
	enum api_err (*stat)(struct arena *a, const char *key, long long *size);
	const char *(*url)(struct arena *a, const char *key);
};
extern const struct media_backend_ops media_local_ops; /* lib/media.c */
extern const struct media_backend_ops media_s3_ops; /* lib/media_s3.c (needs the S3_* config) */
/* The configured backend (MEDIA_BACKEND). */
const struct media_backend_ops *media_backend(void);
/* Whether key is a storage key "<sha[0:2]>/<sha[2:4]>/<sha>.<ext>" of a stored extension. */
bool media_key_valid(const char *key);

/*
 * Thumbnails (DESIGN §12): every stored image (an upload's normalised file, a result) has
 * two JPEG thumbnails, at most 360 and 720 px on the long side, named after the image's own
 * storage key: "<sha[0:2]>/<sha[2:4]>/<sha>.t360.jpg" and ".t720.jpg" (content-addressed
 * through the image's hash, so the name is known without a database row).
 */
/* The key of the thumbnail of size (IMGPROC_THUMB_SMALL or _LARGE) of a stored image's key
 * (arena); NULL for another size or a key that is not an image's. */
const char *media_thumb_key(struct arena *a, const char *key, int size);
/* Makes both thumbnails of the stored image key, each only when missing (so once per image),
 * from data/len when given (its bytes, already in memory), else from the file.  E_OK;
 * E_BAD_REQUEST when the image cannot be decoded; E_NOT_FOUND / E_INTERNAL from the store. */
enum api_err media_thumbs(struct arena *a, const char *key, const unsigned char *data, size_t len);

/*
 * Signed, expiring media URLs (GET /api/v1/media/:sha256?exp=&sig=): sig is the hex
 * HMAC-SHA256 under MEDIA_URL_KEY of "/api/v1/media/<sha>\n<exp>" (exp: Unix seconds).
 * media_signed_url: base (MEDIA_URL_BASE, else PUBLIC_BASE_URL) + that path and query for
 * the stored file sha valid until exp (arena); NULL when MEDIA_URL_KEY is unset.
 * media_sig_ok: sig is that signature for sha and exp (constant-time comparison) and exp is
 * not past now; false for anything malformed.
 */
const char *media_signed_url(struct arena *a, const char *sha_hex, long long exp);
bool media_sig_ok(const char *sha_hex, const char *exp, const char *sig, long long now);
/* The storage key of the stored image file named by its hash (jpg, png or webp, whichever
 * exists), or NULL (arena) with *err E_NOT_FOUND, or the store's error (media_read's) when
 * it could not tell. */
const char *media_find(struct arena *a, const char *sha_hex, enum api_err *err);

#endif
