/*
 * test_token — the strict JWT wrapper: round trips, and forged tokens (built here with
 * OpenSSL HMAC and our own base64url) that each pitfall of libjwt 1.10 must not let in.
 */
#include <check.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/token.h"
#include "tests/unit/suites.h"

#define TOK_ISS "aiphoto"
#define TOK_NOW ((time_t)1700000000)
#define TOK_BUF 16384

static const char tok_secret[] = UNIT_JWT_SECRET;

/* base64url without padding of n bytes of in into out (NUL-terminated); returns the length. */
static size_t tok_b64url(const void *in, size_t n, char *out)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *p = in;
	size_t o = 0, i = 0;

	for (; i + 2 < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = alphabet[v >> 6 & 63];
		out[o++] = alphabet[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)p[i] << 16;
		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
	} else if (n - i == 2) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = alphabet[v >> 6 & 63];
	}
	out[o] = '\0';
	return o;
}

/*
 * header.payload.signature into out (TOK_BUF bytes): signed with HMAC(md, key) when md is
 * non-NULL, else the third part is sig_text (may be "").
 */
static void tok_forge(char *out, const char *header, const char *payload, const EVP_MD *md,
                      const char *key, const char *sig_text)
{
	size_t n = tok_b64url(header, strlen(header), out);

	out[n++] = '.';
	n += tok_b64url(payload, strlen(payload), out + n);
	if (md != NULL) {
		unsigned char mac[EVP_MAX_MD_SIZE];
		unsigned maclen = 0;
		ck_assert_ptr_nonnull(
		    HMAC(md, key, (int)strlen(key), (const unsigned char *)out, n, mac, &maclen));
		out[n++] = '.';
		tok_b64url(mac, maclen, out + n);
	} else {
		snprintf(out + n, TOK_BUF - n, ".%s", sig_text);
	}
}

/* A payload with every claim right, then the given overrides appended as raw JSON members. */
static void tok_payload(char *out, size_t cap, const char *iss, const char *aud, const char *sub,
                        const char *times)
{
	snprintf(out, cap, "{\"iss\":\"%s\",\"aud\":\"%s\"%s%s%s,%s}", iss, aud,
	         sub ? ",\"sub\":\"" : "", sub ? sub : "", sub ? "\"" : "", times);
}

static const char tok_hs256[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

/* A correctly signed HS256 token over a payload built by tok_payload. */
static enum token_err tok_check(const char *iss, const char *aud, const char *sub,
                                const char *times, struct token_claims *c)
{
	char payload[1024], t[TOK_BUF];

	tok_payload(payload, sizeof(payload), iss, aud, sub, times);
	tok_forge(t, tok_hs256, payload, EVP_sha256(), tok_secret, NULL);
	return token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t, TOK_NOW, c);
}

static char tok_times_buf[256];

/* "iat":…,"nbf":…,"exp":… relative to TOK_NOW. */
static const char *tok_times(long iat, long nbf, long exp)
{
	snprintf(tok_times_buf, sizeof(tok_times_buf), "\"iat\":%ld,\"nbf\":%ld,\"exp\":%ld",
	         (long)TOK_NOW + iat, (long)TOK_NOW + nbf, (long)TOK_NOW + exp);
	return tok_times_buf;
}

START_TEST(token_round_trip_user)
{
	struct token_claims c;
	char *t = token_issue(tok_secret, strlen(tok_secret), TOK_ISS, 42, false, 3600, TOK_NOW);

	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t, TOK_NOW + 10, &c),
	                 TOKEN_OK);
	ck_assert_int_eq(c.sub, 42);
	ck_assert(!c.admin);
	ck_assert_int_eq(c.exp, (long)TOK_NOW + 3600);
	/* one second before exp still valid, at exp expired */
	ck_assert_int_eq(
	    token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t, TOK_NOW + 3599, &c), TOKEN_OK);
	ck_assert_int_eq(
	    token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t, TOK_NOW + 3600, &c),
	    TOKEN_EXPIRED);
	free(t);
}
END_TEST

START_TEST(token_round_trip_admin)
{
	struct token_claims c;
	char *t = token_issue_admin(tok_secret, strlen(tok_secret), "other-iss", 9007199254740993LL,
	                            ROLE_SUPPORT, 3, 60, TOK_NOW);

	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(token_verify(tok_secret, strlen(tok_secret), "other-iss", t, TOK_NOW, &c),
	                 TOKEN_OK);
	ck_assert_int_eq(c.sub, 9007199254740993LL);
	ck_assert(c.admin);
	ck_assert_int_eq(c.role, ROLE_SUPPORT);
	ck_assert_int_eq(c.session, 3);
	ck_assert_int_eq(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t, TOK_NOW, &c),
	                 TOKEN_BAD_ISSUER);
	free(t);
	/* no role, or no session: no admin token */
	ck_assert_ptr_null(token_issue_admin(tok_secret, strlen(tok_secret), TOK_ISS, 5, ROLE_NONE,
	                                     1, 60, TOK_NOW));
	ck_assert_ptr_null(token_issue_admin(tok_secret, strlen(tok_secret), TOK_ISS, 5, ROLE__MAX,
	                                     1, 60, TOK_NOW));
	ck_assert_ptr_null(token_issue_admin(tok_secret, strlen(tok_secret), TOK_ISS, 5, ROLE_OWNER,
	                                     0, 60, TOK_NOW));
}
END_TEST

