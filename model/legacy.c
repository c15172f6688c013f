/* legacy — see legacy.h. */
#include "model/legacy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/db.h"
#include "lib/jsonx.h"
#include "lib/xalloc.h"

/* A time as the export writes it, LG_DATE_OF "col" LG_DATE_END:
 * {"$date": "YYYY-MM-DDTHH:MM:SS.mmmZ"}. */
#define LG_DATE_OF "jsonb_build_object('$date', to_char(("
#define LG_DATE_END ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))"

/*
 * The documents the export writes, as SQL expressions.  They are also what an import
 * compares a document with (a document equal to its row's export changes nothing), so the
 * two can never disagree.  Each names its rows by fixed aliases: the row, and o, the owner's
 * mini-program openid.  What the cloud document had beyond our columns (legacy_doc) is kept.
 */
/* users u */
#define LG_USER_DOC                                                                             \
	"(COALESCE(u.legacy_doc, '{}'::jsonb) || jsonb_build_object("                           \
	"'_id', COALESCE(u.legacy_id, '" CLOUDDOC_SERVER_USER "' || u.id), "                    \
	"'_openid', o, 'openid', o, 'nickname', u.nickname, 'avatar_url', u.avatar_url, "       \
	"'credits', u.credits, 'invite_code', CASE WHEN upper(u.legacy_doc->>'invite_code') = " \
	"u.invite_code THEN u.legacy_doc->>'invite_code' ELSE u.invite_code END, "              \
	"'created_at', " LG_DATE_OF "u.created_at" LG_DATE_END ", "                             \
	"'updated_at', " LG_DATE_OF "u.updated_at" LG_DATE_END ", "                             \
	"'" CLOUDDOC_HANDOVER "', jsonb_build_object('credits', u.credits, "                    \
	"'updated_at', " LG_DATE_OF "u.updated_at" LG_DATE_END ")))"
/* works w, its scene s and task t (both may be missing) */
#define LG_WORK_DOC                                                                           \
	"(COALESCE(w.legacy_doc, '{}'::jsonb) || jsonb_build_object("                         \
	"'_id', COALESCE(w.legacy_id, '" CLOUDDOC_SERVER_WORK "' || w.id), "                  \
	"'_openid', o, 'user_openid', o, 'type', w.type, "                                    \
	"'status', CASE w.status WHEN 'succeeded' THEN 'completed' WHEN 'queued' THEN "       \
	"'pending' WHEN 'running' THEN 'processing' WHEN 'canceled' THEN "                    \
	"COALESCE(w.legacy_doc->>'status', 'failed') ELSE 'failed' END, "                     \
	"'images', CASE WHEN w.legacy_doc ? 'images' THEN w.legacy_doc->'images' "            \
	"WHEN w.image_url IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(w.image_url) END, " \
	"'scene_id', CASE WHEN s.id IS NULL THEN w.legacy_doc->'scene_id' "                   \
	"ELSE to_jsonb(COALESCE(s.legacy_id, '" CLOUDDOC_SERVER_SCENE "' || s.id)) END, "     \
	"'is_favorite', w.is_favorite, "                                                      \
	"'created_at', " LG_DATE_OF "w.created_at" LG_DATE_END ") || "                        \
	"CASE WHEN w.task_id IS NULL THEN '{}'::jsonb "                                       \
	"ELSE jsonb_build_object("                                                            \
	"'task_id', '" CLOUDDOC_SERVER_TASK "' || w.task_id, 'parameters', t.params) END)"
/* legacy_orders lo */
#define LG_ORDER_DOC                                                                       \
	"(lo.legacy_doc || jsonb_build_object('_id', lo.legacy_id, '_openid', o, "         \
	"'user_openid', o, 'type', lo.type, 'amount', trim_scale(lo.amount_fen / 100.0), " \
	"'credits', lo.credits, 'status', lo.status, "                                     \
	"'created_at', " LG_DATE_OF "lo.created_at" LG_DATE_END "))"
/* orders so (WeChat Pay orders made here; amount in yuan like the cloud's) */
#define LG_SERVER_ORDER_DOC                                                                     \
	"jsonb_build_object('_id', '" CLOUDDOC_SERVER_ORDER "' || so.out_trade_no, "            \
	"'_openid', o, 'user_openid', o, 'type', 'recharge', "                                  \
	"'amount', trim_scale(so.amount_fen / 100.0), 'credits', so.credits, "                  \
	"'status', CASE so.status WHEN 'created' THEN 'pending' ELSE so.status END, "           \
	"'out_trade_no', so.out_trade_no, 'description', so.description, "                      \
	"'created_at', " LG_DATE_OF "so.created_at" LG_DATE_END ", "                            \
	"'paid_at', CASE WHEN so.paid_at IS NOT NULL THEN " LG_DATE_OF "so.paid_at" LG_DATE_END \
	" END)"

