/*
 * parse.c: the incremental IMAP command tokenizer (RFC 3501 §9, RFC 7888).
 *
 * A resumable state machine: parse_next() is fed whatever bytes the session
 * has, hands out at most one token per call and remembers where it stopped.
 * Atoms and quoted strings that end inside the caller's input point straight
 * into it; those cut by the end of the input are collected in a buffer that
 * never holds more than line_max bytes. Literal data is never copied.
 *
 * Choices made here (see parse.h for the lexical rules):
 *  - an empty line before a command is an error ("Empty command line");
 *  - the tag (at most PARSE_TAG_MAX bytes) is 1*<ASTRING-CHAR except "+">;
 *  - the command name (token 1) must be an atom;
 *  - only an atom may follow ')' directly;
 *  - line_max counts every byte of the command outside literal data except
 *    line ends (CR, LF), literal announcements included;
 *  - tokens_max counts the tag, atoms, quoted strings, literals and '(';
 *  - a literal size that overflows 64 bits is "Invalid literal size", one
 *    above literal_max is "Literal too big", reported at its '}'.
 *
 * After an error nothing is consumed past the offending byte; the skip state
 * then discards the rest of the line, watching for a trailing "{n+}" whose n
 * data bytes it discards too. A synchronizing "{n}" there just ends the line.
 */
#include <string.h>

#include "../lib/buf.h"
#include "../lib/log.h"
#include "../lib/xalloc.h"
#include "parse.h"

#define PARSE_TAG_MAX	64

enum parse_state {
	PS_TAG,		/* command start, or in the tag */
	PS_SEP,		/* after a tag, atom, quoted string or literal */
	PS_AFTER_CLOSE,	/* after ')' */
	PS_ARG,		/* after SP: a token must start */
	PS_LIST_FIRST,	/* after '(': a token or ')' */
	PS_ATOM,
	PS_QUOTED,
	PS_QUOTED_ESC,	/* after '\' in a quoted string */
	PS_LIT_SIZE,	/* after '{', in the digits */
	PS_LIT_PLUS,	/* after "{n+" */
	PS_LIT_CR,	/* after "}": CRLF must follow */
	PS_LIT_LF,	/* after "}" CR */
	PS_LIT_DATA,
	PS_CR,		/* after the CR that ends the line */
	PS_SKIP,	/* discarding the rest of a line after an error */
};

static const char *const parse_state_names[] = {
	[PS_TAG] = "tag",
	[PS_SEP] = "separator",
	[PS_AFTER_CLOSE] = "after-close",
	[PS_ARG] = "argument",
	[PS_LIST_FIRST] = "list-first",
	[PS_ATOM] = "atom",
	[PS_QUOTED] = "quoted",
	[PS_QUOTED_ESC] = "quoted-escape",
	[PS_LIT_SIZE] = "literal-size",
	[PS_LIT_PLUS] = "literal-plus",
	[PS_LIT_CR] = "literal-cr",
	[PS_LIT_LF] = "literal-lf",
	[PS_LIT_DATA] = "literal-data",
	[PS_CR] = "cr",
	[PS_SKIP] = "skip",
};

/* Where the skip state stands in recognizing a trailing "{n+}" CRLF. */
enum parse_skip {
	SK_LINE,	/* plain bytes of the line */
	SK_BRACE,	/* after '{' and maybe digits */
	SK_PLUS,	/* after "{n+" */
	SK_CLOSE,	/* after "{n+}" */
	SK_CR,		/* after "{n+}" CR */
	SK_DATA,	/* discarding literal data */
};

struct parser {
	struct parse_limits lim;	/* of the current command */
	struct parse_limits next_lim;	/* from the next command on */
	bool allow_nul;
	bool literal_plus;	/* {n+} accepted (RFC 7888) */

	enum parse_state state;
	enum parse_skip skip;
	bool started;		/* a byte of this command was read */

	struct buf buf;		/* atom or quoted cut by input end */
	bool buf_out;		/* buf was handed out: empty it next */

	char tag[PARSE_TAG_MAX + 1];
	size_t taglen;
	bool tag_ok;