/* Admin tokens carry an admin role and a session version; a user token neither. */
START_TEST(token_admin_role_claims)
{
	static const char *const bad[] = {
	    "",
	    ",\"role\":\"admin\",\"sv\":1", /* the shape issued before roles */
	    ",\"role\":\"Owner\",\"sv\":1",
	    ",\"role\":\"owner\\u0000x\",\"sv\":1",
	    ",\"role\":[\"owner\"],\"sv\":1",
	    ",\"role\":\"owner\"",
	    ",\"role\":\"owner\",\"sv\":0",
	    ",\"role\":\"owner\",\"sv\":\"1\"",
	    ",\"role\":\"owner\",\"sv\":1.5",
	};
	struct token_claims c;
	char times[512];
	char *legacy;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(times, sizeof(times), "%s%s", tok_times(0, 0, 3600), bad[i]);
		ck_assert_msg(tok_check(TOK_ISS, "admin", "3", times, &c) == TOKEN_BAD_ROLE,
		              "claims %s", bad[i]);
		ck_assert_int_eq(c.sub, 0);
	}
	snprintf(times, sizeof(times), "%s,\"role\":\"viewer\",\"sv\":9", tok_times(0, 0, 3600));
	ck_assert_int_eq(tok_check(TOK_ISS, "admin", "3", times, &c), TOKEN_OK);
	ck_assert_int_eq(c.role, ROLE_VIEWER);
	ck_assert_int_eq(c.session, 9);
	/* a user token's role claim means nothing: no admin role comes of it */
	snprintf(times, sizeof(times), "%s,\"role\":\"owner\",\"sv\":1", tok_times(0, 0, 3600));
	ck_assert_int_eq(tok_check(TOK_ISS, "user", "3", times, &c), TOKEN_OK);
	ck_assert(!c.admin);
	ck_assert_int_eq(c.role, ROLE_NONE);
	/* token_issue(admin) makes the old shape, which is refused */
	legacy = token_issue(tok_secret, strlen(tok_secret), TOK_ISS, 5, true, 60, TOK_NOW);
	ck_assert_ptr_nonnull(legacy);
	ck_assert_int_eq(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, legacy, TOK_NOW, &c),
	                 TOKEN_BAD_ROLE);
	free(legacy);
}
END_TEST

/* Each channel's token carries its channel and appid through verify and the cache. */
START_TEST(token_round_trip_channels)
{
	static const struct {
		enum token_channel ch;
		const char *name, *appid;
	} cases[] = {
	    {TOKEN_CHANNEL_OA, "oa", "wx0123456789abcdef"},
	    {TOKEN_CHANNEL_MP, "mp", "wxfedcba9876543210"},
	    {TOKEN_CHANNEL_WEB, "web", "wx0123456789abcdef"},
	    {TOKEN_CHANNEL_MP, "mp", "wx_sim-MP_000000000000000000001"},
	};
	struct token_claims c;
	size_t n = strlen(tok_secret);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *t = token_issue_user(tok_secret, n, TOK_ISS, 300 + (int64_t)i, cases[i].ch,
		                           cases[i].appid, 3600, TOK_NOW);
		ck_assert_ptr_nonnull(t);
		ck_assert_int_eq(token_verify(tok_secret, n, TOK_ISS, t, TOK_NOW, &c), TOKEN_OK);
		ck_assert_int_eq(c.sub, 300 + (int64_t)i);
		ck_assert(!c.admin);
		ck_assert_int_eq(c.channel, cases[i].ch);
		ck_assert_str_eq(token_channel_name(c.channel), cases[i].name);
		ck_assert_str_eq(c.appid, cases[i].appid);
		/* the first sight fills the cache, the second is a hit with the same claims */
		for (int round = 0; round < 2; round++) {
			memset(&c, 0, sizeof(c));
			ck_assert_int_eq(
			    token_verify_cached(tok_secret, n, TOK_ISS, t, TOK_NOW, &c), TOKEN_OK);
			ck_assert_int_eq(c.channel, cases[i].ch);
			ck_assert_str_eq(c.appid, cases[i].appid);
		}
		free(t);
	}
	/* a channel without an appid (its app not configured when issued) */
	{
		char *t = token_issue_user(tok_secret, n, TOK_ISS, 9, TOKEN_CHANNEL_WEB, NULL, 60,
		                           TOK_NOW);
		ck_assert_ptr_nonnull(t);
		ck_assert_int_eq(token_verify(tok_secret, n, TOK_ISS, t, TOK_NOW, &c), TOKEN_OK);
		ck_assert_int_eq(c.channel, TOKEN_CHANNEL_WEB);
		ck_assert_str_eq(c.appid, "");
		free(t);
	}
}
END_TEST

/* Tokens issued before channels (no channel, no appid claim) keep working, as channel oa;
 * admin tokens have no channel. */
