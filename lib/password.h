/*
 * password — admin password hashing with scrypt (OpenSSL), memory-hard.
 *
 * Stored form: "scrypt$<log2 N>$<r>$<p>$<salt base64>$<hash base64>", 16-byte random salt,
 * 32-byte hash, N = 2^15, r = 8, p = 1 (32 MiB, tens of milliseconds).  Verification reads
 * the parameters from the stored form (bounded) and compares in constant time.
 */
#ifndef AIPHOTO_PASSWORD_H
#define AIPHOTO_PASSWORD_H

#include <stdbool.h>

/* The length a new admin password must have, in bytes (aiphotoctl admin add|password and
 * POST /admin/password say it the same way). */
#define PASSWORD_MIN 8
#define PASSWORD_MAX 256

/* Returns a malloc'd stored form, or NULL when the KDF fails. */
char *password_hash(const char *password);
/* True when password matches stored; false for any malformed stored form. */
bool password_verify(const char *password, const char *stored);

#endif