	size_t line_len;	/* bytes counted against line_max */
	unsigned ntok;		/* counted tokens so far */
	unsigned depth;
	unsigned tok_index;	/* index of the token being read */

	uint64_t num;		/* literal size being read */
	unsigned ndigits;
	bool nonsync;
	uint64_t lit_size;
	uint64_t lit_left;	/* data bytes still to come (or to skip) */

	enum parse_errcode err;
	const char *errtext;
};

static bool
is_ctl(uint8_t c)
{
	return c < 0x20 || c == 0x7f;
}

/* Any byte of an atom ('{' is refused at its start by the caller). */
static bool
is_atom(uint8_t c)
{
	return c > 0x20 && c != 0x7f && c != '(' && c != ')' && c != '"';
}

/* tag = 1*<any ASTRING-CHAR except "+"> (RFC 3501 §9). */
static bool
is_tag(uint8_t c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	switch (c) {
	case '(': case ')': case '{': case '%': case '*': case '"':
	case '\\': case '+':
		return false;
	default:
		return true;
	}
}

/* A byte copied as is inside a quoted string. */
static bool
is_qplain(uint8_t c)
{
	return c != '"' && c != '\\' && c != '\r' && c != '\n' && c != '\0';
}

static bool
is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static const char *
parse_state_name(enum parse_state s)
{
	if ((size_t)s < N_ELEMENTS(parse_state_names) &&
	    parse_state_names[s] != NULL)
		return parse_state_names[s];
	return "?";
}

static size_t
line_room(const struct parser *p)
{
	return p->lim.line_max > p->line_len ?
	    p->lim.line_max - p->line_len : 0;
}

struct parser *
parse_new(const struct parse_limits *limits)
{
	struct parser *p;

	p = xcalloc(1, sizeof(*p));
	p->lim = *limits;
	p->next_lim = *limits;
	buf_init(&p->buf, limits->line_max);
	p->state = PS_TAG;
	p->literal_plus = true;
	return p;
}

void
parse_free(struct parser **pp)
{
	struct parser *p = *pp;

	if (p == NULL)
		return;
	buf_free(&p->buf);
	xfree(pp);
}

void
parse_set_limits(struct parser *p, const struct parse_limits *limits)
{
	p->next_lim = *limits;
	if (p->state == PS_TAG && !p->started)
		p->lim = *limits;
}

void
parse_set_allow_nul(struct parser *p, bool allow)
{
	p->allow_nul = allow;
}

void
parse_set_literal_plus(struct parser *p, bool allow)
{
	p->literal_plus = allow;
}

enum parse_errcode
parse_errcode(const struct parser *p)
{
	return p->err;
}

const char *
parse_error(const struct parser *p)
{
	return p->errtext != NULL ? p->errtext : "";
}

const char *
parse_tag(const struct parser *p)
{
	return p->tag_ok ? p->tag : "";
}

bool
parse_at_command_start(const struct parser *p)
{
	return p->state == PS_TAG && !p->started;
}

/* The first byte of a new command is about to be read. */
static void
begin_command(struct parser *p)
{
	p->lim = p->next_lim;
	p->buf.max = p->lim.line_max;
	buf_reset(&p->buf);
	p->started = true;
	p->tag_ok = false;
	p->taglen = 0;
	p->tag[0] = '\0';
	p->line_len = 0;
	p->ntok = 0;
	p->depth = 0;
}

/* Ready for a new command; the old tag stays readable until it starts. */
static void
end_command(struct parser *p)
{
	p->state = PS_TAG;
	p->started = false;
}

/*
 * Enters the skip state from wherever the parser stands, so that a
 * non-synchronizing literal announced before the error is still recognized.
 */
static void
enter_skip(struct parser *p)
{
	switch (p->state) {
	case PS_LIT_SIZE:
		p->skip = SK_BRACE;
		break;
	case PS_LIT_PLUS:
		p->skip = SK_PLUS;
		break;
	case PS_LIT_CR:
		p->skip = p->nonsync ? SK_CLOSE : SK_LINE;
		break;
	case PS_LIT_LF:
		p->skip = p->nonsync ? SK_CR : SK_LINE;
		break;
	case PS_LIT_DATA:
		p->skip = SK_DATA;
		break;
	case PS_SKIP:
		return;
	default:
		p->skip = SK_LINE;
		break;
	}
	p->state = PS_SKIP;
	buf_reset(&p->buf);
}

