/*
 * trace.c: the protocol trace of one session (format in trace.h).
 *
 * The session hands over client bytes as its parser takes them and server
 * bytes as it sends them, so the trace sees the exchange in its real
 * order. Each direction is cut into lines here; a line that ends in a
 * literal announcement ("{n}" or "{n+}") is followed by n bytes of literal
 * data, which are shown up to trace_literal_max bytes. A synchronizing
 * literal only comes after the server's "+": the client's data is expected
 * once the server sends a continuation line, and client bytes that arrive
 * first mean the literal was refused.
 *
 * Secrets: client command lines are split into tokens (atoms, quoted
 * strings, literals) just enough to find LOGIN and AUTHENTICATE; every
 * token after LOGIN's user name or AUTHENTICATE's mechanism is masked
 * (a literal keeps its announcement, its data is masked), and from the end
 * of an AUTHENTICATE line until the server's tagged answer to it every
 * client line is masked whole.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../lib/buf.h"
#include "../lib/log.h"
#include "../lib/xalloc.h"
#include "trace.h"

#define TRACE_CHUNK	(16 * 1024)	/* escaped text per record, about */
#define TRACE_FLUSH	(64 * 1024)	/* write when this much is pending */
#define TRACE_NONE	UINT_MAX
#define TRACE_TAG_MAX	64

/* Where a literal announcement "{n}" / "{n+}" stands. */
enum trace_lb {
	TRACE_LB_NONE,
	TRACE_LB_OPEN,		/* "{" */
	TRACE_LB_DIGITS,	/* "{1" */
	TRACE_LB_PLUS,		/* "{1+" */
	TRACE_LB_CLOSE,		/* "{1}" or "{1+}": a literal at line end */
};

/* One direction of the exchange. */
struct trace_dir {
	char d;			/* 'C' or 'S' */
	struct buf line;	/* escaped text of the line so far */
	bool cr;		/* the last byte was a CR (not written yet) */
	bool raw;		/* a raw continuation line */
	bool line_masked;	/* "\*" written for the whole line */
	uint8_t head[TRACE_TAG_MAX + 2];	/* first bytes of the line */
	size_t nhead;

	enum trace_lb lb;
	uint64_t lb_num;
	bool lb_plus;

	uint64_t lit_left;	/* literal data still to come */
	uint64_t lit_shown, lit_omitted;
	bool lit_masked;

	/* Client command tokens. */
	unsigned tok;		/* index of the current or next token */
	bool in_tok, in_quote, quote_esc;
	char word[16];		/* the token's first bytes */
	size_t wlen;
	char tag[TRACE_TAG_MAX + 2];	/* token 0 of the command */
	size_t ntag;
	unsigned secret_from;	/* tokens from here on are masked */
	bool auth;		/* the command is AUTHENTICATE */
	bool tok_masked;
	bool hold_on;		/* a masked token that may be a literal
				   announcement: held back */
	uint8_t hold[24];
	size_t nhold;
};

struct trace {
	int fd;			/* -1: stopped */
	char path[PATH_MAX];
	struct buf out;		/* records not yet written */
	size_t literal_max;
	int year, yday;		/* date of the last record */
	struct trace_dir c, s;
	bool sasl;		/* in an AUTHENTICATE exchange: lines masked */
	bool auth_raw;		/* raw lines answer AUTHENTICATE: masked */
	char sasl_tag[TRACE_TAG_MAX + 1];
	bool cont_wait;		/* a synchronizing literal waits for "+" */
	uint64_t cont_size;
	bool cont_masked;
};

static void
trace_dir_init(struct trace_dir *d, char which)
{
	memset(d, 0, sizeof(*d));
	d->d = which;
	buf_init(&d->line, SIZE_MAX);
	d->secret_from = TRACE_NONE;
}

const char *
trace_path(const struct trace *t)
{
	return t != NULL ? t->path : NULL;
}

