/* media — see media.h. */
#include "lib/media.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/crypto.h"
#include "lib/image.h"
#include "lib/imgproc.h"
#include "lib/log.h"

static bool media_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* The extensions image_probe hands out, and those of thumbnails (media_thumbs). */
static bool media_ext_ok(const char *ext)
{
	return ext != NULL &&
	       (strcmp(ext, "jpg") == 0 || strcmp(ext, "png") == 0 || strcmp(ext, "webp") == 0 ||
	        strcmp(ext, "t360.jpg") == 0 || strcmp(ext, "t720.jpg") == 0);
}

/* "ab/cd/abcd…(64 hex).ext" with the two directory levels taken from the hash. */
bool media_key_valid(const char *key)
{
	if (key == NULL || strlen(key) < 6 + 64 + 2)
		return false;
	if (!media_hex(key, 2) || key[2] != '/' || !media_hex(key + 3, 2) || key[5] != '/')
		return false;
	if (!media_hex(key + 6, 64) || key[70] != '.' || !media_ext_ok(key + 71))
		return false;
	return memcmp(key, key + 6, 2) == 0 && memcmp(key + 3, key + 8, 2) == 0;
}

/* MEDIA_DIR without trailing slashes (the root "/" stays ""). */
static const char *media_root(struct arena *a)
{
	const char *d = config_get()->media_dir;
	size_t n = strlen(d);

	while (n > 0 && d[n - 1] == '/')
		n--;
	return arena_strndup(a, d, n);
}

const char *media_path(struct arena *a, const char *key)
{
	if (!media_key_valid(key))
		return NULL;
	return arena_printf(a, "%s/%s", media_root(a), key);
}

const char *media_sendfile_path(struct arena *a, const char *key)
{
	return media_backend() == &media_local_ops ? media_path(a, key) : NULL;
}

const char *media_url(struct arena *a, const char *key)
{
	return media_backend()->url(a, key);
}

const char *media_url_key(struct arena *a, const char *url)
{
	const char *end, *p;
	int slashes = 0;

	if (url == NULL)
		return NULL;
	end = url + strcspn(url, "?#");
	p = end;
	while (p > url && slashes < 3)
		if (*--p == '/')
			slashes++;
	if (slashes < 3)
		return NULL;
	p++;
	p = arena_strndup(a, p, (size_t)(end - p));
	return media_key_valid(p) ? p : NULL;
}

/* local: PUBLIC_BASE_URL + "/media/" + key. */
static const char *media_local_url(struct arena *a, const char *key)
{
	const char *base = config_get()->public_base_url;
	size_t n = strlen(base);

	while (n > 0 && base[n - 1] == '/')
		n--;
	return arena_printf(a, "%.*s/media/%s", (int)n, base, key);
}

static int media_mkdir(const char *path)
{
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return 0;
	log_error("media: mkdir %s: %s", path, strerror(errno));
	return -1;
}

static int media_write_all(int fd, const unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* fsync of a directory, so that a rename inside it survives a crash. */
static void media_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (fsync(fd) != 0)
		log_warn("media: fsync %s: %s", dir, strerror(errno));
	close(fd);
}

const char *media_mime(const char *key)
{
	const char *dot = strrchr(key, '.');

	if (dot != NULL && strcmp(dot, ".png") == 0)
		return "image/png";
	if (dot != NULL && strcmp(dot, ".webp") == 0)
		return "image/webp";
	return "image/jpeg";
}

const char *media_key(struct arena *a, const char *sha_hex, const char *ext)
{
	return arena_printf(a, "%.2s/%.2s/%s.%s", sha_hex, sha_hex + 2, sha_hex, ext);
}

enum api_err media_store(struct arena *a, const void *data, size_t len, const char *ext,
                         char sha_hex[65], const char **key)
{
	crypto_sha256_hex(data, len, sha_hex);
	return media_store_hashed(a, data, len, ext, sha_hex, key);
}

