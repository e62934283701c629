/*
 * cmd_fetch.c: FETCH and UID FETCH (RFC 3501 §6.4.5, §6.4.8, §7.4.2), in
 * the selected state.
 *
 * Items: FLAGS, UID, INTERNALDATE, RFC822.SIZE, RFC822, RFC822.HEADER,
 * RFC822.TEXT, ENVELOPE, BODY, BODYSTRUCTURE, MODSEQ (RFC 7162), BODY[]
 * and BODY.PEEK[] with part numbers and the sections HEADER, TEXT, MIME,
 * HEADER.FIELDS (...) and HEADER.FIELDS.NOT (...), <origin.octets>
 * partials, and the macros ALL, FAST and FULL. ENVELOPE, BODY,
 * BODYSTRUCTURE and the byte ranges of parts come from the MIME structure
 * the store computed when the message arrived; nothing is parsed here.
 *
 * Message records are read in one pass before any output; bodies are read
 * from the store in chunks straight into the output, and only the bytes a
 * section or partial asks for. \Seen is set (one transaction for the whole
 * command) when a non-PEEK body item is fetched in a read-write mailbox,
 * and the new FLAGS are then part of the response.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/imapstr.h"
#include "../lib/log.h"
#include "../lib/num.h"
#include "../lib/xalloc.h"
#include "capa.h"
#include "cmd.h"
#include "cmd_util.h"
#include "datetime.h"
#include "../store/mime.h"
#include "msgpart.h"
#include "flags.h"
#include "resp.h"
#include "resync.h"
#include "seqset.h"

#define FETCH_ITEMS_MAX		64
#define FETCH_FIELDS_MAX	128
#define FETCH_CHUNK		(64 * 1024)
#define FETCH_FLUSH		(64 * 1024)	/* response bytes sent at once */

enum fetch_kind {
	FETCH_FLAGS,
	FETCH_UID,
	FETCH_INTERNALDATE,
	FETCH_SIZE,
	FETCH_BODY,		/* BODY[...] and the RFC822 forms */
	FETCH_MODSEQ,		/* RFC 7162 §3.1.4.2 */
	FETCH_ENVELOPE,
	FETCH_STRUCTURE,	/* BODY (plain) or BODYSTRUCTURE (extended) */
};

enum fetch_section {
	SECTION_ALL,		/* "" */
	SECTION_HEADER,
	SECTION_TEXT,
	SECTION_FIELDS,
	SECTION_FIELDS_NOT,
	SECTION_MIME,		/* only after a part number */
};

#define FETCH_PATH_MAX	32	/* part number levels, "1.2.3..." */
/* MIME structures read along one cursor for this many messages at once
 * (store_mime_get_many), then written out. */
#define FETCH_MIME_BATCH	256

/* A message's stored MIME structure (store/mime.h), within a batch. */
struct fetch_blob {
	const uint8_t *p;
	size_t n;
};

/*
 * The short items of FETCH responses (sequence number, UID, FLAGS,
 * MODSEQ, RFC822.SIZE) are gathered here and go to the output buffer a
 * few kilobytes at a time: a FETCH 1:* (FLAGS) spent most of its time in
 * a dozen buffer calls per message otherwise. Flushed before anything is
 * written to the output buffer directly.
 */
struct fetch_line {
	size_t n;
	uint8_t b[4096];
};

struct fetch_item {
	enum fetch_kind kind;
	enum fetch_section section;
	bool peek;
	bool partial;
	uint64_t origin, octets;
	const char *rfc822;	/* "RFC822", "RFC822.HEADER", ... or NULL */
	bool extended;		/* BODYSTRUCTURE rather than BODY */
	uint32_t path[FETCH_PATH_MAX];	/* part number; depth 0: message */
	size_t depth;
	const char *fields[FETCH_FIELDS_MAX];
	size_t fieldlen[FETCH_FIELDS_MAX];
	size_t nfields;
};

struct fetch_ctx {
	struct fetch_item items[FETCH_ITEMS_MAX];
	size_t nitems;
	bool sets_seen;
	bool wants_flags;
	bool wants_uid;
	bool wants_modseq;
	bool modseq_ok;		/* MODSEQ is an item (CONDSTORE is on) */
	bool needs_header;	/* the header size must be known */
	bool needs_mime;	/* the MIME structure must be read */
	const char *why;	/* for a BAD */
};

static bool
fetch_fail(struct fetch_ctx *fc, const char *why)
{
	fc->why = why;
	return false;
}

