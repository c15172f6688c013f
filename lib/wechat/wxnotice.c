/* wxnotice — see wxnotice.h. */
#include "lib/wechat/wxnotice.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <string.h>

#include "lib/jsonx.h"

/* One template field: name → {"value": value}. */
struct wxnotice_field {
	const char *name;
	const char *value;
};

static const char *wxnotice_outcome(const char *status)
{
	static const struct {
		const char *status, *label;
	} labels[] = {{"completed", "已完成"}, {"partial", "部分完成"}};

	for (size_t i = 0; status != NULL && i < sizeof(labels) / sizeof(labels[0]); i++)
		if (strcmp(status, labels[i].status) == 0)
			return labels[i].label;
	return "失败";
}

static const char *wxnotice_kind(const char *type)
{
	return type != NULL && strcmp(type, "fitting") == 0 ? "AI试衣" : "AI写真";
}

const char *wxnotice_task_data(struct arena *a, const struct wxnotice_task *t)
{
	const struct wxnotice_field fields[] = {
	    {"thing1", wxnotice_kind(t->type)},
	    {"phrase2", wxnotice_outcome(t->status)},
	    {"number3", arena_printf(a, "%d/%d", t->done, t->count)},
	    {"time4", t->finished_at ? t->finished_at : ""},
	    {"character_string5", arena_printf(a, "%lld", (long long)t->task_id)},
	};
	json_object *data = json_object_new_object();
	const char *text;

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		json_object *f = json_object_new_object();
		json_object_object_add(f, "value", json_object_new_string(fields[i].value));
		json_object_object_add(data, fields[i].name, f);
	}
	text = jsonx_text(a, data);
	json_object_put(data);
	return text;
}

/* "YYYY-MM-DDTHH:MM…" → "YYYY-MM-DD HH:MM"; anything shorter unchanged; NULL → "". */
static const char *wxnotice_minute(struct arena *a, const char *ts)
{
	if (ts == NULL)
		return "";
	if (strlen(ts) < 16)
		return ts;
	return arena_printf(a, "%.10s %.5s", ts, ts + 11);
}

/* The value of placeholder name (len bytes), or NULL when it names none. */
static const char *wxnotice_placeholder(struct arena *a, const char *name, size_t len,
                                        const struct wxnotice_task *t)
{
	static const char *const names[] = {"kind",   "outcome", "done",        "count",
	                                    "failed", "task_id", "finished_at", "refunded"};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
			break;
	switch (i) {
	case 0:
		return wxnotice_kind(t->type);
	case 1:
		return wxnotice_outcome(t->status);
	case 2:
		return arena_printf(a, "%d", t->done);
	case 3:
		return arena_printf(a, "%d", t->count);
	case 4:
		return arena_printf(a, "%d", t->failed);
	case 5:
		return arena_printf(a, "%lld", (long long)t->task_id);
	case 6:
		return wxnotice_minute(a, t->finished_at);
	case 7:
		return arena_printf(a, "%lld", (long long)t->credits_refunded);
	default:
		return NULL;
	}
}

const char *wxnotice_render(struct arena *a, const char *tpl, const struct wxnotice_task *t)
{
	const char *out = "", *p = tpl ? tpl : "";

	while (*p != '\0') {
		const char *open = strchr(p, '{'), *close = open ? strchr(open, '}') : NULL;
		const char *v =
		    close ? wxnotice_placeholder(a, open + 1, (size_t)(close - open - 1), t) : NULL;

		if (open == NULL || close == NULL) {
			out = arena_printf(a, "%s%s", out, p);
			break;
		}
		if (v == NULL) /* not ours: kept, and scanning resumes after its '{' */
			out = arena_printf(a, "%s%.*s", out, (int)(open - p + 1), p), p = open + 1;
		else
			out = arena_printf(a, "%s%.*s%s", out, (int)(open - p), p, v),
			p = close + 1;
	}
	return arena_strdup(a, out);
}