enum api_err media_store_hashed(struct arena *a, const void *data, size_t len, const char *ext,
                                const char *sha_hex, const char **key)
{
	const struct media_backend_ops *b = media_backend();
	const char *k;
	long long size;
	enum api_err err;

	*key = NULL;
	if (strlen(sha_hex) != 64 || !media_hex(sha_hex, 64)) {
		log_error("media: refusing a malformed hash");
		return E_INTERNAL;
	}
	if (!media_ext_ok(ext)) {
		log_error("media: refusing extension %s", ext ? ext : "(null)");
		return E_INTERNAL;
	}
	k = media_key(a, sha_hex, ext);
	err = b->stat(a, k, &size);
	if (err == E_OK && size == (long long)len) {
		*key = k; /* the same bytes are there already */
		return E_OK;
	}
	if (err != E_OK && err != E_NOT_FOUND)
		return err;
	if ((err = b->put(a, k, data, len)) == E_OK)
		*key = k;
	return err;
}

/* local: MEDIA_DIR/<key>, written to a temp file in the same directory, fsync'd and renamed
 * over the final name. */
static enum api_err media_local_put(struct arena *a, const char *key, const void *data, size_t len)
{
	const char *root, *dir1, *dir2, *path, *tmp = NULL;
	char rnd[17];
	int fd = -1;
	enum api_err err = E_INTERNAL;

	root = media_root(a);
	dir1 = arena_printf(a, "%s/%.2s", root, key);
	dir2 = arena_printf(a, "%s/%.2s", dir1, key + 3);
	path = arena_printf(a, "%s/%s", root, key);
	if ((*root != '\0' && media_mkdir(root) != 0) || media_mkdir(dir1) != 0 ||
	    media_mkdir(dir2) != 0)
		goto out;
	if (crypto_random_hex(8, rnd) != 0)
		goto out;
	tmp = arena_printf(a, "%s/.tmp-%.64s-%s", dir2, key + 6, rnd);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		log_error("media: create %s: %s", tmp, strerror(errno));
		tmp = NULL;
		goto out;
	}
	if (fchmod(fd, 0644) != 0 || media_write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		log_error("media: write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		log_error("media: close %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		log_error("media: rename to %s: %s", path, strerror(errno));
		goto out;
	}
	tmp = NULL;
	media_sync_dir(dir2);
	err = E_OK;
out:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL)
		unlink(tmp);
	return err;
}

static enum api_err media_local_stat(struct arena *a, const char *key, long long *size)
{
	const char *path = media_path(a, key);
	struct stat st;

	*size = 0;
	if (path == NULL || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return E_NOT_FOUND;
	*size = (long long)st.st_size;
	return E_OK;
}

static enum api_err media_local_get(struct arena *a, const char *key, const unsigned char **data,
                                    size_t *len)
{
	const char *path = media_path(a, key);
	struct stat st;
	unsigned char *buf;
	size_t got = 0;
	int fd;
	enum api_err err = E_NOT_FOUND;

	if (path == NULL)
		return E_NOT_FOUND;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? E_NOT_FOUND
		                                                             : E_INTERNAL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > IMAGE_MAX_BYTES)
		goto out;
	buf = arena_alloc(a, (size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_error("media: read %s: %s", path, strerror(errno));
			err = E_INTERNAL;
			goto out;
		}
		if (n == 0)
			break; /* shrank under us: what was read is all there is */
		got += (size_t)n;
	}
	buf[got] = '\0';
	*data = buf;
	*len = got;
	err = E_OK;
out:
	close(fd);
	return err;
}

const struct media_backend_ops media_local_ops = {
    .name = "local",
    .put = media_local_put,
    .get = media_local_get,
    .stat = media_local_stat,
    .url = media_local_url,
};

const struct media_backend_ops *media_backend(void)
{
	return config_get()->media_backend == CONFIG_MEDIA_S3 ? &media_s3_ops : &media_local_ops;
}

enum api_err media_read(struct arena *a, const char *key, const unsigned char **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	if (!media_key_valid(key))
		return E_NOT_FOUND;
	return media_backend()->get(a, key, data, len);
}

enum api_err media_size(struct arena *a, const char *key, long long *size)
{
	*size = 0;
	if (!media_key_valid(key))
		return E_NOT_FOUND;
	return media_backend()->stat(a, key, size);
}

