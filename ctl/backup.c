/* backup — see backup.h. */
#include "ctl/backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <json-c/json.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/xalloc.h"
#include "model/backup.h"

#define BACKUP_FORMAT 1
#define BACKUP_DEFAULT_DIR "/var/backups/aiphoto"
#define BACKUP_DUMP "db.dump"
#define BACKUP_MEDIA_LIST "media-manifest.tsv"
#define BACKUP_MANIFEST "manifest.json"
#define BACKUP_MEDIA_DIR "media"
#define BACKUP_PARTIAL ".partial-"
/* "20261205T001014.123Z" */
#define BACKUP_NAME_LEN 20

/* One file of the media store. */
struct backup_file {
	char *rel;
	long long size;
	char sha[65];
};

/* What the nftw callback fills (nftw takes no context). */
static struct {
	const char *root, *copy_root; /* copy_root: where --with-media copies, or NULL */
	size_t root_len; /* of root without its trailing slashes */
	struct backup_file *files;
	size_t n, cap;
	long long bytes;
	bool failed;
} backup_walk;

/* snprintf for paths; a path too long for out is cut, so opening it fails and says so. */
static void backup_path(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void backup_path(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, cap, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------ files */

/* mkdir -p of path's directories (path itself included when whole), modes as the umask
 * allows.  0 or -1 (errno). */
static int backup_mkdirs(const char *path, bool whole)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && !(whole && buf[i] == '\0'))
			continue;
		if (buf[i] == '\0' && !whole)
			break;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0777) != 0 && errno != EEXIST)
			return -1;
		buf[i] = c;
	}
	return 0;
}

/* fsync of a file or directory by path. 0 or -1. */
static int backup_fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/*
 * SHA-256 (hex) and size of the file at path; with copy_to, its bytes are written there too
 * (through copy_to.tmp, fsync'd, renamed).  0; 1 when the file is gone (ENOENT, nothing
 * written); -1 after saying why.
 */
