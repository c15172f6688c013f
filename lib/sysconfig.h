/*
 * sysconfig — the system_config documents the admin API edits (GET/PUT /admin/config/:key):
 * one table, key → the fields of its document (lib/fields.h), each document checked whole and
 * strictly (every required field, no unknown one) before it is stored.  Who reads each:
 *   pricing         credits per image by task type (handlers/tasks.c)
 *   checkin         the daily check-in's rule (handlers/credits.c)
 *   invite          the invite bonuses (handlers/user.c)
 *   notify          the notices of a task's end: the Official Account's template message, the
 *                   mini program's subscribe message ("mp") (aiphoto-dispatch)
 *   backend_config  the mini program's gray release (GET /config/backend, docs/gray-release.md)
 *   content_check   WeChat's content security on user text and uploads (service/content.c)
 * Each reader reads its document when it needs it (nothing caches one).  Pure.
 */
#ifndef AIPHOTO_SYSCONFIG_H
#define AIPHOTO_SYSCONFIG_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/arena.h"
#include "lib/errors.h"
#include "lib/fields.h"

struct sysconfig_key {
	const char *key;
	const struct field *fields;
	size_t nfields;
};

extern const struct sysconfig_key sysconfig_keys[];
extern const size_t sysconfig_nkeys;

/* The key's entry, or NULL for a key the admin API does not edit. */
const struct sysconfig_key *sysconfig_find(const char *key);

/*
 * Checks a whole document for k: E_OK with *clean (the caller puts it), or E_BAD_REQUEST with
 * *why naming the field.  A backend_config server_url must be https:// outside development
 * (the mini program is sent there), and never end with '/' (the adapter appends paths).
 */
enum api_err sysconfig_check(struct arena *a, const struct sysconfig_key *k, json_object *doc,
                             bool development, json_object **clean, const char **why);

#endif
