/* httpc — see httpc.h. */
#include "lib/httpc.h"

#include <curl/curl.h>
#include <sys/socket.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/netpolicy.h"
#include "lib/xalloc.h"

static CURL *httpc_curl;

struct httpc_sink {
	struct arena *a;
	char *buf;
	size_t len, cap;
	bool too_big;
	const struct httpc_request *req;
	struct httpc_response *out;
	int nheaders;
};

static size_t httpc_write(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct httpc_sink *s = ctx;
	size_t n = size * nmemb;

	if (s->len + n > (s->req->max_body > 0 ? s->req->max_body : (size_t)HTTPC_MAX_BODY)) {
		s->too_big = true;
		return 0; /* aborts the transfer */
	}
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		char *nb;
		while (cap < s->len + n + 1)
			cap *= 2;
		nb = arena_alloc(s->a, cap);
		if (s->len > 0)
			memcpy(nb, s->buf, s->len);
		s->buf = nb;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	return n;
}

static size_t httpc_header(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct httpc_sink *s = ctx;
	size_t n = size * nmemb;
	const char *colon = memchr(data, ':', n);

	if (colon == NULL || s->req->want == NULL)
		return n;
	for (const char *const *w = s->req->want; *w != NULL && s->nheaders < 8; w++) {
		size_t wl = strlen(*w);
		if ((size_t)(colon - data) == wl && strncasecmp(data, *w, wl) == 0) {
			const char *v = colon + 1;
			size_t vl = n - (size_t)(v - data);
			while (vl > 0 && (*v == ' ' || *v == '\t'))
				v++, vl--;
			while (vl > 0 &&
			       (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
				vl--;
			s->out->header_names[s->nheaders] = *w;
			s->out->header_values[s->nheaders] = arena_strndup(s->a, v, vl);
			s->nheaders++;
			break;
		}
	}
	return n;
}

char *httpc_escape(struct arena *a, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s), j = 0;
	char *d = arena_alloc(a, 3 * n + 1);

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			d[j++] = (char)c;
		} else {
			d[j++] = '%';
			d[j++] = hex[c >> 4];
			d[j++] = hex[c & 15];
		}
	}
	d[j] = '\0';
	return d;
}

void httpc_buf_free(struct httpc_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void httpc_buf_reset(struct httpc_buf *b, size_t limit)
{
	httpc_buf_free(b);
	b->limit = limit;
	b->too_large = false;
}

size_t httpc_buf_write(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct httpc_buf *b = ctx;
	size_t n = size * nmemb;

	if (b->len + n > b->limit) {
		b->too_large = true;
		return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* Opens a socket unless the address is refused by the outbound policy (ctx: the mode). */
static curl_socket_t httpc_opensocket(void *ctx, curlsocktype purpose, struct curl_sockaddr *addr)
{
	const bool *development = ctx;

	(void)purpose;
	if (netpolicy_addr_refused(&addr->addr, *development)) {
		log_warn("outbound connection to a refused address blocked");
		return CURL_SOCKET_BAD;
	}
	return socket(addr->family, addr->socktype, addr->protocol);
}

struct curl_slist *httpc_easy_setup(CURL *e, const struct httpc_easy *o)
{
	static bool modes[2] = {false, true}; /* the opensocket callback's context */
	struct curl_slist *hdrs = NULL;

	for (const char *const *h = o->headers; h != NULL && *h != NULL; h++)
		hdrs = curl_slist_append(hdrs, *h);
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(e, CURLOPT_URL, o->url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, netpolicy_protocols(o->development));
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, httpc_opensocket);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, &modes[o->development ? 1 : 0]);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->timeout_ms > 0 ? o->timeout_ms : 10000L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e, CURLOPT_USERAGENT,
	                 o->user_agent != NULL ? o->user_agent : "aiphoto/" AIPHOTO_VERSION);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, o->write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, o->write_ctx);
	if (o->header != NULL) {
		curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, o->header);
		curl_easy_setopt(e, CURLOPT_HEADERDATA, o->header_ctx);
	}
	if (o->aws_sigv4 != NULL) {
		curl_easy_setopt(e, CURLOPT_AWS_SIGV4, o->aws_sigv4);
		curl_easy_setopt(e, CURLOPT_USERPWD, o->userpwd);
	}
	if (strcmp(o->method, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (strcmp(o->method, "GET") != 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, o->method);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, o->body ? o->body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		                 (curl_off_t)(o->body ? o->body_len : 0));
	}
	return hdrs;
}

enum api_err httpc_do(struct arena *a, const struct httpc_request *req, struct httpc_response *out)
{
	struct httpc_sink sink = {.a = a, .req = req, .out = out};
	struct curl_slist *hdrs = NULL;
	enum api_err err = E_UPSTREAM_ERROR;
	bool dev = config_get()->development;
	CURLcode rc;

	memset(out, 0, sizeof(*out));
	if (!netpolicy_url_allowed(req->url, dev)) {
		log_error("outbound URL refused (https only outside development): %.80s", req->url);
		return E_UPSTREAM_ERROR;
	}
	if (httpc_curl == NULL) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		httpc_curl = curl_easy_init();
		if (httpc_curl == NULL)
			return E_UPSTREAM_ERROR;
	} else {
		curl_easy_reset(httpc_curl);
	}
	hdrs = httpc_easy_setup(httpc_curl, &(const struct httpc_easy){
	                                        .method = req->method,
	                                        .url = req->url,
	                                        .headers = req->headers,
	                                        .body = req->body,
	                                        .body_len = req->body_len,
	                                        .timeout_ms = req->timeout_ms,
	                                        .development = dev,
	                                        .write = httpc_write,
	                                        .write_ctx = &sink,
	                                        .header = httpc_header,
	                                        .header_ctx = &sink,
	                                        .aws_sigv4 = req->aws_sigv4,
	                                        .userpwd = req->userpwd,
	                                    });
	rc = curl_easy_perform(httpc_curl);
	if (rc != CURLE_OK) {
		log_warn("upstream %s %.120s failed: %s", req->method, req->url,
		         sink.too_big ? "answer too large" : curl_easy_strerror(rc));
		err = rc == CURLE_OPERATION_TIMEDOUT ? E_TIMEOUT : E_UPSTREAM_ERROR;
		out->too_large = sink.too_big;
		goto out;
	}
	curl_easy_getinfo(httpc_curl, CURLINFO_RESPONSE_CODE, &out->status);
	out->body = sink.buf ? sink.buf : arena_strdup(a, "");
	if (sink.buf)
		sink.buf[sink.len] = '\0';
	out->len = sink.len;
	err = E_OK;
out:
	curl_slist_free_all(hdrs);
	return err;
}

void httpc_fini(void)
{
	if (httpc_curl != NULL)
		curl_easy_cleanup(httpc_curl);
	httpc_curl = NULL;
}
