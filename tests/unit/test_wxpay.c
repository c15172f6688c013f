/*
 * test_wxpay — Pay v3 crypto against the wechatpay-go, wechatpay-java and wechatpy vectors
 * (PEM files under tests/unit/vectors/, found from the repository root), the derived
 * paySign/request vectors over the wechatpay-go test key, round trips with generated keys,
 * the exact Authorization shape, and the refusal of every tampered or malformed input.
 */
#include <check.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/arena.h"
#include "lib/config.h"
#include "lib/wechat/wxpay.h"
#include "lib/wechat/wxpayapi.h"
#include "tests/unit/suites.h"

static struct arena wxpay_t_arena;

#define WXPAY_T_DIR "tests/unit/vectors/"
#define WXPAY_T_GO_KEY WXPAY_T_DIR "go_test_key.pem"
#define WXPAY_T_GO_CERT WXPAY_T_DIR "go_notify_cert.pem"
#define WXPAY_T_GO_PUB WXPAY_T_DIR "go_notify_pub.pem"
#define WXPAY_T_PY_KEY WXPAY_T_DIR "wechatpy_apiclient_key.pem"
#define WXPAY_T_PY_CERT WXPAY_T_DIR "wechatpy_apiclient_cert.pem"
#define WXPAY_T_JAVA_CT WXPAY_T_DIR "java_cert_ct.txt"

/* wechatpay-go signer test: sign("source") with the test key. */
static const char wxpay_t_sig_source[] =
    "BKyAfU4iMCuvXMXS0Wzam3V/cnxZ+JaqigPM5OhljS2iOT95OO6Fsuml2JkFANJU9K6q9bLlDhPXuoVz+pp4"
    "hAm6pHU4ld815U4jsKu1RkyaII+1CYBUYC8TK0XtJ8FwUXXz8vZHh58rrAVN1XwNyvD1vfpxrMT4SL536GLw"
    "vpUHlCqIMzoZUguLli/K8V29QiOhuH6IEqLNJn8e9b3nwNcQ7be3CzYGpDAKBfDGPCqCv8Rw5zndhlffk2FE"
    "A70G4hvMwe51qMN/RAJbknXG23bSlObuTCN7Ndj1aJGH6/L+hdwfLpUtJm4QYVazzW7DFD27EpSQEqA8bX9+"
    "8m1rLg==";

/* wechatpy v3 test: the GET request signature with its apiclient key. */
static const char wxpay_t_sig_wechatpy[] =
    "c4VewIfiOrSXkYtGqoZFzzjOr3LMhFFJRD5l18glbIUyXEF1wcG1euB4w5QdBlhgytM+28W7wmwqWTA8RsQW"
    "TBXR0YEXC6Mtd5xplSXlXghv7ORl0a2TRVQSuf/vhKOdXc54Ima3wqj8AOkMeaiswp8fdnwd6yq1s0bx6uch"
    "P9Q6PO0INGnpdH8NeKP21dlefeOc4H7OvnqHEyj/BsvdE1/DYUIFkw1q5fIAfxcUoqeXThtIL6ajLZgaaQJg"
    "YhPV7Cd6UMf5gY3yxKYWIWWHALtdWrn+pCcIPKrop/keqHE9wJPYtAP3uJ8UKohiHDft01X5ex0Es5Z12+lR"
    "9VLyEQ==";

/* Derived with the wechatpay-go test key: GET with a query, POST jsapi, paySign. */
static const char wxpay_t_sig_get[] =
    "zY7rLCS6WRR51X2JyCsuImo+k7Q63lIQLdQyI7lXhQhwPu6hQASo8vK2lZecz253+CC5+o+iFqWavbhJrwG7"
    "UqmdGlgrVS+DRPO3oIQrpRpl5UkwaGkEMGYXs/s0MNRzKUyVD9gDFaBfr6p1+oPcT157uvGFHCgTWpY2Dx9z"
    "rzsPjbWY98H9QvxG7e8phPVWkP7SUMmfbyt8sLByUASvOug0sspQKpGsnEXwzsRnNRFMCzp4XkmSMBPUoEue"
    "mP7fGbHJsac3Vlc04jfCDhAsk/eVVhututjUw91Tc0K0jvtJGi8qoY3YcIQbihgm3O7G0erYxOHua++7Km0E"
    "U+iVtQ==";

static const char wxpay_t_post_body[] =
    "{\"appid\":\"wxd678efh567hg6787\",\"mchid\":\"1230000109\",\"description\":\"test\","
    "\"out_trade_no\":\"T1\",\"notify_url\":\"https://example.com/notify\","
    "\"amount\":{\"total\":1,\"currency\":\"CNY\"},"
    "\"payer\":{\"openid\":\"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o\"}}";

static const char wxpay_t_sig_post[] =
    "liyYRXuW8G/r60DFLWvtGaQW+0eATI1SqSB15DqoLeXmk8MLHdDpGlEyBwRBuILx+eurJUT1CrXOs/5R7wIg"
    "nsZhAdbYjpAoOEq9IFW7ieYx7KJFG/gNuAKpcjaudEZyfdR/FZ5lWvY++RM2t4yd822JSBDtdZr+O2t/E3d/"
    "+iJfj3dJFaRn+x/q1sPgy6EVqsxc6Fi1jATAbtcSROQkAdf228ZjvrKOqrq7AeEEBwFz+HF56IwalSiLLc5N"
    "6pG6asHd18hOSXXa0l//1uE/SBP7+QrGYQdwz9HfumrdwuZaoNXbTUoc7vkRGRjz3n6gxKqH41Notxv9vHOy"
    "DOnv9A==";

static const char wxpay_t_pay_sign[] =
    "lWPVlYkUA6NVql1OkuMYxbbyB4rLIZmWTb85elvPr/ktoTMYPrvxZlUJB9XZcZYq9LwXdAbw79W2jMgQyQD5"
    "ceTUtnDa902HIN3ATRPYJlBzIqwvo/gMhMby5RAXncjXatI0QHxBcsZwm0u1+3XRm2rbYJAGRAVgqzVccpjW"
    "+JEoiPI4IJyYRmLCjglV952AyQ411QgkYJtQZg/lh//dConDkndY+7AtpqaBA+ZQ/1SkBMg4U5t/e/wyOlpJ"
    "S1cH5P2E3+Q+XLCL2/GNKJtruigr1uEv2i5uJ7wwjEliYZ0yTqCgyUrvC1GRnWsSZcMTx7jYxn6gcYi4ls9A"
    "VBp3qg==";

/* wechatpay-go notify test: the whole notification, signed by the platform certificate. */
#define WXPAY_T_NOTIFY_TS "1624523846"
#define WXPAY_T_NOTIFY_NONCE "EcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBz"

static const char wxpay_t_notify_ct[] =
    "YDS3lKPaC4Y52Gf3uhft5qUBlIa8b428AWTtTauHQfQrRw+X1WpiuHIDy0vo1Vd6VEq67aVyqPdDYMkRVSDa"
    "ZL3iZttevRMOoPKMifozg6XPWjIZumks/GpT48lI4NizyeaqLBokNebthah3o1H76qSlO9NkDjp9bzmKLEYY"
    "H9TEklFUpsvPqOTOcgSLgh21YJXYR7dEBXFgRLiNIKRgO5JdXh1hccRUAlyVWxE54PXpnQ==";

