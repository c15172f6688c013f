/* token — see token.h. */
#include "lib/token.h"

#include <errno.h>
#include <json-c/json.h>
#include <jwt.h>
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static const char *const token_err_names[] = {
    [TOKEN_OK] = "ok",
    [TOKEN_WEAK_SECRET] = "weak secret",
    [TOKEN_MALFORMED] = "malformed token",
    [TOKEN_BAD_SIGNATURE] = "bad signature",
    [TOKEN_BAD_ALG] = "algorithm not allowed",
    [TOKEN_EXPIRED] = "expired",
    [TOKEN_NOT_YET_VALID] = "not yet valid",
    [TOKEN_BAD_ISSUER] = "wrong issuer",
    [TOKEN_BAD_AUDIENCE] = "wrong audience",
    [TOKEN_BAD_SUBJECT] = "bad subject",
    [TOKEN_BAD_CHANNEL] = "bad channel or appid",
    [TOKEN_BAD_ROLE] = "bad admin role",
};

static const char *const token_channel_names[TOKEN_CHANNEL__MAX] = {
    [TOKEN_CHANNEL_NONE] = "",
    [TOKEN_CHANNEL_OA] = "oa",
    [TOKEN_CHANNEL_MP] = "mp",
    [TOKEN_CHANNEL_WEB] = "web",
};

const char *token_channel_name(enum token_channel ch)
{
	return (unsigned)ch < TOKEN_CHANNEL__MAX ? token_channel_names[ch] : "";
}

enum token_channel token_channel_parse(const char *s)
{
	for (int ch = TOKEN_CHANNEL_OA; s != NULL && ch < TOKEN_CHANNEL__MAX; ch++)
		if (strcmp(s, token_channel_names[ch]) == 0)
			return (enum token_channel)ch;
	return TOKEN_CHANNEL_NONE;
}

