/* db — see db.h. */
#include "lib/db.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "lib/metrics.h"

static struct {
	char *conninfo;
	char options[64];
	const char *app_name;
	PGconn *conn;
	unsigned long gen; /* bumped on each new connection */
	bool in_tx;
	struct timespec next_try; /* back-off after a failed connect */
	char last_sqlstate[6];
	struct timespec last_ok; /* when a statement last succeeded on this connection */
} db;

#define DB_RETRY_MS 250

void db_init(const char *conninfo, long statement_timeout_ms, const char *app_name)
{
	free(db.conninfo);
	db.conninfo = conninfo ? strdup(conninfo) : NULL;
	snprintf(db.options, sizeof(db.options), "-c statement_timeout=%ld", statement_timeout_ms);
	db.app_name = app_name;
}

void db_fini(void)
{
	if (db.conn != NULL)
		PQfinish(db.conn);
	db.conn = NULL;
	db.in_tx = false;
}

static long db_ms_until(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000;
}

/* Drops a dead connection so the next call reconnects. */
static void db_drop(void)
{
	if (db.conn != NULL) {
		log_warn("database connection lost: %s", PQerrorMessage(db.conn));
		metrics_count(METRICS_DB_LOSSES);
		PQfinish(db.conn);
	}
	db.conn = NULL;
	db.in_tx = false;
	db.last_ok.tv_sec = 0;
}

/* Returns true with a usable connection. */
static bool db_ensure(void)
{
	/* our settings first: anything the URL itself says wins (libpq keeps the last value) */
	const char *const keys[] = {"connect_timeout", "options", "application_name", "dbname",
	                            NULL};
	const char *vals[] = {"3", db.options, db.app_name, db.conninfo, NULL};

	if (db.conn != NULL && PQstatus(db.conn) == CONNECTION_OK)
		return true;
	if (db.conn != NULL)
		db_drop();
	if (db.conninfo == NULL || db_ms_until(&db.next_try) > 0)
		return false;
	db.conn = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(db.conn) != CONNECTION_OK) {
		log_warn("database connect failed: %s", PQerrorMessage(db.conn));
		PQfinish(db.conn);
		db.conn = NULL;
		clock_gettime(CLOCK_MONOTONIC, &db.next_try);
		db.next_try.tv_nsec += DB_RETRY_MS * 1000000L;
		if (db.next_try.tv_nsec >= 1000000000L) {
			db.next_try.tv_sec++;
			db.next_try.tv_nsec -= 1000000000L;
		}
		return false;
	}
	db.gen++;
	db.in_tx = false;
	metrics_count(METRICS_DB_CONNECTS);
	return true;
}

enum api_err db_sqlstate_err(const char *st)
{
	if (st == NULL || strlen(st) != 5)
		return E_INTERNAL;
	if (strcmp(st, "23505") == 0 || strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0)
		return E_CONFLICT;
	if (strcmp(st, "23503") == 0)
		return E_NOT_FOUND;
	if (strcmp(st, "57014") == 0)
		return E_TIMEOUT;
	/* text the client sent that PostgreSQL cannot store (\u0000 in jsonb, bytes that are
	 * not UTF-8): the request is wrong, not the server */
	if (strcmp(st, "22P05") == 0 || strcmp(st, "22021") == 0)
		return E_BAD_REQUEST;
	if (strncmp(st, "08", 2) == 0 || strncmp(st, "57P0", 4) == 0 || strncmp(st, "53", 2) == 0)
		return E_UNAVAILABLE;
	return E_INTERNAL;
}

unsigned long db_generation(void)
{
	return db.conn != NULL && PQstatus(db.conn) == CONNECTION_OK ? db.gen : 0;
}

int db_socket(void)
{
	return db.conn != NULL && PQstatus(db.conn) == CONNECTION_OK ? PQsocket(db.conn) : -1;
}

/* The channels db_watch follows, with the notifications counted on each. */
#define DB_CHANNELS 8
static struct {
	const char *name;
	unsigned long count;
} db_channels[DB_CHANNELS];

/* The counter of channel, registered on first use (NULL when every slot is taken). */
static unsigned long *db_channel(const char *channel)
{
	for (size_t i = 0; i < DB_CHANNELS; i++) {
		if (db_channels[i].name == NULL)
			db_channels[i].name = channel;
		if (strcmp(db_channels[i].name, channel) == 0)
			return &db_channels[i].count;
	}
	return NULL;
}