/* The owner's mini-program openid as o (appid $1), for a row whose user id is col. */
#define LG_OPENID(col)                                                                        \
	" CROSS JOIN LATERAL (SELECT i.openid AS o FROM wechat_identities i WHERE i.user_id " \
	"= " col " AND i.appid = $1 ORDER BY i.id LIMIT 1) uo "
/* The identity of a row r's openid in the mini program ($2).  The lookups of a batch's rows
 * are LATERAL ... LIMIT 1, so each is one probe of a unique index however large the table
 * (a plain join lets the planner hash the whole table for 500 rows). */
#define LG_IDENTITY                                                                \
	"(SELECT i.user_id, i.openid FROM wechat_identities i WHERE i.appid = $2 " \
	"AND i.openid = r.openid LIMIT 1)"
/* Export pages: $1 appid, $2 since (NULL = all), $3 after this id, $4 page size. */
#define LG_PAGE(t)                                                                          \
	" AND ($2::timestamptz IS NULL OR " t ".updated_at >= $2::timestamptz) ORDER BY " t \
	".id LIMIT $4"

enum legacy_stmt {
	LG_LOCK,
	LG_LOCK_OPENIDS,
	LG_USERS,
	LG_WORKS,
	LG_SCENES,
	LG_ORDERS,
	LG_EXPORT_USERS,
	LG_EXPORT_WORKS,
	LG_EXPORT_ORDERS,
	LG_EXPORT_SERVER_ORDERS,
	LG__MAX
};

