/*
 * log — JSON lines on stderr (journald under systemd, a file on the local stack).
 *
 * Each line: {"ts":"…","level":"…","pid":N,"prog":"…","req":"<request id>","msg":"…"}.
 * The request id of the request in progress is added by the worker loop through
 * log_set_request(); secrets must never be passed to these functions.
 */
#ifndef AIPHOTO_LOG_H
#define AIPHOTO_LOG_H

#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_init(const char *prog, enum log_level min);
/* Parses "debug|info|warn|error"; returns -1 when s is none of them. */
int log_level_parse(const char *s);
void log_set_request(const char *request_id);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* The one access-log line per request.  user_id 0 = anonymous; admin_id (the subject of an
 * admin token) is written only when it is not 0. */
void log_access(const char *method, const char *route, int status, long duration_us,
                int64_t user_id, int64_t admin_id);

#endif
