/* system — database liveness for /health, and system_config (key → jsonb document). */
#ifndef AIPHOTO_MODEL_SYSTEM_H
#define AIPHOTO_MODEL_SYSTEM_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/arena.h"
#include "lib/errors.h"
#include "model/audit.h"

/* The system_config key of the gray release (docs/gray-release.md). */
#define SYSTEM_BACKEND_KEY "backend_config"

/* E_OK when a statement succeeded on this worker's connection less than fresh_ms ago
 * (0: always ask), else when the database answers a trivial query; E_UNAVAILABLE otherwise. */
enum api_err system_ping(long fresh_ms);
/* The JSON text of system_config[key], or *json = NULL when the key is not set. */
enum api_err system_config_get(struct arena *a, const char *key, char **json);

/*
 * backend_config for GET /config/backend, in one statement: *json the document without its
 * white_list and black_list (NULL when the row is missing), and whether openid is in each
 * list (false for a list that is not an array of strings, and for openid NULL).
 */
enum api_err system_backend_get(struct arena *a, const char *openid, char **json, bool *white,
                                bool *black);

/* Openids to take out of a list (first) and to append to it (each once; a listed one moves
 * to the end); clear empties the list before both. */
struct system_list_edit {
	const char *const *add, *const *del;
	size_t nadd, ndel;
	bool clear;
};

/* A change of backend_config (`aiphotoctl gray set`); NULL and -1 leave a field as it is. */
struct system_backend_edit {
	const char *backend_type; /* "cloud" | "server" */
	const char *server_url;
	int gray_percent; /* 0-100 */
	int gray_release; /* 0 off, 1 on */
	struct system_list_edit white, black;
};

/*
 * Applies e to backend_config in one UPDATE of the document (so concurrent changes never
 * lose one another), with updated_at set to now; a missing row is first created as
 * GRAY_DEFAULT_CONFIG.  *json: the document as stored afterwards.
 */
enum api_err system_backend_edit(struct arena *a, const struct system_backend_edit *e, char **json);

/*
 * The admin API's view of a document: {"key","value","updated_by" (the admin, or null),
 * "updated_at"}; E_NOT_FOUND when the key has no row.
 */
enum api_err system_config_view(struct arena *a, const char *key, char **json);
/*
 * Stores value (a JSON object text, checked by the caller: lib/sysconfig.h) as the document of
 * key, made by who, audited (config.update: the view before, NULL for a new key, and after).
 * backend_config's "updated_at" member is set to now, as `aiphotoctl gray set` does.  *json
 * the view after.  Nothing caches a document (every reader reads it when it needs it), so the
 * next request sees the change.
 */
enum api_err system_config_put(struct arena *a, const struct audit_actor *who, const char *key,
                               const char *value, char **json);

#endif
