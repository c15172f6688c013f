/*
 * content — WeChat's content security (the mini program's v2 APIs, docs/wechat.md "Content
 * safety") on what users write and upload, where system_config.content_check turns it on:
 *   {"enabled": false, "text": true, "media": true, "on_error": "open", "refuse_review": false}
 * (every field optional; these are the defaults: off).  The APIs need the user's openid in the
 * mini program (WECHAT_MP_APPID), so a user without one is not checked.
 *
 * Texts (nickname, the string values of tasks' and /prompts/generate's params) go through
 * msg_sec_check in pieces of at most CONTENT_MAX_CHARS characters: a "risky" verdict (or
 * "review" with refuse_review) refuses the request with E_CONTENT_RISKY.  Uploads start a
 * media_check_async of their public URL (PUBLIC_BASE_URL/media/…); the verdict arrives later
 * as the mini program's push (handlers/wechat.c) and a "risky" asset is refused as a task
 * input from then on.  When WeChat cannot be asked (no answer, 5xx, an errcode), on_error
 * decides: "open" lets the request through (a warning is logged), "closed" refuses it with
 * E_UPSTREAM_ERROR (and an upload's asset is marked 'error', refused as an input until a
 * re-upload is checked).  Nothing is sent to WeChat while content_check is off.
 */
#ifndef AIPHOTO_SERVICE_CONTENT_H
#define AIPHOTO_SERVICE_CONTENT_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"

/* msg_sec_check / media_check_async scenes (WeChat's numbers). */
enum content_scene {
	CONTENT_SCENE_PROFILE = 1, /* nickname */
	CONTENT_SCENE_COMMENT = 2, /* free text of prompts, uploaded images */
	CONTENT_SCENE_FORUM = 3,
	CONTENT_SCENE_SOCIAL = 4
};

/* The most characters msg_sec_check takes at once. */
#define CONTENT_MAX_CHARS 2500

/*
 * The strings of v (v itself when it is one; object values and array items, recursively, in
 * order; empty ones skipped) joined with "\n" and cut into pieces of at most max characters
 * on character boundaries (arena copies); *n = 0 when v holds no text.  No I/O.
 */
void content_pieces(struct arena *a, json_object *v, size_t max, const char ***out, size_t *n);

/*
 * Checks the text of v (see content_pieces) for user_id in scene.  E_OK: passed, or not
 * checked (off, no mp openid, or WeChat unreachable with on_error "open");
 * E_CONTENT_RISKY with *why "<field>: …"; E_UPSTREAM_ERROR with *why (on_error "closed");
 * E_UNAVAILABLE (the database).
 */
enum api_err content_check_text(struct arena *a, int64_t user_id, enum content_scene scene,
                                json_object *v, const char *field, const char **why);

/*
 * Starts the media check of an upload (asset asset_id of user_id at storage_key, whose
 * check_status is status) unless it is checked or pending already.  E_OK, or
 * E_UPSTREAM_ERROR with *why when WeChat cannot be asked and on_error is "closed" (the asset
 * is then 'error').
 */
enum api_err content_check_upload(struct arena *a, int64_t user_id, int64_t asset_id,
                                  const char *storage_key, const char *status, const char **why);

/*
 * Whether task inputs may be used, given how many of them were judged risky and how many
 * could not be checked (model/assets assets_owned): E_CONTENT_RISKY when one was risky;
 * E_UPSTREAM_ERROR when one could not be checked and on_error is "closed".  A pending check
 * does not hold a task up (WeChat answers within 30 minutes).  A risky verdict refuses the
 * input even after content checks are turned off.
 */
enum api_err content_check_inputs(struct arena *a, size_t risky, size_t unchecked,
                                  const char **why);

#endif
