/*
 * uploads — the user's images (the inputs of generation tasks).
 *
 * POST /uploads (user) multipart/form-data with the image in field "file", or the image as
 *      the raw body (Content-Type image/… or application/octet-stream) → 201 Asset
 *      {"asset_id","sha256","url","mime","width","height","size","deduplicated":false};
 *      the same bytes again by the same user → 200 with the same asset and
 *      "deduplicated":true.  The type is sniffed from the bytes (the declared one is not
 *      trusted) and the limits are checked from the image header before anything is
 *      stored: empty → 400 "file: empty"; not JPEG, PNG or WebP → 415; a zero dimension
 *      or more than 40 megapixels → 400; more than 10 MiB → 413 (lighttpd refuses far
 *      larger bodies before they reach a worker).  Files are stored once per content hash.
 *      Quota: a user's uploads together (the rows of assets) may hold at most
 *      UPLOAD_QUOTA_FILES files and UPLOAD_QUOTA_BYTES bytes (1 GiB, 2000 files), or what
 *      users.upload_quota_files / _bytes say for that user; an upload that would pass either
 *      → 413 PAYLOAD_TOO_LARGE "上传配额已满：…" naming the quota and the numbers, with no
 *      file written and no row (the check, the file and the row are one step per user, under
 *      a lock: see assets_put).  A re-upload of bytes the user already has costs nothing and
 *      still answers 200 at the quota.  Nothing deletes an asset yet.
 *      More than 30 uploads at once, then one a second, per user, or more than 50 MiB of
 *      bodies at once, then 200 MiB an hour (the byte budget of the route's rate-limit
 *      class, applied by the router with the Content-Length as the cost) → 429 with
 *      Retry-After.
 *      Content safety (service/content.h, where enabled): a stored upload of a user with a
 *      mini-program openid starts WeChat's media_check_async of its public URL (a re-upload
 *      of an image whose check could not be made starts it again); the verdict comes later.
 *      WeChat unreachable with on_error "closed" → 502 UPSTREAM_ERROR (the image is kept but
 *      refused as a task input until a re-upload is checked).
 * GET  /assets/:sha256 (user) → 200 the caller's Asset ("deduplicated":true), else 404
 *      (also for a malformed hash).
 * POST /assets/cloud (user) {"file_id":"cloud://<env>.<bucket>/<path>","sha256"?:hex} →
 *      registers a file of the mini program's WeChat cloud storage (WECHAT_CLOUD_ENV) as the
 *      caller's asset: fetched once (service/cloudfile), then checked, limited, counted
 *      against the quota and stored exactly as an upload → 201 Asset + "cloud_file_id"; the
 *      same file id again by the same user → 200 the same asset ("deduplicated":true) without
 *      fetching; bytes the user already has → 200 that asset, now also under this file id.
 *      400 names the field: file_id missing, not a cloud:// id, or of another cloud
 *      environment; sha256 not 64 hex digits.  sha256 sent and the cloud file's bytes hash
 *      otherwise → 409 CONFLICT naming both (nothing stored; an id registered before is
 *      fetched again first, in case the cloud file was replaced).  Cloud storage has no such
 *      file → 404 naming it; refused or failed → 502; no answer in time → 504; not an image /
 *      too many pixels / too large / over quota → 415 / 400 / 413 / 413 as for an upload,
 *      with "file_id:" messages.  Nothing is stored on any error.  WECHAT_CLOUD_ENV unset →
 *      503.  Same rate-limit class as POST /uploads.
 * GET  /assets?cloud_file_id=cloud://… (user) → 200 the caller's Asset registered under that
 *      file id, with "cloud_file_id"; none (or another user's) → 404; the parameter missing
 *      or not a cloud:// id → 400.
 */
#include <ctype.h>
#include <inttypes.h>
#include <string.h>
#include <strings.h>

#include "handlers/handlers.h"
#include "lib/config.h"
#include "lib/crypto.h"
#include "lib/image.h"
#include "lib/imgproc.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/media.h"
#include "lib/multipart.h"
#include "lib/wechat/wxcloud.h"
#include "model/assets.h"
#include "service/cloudfile.h"
#include "service/content.h"

/* Multipart framing allowed on top of the largest image. */
#define UPLOADS_OVERHEAD (64L * 1024)

