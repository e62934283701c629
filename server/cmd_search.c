/*
 * cmd_search.c: SEARCH and UID SEARCH (RFC 3501 §6.4.4, §6.4.8; the
 * SEARCH response §7.2.5): selected state only.
 *
 * The program (search.c) is parsed first; then the message records are
 * walked once, read in bulk (store_msg_scan). Keys that need no header
 * are decided in the walk itself; when the program has header keys, the
 * records are collected and the header of a message is read only when
 * the answer still depends on it: those messages are read in batches,
 * with one cursor and mostly one short read from the first page of each
 * (store_body_heads). BODY and TEXT search the decoded text parts
 * (store/mime_text.c) with the key's matcher (search.h).
 *
 * SEARCH RETURN (...) answers with ESEARCH (RFC 4731); the MODSEQ key
 * (RFC 7162 §3.1.5) adds the highest MODSEQ of the matches to the answer.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/imapstr.h"
#include "../lib/xalloc.h"
#include "capa.h"
#include "cmd.h"
#include "cmd_util.h"
#include "../store/mime_text.h"
#include "msgpart.h"
#include "resp.h"
#include "resync.h"
#include "search.h"
#include "seqset.h"

/* ---- The command ---- */

/* A record kept for evaluation after the walk. */
struct search_item {
	struct store_msg rec;
	uint32_t seq;
	bool match;
};

struct search_walk {
	struct session *s;
	struct search_program *prog;
	struct uidmap_iter at;	/* the next message of the map to match */
	bool collect;		/* keep records, match after the walk */
	struct search_item *items;
	size_t nitems, capitems;
	uint32_t *out;		/* matches: sequence numbers or UIDs */
	uint64_t *mods;		/* their MODSEQs */
	size_t nout, capout;
};

static void
search_out(struct search_walk *w, uint32_t seq, uint32_t uid,
    uint64_t modseq)
{
	if (w->nout == w->capout) {
		w->capout = w->capout == 0 ? 64 : w->capout * 2;
		w->out = xreallocarray(w->out, w->capout, sizeof(*w->out));
		w->mods = xreallocarray(w->mods, w->capout,
		    sizeof(*w->mods));
	}
	w->mods[w->nout] = modseq;
	w->out[w->nout++] = w->s->uid ? uid : seq;
}

static int
search_walk_cb(void *ctx, const struct store_msg *msg)
{
	struct search_walk *w = ctx;
	struct session *s = w->s;
	struct search_msg m;
	uint32_t seq;

	/* Both are in UID order: a UID the session does not know yet is
	 * skipped, and so is a known one the store no longer has (an
	 * expunge held back during SEARCH, RFC 3501 §7.4.1). */
	uidmap_iter_skip(&w->at, msg->uid);
	if (!uidmap_iter_valid(&w->at))
		return 1;
	if (w->at.uid != msg->uid)
		return 0;
	seq = w->at.seq;
	uidmap_iter_next(&w->at);
	if (w->collect) {
		if (w->nitems == w->capitems) {
			w->capitems = w->capitems == 0 ? 64 : w->capitems * 2;
			w->items = xreallocarray(w->items, w->capitems,
			    sizeof(*w->items));
		}
		w->items[w->nitems].rec = *msg;
		w->items[w->nitems].seq = seq;
		w->nitems++;
		return 0;
	}
	m.rec = msg;
	m.seq = seq;
	m.recent = select_is_recent(s, msg->uid);
	if (search_match(w->prog, &m, NULL, NULL))
		search_out(w, m.seq, msg->uid, msg->modseq);
	return 0;
}

/* Reads the header of one message once, on first demand. */
struct search_hdr {
	struct session *s;
	const struct store_msg *rec;
	const uint8_t *pre;	/* the first bytes, read in a batch */
	size_t npre;
	size_t longest;		/* the longest header seen so far */
	struct buf buf;
	struct buf blob;	/* the MIME structure, for BODY and TEXT */
	bool have_blob;
	enum store_err err;
};

