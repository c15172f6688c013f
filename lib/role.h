/*
 * role — the roles of admin accounts (admins.role) and their order.
 *
 * The roles are ranked: every role may do what the roles below it may.
 *   viewer    reads everything but the admin accounts and the audit log
 *   support   + adjusts users' credits, |delta| at most ADMIN_SUPPORT_CREDIT_LIMIT
 *   operator  + content, prices and config, users (credits, status), tasks; reads the audit
 *   owner     + manages the admin accounts
 * A route of level AUTH_ADMIN names the least role it takes (struct route.role); the router
 * refuses a lower one with 403 before the handler runs (docs/admin.md has the matrix).
 * Pure: no I/O, no allocation.
 */
#ifndef AIPHOTO_ROLE_H
#define AIPHOTO_ROLE_H

#include <stdbool.h>

enum role {
	ROLE_NONE, /* no role: a route leaving .role unset is owner-only (see role_allows) */
	ROLE_VIEWER,
	ROLE_SUPPORT,
	ROLE_OPERATOR,
	ROLE_OWNER,
	ROLE__MAX
};

/* "viewer", "support", "operator", "owner"; "" for ROLE_NONE or anything else. */
const char *role_name(enum role r);
/* The role named s (exactly, lower case), or ROLE_NONE. */
enum role role_parse(const char *s);
/* Whether an admin of role have may use a route that needs need.  need ROLE_NONE (a route
 * that names no role) counts as ROLE_OWNER; have ROLE_NONE is never enough. */
bool role_allows(enum role have, enum role need);

#endif
