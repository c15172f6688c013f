/*
 * fuzz_imgproc — the upload path after the header check: image_probe, then, for an image
 * it accepts (kept to 1 megapixel so that runs stay fast), imgproc_normalise with the
 * declared dimensions and imgproc_thumb of what it produced, checking the documented
 * results: E_OK or E_BAD_REQUEST (never a crash, a hang past libvips' time bound or an
 * out-of-bounds read), a JPEG or PNG out, upright dimensions that are the declared ones
 * (swapped at most), and a thumbnail within its size.
 *
 * libvips and GLib keep process-wide caches and type registrations that LeakSanitizer would
 * report on exit, so leak detection is off for this harness only (ASan and UBSan stay on).
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "lib/image.h"
#include "lib/imgproc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__asan_default_options(void);

const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}

static struct arena fuzz_arena;
static int fuzz_ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct image_info info;
	struct imgproc_image img;
	const unsigned char *thumb;
	size_t tlen;
	const char *why;
	enum api_err err;

	if (!fuzz_ready) {
		arena_init(&fuzz_arena, 4096);
		assert(imgproc_init() == 0);
		fuzz_ready = 1;
	}
	if (image_probe(data, size, &info) != 0 || (uint64_t)info.width * info.height > 1000000)
		return 0;
	err = imgproc_normalise(&fuzz_arena, data, size, info.width, info.height, &img, &why);
	assert(err == E_OK || err == E_BAD_REQUEST);
	if (err == E_OK) {
		assert(img.len > 4);
		assert(memcmp(img.data, "\xff\xd8\xff", 3) == 0 ||
		       memcmp(img.data, "\x89PNG", 4) == 0);
		assert((img.width == info.width && img.height == info.height) ||
		       (img.width == info.height && img.height == info.width));
		err = imgproc_thumb(&fuzz_arena, img.data, img.len, IMGPROC_THUMB_SMALL, &thumb,
		                    &tlen);
		assert(err == E_OK);
		assert(tlen > 3 && memcmp(thumb, "\xff\xd8\xff", 3) == 0);
	} else {
		assert(why != NULL);
	}
	arena_reset(&fuzz_arena);
	return 0;
}
