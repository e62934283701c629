/*
 * Unit tests for SEARCH programs (server/cmd_search.c, search.h; RFC 3501
 * §6.4.4 and search-key in §9): parsing, limits, and matching against
 * in-memory message records and header text.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../../server/search.h"

/* ---- Building arguments from a line ---- */

#define T_ARGS_MAX	2100

static struct arg t_argv[T_ARGS_MAX];
static char t_text[T_ARGS_MAX][64];
static struct args t_args;

/*
 * Splits line into arguments: "(" and ")" are lists, "..." a quoted
 * string (no escapes), {...} a literal holding the text between the
 * braces, anything else up to a space or parenthesis an atom.
 */
static struct args *
t_parse_args(const char *line)
{
	size_t n = 0;
	const char *p = line;

	while (*p != '\0') {
		struct arg *g = &t_argv[n];
		size_t len = 0;
		char end = '\0';

		if (*p == ' ') {
			p++;
			continue;
		}
		CU_ASSERT_FATAL(n < T_ARGS_MAX);
		memset(g, 0, sizeof(*g));
		if (*p == '(' || *p == ')') {
			g->type = *p == '(' ? ARG_LIST_OPEN : ARG_LIST_CLOSE;
			p++;
			n++;
			continue;
		}
		if (*p == '"' || *p == '{') {
			g->type = ARG_STRING;
			g->literal = *p == '{';
			end = *p == '"' ? '"' : '}';
			p++;
			while (p[len] != end && p[len] != '\0')
				len++;
		} else {
			g->type = ARG_ATOM;
			while (p[len] != '\0' && p[len] != ' ' &&
			    p[len] != '(' && p[len] != ')')
				len++;
		}
		CU_ASSERT_FATAL(len < sizeof(t_text[0]));
		memcpy(t_text[n], p, len);
		t_text[n][len] = '\0';
		g->data = (const uint8_t *)t_text[n];
		g->len = len;
		p += len + (end != '\0' && p[len] == end);
		n++;
	}
	t_args.v = t_argv;
	t_args.n = n;
	t_args.i = 0;
	return &t_args;
}

static enum search_parse_result
t_parse(const char *line, struct search_program **prog, const char **why)
{
	*why = NULL;
	return search_parse(t_parse_args(line), prog, why);
}

/* True if line is refused with BAD and the reason contains want. */
static bool
t_bad(const char *line, const char *want)
{
	struct search_program *prog;
	const char *why;
	enum search_parse_result r = t_parse(line, &prog, &why);

	if (r != SEARCH_PARSE_BAD || prog != NULL || why == NULL) {
		search_free(&prog);
		return false;
	}
	return want == NULL || strstr(why, want) != NULL;
}

/* ---- A small mailbox ---- */

struct t_msg {
	struct store_msg rec;
	bool recent;
	const char *header;
};

#define DAY	86400

/* 2024-03-10 00:00:00 UTC */
#define T0	1710028800

static const struct t_msg t_box[] = {
	/* 1 */ { { 10, STORE_FLAG_SEEN | STORE_FLAG_ANSWERED, 0x1, 1,
	    T0 + 3600, 0, 100, 1 }, false,
	    "From: Alice <alice@example.org>\r\n"
	    "To: bob@example.org\r\n"
	    "Subject: Lunch on Friday\r\n"
	    "Date: Sun, 10 Mar 2024 01:00:00 +0000\r\n\r\n" },
	/* 2 */ { { 11, STORE_FLAG_FLAGGED, 0x2, 2,
	    T0 + DAY - 60, 60, 2000, 2 }, false,
	    "From: bob@example.org\r\n"
	    "Cc: carol@example.org\r\n"
	    "Subject: =?utf-8?q?Re=3A?= the\r\n  REPORT draft\r\n"
	    "Date: 11 Mar 24 00:59 +0100\r\n\r\n" },
	/* 3 */ { { 20, STORE_FLAG_DELETED | STORE_FLAG_SEEN, 0x3, 3,
	    T0 + 2 * DAY, -300, 30, 3 }, true,
	    "From: carol@example.org\r\n"
	    "Subject: \r\n"
	    "X-Tag: Alpha\r\n"
	    "Date: not a date\r\n\r\n" },
	/* 4 */ { { 21, STORE_FLAG_DRAFT, 0, 4,
	    T0 + 3 * DAY, 0, 5000, 4 }, true,
	    "To: alice@example.org\r\n"
	    "Date: (comment) Wed, 13 Mar 2024 (more (nested)) 10:00 EST\r\n"
	    "\r\n" },
};

