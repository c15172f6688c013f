/* crypto — hashing and random helpers over OpenSSL (protocol crypto lives in lib/wechat/). */
#ifndef AIPHOTO_CRYPTO_H
#define AIPHOTO_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

/* Lower-case hex SHA-256 of data into out (65 bytes with the NUL). */
void crypto_sha256_hex(const void *data, size_t len, char out[65]);
/* n random bytes from the OS CSPRNG as 2n hex characters (out has 2n+1 bytes); 0 or -1. */
int crypto_random_hex(size_t n, char *out);

/* Standard base64 of n bytes, no line breaks; malloc'd and NUL-terminated. */
char *crypto_b64_encode(const unsigned char *in, size_t n);
/*
 * Strict decoding of n base64 characters: n a multiple of 4, only alphabet characters, at
 * most two '=' and only at the end; with canonical, the bits under the padding must be zero
 * too (one encoding per byte string).  Returns a malloc'd buffer (at least one byte) and its
 * length in *outlen, or NULL.
 */
unsigned char *crypto_b64_decode(const char *s, size_t n, bool canonical, size_t *outlen);

/* Lower-case hex HMAC-SHA256 of data under key into out (65 bytes with the NUL). */
void crypto_hmac_sha256_hex(const void *key, size_t keylen, const void *data, size_t len,
                            char out[65]);
/* a and b (n bytes each) equal, in time that depends on n only. */
bool crypto_equal(const void *a, const void *b, size_t n);

#endif
