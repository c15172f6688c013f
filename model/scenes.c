/* scenes — see scenes.h. */
#include "model/scenes.h"

#include <stdio.h>
#include <stdlib.h>

#include "lib/db.h"
#include "lib/redis.h"

enum scenes_stmt { SCENES_LIST_ACTIVE, SCENES_GET_ACTIVE, SCENES__MAX };

#define SCENES_COLS "id, name, category, thumbnail_url, parameters::text"

static const char *const scenes_sql[SCENES__MAX] = {
    [SCENES_LIST_ACTIVE] = "SELECT " SCENES_COLS " FROM scenes "
                           "WHERE active AND ($1::text IS NULL OR category = $1) "
                           "ORDER BY sort_order, id",
    [SCENES_GET_ACTIVE] = "SELECT " SCENES_COLS " FROM scenes WHERE id = $1 AND active",
};

static struct db_stmts scenes_stmts = DB_STMTS("scenes", scenes_sql);

static void scenes_row(struct arena *a, PGresult *res, int i, struct scene *s)
{
	s->id = db_i64(res, i, 0);
	s->name = db_str(a, res, i, 1);
	s->category = db_str(a, res, i, 2);
	s->thumbnail_url = db_str(a, res, i, 3);
	s->parameters = db_str(a, res, i, 4);
}

enum api_err scenes_list_active(struct arena *a, const char *category, struct scene **out,
                                size_t *n)
{
	const char *params[1] = {category};
	PGresult *res;
	enum api_err err = db_exec(&scenes_stmts, SCENES_LIST_ACTIVE, 1, params, &res);
	int rows;

	*out = NULL;
	*n = 0;
	if (err != E_OK)
		return err;
	rows = PQntuples(res);
	*out = arena_alloc(a, sizeof(**out) * (size_t)(rows ? rows : 1));
	for (int i = 0; i < rows; i++)
		scenes_row(a, res, i, &(*out)[i]);
	*n = (size_t)rows;
	PQclear(res);
	return E_OK;
}

enum api_err scenes_get_active(struct arena *a, int64_t id, struct scene *out)
{
	const char *params[1] = {db_param_i64(a, id)};
	PGresult *res;
	enum api_err err = db_exec(&scenes_stmts, SCENES_GET_ACTIVE, 1, params, &res);

	if (err != E_OK)
		return err;
	if (PQntuples(res) == 1)
		scenes_row(a, res, 0, out);
	else
		err = E_NOT_FOUND;
	PQclear(res);
	return err;
}

/* The current generation (0 when none yet).  E_UNAVAILABLE when Redis is down. */
static enum api_err scenes_cache_gen(struct arena *a, long long *gen)
{
	char *v = NULL, *end = NULL;
	enum api_err err = redis_get(a, SCENES_CACHE_GEN_KEY, &v);

	*gen = 0;
	if (err != E_OK)
		return err;
	if (v != NULL) {
		*gen = strtoll(v, &end, 10);
		if (end == v || *end != '\0')
			*gen = 0;
	}
	return E_OK;
}

void scenes_cache_get(struct arena *a, const char *what, struct scenes_cache_entry *e)
{
	long long gen;
	const char *key;

	e->key = NULL;
	e->text = NULL;
	if (scenes_cache_gen(a, &gen) != E_OK)
		return;
	key = arena_printf(a, "cache:scenes:%lld:%s", gen, what);
	if (redis_get(a, key, &e->text) == E_OK)
		e->key = key;
}

void scenes_cache_fill(const struct scenes_cache_entry *e, const char *text)
{
	if (e->key != NULL)
		(void)redis_set_ex(e->key, text, SCENES_CACHE_TTL);
}

enum api_err scenes_cache_invalidate(long long *gen)
{
	/* atomic: concurrent invalidations each move the generation on */
	return redis_incr(SCENES_CACHE_GEN_KEY, gen);
}
