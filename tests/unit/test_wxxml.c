/*
 * test_wxxml — parsing of real Official Account pushes, refusal of DTDs, entities and
 * unexpected shapes, and the passive reply builders (CDATA splitting round trip).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/wechat/wxxml.h"
#include "tests/unit/suites.h"

static struct arena wxxml_t_arena;

static void wxxml_t_setup(void)
{
	arena_init(&wxxml_t_arena, 1024);
}

static void wxxml_t_teardown(void)
{
	arena_fini(&wxxml_t_arena);
}

static int wxxml_t_parse(const char *xml, struct wxxml_msg *m)
{
	return wxxml_parse(&wxxml_t_arena, xml, strlen(xml), m);
}

/* Expects xml to be refused, with the given reason when reason is not NULL. */
static void wxxml_t_refused(const char *xml, const char *reason)
{
	struct wxxml_msg m;

	ck_assert_int_eq(wxxml_t_parse(xml, &m), -1);
	ck_assert_ptr_nonnull(m.error);
	if (reason != NULL)
		ck_assert_str_eq(m.error, reason);
	ck_assert_uint_eq(m.n, 0);
	ck_assert_ptr_null(wxxml_get(&m, "ToUserName"));
}

START_TEST(wxxml_subscribe_event)
{
	static const char xml[] =
	    "<xml>\n"
	    "  <ToUserName><![CDATA[gh_sim000000001]]></ToUserName>\n"
	    "  <FromUserName><![CDATA[oUpF8uMuAJO_M2pxb1Q9zNjWeS6o]]></FromUserName>\n"
	    "  <CreateTime>1700000000</CreateTime>\n"
	    "  <MsgType><![CDATA[event]]></MsgType>\n"
	    "  <Event><![CDATA[subscribe]]></Event>\n"
	    "</xml>\n";
	struct wxxml_msg m;

	ck_assert_int_eq(wxxml_t_parse(xml, &m), 0);
	ck_assert_ptr_null(m.error);
	ck_assert_uint_eq(m.n, 5);
	ck_assert_str_eq(m.fields[0].name, "ToUserName");
	ck_assert_str_eq(m.fields[4].name, "Event");
	ck_assert_str_eq(wxxml_get(&m, "ToUserName"), "gh_sim000000001");
	ck_assert_str_eq(wxxml_get(&m, "FromUserName"), "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o");
	ck_assert_str_eq(wxxml_get(&m, "CreateTime"), "1700000000");
	ck_assert_str_eq(wxxml_get(&m, "MsgType"), "event");
	ck_assert_str_eq(wxxml_get(&m, "Event"), "subscribe");
	ck_assert_ptr_null(wxxml_get(&m, "EventKey"));
	ck_assert_ptr_null(wxxml_get(&m, "event")); /* names are case-sensitive */
	ck_assert_ptr_null(wxxml_get(&m, NULL));
	ck_assert_ptr_null(wxxml_get(NULL, "Event"));
}
END_TEST

START_TEST(wxxml_text_message)
{
	static const char xml[] =
	    "<xml><ToUserName><![CDATA[gh_sim000000001]]></ToUserName>"
	    "<FromUserName><![CDATA[oUser]]></FromUserName><CreateTime>1348831860</CreateTime>"
	    "<MsgType><![CDATA[text]]></MsgType>"
	    "<Content><![CDATA[你好 <b>&amp; ]] > x]]></Content>"
	    "<MsgId>1234567890123456</MsgId><Note>a &amp; b &lt;c&gt; &#x4e2d;&#25991;</Note>"
	    "<Mixed>pre<![CDATA[<mid>]]>post</Mixed><Empty></Empty><Short/></xml>";
	struct wxxml_msg m;

	ck_assert_int_eq(wxxml_t_parse(xml, &m), 0);
	/* CDATA content is literal: no entity decoding inside it */
	ck_assert_str_eq(wxxml_get(&m, "Content"), "你好 <b>&amp; ]] > x");
	ck_assert_str_eq(wxxml_get(&m, "MsgId"), "1234567890123456");
	ck_assert_str_eq(wxxml_get(&m, "Note"), "a & b <c> 中文");
	ck_assert_str_eq(wxxml_get(&m, "Mixed"), "pre<mid>post");
	ck_assert_str_eq(wxxml_get(&m, "Empty"), "");
	ck_assert_str_eq(wxxml_get(&m, "Short"), "");
}
END_TEST