static const char wxpay_t_notify_body[] =
    "{\"id\":\"3119dfba-e649-5eec-ab1e-3412bc4d2e17\",\"create_time\":\"2021-06-24T16:37:26+08:"
    "00\","
    "\"resource_type\":\"encrypt-resource\",\"event_type\":\"PAYSCORE.USER_OPEN_SERVICE\","
    "\"summary\":\"签约成功\",\"resource\":{\"original_type\":\"payscore\","
    "\"algorithm\":\"AEAD_AES_256_GCM\",\"ciphertext\":\""
    "YDS3lKPaC4Y52Gf3uhft5qUBlIa8b428AWTtTauHQfQrRw+X1WpiuHIDy0vo1Vd6VEq67aVyqPdDYMkRVSDa"
    "ZL3iZttevRMOoPKMifozg6XPWjIZumks/GpT48lI4NizyeaqLBokNebthah3o1H76qSlO9NkDjp9bzmKLEYY"
    "H9TEklFUpsvPqOTOcgSLgh21YJXYR7dEBXFgRLiNIKRgO5JdXh1hccRUAlyVWxE54PXpnQ==\","
    "\"associated_data\":\"payscore\",\"nonce\":\"Kj7QIyUiYx1q\"}}";

static const char wxpay_t_notify_sig[] =
    "tJHIiIS9eB2hAYstmAmbbD3ZE5LiIm/Ug5tuL4fC0YOFRWIHV39UFIZXC0e9Wl6lBu6sKvkqDkzpqzBsVHyX"
    "FlbYZTOQrVdG4b6LfTnK4mikv9++ixJMd3vTf2yCqvBkh98zs3Ds5zsYQakzbcwhmw4fMJs4nPLws28H0UW9"
    "FjDR//rxELLwXvV1VEA1IBLX70xptjL8hrfUjEE8kkry6yNJTHZRU8CAc7qHli2Ng1V1qb9ARbK8A3ThmFmP"
    "QvRGrapI/jS2laKKgYUmfdEdkNO6B2Cke5e8VTxY406ArAmQ90GAihDwIcb16TQMnzCMBoutnwZKNiKRACrF"
    "mtxw2Q==";

static const char wxpay_t_notify_plain[] =
    "{\"mchid\":\"1234567890\",\"appid\":\"054aa7d7a2a54ab5898df65bd96f001c\","
    "\"create_time\":\"2020-06-30T12:12:00+08:00\","
    "\"out_contract_code\":\"21640bdbd08e473e828f3206a2741c6e\"}";

/* wechatpay-java: the real 32-byte APIv3 key of its cipher tests. */
#define WXPAY_T_JAVA_KEY "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"

static const unsigned char wxpay_t_key32[32] = "0123456789abcdefghijklmnopqrstuv";

/* Reads a whole file (NUL-terminated, trailing newlines removed); fails the test if absent. */
static char *wxpay_t_slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;
	long size;

	ck_assert_msg(f != NULL, "cannot open %s (run from the repository root)", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	ck_assert(size >= 0);
	rewind(f);
	buf = malloc((size_t)size + 1);
	ck_assert_ptr_nonnull(buf);
	n = fread(buf, 1, (size_t)size, f);
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	return buf;
}

/* Writes text to a fresh temporary file; its malloc'd path is returned (unlink + free). */
static char *wxpay_t_tmpfile(const char *text, size_t len)
{
	const char *dir = getenv("TMPDIR");
	size_t cap;
	char *path;
	int fd;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	cap = strlen(dir) + 32;
	path = malloc(cap);
	ck_assert_ptr_nonnull(path);
	snprintf(path, cap, "%s/wxpay-unit-XXXXXX", dir);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

/* Writes a key as PEM (private, or public when pub) to a temporary file. */
static char *wxpay_t_keyfile(EVP_PKEY *key, int pub, const EVP_CIPHER *enc)
{
	char *path = wxpay_t_tmpfile("", 0);
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	if (pub)
		ck_assert_int_eq(PEM_write_PUBKEY(f, key), 1);
	else
		ck_assert_int_eq(PEM_write_PrivateKey(f, key, enc, (const unsigned char *)"secret",
		                                      6, NULL, NULL),
		                 1);
	fclose(f);
	return path;
}

/* Verifies base64 sig over msg with plain EVP calls, independently of wxpay.c. */
static int wxpay_t_raw_verify(EVP_PKEY *pub, const char *msg, size_t len, const char *b64)
{
	size_t n = strlen(b64);
	unsigned char *sig = malloc(n);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int got, pad = 0, ok;

	ck_assert(sig != NULL && ctx != NULL && n % 4 == 0);
	got = EVP_DecodeBlock(sig, (const unsigned char *)b64, (int)n);
	ck_assert_int_ge(got, 0);
	if (n > 0 && b64[n - 1] == '=')
		pad = b64[n - 2] == '=' ? 2 : 1;
	ck_assert_int_eq(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub), 1);
	ok = EVP_DigestVerify(ctx, sig, (size_t)(got - pad), (const unsigned char *)msg, len) == 1;
	EVP_MD_CTX_free(ctx);
	free(sig);
	return ok;
}

/* The value of key="…" in an Authorization value, malloc'd, or NULL when absent. */
struct wxpay_t_auth {
	char *mchid, *nonce_str, *timestamp, *serial_no, *signature;
	int n;
};

static void wxpay_t_auth_free(struct wxpay_t_auth *a)
{
	free(a->mchid);
	free(a->nonce_str);
	free(a->timestamp);
	free(a->serial_no);
	free(a->signature);
}

/*
 * Parses "WECHATPAY2-SHA256-RSA2048 k=\"v\",k=\"v\"…" strictly: the scheme, one space, then
 * comma-separated pairs with quoted values and nothing else; fails the test otherwise.
 */
static void wxpay_t_auth_parse(const char *h, struct wxpay_t_auth *a)
{
	static const char scheme[] = "WECHATPAY2-SHA256-RSA2048 ";
	const char *p = h + strlen(scheme);

	memset(a, 0, sizeof(*a));
	ck_assert_int_eq(strncmp(h, scheme, strlen(scheme)), 0);
	for (;;) {
		const char *eq = strchr(p, '='), *q;
		char **slot = NULL;
		size_t klen;

		ck_assert_ptr_nonnull(eq);
		klen = (size_t)(eq - p);
		ck_assert_int_eq(eq[1], '"');
		q = strchr(eq + 2, '"');
		ck_assert_ptr_nonnull(q);
		if (klen == 5 && strncmp(p, "mchid", 5) == 0)
			slot = &a->mchid;
		else if (klen == 9 && strncmp(p, "nonce_str", 9) == 0)
			slot = &a->nonce_str;
		else if (klen == 9 && strncmp(p, "timestamp", 9) == 0)
			slot = &a->timestamp;
		else if (klen == 9 && strncmp(p, "serial_no", 9) == 0)
			slot = &a->serial_no;
		else if (klen == 9 && strncmp(p, "signature", 9) == 0)
			slot = &a->signature;
		ck_assert_msg(slot != NULL && *slot == NULL, "unexpected or repeated key in %s", h);
		*slot = strndup(eq + 2, (size_t)(q - eq - 2));
		a->n++;
		if (q[1] == '\0')
			break;
		ck_assert_int_eq(q[1], ',');
		p = q + 2;
	}
	ck_assert_int_eq(a->n, 5);
}

