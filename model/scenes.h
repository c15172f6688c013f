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
 * The Redis cache of the public scene answers; this file alone reads, fills and invalidates
 * it.  Entries live under "cache:scenes:<gen>:<what>" (TTL SCENES_CACHE_TTL); gen is the
 * integer at SCENES_CACHE_GEN_KEY (missing = 0).  Whatever changes scenes calls
 * scenes_cache_invalidate() after its commit: the generation moves on, so every older entry
 * is unreachable at once and expires by itself.  The entries are opaque text to this file.
 */
#define SCENES_CACHE_GEN_KEY "cache:scenes:gen"
#define SCENES_CACHE_TTL 300

/* Where an answer is cached and, when there, its text. */
struct scenes_cache_entry {
	const char *key; /* the entry's full key; NULL when Redis cannot be used now */
	char *text; /* the cached text; NULL on a miss */
};

/* Looks what ("list", "list:c:<category>", "id:<id>") up in the current generation.  Never
 * fails: Redis down is a miss with a NULL key, so the database answers alone. */
void scenes_cache_get(struct arena *a, const char *what, struct scenes_cache_entry *e);
/* Stores text as e's entry (best effort; nothing when e->key is NULL). */
void scenes_cache_fill(const struct scenes_cache_entry *e, const char *text);
/* Moves the generation on by one; *gen (may be NULL) gets the new one.  E_UNAVAILABLE when
 * Redis is down (entries then stay until their TTL). */
enum api_err scenes_cache_invalidate(long long *gen);

#endif
