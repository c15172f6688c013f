/* cloudfile — see cloudfile.h. */
#include "service/cloudfile.h"

#include <string.h>

#include "lib/config.h"
#include "lib/httpc.h"
#include "lib/log.h"
#include "lib/wechat/wxapi.h"

enum api_err cloudfile_check(struct arena *a, const char *file_id, const char **why)
{
	const char *env = config_get()->wechat_cloud_env;
	struct wxcloud_fileid f;

	if (!wxcloud_fileid_parse(file_id, &f)) {
		*why = "not a cloud storage file id (cloud://<env>.<bucket>/<path>, at most 1024 "
		       "bytes)";
		return E_BAD_REQUEST;
	}
	if (env == NULL) {
		*why = "cloud storage is not configured (WECHAT_CLOUD_ENV)";
		return E_UNAVAILABLE;
	}
	if (strcmp(f.env, env) != 0) {
		*why = arena_printf(a, "the file belongs to cloud environment %s, not to %s", f.env,
		                    env);
		return E_BAD_REQUEST;
	}
	return E_OK;
}

enum api_err cloudfile_locate(struct arena *a, const char *const *ids, size_t n,
                              struct wxcloud_link *out, const char **why)
{
	const char *env = config_get()->wechat_cloud_env;
	enum api_err err = E_OK;

	for (size_t i = 0; i < n && err == E_OK; i += WXCLOUD_BATCH) {
		size_t k = n - i < WXCLOUD_BATCH ? n - i : WXCLOUD_BATCH;
		err = wxapi_tcb_download_urls(a, env ? env : "", ids + i, k, CLOUDFILE_LINK_AGE,
		                              out + i);
	}
	if (err == E_TIMEOUT)
		*why = "cloud storage (tcb/batchdownloadfile) did not answer in time";
	else if (err == E_UNAVAILABLE)
		*why = "the access token cache (Redis) is unavailable";
	else if (err != E_OK)
		*why = "cloud storage (tcb/batchdownloadfile) refused the call or failed";
	return err;
}

enum api_err cloudfile_link_error(struct arena *a, const struct wxcloud_link *l, const char **why)
{
	switch (l->state) {
	case WXCLOUD_OK:
		return E_OK;
	case WXCLOUD_MISSING:
		*why = arena_printf(a, "no such file in cloud storage (%s)",
		                    l->errmsg[0] ? l->errmsg : "STORAGE_FILE_NONEXIST");
		return E_NOT_FOUND;
	case WXCLOUD_REFUSED:
		break;
	}
	*why = arena_printf(a, "cloud storage refused the file (status %ld: %s)", l->status,
	                    l->errmsg[0] ? l->errmsg : "no message");
	return E_UPSTREAM_ERROR;
}

enum api_err cloudfile_outcome(struct arena *a, enum api_err transfer, long status, bool too_large,
                               size_t max, const char **why)
{
	if (too_large) {
		*why = arena_printf(a, "the file is larger than %zu bytes", max);
		return E_PAYLOAD_TOO_LARGE;
	}
	if (transfer == E_TIMEOUT) {
		*why = "the download from cloud storage timed out";
		return E_TIMEOUT;
	}
	if (transfer != E_OK) {
		*why = "the download from cloud storage failed (no answer)";
		return E_UPSTREAM_ERROR;
	}
	if (status == 200)
		return E_OK;
	if (status == 404) {
		*why = "no such file in cloud storage (the download answered 404)";
		return E_NOT_FOUND;
	}
	*why = arena_printf(a, "the download from cloud storage answered HTTP %ld", status);
	return E_UPSTREAM_ERROR;
}

enum api_err cloudfile_fetch(struct arena *a, const char *file_id, size_t max,
                             const unsigned char **data, size_t *len, const char **why)
{
	struct wxcloud_link link;
	struct httpc_response res;
	enum api_err err;

	if ((err = cloudfile_locate(a, &file_id, 1, &link, why)) != E_OK ||
	    (err = cloudfile_link_error(a, &link, why)) != E_OK)
		return err;
	err = httpc_do(a,
	               &(const struct httpc_request){.method = "GET",
	                                             .url = link.url,
	                                             .timeout_ms = CLOUDFILE_TIMEOUT_MS,
	                                             .max_body = max},
	               &res);
	if ((err = cloudfile_outcome(a, err, res.status, res.too_large, max, why)) != E_OK) {
		log_warn("cloud file %.200s: %s", file_id, *why);
		return err;
	}
	*data = (const unsigned char *)res.body;
	*len = res.len;
	return E_OK;
}
