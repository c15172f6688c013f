/*
 * test_wxsign — the Official Account request signature, msg_signature and JS-SDK signature
 * against the published SDK test vectors, and the refusal of malformed signatures.
 */
#include <check.h>
#include <string.h>

#include "lib/wechat/wxsign.h"
#include "tests/unit/suites.h"

/* wechatpy test_crypto: the Encrypt text of a pushed message. */
static const char wxsign_enc_wechatpy[] =
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPat"
    "fjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD"
    "8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0"
    "gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgW"
    "YEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnT"
    "bcX2e8K9QaNWHp91eBdCRxthuL0=";

/* wechatpy test_crypto: the Encrypt text of the reply made with random "1234567890123456". */
static const char wxsign_enc_wechatpy_reply[] =
    "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrlu"
    "LBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkM"
    "KCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnw"
    "KKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vW"
    "wi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3";

/* easywechat EncryptorTest: the Encrypt text of an Official Account message. */
static const char wxsign_enc_easywechat[] =
    "rTNFcsut4LfGuAFKEUVVpwcaCOTJzOd9twZdIW910jb3k+iicx2uvhttIZ3Qg9Qgty3BEF2xbOrz6boT"
    "fb30dMomcgrkTqdFPwnhqbk+kIQ7rZiwny9D7NUrTgA5kpX3KsZvrXzUZyP2x9YOlxbgm572lmxKvM7H"
    "AQQhIQ/p6HBmoY30bGXFK0BtIu1pW9TjhOYrLQoU18nWYjWqDA1ynkmOytpv7QRI1P1+0NoxL0q2zO1D"
    "geSvnE8CZGo/o5Ap/WHK5W2RAsinpzN4/LjPnmB6U01I5XCoJoC0GK/yMZycd2Oh8Nq6+wBkC1U85oy0"
    "ktOY4nLvsQMLrourmMGdZHuTbqpeJ8Ao/5PRYJ+WBvRUwPfGKBL2+2IKZF49vAJqkcGWSHGE76ZN2erX"
    "euNazf/o9o3lIE3q739o4c8t9QGPe31GT2Go/rOz1BsrASwvauNulCh+++yz+CQzBIuikA==";

static const char wxsign_ticket[] =
    "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOc"
    "HKP7qg";

START_TEST(wxsign_oa_signature_vector)
{
	const char *parts[3] = {"test", "1410685589", "test"};
	char out[41];

	wxsign_sorted_sha1(parts, 3, out);
	ck_assert_str_eq(out, "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff");
	ck_assert(
	    wxsign_check("test", "1410685589", "test", "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"));
	/* the caller's array keeps its order */
	ck_assert_str_eq(parts[0], "test");
	ck_assert_str_eq(parts[1], "1410685589");
}
END_TEST

START_TEST(wxsign_sorted_vector)
{
	const char *parts[3] = {"789", "456", "123"};
	const char *sorted[3] = {"123", "456", "789"};
	char a[41], b[41];

	wxsign_sorted_sha1(parts, 3, a);
	ck_assert_str_eq(a, "f7c3bc1d808e04732adf679965ccc34ca7ae3441");
	wxsign_sorted_sha1(sorted, 3, b);
	ck_assert_str_eq(a, b);
}
END_TEST

