/* admins — operator accounts. */
#ifndef AIPHOTO_MODEL_ADMINS_H
#define AIPHOTO_MODEL_ADMINS_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"

struct admin {
	int64_t id;
	const char *password_hash;
	bool disabled;
};

/* E_NOT_FOUND when there is no such username. */
enum api_err admins_get(struct arena *a, const char *username, struct admin *out);
/* Records a successful login. */
enum api_err admins_login_ok(struct arena *a, int64_t id);
/* Creates an admin; E_CONFLICT when the username exists. */
enum api_err admins_create(struct arena *a, const char *username, const char *password_hash,
                           int64_t *id);

#endif
