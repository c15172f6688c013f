/* crypto — see crypto.h. */
#include "lib/crypto.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

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
