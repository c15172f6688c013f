/*
 * backup — what `aiphotoctl backup` and `aiphotoctl restore` ask of the database itself
 * (the dump and the restore are pg_dump's and pg_restore's work, ctl/backup.h).
 */
#ifndef AIPHOTO_MODEL_BACKUP_H
#define AIPHOTO_MODEL_BACKUP_H

#include <stdint.h>

#include "lib/errors.h"

/*
 * The state of the connected database: *relations = its tables, views, sequences and
 * materialized views outside the system schemas (0: an empty database, the only kind a
 * restore goes into without --clean); *level = the highest version in schema_migrations,
 * 0 when it has none, -1 when there is no such table.  E_OK, or E_UNAVAILABLE / E_INTERNAL.
 */
enum api_err backup_db_state(int64_t *relations, long *level);

#endif
