/*
 * wxpay — see wxpay.h.  Signing goes through EVP_DigestSign/EVP_DigestVerify with SHA-256 and
 * explicit PKCS#1 v1.5 padding; the resource cipher through EVP AES-GCM.  EVP_DecodeBlock
 * is lenient (surrounding whitespace, '=' anywhere, pad bytes counted in its length), so
 * base64 text is checked here first.  Plaintext buffers are wiped before they are freed.
 */
#include "lib/wechat/wxpay.h"

#include <limits.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/crypto.h"
#include "lib/xalloc.h"

#define WXPAY_TAG_LEN 16u
#define WXPAY_AUTH_SCHEME "WECHATPAY2-SHA256-RSA2048"

/* Base64 of n bytes (no line breaks), malloc'd and NUL-terminated. */
static char *wxpay_b64encode(const unsigned char *in, size_t n)
{
	return crypto_b64_encode(in, n);
}

/* Strict, canonical base64 decoding of a NUL-terminated string (see wxpay.h), bounded by
 * WXPAY_MAX_DATA.  Returns a malloc'd buffer and the decoded length in *outlen, or NULL. */
static unsigned char *wxpay_b64decode(const char *s, size_t *outlen)
{
	size_t n = strlen(s);

	if (n > (WXPAY_MAX_DATA + 64) / 3 * 4)
		return NULL;
	return crypto_b64_decode(s, n, true, outlen);
}

/* True when s is a non-NULL string without '\n'. */
static bool wxpay_line_ok(const char *s)
{
	return s != NULL && strchr(s, '\n') == NULL;
}

/* True when s is non-empty printable ASCII without '"' and '\\' (safe inside a quoted value). */
static bool wxpay_token_ok(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e || *s == '"' || *s == '\\')
			return false;
	return true;
}

/* Joins n parts, each followed by '\n', into a malloc'd buffer; total length in *len. */
static char *wxpay_join(const char *const *parts, const size_t *lens, size_t n, size_t *len)
{
	size_t total = 0, o = 0;
	char *buf;

	for (size_t i = 0; i < n; i++) {
		if (lens[i] > WXPAY_MAX_DATA)
			return NULL;
		total += lens[i] + 1;
	}
	if (total > WXPAY_MAX_DATA)
		return NULL;
	buf = xmalloc(total + 1);
	for (size_t i = 0; i < n; i++) {
		if (lens[i] > 0)
			memcpy(buf + o, parts[i], lens[i]);
		o += lens[i];
		buf[o++] = '\n';
	}
	buf[o] = '\0';
	*len = o;
	return buf;
}

/* Sets up ctx for SHA-256 RSA PKCS#1 v1.5 signing (sign = 1) or verifying; 0 or -1. */
static int wxpay_md_init(EVP_MD_CTX *ctx, EVP_PKEY *key, int sign)
{
	EVP_PKEY_CTX *pctx = NULL;
	int ok;

	if (!EVP_PKEY_is_a(key, "RSA"))
		return -1;
	if (sign)
		ok = EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL, key);
	else
		ok = EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), NULL, key);
	if (ok != 1 || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0)
		return -1;
	return 0;
}

char *wxpay_sign_message(EVP_PKEY *key, const char *msg, size_t len)
{
	EVP_MD_CTX *ctx;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	char *b64 = NULL;

	if (key == NULL || (msg == NULL && len > 0) || len > WXPAY_MAX_DATA)
		return NULL;
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL || wxpay_md_init(ctx, key, 1) != 0)
		goto out;
	if (EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)(msg != NULL ? msg : ""),
	                   len) != 1 ||
	    siglen == 0 || siglen > INT_MAX / 2)
		goto out;
	sig = xmalloc(siglen);
	if (EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)(msg != NULL ? msg : ""),
	                   len) != 1)
		goto out;
	b64 = wxpay_b64encode(sig, siglen);
out:
	free(sig);
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return b64;
}

