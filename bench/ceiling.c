/*
 * ceiling.c - the bare FastCGI responder that `make bench` measures the
 * real service against.
 *
 * It does the least work a responder can do on the same path
 * (lighttpd -> unix socket -> libfcgi worker [-> libpq]) so that the
 * benchmark can report each real endpoint as a fraction of it:
 *
 *   GET /ceiling/health                 fixed small JSON, no I/O
 *   GET /ceiling/user/credits?user_id=N one prepared indexed SELECT
 *   POST /ceiling/credits/consume?user_id=N + Idempotency-Key
 *                                       one prepared INSERT ... CTE: the
 *                                       statement POST /credits/consume
 *                                       runs the first time a key is used
 *                                       (claim the key, debit 1 credit when
 *                                       it suffices, ledger row, outcome)
 *
 * Every other path answers 404. One process serves one request at a
 * time; run several under a supervisor on one socket (fd 0). The
 * database connection is opened on first use, i.e. after the fork,
 * and the statement is prepared once per connection.
 *
 * Not shipped; measurement only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcgiapp.h>
#include <libpq-fe.h>

#define STMT_CREDITS "ceiling_credits"
#define STMT_CONSUME "ceiling_consume"

/* $1 user, $2 key: the same work as model/credits.c CR_CONSUME for amount 1 */
static const char sql_consume[] =
    "WITH prev AS (SELECT k.request_hash, k.outcome, k.resource_id, l.balance_after "
    "FROM idempotency_keys k LEFT JOIN credit_ledger l ON l.id = k.resource_id "
    "WHERE k.user_id = $1 AND k.key = $2), "
    "u AS (UPDATE users SET credits = credits - 1, updated_at = now() "
    "WHERE id = $1 AND credits >= 1 AND NOT EXISTS (SELECT 1 FROM prev) RETURNING credits), "
    "l AS (INSERT INTO credit_ledger (user_id, delta, balance_after, kind, reference, memo, "
    "idempotency_key) SELECT $1, -1, u.credits, 'consume', $2, 'bench', "
    "'consume:' || $1 || ':' || $2 FROM u RETURNING id, balance_after), "
    "k AS (INSERT INTO idempotency_keys (user_id, key, route, request_hash, outcome, "
    "resource_id, completed_at) SELECT $1, $2, '/ceiling', repeat('0', 64), "
    "CASE WHEN EXISTS (SELECT 1 FROM l) THEN 'OK' ELSE 'INSUFFICIENT_CREDITS' END, "
    "(SELECT id FROM l), now() WHERE NOT EXISTS (SELECT 1 FROM prev) "
    "RETURNING outcome) "
    "SELECT k.outcome, (SELECT balance_after FROM l) FROM k";

static PGconn *db;
static int db_prepared;

static const char body_health[] = "{\"success\":true,\"data\":{\"status\":\"ok\"}}";
static const char body_notfound[] =
    "{\"success\":false,\"code\":\"NOT_FOUND\",\"message\":\"not found\"}";
static const char body_badreq[] =
    "{\"success\":false,\"code\":\"BAD_REQUEST\",\"message\":\"user_id\"}";
static const char body_unavail[] =
    "{\"success\":false,\"code\":\"UNAVAILABLE\",\"message\":\"database unavailable\"}";

/* Write one complete response: status line, JSON headers, body. */
static void reply(FCGX_Stream *out, const char *status, const char *body, size_t len)
{
	char head[256];
	int n;

	n = snprintf(head, sizeof(head),
	             "Status: %s\r\n"
	             "Content-Type: application/json\r\n"
	             "Content-Length: %zu\r\n"
	             "\r\n",
	             status, len);
	if (n < 0 || (size_t)n >= sizeof(head))
		return;
	FCGX_PutStr(head, n, out);
	FCGX_PutStr(body, (int)len, out);
}

/* Drop a broken connection so that the next request reconnects. */
static void db_drop(void)
{
	PQfinish(db);
	db = NULL;
	db_prepared = 0;
}

/* Return a usable connection with the statement prepared, or NULL. */
static PGconn *db_get(void)
{
	const char *url;
	PGresult *res;

	if (db != NULL && PQstatus(db) != CONNECTION_OK)
		db_drop();
	if (db == NULL) {
		url = getenv("DATABASE_URL");
		if (url == NULL || *url == '\0') {
			fprintf(stderr, "ceiling: DATABASE_URL is not set\n");
			return NULL;
		}
		db = PQconnectdb(url);
		if (PQstatus(db) != CONNECTION_OK) {
			fprintf(stderr, "ceiling: connect: %s", PQerrorMessage(db));
			db_drop();
			return NULL;
		}
	}
	if (!db_prepared) {
		static const struct {
			const char *name, *sql;
			int nparams;
		} stmts[] = {
		    {STMT_CREDITS, "SELECT credits FROM users WHERE id = $1", 1},
		    {STMT_CONSUME, sql_consume, 2},
		};
		for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
			res = PQprepare(db, stmts[i].name, stmts[i].sql, stmts[i].nparams, NULL);
			if (PQresultStatus(res) != PGRES_COMMAND_OK) {
				fprintf(stderr, "ceiling: prepare: %s", PQerrorMessage(db));
				PQclear(res);
				db_drop();
				return NULL;
			}
			PQclear(res);
		}
		db_prepared = 1;
	}
	return db;
}

/*
 * Find `user_id=` in a query string and check that its value is a
 * positive decimal integer that fits in a bigint. On success copy the
 * digits into buf and return 0.
 */
