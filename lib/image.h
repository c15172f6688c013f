/*
 * image — recognises the three accepted image formats from their first bytes.
 *
 * Only the header is looked at: the magic bytes decide the type, then the dimensions are
 * taken from the PNG IHDR chunk, the JPEG start-of-frame segment (found by walking the
 * marker segments) or the WebP VP8 / VP8L / VP8X chunk.  Nothing is decoded, so a
 * "decompression bomb" is refused from its declared size before any pixel is read.
 */
#ifndef AIPHOTO_IMAGE_H
#define AIPHOTO_IMAGE_H

#include <stddef.h>
#include <stdint.h>

enum image_type { IMAGE_NONE, IMAGE_JPEG, IMAGE_PNG, IMAGE_WEBP };

struct image_info {
	enum image_type type;
	const char *mime; /* "image/jpeg", "image/png", "image/webp" */
	const char *ext; /* "jpg", "png", "webp" */
	uint32_t width, height;
};

#define IMAGE_MAX_BYTES (10L * 1024 * 1024)
#define IMAGE_MAX_PIXELS 40000000L

/*
 * Reads only the header: magic bytes, then the dimensions (PNG IHDR; JPEG SOFn scanning
 * markers; WebP VP8 / VP8L / VP8X).  0: *out filled; -1: not one of the three types or a
 * broken header (E_UNSUPPORTED_MEDIA_TYPE); -2: dimensions 0 or over IMAGE_MAX_PIXELS
 * (E_BAD_REQUEST "file: …"); after -2, *out still holds the type and the declared
 * dimensions (for the message).  JPEG bytes after the frame header, PNG chunks after IHDR
 * and WebP chunks after the first are not looked at.
 */
int image_probe(const unsigned char *data, size_t len, struct image_info *out);

#endif