START_TEST(token_old_tokens_are_oa)
{
	struct token_claims c;
	size_t n = strlen(tok_secret);
	char *t = token_issue(tok_secret, n, TOK_ISS, 42, false, 3600, TOK_NOW);
	char *a = token_issue_admin(tok_secret, n, TOK_ISS, 7, ROLE_OWNER, 1, 3600, TOK_NOW);

	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_null(strstr(t, "Y2hhbm5lbC")); /* no base64 of "channel" in it */
	ck_assert_int_eq(token_verify(tok_secret, n, TOK_ISS, t, TOK_NOW, &c), TOKEN_OK);
	ck_assert_int_eq(c.sub, 42);
	ck_assert_int_eq(c.channel, TOKEN_CHANNEL_OA);
	ck_assert_str_eq(c.appid, "");
	ck_assert_int_eq(token_verify_cached(tok_secret, n, TOK_ISS, t, TOK_NOW, &c), TOKEN_OK);
	ck_assert_int_eq(c.channel, TOKEN_CHANNEL_OA);
	/* a hand-made payload of the old shape, exactly as the old issuer wrote it */
	ck_assert_int_eq(tok_check(TOK_ISS, "user", "5", tok_times(0, 0, 60), &c), TOKEN_OK);
	ck_assert_int_eq(c.channel, TOKEN_CHANNEL_OA);
	ck_assert_str_eq(c.appid, "");
	ck_assert_int_eq(token_verify(tok_secret, n, TOK_ISS, a, TOK_NOW, &c), TOKEN_OK);
	ck_assert(c.admin);
	ck_assert_int_eq(c.channel, TOKEN_CHANNEL_NONE);
	ck_assert_str_eq(c.appid, "");
	free(t);
	free(a);
}
END_TEST

/* A signed user token whose channel or appid claim is not one we issue is refused. */
static const char *const tok_bad_channels[] = {
    "\"channel\":\"xx\"",
    "\"channel\":\"OA\"",
    "\"channel\":\"\"",
    "\"channel\":5",
    "\"channel\":null",
    "\"channel\":[\"mp\"]",
    "\"channel\":\"mp\\u0000\"",
    "\"channel\":\"mp\",\"appid\":\"\"",
    "\"channel\":\"mp\",\"appid\":\"wx0123456789abcdef0123456789abcdef0\"",
    "\"channel\":\"mp\",\"appid\":\"wx/../\"",
    "\"channel\":\"mp\",\"appid\":\"wx 01\"",
    "\"channel\":\"mp\",\"appid\":\"wx01\\u0000\"",
    "\"channel\":\"mp\",\"appid\":1",
    "\"appid\":{}",
};

START_TEST(token_bad_channel)
{
	struct token_claims c;
	char times[512];

	snprintf(times, sizeof(times), "%s,%s", tok_times(0, 0, 60), tok_bad_channels[_i]);
	ck_assert_int_eq(tok_check(TOK_ISS, "user", "1", times, &c), TOKEN_BAD_CHANNEL);
	ck_assert_int_eq(c.sub, 0);
	ck_assert_int_eq(c.channel, TOKEN_CHANNEL_NONE);
	/* an admin token's channel claims are not read */
	snprintf(times, sizeof(times), "%s,%s,\"role\":\"viewer\",\"sv\":1", tok_times(0, 0, 60),
	         tok_bad_channels[_i]);
	ck_assert_int_eq(tok_check(TOK_ISS, "admin", "1", times, &c), TOKEN_OK);
	ck_assert_int_eq(c.channel, TOKEN_CHANNEL_NONE);
}
END_TEST

START_TEST(token_channel_names_and_issue_arguments)
{
	size_t n = strlen(tok_secret);

	static const struct {
		const char *name;
		enum token_channel ch;
	} names[] = {{"oa", TOKEN_CHANNEL_OA},   {"mp", TOKEN_CHANNEL_MP},
	             {"web", TOKEN_CHANNEL_WEB}, {"", TOKEN_CHANNEL_NONE},
	             {"MP", TOKEN_CHANNEL_NONE}, {NULL, TOKEN_CHANNEL_NONE}};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		ck_assert_int_eq(token_channel_parse(names[i].name), names[i].ch);
		if (names[i].name != NULL && names[i].ch != TOKEN_CHANNEL_NONE)
			ck_assert_str_eq(token_channel_name(names[i].ch), names[i].name);
	}
	ck_assert_str_eq(token_channel_name(TOKEN_CHANNEL_NONE), "");
	ck_assert_str_eq(token_channel_name(TOKEN_CHANNEL__MAX), "");
	ck_assert_ptr_null(
	    token_issue_user(tok_secret, n, TOK_ISS, 1, TOKEN_CHANNEL_NONE, NULL, 60, TOK_NOW));
	ck_assert_ptr_null(
	    token_issue_user(tok_secret, n, TOK_ISS, 1, TOKEN_CHANNEL__MAX, NULL, 60, TOK_NOW));
	ck_assert_ptr_null(
	    token_issue_user(tok_secret, n, TOK_ISS, 1, TOKEN_CHANNEL_MP, "", 60, TOK_NOW));
	ck_assert_ptr_null(token_issue_user(tok_secret, n, TOK_ISS, 1, TOKEN_CHANNEL_MP,
	                                    "wx\"injected", 60, TOK_NOW));
	ck_assert_ptr_null(token_issue_user(tok_secret, n, TOK_ISS, 1, TOKEN_CHANNEL_MP,
	                                    "wx0123456789abcdef0123456789abcdef0", 60, TOK_NOW));
	ck_assert_ptr_null(
	    token_issue_user(tok_secret, 31, TOK_ISS, 1, TOKEN_CHANNEL_MP, "wx1", 60, TOK_NOW));
}
END_TEST

