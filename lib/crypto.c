/* crypto — see crypto.h. */
#include "lib/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

static void crypto_hex(const unsigned char *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void crypto_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	crypto_hex(md, 32, out);
}

int crypto_random_hex(size_t n, char *out)
{
	unsigned char buf[64];

	if (n > sizeof(buf) || RAND_bytes(buf, (int)n) != 1)
		return -1;
	crypto_hex(buf, n, out);
	return 0;
}

/* Value of a standard base64 character, -1 for anything else ('=' included). */
static int crypto_b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

char *crypto_b64_encode(const unsigned char *in, size_t n)
{
	char *out = xmalloc((n + 2) / 3 * 4 + 1);

	out[EVP_EncodeBlock((unsigned char *)out, in, (int)n)] = '\0';
	return out;
}

unsigned char *crypto_b64_decode(const char *s, size_t n, bool canonical, size_t *outlen)
{
	size_t pad = 0;
	unsigned char *out;
	int got;

	if (s == NULL || n == 0 || n % 4 != 0 || n / 4 * 3 > INT_MAX)
		return NULL;
	if (s[n - 1] == '=')
		pad = s[n - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < n - pad; i++)
		if (crypto_b64val((unsigned char)s[i]) < 0)
			return NULL;
	if (canonical && pad == 1 && (crypto_b64val((unsigned char)s[n - 2]) & 0x03) != 0)
		return NULL;
	if (canonical && pad == 2 && (crypto_b64val((unsigned char)s[n - 3]) & 0x0f) != 0)
		return NULL;
	out = xmalloc(n / 4 * 3 + 1);
	got = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
	if (got < 0 || (size_t)got != n / 4 * 3) {
		free(out);
		return NULL;
	}
	*outlen = (size_t)got - pad;
	return out;
}

void crypto_hmac_sha256_hex(const void *key, size_t keylen, const void *data, size_t len,
                            char out[65])
{
	unsigned char md[32];
	unsigned int n = 0;

	if (HMAC(EVP_sha256(), key, (int)keylen, data, len, md, &n) == NULL || n != 32) {
		memset(md, 0, sizeof(md)); /* never matches a real signature's hex by chance */
		n = 32;
	}
	crypto_hex(md, n, out);
}

bool crypto_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}