/* n bytes of s are an appid: 1-TOKEN_APPID_MAX characters of [0-9A-Za-z_-]. */
static bool token_appid_ok(const char *s, size_t n)
{
	if (n == 0 || n > TOKEN_APPID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

bool token_appid_valid(const char *s)
{
	return s != NULL && token_appid_ok(s, strlen(s));
}

const char *token_err_str(enum token_err e)
{
	return (unsigned)e < sizeof(token_err_names) / sizeof(token_err_names[0])
	           ? token_err_names[e]
	           : "unknown";
}

/* Three non-empty base64url parts separated by dots. */
static bool token_well_formed(const char *t)
{
	int dots = 0;
	size_t part = 0;

	for (; *t; t++) {
		if (*t == '.') {
			if (part == 0)
				return false;
			dots++;
			part = 0;
		} else if ((*t >= 'A' && *t <= 'Z') || (*t >= 'a' && *t <= 'z') ||
		           (*t >= '0' && *t <= '9') || *t == '-' || *t == '_') {
			part++;
		} else {
			return false;
		}
	}
	return dots == 2 && part > 0;
}

/*
 * The header segment of every token we issue: base64url of {"alg":"HS256","typ":"JWT"},
 * the bytes libjwt 1.10 writes for HS256 (a unit test holds token_issue to it).  A token
 * is refused unless its first segment is exactly this, before anything is decoded, so alg
 * none, another algorithm, another spelling or any extra header field never reach a parser.
 */
#define TOKEN_HEADER "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
#define TOKEN_MAC_LEN 32 /* HMAC-SHA256 */
#define TOKEN_SIG_LEN 43 /* its base64url, unpadded */

static const char token_b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Value + 1 of each base64url character, 0 for any other byte; filled by token_b64_init. */
static unsigned char token_b64_value[256];

static void token_b64_init(void)
{
	for (size_t i = 0; i < 64; i++)
		token_b64_value[(unsigned char)token_b64url[i]] = (unsigned char)(i + 1);
}

/*
 * Unpadded base64url of n characters into out (room for n * 3 / 4 bytes), canonical only
 * (the unused low bits of the last character zero).  Returns the length, or -1.
 */
static long token_b64url_decode(const char *s, size_t n, unsigned char *out)
{
	unsigned acc = 0, v;
	int bits = 0;
	size_t o = 0;

	if (n % 4 == 1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if ((v = token_b64_value[(unsigned char)s[i]]) == 0)
			return -1;
		acc = (acc << 6 | (v - 1)) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
		return -1;
	return (long)o;
}

/* The TOKEN_SIG_LEN-character base64url of a TOKEN_MAC_LEN-byte MAC into out. */
static void token_b64url_mac(const unsigned char mac[TOKEN_MAC_LEN], char out[TOKEN_SIG_LEN])
{
	size_t o = 0, i = 0;
	unsigned v;

	for (; i + 3 <= TOKEN_MAC_LEN; i += 3) {
		v = (unsigned)mac[i] << 16 | (unsigned)mac[i + 1] << 8 | mac[i + 2];
		out[o++] = token_b64url[v >> 18 & 63];
		out[o++] = token_b64url[v >> 12 & 63];
		out[o++] = token_b64url[v >> 6 & 63];
		out[o++] = token_b64url[v & 63];
	}
	v = (unsigned)mac[i] << 16 | (unsigned)mac[i + 1] << 8; /* 32 = 10 * 3 + 2 */
	out[o++] = token_b64url[v >> 18 & 63];
	out[o++] = token_b64url[v >> 12 & 63];
	out[o++] = token_b64url[v >> 6 & 63];
}

/*
 * What a worker prepares once for its secret and issuer: an HMAC-SHA256 context keyed with
 * the secret (re-initialised per token, no key set-up or algorithm fetch per call) and a
 * JSON tokener for the payload.  A call with another secret or issuer prepares again and
 * empties the verified-token cache, whose entries were checked against the old ones.
 */
static struct {
	EVP_MAC_CTX *mac; /* NULL until first use */
	json_tokener *json;
	unsigned char *secret; /* copy of the secret it was keyed with */
	size_t secret_len;
	char *issuer; /* copy of the issuer the cache was filled for */
} token_key;

static void token_cache_clear(void);

/* Drops what token_key holds (the secret copy wiped). */
static void token_key_reset(void)
{
	EVP_MAC_CTX_free(token_key.mac);
	if (token_key.json != NULL) /* json-c does not accept NULL here */
		json_tokener_free(token_key.json);
	OPENSSL_clear_free(token_key.secret, token_key.secret_len);
	free(token_key.issuer);
	memset(&token_key, 0, sizeof(token_key));
	token_cache_clear();
}

/* token_key ready for secret and issuer; false (nothing prepared) when OpenSSL fails. */
static bool token_key_prepare(const char *secret, size_t secret_len, const char *issuer)
{
	static char digest[] = "SHA256"; /* OSSL_PARAM wants a mutable string */
	EVP_MAC *hmac = NULL;
	OSSL_PARAM params[2];
	bool ok = false;

	if (token_key.mac != NULL && token_key.secret_len == secret_len &&
	    CRYPTO_memcmp(token_key.secret, secret, secret_len) == 0 &&
	    strcmp(token_key.issuer, issuer) == 0)
		return true;
	token_key_reset();
	token_b64_init();
	hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (hmac == NULL || (token_key.mac = EVP_MAC_CTX_new(hmac)) == NULL)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_init(token_key.mac, (const unsigned char *)secret, secret_len, params))
		goto out;
	token_key.json = json_tokener_new_ex(8);
	token_key.secret = OPENSSL_memdup(secret, secret_len);
	token_key.issuer = strdup(issuer);
	if (token_key.json == NULL || token_key.secret == NULL || token_key.issuer == NULL)
		goto out;
	json_tokener_set_flags(token_key.json, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	token_key.secret_len = secret_len;
	ok = true;
out:
	EVP_MAC_free(hmac);
	if (!ok)
		token_key_reset();
	return ok;
}

/* True when sig (sig_len characters) is the HMAC-SHA256 of the n bytes of input under the
 * prepared key, compared in constant time as text (one encoding accepted). */
static bool token_signature_ok(const char *input, size_t n, const char *sig, size_t sig_len)
{
	unsigned char mac[TOKEN_MAC_LEN];
	char expect[TOKEN_SIG_LEN];
	size_t maclen = 0;
	bool ok;

	if (!EVP_MAC_init(token_key.mac, NULL, 0, NULL) ||
	    !EVP_MAC_update(token_key.mac, (const unsigned char *)input, n) ||
	    !EVP_MAC_final(token_key.mac, mac, &maclen, sizeof(mac)) || maclen != sizeof(mac))
		return false;
	token_b64url_mac(mac, expect);
	ok = sig_len == TOKEN_SIG_LEN && CRYPTO_memcmp(expect, sig, TOKEN_SIG_LEN) == 0;
	OPENSSL_cleanse(mac, sizeof(mac));
	return ok;
}

/* Integer claim (a JSON integer that fits in a long); false when absent or anything else. */
static bool token_int_claim(json_object *claims, const char *name, long *out)
{
	json_object *v;
	int64_t i;

	if (!json_object_object_get_ex(claims, name, &v) || !json_object_is_type(v, json_type_int))
		return false;
	i = json_object_get_int64(v);
	if (i == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX)
		return false; /* beyond int64: json-c clamps it, jansson refused it */
	if (i < LONG_MIN || i > LONG_MAX)
		return false;
	*out = (long)i;
	return true;
}

/* True when the claim is a JSON string equal to want (its full length: no NUL tricks). */
static bool token_str_claim_is(json_object *claims, const char *name, const char *want)
{
	json_object *v;

	return json_object_object_get_ex(claims, name, &v) &&
	       json_object_is_type(v, json_type_string) &&
	       (size_t)json_object_get_string_len(v) == strlen(want) &&
	       memcmp(json_object_get_string(v), want, strlen(want)) == 0;
}

/* The payload (n decoded bytes) as a JSON object, only whitespace after it; NULL if not. */
static json_object *token_parse_payload(const unsigned char *p, size_t n)
{
	json_object *o;
	size_t i;

	json_tokener_reset(token_key.json);
	o = json_tokener_parse_ex(token_key.json, (const char *)p, (int)n);
	if (o == NULL || json_tokener_get_error(token_key.json) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object))
		goto bad;
	for (i = json_tokener_get_parse_end(token_key.json); i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
			goto bad;
	return o;
bad:
	json_object_put(o);
	return NULL;
}

/* The claims of an admin token: role, a string naming an admin role (its whole length), and
 * sv, a positive integer. */
static bool token_admin_claims(json_object *claims, struct token_claims *out)
{
	json_object *v;
	const char *s;

	if (!json_object_object_get_ex(claims, "role", &v) ||
	    !json_object_is_type(v, json_type_string))
		return false;
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v))
		return false;
	out->role = role_parse(s);
	return out->role != ROLE_NONE && token_int_claim(claims, "sv", &out->session) &&
	       out->session >= 1;
}

/*
 * A user token's channel and appid claims into out (see struct token_claims): no channel is
 * TOKEN_CHANNEL_OA, no appid is "".  False for anything else than a known channel name and a
 * well-formed appid (a NUL inside either is refused: the whole string must match).
 */
static bool token_channel_claims(json_object *claims, struct token_claims *out)
{
	json_object *v;
	const char *s;
	size_t n;

	out->channel = TOKEN_CHANNEL_OA;
	if (json_object_object_get_ex(claims, "channel", &v)) {
		if (!json_object_is_type(v, json_type_string))
			return false;
		s = json_object_get_string(v);
		if (strlen(s) != (size_t)json_object_get_string_len(v) ||
		    (out->channel = token_channel_parse(s)) == TOKEN_CHANNEL_NONE)
			return false;
	}
	if (json_object_object_get_ex(claims, "appid", &v)) {
		if (!json_object_is_type(v, json_type_string))
			return false;
		s = json_object_get_string(v);
		n = (size_t)json_object_get_string_len(v);
		if (!token_appid_ok(s, n))
			return false;
		memcpy(out->appid, s, n);
		out->appid[n] = '\0';
	}
	return true;
}

/*
 * Order: shape and length, the header against TOKEN_HEADER, the signature (constant time),
 * and only then the payload is decoded, parsed and its claims checked.
 */
enum token_err token_verify(const char *secret, size_t secret_len, const char *issuer,
                            const char *token, time_t now, struct token_claims *out)
{
	enum token_err err = TOKEN_MALFORMED;
	unsigned char payload[TOKEN_MAX_LEN / 4 * 3 + 3];
	json_object *claims = NULL, *v;
	const char *dot1, *dot2, *s;
	size_t len;
	long n, t;
	char *end;
	long long sub;

	memset(out, 0, sizeof(*out));
	if (secret == NULL || secret_len < TOKEN_MIN_SECRET)
		return TOKEN_WEAK_SECRET;
	if (token == NULL || (len = strlen(token)) > TOKEN_MAX_LEN || !token_well_formed(token))
		return TOKEN_MALFORMED;
	dot1 = strchr(token, '.');
	dot2 = strchr(dot1 + 1, '.');
	if ((size_t)(dot1 - token) != sizeof(TOKEN_HEADER) - 1 ||
	    memcmp(token, TOKEN_HEADER, sizeof(TOKEN_HEADER) - 1) != 0)
		return TOKEN_BAD_ALG;
	if (issuer == NULL || !token_key_prepare(secret, secret_len, issuer) ||
	    !token_signature_ok(token, (size_t)(dot2 - token), dot2 + 1,
	                        len - (size_t)(dot2 + 1 - token)))
		return TOKEN_BAD_SIGNATURE;
	n = token_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), payload);
	if (n < 0 || (claims = token_parse_payload(payload, (size_t)n)) == NULL)
		goto out;
	if (!token_int_claim(claims, "exp", &t)) {
		err = TOKEN_EXPIRED;
		goto out;
	}
	out->exp = t;
	if ((long long)now >= (long long)t) {
		err = TOKEN_EXPIRED;
		goto out;
	}
	if (token_int_claim(claims, "nbf", &t) && (long long)t > (long long)now + TOKEN_LEEWAY) {
		err = TOKEN_NOT_YET_VALID;
		goto out;
	}
	if (token_int_claim(claims, "iat", &t) && (long long)t > (long long)now + TOKEN_LEEWAY) {
		err = TOKEN_NOT_YET_VALID;
		goto out;
	}
	if (!token_str_claim_is(claims, "iss", issuer)) {
		err = TOKEN_BAD_ISSUER;
		goto out;
	}
	if (token_str_claim_is(claims, "aud", "user"))
		out->admin = false;
	else if (token_str_claim_is(claims, "aud", "admin"))
		out->admin = true;
	else {
		err = TOKEN_BAD_AUDIENCE;
		goto out;
	}
	err = TOKEN_BAD_SUBJECT;
	if (!json_object_object_get_ex(claims, "sub", &v) ||
	    !json_object_is_type(v, json_type_string))
		goto out;
	s = json_object_get_string(v);
	if (*s < '1' || *s > '9')
		goto out;
	errno = 0;
	sub = strtoll(s, &end, 10);
	/* the digits must be the whole string: an embedded NUL ends strtoll early */
	if (errno != 0 || *end != '\0' || sub <= 0 ||
	    (size_t)(end - s) != (size_t)json_object_get_string_len(v)) {
		err = TOKEN_BAD_SUBJECT;
		goto out;
	}
	out->sub = sub;
	if (!out->admin && !token_channel_claims(claims, out)) {
		err = TOKEN_BAD_CHANNEL;
		goto out;
	}
	if (out->admin && !token_admin_claims(claims, out)) {
		err = TOKEN_BAD_ROLE;
		goto out;
	}
	err = TOKEN_OK;
