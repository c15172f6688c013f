/* gray — see gray.h. */
#include "ctl/gray.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/config.h"
#include "lib/gray.h"
#include "lib/xalloc.h"
#include "model/system.h"

#define CTL_GRAY_USAGE                                                                           \
	"usage: aiphotoctl gray show\n"                                                          \
	"       aiphotoctl gray set [--backend cloud|server] [--percent 0-100]\n"                \
	"                           [--server-url URL] [--white OPENID...]\n"                    \
	"                           [--unwhite OPENID...] [--white-clear]\n"                     \
	"                           [--black OPENID...] [--unblack OPENID...] [--black-clear]\n" \
	"  --percent turns the gray release on; --backend alone turns it off\n"                  \
	"  (rollback: aiphotoctl gray set --backend cloud)\n"

#define CTL_GRAY_URL_RULE                                                                    \
	"an https:// URL (http:// too with AIPHOTO_ENV=development) with a host, no spaces " \
	"or quotes, no trailing /, at most 512 characters"

static int ctl_gray_usage(void)
{
	fputs(CTL_GRAY_USAGE, stderr);
	return 2;
}

/* Refuses a value with the reason; exit status 2. */
static int ctl_gray_refuse(const char *option, const char *value, const char *why)
{
	fprintf(stderr, "aiphotoctl gray set: %s %s: %s\n", option, value, why);
	return 2;
}

/* Prints a backend_config document, indented. */
static void ctl_gray_print(const char *json)
{
	json_object *o = json_tokener_parse(json);

	puts(o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
	                                               JSON_C_TO_STRING_NOSLASHESCAPE)
	       : json);
	json_object_put(o);
}

static int ctl_gray_show(struct arena *a)
{
	char *json = NULL;
	enum api_err err = system_config_get(a, SYSTEM_BACKEND_KEY, &json);

	if (err != E_OK) {
		fprintf(stderr, "aiphotoctl gray show: cannot read %s (%s)\n", SYSTEM_BACKEND_KEY,
		        api_err_code(err));
		return 1;
	}
	if (json == NULL)
		fprintf(stderr, "aiphotoctl gray show: %s is not set; these defaults apply\n",
		        SYSTEM_BACKEND_KEY);
	ctl_gray_print(json ? json : GRAY_DEFAULT_CONFIG);
	return 0;
}

/* Appends the openids after argv[*i] (up to the next option) to ids without repeats; 0, or 2
 * after saying which word is not an openid, or that none was given. */
static int ctl_gray_ids(int argc, char **argv, int *i, const char **ids, size_t *n)
{
	const char *option = argv[*i];
	uint32_t hash;
	int taken = 0;

	for (; *i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0; taken++) {
		const char *id = argv[++*i];
		size_t k = 0;

		if (!gray_openid(id, &hash))
			return ctl_gray_refuse(option, id,
			                       "an openid is 1-128 characters of UTF-8");
		while (k < *n && strcmp(ids[k], id) != 0)
			k++;
		if (k == *n)
			ids[(*n)++] = id;
	}
	if (taken == 0) {
		fprintf(stderr, "aiphotoctl gray set: %s needs at least one openid\n", option);
		return 2;
	}
	return 0;
}

/* The options that list openids, in the order of ctl_gray_set's ids[]. */
static const char *const ctl_gray_list_options[] = {"--white", "--unwhite", "--black", "--unblack"};
#define CTL_GRAY_LISTS ARRAY_LEN(ctl_gray_list_options)

/* Index of option in ctl_gray_list_options, or -1. */
static int ctl_gray_list_option(const char *option)
{
	for (size_t k = 0; k < CTL_GRAY_LISTS; k++)
		if (strcmp(option, ctl_gray_list_options[k]) == 0)
			return (int)k;
	return -1;
}

/* One option with its value (--backend, --percent, --server-url) into e; 0 or 2. */
static int ctl_gray_value(const char *opt, const char *val, struct system_backend_edit *e)
{
	long percent;

	if (strcmp(opt, "--percent") == 0) {
		if (config_parse_long(val, 0, 100, &percent) < 0)
			return ctl_gray_refuse(opt, val, "a whole number from 0 to 100");
		e->gray_percent = (int)percent;
	} else if (strcmp(opt, "--backend") == 0) {
		if (strcmp(val, "cloud") != 0 && strcmp(val, "server") != 0)
			return ctl_gray_refuse(opt, val, "cloud or server");
		e->backend_type = val;
	} else if (strcmp(opt, "--server-url") == 0) {
		if (!gray_url_ok(val, config_get()->development))
			return ctl_gray_refuse(opt, val, CTL_GRAY_URL_RULE);
		e->server_url = val;
	} else {
		return ctl_gray_usage();
	}
	return 0;
}

static int ctl_gray_set(struct arena *a, int argc, char **argv)
{
	struct system_backend_edit e = {.gray_percent = -1, .gray_release = -1};
	const char **ids[CTL_GRAY_LISTS];
	size_t nids[CTL_GRAY_LISTS] = {0};
	char *json = NULL;
	enum api_err err;
	bool white_clear = false, black_clear = false;
	int rc = 0, k;

	if (argc == 0)
		return ctl_gray_usage();
	for (k = 0; k < (int)CTL_GRAY_LISTS; k++)
		ids[k] = arena_zalloc(a, sizeof(char *) * (size_t)argc);
	for (int i = 0; i < argc && rc == 0; i++) {
		if ((k = ctl_gray_list_option(argv[i])) >= 0)
			rc = ctl_gray_ids(argc, argv, &i, ids[k], &nids[k]);
		else if (strcmp(argv[i], "--white-clear") == 0)
			white_clear = true;
		else if (strcmp(argv[i], "--black-clear") == 0)
			black_clear = true;
		else if (i + 1 < argc) {
			rc = ctl_gray_value(argv[i], argv[i + 1], &e);
			i++;
		} else
			rc = ctl_gray_usage();
	}
	if (rc != 0)
		return rc;
	e.white = (struct system_list_edit){
	    .add = ids[0], .nadd = nids[0], .del = ids[1], .ndel = nids[1], .clear = white_clear};
	e.black = (struct system_list_edit){
	    .add = ids[2], .nadd = nids[2], .del = ids[3], .ndel = nids[3], .clear = black_clear};
	/* a percentage is a gray release; a backend alone sends everybody to it */
	if (e.gray_percent >= 0)
		e.gray_release = 1;
	else if (e.backend_type != NULL)
		e.gray_release = 0;
	if ((err = system_backend_edit(a, &e, &json)) != E_OK) {
		fprintf(stderr, "aiphotoctl gray set: cannot change %s (%s)\n", SYSTEM_BACKEND_KEY,
		        api_err_code(err));
		return 1;
	}
	ctl_gray_print(json);
	return 0;
}

int ctl_gray(int argc, char **argv)
{
	struct arena a;
	int rc;

	if (argc == 1 && strcmp(argv[0], "show") == 0) {
		arena_init(&a, 0);
		rc = ctl_gray_show(&a);
	} else if (argc >= 1 && strcmp(argv[0], "set") == 0) {
		arena_init(&a, 0);
		rc = ctl_gray_set(&a, argc - 1, argv + 1);
	} else {
		return ctl_gray_usage();
	}
	arena_fini(&a);
	return rc;
}
