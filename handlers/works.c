/*
 * works — placeholder route table (being written).
 */
#include "handlers/handlers.h"

static enum api_err works_todo(struct request *req, struct reply *rep)
{
	(void)req;
	return reply_error(rep, E_NOT_FOUND, "not yet");
}

static const struct route works_list[] = {
    {.method = HTTP_GET, .pattern = "/__works_todo", .auth = AUTH_USER, .handler = works_todo},
};

ROUTE_TABLE(works_routes, works_list);
