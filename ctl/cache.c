/* cache — see cache.h. */
#include "ctl/cache.h"

#include <stdio.h>
#include <string.h>

#include "lib/config.h"
#include "lib/errors.h"
#include "lib/redis.h"
#include "model/scenes.h"

/* Moves the scene cache generation on; prints the outcome.  0 or 1. */
static int ctl_cache_invalidate(const char *redis_url, bool quiet)
{
	enum api_err err;
	long long gen = 0;

	if (redis_url == NULL || redis_init(redis_url) < 0) {
		fprintf(stderr, "aiphotoctl cache: REDIS_URL cannot be used\n");
		return 1;
	}
	err = scenes_cache_invalidate(&gen);
	redis_fini();
	if (err != E_OK) {
		fprintf(stderr, "aiphotoctl cache: scene cache not invalidated (%s)\n",
		        api_err_code(err));
		return 1;
	}
	if (!quiet)
		printf("scene cache invalidated (generation %lld)\n", gen);
	return 0;
}

int ctl_cache(int argc, char **argv)
{
	if (argc != 1 || strcmp(argv[0], "invalidate") != 0) {
		fputs("usage: aiphotoctl cache invalidate\n", stderr);
		return 2;
	}
	return ctl_cache_invalidate(config_get()->redis_url, false);
}

int ctl_cache_after_change(const char *who)
{
	const char *url = config_get()->redis_url;

	if (url != NULL && ctl_cache_invalidate(url, true) != 0)
		fprintf(stderr, "%s: warning: cached scenes stay until they expire\n", who);
	return 0;
}
