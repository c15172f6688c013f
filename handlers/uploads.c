/*
 * uploads — placeholder route table (being written).
 */
#include "handlers/handlers.h"

static enum api_err uploads_todo(struct request *req, struct reply *rep)
{
	(void)req;
	return reply_error(rep, E_NOT_FOUND, "not yet");
}

static const struct route uploads_list[] = {
    {.method = HTTP_GET, .pattern = "/__uploads_todo", .auth = AUTH_USER, .handler = uploads_todo},
};

ROUTE_TABLE(uploads_routes, uploads_list);