out:
	json_object_put(claims);
	if (err != TOKEN_OK)
		memset(out, 0, sizeof(*out));
	return err;
}

/* The one way tokens are made: the claims of token_verify; channel and appid for a user
 * token with a channel (TOKEN_CHANNEL_NONE: none, as admin tokens and the tokens issued
 * before channels); the claim role, and for an admin token of a role (session > 0) sv. */
static char *token_issue_claims(const char *secret, size_t secret_len, const char *issuer,
                                int64_t sub, bool admin, const char *role, long session,
                                enum token_channel channel, const char *appid, long ttl, time_t now)
{
	jwt_t *j = NULL;
	char *tok = NULL;
	char subs[24];

	if (secret == NULL || secret_len < TOKEN_MIN_SECRET || sub <= 0 || ttl <= 0)
		return NULL;
	snprintf(subs, sizeof(subs), "%lld", (long long)sub);
	if (jwt_new(&j) != 0)
		return NULL;
	if (jwt_add_grant(j, "iss", issuer) || jwt_add_grant(j, "aud", admin ? "admin" : "user") ||
	    jwt_add_grant(j, "sub", subs) || jwt_add_grant(j, "role", role) ||
	    (session > 0 && jwt_add_grant_int(j, "sv", session)) ||
	    (channel != TOKEN_CHANNEL_NONE &&
	     jwt_add_grant(j, "channel", token_channel_name(channel))) ||
	    (appid != NULL && jwt_add_grant(j, "appid", appid)) ||
	    jwt_add_grant_int(j, "iat", (long)now) || jwt_add_grant_int(j, "nbf", (long)now) ||
	    jwt_add_grant_int(j, "exp", (long)now + ttl) ||
	    jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)secret, (int)secret_len))
		goto out;
	tok = jwt_encode_str(j);
