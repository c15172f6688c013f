/*
 * tasks — placeholder route table (being written).
 */
#include "handlers/handlers.h"

static enum api_err tasks_todo(struct request *req, struct reply *rep)
{
	(void)req;
	return reply_error(rep, E_NOT_FOUND, "not yet");
}

static const struct route tasks_list[] = {
    {.method = HTTP_GET, .pattern = "/__tasks_todo", .auth = AUTH_USER, .handler = tasks_todo},
};

ROUTE_TABLE(tasks_routes, tasks_list);
