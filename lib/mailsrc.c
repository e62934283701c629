/*
 * mailsrc.c: mbox, Maildir and .eml formats (see mailsrc.h for the exact
 * rules). Bytes in, bytes out: no file system and no store here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailsrc.h"
#include "xalloc.h"

/* ---- flags and keywords ---- */

static bool
mailsrc_atom_char(uint8_t c)
{
	return c > 0x20 && c < 0x7f && strchr("(){%*\"\\]", c) == NULL;
}

bool
mailsrc_meta_add_keyword(struct mailsrc_meta *m, const char *kw, size_t n)
{
	size_t i;

	if (n == 0 || n > MAILSRC_KEYWORD_LEN_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!mailsrc_atom_char((uint8_t)kw[i]))
			return false;
	for (i = 0; i < m->nkeywords; i++)
		if (strlen(m->keywords[i]) == n &&
		    strncasecmp(m->keywords[i], kw, n) == 0)
			return true;
	if (m->nkeywords >= MAILSRC_KEYWORDS_MAX)
		return false;
	m->keywords[m->nkeywords++] = xmemdup0(kw, n);
	return true;
}

void
mailsrc_meta_free(struct mailsrc_meta *m)
{
	size_t i;

	for (i = 0; i < m->nkeywords; i++)
		xfree(&m->keywords[i]);
	m->nkeywords = 0;
	m->flags = 0;
}

static bool
mailsrc_meta_has(const struct mailsrc_meta *m, const char *kw)
{
	size_t i;

	for (i = 0; i < m->nkeywords; i++)
		if (strcasecmp(m->keywords[i], kw) == 0)
			return true;
	return false;
}

/* ---- line ends ---- */

int
mailsrc_lf_to_crlf(struct buf *out, const uint8_t *in, size_t n, bool *cr)
{
	size_t i, start = 0;

	for (i = 0; i < n; i++) {
		const uint8_t *lf = memchr(in + i, '\n', n - i);

		if (lf == NULL)
			break;
		i = (size_t)(lf - in);
		if (!(i > 0 ? in[i - 1] == '\r' : *cr)) {
			if (buf_add(out, in + start, i - start) < 0 ||
			    buf_add(out, "\r\n", 2) < 0)
				return -1;
			start = i + 1;
		}
	}
	if (n > 0)
		*cr = in[n - 1] == '\r';
	return buf_add(out, in + start, n - start);
}

int
mailsrc_crlf_to_lf(struct buf *out, const uint8_t *in, size_t n, bool *cr)
{
	size_t i = 0, start;

	if (in == NULL || n == 0) {
		if (in == NULL && *cr) {
			*cr = false;
			return buf_addc(out, '\r');
		}
		return 0;
	}
	if (*cr) {
		*cr = false;
		if (in[0] != '\n' && buf_addc(out, '\r') < 0)
			return -1;
	}
	start = 0;
	while (i < n) {
		const uint8_t *c = memchr(in + i, '\r', n - i);

		if (c == NULL)
			break;
		i = (size_t)(c - in);
		if (i + 1 == n) {
			/* Wait for the next chunk to see what follows. */
			if (buf_add(out, in + start, i - start) < 0)
				return -1;
			*cr = true;
			return 0;
		}
		if (in[i + 1] == '\n') {
			if (buf_add(out, in + start, i - start) < 0)
				return -1;
			start = i + 1;
		}
		i++;
	}
	return buf_add(out, in + start, n - start);
}

/* ---- headers ---- */

/* The end of the line that begins at i (after its LF, or n). */
static size_t
mailsrc_line_end(const uint8_t *p, size_t n, size_t i)
{
	const uint8_t *lf = memchr(p + i, '\n', n - i);

	return lf == NULL ? n : (size_t)(lf - p) + 1;
}

/* Header length as mailsrc_header_len; *body_r: where the empty line
 * begins (n when there is none). */
