/*
 * test_wxcloud — cloud storage file ids (parsing, refusals), the public URL of a file id
 * (configured prefix, the storage's own domain, percent-encoding, ids that name no host),
 * and the tcb/batchdownloadfile request body and answer.
 */
#include <check.h>
#include <json-c/json.h>
#include <string.h>

#include "lib/wechat/wxcloud.h"
#include "tests/unit/suites.h"

/* The example of the brief and of WeChat's batchDownloadFile page (docs/cloud-files.md). */
#define WC_ID "cloud://prod-1a2b.7072-prod-1a2b-1300000000/works/x.jpg"
#define WC_OLD "cloud://test2-4a89da.7465-test2-4a89da/A.png"

START_TEST(wxcloud_parses_ids)
{
	struct wxcloud_fileid f;

	ck_assert(wxcloud_fileid_parse(WC_ID, &f));
	ck_assert_str_eq(f.env, "prod-1a2b");
	ck_assert_str_eq(f.bucket, "7072-prod-1a2b-1300000000");
	ck_assert_str_eq(f.path, "works/x.jpg");
	ck_assert(wxcloud_fileid_parse(WC_OLD, &f));
	ck_assert_str_eq(f.env, "test2-4a89da");
	ck_assert_str_eq(f.bucket, "7465-test2-4a89da");
	ck_assert_str_eq(f.path, "A.png");
	ck_assert(wxcloud_fileid_parse("cloud://e_1.b/a b/照片 (1).jpg", &f));
	ck_assert_str_eq(f.path, "a b/照片 (1).jpg");
	ck_assert(wxcloud_is_fileid(WC_ID));
	ck_assert(wxcloud_is_fileid("cloud://"));
	ck_assert(!wxcloud_is_fileid("https://x/y"));
	ck_assert(!wxcloud_is_fileid(NULL));
}
END_TEST

START_TEST(wxcloud_refuses_malformed_ids)
{
	static const char *const bad[] = {
	    "",
	    "cloud://",
	    "cloud:/env.bucket/a.jpg",
	    "Cloud://env.bucket/a.jpg",
	    "https://env.bucket/a.jpg",
	    "cloud://envbucket/a.jpg", /* no '.' between env and bucket */
	    "cloud://env.bucket", /* no path */
	    "cloud://env.bucket/", /* empty path */
	    "cloud://.bucket/a.jpg", /* empty env */
	    "cloud://env./a.jpg", /* empty bucket */
	    "cloud://env.buck.et/a.jpg", /* '.' in the bucket */
	    "cloud://e nv.bucket/a.jpg", /* space in the env */
	    "cloud://env.bucket//a.jpg", /* leading '/' */
	    "cloud://env.bucket/a//b.jpg", /* empty segment */
	    "cloud://env.bucket/a/../b.jpg", /* ".." */
	    "cloud://env.bucket/./b.jpg", /* "." */
	    "cloud://env.bucket/a/", /* trailing '/' */
	    "cloud://env.bucket/a\\b.jpg", /* backslash */
	    "cloud://env.bucket/a\nb.jpg", /* control byte */
	    "cloud://env.bucket/a\x7f.jpg", /* DEL */
	};
	struct wxcloud_fileid f;
	char longid[WXCLOUD_MAX_ID + 2], env[WXCLOUD_MAX_ENV + 40];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!wxcloud_fileid_parse(bad[i], &f), "accepted %s", bad[i]);
	ck_assert(!wxcloud_fileid_parse(NULL, &f));
	/* the whole id at most WXCLOUD_MAX_ID bytes */
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	memcpy(longid, "cloud://e.b/", 12);
	longid[WXCLOUD_MAX_ID] = '\0';
	ck_assert(wxcloud_fileid_parse(longid, &f));
	longid[WXCLOUD_MAX_ID] = 'a';
	longid[WXCLOUD_MAX_ID + 1] = '\0';
	ck_assert(!wxcloud_fileid_parse(longid, &f));
	/* env at most 64 characters */
	memset(env, 0, sizeof(env));
	memcpy(env, "cloud://", 8);
	memset(env + 8, 'e', WXCLOUD_MAX_ENV);
	memcpy(env + 8 + WXCLOUD_MAX_ENV, ".b/x", 4);
	ck_assert(wxcloud_fileid_parse(env, &f));
	memset(env + 8, 'e', WXCLOUD_MAX_ENV + 1);
	memcpy(env + 8 + WXCLOUD_MAX_ENV + 1, ".b/x", 4);
	ck_assert(!wxcloud_fileid_parse(env, &f));
}
END_TEST

