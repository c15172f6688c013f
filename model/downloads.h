/*
 * downloads — which works a batch download (POST /works/download) may put in its ZIP.
 */
#ifndef AIPHOTO_MODEL_DOWNLOADS_H
#define AIPHOTO_MODEL_DOWNLOADS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"

/* One work of a download (arena strings). */
struct download_item {
	int64_t id;
	const char *image_url; /* as stored: PUBLIC_BASE_URL/media/<key> for results */
	const char *scene; /* the scene's name, "" without a scene */
	const char *date; /* created_at in Asia/Shanghai as YYYYMMDD-HHMMSS */
};

/*
 * The works of ids[0..n) that belong to user_id, succeeded and are not deleted, by id (an id
 * given twice once).  *out (arena) and *count; the caller compares *count with the number
 * of distinct ids it asked for.  E_OK or the database error.
 */
enum api_err downloads_works(struct arena *a, int64_t user_id, const int64_t *ids, size_t n,
                             struct download_item **out, size_t *count);

#endif
