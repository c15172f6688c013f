/*
 * fuzz_wxxml — wxxml_parse over the raw input (a parsed document must satisfy the documented
 * bounds, and its first value must survive a text reply round trip), then wxcrypt_decrypt of
 * the input read as base64 and of the input's own base64 under a fixed key, and an
 * encrypt/decrypt round trip of the input bytes.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/wechat/wxcrypt.h"
#include "lib/wechat/wxxml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct arena fuzz_arena;
static unsigned char fuzz_key[32];
static int fuzz_ready;

/* True when "<!doctype" occurs in the bytes, in any letter case. */
static int fuzz_has_doctype(const uint8_t *d, size_t n)
{
	static const char pat[] = "<!doctype";

	for (size_t i = 0; i + 9 <= n; i++) {
		size_t j = 0;

		while (j < 9 && (d[i + j] | (d[i + j] >= 'A' && d[i + j] <= 'Z' ? 0x20 : 0)) ==
		                    (uint8_t)pat[j])
			j++;
		if (j == 9)
			return 1;
	}
	return 0;
}

static void fuzz_xml(const uint8_t *data, size_t size)
{
	struct wxxml_msg m, back;
	size_t total = 0;

	if (wxxml_parse(&fuzz_arena, (const char *)data, size, &m) != 0) {
		assert(m.error != NULL && m.n == 0);
		return;
	}
	assert(m.error == NULL);
	assert(size <= WXXML_MAX && m.n <= WXXML_MAX_FIELDS);
	assert(!fuzz_has_doctype(data, size));
	for (size_t i = 0; i < m.n; i++) {
		assert(m.fields[i].name[0] != '\0');
		assert(wxxml_get(&m, m.fields[i].name) != NULL);
		total += strlen(m.fields[i].value);
	}
	/* the text comes from the input: at most as long for UTF-8 input, at most 3 bytes per
	 * 2 input bytes for UTF-16 input (a byte-order mark selects it) */
	assert(total <= size + size / 2);
	/* a reply carrying a parsed value parses back to the same value (CR excepted: XML
	 * turns a literal CR into LF) */
	if (m.n > 0 && strchr(m.fields[0].value, '\r') == NULL) {
		const char *v = m.fields[0].value;
		char *r = wxxml_text_reply(&fuzz_arena, v, "gh_fuzz", 1, v);

		if (strlen(r) <= WXXML_MAX) {
			assert(wxxml_parse(&fuzz_arena, r, strlen(r), &back) == 0);
			assert(strcmp(wxxml_get(&back, "Content"), v) == 0);
			assert(strcmp(wxxml_get(&back, "ToUserName"), v) == 0);
		}
	}
}

static void fuzz_check_decrypt(const char *b64, size_t bound)
{
	char *msg = NULL, *appid = NULL;
	size_t len = 0;

	if (wxcrypt_decrypt(fuzz_key, b64, &msg, &len, &appid) == 0) {
		assert(msg != NULL && appid != NULL);
		assert(len <= bound && msg[len] == '\0');
		assert(strlen(appid) <= bound);
	} else {
		assert(msg == NULL && appid == NULL && len == 0);
	}
	free(msg);
	free(appid);
}

static void fuzz_crypt(const uint8_t *data, size_t size)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *copy = malloc(size + 1), *own = malloc(size / 3 * 4 + 8), *enc, *msg = NULL;
	size_t o = 0, len = 0;

	assert(copy != NULL && own != NULL);
	memcpy(copy, data, size);
	copy[size] = '\0';
	fuzz_check_decrypt(copy, size);

	/* the input as ciphertext bytes: exercises the padding and length checks */
	for (size_t i = 0; i < size; i += 3) {
		uint32_t v = (uint32_t)data[i] << 16;

		if (i + 1 < size)
			v |= (uint32_t)data[i + 1] << 8;
		if (i + 2 < size)
			v |= data[i + 2];
		own[o++] = b64[v >> 18 & 63];
		own[o++] = b64[v >> 12 & 63];
		own[o++] = i + 1 < size ? b64[v >> 6 & 63] : '=';
		own[o++] = i + 2 < size ? b64[v & 63] : '=';
	}
	own[o] = '\0';
	fuzz_check_decrypt(own, size);

	/* any bytes survive a round trip */
	enc = wxcrypt_encrypt(fuzz_key, "wxfuzz", (const char *)data, size,
	                      (const unsigned char *)"0123456789abcdef");
	assert(enc != NULL);
	assert(wxcrypt_decrypt(fuzz_key, enc, &msg, &len, NULL) == 0);
	assert(len == size && memcmp(msg, data, size) == 0);
	free(enc);
	free(msg);
	free(own);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fuzz_ready) {
		arena_init(&fuzz_arena, 4096);
		if (wxcrypt_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", fuzz_key) != 0)
			abort();
		fuzz_ready = 1;
	}
	fuzz_xml(data, size);
	fuzz_crypt(data, size);
	arena_reset(&fuzz_arena);
	return 0;
}