static struct fetch_item *
fetch_add(struct fetch_ctx *fc, enum fetch_kind kind)
{
	struct fetch_item *it;

	if (fc->nitems == FETCH_ITEMS_MAX)
		return NULL;
	it = &fc->items[fc->nitems++];
	memset(it, 0, sizeof(*it));
	it->kind = kind;
	if (kind == FETCH_FLAGS)
		fc->wants_flags = true;
	if (kind == FETCH_UID)
		fc->wants_uid = true;
	if (kind == FETCH_MODSEQ)
		fc->wants_modseq = true;
	return it;
}

static bool
fetch_is(const uint8_t *p, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp((const char *)p, word, n) == 0;
}

/* Parses "<origin.octets>" at p[0..n) (n may be 0: no partial). */
static bool
fetch_partial(struct fetch_ctx *fc, struct fetch_item *it, const uint8_t *p,
    size_t n)
{
	const uint8_t *dot;

	if (n == 0)
		return true;
	if (n < 5 || p[0] != '<' || p[n - 1] != '>' ||
	    (dot = memchr(p, '.', n)) == NULL ||
	    !num_parse_u64(p + 1, (size_t)(dot - p) - 1, &it->origin) ||
	    !num_parse_u64(dot + 1, (size_t)(p + n - 1 - dot) - 1,
	    &it->octets) || it->octets == 0)
		return fetch_fail(fc, "invalid partial <origin.octets>");
	it->partial = true;
	return true;
}

/* BODY[...] / BODY.PEEK[...]: the atom a[0..n) starts with the name. */
static bool
fetch_body(struct fetch_ctx *fc, struct args *a, const uint8_t *p, size_t n,
    bool peek)
{
	size_t skip = peek ? 10 : 5;	/* "BODY.PEEK[" or "BODY[" */
	const uint8_t *sec = p + skip, *close;
	size_t secn;
	struct fetch_item *it = fetch_add(fc, FETCH_BODY);

	if (it == NULL)
		return fetch_fail(fc, "too many fetch items");
	it->peek = peek;
	if (!peek)
		fc->sets_seen = true;
	close = memchr(sec, ']', n - skip);
	secn = close != NULL ? (size_t)(close - sec) : n - skip;
	/* A part number first: "1.2" then nothing or ".HEADER" etc. */
	while (secn > 0 && sec[0] >= '1' && sec[0] <= '9') {
		size_t d = 0;
		uint32_t v;

		while (d < secn && sec[d] >= '0' && sec[d] <= '9')
			d++;
		if (it->depth == FETCH_PATH_MAX ||
		    !num_parse_u32(sec, d, &v) || v == 0)
			return fetch_fail(fc, "invalid part number");
		it->path[it->depth++] = v;
		fc->needs_mime = true;
		sec += d;
		secn -= d;
		skip += d;
		if (secn == 0)
			break;
		if (sec[0] != '.' || secn == 1)
			return fetch_fail(fc, "invalid part number");
		sec++;
		secn--;
		skip++;
	}
	if (secn == 0) {
		it->section = SECTION_ALL;
	} else if (it->depth > 0 && fetch_is(sec, secn, "MIME")) {
		it->section = SECTION_MIME;
	} else if (fetch_is(sec, secn, "HEADER")) {
		it->section = SECTION_HEADER;
	} else if (fetch_is(sec, secn, "TEXT")) {
		it->section = SECTION_TEXT;
		fc->needs_header = true;
	} else if (fetch_is(sec, secn, "HEADER.FIELDS") ||
	    fetch_is(sec, secn, "HEADER.FIELDS.NOT")) {
		it->section = secn == 13 ? SECTION_FIELDS : SECTION_FIELDS_NOT;
		if (close != NULL || !args_list_open(a))
			return fetch_fail(fc, "HEADER.FIELDS needs a list of "
			    "field names");
		while (!args_list_close(a)) {
			const uint8_t *f;
			size_t fn, i;

			if (!args_astring(a, &f, &fn) || fn == 0)
				return fetch_fail(fc, "invalid header field "
				    "name");
			for (i = 0; i < fn; i++) {
				if (f[i] <= ' ' || f[i] >= 0x7f || f[i] == ':')
					return fetch_fail(fc, "invalid header "
					    "field name");
			}
			if (it->nfields == FETCH_FIELDS_MAX)
				return fetch_fail(fc, "too many header "
				    "fields");
			it->fields[it->nfields] = (const char *)f;
			it->fieldlen[it->nfields++] = fn;
		}
		if (it->nfields == 0)
			return fetch_fail(fc, "empty header field list");
		/* The rest: "]" and maybe a partial, as the next atom. */
		if (!args_atom(a, &p, &n) || n == 0 || p[0] != ']')
			return fetch_fail(fc, "missing ']' after the field "
			    "list");
		return fetch_partial(fc, it, p + 1, n - 1);
	} else {
		return fetch_fail(fc, "unknown section");
	}
	if (close == NULL)
		return fetch_fail(fc, "missing ']'");
	skip += secn + 1;
	return fetch_partial(fc, it, p + skip, n - skip);
}