/* Writes what is pending; on failure stops the trace (logged once). */
static void
trace_flush(struct trace *t)
{
	size_t off = 0;

	if (t->fd < 0)
		return;
	while (off < t->out.len) {
		ssize_t n = write(t->fd, t->out.data + off, t->out.len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_msg(LOG_WARNING, "trace %s: write: %s; tracing "
			    "stopped", t->path, n < 0 ? strerror(errno) :
			    "nothing written");
			close(t->fd);
			t->fd = -1;
			break;
		}
		off += (size_t)n;
	}
	if (t->out.cap > 4 * TRACE_FLUSH || t->fd < 0)
		buf_free(&t->out);
	else
		buf_reset(&t->out);
}

static void
trace_put(struct trace *t, const void *p, size_t n)
{
	/* The buffer has no maximum: buf_add cannot fail on it. */
	if (buf_add(&t->out, p, n) < 0)
		log_msg(LOG_CRIT, "trace buffer overflow");
}

/* "HH:MM:SS.mmm " of now, with a date note when the day changed. */
static void
trace_stamp(struct trace *t)
{
	struct timespec ts;
	struct tm tm;
	char s[64];
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (tm.tm_year != t->year || tm.tm_yday != t->yday) {
		t->year = tm.tm_year;
		t->yday = tm.tm_yday;
		n = snprintf(s, sizeof(s), "%02d:%02d:%02d.%03ld -- date "
		    "%04d-%02d-%02d\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
		    ts.tv_nsec / 1000000, tm.tm_year + 1900, tm.tm_mon + 1,
		    tm.tm_mday);
		if (n > 0 && (size_t)n < sizeof(s))
			trace_put(t, s, (size_t)n);
	}
	n = snprintf(s, sizeof(s), "%02d:%02d:%02d.%03ld ", tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	if (n > 0 && (size_t)n < sizeof(s))
		trace_put(t, s, (size_t)n);
}

static void
trace_record(struct trace *t, char d, char kind, const void *text,
    size_t len)
{
	char k[4] = { d, kind, ' ', '\0' };

	if (t->fd < 0)
		return;
	trace_stamp(t);
	trace_put(t, k, 3);
	trace_put(t, text, len);
	trace_put(t, "\n", 1);
	if (t->out.len >= TRACE_FLUSH)
		trace_flush(t);
}

/* The escaped form of one byte (trace.h). */
static void
trace_esc(struct buf *b, uint8_t c)
{
	char x[5];
	int r;

	if (c >= 0x20 && c < 0x7f && c != '\\')
		r = buf_addc(b, c);
	else if (c == '\\')
		r = buf_add(b, "\\\\", 2);
	else if (c == '\r')
		r = buf_add(b, "\\r", 2);
	else if (c == '\n')
		r = buf_add(b, "\\n", 2);
	else if (c == '\t')
		r = buf_add(b, "\\t", 2);
	else {
		(void)snprintf(x, sizeof(x), "\\x%02x", c);
		r = buf_add(b, x, 4);
	}
	if (r < 0)
		log_msg(LOG_CRIT, "trace line overflow");
}

/* Writes the line so far as a record: ':' (it ended in CRLF) or '-'. */
static void
trace_line_emit(struct trace *t, struct trace_dir *d, char kind)
{
	trace_record(t, d->d, kind, d->line.data != NULL ?
	    (const char *)d->line.data : "", d->line.len);
	buf_reset(&d->line);
}

static void
trace_line_addc(struct trace *t, struct trace_dir *d, uint8_t c)
{
	trace_esc(&d->line, c);
	if (d->line.len >= TRACE_CHUNK)
		trace_line_emit(t, d, '-');
}

static void
trace_line_mask(struct trace_dir *d)
{
	if (buf_add(&d->line, "\\*", 2) < 0)
		log_msg(LOG_CRIT, "trace line overflow");
}

/* ---- literal data ---- */

static void
trace_literal_end(struct trace *t, struct trace_dir *d)
{
	char n[32];
	int len;

	if (d->lit_omitted == 0)
		return;
	len = snprintf(n, sizeof(n), "%llu",
	    (unsigned long long)d->lit_omitted);
	if (len > 0 && (size_t)len < sizeof(n))
		trace_record(t, d->d, '~', n, (size_t)len);
	d->lit_omitted = 0;
}

static void
trace_literal_begin(struct trace *t, struct trace_dir *d, uint64_t size,
    bool masked)
{
	d->lit_left = size;
	d->lit_shown = 0;
	d->lit_omitted = 0;
	d->lit_masked = masked;
	if (masked && size > 0)
		trace_record(t, d->d, '=', "\\*", 2);
}

/* Takes literal data from p[0..n); returns how many bytes it took. */
static size_t
trace_literal_feed(struct trace *t, struct trace_dir *d, const uint8_t *p,
    size_t n)
{
	size_t take = n < d->lit_left ? n : (size_t)d->lit_left;
	size_t show = 0, i;

	if (!d->lit_masked) {
		if (d->lit_shown < t->literal_max) {
			uint64_t room = t->literal_max - d->lit_shown;

			show = room < take ? (size_t)room : take;
		}
		/* The line buffer is empty here: the announcement ended
		 * a line. */
		for (i = 0; i < show; i++) {
			trace_esc(&d->line, p[i]);
			if (d->line.len >= TRACE_CHUNK)
				trace_line_emit(t, d, '=');
		}
		if (d->line.len > 0)
			trace_line_emit(t, d, '=');
		d->lit_shown += show;
		d->lit_omitted += take - show;
	}
	d->lit_left -= take;
	if (d->lit_left == 0)
		trace_literal_end(t, d);
	return take;
}

/* ---- lines ---- */

static void
trace_lb_update(struct trace_dir *d, uint8_t c)
{
	switch (d->lb) {
	case TRACE_LB_OPEN:
	case TRACE_LB_DIGITS:
		if (c >= '0' && c <= '9') {
			unsigned v = (unsigned)(c - '0');

			if (d->lb_num > (UINT64_MAX - v) / 10) {
				d->lb = TRACE_LB_NONE;
				return;
			}
			d->lb_num = d->lb_num * 10 + v;
			d->lb = TRACE_LB_DIGITS;
			return;
		}
		if (d->lb == TRACE_LB_DIGITS && c == '+') {
			d->lb_plus = true;
			d->lb = TRACE_LB_PLUS;
			return;
		}
		if (d->lb == TRACE_LB_DIGITS && c == '}') {
			d->lb = TRACE_LB_CLOSE;
			return;
		}
		break;
	case TRACE_LB_PLUS:
		if (c == '}') {
			d->lb = TRACE_LB_CLOSE;
			return;
		}
		break;
	default:
		break;
	}
	d->lb = TRACE_LB_NONE;
}

static void
trace_lb_start(struct trace_dir *d)
{
	d->lb = TRACE_LB_OPEN;
	d->lb_num = 0;
	d->lb_plus = false;
}

static void
trace_tok_reset(struct trace_dir *d)
{
	d->tok = 0;
	d->in_tok = d->in_quote = d->quote_esc = false;
	d->secret_from = TRACE_NONE;
	d->auth = false;
	d->tok_masked = false;
	d->hold_on = false;
	d->nhold = 0;
	d->ntag = 0;
	d->tag[0] = '\0';
}

static void
trace_token_start(struct trace_dir *d, uint8_t c)
{
	d->in_tok = true;
	d->wlen = 0;
	d->tok_masked = d->tok >= d->secret_from;
	d->hold_on = false;
	d->nhold = 0;
	d->lb = TRACE_LB_NONE;
	if (c == '{') {
		trace_lb_start(d);
		d->hold_on = d->tok_masked;
	} else if (d->tok_masked) {
		trace_line_mask(d);
	}
	if (c == '"')
		d->in_quote = true;
}

static bool
trace_word_is(const struct trace_dir *d, const char *w)
{
	return d->wlen == strlen(w) && strncasecmp(d->word, w, d->wlen) == 0;
}

/* The token ended (space, parenthesis or end of line). */
static void
trace_token_end(struct trace_dir *d)
{
	if (d->hold_on) {
		/* Not a literal announcement after all: a secret. */
		trace_line_mask(d);
		d->hold_on = false;
	}
	if (d->tok == 0)
		d->tag[d->ntag] = '\0';
	/* The command name is token 1, or 2 after UID; token 0 when the
	 * tag is missing. Whichever it is, what follows the next token is
	 * masked. */
	if (d->secret_from == TRACE_NONE && d->tok <= 2) {
		if (trace_word_is(d, "LOGIN")) {
			d->secret_from = d->tok + 2;
		} else if (trace_word_is(d, "AUTHENTICATE")) {
			d->secret_from = d->tok + 2;
			d->auth = true;
		}
	}
	d->in_tok = d->in_quote = d->quote_esc = false;
	d->hold_on = false;
	d->tok++;
}

static void
trace_word_add(struct trace_dir *d, uint8_t c)
{
	if (d->wlen < sizeof(d->word) - 1)
		d->word[d->wlen] = (char)c;
	if (d->wlen < sizeof(d->word))
		d->wlen++;
}

/* One byte of a client command line (not CR/LF). */
static void
trace_client_byte(struct trace *t, struct trace_dir *d, uint8_t c)
{
	bool start;

	if (d->in_quote) {
		if (d->quote_esc)
			d->quote_esc = false;
		else if (c == '\\')
			d->quote_esc = true;
		else if (c == '"')
			d->in_quote = false;
		trace_word_add(d, c);
		if (!d->tok_masked)
			trace_line_addc(t, d, c);
		return;
	}
	if (c == ' ' || c == '(' || c == ')') {
		if (d->in_tok)
			trace_token_end(d);
		d->lb = TRACE_LB_NONE;
		trace_line_addc(t, d, c);
		return;
	}
	start = !d->in_tok;
	if (start)
		trace_token_start(d, c);
	else
		trace_lb_update(d, c);
	trace_word_add(d, c);
	if (d->tok == 0 && d->ntag < sizeof(d->tag) - 1)
		d->tag[d->ntag++] = (char)c;
	if (d->hold_on) {
		if (d->nhold < sizeof(d->hold)) {
			d->hold[d->nhold++] = c;
			return;
		}
		trace_line_mask(d);
		d->hold_on = false;
		d->lb = TRACE_LB_NONE;
		return;
	}
	if (!d->tok_masked)
		trace_line_addc(t, d, c);
}

/* One byte of a line (not the CRLF). */
static void
trace_content_byte(struct trace *t, struct trace_dir *d, uint8_t c,
    bool raw)
{
	if (d->nhead < sizeof(d->head))
		d->head[d->nhead++] = c;
	if (d->d == 'S') {
		if (c == '{')
			trace_lb_start(d);
		else
			trace_lb_update(d, c);
		trace_line_addc(t, d, c);
		return;
	}
	if (raw)
		d->raw = true;
	if (d->raw || t->sasl) {
		if (!t->sasl && !t->auth_raw) {
			trace_line_addc(t, d, c);
		} else if (!d->line_masked) {
			trace_line_mask(d);
			d->line_masked = true;
		}
		return;
	}
	trace_client_byte(t, d, c);
}

/* What a complete server line means for the client side. */
static void
trace_server_line(struct trace *t, const struct trace_dir *d)
{
	size_t tl;

	if (d->nhead > 0 && d->head[0] == '+') {
		if (t->cont_wait) {
			t->cont_wait = false;
			trace_literal_begin(t, &t->c, t->cont_size,
			    t->cont_masked);
		}
		return;
	}
	tl = strlen(t->sasl_tag);
	if (t->sasl && d->nhead > tl && d->head[tl] == ' ' &&
	    memcmp(d->head, t->sasl_tag, tl) == 0)
		t->sasl = false;
}

/* The line ended (crlf: with CR LF; else a bare LF). */
static void
trace_line_end(struct trace *t, struct trace_dir *d, bool crlf)
{
	bool lit = false, masked = false;
	uint64_t size = d->lb_num;
	bool plus = d->lb_plus;

	if (d->d == 'S') {
		lit = d->lb == TRACE_LB_CLOSE;
	} else if (!d->raw && !t->sasl && d->in_tok) {
		lit = d->lb == TRACE_LB_CLOSE && !d->in_quote;
		if (lit) {
			size_t i;

			/* The announcement of a masked literal is shown;
			 * its data is not. */
			for (i = 0; d->hold_on && i < d->nhold; i++)
				trace_line_addc(t, d, d->hold[i]);
			masked = d->tok_masked;
			d->hold_on = false;
			d->in_tok = false;
			d->tok++;
		} else {
			trace_token_end(d);
		}
	}
	if (!crlf)
		trace_esc(&d->line, '\n');
	trace_line_emit(t, d, crlf ? ':' : '-');
	if (d->d == 'S') {
		trace_server_line(t, d);
	} else if (!lit && !d->raw && !t->sasl) {
		/* A command line ended. Until the tagged answer to an
		 * AUTHENTICATE, every client line is masked (a tag that the
		 * parser would not take gets no answer with it: then only
		 * the raw lines are). */
		t->auth_raw = d->auth;
		if (d->auth && d->ntag > 0 && d->ntag <= TRACE_TAG_MAX) {
			t->sasl = true;
			memcpy(t->sasl_tag, d->tag, d->ntag);
			t->sasl_tag[d->ntag] = '\0';
		}
		trace_tok_reset(d);
	} else if (!lit) {
		trace_tok_reset(d);
	}
	d->lb = TRACE_LB_NONE;
	d->raw = false;
	d->line_masked = false;
	d->nhead = 0;
	if (!lit)
		return;
	if (d->d == 'S' || plus) {
		trace_literal_begin(t, d, size, masked);
		if (size == 0)
			trace_literal_end(t, d);
	} else {
		t->cont_wait = true;
		t->cont_size = size;
		t->cont_masked = masked;
	}
}

static void
trace_stream(struct trace *t, struct trace_dir *d, const uint8_t *p,
    size_t n, bool raw)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c;

		if (d->lit_left > 0) {
			i += trace_literal_feed(t, d, p + i, n - i);
			continue;
		}
		c = p[i++];
		if (d->cr) {
			d->cr = false;
			if (c == '\n') {
				trace_line_end(t, d, true);
				continue;
			}
			trace_content_byte(t, d, '\r', raw);
		}
		if (c == '\r')
			d->cr = true;
		else if (c == '\n')
			trace_line_end(t, d, false);
		else
			trace_content_byte(t, d, c, raw);
	}
}

