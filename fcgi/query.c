/* query — see query.h. */
#include "fcgi/query.h"

#include <string.h>

static int query_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *query_decode(struct arena *a, const char *s, size_t n, bool plus_is_space)
{
	char *d = arena_alloc(a, n + 1);
	size_t i, j = 0;

	for (i = 0; i < n; i++) {
		char c = s[i];
		int hi, lo;
		if (c == '%' && i + 2 < n && (hi = query_hex(s[i + 1])) >= 0 &&
		    (lo = query_hex(s[i + 2])) >= 0) {
			c = (char)(hi << 4 | lo);
			if (c == '\0')
				return NULL;
			i += 2;
		} else if (c == '+' && plus_is_space) {
			c = ' ';
		} else if (c == '\0') {
			return NULL;
		}
		d[j++] = c;
	}
	d[j] = '\0';
	return d;
}

size_t query_parse(struct arena *a, const char *qs, struct query_param **out)
{
	struct query_param *p = arena_alloc(a, sizeof(*p) * QUERY_MAX_PARAMS);
	size_t count = 0;
	const char *s = qs ? qs : "";

	while (*s != '\0' && count < QUERY_MAX_PARAMS) {
		const char *amp = strchr(s, '&');
		size_t len = amp ? (size_t)(amp - s) : strlen(s);
		const char *eq = memchr(s, '=', len);
		size_t nlen = eq ? (size_t)(eq - s) : len;

		if (nlen > 0) {
			char *name = query_decode(a, s, nlen, true);
			char *value = eq ? query_decode(a, eq + 1, len - nlen - 1, true)
			                 : arena_strdup(a, "");
			if (name != NULL && value != NULL) {
				p[count].name = name;
				p[count].value = value;
				count++;
			}
		}
		s += len;
		if (*s == '&')
			s++;
	}
	*out = p;
	return count;
}
