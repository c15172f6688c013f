/* bizday — see bizday.h. */
#include "lib/bizday.h"

#include <stdio.h>
#include <string.h>

void bizday_format(time_t now, char out[11])
{
	static long long cached_day = -1; /* days since the epoch, business time */
	static char cached[11];
	time_t local = now + BIZDAY_UTC_OFFSET;
	long long day = (long long)(local >= 0 ? local / 86400 : (local - 86399) / 86400);
	struct tm tm;
	char buf[32];

	if (day != cached_day) {
		gmtime_r(&local, &tm);
		snprintf(buf, sizeof(buf), "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
		         tm.tm_mday);
		memcpy(cached, buf, 10);
		cached[10] = '\0';
		cached_day = day;
	}
	memcpy(out, cached, 11);
}
