/* system — database liveness for /health. */
#ifndef AIPHOTO_MODEL_SYSTEM_H
#define AIPHOTO_MODEL_SYSTEM_H

#include "lib/errors.h"

/* E_OK when the database answers a trivial query; E_UNAVAILABLE otherwise. */
enum api_err system_ping(void);

#endif