static size_t
mailsrc_header_split(const uint8_t *msg, size_t n, size_t *blank_r)
{
	size_t i = 0, e;

	while (i < n) {
		e = mailsrc_line_end(msg, n, i);
		if (msg[i] == '\n' || (msg[i] == '\r' && i + 1 < n &&
		    msg[i + 1] == '\n')) {
			*blank_r = i;
			return e;
		}
		i = e;
	}
	*blank_r = n;
	return n;
}

size_t
mailsrc_header_len(const uint8_t *msg, size_t n)
{
	size_t blank;

	return mailsrc_header_split(msg, n, &blank);
}

/* Length of the field name of the line at p (up to ':'), 0 if none. */
static size_t
mailsrc_field_name(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == ':')
			return i;
		if (p[i] <= 0x20 || p[i] >= 0x7f)
			return 0;
	}
	return 0;
}

/* The end of the field that begins at i (continuation lines included). */
static size_t
mailsrc_field_end(const uint8_t *p, size_t n, size_t i)
{
	size_t e = mailsrc_line_end(p, n, i);

	while (e < n && (p[e] == ' ' || p[e] == '\t'))
		e = mailsrc_line_end(p, n, e);
	return e;
}

/* The unfolded, trimmed value of the field p[0..n) (name included). */
static int
mailsrc_field_value(const uint8_t *p, size_t n, size_t name_len,
    struct buf *out)
{
	size_t i;

	buf_reset(out);
	for (i = name_len + 1; i < n; i++) {
		if (p[i] == '\r' || p[i] == '\n')
			continue;
		if ((p[i] == ' ' || p[i] == '\t') && out->len == 0)
			continue;
		if (buf_addc(out, p[i]) < 0)
			return -1;
	}
	while (out->len > 0 && (out->data[out->len - 1] == ' ' ||
	    out->data[out->len - 1] == '\t'))
		buf_truncate(out, out->len - 1);
	return 0;
}

bool
mailsrc_header_get(const uint8_t *msg, size_t n, const char *name,
    struct buf *out)
{
	size_t blank, hlen = mailsrc_header_split(msg, n, &blank);
	size_t i = 0, e, nl = strlen(name), fl;

	while (i < blank) {
		e = mailsrc_field_end(msg, blank, i);
		fl = mailsrc_field_name(msg + i, e - i);
		if (fl == nl && strncasecmp((const char *)msg + i, name,
		    nl) == 0)
			return mailsrc_field_value(msg + i, e - i, fl, out) == 0;
		i = e;
	}
	(void)hlen;
	return false;
}

/* ---- dates ---- */

static const char mailsrc_days[7][4] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};
static const char mailsrc_months[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
	"Nov", "Dec"
};

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t
mailsrc_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void
mailsrc_civil_from_days(int64_t z, int64_t *y_r, unsigned *m_r,
    unsigned *d_r)
{
	int64_t era, y;
	unsigned doe, yoe, doy, mp, d, m;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = (int64_t)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	*y_r = y + (m <= 2);
	*m_r = m;
	*d_r = d;
}

struct mailsrc_tok {
	const uint8_t *p;
	size_t n;
};

static int
mailsrc_name_index(const struct mailsrc_tok *t, const char (*names)[4],
    int count)
{
	int i;

	if (t->n != 3)
		return -1;
	for (i = 0; i < count; i++)
		if (strncasecmp((const char *)t->p, names[i], 3) == 0)
			return i;
	return -1;
}

static bool
mailsrc_tok_num(const struct mailsrc_tok *t, size_t minlen, size_t maxlen,
    unsigned *v_r)
{
	unsigned v = 0;
	size_t i;

	if (t->n < minlen || t->n > maxlen)
		return false;
	for (i = 0; i < t->n; i++) {
		if (t->p[i] < '0' || t->p[i] > '9')
			return false;
		v = v * 10 + (t->p[i] - '0');
	}
	*v_r = v;
	return true;
}

