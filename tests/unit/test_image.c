/*
 * test_image — image_probe on hand-built headers of the three formats (limits, broken
 * headers, files that only pretend) and the content-addressed media store.
 */
#include <check.h>
#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/image.h"
#include "lib/media.h"
#include "tests/unit/suites.h"

static void im_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static void im_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

/* Signature + IHDR (+ a CRC field that the probe does not read): 33 bytes. */
static size_t im_png(unsigned char *b, uint32_t w, uint32_t h, unsigned depth, unsigned color)
{
	static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

	memcpy(b, sig, 8);
	im_be32(b + 8, 13);
	memcpy(b + 12, "IHDR", 4);
	im_be32(b + 16, w);
	im_be32(b + 20, h);
	b[24] = (unsigned char)depth;
	b[25] = (unsigned char)color;
	b[26] = b[27] = b[28] = 0;
	im_be32(b + 29, 0);
	return 33;
}

/* SOI, APP0 (JFIF), a DQT-sized filler segment, then a frame header with marker sof. */
static size_t im_jpeg(unsigned char *b, unsigned sof, unsigned w, unsigned h)
{
	static const unsigned char head[] = {0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J',  'F',  'I',
	                                     'F',  0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01,
	                                     0x00, 0x00, 0xff, 0xdb, 0x00, 0x04, 0x00, 0x01};
	size_t n = sizeof(head);

	memcpy(b, head, n);
	b[n++] = 0xff;
	b[n++] = (unsigned char)sof;
	b[n++] = 0x00;
	b[n++] = 17; /* 8 + 3 × 3 components */
	b[n++] = 8;
	b[n++] = (unsigned char)(h >> 8);
	b[n++] = (unsigned char)h;
	b[n++] = (unsigned char)(w >> 8);
	b[n++] = (unsigned char)w;
	b[n++] = 3;
	for (int c = 1; c <= 3; c++) {
		b[n++] = (unsigned char)c;
		b[n++] = c == 1 ? 0x22 : 0x11;
		b[n++] = c == 1 ? 0 : 1;
	}
	b[n++] = 0xff;
	b[n++] = 0xd9;
	return n;
}

static size_t im_riff(unsigned char *b, const char *fourcc, uint32_t csize, size_t total)
{
	memcpy(b, "RIFF", 4);
	im_le32(b + 4, (uint32_t)(total - 8));
	memcpy(b + 8, "WEBP", 4);
	memcpy(b + 12, fourcc, 4);
	im_le32(b + 16, csize);
	return total;
}

static size_t im_vp8(unsigned char *b, unsigned w, unsigned h)
{
	memset(b, 0, 40);
	im_riff(b, "VP8 ", 20, 40);
	b[20] = 0x10; /* key frame, version 0, shown */
	b[23] = 0x9d;
	b[24] = 0x01;
	b[25] = 0x2a;
	b[26] = (unsigned char)w;
	b[27] = (unsigned char)(w >> 8);
	b[28] = (unsigned char)h;
	b[29] = (unsigned char)(h >> 8);
	return 40;
}

static size_t im_vp8l(unsigned char *b, unsigned w, unsigned h)
{
	memset(b, 0, 32);
	im_riff(b, "VP8L", 12, 32);
	b[20] = 0x2f;
	im_le32(b + 21, (uint32_t)(w - 1) | ((uint32_t)(h - 1) << 14) | (1u << 28));
	return 32;
}

static size_t im_vp8x(unsigned char *b, uint32_t w, uint32_t h)
{
	memset(b, 0, 40);
	im_riff(b, "VP8X", 10, 40);
	b[20] = 0x10; /* alpha */
	b[24] = (unsigned char)(w - 1);
	b[25] = (unsigned char)((w - 1) >> 8);
	b[26] = (unsigned char)((w - 1) >> 16);
	b[27] = (unsigned char)(h - 1);
	b[28] = (unsigned char)((h - 1) >> 8);
	b[29] = (unsigned char)((h - 1) >> 16);
	return 40;
}