static const char *const legacy_sql[LG__MAX] = {
    /* batches of concurrent imports run one at a time; the big statements below are planned
     * once (a custom plan per batch cost as much as running it) */
    [LG_LOCK] = "SELECT pg_advisory_xact_lock(hashtext('aiphoto-legacy-import')), "
                "set_config('plan_cache_mode', 'force_generic_plan', true)",
    /* the lock model/identities takes for a login of the openid: no user is made twice */
    [LG_LOCK_OPENIDS] = "SELECT pg_advisory_xact_lock(hashtext('wxid:' || $2 || ':' || o)) "
                        "FROM (SELECT DISTINCT r.openid AS o FROM jsonb_to_recordset($1::jsonb) "
                        "AS r(openid text)) x",
    /*
     * The apply statements: $1 the batch (rows of lib/clouddoc, each with its position i),
     * $2 the mini-program appid.  Each answers (i, action, detail) per row in order: insert,
     * update, favorite (a work made here: its favourite flag only), skip, or why it was
     * rejected.  c classifies every row against one snapshot; the data-modifying parts act
     * on what c decided.
     */
    [LG_USERS] =
        "WITH r AS (SELECT r.*, row_number() OVER (PARTITION BY r.openid ORDER BY r.i) AS nth "
        "FROM jsonb_to_recordset($1::jsonb) AS r(i int, lid text, openid text, nickname text, "
        "avatar_url text, invite text, credits bigint, created timestamptz, "
        "updated timestamptz, doc jsonb)), "
        /* the user a document names: by its _id, else by its openid */
        "m AS (SELECT r.*, ul.id AS by_lid, wi.user_id AS by_openid FROM r "
        "LEFT JOIN LATERAL (SELECT id FROM users x WHERE x.legacy_id = r.lid LIMIT 1) ul ON true "
        "LEFT JOIN LATERAL " LG_IDENTITY " wi ON true), "
        "c AS (SELECT m.*, u.id AS uid, u.credits AS balance, "
        "CASE WHEN m.nth > 1 THEN 'openid-twice' "
        "WHEN m.by_lid <> m.by_openid OR (m.by_lid IS NULL AND u.legacy_id IS NOT NULL) "
        "THEN 'openid-taken' WHEN o <> m.openid THEN 'openid-changed' "
        "WHEN u.id IS NULL THEN 'insert' "
        "WHEN u.legacy_doc = m.doc OR (" LG_USER_DOC " - '_id') = m.doc THEN 'skip' "
        "ELSE 'update' END AS action, "
        /* the balance accounted for so far: a newer handover's, else the last document's */
        "m.credits - CASE WHEN u.id IS NULL THEN 0 "
        "WHEN m.doc ? '" CLOUDDOC_HANDOVER "' AND (u.legacy_doc->'" CLOUDDOC_HANDOVER
        "') IS DISTINCT FROM (m.doc->'" CLOUDDOC_HANDOVER "') THEN (m.doc->'" CLOUDDOC_HANDOVER
        "'->>'credits')::numeric::bigint "
        "ELSE COALESCE((u.legacy_doc->>'credits')::numeric::bigint, 0) END AS delta, "
        "(SELECT COALESCE(x.legacy_id, '" CLOUDDOC_SERVER_USER "' || x.id) FROM users x "
        "WHERE x.id = m.by_openid) AS owner "
        "FROM m LEFT JOIN LATERAL (SELECT * FROM users x WHERE x.id = COALESCE(m.by_lid, "
        "m.by_openid) LIMIT 1) u ON true "
        "LEFT JOIN LATERAL (SELECT i.openid AS o FROM wechat_identities i WHERE i.user_id = "
        "u.id AND i.appid = $2 ORDER BY i.id LIMIT 1) uo ON true), "
        "a AS (SELECT c.*, CASE WHEN c.action = 'update' AND c.balance + c.delta < 0 "
        "THEN 'short' ELSE c.action END AS act FROM c), "
        /* an invite code that fits is kept when nobody else has it (first in the batch wins) */
        "b AS (SELECT a.*, CASE WHEN a.act IN ('insert', 'update') AND a.i = min(a.i) "
        "FILTER (WHERE a.act IN ('insert', 'update')) OVER (PARTITION BY a.invite) "
        "AND NOT EXISTS (SELECT 1 FROM users x WHERE x.invite_code = a.invite "
        "AND x.id IS DISTINCT FROM a.uid) THEN a.invite END AS code FROM a), "
        "ins AS (INSERT INTO users (nickname, avatar_url, credits, invite_code, legacy_id, "
        "legacy_doc, created_at, updated_at) SELECT COALESCE(b.nickname, ''), "
        "COALESCE(b.avatar_url, ''), b.credits, COALESCE(b.code, aiphoto_invite_code()), b.lid, "
        "b.doc, COALESCE(b.created, now()), COALESCE(b.updated, b.created, now()) FROM b "
        "WHERE b.act = 'insert' ORDER BY b.i RETURNING id, legacy_id, credits), "
        "upd AS (UPDATE users u SET nickname = COALESCE(b.nickname, u.nickname), "
        "avatar_url = COALESCE(b.avatar_url, u.avatar_url), credits = u.credits + b.delta, "
        "invite_code = COALESCE(b.code, u.invite_code), legacy_id = b.lid, legacy_doc = b.doc, "
        "created_at = COALESCE(b.created, u.created_at), "
        "updated_at = COALESCE(b.updated, b.created, now()) FROM b WHERE u.id = b.uid "
        "AND b.act = 'update' AND u.credits + b.delta >= 0 "
        "RETURNING u.id, u.legacy_id, u.credits, b.delta), "
        "ids AS (INSERT INTO wechat_identities (user_id, app_kind, appid, openid) "
        "SELECT x.id, 'mp', $2, b.openid FROM (SELECT id, legacy_id FROM ins UNION ALL "
        "SELECT id, legacy_id FROM upd) x JOIN b ON b.lid = x.legacy_id "
        "ON CONFLICT (appid, openid) DO NOTHING), "
        /* the balance enters through the ledger: migration:<_id>, then :<n> per change */
        "led AS (INSERT INTO credit_ledger (user_id, delta, balance_after, kind, reference, "
        "memo, idempotency_key) SELECT id, credits, credits, 'migration', 'legacy:' || "
        "legacy_id, 'WeChat cloud balance', 'migration:' || legacy_id FROM ins "
        "WHERE credits > 0 UNION ALL SELECT upd.id, upd.delta, upd.credits, 'migration', "
        "'legacy:' || upd.legacy_id, 'WeChat cloud balance change', 'migration:' || "
        "upd.legacy_id || CASE WHEN NOT EXISTS (SELECT 1 FROM credit_ledger l WHERE "
        "l.idempotency_key = 'migration:' || upd.legacy_id) THEN '' ELSE ':' || "
        "(SELECT count(*) + 1 FROM credit_ledger l WHERE l.user_id = upd.id "
        "AND l.kind = 'migration') END FROM upd WHERE upd.delta <> 0) "
        "SELECT b.i, CASE WHEN b.act = 'update' AND NOT EXISTS (SELECT 1 FROM upd "
        "WHERE upd.id = b.uid) THEN 'short' ELSE b.act END, "
        "CASE WHEN b.act = 'openid-taken' THEN b.owner WHEN b.act IN ('update', 'short') "
        "THEN 'fell by ' || -b.delta || ', balance ' || b.balance END FROM b ORDER BY b.i",
    [LG_WORKS] =
        "WITH r AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(i int, lid text, "
        "self bigint, openid text, type text, status text, error_code text, image_url text, "
        "scene text, scene_self bigint, fav boolean, created timestamptz, "
        "updated timestamptz, doc jsonb)), "
        "c AS (SELECT r.*, wi.user_id AS owner, w.id AS wid, sc.id AS scene_id, "
        "CASE WHEN wi.user_id IS NULL THEN 'no-user' WHEN w.id IS NULL THEN 'insert' "
        "WHEN w.user_id <> wi.user_id THEN 'other-user' "
        "WHEN w.legacy_doc = r.doc OR (" LG_WORK_DOC " - '_id') = r.doc THEN 'skip' "
        "WHEN w.legacy_id IS NOT NULL THEN 'update' WHEN w.is_favorite = r.fav THEN 'skip' "
        "ELSE 'favorite' END AS action "
        "FROM r LEFT JOIN LATERAL " LG_IDENTITY " wi ON true "
        /* by its _id, or a work made here named by its server id */
        "LEFT JOIN LATERAL (SELECT x.* FROM works x WHERE x.legacy_id = r.lid UNION ALL "
        "SELECT x.* FROM works x WHERE x.id = r.self AND x.legacy_id IS NULL "
        "AND x.user_id = wi.user_id LIMIT 1) w ON true "
        "LEFT JOIN LATERAL (SELECT y.id FROM scenes y WHERE y.legacy_id = r.scene UNION ALL "
        "SELECT y.id FROM scenes y WHERE y.id = r.scene_self AND y.legacy_id IS NULL "
        "LIMIT 1) sc ON true "
        "LEFT JOIN scenes s ON s.id = w.scene_id LEFT JOIN tasks t ON t.id = w.task_id "
        "CROSS JOIN LATERAL (SELECT wi.openid AS o) uo), "
        "ins AS (INSERT INTO works (legacy_id, user_id, type, status, error_code, scene_id, "
        "image_url, is_favorite, legacy_doc, created_at, updated_at, finished_at) "
        "SELECT c.lid, c.owner, c.type, c.status, c.error_code, c.scene_id, c.image_url, "
        "c.fav, c.doc, COALESCE(c.created, now()), COALESCE(c.updated, c.created, now()), "
        "COALESCE(c.updated, c.created, now()) FROM c WHERE c.action = 'insert' "
        "ORDER BY c.i RETURNING 1), "
        /* the image already copied into the media store stays while the first image is the
         * one it was copied from (dispatcher/cloudfetch replaces a cloud:// image_url) */
        "upd AS (UPDATE works w SET type = c.type, status = c.status, "
        "error_code = c.error_code, scene_id = c.scene_id, image_url = CASE WHEN "
        "c.image_url IS NOT DISTINCT FROM w.legacy_doc->'images'->>0 THEN w.image_url "
        "ELSE c.image_url END, "
        "is_favorite = c.fav, legacy_doc = c.doc, created_at = COALESCE(c.created, "
        "w.created_at), updated_at = COALESCE(c.updated, c.created, now()) FROM c "
        "WHERE w.id = c.wid AND c.action = 'update' RETURNING 1), "
        "fav AS (UPDATE works w SET is_favorite = c.fav FROM c WHERE w.id = c.wid "
        "AND c.action = 'favorite' RETURNING 1) "
        "SELECT c.i, c.action, NULL FROM c ORDER BY c.i",
    [LG_SCENES] =
        "WITH r AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(i int, lid text, "
        "name text, category text, thumbnail_url text, parameters jsonb, active boolean, "
        "created timestamptz, updated timestamptz, doc jsonb)), "
        "c AS (SELECT r.*, s.id AS sid, CASE WHEN s.id IS NULL THEN 'insert' "
        "WHEN s.legacy_doc = r.doc THEN 'skip' ELSE 'update' END AS action "
        "FROM r LEFT JOIN LATERAL (SELECT * FROM scenes x WHERE x.legacy_id = r.lid LIMIT 1) s "
        "ON true), "
        "ins AS (INSERT INTO scenes (legacy_id, name, category, thumbnail_url, parameters, "
        "active, legacy_doc, created_at, updated_at) SELECT c.lid, c.name, c.category, "
        "c.thumbnail_url, c.parameters, c.active, c.doc, COALESCE(c.created, now()), "
        "COALESCE(c.updated, c.created, now()) FROM c WHERE c.action = 'insert' "
        "ORDER BY c.i RETURNING id, legacy_id), "
        /* works imported before their scene (seed 000 posts users, works, then scenes) */
        "lnk AS (UPDATE works w SET scene_id = ins.id FROM ins WHERE w.scene_id IS NULL "
        "AND w.legacy_doc IS NOT NULL AND w.legacy_doc->>'scene_id' = ins.legacy_id), "
        "upd AS (UPDATE scenes s SET name = c.name, category = c.category, "
        "thumbnail_url = c.thumbnail_url, parameters = c.parameters, active = c.active, "
        "legacy_doc = c.doc, created_at = COALESCE(c.created, s.created_at), "
        "updated_at = COALESCE(c.updated, c.created, now()) FROM c WHERE s.id = c.sid "
        "AND c.action = 'update' RETURNING 1) "
        "SELECT c.i, c.action, NULL FROM c ORDER BY c.i",
    [LG_ORDERS] =
        "WITH r AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(i int, lid text, "
        "self text, openid text, type text, status text, credits bigint, amount_fen bigint, "
        "created timestamptz, updated timestamptz, doc jsonb)), "
        "c AS (SELECT r.*, wi.user_id AS owner, lo.id AS loid, "
        "CASE WHEN wi.user_id IS NULL THEN 'no-user' "
        "WHEN so.id IS NULL AND lo.id IS NULL THEN 'insert' "
        "WHEN so.user_id <> wi.user_id OR lo.user_id <> wi.user_id THEN 'other-user' "
        "WHEN so.id IS NOT NULL AND (" LG_SERVER_ORDER_DOC " - '_id') = r.doc THEN 'skip' "
        "WHEN so.id IS NOT NULL THEN 'server-order' "
        "WHEN lo.legacy_doc = r.doc OR (" LG_ORDER_DOC " - '_id') = r.doc THEN 'skip' "
        "ELSE 'update' END AS action "
        "FROM r LEFT JOIN LATERAL " LG_IDENTITY " wi ON true "
        "LEFT JOIN LATERAL (SELECT * FROM legacy_orders x WHERE x.legacy_id = r.lid LIMIT 1) lo ON "
        "true "
        "LEFT JOIN LATERAL (SELECT * FROM orders x WHERE lo.id IS NULL "
        "AND x.out_trade_no = r.self LIMIT 1) so ON true "
        "CROSS JOIN LATERAL (SELECT wi.openid AS o) uo), "
        "ins AS (INSERT INTO legacy_orders (legacy_id, user_id, type, amount_fen, credits, "
        "status, legacy_doc, created_at, updated_at) SELECT c.lid, c.owner, c.type, "
        "c.amount_fen, c.credits, c.status, c.doc, COALESCE(c.created, now()), "
        "COALESCE(c.updated, c.created, now()) FROM c WHERE c.action = 'insert' "
        "ORDER BY c.i RETURNING 1), "
        "upd AS (UPDATE legacy_orders lo SET type = c.type, amount_fen = c.amount_fen, "
        "credits = c.credits, status = c.status, legacy_doc = c.doc, "
        "created_at = COALESCE(c.created, lo.created_at), "
        "updated_at = COALESCE(c.updated, c.created, now()) FROM c WHERE lo.id = c.loid "
        "AND c.action = 'update' RETURNING 1) "
        "SELECT c.i, c.action, NULL FROM c ORDER BY c.i",
    [LG_EXPORT_USERS] = "SELECT u.id, " LG_USER_DOC
                        "::text FROM users u" LG_OPENID("u.id") "WHERE u.id > $3" LG_PAGE("u"),
    [LG_EXPORT_WORKS] = "SELECT w.id, " LG_WORK_DOC "::text FROM works w" LG_OPENID(
        "w.user_id") "LEFT JOIN scenes s ON s.id = w.scene_id "
                     "LEFT JOIN tasks t ON t.id = w.task_id "
                     "WHERE w.id > $3 AND w.deleted_at IS NULL" LG_PAGE("w"),
    [LG_EXPORT_ORDERS] = "SELECT lo.id, " LG_ORDER_DOC "::text FROM legacy_orders lo" LG_OPENID(
        "lo.user_id") "WHERE lo.id > $3" LG_PAGE("lo"),
    [LG_EXPORT_SERVER_ORDERS] =
        "SELECT so.id, " LG_SERVER_ORDER_DOC
        "::text FROM orders so" LG_OPENID("so.user_id") "WHERE so.id > $3" LG_PAGE("so"),
};