#define T_NBOX	(sizeof(t_box) / sizeof(t_box[0]))

struct t_hdr {
	const struct t_msg *msg;
	unsigned calls;
};

static bool
t_hdr_cb(void *ctx, const uint8_t **p_r, size_t *n_r)
{
	struct t_hdr *h = ctx;

	h->calls++;
	*p_r = (const uint8_t *)h->msg->header;
	*n_r = strlen(h->msg->header);
	return true;
}

static int
t_keyword(void *ctx, const char *kw)
{
	static const char *const names[] = { "$Work", "$Home" };
	size_t i;

	for (i = 0; i < 2; i++) {
		if (strcasecmp(kw, names[i]) == 0)
			return (int)i;
	}
	return -1;
}

static unsigned t_hdr_calls;

/* The sequence numbers that match, as "1 3", or "BAD"/"BADCHARSET". */
static const char *
t_search(const char *line)
{
	static char out[256];
	struct search_program *prog;
	const char *why;
	size_t i, len = 0;

	out[0] = '\0';
	t_hdr_calls = 0;
	switch (t_parse(line, &prog, &why)) {
	case SEARCH_PARSE_BAD:
		return "BAD";
	case SEARCH_PARSE_BADCHARSET:
		return "BADCHARSET";
	case SEARCH_PARSE_OK:
		break;
	}
	search_resolve_keywords(prog, t_keyword, NULL);
	search_prepare(prog, (uint32_t)T_NBOX, t_box[T_NBOX - 1].rec.uid);
	for (i = 0; i < T_NBOX; i++) {
		struct t_hdr h = { &t_box[i], 0 };
		struct search_msg m = { &t_box[i].rec, (uint32_t)i + 1,
		    t_box[i].recent, NULL, NULL };

		if (search_match(prog, &m, t_hdr_cb, &h)) {
			int r = snprintf(out + len, sizeof(out) - len, "%s%zu",
			    len > 0 ? " " : "", i + 1);

			CU_ASSERT_FATAL(r > 0 && (size_t)r < sizeof(out) - len);
			len += (size_t)r;
		}
		CU_ASSERT(h.calls <= 1);
		t_hdr_calls += h.calls;
	}
	search_free(&prog);
	CU_ASSERT_PTR_NULL(prog);
	return out;
}

/* ---- Parsing ---- */

void
test_search_parse_rejects(void)
{
	CU_ASSERT_TRUE(t_bad("", "expected a search key"));
	CU_ASSERT_TRUE(t_bad("FOO", "Unknown search key"));
	CU_ASSERT_TRUE(t_bad("\"ALL\"", "expected a search key"));
	CU_ASSERT_TRUE(t_bad("LARGER", "number"));
	CU_ASSERT_TRUE(t_bad("LARGER x", "number"));
	CU_ASSERT_TRUE(t_bad("LARGER 4294967296", "number"));
	CU_ASSERT_TRUE(t_bad("UID", "sequence set"));
	CU_ASSERT_TRUE(t_bad("UID 1:x", "sequence set"));
	CU_ASSERT_TRUE(t_bad("0", "sequence set"));
	CU_ASSERT_TRUE(t_bad("1,", "sequence set"));
	CU_ASSERT_TRUE(t_bad("SUBJECT", "string"));
	CU_ASSERT_TRUE(t_bad("SUBJECT (x)", "string"));
	CU_ASSERT_TRUE(t_bad("HEADER Subject", "HEADER"));
	CU_ASSERT_TRUE(t_bad("KEYWORD", "keyword"));
	CU_ASSERT_TRUE(t_bad("KEYWORD \"$Work\"", "keyword"));
	CU_ASSERT_TRUE(t_bad("KEYWORD \\Seen", "keyword"));
	CU_ASSERT_TRUE(t_bad("(", ")"));
	CU_ASSERT_TRUE(t_bad("()", "Empty"));
	CU_ASSERT_TRUE(t_bad("ALL )", "Unexpected )"));
	CU_ASSERT_TRUE(t_bad("(ALL))", "Unexpected )"));
	CU_ASSERT_TRUE(t_bad("NOT", "NOT and OR"));
	CU_ASSERT_TRUE(t_bad("OR SEEN", "NOT and OR"));
	CU_ASSERT_TRUE(t_bad("(NOT)", "Unexpected )"));
	CU_ASSERT_TRUE(t_bad("(OR SEEN)", "Unexpected )"));
	CU_ASSERT_TRUE(t_bad("ALL CHARSET UTF-8", "Unknown search key"));
	CU_ASSERT_TRUE(t_bad("CHARSET", "charset"));
	CU_ASSERT_TRUE(t_bad("CHARSET UTF-8", "expected a search key"));
}

