/*
 * mime.c: the MIME parser run once per stored message, the blob it writes
 * and the bounds-checked readers FETCH uses (RFC 3501 §6.4.5, §7.4.2;
 * RFC 2045, 2046). See mime.h for the choices taken on odd input.
 *
 * Blob layout (integers little-endian, offsets from the blob's start):
 *   0  "RMI1"
 *   4  u32 number of parts
 *   8  u64 size of the message
 *  16  u32 offset, u32 length of ENVELOPE, BODY, BODYSTRUCTURE texts
 *  40  the parts in preorder, PART_SIZE bytes each: u32 kind, u32 subtree
 *      (parts in it, itself included), u32 number of children, u32 0,
 *      u64 header offset, header length, body offset, body length.
 *      A multipart's children follow it; a message/rfc822 part is followed
 *      by the one entity of its embedded message.
 *  then the texts.
 *
 * Parsing recurses once per multipart or message/rfc822 level, and never
 * deeper than MIME_DEPTH_MAX.
 */
#include <string.h>
#include <strings.h>

#include "../lib/imapstr.h"
#include "../lib/xalloc.h"
#include "mime.h"
#include "mime_int.h"

#define BLOB_MAGIC	"RMI1"
#define BLOB_HDR_SIZE	40
#define PART_SIZE	48
#define BOUNDARY_MAX	250	/* RFC 2046 says 70 */
#define PARAM_NAME_MAX	256
#define PARAM_VALUE_MAX	8192
#define LANG_MAX	64
#define SCRATCH_MAX	((size_t)64 * 1024 * 1024)

enum part_kind {
	KIND_LEAF,
	KIND_MULTI,
	KIND_MESSAGE
};

/* Encoded pieces of a part's BODYSTRUCTURE, kept in the pool. */
enum piece {
	P_TYPE,
	P_SUB,
	P_PARAMS,
	P_ID,
	P_DESC,
	P_ENC,
	P_MD5,
	P_DSP,
	P_LANG,
	P_LOC,
	P_ENV,		/* the entity of a message: its ENVELOPE */
	P_N
};

/* The header fields the parser reads. */
enum field {
	H_CTYPE,
	H_CTE,
	H_CID,
	H_CDESC,
	H_CDISP,
	H_CLANG,
	H_CLOC,
	H_CMD5,
	H_ENV,		/* MIME_ENV_N envelope fields follow */
	H_N = H_ENV + MIME_ENV_N
};

static const char *const field_names[H_N] = {
	"content-type", "content-transfer-encoding", "content-id",
	"content-description", "content-disposition", "content-language",
	"content-location", "content-md5",
	"date", "subject", "from", "sender", "reply-to", "to", "cc", "bcc",
	"in-reply-to", "message-id"
};

struct node {
	uint64_t hdr_off, hdr_len, body_off, body_len;
	uint64_t lines;
	uint32_t kind, subtree, nsub;
	bool text;
	size_t off[P_N], len[P_N];
};

struct ctx {
	const uint8_t *p;
	size_t n;
	struct node *nodes;
	size_t nnodes, cap;
	struct buf pool;	/* encoded pieces */
	struct buf val;		/* an unfolded header value */
	struct buf word;	/* an unquoted parameter value */
	int err;
};

/* Where a multipart's boundary goes while its header is parsed. */
struct bnd {
	uint8_t s[BOUNDARY_MAX];
	size_t len;
	bool found;
};

static void
put(struct ctx *c, struct buf *b, const void *s, size_t n)
{
	if (!c->err && buf_add(b, s, n) < 0)
		c->err = 1;
}

static void
put_cstr(struct ctx *c, struct buf *b, const char *s)
{
	put(c, b, s, strlen(s));
}

static void
put_u64(struct ctx *c, struct buf *b, uint64_t v)
{
	if (!c->err && buf_add_u64(b, v) < 0)
		c->err = 1;
}

static void
put_string(struct ctx *c, struct buf *b, const uint8_t *s, size_t n)
{
	if (!c->err && imapstr_string(b, n > 0 ? s : (const uint8_t *)"",
	    n) < 0)
		c->err = 1;
}

