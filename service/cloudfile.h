/*
 * cloudfile — files of the mini program's WeChat cloud storage (the cloud environment
 * WECHAT_CLOUD_ENV) brought into our media store: POST /assets/cloud fetches one at once,
 * aiphoto-dispatch fetches the cloud:// images of imported works in batches.  Both ask
 * tcb/batchdownloadfile for temporary download URLs (lib/wechat/wxapi.h) and download them
 * with the outbound policy of lib/httpc.h, and both judge a download the same way
 * (cloudfile_outcome).  Messages (*why) are arena strings naming what went wrong, without a
 * field name.
 */
#ifndef AIPHOTO_SERVICE_CLOUDFILE_H
#define AIPHOTO_SERVICE_CLOUDFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/arena.h"
#include "lib/errors.h"
#include "lib/wechat/wxcloud.h"

#define CLOUDFILE_LINK_AGE 600 /* seconds a download URL is asked to stay valid */
#define CLOUDFILE_TIMEOUT_MS 30000 /* one download, whole */

/*
 * Whether file_id may be fetched: E_OK; E_BAD_REQUEST when it is not a cloud file id or
 * names another environment than WECHAT_CLOUD_ENV; E_UNAVAILABLE when WECHAT_CLOUD_ENV is not
 * set (cloud storage is not configured).
 */
enum api_err cloudfile_check(struct arena *a, const char *file_id, const char **why);

/*
 * Temporary download URLs of ids[0..n) (each already passed cloudfile_check), asked
 * WXCLOUD_BATCH at a time: E_OK with out[i] for each; E_UPSTREAM_ERROR, E_TIMEOUT or
 * E_UNAVAILABLE (Redis, for the token) when cloud storage could not be asked.
 */
enum api_err cloudfile_locate(struct arena *a, const char *const *ids, size_t n,
                              struct wxcloud_link *out, const char **why);

/* What a located file came to: E_OK (its URL may be downloaded), E_NOT_FOUND (no such
 * file), E_UPSTREAM_ERROR (cloud storage refused it: its errmsg and status in *why). */
enum api_err cloudfile_link_error(struct arena *a, const struct wxcloud_link *l, const char **why);

/*
 * What a download came to: transfer is E_OK when an answer came (status is its HTTP status),
 * E_TIMEOUT when none came in time, else E_UPSTREAM_ERROR; too_large when the body passed max.
 * E_OK for a 200; E_NOT_FOUND for 404 (the file is gone); E_PAYLOAD_TOO_LARGE;
 * E_TIMEOUT; E_UPSTREAM_ERROR for anything else.
 */
enum api_err cloudfile_outcome(struct arena *a, enum api_err transfer, long status, bool too_large,
                               size_t max, const char **why);

/*
 * The bytes of one file (at most max): cloudfile_locate, then the download.  E_OK with
 * *data, *len (arena); E_NOT_FOUND when cloud storage has no such file; E_PAYLOAD_TOO_LARGE;
 * E_UPSTREAM_ERROR; E_TIMEOUT; E_UNAVAILABLE.
 */
enum api_err cloudfile_fetch(struct arena *a, const char *file_id, size_t max,
                             const unsigned char **data, size_t *len, const char **why);

#endif
