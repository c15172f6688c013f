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

/* Thumbnails for the images of one leaf directory "<l1>/<l2>"; counts into *seen, *failed. */
static void ctl_media_leaf(struct arena *a, const char *root, const char *l1, const char *l2,
                           long *seen, long *failed)
{
	const char *dir = arena_printf(a, "%s/%s/%s", root, l1, l2);
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		const char *key;
		enum api_err err;

		if (!ctl_media_image(e->d_name))
			continue;
		key = arena_printf(a, "%s/%s/%s", l1, l2, e->d_name);
		(*seen)++;
		if ((err = media_thumbs(a, key, NULL, 0)) != E_OK) {
			(*failed)++;
			fprintf(stderr, "aiphotoctl media thumbs: %s: %s\n", key,
			        api_err_code(err));
		}
	}
	closedir(d);
}

int ctl_media(int argc, char **argv)
{
	const char *root = config_get()->media_dir;
	struct arena a, level;
	struct dirent *e;
	long seen = 0, failed = 0;
	DIR *d;

	if (argc != 1 || strcmp(argv[0], "thumbs") != 0) {
		fprintf(stderr, "usage: aiphotoctl media thumbs\n");
		return 2;
	}
	if ((d = opendir(root)) == NULL) {
		fprintf(stderr, "aiphotoctl media thumbs: cannot read MEDIA_DIR %s\n", root);
		return 2;
	}
	if (imgproc_init() != 0) {
		closedir(d);
		return 1;
	}
	arena_init(&a, 1 << 16);
	arena_init(&level, 4096);
	while ((e = readdir(d)) != NULL) {
		const char *l1 = e->d_name, *path;
		struct dirent *f;
		DIR *sub;

		if (!ctl_media_level(l1))
			continue;
		l1 = arena_strdup(&level, l1);
		path = arena_printf(&level, "%s/%s", root, l1);
		if ((sub = opendir(path)) == NULL)
			continue;
		while ((f = readdir(sub)) != NULL) {
			if (ctl_media_level(f->d_name))
				ctl_media_leaf(&a, root, l1, f->d_name, &seen, &failed);
			arena_reset(&a);
		}
		closedir(sub);
		arena_reset(&level);
	}
	closedir(d);
	arena_fini(&a);
	arena_fini(&level);
	printf("media thumbs: %ld images, %ld without thumbnails that could not be made\n", seen,
	       failed);
	return failed > 0 ? 1 : 0;
}
