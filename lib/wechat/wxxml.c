/*
 * wxxml — see wxxml.h.  expat does the tokenising; the handlers here enforce the flat
 * <xml><Name>text</Name>…</xml> shape and stop the parser on anything else.  The document
 * type is refused twice: by a byte scan before expat sees the input, and by expat's doctype
 * and entity declaration handlers (which also catch encodings the scan cannot read).
 */
#include "lib/wechat/wxxml.h"

#include <expat.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

struct wxxml_state {
	XML_Parser parser;
	struct arena *arena;
	struct wxxml_msg *out;
	int depth;
	const char *error; /* first reason; set once */
	const char *name; /* current child's name (arena) */
	char *text; /* current child's text (heap scratch) */
	size_t tlen, tcap;
};

/* Records the first failure reason and stops expat; handlers return early afterwards. */
static void wxxml_fail(struct wxxml_state *st, const char *reason)
{
	if (st->error == NULL) {
		st->error = reason;
		XML_StopParser(st->parser, XML_FALSE);
	}
}

static void XMLCALL wxxml_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct wxxml_state *st = ud;

	(void)atts;
	if (st->error != NULL)
		return;
	st->depth++;
	if (st->depth == 1) {
		if (strcmp(name, "xml") != 0)
			wxxml_fail(st, "root is not <xml>");
	} else if (st->depth == 2) {
		if (st->out->n >= WXXML_MAX_FIELDS) {
			wxxml_fail(st, "too many fields");
			return;
		}
		st->name = arena_strdup(st->arena, name);
		st->tlen = 0;
	} else {
		wxxml_fail(st, "nested element");
	}
}

static void XMLCALL wxxml_end(void *ud, const XML_Char *name)
{
	struct wxxml_state *st = ud;
	struct wxxml_field *f;

	(void)name;
	if (st->error != NULL)
		return;
	if (st->depth == 2) {
		f = &st->out->fields[st->out->n++];
		f->name = st->name;
		f->value = arena_strndup(st->arena, st->tlen ? st->text : "", st->tlen);
	}
	st->depth--;
}

static void XMLCALL wxxml_chars(void *ud, const XML_Char *s, int len)
{
	struct wxxml_state *st = ud;
	size_t n = len > 0 ? (size_t)len : 0;

	if (st->error != NULL || st->depth != 2 || n == 0)
		return;
	if (st->tlen + n > st->tcap) {
		size_t cap = st->tcap ? st->tcap : 256;

		while (cap < st->tlen + n)
			cap *= 2;
		st->text = xrealloc(st->text, cap);
		st->tcap = cap;
	}
	memcpy(st->text + st->tlen, s, n);
	st->tlen += n;
}

static void XMLCALL wxxml_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                                  const XML_Char *pubid, int has_internal_subset)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;
	wxxml_fail(ud, "doctype refused");
}

static void XMLCALL wxxml_entity_decl(void *ud, const XML_Char *name, int is_param,
                                      const XML_Char *value, int value_len, const XML_Char *base,
                                      const XML_Char *sysid, const XML_Char *pubid,
                                      const XML_Char *notation)
{
	(void)name;
	(void)is_param;
	(void)value;
	(void)value_len;
	(void)base;
	(void)sysid;
	(void)pubid;
	(void)notation;
	wxxml_fail(ud, "entity declaration refused");
}

static void XMLCALL wxxml_skipped_entity(void *ud, const XML_Char *name, int is_param)
{
	(void)name;
	(void)is_param;
	wxxml_fail(ud, "undefined entity");
}

/* Never loads anything: failing here makes expat report an external entity error. */
static int XMLCALL wxxml_external_entity(XML_Parser p, const XML_Char *context,
                                         const XML_Char *base, const XML_Char *sysid,
                                         const XML_Char *pubid)
{
	(void)context;
	(void)base;
	(void)sysid;
	(void)pubid;
	wxxml_fail(XML_GetUserData(p), "external entity refused");
	return XML_STATUS_ERROR;
}

/* True when "<!doctype" occurs in the n bytes at s, in any letter case. */
static bool wxxml_has_doctype(const char *s, size_t n)
{
	static const char pat[] = "<!doctype";
	const size_t plen = sizeof(pat) - 1;

	for (size_t i = 0; i + plen <= n; i++) {
		size_t j = 0;

		while (j < plen) {
			unsigned char c = (unsigned char)s[i + j];

			if (c >= 'A' && c <= 'Z')
				c = (unsigned char)(c - 'A' + 'a');
			if (c != (unsigned char)pat[j])
				break;
			j++;
		}
		if (j == plen)
			return true;
	}
	return false;
}

