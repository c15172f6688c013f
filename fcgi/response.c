/* response — see response.h. */
#include "fcgi/response.h"

#include <stdio.h>
#include <string.h>

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

/* Renders the JSON envelope; returns an arena copy of its text. */
static const char *response_envelope(struct arena *a, const struct reply *rep, enum api_err err,
                                     size_t *len)
{
	json_object *env = json_object_new_object();
	const char *text;
	size_t n;
	char *copy;

	if (err == E_OK) {
		json_object_object_add(env, "success", json_object_new_boolean(1));
		json_object_object_add(env, "data", json_object_get(rep->data));
	} else {
		json_object_object_add(env, "success", json_object_new_boolean(0));
		json_object_object_add(env, "code", json_object_new_string(api_err_code(err)));
		json_object_object_add(
		    env, "message",
		    json_object_new_string(rep->message ? rep->message : api_err_message(err)));
		if (rep->data != NULL)
			json_object_object_add(env, "data", json_object_get(rep->data));
	}
	text = json_object_to_json_string_length(
	    env, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	copy = arena_strndup(a, text, n);
	json_object_put(env);
	*len = n;
	return copy;
}

char *response_render(struct arena *a, const struct request *req, const struct reply *rep,
                      enum api_err err, size_t *len, int *status)
{
	const char *body = "", *type = "application/json; charset=utf-8";
	size_t blen = 0, hlen;
	const char *location = rep->location;
	const char *ctype, *allow, *retry, *loc;
	char *head, *out;
	int st = err == E_OK ? (rep->status ? rep->status : 200) : api_err_status(err);

	/* header values come from our own code; still, no CR/LF may split a header */
	if (location != NULL && strpbrk(location, "\r\n") != NULL)
		location = NULL;
	if (err == E_OK && st == 204) {
		type = NULL;
	} else if (err == E_OK && rep->raw != NULL) {
		body = rep->raw;
		blen = rep->raw_len;
		type = rep->raw_type ? rep->raw_type : "text/plain; charset=utf-8";
	} else if (err == E_OK && st == 302) {
		type = NULL;
	} else {
		body = response_envelope(a, rep, err, &blen);
	}
	ctype =
	    type ? arena_printf(a, "Content-Type: %s\r\nContent-Length: %zu\r\n", type, blen) : "";
	allow = rep->allow ? arena_printf(a, "Allow: %s\r\n", rep->allow) : "";
	retry =
	    rep->retry_after > 0 ? arena_printf(a, "Retry-After: %ld\r\n", rep->retry_after) : "";
	loc = location ? arena_printf(a, "Location: %s\r\n", location) : "";
	head = arena_printf(
	    a, "Status: %d %s\r\nX-Request-Id: %s\r\nCache-Control: no-store\r\n%s%s%s%s\r\n", st,
	    response_reason(st), req->request_id ? req->request_id : "-", ctype, allow, retry, loc);
	hlen = strlen(head);
	out = arena_alloc(a, hlen + blen + 1);
	memcpy(out, head, hlen);
	memcpy(out + hlen, body, blen);
	out[hlen + blen] = '\0';
	*len = hlen + blen;
	*status = st;
	return out;
}
