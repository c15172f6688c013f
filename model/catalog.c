/* catalog — see catalog.h. */
#include "model/catalog.h"

#include "model/scenes.h"
#include "model/viewsql.h"

/* The statements of each kind, at CAT(kind, op). */
enum catalog_op { OP_LIST, OP_GET, OP_LOCK, OP_INSERT, OP_UPDATE, OP_DELETE, OP__MAX };
#define CAT(k, op) ((k)*OP__MAX + (op))
enum { CAT_THUMBNAIL = CATALOG__MAX * OP__MAX, CAT__MAX };

/* Each row as the admin API shows it (alias x), its times last. */
#define CAT_TIMES                                    \
	"'created_at', aiphoto_time(x.created_at), " \
	"'updated_at', aiphoto_time(x.updated_at))::text"
#define CAT_SCENE_JSON                                                            \
	"jsonb_build_object('id', x.id, 'name', x.name, 'category', x.category, " \
	"'description', x.description, 'thumbnail_url', x.thumbnail_url, "        \
	"'parameters', x.parameters, 'active', x.active, 'sort_order', x.sort_order, " CAT_TIMES
#define CAT_PACKAGE_JSON                                                               \
	"jsonb_build_object('id', x.id, 'name', x.name, 'price_fen', x.price_fen, "    \
	"'credits', x.credits, 'bonus_credits', x.bonus_credits, 'active', x.active, " \
	"'sort_order', x.sort_order, " CAT_TIMES
#define CAT_TEMPLATE_JSON                                                 \
	"jsonb_build_object('id', x.id, 'name', x.name, 'type', x.type, " \
	"'scene_id', x.scene_id, 'template', x.template, "                \
	"'negative_prompt', x.negative_prompt, 'active', x.active, " CAT_TIMES
#define CAT_MODEL_JSON                                                             \
	"jsonb_build_object('id', x.id, 'name', x.name, 'provider', x.provider, "  \
	"'mode', x.mode, 'kind', x.kind, 'endpoint', x.endpoint, "                 \
	"'api_key_env', x.api_key_env, 'model', x.model, 'priority', x.priority, " \
	"'weight', x.weight, 'timeout_ms', x.timeout_ms, "                         \
	"'poll_interval_ms', x.poll_interval_ms, 'options', x.options, 'active', " \
	"x.active, " CAT_TIMES

/* The reads of kind k from table, newest first. */
#define CAT_READS(k, table, json)                                                      \
	[CAT(k, OP_LIST)] = "SELECT x.id, " json " FROM " table " x "                  \
	                    "WHERE x.id < COALESCE($1::bigint, 9223372036854775807) "  \
	                    "ORDER BY x.id DESC LIMIT $2",                             \
	        [CAT(k, OP_GET)] = "SELECT " json " FROM " table " x WHERE x.id = $1", \
	        [CAT(k, OP_LOCK)] = "SELECT " json " FROM " table " x WHERE x.id = $1 FOR UPDATE"

/*
 * The changes: the checked fields (a JSON object, $1 for an insert, $2 for an update) are laid
 * over a row by jsonb_populate_record: over the table's defaults for an insert, over the row
 * itself for an update (a field not given keeps its value; null sets NULL where the column
 * takes it).  Only the columns named here can change, whatever the object holds.
 */
#define CAT_INSERT(table, cols, defaults)                                        \
	"INSERT INTO " table " AS x (" cols ") SELECT " cols                     \
	" FROM jsonb_populate_record(NULL::" table ", '" defaults "'::jsonb || " \
	"$1::jsonb) RETURNING x.id, "
#define CAT_UPDATE(table, cols)                             \
	"UPDATE " table " x SET (" cols ") = (SELECT " cols \
	" FROM jsonb_populate_record(x, $2::jsonb)) WHERE x.id = $1 RETURNING x.id, "

#define CAT_SCENE_COLS "name, category, description, thumbnail_url, parameters, active, sort_order"
#define CAT_PACKAGE_COLS "name, price_fen, credits, bonus_credits, active, sort_order"
#define CAT_TEMPLATE_COLS "name, type, scene_id, template, negative_prompt, active"
#define CAT_MODEL_COLS                                                                 \
	"name, provider, mode, kind, endpoint, api_key_env, model, priority, weight, " \
	"timeout_ms, poll_interval_ms, options, active"

/* The statements of kind k: the reads, the insert (over the defaults, a JSON object), the
 * update, and the delete (del: the statement's text up to its RETURNING). */
#define CAT_KIND(k, table, json, cols, defaults, del)                                            \
	CAT_READS(k, table, json), [CAT(k, OP_INSERT)] = CAT_INSERT(table, cols, defaults) json, \
	                                   [CAT(k, OP_UPDATE)] = CAT_UPDATE(table, cols) json,   \
	                                   [CAT(k, OP_DELETE)] = del " RETURNING x.id, " json

