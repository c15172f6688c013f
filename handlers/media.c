/*
 * media — signed media URLs and the batch download of works (DESIGN §12).
 *
 * GET  /media/:sha256?exp=<unix seconds>&sig=<hex> (public) → 200 the stored image file whose
 *      name is that hash (a normalised upload or a result): with MEDIA_BACKEND=local sent by
 *      lighttpd from MEDIA_DIR (X-Sendfile; the worker writes headers only), with s3 read
 *      from the bucket by the worker and relayed (≤ IMAGE_MAX_BYTES; the store failing or
 *      unreachable → 502 UPSTREAM_ERROR, too slow → 504).  sig is the HMAC-SHA256 under
 *      MEDIA_URL_KEY of "/api/v1/media/<sha256>\n<exp>" (lib/media: media_signed_url), checked
 *      in constant time; a wrong, malformed or missing signature, or exp in the past → 403
 *      FORBIDDEN (the same answer, checked before the file is looked for, so it tells nothing
 *      about which files exist); signed but no such file → 404; MEDIA_URL_KEY unset → 503.
 *      For providers that fetch their inputs by URL (dispatcher: provider_ops.input_urls) and
 *      for clients that need a plain URL; no database involved.
 * POST /works/download (user) {"ids":[1-50 work ids]} → 200 application/zip streamed as it is
 *      written (no Content-Length; libarchive writes to the FastCGI stream, nothing is built
 *      in memory, "stored" entries since the images are compressed already), one entry per
 *      work named "<scene>_<YYYYMMDD-HHMMSS>_<id>.<ext>" (scene name with '/', '\' and control
 *      characters replaced, "work" without a scene; the date in China time).  Only the
 *      caller's succeeded, not deleted works: any id that is not one of them (another user's,
 *      unknown, failed, running) → 404 naming the first such id, and nothing is sent — the
 *      whole batch or nothing, so a client never gets a ZIP silently missing a work.  ids
 *      missing, empty, more than 50, or not positive integers → 400; the files together over
 *      DOWNLOAD_MAX_BYTES (200 MiB) → 413; database down → 503; the media store failing
 *      while the sizes are looked up → 502 (504 on a timeout; afterwards, mid-stream, the
 *      ZIP is cut short).  Rate-limit class
 *      "downloads": 3 at once, then 6 a minute, per user → 429 with Retry-After.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "handlers/handlers.h"
#include "lib/config.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/media.h"
#include "model/downloads.h"

#define DOWNLOAD_MAX_IDS 50
#define DOWNLOAD_MAX_BYTES (200L * 1024 * 1024)

static enum api_err media_get(struct request *req, struct reply *rep)
{
	const char *sha = req->ncaptures > 0 ? req->captures[0] : NULL, *key;
	const unsigned char *data;
	size_t len;
	enum api_err err;

	if (config_get()->media_url_key == NULL)
		return reply_error(rep, E_UNAVAILABLE, "signed media URLs are not configured");
	if (!media_sig_ok(sha, request_query(req, "exp"), request_query(req, "sig"),
	                  (long long)time(NULL)))
		return reply_error(rep, E_FORBIDDEN, "the link has expired or is not valid");
	if ((key = media_find(req->arena, sha, &err)) == NULL)
		return reply_error(rep, err,
		                   err == E_NOT_FOUND ? NULL : "the media store cannot be reached");
	rep->raw_type = media_mime(key);
	/* local: lighttpd sends the file; s3: the worker relays the object (≤ IMAGE_MAX_BYTES) */
	if ((rep->sendfile = media_sendfile_path(req->arena, key)) == NULL) {
		if ((err = media_read(req->arena, key, &data, &len)) != E_OK)
			return reply_error(
			    rep, err,
			    err == E_NOT_FOUND ? NULL : "the media store cannot be reached");
		rep->raw = (const char *)data;
		rep->raw_len = len;
	}
	return reply_ok(rep, 200, NULL);
}

/* One file of the ZIP: its storage key, its name in the archive, its size. */
struct media_zip_file {
	const char *key, *name;
	int64_t size;
};

