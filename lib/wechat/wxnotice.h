/*
 * wxnotice — what tells a user a task ended, with no I/O: the "data" of the Official
 * Account's template message, the "data" and "page" of the mini program's subscribe message
 * (rendered from system_config.notify.mp, docs/wechat.md), and what WeChat's answer to a
 * send means for the dispatcher's outbox.
 *
 * Fields of the OA task template (system_config.notify.task_template_id):
 *   thing1             the kind of work: "AI试衣" (fitting) or "AI写真" (anything else)
 *   phrase2            the outcome: "已完成" (completed), "部分完成" (partial), else "失败"
 *   number3            "<done>/<count>"
 *   time4              when the task ended, as the database wrote it ("" when unknown)
 *   character_string5  the task id
 * Each field is {"value": "..."}.
 *
 * A subscribe message's fields come from a mapping {"<key>": "<value template>", …}: the
 * key is the template's own ("thing1", "phrase2", …) and its type (the key without its
 * trailing digits) decides the limit WeChat enforces on the value (47003 otherwise); the
 * value template may name {kind}, {outcome}, {done}, {count}, {failed}, {task_id},
 * {refunded} and {finished_at} ("YYYY-MM-DD HH:MM"); anything else in braces stays as it is.
 */
#ifndef AIPHOTO_WXNOTICE_H
#define AIPHOTO_WXNOTICE_H

#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"

struct wxnotice_task {
	int64_t task_id;
	const char *type; /* photography | fitting */
	const char *status; /* completed | partial | failed */
	int done, count, failed;
	int64_t credits_refunded;
	const char *finished_at; /* may be NULL */
};

/* The OA template message's data object's JSON text (arena copy). */
const char *wxnotice_task_data(struct arena *a, const struct wxnotice_task *t);

/* tpl with its {placeholders} replaced (arena copy; NULL tpl → ""). */
const char *wxnotice_render(struct arena *a, const char *tpl, const struct wxnotice_task *t);

/*
 * value made to fit the limit of the type of data key `key` (WeChat's "参数值内容限制"):
 * thing ≤ 20 characters, number ≤ 32 digits (and a decimal point), letter ≤ 32 letters,
 * symbol ≤ 5, character_string ≤ 32 printable ASCII characters without spaces, phrase ≤ 5
 * characters without ASCII, name ≤ 10 characters (≤ 20 when all ASCII), phone_number ≤ 17,
 * car_number ≤ 8; time, date, amount and unknown types pass unchanged.  Longer text is cut
 * on a character boundary (thing and name end in "…"); a value that ends up empty becomes
 * "0" for number and "-" otherwise (WeChat refuses empty values).  Arena copy.
 */
const char *wxnotice_fit(struct arena *a, const char *key, const char *value);

/* The subscribe message's data object's JSON text: each entry of mapping_json rendered and
 * fitted; NULL when mapping_json is not a non-empty object whose values are strings. */
const char *wxnotice_subscribe_data(struct arena *a, const char *mapping_json,
                                    const struct wxnotice_task *t);

/* What an answer to a send means: err and errcode as wxapi_template_send /
 * wxapi_subscribe_send return them. */
enum wxnotice_result {
	WXNOTICE_SENT, /* errcode 0 */
	WXNOTICE_RETRY, /* no answer (5xx, timeout, …), -1 system busy, 45009 rate limit, or the
	                   token still rejected: the outbox tries again later */
	WXNOTICE_REFUSED /* any other errcode (43101 refused / none left, 40037 bad template,
	                    47003 bad data, 40003 bad openid, 41030 bad page, …): not retried */
};
enum wxnotice_result wxnotice_classify(enum api_err err, long errcode);

#endif
