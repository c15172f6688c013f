/* clouddoc — see clouddoc.h. */
#include "lib/clouddoc.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/jsonx.h"

#define CLOUDDOC_MAX_OPENID 128
#define CLOUDDOC_MAX_ID 128
#define CLOUDDOC_MAX_URL 2048
#define CLOUDDOC_MAX_CREDITS 1000000000000LL
/* 1900-01-01 and 9999-12-31T23:59:59.999Z */
#define CLOUDDOC_MIN_MS (-2208988800000LL)
#define CLOUDDOC_MAX_MS 253402300799999LL

static const char *const clouddoc_names[CLOUDDOC__MAX] = {
    [CLOUDDOC_USERS] = "users",
    [CLOUDDOC_WORKS] = "works",
    [CLOUDDOC_SCENES] = "scenes",
    [CLOUDDOC_ORDERS] = "orders",
};

const char *clouddoc_kind_name(enum clouddoc_kind k)
{
	return (unsigned)k < CLOUDDOC__MAX ? clouddoc_names[k] : "?";
}

enum clouddoc_kind clouddoc_kind_parse(const char *s)
{
	for (int k = 0; k < CLOUDDOC__MAX; k++)
		if (s != NULL && strcmp(s, clouddoc_names[k]) == 0)
			return (enum clouddoc_kind)k;
	return CLOUDDOC__MAX;
}

json_object *clouddoc_parse_line(struct arena *a, const char *text, size_t len, const char **why)
{
	json_tokener *tok;
	json_object *o;
	enum json_tokener_error jerr;

	if (len > CLOUDDOC_MAX_LINE) {
		*why = arena_printf(a, "document: longer than %d bytes", CLOUDDOC_MAX_LINE);
		return NULL;
	}
	if (!jsonx_text_ok(text, len)) {
		*why = "document: not JSON (invalid UTF-8 or quoting)";
		return NULL;
	}
	tok = json_tokener_new_ex(CLOUDDOC_MAX_DEPTH);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	/* the NUL is passed too: it ends a bare top-level number or literal */
	o = json_tokener_parse_ex(tok, text, (int)len + 1);
	jerr = json_tokener_get_error(tok);
	if (o != NULL && jerr == json_tokener_success) {
		for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
			if (!isspace((unsigned char)text[i]))
				jerr = json_tokener_error_parse_unexpected;
	}
	json_tokener_free(tok);
	if (o == NULL || jerr != json_tokener_success) {
		json_object_put(o);
		if (jerr == json_tokener_success || jerr == json_tokener_continue)
			jerr = json_tokener_error_parse_eof;
		*why = arena_printf(a, "document: not JSON (%s)", json_tokener_error_desc(jerr));
		return NULL;
	}
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		*why = "document: must be a JSON object";
		return NULL;
	}
	return o;
}

const char *clouddoc_guess_id(struct arena *a, const char *text, size_t len)
{
	const char *end = text + len, *p = text, *q;

	while ((p = memmem(p, (size_t)(end - p), "\"_id\"", 5)) != NULL) {
		p += 5;
		while (p < end && isspace((unsigned char)*p))
			p++;
		if (p >= end || *p != ':')
			continue;
		p++;
		while (p < end && isspace((unsigned char)*p))
			p++;
		if (p >= end || *p != '"')
			continue;
		p++;
		/* a JSON string holds no raw control character: such a byte ends the guess */
		for (q = p; q < end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20 &&
		            q - p <= CLOUDDOC_MAX_ID;
		     q++)
			;
		if (q < end && *q == '"' && q > p)
			return arena_strndup(a, p, (size_t)(q - p));
	}
	return NULL;
}

/* ---------------------------------------------------------------------- times */

