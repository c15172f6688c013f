/* system — database liveness for /health. */
#ifndef AIPHOTO_MODEL_SYSTEM_H
#define AIPHOTO_MODEL_SYSTEM_H

#include "lib/arena.h"
#include "lib/errors.h"

/* E_OK when a statement succeeded on this worker's connection less than fresh_ms ago
 * (0: always ask), else when the database answers a trivial query; E_UNAVAILABLE otherwise. */
enum api_err system_ping(long fresh_ms);
/* The JSON text of system_config[key], or *json = NULL when the key is not set. */
enum api_err system_config_get(struct arena *a, const char *key, char **json);

#endif