char *wxpay_authorization(EVP_PKEY *key, const char *mchid, const char *serial, const char *method,
                          const char *path_query, const char *body, const char *nonce,
                          long timestamp)
{
	static const char hex[] = "0123456789ABCDEF";
	char ts[32], rnd[33], *msg = NULL, *sig = NULL, *hdr = NULL;
	const char *parts[5];
	size_t lens[5], len = 0, hlen;

	if (key == NULL || !wxpay_token_ok(mchid) || !wxpay_token_ok(serial) ||
	    !wxpay_line_ok(method) || *method == '\0' || !wxpay_line_ok(path_query))
		return NULL;
	if (nonce == NULL) {
		unsigned char raw[16];

		if (RAND_bytes(raw, sizeof(raw)) != 1)
			return NULL;
		for (size_t i = 0; i < sizeof(raw); i++) {
			rnd[2 * i] = hex[raw[i] >> 4];
			rnd[2 * i + 1] = hex[raw[i] & 15];
		}
		rnd[32] = '\0';
		nonce = rnd;
	}
	if (!wxpay_token_ok(nonce))
		return NULL;
	snprintf(ts, sizeof(ts), "%ld", timestamp);
	parts[0] = method;
	parts[1] = path_query;
	parts[2] = ts;
	parts[3] = nonce;
	parts[4] = body != NULL ? body : "";
	for (size_t i = 0; i < 5; i++)
		lens[i] = strlen(parts[i]);
	msg = wxpay_join(parts, lens, 5, &len);
	if (msg == NULL)
		return NULL;
	sig = wxpay_sign_message(key, msg, len);
	if (sig == NULL)
		goto out;
	hlen = sizeof(WXPAY_AUTH_SCHEME) + strlen(mchid) + strlen(nonce) + strlen(ts) +
	       strlen(serial) + strlen(sig) + 80;
	hdr = xmalloc(hlen);
	snprintf(
	    hdr, hlen,
	    WXPAY_AUTH_SCHEME
	    " mchid=\"%s\",nonce_str=\"%s\",timestamp=\"%s\",serial_no=\"%s\",signature=\"%s\"",
	    mchid, nonce, ts, serial, sig);
out:
	free(sig);
	free(msg);
	return hdr;
}

bool wxpay_verify(EVP_PKEY *pub, const char *timestamp, const char *nonce, const char *body,
                  size_t body_len, const char *signature_b64)
{
	EVP_MD_CTX *ctx = NULL;
	unsigned char *sig = NULL;
	const char *parts[3];
	size_t lens[3], siglen = 0, len = 0;
	char *msg = NULL;
	bool ok = false;

	if (pub == NULL || !wxpay_line_ok(timestamp) || *timestamp == '\0' ||
	    !wxpay_line_ok(nonce) || *nonce == '\0' || (body == NULL && body_len > 0) ||
	    signature_b64 == NULL)
		return false;
	if (strncmp(signature_b64, WXPAY_SIGNTEST_PREFIX, strlen(WXPAY_SIGNTEST_PREFIX)) == 0)
		return false;
	sig = wxpay_b64decode(signature_b64, &siglen);
	if (sig == NULL || siglen == 0)
		goto out;
	parts[0] = timestamp;
	parts[1] = nonce;
	parts[2] = body != NULL ? body : "";
	lens[0] = strlen(timestamp);
	lens[1] = strlen(nonce);
	lens[2] = body_len;
	msg = wxpay_join(parts, lens, 3, &len);
	if (msg == NULL)
		goto out;
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL || wxpay_md_init(ctx, pub, 0) != 0)
		goto out;
	ok = EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)msg, len) == 1;
out:
	EVP_MD_CTX_free(ctx);
	free(msg);
	free(sig);
	ERR_clear_error();
	return ok;
}

/* The GCM cipher for a key length, or NULL. */
static const EVP_CIPHER *wxpay_gcm(size_t key_len)
{
	if (key_len == 32)
		return EVP_aes_256_gcm();
	if (key_len == 16)
		return EVP_aes_128_gcm();
	return NULL;
}

