/*
 * metricscost — what lib/metrics costs one request, measured alone: metrics_request() as
 * fcgi/main.c calls it once per answered request (a route among 40 patterns, statuses and
 * latencies varying), N times in one slot of a real shared mapping, in nanoseconds per
 * call.  bench/run prints it beside the on/off comparison of the whole request path, whose
 * runs on a shared box vary by far more than the counters weigh.
 *
 *   build/bench-metrics [N]     (default 20000000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "lib/metrics.h"

int main(int argc, char **argv)
{
	static char routes[40][32];
	static const int statuses[] = {200, 200, 200, 201, 404, 401, 500};
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 20000000L;
	struct timespec t0, t1;
	double ns;

	if (n <= 0 || metrics_create(NULL, 4) < 0) {
		fprintf(stderr, "usage: bench-metrics [N > 0]\n");
		return 2;
	}
	metrics_attach(1);
	for (int i = 0; i < 40; i++)
		snprintf(routes[i], sizeof(routes[i]), "/resource%d/:id", i);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++)
		metrics_request(i % 5 ? "GET" : "POST", routes[i % 40], statuses[i % 7],
		                statuses[i % 7] >= 400 ? E_NOT_FOUND : E_OK, 300 + (i % 5000));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ns =
	    ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / (double)n;
	printf("%.1f\n", ns);
	return 0;
}
