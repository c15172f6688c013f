/*
 * test_multipart — multipart/form-data parsing: the boundary parameter, part headers,
 * binary data, preamble and epilogue, and every bound and malformation refused.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "lib/multipart.h"
#include "tests/unit/suites.h"

static struct arena mp_arena;
static struct multipart mp_form;
static const char *mp_why;

static void mp_setup(void)
{
	arena_init(&mp_arena, 1024);
}

static void mp_teardown(void)
{
	arena_fini(&mp_arena);
}

#define MP_CT "multipart/form-data; boundary=XyZ"

static enum api_err mp(const char *ct, const char *body)
{
	return multipart_parse(&mp_arena, ct, (const unsigned char *)body, strlen(body), &mp_form,
	                       &mp_why);
}

static enum api_err mp_n(const char *ct, const void *body, size_t len)
{
	return multipart_parse(&mp_arena, ct, body, len, &mp_form, &mp_why);
}

START_TEST(multipart_two_parts)
{
	const char *body = "--XyZ\r\n"
	                   "Content-Disposition: form-data; name=\"title\"\r\n"
	                   "\r\n"
	                   "hello\r\n"
	                   "--XyZ\r\n"
	                   "content-disposition: FORM-DATA; name=\"file\"; filename=\"a b.png\"\r\n"
	                   "Content-Type: image/png\r\n"
	                   "X-Other: ignored\r\n"
	                   "\r\n"
	                   "\x89PNG\r\n--Xy\r\n"
	                   "--XyZ--\r\n";
	const struct multipart_part *f;
	size_t count;

	ck_assert_int_eq(mp(MP_CT, body), E_OK);
	ck_assert_uint_eq(mp_form.n, 2);
	ck_assert_str_eq(mp_form.parts[0].name, "title");
	ck_assert_ptr_null(mp_form.parts[0].filename);
	ck_assert_ptr_null(mp_form.parts[0].content_type);
	ck_assert_uint_eq(mp_form.parts[0].len, 5);
	ck_assert_int_eq(memcmp(mp_form.parts[0].data, "hello", 5), 0);
	f = multipart_find(&mp_form, "file", &count);
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(count, 1);
	ck_assert_str_eq(f->filename, "a b.png");
	ck_assert_str_eq(f->content_type, "image/png");
	/* data may hold CRLF and a prefix of the delimiter */
	ck_assert_uint_eq(f->len, 10);
	ck_assert_int_eq(memcmp(f->data, "\x89PNG\r\n--Xy", 10), 0);
	ck_assert_ptr_null(multipart_find(&mp_form, "missing", &count));
	ck_assert_uint_eq(count, 0);
}
END_TEST

START_TEST(multipart_binary_data)
{
	unsigned char body[512];
	size_t n = 0;
	const char *head = "--XyZ\r\nContent-Disposition: form-data; name=file\r\n\r\n";
	const char *tail = "\r\n--XyZ--";

	memcpy(body, head, strlen(head));
	n = strlen(head);
	for (int i = 0; i < 256; i++)
		body[n++] = (unsigned char)i;
	memcpy(body + n, tail, strlen(tail));
	n += strlen(tail);
	ck_assert_int_eq(mp_n(MP_CT, body, n), E_OK);
	ck_assert_uint_eq(mp_form.n, 1);
	ck_assert_str_eq(mp_form.parts[0].name, "file");
	ck_assert_uint_eq(mp_form.parts[0].len, 256);
	for (int i = 0; i < 256; i++)
		ck_assert_uint_eq(mp_form.parts[0].data[i], (unsigned)i);
}
END_TEST

START_TEST(multipart_content_types)
{
	const char *body = "--a'b(c)+_,-./:=?z\r\n"
	                   "Content-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n"
	                   "--a'b(c)+_,-./:=?z--";

	ck_assert(multipart_is_form("multipart/form-data"));
	ck_assert(multipart_is_form(" Multipart/Form-Data ; boundary=x"));
	ck_assert(!multipart_is_form("multipart/form-datax"));
	ck_assert(!multipart_is_form("multipart/mixed; boundary=x"));
	ck_assert(!multipart_is_form("image/png"));
	ck_assert(!multipart_is_form(NULL));
	/* every boundary character RFC 2046 allows, quoted, with other parameters */
	ck_assert_int_eq(
	    mp("multipart/form-data; charset=utf-8; BOUNDARY=\"a'b(c)+_,-./:=?z\"", body), E_OK);
	ck_assert_uint_eq(mp_form.n, 1);
	ck_assert_str_eq(mp_form.parts[0].name, "x");
	/* what does not carry a usable boundary */
	ck_assert_int_eq(mp("multipart/form-data", body), E_UNSUPPORTED_MEDIA_TYPE);
	ck_assert_ptr_nonnull(mp_why);
	ck_assert_int_eq(mp("multipart/form-data; boundary=", body), E_UNSUPPORTED_MEDIA_TYPE);
	ck_assert_int_eq(mp("multipart/form-data; boundary=\"\"", body), E_UNSUPPORTED_MEDIA_TYPE);
	ck_assert_int_eq(mp("multipart/form-data; boundary=\"a b \"", body),
	                 E_UNSUPPORTED_MEDIA_TYPE);
	ck_assert_int_eq(mp("multipart/form-data; boundary=\"a<b\"", body),
	                 E_UNSUPPORTED_MEDIA_TYPE);
	ck_assert_int_eq(mp("multipart/form-data; boundary=\"unterminated", body),
	                 E_UNSUPPORTED_MEDIA_TYPE);
	ck_assert_int_eq(mp("multipart/form-data; boundary", body), E_UNSUPPORTED_MEDIA_TYPE);
	ck_assert_int_eq(mp("multipart/mixed; boundary=XyZ", body), E_UNSUPPORTED_MEDIA_TYPE);
	ck_assert_int_eq(mp(NULL, body), E_UNSUPPORTED_MEDIA_TYPE);
	ck_assert_int_eq(
	    mp("multipart/form-data; boundary="
	       "12345678901234567890123456789012345678901234567890123456789012345678901",
	       body),
	    E_UNSUPPORTED_MEDIA_TYPE);
}
END_TEST