START_TEST(wxsign_sorted_bytewise)
{
	/* bytewise order: upper case before lower case, a prefix before its extensions */
	const char *x[3] = {"b", "B", "ab"};
	const char *y[3] = {"B", "ab", "b"};
	const char *none[1] = {NULL};
	char a[41], b[41];

	wxsign_sorted_sha1(x, 3, a);
	wxsign_sorted_sha1(y, 3, b);
	ck_assert_str_eq(a, b);
	/* SHA-1 of the empty string */
	wxsign_sorted_sha1(none, 0, a);
	ck_assert_str_eq(a, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	wxsign_sorted_sha1(none, 1, b);
	ck_assert_str_eq(a, b);
}
END_TEST

START_TEST(wxsign_msg_signature_vectors)
{
	char out[41];

	wxsign_msg_signature("123456", "1411525903", "461056294", wxsign_enc_wechatpy, out);
	ck_assert_str_eq(out, "74d92dfeb87ba7c714f89d98870ae5eb62dff26d");
	ck_assert(wxsign_msg_check("123456", "1411525903", "461056294", wxsign_enc_wechatpy,
	                           "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"));
	wxsign_msg_signature("123456", "1411525903", "461056294", wxsign_enc_wechatpy_reply, out);
	ck_assert_str_eq(out, "407518b7649e86ef23978113f92d27afa9296533");
	wxsign_msg_signature("pamtest", "1458300676", "260774613", wxsign_enc_easywechat, out);
	ck_assert_str_eq(out, "4f3ad57b6989f09f4eb392acce4f9e93942ed890");
	ck_assert(wxsign_msg_check("pamtest", "1458300676", "260774613", wxsign_enc_easywechat,
	                           "4f3ad57b6989f09f4eb392acce4f9e93942ed890"));
	/* another Encrypt text under the same signature */
	ck_assert(!wxsign_msg_check("pamtest", "1458300676", "260774613", wxsign_enc_wechatpy,
	                            "4f3ad57b6989f09f4eb392acce4f9e93942ed890"));
	ck_assert(!wxsign_msg_check("pamtest", "1458300676", "260774613", NULL,
	                            "4f3ad57b6989f09f4eb392acce4f9e93942ed890"));
}
END_TEST

START_TEST(wxsign_check_refuses)
{
	const char *good = "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff";

	/* upper-case hex is the same signature */
	ck_assert(
	    wxsign_check("test", "1410685589", "test", "F21891DE399B4E33A1A93C9A7B8A8FFFB5A443FF"));
	/* one digit off */
	ck_assert(!wxsign_check("test", "1410685589", "test",
	                        "f21891de399b4e33a1a93c9a7b8a8fffb5a443fe"));
	/* other inputs */
	ck_assert(!wxsign_check("test", "1410685590", "test", good));
	ck_assert(!wxsign_check("tesT", "1410685589", "test", good));
	/* short, long, empty, non-hex */
	ck_assert(
	    !wxsign_check("test", "1410685589", "test", "f21891de399b4e33a1a93c9a7b8a8fffb5a443f"));
	ck_assert(!wxsign_check("test", "1410685589", "test",
	                        "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff0"));
	ck_assert(!wxsign_check("test", "1410685589", "test", ""));
	ck_assert(!wxsign_check("test", "1410685589", "test",
	                        "g21891de399b4e33a1a93c9a7b8a8fffb5a443ff"));
	ck_assert(!wxsign_check("test", "1410685589", "test",
	                        " f21891de399b4e33a1a93c9a7b8a8fffb5a443f"));
	/* NULLs */
	ck_assert(!wxsign_check(NULL, "1410685589", "test", good));
	ck_assert(!wxsign_check("test", NULL, "test", good));
	ck_assert(!wxsign_check("test", "1410685589", NULL, good));
	ck_assert(!wxsign_check("test", "1410685589", "test", NULL));
}
END_TEST

START_TEST(wxsign_jssdk_vectors)
{
	char out[41];

	wxsign_jssdk(wxsign_ticket, "Wm3WZYTPz0wzccnW", "1414587457",
	             "http://mp.weixin.qq.com?params=value", out);
	ck_assert_str_eq(out, "0f9de62fce790f9a083d5c99e95740ceb90c27ed");
	wxsign_jssdk(wxsign_ticket, "Wm3WZYTPz0wzccnW", "1414587457", "http://mp.weixin.qq.com",
	             out);
	ck_assert_str_eq(out, "f4d90daf4b3bca3078ab155816175ba34c443a7b");
	wxsign_jssdk("mock-ticket", "mock-nonce", "1601234567", "https://www.easywechat.com/", out);
	ck_assert_str_eq(out, "22772d2fb393ab9f7f6a5a54168a566fbf1ab767");
}
END_TEST

START_TEST(wxsign_jssdk_fragment)
{
	char out[41];

	/* everything from the first '#' is left out */
	wxsign_jssdk(wxsign_ticket, "Wm3WZYTPz0wzccnW", "1414587457",
	             "http://mp.weixin.qq.com?params=value#/page?x=1#y", out);
	ck_assert_str_eq(out, "0f9de62fce790f9a083d5c99e95740ceb90c27ed");
	wxsign_jssdk("mock-ticket", "mock-nonce", "1601234567", "https://www.easywechat.com/#",
	             out);
	ck_assert_str_eq(out, "22772d2fb393ab9f7f6a5a54168a566fbf1ab767");
}
END_TEST

Suite *wxsign_suite(void)
{
	Suite *s = suite_create("wxsign");
	TCase *tc = tcase_create("sha1");

	tcase_add_test(tc, wxsign_oa_signature_vector);
	tcase_add_test(tc, wxsign_sorted_vector);
	tcase_add_test(tc, wxsign_sorted_bytewise);
	tcase_add_test(tc, wxsign_msg_signature_vectors);
	tcase_add_test(tc, wxsign_check_refuses);
	suite_add_tcase(s, tc);
	tc = tcase_create("jssdk");
	tcase_add_test(tc, wxsign_jssdk_vectors);
	tcase_add_test(tc, wxsign_jssdk_fragment);
	suite_add_tcase(s, tc);
	return s;
}
