/*
 * mime_addr.c: the ENVELOPE of a message (RFC 3501 §7.4.2): header value
 * unfolding, RFC 5322 comment skipping, and a lenient address-list parser
 * (groups, source routes, quoted strings, obs- forms) that writes IMAP
 * address lists. Nothing here recurses on input.
 */
#include <string.h>

#include "../lib/imapstr.h"
#include "mime_int.h"

/* Scratch limit for one field: the header itself is capped far lower. */
#define ADDR_SCRATCH_MAX	((size_t)64 * 1024 * 1024)

struct addr_ctx {
	const uint8_t *p;
	size_t n;
	size_t i;
	struct buf *out;	/* the address list being written */
	struct buf name, adl, local, dom;
	unsigned count;		/* addresses written */
	int err;
};

bool
mime_is_wsp(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

size_t
mime_skip_cfws(const uint8_t *p, size_t n, size_t i)
{
	size_t depth;

	for (;;) {
		while (i < n && mime_is_wsp(p[i]))
			i++;
		if (i >= n || p[i] != '(')
			return i;
		depth = 0;
		while (i < n) {
			if (p[i] == '\\' && i + 1 < n) {
				i += 2;
				continue;
			}
			if (p[i] == '(')
				depth++;
			else if (p[i] == ')' && --depth == 0) {
				i++;
				break;
			}
			i++;
		}
	}
}

int
mime_unfold(const uint8_t *p, size_t n, struct buf *out)
{
	size_t start = out->len, i, run;

	while (n > 0 && (p[0] == ' ' || p[0] == '\t' || p[0] == '\r' ||
	    p[0] == '\n')) {
		p++;
		n--;
	}
	for (i = 0; i < n; i += run) {
		if (p[i] == '\r' || p[i] == '\n') {
			run = 1;
			continue;
		}
		for (run = 1; i + run < n && p[i + run] != '\r' &&
		    p[i + run] != '\n'; run++)
			;
		if (buf_add(out, p + i, run) < 0) {
			buf_truncate(out, start);
			return -1;
		}
	}
	for (i = out->len; i > start && (out->data[i - 1] == ' ' ||
	    out->data[i - 1] == '\t'); i--)
		;
	buf_truncate(out, i);
	return 0;
}

/* RFC 5322 atext, leniently with 8-bit bytes. */
static bool
is_atext(uint8_t c)
{
	if (c <= 0x20 || c == 0x7f)
		return false;
	return strchr("()<>[]:;@\\,.\"", c) == NULL;
}

static void
add(struct addr_ctx *a, struct buf *b, const void *s, size_t n)
{
	if (buf_add(b, s, n) < 0)
		a->err = 1;
}

static void
skip(struct addr_ctx *a)
{
	a->i = mime_skip_cfws(a->p, a->n, a->i);
}

static bool
at(struct addr_ctx *a, uint8_t c)
{
	return a->i < a->n && a->p[a->i] == c;
}

/* A quoted string (unquoted into b) or an atom (dots allowed if dot).
 * Returns false, consuming nothing, if there is neither. */
static bool
read_word(struct addr_ctx *a, struct buf *b, bool dot)
{
	const uint8_t *p = a->p;
	size_t i = a->i, s;

	if (i < a->n && p[i] == '"') {
		for (i++; i < a->n && p[i] != '"'; i++) {
			if (p[i] == '\\' && i + 1 < a->n)
				i++;
			add(a, b, p + i, 1);
		}
		a->i = i < a->n ? i + 1 : i;
		return true;
	}
	for (s = i; i < a->n && (is_atext(p[i]) || (dot && p[i] == '.'));
	    i++)
		;
	if (i == s)
		return false;
	add(a, b, p + s, i - s);
	a->i = i;
	return true;
}

/* A display name: words joined by one space. Returns the word count. */
static unsigned
read_phrase(struct addr_ctx *a, struct buf *b)
{
	unsigned words = 0;
	size_t mark;

	for (;;) {
		skip(a);
		mark = b->len;
		if (words > 0)
			add(a, b, " ", 1);
		if (!read_word(a, b, true)) {
			buf_truncate(b, mark);
			return words;
		}
		words++;
	}
}

/* local-part: word *("." word), leniently. */
static bool
read_local(struct addr_ctx *a, struct buf *b)
{
	size_t save;

	skip(a);
	if (!read_word(a, b, true))
		return false;
	for (;;) {
		save = a->i;
		skip(a);
		if (!at(a, '.'))
			break;
		a->i++;
		skip(a);
		add(a, b, ".", 1);
		if (!read_word(a, b, true))
			break;
	}
	if (!at(a, '@'))
		a->i = save;
	return true;
}

/* domain: dot-atom or domain-literal (kept with its brackets). */
static void
read_domain(struct addr_ctx *a, struct buf *b)
{
	size_t s;

	skip(a);
	if (at(a, '[')) {
		s = a->i;
		while (a->i < a->n && a->p[a->i] != ']') {
			if (a->p[a->i] == '\\' && a->i + 1 < a->n)
				a->i++;
			a->i++;
		}
		if (a->i < a->n)
			a->i++;
		add(a, b, a->p + s, a->i - s);
		return;
	}
	(void)read_word(a, b, true);
}

static void
put_nstring(struct addr_ctx *a, const struct buf *b, bool nil)
{
	if (a->err)
		return;
	if (nil) {
		if (buf_adds(a->out, "NIL") < 0)
			a->err = 1;
	} else if (imapstr_string(a->out, b->data != NULL ?
	    b->data : (const uint8_t *)"", b->len) < 0)
		a->err = 1;
}

/* Writes (name adl mailbox host); NULL buffers are NIL. */
static void
put_addr(struct addr_ctx *a, const struct buf *name, const struct buf *adl,
    const struct buf *mbox, const struct buf *host)
{
	add(a, a->out, "(", 1);
	put_nstring(a, name, name == NULL);
	add(a, a->out, " ", 1);
	put_nstring(a, adl, adl == NULL);
	add(a, a->out, " ", 1);
	put_nstring(a, mbox, mbox == NULL);
	add(a, a->out, " ", 1);
	put_nstring(a, host, host == NULL);
	add(a, a->out, ")", 1);
	a->count++;
}

/* "@a,@b:" before an addr-spec inside <>; the route is kept as @a,@b. */
static void
read_route(struct addr_ctx *a)
{
	for (;;) {
		skip(a);
		if (at(a, ',')) {
			a->i++;
			continue;
		}
		if (!at(a, '@'))
			break;
		a->i++;
		if (a->adl.len > 0)
			add(a, &a->adl, ",", 1);
		add(a, &a->adl, "@", 1);
		read_domain(a, &a->adl);
	}
	if (at(a, ':'))
		a->i++;
}

/* One mailbox (name-addr or addr-spec). Returns false if none is there. */
static bool
read_mailbox(struct addr_ctx *a)
{
	size_t start = a->i;
	unsigned words;

	buf_reset(&a->name);
	buf_reset(&a->adl);
	buf_reset(&a->local);
	buf_reset(&a->dom);
	words = read_phrase(a, &a->name);
	skip(a);
	if (at(a, '<')) {
		a->i++;
		skip(a);
		if (at(a, '@'))
			read_route(a);
		(void)read_local(a, &a->local);
		skip(a);
		if (at(a, '@')) {
			a->i++;
			read_domain(a, &a->dom);
		}
		while (a->i < a->n && a->p[a->i] != '>')
			a->i++;
		if (a->i < a->n)
			a->i++;
		put_addr(a, words > 0 ? &a->name : NULL,
		    a->adl.len > 0 ? &a->adl : NULL, &a->local, &a->dom);
		return true;
	}
	a->i = start;
	buf_reset(&a->name);
	if (!read_local(a, &a->local))
		return false;
	skip(a);
	if (at(a, '@')) {
		a->i++;
		read_domain(a, &a->dom);
	}
	put_addr(a, NULL, NULL, &a->local, &a->dom);
	return true;
}

/* Skips to the next ',' (or ';' in a group) after something unparsable. */
static void
skip_garbage(struct addr_ctx *a, bool group)
{
	while (a->i < a->n && a->p[a->i] != ',' &&
	    !(group && a->p[a->i] == ';')) {
		if (a->p[a->i] == '"' || a->p[a->i] == '(') {
			size_t s = a->i;

			if (a->p[a->i] == '"')
				(void)read_word(a, &a->local, false);
			else
				skip(a);
			if (a->i > s)
				continue;
		}
		a->i++;
	}
}

/* mailbox-list (in a group, up to ';') or address-list. */
static void
read_list(struct addr_ctx *a, bool group)
{
	size_t start;
	unsigned words;

	while (a->i < a->n && !a->err) {
		skip(a);
		if (a->i >= a->n)
			break;
		if (at(a, ',')) {
			a->i++;
			continue;
		}
		if (group && at(a, ';'))
			return;
		start = a->i;
		if (!group) {
			buf_reset(&a->name);
			words = read_phrase(a, &a->name);
			skip(a);
			if (at(a, ':')) {
				a->i++;
				put_addr(a, NULL, NULL, &a->name, NULL);
				read_list(a, true);	/* one level only */
				if (at(a, ';'))
					a->i++;
				put_addr(a, NULL, NULL, NULL, NULL);
				continue;
			}
			(void)words;
			a->i = start;
		}
		(void)read_mailbox(a);
		skip(a);
		if (a->i < a->n && !at(a, ',') && !(group && at(a, ';')))
			skip_garbage(a, group);
		if (a->i == start)
			a->i++;
	}
}

/* Appends an address list for the raw value v, or NIL if it holds none. */
static int
put_addresses(struct buf *out, const struct mime_val *v, struct buf *scratch)
{
	struct addr_ctx a;
	size_t start = out->len;

	if (v->p == NULL)
		return buf_adds(out, "NIL");
	memset(&a, 0, sizeof(a));
	buf_reset(scratch);
	if (mime_unfold(v->p, v->n, scratch) < 0)
		return -1;
	a.p = scratch->data;
	a.n = scratch->len;
	a.out = out;
	buf_init(&a.name, ADDR_SCRATCH_MAX);
	buf_init(&a.adl, ADDR_SCRATCH_MAX);
	buf_init(&a.local, ADDR_SCRATCH_MAX);
	buf_init(&a.dom, ADDR_SCRATCH_MAX);
	if (buf_addc(out, '(') < 0)
		a.err = 1;
	if (!a.err)
		read_list(&a, false);
	if (!a.err && buf_addc(out, ')') < 0)
		a.err = 1;
	buf_free(&a.name);
	buf_free(&a.adl);
	buf_free(&a.local);
	buf_free(&a.dom);
	if (a.err) {
		buf_truncate(out, start);
		return -1;
	}
	if (a.count == 0) {
		buf_truncate(out, start);
		return buf_adds(out, "NIL");
	}
	return 0;
}

static int
put_text(struct buf *out, const struct mime_val *v, struct buf *scratch)
{
	if (v->p == NULL)
		return buf_adds(out, "NIL");
	buf_reset(scratch);
	if (mime_unfold(v->p, v->n, scratch) < 0)
		return -1;
	return imapstr_string(out, scratch->len > 0 ? scratch->data :
	    (const uint8_t *)"", scratch->len);
}

int
mime_envelope_write(struct buf *out, const struct mime_val *v)
{
	struct buf scratch = BUF_INITIALIZER(ADDR_SCRATCH_MAX);
	struct buf from = BUF_INITIALIZER(SIZE_MAX - 1);
	size_t start = out->len, from_off, off;
	int f, ret = -1;

	if (buf_addc(out, '(') < 0 ||
	    put_text(out, &v[MIME_ENV_DATE], &scratch) < 0 ||
	    buf_addc(out, ' ') < 0 ||
	    put_text(out, &v[MIME_ENV_SUBJECT], &scratch) < 0 ||
	    buf_addc(out, ' ') < 0)
		goto out;
	from_off = out->len;
	if (put_addresses(out, &v[MIME_ENV_FROM], &scratch) < 0)
		goto out;
	if (buf_add(&from, out->data + from_off, out->len - from_off) < 0)
		goto out;
	for (f = MIME_ENV_SENDER; f <= MIME_ENV_BCC; f++) {
		if (buf_addc(out, ' ') < 0)
			goto out;
		off = out->len;
		if (put_addresses(out, &v[f], &scratch) < 0)
			goto out;
		/* RFC 3501 §7.4.2: Sender and Reply-To default to From. */
		if ((f == MIME_ENV_SENDER || f == MIME_ENV_REPLY_TO) &&
		    out->len - off == 3 && memcmp(out->data + off, "NIL",
		    3) == 0) {
			buf_truncate(out, off);
			if (buf_add(out, from.data, from.len) < 0)
				goto out;
		}
	}
	if (buf_addc(out, ' ') < 0 ||
	    put_text(out, &v[MIME_ENV_IN_REPLY_TO], &scratch) < 0 ||
	    buf_addc(out, ' ') < 0 ||
	    put_text(out, &v[MIME_ENV_MESSAGE_ID], &scratch) < 0 ||
	    buf_addc(out, ')') < 0)
		goto out;
	ret = 0;
out:
	buf_free(&scratch);
	buf_free(&from);
	if (ret < 0)
		buf_truncate(out, start);
	return ret;
}