static int
search_text_cb(void *ctx, const uint8_t *p, size_t n)
{
	return search_textmatch_feed(ctx, p, n) ? 1 : 0;
}

/* BODY and TEXT: the decoded text parts (store/mime_text.c), read from the
 * store part by part, attachments never, until the first match. */
static bool
search_body_cb(void *ctx, struct search_textmatch *tm, bool with_headers)
{
	struct search_hdr *h = ctx;
	enum store_err e;

	if (!h->have_blob) {
		buf_reset(&h->blob);
		e = store_mime_get(h->s->store, h->rec->body_id, h->rec->size,
		    &h->blob);
		if (e != STORE_OK) {
			if (h->err == STORE_OK)
				h->err = e;
			return false;
		}
		h->have_blob = true;
	}
	search_textmatch_reset(tm);
	if (search_textmatch_feed(tm, NULL, 0))
		return true;	/* an empty needle */
	e = mime_text_walk(h->s->store, h->rec, h->blob.data, h->blob.len,
	    with_headers, search_text_cb, tm);
	if (e != STORE_OK && h->err == STORE_OK)
		h->err = e;
	return e == STORE_OK && search_textmatch_feed(tm, NULL, 0);
}

/*
 * Most headers are shorter than this: one small read then touches only
 * the first database page of the message, where msgpart_header's larger
 * reads would pull in several pages of body it does not need. A search
 * starts with the smaller size and grows it to twice the longest header
 * seen so far, so that short headers cost short copies.
 */
#define SEARCH_HDR_FIRST	4000
#define SEARCH_HDR_START	1024

static bool
search_hdr_cb(void *ctx, const uint8_t **p_r, size_t *n_r)
{
	struct search_hdr *h = ctx;
	enum store_err e;
	size_t end;

	/* The first empty line of a prefix is the message's. */
	if (h->pre != NULL && (end = msgpart_header_end(h->pre, h->npre)) != 0) {
		*p_r = h->pre;
		*n_r = end;
		if (end > h->longest)
			h->longest = end;
		return true;
	}
	/* A long header (or none that ends): read it the usual way. */
	buf_reset(&h->buf);
	e = msgpart_header(h->s->store, h->rec, &h->buf);
	if (e != STORE_OK) {
		if (h->err == STORE_OK)
			h->err = e;
		return false;
	}
	*p_r = h->buf.data;
	*n_r = h->buf.len;
	if (h->buf.len > h->longest)
		h->longest = h->buf.len;
	return true;
}

/* The first pass over a message: notes whether the answer depends on the
 * header or the text at all, reading neither. */
static bool
search_probe_hdr(void *ctx, const uint8_t **p_r, size_t *n_r)
{
	*(bool *)ctx = true;
	return false;
}

static bool
search_probe_body(void *ctx, struct search_textmatch *tm, bool with_headers)
{
	*(bool *)ctx = true;
	return false;
}

struct search_kwtab {
	char *names[STORE_KEYWORDS_MAX];
};

static int
search_kwtab_add(void *ctx, unsigned index, const char *keyword)
{
	struct search_kwtab *t = ctx;

	if (index < STORE_KEYWORDS_MAX && t->names[index] == NULL)
		t->names[index] = xstrdup(keyword);
	return 0;
}

static int
search_kwtab_find(void *ctx, const char *keyword)
{
	struct search_kwtab *t = ctx;
	int i;

	for (i = 0; i < STORE_KEYWORDS_MAX; i++) {
		if (t->names[i] != NULL &&
		    strcasecmp(t->names[i], keyword) == 0)
			return i;
	}
	return -1;
}