static int backup_hash_file(const char *path, const char *copy_to, char hex[65], long long *size)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
	char tmp[4200];
	unsigned mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int in = open(path, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
	ssize_t got;

	*size = 0;
	if (in < 0) {
		if (errno == ENOENT)
			rc = 1;
		else
			fprintf(stderr, "aiphotoctl: cannot read %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (copy_to != NULL) {
		backup_path(tmp, sizeof(tmp), "%s.tmp", copy_to);
		if (backup_mkdirs(copy_to, false) != 0 ||
		    (out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)) < 0) {
			fprintf(stderr, "aiphotoctl: cannot write %s: %s\n", tmp, strerror(errno));
			goto out;
		}
	}
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	while ((got = read(in, buf, sizeof(buf))) > 0) {
		EVP_DigestUpdate(ctx, buf, (size_t)got);
		*size += got;
		if (out >= 0 && write(out, buf, (size_t)got) != got) {
			fprintf(stderr, "aiphotoctl: cannot write %s: %s\n", tmp, strerror(errno));
			goto out;
		}
	}
	if (got < 0) {
		fprintf(stderr, "aiphotoctl: cannot read %s: %s\n", path, strerror(errno));
		goto out;
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	for (unsigned i = 0; i < 32; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[64] = '\0';
	if (out >= 0) {
		if (fsync(out) != 0 || close(out) != 0 || rename(tmp, copy_to) != 0) {
			out = -1;
			fprintf(stderr, "aiphotoctl: cannot write %s: %s\n", copy_to,
			        strerror(errno));
			goto out;
		}
		out = -1;
	}
	rc = 0;
out:
	if (out >= 0) {
		close(out);
		unlink(tmp);
	}
	if (in >= 0)
		close(in);
	EVP_MD_CTX_free(ctx);
	return rc;
}

static int backup_rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((type == FTW_DP ? rmdir(path) : unlink(path)) != 0)
		fprintf(stderr, "aiphotoctl: cannot remove %s: %s\n", path, strerror(errno));
	return 0;
}

/* rm -rf path (never follows symbolic links). */
static void backup_rm_tree(const char *path)
{
	nftw(path, backup_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------------ pg_dump, pg_restore */

/*
 * In the child: the connection settings of conninfo as libpq's environment variables
 * (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE, …), so that no setting, the
 * password least of all, is on a command line.  *dbname gets the database's name (for
 * pg_restore's -d, which needs one).  0, or -1 after saying why.
 */
static int backup_child_env(const char *conninfo, const char **dbname)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
	const char *user = NULL;

	*dbname = NULL;
	if (opts == NULL) {
		/* never echo the string: it may hold the password */
		fprintf(stderr, "aiphotoctl: DATABASE_URL cannot be parsed\n");
		PQfreemem(err);
		return -1;
	}
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (o->envvar == NULL) {
			fprintf(stderr, "aiphotoctl: DATABASE_URL's %s is not passed on\n",
			        o->keyword);
			continue;
		}
		setenv(o->envvar, o->val, 1);
		if (strcmp(o->keyword, "dbname") == 0)
			*dbname = xstrdup(o->val);
		else if (strcmp(o->keyword, "user") == 0)
			user = xstrdup(o->val);
	}
	PQconninfoFree(opts);
	if (*dbname == NULL)
		*dbname = getenv("PGDATABASE") ? getenv("PGDATABASE")
		          : user               ? user
		          : getenv("PGUSER")   ? getenv("PGUSER")
		                               : getenv("USER");
	return *dbname ? 0 : -1;
}

/*
 * Runs prog (pg_dump or pg_restore, from PATH) with args, and "-d <database>" appended when
 * with_db, against the database of conninfo.  0 when it exited 0; else 1 after saying how
 * it ended (its own messages went to stderr before).
 */
static int backup_run(const char *prog, const char *const *args, size_t nargs, bool with_db,
                      const char *conninfo)
{
	int status;
	pid_t pid;

	fflush(NULL);
	if ((pid = fork()) < 0) {
		fprintf(stderr, "aiphotoctl: fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		const char *dbname;
		char **argv = xcalloc(nargs + 4, sizeof(*argv));
		size_t n = 0;

		if (backup_child_env(conninfo, &dbname) != 0)
			_exit(126);
		argv[n++] = xstrdup(prog);
		for (size_t i = 0; i < nargs; i++)
			argv[n++] = xstrdup(args[i]);
		if (with_db) {
			argv[n++] = xstrdup("-d");
			argv[n++] = xstrdup(dbname);
		}
		argv[n] = NULL;
		execvp(prog, argv);
		fprintf(stderr, "aiphotoctl: cannot run %s: %s (install postgresql-client)\n", prog,
		        strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			fprintf(stderr, "aiphotoctl: waitpid: %s\n", strerror(errno));
			return 1;
		}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		fprintf(stderr, "aiphotoctl: %s failed (exit status %d)\n", prog,
		        WEXITSTATUS(status));
	else
		fprintf(stderr, "aiphotoctl: %s was killed by signal %d\n", prog, WTERMSIG(status));
	return 1;
}

/* ------------------------------------------------------------------ the media list */

static int backup_walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	const char *rel = path + backup_walk.root_len;
	const char *base = path + ftw->base;
	struct backup_file *f;
	char copy[4200];
	int rc;

	(void)st;
	if (type != FTW_F || base[0] == '.') /* directories, links, temp files of the store */
		return 0;
	while (*rel == '/')
		rel++;
	if (backup_walk.n == backup_walk.cap) {
		backup_walk.cap = backup_walk.cap ? backup_walk.cap * 2 : 1024;
		backup_walk.files =
		    xrealloc(backup_walk.files, backup_walk.cap * sizeof(*backup_walk.files));
	}
	f = &backup_walk.files[backup_walk.n];
	if (backup_walk.copy_root != NULL)
		backup_path(copy, sizeof(copy), "%s/%s", backup_walk.copy_root, rel);
	rc = backup_hash_file(path, backup_walk.copy_root ? copy : NULL, f->sha, &f->size);
	if (rc == 1)
		return 0; /* removed meanwhile */
	if (rc != 0) {
		backup_walk.failed = true;
		return 1;
	}
	f->rel = xstrdup(rel);
	backup_walk.bytes += f->size;
	backup_walk.n++;
	return 0;
}

static int backup_file_cmp(const void *a, const void *b)
{
	return strcmp(((const struct backup_file *)a)->rel, ((const struct backup_file *)b)->rel);
}

static void backup_walk_free(void)
{
	for (size_t i = 0; i < backup_walk.n; i++)
		free(backup_walk.files[i].rel);
	free(backup_walk.files);
	memset(&backup_walk, 0, sizeof(backup_walk));
}

/* Lists (and with copy_root copies) every file of MEDIA_DIR into list_path, sorted by path.
 * A missing MEDIA_DIR is an empty store.  0, or -1 after saying why. */
static int backup_media_list(const char *media_dir, const char *copy_root, const char *list_path)
{
	struct stat st;
	FILE *f = NULL;
	int rc = -1;

	memset(&backup_walk, 0, sizeof(backup_walk));
	backup_walk.root = media_dir;
	backup_walk.root_len = strlen(media_dir);
	while (backup_walk.root_len > 1 && media_dir[backup_walk.root_len - 1] == '/')
		backup_walk.root_len--;
	backup_walk.copy_root = copy_root;
	if (stat(media_dir, &st) == 0 &&
	    (nftw(media_dir, backup_walk_one, 32, FTW_PHYS) != 0 || backup_walk.failed)) {
		fprintf(stderr, "aiphotoctl backup: cannot list MEDIA_DIR %s\n", media_dir);
		goto out;
	}
	qsort(backup_walk.files, backup_walk.n, sizeof(*backup_walk.files), backup_file_cmp);
	if ((f = fopen(list_path, "we")) == NULL)
		goto out;
	for (size_t i = 0; i < backup_walk.n; i++)
		fprintf(f, "%s\t%lld\t%s\n", backup_walk.files[i].rel, backup_walk.files[i].size,
		        backup_walk.files[i].sha);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		goto out;
	rc = 0;
out:
	if (f != NULL && fclose(f) != 0)
		rc = -1;
	if (rc != 0 && f != NULL)
		fprintf(stderr, "aiphotoctl backup: cannot write %s: %s\n", list_path,
		        strerror(errno));
	return rc;
}

/* ------------------------------------------------------------------ manifest */

/* {"file":…, "bytes":…, "sha256":…} of dir/name, or NULL after saying why. */
static json_object *backup_file_entry(const char *dir, const char *name)
{
	char path[4200], sha[65];
	long long size;
	json_object *o;

	backup_path(path, sizeof(path), "%s/%s", dir, name);
	if (backup_hash_file(path, NULL, sha, &size) != 0) {
		fprintf(stderr, "aiphotoctl backup: %s is missing\n", path);
		return NULL;
	}
	o = json_object_new_object();
	json_object_object_add(o, "file", json_object_new_string(name));
	json_object_object_add(o, "bytes", json_object_new_int64(size));
	json_object_object_add(o, "sha256", json_object_new_string(sha));
	return o;
}

/* Writes dir/manifest.json (fsync'd).  0, or -1 after saying why. */
static int backup_write_manifest(const char *dir, const char *created, long level, bool with_media)
{
	json_object *m = json_object_new_object(), *media;
	json_object *db = backup_file_entry(dir, BACKUP_DUMP);
	json_object *list = backup_file_entry(dir, BACKUP_MEDIA_LIST);
	char path[4200];
	const char *text;
	FILE *f = NULL;
	int rc = -1;

	if (db == NULL || list == NULL) {
		json_object_put(db);
		json_object_put(list);
		goto out;
	}
	media = json_object_new_object();
	json_object_object_add(media, "files", json_object_new_int64((int64_t)backup_walk.n));
	json_object_object_add(media, "bytes", json_object_new_int64(backup_walk.bytes));
	json_object_object_add(media, "copied", json_object_new_boolean(with_media));
	json_object_object_add(m, "format", json_object_new_int(BACKUP_FORMAT));
	json_object_object_add(m, "created", json_object_new_string(created));
	json_object_object_add(m, "aiphoto_version", json_object_new_string(AIPHOTO_VERSION));
	json_object_object_add(m, "migration_level", json_object_new_int64(level));
	json_object_object_add(m, "database", db);
	json_object_object_add(m, "media_manifest", list);
	json_object_object_add(m, "media", media);
	text = json_object_to_json_string_ext(m, JSON_C_TO_STRING_PRETTY |
	                                             JSON_C_TO_STRING_NOSLASHESCAPE);
	backup_path(path, sizeof(path), "%s/%s", dir, BACKUP_MANIFEST);
	if ((f = fopen(path, "we")) == NULL || fprintf(f, "%s\n", text) < 0 || fflush(f) != 0 ||
	    fsync(fileno(f)) != 0) {
		fprintf(stderr, "aiphotoctl backup: cannot write %s: %s\n", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	json_object_put(m);
	return rc;
}

/* A complete backup's directory name: 20261205T001014.123Z. */
static bool backup_name_ok(const char *s)
{
	static const char shape[] = "ddddddddTdddddd.dddZ";

	if (strlen(s) != BACKUP_NAME_LEN)
		return false;
	for (size_t i = 0; i < BACKUP_NAME_LEN; i++) {
		char want = shape[i];
		if (want == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != want)
			return false;
	}
	return true;
}

/* ------------------------------------------------------------------ verify */

/* Checks one manifest entry ("database" or "media_manifest") against its file.  0 or 1. */
static int backup_check_entry(const char *dir, json_object *m, const char *key)
{
	json_object *e, *file, *bytes, *sha;
	char path[4200], got[65];
	long long size;

	if (!json_object_object_get_ex(m, key, &e) ||
	    !json_object_object_get_ex(e, "file", &file) ||
	    !json_object_object_get_ex(e, "bytes", &bytes) ||
	    !json_object_object_get_ex(e, "sha256", &sha) ||
	    strchr(json_object_get_string(file), '/') != NULL) {
		fprintf(stderr, "aiphotoctl: %s/%s has no valid \"%s\"\n", dir, BACKUP_MANIFEST,
		        key);
		return 1;
	}
	backup_path(path, sizeof(path), "%s/%s", dir, json_object_get_string(file));
	if (backup_hash_file(path, NULL, got, &size) != 0) {
		fprintf(stderr, "aiphotoctl: %s is missing\n", path);
		return 1;
	}
	if (size != json_object_get_int64(bytes) || strcmp(got, json_object_get_string(sha)) != 0) {
		fprintf(stderr,
		        "aiphotoctl: %s is damaged: %lld bytes, sha256 %s; the manifest says %lld "
		        "bytes, sha256 %s\n",
		        path, size, got, (long long)json_object_get_int64(bytes),
		        json_object_get_string(sha));
		return 1;
	}
	return 0;
}

/*
 * Calls fn for each line (path, size, sha256) of dir/media-manifest.tsv until it returns
 * non-zero.  0 when every line was taken; 1 after saying why.
 */
static int backup_each_media(const char *dir,
                             int (*fn)(const char *dir, const char *rel, long long size,
                                       const char *sha, void *ctx),
                             void *ctx)
{
	char path[4200], line[4400];
	FILE *f;
	int rc = 0;

	backup_path(path, sizeof(path), "%s/%s", dir, BACKUP_MEDIA_LIST);
	if ((f = fopen(path, "re")) == NULL) {
		fprintf(stderr, "aiphotoctl: cannot read %s: %s\n", path, strerror(errno));
		return 1;
	}
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
		char *nl = t2 ? strchr(t2 + 1, '\n') : NULL;

		if (nl == NULL || nl - t2 - 1 != 64 || strstr(line, "..") != NULL ||
		    line[0] == '/') {
			fprintf(stderr, "aiphotoctl: %s: a line is not path TAB size TAB sha256\n",
			        path);
			rc = 1;
			break;
		}
		*t1 = *t2 = *nl = '\0';
		rc = fn(dir, line, strtoll(t1 + 1, NULL, 10), t2 + 1, ctx);
	}
	fclose(f);
	return rc;
}

/* One copied media file of a backup matches the list.  0 or 1. */
static int backup_check_media(const char *dir, const char *rel, long long size, const char *sha,
                              void *ctx)
{
	char path[4200], got[65];
	long long n;

	(void)ctx;
	backup_path(path, sizeof(path), "%s/%s/%s", dir, BACKUP_MEDIA_DIR, rel);
	if (backup_hash_file(path, NULL, got, &n) != 0 || n != size || strcmp(got, sha) != 0) {
		fprintf(stderr, "aiphotoctl: %s is missing or damaged\n", path);
		return 1;
	}
	return 0;
}

/* Reads dir/manifest.json and checks every file it names (and the media copy, when there is
 * one).  The manifest (caller puts it), or NULL after saying what is wrong. */
static json_object *backup_verify(const char *dir)
{
	char path[4200];
	json_object *m, *v;
	struct stat st;

	backup_path(path, sizeof(path), "%s/%s", dir, BACKUP_MANIFEST);
	if ((m = json_object_from_file(path)) == NULL) {
		fprintf(stderr, "aiphotoctl: %s is missing or not JSON: not a complete backup\n",
		        path);
		return NULL;
	}
	if (!json_object_object_get_ex(m, "format", &v) ||
	    json_object_get_int(v) != BACKUP_FORMAT ||
	    !json_object_object_get_ex(m, "migration_level", &v)) {
		fprintf(stderr, "aiphotoctl: %s: not a backup of format %d\n", path, BACKUP_FORMAT);
		goto fail;
	}
	if (backup_check_entry(dir, m, "database") != 0 ||
	    backup_check_entry(dir, m, "media_manifest") != 0)
		goto fail;
	backup_path(path, sizeof(path), "%s/%s", dir, BACKUP_MEDIA_DIR);
	if (stat(path, &st) == 0 && backup_each_media(dir, backup_check_media, NULL) != 0)
		goto fail;
	return m;
fail:
	json_object_put(m);
	return NULL;
}

/* ------------------------------------------------------------------ retention */

static int backup_scan_filter(const struct dirent *e)
{
	return backup_name_ok(e->d_name) || strncmp(e->d_name, BACKUP_PARTIAL, 9) == 0;
}

/* Under the lock: removes partial directories of dead runs and, with keep > 0, the oldest
 * complete backups beyond the newest keep.  Prints what it removed. */
static void backup_retention(const char *dir, long keep)
{
	struct dirent **list = NULL;
	int n = scandir(dir, &list, backup_scan_filter, alphasort), complete = 0;
	char path[4200];

	for (int i = 0; i < n; i++)
		complete += backup_name_ok(list[i]->d_name);
	for (int i = 0; i < n; i++) {
		const char *name = list[i]->d_name;
		bool partial = !backup_name_ok(name);

		backup_path(path, sizeof(path), "%s/%s", dir, name);
		if (partial) {
			backup_rm_tree(path);
		} else if (keep > 0 && complete > keep) {
			backup_rm_tree(path);
			complete--;
			printf("removed old backup %s\n", path);
		}
		free(list[i]);
	}
	free(list);
}

/* ------------------------------------------------------------------ commands */

/* The lock of dir (one backup run at a time): its fd, or -1 after saying why. */
static int backup_lock(const char *dir)
{
	char path[4200];
	int fd;

	backup_path(path, sizeof(path), "%s/.lock", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		fprintf(stderr, "aiphotoctl backup: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		fprintf(stderr, "aiphotoctl backup: another backup into %s is running\n", dir);
		close(fd);
		return -1;
	}
	return fd;
}

/* The new backup's name (UTC, milliseconds) into name, and its ISO time into created. */
static void backup_now(char name[BACKUP_NAME_LEN + 1], char created[32])
{
	struct timespec ts;
	struct tm tm;
	char sec[20];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(sec, sizeof(sec), "%Y%m%dT%H%M%S", &tm);
	snprintf(name, BACKUP_NAME_LEN + 1, "%.15s.%03dZ", sec, (int)(ts.tv_nsec / 1000000));
	strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(created, 32, "%.19s.%03dZ", sec, (int)(ts.tv_nsec / 1000000));
}

/* The backup itself into dir/name through dir/.partial-name.  0, or 1 after saying why (the
 * partial directory removed). */
static int backup_make(const char *dir, bool with_media, long level, char *final, size_t cap)
{
	const struct config *c = config_get();
	char name[BACKUP_NAME_LEN + 1], created[32], tmp[4200], path[4200], media[4200];
	int rc = 1;

	backup_now(name, created);
	backup_path(tmp, sizeof(tmp), "%s/%s%s", dir, BACKUP_PARTIAL, name);
	backup_path(final, cap, "%s/%s", dir, name);
	if (mkdir(tmp, 0700) != 0) {
		fprintf(stderr, "aiphotoctl backup: cannot create %s: %s\n", tmp, strerror(errno));
		return 1;
	}
	backup_path(path, sizeof(path), "%s/%s", tmp, BACKUP_DUMP);
	{
		const char *args[] = {"--format=custom", "--no-password", "-f", path};
		if (backup_run("pg_dump", args, 4, false, c->database_url) != 0 ||
		    backup_fsync_path(path) != 0)
			goto out;
	}
	backup_path(media, sizeof(media), "%s/%s", tmp, BACKUP_MEDIA_DIR);
	backup_path(path, sizeof(path), "%s/%s", tmp, BACKUP_MEDIA_LIST);
	if ((with_media && mkdir(media, 0700) != 0) ||
	    backup_media_list(c->media_dir, with_media ? media : NULL, path) != 0)
		goto out;
	if (backup_write_manifest(tmp, created, level, with_media) != 0 ||
	    backup_fsync_path(tmp) != 0)
		goto out;
	if (rename(tmp, final) != 0) {
		fprintf(stderr, "aiphotoctl backup: cannot rename %s: %s\n", tmp, strerror(errno));
		goto out;
	}
	backup_fsync_path(dir);
	printf("backup %s: %s, %zu media files (%lld bytes)%s, migration level %ld\n", final,
	       BACKUP_DUMP, backup_walk.n, backup_walk.bytes, with_media ? " copied" : " listed",
	       level);
	rc = 0;
out:
	if (rc != 0) {
		backup_rm_tree(tmp);
		fprintf(stderr, "aiphotoctl backup: failed; no backup was written\n");
	}
	backup_walk_free();
	return rc;
}

int ctl_backup(int argc, char **argv)
{
	const char *dir = BACKUP_DEFAULT_DIR;
	char final[4200];
	bool with_media = false;
	long keep = 0, level;
	int64_t relations;
	int lock = -1, rc = 1;
	enum api_err err;

	umask(077); /* a dump holds every secret of the database */
	if (argc == 2 && strcmp(argv[0], "--verify") == 0) {
		json_object *m = backup_verify(argv[1]);
		if (m == NULL)
			return 1;
		json_object_put(m);
		printf("backup %s: complete, every checksum matches\n", argv[1]);
		return 0;
	}
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--keep") == 0 && i + 1 < argc) {
			if (config_parse_long(argv[++i], 1, 100000, &keep) < 0) {
				fprintf(stderr, "aiphotoctl backup: --keep must be 1..100000\n");
				return 2;
			}
		} else if (strcmp(argv[i], "--with-media") == 0)
			with_media = true;
		else {
			fprintf(stderr, "usage: aiphotoctl backup [--dir DIR] [--keep N] "
			                "[--with-media] | backup --verify PATH\n");
			return 2;
		}
	}
	/* the database first: when it is down nothing is created at all */
	if ((err = backup_db_state(&relations, &level)) != E_OK) {
		fprintf(stderr,
		        "aiphotoctl backup: cannot read the database (%s); no backup was "
		        "written\n",
		        api_err_code(err));
		return 1;
	}
	if (backup_mkdirs(dir, true) != 0) {
		fprintf(stderr, "aiphotoctl backup: cannot create %s: %s\n", dir, strerror(errno));
		return 1;
	}
	if ((lock = backup_lock(dir)) < 0)
		return 1;
	backup_retention(dir, 0); /* partial directories of runs that died */
	if (backup_make(dir, with_media, level, final, sizeof(final)) != 0)
		goto out;
	if (keep > 0)
		backup_retention(dir, keep);
	rc = 0;
out:
	close(lock);
	return rc;
}

/* Copies one media file of the backup that MEDIA_DIR lacks; counts into ctx[0].  0 or 1. */
static int backup_restore_media(const char *dir, const char *rel, long long size, const char *sha,
                                void *ctx)
{
	char from[4200], to[4200], got[65];
	long long n;
	struct stat st;

	backup_path(to, sizeof(to), "%s/%s", config_get()->media_dir, rel);
	if (stat(to, &st) == 0)
		return 0;
	backup_path(from, sizeof(from), "%s/%s/%s", dir, BACKUP_MEDIA_DIR, rel);
	if (backup_hash_file(from, to, got, &n) != 0 || n != size || strcmp(got, sha) != 0) {
		fprintf(stderr, "aiphotoctl restore: %s was not restored\n", rel);
		return 1;
	}
	((long *)ctx)[0]++;
	return 0;
}

int ctl_restore(int argc, char **argv)
{
	const char *dir = NULL;
	bool clean = false, usage = false;
	json_object *m = NULL, *v;
	long want, level = -1, copied = 0;
	int64_t relations = 0;
	char path[4200];
	struct stat st;
	enum api_err err;
	int rc = 1;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--clean") == 0)
			clean = true;
		else if (dir == NULL && argv[i][0] != '-')
			dir = argv[i];
		else
			usage = true;
	}
	if (dir == NULL || usage) {
		fprintf(stderr, "usage: aiphotoctl restore PATH [--clean]\n");
		return 2;
	}
	umask(022); /* restored media: modes as media_store gives them */
	if ((m = backup_verify(dir)) == NULL) {
		fprintf(stderr, "aiphotoctl restore: refused: the backup does not check out\n");
		return 1;
	}
	json_object_object_get_ex(m, "migration_level", &v);
	want = (long)json_object_get_int64(v);
	if ((err = backup_db_state(&relations, &level)) != E_OK) {
		fprintf(stderr, "aiphotoctl restore: cannot read the database (%s)\n",
		        api_err_code(err));
		goto out;
	}
	if (relations > 0 && !clean) {
		fprintf(stderr,
		        "aiphotoctl restore: refused: the database is not empty (%lld tables, "
		        "views or sequences); restore into an empty database (createdb), or pass "
		        "--clean to drop what the backup holds first\n",
		        (long long)relations);
		goto out;
	}
	backup_path(path, sizeof(path), "%s/%s", dir, BACKUP_DUMP);
	{
		const char *plain[] = {"--exit-on-error", "--single-transaction", "--no-owner",
		                       "--no-password", path};
		const char *cleaning[] = {
		    "--exit-on-error", "--single-transaction", "--no-owner", "--no-password",
		    "--clean",         "--if-exists",          path};
		if (clean ? backup_run("pg_restore", cleaning, 7, true, config_get()->database_url)
		          : backup_run("pg_restore", plain, 5, true, config_get()->database_url)) {
			fprintf(stderr,
			        "aiphotoctl restore: pg_restore failed; its transaction was "
			        "rolled back\n");
			goto out;
		}
	}
	if ((err = backup_db_state(&relations, &level)) != E_OK || level != want) {
		fprintf(stderr,
		        "aiphotoctl restore: the restored schema is at migration level %ld, the "
		        "backup's is %ld\n",
		        level, want);
		goto out;
	}
	backup_path(path, sizeof(path), "%s/%s", dir, BACKUP_MEDIA_DIR);
	if (stat(path, &st) == 0 && backup_each_media(dir, backup_restore_media, &copied) != 0)
		goto out;
	printf("restored %s: migration level %ld, %ld media files copied\n", dir, level, copied);
	if (level != AIPHOTO_SCHEMA_VERSION)
		printf("note: this program expects migration level %d: run aiphotoctl migrate\n",
		       AIPHOTO_SCHEMA_VERSION);
	rc = 0;
out:
	json_object_put(m);
	return rc;
}
