/* admin — see admin.h. */
#include "ctl/admin.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/password.h"
#include "lib/xalloc.h"
#include "model/admins.h"

/* aiphotoctl acts as nobody in particular: the audit log names it "aiphotoctl". */
static const struct audit_actor ctl_admin_actor = {0};

static int ctl_admin_usage(void)
{
	fputs("usage: aiphotoctl admin add USERNAME [--role owner|operator|support|viewer]\n"
	      "       aiphotoctl admin role USERNAME owner|operator|support|viewer\n"
	      "       aiphotoctl admin disable USERNAME | aiphotoctl admin enable USERNAME\n"
	      "       aiphotoctl admin password USERNAME   (add and password read the password\n"
	      "                                             from standard input)\n"
	      "       aiphotoctl admin list\n",
	      stderr);
	return 2;
}

/* Reads the first line of standard input and hashes it: a malloc'd stored form, or NULL
 * after saying why (*rc 2 for a bad password, 1 when hashing fails). */
static char *ctl_admin_password(const char *cmd, int *rc)
{
	char line[PASSWORD_MAX + 2];
	size_t n;
	char *hash;

	*rc = 2;
	if (fgets(line, sizeof(line), stdin) == NULL) {
		fprintf(stderr, "aiphotoctl admin %s: no password on standard input\n", cmd);
		return NULL;
	}
	n = strcspn(line, "\r\n");
	if (line[n] == '\0' && n == sizeof(line) - 1)
		n = PASSWORD_MAX + 1; /* no end of line: longer than the buffer */
	line[n < sizeof(line) ? n : sizeof(line) - 1] = '\0';
	if (n < PASSWORD_MIN || n > PASSWORD_MAX) {
		fprintf(stderr, "aiphotoctl admin %s: the password needs %d to %d characters\n",
		        cmd, PASSWORD_MIN, PASSWORD_MAX);
		memset(line, 0, sizeof(line));
		return NULL;
	}
	hash = password_hash(line);
	memset(line, 0, sizeof(line));
	*rc = 1;
	if (hash == NULL)
		fprintf(stderr, "aiphotoctl admin %s: could not hash the password\n", cmd);
	return hash;
}

/* The id of username, or 0 after saying why. */
static int64_t ctl_admin_find(struct arena *a, const char *cmd, const char *username)
{
	struct admin ad;
	enum api_err err = admins_get(a, username, &ad);

	if (err == E_OK)
		return ad.id;
	fprintf(stderr, "aiphotoctl admin %s: %s\n", cmd,
	        err == E_NOT_FOUND ? "no admin has that username"
	                           : "the database cannot be read (is it up and migrated?)");
	return 0;
}

/* Says what a refused change came to; returns 1. */
static int ctl_admin_failed(const char *cmd, enum api_err err)
{
	const char *why = "failed (is the database up and migrated?)";

	if (err == E_CONFLICT)
		why = strcmp(cmd, "add") == 0 ? "that username exists"
		                              : "refused: no active owner would remain";
	else if (err == E_BAD_REQUEST)
		why = "the username takes 1-64 of A-Z a-z 0-9 _ . @ -";
	fprintf(stderr, "aiphotoctl admin %s: %s\n", cmd, why);
	return 1;
}

static int ctl_admin_add(struct arena *a, int argc, char **argv)
{
	enum role role = ROLE_VIEWER;
	int64_t id = 0;
	enum api_err err;
	char *hash;
	int rc;

	if (argc == 3 && strcmp(argv[1], "--role") == 0)
		role = role_parse(argv[2]);
	else if (argc != 1)
		return ctl_admin_usage();
	if (role == ROLE_NONE)
		return ctl_admin_usage();
	if ((hash = ctl_admin_password("add", &rc)) == NULL)
		return rc;
	err = admins_create(a, &ctl_admin_actor, argv[0], hash, role, &id);
	free(hash);
	if (err != E_OK)
		return ctl_admin_failed("add", err);
	printf("%lld\n", (long long)id);
	return 0;
}

/* role, disable and enable: one change of an existing admin. */
static int ctl_admin_change(struct arena *a, const char *cmd, const char *username,
                            const struct admin_change *c)
{
	int64_t id = ctl_admin_find(a, cmd, username);
	char *json = NULL;
	enum api_err err;

	if (id == 0)
		return 1;
	if ((err = admins_update(a, &ctl_admin_actor, id, c, &json)) != E_OK)
		return ctl_admin_failed(cmd, err);
	printf("%s\n", json);
	return 0;
}

static int ctl_admin_set_password(struct arena *a, const char *username)
{
	int64_t id = ctl_admin_find(a, "password", username);
	enum api_err err;
	char *hash;
	int rc;

	if (id == 0)
		return 1;
	if ((hash = ctl_admin_password("password", &rc)) == NULL)
		return rc;
	err = admins_set_password(a, &ctl_admin_actor, id, hash, NULL);
	free(hash);
	if (err != E_OK)
		return ctl_admin_failed("password", err);
	printf("password changed; the admin's sessions ended\n");
	return 0;
}

/* One line per admin: id, username, role, and "disabled" when it is. */
static int ctl_admin_list(struct arena *a)
{
	struct view_cursor c = {.limit = 50};
	struct view_page pg;

	do {
		if (admins_list(a, &c, &pg) != E_OK) {
			fputs("aiphotoctl admin list: the database cannot be read\n", stderr);
			return 1;
		}
		for (size_t i = 0; i < pg.n; i++) {
			json_object *o = json_tokener_parse(pg.rows[i]), *v;
			const char *f[3] = {"id", "username", "role"};

			for (size_t k = 0; k < ARRAY_LEN(f); k++)
				printf("%s%s", k ? "\t" : "",
				       json_object_object_get_ex(o, f[k], &v)
				           ? json_object_get_string(v)
				           : "");
			if (json_object_object_get_ex(o, "disabled", &v) &&
			    json_object_get_boolean(v))
				printf("\tdisabled");
			putchar('\n');
			json_object_put(o);
		}
		c.before_id = pg.last_id;
	} while (pg.more);
	return 0;
}

int ctl_admin(struct arena *a, int argc, char **argv)
{
	const char *cmd = argc > 0 ? argv[0] : "";

	if (strcmp(cmd, "add") == 0 && argc >= 2)
		return ctl_admin_add(a, argc - 1, argv + 1);
	if (strcmp(cmd, "role") == 0 && argc == 3) {
		struct admin_change c = {.role = role_parse(argv[2]), .disabled = -1};
		return c.role == ROLE_NONE ? ctl_admin_usage()
		                           : ctl_admin_change(a, cmd, argv[1], &c);
	}
	if ((strcmp(cmd, "disable") == 0 || strcmp(cmd, "enable") == 0) && argc == 2) {
		struct admin_change c = {.role = ROLE_NONE, .disabled = cmd[0] == 'd'};
		return ctl_admin_change(a, cmd, argv[1], &c);
	}
	if (strcmp(cmd, "password") == 0 && argc == 2)
		return ctl_admin_set_password(a, argv[1]);
	if (strcmp(cmd, "list") == 0 && argc == 1)
		return ctl_admin_list(a);
	return ctl_admin_usage();
}