/* Gives KEYWORD keys their bits from the mailbox's keyword table. */
static enum store_err
search_keywords(struct session *s, struct search_program *prog)
{
	struct search_kwtab t;
	enum store_err e;
	int i;

	memset(&t, 0, sizeof(t));
	e = store_keyword_list(s->store, s->user, s->selected, s->mbox_id,
	    search_kwtab_add, &t);
	if (e == STORE_OK)
		search_resolve_keywords(prog, search_kwtab_find, &t);
	for (i = 0; i < STORE_KEYWORDS_MAX; i++)
		free(t.names[i]);
	return e;
}

/* Messages whose header is read in one store call. */
#define SEARCH_BATCH	64

/* The collected messages that need their header, and its first bytes. */
struct search_batch {
	size_t idx[SEARCH_BATCH];	/* into w->items */
	struct store_head heads[SEARCH_BATCH];
	size_t n;
	uint8_t *arena;			/* SEARCH_BATCH * SEARCH_HDR_FIRST */
};

/* Reads the first bytes of the batch's messages together, then matches
 * each of them. */
static void
search_flush(struct session *s, struct search_program *prog,
    struct search_walk *w, struct search_batch *b, struct search_hdr *h)
{
	enum store_err e;
	size_t j, first;

	if (b->n == 0)
		return;
	first = h->longest < SEARCH_HDR_FIRST / 2 ? 2 * h->longest :
	    SEARCH_HDR_FIRST;
	if (first < SEARCH_HDR_START)
		first = SEARCH_HDR_START;
	for (j = 0; j < b->n; j++) {
		const struct store_msg *r = &w->items[b->idx[j]].rec;
		struct store_head *hd = &b->heads[j];

		hd->body_id = r->body_id;
		hd->dst = b->arena + j * SEARCH_HDR_FIRST;
		hd->want = r->size < first ? (size_t)r->size : first;
	}
	if ((e = store_body_heads(s->store, b->heads, b->n)) != STORE_OK) {
		h->err = e;
		b->n = 0;
		return;
	}
	for (j = 0; j < b->n && h->err == STORE_OK; j++) {
		struct search_item *it = &w->items[b->idx[j]];
		struct search_msg m;

		m.rec = &it->rec;
		m.seq = it->seq;
		m.recent = select_is_recent(s, it->rec.uid);
		m.body = search_body_cb;
		m.body_ctx = h;
		h->rec = m.rec;
		h->have_blob = false;
		h->pre = b->heads[j].dst;
		h->npre = b->heads[j].got;
		it->match = search_match(prog, &m, search_hdr_cb, h);
	}
	h->pre = NULL;
	b->n = 0;
}

/*
 * Matches the collected messages. A first pass without header or text
 * decides those it can (UNSEEN SUBJECT x: the seen ones); the others
 * are matched in batches whose headers are read with one cursor straight
 * into one arena. Results are kept per message and sent in order.
 */
static enum store_err
search_collected(struct session *s, struct search_program *prog,
    struct search_walk *w)
{
	struct search_batch *b;
	struct search_hdr h;
	size_t i;

	b = xcalloc(1, sizeof(*b));
	b->arena = xmalloc((size_t)SEARCH_BATCH * SEARCH_HDR_FIRST);
	memset(&h, 0, sizeof(h));
	h.s = s;
	buf_init(&h.buf, MSGPART_HEADER_MAX + 16384);
	buf_init(&h.blob, SIZE_MAX);
	for (i = 0; i < w->nitems && h.err == STORE_OK; i++) {
		struct search_item *it = &w->items[i];
		struct search_msg m;
		bool wanted = false;

		m.rec = &it->rec;
		m.seq = it->seq;
		m.recent = select_is_recent(s, it->rec.uid);
		m.body = search_probe_body;
		m.body_ctx = &wanted;
		it->match = search_match(prog, &m, search_probe_hdr, &wanted);
		if (!wanted)
			continue;
		b->idx[b->n++] = i;
		if (b->n == SEARCH_BATCH)
			search_flush(s, prog, w, b, &h);
	}
	if (h.err == STORE_OK)
		search_flush(s, prog, w, b, &h);
	for (i = 0; i < w->nitems && h.err == STORE_OK; i++) {
		const struct search_item *it = &w->items[i];

		if (it->match)
			search_out(w, it->seq, it->rec.uid, it->rec.modseq);
	}
	buf_free(&h.buf);
	buf_free(&h.blob);
	free(b->arena);
	free(b);
	return h.err;
}

