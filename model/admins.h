/* admins — operator accounts and their login lockout. */
#ifndef AIPHOTO_MODEL_ADMINS_H
#define AIPHOTO_MODEL_ADMINS_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"

#define ADMINS_MAX_FAILURES 5
#define ADMINS_LOCK_SECONDS 900

struct admin {
	int64_t id;
	const char *password_hash;
	bool disabled;
	long locked_for; /* seconds the account stays locked; 0 = not locked */
};

/* E_NOT_FOUND when there is no such username. */
enum api_err admins_get(struct arena *a, const char *username, struct admin *out);
/* Counts a failed login; after ADMINS_MAX_FAILURES in a row the account is locked for
 * ADMINS_LOCK_SECONDS (*locked_for gets the remaining seconds, 0 when not locked). */
enum api_err admins_login_failed(struct arena *a, int64_t id, long *locked_for);
/* Clears the failure count and records the login. */
enum api_err admins_login_ok(struct arena *a, int64_t id);
/* Creates an admin; E_CONFLICT when the username exists. */
enum api_err admins_create(struct arena *a, const char *username, const char *password_hash,
                           int64_t *id);

#endif