static enum parse_result
fail(struct parser *p, enum parse_errcode code, const char *text)
{
	log_msg(LOG_DEBUG, "parse: %s (state %s, tag \"%s\")", text,
	    parse_state_name(p->state), parse_tag(p));
	p->err = code;
	p->errtext = text;
	enter_skip(p);
	return PARSE_ERROR;
}

static enum parse_result
emit(struct parse_token *tok, enum parse_tok_type type, const uint8_t *data,
    size_t len, unsigned index, unsigned depth)
{
	tok->type = type;
	tok->data = data;
	tok->len = len;
	tok->literal_size = 0;
	tok->literal_nonsync = false;
	tok->index = index;
	tok->depth = depth;
	return PARSE_TOKEN;
}

/* A byte that cannot start or separate a token here. */
static enum parse_result
fail_byte(struct parser *p, uint8_t c, const char *text)
{
	if (c == '\0')
		return fail(p, PARSE_ERR_NUL, "NUL byte in command");
	if (c != '\r' && c != '\n' && is_ctl(c))
		return fail(p, PARSE_ERR_SYNTAX, "Invalid control character");
	return fail(p, PARSE_ERR_SYNTAX, text);
}

/* CR or LF where the line may end. Consumes it unless it is an error. */
static enum parse_result
end_line(struct parser *p, uint8_t c, size_t *i, struct parse_token *tok,
    bool *again_r)
{
	*again_r = false;
	if (p->ntok == 1)
		return fail(p, PARSE_ERR_SYNTAX, "Missing command name");
	if (p->depth > 0)
		return fail(p, PARSE_ERR_SYNTAX,
		    "Unterminated list at end of line");
	(*i)++;
	if (c == '\r') {
		p->state = PS_CR;
		*again_r = true;
		return PARSE_MORE;
	}
	end_command(p);
	return emit(tok, PARSE_TOK_EOL, NULL, 0, p->ntok, 0);
}

static enum parse_result
close_list(struct parser *p, size_t *i, struct parse_token *tok)
{
	if (p->depth == 0)
		return fail(p, PARSE_ERR_SYNTAX, "Unbalanced ')'");
	if (line_room(p) < 1)
		return fail(p, PARSE_ERR_LINE_TOO_LONG, "Line too long");
	p->line_len++;
	(*i)++;
	p->depth--;
	p->state = PS_AFTER_CLOSE;
	return emit(tok, PARSE_TOK_LIST_CLOSE, NULL, 0, p->ntok, p->depth);
}

/*
 * c starts a token (atom, quoted, literal or list). Returns PARSE_TOKEN for
 * '(', PARSE_ERROR, or PARSE_MORE with *again_r set when the new state
 * must go on reading.
 */
static enum parse_result
start_token(struct parser *p, uint8_t c, size_t *i, struct parse_token *tok,
    bool *again_r)
{
	*again_r = false;
	if (p->ntok == 1 && (c == '(' || c == '"' || c == '{'))
		return fail(p, PARSE_ERR_SYNTAX, "Invalid command name");
	if (p->ntok >= p->lim.tokens_max)
		return fail(p, PARSE_ERR_TOO_MANY_TOKENS, "Too many arguments");
	if (c == '(' && p->depth >= p->lim.depth_max)
		return fail(p, PARSE_ERR_TOO_DEEP, "Lists nested too deeply");
	if (line_room(p) < 1)
		return fail(p, PARSE_ERR_LINE_TOO_LONG, "Line too long");
	p->tok_index = p->ntok++;
	*again_r = true;
	switch (c) {
	case '(':
		p->line_len++;
		(*i)++;
		p->state = PS_LIST_FIRST;
		*again_r = false;
		return emit(tok, PARSE_TOK_LIST_OPEN, NULL, 0, p->tok_index,
		    p->depth++);
	case '"':
		p->line_len++;
		(*i)++;
		p->state = PS_QUOTED;
		break;
	case '{':
		p->line_len++;
		(*i)++;
		p->num = 0;
		p->ndigits = 0;
		p->nonsync = false;
		p->state = PS_LIT_SIZE;
		break;
	default:
		/* PS_ATOM reads the byte itself. */
		p->state = PS_ATOM;
		break;
	}
	return PARSE_MORE;
}

