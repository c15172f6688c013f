/* sysconfig — see sysconfig.h. */
#include "lib/sysconfig.h"

#include <string.h>

#define SYSCONFIG_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* "" (the feature off) or an http(s) URL. */
static bool sysconfig_url_or_empty(const char *s)
{
	return *s == '\0' || fields_url(s);
}

/* "" or an http(s) URL that does not end with '/'. */
static bool sysconfig_base_url(const char *s)
{
	size_t n = strlen(s);
	return n == 0 || (fields_url(s) && s[n - 1] != '/');
}

static const struct field sysconfig_pricing[] = {
    {.name = "photography", .kind = FIELD_INT, .min = 0, .max = 100000, .required = true},
    {.name = "fitting", .kind = FIELD_INT, .min = 0, .max = 100000, .required = true},
};

static const struct field sysconfig_checkin[] = {
    {.name = "base_credits", .kind = FIELD_INT, .min = 0, .max = 100000, .required = true},
    {.name = "streak_bonus", .kind = FIELD_INT, .min = 0, .max = 100000, .required = true},
    {.name = "max_bonus_days", .kind = FIELD_INT, .min = 0, .max = 365, .required = true},
};

static const struct field sysconfig_invite[] = {
    {.name = "invitee_bonus", .kind = FIELD_INT, .min = 0, .max = 100000, .required = true},
    {.name = "inviter_bonus", .kind = FIELD_INT, .min = 0, .max = 100000, .required = true},
};

static const char *const sysconfig_mp_states[] = {"formal", "trial", "developer", NULL};
static const char *const sysconfig_langs[] = {"zh_CN", "en_US", "zh_HK", "zh_TW", NULL};

/* The mini program's subscribe message of a task's end (docs/wechat.md "Task notices"). */
static const struct field sysconfig_notify_mp[] = {
    {.name = "template_id", .kind = FIELD_TEXT, .max = 128},
    /* the page it opens, with {task_id} and the other placeholders */
    {.name = "page", .kind = FIELD_TEXT, .max = 1024},
    {.name = "miniprogram_state", .kind = FIELD_TEXT, .max = 16, .choices = sysconfig_mp_states},
    {.name = "lang", .kind = FIELD_TEXT, .max = 8, .choices = sysconfig_langs},
    /* each of the template's keys → a value template */
    {.name = "data", .kind = FIELD_OBJECT, .max = 4096},
};

static const struct field sysconfig_notify[] = {
    /* the Official Account's template message; "" (or none) sends none */
    {.name = "task_template_id", .kind = FIELD_TEXT, .min = 0, .max = 128},
    {.name = "task_page_url",
     .kind = FIELD_TEXT,
     .max = 1024,
     .check = sysconfig_url_or_empty,
     .what = "an http(s) URL or empty"},
    {.name = "mp",
     .kind = FIELD_OBJECT,
     .max = 8192,
     .sub = sysconfig_notify_mp,
     .nsub = SYSCONFIG_LEN(sysconfig_notify_mp)},
};

static const char *const sysconfig_on_error[] = {"open", "closed", NULL};

/* WeChat's content security (service/content.c, docs/wechat.md "Content safety"). */
static const struct field sysconfig_content[] = {
    {.name = "enabled", .kind = FIELD_BOOL, .required = true},
    {.name = "text", .kind = FIELD_BOOL},
    {.name = "media", .kind = FIELD_BOOL},
    {.name = "on_error", .kind = FIELD_TEXT, .max = 8, .choices = sysconfig_on_error},
    {.name = "refuse_review", .kind = FIELD_BOOL},
};

static const char *const sysconfig_backends[] = {"cloud", "server", "auto", NULL};

static const struct field sysconfig_backend[] = {
    {.name = "backend_type",
     .kind = FIELD_TEXT,
     .min = 1,
     .max = 16,
     .required = true,
     .choices = sysconfig_backends},
    {.name = "server_url",
     .kind = FIELD_TEXT,
     .max = 512,
     .check = sysconfig_base_url,
     .what = "an http(s) URL not ending with / (or empty)"},
    {.name = "gray_release", .kind = FIELD_BOOL, .required = true},
    {.name = "gray_percent", .kind = FIELD_NUMBER, .min = 0, .max = 100, .required = true},
    {.name = "white_list", .kind = FIELD_TEXTS, .max = 10000, .item_max = 128, .required = true},
    {.name = "black_list", .kind = FIELD_TEXTS, .max = 10000, .item_max = 128, .required = true},
    /* as GET answered it: the store sets it anew with every change */
    {.name = "updated_at", .kind = FIELD_TEXT, .max = 64},
};

const struct sysconfig_key sysconfig_keys[] = {
    {"pricing", sysconfig_pricing, SYSCONFIG_LEN(sysconfig_pricing)},
    {"checkin", sysconfig_checkin, SYSCONFIG_LEN(sysconfig_checkin)},
    {"invite", sysconfig_invite, SYSCONFIG_LEN(sysconfig_invite)},
    {"notify", sysconfig_notify, SYSCONFIG_LEN(sysconfig_notify)},
    {"backend_config", sysconfig_backend, SYSCONFIG_LEN(sysconfig_backend)},
    {"content_check", sysconfig_content, SYSCONFIG_LEN(sysconfig_content)},
};

const size_t sysconfig_nkeys = SYSCONFIG_LEN(sysconfig_keys);

const struct sysconfig_key *sysconfig_find(const char *key)
{
	for (size_t i = 0; key != NULL && i < sysconfig_nkeys; i++)
		if (strcmp(sysconfig_keys[i].key, key) == 0)
			return &sysconfig_keys[i];
	return NULL;
}

enum api_err sysconfig_check(struct arena *a, const struct sysconfig_key *k, json_object *doc,
                             bool development, json_object **clean, const char **why)
{
	json_object *v;
	enum api_err err = fields_check(a, doc, k->fields, k->nfields, true, true, clean, why);

	if (err != E_OK || development || strcmp(k->key, "backend_config") != 0)
		return err;
	if (json_object_object_get_ex(*clean, "server_url", &v) &&
	    json_object_get_string_len(v) > 0 &&
	    strncmp(json_object_get_string(v), "https://", 8) != 0) {
		json_object_put(*clean);
		*clean = NULL;
		*why = "server_url: must be https:// (the mini program is sent there)";
		return E_BAD_REQUEST;
	}
	return E_OK;
}
