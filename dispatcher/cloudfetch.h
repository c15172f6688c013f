/*
 * cloudfetch — one dispatcher run's fetch of imported works' cloud:// images into the media
 * store (docs/cloud-files.md), beside the AI work on the same curl multi handle.
 *
 * At the start of a run it claims up to DISPATCH_CLOUD_FETCH_BATCH works whose image_url or
 * thumb_url is a cloud storage file id (works_cloud_claim: SKIP LOCKED, with a lease, so runs
 * at once take different works), asks cloud storage for their download URLs in one call per
 * 50 files (service/cloudfile), and adds the downloads to the run's multi handle, at most
 * CLOUDFETCH_PARALLEL at a time.  A downloaded image is checked (JPEG, PNG or WebP within the
 * pixel limit, at most 10 MiB), stored content-addressed, and replaces the file id in the
 * work (compare-and-set, so a second fetch of the same work changes nothing).  A failure
 * (no such file, refused, 5xx, timeout, not an image) leaves the work as it is and puts it
 * off: 1 minute after the first attempt, doubling, at most a day.  Nothing happens without
 * WECHAT_CLOUD_ENV or with a batch of 0.
 */
#ifndef AIPHOTO_DISPATCHER_CLOUDFETCH_H
#define AIPHOTO_DISPATCHER_CLOUDFETCH_H

#include <curl/curl.h>
#include <stdbool.h>

#define CLOUDFETCH_PARALLEL 4 /* downloads at once */
#define CLOUDFETCH_LEASE_S 300 /* a claimed work is another run's again after this */

struct cloudfetch;

/* Claims this run's batch and starts its downloads on multi; NULL when there is nothing to
 * fetch (or every fetch already ended). */
struct cloudfetch *cloudfetch_start(CURLM *multi, long batch, bool development);

/* A transfer of multi ended with cc: true when it was one of cf's (then handled). */
bool cloudfetch_done(struct cloudfetch *cf, CURL *easy, CURLcode cc);

/* True while downloads of cf are queued or running (cf may be NULL). */
bool cloudfetch_busy(const struct cloudfetch *cf);

/* Logs what the batch came to and frees cf (NULL-safe); transfers still running are
 * removed from the multi handle (their works come back after the lease). */
void cloudfetch_end(struct cloudfetch *cf);

#endif
