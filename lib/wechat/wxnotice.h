/*
 * wxnotice — the WeChat template message that tells a user a task ended: the "data" object
 * of message/template/send (sent by wxapi_template_send), no I/O.
 *
 * Fields of the task template (system_config.notify.task_template_id):
 *   thing1             the kind of work: "AI试衣" (fitting) or "AI写真" (anything else)
 *   phrase2            the outcome: "已完成" (completed), "部分完成" (partial), else "失败"
 *   number3            "<done>/<count>"
 *   time4              when the task ended, as the database wrote it ("" when unknown)
 *   character_string5  the task id
 * Each field is {"value": "..."}.
 */
#ifndef AIPHOTO_WXNOTICE_H
#define AIPHOTO_WXNOTICE_H

#include <stdint.h>

#include "lib/arena.h"

struct wxnotice_task {
	int64_t task_id;
	const char *type; /* photography | fitting */
	const char *status; /* completed | partial | failed */
	int done, count;
	const char *finished_at; /* may be NULL */
};

/* The data object's JSON text (arena copy). */
const char *wxnotice_task_data(struct arena *a, const struct wxnotice_task *t);

#endif