/* '}' was seen (at in[*i]) after a valid size. */
static enum parse_result
literal_close(struct parser *p, size_t *i)
{
	if (line_room(p) < 1)
		return fail(p, PARSE_ERR_LINE_TOO_LONG, "Line too long");
	p->line_len++;
	(*i)++;
	p->state = PS_LIT_CR;
	if (p->num > p->lim.literal_max)
		return fail(p, PARSE_ERR_LITERAL_TOO_BIG, "Literal too big");
	return PARSE_MORE;
}

static enum parse_result
literal_begin(struct parser *p, size_t *i, struct parse_token *tok)
{
	(*i)++;
	p->lit_size = p->num;
	p->lit_left = p->num;
	p->state = PS_LIT_DATA;
	emit(tok, PARSE_TOK_LITERAL_BEGIN, NULL, 0, p->tok_index, p->depth);
	tok->literal_size = p->lit_size;
	tok->literal_nonsync = p->nonsync;
	return PARSE_TOKEN;
}

/*
 * Discards bytes in the skip state. Returns true when the line has ended
 * (the parser then expects a new command).
 */
static bool
skip_bytes(struct parser *p, const uint8_t *in, size_t len, size_t *i)
{
	while (*i < len) {
		uint8_t c = in[*i];
		uint64_t n;

		switch (p->skip) {
		case SK_LINE: {
			size_t j = *i;

			while (j < len && in[j] != '\n' && in[j] != '{')
				j++;
			*i = j;
			if (j == len)
				return false;
			(*i)++;
			if (in[j] == '\n') {
				end_command(p);
				return true;
			}
			p->skip = SK_BRACE;
			p->num = 0;
			p->ndigits = 0;
			break;
		}
		case SK_BRACE:
			if (is_digit(c)) {
				unsigned d = (unsigned)(c - '0');

				if (p->num > (UINT64_MAX - d) / 10) {
					p->skip = SK_LINE;
					break;
				}
				p->num = p->num * 10 + d;
				p->ndigits++;
				(*i)++;
			} else if (c == '+' && p->ndigits > 0) {
				p->skip = SK_PLUS;
				(*i)++;
			} else {
				p->skip = SK_LINE;
			}
			break;
		case SK_PLUS:
			if (c == '}') {
				p->skip = SK_CLOSE;
				(*i)++;
			} else {
				p->skip = SK_LINE;
			}
			break;
		case SK_CLOSE:
			if (c == '\r') {
				p->skip = SK_CR;
				(*i)++;
				break;
			}
			/* FALLTHROUGH */
		case SK_CR:
			if (c == '\n') {
				p->skip = SK_DATA;
				p->lit_left = p->num;
				(*i)++;
			} else {
				p->skip = SK_LINE;
			}
			break;
		case SK_DATA:
			n = len - *i;
			if (n > p->lit_left)
				n = p->lit_left;
			*i += (size_t)n;
			p->lit_left -= n;
			if (p->lit_left == 0)
				p->skip = SK_LINE;
			break;
		}
	}
	if (p->skip == SK_DATA && p->lit_left == 0)
		p->skip = SK_LINE;
	return false;
}

/* Reads the tag; returns the tag token, an error, or MORE at input end. */
static enum parse_result
read_tag(struct parser *p, const uint8_t *in, size_t len, size_t *i,
    struct parse_token *tok)
{
	uint8_t c;