static const char *const catalog_sql[CAT__MAX] = {
    CAT_KIND(CATALOG_SCENES, "scenes", CAT_SCENE_JSON, CAT_SCENE_COLS,
             "{\"category\":\"\",\"description\":\"\",\"thumbnail_url\":\"\","
             "\"parameters\":{},\"active\":true,\"sort_order\":0}",
             "UPDATE scenes x SET active = false WHERE x.id = $1"),
    CAT_KIND(CATALOG_PACKAGES, "packages", CAT_PACKAGE_JSON, CAT_PACKAGE_COLS,
             "{\"bonus_credits\":0,\"active\":true,\"sort_order\":0}",
             "UPDATE packages x SET active = false WHERE x.id = $1"),
    CAT_KIND(CATALOG_TEMPLATES, "prompt_templates", CAT_TEMPLATE_JSON, CAT_TEMPLATE_COLS,
             "{\"negative_prompt\":\"\",\"active\":true}",
             "DELETE FROM prompt_templates x WHERE x.id = $1"),
    CAT_KIND(CATALOG_MODELS, "ai_models", CAT_MODEL_JSON, CAT_MODEL_COLS,
             "{\"mode\":\"sync\",\"priority\":100,\"weight\":1,\"timeout_ms\":60000,"
             "\"poll_interval_ms\":2000,\"options\":{},\"active\":true}",
             "DELETE FROM ai_models x WHERE x.id = $1"),
    [CAT_THUMBNAIL] =
        "UPDATE scenes x SET thumbnail_url = $2 WHERE x.id = $1 RETURNING x.id, " CAT_SCENE_JSON,
};

static struct db_stmts catalog_stmts = DB_STMTS("catalog", catalog_sql);

/* The audit log's names of each kind (what the route says). */
static const char *const catalog_names[CATALOG__MAX] = {
    [CATALOG_SCENES] = "scene",
    [CATALOG_PACKAGES] = "package",
    [CATALOG_TEMPLATES] = "prompt-template",
    [CATALOG_MODELS] = "ai-model",
};

enum api_err catalog_list(struct arena *a, enum catalog_kind k, const struct view_cursor *c,
                          struct view_page *out)
{
	const char *p[2] = {viewsql_before(a, c), viewsql_limit(a, c)};
	return viewsql_page(a, &catalog_stmts, CAT(k, OP_LIST), 2, p, c->limit, out);
}

enum api_err catalog_get(struct arena *a, enum catalog_kind k, int64_t id, char **json)
{
	const char *p[1] = {db_param_i64(a, id)};
	return viewsql_one(a, &catalog_stmts, CAT(k, OP_GET), 1, p, json);
}

/* Runs one audited change of kind k (verb for the audit log); a scene's moves the public
 * scene cache on after the commit. */
static enum api_err catalog_change(struct arena *a, const struct audit_actor *who,
                                   enum catalog_kind k, const char *verb, struct viewsql_change *c,
                                   char **json)
{
	enum api_err err;

	c->stmts = &catalog_stmts;
	c->target_type = catalog_names[k];
	err = viewsql_audited(a, who, arena_printf(a, "%s.%s", catalog_names[k], verb), c);
	*json = err == E_OK ? c->json : NULL;
	if (err == E_OK && k == CATALOG_SCENES)
		(void)scenes_cache_invalidate(NULL); /* Redis down: entries expire by themselves */
	return err;
}

enum api_err catalog_create(struct arena *a, const struct audit_actor *who, enum catalog_kind k,
                            const char *fields, char **json)
{
	const char *p[1] = {fields};
	struct viewsql_change c = {.lock = -1, .change = CAT(k, OP_INSERT), .np = 1, .p = p};

	return catalog_change(a, who, k, "create", &c, json);
}

enum api_err catalog_update(struct arena *a, const struct audit_actor *who, enum catalog_kind k,
                            int64_t id, const char *fields, char **json)
{
	const char *p[2] = {db_param_i64(a, id), fields};
	struct viewsql_change c = {
	    .lock = CAT(k, OP_LOCK), .change = CAT(k, OP_UPDATE), .np = 2, .p = p};

	return catalog_change(a, who, k, "update", &c, json);
}

enum api_err catalog_delete(struct arena *a, const struct audit_actor *who, enum catalog_kind k,
                            int64_t id, char **json)
{
	const char *p[1] = {db_param_i64(a, id)};
	struct viewsql_change c = {.lock = CAT(k, OP_LOCK),
	                           .change = CAT(k, OP_DELETE),
	                           .removed = k == CATALOG_TEMPLATES || k == CATALOG_MODELS,
	                           .np = 1,
	                           .p = p};

	return catalog_change(a, who, k, "delete", &c, json);
}

enum api_err catalog_scene_thumbnail(struct arena *a, const struct audit_actor *who, int64_t id,
                                     const char *url, char **json)
{
	const char *p[2] = {db_param_i64(a, id), url};
	struct viewsql_change c = {
	    .lock = CAT(CATALOG_SCENES, OP_LOCK), .change = CAT_THUMBNAIL, .np = 2, .p = p};

	return catalog_change(a, who, CATALOG_SCENES, "thumbnail", &c, json);
}
