/* events — client analytics events (POST /events). */
#ifndef AIPHOTO_MODEL_EVENTS_H
#define AIPHOTO_MODEL_EVENTS_H

#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"

/* Stores one event; user_id 0 = anonymous; props_json is a JSON object's text. */
enum api_err events_insert(struct arena *a, int64_t user_id, const char *name,
                           const char *props_json, const char *ip);

#endif
