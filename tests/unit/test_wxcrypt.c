/*
 * test_wxcrypt — the safe-mode cipher against the wechatpy, easywechat and WxJava vectors,
 * round trips over many lengths, and the refusal of every malformed ciphertext.
 */
#include <check.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/wechat/wxcrypt.h"
#include "lib/wechat/wxxml.h"
#include "tests/unit/suites.h"

#define WXCRYPT_T_KEY_WECHATPY "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
#define WXCRYPT_T_KEY_OFFICIAL "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

static const char wxcrypt_t_enc_wechatpy[] =
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPat"
    "fjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD"
    "8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0"
    "gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgW"
    "YEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnT"
    "bcX2e8K9QaNWHp91eBdCRxthuL0=";

static const char wxcrypt_t_plain_wechatpy[] =
    "<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n"
    "<FromUserName><![CDATA[messense]]></FromUserName>\n"
    "<CreateTime>1411525903</CreateTime>\n"
    "<MsgType><![CDATA[text]]></MsgType>\n"
    "<Content><![CDATA[test]]></Content>\n"
    "<MsgId>4363689963896700987</MsgId>\n"
    "<AgentID>1</AgentID>\n"
    "</xml>";

static const char wxcrypt_t_reply_wechatpy[] =
    "<xml>\n"
    "<MsgType><![CDATA[text]]></MsgType>\n"
    "<Content><![CDATA[test]]></Content>\n"
    "<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n"
    "<ToUserName><![CDATA[messense]]></ToUserName>\n"
    "<AgentID>1</AgentID>\n"
    "<CreateTime>1411525903</CreateTime>\n"
    "</xml>";

static const char wxcrypt_t_reply_enc_wechatpy[] =
    "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrlu"
    "LBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkM"
    "KCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnw"
    "KKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vW"
    "wi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3";

static const char wxcrypt_t_enc_easywechat[] =
    "rTNFcsut4LfGuAFKEUVVpwcaCOTJzOd9twZdIW910jb3k+iicx2uvhttIZ3Qg9Qgty3BEF2xbOrz6boT"
    "fb30dMomcgrkTqdFPwnhqbk+kIQ7rZiwny9D7NUrTgA5kpX3KsZvrXzUZyP2x9YOlxbgm572lmxKvM7H"
    "AQQhIQ/p6HBmoY30bGXFK0BtIu1pW9TjhOYrLQoU18nWYjWqDA1ynkmOytpv7QRI1P1+0NoxL0q2zO1D"
    "geSvnE8CZGo/o5Ap/WHK5W2RAsinpzN4/LjPnmB6U01I5XCoJoC0GK/yMZycd2Oh8Nq6+wBkC1U85oy0"
    "ktOY4nLvsQMLrourmMGdZHuTbqpeJ8Ao/5PRYJ+WBvRUwPfGKBL2+2IKZF49vAJqkcGWSHGE76ZN2erX"
    "euNazf/o9o3lIE3q739o4c8t9QGPe31GT2Go/rOz1BsrASwvauNulCh+++yz+CQzBIuikA==";

static const char wxcrypt_t_plain_easywechat[] =
    "<xml><URL><![CDATA[http://wechat.laravel.so/server]]></URL>"
    "<ToUserName><![CDATA[asdasdasd]]></ToUserName>"
    "<FromUserName><![CDATA[asdasdasdsadasd]]></FromUserName>"
    "<CreateTime>1234567898</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    "<Content><![CDATA[hello]]></Content><MsgId>12345</MsgId></xml>";

static unsigned char wxcrypt_t_key[32];

static void wxcrypt_t_official_key(void)
{
	ck_assert_int_eq(wxcrypt_key(WXCRYPT_T_KEY_OFFICIAL, wxcrypt_t_key), 0);
}

/* Base64 of AES-256-CBC (IV = key[0..16), no padding) of an arbitrary n-byte frame. */
static char *wxcrypt_t_raw(const unsigned char *frame, size_t n)
{
	unsigned char *ct = malloc(n + 32);
	char *b64 = malloc(n / 3 * 4 + 8);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0;

	ck_assert(ct != NULL && b64 != NULL && ctx != NULL);
	ck_assert_int_eq(
	    EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, wxcrypt_t_key, wxcrypt_t_key), 1);
	EVP_CIPHER_CTX_set_padding(ctx, 0);
	ck_assert_int_eq(EVP_EncryptUpdate(ctx, ct, &l1, frame, (int)n), 1);
	ck_assert_int_eq(EVP_EncryptFinal_ex(ctx, ct + l1, &l2), 1);
	EVP_EncodeBlock((unsigned char *)b64, ct, l1 + l2);
	EVP_CIPHER_CTX_free(ctx);
	free(ct);
	return b64;
}

