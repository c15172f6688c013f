/*
 * sql — fragments shared by the statement tables of model/.
 * Times leave the database as RFC 3339 text in the business time zone (Asia/Shanghai).
 */
#ifndef AIPHOTO_SQL_H
#define AIPHOTO_SQL_H

#define SQL_TIME(col) \
	"to_char(" col " AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"')"
/* Today's business day. */
#define SQL_TODAY "(now() AT TIME ZONE 'Asia/Shanghai')::date"

#endif