START_TEST(image_png_ok)
{
	unsigned char b[64];
	struct image_info in;
	size_t n = im_png(b, 64, 48, 8, 6);

	ck_assert_int_eq(image_probe(b, n, &in), 0);
	ck_assert_int_eq(in.type, IMAGE_PNG);
	ck_assert_str_eq(in.mime, "image/png");
	ck_assert_str_eq(in.ext, "png");
	ck_assert_uint_eq(in.width, 64);
	ck_assert_uint_eq(in.height, 48);
	n = im_png(b, 1, 1, 1, 0);
	ck_assert_int_eq(image_probe(b, n, &in), 0);
	n = im_png(b, 3, 3, 4, 3);
	ck_assert_int_eq(image_probe(b, n, &in), 0);
	n = im_png(b, 3, 3, 16, 2);
	ck_assert_int_eq(image_probe(b, n, &in), 0);
	/* the CRC is not needed: the probe stops after the IHDR fields */
	ck_assert_int_eq(image_probe(b, 29, &in), 0);
}
END_TEST

START_TEST(image_png_limits)
{
	unsigned char b[64];
	struct image_info in;

	im_png(b, 30000, 30000, 8, 2); /* the classic decompression bomb header */
	ck_assert_int_eq(image_probe(b, 33, &in), -2);
	ck_assert_int_eq(in.type, IMAGE_PNG);
	ck_assert_uint_eq(in.width, 30000);
	ck_assert_uint_eq(in.height, 30000);
	im_png(b, 8000, 5000, 8, 2); /* exactly 40 megapixels */
	ck_assert_int_eq(image_probe(b, 33, &in), 0);
	im_png(b, 8001, 5000, 8, 2);
	ck_assert_int_eq(image_probe(b, 33, &in), -2);
	im_png(b, 40000001, 1, 8, 2);
	ck_assert_int_eq(image_probe(b, 33, &in), -2);
	im_png(b, 0, 10, 8, 2);
	ck_assert_int_eq(image_probe(b, 33, &in), -2);
	im_png(b, 10, 0, 8, 2);
	ck_assert_int_eq(image_probe(b, 33, &in), -2);
	/* 2^31 and more is not a PNG dimension at all */
	im_png(b, 0x80000000u, 1, 8, 2);
	ck_assert_int_eq(image_probe(b, 33, &in), -1);
}
END_TEST

START_TEST(image_png_broken)
{
	unsigned char b[64];
	struct image_info in;

	im_png(b, 10, 10, 8, 2);
	b[11] = 12; /* IHDR length */
	ck_assert_int_eq(image_probe(b, 33, &in), -1);
	ck_assert_int_eq(in.type, IMAGE_NONE);
	im_png(b, 10, 10, 8, 2);
	memcpy(b + 12, "IDAT", 4); /* IHDR must come first */
	ck_assert_int_eq(image_probe(b, 33, &in), -1);
	im_png(b, 10, 10, 4, 2); /* RGB needs 8 or 16 bits */
	ck_assert_int_eq(image_probe(b, 33, &in), -1);
	im_png(b, 10, 10, 16, 3); /* palette up to 8 bits */
	ck_assert_int_eq(image_probe(b, 33, &in), -1);
	im_png(b, 10, 10, 8, 5); /* no such colour type */
	ck_assert_int_eq(image_probe(b, 33, &in), -1);
	im_png(b, 10, 10, 8, 2);
	b[26] = 1; /* compression method */
	ck_assert_int_eq(image_probe(b, 33, &in), -1);
	im_png(b, 10, 10, 8, 2);
	b[28] = 2; /* interlace method */
	ck_assert_int_eq(image_probe(b, 33, &in), -1);
	im_png(b, 10, 10, 8, 2);
	for (size_t len = 0; len < 29; len++)
		ck_assert_int_eq(image_probe(b, len, &in), -1);
}
END_TEST

