/* imgproc — see imgproc.h. */
#include "lib/imgproc.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <vips/vips.h>

#include "lib/log.h"

static int imgproc_started; /* 1 started, -1 failed */
static struct timespec imgproc_t0; /* start of the current call, for the time bound */

int imgproc_init(void)
{
	if (imgproc_started != 0)
		return imgproc_started > 0 ? 0 : -1;
	if (VIPS_INIT("aiphoto") != 0) {
		log_error("imgproc: libvips does not start: %s", vips_error_buffer());
		imgproc_started = -1;
		return -1;
	}
	vips_cache_set_max(0);
	vips_cache_set_max_mem(IMGPROC_MAX_MEM);
	vips_cache_set_max_files(0);
	vips_concurrency_set(1);
	/* only the three accepted formats' loaders; nothing that shells out or parses more */
	vips_block_untrusted_set(TRUE);
	vips_operation_block_set("VipsForeignLoad", TRUE);
	vips_operation_block_set("VipsForeignLoadJpegBuffer", FALSE);
	vips_operation_block_set("VipsForeignLoadPngBuffer", FALSE);
	vips_operation_block_set("VipsForeignLoadWebpBuffer", FALSE);
	imgproc_started = 1;
	return 0;
}

static long imgproc_elapsed_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - imgproc_t0.tv_sec) * 1000L + (t.tv_nsec - imgproc_t0.tv_nsec) / 1000000L;
}

/* "eval" signal: stops the computation of an image once the call has run too long. */
static void imgproc_eval(VipsImage *image, VipsProgress *progress, void *user)
{
	(void)progress;
	(void)user;
	if (imgproc_elapsed_ms() > IMGPROC_MAX_MS) {
		log_warn("imgproc: stopped after %d ms", IMGPROC_MAX_MS);
		vips_image_set_kill(image, TRUE);
	}
}

/* Watches the image that is about to be computed (the one handed to a saver). */
static void imgproc_watch(VipsImage *im)
{
	vips_image_set_progress(im, TRUE);
	g_signal_connect(im, "eval", G_CALLBACK(imgproc_eval), NULL);
}

/* Copies a g_malloc'd buffer into the arena and frees it. */
static const unsigned char *imgproc_keep(struct arena *a, void *buf, size_t len)
{
	unsigned char *p = arena_alloc(a, len ? len : 1);

	memcpy(p, buf, len);
	g_free(buf);
	return p;
}

/* in as 8-bit sRGB (or grey), alpha kept: *out a new reference.  0 or -1. */
static int imgproc_srgb(VipsImage *in, VipsImage **out)
{
	VipsImage *t = NULL;
	VipsInterpretation want =
	    in->Bands <= 2 ? VIPS_INTERPRETATION_B_W : VIPS_INTERPRETATION_sRGB;

	if (vips_colourspace(in, &t, want, NULL) != 0)
		return -1;
	if (t->BandFmt != VIPS_FORMAT_UCHAR) {
		int rc = vips_cast(t, out, VIPS_FORMAT_UCHAR, NULL);
		g_object_unref(t);
		return rc;
	}
	*out = t;
	return 0;
}

enum api_err imgproc_normalise(struct arena *a, const unsigned char *data, size_t len,
                               uint32_t want_w, uint32_t want_h, struct imgproc_image *out,
                               const char **why)
{
	VipsImage *in = NULL, *up = NULL, *rgb = NULL;
	void *buf = NULL;
	size_t blen = 0;
	bool alpha;
	enum api_err err = E_BAD_REQUEST;

	*why = "the image data is broken or does not match its header";
	if (imgproc_init() != 0)
		return E_INTERNAL;
	clock_gettime(CLOCK_MONOTONIC, &imgproc_t0);
	in = vips_image_new_from_buffer(data, len, "", "fail_on", VIPS_FAIL_ON_ERROR, NULL);
	if (in == NULL)
		goto out;
	if ((uint32_t)in->Xsize != want_w || (uint32_t)in->Ysize != want_h) {
		log_info("imgproc: header says %ux%u, the decoder %dx%d", want_w, want_h, in->Xsize,
		         in->Ysize);
		goto out;
	}
	if (vips_autorot(in, &up, NULL) != 0 || imgproc_srgb(up, &rgb) != 0)
		goto out;
	alpha = vips_image_hasalpha(rgb);
	imgproc_watch(rgb);
	/* saving decodes every pixel: broken data fails here (fail_on error) */
	if (alpha ? vips_pngsave_buffer(rgb, &buf, &blen, "strip", TRUE, "compression", 6, NULL)
	          : vips_jpegsave_buffer(rgb, &buf, &blen, "strip", TRUE, "Q", 88,
	                                 "optimize_coding", TRUE, NULL)) {
		log_info("imgproc: cannot decode: %.200s", vips_error_buffer());
		goto out;
	}
	out->data = imgproc_keep(a, buf, blen);
	out->len = blen;
	out->mime = alpha ? "image/png" : "image/jpeg";
	out->ext = alpha ? "png" : "jpg";
	out->width = (uint32_t)rgb->Xsize;
	out->height = (uint32_t)rgb->Ysize;
	*why = NULL;
	err = E_OK;
out:
	vips_error_clear();
	if (rgb)
		g_object_unref(rgb);
	if (up)
		g_object_unref(up);
	if (in)
		g_object_unref(in);
	return err;
}

enum api_err imgproc_thumb(struct arena *a, const unsigned char *data, size_t len, int size,
                           const unsigned char **thumb, size_t *thumb_len)
{
	VipsImage *t = NULL, *rgb = NULL, *flat = NULL;
	void *buf = NULL, *src;
	size_t blen = 0;
	double white[1] = {255};
	enum api_err err = E_BAD_REQUEST;

	if (imgproc_init() != 0)
		return E_INTERNAL;
	clock_gettime(CLOCK_MONOTONIC, &imgproc_t0);
	/* shrink-on-load where the format allows; autorotates; never enlarges */
	/* libvips' prototype lacks const; it does not write to the buffer */
	memcpy(&src, &data, sizeof(src));
	if (vips_thumbnail_buffer(src, len, &t, size, "height", size, "size", VIPS_SIZE_DOWN,
	                          "fail_on", VIPS_FAIL_ON_ERROR, NULL) != 0 ||
	    imgproc_srgb(t, &rgb) != 0)
		goto out;
	if (vips_image_hasalpha(rgb)) {
		VipsArrayDouble *bg = vips_array_double_new(white, 1);
		int rc = vips_flatten(rgb, &flat, "background", bg, NULL);
		vips_area_unref(VIPS_AREA(bg));
		if (rc != 0)
			goto out;
	} else {
		flat = rgb;
		g_object_ref(flat);
	}
	imgproc_watch(flat);
	if (vips_jpegsave_buffer(flat, &buf, &blen, "strip", TRUE, "Q", 80, NULL) != 0)
		goto out;
	*thumb = imgproc_keep(a, buf, blen);
	*thumb_len = blen;
	err = E_OK;
out:
	if (err != E_OK)
		log_info("imgproc: no thumbnail: %.200s", vips_error_buffer());
	vips_error_clear();
	if (flat)
		g_object_unref(flat);
	if (rgb)
		g_object_unref(rgb);
	if (t)
		g_object_unref(t);
	return err;
}
