/*
 * catalog — what the operators edit to run the service: scenes, packages, prompt templates
 * and AI models (GET/POST /admin/<kind>, PUT/DELETE /admin/<kind>/:id).
 *
 * Each change is one audited transaction (model/audit.h: "<kind>.create|update|delete"), with
 * the row before and after.  The fields come as a JSON object already checked by the
 * handler against its field table (lib/fields.h): present fields are set, absent ones kept
 * (a creation takes the column defaults).  A change of scenes moves the public scene cache
 * on after its commit (model/scenes.h), so GET /scenes answers it at once.
 * A scene or a package is deactivated by DELETE (orders and tasks refer to them: rows that
 * carry money are never deleted); a prompt template or an AI model is removed (tasks froze
 * their prompts; works.ai_model_id is set NULL).
 */
#ifndef AIPHOTO_MODEL_CATALOG_H
#define AIPHOTO_MODEL_CATALOG_H

#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"
#include "model/audit.h"
#include "model/view.h"

enum catalog_kind {
	CATALOG_SCENES, /* {"id","name","category","description","thumbnail_url","parameters",
	                   "active","sort_order","created_at","updated_at"} */
	CATALOG_PACKAGES, /* {"id","name","price_fen","credits","bonus_credits","active",
	                     "sort_order","created_at","updated_at"} */
	CATALOG_TEMPLATES, /* {"id","name","type","scene_id","template","negative_prompt",
	                      "active","created_at","updated_at"} */
	CATALOG_MODELS, /* {"id","name","provider","mode","kind","endpoint","api_key_env",
	                   "model","priority","weight","timeout_ms","poll_interval_ms","options",
	                   "active","created_at","updated_at"} — a key's variable name, never a key */
	CATALOG__MAX
};

/* Newest first. */
enum api_err catalog_list(struct arena *a, enum catalog_kind k, const struct view_cursor *c,
                          struct view_page *out);
/* E_NOT_FOUND when there is no such row. */
enum api_err catalog_get(struct arena *a, enum catalog_kind k, int64_t id, char **json);
/* *json the row made.  E_CONFLICT (a unique field taken: an AI model's name), E_NOT_FOUND (a
 * row it names is missing: a template's scene_id). */
enum api_err catalog_create(struct arena *a, const struct audit_actor *who, enum catalog_kind k,
                            const char *fields, char **json);
/* *json the row after.  E_NOT_FOUND, E_CONFLICT as above. */
enum api_err catalog_update(struct arena *a, const struct audit_actor *who, enum catalog_kind k,
                            int64_t id, const char *fields, char **json);
/* Deactivates (scenes, packages: *json the row after) or removes (templates, models: *json
 * the row removed).  E_NOT_FOUND. */
enum api_err catalog_delete(struct arena *a, const struct audit_actor *who, enum catalog_kind k,
                            int64_t id, char **json);
/* Sets a scene's thumbnail_url (scene.thumbnail); *json the scene after.  E_NOT_FOUND. */
enum api_err catalog_scene_thumbnail(struct arena *a, const struct audit_actor *who, int64_t id,
                                     const char *url, char **json);

#endif