static json_object *uploads_json(struct request *req, const struct asset *as, bool dedup)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "asset_id", json_object_new_int64(as->id));
	json_object_object_add(o, "sha256", json_object_new_string(as->sha256));
	json_object_object_add(o, "url",
	                       json_object_new_string(media_url(req->arena, as->storage_key)));
	json_object_object_add(
	    o, "thumb_url",
	    json_object_new_string(media_url(
	        req->arena, media_thumb_key(req->arena, as->storage_key, IMGPROC_THUMB_SMALL))));
	json_object_object_add(
	    o, "thumb_large_url",
	    json_object_new_string(media_url(
	        req->arena, media_thumb_key(req->arena, as->storage_key, IMGPROC_THUMB_LARGE))));
	json_object_object_add(o, "mime", json_object_new_string(as->mime));
	json_object_object_add(o, "width", json_object_new_int64(as->width));
	json_object_object_add(o, "height", json_object_new_int64(as->height));
	json_object_object_add(o, "size", json_object_new_int64(as->size_bytes));
	json_object_object_add(o, "deduplicated", json_object_new_boolean(dedup));
	return o;
}

/* A raw body may be declared as any image type or as plain bytes; it is sniffed anyway. */
static bool uploads_raw_type_ok(const char *ct)
{
	static const char octet[] = "application/octet-stream";

	if (ct == NULL)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, "image/", 6) == 0)
		return true;
	return strncasecmp(ct, octet, sizeof(octet) - 1) == 0 &&
	       (ct[sizeof(octet) - 1] == '\0' || ct[sizeof(octet) - 1] == ';' ||
	        ct[sizeof(octet) - 1] == ' ');
}

/* The image bytes of the request: the "file" part of a form, or the whole body. */
static enum api_err uploads_file(struct request *req, struct reply *rep, const unsigned char **data,
                                 size_t *len)
{
	const unsigned char *body = (const unsigned char *)req->body;
	const struct multipart_part *part;
	struct multipart *form;
	const char *why;
	size_t count;
	enum api_err err;

	if (body == NULL || req->body_len == 0)
		return reply_error(rep, E_BAD_REQUEST, "file: empty");
	if (!multipart_is_form(req->content_type)) {
		if (!uploads_raw_type_ok(req->content_type))
			return reply_error(
			    rep, E_UNSUPPORTED_MEDIA_TYPE,
			    "Content-Type: multipart/form-data (field \"file\") or an "
			    "image type");
		*data = body;
		*len = req->body_len;
		return E_OK;
	}
	form = arena_alloc(req->arena, sizeof(*form));
	err = multipart_parse(req->arena, req->content_type, body, req->body_len, form, &why);
	if (err != E_OK)
		return reply_error(rep, err, why);
	part = multipart_find(form, "file", &count);
	if (part == NULL)
		return reply_error(rep, E_BAD_REQUEST, "file: required (multipart field \"file\")");
	if (count > 1)
		return reply_error(rep, E_BAD_REQUEST, "file: only one file per upload");
	*data = part->data;
	*len = part->len;
	return E_OK;
}

/* What the store callback of assets_put needs: the normalised image and its key, and the
 * bytes as sent (kept only with MEDIA_KEEP_ORIGINAL=1) with their hash and extension. */
struct uploads_store {
	struct arena *arena;
	const struct imgproc_image *img;
	const char *key;
	const unsigned char *data;
	size_t len;
	const char *sha, *ext;
};

/* Writes the normalised image and its two thumbnails to the media store (called by
 * assets_put once the quota allows it); the sent bytes too when MEDIA_KEEP_ORIGINAL=1. */
static enum api_err uploads_store(void *ctx)
{
	struct uploads_store *st = ctx;
	const char *key;
	char sha[65];
	enum api_err err;

	memcpy(sha, st->key + 6, 64);
	sha[64] = '\0';
	if ((err = media_store_hashed(st->arena, st->img->data, st->img->len, st->img->ext, sha,
	                              &key)) != E_OK ||
	    (err = media_thumbs(st->arena, key, st->img->data, st->img->len)) != E_OK)
		return err == E_BAD_REQUEST ? E_INTERNAL : err;
	if (config_get()->media_keep_original)
		err = media_store_hashed(st->arena, st->data, st->len, st->ext, st->sha, &key);
	return err;
}