struct media_zip {
	struct media_zip_file *files;
	size_t n;
	int (*write)(void *wctx, const void *buf, size_t n);
	void *wctx;
};

/* libarchive's write callback: straight to the client. */
static la_ssize_t media_zip_out(struct archive *ar, void *ctx, const void *buf, size_t n)
{
	struct media_zip *z = ctx;

	if (z->write(z->wctx, buf, n) != 0) {
		archive_set_error(ar, EIO, "client gone");
		return -1;
	}
	return (la_ssize_t)n;
}

/* Copies one file into the archive as the entry e; 0 or -1.  The file is read whole from
 * the store (any backend) into a scratch arena freed at once: one image in memory at most. */
static int media_zip_copy(struct archive *ar, struct archive_entry *e,
                          const struct media_zip_file *f)
{
	struct arena scratch;
	const unsigned char *data;
	size_t len;
	int rc = -1;
	enum api_err err;

	arena_init(&scratch, 4096);
	if ((err = media_read(&scratch, f->key, &data, &len)) != E_OK) {
		log_error("download: read %s: %s", f->key, api_err_code(err));
		goto out;
	}
	if ((int64_t)len != f->size) {
		log_error("download: %s changed size", f->key);
		goto out;
	}
	archive_entry_clear(e);
	archive_entry_set_pathname_utf8(e, f->name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, f->size);
	archive_entry_set_mtime(e, time(NULL), 0);
	if (archive_write_header(ar, e) != ARCHIVE_OK)
		goto out;
	for (size_t off = 0; off < len;) {
		size_t n = len - off < 64 * 1024 ? len - off : 64 * 1024;
		if (archive_write_data(ar, data + off, n) != (la_ssize_t)n)
			goto out;
		off += n;
	}
	rc = 0;
out:
	arena_fini(&scratch);
	return rc;
}

/* The streaming callback of the reply (see struct reply): the archive, entry by entry. */
static int media_zip_stream(void *ctx, int (*write)(void *wctx, const void *buf, size_t n),
                            void *wctx)
{
	struct media_zip *z = ctx;
	struct archive *ar = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	int rc = -1;

	z->write = write;
	z->wctx = wctx;
	if (ar == NULL || e == NULL || archive_write_set_format_zip(ar) != ARCHIVE_OK ||
	    archive_write_zip_set_compression_store(ar) != ARCHIVE_OK ||
	    archive_write_set_options(ar, "zip:hdrcharset=UTF-8") != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(ar, 0) != ARCHIVE_OK ||
	    archive_write_open(ar, z, NULL, media_zip_out, NULL) != ARCHIVE_OK)
		goto out;
	for (size_t i = 0; i < z->n; i++)
		if (media_zip_copy(ar, e, &z->files[i]) != 0)
			goto out;
	rc = archive_write_close(ar) == ARCHIVE_OK ? 0 : -1;
out:
	if (rc != 0 && ar != NULL)
		log_warn("download: %s",
		         archive_error_string(ar) ? archive_error_string(ar) : "failed");
	if (e != NULL)
		archive_entry_free(e);
	if (ar != NULL)
		archive_write_free(ar);
	return rc;
}

/* The scene name as a file name part: '/', '\\', control characters and '"' become '_',
 * at most 60 bytes (not cutting a UTF-8 sequence), "work" when empty. */