void
test_search_parse_dates(void)
{
	CU_ASSERT_STRING_EQUAL(t_search("SINCE 1-Feb-1994"), "1 2 3 4");
	CU_ASSERT_STRING_EQUAL(t_search("SINCE \"01-feb-1994\""), "1 2 3 4");
	CU_ASSERT_TRUE(t_bad("SINCE 1-Feb-94", "Invalid date"));
	CU_ASSERT_TRUE(t_bad("SINCE 001-Feb-1994", "Invalid date"));
	CU_ASSERT_TRUE(t_bad("SINCE 30-Feb-1994", "Invalid date"));
	CU_ASSERT_TRUE(t_bad("SINCE 29-Feb-1900", "Invalid date"));
	CU_ASSERT_TRUE(t_bad("SINCE 1-Foo-1994", "Invalid date"));
	CU_ASSERT_TRUE(t_bad("SINCE 1-Feb-1994x", "Invalid date"));
	CU_ASSERT_TRUE(t_bad("SINCE \"1-Feb-1994 00:00:00 +0000\"",
	    "Invalid date"));
	CU_ASSERT_TRUE(t_bad("SINCE {1-Feb-1994}", "Invalid date"));
	CU_ASSERT_TRUE(t_bad("SENTON", "Invalid date"));
}

void
test_search_parse_charset(void)
{
	CU_ASSERT_STRING_EQUAL(t_search("CHARSET UTF-8 ALL"), "1 2 3 4");
	CU_ASSERT_STRING_EQUAL(t_search("charset \"us-ascii\" SEEN"), "1 3");
	CU_ASSERT_STRING_EQUAL(t_search("CHARSET KOI8-R ALL"), "BADCHARSET");
	CU_ASSERT_STRING_EQUAL(t_search("CHARSET UTF-16 ALL"), "BADCHARSET");
}

void
test_search_parse_limits(void)
{
	static char line[T_ARGS_MAX * 5];
	size_t i, len;

	/* 64 nested NOTs are fine, 65 are not. */
	line[0] = '\0';
	for (i = 0, len = 0; i < SEARCH_DEPTH_MAX; i++)
		len += (size_t)snprintf(line + len, sizeof(line) - len,
		    "NOT ");
	snprintf(line + len, sizeof(line) - len, "NOT SEEN");
	CU_ASSERT_TRUE(t_bad(line, "too complex"));
	snprintf(line + len, sizeof(line) - len, "SEEN");
	/* an even number of NOTs */
	CU_ASSERT_STRING_EQUAL(t_search(line), "1 3");

	/* Parentheses and OR count as nesting too. */
	for (i = 0, len = 0; i <= SEARCH_DEPTH_MAX; i++)
		len += (size_t)snprintf(line + len, sizeof(line) - len,
		    "OR ALL ");
	snprintf(line + len, sizeof(line) - len, "ALL");
	CU_ASSERT_TRUE(t_bad(line, "too complex"));
	for (i = 0, len = 0; i < SEARCH_DEPTH_MAX; i++)
		len += (size_t)snprintf(line + len, sizeof(line) - len, "(");
	len += (size_t)snprintf(line + len, sizeof(line) - len, "DRAFT");
	for (i = 0; i < SEARCH_DEPTH_MAX; i++)
		len += (size_t)snprintf(line + len, sizeof(line) - len, ")");
	CU_ASSERT_STRING_EQUAL(t_search(line), "4");

	/* The root counts as one node: 999 keys fit, 1000 do not. */
	for (i = 0, len = 0; i < SEARCH_NODES_MAX - 1; i++)
		len += (size_t)snprintf(line + len, sizeof(line) - len,
		    "ALL ");
	CU_ASSERT_STRING_EQUAL(t_search(line), "1 2 3 4");
	snprintf(line + len, sizeof(line) - len, "ALL");
	CU_ASSERT_TRUE(t_bad(line, "too complex"));
}

/* ---- Matching ---- */