/* n digits of s as a number; -1 when one is not a digit. */
static int clouddoc_digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* The zone suffix at s ("", "Z", "+08:00", "+0800", "+08") as seconds east of UTC; 0 or -1. */
static int clouddoc_zone(const char *s, long *east)
{
	const char *end;
	int h, m = 0;

	*east = 0;
	if (*s == '\0' || (s[0] == 'Z' && s[1] == '\0'))
		return 0;
	if ((*s != '+' && *s != '-') || (h = clouddoc_digits(s + 1, 2)) < 0 || h > 14)
		return -1;
	end = s + 3;
	if (s[3] == ':') {
		m = clouddoc_digits(s + 4, 2);
		end = s + 6;
	} else if (s[3] != '\0') {
		m = clouddoc_digits(s + 3, 2);
		end = s + 5;
	}
	if (m < 0 || m > 59 || *end != '\0')
		return -1;
	*east = (h * 3600L + m * 60L) * (s[0] == '-' ? -1 : 1);
	return 0;
}

int clouddoc_iso_ms(const char *s, int64_t *ms)
{
	struct tm tm = {0}, back;
	int ms_part = 0;
	long east;
	time_t t;
	const char *p;

	if (s == NULL || strlen(s) < 10 || s[4] != '-' || s[7] != '-')
		return -1;
	tm.tm_year = clouddoc_digits(s, 4) - 1900;
	tm.tm_mon = clouddoc_digits(s + 5, 2) - 1;
	tm.tm_mday = clouddoc_digits(s + 8, 2);
	p = s + 10;
	if (*p == 'T' || *p == ' ') {
		if (strlen(p) < 6 || p[3] != ':')
			return -1;
		tm.tm_hour = clouddoc_digits(p + 1, 2);
		tm.tm_min = clouddoc_digits(p + 4, 2);
		p += 6;
		if (*p == ':') {
			/* two digits, or the end of s may come before p + 3 */
			if ((tm.tm_sec = clouddoc_digits(p + 1, 2)) < 0)
				return -1;
			p += 3;
			if (*p == '.') {
				int i = 0;
				for (p++; *p >= '0' && *p <= '9'; p++, i++)
					if (i < 3)
						ms_part = ms_part * 10 + (*p - '0');
				if (i == 0)
					return -1;
				for (; i < 3; i++)
					ms_part *= 10;
			}
		}
	}
	if (tm.tm_year < 0 || tm.tm_mon < 0 || tm.tm_mday < 1 || tm.tm_hour < 0 || tm.tm_min < 0 ||
	    tm.tm_sec < 0 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59 ||
	    clouddoc_zone(p, &east) < 0)
		return -1;
	back = tm;
	/* timegm normalises 02-30 into March (in tm too): a date that does not exist changes */
	t = timegm(&tm);
	if (tm.tm_mday != back.tm_mday || tm.tm_mon != back.tm_mon)
		return -1;
	*ms = ((int64_t)t - east) * 1000 + ms_part;
	return *ms >= CLOUDDOC_MIN_MS && *ms <= CLOUDDOC_MAX_MS ? 0 : -1;
}

void clouddoc_format_ms(int64_t ms, char out[32])
{
	int64_t sec = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
	time_t t = (time_t)sec;
	struct tm tm;
	char buf[80];

	gmtime_r(&t, &tm);
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	         (int)(ms - sec * 1000));
	snprintf(out, 32, "%.31s", buf);
}

/* ---------------------------------------------------------------------- fields */

/* doc[key], or NULL when absent or JSON null. */
static json_object *clouddoc_get(json_object *doc, const char *key)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(doc, key, &v))
		return NULL;
	return v;
}

/* A whole number in [min,max] (an integer, or a number with no fraction). */
static bool clouddoc_whole(json_object *v, int64_t min, int64_t max, int64_t *out)
{
	if (json_object_is_type(v, json_type_int)) {
		*out = json_object_get_int64(v);
		/* json-c keeps integers above INT64_MAX apart; they are out of any range here */
		return *out >= min && *out <= max && *out != INT64_MAX;
	}
	if (json_object_is_type(v, json_type_double)) {
		double d = json_object_get_double(v);
		if (!isfinite(d) || d < (double)min || d > (double)max || d != (double)(int64_t)d)
			return false;
		*out = (int64_t)d;
		return true;
	}
	return false;
}