/* ENVELOPE, BODY or BODYSTRUCTURE. */
static bool
fetch_add_mime(struct fetch_ctx *fc, enum fetch_kind kind, bool extended)
{
	struct fetch_item *it = fetch_add(fc, kind);

	if (it == NULL)
		return fetch_fail(fc, "too many fetch items");
	it->extended = extended;
	fc->needs_mime = true;
	return true;
}

/* The macros of RFC 3501 §6.4.5: FAST, ALL (FAST + ENVELOPE), FULL (ALL +
 * BODY). */
static bool
fetch_macro(struct fetch_ctx *fc, const uint8_t *p, size_t n)
{
	bool all = fetch_is(p, n, "ALL"), full = fetch_is(p, n, "FULL");

	if (fetch_add(fc, FETCH_FLAGS) == NULL ||
	    fetch_add(fc, FETCH_INTERNALDATE) == NULL ||
	    fetch_add(fc, FETCH_SIZE) == NULL)
		return fetch_fail(fc, "too many fetch items");
	if ((all || full) && !fetch_add_mime(fc, FETCH_ENVELOPE, false))
		return false;
	if (full && !fetch_add_mime(fc, FETCH_STRUCTURE, false))
		return false;
	return true;
}

static bool
fetch_att(struct fetch_ctx *fc, struct args *a)
{
	const uint8_t *p;
	size_t n;
	struct fetch_item *it = NULL;

	if (!args_atom(a, &p, &n))
		return fetch_fail(fc, "expected a fetch item");
	if (fetch_is(p, n, "FLAGS"))
		it = fetch_add(fc, FETCH_FLAGS);
	else if (fetch_is(p, n, "UID"))
		it = fetch_add(fc, FETCH_UID);
	else if (fetch_is(p, n, "INTERNALDATE"))
		it = fetch_add(fc, FETCH_INTERNALDATE);
	else if (fetch_is(p, n, "RFC822.SIZE"))
		it = fetch_add(fc, FETCH_SIZE);
	else if (fc->modseq_ok && fetch_is(p, n, "MODSEQ"))
		it = fetch_add(fc, FETCH_MODSEQ);
	else if (fetch_is(p, n, "RFC822") || fetch_is(p, n, "RFC822.HEADER") ||
	    fetch_is(p, n, "RFC822.TEXT")) {
		if ((it = fetch_add(fc, FETCH_BODY)) == NULL)
			return fetch_fail(fc, "too many fetch items");
		it->rfc822 = n == 6 ? "RFC822" : n == 13 ? "RFC822.HEADER" :
		    "RFC822.TEXT";
		it->section = n == 6 ? SECTION_ALL : n == 13 ? SECTION_HEADER :
		    SECTION_TEXT;
		it->peek = n == 13;
		fc->sets_seen |= !it->peek;
		fc->needs_header |= n == 11;
		return true;
	} else if (n >= 5 && strncasecmp((const char *)p, "BODY[", 5) == 0)
		return fetch_body(fc, a, p, n, false);
	else if (n >= 10 && strncasecmp((const char *)p, "BODY.PEEK[", 10) == 0)
		return fetch_body(fc, a, p, n, true);
	else if (fetch_is(p, n, "ENVELOPE"))
		return fetch_add_mime(fc, FETCH_ENVELOPE, false);
	else if (fetch_is(p, n, "BODY"))
		return fetch_add_mime(fc, FETCH_STRUCTURE, false);
	else if (fetch_is(p, n, "BODYSTRUCTURE"))
		return fetch_add_mime(fc, FETCH_STRUCTURE, true);
	else
		return fetch_fail(fc, "unknown fetch item");
	if (it == NULL)
		return fetch_fail(fc, "too many fetch items");
	return true;
}

