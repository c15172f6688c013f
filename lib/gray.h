/*
 * gray — the gray-release decision of GET /config/backend (docs/gray-release.md): which
 * backend, the WeChat cloud functions or this server, a mini-program user is sent to.
 *
 * Pure functions over memory: the mini-program adapter's hashCode of an openid, the
 * system_config document backend_config read into a struct, the decision, and the checks
 * of what `aiphotoctl gray set` may store.
 *
 * The decision, in this order:
 *   gray_release off         backend_type "server" → server, anything else → cloud
 *   gray_release on          black list → cloud; white list → server;
 *                            hashCode(openid) % 100 < gray_percent → server; else cloud
 *   no openid asked about    as gray_release off (the lists and the hash need one)
 */
#ifndef AIPHOTO_GRAY_H
#define AIPHOTO_GRAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/arena.h"

/* The longest openid asked about or listed, in characters (WeChat's are 28). */
#define GRAY_OPENID_MAX 128
/* The longest server_url `aiphotoctl gray set` stores, in bytes. */
#define GRAY_URL_MAX 512
/* What a missing backend_config means; also the document `aiphotoctl gray set` starts from
 * (no single quotes: it is spliced into an SQL literal). */
#define GRAY_DEFAULT_CONFIG                                                                        \
	"{\"backend_type\":\"cloud\",\"gray_release\":false,\"gray_percent\":0,\"white_list\":[]," \
	"\"black_list\":[]}"

enum gray_backend { GRAY_CLOUD, GRAY_SERVER };

/* backend_config as the decision reads it (white_list and black_list are asked about by
 * the model, see struct gray_subject). */
struct gray_config {
	const char *backend_type; /* "cloud", "server" or "auto" as stored; "cloud" otherwise */
	const char *server_url; /* as stored; NULL when absent, empty or not a string */
	bool gray_release; /* JavaScript truthiness of the stored value, as the adapter's `if` */
	double gray_percent; /* the stored number; 0 when absent or not a number */
	bool percent_integral; /* gray_percent was stored as an integer */
};

/* The openid asked about: its hash and whether the lists name it. */
struct gray_subject {
	uint32_t hash; /* gray_hash */
	bool white, black;
};

/*
 * The adapter's hashCode of the UTF-8 text s (n bytes), as JavaScript computes it over the
 * string's UTF-16 code units (a character outside the BMP counts as its two surrogates):
 * hash = hash * 31 + unit in 32-bit two's complement, then Math.abs, so -2^31 gives 2^31.
 * False when s is not strictly valid UTF-8 (the value is then unset).
 */
bool gray_hash(const char *s, size_t n, uint32_t *hash);

/* An openid the service takes: 1..GRAY_OPENID_MAX characters of valid UTF-8; its hash in
 * *hash when it is. */
bool gray_openid(const char *s, uint32_t *hash);

/* Reads the JSON text of backend_config (NULL when the row is missing: GRAY_DEFAULT_CONFIG);
 * a document that is not an object, or fields of the wrong type, read as their defaults.
 * Strings are copied into a. */
void gray_config_parse(struct arena *a, const char *json, struct gray_config *c);

/* The backend for the subject (NULL: no openid given). */
enum gray_backend gray_decide(const struct gray_config *c, const struct gray_subject *s);

/* "cloud" or "server". */
const char *gray_backend_name(enum gray_backend b);

/* A server_url the mini program may be sent to: https:// (http:// too in development), a
 * host, at most GRAY_URL_MAX bytes of printable ASCII without spaces, quotes or backslashes,
 * and no trailing '/' (the adapter appends paths that start with one). */
bool gray_url_ok(const char *url, bool development);

#endif
