/*
 * cache — `aiphotoctl cache …`: operator control of the Redis caches.
 */
#ifndef AIPHOTO_CTL_CACHE_H
#define AIPHOTO_CTL_CACHE_H

/*
 * `aiphotoctl cache invalidate`: argv holds the words after "cache".  Needs the
 * configuration loaded with REDIS_URL.  Exit status: 0 done, 1 Redis unreachable, 2 usage.
 */
int ctl_cache(int argc, char **argv);

/* After a command that changed scenes (who: "aiphotoctl seed", ...): invalidates the scene
 * cache when REDIS_URL is configured, warning (not failing) when Redis cannot be reached.
 * Returns 0 always. */
int ctl_cache_after_change(const char *who);

#endif
