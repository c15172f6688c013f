/*
 * fuzz_query — query_parse over a NUL-terminated copy of the input and query_decode over
 * the raw bytes (both '+' modes), checking the documented bounds on every result.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct arena fuzz_arena;
static int fuzz_ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct query_param *params;
	size_t n, total = 0;
	char *copy, *d;

	if (!fuzz_ready) {
		arena_init(&fuzz_arena, 4096);
		fuzz_ready = 1;
	}
	copy = malloc(size + 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';

	n = query_parse(&fuzz_arena, copy, &params);
	assert(n <= QUERY_MAX_PARAMS);
	for (size_t i = 0; i < n; i++) {
		size_t nl = strlen(params[i].name), vl = strlen(params[i].value);
		assert(nl > 0);
		total += nl + vl;
	}
	/* names and values are decoded from disjoint parts of the input */
	assert(total <= strlen(copy));

	for (int plus = 0; plus < 2; plus++) {
		d = query_decode(&fuzz_arena, (const char *)data, size, plus != 0);
		if (d != NULL) {
			assert(strlen(d) <= size);
			/* nothing decodes to a NUL, and a NUL input byte refuses the whole string */
			assert(memchr(data, '\0', size) == NULL);
			/* without escapes, '+' survives only when it is not a space */
			if (memchr(data, '%', size) == NULL)
				assert(plus ? strchr(d, '+') == NULL : strlen(d) == size);
		}
	}
	free(copy);
	arena_reset(&fuzz_arena);
	return 0;
}