/*
 * Decrypts a well-formed frame for "hi" + "wxapp" (27 bytes + 5 pad bytes) after bend has
 * altered it; expects want_msg/want_appid, or a refusal with cleared outputs when want_msg
 * is NULL.
 */
static void wxcrypt_t_frame(void (*bend)(unsigned char f[32]), const char *want_msg,
                            const char *want_appid)
{
	unsigned char f[32] = "0123456789abcdef\0\0\0\2hiwxapp";
	char *b64, *msg = NULL, *appid = NULL;
	size_t len = 99;

	memset(f + 27, 5, 5);
	if (bend != NULL)
		bend(f);
	b64 = wxcrypt_t_raw(f, sizeof(f));
	if (want_msg != NULL) {
		ck_assert_int_eq(wxcrypt_decrypt(wxcrypt_t_key, b64, &msg, &len, &appid), 0);
		ck_assert_str_eq(msg, want_msg);
		ck_assert_uint_eq(len, strlen(want_msg));
		ck_assert_str_eq(appid, want_appid);
	} else {
		ck_assert_int_eq(wxcrypt_decrypt(wxcrypt_t_key, b64, &msg, &len, &appid), -1);
		ck_assert_ptr_null(msg);
		ck_assert_ptr_null(appid);
		ck_assert_uint_eq(len, 0);
	}
	free(msg);
	free(appid);
	free(b64);
}

static void wxcrypt_t_pad_zero(unsigned char f[32])
{
	f[31] = 0;
}

static void wxcrypt_t_pad_33(unsigned char f[32])
{
	f[31] = 33;
}

static void wxcrypt_t_pad_mixed(unsigned char f[32])
{
	f[28] = 4;
}

static void wxcrypt_t_pad_whole(unsigned char f[32])
{
	/* 32 pad bytes leave no room for the 20-byte header */
	memset(f, 32, 32);
}

static void wxcrypt_t_len_beyond(unsigned char f[32])
{
	f[19] = 8; /* 8 > 2 + strlen("wxapp") = 7 */
}

static void wxcrypt_t_len_all(unsigned char f[32])
{
	f[19] = 7; /* the whole rest is the message, the receive id is empty */
}

static void wxcrypt_t_len_huge(unsigned char f[32])
{
	f[16] = 0xff;
}

static void wxcrypt_t_nul_in_id(unsigned char f[32])
{
	f[24] = '\0';
}