START_TEST(multipart_preamble_epilogue)
{
	const char *body = "This is a preamble.\r\n--XyZ\r\n"
	                   "Content-Disposition: form-data; name=\"a\"\r\n\r\n"
	                   "\r\n"
	                   "--XyZ  \t\r\n" /* transport padding */
	                   "Content-Disposition: form-data; name=\"b\\\"q\\\\\"\r\n\r\n"
	                   "B\r\n"
	                   "--XyZ--\r\nepilogue --XyZ\r\n garbage";

	ck_assert_int_eq(mp(MP_CT, body), E_OK);
	ck_assert_uint_eq(mp_form.n, 2);
	ck_assert_uint_eq(mp_form.parts[0].len, 0);
	ck_assert_str_eq(mp_form.parts[1].name, "b\"q\\");
	ck_assert_uint_eq(mp_form.parts[1].len, 1);
	/* a form with no part at all */
	ck_assert_int_eq(mp(MP_CT, "--XyZ--"), E_OK);
	ck_assert_uint_eq(mp_form.n, 0);
}
END_TEST

START_TEST(multipart_duplicates)
{
	const char *body = "--XyZ\r\nContent-Disposition: form-data; name=file\r\n\r\n1\r\n"
	                   "--XyZ\r\nContent-Disposition: form-data; name=file\r\n\r\n22\r\n"
	                   "--XyZ--";
	const struct multipart_part *f;
	size_t count;

	ck_assert_int_eq(mp(MP_CT, body), E_OK);
	f = multipart_find(&mp_form, "file", &count);
	ck_assert_uint_eq(count, 2);
	ck_assert_uint_eq(f->len, 1);
	ck_assert_ptr_nonnull(multipart_find(&mp_form, "file", NULL));
}
END_TEST

/* Each malformed body is refused as a bad request, with a reason and no parts. */
START_TEST(multipart_malformed)
{
	static const char *const bad[] = {
	    "",
	    "no boundary at all",
	    "--XyZ",
	    "--XyZ\r\n",
	    "--XyZ\r\nContent-Disposition: form-data; name=a\r\n",
	    "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nno closing delimiter",
	    "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--XyZ",
	    "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--XyZjunk\r\n",
	    "--XyZjunk\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--XyZ--",
	    "--XyZ\nContent-Disposition: form-data; name=a\n\nx\n--XyZ--",
	    "--XyZ\r\n\r\nx\r\n--XyZ--",
	    "--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--",
	    "--XyZ\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--XyZ--",
	    "--XyZ\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XyZ--",
	    "--XyZ\r\nContent-Disposition: form-data; filename=a\r\n\r\nx\r\n--XyZ--",
	    "--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--XyZ--",
	    "--XyZ\r\nContent-Disposition: form-data; name=a b\r\n\r\nx\r\n--XyZ--",
	    "--XyZ\r\nContent-Disposition: form-data; name=\r\n\r\nx\r\n--XyZ--",
	    "--XyZ\r\nContent-Disposition: form-data; name=a\r\n"
	    "Content-Disposition: form-data; name=b\r\n\r\nx\r\n--XyZ--",
	    "--XyZ\r\nContent-Disposition: form-data; name=a\r\nContent-Type: a\r\n"
	    "Content-Type: b\r\n\r\nx\r\n--XyZ--",
	    "--XyZ\r\nContent-Disposition: form-data; name=a\r\nno colon here\r\n\r\nx\r\n--XyZ--",
	    "--XyZ\r\nContent-Disposition: form-data; name=a\r\n : folded\r\n\r\nx\r\n--XyZ--",
	    "--XyZ\r\nContent-Disposition: form-data; name=a\r\nX-A: \x01\r\n\r\nx\r\n--XyZ--",
	    "--XyZ\r\nContent-Disposition: form-data; a=1; b=2; c=3; d=4; e=5; f=6; g=7; h=8; "
	    "name=x\r\n\r\nx\r\n--XyZ--",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mp_form.n = 5;
		ck_assert_msg(mp(MP_CT, bad[i]) == E_BAD_REQUEST, "case %zu accepted", i);
		ck_assert_uint_eq(mp_form.n, 0);
		ck_assert_ptr_nonnull(mp_why);
	}
	/* a NUL inside a header line */
	ck_assert_int_eq(
	    mp_n(MP_CT, "--XyZ\r\nContent-Disposition: form-data; name=a\0b\r\n\r\nx\r\n--XyZ--",
	         56),
	    E_BAD_REQUEST);
}
END_TEST