void
test_search_match_flags(void)
{
	CU_ASSERT_STRING_EQUAL(t_search("ALL"), "1 2 3 4");
	CU_ASSERT_STRING_EQUAL(t_search("SEEN"), "1 3");
	CU_ASSERT_STRING_EQUAL(t_search("UNSEEN"), "2 4");
	CU_ASSERT_STRING_EQUAL(t_search("answered"), "1");
	CU_ASSERT_STRING_EQUAL(t_search("UNANSWERED"), "2 3 4");
	CU_ASSERT_STRING_EQUAL(t_search("DELETED"), "3");
	CU_ASSERT_STRING_EQUAL(t_search("UNDELETED"), "1 2 4");
	CU_ASSERT_STRING_EQUAL(t_search("DRAFT"), "4");
	CU_ASSERT_STRING_EQUAL(t_search("UNDRAFT"), "1 2 3");
	CU_ASSERT_STRING_EQUAL(t_search("FLAGGED"), "2");
	CU_ASSERT_STRING_EQUAL(t_search("UNFLAGGED"), "1 3 4");
	CU_ASSERT_STRING_EQUAL(t_search("RECENT"), "3 4");
	CU_ASSERT_STRING_EQUAL(t_search("OLD"), "1 2");
	CU_ASSERT_STRING_EQUAL(t_search("NEW"), "4");
	CU_ASSERT_STRING_EQUAL(t_search("KEYWORD $Work"), "1 3");
	CU_ASSERT_STRING_EQUAL(t_search("KEYWORD $home"), "2 3");
	CU_ASSERT_STRING_EQUAL(t_search("KEYWORD $Nope"), "");
	CU_ASSERT_STRING_EQUAL(t_search("UNKEYWORD $Work"), "2 4");
	CU_ASSERT_STRING_EQUAL(t_search("UNKEYWORD $Nope"), "1 2 3 4");
	CU_ASSERT_STRING_EQUAL(t_search("LARGER 100"), "2 4");
	CU_ASSERT_STRING_EQUAL(t_search("SMALLER 100"), "3");
	CU_ASSERT_STRING_EQUAL(t_search("LARGER 0"), "1 2 3 4");
	CU_ASSERT_STRING_EQUAL(t_search("SMALLER 0"), "");
	CU_ASSERT_EQUAL(t_hdr_calls, 0);
}

void
test_search_match_sets(void)
{
	CU_ASSERT_STRING_EQUAL(t_search("2"), "2");
	CU_ASSERT_STRING_EQUAL(t_search("2:3"), "2 3");
	CU_ASSERT_STRING_EQUAL(t_search("3:2,1"), "1 2 3");
	CU_ASSERT_STRING_EQUAL(t_search("*"), "4");
	CU_ASSERT_STRING_EQUAL(t_search("3:*"), "3 4");
	/* Numbers past the last message match nothing, and do not fail. */
	CU_ASSERT_STRING_EQUAL(t_search("4:100"), "4");
	CU_ASSERT_STRING_EQUAL(t_search("5:100"), "");
	CU_ASSERT_STRING_EQUAL(t_search("UID 11"), "2");
	CU_ASSERT_STRING_EQUAL(t_search("UID 11:20"), "2 3");
	CU_ASSERT_STRING_EQUAL(t_search("uid 12:19"), "");
	CU_ASSERT_STRING_EQUAL(t_search("UID *"), "4");
	/* '*' is the highest UID, so 100:* holds it (RFC 3501 §6.4.8). */
	CU_ASSERT_STRING_EQUAL(t_search("UID 100:*"), "4");
	CU_ASSERT_STRING_EQUAL(t_search("UID 1:10,21"), "1 4");
}

void
test_search_match_logic(void)
{
	CU_ASSERT_STRING_EQUAL(t_search("SEEN DELETED"), "3");
	CU_ASSERT_STRING_EQUAL(t_search("NOT SEEN"), "2 4");
	CU_ASSERT_STRING_EQUAL(t_search("NOT NOT SEEN"), "1 3");
	CU_ASSERT_STRING_EQUAL(t_search("OR FLAGGED DRAFT"), "2 4");
	CU_ASSERT_STRING_EQUAL(t_search("OR (SEEN DELETED) 1"), "1 3");
	CU_ASSERT_STRING_EQUAL(t_search("NOT (SEEN DELETED)"), "1 2 4");
	CU_ASSERT_STRING_EQUAL(t_search("OR OR 1 2 3"), "1 2 3");
	CU_ASSERT_STRING_EQUAL(t_search("OR 1 OR 2 3 UNSEEN"), "2");
	CU_ASSERT_STRING_EQUAL(t_search("(UID 10:20) (NOT 3)"), "1 2");
	CU_ASSERT_STRING_EQUAL(t_search("NOT OR SEEN FLAGGED"), "4");
	CU_ASSERT_STRING_EQUAL(t_search("1:* UNDELETED UNSEEN"), "2 4");
}

