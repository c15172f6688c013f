/* downloads — see downloads.h. */
#include "model/downloads.h"

#include "lib/db.h"

enum downloads_stmt { DL_WORKS, DL__MAX };

static const char *const downloads_sql[DL__MAX] = {
    [DL_WORKS] = "SELECT w.id, w.image_url, COALESCE(s.name, ''), "
                 "to_char(w.created_at AT TIME ZONE 'Asia/Shanghai', 'YYYYMMDD-HH24MISS') "
                 "FROM works w LEFT JOIN scenes s ON s.id = w.scene_id "
                 "WHERE w.id = ANY ($2::bigint[]) AND w.user_id = $1 "
                 "AND w.status = 'succeeded' AND w.deleted_at IS NULL "
                 "AND w.image_url IS NOT NULL ORDER BY w.id",
};

static struct db_stmts downloads_stmts = DB_STMTS("downloads", downloads_sql);

enum api_err downloads_works(struct arena *a, int64_t user_id, const int64_t *ids, size_t n,
                             struct download_item **out, size_t *count)
{
	const char *p[2] = {db_param_i64(a, user_id), db_param_i64_array(a, ids, n)};
	PGresult *res;
	enum api_err err;
	int rows;

	*out = NULL;
	*count = 0;
	if ((err = db_exec(&downloads_stmts, DL_WORKS, 2, p, &res)) != E_OK)
		return err;
	rows = PQntuples(res);
	*out = arena_zalloc(a, (size_t)(rows > 0 ? rows : 1) * sizeof(**out));
	for (int i = 0; i < rows; i++) {
		(*out)[i].id = db_i64(res, i, 0);
		(*out)[i].image_url = db_str(a, res, i, 1);
		(*out)[i].scene = db_str(a, res, i, 2);
		(*out)[i].date = db_str(a, res, i, 3);
	}
	*count = (size_t)rows;
	PQclear(res);
	return E_OK;
}
