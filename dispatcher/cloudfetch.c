/* cloudfetch — see cloudfetch.h. */
#include "dispatcher/cloudfetch.h"

#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/config.h"
#include "lib/httpc.h"
#include "lib/image.h"
#include "lib/imgproc.h"
#include "lib/log.h"
#include "lib/media.h"
#include "lib/xalloc.h"
#include "model/works.h"
#include "service/cloudfile.h"

#define CLOUDFETCH_BACKOFF_S 60
#define CLOUDFETCH_BACKOFF_MAX_S 86400

/* One cloud file of a claimed work: image_url, or a thumb_url of its own. */
struct cloudfetch_item {
	int64_t work_id;
	int attempts;
	const char *file_id, *url; /* url: the download URL once located */
	CURL *easy;
	struct curl_slist *hdrs;
	struct httpc_buf body;
	bool done;
};

struct cloudfetch {
	CURLM *multi;
	bool development;
	struct arena arena; /* the batch: claims, URLs, messages */
	struct cloudfetch_item *items;
	size_t n, next, running;
	size_t stored, failed;
};

/* 1 minute after the first attempt, doubling, at most a day. */
static long cloudfetch_backoff(int attempts)
{
	long s = CLOUDFETCH_BACKOFF_S;

	for (int i = 1; i < attempts && s < CLOUDFETCH_BACKOFF_MAX_S; i++)
		s *= 2;
	return s < CLOUDFETCH_BACKOFF_MAX_S ? s : CLOUDFETCH_BACKOFF_MAX_S;
}

static void cloudfetch_fail(struct cloudfetch *cf, struct cloudfetch_item *it, const char *why)
{
	long delay = cloudfetch_backoff(it->attempts);

	it->done = true;
	cf->failed++;
	if (works_cloud_failed(&cf->arena, it->work_id, delay, why) != E_OK)
		log_error("work %lld: could not record the failed fetch of its cloud image",
		          (long long)it->work_id);
	log_warn("work %lld: cloud image %.200s not fetched (attempt %d, again in %ld s): %s",
	         (long long)it->work_id, it->file_id, it->attempts, delay, why);
}

/* Checks, normalises (lib/imgproc: decoded in full, upright, no metadata) and stores a
 * downloaded image with its thumbnails, and puts our URLs in its work: the image's where the
 * file id stood, the 360 px thumbnail's where it stood as thumb_url. */
static void cloudfetch_store(struct cloudfetch *cf, struct cloudfetch_item *it)
{
	const unsigned char *data = (const unsigned char *)it->body.data;
	struct image_info info;
	struct imgproc_image img;
	const char *key = NULL, *why = NULL;
	char sha[65];
	bool changed = false;

	if (data == NULL || image_probe(data, it->body.len, &info) != 0) {
		cloudfetch_fail(cf, it, "not a JPEG, PNG or WebP image of at most 40 megapixels");
		return;
	}
	if (imgproc_normalise(&cf->arena, data, it->body.len, info.width, info.height, &img,
	                      &why) != E_OK) {
		cloudfetch_fail(cf, it, "the image data is broken or does not match its header");
		return;
	}
	if (media_store(&cf->arena, img.data, img.len, img.ext, sha, &key) != E_OK ||
	    media_thumbs(&cf->arena, key, img.data, img.len) != E_OK) {
		cloudfetch_fail(cf, it, "the image could not be written to the media store");
		return;
	}
	it->done = true;
	if (works_cloud_fetched(
	        &cf->arena, it->work_id, it->file_id, media_url(&cf->arena, key),
	        media_url(&cf->arena, media_thumb_key(&cf->arena, key, IMGPROC_THUMB_SMALL)),
	        &changed) != E_OK) {
		cf->failed++;
		log_error("work %lld: could not record its fetched cloud image (%s); again after "
		          "the lease",
		          (long long)it->work_id, key);
		return;
	}
	cf->stored++;
	log_info("work %lld: cloud image %.200s stored as %s%s", (long long)it->work_id,
	         it->file_id, key, changed ? "" : " (the work no longer shows it: left alone)");
}

/* Starts queued downloads while fewer than CLOUDFETCH_PARALLEL run. */
static void cloudfetch_pump(struct cloudfetch *cf)
{
	while (cf->running < CLOUDFETCH_PARALLEL && cf->next < cf->n) {
		struct cloudfetch_item *it = &cf->items[cf->next++];

		if (it->done)
			continue;
		it->easy = curl_easy_init();
		if (it->easy == NULL)
			abort();
		httpc_buf_reset(&it->body, (size_t)IMAGE_MAX_BYTES);
		it->hdrs = httpc_easy_setup(it->easy,
		                            &(const struct httpc_easy){
		                                .method = "GET",
		                                .url = it->url,
		                                .timeout_ms = CLOUDFILE_TIMEOUT_MS,
		                                .user_agent = "aiphoto-dispatch/" AIPHOTO_VERSION,
		                                .development = cf->development,
		                                .write = httpc_buf_write,
		                                .write_ctx = &it->body,
		                            });
		curl_multi_add_handle(cf->multi, it->easy);
		cf->running++;
	}
}

/* The items of the claimed works: image_url when it is a cloud file id, and thumb_url when it
 * is another one. */