void
test_search_match_dates(void)
{
	/* INTERNALDATEs in their own zones: 1 = 10 Mar, 2 = 11 Mar (+0100:
	 * 23:59 UTC on the 10th), 3 = 11 Mar (-0500: 19:00 on the 11th),
	 * 4 = 13 Mar. */
	CU_ASSERT_STRING_EQUAL(t_search("ON 10-Mar-2024"), "1");
	CU_ASSERT_STRING_EQUAL(t_search("ON 11-Mar-2024"), "2 3");
	CU_ASSERT_STRING_EQUAL(t_search("BEFORE 11-Mar-2024"), "1");
	CU_ASSERT_STRING_EQUAL(t_search("SINCE 11-Mar-2024"), "2 3 4");
	CU_ASSERT_STRING_EQUAL(t_search("SINCE 14-Mar-2024"), "");
	CU_ASSERT_STRING_EQUAL(t_search("BEFORE 1-Jan-2100"), "1 2 3 4");
	/* Date: headers: 3 has none that parses and never matches. */
	CU_ASSERT_STRING_EQUAL(t_search("SENTON 10-Mar-2024"), "1");
	CU_ASSERT_STRING_EQUAL(t_search("SENTON 11-Mar-2024"), "2");
	CU_ASSERT_STRING_EQUAL(t_search("SENTBEFORE 13-Mar-2024"), "1 2");
	CU_ASSERT_STRING_EQUAL(t_search("SENTSINCE 11-Mar-2024"), "2 4");
	CU_ASSERT_STRING_EQUAL(t_search("NOT SENTSINCE 11-Mar-2024"), "1 3");
	CU_ASSERT_EQUAL(t_hdr_calls, 4);
}

static bool
t_sent(const char *s, int64_t *day)
{
	return search_parse_sent_date((const uint8_t *)s, strlen(s), day);
}

void
test_search_sent_date_forms(void)
{
	int64_t d;

	CU_ASSERT_TRUE(t_sent(" Thu, 1 Jan 1970 23:59:59 -1200", &d));
	CU_ASSERT_EQUAL(d, 0);
	CU_ASSERT_TRUE(t_sent("Fri, 21 Nov 1997 09:55:06 -0600", &d));
	CU_ASSERT_EQUAL(d, 10186);
	CU_ASSERT_TRUE(t_sent("21 Nov 97 09:55:06 GMT", &d));
	CU_ASSERT_EQUAL(d, 10186);
	CU_ASSERT_TRUE(t_sent("21 nov 1997 09:55 +0000 (CST)", &d));
	CU_ASSERT_EQUAL(d, 10186);
	CU_ASSERT_TRUE(t_sent("Thu,\r\n 13\r\n Feb 1969 23:32 -0330", &d));
	CU_ASSERT_EQUAL(d, -322);
	CU_ASSERT_TRUE(t_sent("1 Jan 2000 00:00 +0000", &d));
	CU_ASSERT_EQUAL(d, 10957);
	CU_ASSERT_TRUE(t_sent("1 Jan 49 00:00 +0000", &d));
	CU_ASSERT_EQUAL(d, 28855);	/* 2049 */
	CU_ASSERT_TRUE(t_sent("29 Feb 2024 12:00:00 +0000", &d));
	CU_ASSERT_EQUAL(d, 19782);

	CU_ASSERT_FALSE(t_sent("", &d));
	CU_ASSERT_FALSE(t_sent("yesterday", &d));
	CU_ASSERT_FALSE(t_sent("Fri 21 Nov 1997 09:55:06 -0600", &d));
	CU_ASSERT_FALSE(t_sent("21 November 1997 09:55:06 -0600", &d));
	CU_ASSERT_FALSE(t_sent("21 Nov 1997", &d));
	CU_ASSERT_FALSE(t_sent("21 Nov 1997 09:55:06", &d));
	CU_ASSERT_FALSE(t_sent("21 Nov 1997 25:55:06 +0000", &d));
	CU_ASSERT_FALSE(t_sent("21 Nov 1997 09:5:06 +0000", &d));
	CU_ASSERT_FALSE(t_sent("31 Nov 1997 09:55:06 +0000", &d));
	CU_ASSERT_FALSE(t_sent("29 Feb 2023 09:55:06 +0000", &d));
	CU_ASSERT_FALSE(t_sent("21 Nov 7 09:55:06 +0000", &d));
	CU_ASSERT_FALSE(t_sent("21 Nov 1997 09:55:06 +00", &d));
}

