/* role — see role.h. */
#include "lib/role.h"

#include <string.h>

static const char *const role_names[ROLE__MAX] = {
    [ROLE_NONE] = "",           [ROLE_VIEWER] = "viewer",
    [ROLE_SUPPORT] = "support", [ROLE_OPERATOR] = "operator",
    [ROLE_OWNER] = "owner",
};

const char *role_name(enum role r)
{
	return (unsigned)r < ROLE__MAX ? role_names[r] : "";
}

enum role role_parse(const char *s)
{
	for (int r = ROLE_VIEWER; s != NULL && r < ROLE__MAX; r++)
		if (strcmp(s, role_names[r]) == 0)
			return (enum role)r;
	return ROLE_NONE;
}

bool role_allows(enum role have, enum role need)
{
	if (need <= ROLE_NONE || need >= ROLE__MAX)
		need = ROLE_OWNER;
	return have > ROLE_NONE && have < ROLE__MAX && have >= need;
}