static struct db_stmts legacy_stmts = DB_STMTS("legacy", legacy_sql);

/* The apply statement of each collection and how many parameters it takes. */
static const struct {
	enum legacy_stmt stmt;
	int nparams;
} legacy_apply_of[CLOUDDOC__MAX] = {
    [CLOUDDOC_USERS] = {LG_USERS, 2},
    [CLOUDDOC_WORKS] = {LG_WORKS, 2},
    [CLOUDDOC_SCENES] = {LG_SCENES, 1},
    [CLOUDDOC_ORDERS] = {LG_ORDERS, 2},
};

/* What an apply statement's action means when it is a rejection. */
static const struct {
	const char *action, *reason;
} legacy_rejections[] = {
    {"no-user", "user_openid: no imported user has this openid (import users first)"},
    {"other-user", "_id: imported before for another user"},
    {"server-order", "_id: an order made on this server is not changed by an import"},
    {"openid-twice", "openid: another document of this batch has it too"},
    {"openid-taken", "openid: bound to another user"},
    {"openid-changed", "openid: differs from the one this _id was imported with"},
    {"short", "credits: the cloud balance fell by more than the user's balance since the last "
              "import"},
};

/* What an apply statement's action (column 1 of its answer) counts as. */
enum legacy_outcome { LEGACY_INSERTED, LEGACY_UPDATED, LEGACY_SKIPPED, LEGACY_REJECTED };