START_TEST(wxcloud_url_from_the_storage_domain)
{
	char url[256];

	ck_assert(wxcloud_public_url(WC_ID, NULL, url, sizeof(url)));
	ck_assert_str_eq(url, "https://7072-prod-1a2b-1300000000.tcb.qcloud.la/works/x.jpg");
	ck_assert(wxcloud_public_url(WC_ID, "", url, sizeof(url)));
	ck_assert_str_eq(url, "https://7072-prod-1a2b-1300000000.tcb.qcloud.la/works/x.jpg");
	/* "cl" = 63 6c, as in cloud1-… environments */
	ck_assert(wxcloud_public_url("cloud://cloud1-6gnd.636c-cloud1-6gnd-1380655578/a/b.png",
	                             NULL, url, sizeof(url)));
	ck_assert_str_eq(url, "https://636c-cloud1-6gnd-1380655578.tcb.qcloud.la/a/b.png");
	/* an id without the app id (WeChat's own example) names no host: left to the caller */
	ck_assert(!wxcloud_public_url(WC_OLD, NULL, url, sizeof(url)));
	/* a bucket of another shape, or a wrong hex head, is not guessed at */
	ck_assert(!wxcloud_public_url("cloud://prod-1a2b.7072-other-1300000000/x.jpg", NULL, url,
	                              sizeof(url)));
	ck_assert(!wxcloud_public_url("cloud://prod-1a2b.7073-prod-1a2b-1300000000/x.jpg", NULL,
	                              url, sizeof(url)));
	ck_assert(!wxcloud_public_url("cloud://prod-1a2b.7072-prod-1a2b-13x0/x.jpg", NULL, url,
	                              sizeof(url)));
	ck_assert(
	    !wxcloud_public_url("cloud://prod-1a2b.7072-prod-1a2b-/x.jpg", NULL, url, sizeof(url)));
	/* an env ending in digits is not mistaken for an app id */
	ck_assert(!wxcloud_public_url("cloud://test-123456.7465-test-123456/x.jpg", NULL, url,
	                              sizeof(url)));
	ck_assert(!wxcloud_public_url("not-an-id", NULL, url, sizeof(url)));
}
END_TEST

START_TEST(wxcloud_url_from_a_prefix)
{
	char url[256];

	ck_assert(wxcloud_public_url(WC_ID, "https://cdn.example.com", url, sizeof(url)));
	ck_assert_str_eq(url, "https://cdn.example.com/works/x.jpg");
	ck_assert(wxcloud_public_url(WC_ID, "https://cdn.example.com/cloud//", url, sizeof(url)));
	ck_assert_str_eq(url, "https://cdn.example.com/cloud/works/x.jpg");
	/* a prefix serves ids without the app id too */
	ck_assert(wxcloud_public_url(WC_OLD, "http://127.0.0.1:1/tcb/public", url, sizeof(url)));
	ck_assert_str_eq(url, "http://127.0.0.1:1/tcb/public/A.png");
	/* percent-encoding: UTF-8, space, '%', '?', '#'; sub-delims stay */
	ck_assert(wxcloud_public_url("cloud://e.b/照 a%b?c#d/x(1)+y=z@w!.jpg", "https://c", url,
	                             sizeof(url)));
	ck_assert_str_eq(url, "https://c/%E7%85%A7%20a%25b%3Fc%23d/x(1)+y=z@w!.jpg");
}
END_TEST

START_TEST(wxcloud_url_buffer_limits)
{
	char url[64];
	size_t need = strlen("https://7072-prod-1a2b-1300000000.tcb.qcloud.la/works/x.jpg") + 1;

	ck_assert(wxcloud_public_url(WC_ID, NULL, url, need));
	ck_assert(!wxcloud_public_url(WC_ID, NULL, url, need - 1));
	ck_assert(!wxcloud_public_url(WC_ID, NULL, url, 10));
	ck_assert(!wxcloud_public_url(WC_ID, NULL, url, 0));
	/* an encoded byte needs its three characters and the NUL */
	ck_assert(wxcloud_public_url("cloud://e.b/%", "h", url, 6));
	ck_assert_str_eq(url, "h/%25");
	ck_assert(!wxcloud_public_url("cloud://e.b/%", "h", url, 5));
}
END_TEST

START_TEST(wxcloud_request_body)
{
	struct arena a;
	const char *const ids[] = {WC_ID, WC_OLD};
	const char *text;
	json_object *o, *list, *e, *v;

	arena_init(&a, 1024);
	text = wxcloud_download_body(&a, "prod-1a2b", ids, 2, 600);
	ck_assert_ptr_null(strstr(text, "\\/"));
	o = json_tokener_parse(text);
	ck_assert_ptr_nonnull(o);
	ck_assert(json_object_object_get_ex(o, "env", &v));
	ck_assert_str_eq(json_object_get_string(v), "prod-1a2b");
	ck_assert(json_object_object_get_ex(o, "file_list", &list));
	ck_assert_int_eq(json_object_array_length(list), 2);
	e = json_object_array_get_idx(list, 1);
	ck_assert(json_object_object_get_ex(e, "fileid", &v));
	ck_assert_str_eq(json_object_get_string(v), WC_OLD);
	ck_assert(json_object_object_get_ex(e, "max_age", &v));
	ck_assert_int_eq(json_object_get_int64(v), 600);
	json_object_put(o);
	arena_fini(&a);
}
END_TEST