/* Decrypts with an explicit key length and expects plain, or a clean refusal (want NULL). */
static void wxpay_t_decrypt(const unsigned char *key, size_t klen, const char *nonce,
                            const char *ad, const char *ct, const char *want)
{
	static char sentinel[] = "sentinel";
	char *plain = sentinel;
	size_t len = 777;
	int rc = wxpay_aead_decrypt_keylen(key, klen, nonce, ad, ct, &plain, &len);

	if (want != NULL) {
		ck_assert_int_eq(rc, 0);
		ck_assert_uint_eq(len, strlen(want));
		ck_assert_str_eq(plain, want);
	} else {
		ck_assert_int_eq(rc, -1);
		ck_assert_ptr_null(plain);
		ck_assert_uint_eq(len, 0);
	}
	free(plain);
}

START_TEST(wxpay_sign_go_vector)
{
	EVP_PKEY *key = wxpay_load_private(WXPAY_T_GO_KEY);
	EVP_PKEY *pub = wxpay_load_public(WXPAY_T_GO_PUB);
	char *sig;

	ck_assert_ptr_nonnull(key);
	ck_assert_ptr_nonnull(pub);
	sig = wxpay_sign_message(key, "source", 6);
	ck_assert_ptr_nonnull(sig);
	ck_assert_str_eq(sig, wxpay_t_sig_source);
	ck_assert(wxpay_t_raw_verify(pub, "source", 6, sig));
	free(sig);
	EVP_PKEY_free(key);
	EVP_PKEY_free(pub);
}
END_TEST

START_TEST(wxpay_request_sign_vectors)
{
	static const char py_msg[] = "GET\ntest\n1651854037\n1E3A8D73B5A4AEE787C0F68B5DAB8520\n\n";
	EVP_PKEY *py = wxpay_load_private(WXPAY_T_PY_KEY);
	EVP_PKEY *go = wxpay_load_private(WXPAY_T_GO_KEY);
	struct wxpay_t_auth a;
	char *sig, *h, want[600];

	ck_assert_ptr_nonnull(py);
	ck_assert_ptr_nonnull(go);
	/* wechatpy: the bare message, then the same through the header builder */
	sig = wxpay_sign_message(py, py_msg, strlen(py_msg));
	ck_assert_str_eq(sig, wxpay_t_sig_wechatpy);
	free(sig);
	h = wxpay_authorization(py, "1900000109", "B821DD2CA045BB93", "GET", "test", NULL,
	                        "1E3A8D73B5A4AEE787C0F68B5DAB8520", 1651854037L);
	ck_assert_ptr_nonnull(h);
	wxpay_t_auth_parse(h, &a);
	ck_assert_str_eq(a.signature, wxpay_t_sig_wechatpy);
	ck_assert_str_eq(a.timestamp, "1651854037");
	wxpay_t_auth_free(&a);
	free(h);

	/* GET with a query: signed as sent, empty body (the message ends "\n\n") */
	h = wxpay_authorization(go, "1230000109", "F5765756002FDD77", "GET",
	                        "/v3/pay/transactions/out-trade-no/T1?mchid=1230000109", "",
	                        "A1B2C3D4E5F6G7", 1624523846L);
	ck_assert_ptr_nonnull(h);
	wxpay_t_auth_parse(h, &a);
	ck_assert_str_eq(a.signature, wxpay_t_sig_get);
	wxpay_t_auth_free(&a);
	free(h);

	/* POST jsapi: the exact header, byte for byte */
	h = wxpay_authorization(go, "1234567890", "F5765756002FDD77", "POST",
	                        "/v3/pay/transactions/jsapi", wxpay_t_post_body, "A1B2C3D4E5F6G7",
	                        1624523846L);
	ck_assert_ptr_nonnull(h);
	snprintf(want, sizeof(want),
	         "WECHATPAY2-SHA256-RSA2048 mchid=\"1234567890\",nonce_str=\"A1B2C3D4E5F6G7\","
	         "timestamp=\"1624523846\",serial_no=\"F5765756002FDD77\",signature=\"%s\"",
	         wxpay_t_sig_post);
	ck_assert_str_eq(h, want);
	free(h);
	EVP_PKEY_free(py);
	EVP_PKEY_free(go);
}
END_TEST

START_TEST(wxpay_pay_sign_vector)
{
	static const char msg[] =
	    "wxd678efh567hg6787\n1624523846\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\n"
	    "prepay_id=wx201410272009395522657a690389285100\n";
	EVP_PKEY *key = wxpay_load_private(WXPAY_T_GO_KEY);
	EVP_PKEY *pub = wxpay_load_public(WXPAY_T_GO_CERT);
	char *sig, *direct;

	ck_assert_ptr_nonnull(key);
	sig = wxpay_pay_sign(key, "wxd678efh567hg6787", "1624523846",
	                     "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
	                     "prepay_id=wx201410272009395522657a690389285100");
	ck_assert_ptr_nonnull(sig);
	ck_assert_str_eq(sig, wxpay_t_pay_sign);
	/* exactly the four lines, each ending in '\n' */
	direct = wxpay_sign_message(key, msg, strlen(msg));
	ck_assert_str_eq(direct, sig);
	ck_assert(wxpay_t_raw_verify(pub, msg, strlen(msg), sig));
	ck_assert(!wxpay_t_raw_verify(pub, msg, strlen(msg) - 1, sig));
	free(sig);
	free(direct);
	/* a field with a line break would shift the lines: refused */
	ck_assert_ptr_null(wxpay_pay_sign(key, "wx\n1", "1", "n", "prepay_id=x"));
	ck_assert_ptr_null(wxpay_pay_sign(key, "wx1", "1", "n\nprepay_id=x", ""));
	ck_assert_ptr_null(wxpay_pay_sign(key, "wx1", NULL, "n", "prepay_id=x"));
	ck_assert_ptr_null(wxpay_pay_sign(NULL, "wx1", "1", "n", "prepay_id=x"));
	EVP_PKEY_free(key);
	EVP_PKEY_free(pub);
}
END_TEST

START_TEST(wxpay_cert_serials)
{
	char *s = wxpay_cert_serial(WXPAY_T_GO_CERT);

	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "D7CE59D1F522D701");
	free(s);
	s = wxpay_cert_serial(WXPAY_T_PY_CERT);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "B821DD2CA045BB93");
	free(s);
	ck_assert_ptr_null(wxpay_cert_serial(WXPAY_T_GO_PUB));
	ck_assert_ptr_null(wxpay_cert_serial(WXPAY_T_DIR "missing.pem"));
	ck_assert_ptr_null(wxpay_cert_serial(NULL));
}
END_TEST

START_TEST(wxpay_notify_verify)
{
	EVP_PKEY *cert = wxpay_load_public(WXPAY_T_GO_CERT);
	EVP_PKEY *pub = wxpay_load_public(WXPAY_T_GO_PUB);
	size_t n = strlen(wxpay_t_notify_body);

	ck_assert_ptr_nonnull(cert);
	ck_assert_ptr_nonnull(pub);
	ck_assert(wxpay_verify(cert, WXPAY_T_NOTIFY_TS, WXPAY_T_NOTIFY_NONCE, wxpay_t_notify_body,
	                       n, wxpay_t_notify_sig));
	/* the public-key mode key is the same RSA key */
	ck_assert(wxpay_verify(pub, WXPAY_T_NOTIFY_TS, WXPAY_T_NOTIFY_NONCE, wxpay_t_notify_body, n,
	                       wxpay_t_notify_sig));
	/* the body as raw bytes: a copy without a terminating NUL verifies too */
	{
		char *raw = malloc(n);

		ck_assert_ptr_nonnull(raw);
		memcpy(raw, wxpay_t_notify_body, n);
		ck_assert(wxpay_verify(pub, WXPAY_T_NOTIFY_TS, WXPAY_T_NOTIFY_NONCE, raw, n,
		                       wxpay_t_notify_sig));
		free(raw);
	}
	EVP_PKEY_free(cert);
	EVP_PKEY_free(pub);
}
END_TEST

