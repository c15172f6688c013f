/* scenes — the photography scenes users choose from. */
#ifndef AIPHOTO_MODEL_SCENES_H
#define AIPHOTO_MODEL_SCENES_H

#include <stddef.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"

struct scene {
	int64_t id;
	const char *name;
	const char *category;
	const char *thumbnail_url;
	const char *parameters; /* JSON text */
};

/* Active scenes in display order, only those of category when it is not NULL. */
enum api_err scenes_list_active(struct arena *a, const char *category, struct scene **out,
                                size_t *n);
/* One active scene; E_NOT_FOUND when missing or inactive. */
enum api_err scenes_get_active(struct arena *a, int64_t id, struct scene *out);

/*
 * The Redis cache of the public scene answers.  Entries live under
 * "cache:scenes:<gen>:…" (TTL SCENES_CACHE_TTL); gen is the integer at SCENES_CACHE_GEN_KEY
 * (missing = 0).  Whatever changes scenes calls scenes_cache_invalidate() after its commit:
 * the generation moves on, so every older entry is unreachable at once and expires by
 * itself.
 */
#define SCENES_CACHE_GEN_KEY "cache:scenes:gen"
#define SCENES_CACHE_TTL 300

/* The current generation (0 when none yet).  E_UNAVAILABLE when Redis is down. */
enum api_err scenes_cache_gen(struct arena *a, long long *gen);
/* Moves the generation on by one.  E_UNAVAILABLE when Redis is down (entries then stay
 * until their TTL). */
enum api_err scenes_cache_invalidate(void);

#endif
