/*
 * aitest — one generation against one AI model, start to end within a time budget, for
 * POST /admin/ai-models/:id/test.
 *
 * The dispatcher's own adapters (dispatcher/provider.h, pure) make the requests and read the
 * answers, lib/httpc carries them (the outbound policy applies: https only and no private
 * addresses in production), lib/media stores the image.  Nothing else happens: no work item,
 * no charge, no retry, no failover to another model.  The call is synchronous in the calling
 * worker, so the budget bounds it (each HTTP call is also bounded by the model's timeout).
 * The key is read from the environment variable the model names, in this process: never
 * answered, never logged.  No input images are sent (a text prompt only).
 */
#ifndef AIPHOTO_SERVICE_AITEST_H
#define AIPHOTO_SERVICE_AITEST_H

#include <stddef.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"
#include "model/works.h"

/* The longest budget a test may be given, in milliseconds. */
#define AITEST_MAX_MS 30000

struct aitest_result {
	/* "succeeded"; "pending" (the budget ran out while an async job ran: job_id);
	 * "retryable" (the dispatcher would try again: timeouts, 429, 5xx, 401/403 — another
	 * model may work); "failed" (it would not: other 4xx, content policy, a bad answer or
	 * image); "not_configured" (no adapter for the provider, or the key's variable unset) */
	const char *outcome;
	const char *code, *message; /* the classification's, e.g. http_500 (no secrets) */
	long http_status; /* of the last answer, 0 = none */
	long duration_ms;
	int polls;
	const char *job_id; /* an async provider's job, NULL = none */
	const char *image_url; /* the stored image's public URL (succeeded) */
	const char *mime;
	uint32_t width, height;
	size_t bytes;
};

/* Runs the test of model m with prompt within budget_ms (at most AITEST_MAX_MS).  E_OK
 * whatever the provider answered: out says it. */
enum api_err aitest_run(struct arena *a, const struct ai_model *m, const char *prompt,
                        long budget_ms, struct aitest_result *out);

/* "sync" or "async": how the adapter of provider works; NULL when there is none. */
const char *aitest_mode(const char *provider);

#endif
