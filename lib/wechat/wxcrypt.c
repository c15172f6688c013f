/*
 * wxcrypt — see wxcrypt.h.  OpenSSL's own padding is switched off (it only knows 16-byte
 * PKCS#7); the 32-byte padding is added and checked here.  Plaintext buffers are wiped
 * before they are freed.
 */
#include "lib/wechat/wxcrypt.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/crypto.h"
#include "lib/xalloc.h"

#define WXCRYPT_BLOCK 32u

/* Base64 decoding of n characters; not canonical, since an EncodingAESKey of 43 characters
 * plus "=" leaves two stray bits. */
static unsigned char *wxcrypt_b64decode(const char *s, size_t n, size_t *outlen)
{
	return crypto_b64_decode(s, n, false, outlen);
}

int wxcrypt_key(const char *encoding_aes_key, unsigned char key[32])
{
	char buf[45];
	unsigned char *raw;
	size_t n = 0;

	memset(key, 0, 32);
	if (encoding_aes_key == NULL || strlen(encoding_aes_key) != 43)
		return -1;
	memcpy(buf, encoding_aes_key, 43);
	buf[43] = '=';
	buf[44] = '\0';
	raw = wxcrypt_b64decode(buf, 44, &n);
	if (raw == NULL)
		return -1;
	if (n == 32)
		memcpy(key, raw, 32);
	OPENSSL_cleanse(raw, n);
	free(raw);
	return n == 32 ? 0 : -1;
}

/* AES-256-CBC (IV = key[0..16), no padding) of n bytes, n a multiple of 16, into out. */
static int wxcrypt_cbc(const unsigned char key[32], int enc, const unsigned char *in, size_t n,
                       unsigned char *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0, rc = -1;

	if (ctx == NULL || n > INT32_MAX)
		goto out;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, key, enc) != 1 ||
	    EVP_CIPHER_CTX_set_padding(ctx, 0) != 1 ||
	    EVP_CipherUpdate(ctx, out, &l1, in, (int)n) != 1 ||
	    EVP_CipherFinal_ex(ctx, out + l1, &l2) != 1 || (size_t)l1 + (size_t)l2 != n)
		goto out;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

char *wxcrypt_encrypt(const unsigned char key[32], const char *appid, const char *msg, size_t len,
                      const unsigned char *random16)
{
	unsigned char *frame = NULL, *ct = NULL;
	char *b64 = NULL;
	size_t idlen, raw, pad, total;

	if (key == NULL || appid == NULL || len > WXCRYPT_MAX_MSG || (msg == NULL && len > 0))
		return NULL;
	idlen = strlen(appid);
	if (idlen > WXCRYPT_MAX_MSG)
		return NULL;
	raw = 16 + 4 + len + idlen;
	pad = WXCRYPT_BLOCK - raw % WXCRYPT_BLOCK;
	total = raw + pad;
	frame = xmalloc(total);
	ct = xmalloc(total);
	if (random16 != NULL)
		memcpy(frame, random16, 16);
	else if (RAND_bytes(frame, 16) != 1)
		goto out;
	frame[16] = (unsigned char)(len >> 24);
	frame[17] = (unsigned char)(len >> 16);
	frame[18] = (unsigned char)(len >> 8);
	frame[19] = (unsigned char)len;
	if (len > 0)
		memcpy(frame + 20, msg, len);
	memcpy(frame + 20 + len, appid, idlen);
	memset(frame + raw, (int)pad, pad);
	if (wxcrypt_cbc(key, 1, frame, total, ct) != 0)
		goto out;
	b64 = xmalloc(total / 3 * 4 + 8);
	EVP_EncodeBlock((unsigned char *)b64, ct, (int)total);
out:
	OPENSSL_cleanse(frame, total);
	free(frame);
	free(ct);
	return b64;
}

int wxcrypt_decrypt(const unsigned char key[32], const char *b64, char **msg, size_t *len,
                    char **appid)
{
	unsigned char *ct = NULL, *pt = NULL;
	size_t n = 0, pad, body, mlen;
	unsigned char bad = 0;
	int rc = -1;

	if (msg != NULL)
		*msg = NULL;
	if (len != NULL)
		*len = 0;
	if (appid != NULL)
		*appid = NULL;
	if (key == NULL || b64 == NULL || msg == NULL)
		return -1;
	ct = wxcrypt_b64decode(b64, strlen(b64), &n);
	if (ct == NULL || n == 0 || n % WXCRYPT_BLOCK != 0)
		goto out;
	pt = xmalloc(n);
	if (wxcrypt_cbc(key, 0, ct, n, pt) != 0)
		goto out;
	pad = pt[n - 1];
	if (pad < 1 || pad > WXCRYPT_BLOCK)
		goto out;
	/* every pad byte must equal the count; folded without early exit */
	for (size_t i = n - pad; i < n; i++)
		bad |= (unsigned char)(pt[i] ^ pad);
	if (bad != 0)
		goto out;
	body = n - pad;
	if (body < 20)
		goto out;
	mlen = (size_t)pt[16] << 24 | (size_t)pt[17] << 16 | (size_t)pt[18] << 8 | pt[19];
	if (mlen > body - 20)
		goto out;
	/* a NUL inside the receive id would let a truncated copy compare equal */
	if (memchr(pt + 20 + mlen, '\0', body - 20 - mlen) != NULL)
		goto out;
	*msg = xmalloc(mlen + 1);
	memcpy(*msg, pt + 20, mlen);
	(*msg)[mlen] = '\0';
	if (len != NULL)
		*len = mlen;
	if (appid != NULL)
		*appid = xstrndup((const char *)pt + 20 + mlen, body - 20 - mlen);
	rc = 0;
out:
	if (pt != NULL) {
		OPENSSL_cleanse(pt, n);
		free(pt);
	}
	free(ct);
	return rc;
}