static bool
fetch_parse(struct fetch_ctx *fc, struct args *a)
{
	const uint8_t *p;
	size_t n;
	size_t save = a->i;

	if (args_list_open(a)) {
		while (!args_list_close(a)) {
			if (!fetch_att(fc, a))
				return false;
		}
		if (fc->nitems == 0)
			return fetch_fail(fc, "empty fetch item list");
		return true;
	}
	if (args_atom(a, &p, &n) && (fetch_is(p, n, "ALL") ||
	    fetch_is(p, n, "FAST") || fetch_is(p, n, "FULL")))
		return fetch_macro(fc, p, n);
	a->i = save;
	return fetch_att(fc, a);
}

static void
fetch_line_flush(struct session *s, struct fetch_line *l)
{
	if (l->n > 0)
		resp_add_bytes(s, l->b, l->n);
	l->n = 0;
}

static void
fetch_line_put(struct session *s, struct fetch_line *l, const char *p,
    size_t n)
{
	if (n > sizeof(l->b) - l->n) {
		fetch_line_flush(s, l);
		if (n > sizeof(l->b)) {
			resp_add_bytes(s, p, n);
			return;
		}
	}
	memcpy(l->b + l->n, p, n);
	l->n += n;
}

static void
fetch_line_str(struct session *s, struct fetch_line *l, const char *str)
{
	fetch_line_put(s, l, str, strlen(str));
}

static void
fetch_line_u64(struct session *s, struct fetch_line *l, uint64_t v)
{
	char digits[20], *p = digits + sizeof(digits);

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	fetch_line_put(s, l, p, (size_t)(digits + sizeof(digits) - p));
}

/* The FLAGS list. Keywords need the mailbox's names: select_write_flags
 * writes those; the system flags alone are written here. */
static void
fetch_line_flags(struct session *s, struct fetch_line *l,
    const struct store_msg *m, char ***kw)
{
	bool first = true;
	size_t i;

	if (m->keywords != 0) {
		fetch_line_flush(s, l);
		select_write_flags(s, m, kw);
		return;
	}
	fetch_line_put(s, l, "(", 1);
	for (i = 0; i < FLAGS_NSYSTEM; i++) {
		if ((m->flags & flags_system[i].bit) != 0) {
			if (!first)
				fetch_line_put(s, l, " ", 1);
			fetch_line_str(s, l, flags_system[i].name);
			first = false;
		}
	}
	if (select_is_recent(s, m->uid)) {
		if (!first)
			fetch_line_put(s, l, " ", 1);
		fetch_line_str(s, l, "\\Recent");
	}
	fetch_line_put(s, l, ")", 1);
}

/* Writes bytes [off, off + len) of the message as a literal. */
static enum store_err
fetch_write_range(struct session *s, const struct store_msg *m, uint64_t off,
    uint64_t len)
{
	enum store_err e = STORE_OK;
	uint64_t done = 0;

	resp_add(s, "{%llu}\r\n", (unsigned long long)len);
	while (done < len) {
		size_t want = len - done > FETCH_CHUNK ? FETCH_CHUNK :
		    (size_t)(len - done);
		size_t before = s->out.len;

		e = store_body_read(s->store, m->body_id, off + done, want,
		    &s->out);
		if (e != STORE_OK)
			break;
		if (s->out.len == before) {
			/* The message is shorter than its record says. */
			e = STORE_ERR_IO;
			break;
		}
		done += s->out.len - before;
		if (s->out.len >= 4 * FETCH_CHUNK && resp_flush(s) < 0)
			break;
	}
	/* A literal must carry exactly len bytes: pad a failed one so the
	 * stream stays in step, and report the failure afterwards. */
	for (; done < len; done++)
		resp_add_bytes(s, " ", 1);
	return e;
}

/* Applies a partial to a section of size n: the range within it. */
static void
fetch_clip(const struct fetch_item *it, uint64_t n, uint64_t *off,
    uint64_t *len)
{
	*off = 0;
	*len = n;
	if (!it->partial)
		return;
	*off = it->origin < n ? it->origin : n;
	*len = n - *off < it->octets ? n - *off : it->octets;
}

static bool
fetch_field_wanted(const struct fetch_item *it, const uint8_t *line,
    size_t n)
{
	const uint8_t *colon = memchr(line, ':', n);
	size_t name, i;
	bool in = false;

	if (colon == NULL)
		return it->section == SECTION_FIELDS_NOT;
	name = (size_t)(colon - line);
	while (name > 0 && (line[name - 1] == ' ' || line[name - 1] == '\t'))
		name--;
	for (i = 0; i < it->nfields && !in; i++)
		in = it->fieldlen[i] == name &&
		    strncasecmp((const char *)line, it->fields[i], name) == 0;
	return it->section == SECTION_FIELDS ? in : !in;
}

