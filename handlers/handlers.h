/*
 * handlers — the route tables of every resource file, collected by fcgi/routes.c.
 * Each handlers/<resource>.c exports exactly one table, <resource>_routes.
 */
#ifndef AIPHOTO_HANDLERS_H
#define AIPHOTO_HANDLERS_H

#include "fcgi/http.h"

extern const struct route_table health_routes;
extern const struct route_table credits_routes;
extern const struct route_table scenes_routes;
extern const struct route_table user_routes;
extern const struct route_table events_routes;

/* Parses a path id capture: a positive decimal integer; E_NOT_FOUND otherwise (an id
 * that cannot exist is answered as a missing one). */
enum api_err handlers_id(const struct request *req, int idx, int64_t *id);

#endif
