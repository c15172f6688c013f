/*
 * token — the strict JWT wrapper: tokens are issued by libjwt 1.10 (Debian 12), verified here.
 *
 * libjwt 1.10 checks the signature only: it validates no claim and, with an empty key,
 * accepts any token; its decode also costs a base64 + JSON parse of the header and an HMAC
 * key set-up per call.  So token_verify does not use it: it refuses secrets under 32 bytes,
 * caps the token length, then, in this order and before any parse,
 *   - requires the header segment to be byte for byte the one token_issue writes
 *     ({"alg":"HS256","typ":"JWT"}): alg none, another algorithm or spelling, extra fields
 *     (kid, jku, ...) are refused unread;
 *   - checks the HMAC-SHA256 signature in constant time with a context prepared once per
 *     process for the secret;
 * and only then decodes the payload and checks every claim:
 *   iss == the configured issuer; aud == "user" or "admin"; sub = a positive decimal id;
 *   exp present and in the future; nbf and iat (when present) not in the future
 *   (TOKEN_LEEWAY seconds of clock skew allowed); channel and appid (when present) well
 *   formed (see struct token_claims); for aud "admin", role one of the admin roles of
 *   lib/role.h (an admin token without one, as issued before roles, is refused) and sv a
 *   positive integer (the admin's session version).
 * Not thread-safe (one prepared context and one cache per process; the workers are
 * single-threaded).
 */
#ifndef AIPHOTO_TOKEN_H
#define AIPHOTO_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/role.h"

#define TOKEN_MIN_SECRET 32
#define TOKEN_MAX_LEN 4096
#define TOKEN_LEEWAY 30

enum token_err {
	TOKEN_OK,
	TOKEN_WEAK_SECRET, /* our secret is shorter than TOKEN_MIN_SECRET */
	TOKEN_MALFORMED, /* not three base64url parts, too long, bad JSON */
	TOKEN_BAD_SIGNATURE, /* the HMAC-SHA256 does not match (or OpenSSL failed) */
	TOKEN_BAD_ALG, /* the header is not exactly the one we issue (HS256 pinned) */
	TOKEN_EXPIRED,
	TOKEN_NOT_YET_VALID, /* nbf or iat in the future */
	TOKEN_BAD_ISSUER,
	TOKEN_BAD_AUDIENCE,
	TOKEN_BAD_SUBJECT,
	TOKEN_BAD_CHANNEL, /* a channel claim that is not oa/mp/web, or a malformed appid */
	TOKEN_BAD_ROLE /* an admin token whose role or sv claim is missing or malformed */
};

/*
 * The WeChat app a user token was issued for (claim "channel"; API.md "Auth"): the Official
 * Account's H5 pages (OAuth), the mini program (jscode2session), or a web page signed in by
 * scanning the Official Account's QR code.  Admin tokens have none.
 */
enum token_channel {
	TOKEN_CHANNEL_NONE, /* admin tokens */
	TOKEN_CHANNEL_OA,
	TOKEN_CHANNEL_MP,
	TOKEN_CHANNEL_WEB,
	TOKEN_CHANNEL__MAX
};

/* An appid: 1-32 characters of [0-9A-Za-z_-] (WeChat's appids are "wx" + 16 hex digits). */
#define TOKEN_APPID_MAX 32

/* True when s is such an appid (configuration checks WECHAT_APPID and WECHAT_MP_APPID with it,
 * so every configured app can be named in a token). */
bool token_appid_valid(const char *s);

struct token_claims {
	int64_t sub; /* user id (aud user) or admin id (aud admin) */
	bool admin; /* aud == "admin" */
	/* The claim "channel" of a user token.  A user token without it was issued before
	 * tokens carried one: every one of those counts as TOKEN_CHANNEL_OA, which keeps what
	 * they could do (every order was an Official Account order then).  NONE for admins. */
	enum token_channel channel;
	/* The claim "appid": the app of the channel the token was issued for; "" when the token
	 * names none (issued before tokens carried one, or when that app was not configured). */
	char appid[TOKEN_APPID_MAX + 1];
	enum role role; /* admin tokens: the claim "role"; ROLE_NONE for user tokens */
	long session; /* admin tokens: the claim "sv", the admin's session version when it was
	                 issued (model/admins.c refuses it once that moved on); 0 for users */
	long exp;
};

enum token_err token_verify(const char *secret, size_t secret_len, const char *issuer,
                            const char *token, time_t now, struct token_claims *out);

/*
 * token_verify with a small per-process cache of tokens already verified: a token presented
 * again (the same bytes, compared in constant time) skips the HMAC and the payload parse
 * until its exp.  Only successfully verified tokens enter; TOKEN_CACHE_SLOTS entries, each
 * slot chosen by a hash of the token and overwritten on collision; a call with another
 * secret or issuer than the previous one empties it.  Same contract as token_verify.
 */
#define TOKEN_CACHE_SLOTS 64
enum token_err token_verify_cached(const char *secret, size_t secret_len, const char *issuer,
                                   const char *token, time_t now, struct token_claims *out);

/* Returns a new HS256 token without channel claims (free() it): an admin token, or (admin
 * false) a user token of the shape issued before channels, which verifies as channel oa.  NULL
 * for a weak secret or a bad argument. */
char *token_issue(const char *secret, size_t secret_len, const char *issuer, int64_t sub,
                  bool admin, long ttl, time_t now);

/* A user token for the channel (OA, MP or WEB) and its app's appid (NULL: no appid claim), as
 * every login issues; NULL for a weak secret, another channel or a malformed appid. */
char *token_issue_user(const char *secret, size_t secret_len, const char *issuer, int64_t sub,
                       enum token_channel channel, const char *appid, long ttl, time_t now);

/* "oa", "mp", "web"; "" for TOKEN_CHANNEL_NONE (and anything else). */
const char *token_channel_name(enum token_channel ch);
/* The channel named s ("oa", "mp", "web"), or TOKEN_CHANNEL_NONE. */
enum token_channel token_channel_parse(const char *s);
/* Returns a new HS256 token (free() it), or NULL for a weak secret or a bad argument.  With
 * admin true the token has the audience "admin" but the role "admin", no admin role: the
 * shape issued before roles, which token_verify refuses (admin tokens: token_issue_admin). */
char *token_issue(const char *secret, size_t secret_len, const char *issuer, int64_t sub,
                  bool admin, long ttl, time_t now);

/* A new admin token (audience "admin") for admin id sub with the claims role =
 * role_name(role) and sv = session (≥ 1); NULL for ROLE_NONE, a weak secret or a bad
 * argument. */
char *token_issue_admin(const char *secret, size_t secret_len, const char *issuer, int64_t sub,
                        enum role role, long session, long ttl, time_t now);

const char *token_err_str(enum token_err e);

#endif
