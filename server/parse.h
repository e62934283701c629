/*
 * parse.h: the incremental IMAP command tokenizer (RFC 3501 §9, RFC 7888).
 *
 * An iterator with no I/O: bytes in, tokens out. It never needs a whole
 * command in memory: atoms and quoted strings are collected in the parser's
 * own bounded buffer, literal data is handed out in chunks that point into
 * the caller's input.
 *
 * One command is: tag SP name [SP args] CRLF. The parser checks the lexical
 * form only (what a token is, where spaces go, list nesting, limits); what
 * each argument means is the command's business.
 *
 * Lexical rules enforced:
 *  - tokens are separated by exactly one SP; no SP after '(' or before ')';
 *    a token may follow ')' directly (FETCH's "BODY[HEADER.FIELDS (A)]");
 *  - an atom is a run of bytes other than SP, CTL (0x00-0x1f, 0x7f), '(',
 *    ')', '"', '{' (at its start only) and '\r'/'\n'. Bytes >= 0x80 are
 *    accepted (the argument readers decide). '[' ']' '%' '*' '\\' are atom
 *    bytes here, so "BODY[]", "\\Seen", "1:*" and "%" are atoms;
 *  - a quoted string allows \\ and \" escapes only, no CR, LF or NUL;
 *  - a literal is "{" number ["+"] "}" CRLF, then exactly that many bytes
 *    (any bytes except that NUL is refused unless allow_nul);
 *  - a line ends with CRLF; a bare LF is accepted as the end of line, a CR
 *    not followed by LF is an error.
 *
 * Limits (struct parse_limits) are checked before memory is spent: the
 * command's bytes outside literals, one literal's size, list depth, and
 * tokens per command.
 *
 * After PARSE_ERROR the parser discards input up to the end of that command
 * line (skipping over the data of any non-synchronizing literal announced on
 * the way, without holding it), then starts afresh with the next command. The
 * caller sends its BAD as soon as it sees the error.
 */
#ifndef REFIMAPD_PARSE_H
#define REFIMAPD_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/compat.h"

struct parse_limits {
	size_t line_max;	/* bytes of a command outside literal data */
	uint64_t literal_max;	/* bytes of one literal */
	unsigned depth_max;	/* nested '(' */
	unsigned tokens_max;	/* tokens in one command */
};

enum parse_tok_type {
	PARSE_TOK_ATOM,		/* data/len: the atom's bytes */
	PARSE_TOK_QUOTED,	/* data/len: the unescaped contents */
	PARSE_TOK_LITERAL_BEGIN, /* literal_size, literal_nonsync */
	PARSE_TOK_LITERAL_DATA,	/* data/len: a chunk, pointing into the input */
	PARSE_TOK_LITERAL_END,
	PARSE_TOK_LIST_OPEN,
	PARSE_TOK_LIST_CLOSE,
	PARSE_TOK_EOL,		/* end of the command (CRLF outside a literal) */
};

struct parse_token {
	enum parse_tok_type type;
	const uint8_t *data;	/* valid until the next parse_* call */
	size_t len;
	uint64_t literal_size;
	bool literal_nonsync;	/* {n+} */
	unsigned index;		/* position in the command: 0 is the tag */
	unsigned depth;		/* list depth where the token stands */
};

enum parse_result {
	PARSE_TOKEN,		/* *tok is filled */
	PARSE_MORE,		/* all of the input was used; call again with more */
	PARSE_ERROR,		/* see parse_error(); the parser now skips the line */
};

enum parse_errcode {
	PARSE_ERR_NONE = 0,
	PARSE_ERR_SYNTAX,	/* generic lexical problem */
	PARSE_ERR_LINE_TOO_LONG,
	PARSE_ERR_LITERAL_TOO_BIG,	/* announced size over literal_max */
	PARSE_ERR_TOO_DEEP,
	PARSE_ERR_TOO_MANY_TOKENS,
	PARSE_ERR_NUL,			/* NUL byte in a literal or line */
};

struct parser;

/* Allocates a parser with the given limits (copied). */
struct parser *parse_new(const struct parse_limits *limits);
void parse_free(struct parser **p);
/* Changes the limits; takes effect at the next command. */
void parse_set_limits(struct parser *p, const struct parse_limits *limits);
/* Allow NUL bytes in literal data (APPEND of binary content later). */
void parse_set_allow_nul(struct parser *p, bool allow);
/* Accept non-synchronizing literals {n+} (RFC 7888; the default). When
 * off, "{n+}" is a syntax error (whose skip still steps over the data). */
void parse_set_literal_plus(struct parser *p, bool allow);

/*
 * Consumes bytes from in[0..len) and returns at most one token. *used_r is
 * how many bytes were consumed (possibly fewer than len when a token is
 * returned; call again with the rest). PARSE_MORE means every byte was
 * consumed and no token is complete yet.
 *
 * After PARSE_TOK_LITERAL_BEGIN for a synchronizing literal the parser waits
 * in the literal state: the caller either sends "+ ..." and keeps feeding
 * bytes, or refuses the literal with parse_abort_command().
 */
enum parse_result parse_next(struct parser *p, const uint8_t *in, size_t len,
    size_t *used_r, struct parse_token *tok);

/* The last error's code and a short English text naming the problem. */
enum parse_errcode parse_errcode(const struct parser *p);
const char *parse_error(const struct parser *p);

/*
 * The tag of the command being parsed (NUL-terminated copy, "" if none yet),
 * so that a BAD can be tagged even after an error. At most 64 bytes are
 * kept; a longer or invalid tag reads as "".
 */
const char *parse_tag(const struct parser *p);

/*
 * Abandons the current command. If a synchronizing literal was just
 * announced, its data will not come (the client gets no "+"), so the
 * parser simply resets to expect a new command. Otherwise (the caller
 * rejected the command mid-line, or a non-synchronizing literal) the rest
 * of the line is skipped as after an error, discarding literal data without
 * holding it.
 */
void parse_abort_command(struct parser *p);

/* Forgets everything (used after STARTTLS): the next byte starts a command. */
void parse_reset(struct parser *p);

/* True when the parser stands at the start of a command (no partial input). */
bool parse_at_command_start(const struct parser *p);

#endif