START_TEST(wxpay_notify_tampered)
{
	EVP_PKEY *pub = wxpay_load_public(WXPAY_T_GO_CERT);
	EVP_PKEY *other = wxpay_load_public(WXPAY_T_PY_CERT);
	size_t n = strlen(wxpay_t_notify_body);
	char *body = strdup(wxpay_t_notify_body), *sig = strdup(wxpay_t_notify_sig);

	ck_assert(pub != NULL && other != NULL && body != NULL && sig != NULL);
	/* every single body byte matters */
	for (size_t i = 0; i < n; i += 7) {
		body[i] ^= 0x01;
		ck_assert(
		    !wxpay_verify(pub, WXPAY_T_NOTIFY_TS, WXPAY_T_NOTIFY_NONCE, body, n, sig));
		body[i] ^= 0x01;
	}
	ck_assert(!wxpay_verify(pub, WXPAY_T_NOTIFY_TS, WXPAY_T_NOTIFY_NONCE, body, n - 1, sig));
	ck_assert(!wxpay_verify(pub, "1624523847", WXPAY_T_NOTIFY_NONCE, body, n, sig));
	ck_assert(!wxpay_verify(pub, WXPAY_T_NOTIFY_TS, "EcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBZ", body, n,
	                        sig));
	/* a shifted line boundary is refused before any RSA work */
	ck_assert(
	    !wxpay_verify(pub, WXPAY_T_NOTIFY_TS "\n" WXPAY_T_NOTIFY_NONCE, "x", body, n, sig));
	ck_assert(!wxpay_verify(pub, "", WXPAY_T_NOTIFY_NONCE, body, n, sig));
	ck_assert(!wxpay_verify(pub, WXPAY_T_NOTIFY_TS, "", body, n, sig));
	/* flipped signature bits, a truncated signature, the wrong key */
	sig[10] = sig[10] == 'A' ? 'B' : 'A';
	ck_assert(!wxpay_verify(pub, WXPAY_T_NOTIFY_TS, WXPAY_T_NOTIFY_NONCE, body, n, sig));
	free(sig);
	sig = strdup(wxpay_t_notify_sig);
	ck_assert_ptr_nonnull(sig);
	sig[strlen(sig) - 8] = '\0';
	ck_assert(!wxpay_verify(pub, WXPAY_T_NOTIFY_TS, WXPAY_T_NOTIFY_NONCE, body, n, sig));
	ck_assert(!wxpay_verify(other, WXPAY_T_NOTIFY_TS, WXPAY_T_NOTIFY_NONCE, body, n,
	                        wxpay_t_notify_sig));
	/* WeChat's probe signatures and malformed base64 */
	ck_assert(!wxpay_verify(pub, WXPAY_T_NOTIFY_TS, WXPAY_T_NOTIFY_NONCE, body, n,
	                        WXPAY_SIGNTEST_PREFIX "tJHIiIS9eB2hAYst"));
	ck_assert(!wxpay_verify(pub, WXPAY_T_NOTIFY_TS, WXPAY_T_NOTIFY_NONCE, body, n, ""));
	ck_assert(!wxpay_verify(pub, WXPAY_T_NOTIFY_TS, WXPAY_T_NOTIFY_NONCE, body, n, "@@@@"));
	ck_assert(!wxpay_verify(pub, WXPAY_T_NOTIFY_TS, WXPAY_T_NOTIFY_NONCE, body, n, NULL));
	ck_assert(!wxpay_verify(NULL, WXPAY_T_NOTIFY_TS, WXPAY_T_NOTIFY_NONCE, body, n,
	                        wxpay_t_notify_sig));
	ck_assert(!wxpay_verify(pub, NULL, WXPAY_T_NOTIFY_NONCE, body, n, wxpay_t_notify_sig));
	ck_assert(!wxpay_verify(pub, WXPAY_T_NOTIFY_TS, NULL, body, n, wxpay_t_notify_sig));
	ck_assert(!wxpay_verify(pub, WXPAY_T_NOTIFY_TS, WXPAY_T_NOTIFY_NONCE, NULL, n,
	                        wxpay_t_notify_sig));
	free(body);
	free(sig);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(other);
}
END_TEST

START_TEST(wxpay_notify_decrypt)
{
	/* 16-byte test key of the SDK vector: AES-128-GCM */
	const unsigned char *key = (const unsigned char *)"testMchAPIv3Key0";

	wxpay_t_decrypt(key, 16, "Kj7QIyUiYx1q", "payscore", wxpay_t_notify_ct,
	                wxpay_t_notify_plain);
	wxpay_t_decrypt(key, 16, "Kj7QIyUiYx1Q", "payscore", wxpay_t_notify_ct, NULL);
	wxpay_t_decrypt(key, 16, "Kj7QIyUiYx1q", "payscorE", wxpay_t_notify_ct, NULL);
	wxpay_t_decrypt(key, 16, "Kj7QIyUiYx1q", "", wxpay_t_notify_ct, NULL);
	wxpay_t_decrypt((const unsigned char *)"testMchAPIv3Key1", 16, "Kj7QIyUiYx1q", "payscore",
	                wxpay_t_notify_ct, NULL);
}
END_TEST

START_TEST(wxpay_go_gcm_hello)
{
	wxpay_t_decrypt((const unsigned char *)"testAPIv3Key0000", 16, "wCq51qZv4Yfg",
	                "Dl56FrqWQJF1t9LtC3vEUsniZKvbqdR8", "FsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC",
	                "Hello World");
}
END_TEST

START_TEST(wxpay_java_gcm_encrypt)
{
	const unsigned char *key = (const unsigned char *)WXPAY_T_JAVA_KEY;
	char *ct = wxpay_aead_encrypt(key, "uluk4a9R25RW", "associatedData", "message", 7);
	char *plain = NULL;
	size_t len = 0;

	ck_assert_ptr_nonnull(ct);
	ck_assert_str_eq(ct, "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI=");
	ck_assert_int_eq(
	    wxpay_aead_decrypt(key, "uluk4a9R25RW", "associatedData", ct, &plain, &len), 0);
	ck_assert_str_eq(plain, "message");
	ck_assert_uint_eq(len, 7);
	free(plain);
	free(ct);
}
END_TEST

START_TEST(wxpay_java_certificates_decrypt)
{
	char *ct = wxpay_t_slurp(WXPAY_T_JAVA_CT), *pem = NULL, *path, *serial;
	size_t len = 0;
	EVP_PKEY *pub;

	ck_assert_int_eq(wxpay_aead_decrypt((const unsigned char *)WXPAY_T_JAVA_KEY, "14b16c03dc1b",
	                                    "certificate", ct, &pem, &len),
	                 0);
	ck_assert_uint_eq(len, strlen(pem));
	ck_assert_int_eq(strncmp(pem, "-----BEGIN CERTIFICATE-----", 27), 0);
	path = wxpay_t_tmpfile(pem, len);
	serial = wxpay_cert_serial(path);
	ck_assert_ptr_nonnull(serial);
	ck_assert_str_eq(serial, "5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC");
	pub = wxpay_load_public(path);
	ck_assert_ptr_nonnull(pub);
	EVP_PKEY_free(pub);
	unlink(path);
	free(path);
	free(serial);
	free(pem);
	/* the same resource under the wrong associated data */
	ck_assert_int_eq(wxpay_aead_decrypt((const unsigned char *)WXPAY_T_JAVA_KEY, "14b16c03dc1b",
	                                    "transaction", ct, &pem, &len),
	                 -1);
	ck_assert_ptr_null(pem);
	free(ct);
}
END_TEST

