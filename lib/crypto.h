/* crypto — hashing and random helpers over OpenSSL (protocol crypto lives in lib/wechat/). */
#ifndef AIPHOTO_CRYPTO_H
#define AIPHOTO_CRYPTO_H

#include <stddef.h>

/* Lower-case hex SHA-256 of data into out (65 bytes with the NUL). */
void crypto_sha256_hex(const void *data, size_t len, char out[65]);
/* n random bytes from the OS CSPRNG as 2n hex characters (out has 2n+1 bytes); 0 or -1. */
int crypto_random_hex(size_t n, char *out);

#endif