START_TEST(wxcrypt_key_decoding)
{
	unsigned char key[32];
	static const unsigned char official[8] = {0x69, 0xb7, 0x1d, 0x79, 0xf8, 0x21, 0x8a, 0x39};

	ck_assert_int_eq(wxcrypt_key(WXCRYPT_T_KEY_OFFICIAL, key), 0);
	/* base64 "abcdefghijk" → 69 b7 1d 79 f8 21 8a 39 */
	ck_assert_mem_eq(key, official, sizeof(official));
	ck_assert_int_eq(wxcrypt_key(WXCRYPT_T_KEY_WECHATPY, key), 0);
	ck_assert_int_eq(wxcrypt_key(NULL, key), -1);
	ck_assert_int_eq(wxcrypt_key("", key), -1);
	ck_assert_int_eq(wxcrypt_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEF", key), -1);
	ck_assert_int_eq(wxcrypt_key(WXCRYPT_T_KEY_OFFICIAL "=", key), -1);
	ck_assert_int_eq(wxcrypt_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDE=", key), -1);
	ck_assert_int_eq(wxcrypt_key("abcdefghijklmnopqrstuvwxyz0123456789ABCD-_", key), -1);
	ck_assert_int_eq(wxcrypt_key(" bcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", key), -1);
	/* a refused key leaves zeros, never a half-written key */
	for (size_t i = 0; i < sizeof(key); i++)
		ck_assert_uint_eq(key[i], 0);
}
END_TEST

START_TEST(wxcrypt_decrypt_wechatpy)
{
	unsigned char key[32];
	char *msg = NULL, *appid = NULL;
	size_t len = 0;

	ck_assert_int_eq(wxcrypt_key(WXCRYPT_T_KEY_WECHATPY, key), 0);
	ck_assert_int_eq(wxcrypt_decrypt(key, wxcrypt_t_enc_wechatpy, &msg, &len, &appid), 0);
	ck_assert_str_eq(appid, "wx49f0ab532d5d035a");
	ck_assert_str_eq(msg, wxcrypt_t_plain_wechatpy);
	ck_assert_uint_eq(len, strlen(wxcrypt_t_plain_wechatpy));
	free(msg);
	free(appid);
}
END_TEST

START_TEST(wxcrypt_decrypt_easywechat)
{
	char *msg = NULL, *appid = NULL;
	size_t len = 0;
	struct arena a;
	struct wxxml_msg m;

	ck_assert_int_eq(
	    wxcrypt_decrypt(wxcrypt_t_key, wxcrypt_t_enc_easywechat, &msg, &len, &appid), 0);
	ck_assert_str_eq(appid, "wxb11529c136998cb6");
	ck_assert_str_eq(msg, wxcrypt_t_plain_easywechat);
	ck_assert_uint_eq(len, strlen(msg));
	arena_init(&a, 1024);
	ck_assert_int_eq(wxxml_parse(&a, msg, len, &m), 0);
	ck_assert_str_eq(wxxml_get(&m, "Content"), "hello");
	ck_assert_str_eq(wxxml_get(&m, "ToUserName"), "asdasdasd");
	ck_assert_str_eq(wxxml_get(&m, "MsgType"), "text");
	arena_fini(&a);
	free(msg);
	free(appid);
}
END_TEST

START_TEST(wxcrypt_encrypt_wechatpy)
{
	unsigned char key[32];
	char *enc;

	ck_assert_int_eq(wxcrypt_key(WXCRYPT_T_KEY_WECHATPY, key), 0);
	enc = wxcrypt_encrypt(key, "wx49f0ab532d5d035a", wxcrypt_t_reply_wechatpy,
	                      strlen(wxcrypt_t_reply_wechatpy),
	                      (const unsigned char *)"1234567890123456");
	ck_assert_ptr_nonnull(enc);
	ck_assert_str_eq(enc, wxcrypt_t_reply_enc_wechatpy);
	free(enc);
}
END_TEST

START_TEST(wxcrypt_encrypt_official)
{
	static const char text[] = "我是中文abcd123";
	char *enc, *msg = NULL, *appid = NULL;
	size_t len = 0;

	enc = wxcrypt_encrypt(wxcrypt_t_key, "wxb11529c136998cb6", text, strlen(text),
	                      (const unsigned char *)"aaaabbbbccccdddd");
	ck_assert_ptr_nonnull(enc);
	ck_assert_str_eq(enc,
	                 "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd8"
	                 "32WzZGMhkP72vVOfg==");
	ck_assert_int_eq(wxcrypt_decrypt(wxcrypt_t_key, enc, &msg, &len, &appid), 0);
	ck_assert_str_eq(msg, text);
	ck_assert_str_eq(appid, "wxb11529c136998cb6");
	free(enc);
	free(msg);
	free(appid);
}
END_TEST

START_TEST(wxcrypt_round_trip)
{
	char buf[101];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i % 7 == 3 ? 0 : 'a' + i % 26); /* NUL bytes included */
	for (size_t n = 0; n <= 100; n++) {
		char *enc = wxcrypt_encrypt(wxcrypt_t_key, "wxb11529c136998cb6", buf, n, NULL);
		char *msg = NULL, *appid = NULL;
		size_t len = 12345, raw = 16 + 4 + n + 18;

		ck_assert_ptr_nonnull(enc);
		/* padded to the next multiple of 32, a full block when already aligned */
		ck_assert_uint_eq(strlen(enc), ((raw / 32 + 1) * 32 + 2) / 3 * 4);
		ck_assert_int_eq(wxcrypt_decrypt(wxcrypt_t_key, enc, &msg, &len, &appid), 0);
		ck_assert_uint_eq(len, n);
		ck_assert_mem_eq(msg, buf, n);
		ck_assert_int_eq(msg[n], '\0');
		ck_assert_str_eq(appid, "wxb11529c136998cb6");
		free(enc);
		free(msg);
		free(appid);
	}
}
END_TEST

START_TEST(wxcrypt_random_differs)
{
	char *a = wxcrypt_encrypt(wxcrypt_t_key, "wx1", "same", 4, NULL);
	char *b = wxcrypt_encrypt(wxcrypt_t_key, "wx1", "same", 4, NULL);

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_str_ne(a, b);
	free(a);
	free(b);
	ck_assert_ptr_null(wxcrypt_encrypt(wxcrypt_t_key, NULL, "x", 1, NULL));
	ck_assert_ptr_null(wxcrypt_encrypt(wxcrypt_t_key, "wx1", NULL, 1, NULL));
	ck_assert_ptr_null(wxcrypt_encrypt(wxcrypt_t_key, "wx1", "x", WXCRYPT_MAX_MSG + 1, NULL));
	a = wxcrypt_encrypt(wxcrypt_t_key, "wx1", NULL, 0, NULL);
	ck_assert_ptr_nonnull(a);
	free(a);
}
END_TEST

START_TEST(wxcrypt_frames)
{
	wxcrypt_t_frame(NULL, "hi", "wxapp");
	wxcrypt_t_frame(wxcrypt_t_len_all, "hiwxapp", "");
	wxcrypt_t_frame(wxcrypt_t_pad_zero, NULL, NULL);
	wxcrypt_t_frame(wxcrypt_t_pad_33, NULL, NULL);
	wxcrypt_t_frame(wxcrypt_t_pad_mixed, NULL, NULL);
	wxcrypt_t_frame(wxcrypt_t_pad_whole, NULL, NULL);
	wxcrypt_t_frame(wxcrypt_t_len_beyond, NULL, NULL);
	wxcrypt_t_frame(wxcrypt_t_len_huge, NULL, NULL);
	wxcrypt_t_frame(wxcrypt_t_nul_in_id, NULL, NULL);
}
END_TEST

/* Decrypts b64 under the wechatpy key and expects a refusal with cleared outputs. */
static void wxcrypt_t_refused(const char *b64)
{
	static char dummy;
	unsigned char key[32];
	char *msg = &dummy, *appid = &dummy;
	size_t len = 7;

	ck_assert_int_eq(wxcrypt_key(WXCRYPT_T_KEY_WECHATPY, key), 0);
	ck_assert_int_eq(wxcrypt_decrypt(key, b64, &msg, &len, &appid), -1);
	ck_assert_ptr_null(msg);
	ck_assert_ptr_null(appid);
	ck_assert_uint_eq(len, 0);
}

/* The first keep bytes of the wechatpy ciphertext with byte i XORed with x, as base64. */
static char *wxcrypt_t_cut(size_t keep, size_t i, unsigned char x)
{
	unsigned char ct[400];
	char *b64 = malloc(sizeof(ct) / 3 * 4 + 8);
	int n = EVP_DecodeBlock(ct, (const unsigned char *)wxcrypt_t_enc_wechatpy,
	                        (int)strlen(wxcrypt_t_enc_wechatpy));

	ck_assert_int_eq(n, 321); /* 320 bytes + the '=' */
	ct[i] ^= x;
	EVP_EncodeBlock((unsigned char *)b64, ct, (int)keep);
	return b64;
}

static char *wxcrypt_t_tamper(size_t i, unsigned char x)
{
	return wxcrypt_t_cut(320, i, x);
}

START_TEST(wxcrypt_tampered)
{
	char *b64;

	/* the untouched re-encoding still decrypts */
	b64 = wxcrypt_t_tamper(0, 0);
	ck_assert_str_eq(b64, wxcrypt_t_enc_wechatpy);
	free(b64);
	/* the last byte of the second-to-last block flips the pad byte 1 into 0x81 */
	b64 = wxcrypt_t_tamper(320 - 17, 0x80);
	wxcrypt_t_refused(b64);
	free(b64);
	/* the first byte of block 0 flips the top byte of the length field */
	b64 = wxcrypt_t_tamper(0, 0x80);
	wxcrypt_t_refused(b64);
	free(b64);
	/* the last block garbled: its pad byte is random-looking */
	b64 = wxcrypt_t_tamper(319, 0x01);
	wxcrypt_t_refused(b64);
	free(b64);
}
END_TEST

START_TEST(wxcrypt_truncated_and_bad_base64)
{
	static const size_t keeps[] = {288, 304, 256, 32, 16, 0};
	char buf[sizeof(wxcrypt_t_enc_wechatpy)];
	size_t n = strlen(wxcrypt_t_enc_wechatpy);
	char *b64;

	/* whole blocks less (the last kept block is not a padding block) and partial blocks */
	for (size_t i = 0; i < sizeof(keeps) / sizeof(keeps[0]); i++) {
		b64 = wxcrypt_t_cut(keeps[i], 0, 0);
		wxcrypt_t_refused(b64);
		free(b64);
	}
	/* the text cut short: no longer a multiple of 4 characters */
	memcpy(buf, wxcrypt_t_enc_wechatpy, n + 1);
	buf[n - 1] = '\0';
	wxcrypt_t_refused(buf);
	buf[n - 4] = '\0';
	wxcrypt_t_refused(buf);
	wxcrypt_t_refused("");
	wxcrypt_t_refused("====");
	wxcrypt_t_refused("AAAAAAAAAAAAAAAAAAAAAA==");
	wxcrypt_t_refused("!!!!");
	wxcrypt_t_refused("AA=A");
	/* a space or a line break inside the text */
	memcpy(buf, wxcrypt_t_enc_wechatpy, n + 1);
	buf[40] = ' ';
	wxcrypt_t_refused(buf);
	buf[40] = '\n';
	wxcrypt_t_refused(buf);
}
END_TEST

START_TEST(wxcrypt_wrong_key)
{
	char *msg = NULL;

	/* the wechatpy text under the official key: garbage padding */
	ck_assert_int_eq(wxcrypt_decrypt(wxcrypt_t_key, wxcrypt_t_enc_wechatpy, &msg, NULL, NULL),
	                 -1);
	ck_assert_ptr_null(msg);
}
END_TEST

START_TEST(wxcrypt_nulls)
{
	static char dummy;
	char *msg = &dummy, *appid = &dummy;
	size_t len = 3;

	ck_assert_int_eq(wxcrypt_decrypt(wxcrypt_t_key, NULL, &msg, &len, &appid), -1);
	ck_assert_ptr_null(msg);
	ck_assert_ptr_null(appid);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(wxcrypt_decrypt(wxcrypt_t_key, wxcrypt_t_enc_easywechat, NULL, NULL, NULL),
	                 -1);
	/* msg alone is enough */
	ck_assert_int_eq(wxcrypt_decrypt(wxcrypt_t_key, wxcrypt_t_enc_easywechat, &msg, NULL, NULL),
	                 0);
	ck_assert_str_eq(msg, wxcrypt_t_plain_easywechat);
	free(msg);
}
END_TEST

Suite *wxcrypt_suite(void)
{
	Suite *s = suite_create("wxcrypt");
	TCase *tc = tcase_create("vectors");

	tcase_add_checked_fixture(tc, wxcrypt_t_official_key, NULL);
	tcase_add_test(tc, wxcrypt_key_decoding);
	tcase_add_test(tc, wxcrypt_decrypt_wechatpy);
	tcase_add_test(tc, wxcrypt_decrypt_easywechat);
	tcase_add_test(tc, wxcrypt_encrypt_wechatpy);
	tcase_add_test(tc, wxcrypt_encrypt_official);
	suite_add_tcase(s, tc);
	tc = tcase_create("robustness");
	tcase_add_checked_fixture(tc, wxcrypt_t_official_key, NULL);
	tcase_add_test(tc, wxcrypt_round_trip);
	tcase_add_test(tc, wxcrypt_random_differs);
	tcase_add_test(tc, wxcrypt_frames);
	tcase_add_test(tc, wxcrypt_tampered);
	tcase_add_test(tc, wxcrypt_truncated_and_bad_base64);
	tcase_add_test(tc, wxcrypt_wrong_key);
	tcase_add_test(tc, wxcrypt_nulls);
	suite_add_tcase(s, tc);
	return s;
}
