/*
 * errors — the one error enum of the service.
 *
 * Every handler, model function and library call that can fail on behalf of a request
 * returns enum api_err.  API_ERRORS is the single table mapping each value to its HTTP
 * status, its API code (API.md) and its default message; the response writer renders it.
 */
#ifndef AIPHOTO_ERRORS_H
#define AIPHOTO_ERRORS_H

/*      enum value                 status code                      default message */
#define API_ERRORS(X)                                                                    \
	X(E_OK, 200, "OK", "成功")                                                       \
	X(E_BAD_REQUEST, 400, "BAD_REQUEST", "请求参数错误")                             \
	X(E_UNAUTHORIZED, 401, "UNAUTHORIZED", "未登录或登录已失效")                     \
	X(E_INSUFFICIENT_CREDITS, 402, "INSUFFICIENT_CREDITS", "积分不足")               \
	X(E_FORBIDDEN, 403, "FORBIDDEN", "无权访问")                                     \
	X(E_NOT_FOUND, 404, "NOT_FOUND", "资源不存在")                                   \
	X(E_METHOD_NOT_ALLOWED, 405, "METHOD_NOT_ALLOWED", "不支持的请求方法")           \
	X(E_CONFLICT, 409, "CONFLICT", "数据冲突")                                       \
	X(E_IDEMPOTENCY_MISMATCH, 409, "IDEMPOTENCY_MISMATCH", "幂等键已用于不同的请求") \
	X(E_ALREADY_DONE, 409, "ALREADY_DONE", "操作已完成")                             \
	X(E_PAYLOAD_TOO_LARGE, 413, "PAYLOAD_TOO_LARGE", "请求体过大")                   \
	X(E_CONTENT_RISKY, 422, "CONTENT_RISKY", "内容含有违规信息")                     \
	X(E_UNSUPPORTED_MEDIA_TYPE, 415, "UNSUPPORTED_MEDIA_TYPE", "不支持的内容类型")   \
	X(E_RATE_LIMITED, 429, "RATE_LIMITED", "请求过于频繁")                           \
	X(E_INTERNAL, 500, "INTERNAL", "服务器内部错误")                                 \
	X(E_UPSTREAM_ERROR, 502, "UPSTREAM_ERROR", "上游服务错误")                       \
	X(E_UNAVAILABLE, 503, "UNAVAILABLE", "服务暂不可用")                             \
	X(E_TIMEOUT, 504, "TIMEOUT", "处理超时")

enum api_err {
#define API_ERR_ENUM(e, status, code, msg) e,
	API_ERRORS(API_ERR_ENUM)
#undef API_ERR_ENUM
	    E__MAX
};

/* HTTP status of err; 500 for an out-of-range value. */
int api_err_status(enum api_err err);
/* API code string ("NOT_FOUND"); "INTERNAL" for an out-of-range value. */
const char *api_err_code(enum api_err err);
/* Default human message (Chinese, as the cloud functions answered). */
const char *api_err_message(enum api_err err);
/* The value whose API code is code (as stored by model/idempotency); E_INTERNAL when none. */
enum api_err api_err_parse(const char *code);

#endif