START_TEST(image_jpeg_ok)
{
	unsigned char b[128];
	struct image_info in;
	size_t n = im_jpeg(b, 0xc0, 640, 480);

	ck_assert_int_eq(image_probe(b, n, &in), 0);
	ck_assert_int_eq(in.type, IMAGE_JPEG);
	ck_assert_str_eq(in.mime, "image/jpeg");
	ck_assert_str_eq(in.ext, "jpg");
	ck_assert_uint_eq(in.width, 640);
	ck_assert_uint_eq(in.height, 480);
	/* progressive and arithmetic-coded frames count too */
	n = im_jpeg(b, 0xc2, 8, 9);
	ck_assert_int_eq(image_probe(b, n, &in), 0);
	ck_assert_uint_eq(in.width, 8);
	ck_assert_uint_eq(in.height, 9);
	n = im_jpeg(b, 0xc9, 8, 9);
	ck_assert_int_eq(image_probe(b, n, &in), 0);
	/* 65535 × 65535 is over the pixel limit */
	n = im_jpeg(b, 0xc0, 65535, 65535);
	ck_assert_int_eq(image_probe(b, n, &in), -2);
	/* height 0 (defined later by a DNL segment) counts as no pixels */
	n = im_jpeg(b, 0xc0, 100, 0);
	ck_assert_int_eq(image_probe(b, n, &in), -2);
}
END_TEST

START_TEST(image_jpeg_markers)
{
	unsigned char b[160], c[160];
	struct image_info in;
	size_t n = im_jpeg(b, 0xc0, 30, 20), m;

	/* fill bytes before a marker, and a standalone RST marker, are stepped over */
	memcpy(c, b, 20);
	m = 20;
	c[m++] = 0xff;
	c[m++] = 0xff;
	c[m++] = 0xff;
	c[m++] = 0xd3;
	memcpy(c + m, b + 20, n - 20);
	m += n - 20;
	ck_assert_int_eq(image_probe(c, m, &in), 0);
	ck_assert_uint_eq(in.width, 30);
	/* DHT (C4), JPG (C8) and DAC (CC) are not frame headers */
	for (unsigned mk = 0xc4; mk <= 0xcc; mk += 4) {
		n = im_jpeg(b, mk, 30, 20);
		ck_assert_int_eq(image_probe(b, n, &in), -1);
	}
	/* start of scan before a frame header */
	n = im_jpeg(b, 0xc0, 30, 20);
	b[21] = 0xda;
	ck_assert_int_eq(image_probe(b, n, &in), -1);
	/* a segment length running past the data */
	n = im_jpeg(b, 0xc0, 30, 20);
	b[4] = 0x7f;
	ck_assert_int_eq(image_probe(b, n, &in), -1);
	/* a segment length below 2 */
	n = im_jpeg(b, 0xc0, 30, 20);
	b[4] = 0;
	b[5] = 1;
	ck_assert_int_eq(image_probe(b, n, &in), -1);
	/* a frame header whose length does not match its components */
	n = im_jpeg(b, 0xc0, 30, 20);
	b[35] = 2; /* two components in a 17-byte header */
	ck_assert_int_eq(image_probe(b, n, &in), -1);
	/* garbage where a marker is expected */
	n = im_jpeg(b, 0xc0, 30, 20);
	b[20] = 0x00;
	ck_assert_int_eq(image_probe(b, n, &in), -1);
	/* SOI and EOI only */
	ck_assert_int_eq(image_probe((const unsigned char *)"\xff\xd8\xff\xd9", 4, &in), -1);
	/* every prefix that stops before the frame header is broken */
	n = im_jpeg(b, 0xc0, 30, 20);
	for (size_t len = 0; len < 26 + 2 + 17; len++)
		ck_assert_int_eq(image_probe(b, len, &in), -1);
	ck_assert_int_eq(image_probe(b, 26 + 2 + 17, &in), 0);
}
END_TEST