/* The checks of an image's bytes before anything is stored (field: the request field the
 * bytes came from, for the messages): empty → 400, more than 10 MiB → 413, not JPEG, PNG or
 * WebP → 415, no pixels or more than 40 megapixels → 400. */
static enum api_err uploads_check(struct request *req, struct reply *rep, const char *field,
                                  const unsigned char *data, size_t len, struct image_info *info)
{
	int rc;

	if (len == 0)
		return reply_error(rep, E_BAD_REQUEST,
		                   arena_printf(req->arena, "%s: empty", field));
	if (len > (size_t)IMAGE_MAX_BYTES)
		return reply_error(
		    rep, E_PAYLOAD_TOO_LARGE,
		    arena_printf(req->arena, "%s: at most 10 MiB (10485760 bytes)", field));
	rc = image_probe(data, len, info);
	if (rc == -1)
		return reply_error(
		    rep, E_UNSUPPORTED_MEDIA_TYPE,
		    arena_printf(req->arena, "%s: not a JPEG, PNG or WebP image", field));
	if (rc == -2) {
		if (info->width == 0 || info->height == 0)
			return reply_error(
			    rep, E_BAD_REQUEST,
			    arena_printf(req->arena, "%s: the image has no pixels", field));
		return reply_error(
		    rep, E_BAD_REQUEST,
		    arena_printf(req->arena,
		                 "%s: %" PRIu32 "×%" PRIu32 " pixels, at most %ld megapixels",
		                 field, info->width, info->height, IMAGE_MAX_PIXELS / 1000000));
	}
	return E_OK;
}

/* The 413 of a full quota, naming it and the numbers. */
static enum api_err uploads_over_quota(struct request *req, struct reply *rep,
                                       const struct assets_usage *use, size_t len)
{
	if (use->files + 1 > use->max_files)
		return reply_error(rep, E_PAYLOAD_TOO_LARGE,
		                   arena_printf(req->arena,
		                                "上传配额已满：已有 %" PRId64
		                                " 个文件，每位用户最多 %" PRId64
		                                " 个 (upload quota: %" PRId64 " files)",
		                                use->files, use->max_files, use->max_files));
	return reply_error(rep, E_PAYLOAD_TOO_LARGE,
	                   arena_printf(req->arena,
	                                "上传配额已满：已用 %" PRId64
	                                " 字节，本文件 %zu 字节，每位用户最多 "
	                                "%" PRId64 " 字节 (upload quota: %" PRId64 " bytes)",
	                                use->bytes, len, use->max_bytes, use->max_bytes));
}

/*
 * Stores checked image bytes (sha: their hash, field: the request field for messages) as the
 * caller's asset, within the quota (assets_put), under cloud_file_id too when not NULL:
 * decoded and normalised first (lib/imgproc: upright, no metadata; a file that does not
 * decode or lies in its header → 400), the asset keeps sha and the sent size, the file
 * stored is the normalised one.  *as the asset, *created whether the row is new.  Then
 * starts its content check (service/content.h) unless it has one.
 */
static enum api_err uploads_put(struct request *req, struct reply *rep, const char *field,
                                const unsigned char *data, size_t len,
                                const struct image_info *info, const char *sha,
                                const char *cloud_file_id, struct asset *as, bool *created)
{
	const struct config *cfg = config_get();
	struct imgproc_image img;
	const char *why = NULL;
	char nsha[65];
	struct assets_usage use;
	enum api_err err =
	    imgproc_normalise(req->arena, data, len, info->width, info->height, &img, &why);

	if (err == E_BAD_REQUEST)
		return reply_error(rep, err, arena_printf(req->arena, "%s: %s", field, why));
	if (err != E_OK)
		return err;
	crypto_sha256_hex(img.data, img.len, nsha);
	struct uploads_store st = {.arena = req->arena,
	                           .img = &img,
	                           .key = media_key(req->arena, nsha, img.ext),
	                           .data = data,
	                           .len = len,
	                           .sha = sha,
	                           .ext = info->ext};
	struct asset_new in = {.user_id = req->user_id,
	                       .sha256 = sha,
	                       .mime = img.mime,
	                       .storage_key = st.key,
	                       .width = img.width,
	                       .height = img.height,
	                       .size_bytes = (int64_t)len,
	                       .default_max_files = cfg->upload_quota_files,
	                       .default_max_bytes = cfg->upload_quota_bytes,
	                       .cloud_file_id = cloud_file_id,
	                       .store = uploads_store,
	                       .store_ctx = &st};

	err = assets_put(req->arena, &in, as, created, &use);
	if (err == E_PAYLOAD_TOO_LARGE) {
		log_info("upload: user %lld over quota (%" PRId64 "/%" PRId64 " files, %" PRId64
		         "+%zu/%" PRId64 " bytes)",
		         (long long)req->user_id, use.files, use.max_files, use.bytes, len,
		         use.max_bytes);
		return uploads_over_quota(req, rep, &use, len);
	}
	if (err != E_OK)
		return err;
	if (*created)
		log_info("upload: asset %lld %s %s %" PRIu32 "x%" PRIu32 " %zu bytes, stored %s "
		         "%zu bytes%s%.200s",
		         (long long)as->id, sha, info->mime, info->width, info->height, len, st.key,
		         img.len, cloud_file_id ? " from " : "",
		         cloud_file_id ? cloud_file_id : "");
	if ((err = content_check_upload(req->arena, req->user_id, as->id, as->storage_key,
	                                as->check_status, &why)) != E_OK)
		return reply_error(rep, err, why);
	return E_OK;
}

