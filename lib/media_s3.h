/*
 * media_s3 — the s3 backend of lib/media (media_s3_ops): objects of an S3-compatible bucket
 * (Tencent COS, Alibaba OSS, AWS S3, MinIO), reached through lib/httpc with libcurl's own
 * AWS Signature V4 (CURLOPT_AWS_SIGV4 "aws:amz:<S3_REGION>:s3", the key pair as
 * CURLOPT_USERPWD).  libcurl 7.88 does not add the x-amz-content-sha256 header S3 requires,
 * so each request sends it (the SHA-256 of the body, of "" for GET and HEAD) and libcurl
 * signs it with the other headers.  A PUT stores the object's Content-Type and
 * "Cache-Control: public, max-age=31536000, immutable" (content-addressed: it never changes),
 * which S3 serves back, to a CDN too.  GET and HEAD time out after 30 and 5 s, PUT after 60 s;
 * every operation is idempotent (an object is named after its content), so a transport
 * error, a 5xx or a 429 is tried again twice (after 0.2 and 0.6 s); a timeout is not.  The pure parts are here for
 * the unit tests.
 */
#ifndef AIPHOTO_MEDIA_S3_H
#define AIPHOTO_MEDIA_S3_H

#include <stdbool.h>

#include "lib/arena.h"
#include "lib/errors.h"

/*
 * The URL of object key in bucket at endpoint ("http(s)://host[:port]", trailing '/'s
 * ignored): path style endpoint/bucket/key (MinIO, s3rver), else virtual-host style
 * scheme://bucket.host[:port]/key (COS, OSS, AWS).  key is a storage key (no escaping
 * needed: hex, '/', '.', letters and digits).  NULL for an endpoint without http(s)://.
 */
const char *media_s3_object_url(struct arena *a, const char *endpoint, const char *bucket,
                                bool path_style, const char *key);
/* What an S3 answer's status means: 200/204/206 E_OK, 404 E_NOT_FOUND, anything else
 * E_UPSTREAM_ERROR (403: credentials or bucket policy; 5xx: the store failed). */
enum api_err media_s3_status_err(long status);
/* Whether an answer (transport error err, else status) is worth another try: a transport
 * error (refused, reset), a 5xx or 429; not a timeout, which has used up the time already. */
bool media_s3_retryable(enum api_err err, long status);

#endif
