/* response — see response.h. */
#include "fcgi/response.h"

#include <stdio.h>
#include <string.h>

#include "lib/config.h"

/* What a CORS answer lets the page see and send (docs/security.md, "CORS"). */
#define RESPONSE_CORS_EXPOSE "X-Request-Id, Retry-After"
#define RESPONSE_CORS_HEADERS "Authorization, Content-Type, Idempotency-Key, X-Request-Id"
#define RESPONSE_CORS_MAX_AGE "600"

static const char *response_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 302:
		return "Found";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 402:
		return "Payment Required";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 422:
		return "Unprocessable Content";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Unknown";
	}
}

bool response_request_id_ok(const char *id)
{
	size_t n = 0;

	if (id == NULL)
		return false;
	for (; id[n] != '\0'; n++) {
		char c = id[n];
		if (n >= 64 || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		                 (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
			return false;
	}
	return n > 0;
}

/* An output buffer in the arena, sized by the caller; appends never overflow it. */
struct response_buf {
	char *p;
	size_t len, cap;
};

static void response_put(struct response_buf *b, const char *s, size_t n)
{
	if (n > b->cap - b->len)
		n = b->cap - b->len;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void response_puts(struct response_buf *b, const char *s)
{
	response_put(b, s, strlen(s));
}

static void response_putu(struct response_buf *b, unsigned long v)
{
	char d[24];
	size_t i = sizeof(d);

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	response_put(b, d + i, sizeof(d) - i);
}

/* Text of a JSON value with '/' unescaped; owned by o. */
static const char *response_json(json_object *o, size_t *n)
{
	return json_object_to_json_string_length(
	    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, n);
}

/*
 * X-Accel-Redirect's URI for a file below MEDIA_DIR: CONFIG_ACCEL_MEDIA_PREFIX + the rest of
 * its path (our own file names: letters, digits, '/', '.', '_', '-', so nothing to escape);
 * NULL when the file is not below MEDIA_DIR or its name has anything else in it, or "..".
 */
static const char *response_accel_uri(struct arena *a, const char *path)
{
	const char *dir = config_get()->media_dir;
	size_t n = dir != NULL ? strlen(dir) : 0;

	while (n > 0 && dir[n - 1] == '/')
		n--;
	if (n == 0 || strncmp(path, dir, n) != 0 || path[n] != '/')
		return NULL;
	path += n + 1;
	if (path[strspn(path,
	                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-")] !=
	        '\0' ||
	    strstr(path, "..") != NULL)
		return NULL;
	return arena_printf(a, "%s%s", CONFIG_ACCEL_MEDIA_PREFIX, path);
}

/* The CORS headers of an answer (router_cors, router_options). */
static void response_cors(struct response_buf *b, const struct reply *rep)
{
	if (rep->preflight && rep->allow != NULL) {
		response_puts(b, "Allow: ");
		response_puts(b, rep->allow);
		response_puts(b, ", OPTIONS\r\n");
	}
	if (rep->vary_origin)
		response_puts(b, "Vary: Origin\r\n");
	if (rep->cors_origin == NULL || strpbrk(rep->cors_origin, "\r\n") != NULL)
		return;
	/* the origin itself, never "*": credentials are allowed */
	response_puts(b, "Access-Control-Allow-Origin: ");
	response_puts(b, rep->cors_origin);
	response_puts(b, "\r\nAccess-Control-Allow-Credentials: true\r\n");
	if (rep->preflight && rep->allow != NULL) {
		response_puts(b, "Access-Control-Allow-Methods: ");
		response_puts(b, rep->allow);
		response_puts(b, "\r\nAccess-Control-Allow-Headers: " RESPONSE_CORS_HEADERS
		                 "\r\nAccess-Control-Max-Age: " RESPONSE_CORS_MAX_AGE "\r\n");
	} else {
		response_puts(b, "Access-Control-Expose-Headers: " RESPONSE_CORS_EXPOSE "\r\n");
	}
}

char *response_render(struct arena *a, const struct request *req, const struct reply *rep,
                      enum api_err err, size_t *len, int *status)
{
	static const char json_type[] = "application/json; charset=utf-8";
	const char *type = json_type, *body = NULL, *data = NULL, *msg = NULL;
	const char *location = rep->location, *cookie = rep->set_cookie;
	const char *rid = req->request_id ? req->request_id : "-";
	const char *sendfile = rep->sendfile, *disp = rep->disposition;
	size_t blen = 0, dlen = 0, mlen = 0, cap;
	bool headers_only = false;
	json_object *msgo = NULL;
	struct response_buf b, bb;
	int st = err == E_OK ? (rep->status ? rep->status : 200) : api_err_status(err);

	/* header values come from our own code; still, no CR/LF may split a header */
	if (location != NULL && strpbrk(location, "\r\n") != NULL)
		location = NULL;
	if (cookie != NULL && strpbrk(cookie, "\r\n") != NULL)
		cookie = NULL;
	if (sendfile != NULL && strpbrk(sendfile, "\r\n") != NULL)
		sendfile = NULL;
	if (err == E_OK && sendfile != NULL && config_get()->media_accel &&
	    (sendfile = response_accel_uri(a, sendfile)) == NULL) {
		err = E_INTERNAL;
		st = api_err_status(err);
	}
	if (disp != NULL && strpbrk(disp, "\r\n") != NULL)
		disp = NULL;
	if (err == E_OK && (st == 204 || st == 302)) {
		type = NULL;
	} else if (err == E_OK && (rep->sendfile != NULL || rep->stream != NULL)) {
		type = rep->raw_type ? rep->raw_type : "application/octet-stream";
		headers_only = true;
	} else if (err == E_OK && rep->raw != NULL) {
		body = rep->raw;
		blen = rep->raw_len;
		type = rep->raw_type ? rep->raw_type : "text/plain; charset=utf-8";
	} else {
		/* the envelope is assembled around the serialised data and message */
		data = rep->data ? response_json(rep->data, &dlen) : "null";
		if (rep->data == NULL)
			dlen = 4;
		if (err != E_OK) {
			msgo = json_object_new_string(rep->message ? rep->message
			                                           : api_err_message(err));
			msg = response_json(msgo, &mlen);
		}
	}
	/* the body first, so that its length is known for the header */
	cap = blen + dlen + mlen + 64 + strlen(api_err_code(err));
	bb.p = arena_alloc(a, cap);
	bb.len = 0;
	bb.cap = cap;
	if (headers_only) {
		/* no body from here: lighttpd sends the file, or the worker streams it */
	} else if (body != NULL) {
		response_put(&bb, body, blen);
	} else if (type != NULL && err == E_OK) {
		response_puts(&bb, "{\"success\":true,\"data\":");
		response_put(&bb, data, dlen);
		response_puts(&bb, "}");
	} else if (type != NULL) {
		response_puts(&bb, "{\"success\":false,\"code\":\"");
		response_puts(&bb, api_err_code(err));
		response_puts(&bb, "\",\"message\":");
		response_put(&bb, msg, mlen);
		if (rep->data != NULL) {
			response_puts(&bb, ",\"data\":");
			response_put(&bb, data, dlen);
		}
		response_puts(&bb, "}");
	}
	cap = 200 + strlen(rid) + (type ? strlen(type) : 0) +
	      (rep->allow ? strlen(rep->allow) : 0) + (location ? strlen(location) : 0) +
	      (cookie ? strlen(cookie) : 0) + 2 * (sendfile ? strlen(sendfile) : 0) +
	      (disp ? strlen(disp) : 0) + bb.len +
	      (rep->cors_origin ? 2 * strlen(rep->cors_origin) + 300 : 0) + 16;
	b.p = arena_alloc(a, cap + 1);
	b.len = 0;
	b.cap = cap;
	response_puts(&b, "Status: ");
	response_putu(&b, (unsigned long)st);
	response_puts(&b, " ");
	response_puts(&b, response_reason(st));
	response_puts(&b, "\r\nX-Request-Id: ");
	response_puts(&b, rid);
	response_puts(&b, "\r\nCache-Control: no-store\r\n");
	if (rep->allow != NULL && !rep->preflight) {
		response_puts(&b, "Allow: ");
		response_puts(&b, rep->allow);
		response_puts(&b, "\r\n");
	}
	if (rep->retry_after > 0) {
		response_puts(&b, "Retry-After: ");
		response_putu(&b, (unsigned long)rep->retry_after);
		response_puts(&b, "\r\n");
	}
	if (location != NULL) {
		response_puts(&b, "Location: ");
		response_puts(&b, location);
		response_puts(&b, "\r\n");
	}
	if (cookie != NULL) {
		response_puts(&b, "Set-Cookie: ");
		response_puts(&b, cookie);
		response_puts(&b, "\r\n");
	}
	response_cors(&b, rep);
	if (headers_only && sendfile != NULL && config_get()->media_accel) {
		response_puts(&b, "X-Accel-Redirect: ");
		response_puts(&b, sendfile);
		response_puts(&b, "\r\n");
	} else if (headers_only && sendfile != NULL) {
		/* lighttpd 1.4 reads either name; both for older and newer versions */
		response_puts(&b, "X-Sendfile: ");
		response_puts(&b, sendfile);
		response_puts(&b, "\r\nX-LIGHTTPD-send-file: ");
		response_puts(&b, sendfile);
		response_puts(&b, "\r\n");
	}
	if (disp != NULL) {
		response_puts(&b, "Content-Disposition: ");
		response_puts(&b, disp);
		response_puts(&b, "\r\n");
	}
	if (type != NULL) {
		response_puts(&b, "Content-Type: ");
		response_puts(&b, type);
		response_puts(&b, "\r\n");
	}
	if (type != NULL && !headers_only) {
		response_puts(&b, "Content-Length: ");
		response_putu(&b, (unsigned long)bb.len);
		response_puts(&b, "\r\n");
	}
	response_puts(&b, "\r\n");
	response_put(&b, bb.p, bb.len);
	json_object_put(msgo);
	b.p[b.len] = '\0';
	*len = b.len;
	*status = st;
	return b.p;
}
