/*
 * cmd_fetch.c: FETCH and UID FETCH (RFC 3501 §6.4.5, §6.4.8, §7.4.2), in
 * the selected state.
 *
 * Items: FLAGS, UID, INTERNALDATE, RFC822.SIZE, RFC822, RFC822.HEADER,
 * RFC822.TEXT, BODY[] and BODY.PEEK[] with the sections "", HEADER, TEXT,
 * HEADER.FIELDS (...) and HEADER.FIELDS.NOT (...) and <origin.octets>
 * partials, and the macros ALL and FAST. ENVELOPE, BODY, BODYSTRUCTURE,
 * FULL and part numbers need the MIME structure and are refused with NO
 * [CANNOT] until it exists.
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
#include "cmd.h"
#include "cmd_util.h"
#include "datetime.h"
#include "msgpart.h"
#include "resp.h"
#include "seqset.h"

#define FETCH_ITEMS_MAX		64
#define FETCH_FIELDS_MAX	128
#define FETCH_CHUNK		(64 * 1024)

enum fetch_kind {
	FETCH_FLAGS,
	FETCH_UID,
	FETCH_INTERNALDATE,
	FETCH_SIZE,
	FETCH_BODY,		/* BODY[...] and the RFC822 forms */
};

enum fetch_section {
	SECTION_ALL,		/* "" */
	SECTION_HEADER,
	SECTION_TEXT,
	SECTION_FIELDS,
	SECTION_FIELDS_NOT,
};

struct fetch_item {
	enum fetch_kind kind;
	enum fetch_section section;
	bool peek;
	bool partial;
	uint64_t origin, octets;
	const char *rfc822;	/* "RFC822", "RFC822.HEADER", ... or NULL */
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
	bool needs_header;	/* the header size must be known */
	const char *why;	/* for a BAD */
	bool unsupported;	/* for a NO [CANNOT] */
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
	if (secn == 0) {
		it->section = SECTION_ALL;
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
	} else if (secn > 0 && sec[0] >= '0' && sec[0] <= '9') {
		fc->unsupported = true;
		return fetch_fail(fc, "Body part numbers need MIME support, "
		    "not available yet");
	} else {
		return fetch_fail(fc, "unknown section");
	}
	if (close == NULL)
		return fetch_fail(fc, "missing ']'");
	skip += secn + 1;
	return fetch_partial(fc, it, p + skip, n - skip);
}

static bool
fetch_macro(struct fetch_ctx *fc, const uint8_t *p, size_t n)
{
	if (fetch_is(p, n, "FAST") || fetch_is(p, n, "ALL")) {
		if (fetch_add(fc, FETCH_FLAGS) == NULL ||
		    fetch_add(fc, FETCH_INTERNALDATE) == NULL ||
		    fetch_add(fc, FETCH_SIZE) == NULL)
			return fetch_fail(fc, "too many fetch items");
		if (p[0] == 'A' || p[0] == 'a') {
			fc->unsupported = true;
			return fetch_fail(fc, "ALL includes ENVELOPE, which "
			    "needs MIME support, not available yet");
		}
		return true;
	}
	if (fetch_is(p, n, "FULL")) {
		fc->unsupported = true;
		return fetch_fail(fc, "FULL includes ENVELOPE and BODY, which "
		    "need MIME support, not available yet");
	}
	return fetch_fail(fc, "unknown fetch item");
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
	else if (fetch_is(p, n, "ENVELOPE") || fetch_is(p, n, "BODY") ||
	    fetch_is(p, n, "BODYSTRUCTURE")) {
		fc->unsupported = true;
		return fetch_fail(fc, "ENVELOPE, BODY and BODYSTRUCTURE need "
		    "MIME support, not available yet");
	} else
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
	    "HEADER.FIELDS", "HEADER.FIELDS.NOT" };
	size_t i;

	if (it->rfc822 != NULL) {
		resp_add(s, "%s ", it->rfc822);
		return;
	}
	resp_add(s, "BODY[%s", names[it->section]);
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