/* A string with no NUL of at most max code points (min 1 when required). */
static bool clouddoc_string(struct arena *a, json_object *doc, const char *key, size_t max,
                            bool required, const char **out, const char **why)
{
	json_object *v = clouddoc_get(doc, key);
	const char *s;

	*out = NULL;
	if (v == NULL) {
		if (required)
			*why = arena_printf(a, "%s: is required", key);
		return !required;
	}
	s = json_object_get_string(v);
	if (!json_object_is_type(v, json_type_string) ||
	    strlen(s) != (size_t)json_object_get_string_len(v) || jsonx_utf8_len(s) > max ||
	    (required && *s == '\0')) {
		*why = arena_printf(a, "%s: must be a string of %s%zu characters", key,
		                    required ? "1-" : "at most ", max);
		return false;
	}
	*out = arena_strdup(a, s);
	return true;
}

/* A date field: {"$date": ms | "ISO"} or "ISO"; *iso gets it as clouddoc_format_ms text
 * (NULL when absent). */
static bool clouddoc_date(struct arena *a, json_object *doc, const char *key, const char **iso,
                          const char **why)
{
	json_object *v = clouddoc_get(doc, key), *d = NULL;
	int64_t ms = 0;
	bool ok = false;
	char buf[32];

	*iso = NULL;
	if (v == NULL)
		return true;
	if (json_object_is_type(v, json_type_object) && json_object_object_length(v) == 1 &&
	    json_object_object_get_ex(v, "$date", &d) && d != NULL)
		v = d;
	if (json_object_is_type(v, json_type_string))
		ok = clouddoc_iso_ms(json_object_get_string(v), &ms) == 0;
	else if (d != NULL)
		ok = clouddoc_whole(v, CLOUDDOC_MIN_MS, CLOUDDOC_MAX_MS, &ms);
	if (!ok) {
		*why = arena_printf(a, "%s: must be a date ({\"$date\": milliseconds or ISO 8601})",
		                    key);
		return false;
	}
	clouddoc_format_ms(ms, buf);
	*iso = arena_strdup(a, buf);
	return true;
}

/* Optional boolean, dflt when absent. */
static bool clouddoc_bool(struct arena *a, json_object *doc, const char *key, bool dflt, bool *out,
                          const char **why)
{
	json_object *v = clouddoc_get(doc, key);

	*out = dflt;
	if (v == NULL)
		return true;
	if (!json_object_is_type(v, json_type_boolean)) {
		*why = arena_printf(a, "%s: must be true or false", key);
		return false;
	}
	*out = json_object_get_boolean(v);
	return true;
}

/* Optional whole number in [0, CLOUDDOC_MAX_CREDITS], 0 when absent. */
static bool clouddoc_count(struct arena *a, json_object *doc, const char *key, int64_t *out,
                           const char **why)
{
	json_object *v = clouddoc_get(doc, key);

	*out = 0;
	if (v == NULL || clouddoc_whole(v, 0, CLOUDDOC_MAX_CREDITS, out))
		return true;
	*why =
	    arena_printf(a, "%s: must be a whole number from 0 to %lld", key, CLOUDDOC_MAX_CREDITS);
	return false;
}

/* The owner's openid: the first of keys that is present; every present one must agree. */
static bool clouddoc_owner(struct arena *a, json_object *doc, const char *k1, const char *k2,
                           const char **openid, const char **why)
{
	const char *o1 = NULL, *o2 = NULL;

	if (!clouddoc_string(a, doc, k1, CLOUDDOC_MAX_OPENID, false, &o1, why) ||
	    !clouddoc_string(a, doc, k2, CLOUDDOC_MAX_OPENID, false, &o2, why))
		return false;
	if (o1 != NULL && *o1 == '\0')
		o1 = NULL;
	if (o2 != NULL && *o2 == '\0')
		o2 = NULL;
	if (o1 != NULL && o2 != NULL && strcmp(o1, o2) != 0) {
		*why = arena_printf(a, "%s: differs from %s", k1, k2);
		return false;
	}
	*openid = o1 ? o1 : o2;
	if (*openid == NULL)
		*why = arena_printf(a, "%s: is required (or %s)", k1, k2);
	return *openid != NULL;
}

