/* wxnotice — see wxnotice.h. */
#include "lib/wechat/wxnotice.h"

#include <json-c/json.h>
#include <string.h>

#include "lib/jsonx.h"

/* One template field: name → {"value": value}. */
struct wxnotice_field {
	const char *name;
	const char *value;
};

static const char *wxnotice_outcome(const char *status)
{
	static const struct {
		const char *status, *label;
	} labels[] = {{"completed", "已完成"}, {"partial", "部分完成"}};

	for (size_t i = 0; status != NULL && i < sizeof(labels) / sizeof(labels[0]); i++)
		if (strcmp(status, labels[i].status) == 0)
			return labels[i].label;
	return "失败";
}

const char *wxnotice_task_data(struct arena *a, const struct wxnotice_task *t)
{
	const struct wxnotice_field fields[] = {
	    {"thing1", t->type != NULL && strcmp(t->type, "fitting") == 0 ? "AI试衣" : "AI写真"},
	    {"phrase2", wxnotice_outcome(t->status)},
	    {"number3", arena_printf(a, "%d/%d", t->done, t->count)},
	    {"time4", t->finished_at ? t->finished_at : ""},
	    {"character_string5", arena_printf(a, "%lld", (long long)t->task_id)},
	};
	json_object *data = json_object_new_object();
	const char *text;

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		json_object *f = json_object_new_object();
		json_object_object_add(f, "value", json_object_new_string(fields[i].value));
		json_object_object_add(data, fields[i].name, f);
	}
	text = jsonx_text(a, data);
	json_object_put(data);
	return text;
}
