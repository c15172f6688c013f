/* errors — renders the API_ERRORS table (see errors.h). */
#include "lib/errors.h"

#include <string.h>

static const struct {
	int status;
	const char *code;
	const char *message;
} api_err_table[E__MAX] = {
#define API_ERR_ROW(e, st, c, m) [e] = {.status = st, .code = c, .message = m},
    API_ERRORS(API_ERR_ROW)
#undef API_ERR_ROW
};

int api_err_status(enum api_err err)
{
	return (unsigned)err < E__MAX ? api_err_table[err].status : 500;
}

const char *api_err_code(enum api_err err)
{
	return (unsigned)err < E__MAX ? api_err_table[err].code : "INTERNAL";
}

const char *api_err_message(enum api_err err)
{
	return (unsigned)err < E__MAX ? api_err_table[err].message
	                              : api_err_table[E_INTERNAL].message;
}

enum api_err api_err_parse(const char *code)
{
	for (int e = 0; code != NULL && e < E__MAX; e++)
		if (strcmp(code, api_err_table[e].code) == 0)
			return (enum api_err)e;
	return E_INTERNAL;
}