void
test_search_imap_date(void)
{
	int64_t d;

	CU_ASSERT_TRUE(search_parse_date((const uint8_t *)"1-Jan-1970", 10,
	    &d));
	CU_ASSERT_EQUAL(d, 0);
	CU_ASSERT_TRUE(search_parse_date((const uint8_t *)"31-Dec-1969", 11,
	    &d));
	CU_ASSERT_EQUAL(d, -1);
	CU_ASSERT_TRUE(search_parse_date((const uint8_t *)"01-FEB-1994", 11,
	    &d));
	CU_ASSERT_EQUAL(d, 8797);
	CU_ASSERT_FALSE(search_parse_date((const uint8_t *)"1-Feb-1994", 9,
	    &d));
	CU_ASSERT_FALSE(search_parse_date((const uint8_t *)"-Feb-1994", 9,
	    &d));
	CU_ASSERT_FALSE(search_parse_date((const uint8_t *)"1 Feb 1994", 10,
	    &d));
}

void
test_search_match_headers(void)
{
	CU_ASSERT_STRING_EQUAL(t_search("FROM alice"), "1");
	CU_ASSERT_STRING_EQUAL(t_search("FROM \"EXAMPLE.ORG\""), "1 2 3");
	CU_ASSERT_STRING_EQUAL(t_search("TO alice"), "4");
	CU_ASSERT_STRING_EQUAL(t_search("CC carol"), "2");
	CU_ASSERT_STRING_EQUAL(t_search("BCC carol"), "");
	CU_ASSERT_STRING_EQUAL(t_search("SUBJECT friday"), "1");
	/* A folded field is matched unfolded (RFC 5322 §2.2.3). */
	CU_ASSERT_STRING_EQUAL(t_search("SUBJECT \"the  report\""), "2");
	/* Encoded words are decoded before matching (RFC 2047): the
	 * client sees "Re: the  REPORT draft", not "=?utf-8?q?Re=3A?=". */
	CU_ASSERT_STRING_EQUAL(t_search("SUBJECT \"re=3a\""), "");
	CU_ASSERT_STRING_EQUAL(t_search("SUBJECT \"re: the\""), "2");
	/* An empty string: every message that has the field. */
	CU_ASSERT_STRING_EQUAL(t_search("SUBJECT \"\""), "1 2 3");
	CU_ASSERT_STRING_EQUAL(t_search("HEADER x-tag \"\""), "3");
	CU_ASSERT_STRING_EQUAL(t_search("HEADER X-TAG alpha"), "3");
	CU_ASSERT_STRING_EQUAL(t_search("HEADER X-TAG beta"), "");
	CU_ASSERT_STRING_EQUAL(t_search("HEADER {X-Tag} {ALP}"), "3");
	/* Names that no field can have. */
	CU_ASSERT_STRING_EQUAL(t_search("HEADER \"\" \"\""), "");
	CU_ASSERT_STRING_EQUAL(t_search("HEADER \"X-Tag:\" \"\""), "");
	CU_ASSERT_STRING_EQUAL(t_search("HEADER \"X Tag\" \"\""), "");
	CU_ASSERT_STRING_EQUAL(t_search("NOT HEADER \"X Tag\" \"\""),
	    "1 2 3 4");
	/* The field name must match whole. */
	CU_ASSERT_STRING_EQUAL(t_search("HEADER Fro \"\""), "");
	CU_ASSERT_STRING_EQUAL(t_search("HEADER Date 2024"), "1 4");
}

