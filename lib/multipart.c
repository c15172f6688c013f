/* multipart — see multipart.h. */
#include "lib/multipart.h"

#include <string.h>
#include <strings.h>

#define MP_MAX_PARAMS 8

struct mp_param {
	const char *name;
	size_t nlen;
	const char *value; /* arena, unquoted */
};

static bool mp_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 9110 tchar. */
static bool mp_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool mp_is(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

static const char *mp_skip_ows(const char *p, const char *end)
{
	while (p < end && mp_ows(*p))
		p++;
	return p;
}

/* A token at p (at least one character); returns its end, or NULL. */
static const char *mp_token(const char *p, const char *end)
{
	const char *s = p;

	while (p < end && mp_tchar((unsigned char)*p))
		p++;
	return p > s ? p : NULL;
}

/*
 * The parameters after a media type or disposition type: *( OWS ";" OWS name "=" value )
 * with value a token or a quoted string (backslash escapes one character).  Returns the
 * count (at most max), or -1 for a syntax error or too many.
 */
static int mp_params(struct arena *a, const char *p, const char *end, struct mp_param *out, int max)
{
	int n = 0;

	for (;;) {
		const char *name, *nend;

		p = mp_skip_ows(p, end);
		if (p == end)
			return n;
		if (*p != ';')
			return -1;
		p = mp_skip_ows(p + 1, end);
		if (p == end)
			return n; /* a trailing ';' is tolerated */
		name = p;
		if ((nend = mp_token(p, end)) == NULL || nend == end || *nend != '=')
			return -1;
		if (n == max)
			return -1;
		out[n].name = name;
		out[n].nlen = (size_t)(nend - name);
		p = nend + 1;
		if (p < end && *p == '"') {
			char *v = arena_alloc(a, (size_t)(end - p));
			size_t vl = 0;

			for (p++;; p++) {
				if (p == end)
					return -1;
				if (*p == '"')
					break;
				if (*p == '\\') {
					if (++p == end)
						return -1;
				}
				v[vl++] = *p;
			}
			v[vl] = '\0';
			out[n].value = v;
			p++;
		} else {
			const char *vend = mp_token(p, end);
			if (vend == NULL)
				return -1;
			out[n].value = arena_strndup(a, p, (size_t)(vend - p));
			p = vend;
		}
		n++;
	}
}

/* The value of parameter name, or NULL. */
static const char *mp_param(const struct mp_param *ps, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (mp_is(ps[i].name, ps[i].nlen, name))
			return ps[i].value;
	return NULL;
}

/* "multipart/form-data" at the start of ct; returns the rest, or NULL. */
static const char *mp_form_rest(const char *ct)
{
	static const char type[] = "multipart/form-data";
	size_t n = sizeof(type) - 1;

	if (ct == NULL)
		return NULL;
	while (mp_ows(*ct))
		ct++;
	if (strncasecmp(ct, type, n) != 0)
		return NULL;
	if (ct[n] != '\0' && ct[n] != ';' && !mp_ows(ct[n]))
		return NULL;
	return ct + n;
}

bool multipart_is_form(const char *content_type)
{
	return mp_form_rest(content_type) != NULL;
}

/* RFC 2046 boundary: 1-70 bchars, not ending in a space. */
static bool mp_boundary_ok(const char *b)
{
	size_t n = strlen(b);

	if (n < 1 || n > MULTIPART_MAX_BOUNDARY || b[n - 1] == ' ')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)b[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      strchr("'()+_,-./:=? ", c) != NULL))
			return false;
	}
	return true;
}

/* One part header line (without its CRLF). */
static enum api_err mp_header(struct arena *a, const char *line, size_t n,
                              struct multipart_part *part, bool *disposition, const char **why)
{
	const char *end = line + n, *colon, *v;
	struct mp_param ps[MP_MAX_PARAMS];
	int np;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			*why = "multipart: control character in a part header";
			return E_BAD_REQUEST;
		}
	}
	colon = mp_token(line, end);
	if (colon == NULL || colon == end || *colon != ':') {
		*why = "multipart: malformed part header";
		return E_BAD_REQUEST;
	}
	v = mp_skip_ows(colon + 1, end);
	while (end > v && mp_ows(end[-1]))
		end--;
	if (mp_is(line, (size_t)(colon - line), "Content-Disposition")) {
		const char *tend = mp_token(v, end);

		if (*disposition) {
			*why = "multipart: two Content-Disposition headers in a part";
			return E_BAD_REQUEST;
		}
		if (tend == NULL || !mp_is(v, (size_t)(tend - v), "form-data")) {
			*why = "multipart: a part is not Content-Disposition: form-data";
			return E_BAD_REQUEST;
		}
		if ((np = mp_params(a, tend, end, ps, MP_MAX_PARAMS)) < 0) {
			*why = "multipart: malformed Content-Disposition";
			return E_BAD_REQUEST;
		}
		part->name = mp_param(ps, np, "name");
		part->filename = mp_param(ps, np, "filename");
		if (part->name == NULL) {
			*why = "multipart: a part has no name";
			return E_BAD_REQUEST;
		}
		*disposition = true;
	} else if (mp_is(line, (size_t)(colon - line), "Content-Type")) {
		if (part->content_type != NULL) {
			*why = "multipart: two Content-Type headers in a part";
			return E_BAD_REQUEST;
		}
		part->content_type = arena_strndup(a, v, (size_t)(end - v));
	}
	return E_OK; /* other headers are ignored */
}