START_TEST(image_webp_ok)
{
	unsigned char b[64];
	struct image_info in;
	size_t n = im_vp8(b, 300, 200);

	ck_assert_int_eq(image_probe(b, n, &in), 0);
	ck_assert_int_eq(in.type, IMAGE_WEBP);
	ck_assert_str_eq(in.mime, "image/webp");
	ck_assert_str_eq(in.ext, "webp");
	ck_assert_uint_eq(in.width, 300);
	ck_assert_uint_eq(in.height, 200);
	/* the scale bits above the 14-bit size are not part of it */
	b[27] |= 0xc0;
	ck_assert_int_eq(image_probe(b, n, &in), 0);
	ck_assert_uint_eq(in.width, 300);
	n = im_vp8l(b, 16384, 2);
	ck_assert_int_eq(image_probe(b, n, &in), 0);
	ck_assert_uint_eq(in.width, 16384);
	ck_assert_uint_eq(in.height, 2);
	n = im_vp8x(b, 1000, 800);
	ck_assert_int_eq(image_probe(b, n, &in), 0);
	ck_assert_uint_eq(in.width, 1000);
	ck_assert_uint_eq(in.height, 800);
	n = im_vp8x(b, 1u << 24, 1u << 24);
	ck_assert_int_eq(image_probe(b, n, &in), -2);
	ck_assert_uint_eq(in.width, 1u << 24);
	n = im_vp8(b, 0, 5);
	ck_assert_int_eq(image_probe(b, n, &in), -2);
}
END_TEST

START_TEST(image_webp_broken)
{
	unsigned char b[64];
	struct image_info in;
	size_t n = im_vp8(b, 30, 20);

	b[20] |= 1; /* an inter frame cannot start a file */
	ck_assert_int_eq(image_probe(b, n, &in), -1);
	n = im_vp8(b, 30, 20);
	b[24] = 0x02; /* start code */
	ck_assert_int_eq(image_probe(b, n, &in), -1);
	n = im_vp8l(b, 30, 20);
	b[20] = 0x2e; /* signature */
	ck_assert_int_eq(image_probe(b, n, &in), -1);
	n = im_vp8l(b, 30, 20);
	b[24] |= 0x20; /* version 1 */
	ck_assert_int_eq(image_probe(b, n, &in), -1);
	n = im_vp8x(b, 30, 20);
	memcpy(b + 12, "ALPH", 4); /* not a chunk a file starts with */
	ck_assert_int_eq(image_probe(b, n, &in), -1);
	n = im_vp8x(b, 30, 20);
	memcpy(b + 8, "WAVE", 4);
	ck_assert_int_eq(image_probe(b, n, &in), -1);
	n = im_vp8(b, 30, 20);
	for (size_t len = 0; len < 30; len++)
		ck_assert_int_eq(image_probe(b, len, &in), -1);
	n = im_vp8l(b, 30, 20);
	for (size_t len = 0; len < 25; len++)
		ck_assert_int_eq(image_probe(b, len, &in), -1);
	n = im_vp8x(b, 30, 20);
	for (size_t len = 0; len < 30; len++)
		ck_assert_int_eq(image_probe(b, len, &in), -1);
}
END_TEST

START_TEST(image_not_images)
{
	static const char *const fakes[] = {
	    "MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00\xb8\x00\x00\x00",
	    "\x7f"
	    "ELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00\x3e\x00",
	    "<!DOCTYPE html><html><body><script>alert(1)</script></body></html>",
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>",
	    "<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"></svg>",
	    "PK\x03\x04\x14\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
	    "GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00\x21\xf9\x04",
	    "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
	    "BM\x46\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00\x01\x00",
	    "\x89PNX\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02",
	};
	struct image_info in;

	for (size_t i = 0; i < sizeof(fakes) / sizeof(fakes[0]); i++) {
		ck_assert_int_eq(image_probe((const unsigned char *)fakes[i], 20, &in), -1);
		ck_assert_int_eq(in.type, IMAGE_NONE);
	}
	ck_assert_int_eq(image_probe(NULL, 0, &in), -1);
	ck_assert_int_eq(image_probe((const unsigned char *)"", 0, &in), -1);
}
END_TEST

/* A JPEG with a ZIP archive appended is still a JPEG: only the header decides. */
START_TEST(image_polyglot)
{
	unsigned char b[256];
	struct image_info in;
	size_t n = im_jpeg(b, 0xc0, 16, 16);

	memcpy(b + n, "PK\x03\x04", 4);
	memset(b + n + 4, 0, 40);
	ck_assert_int_eq(image_probe(b, n + 44, &in), 0);
	ck_assert_int_eq(in.type, IMAGE_JPEG);
	/* the other way round (a ZIP first) is not an image */
	memmove(b + 4, b, n);
	memcpy(b, "PK\x03\x04", 4);
	ck_assert_int_eq(image_probe(b, n + 4, &in), -1);
}
END_TEST