out:
	jwt_free(j);
	return tok;
}

char *token_issue(const char *secret, size_t secret_len, const char *issuer, int64_t sub,
                  bool admin, long ttl, time_t now)
{
	return token_issue_claims(secret, secret_len, issuer, sub, admin, admin ? "admin" : "user",
	                          0, TOKEN_CHANNEL_NONE, NULL, ttl, now);
}

char *token_issue_user(const char *secret, size_t secret_len, const char *issuer, int64_t sub,
                       enum token_channel channel, const char *appid, long ttl, time_t now)
{
	if (channel <= TOKEN_CHANNEL_NONE || channel >= TOKEN_CHANNEL__MAX ||
	    (appid != NULL && !token_appid_valid(appid)))
		return NULL;
	return token_issue_claims(secret, secret_len, issuer, sub, false, "user", 0, channel, appid,
	                          ttl, now);
}

char *token_issue_admin(const char *secret, size_t secret_len, const char *issuer, int64_t sub,
                        enum role role, long session, long ttl, time_t now)
{
	if (role <= ROLE_NONE || role >= ROLE__MAX || session < 1)
		return NULL;
	return token_issue_claims(secret, secret_len, issuer, sub, true, role_name(role), session,
	                          TOKEN_CHANNEL_NONE, NULL, ttl, now);
}

