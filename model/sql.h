/*
 * sql — fragments shared by the statement tables of model/.
 * Times leave the database as RFC 3339 text in the business time zone (Asia/Shanghai);
 * the business day itself is computed by lib/bizday and passed as a parameter.
 */
#ifndef AIPHOTO_SQL_H
#define AIPHOTO_SQL_H

#define SQL_TIME(col) \
	"to_char(" col " AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"')"

/*
 * The status of a task from its counters (string literals naming SQL expressions): ended
 * when done + failed + canceled reach count — 'completed' when every item succeeded,
 * 'partial' when some did, 'failed' when none did but some failed, else 'canceled';
 * otherwise 'running' when started (a boolean expression) is true, else 'queued'.
 * Shared by the cancel of model/tasks.c and the dispatcher's completion in model/works.c.
 */
#define SQL_TASK_STATUS(done, failed, canceled, count, started)                     \
	"(CASE WHEN (" done ") + (" failed ") + (" canceled ") >= (" count ") THEN" \
	" (CASE WHEN (" done ") >= (" count ") THEN 'completed'"                    \
	" WHEN (" done ") > 0 THEN 'partial'"                                       \
	" WHEN (" failed ") > 0 THEN 'failed'"                                      \
	" ELSE 'canceled' END)"                                                     \
	" WHEN (" started ") THEN 'running' ELSE 'queued' END)"

#endif
