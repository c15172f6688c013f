/*
 * test_media — signed media URLs (lib/media), thumbnail names, libvips normalising
 * (lib/imgproc: orientation applied, metadata gone, a header that lies refused), and the
 * headers-only replies (X-Sendfile, streaming) of fcgi/response; the backends' pure parts
 * (lib/media_s3: object URLs in both styles, what an answer means; public URLs and keys of
 * URLs per backend).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi/response.h"
#include "lib/config.h"
#include "lib/imgproc.h"
#include "lib/media.h"
#include "lib/media_s3.h"
#include "tests/unit/suites.h"

#define MD_SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define MD_OTHER "f123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static struct arena md_arena;

static void md_setup(void)
{
	char err[256];

	unit_env_baseline();
	setenv("MEDIA_URL_KEY", "unit-media-url-key-0123456789-abcdefghij", 1);
	setenv("PUBLIC_BASE_URL", "https://photo.example.com/", 1);
	ck_assert_msg(config_load(CONFIG_NEED_ALL, err, sizeof(err)) == 0, "config: %s", err);
	arena_init(&md_arena, 4096);
}

static void md_teardown(void)
{
	arena_fini(&md_arena);
	unit_env_baseline();
}

/* The exp and sig of a signed URL, copied out. */
static void md_parts(const char *url, char exp[24], char sig[65])
{
	const char *e = strstr(url, "?exp="), *s = strstr(url, "&sig=");

	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_nonnull(s);
	snprintf(exp, 24, "%.*s", (int)(s - e - 5), e + 5);
	snprintf(sig, 65, "%s", s + 5);
}

START_TEST(media_signed_url_roundtrip)
{
	const char *url = media_signed_url(&md_arena, MD_SHA, 2000000000LL);
	char exp[24], sig[65];

	ck_assert_ptr_nonnull(url);
	ck_assert_msg(strncmp(url, "https://photo.example.com/api/v1/media/" MD_SHA "?exp=",
	                      39 + 64 + 5) == 0,
	              "%s", url);
	md_parts(url, exp, sig);
	ck_assert_str_eq(exp, "2000000000");
	ck_assert_uint_eq(strlen(sig), 64);
	ck_assert(media_sig_ok(MD_SHA, exp, sig, 1999999999LL));
	ck_assert(media_sig_ok(MD_SHA, exp, sig, 2000000000LL));
	/* expired */
	ck_assert(!media_sig_ok(MD_SHA, exp, sig, 2000000001LL));
	/* another file, another expiry, a changed signature, malformed parts */
	ck_assert(!media_sig_ok(MD_OTHER, exp, sig, 0));
	ck_assert(!media_sig_ok(MD_SHA, "2000000001", sig, 0));
	sig[10] = sig[10] == '0' ? '1' : '0';
	ck_assert(!media_sig_ok(MD_SHA, exp, sig, 0));
	ck_assert(!media_sig_ok(MD_SHA, exp, NULL, 0));
	ck_assert(!media_sig_ok(MD_SHA, NULL, sig, 0));
	ck_assert(!media_sig_ok(MD_SHA, "-1", sig, 0));
	ck_assert(!media_sig_ok(MD_SHA, "", sig, 0));
	ck_assert(!media_sig_ok("../etc/passwd", exp, sig, 0));
	ck_assert(!media_sig_ok(MD_SHA, exp, "abc", 0));
}
END_TEST

START_TEST(media_signed_url_needs_a_key)
{
	char err[256];

	unsetenv("MEDIA_URL_KEY");
	ck_assert(config_load(CONFIG_NEED_ALL, err, sizeof(err)) == 0);
	ck_assert_ptr_null(media_signed_url(&md_arena, MD_SHA, 2000000000LL));
	ck_assert(!media_sig_ok(MD_SHA, "2000000000", MD_SHA, 0));
	/* too short a key is a configuration error */
	setenv("MEDIA_URL_KEY", "short", 1);
	ck_assert(config_load(CONFIG_NEED_ALL, err, sizeof(err)) < 0);
	ck_assert_msg(strncmp(err, "MEDIA_URL_KEY", 13) == 0, "%s", err);
}
END_TEST