/* ---- the interface ---- */

struct trace *
trace_open(const char *dir, size_t literal_max, unsigned id,
    const char *peer)
{
	struct trace *t;
	struct timespec ts;
	struct tm tm;
	char path[PATH_MAX];
	int fd = -1, i, n;

	if (dir == NULL)
		return NULL;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_msg(LOG_WARNING, "trace: cannot create %s: %s; session "
		    "not traced", dir, strerror(errno));
		return NULL;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	for (i = 0; i < 100; i++) {
		char suffix[16] = "";

		if (i > 0)
			(void)snprintf(suffix, sizeof(suffix), "-%d", i);
		n = snprintf(path, sizeof(path), "%s/%04d%02d%02d-%02d%02d%02d"
		    "-%ld%s.trace", dir, tm.tm_year + 1900, tm.tm_mon + 1,
		    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		    (long)getpid(), suffix);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			log_msg(LOG_WARNING, "trace: directory name too long; "
			    "session not traced");
			return NULL;
		}
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
		    O_NOFOLLOW, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		log_msg(LOG_WARNING, "trace: cannot create %s: %s; session "
		    "not traced", path, strerror(errno));
		return NULL;
	}
	t = xcalloc(1, sizeof(*t));
	t->fd = fd;
	memcpy(t->path, path, (size_t)n + 1);
	buf_init(&t->out, SIZE_MAX);
	t->literal_max = literal_max;
	t->year = tm.tm_year;
	t->yday = tm.tm_yday;
	trace_dir_init(&t->c, 'C');
	trace_dir_init(&t->s, 'S');
	if (buf_addf(&t->out, "# refimapd trace 1\n"
	    "# session %u pid %ld peer %s\n"
	    "# date %04d-%02d-%02d (times UTC) literal_max %zu\n", id,
	    (long)getpid(), peer, tm.tm_year + 1900, tm.tm_mon + 1,
	    tm.tm_mday, literal_max) < 0)
		log_msg(LOG_CRIT, "trace buffer overflow");
	trace_flush(t);
	log_msg(LOG_DEBUG, "trace: %s", t->path);
	return t;
}

