/*
 * bizday — the business calendar day: the Asia/Shanghai date (UTC+8, no daylight saving
 * since 1991).  Computed here and passed to SQL as a parameter, so every statement about
 * "today" (check-in, daily limits, today's stats) agrees on one clock and needs no time
 * zone conversion in the database.
 */
#ifndef AIPHOTO_BIZDAY_H
#define AIPHOTO_BIZDAY_H

#include <time.h>

#define BIZDAY_UTC_OFFSET (8 * 3600)

/* Writes the business day of now as "YYYY-MM-DD" into out (11 bytes with the NUL). */
void bizday_format(time_t now, char out[11]);

#endif