/* Finds needle in [p, end); memmem over bounds that may be empty. */
static const unsigned char *mp_find(const unsigned char *p, const unsigned char *end,
                                    const char *needle, size_t nlen)
{
	if (p >= end || (size_t)(end - p) < nlen)
		return NULL;
	return memmem(p, (size_t)(end - p), needle, nlen);
}

enum api_err multipart_parse(struct arena *a, const char *content_type, const unsigned char *body,
                             size_t len, struct multipart *out, const char **why)
{
	const char *rest = mp_form_rest(content_type);
	const unsigned char *p, *end, *q;
	struct mp_param ps[MP_MAX_PARAMS];
	const char *boundary;
	char *delim; /* "\r\n--" boundary */
	size_t dl;
	int np;

	out->n = 0;
	*why = NULL;
	if (rest == NULL) {
		*why = "Content-Type: multipart/form-data expected";
		return E_UNSUPPORTED_MEDIA_TYPE;
	}
	np = mp_params(a, rest, rest + strlen(rest), ps, MP_MAX_PARAMS);
	boundary = np < 0 ? NULL : mp_param(ps, np, "boundary");
	if (boundary == NULL || !mp_boundary_ok(boundary)) {
		*why = "Content-Type: multipart/form-data needs a valid boundary";
		return E_UNSUPPORTED_MEDIA_TYPE;
	}
	delim = arena_printf(a, "\r\n--%s", boundary);
	dl = strlen(delim);
	if (body == NULL || len == 0) {
		body = (const unsigned char *)"";
		len = 0;
	}
	end = body + len;

	/* the first delimiter: at the very start, or after a preamble ending in CRLF */
	if (len >= dl - 2 && memcmp(body, delim + 2, dl - 2) == 0)
		p = body + dl - 2;
	else if ((q = mp_find(body, end, delim, dl)) != NULL)
		p = q + dl;
	else {
		*why = "multipart: no boundary line in the body";
		return E_BAD_REQUEST;
	}

	for (;;) {
		struct multipart_part *part;
		bool disposition = false;
		int nheaders = 0;

		/* p is just after a delimiter: "--" closes, else padding and CRLF */
		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			return E_OK;
		while (p < end && mp_ows((char)*p))
			p++;
		if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
			*why = "multipart: malformed boundary line";
			goto bad;
		}
		p += 2;
		if (out->n == MULTIPART_MAX_PARTS) {
			*why = "multipart: too many parts";
			goto bad;
		}
		part = &out->parts[out->n];
		memset(part, 0, sizeof(*part));

		for (;;) {
			size_t room = (size_t)(end - p);
			const unsigned char *eol;
			enum api_err err;

			if (room > MULTIPART_MAX_LINE + 2)
				room = MULTIPART_MAX_LINE + 2;
			eol = mp_find(p, p + room, "\r\n", 2);
			if (eol == NULL) {
				*why = (size_t)(end - p) > MULTIPART_MAX_LINE + 2
				           ? "multipart: part header line too long"
				           : "multipart: truncated part header";
				goto bad;
			}
			if (eol == p) {
				p += 2;
				break;
			}
			if (++nheaders > MULTIPART_MAX_HEADERS) {
				*why = "multipart: too many part headers";
				goto bad;
			}
			err = mp_header(a, (const char *)p, (size_t)(eol - p), part, &disposition,
			                why);
			if (err != E_OK) {
				out->n = 0;
				return err;
			}
			p = eol + 2;
		}
		if (!disposition) {
			*why = "multipart: a part has no Content-Disposition";
			goto bad;
		}
		if ((q = mp_find(p, end, delim, dl)) == NULL) {
			*why = "multipart: truncated body (no closing boundary)";
			goto bad;
		}
		part->data = p;
		part->len = (size_t)(q - p);
		out->n++;
		p = q + dl;
	}
bad:
	out->n = 0;
	return E_BAD_REQUEST;
}

const struct multipart_part *multipart_find(const struct multipart *m, const char *name,
                                            size_t *count)
{
	const struct multipart_part *first = NULL;
	size_t c = 0;

	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->parts[i].name, name) == 0) {
			if (first == NULL)
				first = &m->parts[i];
			c++;
		}
	if (count != NULL)
		*count = c;
	return first;
}