/* The selected header fields, then the empty line (RFC 3501 §6.4.5). */
static void
fetch_filter_fields(const struct fetch_item *it, const struct buf *hdr,
    struct buf *out)
{
	size_t i = 0, end;
	size_t hlen = hdr->len;

	/* Leave out the header's own closing empty line. */
	if (hlen >= 2 && hdr->data[hlen - 2] == '\r' &&
	    hdr->data[hlen - 1] == '\n' &&
	    (hlen == 2 || hdr->data[hlen - 3] == '\n'))
		hlen -= 2;
	else if (hlen >= 1 && hdr->data[hlen - 1] == '\n' &&
	    (hlen == 1 || hdr->data[hlen - 2] == '\n'))
		hlen -= 1;
	while (i < hlen) {
		size_t start = i;

		end = i;
		do {
			const uint8_t *lf = memchr(hdr->data + end, '\n',
			    hlen - end);

			end = lf == NULL ? hlen : (size_t)(lf - hdr->data) + 1;
		} while (end < hlen && (hdr->data[end] == ' ' ||
		    hdr->data[end] == '\t'));
		i = end;
		if (fetch_field_wanted(it, hdr->data + start, end - start) &&
		    buf_add(out, hdr->data + start, end - start) < 0)
			break;
	}
	/* out has room: it holds at most the header plus these 2 bytes */
	if (buf_add(out, "\r\n", 2) < 0)
		log_msg(LOG_ERR, "header field filter overflow");
}

static void
fetch_date(struct session *s, const struct store_msg *m)
{
	struct buf b = BUF_INITIALIZER(64);

	if (datetime_format(&b, m->internaldate, m->tzoff) < 0)
		resp_add(s, "NIL");
	else
		resp_add_bytes(s, b.data, b.len);
	buf_free(&b);
}

static void
fetch_section_name(struct session *s, const struct fetch_item *it)
{
	static const char *const names[] = { "", "HEADER", "TEXT",
	    "HEADER.FIELDS", "HEADER.FIELDS.NOT", "MIME" };
	size_t i;

	if (it->rfc822 != NULL) {
		resp_add(s, "%s ", it->rfc822);
		return;
	}
	resp_add(s, "BODY[");
	for (i = 0; i < it->depth; i++)
		resp_add(s, "%s%u", i == 0 ? "" : ".", it->path[i]);
	resp_add(s, "%s%s", it->depth > 0 && it->section != SECTION_ALL ?
	    "." : "", names[it->section]);
	if (it->section == SECTION_FIELDS || it->section == SECTION_FIELDS_NOT) {
		resp_add(s, " (");
		for (i = 0; i < it->nfields; i++) {
			if (i > 0)
				resp_add(s, " ");
			resp_add_astring(s, (const uint8_t *)it->fields[i],
			    it->fieldlen[i]);
		}
		resp_add(s, ")");
	}
	resp_add(s, "]");
	if (it->partial)
		resp_add(s, "<%llu>", (unsigned long long)it->origin);
	resp_add(s, " ");
}

/* Writes a header block (whole, or the fields asked for) as a literal. */
static void
fetch_write_header(struct session *s, const struct fetch_item *it,
    struct buf *hdr)
{
	struct buf sel = BUF_INITIALIZER(MSGPART_HEADER_MAX + 2);
	const struct buf *out = hdr;
	uint64_t off, len;

	if (it->section == SECTION_FIELDS || it->section == SECTION_FIELDS_NOT) {
		fetch_filter_fields(it, hdr, &sel);
		out = &sel;
	}
	fetch_clip(it, out->len, &off, &len);
	resp_add(s, "{%llu}\r\n", (unsigned long long)len);
	resp_add_bytes(s, out->data == NULL ? (const uint8_t *)"" :
	    out->data + off, (size_t)len);
	buf_free(&sel);
}

/*
 * A section of a part (RFC 3501 §6.4.5 part numbers), from the byte
 * ranges of the stored MIME structure: only those bytes are read. A part
 * that does not exist, or HEADER/TEXT of a part that is not a message, is
 * NIL.
 */