	while (*i < len && is_tag(in[*i])) {
		if (line_room(p) < 1)
			return fail(p, PARSE_ERR_LINE_TOO_LONG,
			    "Line too long");
		if (p->taglen >= PARSE_TAG_MAX)
			return fail(p, PARSE_ERR_SYNTAX, "Tag too long");
		p->tag[p->taglen++] = (char)in[*i];
		p->line_len++;
		(*i)++;
	}
	if (*i == len)
		return PARSE_MORE;
	c = in[*i];
	if (c == ' ' || c == '\r' || c == '\n') {
		if (p->taglen == 0)
			return fail(p, PARSE_ERR_SYNTAX, c == ' ' ?
			    "Invalid tag" : "Empty command line");
		p->tag[p->taglen] = '\0';
		p->tag_ok = true;
		p->ntok = 1;
		p->state = PS_SEP;
		return emit(tok, PARSE_TOK_ATOM, (const uint8_t *)p->tag,
		    p->taglen, 0, 0);
	}
	if (c == '\0')
		return fail(p, PARSE_ERR_NUL, "NUL byte in command");
	return fail(p, PARSE_ERR_SYNTAX, "Invalid tag");
}

/* The atom's token once a byte that is not an atom byte follows it. */
static enum parse_result
read_atom(struct parser *p, const uint8_t *in, size_t len, size_t *i,
    struct parse_token *tok)
{
	const uint8_t *s = in + *i, *data;
	size_t run = 0, avail = line_room(p), n = len - *i;

	while (run < n && is_atom(s[run]))
		run++;
	if (run > avail) {
		*i += avail;
		return fail(p, PARSE_ERR_LINE_TOO_LONG, "Line too long");
	}
	p->line_len += run;
	*i += run;
	if (run == n) {
		if (run > 0 && buf_add(&p->buf, s, run) < 0)
			return fail(p, PARSE_ERR_LINE_TOO_LONG,
			    "Line too long");
		return PARSE_MORE;
	}
	if (p->buf.len == 0) {
		data = s;
	} else {
		if (buf_add(&p->buf, s, run) < 0)
			return fail(p, PARSE_ERR_LINE_TOO_LONG,
			    "Line too long");
		data = p->buf.data;
		run = p->buf.len;
		p->buf_out = true;
	}
	p->state = PS_SEP;
	return emit(tok, PARSE_TOK_ATOM, data, run, p->tok_index, p->depth);
}

/*
 * Reads a quoted string's contents up to its closing quote. Returns the
 * token, an error, or MORE with the state set to go on.
 */
static enum parse_result
read_quoted(struct parser *p, const uint8_t *in, size_t len, size_t *i,
    struct parse_token *tok)
{
	const uint8_t *s = in + *i, *data;
	size_t run = 0, avail = line_room(p), n = len - *i;
	uint8_t c;

	while (run < n && is_qplain(s[run]))
		run++;
	if (run > avail) {
		*i += avail;
		return fail(p, PARSE_ERR_LINE_TOO_LONG, "Line too long");
	}
	*i += run;
	p->line_len += run;
	if (run == n) {
		if (run > 0 && buf_add(&p->buf, s, run) < 0)
			return fail(p, PARSE_ERR_LINE_TOO_LONG,
			    "Line too long");
		return PARSE_MORE;
	}
	c = s[run];
	if (c == '\0')
		return fail(p, PARSE_ERR_NUL, "NUL byte in command");
	if (c == '\r' || c == '\n')
		return fail(p, PARSE_ERR_SYNTAX, "Unterminated quoted string");
	if (run == avail)
		return fail(p, PARSE_ERR_LINE_TOO_LONG, "Line too long");
	p->line_len++;
	(*i)++;
	if (c == '\\') {
		if (buf_add(&p->buf, s, run) < 0)
			return fail(p, PARSE_ERR_LINE_TOO_LONG,
			    "Line too long");
		p->state = PS_QUOTED_ESC;
		return PARSE_MORE;
	}
	/* The closing quote. */
	if (p->buf.len == 0) {
		data = s;
	} else {
		if (buf_add(&p->buf, s, run) < 0)
			return fail(p, PARSE_ERR_LINE_TOO_LONG,
			    "Line too long");
		data = p->buf.data;
		run = p->buf.len;
		p->buf_out = true;
	}
	p->state = PS_SEP;
	return emit(tok, PARSE_TOK_QUOTED, data, run, p->tok_index, p->depth);
}

static enum parse_result
read_literal_data(struct parser *p, const uint8_t *in, size_t len, size_t *i,
    struct parse_token *tok)
{
	const uint8_t *s = in + *i, *z;
	size_t n = len - *i;

