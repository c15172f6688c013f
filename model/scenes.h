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

#endif