static enum store_err
fetch_part_item(struct session *s, const struct fetch_item *it,
    const struct store_msg *m, const struct fetch_blob *blob)
{
	struct buf hdr = BUF_INITIALIZER(MSGPART_HEADER_MAX + FETCH_CHUNK);
	struct mime_range r;
	enum store_err e = STORE_OK;
	uint64_t off, len, base, size;

	if (!mime_section(blob->p, blob->n, it->path, it->depth, &r) ||
	    (!r.is_message && it->section != SECTION_ALL &&
	    it->section != SECTION_MIME)) {
		resp_add(s, "NIL");
		return STORE_OK;
	}
	switch (it->section) {
	case SECTION_ALL:
	case SECTION_TEXT:
	case SECTION_MIME:
		base = it->section == SECTION_ALL ? r.body_off :
		    it->section == SECTION_TEXT ? r.text_off : r.mime_off;
		size = it->section == SECTION_ALL ? r.body_len :
		    it->section == SECTION_TEXT ? r.text_len : r.mime_len;
		fetch_clip(it, size, &off, &len);
		e = fetch_write_range(s, m, base + off, len);
		break;
	case SECTION_HEADER:
	case SECTION_FIELDS:
	case SECTION_FIELDS_NOT:
		if (r.hdr_len > MSGPART_HEADER_MAX)
			r.hdr_len = MSGPART_HEADER_MAX;
		e = store_body_read(s->store, m->body_id, r.hdr_off,
		    (size_t)r.hdr_len, &hdr);
		if (e != STORE_OK) {
			resp_add(s, "NIL");
			break;
		}
		fetch_write_header(s, it, &hdr);
		break;
	}
	buf_free(&hdr);
	return e;
}

static enum store_err
fetch_body_item(struct session *s, const struct fetch_item *it,
    const struct store_msg *m, uint64_t hsize, const struct fetch_blob *blob)
{
	struct buf hdr = BUF_INITIALIZER(MSGPART_HEADER_MAX + FETCH_CHUNK);
	enum store_err e = STORE_OK;
	uint64_t off, len;

	fetch_section_name(s, it);
	if (it->depth > 0)
		return fetch_part_item(s, it, m, blob);
	switch (it->section) {
	case SECTION_ALL:
		fetch_clip(it, m->size, &off, &len);
		e = fetch_write_range(s, m, off, len);
		break;
	case SECTION_TEXT:
		fetch_clip(it, m->size - hsize, &off, &len);
		e = fetch_write_range(s, m, hsize + off, len);
		break;
	case SECTION_HEADER:
	case SECTION_FIELDS:
	case SECTION_FIELDS_NOT:
	case SECTION_MIME:
		if ((e = msgpart_header(s->store, m, &hdr)) != STORE_OK) {
			resp_add(s, "NIL");
			break;
		}
		fetch_write_header(s, it, &hdr);
		break;
	}
	buf_free(&hdr);
	return e;
}

/* ENVELOPE, BODY or BODYSTRUCTURE from the stored structure. */
static enum store_err
fetch_mime_item(struct session *s, const struct fetch_item *it,
    const struct fetch_blob *blob)
{
	const uint8_t *text;
	size_t len;
	bool ok;

	if (it->kind == FETCH_ENVELOPE) {
		resp_add_str(s, "ENVELOPE ");
		ok = mime_envelope(blob->p, blob->n, &text, &len);
	} else {
		resp_add_str(s, it->extended ? "BODYSTRUCTURE " : "BODY ");
		ok = mime_body(blob->p, blob->n, it->extended, &text, &len);
	}
	if (!ok) {
		log_msg(LOG_ERR, "corrupt MIME structure");
		resp_add(s, "NIL");
		return STORE_ERR_IO;
	}
	resp_add_bytes(s, text, len);
	return STORE_OK;
}

struct fetch_run {
	struct session *s;
	struct store_msg *msgs;
	size_t nmsgs, cap;
	const struct msgref *refs;
	size_t nrefs, next;
	uint64_t changedsince;	/* CHANGEDSINCE; 0: every message */
	size_t unchanged;	/* left out by CHANGEDSINCE */
};

static int
fetch_collect(void *ctx, const struct store_msg *m)
{
	struct fetch_run *r = ctx;

	while (r->next < r->nrefs && r->refs[r->next].uid < m->uid)
		r->next++;
	if (r->next >= r->nrefs)
		return 1;
	if (r->refs[r->next].uid != m->uid)
		return 0;
	if (m->modseq <= r->changedsince) {
		r->unchanged++;
		return 0;
	}
	if (r->nmsgs == r->cap) {
		r->cap = r->cap == 0 ? 64 : r->cap * 2;
		r->msgs = xreallocarray(r->msgs, r->cap, sizeof(*r->msgs));
	}
	r->msgs[r->nmsgs++] = *m;
	return 0;
}

struct fetch_seen {
	struct fetch_run *run;
	size_t at;
};

