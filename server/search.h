/*
 * search.h: SEARCH programs (RFC 3501 §6.4.4, search-key in §9), parsed
 * once into a flat node array and then matched against message records
 * without a session or a store, so that they can be tested alone.
 *
 * Implemented in cmd_search.c, next to the SEARCH command.
 */
#ifndef REFIMAPD_SEARCH_H
#define REFIMAPD_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../store/mime_text.h"
#include "../store/store.h"
#include "args.h"

#define SEARCH_NODES_MAX	1000	/* keys and operators in one program */
#define SEARCH_DEPTH_MAX	64	/* nested NOT, OR and parentheses */

enum search_parse_result {
	SEARCH_PARSE_OK,
	SEARCH_PARSE_BAD,	/* syntax or size: tagged BAD, *why_r */
	SEARCH_PARSE_BADCHARSET, /* NO [BADCHARSET (US-ASCII UTF-8)] */
};

struct search_program;

/*
 * Reads [CHARSET astring] 1*search-key up to the end of the arguments
 * into *prog_r (allocated; search_free releases it). Strings in the
 * program point into the arguments, which must outlive it. On
 * SEARCH_PARSE_BAD, *why_r is our own text for the client (no client
 * bytes) and *prog_r is NULL; likewise on SEARCH_PARSE_BADCHARSET.
 */
enum search_parse_result search_parse(struct args *a,
    struct search_program **prog_r, const char **why_r);
void search_free(struct search_program **prog);

/* True if the program has a key that reads the message header (HEADER,
 * FROM, TO, CC, BCC, SUBJECT, SENT*). */
bool search_needs_header(const struct search_program *prog);
/* True if the program has BODY or TEXT. */
bool search_needs_body(const struct search_program *prog);
/* True if the program has KEYWORD or UNKEYWORD keys. */
bool search_needs_keywords(const struct search_program *prog);
/* True if the program has a MODSEQ key (RFC 7162 §3.1.5): the answer
 * then carries the highest MODSEQ of the matches. */
bool search_has_modseq(const struct search_program *prog);
/* True if the program has a sequence-set key (message numbers): then not
 * even UID SEARCH may report expunges (RFC 7162 §3.2.10.2). */
bool search_has_seqnums(const struct search_program *prog);

/*
 * Gives each KEYWORD/UNKEYWORD key its bit in store_msg.keywords: fn
 * returns the index of a keyword name (NUL-terminated, as the client
 * wrote it) in the mailbox, or -1 if the mailbox has no such keyword
 * (KEYWORD then matches nothing, UNKEYWORD everything). Keys start out
 * unresolved, i.e. as -1.
 */
typedef int search_keyword_fn(void *ctx, const char *keyword);
void search_resolve_keywords(struct search_program *prog,
    search_keyword_fn *fn, void *ctx);

/*
 * Resolves '*' in sequence sets: nmsgs is the number of messages in the
 * session's view, max_uid the highest UID in it (0 if none). Call it once
 * before search_match.
 */
void search_prepare(struct search_program *prog, uint32_t nmsgs,
    uint32_t max_uid);

/*
 * Lower bounds implied by the top-level keys (a sequence set or a UID set
 * that every match must lie in): *min_seq_r and *min_uid_r are at least 1.
 * After search_prepare.
 */
void search_bounds(const struct search_program *prog, uint32_t *min_seq_r,
    uint32_t *min_uid_r);

/*
 * Returns the header of the message being matched (the bytes up to and
 * including the empty line), or false when it cannot be read; the caller
 * keeps the error (header keys then see an empty header). Called at most
 * when a header key is evaluated; the caller should cache the result for
 * the message.
 */
typedef bool search_header_fn(void *ctx, const uint8_t **p_r, size_t *n_r);

/*
 * A case-insensitive substring matcher with exactly the semantics of
 * mime_text_contains (UTF-8 code points folded by mime_text_fold),
 * streaming over text fed in pieces. An ASCII needle (the usual case,
 * pieces split anywhere, even inside a character) is matched with memmem on
 * a copy of each piece folded by a table: only ASCII letters and the two
 * characters that fold to ASCII (U+0130, U+017F) change, and no other
 * byte can take part in a match of an ASCII needle. Any other needle
 * goes through mime_text_match. Fields are private.
 */
struct search_textmatch {
	uint8_t *needle;	/* folded (owned) */
	size_t n;
	bool ascii;
	bool found;
	uint8_t lead;		/* 0xc4 or 0xc5 held back at a piece's end */
	uint8_t *win;		/* the last n - 1 folded bytes, then a piece */
	size_t wlen, wcap;
	struct mime_text_match slow;
	bool slow_init;
};

/* Prepares t for needle[0..n) (UTF-8); release with
 * search_textmatch_free. The needle is copied. */
void search_textmatch_init(struct search_textmatch *t, const uint8_t *needle,
    size_t n);
/* Forgets the text fed so far: the next feed starts a new text. */
void search_textmatch_reset(struct search_textmatch *t);
/* Feeds text; true once the needle has been seen (it then stays true
 * until a reset). */
bool search_textmatch_feed(struct search_textmatch *t, const uint8_t *p,
    size_t n);
/* Reset, then feed hay[0..n) as a whole text. */
bool search_textmatch_contains(struct search_textmatch *t, const uint8_t *hay,
    size_t n);
void search_textmatch_free(struct search_textmatch *t);

/*
 * BODY and TEXT: whether the message's decoded text (with_headers: its
 * headers too) contains the key's needle, case-insensitively: the
 * callback resets tm and feeds it the text until it matches. Called at
 * most once per key and message, only when the answer still depends on
 * it.
 */
typedef bool search_body_fn(void *ctx, struct search_textmatch *tm,
    bool with_headers);

/* What the program needs to know of one message. */
struct search_msg {
	const struct store_msg *rec;
	uint32_t seq;		/* sequence number in the session */
	bool recent;		/* \Recent in this session */
	search_body_fn *body;	/* NULL: BODY and TEXT never match */
	void *body_ctx;
};

/*
 * True if the message matches. Keys that need no header are evaluated
 * first inside AND and OR, so hdr is called only when the answer still
 * depends on the header, and at most once. hdr may be NULL when
 * !search_needs_header. prog is not changed but for scratch buffers and
 * the state of its keys' matchers.
 */
bool search_match(struct search_program *prog,
    const struct search_msg *m, search_header_fn *hdr, void *hdr_ctx);

/*
 * Days since 1970-01-01 of an IMAP date (RFC 3501 §9 date-text,
 * "1-Feb-1994" or "01-Feb-1994", the month case-insensitive), without
 * quotes. False for another form or an impossible date.
 */
bool search_parse_date(const uint8_t *p, size_t n, int64_t *day_r);
/*
 * The date (days since 1970-01-01, in the zone the field was written in)
 * of an RFC 5322 §3.3 date-time as found in a Date: field, obsolete forms
 * (2-digit years, zone names, comments) included. False if unparseable.
 */
bool search_parse_sent_date(const uint8_t *p, size_t n, int64_t *day_r);

#endif