void
test_search_header_read_lazily(void)
{
	/* Cheap keys decide first: only unseen messages need a header. */
	CU_ASSERT_STRING_EQUAL(t_search("FROM bob UNSEEN"), "2");
	CU_ASSERT_EQUAL(t_hdr_calls, 2);
	CU_ASSERT_STRING_EQUAL(t_search("OR FROM bob SEEN"), "1 2 3");
	CU_ASSERT_EQUAL(t_hdr_calls, 2);
	CU_ASSERT_STRING_EQUAL(t_search("NOT (SUBJECT x LARGER 1000)"),
	    "1 2 3 4");
	CU_ASSERT_EQUAL(t_hdr_calls, 2);
	CU_ASSERT_STRING_EQUAL(t_search("UID 20 FROM carol"), "3");
	CU_ASSERT_EQUAL(t_hdr_calls, 1);
	/* Several header keys share one read per message. */
	CU_ASSERT_STRING_EQUAL(t_search("FROM example TO example "
	    "SENTSINCE 1-Jan-2000"), "1");
	CU_ASSERT_EQUAL(t_hdr_calls, 4);
}

static bool
t_hdr_fail(void *ctx, const uint8_t **p_r, size_t *n_r)
{
	unsigned *calls = ctx;

	(*calls)++;
	return false;
}

void
test_search_header_error(void)
{
	struct search_program *prog;
	const char *why;
	struct search_msg m = { &t_box[0].rec, 1, false, NULL, NULL };
	unsigned calls = 0;

	/* A header that cannot be read is an empty header. */
	CU_ASSERT_EQUAL_FATAL(t_parse("NOT FROM alice", &prog, &why),
	    SEARCH_PARSE_OK);
	CU_ASSERT_TRUE(search_needs_header(prog));
	CU_ASSERT_FALSE(search_needs_body(prog));
	CU_ASSERT_TRUE(search_match(prog, &m, t_hdr_fail, &calls));
	CU_ASSERT_EQUAL(calls, 1);
	search_free(&prog);
}

void
test_search_needs(void)
{
	struct search_program *prog;
	const char *why;

	CU_ASSERT_EQUAL_FATAL(t_parse("OR BODY x SEEN", &prog, &why),
	    SEARCH_PARSE_OK);
	CU_ASSERT_TRUE(search_needs_body(prog));
	/* BODY is evaluated after the cheap keys, like a header key. */
	CU_ASSERT_TRUE(search_needs_header(prog));
	CU_ASSERT_FALSE(search_needs_keywords(prog));
	search_free(&prog);
	CU_ASSERT_EQUAL_FATAL(t_parse("NOT TEXT x", &prog, &why),
	    SEARCH_PARSE_OK);
	CU_ASSERT_TRUE(search_needs_body(prog));
	search_free(&prog);
	CU_ASSERT_EQUAL_FATAL(t_parse("(UNKEYWORD a) SENTON 1-Jan-2000",
	    &prog, &why), SEARCH_PARSE_OK);
	CU_ASSERT_TRUE(search_needs_keywords(prog));
	CU_ASSERT_TRUE(search_needs_header(prog));
	CU_ASSERT_FALSE(search_needs_body(prog));
	search_free(&prog);
	search_free(&prog);	/* NULL is fine */
}

void
test_search_bounds(void)
{
	struct search_program *prog;
	const char *why;
	uint32_t seq, uid;

	CU_ASSERT_EQUAL_FATAL(t_parse("5:9 UID 300:* OR 1 UID 2",
	    &prog, &why), SEARCH_PARSE_OK);
	search_prepare(prog, 10, 200);
	search_bounds(prog, &seq, &uid);
	CU_ASSERT_EQUAL(seq, 5);
	CU_ASSERT_EQUAL(uid, 200);	/* 300:* is 200:300 */
	search_free(&prog);

	/* Keys under NOT or OR give no bound. */
	CU_ASSERT_EQUAL_FATAL(t_parse("NOT 5:9 OR UID 7 UID 8 (UID 9)",
	    &prog, &why), SEARCH_PARSE_OK);
	search_prepare(prog, 10, 200);
	search_bounds(prog, &seq, &uid);
	CU_ASSERT_EQUAL(seq, 1);
	CU_ASSERT_EQUAL(uid, 1);
	search_free(&prog);
}

/* ---- The text matcher against mime_text_contains ---- */

/* Pieces the test texts are made of: ASCII, the two characters that
 * fold to ASCII (U+0130, U+017F) and their lone bytes, other letters,
 * invalid and truncated sequences. */
