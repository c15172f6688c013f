/* token — see token.h. */
#include "lib/token.h"

#include <errno.h>
#include <jwt.h>
#include <openssl/crypto.h>
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
};

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

/* Integer claim; returns false when absent or not an integer. */
static bool token_int_claim(jwt_t *j, const char *name, long *out)
{
	errno = 0;
	*out = jwt_get_grant_int(j, name);
	return errno == 0;
}

enum token_err token_verify(const char *secret, size_t secret_len, const char *issuer,
                            const char *token, time_t now, struct token_claims *out)
{
	enum token_err err = TOKEN_MALFORMED;
	jwt_t *j = NULL;
	const char *s;
	char *end;
	long v;
	long long sub;

	memset(out, 0, sizeof(*out));
	if (secret == NULL || secret_len < TOKEN_MIN_SECRET)
		return TOKEN_WEAK_SECRET;
	if (token == NULL || strlen(token) > TOKEN_MAX_LEN || !token_well_formed(token))
		return TOKEN_MALFORMED;
	if (jwt_decode(&j, token, (const unsigned char *)secret, (int)secret_len) != 0) {
		err = TOKEN_BAD_SIGNATURE;
		goto out;
	}
	/* pin the algorithm, spelled exactly (libjwt matches alg names without case) */
	s = jwt_get_header(j, "alg");
	if (jwt_get_alg(j) != JWT_ALG_HS256 || s == NULL || strcmp(s, "HS256") != 0) {
		err = TOKEN_BAD_ALG;
		goto out;
	}
	if (!token_int_claim(j, "exp", &v)) {
		err = TOKEN_EXPIRED;
		goto out;
	}
	out->exp = v;
	if ((long long)now >= (long long)v) {
		err = TOKEN_EXPIRED;
		goto out;
	}
	if (token_int_claim(j, "nbf", &v) && (long long)v > (long long)now + TOKEN_LEEWAY) {
		err = TOKEN_NOT_YET_VALID;
		goto out;
	}
	if (token_int_claim(j, "iat", &v) && (long long)v > (long long)now + TOKEN_LEEWAY) {
		err = TOKEN_NOT_YET_VALID;
		goto out;
	}
	s = jwt_get_grant(j, "iss");
	if (s == NULL || strcmp(s, issuer) != 0) {
		err = TOKEN_BAD_ISSUER;
		goto out;
	}
	s = jwt_get_grant(j, "aud");
	if (s != NULL && strcmp(s, "user") == 0)
		out->admin = false;
	else if (s != NULL && strcmp(s, "admin") == 0)
		out->admin = true;
	else {
		err = TOKEN_BAD_AUDIENCE;
		goto out;
	}
	s = jwt_get_grant(j, "sub");
	if (s == NULL || *s < '1' || *s > '9') {
		err = TOKEN_BAD_SUBJECT;
		goto out;
	}
	errno = 0;
	sub = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || sub <= 0) {
		err = TOKEN_BAD_SUBJECT;
		goto out;
	}
	out->sub = sub;
	err = TOKEN_OK;
out:
	if (j != NULL)
		jwt_free(j);
	if (err != TOKEN_OK)
		memset(out, 0, sizeof(*out));
	return err;
}

char *token_issue(const char *secret, size_t secret_len, const char *issuer, int64_t sub,
                  bool admin, long ttl, time_t now)
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
	    jwt_add_grant(j, "sub", subs) || jwt_add_grant(j, "role", admin ? "admin" : "user") ||
	    jwt_add_grant_int(j, "iat", (long)now) || jwt_add_grant_int(j, "nbf", (long)now) ||
	    jwt_add_grant_int(j, "exp", (long)now + ttl) ||
	    jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)secret, (int)secret_len))
		goto out;
	tok = jwt_encode_str(j);
out:
	jwt_free(j);
	return tok;
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

enum token_err token_verify_cached(const char *secret, size_t secret_len, const char *issuer,
                                   const char *token, time_t now, struct token_claims *out)
{
	size_t len, slot;
	enum token_err err;

	if (secret == NULL || secret_len < TOKEN_MIN_SECRET)
		return TOKEN_WEAK_SECRET;
	if (token == NULL || (len = strlen(token)) > TOKEN_MAX_LEN)
		return TOKEN_MALFORMED;
	slot = token_cache_slot(token, len);
	if (token_cache[slot].token != NULL && token_cache[slot].len == len &&
	    CRYPTO_memcmp(token_cache[slot].token, token, len) == 0) {
		if ((long long)now < (long long)token_cache[slot].claims.exp) {
			*out = token_cache[slot].claims;
			return TOKEN_OK;
		}
		free(token_cache[slot].token);
		token_cache[slot].token = NULL;
		memset(out, 0, sizeof(*out));
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
