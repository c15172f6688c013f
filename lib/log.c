/*
 * log — see log.h.  Lines are assembled in a stack buffer and written with one write(2),
 * so lines from several workers sharing one stderr never interleave.
 */
#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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
static pid_t log_pid;
static char log_path[4096]; /* log_open's file, "" for none */
static int log_stderr_before = -1; /* the stderr log_open replaced, for log_close */
static volatile sig_atomic_t log_hup; /* a SIGHUP came: reopen before the next line */

static const char *const log_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *prog, enum log_level min)
{
	log_prog = prog;
	log_min = min;
	log_pid = getpid();
}

int log_reopen(void)
{
	int fd, saved;

	if (log_path[0] == '\0')
		return 0;
	if ((fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) < 0)
		return -1;
	if (fd != STDERR_FILENO && dup2(fd, STDERR_FILENO) < 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	if (fd != STDERR_FILENO)
		close(fd);
	return 0;
}

int log_open(const char *path)
{
	char saved[sizeof(log_path)];
	size_t n = strlen(path);

	if (n >= sizeof(log_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (log_stderr_before < 0)
		log_stderr_before = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	memcpy(saved, log_path, sizeof(saved));
	memcpy(log_path, path, n + 1);
	if (log_reopen() != 0) {
		int e = errno;
		memcpy(log_path, saved, sizeof(saved));
		errno = e;
		return -1;
	}
	return 0;
}

void log_close(void)
{
	if (log_stderr_before >= 0) {
		dup2(log_stderr_before, STDERR_FILENO);
		close(log_stderr_before);
		log_stderr_before = -1;
	}
	log_path[0] = '\0';
	log_hup = 0;
}

static void log_on_hup(int sig)
{
	(void)sig;
	log_hup = 1;
}

void log_reopen_on_hup(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = log_on_hup;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
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

/* Appends n bytes (truncating at cap). */
static void log_put(char *buf, size_t *len, size_t cap, const char *s, size_t n)
{
	if (n > cap - *len)
		n = cap - *len;
	memcpy(buf + *len, s, n);
	*len += n;
}

/* Appends a decimal integer. */
static void log_putd(char *buf, size_t *len, size_t cap, long long v)
{
	char d[24];
	size_t i = sizeof(d);
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	do {
		d[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		d[--i] = '-';
	log_put(buf, len, cap, d + i, sizeof(d) - i);
}

/* {"ts":"…","level":"…","pid":N,"prog":"…"[,"req":"…"] — the time text is formatted once a
 * second, the pid read once. */
static size_t log_prefix(char *buf, size_t cap, enum log_level level)
{
	struct timespec ts;
	struct tm tm;
	size_t len = 0;
	char ms[4];

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != log_when_sec) {
		gmtime_r(&ts.tv_sec, &tm);
		strftime(log_when, sizeof(log_when), "%Y-%m-%dT%H:%M:%S", &tm);
		log_when_sec = ts.tv_sec;
	}
	if (log_pid == 0)
		log_pid = getpid();
	ms[0] = (char)('0' + ts.tv_nsec / 100000000);
	ms[1] = (char)('0' + ts.tv_nsec / 10000000 % 10);
	ms[2] = (char)('0' + ts.tv_nsec / 1000000 % 10);
	ms[3] = 'Z';
	log_put(buf, &len, cap, "{\"ts\":\"", 7);
	log_put(buf, &len, cap, log_when, strlen(log_when));
	log_put(buf, &len, cap, ".", 1);
	log_put(buf, &len, cap, ms, 4);
	log_put(buf, &len, cap, "\",\"level\":\"", 11);
	log_put(buf, &len, cap, log_names[level], strlen(log_names[level]));
	log_put(buf, &len, cap, "\",\"pid\":", 8);
	log_putd(buf, &len, cap, (long long)log_pid);
	log_put(buf, &len, cap, ",\"prog\":\"", 9);
	log_put(buf, &len, cap, log_prog, strlen(log_prog));
	log_put(buf, &len, cap, "\"", 1);
	if (log_req[0] != '\0') {
		log_put(buf, &len, cap, ",\"req\":\"", 8);
		log_escape(buf, &len, cap, log_req);
		log_put(buf, &len, cap, "\"", 1);
	}
	return len;
}

static void log_write(char *buf, size_t len, size_t cap)
{
	if (len + 3 > cap)
		len = cap - 3;
	buf[len++] = '}';
	buf[len++] = '\n';
	if (log_hup) {
		log_hup = 0;
		(void)log_reopen(); /* on failure the lines go on into the old file */
	}
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
                int64_t user_id, int64_t admin_id)
{
	char buf[1024];
	size_t len;

	if (log_min > LOG_INFO)
		return;
	len = log_prefix(buf, sizeof(buf), LOG_INFO);
	memcpy(buf + len, ",\"access\":true,\"method\":\"", 25);
	len += 25;
	log_escape(buf, &len, 300, method);
	memcpy(buf + len, "\",\"route\":\"", 11);
	len += 11;
	log_escape(buf, &len, 700, route);
	log_put(buf, &len, sizeof(buf) - 4, "\",\"status\":", 11);
	log_putd(buf, &len, sizeof(buf) - 4, status);
	log_put(buf, &len, sizeof(buf) - 4, ",\"us\":", 6);
	log_putd(buf, &len, sizeof(buf) - 4, duration_us);
	log_put(buf, &len, sizeof(buf) - 4, ",\"user\":", 8);
	log_putd(buf, &len, sizeof(buf) - 4, (long long)user_id);
	if (admin_id > 0) {
		log_put(buf, &len, sizeof(buf) - 4, ",\"admin\":", 9);
		log_putd(buf, &len, sizeof(buf) - 4, (long long)admin_id);
	}
	log_write(buf, len, sizeof(buf));
}