/* The row id a server _id names (prefix + digits), or 0. */
static int64_t clouddoc_server_id(const char *id, const char *prefix)
{
	size_t n = strlen(prefix);
	int64_t v = 0;

	if (id == NULL || strncmp(id, prefix, n) != 0 || id[n] == '\0' || strlen(id + n) > 18)
		return 0;
	for (const char *p = id + n; *p; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		v = v * 10 + (*p - '0');
	}
	return v;
}

/* Every string of v (a whole document) is free of NUL, which jsonb cannot hold. */
static bool clouddoc_nul_free(json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_string:
		return strlen(json_object_get_string(v)) == (size_t)json_object_get_string_len(v);
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (!clouddoc_nul_free(json_object_array_get_idx(v, i)))
				return false;
		return true;
	case json_type_object: {
		json_object_object_foreach(v, k, val)
		{
			(void)k;
			if (!clouddoc_nul_free(val))
				return false;
		}
		return true;
	}
	default:
		return true;
	}
}

static void clouddoc_add_str(json_object *row, const char *key, const char *s)
{
	json_object_object_add(row, key, jsonx_str_or_null(s));
}

/* ---------------------------------------------------------------------- collections */

/* The invite code when it fits ours (4-32 letters and digits), upper-cased; else NULL. */
static const char *clouddoc_invite(struct arena *a, const char *code)
{
	size_t n = code ? strlen(code) : 0;
	char *up;

	if (n < 4 || n > 32)
		return NULL;
	up = arena_strdup(a, code);
	for (size_t i = 0; i < n; i++) {
		if (!isalnum((unsigned char)up[i]))
			return NULL;
		up[i] = (char)toupper((unsigned char)up[i]);
	}
	return up;
}

/* aiphoto_handover, when present: an object whose "credits" is a whole number ≥ 0. */
static bool clouddoc_handover(struct arena *a, json_object *doc, const char **why)
{
	json_object *h = clouddoc_get(doc, CLOUDDOC_HANDOVER);
	int64_t n;

	if (h == NULL)
		return true;
	if (json_object_is_type(h, json_type_object) && clouddoc_get(h, "credits") != NULL &&
	    clouddoc_count(a, h, "credits", &n, why))
		return true;
	*why = CLOUDDOC_HANDOVER ": must be an object with credits, as the export writes it";
	return false;
}

static bool clouddoc_user(struct arena *a, json_object *doc, json_object *row, const char *id,
                          const char **why)
{
	const char *openid, *nickname, *avatar, *invite;
	int64_t credits;

	(void)id;
	if (!clouddoc_owner(a, doc, "openid", "_openid", &openid, why) ||
	    !clouddoc_string(a, doc, "nickname", 64, false, &nickname, why) ||
	    !clouddoc_string(a, doc, "avatar_url", 1024, false, &avatar, why) ||
	    !clouddoc_string(a, doc, "invite_code", 64, false, &invite, why) ||
	    !clouddoc_count(a, doc, "credits", &credits, why) || !clouddoc_handover(a, doc, why))
		return false;
	clouddoc_add_str(row, "openid", openid);
	clouddoc_add_str(row, "nickname", nickname);
	clouddoc_add_str(row, "avatar_url", avatar);
	clouddoc_add_str(row, "invite", clouddoc_invite(a, invite));
	json_object_object_add(row, "credits", json_object_new_int64(credits));
	return true;
}

/* The cloud work status → ours and the error code it comes with. */
static bool clouddoc_work_status(const char *s, const char **ours, const char **error_code)
{
	static const struct {
		const char *cloud, *ours, *error_code;
	} map[] = {
	    {"completed", "succeeded", NULL},
	    {"failed", "failed", "cloud_failed"},
	    {"pending", "canceled", "cloud_unfinished"},
	    {"processing", "canceled", "cloud_unfinished"},
	    {"canceled", "canceled", NULL},
	    {"cancelled", "canceled", NULL},
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(s, map[i].cloud) == 0) {
			*ours = map[i].ours;
			*error_code = map[i].error_code;
			return true;
		}
	}
	return false;
}

