/*
 * wxcrypt — the Official Account safe-mode (安全模式) message cipher.
 *
 * Key: the 43-character EncodingAESKey plus "=" is base64 of the 32-byte AES key.
 * Frame: random(16) ‖ length of msg (4 bytes, big-endian) ‖ msg ‖ appid, PKCS#7-padded to a
 * multiple of 32 bytes (pad 1..32, always present), encrypted with AES-256-CBC under the key
 * with IV = key[0..16), then base64 (standard alphabet, with '=' padding, no line breaks).
 *
 * Verify the msg_signature (wxsign.h) before decrypting: the padding check below is not an
 * authenticity check.
 */
#ifndef AIPHOTO_WXCRYPT_H
#define AIPHOTO_WXCRYPT_H

#include <stddef.h>

/* Largest message wxcrypt_encrypt() accepts (far above any WeChat message). */
#define WXCRYPT_MAX_MSG (16u * 1024u * 1024u)

/*
 * Decodes an EncodingAESKey (exactly 43 base64 characters) into key.  Returns 0, or -1 for
 * NULL, a wrong length or a character outside the base64 alphabet (key is zeroed then).
 */
int wxcrypt_key(const char *encoding_aes_key, unsigned char key[32]);

/*
 * Encrypts len bytes of msg (any bytes) followed by appid into the base64 Encrypt text;
 * random16 gives the 16 leading random bytes (tests), NULL draws them with RAND_bytes.
 * Returns a malloc'd NUL-terminated string (free()), or NULL if len exceeds WXCRYPT_MAX_MSG,
 * key or appid is NULL, msg is NULL with len > 0, or the CSPRNG fails.
 */
char *wxcrypt_encrypt(const unsigned char key[32], const char *appid, const char *msg, size_t len,
                      const unsigned char *random16);

/*
 * Decrypts a base64 Encrypt text.  Returns 0 with *msg (its byte count in *len) and *appid as
 * malloc'd NUL-terminated strings (free() each; msg may contain NUL bytes, len is exact), or
 * -1 for a NULL argument, bad base64, a ciphertext that is not a non-zero multiple of 32
 * bytes, bad padding (not 1..32 equal bytes), a length field beyond the data or a NUL byte in
 * the trailing receive id; on -1 the
 * three outputs are NULL/0, so freeing them is always safe.  The caller compares *appid with
 * its own AppID.  len and appid may be NULL when the caller does not want them.
 */
int wxcrypt_decrypt(const unsigned char key[32], const char *b64, char **msg, size_t *len,
                    char **appid);

#endif
