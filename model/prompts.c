/* prompts — see prompts.h. */
#include "model/prompts.h"

#include "lib/db.h"
#include "lib/prompt.h"

enum prompts_stmt { PR_TEMPLATE, PR_TEMPLATE_SCENE, PR_PREVIEW, PR__MAX };

/* The template a task of type (an SQL expression) with scene $2 (NULL = none) uses: the
 * scene's own first, then the type's general one; newest first. */
#define PROMPTS_CHOICE(type)                                                                 \
	"SELECT c.id, c.template, c.negative_prompt FROM prompt_templates c WHERE c.active " \
	"AND c.type = " type " AND (c.scene_id = $2::bigint OR c.scene_id IS NULL) "         \
	"ORDER BY c.scene_id IS NULL, c.id DESC LIMIT 1"

static const char *const prompts_sql[PR__MAX] = {
    /* $1 type, $2 scene */
    [PR_TEMPLATE] = "SELECT template, negative_prompt FROM (" PROMPTS_CHOICE("$1") ") x",
    [PR_TEMPLATE_SCENE] = "SELECT type, scene_id FROM prompt_templates WHERE id = $1",
    /* $1 template, $2 scene: the template and whether the choice falls on it */
    [PR_PREVIEW] = "SELECT t.template, t.negative_prompt, "
                   "t.id IS NOT DISTINCT FROM (SELECT id FROM (" PROMPTS_CHOICE(
                       "t.type") ") x) FROM prompt_templates t WHERE t.id = $1",
};

static struct db_stmts prompts_stmts = DB_STMTS("prompts", prompts_sql);

static const char *prompts_fill(struct arena *a, const char *tmpl, const struct scene *scene,
                                json_object *params)
{
	if (scene == NULL)
		return prompt_render_scene(a, tmpl, params, NULL, NULL, NULL);
	return prompt_render_scene(a, tmpl, params, scene->parameters, scene->name,
	                           scene->category);
}

enum api_err prompts_render(struct arena *a, const char *type, const struct scene *scene,
                            json_object *params, struct prompt_pair *out)
{
	const char *p[2] = {type, scene != NULL ? db_param_i64(a, scene->id) : NULL};
	const char *tmpl = NULL, *neg = NULL;
	PGresult *res;
	enum api_err err = db_exec(&prompts_stmts, PR_TEMPLATE, 2, p, &res);

	out->prompt = out->negative = "";
	if (err != E_OK)
		return err;
	if (PQntuples(res) == 1) {
		tmpl = db_str(a, res, 0, 0);
		neg = db_str(a, res, 0, 1);
	} else {
		err = E_NOT_FOUND;
	}
	PQclear(res);
	if (err != E_OK)
		return err;
	out->prompt = prompts_fill(a, tmpl, scene, params);
	out->negative = prompts_fill(a, neg, scene, params);
	return E_OK;
}

enum api_err prompts_template_scene(struct arena *a, int64_t id, const char **type,
                                    int64_t *scene_id)
{
	const char *p[1] = {db_param_i64(a, id)};
	PGresult *res;
	enum api_err err = db_exec(&prompts_stmts, PR_TEMPLATE_SCENE, 1, p, &res);

	if (err != E_OK)
		return err;
	if (PQntuples(res) == 1) {
		*type = db_str(a, res, 0, 0);
		*scene_id = db_i64(res, 0, 1); /* NULL reads as 0 */
	} else {
		err = E_NOT_FOUND;
	}
	PQclear(res);
	return err;
}

enum api_err prompts_preview(struct arena *a, int64_t id, const struct scene *scene,
                             json_object *params, struct prompt_pair *out, bool *chosen)
{
	const char *p[2] = {db_param_i64(a, id), scene != NULL ? db_param_i64(a, scene->id) : NULL};
	const char *tmpl, *neg;
	PGresult *res;
	enum api_err err = db_exec(&prompts_stmts, PR_PREVIEW, 2, p, &res);

	out->prompt = out->negative = "";
	*chosen = false;
	if (err != E_OK)
		return err;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return E_NOT_FOUND;
	}
	tmpl = db_str(a, res, 0, 0);
	neg = db_str(a, res, 0, 1);
	*chosen = db_bool(res, 0, 2);
	PQclear(res);
	out->prompt = prompts_fill(a, tmpl, scene, params);
	out->negative = prompts_fill(a, neg, scene, params);
	return E_OK;
}