/* Walks the mailbox once; fills w->out. */
static enum store_err
search_run(struct session *s, struct search_program *prog,
    struct search_walk *w)
{
	uint32_t min_seq, min_uid, from;
	enum store_err e;

	search_prepare(prog, uidmap_count(&s->uidmap),
	    uidmap_last(&s->uidmap));
	search_bounds(prog, &min_seq, &min_uid);
	if (uidmap_count(&s->uidmap) == 0 ||
	    min_seq > uidmap_count(&s->uidmap))
		return STORE_OK;
	from = uidmap_uid(&s->uidmap, min_seq);
	if (min_uid > from)
		from = min_uid;
	uidmap_iter_uid(&w->at, &s->uidmap, from);
	w->collect = search_needs_header(prog);
	e = store_msg_scan(s->store, s->user, s->selected, s->mbox_id, from,
	    search_walk_cb, w);
	if (e != STORE_OK || !w->collect)
		return e;
	return search_collected(s, prog, w);
}

/* ESEARCH result options (RFC 4731 §3.1). */
#define SEARCH_RET_MIN		0x01u
#define SEARCH_RET_MAX		0x02u
#define SEARCH_RET_COUNT	0x04u
#define SEARCH_RET_ALL		0x08u

/*
 * "RETURN (opt ...)" before the program (RFC 4466 §2.6, RFC 4731 §3.1):
 * false on a syntax error or an unknown option. An empty list means ALL.
 */
static bool
search_return_opts(struct args *a, unsigned *ret_r)
{
	static const struct {
		const char *name;
		unsigned bit;
	} opts[] = {
		{ "MIN", SEARCH_RET_MIN }, { "MAX", SEARCH_RET_MAX },
		{ "COUNT", SEARCH_RET_COUNT }, { "ALL", SEARCH_RET_ALL },
	};
	size_t k;

	*ret_r = 0;
	if (!args_list_open(a))
		return false;
	while (!args_list_close(a)) {
		for (k = 0; k < N_ELEMENTS(opts); k++) {
			if (args_word(a, opts[k].name))
				break;
		}
		if (k == N_ELEMENTS(opts))
			return false;
		*ret_r |= opts[k].bit;
	}
	if (*ret_r == 0)
		*ret_r = SEARCH_RET_ALL;
	return true;
}

/* The ESEARCH response (RFC 4731 §3.1, §3.2; RFC 7162 §3.1.10). */
static void
search_esearch(struct session *s, const struct search_walk *w,
    unsigned ret, bool modseq)
{
	struct buf set = BUF_INITIALIZER(SIZE_MAX);
	uint64_t top = 0;
	size_t i;

	resp_begin(s);
	resp_add(s, "ESEARCH (TAG ");
	resp_add_string(s, (const uint8_t *)s->tag, strlen(s->tag));
	resp_add(s, ")%s", s->uid ? " UID" : "");
	if (w->nout > 0 && (ret & SEARCH_RET_MIN))
		resp_add(s, " MIN %u", w->out[0]);
	if (w->nout > 0 && (ret & SEARCH_RET_MAX))
		resp_add(s, " MAX %u", w->out[w->nout - 1]);
	if (ret & SEARCH_RET_COUNT)
		resp_add(s, " COUNT %zu", w->nout);
	if (w->nout > 0 && (ret & SEARCH_RET_ALL) &&
	    seqset_format(&set, w->out, w->nout) == 0)
		resp_add(s, " ALL %s", buf_cstr(&set));
	if (modseq && w->nout > 0) {
		/* Only MIN and/or MAX: the MODSEQ of those messages;
		 * otherwise the highest of all (RFC 4731 §3.2). */
		if ((ret & (SEARCH_RET_COUNT | SEARCH_RET_ALL)) == 0) {
			if (ret & SEARCH_RET_MIN)
				top = w->mods[0];
			if ((ret & SEARCH_RET_MAX) &&
			    w->mods[w->nout - 1] > top)
				top = w->mods[w->nout - 1];
		} else {
			for (i = 0; i < w->nout; i++)
				top = w->mods[i] > top ? w->mods[i] : top;
		}
		resp_add(s, " MODSEQ %llu", (unsigned long long)top);
	}
	resp_end(s);
	buf_free(&set);
}

