/*
 * bench-thumbs — thumbnails per second on this machine: reads one image file, then for
 * BENCH_THUMB_SECONDS (default 5) makes both thumbnails of it again and again the way the
 * dispatcher does for a result (lib/imgproc, libvips with one thread), and prints
 *   thumbs: <n> thumbnails of a <w>x<h> <bytes>-byte image in <s> s = <rate> thumbnails/s
 * Usage: bench-thumbs FILE.  Run by bench/media (make bench).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "lib/arena.h"
#include "lib/image.h"
#include "lib/imgproc.h"

static double bench_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *env = getenv("BENCH_THUMB_SECONDS");
	double secs = env ? atof(env) : 5.0, t0, t;
	struct image_info info;
	struct arena a;
	unsigned char *buf;
	const unsigned char *out;
	size_t len, olen;
	long n = 0;
	FILE *f;

	if (argc != 2 || (f = fopen(argv[1], "rb")) == NULL) {
		fprintf(stderr, "usage: bench-thumbs FILE\n");
		return 2;
	}
	buf = malloc(IMAGE_MAX_BYTES);
	len = buf ? fread(buf, 1, IMAGE_MAX_BYTES, f) : 0;
	fclose(f);
	if (len == 0 || image_probe(buf, len, &info) != 0 || imgproc_init() != 0) {
		fprintf(stderr, "bench-thumbs: %s is not an accepted image\n", argv[1]);
		free(buf);
		return 1;
	}
	arena_init(&a, 1 << 20);
	t0 = bench_now();
	do {
		if (imgproc_thumb(&a, buf, len, IMGPROC_THUMB_SMALL, &out, &olen) != E_OK ||
		    imgproc_thumb(&a, buf, len, IMGPROC_THUMB_LARGE, &out, &olen) != E_OK) {
			fprintf(stderr, "bench-thumbs: thumbnail failed\n");
			return 1;
		}
		n += 2;
		arena_reset(&a);
		t = bench_now() - t0;
	} while (t < secs);
	printf("thumbs: %ld thumbnails of a %ux%u %zu-byte image in %.1f s = %.1f thumbnails/s\n",
	       n, info.width, info.height, len, t, (double)n / t);
	arena_fini(&a);
	free(buf);
	return 0;
}