enum api_err uploads_image(struct request *req, struct reply *rep, const unsigned char **data,
                           size_t *len, struct image_info *info)
{
	enum api_err err = uploads_file(req, rep, data, len);

	return err != E_OK ? err : uploads_check(req, rep, "file", *data, *len, info);
}

static enum api_err uploads_post(struct request *req, struct reply *rep)
{
	const unsigned char *data = NULL;
	size_t len = 0;
	struct image_info info;
	struct asset as;
	char sha[65];
	bool created;
	enum api_err err;

	if ((err = uploads_image(req, rep, &data, &len, &info)) != E_OK)
		return err;
	crypto_sha256_hex(data, len, sha);
	if ((err = uploads_put(req, rep, "file", data, len, &info, sha, NULL, &as, &created)) !=
	    E_OK)
		return err;
	return reply_ok(rep, created ? 201 : 200, uploads_json(req, &as, !created));
}

/* A SHA-256 as 64 hex digits, either case, into out (lowercase); false otherwise. */
static bool uploads_sha(const char *s, char out[65])
{
	if (s == NULL || strlen(s) != 64)
		return false;
	for (size_t i = 0; i < 64; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return false;
		out[i] = (char)tolower((unsigned char)s[i]);
	}
	out[64] = '\0';
	return true;
}

static enum api_err uploads_asset_get(struct request *req, struct reply *rep)
{
	const char *cap = req->ncaptures > 0 ? req->captures[0] : NULL;
	char sha[65];
	struct asset as;
	enum api_err err;

	if (!uploads_sha(cap, sha))
		return reply_error(rep, E_NOT_FOUND, NULL);
	if ((err = assets_get_by_sha(req->arena, req->user_id, sha, &as)) != E_OK)
		return err;
	return reply_ok(rep, 200, uploads_json(req, &as, true));
}

/* An Asset registered from cloud storage: the upload answer plus its "cloud_file_id". */
static enum api_err uploads_cloud_reply(struct request *req, struct reply *rep, int status,
                                        const struct asset *as, bool dedup, const char *file_id)
{
	json_object *o = uploads_json(req, as, dedup);

	json_object_object_add(o, "cloud_file_id", json_object_new_string(file_id));
	return reply_ok(rep, status, o);
}

/* The body of POST /assets/cloud: file_id (checked by cloudfile_check) and the optional
 * sha256 (lowercased into want, "" when absent). */
static enum api_err uploads_cloud_body(struct request *req, struct reply *rep, const char **file_id,
                                       char want[65])
{
	const char *why = NULL, *sent = NULL;
	enum api_err err;

	want[0] = '\0';
	if ((err = jsonx_require_object(req->arena, req->json, &why)) != E_OK ||
	    (err = jsonx_string(req->arena, req->json, "file_id", true, 1, WXCLOUD_MAX_ID, file_id,
	                        &why)) != E_OK)
		return reply_error(rep, err, why);
	if (jsonx_string(req->arena, req->json, "sha256", false, 64, 64, &sent, &why) != E_OK ||
	    (sent != NULL && !uploads_sha(sent, want)))
		return reply_error(rep, E_BAD_REQUEST, "sha256: 64 hexadecimal digits");
	if ((err = cloudfile_check(req->arena, *file_id, &why)) != E_OK)
		return reply_error(rep, err, arena_printf(req->arena, "file_id: %s", why));
	return E_OK;
}