static enum store_err
fetch_body_item(struct session *s, const struct fetch_item *it,
    const struct store_msg *m, uint64_t hsize)
{
	struct buf hdr = BUF_INITIALIZER(MSGPART_HEADER_MAX + FETCH_CHUNK);
	struct buf sel = BUF_INITIALIZER(MSGPART_HEADER_MAX + 2);
	enum store_err e = STORE_OK;
	uint64_t off, len;

	fetch_section_name(s, it);
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
		if ((e = msgpart_header(s->store, m, &hdr)) != STORE_OK) {
			resp_add(s, "NIL");
			break;
		}
		if (it->section != SECTION_HEADER) {
			fetch_filter_fields(it, &hdr, &sel);
			buf_free(&hdr);
			hdr = sel;
			buf_init(&sel, 0);
		}
		fetch_clip(it, hdr.len, &off, &len);
		resp_add(s, "{%llu}\r\n", (unsigned long long)len);
		resp_add_bytes(s, hdr.data == NULL ? (const uint8_t *)"" :
		    hdr.data + off, (size_t)len);
		break;
	}
	buf_free(&hdr);
	buf_free(&sel);
	return e;
}

struct fetch_run {
	struct session *s;
	struct store_msg *msgs;
	size_t nmsgs, cap;
	const struct msgref *refs;
	size_t nrefs, next;
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
	struct fetch_run r;
	struct seqset set;
	struct msgref *refs = NULL;
	const uint8_t *p;
	size_t n, nrefs = 0, i, j, k;
	const char *why;
	char **kw = NULL;
	enum store_err e = STORE_OK;
	bool missing = false;

	memset(&r, 0, sizeof(r));
	if (!args_atom(a, &p, &n) || !seqset_parse(p, n, &set)) {
		cmd_bad_args(s, "a sequence set");
		free(fc);
		return;
	}
	if (!fetch_parse(fc, a) || !cmd_args_end(s, a)) {
		if (fc->unsupported)
			resp_no(s, "CANNOT", "%s", fc->why);
		else if (fc->why != NULL) {
			resp_bad(s, "Invalid FETCH: %s", fc->why);
			session_count_bad(s);
		}
		goto out;
	}
	select_sync(s, s->uid);
	if (!seqset_refs(s, &set, s->uid, &refs, &nrefs, &why)) {
		resp_bad(s, "%s", why);
		session_count_bad(s);
		goto out;
	}
	if (nrefs == 0) {
		resp_ok(s, "FETCH completed");
		goto out;
	}
	r.s = s;
	r.refs = refs;
	r.nrefs = nrefs;
	e = store_msg_list(s->store, s->user, s->selected, s->mbox_id,
	    refs[0].uid, fetch_collect, &r);
	if (e == STORE_OK && fc->sets_seen && !s->readonly)
		e = fetch_set_seen(s, &r);
	if (e != STORE_OK) {
		cmd_store_error(s, e);
		goto out;
	}
	missing = r.nmsgs < nrefs;
	for (i = 0, j = 0; i < r.nmsgs; i++) {
		struct store_msg *m = &r.msgs[i];
		bool flags_changed = (m->flags & 0x80000000u) != 0;
		uint64_t hsize = 0;
		const char *sep = "";

		m->flags &= ~0x80000000u;
		while (j < nrefs && refs[j].uid < m->uid)
			j++;
		if (fc->needs_header &&
		    (e = msgpart_header_size(s->store, m, &hsize)) != STORE_OK)
			break;
		resp_begin(s);
		resp_add(s, "%u FETCH (", refs[j].seq);
		if (s->uid && !fc->wants_uid) {
			resp_add(s, "UID %u", m->uid);
			sep = " ";
		}
		for (k = 0; k < fc->nitems && e == STORE_OK; k++) {
			const struct fetch_item *it = &fc->items[k];

			resp_add(s, "%s", sep);
			sep = " ";
			switch (it->kind) {
			case FETCH_FLAGS:
				resp_add(s, "FLAGS ");
				select_write_flags(s, m, &kw);
				break;
			case FETCH_UID:
				resp_add(s, "UID %u", m->uid);
				break;
			case FETCH_INTERNALDATE:
				resp_add(s, "INTERNALDATE ");
				fetch_date(s, m);
				break;
			case FETCH_SIZE:
				resp_add(s, "RFC822.SIZE %llu",
				    (unsigned long long)m->size);
				break;
			case FETCH_BODY:
				e = fetch_body_item(s, it, m, hsize);
				break;
			}
		}
		if (flags_changed && !fc->wants_flags) {
			resp_add(s, "%sFLAGS ", sep);
			select_write_flags(s, m, &kw);
		}
		resp_add(s, ")");
		resp_end(s);
		if (s->closing)
			break;
	}
	if (e != STORE_OK)
		cmd_store_error(s, e);
	else if (missing)
		resp_no(s, "EXPUNGEISSUED", "Some of the requested messages "
		    "no longer exist");
	else
		resp_ok(s, "FETCH completed");
out:
	select_keywords_free(&kw);
	free(r.msgs);
	free(refs);
	seqset_free(&set);
	free(fc);
}