START_TEST(media_thumb_keys)
{
	const char *key = "01/23/" MD_SHA ".jpg";

	ck_assert_str_eq(media_thumb_key(&md_arena, key, 360), "01/23/" MD_SHA ".t360.jpg");
	ck_assert_str_eq(media_thumb_key(&md_arena, key, 720), "01/23/" MD_SHA ".t720.jpg");
	ck_assert_ptr_null(media_thumb_key(&md_arena, key, 100));
	ck_assert_ptr_null(media_thumb_key(&md_arena, "../x.jpg", 360));
	/* a thumbnail's key is a valid store key (its path is under MEDIA_DIR) */
	ck_assert_ptr_nonnull(media_path(&md_arena, media_thumb_key(&md_arena, key, 360)));
}
END_TEST

static unsigned char *md_read(const char *name, size_t *len)
{
	static unsigned char buf[65536];
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "tests/unit/fixtures/media/%s", name);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "%s (run from the repository root)", path);
	*len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return buf;
}

static bool md_contains(const unsigned char *p, size_t n, const char *needle)
{
	size_t k = strlen(needle);

	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(p + i, needle, k) == 0)
			return true;
	return false;
}

START_TEST(imgproc_orientation_and_metadata)
{
	size_t len;
	const unsigned char *in = md_read("exif6_12x8.jpg", &len), *t;
	struct imgproc_image img;
	const char *why = NULL;
	size_t tlen;

	ck_assert(md_contains(in, len, "Exif"));
	ck_assert_int_eq(imgproc_normalise(&md_arena, in, len, 12, 8, &img, &why), E_OK);
	/* orientation 6: 12×8 as stored, 8×12 upright */
	ck_assert_uint_eq(img.width, 8);
	ck_assert_uint_eq(img.height, 12);
	ck_assert_str_eq(img.mime, "image/jpeg");
	ck_assert(memcmp(img.data, "\xff\xd8\xff", 3) == 0);
	ck_assert(!md_contains(img.data, img.len, "Exif"));
	ck_assert_int_eq(imgproc_thumb(&md_arena, img.data, img.len, 360, &t, &tlen), E_OK);
	ck_assert(!md_contains(t, tlen, "Exif"));
	/* the header said otherwise: refused */
	ck_assert_int_eq(imgproc_normalise(&md_arena, in, len, 64, 64, &img, &why), E_BAD_REQUEST);
	ck_assert_ptr_nonnull(why);
	/* cut in the middle */
	ck_assert_int_eq(imgproc_normalise(&md_arena, in, len / 2, 12, 8, &img, &why),
	                 E_BAD_REQUEST);
}
END_TEST

START_TEST(imgproc_alpha_stays_png)
{
	size_t len;
	const unsigned char *in = md_read("alpha_12x8.png", &len);
	struct imgproc_image img;
	const char *why = NULL;

	ck_assert_int_eq(imgproc_normalise(&md_arena, in, len, 12, 8, &img, &why), E_OK);
	ck_assert_str_eq(img.mime, "image/png");
	ck_assert_str_eq(img.ext, "png");
	ck_assert(memcmp(img.data, "\x89PNG", 4) == 0);
}
END_TEST

/* fcgi/response: X-Sendfile and streamed replies carry headers only. */
static int md_stream(void *ctx, int (*write)(void *wctx, const void *buf, size_t n), void *wctx)
{
	(void)ctx;
	return write(wctx, "x", 1);
}

START_TEST(response_sendfile_and_stream)
{
	struct request req = {.arena = &md_arena, .request_id = "r1"};
	struct reply rep = {.raw_type = "image/jpeg", .sendfile = "/srv/media/01/23/x.jpg"};
	size_t len;
	int st;
	char *out = response_render(&md_arena, &req, &rep, E_OK, &len, &st);

	ck_assert_int_eq(st, 200);
	ck_assert_ptr_nonnull(strstr(out, "\r\nX-Sendfile: /srv/media/01/23/x.jpg\r\n"));
	ck_assert_ptr_nonnull(strstr(out, "\r\nX-LIGHTTPD-send-file: /srv/media/01/23/x.jpg\r\n"));
	ck_assert_ptr_nonnull(strstr(out, "\r\nContent-Type: image/jpeg\r\n"));
	ck_assert_ptr_null(strstr(out, "Content-Length"));
	ck_assert_str_eq(out + len - 4, "\r\n\r\n");
	/* a header value with CR/LF is dropped, not split */
	rep.sendfile = "/a\r\nSet-Cookie: x";
	out = response_render(&md_arena, &req, &rep, E_OK, &len, &st);
	ck_assert_ptr_null(strstr(out, "Set-Cookie"));

	struct reply zip = {.raw_type = "application/zip",
	                    .disposition = "attachment; filename=\"a.zip\"",
	                    .stream = md_stream};
	out = response_render(&md_arena, &req, &zip, E_OK, &len, &st);
	ck_assert_ptr_nonnull(strstr(out, "\r\nContent-Type: application/zip\r\n"));
	ck_assert_ptr_nonnull(
	    strstr(out, "\r\nContent-Disposition: attachment; filename=\"a.zip\"\r\n"));
	ck_assert_ptr_null(strstr(out, "Content-Length"));
	ck_assert_str_eq(out + len - 4, "\r\n\r\n");
	/* an error still renders its envelope, whatever stream says */
	out = response_render(&md_arena, &req, &zip, E_NOT_FOUND, &len, &st);
	ck_assert_int_eq(st, 404);
	ck_assert_ptr_nonnull(strstr(out, "Content-Length"));
}
END_TEST