int wxxml_parse(struct arena *a, const char *xml, size_t len, struct wxxml_msg *out)
{
	struct wxxml_state st;
	int rc = -1;

	memset(&st, 0, sizeof(st));
	out->fields = NULL;
	out->n = 0;
	out->error = NULL;
	if (a == NULL || xml == NULL) {
		out->error = "no input";
		return -1;
	}
	if (len > WXXML_MAX) {
		out->error = "document too large";
		return -1;
	}
	if (wxxml_has_doctype(xml, len)) {
		out->error = "doctype refused";
		return -1;
	}
	/* UTF-8 overrides an encoding declared in the document (a byte-order mark still wins;
	 * the handlers below do not depend on the encoding) */
	st.parser = XML_ParserCreate("UTF-8");
	if (st.parser == NULL) {
		out->error = "parser unavailable";
		return -1;
	}
	st.arena = a;
	st.out = out;
	out->fields = arena_zalloc(a, WXXML_MAX_FIELDS * sizeof(*out->fields));
	XML_SetUserData(st.parser, &st);
	XML_SetElementHandler(st.parser, wxxml_start, wxxml_end);
	XML_SetCharacterDataHandler(st.parser, wxxml_chars);
	XML_SetStartDoctypeDeclHandler(st.parser, wxxml_doctype);
	XML_SetEntityDeclHandler(st.parser, wxxml_entity_decl);
	XML_SetSkippedEntityHandler(st.parser, wxxml_skipped_entity);
	XML_SetExternalEntityRefHandler(st.parser, wxxml_external_entity);
	XML_SetParamEntityParsing(st.parser, XML_PARAM_ENTITY_PARSING_NEVER);
	XML_UseForeignDTD(st.parser, XML_FALSE);

	if (XML_Parse(st.parser, xml, (int)len, XML_TRUE) != XML_STATUS_OK) {
		if (st.error == NULL) {
			switch (XML_GetErrorCode(st.parser)) {
			case XML_ERROR_UNDEFINED_ENTITY:
				st.error = "undefined entity";
				break;
			case XML_ERROR_EXTERNAL_ENTITY_HANDLING:
				st.error = "external entity refused";
				break;
			default:
				st.error = "malformed xml";
				break;
			}
		}
		goto out;
	}
	if (st.error != NULL)
		goto out;
	rc = 0;
out:
	if (rc != 0) {
		out->error = st.error != NULL ? st.error : "malformed xml";
		out->n = 0;
	}
	XML_ParserFree(st.parser);
	free(st.text);
	return rc;
}

const char *wxxml_get(const struct wxxml_msg *m, const char *name)
{
	if (m == NULL || name == NULL || m->fields == NULL)
		return NULL;
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->fields[i].name, name) == 0)
			return m->fields[i].value;
	return NULL;
}

/* C0 controls that XML 1.0 does not allow anywhere in a document. */
static bool wxxml_forbidden(unsigned char c)
{
	return c < 0x20 && c != '\t' && c != '\n' && c != '\r';
}

/*
 * s as one or more CDATA sections (arena): forbidden characters dropped first, then every
 * "]]>" split so that the first section ends after "]]" and the next starts with ">".
 */
static char *wxxml_cdata(struct arena *a, const char *s)
{
	static const char open[] = "<![CDATA[", close[] = "]]>", split[] = "]]]]><![CDATA[>";
	size_t n = 0, hits = 0, o = 0;
	char *clean, *out;

	if (s == NULL)
		s = "";
	clean = arena_alloc(a, strlen(s) + 1);
	for (const char *p = s; *p; p++)
		if (!wxxml_forbidden((unsigned char)*p))
			clean[n++] = *p;
	clean[n] = '\0';
	for (const char *p = clean; (p = strstr(p, close)) != NULL; p += 3)
		hits++;
	out = arena_alloc(a, sizeof(open) - 1 + n + hits * (sizeof(split) - 1 - 3) + sizeof(close));
	memcpy(out, open, sizeof(open) - 1);
	o = sizeof(open) - 1;
	for (const char *p = clean; *p;) {
		if (strncmp(p, close, 3) == 0) {
			memcpy(out + o, split, sizeof(split) - 1);
			o += sizeof(split) - 1;
			p += 3;
		} else {
			out[o++] = *p++;
		}
	}
	memcpy(out + o, close, sizeof(close)); /* with its NUL */
	return out;
}

/* s as escaped character data (arena): & < > replaced, forbidden characters dropped. */
static char *wxxml_text(struct arena *a, const char *s)
{
	size_t n = 0, o = 0;
	char *out;

	if (s == NULL)
		s = "";
	for (const char *p = s; *p; p++)
		n += *p == '&' ? 5 : (*p == '<' || *p == '>') ? 4 : 1;
	out = arena_alloc(a, n + 1);
	for (const char *p = s; *p; p++) {
		const char *rep = *p == '&'   ? "&amp;"
		                  : *p == '<' ? "&lt;"
		                  : *p == '>' ? "&gt;"
		                              : NULL;

		if (rep != NULL) {
			memcpy(out + o, rep, strlen(rep));
			o += strlen(rep);
		} else if (!wxxml_forbidden((unsigned char)*p)) {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
	return out;
}

char *wxxml_text_reply(struct arena *a, const char *to, const char *from, long create_time,
                       const char *content)
{
	return arena_printf(a,
	                    "<xml><ToUserName>%s</ToUserName><FromUserName>%s</FromUserName>"
	                    "<CreateTime>%ld</CreateTime><MsgType><![CDATA[text]]></MsgType>"
	                    "<Content>%s</Content></xml>",
	                    wxxml_cdata(a, to), wxxml_cdata(a, from), create_time,
	                    wxxml_cdata(a, content));
}

char *wxxml_encrypted_reply(struct arena *a, const char *encrypt, const char *msg_signature,
                            const char *timestamp, const char *nonce)
{
	return arena_printf(a,
	                    "<xml><Encrypt>%s</Encrypt><MsgSignature>%s</MsgSignature>"
	                    "<TimeStamp>%s</TimeStamp><Nonce>%s</Nonce></xml>",
	                    wxxml_cdata(a, encrypt), wxxml_cdata(a, msg_signature),
	                    wxxml_text(a, timestamp), wxxml_cdata(a, nonce));
}