static bool clouddoc_work(struct arena *a, json_object *doc, json_object *row, const char *id,
                          const char **why)
{
	const char *openid, *type, *status, *ours = NULL, *error_code = NULL, *scene;
	json_object *images = clouddoc_get(doc, "images"),
	            *params = clouddoc_get(doc, "parameters");
	const char *first = NULL;
	size_t n;
	bool fav;

	if (!clouddoc_owner(a, doc, "user_openid", "_openid", &openid, why) ||
	    !clouddoc_string(a, doc, "type", 32, true, &type, why) ||
	    !clouddoc_string(a, doc, "status", 32, true, &status, why) ||
	    !clouddoc_string(a, doc, "scene_id", CLOUDDOC_MAX_ID, false, &scene, why) ||
	    !clouddoc_bool(a, doc, "is_favorite", false, &fav, why))
		return false;
	if (strcmp(type, "photography") != 0 && strcmp(type, "fitting") != 0) {
		*why = "type: must be photography or fitting";
		return false;
	}
	if (!clouddoc_work_status(status, &ours, &error_code)) {
		*why = "status: must be pending, processing, completed, failed or canceled";
		return false;
	}
	if (images != NULL && !json_object_is_type(images, json_type_array)) {
		*why = "images: must be an array of URLs or cloud:// file ids";
		return false;
	}
	n = images ? json_object_array_length(images) : 0;
	for (size_t i = 0; i < n; i++) {
		json_object *im = json_object_array_get_idx(images, i);
		const char *s = json_object_get_string(im);
		if (!json_object_is_type(im, json_type_string) || *s == '\0' ||
		    strlen(s) > CLOUDDOC_MAX_URL) {
			*why = arena_printf(a, "images[%zu]: must be a URL or cloud:// file id", i);
			return false;
		}
		if (i == 0)
			first = s;
	}
	if (first == NULL && strcmp(ours, "succeeded") == 0) {
		*why = "images: a completed work needs at least one image";
		return false;
	}
	if (params != NULL && !json_object_is_type(params, json_type_object)) {
		*why = "parameters: must be an object";
		return false;
	}
	clouddoc_add_str(row, "openid", openid);
	clouddoc_add_str(row, "type", type);
	clouddoc_add_str(row, "status", ours);
	clouddoc_add_str(row, "error_code", error_code);
	clouddoc_add_str(row, "image_url", first);
	clouddoc_add_str(row, "scene", scene);
	if (clouddoc_server_id(scene, CLOUDDOC_SERVER_SCENE) > 0)
		json_object_object_add(
		    row, "scene_self",
		    json_object_new_int64(clouddoc_server_id(scene, CLOUDDOC_SERVER_SCENE)));
	if (clouddoc_server_id(id, CLOUDDOC_SERVER_WORK) > 0)
		json_object_object_add(
		    row, "self",
		    json_object_new_int64(clouddoc_server_id(id, CLOUDDOC_SERVER_WORK)));
	json_object_object_add(row, "fav", json_object_new_boolean(fav));
	return true;
}

static bool clouddoc_scene(struct arena *a, json_object *doc, json_object *row, const char *id,
                           const char **why)
{
	const char *name, *category, *thumb;
	json_object *params = clouddoc_get(doc, "parameters");
	bool active;

	(void)id;
	if (!clouddoc_string(a, doc, "name", 64, true, &name, why) ||
	    !clouddoc_string(a, doc, "category", 32, false, &category, why) ||
	    !clouddoc_string(a, doc, "thumbnail_url", 1024, false, &thumb, why) ||
	    !clouddoc_bool(a, doc, "is_active", true, &active, why))
		return false;
	if (strspn(name, " \t\r\n") == strlen(name)) {
		*why = "name: must not be blank";
		return false;
	}
	if (params != NULL && !json_object_is_type(params, json_type_object)) {
		*why = "parameters: must be an object";
		return false;
	}
	clouddoc_add_str(row, "name", name);
	clouddoc_add_str(row, "category", category ? category : "");
	clouddoc_add_str(row, "thumbnail_url", thumb ? thumb : "");
	json_object_object_add(row, "parameters",
	                       params ? json_object_get(params) : json_object_new_object());
	json_object_object_add(row, "active", json_object_new_boolean(active));
	return true;
}

/* amount: yuan, a JSON number written plainly (no exponent) with at most two decimals that
 * are not zero, from 0 to 10^9 → fen.  Read from the number's text, so 9.9 is exactly 990. */