/* A zone token: +hhmm / -hhmm, or a few names; false if not a zone. */
static bool
mailsrc_tok_zone(const struct mailsrc_tok *t, int32_t *off_r)
{
	static const struct {
		const char *name;
		int32_t off;
	} names[] = {
		{ "UT", 0 }, { "UTC", 0 }, { "GMT", 0 }, { "Z", 0 },
		{ "EST", -300 }, { "EDT", -240 }, { "CST", -360 },
		{ "CDT", -300 }, { "MST", -420 }, { "MDT", -360 },
		{ "PST", -480 }, { "PDT", -420 }, { "CET", 60 },
		{ "CEST", 120 },
	};
	struct mailsrc_tok d;
	unsigned v;
	size_t i;

	if (t->n == 5 && (t->p[0] == '+' || t->p[0] == '-')) {
		d.p = t->p + 1;
		d.n = 4;
		if (!mailsrc_tok_num(&d, 4, 4, &v) || v % 100 >= 60 ||
		    v / 100 > 23)
			return false;
		*off_r = (int32_t)(v / 100 * 60 + v % 100);
		if (t->p[0] == '-')
			*off_r = -*off_r;
		return true;
	}
	for (i = 0; i < N_ELEMENTS(names); i++) {
		if (strlen(names[i].name) == t->n &&
		    strncasecmp((const char *)t->p, names[i].name, t->n) == 0) {
			*off_r = names[i].off;
			return true;
		}
	}
	return false;
}

/* hh:mm or hh:mm:ss */
static bool
mailsrc_tok_time(const struct mailsrc_tok *t, unsigned *secs_r)
{
	unsigned h, m, s = 0;
	struct mailsrc_tok a = { t->p, 2 }, b = { t->p + 3, 2 },
	    c = { t->p + 6, 2 };

	if ((t->n != 5 && t->n != 8) || t->p[2] != ':' ||
	    (t->n == 8 && t->p[5] != ':'))
		return false;
	if (!mailsrc_tok_num(&a, 2, 2, &h) || !mailsrc_tok_num(&b, 2, 2, &m) ||
	    (t->n == 8 && !mailsrc_tok_num(&c, 2, 2, &s)))
		return false;
	if (h > 23 || m > 59 || s > 60)
		return false;
	*secs_r = h * 3600 + m * 60 + s;
	return true;
}

#define MAILSRC_FROM_TOKS	16

bool
mailsrc_mbox_from_parse(const uint8_t *line, size_t n, int64_t *t_r,
    int32_t *tzoff_r)
{
	struct mailsrc_tok tok[MAILSRC_FROM_TOKS];
	size_t nt = 0, i = 5, k;
	unsigned day, secs, year;
	int32_t off = 0;
	int mon;

	if (n > 0 && line[n - 1] == '\r')
		n--;
	if (n < 5 || memcmp(line, "From ", 5) != 0)
		return false;
	while (i < n && nt < MAILSRC_FROM_TOKS) {
		while (i < n && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i == n)
			break;
		tok[nt].p = line + i;
		while (i < n && line[i] != ' ' && line[i] != '\t')
			i++;
		tok[nt].n = (size_t)(line + i - tok[nt].p);
		nt++;
	}
	/* The sender may be missing or hold blanks: find the weekday. */
	mon = -1;
	for (k = 0; k + 4 < nt; k++) {
		if (mailsrc_name_index(&tok[k], mailsrc_days, 7) >= 0 &&
		    (mon = mailsrc_name_index(&tok[k + 1], mailsrc_months,
		    12)) >= 0)
			break;
	}
	if (mon < 0 || k + 4 >= nt)
		return false;
	if (!mailsrc_tok_num(&tok[k + 2], 1, 2, &day) || day < 1 ||
	    day > 31 || !mailsrc_tok_time(&tok[k + 3], &secs))
		return false;
	k += 4;
	/* "EDT 1997" or "1997 -0400" */
	if (mailsrc_tok_zone(&tok[k], &off) && ++k >= nt)
		return false;
	if (!mailsrc_tok_num(&tok[k], 4, 4, &year))
		return false;
	if (++k < nt)
		(void)mailsrc_tok_zone(&tok[k], &off);
	*t_r = mailsrc_days_from_civil(year, (unsigned)mon + 1, day) * 86400 +
	    secs - (int64_t)off * 60;
	*tzoff_r = off;
	return true;
}