static enum legacy_outcome legacy_outcome_of(const char *action)
{
	if (strcmp(action, "insert") == 0)
		return LEGACY_INSERTED;
	if (strcmp(action, "update") == 0 || strcmp(action, "favorite") == 0)
		return LEGACY_UPDATED;
	if (strcmp(action, "skip") == 0)
		return LEGACY_SKIPPED;
	return LEGACY_REJECTED;
}

/* ---------------------------------------------------------------------- the _ids seen */

struct legacy_seen {
	char *id; /* NULL = free slot */
	long index;
};

static uint64_t legacy_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

struct legacy_import {
	enum clouddoc_kind kind;
	char *appid;
	struct audit_actor who; /* the caller's strings: they outlive the import */
	struct legacy_sink sink;
	struct arena arena; /* the current batch's strings */
	json_object *rows; /* the current batch */
	struct {
		long index;
		const char *id;
	} items[LEGACY_BATCH];
	size_t n;
	struct legacy_counts counts;
	struct legacy_seen *seen; /* open addressing, at most half full */
	size_t seen_cap, seen_n;
};

/* The index where id was first seen, or -1 after remembering it at index. */
static long legacy_seen_before(struct legacy_import *imp, const char *id, long index)
{
	size_t slot;

	if (2 * (imp->seen_n + 1) > imp->seen_cap) {
		struct legacy_seen *old = imp->seen;
		size_t old_cap = imp->seen_cap;
		imp->seen_cap = old_cap ? old_cap * 2 : 1024;
		imp->seen = xcalloc(imp->seen_cap, sizeof(*imp->seen));
		for (size_t i = 0; i < old_cap; i++) {
			if (old[i].id == NULL)
				continue;
			slot = legacy_hash(old[i].id) & (imp->seen_cap - 1);
			while (imp->seen[slot].id != NULL)
				slot = (slot + 1) & (imp->seen_cap - 1);
			imp->seen[slot] = old[i];
		}
		free(old);
	}
	slot = legacy_hash(id) & (imp->seen_cap - 1);
	for (; imp->seen[slot].id != NULL; slot = (slot + 1) & (imp->seen_cap - 1))
		if (strcmp(imp->seen[slot].id, id) == 0)
			return imp->seen[slot].index;
	imp->seen[slot].id = xstrdup(id);
	imp->seen[slot].index = index;
	imp->seen_n++;
	return -1;
}