START_TEST(wxpay_sign_round_trip)
{
	EVP_PKEY *key = EVP_RSA_gen(2048), *other = EVP_RSA_gen(2048);
	char body[300];

	ck_assert(key != NULL && other != NULL);
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (char)(i % 11 == 5 ? 0 : (i % 13 == 7 ? '\n' : 'A' + i % 26));
	for (size_t n = 0; n <= sizeof(body); n += 37) {
		const char *parts[] = {"1700000000", "NONCE123"};
		size_t mlen = strlen(parts[0]) + strlen(parts[1]) + n + 3;
		char *msg = malloc(mlen), *sig;

		ck_assert_ptr_nonnull(msg);
		snprintf(msg, mlen, "%s\n%s\n", parts[0], parts[1]);
		memcpy(msg + mlen - n - 1, body, n);
		msg[mlen - 1] = '\n';
		sig = wxpay_sign_message(key, msg, mlen);
		ck_assert_ptr_nonnull(sig);
		ck_assert_uint_eq(strlen(sig), 344); /* 256 bytes */
		ck_assert(wxpay_verify(key, "1700000000", "NONCE123", body, n, sig));
		ck_assert(!wxpay_verify(other, "1700000000", "NONCE123", body, n, sig));
		ck_assert(!wxpay_verify(key, "1700000001", "NONCE123", body, n, sig));
		if (n > 0) {
			body[n / 2] ^= 0x20;
			ck_assert(!wxpay_verify(key, "1700000000", "NONCE123", body, n, sig));
			body[n / 2] ^= 0x20;
		}
		free(sig);
		free(msg);
	}
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}
END_TEST

START_TEST(wxpay_authorization_shape)
{
	EVP_PKEY *key = EVP_RSA_gen(2048);
	static const char body[] = "{\"mchid\":\"1900000109\"}";
	struct wxpay_t_auth a, b;
	char *h, *h2, msg[256];
	int mlen;

	ck_assert_ptr_nonnull(key);
	h = wxpay_authorization(key, "1900000109", "SIMMERCHANTSERIAL0001", "POST",
	                        "/v3/pay/transactions/out-trade-no/AP1/close", body, NULL,
	                        1700000000L);
	ck_assert_ptr_nonnull(h);
	wxpay_t_auth_parse(h, &a);
	ck_assert_str_eq(a.mchid, "1900000109");
	ck_assert_str_eq(a.serial_no, "SIMMERCHANTSERIAL0001");
	ck_assert_str_eq(a.timestamp, "1700000000");
	/* a random nonce: 32 upper-case hex characters */
	ck_assert_uint_eq(strlen(a.nonce_str), 32);
	ck_assert_uint_eq(strspn(a.nonce_str, "0123456789ABCDEF"), 32);
	/* the fixed order of the fields */
	ck_assert_ptr_eq(strstr(h, " mchid=\""), h + 25);
	ck_assert(strstr(h, "\",nonce_str=\"") < strstr(h, "\",timestamp=\""));
	ck_assert(strstr(h, "\",timestamp=\"") < strstr(h, "\",serial_no=\""));
	ck_assert(strstr(h, "\",serial_no=\"") < strstr(h, "\",signature=\""));
	/* the signature covers the five lines */
	mlen =
	    snprintf(msg, sizeof(msg), "POST\n%s\n%s\n%s\n%s\n",
	             "/v3/pay/transactions/out-trade-no/AP1/close", a.timestamp, a.nonce_str, body);
	ck_assert(mlen > 0 && (size_t)mlen < sizeof(msg));
	ck_assert(wxpay_t_raw_verify(key, msg, (size_t)mlen, a.signature));
	ck_assert(!wxpay_t_raw_verify(key, msg, (size_t)mlen - 1, a.signature));
	/* a second call draws another nonce */
	h2 = wxpay_authorization(key, "1900000109", "SIMMERCHANTSERIAL0001", "POST",
	                         "/v3/pay/transactions/out-trade-no/AP1/close", body, NULL,
	                         1700000000L);
	wxpay_t_auth_parse(h2, &b);
	ck_assert_str_ne(a.nonce_str, b.nonce_str);
	wxpay_t_auth_free(&a);
	wxpay_t_auth_free(&b);
	free(h);
	free(h2);

	/* GET: the empty body still ends the message with "\n" */
	h = wxpay_authorization(key, "1900000109", "S1", "GET", "/v3/x?mchid=1", NULL, "N1", 5L);
	wxpay_t_auth_parse(h, &a);
	ck_assert(wxpay_t_raw_verify(key, "GET\n/v3/x?mchid=1\n5\nN1\n\n", 24, a.signature));
	wxpay_t_auth_free(&a);
	free(h);

	/* values that would break the quoting or the lines */
	ck_assert_ptr_null(wxpay_authorization(key, "19\"00", "S1", "GET", "/", NULL, "N", 1L));
	ck_assert_ptr_null(wxpay_authorization(key, "1900", "S 1", "GET", "/", NULL, "N", 1L));
	ck_assert_ptr_null(wxpay_authorization(key, "1900", "S1", "GET", "/", NULL, "N\\", 1L));
	ck_assert_ptr_null(wxpay_authorization(key, "1900", "S1", "GET", "/\n", NULL, "N", 1L));
	ck_assert_ptr_null(wxpay_authorization(key, "1900", "S1", "GE\nT", "/", NULL, "N", 1L));
	ck_assert_ptr_null(wxpay_authorization(key, "1900", "S1", "", "/", NULL, "N", 1L));
	ck_assert_ptr_null(wxpay_authorization(key, "", "S1", "GET", "/", NULL, "N", 1L));
	ck_assert_ptr_null(wxpay_authorization(key, "1900", "S1", "GET", "/", NULL, "", 1L));
	ck_assert_ptr_null(wxpay_authorization(key, NULL, "S1", "GET", "/", NULL, "N", 1L));
	ck_assert_ptr_null(wxpay_authorization(key, "1900", NULL, "GET", "/", NULL, "N", 1L));
	ck_assert_ptr_null(wxpay_authorization(key, "1900", "S1", NULL, "/", NULL, "N", 1L));
	ck_assert_ptr_null(wxpay_authorization(key, "1900", "S1", "GET", NULL, NULL, "N", 1L));
	ck_assert_ptr_null(wxpay_authorization(NULL, "1900", "S1", "GET", "/", NULL, "N", 1L));
	EVP_PKEY_free(key);
}
END_TEST