START_TEST(token_issue_refuses_bad_arguments)
{
	ck_assert_ptr_null(token_issue(tok_secret, 31, TOK_ISS, 1, false, 60, TOK_NOW));
	ck_assert_ptr_null(token_issue(NULL, 0, TOK_ISS, 1, false, 60, TOK_NOW));
	ck_assert_ptr_null(
	    token_issue(tok_secret, strlen(tok_secret), TOK_ISS, 0, false, 60, TOK_NOW));
	ck_assert_ptr_null(
	    token_issue(tok_secret, strlen(tok_secret), TOK_ISS, -5, false, 60, TOK_NOW));
	ck_assert_ptr_null(
	    token_issue(tok_secret, strlen(tok_secret), TOK_ISS, 1, false, 0, TOK_NOW));
}
END_TEST

START_TEST(token_weak_secret)
{
	struct token_claims c;
	char *t = token_issue(tok_secret, strlen(tok_secret), TOK_ISS, 1, false, 60, TOK_NOW);

	ck_assert_ptr_nonnull(t);
	/* the first 31 bytes of the right secret: too short, whatever the token */
	ck_assert_int_eq(token_verify(tok_secret, 31, TOK_ISS, t, TOK_NOW, &c), TOKEN_WEAK_SECRET);
	ck_assert_int_eq(token_verify(tok_secret, 32, TOK_ISS, t, TOK_NOW, &c),
	                 TOKEN_BAD_SIGNATURE);
	ck_assert_int_eq(token_verify(NULL, 0, TOK_ISS, t, TOK_NOW, &c), TOKEN_WEAK_SECRET);
	free(t);
}
END_TEST

/* libjwt 1.10 accepts any HS256-looking token under an empty key: we never get that far. */
START_TEST(token_empty_key_cannot_bite)
{
	struct token_claims c;
	char payload[512], t[TOK_BUF];

	tok_payload(payload, sizeof(payload), TOK_ISS, "user", "1", tok_times(0, 0, 3600));
	tok_forge(t, tok_hs256, payload, NULL, NULL, "Z2FyYmFnZQ");
	ck_assert_int_eq(token_verify("", 0, TOK_ISS, t, TOK_NOW, &c), TOKEN_WEAK_SECRET);
	ck_assert_int_eq(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t, TOK_NOW, &c),
	                 TOKEN_BAD_SIGNATURE);
}
END_TEST

START_TEST(token_alg_none)
{
	struct token_claims c;
	char payload[512], t[TOK_BUF];
	static const char none[] = "{\"alg\":\"none\",\"typ\":\"JWT\"}";

	tok_payload(payload, sizeof(payload), TOK_ISS, "user", "1", tok_times(0, 0, 3600));
	tok_forge(t, none, payload, NULL, NULL, "");
	ck_assert_int_ne(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t, TOK_NOW, &c),
	                 TOKEN_OK);
	ck_assert_int_eq(c.sub, 0);
	tok_forge(t, none, payload, NULL, NULL, "AAAA");
	ck_assert_int_ne(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t, TOK_NOW, &c),
	                 TOKEN_OK);
	ck_assert_int_eq(c.sub, 0);
	/* alg none "signed" with our key is still not HS256 */
	tok_forge(t, none, payload, EVP_sha256(), tok_secret, NULL);
	ck_assert_int_ne(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t, TOK_NOW, &c),
	                 TOKEN_OK);
}
END_TEST

START_TEST(token_hs512_bad_alg)
{
	struct token_claims c;
	char payload[512], t[TOK_BUF];

	tok_payload(payload, sizeof(payload), TOK_ISS, "user", "1", tok_times(0, 0, 3600));
	tok_forge(t, "{\"alg\":\"HS512\",\"typ\":\"JWT\"}", payload, EVP_sha512(), tok_secret,
	          NULL);
	ck_assert_int_eq(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t, TOK_NOW, &c),
	                 TOKEN_BAD_ALG);
	tok_forge(t, "{\"alg\":\"HS384\"}", payload, EVP_sha384(), tok_secret, NULL);
	ck_assert_int_eq(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t, TOK_NOW, &c),
	                 TOKEN_BAD_ALG);
	/* HS256 spelled otherwise is not the pinned algorithm */
	tok_forge(t, "{\"alg\":\"hs256\",\"typ\":\"JWT\"}", payload, EVP_sha256(), tok_secret,
	          NULL);
	ck_assert_int_eq(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t, TOK_NOW, &c),
	                 TOKEN_BAD_ALG);
}
END_TEST

START_TEST(token_forged_ok)
{
	struct token_claims c;
	char admin_times[512];

	/* the forging helpers themselves produce a token the wrapper accepts */
	ck_assert_int_eq(tok_check(TOK_ISS, "user", "77", tok_times(0, 0, 3600), &c), TOKEN_OK);
	ck_assert_int_eq(c.sub, 77);
	snprintf(admin_times, sizeof(admin_times), "%s,\"role\":\"owner\",\"sv\":1",
	         tok_times(0, 0, 3600));
	ck_assert_int_eq(tok_check(TOK_ISS, "admin", "3", admin_times, &c), TOKEN_OK);
	ck_assert(c.admin);
	/* nbf and iat are optional */
	ck_assert_int_eq(tok_check(TOK_ISS, "user", "1", "\"exp\":1700003600", &c), TOKEN_OK);
}
END_TEST

