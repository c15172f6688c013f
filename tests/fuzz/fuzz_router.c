/*
 * fuzz_router — router_dispatch end to end (match, auth, body limits, JSON syntax) and the
 * rendered response, with the request read from the input:
 *   byte 0      flags: method (bits 0-2), Content-Type (3-4), Content-Length mode (5-6),
 *               one-byte reads (7)
 *   up to '\n'  the path
 *   up to '\n'  the Authorization header ("@" stands for a valid user token)
 *   the rest    the body
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fcgi/response.h"
#include "fcgi/router.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/token.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_BODY 256

static enum api_err fuzz_handler(struct request *req, struct reply *rep)
{
	const struct route *r = req->route;

	assert(r != NULL);
	if (r->body == BODY_JSON)
		assert(req->json != NULL);
	if (r->body != BODY_NONE && req->body != NULL) {
		assert(req->body_len <= r->max_body);
		assert(req->body[req->body_len] == '\0');
	}
	if (r->auth == AUTH_USER)
		assert(req->authenticated && !req->admin && req->user_id > 0);
	for (int i = 0; i < req->ncaptures; i++)
		assert(req->captures[i] != NULL);
	return reply_ok(rep, 200, json_object_new_int(req->ncaptures));
}

static const struct route fuzz_routes[] = {
    {.method = HTTP_POST,
     .pattern = "/j",
     .body = BODY_JSON,
     .max_body = FUZZ_MAX_BODY,
     .handler = fuzz_handler},
    {.method = HTTP_POST,
     .pattern = "/o",
     .auth = AUTH_OPTIONAL,
     .body = BODY_JSON_OPTIONAL,
     .max_body = FUZZ_MAX_BODY,
     .handler = fuzz_handler},
    {.method = HTTP_PUT,
     .pattern = "/r/:id",
     .body = BODY_RAW,
     .max_body = 64,
     .handler = fuzz_handler},
    {.method = HTTP_GET, .pattern = "/x/:a/:b", .auth = AUTH_OPTIONAL, .handler = fuzz_handler},
    {.method = HTTP_GET, .pattern = "/u", .auth = AUTH_USER, .handler = fuzz_handler},
    {.method = HTTP_DELETE, .pattern = "/u", .auth = AUTH_ADMIN, .handler = fuzz_handler},
};
static ROUTE_TABLE(fuzz_table, fuzz_routes);
static const struct route_table *const fuzz_tables[] = {&fuzz_table};

static struct arena fuzz_arena;
static char *fuzz_token;

static struct {
	const uint8_t *p;
	size_t len, pos;
	int one_byte;
} fuzz_body;

static long fuzz_read(void *ctx, char *buf, size_t n)
{
	size_t k = fuzz_body.len - fuzz_body.pos;

	(void)ctx;
	if (k > n)
		k = n;
	if (fuzz_body.one_byte && k > 1)
		k = 1;
	if (k > 0)
		memcpy(buf, fuzz_body.p + fuzz_body.pos, k);
	fuzz_body.pos += k;
	return (long)k;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];
	const struct config *c;

	(void)argc;
	(void)argv;
	setenv("DATABASE_URL", "postgresql:///fuzz?host=/nonexistent", 1);
	setenv("REDIS_URL", "unix:///tmp/fuzz.sock", 1);
	setenv("JWT_SECRET", "fuzz-secret-0123456789-abcdefghijklmnopq", 1);
	if (config_load(CONFIG_NEED_ALL, err, sizeof(err)) != 0)
		abort();
	log_init("fuzz_router", LOG_ERROR);
	c = config_get();
	fuzz_token = token_issue(c->jwt_secret, c->jwt_secret_len, c->jwt_issuer, 5, false, 86400,
	                         time(NULL));
	if (fuzz_token == NULL)
		abort();
	arena_init(&fuzz_arena, 4096);
	return 0;
}

/* The next line of the input (NUL-terminated arena copy); advances *p. */
static char *fuzz_line(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
	char *s = arena_alloc(&fuzz_arena, n + 1);

	memcpy(s, *p, n);
	s[n] = '\0';
	*p += n + (nl ? 1 : 0);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const types[] = {"application/json", "application/json; charset=utf-8",
	                                    "text/plain", NULL};
	const uint8_t *p = data, *end = data + size;
	struct request req;
	struct reply rep;
	enum api_err err;
	unsigned flags;
	char *path, *auth, *out;
	size_t len;
	int status;

	if (size < 1)
		return 0;
	flags = data[0];
	p++;
	memset(&req, 0, sizeof(req));
	memset(&rep, 0, sizeof(rep));
	req.arena = &fuzz_arena;
	req.method = (enum http_method)((flags & 7) % (HTTP__MAX + 1));
	req.method_name = http_method_name(req.method);
	path = fuzz_line(&p, end);
	req.path = arena_printf(&fuzz_arena, "/api/v1%s", path);
	auth = fuzz_line(&p, end);
	if (strcmp(auth, "@") == 0)
		auth = arena_printf(&fuzz_arena, "Bearer %s", fuzz_token);
	req.authorization = *auth ? auth : NULL;
	req.query = "";
	req.request_id = "fuzz";
	req.content_type = types[(flags >> 3) & 3];
	fuzz_body.p = p;
	fuzz_body.len = (size_t)(end - p);
	fuzz_body.pos = 0;
	fuzz_body.one_byte = (flags & 0x80) != 0;
	switch ((flags >> 5) & 3) {
	case 0:
		req.content_length = (long long)fuzz_body.len;
		break;
	case 1:
		req.content_length = -1;
		break;
	case 2:
		req.content_length = 0;
		break;
	default:
		req.content_length = (long long)fuzz_body.len + 5;
		break;
	}
	req.read_body = fuzz_read;

	err = router_dispatch(fuzz_tables, 1, &req, &rep);
	assert((unsigned)err < E__MAX);
	if (err == E_METHOD_NOT_ALLOWED)
		assert(rep.allow != NULL && *rep.allow != '\0');
	if (err != E_OK && err != E_NOT_FOUND && err != E_METHOD_NOT_ALLOWED)
		assert(req.route != NULL);
	out = response_render(&fuzz_arena, &req, &rep, err, &len, &status);
	assert(out != NULL && strlen(out) == len);
	assert(strstr(out, "\r\n\r\n") != NULL);
	assert(status == (err == E_OK ? 200 : api_err_status(err)));

	json_object_put(req.json);
	json_object_put(rep.data);
	arena_reset(&fuzz_arena);
	return 0;
}
