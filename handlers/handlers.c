/* handlers — helpers shared by the resource files (see handlers.h). */
#include "handlers/handlers.h"

#include "lib/config.h"

enum api_err handlers_id(const struct request *req, int idx, int64_t *id)
{
	long v;

	if (idx >= req->ncaptures ||
	    config_parse_long(req->captures[idx], 1, 9007199254740991L, &v) < 0)
		return E_NOT_FOUND;
	*id = v;
	return E_OK;
}