START_TEST(token_tampered_payload)
{
	struct token_claims c;
	char payload[512], evil[512], t[TOK_BUF], t2[TOK_BUF];
	char *dot1, *dot2;

	tok_payload(payload, sizeof(payload), TOK_ISS, "user", "1", tok_times(0, 0, 3600));
	tok_payload(evil, sizeof(evil), TOK_ISS, "admin", "1", tok_times(0, 0, 3600));
	tok_forge(t, tok_hs256, payload, EVP_sha256(), tok_secret, NULL);
	tok_forge(t2, tok_hs256, evil, NULL, NULL, "x");
	/* keep t's signature on t2's payload */
	dot1 = strrchr(t, '.');
	dot2 = strrchr(t2, '.');
	snprintf(dot2, TOK_BUF - (size_t)(dot2 - t2), "%s", dot1);
	ck_assert_int_eq(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t2, TOK_NOW, &c),
	                 TOKEN_BAD_SIGNATURE);
	/* and a flipped signature character */
	dot1[3] = dot1[3] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t, TOK_NOW, &c),
	                 TOKEN_BAD_SIGNATURE);
}
END_TEST

START_TEST(token_other_secret)
{
	struct token_claims c;
	char payload[512], t[TOK_BUF];
	static const char other[] = "another-secret-of-forty-bytes-0123456789";

	tok_payload(payload, sizeof(payload), TOK_ISS, "user", "1", tok_times(0, 0, 3600));
	tok_forge(t, tok_hs256, payload, EVP_sha256(), other, NULL);
	ck_assert_int_eq(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t, TOK_NOW, &c),
	                 TOKEN_BAD_SIGNATURE);
	ck_assert_int_eq(token_verify(other, strlen(other), TOK_ISS, t, TOK_NOW, &c), TOKEN_OK);
}
END_TEST

START_TEST(token_time_claims)
{
	struct token_claims c;

	ck_assert_int_eq(tok_check(TOK_ISS, "user", "1", tok_times(-7200, -7200, -1), &c),
	                 TOKEN_EXPIRED);
	ck_assert_int_eq(tok_check(TOK_ISS, "user", "1", tok_times(-7200, -7200, 0), &c),
	                 TOKEN_EXPIRED);
	ck_assert_int_eq(tok_check(TOK_ISS, "user", "1", "\"iat\":1700000000", &c), TOKEN_EXPIRED);
	ck_assert_int_eq(tok_check(TOK_ISS, "user", "1", "\"exp\":\"1800000000\"", &c),
	                 TOKEN_EXPIRED);
	/* nbf: beyond the leeway refused, within it accepted */
	ck_assert_int_eq(tok_check(TOK_ISS, "user", "1", tok_times(0, TOKEN_LEEWAY + 1, 3600), &c),
	                 TOKEN_NOT_YET_VALID);
	ck_assert_int_eq(tok_check(TOK_ISS, "user", "1", tok_times(0, 600, 3600), &c),
	                 TOKEN_NOT_YET_VALID);
	ck_assert_int_eq(tok_check(TOK_ISS, "user", "1", tok_times(0, TOKEN_LEEWAY, 3600), &c),
	                 TOKEN_OK);
	ck_assert_int_eq(tok_check(TOK_ISS, "user", "1", tok_times(0, 10, 3600), &c), TOKEN_OK);
	/* iat in the future */
	ck_assert_int_eq(tok_check(TOK_ISS, "user", "1", tok_times(600, 0, 3600), &c),
	                 TOKEN_NOT_YET_VALID);
	ck_assert_int_eq(tok_check(TOK_ISS, "user", "1", tok_times(TOKEN_LEEWAY, 0, 3600), &c),
	                 TOKEN_OK);
}
END_TEST

START_TEST(token_issuer_audience)
{
	struct token_claims c;
	const char *times = tok_times(0, 0, 3600);

	ck_assert_int_eq(tok_check("evil", "user", "1", times, &c), TOKEN_BAD_ISSUER);
	ck_assert_int_eq(tok_check("", "user", "1", times, &c), TOKEN_BAD_ISSUER);
	ck_assert_int_eq(tok_check("aiphotoX", "user", "1", times, &c), TOKEN_BAD_ISSUER);
	ck_assert_int_eq(tok_check(TOK_ISS, "other", "1", times, &c), TOKEN_BAD_AUDIENCE);
	ck_assert_int_eq(tok_check(TOK_ISS, "User", "1", times, &c), TOKEN_BAD_AUDIENCE);
	ck_assert_int_eq(tok_check(TOK_ISS, "", "1", times, &c), TOKEN_BAD_AUDIENCE);
}
END_TEST

START_TEST(token_missing_iss_aud)
{
	struct token_claims c;
	char t[TOK_BUF];

	tok_forge(t, tok_hs256, "{\"aud\":\"user\",\"sub\":\"1\",\"exp\":1700003600}", EVP_sha256(),
	          tok_secret, NULL);
	ck_assert_int_eq(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t, TOK_NOW, &c),
	                 TOKEN_BAD_ISSUER);
	tok_forge(t, tok_hs256, "{\"iss\":\"aiphoto\",\"sub\":\"1\",\"exp\":1700003600}",
	          EVP_sha256(), tok_secret, NULL);
	ck_assert_int_eq(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t, TOK_NOW, &c),
	                 TOKEN_BAD_AUDIENCE);
	tok_forge(t, tok_hs256,
	          "{\"iss\":\"aiphoto\",\"aud\":[\"user\"],\"sub\":\"1\",\"exp\":1700003600}",
	          EVP_sha256(), tok_secret, NULL);
	ck_assert_int_eq(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t, TOK_NOW, &c),
	                 TOKEN_BAD_AUDIENCE);
}
END_TEST

