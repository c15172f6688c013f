/*
 * wxxml — the XML of Official Account pushes and passive replies.
 *
 * The parser accepts only the flat shape WeChat sends: a root <xml> whose children are
 * elements holding text or CDATA.  It never loads or expands anything: a document type
 * declaration (hence any entity declaration), an external entity or an undefined entity
 * refuses the whole document.  Everything returned lives in the caller's arena.
 */
#ifndef AIPHOTO_WXXML_H
#define AIPHOTO_WXXML_H

#include <stddef.h>

#include "lib/arena.h"

#define WXXML_MAX 65536 /* largest document wxxml_parse() accepts, in bytes */
#define WXXML_MAX_FIELDS 64 /* most children of <xml> */

struct wxxml_field {
	const char *name; /* element name, UTF-8 */
	const char *value; /* its text, entities and CDATA resolved; "" for an empty element */
};

struct wxxml_msg {
	struct wxxml_field *fields; /* in document order, in the arena */
	size_t n;
	const char *error; /* static reason after a failed parse, NULL after success */
};

/*
 * Parses len bytes of xml (UTF-8; no NUL needed) into out.  Returns 0, or -1 with a short
 * static reason in out->error for: NULL input, len > WXXML_MAX, any "<!DOCTYPE" (in any
 * case), entity declarations, external or undefined entities, a root other than <xml>, a
 * child with element children, more than WXXML_MAX_FIELDS children, or malformed XML.
 * Text directly inside <xml> (between children) and attributes are ignored.
 */
int wxxml_parse(struct arena *a, const char *xml, size_t len, struct wxxml_msg *out);

/* The value of the first child called name, or NULL (also for NULL arguments). */
const char *wxxml_get(const struct wxxml_msg *m, const char *name);

/*
 * Values are written as CDATA sections, a "]]>" inside one being split across two sections;
 * characters XML 1.0 forbids (C0 controls other than tab, LF and CR) are dropped.  NULL
 * strings count as "".  Results are NUL-terminated arena strings.
 */

/* A passive text reply: <xml> with ToUserName, FromUserName, CreateTime, MsgType text, Content. */
char *wxxml_text_reply(struct arena *a, const char *to, const char *from, long create_time,
                       const char *content);

/* The safe-mode reply envelope: <xml> with Encrypt, MsgSignature, TimeStamp, Nonce. */
char *wxxml_encrypted_reply(struct arena *a, const char *encrypt, const char *msg_signature,
                            const char *timestamp, const char *nonce);

#endif
