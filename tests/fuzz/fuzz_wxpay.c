/*
 * fuzz_wxpay — Pay v3 inputs under fixed keys: wxpay_aead_decrypt of the input read as
 * base64 text and of the input's own base64 (nonce and associated data taken from the
 * input's first bytes), an encrypt/decrypt round trip of the input bytes, and wxpay_verify
 * of the input split into timestamp, nonce, body and signature lines.  No forged input may
 * decrypt or verify; every refusal must leave the outputs cleared.
 */
#include <assert.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/wechat/wxpay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char fuzz_key[32] = "fuzzAPIv3key0123456789abcdefghij";
static EVP_PKEY *fuzz_rsa;
static char *fuzz_good_sig; /* signature of "1700000000\nNONCE\n{}\n" */

static void fuzz_init(void)
{
	fuzz_rsa = EVP_RSA_gen(1024);
	if (fuzz_rsa == NULL)
		abort();
	fuzz_good_sig = wxpay_sign_message(fuzz_rsa, "1700000000\nNONCE\n{}\n", 20);
	if (fuzz_good_sig == NULL)
		abort();
}

/* Standard base64 of n bytes, malloc'd. */
static char *fuzz_b64(const uint8_t *d, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc(n / 3 * 4 + 8);
	size_t o = 0;

	assert(out != NULL);
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)d[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)d[i + 1] << 8;
		if (i + 2 < n)
			v |= d[i + 2];
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

static void fuzz_check_refused(const char *nonce, const char *ad, const char *ct)
{
	char *plain = NULL;
	size_t len = 1;

	/* a fixed key and no forged tag: nothing the fuzzer builds may authenticate */
	if (wxpay_aead_decrypt(fuzz_key, nonce, ad, ct, &plain, &len) == 0) {
		assert(plain != NULL && plain[len] == '\0');
		free(plain);
		abort();
	}
	assert(plain == NULL && len == 0);
}

static void fuzz_aead(const uint8_t *data, size_t size)
{
	char nonce[13] = "abcdefghijkl", ad[9] = "", *text, *own, *enc, *plain = NULL;
	size_t len = 0;

	/* nonce and associated data from the first bytes (NULs shorten them: refused or "") */
	if (size >= 12)
		memcpy(nonce, data, 12);
	if (size >= 20)
		memcpy(ad, data + 12, 8);
	text = malloc(size + 1);
	assert(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	fuzz_check_refused(nonce, ad, text);
	own = fuzz_b64(data, size);
	fuzz_check_refused(nonce, ad, own);
	fuzz_check_refused("abcdefghijkl", "", own);

	/* any bytes survive a round trip, and only under the same nonce and data */
	if (strlen(nonce) == 12) {
		enc = wxpay_aead_encrypt(fuzz_key, nonce, ad, (const char *)data, size);
		assert(enc != NULL);
		assert(wxpay_aead_decrypt(fuzz_key, nonce, ad, enc, &plain, &len) == 0);
		assert(len == size && memcmp(plain, data, size) == 0 && plain[len] == '\0');
		free(plain);
		nonce[0] ^= 1;
		if (nonce[0] != '\0')
			fuzz_check_refused(nonce, ad, enc);
		free(enc);
	}
	free(own);
	free(text);
}

/* The input as "TS\nNONCE\nSIG\nBODY": nothing but the one signed message may verify. */
static void fuzz_verify(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1), *ts, *nonce, *sig, *body, *nl;
	size_t body_len;
	bool ok, genuine;

	assert(copy != NULL);
	memcpy(copy, data, size);
	copy[size] = '\0';
	ts = copy;
	nl = memchr(ts, '\n', size);
	if (nl == NULL)
		goto out;
	*nl = '\0';
	nonce = nl + 1;
	nl = memchr(nonce, '\n', size - (size_t)(nonce - copy));
	if (nl == NULL)
		goto out;
	*nl = '\0';
	sig = nl + 1;
	nl = memchr(sig, '\n', size - (size_t)(sig - copy));
	if (nl == NULL)
		goto out;
	*nl = '\0';
	body = nl + 1;
	body_len = size - (size_t)(body - copy);
	ok = wxpay_verify(fuzz_rsa, ts, nonce, body, body_len, sig);
	genuine = strcmp(ts, "1700000000") == 0 && strcmp(nonce, "NONCE") == 0 && body_len == 2 &&
	          memcmp(body, "{}", 2) == 0 && strcmp(sig, fuzz_good_sig) == 0;
	assert(ok == genuine);
	/* the input's own text as a signature over the genuine message */
	assert(!wxpay_verify(fuzz_rsa, "1700000000", "NONCE", "{}", 2, body) ||
	       strcmp(body, fuzz_good_sig) == 0);
out:
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fuzz_rsa == NULL)
		fuzz_init();
	fuzz_aead(data, size);
	fuzz_verify(data, size);
	return 0;
}