/*
 * Sets up ctx for GCM with a 12-byte nonce and feeds the associated data; enc 1 encrypts,
 * 0 decrypts.  0 or -1.
 */
static int wxpay_gcm_init(EVP_CIPHER_CTX *ctx, const EVP_CIPHER *cipher, const unsigned char *key,
                          const char *nonce, const char *ad, int enc)
{
	size_t adlen = strlen(ad);
	int l = 0;

	if (adlen > WXPAY_MAX_DATA)
		return -1;
	if (EVP_CipherInit_ex(ctx, cipher, NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, (int)WXPAY_NONCE_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, key, (const unsigned char *)nonce, enc) != 1)
		return -1;
	if (adlen > 0 &&
	    EVP_CipherUpdate(ctx, NULL, &l, (const unsigned char *)ad, (int)adlen) != 1)
		return -1;
	return 0;
}

int wxpay_aead_decrypt_keylen(const unsigned char *key, size_t key_len, const char *nonce,
                              const char *associated_data, const char *ciphertext_b64, char **plain,
                              size_t *len)
{
	const EVP_CIPHER *cipher = wxpay_gcm(key_len);
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char *ct = NULL, *pt = NULL;
	size_t n = 0, ptlen = 0;
	int l1 = 0, l2 = 0, rc = -1;

	if (plain != NULL)
		*plain = NULL;
	if (len != NULL)
		*len = 0;
	if (key == NULL || cipher == NULL || nonce == NULL || strlen(nonce) != WXPAY_NONCE_LEN ||
	    ciphertext_b64 == NULL || plain == NULL)
		return -1;
	if (associated_data == NULL)
		associated_data = "";
	ct = wxpay_b64decode(ciphertext_b64, &n);
	if (ct == NULL || n < WXPAY_TAG_LEN)
		goto out;
	ptlen = n - WXPAY_TAG_LEN;
	pt = xmalloc(ptlen + 1);
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL || wxpay_gcm_init(ctx, cipher, key, nonce, associated_data, 0) != 0)
		goto out;
	if (ptlen > 0 && EVP_DecryptUpdate(ctx, pt, &l1, ct, (int)ptlen) != 1)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, (int)WXPAY_TAG_LEN, ct + ptlen) != 1 ||
	    EVP_DecryptFinal_ex(ctx, pt + l1, &l2) != 1 || (size_t)l1 + (size_t)l2 != ptlen)
		goto out;
	pt[ptlen] = '\0';
	*plain = (char *)pt;
	pt = NULL;
	if (len != NULL)
		*len = ptlen;
	rc = 0;
out:
	if (pt != NULL) {
		OPENSSL_cleanse(pt, ptlen + 1);
		free(pt);
	}
	EVP_CIPHER_CTX_free(ctx);
	free(ct);
	ERR_clear_error();
	return rc;
}

int wxpay_aead_decrypt(const unsigned char apiv3_key[32], const char *nonce,
                       const char *associated_data, const char *ciphertext_b64, char **plain,
                       size_t *len)
{
	return wxpay_aead_decrypt_keylen(apiv3_key, WXPAY_APIV3_KEY_LEN, nonce, associated_data,
	                                 ciphertext_b64, plain, len);
}

