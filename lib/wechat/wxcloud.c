/* wxcloud — see wxcloud.h. */
#include "lib/wechat/wxcloud.h"

#include <stdio.h>
#include <string.h>

#include "lib/jsonx.h"

#define WXCLOUD_HOST_SUFFIX ".tcb.qcloud.la"

static bool wxcloud_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* Copies the name at s up to the byte stop (at most max bytes of wxcloud_name_char) into
 * out; returns the byte after it, or NULL. */
static const char *wxcloud_name(const char *s, char stop, char *out, size_t max)
{
	size_t n = 0;

	while (s[n] != '\0' && s[n] != stop) {
		if (n >= max || !wxcloud_name_char(s[n]))
			return NULL;
		out[n] = s[n];
		n++;
	}
	if (n == 0 || s[n] != stop)
		return NULL;
	out[n] = '\0';
	return s + n + 1;
}

/* A path of non-empty segments other than "." and "..", no control bytes, no '\\'. */
static bool wxcloud_path_ok(const char *p)
{
	const char *seg = p;

	if (*p == '\0')
		return false;
	for (;; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '/' || c == '\0') {
			size_t len = (size_t)(p - seg);
			if (len == 0 || (len == 1 && seg[0] == '.') ||
			    (len == 2 && seg[0] == '.' && seg[1] == '.'))
				return false;
			if (c == '\0')
				return true;
			seg = p + 1;
		} else if (c < 0x20 || c == 0x7f || c == '\\') {
			return false;
		}
	}
}

bool wxcloud_is_fileid(const char *s)
{
	return s != NULL && strncmp(s, WXCLOUD_SCHEME, sizeof(WXCLOUD_SCHEME) - 1) == 0;
}

bool wxcloud_fileid_parse(const char *id, struct wxcloud_fileid *out)
{
	const char *p;

	if (!wxcloud_is_fileid(id) || strlen(id) > WXCLOUD_MAX_ID)
		return false;
	p = wxcloud_name(id + sizeof(WXCLOUD_SCHEME) - 1, '.', out->env, WXCLOUD_MAX_ENV);
	if (p != NULL)
		p = wxcloud_name(p, '/', out->bucket, WXCLOUD_MAX_BUCKET);
	if (p == NULL || !wxcloud_path_ok(p))
		return false;
	out->path = p;
	return true;
}

/* True when bucket is "<hex of env's first two chars>-<env>-<digits>". */
static bool wxcloud_bucket_complete(const struct wxcloud_fileid *f)
{
	char head[WXCLOUD_MAX_ENV + 8];
	size_t hl, n = 0;
	const char *rest;

	for (size_t i = 0; i < 2 && f->env[i] != '\0'; i++)
		n += (size_t)snprintf(head + n, sizeof(head) - n, "%02x", (unsigned char)f->env[i]);
	snprintf(head + n, sizeof(head) - n, "-%s-", f->env);
	hl = strlen(head);
	if (strncmp(f->bucket, head, hl) != 0)
		return false;
	rest = f->bucket + hl;
	if (*rest == '\0')
		return false;
	for (; *rest != '\0'; rest++)
		if (*rest < '0' || *rest > '9')
			return false;
	return true;
}

/* A byte a URL path may carry as it is (RFC 3986 pchar and '/', but not '%'). */
static bool wxcloud_url_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("-._~!$&'()*+,;=:@/", c) != NULL);
}

bool wxcloud_public_url(const char *file_id, const char *prefix, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	struct wxcloud_fileid f;
	size_t n, plen;
	int k;

	if (outlen == 0 || !wxcloud_fileid_parse(file_id, &f))
		return false;
	if (prefix != NULL && prefix[0] != '\0') {
		plen = strlen(prefix);
		while (plen > 0 && prefix[plen - 1] == '/')
			plen--;
		k = snprintf(out, outlen, "%.*s/", (int)plen, prefix);
	} else if (wxcloud_bucket_complete(&f)) {
		k = snprintf(out, outlen, "https://%s" WXCLOUD_HOST_SUFFIX "/", f.bucket);
	} else {
		return false;
	}
	if (k < 0 || (size_t)k >= outlen)
		return false;
	n = (size_t)k;
	for (const unsigned char *p = (const unsigned char *)f.path; *p != '\0'; p++) {
		bool plain = wxcloud_url_char(*p);

		if (n + (plain ? 1 : 3) + 1 > outlen)
			return false;
		if (plain) {
			out[n++] = (char)*p;
		} else {
			out[n++] = '%';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 15];
		}
	}
	out[n] = '\0';
	return true;
}

const char *wxcloud_download_body(struct arena *a, const char *env, const char *const *ids,
                                  size_t n, long max_age)
{
	json_object *req = json_object_new_object(), *list = json_object_new_array_ext((int)n);
	const char *text;

	for (size_t i = 0; i < n; i++) {
		json_object *f = json_object_new_object();
		json_object_object_add(f, "fileid", json_object_new_string(ids[i]));
		json_object_object_add(f, "max_age", json_object_new_int64(max_age));
		json_object_array_add(list, f);
	}
	json_object_object_add(req, "env", json_object_new_string(env));
	json_object_object_add(req, "file_list", list);
	text = jsonx_text(a, req);
	json_object_put(req);
	return text;
}

/* The string member key of o, or NULL. */
static const char *wxcloud_member(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* One file_list entry as a link. */
static void wxcloud_link_of(struct arena *a, json_object *e, struct wxcloud_link *out)
{
	json_object *v;
	const char *url = wxcloud_member(e, "download_url"), *msg = wxcloud_member(e, "errmsg");

	out->status =
	    json_object_object_get_ex(e, "status", &v) ? (long)json_object_get_int64(v) : 0;
	out->errmsg = arena_strdup(a, msg != NULL ? msg : "");
	if (out->status == 0 && url != NULL && url[0] != '\0') {
		out->state = WXCLOUD_OK;
		out->url = arena_strdup(a, url);
	} else if (out->status == -503003 || strstr(out->errmsg, "NONEXIST") != NULL ||
	           strstr(out->errmsg, "NOT_EXIST") != NULL) {
		out->state = WXCLOUD_MISSING;
	} else {
		out->state = WXCLOUD_REFUSED;
	}
}

enum api_err wxcloud_download_parse(struct arena *a, json_object *answer, const char *const *ids,
                                    size_t n, struct wxcloud_link *out)
{
	json_object *list;
	size_t len;

	if (answer == NULL || !json_object_object_get_ex(answer, "file_list", &list) ||
	    !json_object_is_type(list, json_type_array))
		return E_UPSTREAM_ERROR;
	len = json_object_array_length(list);
	for (size_t i = 0; i < n; i++) {
		json_object *hit = NULL;

		for (size_t j = 0; j < len && hit == NULL; j++) {
			json_object *e = json_object_array_get_idx(list, j);
			const char *fid = wxcloud_member(e, "fileid");
			if (fid != NULL ? strcmp(fid, ids[i]) == 0 : j == i)
				hit = e;
		}
		memset(&out[i], 0, sizeof(out[i]));
		if (hit != NULL && json_object_is_type(hit, json_type_object)) {
			wxcloud_link_of(a, hit, &out[i]);
		} else {
			out[i].state = WXCLOUD_REFUSED;
			out[i].errmsg = "not in the answer";
		}
	}
	return E_OK;
}
