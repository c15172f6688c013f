/* runstats — see runstats.h. */
#include "dispatcher/runstats.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

#define RUNSTATS_MAX 2048 /* series in the file */
#define RUNSTATS_KEY 200
#define RUNSTATS_NBUCKETS 12

static const double runstats_le[RUNSTATS_NBUCKETS] = {0.1, 0.25, 0.5, 1,   2.5, 5,
                                                      10,  25,   50,  100, 250, 600};

/* A series: "name{labels}" and its value. */
struct runstats_series {
	char key[RUNSTATS_KEY];
	double v;
};

/* This run's increments. */
static struct runstats_series runstats_inc[RUNSTATS_MAX];
static size_t runstats_ninc;

/* The families, in the order they are written, and whether they add up across runs. */
static const struct {
	const char *name, *type, *help;
	int counter; /* 1: added to the previous value; 0: replaced */
} runstats_families[] = {
    {"aiphoto_dispatch_runs_total", "counter", "Dispatcher runs ended.", 1},
    {"aiphoto_dispatch_claims_total", "counter", "Queue items claimed.", 1},
    {"aiphoto_dispatch_outcomes_total", "counter",
     "Item outcomes by provider model (succeeded, retried, failed, fenced).", 1},
    {"aiphoto_dispatch_refunds_total", "counter",
     "Items failed for good and refunded, by provider model.", 1},
    {"aiphoto_dispatch_item_duration_seconds", "histogram",
     "Time from an item's claim to its outcome, by provider model.", 1},
    {"aiphoto_dispatch_last_run_timestamp_seconds", "gauge", "When the last run ended.", 0},
    {"aiphoto_dispatch_last_run_duration_seconds", "gauge", "How long the last run took.", 0},
};

static void runstats_add(struct runstats_series *set, size_t *n, const char *key, double v)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(set[i].key, key) == 0) {
			set[i].v += v;
			return;
		}
	if (*n >= RUNSTATS_MAX)
		return;
	snprintf(set[*n].key, sizeof(set[*n].key), "%s", key);
	set[*n].v = v;
	(*n)++;
}

static void runstats_addf(double v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void runstats_addf(double v, const char *fmt, ...)
{
	char key[RUNSTATS_KEY];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(key, sizeof(key), fmt, ap);
	va_end(ap);
	runstats_add(runstats_inc, &runstats_ninc, key, v);
}

/* A label value safe inside quotes: no quote, backslash or newline (model names are ours). */
static const char *runstats_clean(const char *s, char *buf, size_t len)
{
	size_t i = 0;

	for (; s != NULL && *s != '\0' && i + 1 < len && i < 64; s++)
		buf[i++] = (*s == '"' || *s == '\\' || *s == '\n') ? '_' : *s;
	buf[i] = '\0';
	return i > 0 ? buf : "-";
}

void runstats_claims(size_t n)
{
	runstats_addf((double)n, "aiphoto_dispatch_claims_total");
}

void runstats_outcome(const char *model, const char *outcome, double seconds)
{
	char m[72];
	int b;

	runstats_clean(model, m, sizeof(m));
	runstats_addf(1, "aiphoto_dispatch_outcomes_total{model=\"%s\",outcome=\"%s\"}", m,
	              outcome);
	if (strcmp(outcome, "failed") == 0)
		runstats_addf(1, "aiphoto_dispatch_refunds_total{model=\"%s\"}", m);
	for (b = 0; b < RUNSTATS_NBUCKETS; b++)
		runstats_addf(
		    seconds <= runstats_le[b] ? 1 : 0,
		    "aiphoto_dispatch_item_duration_seconds_bucket{model=\"%s\",le=\"%g\"}", m,
		    runstats_le[b]);
	runstats_addf(1, "aiphoto_dispatch_item_duration_seconds_bucket{model=\"%s\",le=\"+Inf\"}",
	              m);
	runstats_addf(seconds, "aiphoto_dispatch_item_duration_seconds_sum{model=\"%s\"}", m);
	runstats_addf(1, "aiphoto_dispatch_item_duration_seconds_count{model=\"%s\"}", m);
}

/* Which family a series key belongs to (-1: none of ours). */
static int runstats_family(const char *key)
{
	for (size_t f = 0; f < sizeof(runstats_families) / sizeof(runstats_families[0]); f++) {
		size_t n = strlen(runstats_families[f].name);
		if (strncmp(key, runstats_families[f].name, n) != 0)
			continue;
		if (key[n] == '\0' || key[n] == '{' || strncmp(key + n, "_bucket{", 8) == 0 ||
		    strncmp(key + n, "_sum{", 5) == 0 || strncmp(key + n, "_count{", 7) == 0)
			return (int)f;
	}
	return -1;
}

/* Reads the previous totals: every sample line "key value" of a family of ours. */
static void runstats_read(const char *path, struct runstats_series *set, size_t *n)
{
	char line[512];
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *sp = strrchr(line, ' ');
		int fam;
		if (line[0] == '#' || sp == NULL)
			continue;
		*sp = '\0';
		fam = runstats_family(line);
		if (fam >= 0 && runstats_families[fam].counter)
			runstats_add(set, n, line, strtod(sp + 1, NULL));
	}
	fclose(f);
}

int runstats_write(const char *path, double run_seconds)
{
	static struct runstats_series all[RUNSTATS_MAX];
	size_t n = 0;
	char tmp[4096];
	FILE *f;
	int rc = -1;

	if (path == NULL)
		return 0;
	runstats_read(path, all, &n);
	runstats_addf(1, "aiphoto_dispatch_runs_total");
	runstats_addf(0, "aiphoto_dispatch_claims_total");
	for (size_t i = 0; i < runstats_ninc; i++)
		runstats_add(all, &n, runstats_inc[i].key, runstats_inc[i].v);
	runstats_add(all, &n, "aiphoto_dispatch_last_run_timestamp_seconds", (double)time(NULL));
	runstats_add(all, &n, "aiphoto_dispatch_last_run_duration_seconds", run_seconds);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	f = fopen(tmp, "we");
	if (f == NULL) {
		log_warn("dispatch: cannot write %s: %s", tmp, strerror(errno));
		return -1;
	}
	for (size_t fam = 0; fam < sizeof(runstats_families) / sizeof(runstats_families[0]);
	     fam++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", runstats_families[fam].name,
		        runstats_families[fam].help, runstats_families[fam].name,
		        runstats_families[fam].type);
		for (size_t i = 0; i < n; i++)
			if (runstats_family(all[i].key) == (int)fam)
				fprintf(f, "%s %.17g\n", all[i].key, all[i].v);
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		log_warn("dispatch: cannot write %s: %s", tmp, strerror(errno));
		fclose(f);
		goto out;
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		log_warn("dispatch: cannot replace %s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		unlink(tmp);
	return rc;
}
