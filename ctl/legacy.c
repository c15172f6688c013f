/* legacy — see legacy.h. */
#include "ctl/legacy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/cache.h"
#include "lib/arena.h"
#include "lib/clouddoc.h"
#include "lib/config.h"
#include "lib/errors.h"
#include "model/legacy.h"

/* Imports made here are audited as aiphotoctl's (admin_id 0). */
static const struct audit_actor ctl_legacy_actor = {0};

struct ctl_legacy_run {
	const char *name; /* the collection, for messages */
	size_t total; /* documents in the file */
	struct timespec last; /* the last progress line */
};

static void ctl_legacy_note(void *ctx, const struct legacy_note *n)
{
	const struct ctl_legacy_run *run = ctx;

	fprintf(stderr, "import %s: line %ld%s%s%s: %s: %s\n", run->name, n->index,
	        n->id ? " _id \"" : "", n->id ? n->id : "", n->id ? "\"" : "",
	        n->malformed ? "malformed" : "rejected", n->reason);
}

static void ctl_legacy_line(const struct ctl_legacy_run *run, const struct legacy_counts *c)
{
	fprintf(
	    stderr,
	    "import %s: %zu/%zu inserted %zu updated %zu skipped %zu malformed %zu rejected %zu\n",
	    run->name, c->documents, run->total, c->inserted, c->updated, c->skipped, c->malformed,
	    c->rejected);
}

static void ctl_legacy_progress(void *ctx, const struct legacy_counts *c)
{
	struct ctl_legacy_run *run = ctx;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if ((now.tv_sec - run->last.tv_sec) * 1000 + (now.tv_nsec - run->last.tv_nsec) / 1000000 <
	    1000)
		return;
	run->last = now;
	ctl_legacy_line(run, c);
}

/* Nonblank lines of f (then rewound); -1 when it cannot be read. */
static long ctl_legacy_count(FILE *f)
{
	char buf[65536];
	long n = 0;
	bool blank = true;
	size_t got;

	while ((got = fread(buf, 1, sizeof(buf), f)) > 0) {
		for (size_t i = 0; i < got; i++) {
			if (buf[i] == '\n') {
				n += !blank;
				blank = true;
			} else if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r') {
				blank = false;
			}
		}
	}
	n += !blank;
	if (ferror(f) || fseek(f, 0, SEEK_SET) != 0)
		return -1;
	return n;
}

/* True when imported users can be bound to the mini program (WECHAT_MP_APPID), or kind
 * needs no binding; otherwise says so. */
static bool ctl_legacy_bound(const char *cmd, enum clouddoc_kind kind)
{
	if (config_get()->wechat_mp_appid != NULL || kind == CLOUDDOC_SCENES)
		return true;
	fprintf(stderr,
	        "aiphotoctl %s: WECHAT_MP_APPID is not set: users are bound to the mini program's "
	        "openids\n",
	        cmd);
	return false;
}

/* Feeds every line of f to imp; E_OK or the error that stopped it (*line: where). */
static enum api_err ctl_legacy_feed(FILE *f, struct legacy_import *imp, long *line)
{
	struct arena a;
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len;
	enum api_err err = E_OK;

	arena_init(&a, 4096);
	*line = 0;
	while (err == E_OK && (len = getline(&buf, &cap, f)) >= 0) {
		const char *why = NULL;
		json_object *doc;

		(*line)++;
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			buf[--len] = '\0';
		if (strspn(buf, " \t") == (size_t)len)
			continue;
		doc = clouddoc_parse_line(&a, buf, (size_t)len, &why);
		if (doc == NULL)
			legacy_import_refuse(imp, *line, clouddoc_guess_id(&a, buf, (size_t)len),
			                     why);
		else
			err = legacy_import_add(imp, *line, doc);
		json_object_put(doc);
		arena_reset(&a);
	}
	if (err == E_OK && ferror(f))
		err = E_INTERNAL;
	free(buf);
	arena_fini(&a);
	return err;
}

