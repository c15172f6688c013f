/*
 * view — how the admin API's models answer: each row rendered by PostgreSQL as one JSON
 * object (jsonb_build_object over an explicit column list, times in RFC 3339 by SQL_TIME),
 * handed to the handler as text.  The statements naming the fields live in model/ beside
 * the tables they read; the handler parses the text and passes it on (handlers_view_*), so
 * an admin view needs no C struct per table.  Never a column the admin API must not show
 * (password hashes, keys): every field is named.
 */
#ifndef AIPHOTO_MODEL_VIEW_H
#define AIPHOTO_MODEL_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"

/* A page of a list, newest first: rows[0..n) JSON object texts (arena), more when a further
 * page exists, last_id the id of the last row (the next page's cursor). */
struct view_page {
	const char **rows;
	size_t n;
	bool more;
	int64_t last_id;
};

/* Paging of an admin list: ids below before_id (0 = from the newest), at most limit rows. */
struct view_cursor {
	int64_t before_id;
	int limit;
};

#endif
