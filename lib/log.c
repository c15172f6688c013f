/*
 * log — see log.h.  Lines are assembled in a stack buffer and written with one write(2),
 * so lines from several workers sharing one stderr never interleave.
 */
#include "lib/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "aiphoto";
static enum log_level log_min = LOG_INFO;
static char log_req[80];
static char log_when[40];
static time_t log_when_sec = -1;

static const char *const log_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *prog, enum log_level min)
{
	log_prog = prog;
	log_min = min;
}

int log_level_parse(const char *s)
{
	for (int i = 0; i < (int)(sizeof(log_names) / sizeof(log_names[0])); i++)
		if (strcmp(s, log_names[i]) == 0)
			return i;
	return -1;
}

void log_set_request(const char *request_id)
{
	size_t n = request_id ? strnlen(request_id, sizeof(log_req) - 1) : 0;

	memcpy(log_req, request_id ? request_id : "", n);
	log_req[n] = '\0';
}

/* Appends s to buf[*len..cap) as JSON string content; truncates silently. */
static void log_escape(char *buf, size_t *len, size_t cap, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = *len;

	for (; *s != '\0' && n + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			buf[n++] = '\\';
			buf[n++] = (char)c;
		} else if (c < 0x20) {
			buf[n++] = '\\';
			buf[n++] = 'u';
			buf[n++] = '0';
			buf[n++] = '0';
			buf[n++] = hex[c >> 4];
			buf[n++] = hex[c & 15];
		} else {
			buf[n++] = (char)c;
		}
	}
	*len = n;
}

static size_t log_prefix(char *buf, size_t cap, enum log_level level)
{
	struct timespec ts;
	struct tm tm;
	char when[40];
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != log_when_sec) { /* formatted once a second */
		gmtime_r(&ts.tv_sec, &tm);
		strftime(log_when, sizeof(log_when), "%Y-%m-%dT%H:%M:%S", &tm);
		log_when_sec = ts.tv_sec;
	}
	memcpy(when, log_when, sizeof(when));
	n = snprintf(buf, cap, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"pid\":%ld,\"prog\":\"%s\"",
	             when, ts.tv_nsec / 1000000, log_names[level], (long)getpid(), log_prog);
	if (n < 0 || (size_t)n >= cap)
		return 0;
	if (log_req[0] != '\0') {
		size_t len = (size_t)n;
		int m = snprintf(buf + len, cap - len, ",\"req\":\"");
		if (m > 0 && (size_t)m < cap - len) {
			len += (size_t)m;
			log_escape(buf, &len, cap, log_req);
			if (len + 1 < cap)
				buf[len++] = '"';
		}
		return len;
	}
	return (size_t)n;
}

static void log_write(char *buf, size_t len, size_t cap)
{
	if (len + 3 > cap)
		len = cap - 3;
	buf[len++] = '}';
	buf[len++] = '\n';
	(void)!write(STDERR_FILENO, buf, len);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char buf[2048], msg[1536];
	size_t len;
	va_list ap;

	if (level < log_min)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	len = log_prefix(buf, sizeof(buf), level);
	memcpy(buf + len, ",\"msg\":\"", 8);
	len += 8;
	log_escape(buf, &len, sizeof(buf) - 4, msg);
	buf[len++] = '"';
	log_write(buf, len, sizeof(buf));
}

void log_access(const char *method, const char *route, int status, long duration_us,
                int64_t user_id)
{
	char buf[1024];
	size_t len = log_prefix(buf, sizeof(buf), LOG_INFO);
	int n;

	if (log_min > LOG_INFO)
		return;
	memcpy(buf + len, ",\"access\":true,\"method\":\"", 25);
	len += 25;
	log_escape(buf, &len, 300, method);
	memcpy(buf + len, "\",\"route\":\"", 11);
	len += 11;
	log_escape(buf, &len, 700, route);
	n = snprintf(buf + len, sizeof(buf) - len, "\",\"status\":%d,\"us\":%ld,\"user\":%lld",
	             status, duration_us, (long long)user_id);
	if (n > 0 && (size_t)n < sizeof(buf) - len)
		len += (size_t)n;
	log_write(buf, len, sizeof(buf));
}