static int
fetch_seen_cb(void *ctx, const struct store_msg *m, bool changed)
{
	struct fetch_seen *fs = ctx;
	struct fetch_run *r = fs->run;

	while (fs->at < r->nmsgs && r->msgs[fs->at].uid < m->uid)
		fs->at++;
	if (fs->at < r->nmsgs && r->msgs[fs->at].uid == m->uid && changed) {
		r->msgs[fs->at] = *m;
		r->msgs[fs->at].flags |= 0x80000000u;	/* "FLAGS changed" */
		select_note_own(r->s, m->uid, m->modseq);
	}
	return 0;
}

/* Sets \Seen on the fetched messages that lack it, in one transaction. */
static enum store_err
fetch_set_seen(struct session *s, struct fetch_run *r)
{
	struct fetch_seen fs = { r, 0 };
	uint32_t *uids = xreallocarray(NULL, r->nmsgs + 1, sizeof(uint32_t));
	size_t n = 0, i;
	enum store_err e = STORE_OK;

	for (i = 0; i < r->nmsgs; i++) {
		if ((r->msgs[i].flags & STORE_FLAG_SEEN) == 0)
			uids[n++] = r->msgs[i].uid;
	}
	if (n > 0)
		e = store_msg_set_flags(s->store, s->user, s->selected,
		    s->mbox_id, uids, n, STORE_FLAGS_ADD, STORE_FLAG_SEEN, 0, 0,
		    fetch_seen_cb, &fs);
	free(uids);
	return e;
}

