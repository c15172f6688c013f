/*
 * wxpay — WeChat Pay APIv3 cryptography (no HTTP).
 *
 * Signatures: SHA256withRSA, RSASSA-PKCS1-v1_5, standard base64 with '=' padding.
 *   request  "METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nBODY\n"   merchant private key
 *   answer   "TIMESTAMP\nNONCE\nBODY\n" (also notifies)        platform key or certificate
 *   paySign  "appId\ntimeStamp\nnonceStr\npackage\n"          merchant private key
 * Every line but the body is refused when it contains '\n' (the split must be unambiguous);
 * the body is signed and verified as the exact bytes sent or received.
 *
 * Resources: AEAD_AES_256_GCM under the 32-byte APIv3 key, IV = the 12-byte nonce, the
 * associated data as AAD, base64 of ciphertext ‖ 16-byte tag.
 *
 * Every char * result is malloc'd (free()); keys are freed with EVP_PKEY_free().  Both
 * accept NULL.  Base64 input is decoded strictly: length a multiple of 4, alphabet
 * A-Z a-z 0-9 + / only, at most two '=' and only at the end, zero padding bits.
 */
#ifndef AIPHOTO_WXPAY_H
#define AIPHOTO_WXPAY_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>

/* Largest message, body or plaintext these functions accept. */
#define WXPAY_MAX_DATA (16u * 1024u * 1024u)
/* Length of an APIv3 key and of a resource nonce. */
#define WXPAY_APIV3_KEY_LEN 32u
#define WXPAY_NONCE_LEN 12u
/* Prefix of WeChat's deliberately invalid probe signatures (never valid). */
#define WXPAY_SIGNTEST_PREFIX "WECHATPAY/SIGNTEST/"

/*
 * Base64 SHA256withRSA signature of len bytes of msg under an RSA private key, or NULL for
 * a NULL key, a non-RSA key, msg NULL with len > 0, len above WXPAY_MAX_DATA or an OpenSSL
 * failure.
 */
char *wxpay_sign_message(EVP_PKEY *key, const char *msg, size_t len);

/*
 * The Authorization header value (without "Authorization: ") for a request:
 *   WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",timestamp="…",serial_no="…",signature="…"
 * signed over "METHOD\nPATH?QUERY\nTS\nNONCE\nBODY\n".  path_query is the path plus "?query"
 * exactly as sent; body NULL means the empty body (GET).  nonce NULL draws 32 upper-case hex
 * characters from the CSPRNG.  NULL for a NULL key/mchid/serial/method/path_query, a '\n' in
 * method, path_query or nonce, an mchid, serial or nonce that is empty or holds a character
 * outside printable ASCII or a '"' or '\\', or a signing failure.
 */
char *wxpay_authorization(EVP_PKEY *key, const char *mchid, const char *serial, const char *method,
                          const char *path_query, const char *body, const char *nonce,
                          long timestamp);

/*
 * True when signature_b64 is a valid SHA256withRSA signature under pub of
 * "TIMESTAMP\nNONCE\nBODY\n", body being body_len raw bytes (NULL allowed when 0).  False for
 * any NULL argument, an empty timestamp or nonce or one holding '\n', malformed base64, a
 * signature starting with WXPAY_SIGNTEST_PREFIX, a non-RSA key, or a bad signature.  The
 * freshness of the timestamp is the caller's check.
 */
bool wxpay_verify(EVP_PKEY *pub, const char *timestamp, const char *nonce, const char *body,
                  size_t body_len, const char *signature_b64);

/*
 * Decrypts a resource.  nonce must be exactly 12 bytes; associated_data NULL means "".
 * Returns 0 with *plain a malloc'd NUL-terminated copy of the plaintext (it may hold NUL
 * bytes; its exact length in *len when len is not NULL), or -1 for a NULL key, nonce,
 * ciphertext or plain, malformed base64, fewer than 16 bytes or a tag that does not verify;
 * on -1 *plain is NULL and *len 0.
 */
int wxpay_aead_decrypt(const unsigned char apiv3_key[32], const char *nonce,
                       const char *associated_data, const char *ciphertext_b64, char **plain,
                       size_t *len);

/*
 * wxpay_aead_decrypt with an explicit key length: 32 (AES-256-GCM, every real APIv3 key) or
 * 16 (AES-128-GCM, used only by the SDKs' published test vectors).  Any other length → -1.
 */
int wxpay_aead_decrypt_keylen(const unsigned char *key, size_t key_len, const char *nonce,
                              const char *associated_data, const char *ciphertext_b64, char **plain,
                              size_t *len);

/*
 * Encrypts len bytes of plain (any bytes) into base64 of ciphertext ‖ tag, the inverse of
 * wxpay_aead_decrypt.  NULL for a NULL key or nonce, a nonce that is not 12 bytes, plain NULL
 * with len > 0 or len above WXPAY_MAX_DATA.
 */
char *wxpay_aead_encrypt(const unsigned char apiv3_key[32], const char *nonce,
                         const char *associated_data, const char *plain, size_t len);

/*
 * The JSAPI/mini-program paySign: base64 SHA256withRSA over
 * "appId\ntimeStamp\nnonceStr\npackage\n" (package is "prepay_id=…").  NULL for a NULL key or
 * field, a field holding '\n', or a signing failure.
 */
char *wxpay_pay_sign(EVP_PKEY *key, const char *appid, const char *timestamp, const char *nonce,
                     const char *package);

/*
 * Loads the merchant RSA private key from a PEM file (PKCS#8 "PRIVATE KEY" or PKCS#1
 * "RSA PRIVATE KEY").  NULL when the file cannot be read, holds no unencrypted private key
 * (an encrypted key is refused, never prompted for) or the key is not RSA.
 */
EVP_PKEY *wxpay_load_private(const char *pem_path);

/*
 * Loads an RSA public key from a PEM file holding a "PUBLIC KEY" (the WeChat Pay public key)
 * or a "CERTIFICATE" (a platform certificate; its validity dates are not checked).  NULL
 * when neither is found or the key is not RSA.
 */
EVP_PKEY *wxpay_load_public(const char *pem_path);

/*
 * The serial number of the X.509 certificate in a PEM file as upper-case hex without
 * leading zeros (what `openssl x509 -noout -serial` prints), or NULL.
 */
char *wxpay_cert_serial(const char *cert_pem_path);

#endif
