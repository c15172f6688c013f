/*
 * menu — `aiphotoctl wechat menu` (ctl/menu.h).
 */
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/menu.h"
#include "lib/arena.h"
#include "lib/config.h"
#include "lib/httpc.h"
#include "lib/redis.h"
#include "lib/wechat/wxapi.h"

struct menu_entry {
	const char *name, *page;
};

static json_object *menu_view(const char *base, const struct menu_entry *e)
{
	json_object *b = json_object_new_object();
	size_t n = strlen(base) + strlen("/wechat/") + strlen(e->page) + 1;
	char *url = malloc(n);

	if (url == NULL) {
		json_object_put(b);
		return NULL;
	}
	snprintf(url, n, "%s/wechat/%s", base, e->page);
	json_object_object_add(b, "type", json_object_new_string("view"));
	json_object_object_add(b, "name", json_object_new_string(e->name));
	json_object_object_add(b, "url", json_object_new_string(url));
	free(url);
	return b;
}

static json_object *menu_group(const char *base, const char *name, const struct menu_entry *subs,
                               size_t n)
{
	json_object *b = json_object_new_object(), *list = json_object_new_array();

	json_object_object_add(b, "name", json_object_new_string(name));
	for (size_t i = 0; i < n; i++)
		json_object_array_add(list, menu_view(base, &subs[i]));
	json_object_object_add(b, "sub_button", list);
	return b;
}

char *ctl_menu_json(const char *base)
{
	static const struct menu_entry create[] = {
	    {"AI 写真", "studio.html?kind=photography"},
	    {"AI 试衣", "studio.html?kind=fitting"},
	    {"生成进度", "task.html"},
	};
	static const struct menu_entry works = {"我的作品", "works.html"};
	static const struct menu_entry mine[] = {
	    {"会员中心", "member.html"},
	    {"积分充值", "credits.html"},
	    {"积分明细", "credits_info.html"},
	};
	json_object *root = json_object_new_object(), *buttons = json_object_new_array();
	char *out;

	json_object_array_add(buttons, menu_group(base, "AI 创作", create, 3));
	json_object_array_add(buttons, menu_view(base, &works));
	json_object_array_add(buttons, menu_group(base, "会员中心", mine, 3));
	json_object_object_add(root, "button", buttons);
	out = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
	                                                      JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return out;
}

int ctl_wechat_menu(int argc, char **argv)
{
	const struct config *c = config_get();
	bool print = argc == 1 && strcmp(argv[0], "--print") == 0;
	char base[1024];
	size_t n;
	char *json;
	struct arena a;
	enum api_err err;

	if (argc > 1 || (argc == 1 && !print)) {
		fprintf(stderr, "usage: aiphotoctl wechat menu [--print]\n");
		return 2;
	}
	n = strlen(c->public_base_url);
	while (n > 0 && c->public_base_url[n - 1] == '/')
		n--;
	if (n == 0 || n >= sizeof(base)) {
		fprintf(stderr, "aiphotoctl wechat menu: PUBLIC_BASE_URL is not usable\n");
		return 2;
	}
	memcpy(base, c->public_base_url, n);
	base[n] = '\0';
	if ((json = ctl_menu_json(base)) == NULL) {
		fprintf(stderr, "aiphotoctl wechat menu: out of memory\n");
		return 1;
	}
	if (print) {
		printf("%s\n", json);
		free(json);
		return 0;
	}
	if (redis_init(c->redis_url) < 0) {
		fprintf(stderr, "aiphotoctl wechat menu: REDIS_URL cannot be used\n");
		free(json);
		return 2;
	}
	arena_init(&a, 0);
	err = wxapi_menu_create(&a, json);
	arena_fini(&a);
	redis_fini();
	httpc_fini();
	free(json);
	if (err != E_OK) {
		fprintf(stderr, "aiphotoctl wechat menu: failed (%s)\n", api_err_code(err));
		return 1;
	}
	printf("menu created\n");
	return 0;
}
