/* content — see content.h. */
#include "service/content.h"

#include <stdbool.h>
#include <string.h>

#include "lib/config.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/media.h"
#include "lib/wechat/wxapi.h"
#include "model/assets.h"
#include "model/identities.h"
#include "model/system.h"

/* system_config.content_check as read for one request. */
struct content_conf {
	bool enabled, text, media, closed, refuse_review;
};

static bool content_flag(json_object *o, const char *key, bool dflt)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_boolean))
		return dflt;
	return json_object_get_boolean(v);
}

static enum api_err content_conf(struct arena *a, struct content_conf *c)
{
	char *text = NULL;
	json_object *o;
	const char *on_error;
	enum api_err err = system_config_get(a, "content_check", &text);

	memset(c, 0, sizeof(*c));
	if (err != E_OK || text == NULL)
		return err;
	o = jsonx_parse_or_empty(text);
	c->enabled = content_flag(o, "enabled", false);
	c->text = content_flag(o, "text", true);
	c->media = content_flag(o, "media", true);
	c->refuse_review = content_flag(o, "refuse_review", false);
	on_error = jsonx_dup_str(a, o, "on_error");
	c->closed = on_error != NULL && strcmp(on_error, "closed") == 0;
	json_object_put(o);
	return E_OK;
}

/* The user's openid in the mini program, or NULL (none, or no mini program configured). */
static enum api_err content_openid(struct arena *a, int64_t user_id, const char **openid)
{
	const char *appid = config_get()->wechat_mp_appid;
	enum api_err err;

	*openid = NULL;
	if (appid == NULL)
		return E_OK;
	err = identities_openid(a, user_id, appid, openid);
	return err == E_NOT_FOUND ? E_OK : err;
}

/* WeChat could not be asked: on_error decides. */
static enum api_err content_unreachable(const struct content_conf *c, const char *what,
                                        int64_t user_id, const char **why)
{
	if (!c->closed) {
		log_warn("content check of user %lld skipped: %s failed (on_error open)",
		         (long long)user_id, what);
		return E_OK;
	}
	log_warn("content check of user %lld failed: %s (on_error closed: refused)",
	         (long long)user_id, what);
	*why = "内容安全检查暂不可用，请稍后再试";
	return E_UPSTREAM_ERROR;
}

/* Appends the strings of v to *buf (separated by "\n"). */
static void content_collect(struct arena *a, json_object *v, const char **buf)
{
	if (v == NULL)
		return;
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		if (*s != '\0')
			*buf = **buf ? arena_printf(a, "%s\n%s", *buf, s) : arena_strdup(a, s);
	} else if (json_object_is_type(v, json_type_object)) {
		json_object_object_foreach(v, key, val)
		{
			(void)key;
			content_collect(a, val, buf);
		}
	} else if (json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++)
			content_collect(a, json_object_array_get_idx(v, i), buf);
	}
}

void content_pieces(struct arena *a, json_object *v, size_t max, const char ***out, size_t *n)
{
	const char *all = "", *p;
	size_t cap;

	content_collect(a, v, &all);
	cap = jsonx_utf8_len(all) / (max ? max : 1) + 2;
	*out = arena_zalloc(a, cap * sizeof(**out));
	*n = 0;
	for (p = all; *p != '\0';) {
		const char *start = p;
		size_t chars = 0;

		while (*p != '\0' && chars < max) {
			p++;
			while (((unsigned char)*p & 0xC0) == 0x80)
				p++;
			chars++;
		}
		(*out)[(*n)++] = arena_printf(a, "%.*s", (int)(p - start), start);
	}
}

enum api_err content_check_text(struct arena *a, int64_t user_id, enum content_scene scene,
                                json_object *v, const char *field, const char **why)
{
	struct content_conf c;
	const char *openid = NULL, **pieces;
	size_t n = 0;
	enum api_err err;

	if (v == NULL)
		return E_OK;
	if ((err = content_conf(a, &c)) != E_OK || !c.enabled || !c.text)
		return err;
	if ((err = content_openid(a, user_id, &openid)) != E_OK || openid == NULL)
		return err;
	content_pieces(a, v, CONTENT_MAX_CHARS, &pieces, &n);
	for (size_t i = 0; i < n; i++) {
		struct wxapi_verdict r;
		bool refuse;

		if (wxapi_msg_sec_check(a, openid, (int)scene, pieces[i], &r) != E_OK)
			return content_unreachable(&c, "msg_sec_check", user_id, why);
		refuse = strcmp(r.suggest, "risky") == 0 ||
		         (c.refuse_review && strcmp(r.suggest, "review") == 0);
		log_info("content check of user %lld (%s): %s, label %s", (long long)user_id, field,
		         r.suggest, r.label ? r.label : "-");
		if (refuse) {
			*why = arena_printf(a, "%s: 内容未通过微信内容安全检查 (%s)", field,
			                    r.label ? r.label : r.suggest);
			return E_CONTENT_RISKY;
		}
	}
	return E_OK;
}

enum api_err content_check_upload(struct arena *a, int64_t user_id, int64_t asset_id,
                                  const char *storage_key, const char *status, const char **why)
{
	struct content_conf c;
	const char *openid = NULL, *trace = NULL;
	enum api_err err;

	if (status != NULL && strcmp(status, "error") != 0)
		return E_OK; /* checked, or its verdict is on the way */
	if ((err = content_conf(a, &c)) != E_OK || !c.enabled || !c.media)
		return err;
	if ((err = content_openid(a, user_id, &openid)) != E_OK || openid == NULL)
		return err;
	if (wxapi_media_check_async(a, openid, CONTENT_SCENE_COMMENT, media_url(a, storage_key),
	                            &trace) == E_OK)
		return assets_check_begin(a, asset_id, trace);
	err = content_unreachable(&c, "media_check_async", user_id, why);
	if (err != E_OK && assets_check_error(a, asset_id, "media_check_async failed") != E_OK)
		log_error("asset %lld: could not be marked unchecked", (long long)asset_id);
	return err;
}

enum api_err content_check_inputs(struct arena *a, size_t risky, size_t unchecked, const char **why)
{
	struct content_conf c;
	enum api_err err;

	if (risky > 0) {
		*why = "asset: 图片未通过微信内容安全检查";
		return E_CONTENT_RISKY;
	}
	if (unchecked == 0 || (err = content_conf(a, &c)) != E_OK || !c.closed)
		return unchecked == 0 ? E_OK : err;
	*why = "asset: 图片的内容安全检查未完成，请重新上传";
	return E_UPSTREAM_ERROR;
}