static int query_user_id(const char *query, char *buf, size_t size)
{
	const char *p = query;
	size_t n;
	long long v;
	char *end;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, "user_id=", 8) == 0) {
			p += 8;
			n = strcspn(p, "&");
			if (n == 0 || n >= size || strspn(p, "0123456789") != n)
				return -1;
			memcpy(buf, p, n);
			buf[n] = '\0';
			errno = 0;
			v = strtoll(buf, &end, 10);
			if (errno != 0 || *end != '\0' || v <= 0)
				return -1;
			return 0;
		}
		p = strchr(p, '&');
		if (p != NULL)
			p++;
	}
	return -1;
}

/* GET /ceiling/user/credits?user_id=N */
static void serve_credits(FCGX_Stream *out, const char *query)
{
	char id[24], body[128];
	const char *params[1];
	PGconn *conn;
	PGresult *res;
	int n;

	if (query == NULL || query_user_id(query, id, sizeof(id)) != 0) {
		reply(out, "400 Bad Request", body_badreq, sizeof(body_badreq) - 1);
		return;
	}
	conn = db_get();
	if (conn == NULL) {
		reply(out, "503 Service Unavailable", body_unavail, sizeof(body_unavail) - 1);
		return;
	}
	params[0] = id;
	res = PQexecPrepared(conn, STMT_CREDITS, 1, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		PQclear(res);
		if (PQstatus(conn) != CONNECTION_OK)
			db_drop();
		reply(out, "503 Service Unavailable", body_unavail, sizeof(body_unavail) - 1);
		return;
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		reply(out, "404 Not Found", body_notfound, sizeof(body_notfound) - 1);
		return;
	}
	n = snprintf(body, sizeof(body), "{\"success\":true,\"data\":{\"credits\":%s}}",
	             PQgetvalue(res, 0, 0));
	PQclear(res);
	if (n < 0 || (size_t)n >= sizeof(body)) {
		reply(out, "503 Service Unavailable", body_unavail, sizeof(body_unavail) - 1);
		return;
	}
	reply(out, "200 OK", body, (size_t)n);
}

/* POST /ceiling/credits/consume?user_id=N with an Idempotency-Key header (the body, if
 * any, is left unread). */
static void serve_consume(FCGX_Request *r, const char *query)
{
	const char *key = FCGX_GetParam("HTTP_IDEMPOTENCY_KEY", r->envp);
	char id[24], body[128];
	const char *params[2];
	PGconn *conn;
	PGresult *res;
	int n;

	if (query == NULL || query_user_id(query, id, sizeof(id)) != 0 || key == NULL ||
	    *key == '\0' || strlen(key) > 64) {
		reply(r->out, "400 Bad Request", body_badreq, sizeof(body_badreq) - 1);
		return;
	}
	conn = db_get();
	if (conn == NULL) {
		reply(r->out, "503 Service Unavailable", body_unavail, sizeof(body_unavail) - 1);
		return;
	}
	params[0] = id;
	params[1] = key;
	res = PQexecPrepared(conn, STMT_CONSUME, 2, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
	    strcmp(PQgetvalue(res, 0, 0), "OK") != 0) {
		PQclear(res);
		if (PQstatus(conn) != CONNECTION_OK)
			db_drop();
		reply(r->out, "503 Service Unavailable", body_unavail, sizeof(body_unavail) - 1);
		return;
	}
	n = snprintf(body, sizeof(body), "{\"success\":true,\"data\":{\"credits\":%s}}",
	             PQgetvalue(res, 0, 1));
	PQclear(res);
	if (n < 0 || (size_t)n >= sizeof(body)) {
		reply(r->out, "503 Service Unavailable", body_unavail, sizeof(body_unavail) - 1);
		return;
	}
	reply(r->out, "200 OK", body, (size_t)n);
}

/* Route one request on the path part of REQUEST_URI. */
static void serve(FCGX_Request *r)
{
	const char *uri, *query;
	size_t plen;

	uri = FCGX_GetParam("REQUEST_URI", r->envp);
	if (uri == NULL)
		uri = "";
	query = strchr(uri, '?');
	plen = query != NULL ? (size_t)(query - uri) : strlen(uri);
	if (query != NULL)
		query++;

	if (plen == strlen("/ceiling/health") && memcmp(uri, "/ceiling/health", plen) == 0)
		reply(r->out, "200 OK", body_health, sizeof(body_health) - 1);
	else if (plen == strlen("/ceiling/user/credits") &&
	         memcmp(uri, "/ceiling/user/credits", plen) == 0)
		serve_credits(r->out, query);
	else if (plen == strlen("/ceiling/credits/consume") &&
	         memcmp(uri, "/ceiling/credits/consume", plen) == 0)
		serve_consume(r, query);
	else
		reply(r->out, "404 Not Found", body_notfound, sizeof(body_notfound) - 1);
}

int main(void)
{
	FCGX_Request r;

	if (FCGX_Init() != 0) {
		fprintf(stderr, "ceiling: FCGX_Init failed\n");
		return 1;
	}
	if (FCGX_InitRequest(&r, 0, 0) != 0) {
		fprintf(stderr, "ceiling: FCGX_InitRequest failed\n");
		return 1;
	}
	while (FCGX_Accept_r(&r) >= 0) {
		serve(&r);
		FCGX_Finish_r(&r);
	}
	PQfinish(db);
	return 0;
}
