/*
 * sql — fragments shared by the statement tables of model/.
 * Times leave the database as RFC 3339 text in the business time zone (Asia/Shanghai);
 * the business day itself is computed by lib/bizday and passed as a parameter.
 */
#ifndef AIPHOTO_SQL_H
#define AIPHOTO_SQL_H

#define SQL_TIME(col) \
	"to_char(" col " AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"')"

#endif