char *wxpay_aead_encrypt(const unsigned char apiv3_key[32], const char *nonce,
                         const char *associated_data, const char *plain, size_t len)
{
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char *ct = NULL;
	char *b64 = NULL;
	int l1 = 0, l2 = 0;

	if (apiv3_key == NULL || nonce == NULL || strlen(nonce) != WXPAY_NONCE_LEN ||
	    (plain == NULL && len > 0) || len > WXPAY_MAX_DATA)
		return NULL;
	if (associated_data == NULL)
		associated_data = "";
	ct = xmalloc(len + WXPAY_TAG_LEN);
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL ||
	    wxpay_gcm_init(ctx, EVP_aes_256_gcm(), apiv3_key, nonce, associated_data, 1) != 0)
		goto out;
	if (len > 0 && EVP_EncryptUpdate(ctx, ct, &l1, (const unsigned char *)plain, (int)len) != 1)
		goto out;
	if (EVP_EncryptFinal_ex(ctx, ct + l1, &l2) != 1 || (size_t)l1 + (size_t)l2 != len ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, (int)WXPAY_TAG_LEN, ct + len) != 1)
		goto out;
	b64 = wxpay_b64encode(ct, len + WXPAY_TAG_LEN);
out:
	EVP_CIPHER_CTX_free(ctx);
	free(ct);
	ERR_clear_error();
	return b64;
}

char *wxpay_pay_sign(EVP_PKEY *key, const char *appid, const char *timestamp, const char *nonce,
                     const char *package)
{
	const char *parts[4] = {appid, timestamp, nonce, package};
	size_t lens[4], len = 0;
	char *msg, *sig;

	if (key == NULL)
		return NULL;
	for (size_t i = 0; i < 4; i++) {
		if (!wxpay_line_ok(parts[i]))
			return NULL;
		lens[i] = strlen(parts[i]);
	}
	msg = wxpay_join(parts, lens, 4, &len);
	if (msg == NULL)
		return NULL;
	sig = wxpay_sign_message(key, msg, len);
	free(msg);
	return sig;
}

/* Refuses to prompt for a passphrase: an encrypted key simply fails to load. */
static int wxpay_no_pass(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

EVP_PKEY *wxpay_load_private(const char *pem_path)
{
	EVP_PKEY *key = NULL;
	BIO *bio;

	if (pem_path == NULL)
		return NULL;
	bio = BIO_new_file(pem_path, "r");
	if (bio != NULL)
		key = PEM_read_bio_PrivateKey(bio, NULL, wxpay_no_pass, NULL);
	BIO_free(bio);
	if (key != NULL && !EVP_PKEY_is_a(key, "RSA")) {
		EVP_PKEY_free(key);
		key = NULL;
	}
	ERR_clear_error();
	return key;
}

/* The first certificate in a PEM file, or NULL. */
static X509 *wxpay_read_cert(const char *path)
{
	X509 *cert = NULL;
	BIO *bio;

	if (path == NULL)
		return NULL;
	bio = BIO_new_file(path, "r");
	if (bio != NULL)
		cert = PEM_read_bio_X509(bio, NULL, wxpay_no_pass, NULL);
	BIO_free(bio);
	return cert;
}

EVP_PKEY *wxpay_load_public(const char *pem_path)
{
	EVP_PKEY *key = NULL;
	BIO *bio;

	if (pem_path == NULL)
		return NULL;
	bio = BIO_new_file(pem_path, "r");
	if (bio != NULL)
		key = PEM_read_bio_PUBKEY(bio, NULL, wxpay_no_pass, NULL);
	BIO_free(bio);
	if (key == NULL) {
		X509 *cert = wxpay_read_cert(pem_path);

		if (cert != NULL)
			key = X509_get_pubkey(cert);
		X509_free(cert);
	}
	if (key != NULL && !EVP_PKEY_is_a(key, "RSA")) {
		EVP_PKEY_free(key);
		key = NULL;
	}
	ERR_clear_error();
	return key;
}

char *wxpay_cert_serial(const char *cert_pem_path)
{
	X509 *cert = wxpay_read_cert(cert_pem_path);
	BIGNUM *bn = NULL;
	char *hex = NULL, *out = NULL;

	if (cert == NULL)
		goto out;
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	if (bn == NULL)
		goto out;
	hex = BN_bn2hex(bn);
	if (hex != NULL)
		out = xstrdup(hex);
out:
	OPENSSL_free(hex);
	BN_free(bn);
	X509_free(cert);
	ERR_clear_error();
	return out;
}
