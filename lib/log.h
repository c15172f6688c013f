/*
 * log — JSON lines on stderr (journald under systemd, a file on the local stack), or in the
 * file LOG_FILE names (log_open), which logrotate may rename: SIGHUP makes the process open
 * it again (docs/operations.md, ops/logrotate/aiphoto).
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
/*
 * From now on stderr (the log lines and anything else written there) goes to path, opened
 * O_APPEND (created 0640 when missing), so that several processes may share it whole-line;
 * path is kept for log_reopen.  0, or -1 with errno (stderr unchanged).
 */
int log_open(const char *path);
/* Gives stderr back as it was before the first log_open and forgets the file (a SIGHUP then
 * does nothing). */
void log_close(void);
/*
 * Installs the SIGHUP handler (SA_RESTART): after a SIGHUP the next line written first opens
 * the log_open file again (the one logrotate renamed keeps every line written before).
 * Without log_open a SIGHUP does nothing: it never ends the process.  Call it before SIGHUP
 * is unblocked in a new process.
 */
void log_reopen_on_hup(void);
/* Opens the log_open file again now (the supervisor, on its SIGHUP).  0, or -1 with errno
 * (the old file is kept); 0 without log_open. */
int log_reopen(void);
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