int ctl_legacy_import(int argc, char **argv)
{
	enum clouddoc_kind kind = clouddoc_kind_parse(argv[0]);
	struct ctl_legacy_run run = {.name = argv[0]};
	struct legacy_sink sink = {.note = ctl_legacy_note,
	                           .progress = ctl_legacy_progress,
	                           .ctx = &run,
	                           .index_name = "line"};
	struct legacy_import *imp = NULL;
	const struct legacy_counts *c;
	FILE *f = NULL;
	long count, line = 0;
	enum api_err err;
	int rc = 1;

	(void)argc;
	if (kind == CLOUDDOC__MAX) {
		fprintf(stderr,
		        "aiphotoctl import: the collection is users, works, scenes or orders\n");
		return 2;
	}
	if (!ctl_legacy_bound("import", kind))
		return 2;
	if ((f = fopen(argv[1], "r")) == NULL || (count = ctl_legacy_count(f)) < 0) {
		fprintf(stderr, "aiphotoctl import: cannot read %s: %s\n", argv[1],
		        strerror(errno));
		goto out;
	}
	run.total = (size_t)count;
	clock_gettime(CLOCK_MONOTONIC, &run.last);
	imp = legacy_import_new(kind, config_get()->wechat_mp_appid, &ctl_legacy_actor, &sink);
	if ((err = ctl_legacy_feed(f, imp, &line)) == E_OK)
		err = legacy_import_finish(imp);
	c = legacy_import_counts(imp);
	ctl_legacy_line(&run, c);
	if (err != E_OK) {
		fprintf(
		    stderr,
		    "aiphotoctl import: stopped at line %ld: %s (%s); the batches counted above "
		    "are committed, the one in flight is not: run the same command again (what "
		    "was committed is skipped)\n",
		    line,
		    err == E_UNAVAILABLE ? "the database is unavailable"
		    : err == E_INTERNAL  ? "the file could not be read or the database failed"
		                         : "the database refused the batch",
		    api_err_code(err));
		goto out;
	}
	printf("{\"collection\":\"%s\",\"documents\":%zu,\"inserted\":%zu,\"updated\":%zu,"
	       "\"skipped\":%zu,\"malformed\":%zu,\"rejected\":%zu}\n",
	       run.name, c->documents, c->inserted, c->updated, c->skipped, c->malformed,
	       c->rejected);
	if (kind == CLOUDDOC_SCENES && c->inserted + c->updated > 0)
		ctl_cache_after_change("aiphotoctl import");
	rc = c->malformed + c->rejected > 0 ? 3 : 0;
out:
	legacy_import_free(imp);
	if (f != NULL)
		fclose(f);
	return rc;
}

static int ctl_legacy_emit(void *ctx, const char *line, size_t len)
{
	FILE *out = ctx;

	return fwrite(line, 1, len, out) == len && putc('\n', out) != EOF ? 0 : -1;
}

int ctl_legacy_export(int argc, char **argv)
{
	enum clouddoc_kind kind = clouddoc_kind_parse(argv[0]);
	const char *since = NULL;
	char iso[32];
	int64_t ms;
	size_t n = 0;
	enum api_err err;

	if (kind == CLOUDDOC__MAX || kind == CLOUDDOC_SCENES ||
	    (argc != 1 && (argc != 3 || strcmp(argv[1], "--since") != 0))) {
		fprintf(stderr, "usage: aiphotoctl export users|works|orders [--since TIME]\n");
		return 2;
	}
	if (argc == 3) {
		char *end;
		errno = 0;
		ms = strtoll(argv[2], &end, 10);
		if ((end == argv[2] || *end != '\0' || errno != 0) &&
		    clouddoc_iso_ms(argv[2], &ms) < 0) {
			fprintf(stderr, "aiphotoctl export: --since: an ISO 8601 time or "
			                "milliseconds since 1970\n");
			return 2;
		}
		clouddoc_format_ms(ms, iso);
		since = iso;
	}
	if (!ctl_legacy_bound("export", kind))
		return 2;
	err =
	    legacy_export(kind, config_get()->wechat_mp_appid, since, ctl_legacy_emit, stdout, &n);
	if (err == E_OK && fflush(stdout) != 0)
		err = E_INTERNAL;
	if (err != E_OK) {
		fprintf(stderr, "aiphotoctl export %s: stopped after %zu documents: %s\n", argv[0],
		        n,
		        err == E_UNAVAILABLE ? "the database is unavailable"
		                             : "standard output or the database failed");
		return 1;
	}
	fprintf(stderr, "export %s: %zu documents\n", argv[0], n);
	return 0;
}
