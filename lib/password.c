/* password — see password.h. */
#include "lib/password.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config.h"

#define PASSWORD_LOG_N 15
#define PASSWORD_R 8
#define PASSWORD_P 1
#define PASSWORD_SALT 16
#define PASSWORD_LEN 32
#define PASSWORD_MAXMEM (256UL * 1024 * 1024)

static bool password_derive(const char *password, const unsigned char *salt, size_t saltlen,
                            long log_n, long r, long p, unsigned char out[PASSWORD_LEN])
{
	return EVP_PBE_scrypt(password, strlen(password), salt, saltlen, (uint64_t)1 << log_n,
	                      (uint64_t)r, (uint64_t)p, PASSWORD_MAXMEM, out, PASSWORD_LEN) == 1;
}

char *password_hash(const char *password)
{
	unsigned char salt[PASSWORD_SALT], key[PASSWORD_LEN];
	char salt64[64], key64[64], *out;
	size_t n = 192;

	if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    !password_derive(password, salt, sizeof(salt), PASSWORD_LOG_N, PASSWORD_R, PASSWORD_P,
	                     key))
		return NULL;
	EVP_EncodeBlock((unsigned char *)salt64, salt, sizeof(salt));
	EVP_EncodeBlock((unsigned char *)key64, key, sizeof(key));
	out = malloc(n);
	if (out != NULL)
		snprintf(out, n, "scrypt$%d$%d$%d$%s$%s", PASSWORD_LOG_N, PASSWORD_R, PASSWORD_P,
		         salt64, key64);
	OPENSSL_cleanse(key, sizeof(key));
	return out;
}

/* Decodes standard base64 of exactly want bytes. */
static bool password_b64(const char *s, size_t len, unsigned char *out, size_t want)
{
	unsigned char buf[96];
	int n;

	if (len == 0 || len > 88 || len % 4 != 0)
		return false;
	n = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)len);
	if (n < 0)
		return false;
	/* EVP_DecodeBlock counts the padding as zero bytes */
	if (s[len - 1] == '=')
		n--;
	if (s[len - 2] == '=')
		n--;
	if ((size_t)n != want)
		return false;
	memcpy(out, buf, want);
	return true;
}

bool password_verify(const char *password, const char *stored)
{
	unsigned char salt[PASSWORD_SALT], want[PASSWORD_LEN], got[PASSWORD_LEN];
	const char *f[6];
	size_t flen[6];
	long log_n = 0, r = 0, p = 0;
	char num[8];
	const char *s = stored;
	bool ok;

	if (password == NULL || stored == NULL)
		return false;
	for (int i = 0; i < 6; i++) {
		const char *d = strchr(s, '$');
		f[i] = s;
		flen[i] = d ? (size_t)(d - s) : strlen(s);
		if ((d == NULL) != (i == 5))
			return false;
		s = d ? d + 1 : s;
	}
	if (flen[0] != 6 || strncmp(f[0], "scrypt", 6) != 0)
		return false;
	for (int i = 1; i <= 3; i++) {
		long v;
		if (flen[i] == 0 || flen[i] >= sizeof(num))
			return false;
		memcpy(num, f[i], flen[i]);
		num[flen[i]] = '\0';
		if (config_parse_long(num, 1, 64, &v) < 0)
			return false;
		if (i == 1)
			log_n = v;
		else if (i == 2)
			r = v;
		else
			p = v;
	}
	if (log_n < 10 || log_n > 20 || r > 32 || p > 4)
		return false;
	if (!password_b64(f[4], flen[4], salt, sizeof(salt)) ||
	    !password_b64(f[5], flen[5], want, sizeof(want)))
		return false;
	if (!password_derive(password, salt, sizeof(salt), log_n, r, p, got))
		return false;
	ok = CRYPTO_memcmp(got, want, sizeof(want)) == 0;
	OPENSSL_cleanse(got, sizeof(got));
	return ok;
}
