/*
 * response — renders a reply as the CGI/FastCGI response bytes (Status line, headers,
 * body) with the API envelope of API.md:
 *   success  {"success":true,"data":…}            (no body for 204; raw bodies as given)
 *   failure  {"success":false,"code":"…","message":"…"} (+ "data" when the handler set it)
 * Every response carries X-Request-Id and Cache-Control: no-store.
 */
#ifndef AIPHOTO_RESPONSE_H
#define AIPHOTO_RESPONSE_H

#include "fcgi/http.h"

/* Returns the bytes (arena) and their length; *status gets the HTTP status sent. */
char *response_render(struct arena *a, const struct request *req, const struct reply *rep,
                      enum api_err err, size_t *len, int *status);

/* True when id is 1–64 characters of [A-Za-z0-9._-] (an incoming X-Request-Id we echo). */
bool response_request_id_ok(const char *id);

#endif