static const char *const tok_bad_subjects[] = {
    "0", "-1", "12x", "", " 1", "01", "+1", "1.5", "99999999999999999999",
};

START_TEST(token_bad_subject)
{
	struct token_claims c;

	ck_assert_int_eq(
	    tok_check(TOK_ISS, "user", tok_bad_subjects[_i], tok_times(0, 0, 3600), &c),
	    TOKEN_BAD_SUBJECT);
	ck_assert_int_eq(c.sub, 0);
}
END_TEST

START_TEST(token_subject_missing_or_number)
{
	struct token_claims c;
	char t[TOK_BUF];

	ck_assert_int_eq(tok_check(TOK_ISS, "user", NULL, tok_times(0, 0, 3600), &c),
	                 TOKEN_BAD_SUBJECT);
	tok_forge(t, tok_hs256,
	          "{\"iss\":\"aiphoto\",\"aud\":\"user\",\"sub\":5,\"exp\":1700003600}",
	          EVP_sha256(), tok_secret, NULL);
	ck_assert_int_eq(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t, TOK_NOW, &c),
	                 TOKEN_BAD_SUBJECT);
}
END_TEST

START_TEST(token_length_cap)
{
	struct token_claims c;
	char payload[TOK_BUF], t[TOK_BUF];
	char pad[3400];
	size_t padlen;

	/* a pad claim sized so the token lands just under, then just over, the cap */
	for (padlen = 2800; padlen < 3300; padlen++) {
		memset(pad, 'p', padlen);
		pad[padlen] = '\0';
		snprintf(payload, sizeof(payload),
		         "{\"iss\":\"aiphoto\",\"aud\":\"user\",\"sub\":\"1\",\"exp\":1700003600,"
		         "\"pad\":\"%s\"}",
		         pad);
		tok_forge(t, tok_hs256, payload, EVP_sha256(), tok_secret, NULL);
		if (strlen(t) > TOKEN_MAX_LEN)
			break;
		ck_assert_int_eq(
		    token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t, TOK_NOW, &c),
		    TOKEN_OK);
	}
	ck_assert_uint_gt(strlen(t), TOKEN_MAX_LEN);
	ck_assert_int_eq(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t, TOK_NOW, &c),
	                 TOKEN_MALFORMED);
}
END_TEST

START_TEST(token_malformed_shapes)
{
	struct token_claims c;
	char t[TOK_BUF], bad[TOK_BUF + 8];
	static const char *const shapes[] = {
	    "",     "abc",     "a.b",    "a.b.c.d",       ".b.c",    "a..c",
	    "a.b.", "a b.c.d", "a.b.c=", "eyJ+.eyJ/.abc", "a.b.c\n",
	};

	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		ck_assert_msg(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, shapes[i],
		                           TOK_NOW, &c) == TOKEN_MALFORMED,
		              "shape %zu", i);
	ck_assert_int_eq(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, NULL, TOK_NOW, &c),
	                 TOKEN_MALFORMED);
	/* a valid token with padding or a standard-alphabet character added */
	ck_assert_int_eq(tok_check(TOK_ISS, "user", "1", tok_times(0, 0, 3600), &c), TOKEN_OK);
	tok_forge(t, tok_hs256,
	          "{\"iss\":\"aiphoto\",\"aud\":\"user\",\"sub\":\"1\",\"exp\":1700003600}",
	          EVP_sha256(), tok_secret, NULL);
	snprintf(bad, sizeof(bad), "%s=", t);
	ck_assert_int_eq(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, bad, TOK_NOW, &c),
	                 TOKEN_MALFORMED);
	snprintf(bad, sizeof(bad), "+%s", t);
	ck_assert_int_eq(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, bad, TOK_NOW, &c),
	                 TOKEN_MALFORMED);
	/* well-formed characters, but the payload is not JSON */
	tok_forge(t, tok_hs256, "not json", EVP_sha256(), tok_secret, NULL);
	ck_assert_int_ne(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t, TOK_NOW, &c),
	                 TOKEN_OK);
}
END_TEST

START_TEST(token_err_strings)
{
	for (int e = TOKEN_OK; e <= TOKEN_BAD_CHANNEL; e++) {
		ck_assert_ptr_nonnull(token_err_str((enum token_err)e));
		ck_assert_str_ne(token_err_str((enum token_err)e), "unknown");
	}
	ck_assert_str_eq(token_err_str((enum token_err)99), "unknown");
}
END_TEST

