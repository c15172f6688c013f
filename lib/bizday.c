/* bizday — see bizday.h. */
#include "lib/bizday.h"

#include <stdio.h>
#include <string.h>

void bizday_format(time_t now, char out[11])
{
	time_t local = now + BIZDAY_UTC_OFFSET;
	struct tm tm;
	char buf[32];

	gmtime_r(&local, &tm);
	snprintf(buf, sizeof(buf), "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
	memcpy(out, buf, 10);
	out[10] = '\0';
}
