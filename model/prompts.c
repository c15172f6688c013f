/* prompts — see prompts.h. */
#include "model/prompts.h"

#include "lib/db.h"
#include "lib/prompt.h"

enum prompts_stmt { PR_TEMPLATE, PR__MAX };

static const char *const prompts_sql[PR__MAX] = {
    /* $1 type, $2 scene (NULL = none): the scene's own template first, then the type's
     * general one; newest first */
    [PR_TEMPLATE] = "SELECT template, negative_prompt FROM prompt_templates "
                    "WHERE active AND type = $1 AND (scene_id = $2::bigint OR scene_id IS NULL) "
                    "ORDER BY scene_id IS NULL, id DESC LIMIT 1",
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