/* ---- the media store ---- */

static char im_dir[256];
static struct arena im_arena;

static int im_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void im_media_setup(void)
{
	const char *tmp = getenv("TMPDIR");
	char err[256];

	snprintf(im_dir, sizeof(im_dir), "%s/aiphoto-media-XXXXXX",
	         tmp != NULL && *tmp == '/' ? tmp : P_tmpdir);
	ck_assert_ptr_nonnull(mkdtemp(im_dir));
	unit_env_baseline();
	setenv("MEDIA_DIR", im_dir, 1);
	setenv("PUBLIC_BASE_URL", "https://photo.example.com/", 1);
	ck_assert_msg(config_load(CONFIG_NEED_ALL, err, sizeof(err)) == 0, "config: %s", err);
	arena_init(&im_arena, 1024);
}

static void im_media_teardown(void)
{
	arena_fini(&im_arena);
	nftw(im_dir, im_rm, 16, FTW_DEPTH | FTW_PHYS);
	unit_env_baseline();
}

#define IM_HELLO_SHA "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

/* Entries of a directory, "." and ".." not counted. */
static int im_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

START_TEST(media_store_and_read)
{
	char sha[65];
	const char *key, *key2, *path;
	const unsigned char *data;
	size_t len;
	struct stat st;

	ck_assert_int_eq(media_store(&im_arena, "hello", 5, "png", sha, &key), E_OK);
	ck_assert_str_eq(sha, IM_HELLO_SHA);
	ck_assert_str_eq(key, "2c/f2/" IM_HELLO_SHA ".png");
	path = media_path(&im_arena, key);
	ck_assert_ptr_nonnull(path);
	ck_assert_str_eq(path, arena_printf(&im_arena, "%s/%s", im_dir, key));
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq((int)st.st_size, 5);
	ck_assert_int_eq((int)(st.st_mode & 0777), 0644);
	ck_assert_int_eq(media_read(&im_arena, key, &data, &len), E_OK);
	ck_assert_uint_eq(len, 5);
	ck_assert_int_eq(memcmp(data, "hello", 5), 0);
	/* the same bytes again: the same key, one file, no temporary file left behind */
	ck_assert_int_eq(media_store(&im_arena, "hello", 5, "png", sha, &key2), E_OK);
	ck_assert_str_eq(key2, key);
	ck_assert_int_eq(im_entries(arena_printf(&im_arena, "%s/2c/f2", im_dir)), 1);
	/* the same bytes under another type are another key */
	ck_assert_int_eq(media_store(&im_arena, "hello", 5, "jpg", sha, &key2), E_OK);
	ck_assert_str_eq(key2, "2c/f2/" IM_HELLO_SHA ".jpg");
	ck_assert_int_eq(im_entries(arena_printf(&im_arena, "%s/2c/f2", im_dir)), 2);
}
END_TEST

START_TEST(media_replaces_a_short_file)
{
	char sha[65];
	const char *key, *path;
	const unsigned char *data;
	size_t len;
	FILE *f;

	ck_assert_int_eq(media_store(&im_arena, "hello", 5, "webp", sha, &key), E_OK);
	path = media_path(&im_arena, key);
	f = fopen(path, "w"); /* a damaged copy (cut short) */
	ck_assert_ptr_nonnull(f);
	fputs("he", f);
	fclose(f);
	ck_assert_int_eq(media_store(&im_arena, "hello", 5, "webp", sha, &key), E_OK);
	ck_assert_int_eq(media_read(&im_arena, key, &data, &len), E_OK);
	ck_assert_uint_eq(len, 5);
}
END_TEST