/* ---------------------------------------------------------------------- import */

struct legacy_import *legacy_import_new(enum clouddoc_kind kind, const char *mp_appid,
                                        const struct audit_actor *who,
                                        const struct legacy_sink *sink)
{
	struct legacy_import *imp = xcalloc(1, sizeof(*imp));

	imp->kind = kind;
	imp->who = *who;
	imp->appid = mp_appid ? xstrdup(mp_appid) : NULL;
	imp->sink = *sink;
	arena_init(&imp->arena, 64 * 1024);
	imp->rows = json_object_new_array();
	return imp;
}

void legacy_import_free(struct legacy_import *imp)
{
	if (imp == NULL)
		return;
	for (size_t i = 0; i < imp->seen_cap; i++)
		free(imp->seen[i].id);
	free(imp->seen);
	json_object_put(imp->rows);
	arena_fini(&imp->arena);
	free(imp->appid);
	free(imp);
}

const struct legacy_counts *legacy_import_counts(const struct legacy_import *imp)
{
	return &imp->counts;
}

static void legacy_note(struct legacy_import *imp, long index, const char *id, const char *reason,
                        bool malformed)
{
	struct legacy_note n = {.index = index, .id = id, .reason = reason, .malformed = malformed};

	if (malformed)
		imp->counts.malformed++;
	else
		imp->counts.rejected++;
	if (imp->sink.note != NULL)
		imp->sink.note(imp->sink.ctx, &n);
}

