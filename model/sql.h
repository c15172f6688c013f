/*
 * sql — fragments shared by the statement tables of model/.
 * Times leave the database as RFC 3339 text in the business time zone (Asia/Shanghai);
 * the business day itself is computed by lib/bizday and passed as a parameter.
 */
#ifndef AIPHOTO_SQL_H
#define AIPHOTO_SQL_H

#define SQL_TIME(col) \
	"to_char(" col " AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"')"

/*
 * The status of a task from its counters (string literals naming SQL expressions): ended
 * when done + failed + canceled reach count — 'completed' when every item succeeded,
 * 'partial' when some did, 'failed' when none did but some failed, else 'canceled';
 * otherwise 'running' when started (a boolean expression) is true, else 'queued'.
 * Shared by the cancel of model/tasks.c and the dispatcher's completion in model/works.c.
 */
#define SQL_TASK_STATUS(done, failed, canceled, count, started)                     \
	"(CASE WHEN (" done ") + (" failed ") + (" canceled ") >= (" count ") THEN" \
	" (CASE WHEN (" done ") >= (" count ") THEN 'completed'"                    \
	" WHEN (" done ") > 0 THEN 'partial'"                                       \
	" WHEN (" failed ") > 0 THEN 'failed'"                                      \
	" ELSE 'canceled' END)"                                                     \
	" WHEN (" started ") THEN 'running' ELSE 'queued' END)"

/*
 * The admin API's JSON views of rows (model/view.h), built by PostgreSQL from the table under
 * the alias each names (users u, wechat_identities w, credit_ledger l, orders o, tasks t): every
 * field named, times in RFC 3339 (aiphoto_time, migration 0015).
 * Shared by the lists and the details that show the same rows (a user's detail embeds their
 * identities, ledger, orders and tasks).
 */
#define SQL_USER_JSON                                                              \
	"jsonb_build_object('id', u.id, 'nickname', u.nickname, "                  \
	"'avatar_url', u.avatar_url, 'credits', u.credits, "                       \
	"'status', u.status, 'invite_code', u.invite_code, "                       \
	"'invited_by', u.invited_by, 'upload_quota_bytes', u.upload_quota_bytes, " \
	"'upload_quota_files', u.upload_quota_files, "                             \
	"'created_at', aiphoto_time(u.created_at))"
#define SQL_IDENTITY_JSON                                              \
	"jsonb_build_object('id', w.id, 'app_kind', w.app_kind, "      \
	"'appid', w.appid, 'openid', w.openid, 'unionid', w.unionid, " \
	"'subscribed', w.subscribed, 'created_at', aiphoto_time(w.created_at))"
#define SQL_LEDGER_JSON                                              \
	"jsonb_build_object('id', l.id, 'user_id', l.user_id, "      \
	"'delta', l.delta, 'balance_after', l.balance_after, "       \
	"'kind', l.kind, 'reference', l.reference, 'memo', l.memo, " \
	"'created_at', aiphoto_time(l.created_at))"
/* trade_state is WeChat Pay's last word on the order (notify or query) */
#define SQL_ORDER_JSON                                               \
	"jsonb_build_object('id', o.id, "                            \
	"'out_trade_no', o.out_trade_no, 'user_id', o.user_id, "     \
	"'package_id', o.package_id, 'description', o.description, " \
	"'amount_fen', o.amount_fen, 'credits', o.credits, "         \
	"'status', o.status, 'trade_state', o.trade_state, "         \
	"'transaction_id', o.transaction_id, 'appid', o.appid, "     \
	"'paid_at', aiphoto_time(o.paid_at), "                       \
	"'closed_at', aiphoto_time(o.closed_at), "                   \
	"'refunded_fen', o.refunded_fen, "                           \
	"'refunded_at', aiphoto_time(o.refunded_at), "               \
	"'last_queried_at', aiphoto_time(o.last_queried_at), "       \
	"'created_at', aiphoto_time(o.created_at))"
#define SQL_TASK_JSON                                                        \
	"jsonb_build_object('id', t.id, 'user_id', t.user_id, "              \
	"'type', t.type, 'status', t.status, 'count', t.count, "             \
	"'price', t.price, 'credits_charged', t.credits_charged, "           \
	"'credits_refunded', t.credits_refunded, 'done', t.done, "           \
	"'failed', t.failed, 'canceled', t.canceled, "                       \
	"'scene_id', t.scene_id, 'created_at', aiphoto_time(t.created_at), " \
	"'finished_at', aiphoto_time(t.finished_at))"

#endif