START_TEST(media_keys_and_urls)
{
	char sha[65];
	const char *key;
	const unsigned char *data;
	size_t len;

	ck_assert_str_eq(media_url(&im_arena, "2c/f2/" IM_HELLO_SHA ".png"),
	                 "https://photo.example.com/media/2c/f2/" IM_HELLO_SHA ".png");
	ck_assert_ptr_null(media_path(&im_arena, NULL));
	ck_assert_ptr_null(media_path(&im_arena, ""));
	ck_assert_ptr_null(media_path(&im_arena, "../etc/passwd"));
	ck_assert_ptr_null(media_path(&im_arena, "2c/f2/" IM_HELLO_SHA ".exe"));
	ck_assert_ptr_null(media_path(&im_arena, "2c/f2/" IM_HELLO_SHA ".png/"));
	ck_assert_ptr_null(media_path(&im_arena, "2c/f3/" IM_HELLO_SHA ".png"));
	ck_assert_ptr_null(media_path(&im_arena, "2C/F2/" IM_HELLO_SHA ".png"));
	ck_assert_ptr_null(media_path(&im_arena, "/2c/f2/" IM_HELLO_SHA ".png"));
	ck_assert_ptr_null(media_path(&im_arena, "2c/f2/" IM_HELLO_SHA));
	ck_assert_ptr_nonnull(media_path(&im_arena, "2c/f2/" IM_HELLO_SHA ".webp"));
	ck_assert_int_eq(media_read(&im_arena, "2c/f2/" IM_HELLO_SHA ".png", &data, &len),
	                 E_NOT_FOUND);
	ck_assert_ptr_null(data);
	ck_assert_int_eq(media_read(&im_arena, "../../x", &data, &len), E_NOT_FOUND);
	ck_assert_int_eq(media_store(&im_arena, "hello", 5, "html", sha, &key), E_INTERNAL);
	ck_assert_int_eq(media_store(&im_arena, "hello", 5, "../x", sha, &key), E_INTERNAL);
	ck_assert_ptr_null(key);
}
END_TEST

START_TEST(media_store_with_a_known_hash)
{
	const char *key;

	/* the key is known before anything is written, and is the one the store hands out */
	ck_assert_str_eq(media_key(&im_arena, IM_HELLO_SHA, "png"), "2c/f2/" IM_HELLO_SHA ".png");
	ck_assert_int_eq(im_entries(im_dir), 0);
	ck_assert_int_eq(media_store_hashed(&im_arena, "hello", 5, "png", IM_HELLO_SHA, &key),
	                 E_OK);
	ck_assert_str_eq(key, media_key(&im_arena, IM_HELLO_SHA, "png"));
	ck_assert_int_eq(im_entries(arena_printf(&im_arena, "%s/2c/f2", im_dir)), 1);
	/* a hash that is not 64 lowercase hex digits is refused: it names the path */
	ck_assert_int_eq(media_store_hashed(&im_arena, "hello", 5, "png", "../../etc", &key),
	                 E_INTERNAL);
	ck_assert_ptr_null(key);
	ck_assert_int_eq(
	    media_store_hashed(&im_arena, "hello", 5, "png",
	                       "2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824",
	                       &key),
	    E_INTERNAL);
}
END_TEST

Suite *image_suite(void)
{
	Suite *s = suite_create("image");
	TCase *tc = tcase_create("probe");
	TCase *tm = tcase_create("media");

	tcase_add_test(tc, image_png_ok);
	tcase_add_test(tc, image_png_limits);
	tcase_add_test(tc, image_png_broken);
	tcase_add_test(tc, image_jpeg_ok);
	tcase_add_test(tc, image_jpeg_markers);
	tcase_add_test(tc, image_webp_ok);
	tcase_add_test(tc, image_webp_broken);
	tcase_add_test(tc, image_not_images);
	tcase_add_test(tc, image_polyglot);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(tm, im_media_setup, im_media_teardown);
	tcase_add_test(tm, media_store_and_read);
	tcase_add_test(tm, media_store_with_a_known_hash);
	tcase_add_test(tm, media_replaces_a_short_file);
	tcase_add_test(tm, media_keys_and_urls);
	suite_add_tcase(s, tm);
	return s;
}