const char *media_thumb_key(struct arena *a, const char *key, int size)
{
	if (!media_key_valid(key) || (size != IMGPROC_THUMB_SMALL && size != IMGPROC_THUMB_LARGE))
		return NULL;
	return arena_printf(a, "%.70s.t%d.jpg", key, size);
}

enum api_err media_thumbs(struct arena *a, const char *key, const unsigned char *data, size_t len)
{
	static const int sizes[] = {IMGPROC_THUMB_SMALL, IMGPROC_THUMB_LARGE};
	const unsigned char *src = data;
	size_t srclen = len;
	enum api_err err;

	if (!media_key_valid(key) || strstr(key, ".t") != NULL)
		return E_INTERNAL;
	if (src == NULL && (err = media_read(a, key, &src, &srclen)) != E_OK)
		return err;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		const char *tkey = media_thumb_key(a, key, sizes[i]), *got;
		const unsigned char *t;
		char ext[16], sha[65];
		size_t tlen;
		long long have;

		if ((err = media_size(a, tkey, &have)) == E_OK)
			continue; /* made once */
		if (err != E_NOT_FOUND)
			return err;
		if ((err = imgproc_thumb(a, src, srclen, sizes[i], &t, &tlen)) != E_OK)
			return err;
		memcpy(sha, key + 6, 64);
		sha[64] = '\0';
		snprintf(ext, sizeof(ext), "t%d.jpg", sizes[i]);
		if ((err = media_store_hashed(a, t, tlen, ext, sha, &got)) != E_OK)
			return err;
	}
	return E_OK;
}

/* The signature of a media path and expiry (hex) into out, false without a key. */
static bool media_sign(const char *sha_hex, const char *exp, char out[65])
{
	const char *key = config_get()->media_url_key;
	char msg[128];
	int n;

	if (key == NULL)
		return false;
	n = snprintf(msg, sizeof(msg), "/api/v1/media/%.64s\n%.20s", sha_hex, exp);
	crypto_hmac_sha256_hex(key, strlen(key), msg, (size_t)n, out);
	return true;
}

const char *media_signed_url(struct arena *a, const char *sha_hex, long long exp)
{
	const struct config *cfg = config_get();
	const char *base = cfg->media_url_base ? cfg->media_url_base : cfg->public_base_url;
	size_t n = strlen(base);
	char e[24], sig[65];

	snprintf(e, sizeof(e), "%lld", exp);
	if (!media_hex(sha_hex, 64) || strlen(sha_hex) != 64 || !media_sign(sha_hex, e, sig))
		return NULL;
	while (n > 0 && base[n - 1] == '/')
		n--;
	return arena_printf(a, "%.*s/api/v1/media/%s?exp=%s&sig=%s", (int)n, base, sha_hex, e, sig);
}

bool media_sig_ok(const char *sha_hex, const char *exp, const char *sig, long long now)
{
	char want[65];
	long long e = 0;
	size_t n;

	if (sha_hex == NULL || exp == NULL || sig == NULL || strlen(sha_hex) != 64 ||
	    !media_hex(sha_hex, 64) || strlen(sig) != 64)
		return false;
	n = strlen(exp);
	if (n == 0 || n > 18 || strspn(exp, "0123456789") != n)
		return false;
	for (size_t i = 0; i < n; i++)
		e = e * 10 + (exp[i] - '0');
	if (!media_sign(sha_hex, exp, want))
		return false;
	/* the signature first, always, so the answer's time does not tell expired from wrong */
	return crypto_equal(want, sig, 64) && e >= now;
}

const char *media_find(struct arena *a, const char *sha_hex, enum api_err *err)
{
	static const char *const exts[] = {"jpg", "png", "webp"};

	*err = E_NOT_FOUND;
	if (sha_hex == NULL || strlen(sha_hex) != 64 || !media_hex(sha_hex, 64))
		return NULL;
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		const char *key = media_key(a, sha_hex, exts[i]);
		long long size;
		if ((*err = media_size(a, key, &size)) == E_OK)
			return key;
		if (*err != E_NOT_FOUND)
			return NULL;
	}
	return NULL;
}
