/*
 * db — the worker's one PostgreSQL connection (libpq).
 *
 * The connection is opened lazily on first use (always after fork), checked before each
 * statement, and reopened after a loss; while the server is unreachable, attempts are
 * spaced by a short back-off and every call answers E_UNAVAILABLE at once.  Each model
 * file owns a struct db_stmts (its statement table); the table is prepared on the
 * current connection the first time one of its statements runs, so every statement is
 * prepared once per worker and connection.  statement_timeout comes from config.
 *
 * PGresult is returned to model/ code only, which copies what it needs into the request
 * arena and PQclear()s it before returning: results never reach handlers.
 */
#ifndef AIPHOTO_DB_H
#define AIPHOTO_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"

struct db_stmts {
	const char *name; /* module prefix: statements are prepared as name_<index> */
	const char *const *sql; /* the module's static statement table */
	int n;
	unsigned long prepared_gen; /* connection generation the table was prepared on */
};

#define DB_STMTS(prefix, table)                                                                  \
	{                                                                                        \
		.name = (prefix), .sql = (table), .n = (int)(sizeof(table) / sizeof((table)[0])) \
	}

/* Remembers the connection settings; connects nothing.  app_name shows in pg_stat_activity. */
void db_init(const char *conninfo, long statement_timeout_ms, const char *app_name);
/* Closes the connection (NULL-safe, idempotent). */
void db_fini(void);

/*
 * Runs statement idx of table s with text parameters (NULL = SQL NULL).
 * E_OK: *out holds a TUPLES_OK or COMMAND_OK result the caller must PQclear.
 * Otherwise *out is NULL and the error is mapped from the SQLSTATE (db_sqlstate_err);
 * a lost connection answers E_UNAVAILABLE.  Outside a transaction, a statement that
 * met a connection found dead is retried once on a new connection.
 */
enum api_err db_exec(struct db_stmts *s, int idx, int nparams, const char *const *values,
                     PGresult **out);

/* db_exec without a result to read: *rows (optional) gets the rows returned, or else the
 * rows the command affected. */
enum api_err db_run(struct db_stmts *s, int idx, int nparams, const char *const *values, int *rows);

/* Transactions on the worker's connection.  db_rollback is safe to call in any state. */
enum api_err db_begin(void);
enum api_err db_commit(void);
void db_rollback(void);
/* True between a successful db_begin and its db_commit / db_rollback (a model function that
 * needs a transaction joins the caller's one instead of opening its own). */
bool db_in_transaction(void);

/* Runs a multi-statement script with the simple protocol (migrations, seeds).  On failure
 * writes the server's message (with position) to err. */
enum api_err db_exec_script(const char *sql, char *err, size_t errlen);

/* SQLSTATE (5 chars) → API error: 23505 → E_CONFLICT, 23503 (a referenced row is
 * missing) → E_NOT_FOUND, 57014 → E_TIMEOUT, 22P05 / 22021 (client text PostgreSQL cannot
 * store) → E_BAD_REQUEST,
 * class 08 / 57P0x / 53 → E_UNAVAILABLE, 40001 / 40P01 → E_CONFLICT, other → E_INTERNAL. */
enum api_err db_sqlstate_err(const char *sqlstate);

/* True when a statement succeeded on the current, still open connection less than ms ago
 * (lets /health skip a round trip under load). */
bool db_recently_ok(long ms);

/*
 * Notifications (LISTEN/NOTIFY) on the connection.  db_socket: the connection's socket to
 * poll for reading (-1 when there is no open connection).  db_notifies: reads what the
 * socket holds (PQconsumeInput) and consumes every pending notification (PQnotifies),
 * counting those of the channels db_watch follows; returns how many there were, or -1 when
 * the connection is lost (the next statement reconnects, and its LISTENs must be issued
 * again).
 */
int db_socket(void);
int db_notifies(void);
/* Which connection is open: a number that changes with every new connection (its LISTENs
 * are gone with the old one), 0 when none is. */
unsigned long db_generation(void);

/*
 * A per-worker memory of rows that holds only while nothing changed them (model/users.c, the
 * account statuses; model/admins.c, the admin accounts): the model LISTENs on a channel that
 * a trigger notifies on every change, and forgets everything it remembers when a
 * notification arrives on that channel or its connection is replaced.  Several watches share
 * the one connection: notifications are counted per channel, so each sees its own.
 */
struct db_watch {
	const char *channel; /* as notified, e.g. "aiphoto_accounts" */
	unsigned long gen; /* db_generation() the LISTEN was issued on; 0 = none */
	unsigned long seen; /* notifications on channel counted at the last look */
	unsigned long epoch; /* moves on whenever the memory must be forgotten */
};

#define DB_WATCH(ch)                        \
	{                                   \
		.channel = (ch), .epoch = 1 \
	}

/*
 * True when what w's memory holds may be used: its LISTEN is in place on the open connection
 * and nothing was notified on its channel since the last look.  Otherwise moves w->epoch on
 * (entries remembered under an older epoch are forgotten), issues the LISTEN through listen
 * (the model's statement) when it is not in place on this connection, and returns false.
 */
bool db_watch_valid(struct db_watch *w, enum api_err (*listen)(void));
/* True when w's LISTEN is in place on the open connection: a row read now may be remembered
 * (a change committed after the read will be notified). */
bool db_watch_listening(const struct db_watch *w);

/* SQLSTATE of the last failed db_exec/db_commit ("" if none). */
const char *db_last_sqlstate(void);

/* Result helpers (row, col within range; the caller checked PQntuples). */
int64_t db_i64(const PGresult *r, int row, int col);
bool db_bool(const PGresult *r, int row, int col);
char *db_str(struct arena *a, const PGresult *r, int row, int col); /* NULL for SQL NULL */
/* A page of a list is read as limit + 1 rows (the extra row only says that more follow):
 * trims the row count *n to limit and returns whether there are more. */
bool db_page_trim(size_t *n, int limit);

/* Decimal text of v in the arena, for a parameter. */
const char *db_param_i64(struct arena *a, int64_t v);
/* A bigint[] literal "{1,2,3}" of n ids in the arena, for a $n::bigint[] parameter. */
const char *db_param_i64_array(struct arena *a, const int64_t *ids, size_t n);
/* A text[] literal {"a","b"} of n strings in the arena (each one quoted, with '"' and '\\'
 * escaped by a backslash), for a $n::text[] parameter. */
const char *db_param_text_array(struct arena *a, const char *const *v, size_t n);

#endif
