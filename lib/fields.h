/*
 * fields — the checking of a JSON document against a table of its fields: the bodies of the
 * admin API's create and update routes and the system_config documents (lib/sysconfig.h).
 *
 * A table lists each field with its kind and bounds; fields_check walks a body against it
 * and hands back a clean copy holding the fields given, each checked, so what reaches the
 * model is exactly what the table allows.  Messages name the field (jsonx's words).  Pure:
 * no I/O; allocations in the arena and json-c's.
 */
#ifndef AIPHOTO_FIELDS_H
#define AIPHOTO_FIELDS_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/arena.h"
#include "lib/errors.h"

enum field_kind {
	FIELD_TEXT, /* a string of min..max characters, one of choices when given, check() true */
	FIELD_INT, /* an integer in [min, max] */
	FIELD_NUMBER, /* a number, integer or not, in [min, max] */
	FIELD_BOOL,
	FIELD_OBJECT, /* a JSON object of at most max bytes as text; with sub, its members are
	                 checked against that table too (strictly: none unknown) */
	FIELD_TEXTS /* an array of at most max strings, each of 1..item_max characters */
};

struct field {
	const char *name;
	enum field_kind kind;
	long long min, max;
	bool required; /* must be given when the whole document is (a creation, a config) */
	bool nullable; /* JSON null is a value (SQL NULL); otherwise null counts as absent */
	const char *const *choices; /* FIELD_TEXT: the values allowed, NULL-terminated */
	bool (*check)(const char *s); /* FIELD_TEXT: a further rule, with what saying it */
	const char *what; /* FIELD_TEXT with check: what the value must be, for the message */
	long long item_max; /* FIELD_TEXTS: the longest item, in characters */
	const struct field *sub; /* FIELD_OBJECT: the fields of the object (NULL: any) */
	size_t nsub;
};

/*
 * Checks body (a JSON object) against the n fields of f.  whole: every required field must be
 * given (a creation, or a document replaced whole; an object's sub-fields likewise);
 * otherwise any subset (an update).  strict:
 * a member the table does not name is refused; otherwise it is ignored.  E_OK with *clean a
 * new object (the caller puts it) holding the fields given; E_BAD_REQUEST with *why (arena)
 * naming the field otherwise, and *clean NULL.
 */
enum api_err fields_check(struct arena *a, json_object *body, const struct field *f, size_t n,
                          bool whole, bool strict, json_object **clean, const char **why);

/* Checks for FIELD_TEXT.check: */
/* an http(s) URL: the scheme, a host, no space, quote, backslash or control character */
bool fields_url(const char *s);
/* an environment variable name: [A-Z_][A-Z0-9_]{0,127} */
bool fields_env_name(const char *s);
/* text that is not only spaces (the tables' CHECK (btrim(x) <> '')) */
bool fields_not_blank(const char *s);

#endif
