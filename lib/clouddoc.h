/*
 * clouddoc — documents of the WeChat cloud database, as its console exports them and as
 * seed 000's data-migration.js posts them: the checks and normalisation of the import, with
 * no database in sight (model/legacy.c applies what this file accepts; docs/migration.md).
 *
 * An export is JSON lines: one document per line, each with its "_id" (a string); the owner
 * is "_openid" (users may carry "openid" too, works and orders "user_openid"); dates are
 * {"$date": <milliseconds> | "<ISO 8601>"} (a bare ISO string is accepted too).
 *
 * clouddoc_row turns a document of one collection into the flat row the import statement
 * reads with jsonb_to_recordset (the keys are listed at each collection below), or says in
 * *why what is wrong with it, naming the field: such a document is reported and skipped,
 * never half-applied.  Every row carries "lid" (the _id), "doc" (the document without _id,
 * kept whole in legacy_doc so nothing is lost), "created" and "updated" (ISO text or null).
 */
#ifndef AIPHOTO_CLOUDDOC_H
#define AIPHOTO_CLOUDDOC_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/arena.h"

enum clouddoc_kind {
	CLOUDDOC_USERS,
	CLOUDDOC_WORKS,
	CLOUDDOC_SCENES,
	CLOUDDOC_ORDERS,
	CLOUDDOC__MAX
};

/*
 * The _id the export gives a row the server made itself (no cloud _id): the prefix and the
 * row's id (orders: their out_trade_no).  An import recognises them, so a document that went
 * to the cloud and came back names its row again; they name rows of the server that
 * exported them only.
 */
#define CLOUDDOC_SERVER_USER "aiphoto-u"
#define CLOUDDOC_SERVER_WORK "aiphoto-w"
#define CLOUDDOC_SERVER_SCENE "aiphoto-s"
#define CLOUDDOC_SERVER_ORDER "aiphoto-o"
#define CLOUDDOC_SERVER_TASK "aiphoto-t"

/* The field an export puts in each user document: {"credits": n, "updated_at": time}, the
 * balance the server handed over to the cloud and when the user's row last changed (see
 * model/legacy.h for how an import uses it). */
#define CLOUDDOC_HANDOVER "aiphoto_handover"

/* Largest line (document) an import reads, and the JSON nesting it accepts. */
#define CLOUDDOC_MAX_LINE (1024 * 1024)
#define CLOUDDOC_MAX_DEPTH 32

/* "users", "works", "scenes", "orders". */
const char *clouddoc_kind_name(enum clouddoc_kind k);
/* The kind named s, or CLOUDDOC__MAX. */
enum clouddoc_kind clouddoc_kind_parse(const char *s);

/*
 * One line of an export (NUL-terminated, len bytes before the NUL): exactly one JSON object,
 * valid UTF-8, nested at most CLOUDDOC_MAX_DEPTH deep.  A new object the caller puts, or NULL
 * with *why.
 */
json_object *clouddoc_parse_line(struct arena *a, const char *text, size_t len, const char **why);

/* The "_id" a line that does not parse seems to have (the string after the first "_id":),
 * for the report; NULL when none is found. */
const char *clouddoc_guess_id(struct arena *a, const char *text, size_t len);

/*
 * Checks doc as a document of kind and builds its row (a new object the caller owns), or
 * returns NULL with *why.  *id gets the document's _id whenever it is a usable one (also
 * when another field is wrong), else NULL.
 *
 * users  "openid" (openid, else _openid: both, when present, must agree), "nickname" and
 *        "avatar_url" (null when absent), "invite" (invite_code upper-cased when it fits
 *        ours: 4-32 letters and digits; null otherwise, and a new code is made), "credits"
 *        (0 when absent).
 * works  "openid" (user_openid, else _openid), "type" (photography | fitting), "status" and
 *        "error_code" (completed → succeeded; failed → failed; pending, processing → canceled
 *        with error_code cloud_unfinished, since no dispatcher will run them; canceled),
 *        "image_url" (the first of images, as given: URL or cloud:// file id), "scene" (the
 *        cloud scene _id), "scene_self" (our scene id when scene_id is a server id), "self"
 *        (our work id when _id is a server id), "fav" (is_favorite).
 * scenes "name" (required, 1-64), "category", "thumbnail_url", "parameters" (object),
 *        "active" (is_active, default true).
 * orders "openid" (user_openid, else _openid), "type", "status", "credits", "amount_fen"
 *        (amount is yuan, at most two decimals), "self" (the out_trade_no of a server id).
 */
json_object *clouddoc_row(struct arena *a, enum clouddoc_kind kind, json_object *doc,
                          const char **id, const char **why);

/* ISO 8601 → milliseconds since 1970 (UTC): YYYY-MM-DD, optionally THH:MM[:SS[.fraction]]
 * and Z or ±HH[:]MM (no zone = UTC, as JavaScript reads a date); years 1900-9999.
 * 0, or -1 when s is not such a time. */
int clouddoc_iso_ms(const char *s, int64_t *ms);
/* ms → "YYYY-MM-DDTHH:MM:SS.mmmZ" (out holds 32 bytes). */
void clouddoc_format_ms(int64_t ms, char out[32]);

#endif
