/*
 * migrations — the bookkeeping of `aiphotoctl migrate` in schema_migrations
 * (version, name, sha256 checksum, applied_at, duration_ms).
 */
#ifndef AIPHOTO_MODEL_MIGRATIONS_H
#define AIPHOTO_MODEL_MIGRATIONS_H

#include <stddef.h>

#include "lib/arena.h"
#include "lib/errors.h"

struct migration_row {
	long version;
	const char *name;
	const char *checksum;
};

/* Takes the session advisory lock that serialises migrators and creates the table. */
enum api_err migrations_setup(void);
void migrations_unlock(void);
/* Applied migrations ordered by version. */
enum api_err migrations_applied(struct arena *a, struct migration_row **out, size_t *n);
/* Records one applied migration (call inside the migration's transaction). */
enum api_err migrations_record(struct arena *a, long version, const char *name,
                               const char *checksum, long duration_ms);

#endif
