/*
 * wxcloud — WeChat Cloud Development storage (云存储) file ids and the shapes of
 * tcb/batchdownloadfile, no I/O (wxapi_tcb_download_urls makes the call).
 *
 * A file id is "cloud://<env>.<bucket>/<path>", e.g.
 *   cloud://prod-1a2b.7072-prod-1a2b-1300000000/works/x.jpg
 * where the bucket is the hex of the env's first two characters, "-", the env and, in the ids
 * of current environments, "-" and the numeric app id of the storage; its public HTTPS form
 * is https://<bucket>.tcb.qcloud.la/<path> (readable there only when the storage's
 * permissions let everyone read).  docs/cloud-files.md cites the sources.
 *
 * tcb/batchdownloadfile: POST {"env","file_list":[{"fileid","max_age"}…]} (at most 50 files)
 * → {"errcode","errmsg","file_list":[{"fileid","download_url","status","errmsg"}…]}; a file's
 * status 0 carries a temporary download URL, any other status its own errmsg
 * (STORAGE_FILE_NONEXIST, -503003, for a missing file).
 */
#ifndef AIPHOTO_WXCLOUD_H
#define AIPHOTO_WXCLOUD_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/arena.h"
#include "lib/errors.h"

#define WXCLOUD_SCHEME "cloud://"
#define WXCLOUD_MAX_ID 1024 /* bytes of a whole file id */
#define WXCLOUD_MAX_ENV 64
#define WXCLOUD_MAX_BUCKET 128
#define WXCLOUD_BATCH 50 /* files per tcb/batchdownloadfile call */

/* A parsed file id; path points into the id it was parsed from. */
struct wxcloud_fileid {
	char env[WXCLOUD_MAX_ENV + 1];
	char bucket[WXCLOUD_MAX_BUCKET + 1];
	const char *path;
};

/*
 * Parses "cloud://<env>.<bucket>/<path>": env and bucket of letters, digits, '-' and '_'
 * (at most 64 and 128), a path of 1 or more bytes without control characters or '\\',
 * without a leading '/', an empty, "." or ".." segment; the whole id at most WXCLOUD_MAX_ID
 * bytes.  False (out undefined) for anything else.
 */
bool wxcloud_fileid_parse(const char *id, struct wxcloud_fileid *out);

/* True when s starts with "cloud://" (a value to render or resolve, well-formed or not). */
bool wxcloud_is_fileid(const char *s);

/*
 * The HTTPS URL a browser can load for a file id, written to out (NUL-terminated): with a
 * prefix (CLOUD_STORAGE_URL_PREFIX), prefix + "/" + path; without one, the storage's own
 * domain https://<bucket>.tcb.qcloud.la/ + path, only when the bucket is the complete
 * "<hex>-<env>-<app id>" (an id without the app id names no host).  The path is
 * percent-encoded where a URL needs it (UTF-8, spaces, '%', '?', '#').  False when the id
 * does not parse, no URL can be derived, or it does not fit in outlen.
 */
bool wxcloud_public_url(const char *file_id, const char *prefix, char *out, size_t outlen);

/* The request body of tcb/batchdownloadfile for ids[0..n) (arena JSON text). */
const char *wxcloud_download_body(struct arena *a, const char *env, const char *const *ids,
                                  size_t n, long max_age);

/* What the storage said about one file. */
enum wxcloud_state {
	WXCLOUD_OK, /* url is a temporary download URL */
	WXCLOUD_MISSING, /* no such file (STORAGE_FILE_NONEXIST) */
	WXCLOUD_REFUSED /* another per-file error (permission, malformed id, absent) */
};

struct wxcloud_link {
	enum wxcloud_state state;
	const char *url; /* WXCLOUD_OK only */
	long status; /* the file's status code */
	const char *errmsg; /* the file's errmsg ("" when none) */
};

/*
 * Reads the file_list of an accepted answer (errcode 0) for ids[0..n) into out[0..n): each
 * entry is matched by its fileid (by position when the entry names none), an id the answer
 * does not mention is WXCLOUD_REFUSED.  E_UPSTREAM_ERROR when there is no file_list array.
 */
enum api_err wxcloud_download_parse(struct arena *a, json_object *answer, const char *const *ids,
                                    size_t n, struct wxcloud_link *out);

#endif