START_TEST(wxxml_scan_event)
{
	static const char xml[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	                          "<xml><ToUserName><![CDATA[gh_sim000000001]]></ToUserName>\n"
	                          "<FromUserName><![CDATA[oScanner]]></FromUserName>\n"
	                          "<CreateTime>1700000001</CreateTime>\n"
	                          "<MsgType><![CDATA[event]]></MsgType>\n"
	                          "<Event><![CDATA[SCAN]]></Event>\n"
	                          "<EventKey><![CDATA[login_abc123]]></EventKey>\n"
	                          "<Ticket><![CDATA["
	                          "gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJX"
	                          "V1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw==]]></Ticket>\n"
	                          "</xml>";
	struct wxxml_msg m;

	ck_assert_int_eq(wxxml_t_parse(xml, &m), 0);
	ck_assert_str_eq(wxxml_get(&m, "Event"), "SCAN");
	ck_assert_str_eq(wxxml_get(&m, "EventKey"), "login_abc123");
	ck_assert_str_eq(wxxml_get(&m, "Ticket"),
	                 "gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9x"
	                 "L2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw==");
}
END_TEST

START_TEST(wxxml_safe_envelope)
{
	static const char xml[] =
	    "<xml>\n<ToUserName><![CDATA[gh_sim000000001]]></ToUserName>\n"
	    "<Encrypt><![CDATA[rTNFcsut4LfGuAFKEUVVpwcaCOTJzOd9twZdIW910jb3k+iicx2uvhttIZ3Qg9Q==]]>"
	    "</Encrypt>\n</xml>";
	struct wxxml_msg m;

	ck_assert_int_eq(wxxml_t_parse(xml, &m), 0);
	ck_assert_uint_eq(m.n, 2);
	ck_assert_str_eq(wxxml_get(&m, "Encrypt"),
	                 "rTNFcsut4LfGuAFKEUVVpwcaCOTJzOd9twZdIW910jb3k+iicx2uvhttIZ3Qg9Q==");
	ck_assert_ptr_null(wxxml_get(&m, "MsgType"));
}
END_TEST

START_TEST(wxxml_doctype_refused)
{
	wxxml_t_refused("<!DOCTYPE xml><xml><A>1</A></xml>", "doctype refused");
	wxxml_t_refused("<!doctype xml><xml><A>1</A></xml>", "doctype refused");
	wxxml_t_refused("<?xml version=\"1.0\"?>\n<!DocType xml []>\n<xml><A>1</A></xml>",
	                "doctype refused");
	/* billion laughs */
	wxxml_t_refused("<?xml version=\"1.0\"?>\n"
	                "<!DOCTYPE lolz [\n"
	                " <!ENTITY lol \"lol\">\n"
	                " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
	                " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
	                " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
	                "]>\n"
	                "<xml><Content>&lol3;</Content></xml>",
	                "doctype refused");
	/* anywhere in the document, even where XML would not allow it */
	wxxml_t_refused("<xml><A>1</A></xml><!-- <!DOCTYPE -->", "doctype refused");
	wxxml_t_refused("<xml><A><![CDATA[<!DOCTYPE]]></A></xml>", "doctype refused");
}
END_TEST

START_TEST(wxxml_entities_refused)
{
	/* an external entity (the doctype that declares it is refused first) */
	wxxml_t_refused("<?xml version=\"1.0\"?>"
	                "<!DOCTYPE xml [<!ENTITY ext SYSTEM \"file:///etc/passwd\">]>"
	                "<xml><Content>&ext;</Content></xml>",
	                NULL);
	wxxml_t_refused("<!DOCTYPE xml SYSTEM \"http://127.0.0.1:1/x.dtd\"><xml><A>1</A></xml>",
	                NULL);
	wxxml_t_refused("<!DOCTYPE xml [<!ENTITY % p SYSTEM \"http://127.0.0.1:1/p\"> %p;]>"
	                "<xml><A>1</A></xml>",
	                NULL);
	/* no DTD: an undefined entity is an error */
	wxxml_t_refused("<xml><Content>&ext;</Content></xml>", "undefined entity");
	wxxml_t_refused("<xml><Content>&lol3;</Content></xml>", "undefined entity");
	/* the byte scan cannot see a DTD in UTF-16 (chosen by the byte-order mark); expat's
	 * doctype handler refuses it */
	{
		static const char u16[] =
		    "\xff\xfe<\0!\0D\0O\0C\0T\0Y\0P\0E\0 \0x\0m\0l\0 \0[\0<\0!\0"
		    "E\0N\0T\0I\0T\0Y\0 \0e\0 \0S\0Y\0S\0T\0E\0M\0 \0\"\0f\0\"\0"
		    ">\0]\0>\0<\0x\0m\0l\0>\0<\0A\0>\0&\0e\0;\0<\0/\0A\0>\0<\0/\0"
		    "x\0m\0l\0>\0";
		struct wxxml_msg m;

		ck_assert_int_eq(wxxml_parse(&wxxml_t_arena, u16, sizeof(u16) - 1, &m), -1);
		ck_assert_str_eq(m.error, "doctype refused");
	}
}
END_TEST

START_TEST(wxxml_shape_refused)
{
	wxxml_t_refused("<xml><A><B>1</B></A></xml>", "nested element");
	wxxml_t_refused("<xml><A>1<B/></A></xml>", "nested element");
	wxxml_t_refused("<root><A>1</A></root>", "root is not <xml>");
	wxxml_t_refused("<XML><A>1</A></XML>", "root is not <xml>");
	wxxml_t_refused("<xmlx/>", "root is not <xml>");
	wxxml_t_refused("", "malformed xml");
	wxxml_t_refused("   ", "malformed xml");
	wxxml_t_refused("<xml><A>1</xml>", "malformed xml");
	wxxml_t_refused("<xml><A>1</A></xml><xml/>", "malformed xml");
	wxxml_t_refused("<xml><A>1</A>", "malformed xml");
	wxxml_t_refused("plain text", "malformed xml");
	wxxml_t_refused("<xml><A>\xff\xfe</A></xml>", "malformed xml");
	{
		static const char nul[] = "<xml><A>1\0</A></xml>";
		struct wxxml_msg m;

		ck_assert_int_eq(wxxml_parse(&wxxml_t_arena, nul, sizeof(nul) - 1, &m), -1);
		ck_assert_int_eq(wxxml_parse(&wxxml_t_arena, NULL, 0, &m), -1);
		ck_assert_int_eq(wxxml_parse(NULL, nul, 3, &m), -1);
	}
}
END_TEST

/* "<xml>" + n children "<Fk>k</Fk>" + "</xml>", malloc'd. */
static char *wxxml_t_children(int n)
{
	size_t cap = 64 + (size_t)n * 32, o;
	char *s = malloc(cap);

	ck_assert_ptr_nonnull(s);
	o = (size_t)snprintf(s, cap, "<xml>");
	for (int k = 0; k < n; k++)
		o += (size_t)snprintf(s + o, cap - o, "<F%d>%d</F%d>", k, k, k);
	snprintf(s + o, cap - o, "</xml>");
	return s;
}

START_TEST(wxxml_limits)
{
	struct wxxml_msg m;
	char *s, *big;
	const char *head = "<xml><A>", *tail = "</A></xml>";
	size_t hl = strlen(head), tl = strlen(tail);

	s = wxxml_t_children(WXXML_MAX_FIELDS);
	ck_assert_int_eq(wxxml_t_parse(s, &m), 0);
	ck_assert_uint_eq(m.n, WXXML_MAX_FIELDS);
	ck_assert_str_eq(wxxml_get(&m, "F63"), "63");
	free(s);
	s = wxxml_t_children(WXXML_MAX_FIELDS + 1);
	wxxml_t_refused(s, "too many fields");
	free(s);

	/* exactly WXXML_MAX bytes pass, one more is refused before parsing */
	big = malloc(WXXML_MAX + 2);
	ck_assert_ptr_nonnull(big);
	memcpy(big, head, hl);
	memset(big + hl, 'x', WXXML_MAX - hl - tl);
	memcpy(big + WXXML_MAX - tl, tail, tl + 1);
	ck_assert_uint_eq(strlen(big), WXXML_MAX);
	ck_assert_int_eq(wxxml_parse(&wxxml_t_arena, big, WXXML_MAX, &m), 0);
	ck_assert_uint_eq(strlen(wxxml_get(&m, "A")), WXXML_MAX - hl - tl);
	memset(big + hl, 'x', WXXML_MAX + 1 - hl - tl);
	memcpy(big + WXXML_MAX + 1 - tl, tail, tl + 1);
	ck_assert_int_eq(wxxml_parse(&wxxml_t_arena, big, WXXML_MAX + 1, &m), -1);
	ck_assert_str_eq(m.error, "document too large");
	free(big);
}
END_TEST

START_TEST(wxxml_text_reply_exact)
{
	const char *r =
	    wxxml_text_reply(&wxxml_t_arena, "oUser", "gh_sim000000001", 1700000000, "hello");

	ck_assert_str_eq(r, "<xml><ToUserName><![CDATA[oUser]]></ToUserName>"
	                    "<FromUserName><![CDATA[gh_sim000000001]]></FromUserName>"
	                    "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
	                    "<Content><![CDATA[hello]]></Content></xml>");
}
END_TEST

START_TEST(wxxml_text_reply_round_trip)
{
	static const char *const contents[] = {
	    "a]]>b", "]]>", "]]>]]>x]]]>>]]", "你好 <b>&amp;</b> ]]> done", "]", "",
	};
	struct wxxml_msg m;

	for (size_t i = 0; i < sizeof(contents) / sizeof(contents[0]); i++) {
		const char *r =
		    wxxml_text_reply(&wxxml_t_arena, "o]]>to", "gh_from", 1700000002, contents[i]);

		ck_assert_int_eq(wxxml_t_parse(r, &m), 0);
		ck_assert_str_eq(wxxml_get(&m, "Content"), contents[i]);
		ck_assert_str_eq(wxxml_get(&m, "ToUserName"), "o]]>to");
		ck_assert_str_eq(wxxml_get(&m, "FromUserName"), "gh_from");
		ck_assert_str_eq(wxxml_get(&m, "CreateTime"), "1700000002");
		ck_assert_str_eq(wxxml_get(&m, "MsgType"), "text");
	}
	ck_assert_ptr_nonnull(
	    strstr(wxxml_text_reply(&wxxml_t_arena, "o", "g", 1, "a]]>b"), "a]]]]><![CDATA[>b"));
	/* forbidden control characters are dropped, even between "]]" and ">" */
	ck_assert_int_eq(
	    wxxml_t_parse(wxxml_text_reply(&wxxml_t_arena, "o", "g", 1, "a\x01]]\x1f>\tb\r\nc"),
	                  &m),
	    0);
	ck_assert_str_eq(wxxml_get(&m, "Content"), "a]]>\tb\nc"); /* XML turns CR LF into LF */
	/* NULL counts as empty */
	ck_assert_int_eq(wxxml_t_parse(wxxml_text_reply(&wxxml_t_arena, NULL, NULL, -5, NULL), &m),
	                 0);
	ck_assert_str_eq(wxxml_get(&m, "Content"), "");
	ck_assert_str_eq(wxxml_get(&m, "CreateTime"), "-5");
}
END_TEST

START_TEST(wxxml_encrypted_reply_build)
{
	struct wxxml_msg m;
	const char *r = wxxml_encrypted_reply(&wxxml_t_arena,
	                                      "AbC+/==", "407518b7649e86ef23978113f92d27afa9296533",
	                                      "1411525903", "461056294");

	ck_assert_str_eq(r, "<xml><Encrypt><![CDATA[AbC+/==]]></Encrypt>"
	                    "<MsgSignature><![CDATA[407518b7649e86ef23978113f92d27afa9296533]]>"
	                    "</MsgSignature><TimeStamp>1411525903</TimeStamp>"
	                    "<Nonce><![CDATA[461056294]]></Nonce></xml>");
	ck_assert_int_eq(wxxml_t_parse(r, &m), 0);
	ck_assert_str_eq(wxxml_get(&m, "Encrypt"), "AbC+/==");
	ck_assert_str_eq(wxxml_get(&m, "MsgSignature"), "407518b7649e86ef23978113f92d27afa9296533");
	ck_assert_str_eq(wxxml_get(&m, "TimeStamp"), "1411525903");
	ck_assert_str_eq(wxxml_get(&m, "Nonce"), "461056294");
	/* hostile query values stay data */
	r = wxxml_encrypted_reply(&wxxml_t_arena, "e", "s", "1<2&3>0", "n]]><x/>");
	ck_assert_int_eq(wxxml_t_parse(r, &m), 0);
	ck_assert_uint_eq(m.n, 4);
	ck_assert_str_eq(wxxml_get(&m, "TimeStamp"), "1<2&3>0");
	ck_assert_str_eq(wxxml_get(&m, "Nonce"), "n]]><x/>");
}
END_TEST

Suite *wxxml_suite(void)
{
	Suite *s = suite_create("wxxml");
	TCase *tc = tcase_create("parse");

	tcase_add_checked_fixture(tc, wxxml_t_setup, wxxml_t_teardown);
	tcase_add_test(tc, wxxml_subscribe_event);
	tcase_add_test(tc, wxxml_text_message);
	tcase_add_test(tc, wxxml_scan_event);
	tcase_add_test(tc, wxxml_safe_envelope);
	tcase_add_test(tc, wxxml_doctype_refused);
	tcase_add_test(tc, wxxml_entities_refused);
	tcase_add_test(tc, wxxml_shape_refused);
	tcase_add_test(tc, wxxml_limits);
	suite_add_tcase(s, tc);
	tc = tcase_create("build");
	tcase_add_checked_fixture(tc, wxxml_t_setup, wxxml_t_teardown);
	tcase_add_test(tc, wxxml_text_reply_exact);
	tcase_add_test(tc, wxxml_text_reply_round_trip);
	tcase_add_test(tc, wxxml_encrypted_reply_build);
	suite_add_tcase(s, tc);
	return s;
}