/* ---- mbox reading ---- */

/* Whether the line at p[i..] is a From_ line. */
static bool
mailsrc_is_from(const uint8_t *p, size_t n, size_t i, size_t *end_r,
    int64_t *t_r, int32_t *tz_r)
{
	size_t e;

	if (n - i < 5 || memcmp(p + i, "From ", 5) != 0)
		return false;
	e = mailsrc_line_end(p, n, i);
	*end_r = e;
	return mailsrc_mbox_from_parse(p + i, e - i - (p[e - 1] == '\n'),
	    t_r, tz_r);
}

int
mailsrc_mbox_next(const uint8_t *p, size_t n, size_t *pos,
    struct mailsrc_mbox_msg *m)
{
	size_t i = *pos, e, body, next, ne;
	int64_t t2;
	int32_t z2;

	if (i == 0)
		while (i < n && (p[i] == '\n' || p[i] == '\r'))
			i++;
	if (i >= n)
		return 0;
	if (!mailsrc_is_from(p, n, i, &e, &m->time, &m->tzoff))
		return -1;
	m->from = p + i;
	m->from_len = e - i;
	while (m->from_len > 0 && (m->from[m->from_len - 1] == '\n' ||
	    m->from[m->from_len - 1] == '\r'))
		m->from_len--;
	body = e;
	next = body;
	while (next < n) {
		if (mailsrc_is_from(p, n, next, &ne, &t2, &z2))
			break;
		next = mailsrc_line_end(p, n, next);
	}
	m->data = p + body;
	m->len = next - body;
	/* The empty line before the next From_ line is the file's. */
	if (m->len >= 2 && m->data[m->len - 1] == '\n' &&
	    m->data[m->len - 2] == '\n')
		m->len--;
	else if (m->len >= 4 && memcmp(m->data + m->len - 4, "\r\n\r\n",
	    4) == 0)
		m->len -= 2;
	else if (m->len == 1 && m->data[0] == '\n')
		m->len = 0;
	*pos = next;
	return 1;
}

/* Adds the flags of a status header value. */
static void
mailsrc_status_flags(const struct buf *v, bool xstatus,
    struct mailsrc_meta *meta)
{
	size_t i;

	for (i = 0; i < v->len; i++) {
		switch (v->data[i]) {
		case 'R':
			if (!xstatus)
				meta->flags |= MAILSRC_SEEN;
			break;
		case 'A':
			if (xstatus)
				meta->flags |= MAILSRC_ANSWERED;
			break;
		case 'F':
			if (xstatus)
				meta->flags |= MAILSRC_FLAGGED;
			break;
		case 'T':
			if (xstatus)
				meta->flags |= MAILSRC_DRAFT;
			break;
		case 'D':
			if (xstatus)
				meta->flags |= MAILSRC_DELETED;
			break;
		}
	}
}

static void
mailsrc_keywords_value(const struct buf *v, struct mailsrc_meta *meta)
{
	size_t i = 0, s;

	while (i < v->len) {
		while (i < v->len && strchr(" ,\t", v->data[i]) != NULL)
			i++;
		s = i;
		while (i < v->len && strchr(" ,\t", v->data[i]) == NULL)
			i++;
		if (i > s)
			(void)mailsrc_meta_add_keyword(meta,
			    (const char *)v->data + s, i - s);
	}
}

/* Copies msg to out without its status headers, which go into meta. */
static int
mailsrc_strip_status(const uint8_t *msg, size_t n, struct buf *out,
    struct mailsrc_meta *meta)
{
	struct buf v = BUF_INITIALIZER(1 << 20);
	size_t blank, i = 0, e, fl;
	int ret = 0;