static struct {
	char *token; /* malloc'd copy, NULL when empty */
	size_t len;
	struct token_claims claims;
} token_cache[TOKEN_CACHE_SLOTS];

/* FNV-1a: picks a slot; equality is decided by the full comparison below. */
static size_t token_cache_slot(const char *t, size_t len)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)t[i]) * 1099511628211ULL;
	return (size_t)(h % TOKEN_CACHE_SLOTS);
}

/* Empties the verified-token cache. */
static void token_cache_clear(void)
{
	for (size_t i = 0; i < TOKEN_CACHE_SLOTS; i++) {
		free(token_cache[i].token);
		token_cache[i].token = NULL;
	}
}

enum token_err token_verify_cached(const char *secret, size_t secret_len, const char *issuer,
                                   const char *token, time_t now, struct token_claims *out)
{
	size_t len, slot;
	enum token_err err;

	memset(out, 0, sizeof(*out));
	if (secret == NULL || secret_len < TOKEN_MIN_SECRET)
		return TOKEN_WEAK_SECRET;
	if (token == NULL || (len = strlen(token)) > TOKEN_MAX_LEN)
		return TOKEN_MALFORMED;
	/* entries were verified under the prepared secret and issuer: others empty the cache */
	if (issuer == NULL || !token_key_prepare(secret, secret_len, issuer))
		return TOKEN_BAD_SIGNATURE;
	slot = token_cache_slot(token, len);
	if (token_cache[slot].token != NULL && token_cache[slot].len == len &&
	    CRYPTO_memcmp(token_cache[slot].token, token, len) == 0) {
		if ((long long)now < (long long)token_cache[slot].claims.exp) {
			*out = token_cache[slot].claims;
			return TOKEN_OK;
		}
		free(token_cache[slot].token);
		token_cache[slot].token = NULL;
		return TOKEN_EXPIRED;
	}
	err = token_verify(secret, secret_len, issuer, token, now, out);
	if (err == TOKEN_OK) {
		free(token_cache[slot].token);
		token_cache[slot].token = malloc(len);
		if (token_cache[slot].token != NULL) {
			memcpy(token_cache[slot].token, token, len);
			token_cache[slot].len = len;
			token_cache[slot].claims = *out;
		}
	}
	return err;
}