/* Writes a direction's unfinished line or literal. */
static void
trace_dir_finish(struct trace *t, struct trace_dir *d)
{
	if (d->cr)
		trace_esc(&d->line, '\r');
	if (d->lit_left > 0)
		trace_literal_end(t, d);
	if (d->line.len > 0 || d->cr || d->hold_on) {
		if (d->hold_on)
			trace_line_mask(d);
		trace_line_emit(t, d, '-');
	}
	buf_free(&d->line);
}

void
trace_close(struct trace **tp)
{
	struct trace *t = *tp;

	if (t == NULL)
		return;
	trace_dir_finish(t, &t->c);
	trace_dir_finish(t, &t->s);
	trace_note(t, "end");
	if (t->fd >= 0)
		close(t->fd);
	buf_free(&t->out);
	xfree(tp);
}

/* Client bytes while a synchronizing literal waits for "+": the server
 * refused it, and the command ended with its announcement. */
static void
trace_cont_refused(struct trace *t)
{
	if (!t->cont_wait)
		return;
	t->cont_wait = false;
	trace_tok_reset(&t->c);
}

void
trace_client(struct trace *t, const uint8_t *p, size_t n)
{
	if (t == NULL || t->fd < 0 || n == 0)
		return;
	trace_cont_refused(t);
	trace_stream(t, &t->c, p, n, false);
}

void
trace_client_line(struct trace *t, const uint8_t *p, size_t n)
{
	if (t == NULL || t->fd < 0 || n == 0)
		return;
	trace_cont_refused(t);
	trace_stream(t, &t->c, p, n, true);
}

void
trace_server(struct trace *t, const uint8_t *p, size_t n)
{
	if (t == NULL || t->fd < 0)
		return;
	trace_stream(t, &t->s, p, n, false);
	trace_flush(t);
}

void
trace_note(struct trace *t, const char *fmt, ...)
{
	struct buf b = BUF_INITIALIZER(4096);
	va_list ap;
	int r;

	if (t == NULL || t->fd < 0)
		return;
	va_start(ap, fmt);
	r = buf_vaddf(&b, fmt, ap);
	va_end(ap);
	if (r == 0) {
		struct buf e = BUF_INITIALIZER(SIZE_MAX);
		size_t i;

		for (i = 0; i < b.len; i++)
			trace_esc(&e, b.data[i]);
		trace_record(t, '-', '-', e.data != NULL ?
		    (const char *)e.data : "", e.len);
		buf_free(&e);
	}
	buf_free(&b);
	trace_flush(t);
}