	(void)mailsrc_header_split(msg, n, &blank);
	while (i < blank && ret == 0) {
		e = mailsrc_field_end(msg, blank, i);
		fl = mailsrc_field_name(msg + i, e - i);
		if (fl == 6 && strncasecmp((const char *)msg + i, "Status",
		    6) == 0) {
			ret = mailsrc_field_value(msg + i, e - i, fl, &v);
			mailsrc_status_flags(&v, false, meta);
		} else if (fl == 8 && strncasecmp((const char *)msg + i,
		    "X-Status", 8) == 0) {
			ret = mailsrc_field_value(msg + i, e - i, fl, &v);
			mailsrc_status_flags(&v, true, meta);
		} else if (fl == 10 && strncasecmp((const char *)msg + i,
		    "X-Keywords", 10) == 0) {
			ret = mailsrc_field_value(msg + i, e - i, fl, &v);
			mailsrc_keywords_value(&v, meta);
		} else {
			ret = buf_add(out, msg + i, e - i);
		}
		i = e;
	}
	if (ret == 0)
		ret = buf_add(out, msg + blank, n - blank);
	buf_free(&v);
	return ret;
}

int
mailsrc_mbox_decode(const uint8_t *p, size_t n, bool mboxo, struct buf *out,
    struct mailsrc_meta *meta)
{
	struct buf a = BUF_INITIALIZER(out->max), b = BUF_INITIALIZER(out->max);
	size_t i = 0, e, k;
	bool cr = false;
	int ret = 0;

	/* Quoting first: it covers the header lines too. */
	while (i < n && ret == 0) {
		e = mailsrc_line_end(p, n, i);
		k = i;
		while (k < e && p[k] == '>')
			k++;
		if (k > i && e - k >= 5 && memcmp(p + k, "From ", 5) == 0 &&
		    (!mboxo || k == i + 1))
			i++;
		ret = buf_add(&a, p + i, e - i);
		i = e;
	}
	if (ret == 0)
		ret = mailsrc_strip_status(a.data, a.len, &b, meta);
	if (ret == 0)
		ret = mailsrc_lf_to_crlf(out, b.data, b.len, &cr);
	buf_free(&a);
	buf_free(&b);
	return ret;
}

/* ---- mbox writing ---- */

static int
mailsrc_from_line(struct buf *out, const char *sender, int64_t t,
    int32_t tzoff)
{
	int64_t local = t + (int64_t)tzoff * 60, days, y, rem;
	unsigned m, d, secs;
	int32_t z = tzoff < 0 ? -tzoff : tzoff;
	size_t i;
	bool ok = sender != NULL && sender[0] != '\0' && strlen(sender) < 256;

	for (i = 0; ok && sender[i] != '\0'; i++)
		if ((uint8_t)sender[i] <= 0x20 || (uint8_t)sender[i] >= 0x7f)
			ok = false;
	days = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
	rem = local - days * 86400;
	secs = (unsigned)rem;
	mailsrc_civil_from_days(days, &y, &m, &d);
	if (buf_addf(out, "From %s %s %s %2u %02u:%02u:%02u %lld",
	    ok ? sender : "MAILER-DAEMON",
	    mailsrc_days[((days % 7) + 11) % 7], mailsrc_months[m - 1], d,
	    secs / 3600, secs / 60 % 60, secs % 60, (long long)y) < 0)
		return -1;
	if (tzoff != 0 && buf_addf(out, " %c%02d%02d", tzoff < 0 ? '-' : '+',
	    (int)(z / 60), (int)(z % 60)) < 0)
		return -1;
	return buf_addc(out, '\n');
}