void
cmd_search(struct session *s, struct args *a)
{
	struct search_program *prog;
	struct search_walk w;
	const char *why = "Invalid search program";
	enum store_err e = STORE_OK;
	unsigned ret = 0;
	uint64_t top = 0;
	size_t i;

	/* Without ESEARCH, RETURN is no search key either: BAD below. */
	if (capa_has(s->capa, CAPA_ESEARCH) && args_word(a, "RETURN") &&
	    !search_return_opts(a, &ret)) {
		cmd_bad_args(s, "RETURN (MIN MAX COUNT ALL)");
		return;
	}
	switch (search_parse(a, &prog, &why)) {
	case SEARCH_PARSE_OK:
		if (search_has_modseq(prog) &&
		    !capa_has(s->capa, CAPA_CONDSTORE)) {
			/* The MODSEQ key is CONDSTORE's (RFC 7162 §3.1.5). */
			search_free(&prog);
			resp_bad(s, "Unknown search key");
			session_count_bad(s);
			return;
		}
		break;
	case SEARCH_PARSE_BAD:
		resp_bad(s, "%s", why);
		session_count_bad(s);
		return;
	case SEARCH_PARSE_BADCHARSET:
		resp_no(s, "BADCHARSET (US-ASCII UTF-8)",
		    "Unsupported charset");
		return;
	}
	/* No EXPUNGE while sequence numbers are in use (§7.4.1); UID
	 * SEARCH answers with UIDs, so it may hear of them first, unless
	 * its keys hold message numbers (RFC 7162 §3.2.10.2). */
	select_sync(s, s->uid && !search_has_seqnums(prog));
	if (s->state != SESSION_SELECTED || s->closing) {
		search_free(&prog);
		return;
	}
	if (search_has_modseq(prog))
		resync_enable_condstore(s);	/* RFC 7162 §3.1 */
	memset(&w, 0, sizeof(w));
	w.s = s;
	w.prog = prog;
	if (search_needs_keywords(prog))
		e = search_keywords(s, prog);
	if (e == STORE_OK)
		e = search_run(s, prog, &w);
	if (e != STORE_OK) {
		cmd_store_error(s, e);
	} else if (ret != 0) {
		search_esearch(s, &w, ret, search_has_modseq(prog));
		resp_ok(s, "SEARCH completed");
	} else {
		resp_begin(s);
		resp_add(s, "SEARCH");
		for (i = 0; i < w.nout; i++) {
			resp_add_bytes(s, " ", 1);
			resp_add_u64(s, w.out[i]);
			top = w.mods[i] > top ? w.mods[i] : top;
		}
		/* With a MODSEQ key, the highest MODSEQ of the matches
		 * (RFC 7162 §3.1.6). */
		if (search_has_modseq(prog) && w.nout > 0)
			resp_add(s, " (MODSEQ %llu)", (unsigned long long)top);
		resp_end(s);
		resp_ok(s, "SEARCH completed");
	}
	free(w.items);
	free(w.out);
	free(w.mods);
	search_free(&prog);
}
