/*
 * fuzz_multipart — multipart_parse over arbitrary bodies, and image_probe over the whole
 * input and over every part found, checking the documented bounds on every result.
 *
 * The first input line (when the input has one within 128 bytes) is taken as the
 * Content-Type parameters after "multipart/form-data; ", so the boundary syntax is fuzzed
 * too; otherwise the boundary is "b".
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/image.h"
#include "lib/multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct arena fuzz_arena;
static int fuzz_ready;

static void fuzz_probe(const unsigned char *d, size_t n)
{
	struct image_info in;
	int rc = image_probe(d, n, &in);

	assert(rc == 0 || rc == -1 || rc == -2);
	if (rc == -1) {
		assert(in.type == IMAGE_NONE);
		return;
	}
	assert(in.type == IMAGE_JPEG || in.type == IMAGE_PNG || in.type == IMAGE_WEBP);
	assert(in.mime != NULL && in.ext != NULL);
	if (rc == 0)
		assert(in.width > 0 && in.height > 0 &&
		       (uint64_t)in.width * in.height <= (uint64_t)IMAGE_MAX_PIXELS);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size < 128 ? size : 128);
	const char *ct = "multipart/form-data; boundary=b";
	const uint8_t *body = data;
	size_t len = size;
	struct multipart form;
	const char *why = NULL;
	enum api_err err;

	if (!fuzz_ready) {
		arena_init(&fuzz_arena, 4096);
		fuzz_ready = 1;
	}
	if (nl != NULL) {
		ct = arena_printf(&fuzz_arena, "multipart/form-data; %.*s", (int)(nl - data),
		                  (const char *)data);
		body = nl + 1;
		len = size - (size_t)(nl + 1 - data);
	}
	fuzz_probe(data, size);

	/* a copy of exactly len bytes, so any read past the end is caught */
	uint8_t *copy = malloc(len ? len : 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, body, len);
	err = multipart_parse(&fuzz_arena, ct, copy, len, &form, &why);
	if (err == E_OK) {
		assert(form.n <= MULTIPART_MAX_PARTS);
		for (size_t i = 0; i < form.n; i++) {
			const struct multipart_part *p = &form.parts[i];
			assert(p->name != NULL);
			assert(p->data >= copy && p->len <= len &&
			       (size_t)(p->data - copy) <= len - p->len);
			fuzz_probe(p->data, p->len);
		}
		if (form.n > 0)
			assert(multipart_find(&form, form.parts[0].name, NULL) == &form.parts[0]);
	} else {
		assert(err == E_BAD_REQUEST || err == E_UNSUPPORTED_MEDIA_TYPE);
		assert(why != NULL && form.n == 0);
	}
	free(copy);
	arena_reset(&fuzz_arena);
	return 0;
}