START_TEST(token_cache_contract)
{
	struct token_claims c;
	size_t n = strlen(tok_secret);
	char *t = token_issue(tok_secret, n, TOK_ISS, 77, false, 100, TOK_NOW);
	char *bad;

	ck_assert_ptr_nonnull(t);
	/* first sight is verified, the second comes from the cache: same claims */
	ck_assert_int_eq(token_verify_cached(tok_secret, n, TOK_ISS, t, TOK_NOW, &c), TOKEN_OK);
	ck_assert_int_eq(c.sub, 77);
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(token_verify_cached(tok_secret, n, TOK_ISS, t, TOK_NOW + 1, &c), TOKEN_OK);
	ck_assert_int_eq(c.sub, 77);
	ck_assert_int_eq(c.exp, (long)TOK_NOW + 100);
	/* a cached token still expires */
	ck_assert_int_eq(token_verify_cached(tok_secret, n, TOK_ISS, t, TOK_NOW + 100, &c),
	                 TOKEN_EXPIRED);
	ck_assert_int_eq(c.sub, 0);
	/* a token that differs in one signature byte is verified, not matched */
	ck_assert_int_eq(token_verify_cached(tok_secret, n, TOK_ISS, t, TOK_NOW, &c), TOKEN_OK);
	bad = strdup(t);
	bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(token_verify_cached(tok_secret, n, TOK_ISS, bad, TOK_NOW, &c),
	                 TOKEN_BAD_SIGNATURE);
	/* refusals are never cached, and a weak secret is refused before the cache */
	ck_assert_int_eq(token_verify_cached(tok_secret, n, TOK_ISS, bad, TOK_NOW, &c),
	                 TOKEN_BAD_SIGNATURE);
	ck_assert_int_eq(token_verify_cached("short", 5, TOK_ISS, t, TOK_NOW, &c),
	                 TOKEN_WEAK_SECRET);
	free(bad);
	free(t);
}
END_TEST

/* The header of every token libjwt issues for us is the one value token_verify accepts. */
START_TEST(token_issued_header_is_the_pinned_one)
{
	char *t = token_issue(tok_secret, strlen(tok_secret), TOK_ISS, 5, true, 60, TOK_NOW);
	char h[128];

	ck_assert_ptr_nonnull(t);
	tok_b64url(tok_hs256, strlen(tok_hs256), h);
	ck_assert_str_eq(h, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9");
	ck_assert_int_eq(strncmp(t, h, strlen(h)), 0);
	ck_assert_int_eq(t[strlen(h)], '.');
	free(t);
}
END_TEST

/* Correctly signed HS256 tokens whose header is not byte for byte ours are refused. */
START_TEST(token_other_headers)
{
	struct token_claims c;
	char payload[512], t[TOK_BUF];
	static const char *const headers[] = {
	    "{\"typ\":\"JWT\",\"alg\":\"HS256\"}",
	    "{\"alg\":\"HS256\"}",
	    "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"1\"}",
	    "{\"alg\": \"HS256\",\"typ\":\"JWT\"}",
	    "{\"alg\":\"HS256\",\"typ\":\"JWT\"} ",
	    "{\"alg\":\"HS256\",\"alg\":\"HS256\",\"typ\":\"JWT\"}",
	    "{\"alg\":\"HS256\",\"typ\":\"jwt\"}",
	};

	tok_payload(payload, sizeof(payload), TOK_ISS, "user", "1", tok_times(0, 0, 3600));
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		tok_forge(t, headers[i], payload, EVP_sha256(), tok_secret, NULL);
		ck_assert_msg(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t, TOK_NOW,
		                           &c) == TOKEN_BAD_ALG,
		              "header %zu", i);
		ck_assert_int_eq(c.sub, 0);
	}
}
END_TEST

/* The signature is checked before the payload is decoded: an unsigned payload that is not
 * JSON is a bad signature, a signed one is malformed. */
START_TEST(token_signature_before_payload)
{
	struct token_claims c;
	char t[TOK_BUF];
	static const char *const payloads[] = {
	    "not json", "[1]", "\"str\"", "{\"iss\":\"aiphoto\"} x", "{\"iss\":",
	};

	for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
		tok_forge(t, tok_hs256, payloads[i], NULL, NULL,
		          "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
		ck_assert_msg(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t, TOK_NOW,
		                           &c) == TOKEN_BAD_SIGNATURE,
		              "unsigned payload %zu", i);
		tok_forge(t, tok_hs256, payloads[i], EVP_sha256(), tok_secret, NULL);
		ck_assert_msg(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t, TOK_NOW,
		                           &c) == TOKEN_MALFORMED,
		              "signed payload %zu", i);
	}
}
END_TEST

/* A NUL inside a signed string claim does not end the comparison. */
START_TEST(token_nul_in_claims)
{
	struct token_claims c;

	ck_assert_int_eq(tok_check("aiphoto\\u0000evil", "user", "1", tok_times(0, 0, 3600), &c),
	                 TOKEN_BAD_ISSUER);
	ck_assert_int_eq(tok_check(TOK_ISS, "user\\u0000x", "1", tok_times(0, 0, 3600), &c),
	                 TOKEN_BAD_AUDIENCE);
	ck_assert_int_eq(tok_check(TOK_ISS, "user", "5\\u00009", tok_times(0, 0, 3600), &c),
	                 TOKEN_BAD_SUBJECT);
	ck_assert_int_eq(tok_check(TOK_ISS, "user", "1", "\"exp\":1.8e9", &c), TOKEN_EXPIRED);
	ck_assert_int_eq(tok_check(TOK_ISS, "user", "1", "\"exp\":99999999999999999999", &c),
	                 TOKEN_EXPIRED);
}
END_TEST