static const char *media_name_part(struct arena *a, const char *s)
{
	size_t n = strlen(s);
	char *o;

	if (n == 0)
		return "work";
	if (n > 60) {
		n = 60;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	o = arena_strndup(a, s, n);
	for (char *p = o; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == '/' || *p == '\\' || *p == '"' || *p == 0x7f)
			*p = '_';
	return o;
}

/* The ids of the body: 1-50 positive integers, duplicates dropped.  E_OK or a 400 reply. */
static enum api_err media_ids(struct request *req, struct reply *rep, int64_t **ids, size_t *n)
{
	json_object *arr;
	size_t len;

	if (!json_object_is_type(req->json, json_type_object) ||
	    !json_object_object_get_ex(req->json, "ids", &arr) ||
	    !json_object_is_type(arr, json_type_array) ||
	    (len = json_object_array_length(arr)) == 0 || len > DOWNLOAD_MAX_IDS)
		return reply_error(rep, E_BAD_REQUEST, "ids: an array of 1-50 work ids");
	*ids = arena_alloc(req->arena, len * sizeof(**ids));
	*n = 0;
	for (size_t i = 0; i < len; i++) {
		json_object *v = json_object_array_get_idx(arr, i);
		int64_t id;
		bool dup = false;

		if (!json_object_is_type(v, json_type_int) || (id = json_object_get_int64(v)) <= 0)
			return reply_error(rep, E_BAD_REQUEST,
			                   "ids: work ids are positive integers");
		for (size_t k = 0; k < *n; k++)
			dup |= (*ids)[k] == id;
		if (!dup)
			(*ids)[(*n)++] = id;
	}
	return E_OK;
}

static enum api_err media_download(struct request *req, struct reply *rep)
{
	struct download_item *items;
	struct media_zip *z;
	int64_t *ids = NULL, total = 0;
	size_t n = 0, count = 0;
	enum api_err err;

	if ((err = media_ids(req, rep, &ids, &n)) != E_OK)
		return err;
	if ((err = downloads_works(req->arena, req->user_id, ids, n, &items, &count)) != E_OK)
		return err;
	for (size_t i = 0; i < n && count != n; i++) {
		bool found = false;
		for (size_t k = 0; k < count; k++)
			found |= items[k].id == ids[i];
		if (!found)
			return reply_error(rep, E_NOT_FOUND,
			                   arena_printf(req->arena,
			                                "ids: no completed work %lld of yours",
			                                (long long)ids[i]));
	}
	z = arena_zalloc(req->arena, sizeof(*z));
	z->files = arena_zalloc(req->arena, count * sizeof(*z->files));
	for (size_t i = 0; i < count; i++) {
		const char *key = media_url_key(req->arena, items[i].image_url), *dot;
		long long size = 0;

		err = key != NULL ? media_size(req->arena, key, &size) : E_NOT_FOUND;
		if (err != E_OK && err != E_NOT_FOUND)
			return reply_error(rep, err, "the media store cannot be reached");
		if (err != E_OK) {
			log_warn("download: work %lld has no stored file", (long long)items[i].id);
			return reply_error(rep, E_NOT_FOUND,
			                   arena_printf(req->arena,
			                                "ids: work %lld has no image yet",
			                                (long long)items[i].id));
		}
		dot = strrchr(key, '.');
		total += size;
		z->files[z->n++] = (struct media_zip_file){
		    .key = key,
		    .size = size,
		    .name = arena_printf(req->arena, "%s_%s_%lld%s",
		                         media_name_part(req->arena, items[i].scene), items[i].date,
		                         (long long)items[i].id, dot ? dot : ".jpg")};
	}
	if (total > DOWNLOAD_MAX_BYTES)
		return reply_error(rep, E_PAYLOAD_TOO_LARGE,
		                   arena_printf(req->arena,
		                                "ids: the images come to %lld bytes, at most %ld "
		                                "(200 MiB) per download",
		                                (long long)total, DOWNLOAD_MAX_BYTES));
	rep->raw_type = "application/zip";
	rep->disposition = "attachment; filename=\"aiphoto-works.zip\"";
	rep->stream = media_zip_stream;
	rep->stream_ctx = z;
	return reply_ok(rep, 200, NULL);
}

/* A ZIP can be up to 200 MiB: 3 at once, then 6 a minute, per user. */
static const struct rate_limit media_download_limit = {
    .name = "downloads", .per_minute = 6, .burst = 3};

static const struct route media_list[] = {
    {.method = HTTP_GET, .pattern = "/media/:sha256", .auth = AUTH_PUBLIC, .handler = media_get},
    {.method = HTTP_POST,
     .pattern = "/works/download",
     .auth = AUTH_USER,
     .body = BODY_JSON,
     .max_body = 4096,
     .handler = media_download,
     .limit = &media_download_limit},
};

ROUTE_TABLE(media_routes, media_list);
