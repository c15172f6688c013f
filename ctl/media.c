/* media — see media.h. */
#include "ctl/media.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/config.h"
#include "lib/imgproc.h"
#include "lib/media.h"

/* A directory level of the store: two lowercase hex digits. */
static bool ctl_media_level(const char *name)
{
	return strlen(name) == 2 && strspn(name, "0123456789abcdef") == 2;
}

/* An image's file name (not a thumbnail's): 64 hex digits, '.', jpg | png | webp. */
static bool ctl_media_image(const char *name)
{
	const char *ext = name + 65;

	return strlen(name) > 65 && strspn(name, "0123456789abcdef") == 64 && name[64] == '.' &&
	       (strcmp(ext, "jpg") == 0 || strcmp(ext, "png") == 0 || strcmp(ext, "webp") == 0);
}

/* What a walk does with each stored file's key (the arena is reset after each leaf
 * directory); returns false to stop the walk. */
typedef bool ctl_media_visit(struct arena *a, const char *key, void *ctx);

/*
 * Calls visit for every file of MEDIA_DIR whose name is a storage key (lib/media:
 * media_key_valid: images and thumbnails; temp files and anything else are skipped), two
 * directory levels deep.  0, or -1 when MEDIA_DIR cannot be read (reported as cmd's).
 */
static int ctl_media_walk(const char *cmd, ctl_media_visit *visit, void *ctx)
{
	const char *root = config_get()->media_dir;
	struct arena a, level;
	struct dirent *e;
	bool go = true;
	DIR *d;

	if ((d = opendir(root)) == NULL) {
		fprintf(stderr, "aiphotoctl media %s: cannot read MEDIA_DIR %s\n", cmd, root);
		return -1;
	}
	arena_init(&a, 1 << 16);
	arena_init(&level, 4096);
	while (go && (e = readdir(d)) != NULL) {
		const char *l1 = e->d_name, *path;
		struct dirent *f;
		DIR *sub;

		if (!ctl_media_level(l1))
			continue;
		l1 = arena_strdup(&level, l1);
		path = arena_printf(&level, "%s/%s", root, l1);
		if ((sub = opendir(path)) == NULL)
			continue;
		while (go && (f = readdir(sub)) != NULL) {
			const char *l2 = f->d_name, *dir;
			struct dirent *g;
			DIR *leaf;

			if (!ctl_media_level(l2))
				continue;
			dir = arena_printf(&a, "%s/%s", path, l2);
			l2 = arena_strdup(&a, l2);
			if ((leaf = opendir(dir)) != NULL) {
				while (go && (g = readdir(leaf)) != NULL) {
					const char *key =
					    arena_printf(&a, "%s/%s/%s", l1, l2, g->d_name);
					if (media_key_valid(key))
						go = visit(&a, key, ctx);
				}
				closedir(leaf);
			}
			arena_reset(&a);
		}
		closedir(sub);
		arena_reset(&level);
	}
	closedir(d);
	arena_fini(&a);
	arena_fini(&level);
	return 0;
}

struct ctl_media_thumbs {
	long seen, failed;
};

/* Both thumbnails of an image key (not of a thumbnail), when missing. */
static bool ctl_media_thumb(struct arena *a, const char *key, void *ctx)
{
	struct ctl_media_thumbs *t = ctx;
	enum api_err err;

	if (!ctl_media_image(key + 6))
		return true;
	t->seen++;
	if ((err = media_thumbs(a, key, NULL, 0)) != E_OK) {
		t->failed++;
		fprintf(stderr, "aiphotoctl media thumbs: %s: %s\n", key, api_err_code(err));
	}
	return true;
}

static int ctl_media_thumbs(void)
{
	struct ctl_media_thumbs t = {0};

	if (imgproc_init() != 0)
		return 1;
	if (ctl_media_walk("thumbs", ctl_media_thumb, &t) != 0)
		return 2;
	printf("media thumbs: %ld images, %ld without thumbnails that could not be made\n", t.seen,
	       t.failed);
	return t.failed > 0 ? 1 : 0;
}

struct ctl_media_migrate {
	bool dry_run;
	long files, present, uploaded, failed;
	const char *stopped; /* the key the store failed on */
};

/*
 * One file of MEDIA_DIR to the bucket: HEAD first; an object of the same size is kept,
 * a missing one (or one of another size: an upload cut short elsewhere) is PUT.  The store
 * failing stops the walk (the next run resumes: what is there is skipped).
 */
static bool ctl_media_migrate_one(struct arena *a, const char *key, void *ctx)
{
	struct ctl_media_migrate *m = ctx;
	const unsigned char *data;
	long long have, size;
	size_t len;
	enum api_err err;

	m->files++;
	if (media_local_ops.stat(a, key, &size) != E_OK)
		return true; /* gone since the directory was read */
	err = media_s3_ops.stat(a, key, &have);
	if (err == E_OK && have == size) {
		m->present++;
		return true;
	}
	if (err != E_OK && err != E_NOT_FOUND) {
		fprintf(stderr, "aiphotoctl media migrate: %s: the bucket answered %s; stopping\n",
		        key, api_err_code(err));
		m->failed++;
		m->stopped = key;
		return false;
	}
	if (m->dry_run) {
		m->uploaded++;
		return true;
	}
	if ((err = media_local_ops.get(a, key, &data, &len)) != E_OK) {
		fprintf(stderr, "aiphotoctl media migrate: %s: cannot read it (%s)\n", key,
		        api_err_code(err));
		m->failed++;
		return true;
	}
	if ((err = media_s3_ops.put(a, key, data, len)) != E_OK) {
		fprintf(stderr, "aiphotoctl media migrate: %s: upload failed (%s); stopping\n", key,
		        api_err_code(err));
		m->failed++;
		m->stopped = key;
		return false;
	}
	m->uploaded++;
	return true;
}

static int ctl_media_migrate(bool dry_run)
{
	const struct config *c = config_get();
	struct ctl_media_migrate m = {.dry_run = dry_run};

	if (c->s3_endpoint == NULL || c->s3_bucket == NULL || c->s3_region == NULL ||
	    c->s3_access_key_id == NULL || c->s3_secret_access_key == NULL) {
		fprintf(stderr, "aiphotoctl media migrate: set S3_ENDPOINT, S3_BUCKET, S3_REGION, "
		                "S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY first "
		                "(docs/storage.md)\n");
		return 2;
	}
	if (ctl_media_walk("migrate", ctl_media_migrate_one, &m) != 0)
		return 2;
	printf("media migrate: %ld files, %ld already in the bucket, %ld %s, %ld failed%s\n",
	       m.files, m.present, m.uploaded, dry_run ? "to upload (dry run)" : "uploaded",
	       m.failed, m.stopped ? " (stopped early: run again to resume)" : "");
	return m.failed > 0 ? 1 : 0;
}

int ctl_media(int argc, char **argv)
{
	if (argc == 1 && strcmp(argv[0], "thumbs") == 0)
		return ctl_media_thumbs();
	if ((argc == 3 || argc == 4) && strcmp(argv[0], "migrate") == 0 &&
	    strcmp(argv[1], "--to") == 0 && strcmp(argv[2], "s3") == 0 &&
	    (argc == 3 || strcmp(argv[3], "--dry-run") == 0))
		return ctl_media_migrate(argc == 4);
	fprintf(stderr, "usage: aiphotoctl media thumbs\n"
	                "       aiphotoctl media migrate --to s3 [--dry-run]\n");
	return 2;
}
