/*
 * mime_text.c: decoded UTF-8 text of messages for SEARCH (RFC 3501
 * §6.4.4): RFC 2047 encoded words, the text parts of a stored message with
 * their transfer encoding (RFC 2045 §6.7, §6.8) and charset undone, and a
 * streaming case-insensitive substring matcher. See mime_text.h.
 */
#include <errno.h>
#include <iconv.h>
#include <string.h>
#include <strings.h>

#include "../lib/xalloc.h"
#include "mime.h"
#include "mime_text.h"

#define CHARSET_MAX	64
#define CARRY_MAX	16	/* longest incomplete sequence carried */
#define QP_WS_MAX	80	/* blanks after "=" kept while undecided */
#define PATH_MAX_DEPTH	(2 * MIME_DEPTH_MAX + 4)
#define HDR_READ_MAX	((size_t)MIME_HDR_MAX)
#define TEXT_MAX	((size_t)1 << 30)

/* UTF-8 --------------------------------------------------------------- */

static int
put_utf8(struct buf *out, uint32_t cp)
{
	uint8_t s[4];
	size_t n;

	if (cp < 0x80) {
		s[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		s[0] = (uint8_t)(0xc0 | (cp >> 6));
		s[1] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		s[0] = (uint8_t)(0xe0 | (cp >> 12));
		s[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		s[2] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		s[0] = (uint8_t)(0xf0 | (cp >> 18));
		s[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
		s[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		s[3] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_add(out, s, n);
}

/*
 * Decodes one UTF-8 character at p[0..n). Returns its length and sets
 * *cp; 0 if p holds only the valid beginning of a character (n too
 * short); -1 if p[0] starts no valid character.
 */
static int
utf8_next(const uint8_t *p, size_t n, uint32_t *cp)
{
	uint32_t c = p[0], min;
	size_t len, i;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		c &= 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		c &= 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		c &= 0x07;
		min = 0x10000;
	} else
		return -1;
	for (i = 1; i < len; i++) {
		if (i >= n)
			return 0;
		if ((p[i] & 0xc0) != 0x80)
			return -1;
		c = (c << 6) | (p[i] & 0x3f);
		/* Reject overlongs, surrogates and > U+10FFFF early. */
		if (i == 1 && len == 3 && p[0] == 0xe0 && p[1] < 0xa0)
			return -1;
		if (i == 1 && len == 3 && p[0] == 0xed && p[1] > 0x9f)
			return -1;
		if (i == 1 && len == 4 && p[0] == 0xf0 && p[1] < 0x90)
			return -1;
		if (i == 1 && len == 4 && p[0] == 0xf4 && p[1] > 0x8f)
			return -1;
	}
	if (c < min)
		return -1;
	*cp = c;
	return (int)len;
}

/* Charset conversion -------------------------------------------------- */

/*
 * A converter to UTF-8: iconv, or (cd == (iconv_t)-1) the lenient
 * UTF-8-else-Latin-1 reading. Bytes of a character split between two
 * feeds are carried over.
 */
struct conv {
	iconv_t cd;
	uint8_t carry[CARRY_MAX];
	size_t ncarry;
};

static bool
charset_lenient(const char *cs)
{
	return cs[0] == '\0' || strcasecmp(cs, "us-ascii") == 0 ||
	    strcasecmp(cs, "ascii") == 0 || strcasecmp(cs, "utf-8") == 0 ||
	    strcasecmp(cs, "utf8") == 0 ||
	    strcasecmp(cs, "unknown-8bit") == 0 ||
	    strcasecmp(cs, "x-unknown") == 0;
}

/* cs[0..n) as a clean NUL-terminated charset name in name[CHARSET_MAX]. */
static void
charset_name(const uint8_t *cs, size_t n, char *name)
{
	size_t i, j = 0;

	for (i = 0; i < n && j < CHARSET_MAX - 1; i++) {
		uint8_t c = cs[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == ':' || c == '+')
			name[j++] = (char)c;
	}
	name[j] = '\0';
	if (i < n)		/* too long to be a real name */
		name[0] = '\0';
}

static void
conv_open(struct conv *c, const uint8_t *cs, size_t n)
{
	char name[CHARSET_MAX];

	c->ncarry = 0;
	c->cd = (iconv_t)-1;
	charset_name(cs, n, name);
	if (!charset_lenient(name))
		c->cd = iconv_open("UTF-8", name);
}

static void
conv_close(struct conv *c)
{
	if (c->cd != (iconv_t)-1)
		iconv_close(c->cd);
	c->cd = (iconv_t)-1;
	c->ncarry = 0;
}

/* Lenient reading of p[0..n); returns bytes used (fewer only when the
 * rest is an incomplete character and !last). */
static int
lenient_feed(const uint8_t *p, size_t n, bool last, struct buf *out,
    size_t *used_r)
{
	size_t i = 0, start = 0;
	uint32_t cp;
	int k;

	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		k = utf8_next(p + i, n - i, &cp);
		if (k > 0) {
			i += (size_t)k;
			continue;
		}
		if (k == 0 && !last)
			break;
		/* Invalid (or incomplete at the end): Latin-1. */
		if (buf_add(out, p + start, i - start) < 0 ||
		    put_utf8(out, p[i]) < 0)
			return -1;
		i++;
		start = i;
	}
	if (buf_add(out, p + start, i - start) < 0)
		return -1;
	*used_r = i;
	return 0;
}

static int
iconv_feed(struct conv *c, const uint8_t *p, size_t n, bool last,
    struct buf *out, size_t *used_r)
{
	char obuf[4096], *in = (char *)(uintptr_t)p, *o;
	size_t inleft = n, oleft;
	size_t r;

	while (inleft > 0) {
		o = obuf;
		oleft = sizeof(obuf);
		r = iconv(c->cd, &in, &inleft, &o, &oleft);
		if (buf_add(out, obuf, sizeof(obuf) - oleft) < 0)
			return -1;
		if (r != (size_t)-1)
			continue;
		if (errno == E2BIG)
			continue;
		if (errno == EINVAL && !last && inleft < CARRY_MAX)
			break;
		/* EILSEQ, or an incomplete character at the very end. */
		if (put_utf8(out, 0xfffd) < 0)
			return -1;
		in++;
		inleft--;
	}
	if (last) {
		o = obuf;
		oleft = sizeof(obuf);
		(void)iconv(c->cd, NULL, NULL, &o, &oleft);
		if (buf_add(out, obuf, sizeof(obuf) - oleft) < 0)
			return -1;
		(void)iconv(c->cd, NULL, NULL, NULL, NULL);
	}
	*used_r = n - inleft;
	return 0;
}

/* Converts p[0..n) (after what was carried) to UTF-8 in out. last: no
 * more bytes follow, so nothing is carried. Returns 0 or -1 (out full). */
static int
conv_feed(struct conv *c, const uint8_t *p, size_t n, bool last,
    struct buf *out)
{
	struct buf tmp = BUF_INITIALIZER(TEXT_MAX);
	const uint8_t *q = p;
	size_t qn = n, used = 0;
	int ret;

	if (p == NULL)
		q = p = (const uint8_t *)"";
	if (c->ncarry > 0) {
		if (buf_add(&tmp, c->carry, c->ncarry) < 0 ||
		    buf_add(&tmp, p, n) < 0) {
			buf_free(&tmp);
			return -1;
		}
		q = tmp.data;
		qn = tmp.len;
		c->ncarry = 0;
	}
	if (c->cd == (iconv_t)-1)
		ret = lenient_feed(q, qn, last, out, &used);
	else
		ret = iconv_feed(c, q, qn, last, out, &used);
	if (ret == 0 && used < qn) {
		if (qn - used > CARRY_MAX)	/* cannot happen; be safe */
			used = qn - CARRY_MAX;
		memcpy(c->carry, q + used, qn - used);
		c->ncarry = qn - used;
	}
	buf_free(&tmp);
	return ret;
}

/* Transfer encodings --------------------------------------------------- */

enum cte {
	CTE_IDENTITY,
	CTE_BASE64,
	CTE_QP
};

struct dec {
	enum cte cte;
	/* base64 */
	uint32_t acc;
	unsigned nsext;
	/* quoted-printable */
	unsigned qstate;	/* 0 text, 1 "=", 2 "=H", 3 "=\r", 4 "= " */
	uint8_t h1;
	uint8_t ws[QP_WS_MAX];
	size_t nws;
};

static int
b64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static int
hex_value(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Emits what a base64 quad cut short by "=" or the end holds. */
static int
b64_flush(struct dec *d, struct buf *out)
{
	uint8_t b[2];
	int ret = 0;

	if (d->nsext == 2) {
		b[0] = (uint8_t)(d->acc >> 4);
		ret = buf_add(out, b, 1);
	} else if (d->nsext == 3) {
		b[0] = (uint8_t)(d->acc >> 10);
		b[1] = (uint8_t)(d->acc >> 2);
		ret = buf_add(out, b, 2);
	}
	d->acc = 0;
	d->nsext = 0;
	return ret;
}

static int
b64_feed(struct dec *d, const uint8_t *p, size_t n, struct buf *out)
{
	uint8_t b[3];
	size_t i;
	int v;

	for (i = 0; i < n; i++) {
		if (p[i] == '=') {
			if (b64_flush(d, out) < 0)
				return -1;
			continue;
		}
		if ((v = b64_value(p[i])) < 0)
			continue;
		d->acc = (d->acc << 6) | (uint32_t)v;
		if (++d->nsext == 4) {
			b[0] = (uint8_t)(d->acc >> 16);
			b[1] = (uint8_t)(d->acc >> 8);
			b[2] = (uint8_t)d->acc;
			if (buf_add(out, b, 3) < 0)
				return -1;
			d->acc = 0;
			d->nsext = 0;
		}
	}
	return 0;
}

/* Writes out an undecided "=..." literally and returns to state 0. */
static int
qp_undo(struct dec *d, struct buf *out)
{
	int ret = buf_addc(out, '=');

	if (ret == 0 && d->qstate == 2)
		ret = buf_addc(out, d->h1);
	if (ret == 0 && d->qstate == 4)
		ret = buf_add(out, d->ws, d->nws);
	d->qstate = 0;
	d->nws = 0;
	return ret;
}

static int
qp_feed(struct dec *d, const uint8_t *p, size_t n, struct buf *out)
{
	size_t i = 0, start;
	uint8_t c;
	int h;

	while (i < n) {
		if (d->qstate == 0) {
			start = i;
			while (i < n && p[i] != '=')
				i++;
			if (buf_add(out, p + start, i - start) < 0)
				return -1;
			if (i < n) {
				d->qstate = 1;
				i++;
			}
			continue;
		}
		c = p[i];
		switch (d->qstate) {
		case 1:
			if (hex_value(c) >= 0) {
				d->h1 = c;
				d->qstate = 2;
			} else if (c == '\r') {
				d->qstate = 3;
			} else if (c == '\n') {
				d->qstate = 0;	/* soft line break */
			} else if (c == ' ' || c == '\t') {
				d->ws[0] = c;
				d->nws = 1;
				d->qstate = 4;
			} else {
				if (qp_undo(d, out) < 0)
					return -1;
				continue;		/* c again, as text */
			}
			i++;
			break;
		case 2:
			if ((h = hex_value(c)) < 0) {
				if (qp_undo(d, out) < 0)
					return -1;
				continue;
			}
			if (buf_addc(out, (uint8_t)(hex_value(d->h1) * 16 +
			    h)) < 0)
				return -1;
			d->qstate = 0;
			i++;
			break;
		case 3:
			/* "=\r": a soft break */
			d->qstate = 0;
			if (c == '\n')
				i++;
			break;
		default:				/* 4: "=" and blanks */
			if ((c == ' ' || c == '\t') && d->nws < QP_WS_MAX) {
				d->ws[d->nws++] = c;
				i++;
			} else if (c == '\r') {
				d->nws = 0;
				d->qstate = 3;
				i++;
			} else if (c == '\n') {
				d->nws = 0;
				d->qstate = 0;
				i++;
			} else if (qp_undo(d, out) < 0)
				return -1;
			break;
		}
	}
	return 0;
}

static int
dec_feed(struct dec *d, const uint8_t *p, size_t n, bool last,
    struct buf *out)
{
	int ret;

	switch (d->cte) {
	case CTE_BASE64:
		ret = b64_feed(d, p, n, out);
		if (ret == 0 && last)
			ret = b64_flush(d, out);
		return ret;
	case CTE_QP:
		ret = qp_feed(d, p, n, out);
		/* At the end "=" (and blanks) is a soft break; "=H" text. */
		if (ret == 0 && last && d->qstate == 2)
			ret = qp_undo(d, out);
		if (last)
			d->qstate = 0;
		return ret;
	default:
		return buf_add(out, p, n);
	}
}

/* Encoded words (RFC 2047) ------------------------------------------- */

/*
 * Parses an encoded word at v[i..n): "=?" charset ["*" lang] "?" B|Q "?"
 * text "?=". On success appends the decoded bytes to raw, sets the
 * charset (without the language) and returns the index past the word;
 * returns 0 if there is no valid word at i.
 */
static size_t
ew_parse(const uint8_t *v, size_t n, size_t i, struct buf *raw,
    const uint8_t **cs_r, size_t *csn_r)
{
	size_t cs, csend, star, enc, txt, end, k, before = raw->len;
	uint32_t acc = 0;
	unsigned ns = 0, pad = 0;
	int a, b;
	uint8_t c;

	if (n - i < 8 || v[i] != '=' || v[i + 1] != '?')
		return 0;
	cs = i + 2;
	for (k = cs; k < n && v[k] != '?'; k++)
		if (v[k] <= ' ' || v[k] >= 0x7f)
			return 0;
	if (k == cs || k + 3 >= n || v[k + 2] != '?')
		return 0;
	csend = k;
	for (star = cs; star < csend && v[star] != '*'; star++)
		;
	enc = k + 1;
	txt = k + 3;
	for (end = txt; end + 1 < n; end++) {
		if (v[end] == '?' && v[end + 1] == '=')
			break;
		if (v[end] <= ' ' || v[end] >= 0x7f)
			return 0;
	}
	if (end + 1 >= n || star == cs)
		return 0;
	if (v[enc] == 'B' || v[enc] == 'b') {
		for (k = txt; k < end; k++) {
			if (v[k] == '=') {
				pad++;
				continue;
			}
			if (pad > 0 || (a = b64_value(v[k])) < 0)
				goto bad;
			acc = (acc << 6) | (uint32_t)a;
			if (++ns == 4) {
				uint8_t t[3] = { (uint8_t)(acc >> 16),
				    (uint8_t)(acc >> 8), (uint8_t)acc };

				if (buf_add(raw, t, 3) < 0)
					goto bad;
				ns = 0;
				acc = 0;
			}
		}
		if (ns == 1 || pad > 2)
			goto bad;
		if (ns == 2 && buf_addc(raw, (uint8_t)(acc >> 4)) < 0)
			goto bad;
		if (ns == 3 && (buf_addc(raw, (uint8_t)(acc >> 10)) < 0 ||
		    buf_addc(raw, (uint8_t)(acc >> 2)) < 0))
			goto bad;
	} else if (v[enc] == 'Q' || v[enc] == 'q') {
		for (k = txt; k < end; k++) {
			c = v[k];
			if (c == '_')
				c = ' ';
			else if (c == '=') {
				if (k + 2 >= end ||
				    (a = hex_value(v[k + 1])) < 0 ||
				    (b = hex_value(v[k + 2])) < 0)
					goto bad;
				c = (uint8_t)(a * 16 + b);
				k += 2;
			}
			if (buf_addc(raw, c) < 0)
				goto bad;
		}
	} else
		return 0;
	*cs_r = v + cs;
	*csn_r = star - cs;
	return end + 2;
bad:
	buf_truncate(raw, before);
	return 0;
}

/* Converts the bytes of a run of words in charset cs to out. */
static int
run_flush(struct buf *raw, const uint8_t *cs, size_t csn, struct buf *out)
{
	struct conv c;
	int ret;

	conv_open(&c, cs, csn);
	ret = conv_feed(&c, raw->data, raw->len, true, out);
	conv_close(&c);
	buf_reset(raw);
	return ret;
}

int
mime_text_decode_header(const uint8_t *v, size_t n, struct buf *out)
{
	struct buf raw = BUF_INITIALIZER(TEXT_MAX);
	struct buf word = BUF_INITIALIZER(TEXT_MAX);
	const uint8_t *cs = NULL, *wcs;
	size_t csn = 0, wcsn, i = 0, j, next;
	int ret = 0;

	/* raw: the bytes of a run of adjacent words in charset cs. */
	while (i < n && ret == 0) {
		buf_reset(&word);
		if (v[i] != '=' || (next = ew_parse(v, n, i, &word, &wcs,
		    &wcsn)) == 0) {
			ret = buf_addc(out, v[i]);
			i++;
			continue;
		}
		if (cs != NULL && (wcsn != csn || strncasecmp((const char *)cs,
		    (const char *)wcs, csn) != 0))
			ret = run_flush(&raw, cs, csn, out);
		cs = wcs;
		csn = wcsn;
		if (ret == 0)
			ret = buf_add(&raw, word.data, word.len);
		i = next;
		/* Blanks and folds before another word are dropped. */
		for (j = i; j < n && (v[j] == ' ' || v[j] == '\t' ||
		    v[j] == '\r' || v[j] == '\n'); j++)
			;
		buf_reset(&word);
		if (j < n && ew_parse(v, n, j, &word, &wcs, &wcsn) > 0) {
			i = j;
			continue;
		}
		if (ret == 0)
			ret = run_flush(&raw, cs, csn, out);
		cs = NULL;
	}
	buf_free(&raw);
	buf_free(&word);
	return ret;
}

/* MIME headers of a part ----------------------------------------------- */

static bool
is_blank(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/*
 * Finds the first field named name in the header h[0..n) and appends its
 * value to out, unfolded (CR and LF dropped). Returns true if found.
 */
static bool
hdr_field(const uint8_t *h, size_t n, const char *name, struct buf *out)
{
	size_t nl = strlen(name), i = 0, e;

	while (i < n) {
		if (h[i] == '\r' || h[i] == '\n')
			return false;		/* the blank line */
		if (n - i > nl && h[i + nl] == ':' &&
		    strncasecmp((const char *)h + i, name, nl) == 0) {
			for (e = i + nl + 1; e < n; e++) {
				if (h[e] == '\n' && !(e + 1 < n &&
				    is_blank(h[e + 1])))
					break;
				if (h[e] != '\r' && h[e] != '\n' &&
				    buf_addc(out, h[e]) < 0)
					return true;
			}
			return true;
		}
		while (i < n && h[i] != '\n')
			i++;
		i++;
	}
	return false;
}

/* Skips blanks and (nested) comments. */
static size_t
skip_cfws(const uint8_t *p, size_t n, size_t i)
{
	unsigned depth;

	for (;;) {
		while (i < n && is_blank(p[i]))
			i++;
		if (i >= n || p[i] != '(')
			return i;
		depth = 0;
		for (; i < n; i++) {
			if (p[i] == '\\' && i + 1 < n)
				i++;
			else if (p[i] == '(')
				depth++;
			else if (p[i] == ')' && --depth == 0) {
				i++;
				break;
			}
		}
	}
}

static bool
is_tspecial_or_space(uint8_t c)
{
	return c <= ' ' || c >= 0x7f || strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

static size_t
token_end(const uint8_t *p, size_t n, size_t i)
{
	while (i < n && !is_tspecial_or_space(p[i]))
		i++;
	return i;
}

struct part_info {
	bool text;
	enum cte cte;
	uint8_t charset[CHARSET_MAX];
	size_t ncharset;
};

/* Reads type and charset from a Content-Type value. */
static void
parse_ctype(const uint8_t *v, size_t n, struct part_info *pi)
{
	size_t i = skip_cfws(v, n, 0), e, ne, ve;

	e = token_end(v, n, i);
	pi->text = e - i == 4 && strncasecmp((const char *)v + i, "text",
	    4) == 0;
	if (e == i) {
		pi->text = true;	/* unusable: RFC 2045 §5.2 default */
		return;
	}
	i = skip_cfws(v, n, e);
	if (i >= n || v[i] != '/' ||
	    token_end(v, n, skip_cfws(v, n, i + 1)) == skip_cfws(v, n,
	    i + 1)) {
		pi->text = true;	/* no subtype: the default again */
		return;
	}
	/* Parameters: look for charset. */
	while (i < n) {
		while (i < n && v[i] != ';')
			i++;
		if (i >= n)
			return;
		i = skip_cfws(v, n, i + 1);
		ne = token_end(v, n, i);
		e = skip_cfws(v, n, ne);
		if (e >= n || v[e] != '=')
			continue;
		e = skip_cfws(v, n, e + 1);
		if (ne - i == 7 && strncasecmp((const char *)v + i, "charset",
		    7) == 0) {
			size_t k = 0;

			if (e < n && v[e] == '"') {
				for (ve = e + 1; ve < n && v[ve] != '"'; ve++) {
					if (v[ve] == '\\' && ve + 1 < n)
						ve++;
					if (k < CHARSET_MAX)
						pi->charset[k++] = v[ve];
				}
			} else {
				ve = token_end(v, n, e);
				for (; e < ve && k < CHARSET_MAX; e++)
					pi->charset[k++] = v[e];
			}
			pi->ncharset = k;
			return;
		}
		i = e;
	}
}

static void
parse_part_header(const uint8_t *h, size_t n, struct part_info *pi)
{
	struct buf v = BUF_INITIALIZER(HDR_READ_MAX);
	size_t i, e;

	memset(pi, 0, sizeof(*pi));
	pi->text = true;
	if (hdr_field(h, n, "Content-Type", &v))
		parse_ctype(v.data != NULL ? v.data : (const uint8_t *)"",
		    v.len, pi);
	buf_reset(&v);
	pi->cte = CTE_IDENTITY;
	if (hdr_field(h, n, "Content-Transfer-Encoding", &v) && v.len > 0) {
		i = skip_cfws(v.data, v.len, 0);
		e = token_end(v.data, v.len, i);
		if (e - i == 6 && strncasecmp((const char *)v.data + i,
		    "base64", 6) == 0)
			pi->cte = CTE_BASE64;
		else if (e - i == 16 && strncasecmp((const char *)v.data + i,
		    "quoted-printable", 16) == 0)
			pi->cte = CTE_QP;
	}
	buf_free(&v);
}

/* The walk ----------------------------------------------------------- */

struct walk {
	mime_text_read_fn *rd;
	void *rctx;
	size_t chunk;
	mime_text_cb *cb;
	void *ctx;
	bool stopped;
};

/* Passes out's bytes to the callback and empties out. */
static void
emit(struct walk *w, struct buf *out)
{
	if (!w->stopped && out->len > 0 && w->cb(w->ctx, out->data,
	    out->len) != 0)
		w->stopped = true;
	buf_reset(out);
}

/* The top-level header, unfolded, encoded words decoded. */
static enum store_err
walk_header(struct walk *w, const struct mime_range *r)
{
	struct buf raw = BUF_INITIALIZER(HDR_READ_MAX);
	struct buf unf = BUF_INITIALIZER(HDR_READ_MAX);
	struct buf out = BUF_INITIALIZER(TEXT_MAX);
	size_t i, len = r->hdr_len < HDR_READ_MAX ? r->hdr_len : HDR_READ_MAX;
	enum store_err e;

	e = w->rd(w->rctx, r->hdr_off, len, &raw);
	for (i = 0; e == STORE_OK && i < raw.len; i++) {
		uint8_t c = raw.data[i];

		if (c == '\r')
			continue;
		if (c == '\n' && i + 1 < raw.len && is_blank(raw.data[i + 1]))
			continue;		/* a fold */
		if (buf_addc(&unf, c) < 0)
			break;
	}
	if (e == STORE_OK && unf.len > 0) {
		if (mime_text_decode_header(unf.data, unf.len, &out) == 0)
			emit(w, &out);
	}
	buf_free(&raw);
	buf_free(&unf);
	buf_free(&out);
	return e;
}

static enum store_err
walk_leaf(struct walk *w, const struct mime_range *r)
{
	static const uint8_t empty[1];
	struct buf h = BUF_INITIALIZER(HDR_READ_MAX);
	struct buf in = BUF_INITIALIZER(TEXT_MAX);
	struct buf dec = BUF_INITIALIZER(TEXT_MAX);
	struct buf out = BUF_INITIALIZER(TEXT_MAX);
	struct part_info pi;
	struct dec d;
	struct conv c;
	uint64_t off, end;
	size_t len;
	enum store_err e;
	bool last;

	len = r->mime_len < HDR_READ_MAX ? (size_t)r->mime_len : HDR_READ_MAX;
	e = w->rd(w->rctx, r->mime_off, len, &h);
	if (e != STORE_OK) {
		buf_free(&h);
		return e;
	}
	parse_part_header(h.data != NULL ? h.data : (const uint8_t *)"", h.len,
	    &pi);
	buf_free(&h);
	if (!pi.text)
		return STORE_OK;
	memset(&d, 0, sizeof(d));
	d.cte = pi.cte;
	conv_open(&c, pi.charset, pi.ncharset);
	off = r->body_off;
	end = r->body_off + r->body_len;
	do {
		len = end - off < w->chunk ? (size_t)(end - off) : w->chunk;
		buf_reset(&in);
		if (len > 0 && (e = w->rd(w->rctx, off, len, &in)) != STORE_OK)
			break;
		if (in.len == 0 && len > 0)
			len = 0;	/* short message: stop */
		off += in.len;
		last = len == 0 || off >= end;
		if (dec_feed(&d, in.data != NULL ? in.data : empty, in.len,
		    last, &dec) < 0 || conv_feed(&c, dec.data != NULL ?
		    dec.data : empty, dec.len, last, &out) < 0) {
			e = STORE_ERR_IO;
			break;
		}
		buf_reset(&dec);
		if (last && buf_addc(&out, '\n') < 0) {
			e = STORE_ERR_IO;
			break;
		}
		emit(w, &out);
		if (last)
			break;
	} while (!w->stopped);
	conv_close(&c);
	buf_free(&in);
	buf_free(&dec);
	buf_free(&out);
	return e;
}

enum store_err
mime_text_walk_reader(const uint8_t *blob, size_t bloblen, bool headers_too,
    mime_text_read_fn *rd, void *rctx, size_t chunk, mime_text_cb *cb,
    void *ctx)
{
	struct walk w = { rd, rctx, chunk > 0 ? chunk : MIME_TEXT_CHUNK, cb,
	    ctx, false };
	uint32_t path[PATH_MAX_DEPTH];
	struct mime_range r;
	enum store_err e;
	size_t d = 0;
	bool container;

	if (!mime_section(blob, bloblen, NULL, 0, &r))
		return STORE_ERR_IO;
	if (headers_too && (e = walk_header(&w, &r)) != STORE_OK)
		return e;
	/* Depth-first over part paths (RFC 3501 §6.4.5 numbering). */
	while (!w.stopped) {
		if (!mime_section(blob, bloblen, path, d, &r)) {
			if (d == 0)
				return STORE_ERR_IO;
			d--;			/* no such child: back up */
			if (d == 0)
				break;
			path[d - 1]++;
			continue;
		}
		container = d == 0 || r.is_multipart || r.is_message;
		/* The header of a message in a message/rfc822 part is text of
		 * the body around it (SEARCH BODY finds it). */
		if (container && d > 0 && r.is_message &&
		    (e = walk_header(&w, &r)) != STORE_OK)
			return e;
		if (w.stopped)
			break;
		if (container && d < PATH_MAX_DEPTH) {
			path[d++] = 1;
			continue;
		}
		if (!container && (e = walk_leaf(&w, &r)) != STORE_OK)
			return e;
		if (d == 0)
			break;
		path[d - 1]++;
	}
	return STORE_OK;
}

struct store_reader {
	struct store *st;
	uint64_t body_id;
};

static enum store_err
store_reader(void *rctx, uint64_t off, size_t n, struct buf *out)
{
	struct store_reader *sr = rctx;

	return store_body_read(sr->st, sr->body_id, off, n, out);
}

enum store_err
mime_text_walk(struct store *st, const struct store_msg *m,
    const uint8_t *blob, size_t bloblen, bool headers_too, mime_text_cb *cb,
    void *ctx)
{
	struct store_reader sr = { st, m->body_id };

	return mime_text_walk_reader(blob, bloblen, headers_too, store_reader,
	    &sr, MIME_TEXT_CHUNK, cb, ctx);
}

/* Matching ------------------------------------------------------------ */

uint32_t
mime_text_fold(uint32_t cp)
{
	if (cp >= 'A' && cp <= 'Z')
		return cp + 32;
	if (cp < 0xc0)
		return cp;
	if (cp <= 0xde)
		return cp == 0xd7 ? cp : cp + 32;
	if (cp >= 0x100 && cp <= 0x137)
		return cp == 0x130 ? 'i' : (cp | 1);
	if (cp >= 0x139 && cp <= 0x148)
		return (cp & 1) ? cp + 1 : cp;
	if (cp >= 0x14a && cp <= 0x177)
		return cp | 1;
	if (cp == 0x178)
		return 0xff;
	if (cp >= 0x179 && cp <= 0x17e)
		return (cp & 1) ? cp + 1 : cp;
	if (cp == 0x17f)
		return 's';
	if (cp >= 0x391 && cp <= 0x3ab && cp != 0x3a2)
		return cp + 32;
	if (cp == 0x3c2)
		return 0x3c3;			/* final sigma */
	if (cp >= 0x400 && cp <= 0x40f)
		return cp + 80;
	if (cp >= 0x410 && cp <= 0x42f)
		return cp + 32;
	return cp;
}

/* Bytes that start no character count as code points past Unicode. */
#define INVALID_CP(b)	(0x110000u + (b))

void
mime_text_match_init(struct mime_text_match *m, const uint8_t *needle,
    size_t n)
{
	size_t i = 0, k;
	uint32_t cp;
	int len;

	memset(m, 0, sizeof(*m));
	m->pat = xcalloc(n + 1, sizeof(*m->pat));
	while (i < n) {
		len = utf8_next(needle + i, n - i, &cp);
		if (len <= 0) {
			cp = INVALID_CP(needle[i]);
			len = 1;
		}
		m->pat[m->npat++] = mime_text_fold(cp);
		i += (size_t)len;
	}
	m->fail = xcalloc(m->npat + 1, sizeof(*m->fail));
	k = 0;
	for (i = 1; i < m->npat; i++) {
		while (k > 0 && m->pat[i] != m->pat[k])
			k = m->fail[k - 1];
		if (m->pat[i] == m->pat[k])
			k++;
		m->fail[i] = k;
	}
	m->found = m->npat == 0;
}

static void
match_cp(struct mime_text_match *m, uint32_t cp)
{
	cp = mime_text_fold(cp);
	while (m->q > 0 && m->pat[m->q] != cp)
		m->q = m->fail[m->q - 1];
	if (m->pat[m->q] == cp)
		m->q++;
	if (m->q == m->npat)
		m->found = true;
}

bool
mime_text_match_feed(struct mime_text_match *m, const uint8_t *p, size_t n)
{
	size_t i = 0, carried = m->npart, from_p = 0;
	uint8_t rest[sizeof(m->part)];
	uint32_t cp;
	int len;

	while (!m->found && i < n) {
		if (m->npart > 0) {
			/* Complete the carried character byte by byte. */
			m->part[m->npart++] = p[i++];
			from_p++;
			len = utf8_next(m->part, m->npart, &cp);
			if (len == 0 && m->npart < sizeof(m->part))
				continue;
			if (len > 0) {
				match_cp(m, cp);
				m->npart = 0;
				carried = from_p = 0;
				continue;
			}
			/*
			 * Invalid: its first byte alone, then the rest again.
			 * The bytes that came with an earlier call are not
			 * in p: they are fed from a copy (which may carry a
			 * new partial character on), then p's are rescanned.
			 */
			match_cp(m, INVALID_CP(m->part[0]));
			memcpy(rest, m->part + 1, carried - 1);
			m->npart = 0;
			i -= from_p;
			if (carried > 1)
				(void)mime_text_match_feed(m, rest,
				    carried - 1);
			carried = m->npart;
			from_p = 0;
			continue;
		}
		if (p[i] < 0x80) {
			match_cp(m, p[i++]);
			continue;
		}
		len = utf8_next(p + i, n - i, &cp);
		if (len > 0) {
			match_cp(m, cp);
			i += (size_t)len;
		} else if (len == 0) {
			memcpy(m->part, p + i, n - i);
			m->npart = n - i;
			i = n;
		} else
			match_cp(m, INVALID_CP(p[i++]));
	}
	return m->found;
}

void
mime_text_match_free(struct mime_text_match *m)
{
	xfree(&m->pat);
	xfree(&m->fail);
}

bool
mime_text_contains(const uint8_t *hay, size_t hn, const uint8_t *needle,
    size_t nn)
{
	struct mime_text_match m;
	bool found;

	mime_text_match_init(&m, needle, nn);
	found = mime_text_match_feed(&m, hay, hn);
	mime_text_match_free(&m);
	return found;
}

static int
search_cb(void *ctx, const uint8_t *p, size_t n)
{
	return mime_text_match_feed(ctx, p, n) ? 1 : 0;
}

enum store_err
mime_text_search(struct store *st, const struct store_msg *m,
    const uint8_t *blob, size_t bloblen, bool headers_too,
    const uint8_t *needle, size_t nn, bool *found_r)
{
	struct mime_text_match mt;
	enum store_err e = STORE_OK;

	mime_text_match_init(&mt, needle, nn);
	if (!mt.found)
		e = mime_text_walk(st, m, blob, bloblen, headers_too, search_cb,
		    &mt);
	*found_r = mt.found;
	mime_text_match_free(&mt);
	return e;
}