START_TEST(wxpay_gcm_round_trip)
{
	char buf[130];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i % 5 == 2 ? 0 : 'a' + i % 26); /* NUL bytes included */
	for (size_t n = 0; n <= sizeof(buf); n++) {
		const char *ad = n % 3 == 0 ? "" : (n % 3 == 1 ? "transaction" : NULL);
		char *ct = wxpay_aead_encrypt(wxpay_t_key32, "abcdefghijkl", ad, buf, n);
		char *plain = NULL;
		size_t len = 999;

		ck_assert_ptr_nonnull(ct);
		ck_assert_uint_eq(strlen(ct), (n + 16 + 2) / 3 * 4);
		ck_assert_int_eq(
		    wxpay_aead_decrypt(wxpay_t_key32, "abcdefghijkl", ad, ct, &plain, &len), 0);
		ck_assert_uint_eq(len, n);
		ck_assert_mem_eq(plain, buf, n);
		ck_assert_int_eq(plain[n], '\0');
		free(plain);
		/* NULL and "" are the same associated data; len may be omitted */
		ck_assert_int_eq(wxpay_aead_decrypt(wxpay_t_key32, "abcdefghijkl",
		                                    ad == NULL ? "" : (*ad == '\0' ? NULL : ad), ct,
		                                    &plain, NULL),
		                 0);
		free(plain);
		free(ct);
	}
	/* plain NULL with len 0 is the empty message */
	{
		char *ct = wxpay_aead_encrypt(wxpay_t_key32, "abcdefghijkl", "x", NULL, 0);

		ck_assert_ptr_nonnull(ct);
		wxpay_t_decrypt(wxpay_t_key32, 32, "abcdefghijkl", "x", ct, "");
		free(ct);
	}
}
END_TEST

START_TEST(wxpay_gcm_tampered)
{
	static const char text[] = "{\"out_trade_no\":\"AP1\",\"trade_state\":\"SUCCESS\"}";
	char *ct =
	    wxpay_aead_encrypt(wxpay_t_key32, "nonce0123456", "transaction", text, strlen(text));
	size_t n;
	unsigned char key2[32];

	ck_assert_ptr_nonnull(ct);
	n = strlen(ct);
	wxpay_t_decrypt(wxpay_t_key32, 32, "nonce0123456", "transaction", ct, text);
	/* every ciphertext and tag character (the tag is the last 16 bytes) */
	for (size_t i = 0; i + 2 < n; i++) {
		char keep = ct[i];

		if (ct[i] == '=')
			continue;
		ct[i] = ct[i] == 'A' ? 'B' : 'A';
		wxpay_t_decrypt(wxpay_t_key32, 32, "nonce0123456", "transaction", ct, NULL);
		ct[i] = keep;
	}
	wxpay_t_decrypt(wxpay_t_key32, 32, "nonce0123457", "transaction", ct, NULL);
	wxpay_t_decrypt(wxpay_t_key32, 32, "nonce0123456", "transactioN", ct, NULL);
	wxpay_t_decrypt(wxpay_t_key32, 32, "nonce0123456", "", ct, NULL);
	wxpay_t_decrypt(wxpay_t_key32, 32, "nonce0123456", NULL, ct, NULL);
	memcpy(key2, wxpay_t_key32, 32);
	key2[31] ^= 1;
	wxpay_t_decrypt(key2, 32, "nonce0123456", "transaction", ct, NULL);
	/* a truncated tag: drop the last 4 base64 characters (3 bytes) */
	{
		char *cut = strndup(ct, n - 4);

		ck_assert_ptr_nonnull(cut);
		wxpay_t_decrypt(wxpay_t_key32, 32, "nonce0123456", "transaction", cut, NULL);
		free(cut);
	}
	free(ct);
	/* shorter than a tag; exactly a tag (empty plaintext) but forged */
	wxpay_t_decrypt(wxpay_t_key32, 32, "nonce0123456", "", "AAAAAAAAAAAAAAAAAAAA", NULL);
	wxpay_t_decrypt(wxpay_t_key32, 32, "nonce0123456", "", "AAAAAAAAAAAAAAAAAAAAAA==", NULL);
}
END_TEST

START_TEST(wxpay_gcm_lengths)
{
	char *ct = wxpay_aead_encrypt(wxpay_t_key32, "abcdefghijkl", "ad", "hello", 5);
	static const unsigned char long_key[33] = "0123456789abcdefghijklmnopqrstuvw";

	ck_assert_ptr_nonnull(ct);
	wxpay_t_decrypt(wxpay_t_key32, 32, "abcdefghijkl", "ad", ct, "hello");
	/* only 32 (and the SDKs' 16) byte keys */
	wxpay_t_decrypt(wxpay_t_key32, 0, "abcdefghijkl", "ad", ct, NULL);
	wxpay_t_decrypt(wxpay_t_key32, 15, "abcdefghijkl", "ad", ct, NULL);
	wxpay_t_decrypt(wxpay_t_key32, 24, "abcdefghijkl", "ad", ct, NULL);
	wxpay_t_decrypt(wxpay_t_key32, 31, "abcdefghijkl", "ad", ct, NULL);
	wxpay_t_decrypt(long_key, 33, "abcdefghijkl", "ad", ct, NULL);
	wxpay_t_decrypt(wxpay_t_key32, 16, "abcdefghijkl", "ad", ct, NULL);
	/* only 12-byte nonces */
	wxpay_t_decrypt(wxpay_t_key32, 32, "abcdefghijk", "ad", ct, NULL);
	wxpay_t_decrypt(wxpay_t_key32, 32, "abcdefghijklm", "ad", ct, NULL);
	wxpay_t_decrypt(wxpay_t_key32, 32, "", "ad", ct, NULL);
	wxpay_t_decrypt(wxpay_t_key32, 32, NULL, "ad", ct, NULL);
	ck_assert_ptr_null(wxpay_aead_encrypt(wxpay_t_key32, "abcdefghijk", "ad", "x", 1));
	ck_assert_ptr_null(wxpay_aead_encrypt(wxpay_t_key32, "abcdefghijklm", "ad", "x", 1));
	ck_assert_ptr_null(wxpay_aead_encrypt(wxpay_t_key32, NULL, "ad", "x", 1));
	ck_assert_ptr_null(wxpay_aead_encrypt(NULL, "abcdefghijkl", "ad", "x", 1));
	ck_assert_ptr_null(wxpay_aead_encrypt(wxpay_t_key32, "abcdefghijkl", "ad", NULL, 1));
	ck_assert_ptr_null(
	    wxpay_aead_encrypt(wxpay_t_key32, "abcdefghijkl", "ad", "x", WXPAY_MAX_DATA + 1));
	free(ct);
}
END_TEST

START_TEST(wxpay_malformed_base64)
{
	static const char *const bad[] = {
	    "",
	    "A",
	    "AAAAAAAAAAAAAAAAAAAAAAAAA",
	    "AAAAAAAAAAAAAAAAAAAAAA=",
	    "====",
	    "AAA=AAAA",
	    "AAAAAAAAAAAAAAAAAAAAAA=A",
	    "AAAAAAAAAAAAAAAAAAAAAAA===",
	    " AAAAAAAA",
	    "AAAAAAAA\n",
	    "AAAA-AAA",
	    "AAAA_AAA",
	    "AAAA AAA",
	    "AAAA.AAA",
	};
	char *ct = wxpay_aead_encrypt(wxpay_t_key32, "abcdefghijkl", "", "012345678", 9), *alt;
	size_t n;
	EVP_PKEY *pub = wxpay_load_public(WXPAY_T_GO_CERT);

	ck_assert_ptr_nonnull(ct);
	ck_assert_ptr_nonnull(pub);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		wxpay_t_decrypt(wxpay_t_key32, 32, "abcdefghijkl", "", bad[i], NULL);
		ck_assert(!wxpay_verify(pub, "1", "n", "", 0, bad[i]));
	}
	/* 9 + 16 = 25 bytes: two '=' */
	n = strlen(ct);
	ck_assert_int_eq(ct[n - 1], '=');
	ck_assert_int_eq(ct[n - 2], '=');
	wxpay_t_decrypt(wxpay_t_key32, 32, "abcdefghijkl", "", ct, "012345678");
	/* non-zero bits under the padding: another spelling of the same bytes, refused */
	alt = strdup(ct);
	ck_assert_ptr_nonnull(alt);
	alt[n - 3] = (char)(alt[n - 3] == 'A' ? 'B' : alt[n - 3] + 1);
	wxpay_t_decrypt(wxpay_t_key32, 32, "abcdefghijkl", "", alt, NULL);
	/* padding dropped or whitespace around it */
	alt[n - 3] = ct[n - 3];
	alt[n - 2] = '\0';
	wxpay_t_decrypt(wxpay_t_key32, 32, "abcdefghijkl", "", alt, NULL);
	free(alt);
	{
		size_t cap = n + 3;
		char *sp = malloc(cap);

		ck_assert_ptr_nonnull(sp);
		snprintf(sp, cap, "%s\r\n", ct);
		wxpay_t_decrypt(wxpay_t_key32, 32, "abcdefghijkl", "", sp, NULL);
		snprintf(sp, cap, " %s", ct);
		wxpay_t_decrypt(wxpay_t_key32, 32, "abcdefghijkl", "", sp, NULL);
		free(sp);
	}
	free(ct);
	EVP_PKEY_free(pub);
}
END_TEST