static const char *const t_bits[] = {
	"a", "I", "s", "S", "x", " ", "\n", "\xc4\xb0", "\xc5\xbf",
	"\xc4", "\xc5", "\xb0", "\xbf", "\xc4\xb1", "\xc3\xa9", "\xc3\x89",
	"\xe0\xa0", "\xff", "is", "IS",
};

static bool
t_feed_split(struct search_textmatch *t, const uint8_t *p, size_t n,
    size_t split)
{
	search_textmatch_reset(t);
	(void)search_textmatch_feed(t, p, split);
	return search_textmatch_feed(t, p + split, n - split);
}

void
test_search_textmatch_same_answers(void)
{
	static const char *const needles[] = {
		"is", "si", "i", "IS", "sis", "a is", "x\xc4\xb0", "", "xs",
		"\xc3\xa9", "\xc3\x89s", "\xc4\xb0", "\xc4\xb1",
	};
	uint32_t seed = 1;
	size_t ni, round;

	for (ni = 0; ni < N_ELEMENTS(needles); ni++) {
		const uint8_t *nd = (const uint8_t *)needles[ni];
		size_t nn = strlen(needles[ni]);
		struct search_textmatch t;
		bool ascii = true;

		for (round = 0; round < nn; round++)
			ascii = ascii && nd[round] < 0x80;
		search_textmatch_init(&t, nd, nn);
		for (round = 0; round < 400; round++) {
			uint8_t hay[64];
			size_t hn = 0, k, split;
			bool want;

			for (k = 0; k < 10; k++) {
				const char *b;

				seed = seed * 1103515245u + 12345u;
				b = t_bits[(seed >> 16) % N_ELEMENTS(t_bits)];
				memcpy(hay + hn, b, strlen(b));
				hn += strlen(b);
			}
			want = mime_text_contains(hay, hn, nd, nn);
			CU_ASSERT_EQUAL(search_textmatch_contains(&t, hay, hn),
			    want);
			/* Fed in two pieces, split anywhere (ASCII needles;
			 * the others go to mime_text_match as they are). */
			for (split = 0; ascii && split <= hn; split++)
				CU_ASSERT_EQUAL(t_feed_split(&t, hay, hn,
				    split), want);
		}
		search_textmatch_free(&t);
	}
}

void
test_search_textmatch_fold_assumption(void)
{
	uint32_t cp;

	/* The ASCII path relies on this: only ASCII, U+0130 and U+017F
	 * fold into ASCII. A change to mime_text_fold must change it. */
	for (cp = 0; cp < 0x110000; cp++) {
		bool ascii = mime_text_fold(cp) < 0x80;

		CU_ASSERT_EQUAL(ascii, cp < 0x80 || cp == 0x130 ||
		    cp == 0x17f);
		if (ascii != (cp < 0x80 || cp == 0x130 || cp == 0x17f))
			break;
	}
	CU_ASSERT_EQUAL(mime_text_fold(0x130), 'i');
	CU_ASSERT_EQUAL(mime_text_fold(0x17f), 's');
}

void
test_search_textmatch_streams(void)
{
	struct search_textmatch t;
	size_t i;

	/* A match across many one-byte pieces, and a lead byte held back
	 * between two pieces. */
	search_textmatch_init(&t, (const uint8_t *)"Quarterly", 9);
	for (i = 0; i < 9; i++)
		CU_ASSERT_EQUAL(search_textmatch_feed(&t,
		    (const uint8_t *)"QUARTERLY" + i, 1), i == 8);
	search_textmatch_reset(&t);
	CU_ASSERT_FALSE(search_textmatch_feed(&t, (const uint8_t *)"quart", 5));
	CU_ASSERT_FALSE(search_textmatch_feed(&t, (const uint8_t *)"", 0));
	CU_ASSERT_TRUE(search_textmatch_feed(&t, (const uint8_t *)"erly", 4));
	search_textmatch_free(&t);
	search_textmatch_init(&t, (const uint8_t *)"xis", 3);
	CU_ASSERT_FALSE(search_textmatch_feed(&t, (const uint8_t *)"x\xc4",
	    2));
	CU_ASSERT_TRUE(search_textmatch_feed(&t, (const uint8_t *)"\xb0s",
	    2));
	search_textmatch_reset(&t);
	CU_ASSERT_FALSE(search_textmatch_feed(&t, (const uint8_t *)"x\xc4",
	    2));
	CU_ASSERT_FALSE(search_textmatch_feed(&t, (const uint8_t *)"\xb1s",
	    2));
	search_textmatch_free(&t);
}