int db_notifies(void)
{
	PGnotify *n;
	int count = 0;

	if (db.conn == NULL || PQstatus(db.conn) != CONNECTION_OK)
		return -1;
	if (PQconsumeInput(db.conn) == 0) {
		db_drop();
		return -1;
	}
	while ((n = PQnotifies(db.conn)) != NULL) {
		for (size_t i = 0; i < DB_CHANNELS && db_channels[i].name != NULL; i++)
			if (strcmp(db_channels[i].name, n->relname) == 0)
				db_channels[i].count++;
		count++;
		PQfreemem(n);
	}
	return count;
}

bool db_watch_listening(const struct db_watch *w)
{
	return w->gen != 0 && w->gen == db_generation();
}

bool db_watch_valid(struct db_watch *w, enum api_err (*listen)(void))
{
	unsigned long *count = db_channel(w->channel);

	/* a watch without a counter slot never remembers anything (a programming error) */
	if (count != NULL && db_watch_listening(w) && db_notifies() >= 0 && db_watch_listening(w) &&
	    *count == w->seen)
		return true;
	w->epoch++;
	if (!db_watch_listening(w)) {
		w->gen = 0;
		if (count != NULL && listen() == E_OK)
			w->gen = db_generation();
	}
	w->seen = count != NULL ? *count : 0;
	return false;
}

bool db_recently_ok(long ms)
{
	if (db.conn == NULL || PQstatus(db.conn) != CONNECTION_OK || db.last_ok.tv_sec == 0)
		return false;
	return -db_ms_until(&db.last_ok) < ms;
}

const char *db_last_sqlstate(void)
{
	return db.last_sqlstate;
}

/* Maps a failed result (or a NULL one) to an error, dropping a dead connection. */
static enum api_err db_fail(PGresult *res, const char *what)
{
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	enum api_err err;

	snprintf(db.last_sqlstate, sizeof(db.last_sqlstate), "%s", st ? st : "");
	/* a server shutdown (57P0x) or a broken link (08xxx) ends the session even when libpq
	 * has not noticed yet: drop it so the caller may retry on a fresh one */
	if (db.conn == NULL || PQstatus(db.conn) != CONNECTION_OK || res == NULL ||
	    (st != NULL && (strncmp(st, "57P0", 4) == 0 || strncmp(st, "08", 2) == 0))) {
		PQclear(res);
		db_drop();
		return E_UNAVAILABLE;
	}
	err = db_sqlstate_err(st);
	if (err == E_INTERNAL)
		log_error("%s failed: %s", what, PQerrorMessage(db.conn));
	PQclear(res);
	return err;
}

static enum api_err db_prepare(struct db_stmts *s)
{
	char name[64];

	for (int i = 0; i < s->n; i++) {
		PGresult *res;
		snprintf(name, sizeof(name), "%s_%d", s->name, i);
		res = PQprepare(db.conn, name, s->sql[i], 0, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			return db_fail(res, name);
		PQclear(res);
	}
	s->prepared_gen = db.gen;
	return E_OK;
}

/*
 * After a failed statement: whether to run it once more on a fresh connection.  Only when the
 * connection died (db_fail dropped it), on the first attempt, and outside a transaction that
 * was open before the call (in_tx, read on entry: inside one, the work done so far went with
 * the connection, and running the rest in autocommit would commit half of it).  Clears the
 * connect back-off so the new connection is tried at once.
 */
static bool db_retry(enum api_err err, bool in_tx, int attempt)
{
	if (err != E_UNAVAILABLE || in_tx || attempt > 0 || db.conn != NULL)
		return false;
	db.next_try.tv_sec = 0;
	db.next_try.tv_nsec = 0;
	return true;
}

enum api_err db_exec(struct db_stmts *s, int idx, int nparams, const char *const *values,
                     PGresult **out)
{
	const bool in_tx = db.in_tx; /* db_fail clears it when the connection dies */
	char name[64];
	enum api_err err;
	PGresult *res;
	int attempt = 0;

	*out = NULL;
	db.last_sqlstate[0] = '\0';
	if (idx < 0 || idx >= s->n)
		return E_INTERNAL;
	snprintf(name, sizeof(name), "%s_%d", s->name, idx);
again:
	if (!db_ensure())
		return E_UNAVAILABLE;
	if (s->prepared_gen != db.gen && (err = db_prepare(s)) != E_OK)
		goto retry;
	res = PQexecPrepared(db.conn, name, nparams, values, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK || PQresultStatus(res) == PGRES_COMMAND_OK) {
		*out = res;
		clock_gettime(CLOCK_MONOTONIC, &db.last_ok);
		return E_OK;
	}
	err = db_fail(res, name);
retry:
	if (db_retry(err, in_tx, attempt++))
		goto again;
	return err;
}

/* Runs one command; outside a transaction a connection found dead is replaced and the
 * command tried once more (after a server restart the first BEGIN of a worker would fail). */
static enum api_err db_simple(const char *sql)
{
	const bool in_tx = db.in_tx;
	PGresult *res;
	enum api_err err;