void legacy_import_refuse(struct legacy_import *imp, long index, const char *id, const char *why)
{
	imp->counts.documents++;
	legacy_note(imp, index, id, why, true);
}

/* A batch on its way through audit_run: the rows it sends, the answer it gets. */
struct legacy_batch {
	struct legacy_import *imp;
	const char *rows;
	PGresult *res;
};

/* The batch's statement, inside audit_run's transaction.  What it changed is the audit row's
 * "after": {"inserted","updated","skipped","rejected","from","to"} (the batch's first and last
 * _id); a batch that changed nothing writes no row. */
static enum api_err legacy_batch_tx(struct arena *a, void *ctx, struct audit_change *chg)
{
	struct legacy_batch *b = ctx;
	struct legacy_import *imp = b->imp;
	const char *p[2] = {b->rows, imp->appid};
	int64_t n[LEGACY_REJECTED + 1] = {0};
	PGresult *r = NULL;
	json_object *after;
	enum api_err err;

	if ((err = db_exec(&legacy_stmts, LG_LOCK, 0, NULL, &r)) != E_OK)
		return err;
	PQclear(r);
	if (imp->kind == CLOUDDOC_USERS) {
		if ((err = db_exec(&legacy_stmts, LG_LOCK_OPENIDS, 2, p, &r)) != E_OK)
			return err;
		PQclear(r);
	}
	if ((err = db_exec(&legacy_stmts, legacy_apply_of[imp->kind].stmt,
	                   legacy_apply_of[imp->kind].nparams, p, &b->res)) != E_OK)
		return err;
	for (int row = 0; row < PQntuples(b->res); row++)
		n[legacy_outcome_of(PQgetvalue(b->res, row, 1))]++;
	after = json_object_new_object();
	json_object_object_add(after, "inserted", json_object_new_int64(n[LEGACY_INSERTED]));
	json_object_object_add(after, "updated", json_object_new_int64(n[LEGACY_UPDATED]));
	json_object_object_add(after, "skipped", json_object_new_int64(n[LEGACY_SKIPPED]));
	json_object_object_add(after, "rejected", json_object_new_int64(n[LEGACY_REJECTED]));
	json_object_object_add(after, "from", json_object_new_string(imp->items[0].id));
	json_object_object_add(after, "to", json_object_new_string(imp->items[imp->n - 1].id));
	chg->target_type = "collection";
	chg->target_id = clouddoc_kind_name(imp->kind);
	chg->after = jsonx_text(a, after);
	chg->unchanged = n[LEGACY_INSERTED] + n[LEGACY_UPDATED] == 0;
	json_object_put(after);
	return E_OK;
}

/* Runs the batch in its own transaction with its audit row (action collection.import);
 * *res holds the statement's answer after the commit. */
static enum api_err legacy_apply(struct legacy_import *imp, const char *rows, PGresult **res)
{
	struct legacy_batch b = {.imp = imp, .rows = rows, .res = NULL};
	enum api_err err;

	*res = NULL;
	if (imp->appid == NULL && imp->kind != CLOUDDOC_SCENES)
		return E_UNAVAILABLE;
	err = audit_run(&imp->arena, &imp->who, "collection.import", legacy_batch_tx, &b);
	if (err != E_OK) {
		PQclear(b.res);
		return err;
	}
	*res = b.res;
	return E_OK;
}

/* Counts and reports one row of an apply statement's answer. */
static void legacy_outcome(struct legacy_import *imp, const PGresult *res, int row)
{
	int64_t i = db_i64(res, row, 0);
	const char *action = PQgetvalue(res, row, 1);
	const char *detail = PQgetisnull(res, row, 2) ? NULL : PQgetvalue(res, row, 2);
	const char *reason = action;

	if (i < 0 || (size_t)i >= imp->n)
		return;
	switch (legacy_outcome_of(action)) {
	case LEGACY_INSERTED:
		imp->counts.inserted++;
		break;
	case LEGACY_UPDATED:
		imp->counts.updated++;
		break;
	case LEGACY_SKIPPED:
		imp->counts.skipped++;
		break;
	case LEGACY_REJECTED:
		for (size_t k = 0; k < sizeof(legacy_rejections) / sizeof(legacy_rejections[0]);
		     k++)
			if (strcmp(action, legacy_rejections[k].action) == 0)
				reason = legacy_rejections[k].reason;
		if (detail != NULL)
			reason = arena_printf(&imp->arena, "%s (%s)", reason, detail);
		legacy_note(imp, imp->items[i].index, imp->items[i].id, reason, false);
		break;
	}
}