/* Starts and ends a piece of part idx in the pool. */
static size_t
piece_begin(struct ctx *c)
{
	return c->pool.len;
}

static void
piece_end(struct ctx *c, size_t idx, enum piece f, size_t start)
{
	c->nodes[idx].off[f] = start;
	c->nodes[idx].len[f] = c->pool.len - start;
}

static void
piece_str(struct ctx *c, size_t idx, enum piece f, const char *s)
{
	size_t start = piece_begin(c);

	put_cstr(c, &c->pool, s);
	piece_end(c, idx, f, start);
}

/* RFC 2045 token characters, leniently with 8-bit bytes. */
static bool
is_token(uint8_t c)
{
	if (c <= 0x20 || c == 0x7f)
		return false;
	return strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

static size_t
token_end(const uint8_t *v, size_t n, size_t i)
{
	while (i < n && is_token(v[i]))
		i++;
	return i;
}

static bool
eq_ci(const uint8_t *s, size_t n, const char *lit)
{
	return n == strlen(lit) && strncasecmp((const char *)s, lit, n) == 0;
}

static uint64_t
count_lines(const uint8_t *p, size_t n)
{
	const uint8_t *q, *end = p + n;
	uint64_t lines = 0;

	if (n == 0)
		return 0;
	while (p < end && (q = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		lines++;
		p = q + 1;
	}
	return end[-1] == '\n' ? lines : lines + 1;
}

/* Unfolds a field value into c->val; false if the field is absent. */
static bool
unfold(struct ctx *c, const struct mime_val *v)
{
	buf_reset(&c->val);
	if (v->p == NULL)
		return false;
	if (mime_unfold(v->p, v->n, &c->val) < 0) {
		c->err = 1;
		return false;
	}
	return true;
}

/*
 * Writes the parameters of v[i..n) (";" name "=" value ...) to the pool as
 * a body-fld-param: a list, or NIL (or, for a text part, the default
 * charset). A "boundary" parameter is copied into bnd if bnd is set.
 */
static void
put_params(struct ctx *c, const uint8_t *v, size_t n, size_t i, bool text,
    struct bnd *bnd)
{
	const uint8_t *q;
	size_t ns, nl, vs;
	unsigned count = 0;

	for (;;) {
		i = mime_skip_cfws(v, n, i);
		if (i >= n)
			break;
		if (v[i] != ';') {
			q = memchr(v + i, ';', n - i);
			if (q == NULL)
				break;
			i = (size_t)(q - v);
		}
		i = mime_skip_cfws(v, n, i + 1);
		ns = i;
		i = token_end(v, n, i);
		nl = i - ns;
		i = mime_skip_cfws(v, n, i);
		if (nl == 0 || i >= n || v[i] != '=')
			continue;
		i = mime_skip_cfws(v, n, i + 1);
		buf_reset(&c->word);
		if (i < n && v[i] == '"') {
			for (i++; i < n && v[i] != '"'; i++) {
				if (v[i] == '\\' && i + 1 < n)
					i++;
				put(c, &c->word, v + i, 1);
			}
			if (i < n)
				i++;
		} else {
			for (vs = i; i < n && v[i] != ';' && v[i] != '(' &&
			    v[i] != '"' && !mime_is_wsp(v[i]); i++)
				;
			put(c, &c->word, v + vs, i - vs);
		}
		if (count >= MIME_PARAMS_MAX || nl > PARAM_NAME_MAX ||
		    c->word.len > PARAM_VALUE_MAX)
			continue;
		if (bnd != NULL && !bnd->found && eq_ci(v + ns, nl,
		    "boundary") && c->word.len > 0 &&
		    c->word.len <= BOUNDARY_MAX) {
			memcpy(bnd->s, c->word.data, c->word.len);
			bnd->len = c->word.len;
			bnd->found = true;
		}
		put_cstr(c, &c->pool, count == 0 ? "(" : " ");
		put_string(c, &c->pool, v + ns, nl);
		put_cstr(c, &c->pool, " ");
		put_string(c, &c->pool, c->word.data, c->word.len);
		count++;
	}
	if (count > 0)
		put_cstr(c, &c->pool, ")");
	else if (text)
		put_cstr(c, &c->pool, "(\"charset\" \"us-ascii\")");
	else
		put_cstr(c, &c->pool, "NIL");
}

/* An unstructured field as an nstring piece. */
static void
piece_nstring(struct ctx *c, size_t idx, enum piece f,
    const struct mime_val *v)
{
	size_t start = piece_begin(c);

	if (unfold(c, v))
		put_string(c, &c->pool, c->val.data, c->val.len);
	else
		put_cstr(c, &c->pool, "NIL");
	piece_end(c, idx, f, start);
}

/* body-fld-dsp: ("type" params) or NIL (RFC 2183). */
static void
piece_disposition(struct ctx *c, size_t idx, const struct mime_val *v)
{
	size_t start = piece_begin(c), i, e;

	if (!unfold(c, v)) {
		put_cstr(c, &c->pool, "NIL");
		piece_end(c, idx, P_DSP, start);
		return;
	}
	i = mime_skip_cfws(c->val.data, c->val.len, 0);
	e = token_end(c->val.data, c->val.len, i);
	if (e == i) {
		put_cstr(c, &c->pool, "NIL");
	} else {
		put_cstr(c, &c->pool, "(");
		put_string(c, &c->pool, c->val.data + i, e - i);
		put_cstr(c, &c->pool, " ");
		put_params(c, c->val.data, c->val.len, e, false, NULL);
		put_cstr(c, &c->pool, ")");
	}
	piece_end(c, idx, P_DSP, start);
}

/* body-fld-lang: ("en" "fr") or NIL (RFC 3066 tags, comma separated). */
static void
piece_language(struct ctx *c, size_t idx, const struct mime_val *v)
{
	size_t start = piece_begin(c), i = 0, e;
	unsigned count = 0;

	if (unfold(c, v)) {
		while (count < LANG_MAX) {
			i = mime_skip_cfws(c->val.data, c->val.len, i);
			if (i >= c->val.len)
				break;
			e = token_end(c->val.data, c->val.len, i);
			if (e == i) {
				i++;	/* ',' or junk */
				continue;
			}
			put_cstr(c, &c->pool, count == 0 ? "(" : " ");
			put_string(c, &c->pool, c->val.data + i, e - i);
			count++;
			i = e;
		}
	}
	put_cstr(c, &c->pool, count > 0 ? ")" : "NIL");
	piece_end(c, idx, P_LANG, start);
}

/* The end of the header starting at off: past its blank line, or end. */
static size_t
header_end(const uint8_t *p, size_t off, size_t end)
{
	const uint8_t *nl;

	while (off < end) {
		if (p[off] == '\n')
			return off + 1;
		if (p[off] == '\r' && off + 1 < end && p[off + 1] == '\n')
			return off + 2;
		nl = memchr(p + off, '\n', end - off);
		if (nl == NULL)
			return end;
		off = (size_t)(nl - p) + 1;
	}
	return end;
}

/* Finds the fields we use in the header p[off..end). */
static void
read_fields(const uint8_t *p, size_t off, size_t end, struct mime_val *v)
{
	size_t limit = end - off > MIME_HDR_MAX ? off + MIME_HDR_MAX : end;
	size_t le, ne, f;
	const uint8_t *nl, *colon;

	memset(v, 0, H_N * sizeof(*v));
	while (off < limit) {
		if (p[off] == '\n' || (p[off] == '\r' && off + 1 < end &&
		    p[off + 1] == '\n'))
			break;	/* the blank line */
		/* The field runs to the end of its last continuation line. */
		le = off;
		do {
			nl = memchr(p + le, '\n', end - le);
			le = nl == NULL ? end : (size_t)(nl - p) + 1;
		} while (le < end && (p[le] == ' ' || p[le] == '\t'));
		if (p[off] == ' ' || p[off] == '\t' ||
		    (colon = memchr(p + off, ':', le - off)) == NULL) {
			off = le;
			continue;
		}
		for (ne = (size_t)(colon - p); ne > off &&
		    (p[ne - 1] == ' ' || p[ne - 1] == '\t'); ne--)
			;
		for (f = 0; f < H_N; f++) {
			if (v[f].p == NULL && eq_ci(p + off, ne - off,
			    field_names[f])) {
				/* A value is cut at MIME_HDR_MAX bytes. */
				v[f].p = colon + 1;
				v[f].n = le - (size_t)(colon + 1 - p);
				if (v[f].n > MIME_HDR_MAX)
					v[f].n = MIME_HDR_MAX;
				break;
			}
		}
		off = le;
	}
}

static size_t
node_new(struct ctx *c)
{
	if (c->nnodes == c->cap) {
		c->cap = c->cap == 0 ? 16 : c->cap * 2;
		c->nodes = xreallocarray(c->nodes, c->cap, sizeof(*c->nodes));
	}
	memset(&c->nodes[c->nnodes], 0, sizeof(*c->nodes));
	return c->nnodes++;
}

static void parse_entity(struct ctx *c, size_t start, size_t end,
    unsigned depth, bool digest, bool msg, bool no_header);

/* Finds the body parts of a multipart between its delimiter lines. */
static void
parse_multipart(struct ctx *c, size_t idx, const struct bnd *b,
    unsigned depth, bool digest)
{
	const uint8_t *p = c->p, *nl;
	size_t pos = c->nodes[idx].body_off;
	size_t end = pos + c->nodes[idx].body_len;
	size_t ls, le, q, part_start = 0, pend;
	bool in_part = false, closed = false, full = false, is_close;
	uint32_t nsub = 0;

	while (b->found && pos < end && !closed && !full) {
		ls = pos;
		nl = memchr(p + pos, '\n', end - pos);
		le = nl == NULL ? end : (size_t)(nl - p) + 1;
		pos = le;
		if (le - ls < 2 + b->len || p[ls] != '-' || p[ls + 1] != '-' ||
		    memcmp(p + ls + 2, b->s, b->len) != 0)
			continue;
		q = ls + 2 + b->len;
		is_close = le - q >= 2 && p[q] == '-' && p[q + 1] == '-';
		if (is_close)
			q += 2;
		while (q < le && (p[q] == ' ' || p[q] == '\t' || p[q] == '\r'))
			q++;
		if (q < le && p[q] != '\n')
			continue;	/* a longer boundary, not ours */
		if (in_part) {
			/* The line break before a delimiter is part of it. */
			pend = ls;
			if (pend > part_start && p[pend - 1] == '\n')
				pend--;
			if (pend > part_start && p[pend - 1] == '\r')
				pend--;
			if (c->nnodes >= MIME_PARTS_MAX) {
				full = true;
				break;
			}
			parse_entity(c, part_start, pend, depth + 1, digest,
			    false, false);
			nsub++;
		}
		closed = is_close;
		in_part = true;
		part_start = le;
	}
	if (in_part && !closed && !full && c->nnodes < MIME_PARTS_MAX) {
		parse_entity(c, part_start, end, depth + 1, digest, false,
		    false);
		nsub++;
	}
	if (nsub == 0) {
		/* No delimiter: the whole body as one text/plain part. The
		 * caller made sure there is room for it. */
		parse_entity(c, c->nodes[idx].body_off, end, depth + 1, false,
		    false, true);
		nsub++;
	}
	c->nodes[idx].nsub = nsub;
}

/*
 * Parses the entity p[start..end): its header (none if no_header), then its
 * body. msg: the entity is a message (top level or inside message/rfc822),
 * so it gets an ENVELOPE. digest: its default type is message/rfc822.
 */
static void
parse_entity(struct ctx *c, size_t start, size_t end, unsigned depth,
    bool digest, bool msg, bool no_header)
{
	struct mime_val v[H_N];
	struct bnd b;
	const uint8_t *t, *s;
	size_t idx, hend, tl, sl, i, e, ps, pstart;
	bool have_type = false, multi, message, text, room, is_digest;

	idx = node_new(c);
	hend = no_header ? start : header_end(c->p, start, end);
	c->nodes[idx].hdr_off = start;
	c->nodes[idx].hdr_len = hend - start;
	c->nodes[idx].body_off = hend;
	c->nodes[idx].body_len = end - hend;
	if (no_header)
		memset(v, 0, sizeof(v));
	else
		read_fields(c->p, start, hend, v);

	/* Content-Type: type "/" subtype *(";" parameter), RFC 2045 §5.1.
	 * t and s point into c->val until the next field is unfolded. */
	memset(&b, 0, sizeof(b));
	t = s = NULL;
	tl = sl = ps = 0;
	if (unfold(c, &v[H_CTYPE])) {
		i = mime_skip_cfws(c->val.data, c->val.len, 0);
		e = token_end(c->val.data, c->val.len, i);
		t = c->val.data + i;
		tl = e - i;
		i = mime_skip_cfws(c->val.data, c->val.len, e);
		if (tl > 0 && i < c->val.len && c->val.data[i] == '/') {
			i = mime_skip_cfws(c->val.data, c->val.len, i + 1);
			e = token_end(c->val.data, c->val.len, i);
			s = c->val.data + i;
			sl = e - i;
			ps = e;
			have_type = sl > 0;
		}
	}
	if (!have_type) {
		t = (const uint8_t *)(digest ? "message" : "text");
		s = (const uint8_t *)(digest ? "rfc822" : "plain");
		tl = strlen((const char *)t);
		sl = strlen((const char *)s);
	}
	multi = eq_ci(t, tl, "multipart");
	message = eq_ci(t, tl, "message") && eq_ci(s, sl, "rfc822");
	/* A container needs itself and one more part within the limits. */
	room = depth < MIME_DEPTH_MAX && c->nnodes < MIME_PARTS_MAX;
	text = eq_ci(t, tl, "text");
	is_digest = multi && eq_ci(s, sl, "digest");

	pstart = piece_begin(c);
	if ((multi || message) && !room) {
		put_cstr(c, &c->pool, "\"application\"");
		piece_end(c, idx, P_TYPE, pstart);
		piece_str(c, idx, P_SUB, "\"octet-stream\"");
		piece_str(c, idx, P_PARAMS, "NIL");
		multi = message = false;
	} else {
		put_string(c, &c->pool, t, tl);
		piece_end(c, idx, P_TYPE, pstart);
		pstart = piece_begin(c);
		put_string(c, &c->pool, s, sl);
		piece_end(c, idx, P_SUB, pstart);
		pstart = piece_begin(c);
		if (have_type)
			put_params(c, c->val.data, c->val.len, ps, text,
			    multi ? &b : NULL);
		else if (text)
			put_cstr(c, &c->pool, "(\"charset\" \"us-ascii\")");
		else
			put_cstr(c, &c->pool, "NIL");
		piece_end(c, idx, P_PARAMS, pstart);
	}
	piece_nstring(c, idx, P_ID, &v[H_CID]);
	piece_nstring(c, idx, P_DESC, &v[H_CDESC]);
	pstart = piece_begin(c);
	i = e = 0;
	if (unfold(c, &v[H_CTE])) {
		i = mime_skip_cfws(c->val.data, c->val.len, 0);
		e = token_end(c->val.data, c->val.len, i);
	}
	if (e > i)
		put_string(c, &c->pool, c->val.data + i, e - i);
	else
		put_cstr(c, &c->pool, "\"7bit\"");
	piece_end(c, idx, P_ENC, pstart);
	piece_nstring(c, idx, P_MD5, &v[H_CMD5]);
	piece_disposition(c, idx, &v[H_CDISP]);
	piece_language(c, idx, &v[H_CLANG]);
	piece_nstring(c, idx, P_LOC, &v[H_CLOC]);
	if (msg) {
		pstart = piece_begin(c);
		if (!c->err && mime_envelope_write(&c->pool, v + H_ENV) < 0)
			c->err = 1;
		piece_end(c, idx, P_ENV, pstart);
	}

	if (multi) {
		c->nodes[idx].kind = KIND_MULTI;
		parse_multipart(c, idx, &b, depth, is_digest);
	} else if (message) {
		c->nodes[idx].kind = KIND_MESSAGE;
		c->nodes[idx].nsub = 1;
		c->nodes[idx].lines = count_lines(c->p + hend, end - hend);
		parse_entity(c, hend, end, depth + 1, false, true, false);
	} else {
		c->nodes[idx].kind = KIND_LEAF;
		c->nodes[idx].text = text;
		if (text)
			c->nodes[idx].lines = count_lines(c->p + hend,
			    end - hend);
	}
	c->nodes[idx].subtree = (uint32_t)(c->nnodes - idx);
}

static void
put_piece(struct ctx *c, struct buf *b, size_t idx, enum piece f)
{
	put(c, b, c->pool.data + c->nodes[idx].off[f], c->nodes[idx].len[f]);
}

/* Writes BODY (ext false) or BODYSTRUCTURE of part idx (RFC 3501 §9). The
 * recursion is bounded by MIME_DEPTH_MAX. */
static void
put_body(struct ctx *c, struct buf *b, size_t idx, bool ext)
{
	const struct node *nd = &c->nodes[idx];
	size_t j;
	uint32_t k;

	put_cstr(c, b, "(");
	if (nd->kind == KIND_MULTI) {
		for (j = idx + 1, k = 0; k < nd->nsub; k++) {
			put_body(c, b, j, ext);
			j += c->nodes[j].subtree;
		}
		put_cstr(c, b, " ");
		put_piece(c, b, idx, P_SUB);
		if (ext) {
			put_cstr(c, b, " ");
			put_piece(c, b, idx, P_PARAMS);
			put_cstr(c, b, " ");
			put_piece(c, b, idx, P_DSP);
			put_cstr(c, b, " ");
			put_piece(c, b, idx, P_LANG);
			put_cstr(c, b, " ");
			put_piece(c, b, idx, P_LOC);
		}
		put_cstr(c, b, ")");
		return;
	}
	put_piece(c, b, idx, P_TYPE);
	put_cstr(c, b, " ");
	put_piece(c, b, idx, P_SUB);
	put_cstr(c, b, " ");
	put_piece(c, b, idx, P_PARAMS);
	put_cstr(c, b, " ");
	put_piece(c, b, idx, P_ID);
	put_cstr(c, b, " ");
	put_piece(c, b, idx, P_DESC);
	put_cstr(c, b, " ");
	put_piece(c, b, idx, P_ENC);
	put_cstr(c, b, " ");
	put_u64(c, b, nd->body_len);
	if (nd->kind == KIND_MESSAGE) {
		put_cstr(c, b, " ");
		put_piece(c, b, idx + 1, P_ENV);
		put_cstr(c, b, " ");
		put_body(c, b, idx + 1, ext);
		put_cstr(c, b, " ");
		put_u64(c, b, nd->lines);
	} else if (nd->text) {
		put_cstr(c, b, " ");
		put_u64(c, b, nd->lines);
	}
	if (ext) {
		put_cstr(c, b, " ");
		put_piece(c, b, idx, P_MD5);
		put_cstr(c, b, " ");
		put_piece(c, b, idx, P_DSP);
		put_cstr(c, b, " ");
		put_piece(c, b, idx, P_LANG);
		put_cstr(c, b, " ");
		put_piece(c, b, idx, P_LOC);
	}
	put_cstr(c, b, ")");
}

static void
le32(uint8_t *d, uint32_t v)
{
	d[0] = (uint8_t)v;
	d[1] = (uint8_t)(v >> 8);
	d[2] = (uint8_t)(v >> 16);
	d[3] = (uint8_t)(v >> 24);
}

static void
le64(uint8_t *d, uint64_t v)
{
	le32(d, (uint32_t)v);
	le32(d + 4, (uint32_t)(v >> 32));
}

static uint32_t
get32(const uint8_t *s)
{
	return (uint32_t)s[0] | (uint32_t)s[1] << 8 | (uint32_t)s[2] << 16 |
	    (uint32_t)s[3] << 24;
}

static uint64_t
get64(const uint8_t *s)
{
	return (uint64_t)get32(s) | (uint64_t)get32(s + 4) << 32;
}

int
mime_parse(const uint8_t *p, size_t n, struct buf *out)
{
	struct ctx c;
	struct buf body = BUF_INITIALIZER(out->max);
	struct buf bs = BUF_INITIALIZER(out->max);
	uint8_t rec[PART_SIZE], hdr[BLOB_HDR_SIZE];
	size_t start = out->len, strings, env_off, i;
	int ret = -1;

	memset(&c, 0, sizeof(c));
	c.p = p != NULL ? p : (const uint8_t *)"";
	c.n = p != NULL ? n : 0;
	buf_init(&c.pool, out->max);
	buf_init(&c.val, SCRATCH_MAX);
	buf_init(&c.word, SCRATCH_MAX);
	/* Never a NULL data pointer in the scratch buffers. */
	put(&c, &c.val, "", 1);
	put(&c, &c.word, "", 1);
	buf_reset(&c.val);
	buf_reset(&c.word);
	parse_entity(&c, 0, c.n, 0, false, true, false);
	put_body(&c, &body, 0, false);
	put_body(&c, &bs, 0, true);
	if (c.err)
		goto out;
	strings = BLOB_HDR_SIZE + c.nnodes * PART_SIZE;
	env_off = strings;
	if (strings + c.nodes[0].len[P_ENV] + body.len + bs.len > UINT32_MAX)
		goto out;
	memcpy(hdr, BLOB_MAGIC, 4);
	le32(hdr + 4, (uint32_t)c.nnodes);
	le64(hdr + 8, c.n);
	le32(hdr + 16, (uint32_t)env_off);
	le32(hdr + 20, (uint32_t)c.nodes[0].len[P_ENV]);
	le32(hdr + 24, (uint32_t)(env_off + c.nodes[0].len[P_ENV]));
	le32(hdr + 28, (uint32_t)body.len);
	le32(hdr + 32, (uint32_t)(env_off + c.nodes[0].len[P_ENV] +
	    body.len));
	le32(hdr + 36, (uint32_t)bs.len);
	if (buf_add(out, hdr, sizeof(hdr)) < 0)
		goto out;
	for (i = 0; i < c.nnodes; i++) {
		le32(rec, c.nodes[i].kind);
		le32(rec + 4, c.nodes[i].subtree);
		le32(rec + 8, c.nodes[i].nsub);
		le32(rec + 12, 0);
		le64(rec + 16, c.nodes[i].hdr_off);
		le64(rec + 24, c.nodes[i].hdr_len);
		le64(rec + 32, c.nodes[i].body_off);
		le64(rec + 40, c.nodes[i].body_len);
		if (buf_add(out, rec, sizeof(rec)) < 0)
			goto out;
	}
	put_piece(&c, out, 0, P_ENV);
	put(&c, out, body.data, body.len);
	put(&c, out, bs.data, bs.len);
	if (!c.err)
		ret = 0;
out:
	if (ret < 0)
		buf_truncate(out, start);
	buf_free(&body);
	buf_free(&bs);
	buf_free(&c.pool);
	buf_free(&c.val);
	buf_free(&c.word);
	xfree(&c.nodes);
	return ret;
}

/* Reading a blob. */

struct rpart {
	uint32_t kind, subtree, nsub;
	uint64_t hdr_off, hdr_len, body_off, body_len;
};

static bool
blob_nparts(const uint8_t *blob, size_t n, uint32_t *nparts_r,
    uint64_t *size_r)
{
	uint32_t np;

	if (blob == NULL || n < BLOB_HDR_SIZE ||
	    memcmp(blob, BLOB_MAGIC, 4) != 0)
		return false;
	np = get32(blob + 4);
	if (np == 0 || np > (n - BLOB_HDR_SIZE) / PART_SIZE)
		return false;
	*nparts_r = np;
	*size_r = get64(blob + 8);
	return true;
}

/* Text number k (0 ENVELOPE, 1 BODY, 2 BODYSTRUCTURE). */
static bool
blob_text(const uint8_t *blob, size_t n, unsigned k, const uint8_t **s_r,
    size_t *len_r)
{
	uint32_t np, off, len;
	uint64_t size;

	if (!blob_nparts(blob, n, &np, &size))
		return false;
	off = get32(blob + 16 + 8 * k);
	len = get32(blob + 20 + 8 * k);
	if (off < BLOB_HDR_SIZE + (uint64_t)np * PART_SIZE || off > n ||
	    len > n - off || len == 0)
		return false;
	*s_r = blob + off;
	*len_r = len;
	return true;
}

bool
mime_envelope(const uint8_t *blob, size_t n, const uint8_t **s_r,
    size_t *len_r)
{
	return blob_text(blob, n, 0, s_r, len_r);
}

bool
mime_body(const uint8_t *blob, size_t n, bool extended, const uint8_t **s_r,
    size_t *len_r)
{
	return blob_text(blob, n, extended ? 2 : 1, s_r, len_r);
}

bool
mime_msg_size(const uint8_t *blob, size_t n, uint64_t *size_r)
{
	uint32_t np;

	return blob_nparts(blob, n, &np, size_r);
}

/* Reads part i, checking it lies in [lo, hi) and its ranges in size. */
static bool
read_part(const uint8_t *blob, uint32_t i, uint32_t hi, uint64_t size,
    struct rpart *r)
{
	const uint8_t *s = blob + BLOB_HDR_SIZE + (size_t)i * PART_SIZE;

	r->kind = get32(s);
	r->subtree = get32(s + 4);
	r->nsub = get32(s + 8);
	r->hdr_off = get64(s + 16);
	r->hdr_len = get64(s + 24);
	r->body_off = get64(s + 32);
	r->body_len = get64(s + 40);
	if (r->kind > KIND_MESSAGE || r->subtree == 0 ||
	    r->subtree > hi - i)
		return false;
	if (r->kind == KIND_MESSAGE && r->subtree < 2)
		return false;
	return r->hdr_off <= size && r->hdr_len <= size - r->hdr_off &&
	    r->body_off <= size && r->body_len <= size - r->body_off;
}

bool
mime_section(const uint8_t *blob, size_t n, const uint32_t *path,
    size_t depth, struct mime_range *r)
{
	struct rpart cur, sel;
	uint32_t np, node = 0, end, j, k, m;
	uint64_t size;
	bool in_msg = true;
	size_t d;

	if (r == NULL || (depth > 0 && path == NULL) ||
	    !blob_nparts(blob, n, &np, &size) ||
	    !read_part(blob, 0, np, size, &cur))
		return false;
	memset(r, 0, sizeof(*r));
	r->mime_off = r->hdr_off = cur.hdr_off;
	r->mime_len = r->hdr_len = cur.hdr_len;
	r->text_off = cur.body_off;
	r->text_len = cur.body_len;
	r->body_off = 0;
	r->body_len = size;
	r->is_message = true;
	r->is_multipart = cur.kind == KIND_MULTI;
	for (d = 0; d < depth; d++) {
		k = path[d];
		if (k == 0)
			return false;
		if (cur.kind == KIND_MULTI) {
			if (k > cur.nsub)
				return false;
			end = node + cur.subtree;
			j = node + 1;
			for (m = 1; m < k && j < end; m++) {
				if (!read_part(blob, j, end, size, &sel))
					return false;
				j += sel.subtree;
			}
			if (j >= end || !read_part(blob, j, end, size, &sel))
				return false;
		} else if (in_msg && k == 1) {
			j = node;
			sel = cur;
		} else {
			return false;
		}
		r->mime_off = sel.hdr_off;
		r->mime_len = sel.hdr_len;
		r->body_off = sel.body_off;
		r->body_len = sel.body_len;
		r->is_multipart = sel.kind == KIND_MULTI;
		if (sel.kind == KIND_MESSAGE) {
			end = j + sel.subtree;
			node = j + 1;
			if (!read_part(blob, node, end, size, &cur))
				return false;
			r->hdr_off = cur.hdr_off;
			r->hdr_len = cur.hdr_len;
			r->text_off = cur.body_off;
			r->text_len = cur.body_len;
			r->is_message = true;
			r->is_multipart = false;
			in_msg = true;
		} else {
			node = j;
			cur = sel;
			r->hdr_off = sel.hdr_off;
			r->hdr_len = sel.hdr_len;
			r->text_off = sel.body_off;
			r->text_len = sel.body_len;
			r->is_message = false;
			in_msg = false;
		}
	}
	return true;
}