/* The status headers for meta (LF line ends). */
static int
mailsrc_status_headers(struct buf *out, const struct mailsrc_meta *meta)
{
	size_t i;
	int ret = 0;

	if (meta == NULL)
		return 0;
	if (meta->flags & MAILSRC_SEEN)
		ret = buf_adds(out, "Status: RO\n");
	if (ret == 0 && (meta->flags & (MAILSRC_ANSWERED | MAILSRC_FLAGGED |
	    MAILSRC_DRAFT | MAILSRC_DELETED)) != 0) {
		ret = buf_addf(out, "X-Status: %s%s%s%s\n",
		    meta->flags & MAILSRC_ANSWERED ? "A" : "",
		    meta->flags & MAILSRC_FLAGGED ? "F" : "",
		    meta->flags & MAILSRC_DRAFT ? "T" : "",
		    meta->flags & MAILSRC_DELETED ? "D" : "");
	}
	if (ret == 0 && meta->nkeywords > 0) {
		ret = buf_adds(out, "X-Keywords:");
		for (i = 0; ret == 0 && i < meta->nkeywords; i++)
			ret = buf_addf(out, " %s", meta->keywords[i]);
		if (ret == 0)
			ret = buf_addc(out, '\n');
	}
	return ret;
}

int
mailsrc_mbox_encode(struct buf *out, const char *sender, int64_t t,
    int32_t tzoff, const uint8_t *msg, size_t n,
    const struct mailsrc_meta *meta, bool mboxo)
{
	struct buf a = BUF_INITIALIZER(out->max), b = BUF_INITIALIZER(out->max);
	size_t blank, i, e, k;
	bool cr = false;
	int ret;

	ret = mailsrc_crlf_to_lf(&a, msg, n, &cr);
	if (ret == 0)
		ret = mailsrc_crlf_to_lf(&a, NULL, 0, &cr);
	if (ret == 0) {
		(void)mailsrc_header_split(a.data, a.len, &blank);
		ret = buf_add(&b, a.data, blank);
		if (ret == 0 && blank == a.len && a.len > 0 &&
		    a.data[a.len - 1] != '\n')
			ret = buf_addc(&b, '\n');
		if (ret == 0)
			ret = mailsrc_status_headers(&b, meta);
		if (ret == 0)
			ret = buf_add(&b, a.data + blank, a.len - blank);
	}
	if (ret == 0)
		ret = mailsrc_from_line(out, sender, t, tzoff);
	for (i = 0; ret == 0 && i < b.len; i = e) {
		e = mailsrc_line_end(b.data, b.len, i);
		k = i;
		while (!mboxo && k < e && b.data[k] == '>')
			k++;
		if (e - k >= 5 && memcmp(b.data + k, "From ", 5) == 0)
			ret = buf_addc(out, '>');
		if (ret == 0)
			ret = buf_add(out, b.data + i, e - i);
	}
	if (ret == 0 && b.len > 0 && b.data[b.len - 1] != '\n')
		ret = buf_addc(out, '\n');
	if (ret == 0)
		ret = buf_addc(out, '\n');
	buf_free(&a);
	buf_free(&b);
	return ret;
}

/* ---- Maildir ---- */

void
mailsrc_kwmap_parse(struct mailsrc_kwmap *k, const uint8_t *p, size_t n)
{
	size_t i = 0, e, j, s;
	unsigned idx;

	while (i < n) {
		e = mailsrc_line_end(p, n, i);
		j = i;
		idx = 0;
		while (j < e && p[j] >= '0' && p[j] <= '9' && idx < 1000)
			idx = idx * 10 + (p[j++] - '0');
		if (j > i && j < e && p[j] == ' ' && idx < 26) {
			s = ++j;
			while (j < e && p[j] != '\n' && p[j] != '\r')
				j++;
			if (j > s) {
				xfree(&k->names[idx]);
				k->names[idx] = xmemdup0(p + s, j - s);
			}
		}
		i = e;
	}
}

int
mailsrc_kwmap_format(const struct mailsrc_kwmap *k, struct buf *out)
{
	unsigned i;

	for (i = 0; i < 26; i++)
		if (k->names[i] != NULL &&
		    buf_addf(out, "%u %s\n", i, k->names[i]) < 0)
			return -1;
	return 0;
}

