/*
 * prompts — placeholder route table (being written).
 */
#include "handlers/handlers.h"

static enum api_err prompts_todo(struct request *req, struct reply *rep)
{
	(void)req;
	return reply_error(rep, E_NOT_FOUND, "not yet");
}

static const struct route prompts_list[] = {
    {.method = HTTP_GET, .pattern = "/__prompts_todo", .auth = AUTH_USER, .handler = prompts_todo},
};

ROUTE_TABLE(prompts_routes, prompts_list);