	for (int attempt = 0;; attempt++) {
		if (!db_ensure())
			return E_UNAVAILABLE;
		res = PQexec(db.conn, sql);
		if (PQresultStatus(res) == PGRES_COMMAND_OK) {
			PQclear(res);
			return E_OK;
		}
		err = db_fail(res, sql);
		if (!db_retry(err, in_tx, attempt))
			return err;
	}
}

enum api_err db_begin(void)
{
	enum api_err err = db_simple("BEGIN");
	db.in_tx = (err == E_OK);
	return err;
}

enum api_err db_commit(void)
{
	enum api_err err = db_simple("COMMIT");
	db.in_tx = false;
	return err;
}

void db_rollback(void)
{
	PGresult *res;

	if (db.conn == NULL || PQstatus(db.conn) != CONNECTION_OK) {
		db.in_tx = false;
		return;
	}
	if (PQtransactionStatus(db.conn) != PQTRANS_IDLE) {
		res = PQexec(db.conn, "ROLLBACK");
		PQclear(res);
	}
	db.in_tx = false;
}

bool db_in_transaction(void)
{
	return db.in_tx;
}

enum api_err db_exec_script(const char *sql, char *err, size_t errlen)
{
	PGresult *res;
	ExecStatusType st;

	err[0] = '\0';
	if (!db_ensure()) {
		snprintf(err, errlen, "cannot connect to the database");
		return E_UNAVAILABLE;
	}
	res = PQexec(db.conn, sql);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
		const char *pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
		snprintf(err, errlen, "%s%s%s", PQresultErrorMessage(res),
		         pos ? " at character " : "", pos ? pos : "");
		return db_fail(res, "script");
	}
	PQclear(res);
	return E_OK;
}

int64_t db_i64(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

bool db_bool(const PGresult *r, int row, int col)
{
	return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}

char *db_str(struct arena *a, const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return NULL;
	return arena_strndup(a, PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col));
}

bool db_page_trim(size_t *n, int limit)
{
	if (limit < 0 || *n <= (size_t)limit)
		return false;
	*n = (size_t)limit;
	return true;
}

const char *db_param_i64(struct arena *a, int64_t v)
{
	char d[24], *s;
	size_t i = sizeof(d);
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		d[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		d[--i] = '-';
	s = arena_alloc(a, sizeof(d) - i + 1);
	memcpy(s, d + i, sizeof(d) - i);
	s[sizeof(d) - i] = '\0';
	return s;
}

enum api_err db_run(struct db_stmts *s, int idx, int nparams, const char *const *values, int *rows)
{
	PGresult *res = NULL;
	enum api_err err = db_exec(s, idx, nparams, values, &res);

	if (err == E_OK && rows != NULL) {
		const char *t = PQcmdTuples(res);
		*rows = PQresultStatus(res) == PGRES_TUPLES_OK
		            ? PQntuples(res)
		            : (t[0] != '\0' ? (int)strtol(t, NULL, 10) : 0);
	}
	PQclear(res);
	return err;
}

const char *db_param_i64_array(struct arena *a, const int64_t *ids, size_t n)
{
	size_t cap = 2 + n * 21 + 1, off = 0;
	char *s = arena_alloc(a, cap);

	s[off++] = '{';
	for (size_t i = 0; i < n; i++)
		off +=
		    (size_t)snprintf(s + off, cap - off, "%s%lld", i ? "," : "", (long long)ids[i]);
	s[off++] = '}';
	s[off] = '\0';
	return s;
}

const char *db_param_text_array(struct arena *a, const char *const *v, size_t n)
{
	size_t cap = 3, off = 0;
	char *s;

	for (size_t i = 0; i < n; i++)
		cap += 3 + 2 * strlen(v[i]);
	s = arena_alloc(a, cap);
	s[off++] = '{';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			s[off++] = ',';
		s[off++] = '"';
		for (const char *p = v[i]; *p; p++) {
			if (*p == '"' || *p == '\\')
				s[off++] = '\\';
			s[off++] = *p;
		}
		s[off++] = '"';
	}
	s[off++] = '}';
	s[off] = '\0';
	return s;
}