int
mailsrc_kwmap_index(struct mailsrc_kwmap *k, const char *kw)
{
	int i, free_slot = -1;

	for (i = 0; i < 26; i++) {
		if (k->names[i] == NULL) {
			if (free_slot < 0)
				free_slot = i;
		} else if (strcasecmp(k->names[i], kw) == 0) {
			return i;
		}
	}
	if (free_slot >= 0)
		k->names[free_slot] = xstrdup(kw);
	return free_slot;
}

void
mailsrc_kwmap_free(struct mailsrc_kwmap *k)
{
	unsigned i;

	for (i = 0; i < 26; i++)
		xfree(&k->names[i]);
}

void
mailsrc_maildir_flags(const char *name, const struct mailsrc_kwmap *k,
    struct mailsrc_meta *meta)
{
	const char *info = strrchr(name, ':');

	if (info == NULL || strncmp(info, ":2,", 3) != 0)
		return;
	for (info += 3; *info != '\0'; info++) {
		switch (*info) {
		case 'D':
			meta->flags |= MAILSRC_DRAFT;
			break;
		case 'F':
			meta->flags |= MAILSRC_FLAGGED;
			break;
		case 'P':
			(void)mailsrc_meta_add_keyword(meta,
			    MAILSRC_KW_FORWARDED,
			    strlen(MAILSRC_KW_FORWARDED));
			break;
		case 'R':
			meta->flags |= MAILSRC_ANSWERED;
			break;
		case 'S':
			meta->flags |= MAILSRC_SEEN;
			break;
		case 'T':
			meta->flags |= MAILSRC_DELETED;
			break;
		default:
			if (*info >= 'a' && *info <= 'z' && k != NULL &&
			    k->names[*info - 'a'] != NULL)
				(void)mailsrc_meta_add_keyword(meta,
				    k->names[*info - 'a'],
				    strlen(k->names[*info - 'a']));
			break;
		}
	}
}

int
mailsrc_maildir_info(struct buf *out, const struct mailsrc_meta *meta,
    struct mailsrc_kwmap *k, size_t *dropped_r)
{
	bool letters[26] = { false };
	size_t i;
	int idx;

	*dropped_r = 0;
	/* $Forwarded too: Dovecot reads it from its letter, others from P. */
	for (i = 0; i < meta->nkeywords; i++) {
		if ((idx = mailsrc_kwmap_index(k, meta->keywords[i])) < 0)
			(*dropped_r)++;
		else
			letters[idx] = true;
	}
	if (buf_addf(out, ":2,%s%s%s%s%s%s",
	    meta->flags & MAILSRC_DRAFT ? "D" : "",
	    meta->flags & MAILSRC_FLAGGED ? "F" : "",
	    mailsrc_meta_has(meta, MAILSRC_KW_FORWARDED) ? "P" : "",
	    meta->flags & MAILSRC_ANSWERED ? "R" : "",
	    meta->flags & MAILSRC_SEEN ? "S" : "",
	    meta->flags & MAILSRC_DELETED ? "T" : "") < 0)
		return -1;
	for (i = 0; i < 26; i++)
		if (letters[i] && buf_addc(out, (uint8_t)('a' + i)) < 0)
			return -1;
	return 0;
}

static int
mailsrc_uidlist_cmp(const void *a, const void *b)
{
	const struct mailsrc_uidlist_entry *x = a, *y = b;

	return strcmp(x->base, y->base);
}