static enum api_err uploads_assets_cloud_post(struct request *req, struct reply *rep)
{
	const unsigned char *data = NULL;
	const char *file_id = NULL, *why = NULL;
	char want[65], sha[65];
	size_t len = 0;
	struct image_info info;
	struct asset as;
	bool created = false;
	enum api_err err;

	if ((err = uploads_cloud_body(req, rep, &file_id, want)) != E_OK)
		return err;
	/* registered before: the same asset, unless the caller expects other bytes */
	err = assets_get_by_cloud(req->arena, req->user_id, file_id, &as);
	if (err == E_OK && (want[0] == '\0' || strcmp(want, as.sha256) == 0))
		return uploads_cloud_reply(req, rep, 200, &as, true, file_id);
	if (err != E_OK && err != E_NOT_FOUND)
		return err;
	err = cloudfile_fetch(req->arena, file_id, IMAGE_MAX_BYTES, &data, &len, &why);
	if (err == E_PAYLOAD_TOO_LARGE)
		return reply_error(rep, err, "file_id: at most 10 MiB (10485760 bytes)");
	if (err != E_OK)
		return reply_error(rep, err, arena_printf(req->arena, "file_id: %s", why));
	if ((err = uploads_check(req, rep, "file_id", data, len, &info)) != E_OK)
		return err;
	crypto_sha256_hex(data, len, sha);
	if (want[0] != '\0' && strcmp(want, sha) != 0)
		return reply_error(rep, E_CONFLICT,
		                   arena_printf(req->arena,
		                                "sha256: the cloud file's bytes have SHA-256 %s, "
		                                "not %s",
		                                sha, want));
	if ((err = uploads_put(req, rep, "file_id", data, len, &info, sha, file_id, &as,
	                       &created)) != E_OK)
		return err;
	return uploads_cloud_reply(req, rep, created ? 201 : 200, &as, !created, file_id);
}

static enum api_err uploads_assets_get(struct request *req, struct reply *rep)
{
	const char *file_id = request_query(req, "cloud_file_id");
	struct wxcloud_fileid f;
	struct asset as;
	enum api_err err;

	if (file_id == NULL || file_id[0] == '\0')
		return reply_error(rep, E_BAD_REQUEST,
		                   "cloud_file_id: required (a cloud:// file id)");
	if (!wxcloud_fileid_parse(file_id, &f))
		return reply_error(rep, E_BAD_REQUEST,
		                   "cloud_file_id: not a cloud storage file id "
		                   "(cloud://<env>.<bucket>/<path>)");
	if ((err = assets_get_by_cloud(req->arena, req->user_id, file_id, &as)) != E_OK)
		return err;
	return uploads_cloud_reply(req, rep, 200, &as, true, file_id);
}

/* 30 uploads at once, then one a second, per user; and 50 MiB of request bodies at once,
 * then 200 MiB an hour (each upload costs its Content-Length). */
static const struct rate_limit uploads_limit = {.name = "uploads",
                                                .per_minute = 60,
                                                .burst = 30,
                                                .bytes_per_hour = 200LL * 1024 * 1024,
                                                .bytes_burst = 50LL * 1024 * 1024};

static const struct route uploads_list[] = {
    {.method = HTTP_POST,
     .pattern = "/uploads",
     .auth = AUTH_USER,
     .body = BODY_RAW,
     .max_body = IMAGE_MAX_BYTES + UPLOADS_OVERHEAD,
     .handler = uploads_post,
     .limit = &uploads_limit},
    {.method = HTTP_GET,
     .pattern = "/assets/:sha256",
     .auth = AUTH_USER,
     .handler = uploads_asset_get},
    {.method = HTTP_POST,
     .pattern = "/assets/cloud",
     .auth = AUTH_USER,
     .body = BODY_JSON,
     .max_body = 4096,
     .handler = uploads_assets_cloud_post,
     .limit = &uploads_limit},
    {.method = HTTP_GET, .pattern = "/assets", .auth = AUTH_USER, .handler = uploads_assets_get},
};

ROUTE_TABLE(uploads_routes, uploads_list);
