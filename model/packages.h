/* packages — the credit packages users can buy. */
#ifndef AIPHOTO_MODEL_PACKAGES_H
#define AIPHOTO_MODEL_PACKAGES_H

#include <stddef.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"

struct package {
	int64_t id;
	const char *name;
	int64_t price_fen;
	int64_t credits;
	int64_t bonus_credits;
};

/* Active packages in display order (sort_order, id); *out in the arena. */
enum api_err packages_list_active(struct arena *a, struct package **out, size_t *n);
/* One active package; E_NOT_FOUND when missing or inactive. */
enum api_err packages_get_active(struct arena *a, int64_t id, struct package *out);

#endif