START_TEST(wxcloud_answer)
{
	struct arena a;
	const char *const ids[] = {WC_ID, WC_OLD, "cloud://e.b/denied.jpg", "cloud://e.b/gone.jpg",
	                           "cloud://e.b/absent.jpg"};
	struct wxcloud_link l[5];
	/* answered in another order; one missing by errmsg only, one refused, one absent */
	json_object *ans = json_tokener_parse(
	    "{\"errcode\":0,\"errmsg\":\"ok\",\"file_list\":["
	    "{\"fileid\":\"" WC_OLD "\",\"download_url\":\"\",\"status\":-503003,"
	    "\"errmsg\":\"STORAGE_FILE_NONEXIST\"},"
	    "{\"fileid\":\"cloud://e.b/denied.jpg\",\"download_url\":\"\",\"status\":-503002,"
	    "\"errmsg\":\"STORAGE_EXCEED_AUTHORITY\"},"
	    "{\"fileid\":\"" WC_ID "\",\"download_url\":\"https://7072-prod-1a2b-1300000000."
	    "tcb.qcloud.la/works/x.jpg?sign=s&t=1\",\"status\":0,\"errmsg\":\"ok\"},"
	    "{\"fileid\":\"cloud://e.b/"
	    "gone.jpg\",\"status\":1,\"errmsg\":\"STORAGE_FILE_NONEXIST\"}"
	    "]}");

	arena_init(&a, 1024);
	ck_assert_int_eq(wxcloud_download_parse(&a, ans, ids, 5, l), E_OK);
	ck_assert_int_eq(l[0].state, WXCLOUD_OK);
	ck_assert_str_eq(l[0].url,
	                 "https://7072-prod-1a2b-1300000000.tcb.qcloud.la/works/x.jpg?sign=s&t=1");
	ck_assert_int_eq(l[1].state, WXCLOUD_MISSING);
	ck_assert_int_eq(l[1].status, -503003);
	ck_assert_str_eq(l[1].errmsg, "STORAGE_FILE_NONEXIST");
	ck_assert_int_eq(l[2].state, WXCLOUD_REFUSED);
	ck_assert_str_eq(l[2].errmsg, "STORAGE_EXCEED_AUTHORITY");
	ck_assert_int_eq(l[3].state, WXCLOUD_MISSING);
	ck_assert_int_eq(l[4].state, WXCLOUD_REFUSED);
	json_object_put(ans);

	/* status 0 without a URL is not a success; entries without fileid go by position */
	ans = json_tokener_parse("{\"file_list\":[{\"status\":0,\"download_url\":\"\"},"
	                         "{\"status\":0,\"download_url\":\"https://h/x\"}]}");
	ck_assert_int_eq(wxcloud_download_parse(&a, ans, ids, 2, l), E_OK);
	ck_assert_int_eq(l[0].state, WXCLOUD_REFUSED);
	ck_assert_int_eq(l[1].state, WXCLOUD_OK);
	ck_assert_str_eq(l[1].url, "https://h/x");
	json_object_put(ans);

	ans = json_tokener_parse("{\"errcode\":0,\"errmsg\":\"ok\"}");
	ck_assert_int_eq(wxcloud_download_parse(&a, ans, ids, 1, l), E_UPSTREAM_ERROR);
	json_object_put(ans);
	ans = json_tokener_parse("{\"file_list\":{}}");
	ck_assert_int_eq(wxcloud_download_parse(&a, ans, ids, 1, l), E_UPSTREAM_ERROR);
	json_object_put(ans);
	ck_assert_int_eq(wxcloud_download_parse(&a, NULL, ids, 1, l), E_UPSTREAM_ERROR);
	arena_fini(&a);
}
END_TEST

Suite *wxcloud_suite(void)
{
	Suite *s = suite_create("wxcloud");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, wxcloud_parses_ids);
	tcase_add_test(tc, wxcloud_refuses_malformed_ids);
	tcase_add_test(tc, wxcloud_url_from_the_storage_domain);
	tcase_add_test(tc, wxcloud_url_from_a_prefix);
	tcase_add_test(tc, wxcloud_url_buffer_limits);
	tcase_add_test(tc, wxcloud_request_body);
	tcase_add_test(tc, wxcloud_answer);
	suite_add_tcase(s, tc);
	return s;
}