START_TEST(wxpay_loaders)
{
	EVP_PKEY *rsa = EVP_RSA_gen(2048), *ec = EVP_EC_gen("P-256"), *k;
	char *enc_path, *ec_path, *ec_pub_path, *junk_path, *pub_path;
	char *sig;

	ck_assert(rsa != NULL && ec != NULL);
	/* PKCS#8 and PKCS#1 private keys; public key and certificate files */
	k = wxpay_load_private(WXPAY_T_GO_KEY);
	ck_assert_ptr_nonnull(k);
	EVP_PKEY_free(k);
	k = wxpay_load_private(WXPAY_T_PY_KEY);
	ck_assert_ptr_nonnull(k);
	EVP_PKEY_free(k);
	k = wxpay_load_public(WXPAY_T_GO_PUB);
	ck_assert_ptr_nonnull(k);
	EVP_PKEY_free(k);
	k = wxpay_load_public(WXPAY_T_PY_CERT);
	ck_assert_ptr_nonnull(k);
	EVP_PKEY_free(k);
	/* the wrong kind of file */
	ck_assert_ptr_null(wxpay_load_private(WXPAY_T_GO_PUB));
	ck_assert_ptr_null(wxpay_load_private(WXPAY_T_GO_CERT));
	ck_assert_ptr_null(wxpay_load_public(WXPAY_T_JAVA_CT));
	ck_assert_ptr_null(wxpay_load_private(WXPAY_T_DIR "missing.pem"));
	ck_assert_ptr_null(wxpay_load_public(WXPAY_T_DIR "missing.pem"));
	ck_assert_ptr_null(wxpay_load_private(NULL));
	ck_assert_ptr_null(wxpay_load_public(NULL));
	junk_path =
	    wxpay_t_tmpfile("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 58);
	ck_assert_ptr_null(wxpay_load_private(junk_path));
	ck_assert_ptr_null(wxpay_cert_serial(junk_path));
	/* an encrypted key fails instead of prompting */
	enc_path = wxpay_t_keyfile(rsa, 0, EVP_aes_256_cbc());
	ck_assert_ptr_null(wxpay_load_private(enc_path));
	/* a generated key written out loads back and signs verifiably */
	pub_path = wxpay_t_keyfile(rsa, 1, NULL);
	k = wxpay_load_public(pub_path);
	ck_assert_ptr_nonnull(k);
	sig = wxpay_sign_message(rsa, "abc", 3);
	ck_assert(wxpay_t_raw_verify(k, "abc", 3, sig));
	free(sig);
	EVP_PKEY_free(k);
	/* non-RSA keys are refused by the loaders and by signing and verifying */
	ec_path = wxpay_t_keyfile(ec, 0, NULL);
	ec_pub_path = wxpay_t_keyfile(ec, 1, NULL);
	ck_assert_ptr_null(wxpay_load_private(ec_path));
	ck_assert_ptr_null(wxpay_load_public(ec_pub_path));
	ck_assert_ptr_null(wxpay_sign_message(ec, "abc", 3));
	ck_assert_ptr_null(wxpay_pay_sign(ec, "a", "b", "c", "d"));
	ck_assert(!wxpay_verify(ec, "1", "n", "", 0, wxpay_t_sig_source));
	ck_assert_ptr_null(wxpay_sign_message(NULL, "abc", 3));
	ck_assert_ptr_null(wxpay_sign_message(rsa, NULL, 3));
	sig = wxpay_sign_message(rsa, NULL, 0);
	ck_assert_ptr_nonnull(sig);
	free(sig);
	ck_assert_ptr_null(wxpay_sign_message(rsa, "x", WXPAY_MAX_DATA + 1));
	unlink(enc_path);
	unlink(pub_path);
	unlink(ec_path);
	unlink(ec_pub_path);
	unlink(junk_path);
	free(enc_path);
	free(pub_path);
	free(ec_path);
	free(ec_pub_path);
	free(junk_path);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
}
END_TEST

START_TEST(wxpay_nulls)
{
	static char sentinel[] = "x";
	char *plain = sentinel;
	size_t len = 5;

	ck_assert_int_eq(wxpay_aead_decrypt(NULL, "abcdefghijkl", "", "AAAA", &plain, &len), -1);
	ck_assert_ptr_null(plain);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(wxpay_aead_decrypt(wxpay_t_key32, "abcdefghijkl", "", NULL, &plain, &len),
	                 -1);
	ck_assert_int_eq(wxpay_aead_decrypt(wxpay_t_key32, "abcdefghijkl", "", "AAAA", NULL, &len),
	                 -1);
	ck_assert_int_eq(
	    wxpay_aead_decrypt_keylen(NULL, 32, "abcdefghijkl", "", "AAAA", &plain, NULL), -1);
	/* the release functions take NULL */
	free(NULL);
	EVP_PKEY_free(NULL);
}
END_TEST

/*
 * wxpayapi_notify against the official notify, with the key chosen by Wechatpay-Serial: the
 * platform certificate's serial selects the certificate (the signature then verifies, and
 * only the decryption fails, since the vector's resource was made with another APIv3 key);
 * an unknown serial, a stale timestamp and a SIGNTEST probe are refused before that.
 */
START_TEST(wxpay_notify_key_by_serial)
{
	char err[256];
	struct wxpayapi_txn t;
	const char *why = NULL;
	size_t n = strlen(wxpay_t_notify_body);
	time_t ts = 1624523846;

	unit_env_baseline();
	setenv("WECHAT_APPID", "wxd678efh567hg6787", 1);
	setenv("WXPAY_MCHID", "1230000109", 1);
	setenv("WXPAY_SERIAL", "MERCHANTSERIAL", 1);
	setenv("WXPAY_PRIVATE_KEY_FILE", WXPAY_T_DIR "go_test_key.pem", 1);
	setenv("WXPAY_APIV3_KEY", "0123456789abcdef0123456789abcdef", 1);
	setenv("WXPAY_PUBLIC_KEY_FILE", WXPAY_T_GO_PUB, 1);
	setenv("WXPAY_PUBLIC_KEY_ID", "PUB_KEY_ID_0000000000000000000000000001", 1);
	setenv("WXPAY_PLATFORM_CERT_FILE", WXPAY_T_GO_CERT, 1);
	ck_assert_int_eq(config_load(CONFIG_NEED_ALL, err, sizeof(err)), 0);
	arena_init(&wxpay_t_arena, 0);

	ck_assert_int_eq(wxpayapi_notify(&wxpay_t_arena, WXPAY_T_NOTIFY_TS, WXPAY_T_NOTIFY_NONCE,
	                                 wxpay_t_notify_sig, "D7CE59D1F522D701",
	                                 wxpay_t_notify_body, n, ts, &t, &why),
	                 E_BAD_REQUEST);
	ck_assert_str_eq(why, "resource does not decrypt");
	/* the same key also under its PUB_KEY_ID (public-key mode) */
	ck_assert_int_eq(wxpayapi_notify(&wxpay_t_arena, WXPAY_T_NOTIFY_TS, WXPAY_T_NOTIFY_NONCE,
	                                 wxpay_t_notify_sig,
	                                 "PUB_KEY_ID_0000000000000000000000000001",
	                                 wxpay_t_notify_body, n, ts + 299, &t, &why),
	                 E_BAD_REQUEST);
	ck_assert_int_eq(wxpayapi_notify(&wxpay_t_arena, WXPAY_T_NOTIFY_TS, WXPAY_T_NOTIFY_NONCE,
	                                 wxpay_t_notify_sig, "0000000000000001",
	                                 wxpay_t_notify_body, n, ts, &t, &why),
	                 E_FORBIDDEN);
	ck_assert_str_eq(why, "unknown Wechatpay-Serial");
	ck_assert_int_eq(wxpayapi_notify(&wxpay_t_arena, WXPAY_T_NOTIFY_TS, WXPAY_T_NOTIFY_NONCE,
	                                 wxpay_t_notify_sig, "D7CE59D1F522D701",
	                                 wxpay_t_notify_body, n, ts + 300, &t, &why),
	                 E_FORBIDDEN);
	ck_assert_str_eq(why, "timestamp too far from now");
	ck_assert_int_eq(wxpayapi_notify(&wxpay_t_arena, WXPAY_T_NOTIFY_TS, WXPAY_T_NOTIFY_NONCE,
	                                 "WECHATPAY/SIGNTEST/abc", "D7CE59D1F522D701",
	                                 wxpay_t_notify_body, n, ts, &t, &why),
	                 E_FORBIDDEN);
	/* one flipped body byte: the certificate no longer vouches for it */
	{
		char *body = strdup(wxpay_t_notify_body);
		body[10] ^= 1;
		ck_assert_int_eq(wxpayapi_notify(&wxpay_t_arena, WXPAY_T_NOTIFY_TS,
		                                 WXPAY_T_NOTIFY_NONCE, wxpay_t_notify_sig,
		                                 "D7CE59D1F522D701", body, n, ts, &t, &why),
		                 E_FORBIDDEN);
		free(body);
	}
	arena_fini(&wxpay_t_arena);
}
END_TEST

/*
 * wxpayapi_pay_params signs with the appid of the order's app: the mini program's for an
 * order placed with WECHAT_MP_APPID (wx.requestPayment), the Official Account's otherwise;
 * the signature covers appId\ntimeStamp\nnonceStr\npackage\n of that appid and no other.
 */
START_TEST(wxpay_pay_params_for_each_app)
{
	static const char *const apps[] = {"wxd678efh567hg6787", "wxfedcba9876543210"};
	static const char package[] = "prepay_id=wx201410272009395522657a690389285100";
	EVP_PKEY *pub = wxpay_load_public(WXPAY_T_GO_PUB);
	char err[256];

	unit_env_baseline();
	setenv("WECHAT_APPID", apps[0], 1);
	setenv("WECHAT_MP_APPID", apps[1], 1);
	setenv("WXPAY_MCHID", "1230000109", 1);
	setenv("WXPAY_SERIAL", "MERCHANTSERIAL", 1);
	setenv("WXPAY_PRIVATE_KEY_FILE", WXPAY_T_GO_KEY, 1);
	setenv("WXPAY_APIV3_KEY", "0123456789abcdef0123456789abcdef", 1);
	setenv("WXPAY_PUBLIC_KEY_FILE", WXPAY_T_GO_PUB, 1);
	setenv("WXPAY_PUBLIC_KEY_ID", "PUB_KEY_ID_0000000000000000000000000001", 1);
	ck_assert_int_eq(config_load(CONFIG_NEED_ALL, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(pub);
	arena_init(&wxpay_t_arena, 0);
	for (size_t i = 0; i < 2; i++) {
		json_object *o = NULL, *v;
		const char *f[6];
		static const char *const keys[] = {"appId",   "timeStamp", "nonceStr",
		                                   "package", "signType",  "paySign"};
		char msg[512];

		ck_assert_int_eq(wxpayapi_pay_params(&wxpay_t_arena, apps[i],
		                                     package + strlen("prepay_id="), &o),
		                 E_OK);
		ck_assert_int_eq(json_object_object_length(o), 6);
		for (size_t k = 0; k < 6; k++) {
			ck_assert_msg(json_object_object_get_ex(o, keys[k], &v), "%s", keys[k]);
			ck_assert(json_object_is_type(v, json_type_string));
			f[k] = json_object_get_string(v);
		}
		ck_assert_str_eq(f[0], apps[i]);
		ck_assert_uint_eq(strspn(f[1], "0123456789"), strlen(f[1]));
		ck_assert_uint_eq(strlen(f[2]), 32);
		ck_assert_str_eq(f[3], package);
		ck_assert_str_eq(f[4], "RSA");
		snprintf(msg, sizeof(msg), "%s\n%s\n%s\n%s\n", apps[i], f[1], f[2], f[3]);
		ck_assert(wxpay_t_raw_verify(pub, msg, strlen(msg), f[5]));
		/* the same parameters under the other app's appid: not this signature */
		snprintf(msg, sizeof(msg), "%s\n%s\n%s\n%s\n", apps[1 - i], f[1], f[2], f[3]);
		ck_assert(!wxpay_t_raw_verify(pub, msg, strlen(msg), f[5]));
		json_object_put(o);
	}
	EVP_PKEY_free(pub);
	arena_fini(&wxpay_t_arena);
}
END_TEST

Suite *wxpay_suite(void)
{
	Suite *s = suite_create("wxpay");
	TCase *tc = tcase_create("vectors");

	tcase_add_test(tc, wxpay_sign_go_vector);
	tcase_add_test(tc, wxpay_request_sign_vectors);
	tcase_add_test(tc, wxpay_pay_sign_vector);
	tcase_add_test(tc, wxpay_cert_serials);
	tcase_add_test(tc, wxpay_notify_verify);
	tcase_add_test(tc, wxpay_notify_key_by_serial);
	tcase_add_test(tc, wxpay_pay_params_for_each_app);
	tcase_add_test(tc, wxpay_notify_decrypt);
	tcase_add_test(tc, wxpay_go_gcm_hello);
	tcase_add_test(tc, wxpay_java_gcm_encrypt);
	tcase_add_test(tc, wxpay_java_certificates_decrypt);
	suite_add_tcase(s, tc);
	tc = tcase_create("robustness");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, wxpay_notify_tampered);
	tcase_add_test(tc, wxpay_sign_round_trip);
	tcase_add_test(tc, wxpay_authorization_shape);
	tcase_add_test(tc, wxpay_gcm_round_trip);
	tcase_add_test(tc, wxpay_gcm_tampered);
	tcase_add_test(tc, wxpay_gcm_lengths);
	tcase_add_test(tc, wxpay_malformed_base64);
	tcase_add_test(tc, wxpay_loaders);
	tcase_add_test(tc, wxpay_nulls);
	suite_add_tcase(s, tc);
	return s;
}
