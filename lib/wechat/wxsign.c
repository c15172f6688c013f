/*
 * wxsign — see wxsign.h.  Digests are fed piece by piece into one EVP context, so nothing is
 * concatenated in memory; the sort works on a copy of the pointer array.
 */
#include "lib/wechat/wxsign.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

/* Lower-case hex of a 20-byte digest, NUL-terminated. */
static void wxsign_hex(const unsigned char md[20], char out[41])
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < 20; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[40] = '\0';
}

/* SHA-1 over the n strings in the given order (NULL = ""); aborts only if OpenSSL cannot
 * provide SHA-1 at all, which is a broken installation. */
static void wxsign_sha1_parts(const char *const *parts, size_t n, char out[41])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1;
	for (size_t i = 0; ok && i < n; i++)
		if (parts[i] != NULL)
			ok = EVP_DigestUpdate(ctx, parts[i], strlen(parts[i])) == 1;
	ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 20;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		abort();
	wxsign_hex(md, out);
}

static int wxsign_cmp(const void *x, const void *y)
{
	const char *a = *(const char *const *)x, *b = *(const char *const *)y;

	return strcmp(a != NULL ? a : "", b != NULL ? b : "");
}

void wxsign_sorted_sha1(const char *const *parts, size_t n, char out[41])
{
	const char **sorted = xcalloc(n ? n : 1, sizeof(*sorted));

	if (n > 0)
		memcpy(sorted, parts, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), wxsign_cmp);
	wxsign_sha1_parts(sorted, n, out);
	free(sorted);
}

/* Constant-time comparison of a candidate signature with a computed lower-hex digest. */
static bool wxsign_equal(const char expected[41], const char *given)
{
	char low[40];

	if (given == NULL || strlen(given) != WXSIGN_HEX_LEN)
		return false;
	for (size_t i = 0; i < WXSIGN_HEX_LEN; i++) {
		char c = given[i];

		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
		low[i] = c;
	}
	return CRYPTO_memcmp(low, expected, WXSIGN_HEX_LEN) == 0;
}

bool wxsign_check(const char *token, const char *timestamp, const char *nonce,
                  const char *signature)
{
	const char *parts[3] = {token, timestamp, nonce};
	char out[41];

	if (token == NULL || timestamp == NULL || nonce == NULL || signature == NULL)
		return false;
	wxsign_sorted_sha1(parts, 3, out);
	return wxsign_equal(out, signature);
}

void wxsign_msg_signature(const char *token, const char *timestamp, const char *nonce,
                          const char *encrypt, char out[41])
{
	const char *parts[4] = {token, timestamp, nonce, encrypt};

	wxsign_sorted_sha1(parts, 4, out);
}

bool wxsign_msg_check(const char *token, const char *timestamp, const char *nonce,
                      const char *encrypt, const char *msg_signature)
{
	char out[41];

	if (token == NULL || timestamp == NULL || nonce == NULL || encrypt == NULL ||
	    msg_signature == NULL)
		return false;
	wxsign_msg_signature(token, timestamp, nonce, encrypt, out);
	return wxsign_equal(out, msg_signature);
}

void wxsign_jssdk(const char *ticket, const char *noncestr, const char *timestamp, const char *url,
                  char out[41])
{
	const char *u = url != NULL ? url : "";
	char *page = xstrndup(u, strcspn(u, "#"));
	const char *parts[8] = {"jsapi_ticket=", ticket,    "&noncestr=", noncestr,
	                        "&timestamp=",   timestamp, "&url=",      page};

	wxsign_sha1_parts(parts, 8, out);
	free(page);
}