static bool clouddoc_yuan(json_object *doc, int64_t *fen, const char **why)
{
	json_object *v = clouddoc_get(doc, "amount");
	const char *s;
	int64_t whole = 0, cents = 0;
	int decimals = 0;

	*fen = 0;
	if (v == NULL)
		return true;
	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
		goto bad;
	s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
	if (*s < '0' || *s > '9')
		goto bad;
	for (; *s >= '0' && *s <= '9'; s++)
		if ((whole = whole * 10 + (*s - '0')) > 1000000000)
			goto bad;
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++, decimals++) {
			if (decimals < 2)
				cents = cents * 10 + (*s - '0');
			else if (*s != '0')
				goto bad;
		}
	}
	if (*s != '\0')
		goto bad;
	for (; decimals < 2; decimals++)
		cents *= 10;
	*fen = whole * 100 + cents;
	return true;
bad:
	*why = "amount: must be yuan from 0, written plainly with at most two decimals";
	return false;
}

static bool clouddoc_order(struct arena *a, json_object *doc, json_object *row, const char *id,
                           const char **why)
{
	const char *openid, *type, *status;
	int64_t credits, fen;
	size_t n = strlen(CLOUDDOC_SERVER_ORDER);

	if (!clouddoc_owner(a, doc, "user_openid", "_openid", &openid, why) ||
	    !clouddoc_string(a, doc, "type", 32, false, &type, why) ||
	    !clouddoc_string(a, doc, "status", 32, false, &status, why) ||
	    !clouddoc_count(a, doc, "credits", &credits, why) || !clouddoc_yuan(doc, &fen, why))
		return false;
	clouddoc_add_str(row, "openid", openid);
	clouddoc_add_str(row, "type", type ? type : "");
	clouddoc_add_str(row, "status", status ? status : "");
	json_object_object_add(row, "credits", json_object_new_int64(credits));
	json_object_object_add(row, "amount_fen", json_object_new_int64(fen));
	if (strncmp(id, CLOUDDOC_SERVER_ORDER, n) == 0 && id[n] != '\0')
		clouddoc_add_str(row, "self", id + n);
	return true;
}

/* Checks a document of one collection and adds its own fields to row. */
static bool (*const clouddoc_checks[CLOUDDOC__MAX])(struct arena *a, json_object *doc,
                                                    json_object *row, const char *id,
                                                    const char **why) = {
    [CLOUDDOC_USERS] = clouddoc_user,
    [CLOUDDOC_WORKS] = clouddoc_work,
    [CLOUDDOC_SCENES] = clouddoc_scene,
    [CLOUDDOC_ORDERS] = clouddoc_order,
};

json_object *clouddoc_row(struct arena *a, enum clouddoc_kind kind, json_object *doc,
                          const char **id, const char **why)
{
	json_object *row, *rest;
	const char *created, *updated;
	bool ok;

	*id = NULL;
	if (!json_object_is_type(doc, json_type_object)) {
		*why = "document: must be a JSON object";
		return NULL;
	}
	if (!clouddoc_string(a, doc, "_id", CLOUDDOC_MAX_ID, true, id, why))
		return NULL;
	if (!clouddoc_nul_free(doc)) {
		*why = "document: a string holds \\u0000";
		return NULL;
	}
	if (!clouddoc_date(a, doc, "created_at", &created, why) ||
	    !clouddoc_date(a, doc, "updated_at", &updated, why))
		return NULL;
	if ((unsigned)kind >= CLOUDDOC__MAX) {
		*why = "collection: unknown";
		return NULL;
	}
	row = json_object_new_object();
	ok = clouddoc_checks[kind](a, doc, row, *id, why);
	if (!ok) {
		json_object_put(row);
		return NULL;
	}
	rest = json_object_new_object();
	json_object_object_foreach(doc, k, v)
	{
		if (strcmp(k, "_id") != 0)
			json_object_object_add(rest, k, json_object_get(v));
	}
	clouddoc_add_str(row, "lid", *id);
	clouddoc_add_str(row, "created", created);
	clouddoc_add_str(row, "updated", updated);
	json_object_object_add(row, "doc", rest);
	return row;
}