#define MD_KEY "01/23/" MD_SHA ".jpg"

START_TEST(media_s3_object_urls)
{
	/* path style (MinIO, s3rver): endpoint/bucket/key, trailing slashes ignored */
	ck_assert_str_eq(
	    media_s3_object_url(&md_arena, "http://127.0.0.1:9000/", "media", true, MD_KEY),
	    "http://127.0.0.1:9000/media/" MD_KEY);
	/* virtual-host style (COS, OSS, AWS): the bucket goes into the host, port kept */
	ck_assert_str_eq(media_s3_object_url(&md_arena, "https://cos.ap-shanghai.myqcloud.com",
	                                     "photos-1250000000", false, MD_KEY),
	                 "https://photos-1250000000.cos.ap-shanghai.myqcloud.com/" MD_KEY);
	ck_assert_str_eq(media_s3_object_url(&md_arena, "https://oss-cn-hangzhou.aliyuncs.com//",
	                                     "aiphoto", false, MD_KEY),
	                 "https://aiphoto.oss-cn-hangzhou.aliyuncs.com/" MD_KEY);
	ck_assert_str_eq(
	    media_s3_object_url(&md_arena, "http://minio.local:9000", "b1", false, MD_KEY),
	    "http://b1.minio.local:9000/" MD_KEY);
	ck_assert_ptr_null(media_s3_object_url(&md_arena, "ftp://x", "b1", true, MD_KEY));
	ck_assert_ptr_null(media_s3_object_url(&md_arena, "https://", "b1", true, MD_KEY));
	ck_assert_ptr_null(media_s3_object_url(&md_arena, NULL, "b1", true, MD_KEY));
}
END_TEST

START_TEST(media_s3_answers)
{
	ck_assert_int_eq(media_s3_status_err(200), E_OK);
	ck_assert_int_eq(media_s3_status_err(204), E_OK);
	ck_assert_int_eq(media_s3_status_err(404), E_NOT_FOUND);
	ck_assert_int_eq(media_s3_status_err(403), E_UPSTREAM_ERROR);
	ck_assert_int_eq(media_s3_status_err(400), E_UPSTREAM_ERROR);
	ck_assert_int_eq(media_s3_status_err(500), E_UPSTREAM_ERROR);
	ck_assert_int_eq(media_s3_status_err(503), E_UPSTREAM_ERROR);
	ck_assert_int_eq(media_s3_status_err(301), E_UPSTREAM_ERROR);
	/* another try: transport errors, 5xx and 429; never a timeout (its time is spent), a 4xx
	 * or a success */
	ck_assert(media_s3_retryable(E_UPSTREAM_ERROR, 0));
	ck_assert(!media_s3_retryable(E_TIMEOUT, 0));
	ck_assert(media_s3_retryable(E_OK, 500));
	ck_assert(media_s3_retryable(E_OK, 503));
	ck_assert(media_s3_retryable(E_OK, 429));
	ck_assert(!media_s3_retryable(E_OK, 200));
	ck_assert(!media_s3_retryable(E_OK, 404));
	ck_assert(!media_s3_retryable(E_OK, 403));
	ck_assert(!media_s3_retryable(E_UNAVAILABLE, 0));
}
END_TEST