void
cmd_fetch(struct session *s, struct args *a)
{
	struct fetch_ctx *fc = xcalloc(1, sizeof(*fc));
	struct resync_fetch_mod mod;
	struct fetch_run r;
	struct buf blob = BUF_INITIALIZER(SIZE_MAX);
	uint64_t read0 = store_stats_body_bytes(s->store);
	struct seqset set;
	struct msgref *refs = NULL;
	const uint8_t *p;
	size_t n, nrefs = 0, i, j, k;
	const char *why;
	char **kw = NULL;
	struct fetch_line *line;
	size_t offs[FETCH_MIME_BATCH], lens[FETCH_MIME_BATCH];
	enum store_err e = STORE_OK;
	bool missing = false;

	memset(&r, 0, sizeof(r));
	fc->modseq_ok = capa_has(s->capa, CAPA_CONDSTORE);
	if (!args_atom(a, &p, &n) || !seqset_parse(p, n, &set)) {
		cmd_bad_args(s, "a sequence set");
		free(fc);
		return;
	}
	if (!fetch_parse(fc, a) ||
	    !resync_fetch_modifiers(s, a, &mod, &fc->why) ||
	    !cmd_args_end(s, a)) {
		if (fc->why != NULL) {
			resp_bad(s, "Invalid FETCH: %s", fc->why);
			session_count_bad(s);
		}
		goto out;
	}
	/* CHANGEDSINCE implies MODSEQ (RFC 7162 §3.1.4.1). */
	if (mod.changedsince && !fc->wants_modseq &&
	    fetch_add(fc, FETCH_MODSEQ) == NULL) {
		resp_bad(s, "Invalid FETCH: too many fetch items");
		session_count_bad(s);
		goto out;
	}
	select_sync(s, s->uid);
	if (fc->wants_modseq)
		resync_enable_condstore(s);
	if (!seqset_refs(s, &set, s->uid, &refs, &nrefs, &why)) {
		resp_bad(s, "%s", why);
		session_count_bad(s);
		goto out;
	}
	/* VANISHED (EARLIER) comes before any FETCH (§3.2.6). */
	if (mod.vanished && (e = resync_vanished_earlier(s, mod.modseq, p,
	    n)) != STORE_OK) {
		cmd_store_error(s, e);
		goto out;
	}
	if (nrefs == 0) {
		resp_ok(s, "FETCH completed");
		goto out;
	}
	r.s = s;
	r.refs = refs;
	r.nrefs = nrefs;
	r.changedsince = mod.changedsince ? mod.modseq : 0;
	e = store_msg_list(s->store, s->user, s->selected, s->mbox_id,
	    refs[0].uid, fetch_collect, &r);
	if (e == STORE_OK && fc->sets_seen && !s->readonly)
		e = fetch_set_seen(s, &r);
	if (e != STORE_OK) {
		cmd_store_error(s, e);
		goto out;
	}
	missing = r.nmsgs + r.unchanged < nrefs;
	line = xmalloc(sizeof(*line));
	line->n = 0;
	for (i = 0, j = 0; i < r.nmsgs; i++) {
		struct store_msg *m = &r.msgs[i];
		bool flags_changed = (m->flags & 0x80000000u) != 0;
		uint64_t hsize = 0;
		struct fetch_blob mime = { NULL, 0 };
		const char *sep = "";

		m->flags &= ~0x80000000u;
		while (j < nrefs && refs[j].uid < m->uid)
			j++;
		if (fc->needs_header &&
		    (e = msgpart_header_size(s->store, m, &hsize)) != STORE_OK)
			break;
		if (fc->needs_mime && i % FETCH_MIME_BATCH == 0) {
			buf_reset(&blob);
			if ((e = store_mime_get_many(s->store, m,
			    r.nmsgs - i < FETCH_MIME_BATCH ? r.nmsgs - i :
			    FETCH_MIME_BATCH, &blob, offs, lens)) != STORE_OK)
				break;
		}
		if (fc->needs_mime && blob.data != NULL) {
			mime.p = blob.data + offs[i % FETCH_MIME_BATCH];
			mime.n = lens[i % FETCH_MIME_BATCH];
		}
		fetch_line_put(s, line, "* ", 2);
		fetch_line_u64(s, line, refs[j].seq);
		fetch_line_str(s, line, " FETCH (");
		if (s->uid && !fc->wants_uid) {
			fetch_line_str(s, line, "UID ");
			fetch_line_u64(s, line, m->uid);
			sep = " ";
		}
		for (k = 0; k < fc->nitems && e == STORE_OK; k++) {
			const struct fetch_item *it = &fc->items[k];

			fetch_line_str(s, line, sep);
			sep = " ";
			switch (it->kind) {
			case FETCH_FLAGS:
				fetch_line_str(s, line, "FLAGS ");
				fetch_line_flags(s, line, m, &kw);
				break;
			case FETCH_UID:
				fetch_line_str(s, line, "UID ");
				fetch_line_u64(s, line, m->uid);
				break;
			case FETCH_INTERNALDATE:
				fetch_line_flush(s, line);
				resp_add_str(s, "INTERNALDATE ");
				fetch_date(s, m);
				break;
			case FETCH_SIZE:
				fetch_line_str(s, line, "RFC822.SIZE ");
				fetch_line_u64(s, line, m->size);
				break;
			case FETCH_BODY:
				fetch_line_flush(s, line);
				e = fetch_body_item(s, it, m, hsize, &mime);
				break;
			case FETCH_ENVELOPE:
			case FETCH_STRUCTURE:
				fetch_line_flush(s, line);
				e = fetch_mime_item(s, it, &mime);
				break;
			case FETCH_MODSEQ:
				fetch_line_str(s, line, "MODSEQ (");
				fetch_line_u64(s, line, m->modseq);
				fetch_line_put(s, line, ")", 1);
				resync_modseq_sent(s, m->modseq);
				break;
			}
		}
		if (flags_changed && !fc->wants_flags) {
			fetch_line_str(s, line, sep);
			fetch_line_str(s, line, "FLAGS ");
			fetch_line_flags(s, line, m, &kw);
		}
		/* The \Seen set here, as CONDSTORE wants it: with UID and
		 * MODSEQ (RFC 7162 §3.2.4). */
		if (flags_changed && s->condstore && !s->uid && !fc->wants_uid) {
			fetch_line_str(s, line, " UID ");
			fetch_line_u64(s, line, m->uid);
		}
		if (flags_changed && s->condstore && !fc->wants_modseq) {
			fetch_line_str(s, line, " MODSEQ (");
			fetch_line_u64(s, line, m->modseq);
			fetch_line_put(s, line, ")", 1);
			resync_modseq_sent(s, m->modseq);
		}
		fetch_line_put(s, line, ")\r\n", 3);
		/* A large response goes out as it is made, so that the client
		 * reads the first part while the rest is written. */
		if (line->n + s->out.len >= FETCH_FLUSH) {
			fetch_line_flush(s, line);
			(void)resp_flush(s);
		}
		if (s->closing)
			break;
	}
	fetch_line_flush(s, line);
	free(line);
	log_msg(LOG_DEBUG, "fetch: %llu message bytes read from the store",
	    (unsigned long long)(store_stats_body_bytes(s->store) - read0));
	if (e != STORE_OK)
		cmd_store_error(s, e);
	else if (missing)
		resp_no(s, "EXPUNGEISSUED", "Some of the requested messages "
		    "no longer exist");
	else
		resp_ok(s, "FETCH completed");
out:
	buf_free(&blob);
	select_keywords_free(&kw);
	free(r.msgs);
	free(refs);
	seqset_free(&set);
	free(fc);
}
