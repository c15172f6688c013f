/*
 * wxsign — the SHA-1 signatures of the WeChat Official Account server protocol and of the
 * JS-SDK config.  Pure functions: no allocation that outlives a call, no global state.
 *
 * Every digest is written as 40 lower-case hex characters plus a NUL (out[41]).  Every
 * check compares in constant time and is false for a NULL argument or a signature that is
 * not exactly 40 hex characters (either case is accepted).
 */
#ifndef AIPHOTO_WXSIGN_H
#define AIPHOTO_WXSIGN_H

#include <stdbool.h>
#include <stddef.h>

#define WXSIGN_HEX_LEN 40

/*
 * Sorts the n strings bytewise (as strcmp does), concatenates them without a separator and
 * writes the lower-hex SHA-1 of the result.  A NULL element counts as "".  parts itself is
 * not modified.
 */
void wxsign_sorted_sha1(const char *const *parts, size_t n, char out[41]);

/* The request signature of every push: sorted SHA-1 of token, timestamp and nonce. */
bool wxsign_check(const char *token, const char *timestamp, const char *nonce,
                  const char *signature);

/* The safe-mode msg_signature: sorted SHA-1 of token, timestamp, nonce and the Encrypt text. */
void wxsign_msg_signature(const char *token, const char *timestamp, const char *nonce,
                          const char *encrypt, char out[41]);

/* Checks msg_signature against wxsign_msg_signature() of the other four arguments. */
bool wxsign_msg_check(const char *token, const char *timestamp, const char *nonce,
                      const char *encrypt, const char *msg_signature);

/*
 * The wx.config signature: SHA-1 of "jsapi_ticket=T&noncestr=N&timestamp=S&url=U" with the
 * values taken verbatim (no URL encoding) and U cut at its first '#'.  NULL counts as "".
 */
void wxsign_jssdk(const char *ticket, const char *noncestr, const char *timestamp, const char *url,
                  char out[41]);

#endif