/* Every one-character change of a token libjwt issued is refused. */
START_TEST(token_every_character_changed)
{
	struct token_claims c;
	char *t = token_issue(tok_secret, strlen(tok_secret), TOK_ISS, 42, false, 3600, TOK_NOW);
	static const char subst[] = {'A', 'B', 'f', '-', '_', '.'};
	size_t n;

	ck_assert_ptr_nonnull(t);
	n = strlen(t);
	for (size_t i = 0; i < n; i++) {
		char keep = t[i];
		for (size_t k = 0; k < sizeof(subst); k++) {
			if (subst[k] == keep)
				continue;
			t[i] = subst[k];
			ck_assert_msg(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t,
			                           TOK_NOW, &c) != TOKEN_OK,
			              "position %zu -> %c", i, subst[k]);
			ck_assert_int_eq(c.sub, 0);
		}
		t[i] = keep;
	}
	ck_assert_int_eq(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t, TOK_NOW, &c),
	                 TOKEN_OK);
	/* and truncated or extended by one character */
	t[n - 1] = '\0';
	ck_assert_int_ne(token_verify(tok_secret, strlen(tok_secret), TOK_ISS, t, TOK_NOW, &c),
	                 TOKEN_OK);
	free(t);
}
END_TEST

/* Cached tokens were verified under one secret and issuer: others do not find them. */
START_TEST(token_cache_follows_the_key)
{
	struct token_claims c;
	size_t n = strlen(tok_secret);
	static const char other[] = "another-secret-of-forty-bytes-0123456789";
	char *t = token_issue(tok_secret, n, TOK_ISS, 8, false, 100, TOK_NOW);

	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(token_verify_cached(tok_secret, n, TOK_ISS, t, TOK_NOW, &c), TOKEN_OK);
	ck_assert_int_eq(token_verify_cached(other, strlen(other), TOK_ISS, t, TOK_NOW, &c),
	                 TOKEN_BAD_SIGNATURE);
	ck_assert_int_eq(c.sub, 0);
	ck_assert_int_eq(token_verify_cached(tok_secret, n, "other-iss", t, TOK_NOW, &c),
	                 TOKEN_BAD_ISSUER);
	ck_assert_int_eq(token_verify_cached(tok_secret, n, TOK_ISS, t, TOK_NOW, &c), TOKEN_OK);
	ck_assert_int_eq(c.sub, 8);
	free(t);
}
END_TEST

/* Many users' tokens through the cache (more than its slots): each gets its own claims. */
START_TEST(token_cache_many_users)
{
	struct token_claims c;
	size_t n = strlen(tok_secret);
	enum { USERS = 512 };
	char *t[USERS];

	for (int i = 0; i < USERS; i++)
		ck_assert_ptr_nonnull(
		    t[i] = i % 7 == 0 ? token_issue_admin(tok_secret, n, TOK_ISS, 1000 + i,
		                                          ROLE_OPERATOR, 1, 600, TOK_NOW)
		                      : token_issue(tok_secret, n, TOK_ISS, 1000 + i, false, 600,
		                                    TOK_NOW));
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < USERS; i++) {
			ck_assert_int_eq(
			    token_verify_cached(tok_secret, n, TOK_ISS, t[i], TOK_NOW + round, &c),
			    TOKEN_OK);
			ck_assert_int_eq(c.sub, 1000 + i);
			ck_assert(c.admin == (i % 7 == 0));
		}
	for (int i = 0; i < USERS; i++) {
		ck_assert_int_eq(
		    token_verify_cached(tok_secret, n, TOK_ISS, t[i], TOK_NOW + 600, &c),
		    TOKEN_EXPIRED);
		free(t[i]);
	}
}
END_TEST

Suite *token_suite(void)
{
	Suite *s = suite_create("token");
	TCase *tc = tcase_create("issue");

	tcase_add_test(tc, token_round_trip_user);
	tcase_add_test(tc, token_cache_contract);
	tcase_add_test(tc, token_round_trip_admin);
	tcase_add_test(tc, token_admin_role_claims);
	tcase_add_test(tc, token_issue_refuses_bad_arguments);
	tcase_add_test(tc, token_weak_secret);
	tcase_add_test(tc, token_err_strings);
	tcase_add_test(tc, token_issued_header_is_the_pinned_one);
	tcase_add_test(tc, token_cache_follows_the_key);
	tcase_add_test(tc, token_cache_many_users);
	tcase_add_test(tc, token_round_trip_channels);
	tcase_add_test(tc, token_old_tokens_are_oa);
	tcase_add_test(tc, token_channel_names_and_issue_arguments);
	tcase_add_loop_test(tc, token_bad_channel, 0,
	                    (int)(sizeof(tok_bad_channels) / sizeof(tok_bad_channels[0])));
	suite_add_tcase(s, tc);
	tc = tcase_create("forged");
	tcase_add_test(tc, token_empty_key_cannot_bite);
	tcase_add_test(tc, token_alg_none);
	tcase_add_test(tc, token_hs512_bad_alg);
	tcase_add_test(tc, token_forged_ok);
	tcase_add_test(tc, token_tampered_payload);
	tcase_add_test(tc, token_other_secret);
	tcase_add_test(tc, token_time_claims);
	tcase_add_test(tc, token_issuer_audience);
	tcase_add_test(tc, token_missing_iss_aud);
	tcase_add_loop_test(tc, token_bad_subject, 0,
	                    (int)(sizeof(tok_bad_subjects) / sizeof(tok_bad_subjects[0])));
	tcase_add_test(tc, token_subject_missing_or_number);
	tcase_add_test(tc, token_length_cap);
	tcase_add_test(tc, token_malformed_shapes);
	tcase_add_test(tc, token_other_headers);
	tcase_add_test(tc, token_signature_before_payload);
	tcase_add_test(tc, token_nul_in_claims);
	tcase_add_test(tc, token_every_character_changed);
	suite_add_tcase(s, tc);
	return s;
}