void
mailsrc_uidlist_parse(struct mailsrc_uidlist *u, const uint8_t *p, size_t n)
{
	size_t i, e, end, j, s, k, cap = 0;
	uint32_t uid;

	u->v = NULL;
	u->n = 0;
	if (n == 0)
		return;
	/* The first line is the header. */
	for (i = mailsrc_line_end(p, n, 0); i < n; i = e) {
		e = mailsrc_line_end(p, n, i);
		end = e;
		while (end > i && (p[end - 1] == '\n' || p[end - 1] == '\r'))
			end--;
		j = i;
		uid = 0;
		while (j < end && p[j] >= '0' && p[j] <= '9' && uid < 400000000)
			uid = uid * 10 + (uint32_t)(p[j++] - '0');
		if (j == i || uid == 0 || j == end || p[j] != ' ')
			continue;
		/* Version 3: the name follows " :"; version 1: the last word. */
		for (k = j; k + 1 < end; k++)
			if (p[k] == ' ' && p[k + 1] == ':')
				break;
		if (k + 1 < end) {
			s = k + 2;
		} else {
			s = end;
			while (s > j && p[s - 1] != ' ')
				s--;
		}
		for (k = s; k < end && p[k] != ':'; k++)
			;
		if (k == s)
			continue;
		if (u->n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			u->v = xreallocarray(u->v, cap, sizeof(*u->v));
		}
		u->v[u->n].base = xmemdup0(p + s, k - s);
		u->v[u->n].uid = uid;
		u->n++;
	}
	if (u->n > 1)
		qsort(u->v, u->n, sizeof(*u->v), mailsrc_uidlist_cmp);
}

uint32_t
mailsrc_uidlist_uid(const struct mailsrc_uidlist *u, const char *name)
{
	struct mailsrc_uidlist_entry key, *hit;
	const char *colon = strchr(name, ':');
	char *base;
	uint32_t uid = 0;

	if (u->n == 0)
		return 0;
	base = colon == NULL ? xstrdup(name) :
	    xmemdup0(name, (size_t)(colon - name));
	key.base = base;
	hit = bsearch(&key, u->v, u->n, sizeof(*u->v), mailsrc_uidlist_cmp);
	if (hit != NULL)
		uid = hit->uid;
	free(base);
	return uid;
}

void
mailsrc_uidlist_free(struct mailsrc_uidlist *u)
{
	size_t i;

	for (i = 0; i < u->n; i++)
		xfree(&u->v[i].base);
	xfree(&u->v);
	u->n = 0;
}

bool
mailsrc_maildirpp_to_name(const char *dir, struct buf *out)
{
	size_t i, n = strlen(dir);

	buf_reset(out);
	if (n < 2 || dir[0] != '.' || strcmp(dir, "..") == 0)
		return false;
	for (i = 1; i < n; i++) {
		if (dir[i] == '.') {
			if (dir[i - 1] == '.' || i + 1 == n)
				return false;
			if (buf_addc(out, '/') < 0)
				return false;
		} else if (dir[i] == '/' || buf_addc(out, (uint8_t)dir[i]) < 0) {
			return false;
		}
	}
	return true;
}

bool
mailsrc_name_to_maildirpp(const char *name, struct buf *out)
{
	size_t i, n = strlen(name);

	buf_reset(out);
	if (n == 0 || name[0] == '/' || name[n - 1] == '/' ||
	    buf_addc(out, '.') < 0)
		return false;
	for (i = 0; i < n; i++) {
		if (name[i] == '.')
			return false;
		if (name[i] == '/' && name[i + 1] == '/')
			return false;
		if (buf_addc(out, name[i] == '/' ? '.' : (uint8_t)name[i]) < 0)
			return false;
	}
	return true;
}

int
mailsrc_namecmp(const char *a, const char *b)
{
	while (*a != '\0' && *b != '\0') {
		if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
			const char *sa = a, *sb = b;
			size_t la, lb;
			int c;

			while (*sa == '0' && sa[1] >= '0' && sa[1] <= '9')
				sa++;
			while (*sb == '0' && sb[1] >= '0' && sb[1] <= '9')
				sb++;
			a = sa;
			b = sb;
			while (*a >= '0' && *a <= '9')
				a++;
			while (*b >= '0' && *b <= '9')
				b++;
			la = (size_t)(a - sa);
			lb = (size_t)(b - sb);
			if (la != lb)
				return la < lb ? -1 : 1;
			if ((c = memcmp(sa, sb, la)) != 0)
				return c;
			continue;
		}
		if (*a != *b)
			return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
		a++;
		b++;
	}
	if (*a == *b)
		return 0;
	return *a == '\0' ? -1 : 1;
}