/* Loads the configuration with MEDIA_BACKEND=s3 (and the CDN base when given). */
static void md_s3(const char *cdn, const char *path_style)
{
	char err[256];

	setenv("MEDIA_BACKEND", "s3", 1);
	setenv("S3_ENDPOINT", "https://cos.ap-shanghai.myqcloud.com", 1);
	setenv("S3_BUCKET", "photos-1250000000", 1);
	setenv("S3_REGION", "ap-shanghai", 1);
	setenv("S3_ACCESS_KEY_ID", "AKIDexample", 1);
	setenv("S3_SECRET_ACCESS_KEY", "secretexample", 1);
	setenv("S3_PATH_STYLE", path_style, 1);
	if (cdn != NULL)
		setenv("MEDIA_CDN_BASE", cdn, 1);
	else
		unsetenv("MEDIA_CDN_BASE");
	ck_assert_msg(config_load(CONFIG_NEED_ALL, err, sizeof(err)) == 0, "config: %s", err);
}

START_TEST(media_urls_per_backend)
{
	/* local: lighttpd's /media/ under PUBLIC_BASE_URL, and X-Sendfile of the file */
	ck_assert_ptr_eq(media_backend(), &media_local_ops);
	ck_assert_str_eq(media_url(&md_arena, MD_KEY), "https://photo.example.com/media/" MD_KEY);
	ck_assert_ptr_nonnull(media_sendfile_path(&md_arena, MD_KEY));
	/* s3 with a CDN: the CDN's base */
	md_s3("https://img.example.com/", "0");
	ck_assert_ptr_eq(media_backend(), &media_s3_ops);
	ck_assert_str_eq(media_url(&md_arena, MD_KEY), "https://img.example.com/" MD_KEY);
	ck_assert_ptr_null(media_sendfile_path(&md_arena, MD_KEY));
	ck_assert_ptr_nonnull(media_path(&md_arena, MD_KEY));
	/* s3 without: the object's own URL (a public-read bucket), in the configured style */
	md_s3(NULL, "0");
	ck_assert_str_eq(media_url(&md_arena, MD_KEY),
	                 "https://photos-1250000000.cos.ap-shanghai.myqcloud.com/" MD_KEY);
	md_s3(NULL, "1");
	ck_assert_str_eq(media_url(&md_arena, MD_KEY),
	                 "https://cos.ap-shanghai.myqcloud.com/photos-1250000000/" MD_KEY);
}
END_TEST

START_TEST(media_url_keys)
{
	/* the key at the end of any backend's URL, query and fragment ignored */
	ck_assert_str_eq(media_url_key(&md_arena, "https://photo.example.com/media/" MD_KEY),
	                 MD_KEY);
	ck_assert_str_eq(media_url_key(&md_arena, "https://img.example.com/" MD_KEY "?x=1#y"),
	                 MD_KEY);
	ck_assert_str_eq(media_url_key(&md_arena, "http://h/b/01/23/" MD_SHA ".t360.jpg"),
	                 "01/23/" MD_SHA ".t360.jpg");
	ck_assert_ptr_null(media_url_key(&md_arena, NULL));
	ck_assert_ptr_null(media_url_key(&md_arena, "https://photo.example.com/media/x.png"));
	ck_assert_ptr_null(media_url_key(&md_arena, "01/23/" MD_SHA ".jpg"));
	ck_assert_ptr_null(media_url_key(&md_arena, "https://h/01/24/" MD_SHA ".jpg"));
	ck_assert_ptr_null(media_url_key(&md_arena, "https://h/01/23/" MD_SHA ".exe"));
	ck_assert_ptr_null(media_url_key(&md_arena, "https://h/../01/23/" MD_SHA ".jpg/"));
	ck_assert_str_eq(media_mime("01/23/" MD_SHA ".png"), "image/png");
	ck_assert_str_eq(media_mime("01/23/" MD_SHA ".webp"), "image/webp");
	ck_assert_str_eq(media_mime("01/23/" MD_SHA ".t720.jpg"), "image/jpeg");
}
END_TEST

Suite *media_suite(void)
{
	Suite *s = suite_create("media");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, md_setup, md_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, media_signed_url_roundtrip);
	tcase_add_test(tc, media_signed_url_needs_a_key);
	tcase_add_test(tc, media_thumb_keys);
	tcase_add_test(tc, imgproc_orientation_and_metadata);
	tcase_add_test(tc, imgproc_alpha_stays_png);
	tcase_add_test(tc, response_sendfile_and_stream);
	tcase_add_test(tc, media_s3_object_urls);
	tcase_add_test(tc, media_s3_answers);
	tcase_add_test(tc, media_urls_per_backend);
	tcase_add_test(tc, media_url_keys);
	suite_add_tcase(s, tc);
	return s;
}