/* Length in bytes of the UTF-8 character starting at s (1 for a stray byte). */
static size_t wxnotice_charlen(const char *s)
{
	unsigned char c = (unsigned char)*s;
	size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;

	for (size_t i = 1; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			return 1;
	return n;
}

/* Which characters a type keeps. */
enum wxnotice_keep {
	KEEP_ANY,
	KEEP_NUMBER, /* digits and '.' */
	KEEP_LETTER, /* ASCII letters */
	KEEP_ASCII, /* printable ASCII without space */
	KEEP_WIDE /* no ASCII at all */
};

static bool wxnotice_kept(enum wxnotice_keep k, const char *c, size_t n)
{
	unsigned char b = (unsigned char)*c;

	switch (k) {
	case KEEP_NUMBER:
		return n == 1 && ((b >= '0' && b <= '9') || b == '.');
	case KEEP_LETTER:
		return n == 1 && ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z'));
	case KEEP_ASCII:
		return n == 1 && b > ' ' && b < 0x7f;
	case KEEP_WIDE:
		return n > 1;
	default:
		return true;
	}
}

/* value's kept characters, at most max of them (max − 1 and "…" when ellipsis and cut). */
static const char *wxnotice_cut(struct arena *a, const char *value, enum wxnotice_keep keep,
                                size_t max, bool ellipsis)
{
	size_t len = strlen(value), total = 0, used = 0, chars = 0;
	char *out = arena_alloc(a, len + 4);

	for (const char *p = value; *p != '\0'; p += wxnotice_charlen(p))
		total += wxnotice_kept(keep, p, wxnotice_charlen(p));
	if (total > max && ellipsis)
		max--;
	for (const char *p = value; *p != '\0' && chars < max;) {
		size_t n = wxnotice_charlen(p);
		if (wxnotice_kept(keep, p, n)) {
			memcpy(out + used, p, n);
			used += n;
			chars++;
		}
		p += n;
	}
	if (total > chars && ellipsis) {
		memcpy(out + used, "…", strlen("…"));
		used += strlen("…");
	}
	out[used] = '\0';
	return out;
}

const char *wxnotice_fit(struct arena *a, const char *key, const char *value)
{
	static const struct {
		const char *type;
		enum wxnotice_keep keep;
		size_t max; /* 0: unchanged */
		bool ellipsis;
	} limits[] = {
	    {"thing", KEEP_ANY, 20, true},
	    {"number", KEEP_NUMBER, 32, false},
	    {"letter", KEEP_LETTER, 32, false},
	    {"symbol", KEEP_ANY, 5, false},
	    {"character_string", KEEP_ASCII, 32, false},
	    {"phrase", KEEP_WIDE, 5, false},
	    {"phone_number", KEEP_ASCII, 17, false},
	    {"car_number", KEEP_ANY, 8, false},
	    {"name", KEEP_ANY, 10, true},
	};
	size_t tlen = strlen(key);
	const char *out;

	while (tlen > 0 && key[tlen - 1] >= '0' && key[tlen - 1] <= '9')
		tlen--;
	value = value ? value : "";
	out = value;
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		size_t max = limits[i].max;
		if (strlen(limits[i].type) != tlen || strncmp(limits[i].type, key, tlen) != 0)
			continue;
		if (strcmp(limits[i].type, "name") == 0) {
			bool ascii = true;
			for (const char *p = value; *p; p++)
				ascii = ascii && (unsigned char)*p < 0x80;
			max = ascii ? 20 : 10;
		}
		out = wxnotice_cut(a, value, limits[i].keep, max, limits[i].ellipsis);
		if (*out == '\0')
			out = strcmp(limits[i].type, "number") == 0 ? "0" : "-";
		break;
	}
	return arena_strdup(a, out);
}

const char *wxnotice_subscribe_data(struct arena *a, const char *mapping_json,
                                    const struct wxnotice_task *t)
{
	json_object *map = json_tokener_parse(mapping_json ? mapping_json : ""), *data;
	const char *text = NULL;

	if (map == NULL || !json_object_is_type(map, json_type_object) ||
	    json_object_object_length(map) == 0) {
		json_object_put(map);
		return NULL;
	}
	data = json_object_new_object();
	json_object_object_foreach(map, key, tpl)
	{
		json_object *f;
		if (!json_object_is_type(tpl, json_type_string))
			goto out;
		f = json_object_new_object();
		json_object_object_add(
		    f, "value",
		    json_object_new_string(
		        wxnotice_fit(a, key, wxnotice_render(a, json_object_get_string(tpl), t))));
		json_object_object_add(data, key, f);
	}
	text = jsonx_text(a, data);
out:
	json_object_put(data);
	json_object_put(map);
	return text;
}

enum wxnotice_result wxnotice_classify(enum api_err err, long errcode)
{
	if (err != E_OK)
		return WXNOTICE_RETRY;
	switch (errcode) {
	case 0:
		return WXNOTICE_SENT;
	case -1: /* system busy */
	case 45009: /* the API's rate limit */
	case 40001: /* token errors wxapi already refreshed once */
	case 40014:
	case 42001:
		return WXNOTICE_RETRY;
	default:
		return WXNOTICE_REFUSED;
	}
}