/* Applies the current batch (a conflict with a concurrent writer is tried once more). */
static enum api_err legacy_flush(struct legacy_import *imp)
{
	const char *text;
	PGresult *res = NULL;
	enum api_err err;

	if (imp->n == 0)
		return E_OK;
	text = json_object_to_json_string_ext(imp->rows, JSON_C_TO_STRING_PLAIN |
	                                                     JSON_C_TO_STRING_NOSLASHESCAPE);
	err = legacy_apply(imp, text, &res);
	if (err == E_CONFLICT)
		err = legacy_apply(imp, text, &res);
	if (err != E_OK)
		return err;
	for (int row = 0; row < PQntuples(res); row++)
		legacy_outcome(imp, res, row);
	PQclear(res);
	json_object_put(imp->rows);
	imp->rows = json_object_new_array();
	imp->n = 0;
	arena_reset(&imp->arena);
	if (imp->sink.progress != NULL)
		imp->sink.progress(imp->sink.ctx, &imp->counts);
	return E_OK;
}

enum api_err legacy_import_add(struct legacy_import *imp, long index, json_object *doc)
{
	const char *id = NULL, *why = NULL;
	json_object *row = clouddoc_row(&imp->arena, imp->kind, doc, &id, &why);
	long first;

	imp->counts.documents++;
	if (row == NULL) {
		legacy_note(imp, index, id, why, true);
		return E_OK;
	}
	if ((first = legacy_seen_before(imp, id, index)) >= 0) {
		json_object_put(row);
		legacy_note(imp, index, id,
		            arena_printf(&imp->arena, "_id: came before in this import (%s %ld)",
		                         imp->sink.index_name ? imp->sink.index_name : "at", first),
		            true);
		return E_OK;
	}
	json_object_object_add(row, "i", json_object_new_int64((int64_t)imp->n));
	json_object_array_add(imp->rows, row);
	imp->items[imp->n].index = index;
	imp->items[imp->n].id = id;
	imp->n++;
	return imp->n == LEGACY_BATCH ? legacy_flush(imp) : E_OK;
}

enum api_err legacy_import_finish(struct legacy_import *imp)
{
	return legacy_flush(imp);
}

/* ---------------------------------------------------------------------- export */

#define LEGACY_PAGE 1000

/* Every page of statement idx through emit. */
static enum api_err legacy_export_pages(enum legacy_stmt idx, const char *appid, const char *since,
                                        legacy_emit_fn *emit, void *ctx, size_t *n)
{
	struct arena a;
	int64_t after = 0;
	enum api_err err = E_OK;
	int got;

	arena_init(&a, 4096);
	do {
		const char *p[4] = {appid, since, db_param_i64(&a, after),
		                    db_param_i64(&a, LEGACY_PAGE)};
		PGresult *res;

		if ((err = db_exec(&legacy_stmts, idx, 4, p, &res)) != E_OK)
			break;
		got = PQntuples(res);
		for (int row = 0; row < got && err == E_OK; row++) {
			after = db_i64(res, row, 0);
			if (emit(ctx, PQgetvalue(res, row, 1), (size_t)PQgetlength(res, row, 1)) !=
			    0)
				err = E_INTERNAL;
			else
				(*n)++;
		}
		PQclear(res);
		arena_reset(&a);
	} while (err == E_OK && got == LEGACY_PAGE);
	arena_fini(&a);
	return err;
}

enum api_err legacy_export(enum clouddoc_kind kind, const char *mp_appid, const char *since,
                           legacy_emit_fn *emit, void *ctx, size_t *n)
{
	enum api_err err;

	*n = 0;
	switch (kind) {
	case CLOUDDOC_USERS:
		return legacy_export_pages(LG_EXPORT_USERS, mp_appid, since, emit, ctx, n);
	case CLOUDDOC_WORKS:
		return legacy_export_pages(LG_EXPORT_WORKS, mp_appid, since, emit, ctx, n);
	case CLOUDDOC_ORDERS:
		err = legacy_export_pages(LG_EXPORT_ORDERS, mp_appid, since, emit, ctx, n);
		if (err == E_OK)
			err = legacy_export_pages(LG_EXPORT_SERVER_ORDERS, mp_appid, since, emit,
			                          ctx, n);
		return err;
	default:
		return E_BAD_REQUEST;
	}
}
