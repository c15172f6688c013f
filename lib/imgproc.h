/*
 * imgproc — decoding, normalising and thumbnailing images with libvips (DESIGN §12).
 *
 * Every image that is stored or served goes through here once: decoded in full (so a file
 * whose header lies about its size or whose data is broken is refused), turned upright by
 * its EXIF orientation, converted to 8-bit sRGB and written again without any metadata
 * (EXIF, XMP, IPTC, GPS, ICC, comments): a JPEG (quality 88), or a PNG when the image has
 * an alpha channel (try-on garments are often cut out).  Thumbnails are JPEG only (every
 * client and provider reads it; the WebP gain at 360/720 px is small), at most
 * IMGPROC_THUMB_SMALL / IMGPROC_THUMB_LARGE pixels on the long side, never enlarged.
 *
 * Limits, so that a crafted file cannot exhaust a worker: the caller has already refused
 * more than IMAGE_MAX_PIXELS from the header (lib/image); libvips' operation cache is off
 * and its memory capped (vips_cache_set_max_mem), one thread per process
 * (vips_concurrency_set(1)), only the JPEG, PNG and WebP loaders are reachable (untrusted
 * operations blocked), a decoding error fails the load (fail_on error), and one call is
 * killed after IMGPROC_MAX_MS of computation.
 */
#ifndef AIPHOTO_IMGPROC_H
#define AIPHOTO_IMGPROC_H

#include <stddef.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"

#define IMGPROC_THUMB_SMALL 360
#define IMGPROC_THUMB_LARGE 720
/* Computation time of one imgproc call before libvips is told to stop. */
#define IMGPROC_MAX_MS 20000
/* libvips' own memory for caches and buffers (the pixels of a 40 MP image come on top). */
#define IMGPROC_MAX_MEM (64L * 1024 * 1024)

/* A normalised image (arena bytes). */
struct imgproc_image {
	const unsigned char *data;
	size_t len;
	const char *mime, *ext; /* image/jpeg jpg | image/png png */
	uint32_t width, height; /* after the rotation */
};

/* Starts libvips in this process with the limits above (idempotent).  0, or -1 when libvips
 * cannot start (logged). */
int imgproc_init(void);

/*
 * Decodes data in full and writes it again, upright and without metadata (see above).
 * want_w/want_h: the dimensions the header declared (lib/image's probe); a decoded image of
 * other dimensions is refused.  E_OK with *out; E_BAD_REQUEST with *why ("the image data is
 * broken or does not match its header") for a file libvips cannot decode, or that lies;
 * E_INTERNAL when the encoder fails.
 */
enum api_err imgproc_normalise(struct arena *a, const unsigned char *data, size_t len,
                               uint32_t want_w, uint32_t want_h, struct imgproc_image *out,
                               const char **why);

/*
 * A JPEG thumbnail of data (any accepted image, normally a normalised one) at most size
 * pixels on its long side (not enlarged), without metadata, alpha flattened on white.
 * E_OK with *thumb / *thumb_len (arena); E_BAD_REQUEST when data cannot be decoded.
 */
enum api_err imgproc_thumb(struct arena *a, const unsigned char *data, size_t len, int size,
                           const unsigned char **thumb, size_t *thumb_len);

#endif