	if (p->lit_left == 0) {
		p->state = PS_SEP;
		return emit(tok, PARSE_TOK_LITERAL_END, NULL, 0, p->tok_index,
		    p->depth);
	}
	if (n == 0)
		return PARSE_MORE;
	if ((uint64_t)n > p->lit_left)
		n = (size_t)p->lit_left;
	if (!p->allow_nul && (z = memchr(s, '\0', n)) != NULL) {
		n = (size_t)(z - s);
		if (n == 0)
			return fail(p, PARSE_ERR_NUL, "NUL byte in literal");
	}
	*i += n;
	p->lit_left -= n;
	return emit(tok, PARSE_TOK_LITERAL_DATA, s, n, p->tok_index, p->depth);
}

enum parse_result
parse_next(struct parser *p, const uint8_t *in, size_t len, size_t *used_r,
    struct parse_token *tok)
{
	enum parse_result r;
	size_t i = 0;
	bool again;
	uint8_t c;

	if (p->buf_out) {
		buf_reset(&p->buf);
		p->buf_out = false;
	}
	for (;;) {
		if (p->state == PS_LIT_DATA) {
			r = read_literal_data(p, in, len, &i, tok);
			break;
		}
		if (i == len) {
			r = PARSE_MORE;
			break;
		}
		c = in[i];
		switch (p->state) {
		case PS_TAG:
			if (!p->started)
				begin_command(p);
			r = read_tag(p, in, len, &i, tok);
			goto out;
		case PS_SEP:
			if (c == ' ') {
				if (line_room(p) < 1) {
					r = fail(p, PARSE_ERR_LINE_TOO_LONG,
					    "Line too long");
					goto out;
				}
				p->line_len++;
				i++;
				p->state = PS_ARG;
				continue;
			}
			if (c == ')') {
				r = close_list(p, &i, tok);
				goto out;
			}
			if (c == '\r' || c == '\n') {
				r = end_line(p, c, &i, tok, &again);
				if (again)
					continue;
				goto out;
			}
			r = fail_byte(p, c, "Missing space between arguments");
			goto out;
		case PS_AFTER_CLOSE:
			if (c == ' ' || c == ')' || c == '\r' || c == '\n') {
				p->state = PS_SEP;
				continue;
			}
			if (!is_atom(c) || c == '{') {
				r = fail_byte(p, c,
				    "Missing space between arguments");
				goto out;
			}
			r = start_token(p, c, &i, tok, &again);
			if (again)
				continue;
			goto out;
		case PS_ARG:
		case PS_LIST_FIRST:
			if (c == ' ') {
				r = fail(p, PARSE_ERR_SYNTAX,
				    "Unexpected space");
				goto out;
			}
			if (c == ')') {
				if (p->state == PS_LIST_FIRST)
					r = close_list(p, &i, tok);
				else
					r = fail(p, PARSE_ERR_SYNTAX,
					    "Unexpected space before ')'");
				goto out;
			}
			if (c == '\r' || c == '\n') {
				if (p->ntok == 1)
					r = fail(p, PARSE_ERR_SYNTAX,
					    "Missing command name");
				else if (p->state == PS_LIST_FIRST)
					r = fail(p, PARSE_ERR_SYNTAX,
					    "Unterminated list at end of line");
				else
					r = fail(p, PARSE_ERR_SYNTAX,
					    "Unexpected space at end of line");
				goto out;
			}
			if (c == '\0' || is_ctl(c)) {
				r = fail_byte(p, c, "");
				goto out;
			}
			r = start_token(p, c, &i, tok, &again);
			if (again)
				continue;
			goto out;
		case PS_ATOM:
			r = read_atom(p, in, len, &i, tok);
			goto out;
		case PS_QUOTED:
			r = read_quoted(p, in, len, &i, tok);
			if (r == PARSE_MORE && i < len)
				continue;
			goto out;
		case PS_QUOTED_ESC:
			if (c == '"' || c == '\\') {
				if (line_room(p) < 1) {
					r = fail(p, PARSE_ERR_LINE_TOO_LONG,
					    "Line too long");
					goto out;
				}
				if (buf_addc(&p->buf, c) < 0) {
					r = fail(p, PARSE_ERR_LINE_TOO_LONG,
					    "Line too long");
					goto out;
				}
				p->line_len++;
				i++;
				p->state = PS_QUOTED;
				continue;
			}
			if (c == '\0')
				r = fail(p, PARSE_ERR_NUL,
				    "NUL byte in command");
			else if (c == '\r' || c == '\n')
				r = fail(p, PARSE_ERR_SYNTAX,
				    "Unterminated quoted string");
			else
				r = fail(p, PARSE_ERR_SYNTAX,
				    "Invalid escape in quoted string");
			goto out;
		case PS_LIT_SIZE:
			if (is_digit(c)) {
				unsigned d = (unsigned)(c - '0');

				if (p->num > (UINT64_MAX - d) / 10) {
					r = fail(p, PARSE_ERR_SYNTAX,
					    "Invalid literal size");
					goto out;
				}
				if (line_room(p) < 1) {
					r = fail(p, PARSE_ERR_LINE_TOO_LONG,
					    "Line too long");
					goto out;
				}
				p->num = p->num * 10 + d;
				p->ndigits++;
				p->line_len++;
				i++;
				continue;
			}
			if (p->ndigits > 0 && c == '+') {
				/* Without LITERAL+ a syntax error; the skip
				 * that follows still steps over the data the
				 * client sends regardless. */
				if (!p->literal_plus) {
					r = fail(p, PARSE_ERR_SYNTAX,
					    "Invalid literal size");
					goto out;
				}
				if (line_room(p) < 1) {
					r = fail(p, PARSE_ERR_LINE_TOO_LONG,
					    "Line too long");
					goto out;
				}
				p->nonsync = true;
				p->line_len++;
				i++;
				p->state = PS_LIT_PLUS;
				continue;
			}
			if (p->ndigits > 0 && c == '}') {
				r = literal_close(p, &i);
				if (r == PARSE_MORE)
					continue;
				goto out;
			}
			r = fail_byte(p, c, "Invalid literal size");
			goto out;
		case PS_LIT_PLUS:
			if (c == '}') {
				r = literal_close(p, &i);
				if (r == PARSE_MORE)
					continue;
				goto out;
			}
			r = fail_byte(p, c, "Invalid literal size");
			goto out;
		case PS_LIT_CR:
			if (c == '\r') {
				i++;
				p->state = PS_LIT_LF;
				continue;
			}
			if (c == '\n') {
				r = literal_begin(p, &i, tok);
				goto out;
			}
			r = fail_byte(p, c, "Missing CRLF after literal size");
			goto out;
		case PS_LIT_LF:
			if (c == '\n') {
				r = literal_begin(p, &i, tok);
				goto out;
			}
			r = fail(p, PARSE_ERR_SYNTAX, "CR without LF");
			goto out;
		case PS_CR:
			if (c == '\n') {
				i++;
				end_command(p);
				r = emit(tok, PARSE_TOK_EOL, NULL, 0, p->ntok,
				    0);
				goto out;
			}
			r = fail(p, PARSE_ERR_SYNTAX, "CR without LF");
			goto out;
		case PS_SKIP:
			if (skip_bytes(p, in, len, &i))
				continue;
			r = PARSE_MORE;
			goto out;
		case PS_LIT_DATA:
			/* Handled above the switch. */
			break;
		}
	}
out:
	*used_r = i;
	return r;
}

void
parse_abort_command(struct parser *p)
{
	buf_reset(&p->buf);
	p->buf_out = false;
	if (p->state == PS_TAG && !p->started)
		return;
	if (p->state == PS_LIT_DATA && !p->nonsync &&
	    p->lit_left == p->lit_size) {
		/* No "+" was sent: the client will not send the data. */
		end_command(p);
		return;
	}
	enter_skip(p);
}

void
parse_reset(struct parser *p)
{
	buf_reset(&p->buf);
	p->buf_out = false;
	p->state = PS_TAG;
	p->skip = SK_LINE;
	p->started = false;
	p->tag_ok = false;
	p->taglen = 0;
	p->tag[0] = '\0';
	p->err = PARSE_ERR_NONE;
	p->errtext = NULL;
	p->lim = p->next_lim;
	p->buf.max = p->lim.line_max;
}