START_TEST(multipart_bounds)
{
	char *body = arena_alloc(&mp_arena, 8192);
	size_t n = 0;

	/* 16 parts are fine, 17 are not */
	for (int i = 0; i < 17; i++) {
		n += (size_t)snprintf(
		    body + n, 8192 - n,
		    "--XyZ\r\nContent-Disposition: form-data; name=p%d\r\n\r\n%d\r\n", i, i);
		if (i == 15) {
			char *ok = arena_printf(&mp_arena, "%.*s--XyZ--", (int)n, body);
			ck_assert_int_eq(mp(MP_CT, ok), E_OK);
			ck_assert_uint_eq(mp_form.n, MULTIPART_MAX_PARTS);
			ck_assert_str_eq(mp_form.parts[15].name, "p15");
		}
	}
	n += (size_t)snprintf(body + n, 8192 - n, "--XyZ--");
	ck_assert_int_eq(mp(MP_CT, body), E_BAD_REQUEST);
	ck_assert_str_eq(mp_why, "multipart: too many parts");

	/* a header line of 1024 bytes is fine, 1025 is not */
	for (int extra = 0; extra < 2; extra++) {
		const char *prefix = "Content-Disposition: form-data; name=\"";
		size_t fill = MULTIPART_MAX_LINE - strlen(prefix) - 1 + (size_t)extra;
		char *name = arena_alloc(&mp_arena, fill + 1);

		memset(name, 'n', fill);
		name[fill] = '\0';
		body = arena_printf(&mp_arena, "--XyZ\r\n%s%s\"\r\n\r\nx\r\n--XyZ--", prefix, name);
		ck_assert_int_eq(mp(MP_CT, body), extra ? E_BAD_REQUEST : E_OK);
	}

	/* at most 8 header lines per part */
	body = arena_printf(&mp_arena,
	                    "--XyZ\r\nContent-Disposition: form-data; name=a\r\n%s"
	                    "\r\nx\r\n--XyZ--",
	                    "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\n");
	ck_assert_int_eq(mp(MP_CT, body), E_OK);
	body = arena_printf(&mp_arena,
	                    "--XyZ\r\nContent-Disposition: form-data; name=a\r\n%s"
	                    "\r\nx\r\n--XyZ--",
	                    "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\nH: 8\r\n");
	ck_assert_int_eq(mp(MP_CT, body), E_BAD_REQUEST);
}
END_TEST

/* Every prefix of a valid body is either refused or (once complete) accepted: no crash,
 * and no part ever points outside the bytes given. */
START_TEST(multipart_prefixes)
{
	const char *body = "pre\r\n--XyZ\r\nContent-Disposition: form-data; name=\"f\"; "
	                   "filename=\"x.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff"
	                   "\r\n--XyZ--\r\n";
	size_t len = strlen(body);

	for (size_t n = 0; n <= len; n++) {
		unsigned char *copy = arena_alloc(&mp_arena, n + 1);
		enum api_err err;

		memcpy(copy, body, n);
		err = mp_n(MP_CT, copy, n);
		if (err == E_OK) {
			ck_assert_uint_ge(n, len - 2);
			ck_assert_uint_eq(mp_form.n, 1);
			ck_assert(mp_form.parts[0].data >= copy);
			ck_assert(mp_form.parts[0].data + mp_form.parts[0].len <= copy + n);
		} else {
			ck_assert_int_eq(err, E_BAD_REQUEST);
		}
	}
	ck_assert_int_eq(mp_n(MP_CT, NULL, 0), E_BAD_REQUEST);
}
END_TEST

Suite *multipart_suite(void)
{
	Suite *s = suite_create("multipart");
	TCase *tc = tcase_create("parse");

	tcase_add_checked_fixture(tc, mp_setup, mp_teardown);
	tcase_add_test(tc, multipart_two_parts);
	tcase_add_test(tc, multipart_binary_data);
	tcase_add_test(tc, multipart_content_types);
	tcase_add_test(tc, multipart_preamble_epilogue);
	tcase_add_test(tc, multipart_duplicates);
	tcase_add_test(tc, multipart_malformed);
	tcase_add_test(tc, multipart_bounds);
	tcase_add_test(tc, multipart_prefixes);
	suite_add_tcase(s, tc);
	return s;
}