static void cloudfetch_items(struct cloudfetch *cf, const struct work_cloud *w, size_t nw)
{
	cf->items = arena_zalloc(&cf->arena, (2 * nw + 1) * sizeof(*cf->items));
	for (size_t i = 0; i < nw; i++) {
		const char *urls[2] = {w[i].image_url, w[i].thumb_url};

		for (int k = 0; k < 2; k++) {
			if (!wxcloud_is_fileid(urls[k]) ||
			    (k == 1 && wxcloud_is_fileid(urls[0]) && strcmp(urls[0], urls[1]) == 0))
				continue;
			cf->items[cf->n++] = (struct cloudfetch_item){
			    .work_id = w[i].id, .attempts = w[i].attempts, .file_id = urls[k]};
		}
	}
}

/* Download URLs of every item that may be fetched; the others fail here. */
static void cloudfetch_locate(struct cloudfetch *cf)
{
	const char **ids = arena_zalloc(&cf->arena, (cf->n + 1) * sizeof(*ids));
	struct cloudfetch_item **of = arena_zalloc(&cf->arena, (cf->n + 1) * sizeof(*of));
	struct wxcloud_link *links;
	const char *why = NULL;
	size_t k = 0;
	enum api_err err;

	for (size_t i = 0; i < cf->n; i++) {
		if (cloudfile_check(&cf->arena, cf->items[i].file_id, &why) != E_OK) {
			cloudfetch_fail(cf, &cf->items[i], why);
			continue;
		}
		of[k] = &cf->items[i];
		ids[k++] = cf->items[i].file_id;
	}
	links = arena_zalloc(&cf->arena, (k + 1) * sizeof(*links));
	err = cloudfile_locate(&cf->arena, ids, k, links, &why);
	for (size_t i = 0; i < k; i++) {
		if (err == E_OK && cloudfile_link_error(&cf->arena, &links[i], &why) == E_OK)
			of[i]->url = links[i].url;
		else
			cloudfetch_fail(cf, of[i], why);
	}
}

struct cloudfetch *cloudfetch_start(CURLM *multi, long batch, bool development)
{
	struct cloudfetch *cf;
	struct work_cloud *w = NULL;
	size_t nw = 0;

	if (batch <= 0 || config_get()->wechat_cloud_env == NULL)
		return NULL;
	cf = xcalloc(1, sizeof(*cf));
	cf->multi = multi;
	cf->development = development;
	arena_init(&cf->arena, 16384);
	if (works_cloud_claim(&cf->arena, (int)batch, CLOUDFETCH_LEASE_S, &w, &nw) != E_OK ||
	    nw == 0) {
		arena_fini(&cf->arena);
		free(cf);
		return NULL;
	}
	cloudfetch_items(cf, w, nw);
	cloudfetch_locate(cf);
	log_info("cloud images: %zu works claimed, %zu files, %zu to download", nw, cf->n,
	         cf->n - cf->failed);
	cloudfetch_pump(cf);
	if (!cloudfetch_busy(cf)) {
		cloudfetch_end(cf);
		return NULL;
	}
	return cf;
}

bool cloudfetch_done(struct cloudfetch *cf, CURL *easy, CURLcode cc)
{
	for (size_t i = 0; cf != NULL && i < cf->n; i++) {
		struct cloudfetch_item *it = &cf->items[i];
		long status = 0;
		const char *why = NULL;
		enum api_err transfer;

		if (it->easy != easy)
			continue;
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
		curl_multi_remove_handle(cf->multi, easy);
		curl_easy_cleanup(easy);
		curl_slist_free_all(it->hdrs);
		it->easy = NULL;
		it->hdrs = NULL;
		cf->running--;
		transfer = cc == CURLE_OK                   ? E_OK
		           : cc == CURLE_OPERATION_TIMEDOUT ? E_TIMEOUT
		                                            : E_UPSTREAM_ERROR;
		if (cloudfile_outcome(&cf->arena, transfer, status, it->body.too_large,
		                      (size_t)IMAGE_MAX_BYTES, &why) != E_OK)
			cloudfetch_fail(cf, it, why);
		else
			cloudfetch_store(cf, it);
		httpc_buf_free(&it->body);
		cloudfetch_pump(cf);
		return true;
	}
	return false;
}

bool cloudfetch_busy(const struct cloudfetch *cf)
{
	if (cf == NULL)
		return false;
	if (cf->running > 0)
		return true;
	for (size_t i = cf->next; i < cf->n; i++)
		if (!cf->items[i].done)
			return true;
	return false;
}

void cloudfetch_end(struct cloudfetch *cf)
{
	size_t left = 0;

	if (cf == NULL)
		return;
	for (size_t i = 0; i < cf->n; i++) {
		struct cloudfetch_item *it = &cf->items[i];

		if (it->easy != NULL) {
			curl_multi_remove_handle(cf->multi, it->easy);
			curl_easy_cleanup(it->easy);
			curl_slist_free_all(it->hdrs);
		}
		httpc_buf_free(&it->body);
		left += !it->done;
	}
	log_info("cloud images: %zu stored, %zu failed, %zu left for a later run", cf->stored,
	         cf->failed, left);
	arena_fini(&cf->arena);
	free(cf);
}
