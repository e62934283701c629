/*
 * test_parse.c: unit tests of the incremental command tokenizer
 * (server/parse.c).
 *
 * Most cases are a table {input, expected token stream, limits}. Each case
 * is replayed whole, one byte at a time and at pseudo-random split points
 * (fixed seeds); the serialized token streams must all equal the expected
 * one. Serialization, one item per token, separated by spaces:
 *   A:bytes  atom          Q:bytes  quoted (unescaped)
 *   L{n}:data;  or  L{n+}:data;   literal (BEGIN, data chunks, END ";")
 *   (  )  list open/close         E  end of command
 *   !CODE:text@tag  an error, with parse_tag() at that moment
 * Bytes below 0x20 or above 0x7e are written \xNN.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/buf.h"
#include "../../server/parse.h"

/*
 * Prototypes for -Wmissing-prototypes; "extern" keeps gen_registry.sh from
 * registering them twice.
 */
extern void test_parse_table_whole(void);
extern void test_parse_table_bytewise(void);
extern void test_parse_table_random_splits(void);
extern void test_parse_index_depth(void);
extern void test_parse_zero_copy(void);
extern void test_parse_literal_stream(void);
extern void test_parse_big_nonsync_skipped(void);
extern void test_parse_abort_mid_literal(void);
extern void test_parse_limits_and_reset(void);
extern void test_parse_empty_input(void);

#define DEF_LINE	100
#define DEF_LITERAL	10
#define DEF_DEPTH	4
#define DEF_TOKENS	20

struct pcase {
	const char *in;
	size_t len;		/* 0: strlen(in) */
	const char *want;
	size_t line_max;	/* 0: the default above, likewise below */
	uint64_t literal_max;
	unsigned depth_max;
	unsigned tokens_max;
	unsigned abort_after;	/* abort after the n-th non-data token */
	bool allow_nul;
};

/* A tag of the longest length kept (64 bytes). */
#define TAG64	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/* Inputs holding NUL bytes. */
#define BIN(s)	.in = (s), .len = sizeof(s) - 1

static const struct pcase parse_cases[] = {
	/* Basics, tags. */
	{ .in = "a1 NOOP\r\n", .want = "A:a1 A:NOOP E" },
	{ .in = "a1 LOGIN user pass\r\n",
	  .want = "A:a1 A:LOGIN A:user A:pass E" },
	{ .in = "A.b-c[]~!&' NOOP\r\n", .want = "A:A.b-c[]~!&' A:NOOP E" },
	{ .in = "a+1 NOOP\r\na2 NOOP\r\n",
	  .want = "!SYN:Invalid tag@ A:a2 A:NOOP E" },
	{ .in = "* NOOP\r\n", .want = "!SYN:Invalid tag@" },
	{ .in = "a% NOOP\r\n", .want = "!SYN:Invalid tag@" },
	{ .in = "a( NOOP\r\n", .want = "!SYN:Invalid tag@" },
	{ .in = "a\\1 NOOP\r\n", .want = "!SYN:Invalid tag@" },
	{ .in = "a\x80 NOOP\r\n", .want = "!SYN:Invalid tag@" },
	{ .in = " a1 NOOP\r\nb NOOP\r\n",
	  .want = "!SYN:Invalid tag@ A:b A:NOOP E" },
	{ .in = TAG64 " NOOP\r\n", .want = "A:" TAG64 " A:NOOP E" },
	{ .in = TAG64 "a NOOP\r\nb NOOP\r\n",
	  .want = "!SYN:Tag too long@ A:b A:NOOP E" },
	{ .in = "\r\na1 NOOP\r\n",
	  .want = "!SYN:Empty command line@ A:a1 A:NOOP E" },
	{ .in = "\na1 NOOP\n",
	  .want = "!SYN:Empty command line@ A:a1 A:NOOP E" },
	{ .in = "a1\r\na2 NOOP\r\n",
	  .want = "A:a1 !SYN:Missing command name@a1 A:a2 A:NOOP E" },
	{ .in = "a1 \r\n", .want = "A:a1 !SYN:Missing command name@a1" },
	{ .in = "a1 (X)\r\n", .want = "A:a1 !SYN:Invalid command name@a1" },
	{ .in = "a1 \"X\"\r\n", .want = "A:a1 !SYN:Invalid command name@a1" },
	{ .in = "a1 {4}\r\na2 NOOP\r\n",
	  .want = "A:a1 !SYN:Invalid command name@a1 A:a2 A:NOOP E" },
	{ .in = "a1 {4+}\r\nab\r\n\r\na2 NOOP\r\n",
	  .want = "A:a1 !SYN:Invalid command name@a1 A:a2 A:NOOP E" },

	/* Atoms. */
	{ .in = "a1 FETCH 1:*,4 FLAGS\r\n",
	  .want = "A:a1 A:FETCH A:1:*,4 A:FLAGS E" },
	{ .in = "a1 LIST \"\" %\r\na2 LIST \"\" *\r\n",
	  .want = "A:a1 A:LIST Q: A:% E A:a2 A:LIST Q: A:* E" },
	{ .in = "a1 STORE 1 +FLAGS (\\Seen \\Deleted)\r\n",
	  .want = "A:a1 A:STORE A:1 A:+FLAGS ( A:\\Seen A:\\Deleted ) E" },
	{ .in = "a1 X a{b}\r\n", .want = "A:a1 A:X A:a{b} E" },
	{ .in = "a1 X caf\xc3\xa9\r\n", .want = "A:a1 A:X A:caf\\xc3\\xa9 E" },
	{ .in = "a1 X a(b)\r\n",
	  .want = "A:a1 A:X A:a !SYN:Missing space between arguments@a1" },
	{ .in = "a1 X a\"b\"\r\n",
	  .want = "A:a1 A:X A:a !SYN:Missing space between arguments@a1" },
	{ .in = "a1 NO\tOP\r\n",
	  .want = "A:a1 A:NO !SYN:Invalid control character@a1" },
	{ .in = "a1 NO\x7fOP\r\n",
	  .want = "A:a1 A:NO !SYN:Invalid control character@a1" },
	{ .in = "a1 X \x01\r\n",
	  .want = "A:a1 A:X !SYN:Invalid control character@a1" },

	/* Quoted strings. */
	{ .in = "a1 LOGIN \"us\\\\er\" \"p\\\"w\"\r\n",
	  .want = "A:a1 A:LOGIN Q:us\\er Q:p\"w E" },
	{ .in = "a1 LOGIN \"\" \"\"\r\n", .want = "A:a1 A:LOGIN Q: Q: E" },
	{ .in = "a1 X \"a b\t(c)\xc3\xa9{1}\"\r\n",
	  .want = "A:a1 A:X Q:a b\\x09(c)\\xc3\\xa9{1} E" },
	{ .in = "a1 X \"\\\\\"\r\n", .want = "A:a1 A:X Q:\\ E" },
	{ .in = "a1 X \"a\\x\"\r\na2 NOOP\r\n",
	  .want = "A:a1 A:X !SYN:Invalid escape in quoted string@a1"
	    " A:a2 A:NOOP E" },
	{ .in = "a1 X \"ab\r\na2 NOOP\r\n",
	  .want = "A:a1 A:X !SYN:Unterminated quoted string@a1"
	    " A:a2 A:NOOP E" },
	{ .in = "a1 X \"ab\\\r\n",
	  .want = "A:a1 A:X !SYN:Unterminated quoted string@a1" },
	{ .in = "a1 X \"a\"b\r\n",
	  .want = "A:a1 A:X Q:a !SYN:Missing space between arguments@a1" },
	{ BIN("a1 X \"a\0b\"\r\na2 NOOP\r\n"),
	  .want = "A:a1 A:X !NUL:NUL byte in command@a1 A:a2 A:NOOP E" },

	/* Literals. */
	{ .in = "a1 LOGIN {4}\r\nuser {4+}\r\npass\r\n",
	  .want = "A:a1 A:LOGIN L{4}:user; L{4+}:pass; E" },
	{ .in = "a1 X {0}\r\n {0+}\r\n\r\n",
	  .want = "A:a1 A:X L{0}:; L{0+}:; E" },
	{ .in = "a1 APPEND INBOX {7}\r\na\r\n\xff\x80" "b\n\r\n",
	  .want = "A:a1 A:APPEND A:INBOX L{7}:a\\x0d\\x0a\\xff\\x80b\\x0a; E" },
	{ .in = "a1 X (a {1}\r\nb)\r\n",
	  .want = "A:a1 A:X ( A:a L{1}:b; ) E" },
	{ .in = "a1 X {2}\nab\r\n", .want = "A:a1 A:X L{2}:ab; E" },
	{ .in = "a1 X {002}\r\nab\r\n", .want = "A:a1 A:X L{2}:ab; E" },
	{ .in = "a1 X {1}\r\nbc\r\n",
	  .want = "A:a1 A:X L{1}:b; !SYN:Missing space between arguments@a1" },
	{ .in = "a1 X {}\r\na2 NOOP\r\n",
	  .want = "A:a1 A:X !SYN:Invalid literal size@a1 A:a2 A:NOOP E" },
	{ .in = "a1 X {1a}\r\n",
	  .want = "A:a1 A:X !SYN:Invalid literal size@a1" },
	{ .in = "a1 X {+}\r\n",
	  .want = "A:a1 A:X !SYN:Invalid literal size@a1" },
	{ .in = "a1 X {1+2}\r\n",
	  .want = "A:a1 A:X !SYN:Invalid literal size@a1" },
	{ .in = "a1 X {3}x\r\na2 NOOP\r\n",
	  .want = "A:a1 A:X !SYN:Missing CRLF after literal size@a1"
	    " A:a2 A:NOOP E" },
	{ .in = "a1 X {3}\rx\r\na2 NOOP\r\n",
	  .want = "A:a1 A:X !SYN:CR without LF@a1 A:a2 A:NOOP E" },
	{ .in = "a1 X {99999999999999999999}\r\na2 NOOP\r\n",
	  .want = "A:a1 A:X !SYN:Invalid literal size@a1 A:a2 A:NOOP E" },
	{ .in = "a1 X {99999999999999999999+}\r\na2 NOOP\r\n",
	  .want = "A:a1 A:X !SYN:Invalid literal size@a1 A:a2 A:NOOP E" },
	{ BIN("a1 X {3}\r\na\0b\r\na2 NOOP\r\n"),
	  .want = "A:a1 A:X L{3}:a !NUL:NUL byte in literal@a1 A:a2 A:NOOP E" },
	{ BIN("a1 X {3}\r\na\0b\r\n"), .allow_nul = true,
	  .want = "A:a1 A:X L{3}:a\\x00b; E" },
	/* Literal too big: sync is refused at once, nonsync data skipped. */
	{ .in = "a1 APPEND x {11}\r\na2 NOOP\r\n",
	  .want = "A:a1 A:APPEND A:x !BIG:Literal too big@a1 A:a2 A:NOOP E" },
	{ .in = "a1 APPEND x {10}\r\n0123456789\r\n",
	  .want = "A:a1 A:APPEND A:x L{10}:0123456789; E" },
	{ .in = "a1 APPEND x {11+}\r\nb1 NOOP\r\nxy extra\r\na2 NOOP\r\n",
	  .want = "A:a1 A:APPEND A:x !BIG:Literal too big@a1 A:a2 A:NOOP E" },
	{ .in = "a1 X {11+}\r\n{3+}\r\nabcd {3+}\r\nabc\r\na2 NOOP\r\n",
	  .want = "A:a1 A:X !BIG:Literal too big@a1 A:a2 A:NOOP E" },
	{ .in = "a1 X {11+}x\r\na2 NOOP\r\n",
	  .want = "A:a1 A:X !BIG:Literal too big@a1 A:a2 A:NOOP E" },

	/* Lists. */
	{ .in = "a1 X ((a) b)\r\n", .want = "A:a1 A:X ( ( A:a ) A:b ) E" },
	{ .in = "a1 X () (())\r\n", .want = "A:a1 A:X ( ) ( ( ) ) E" },
	{ .in = "a1 FETCH 1 BODY[HEADER.FIELDS (From To)]<0.100>\r\n",
	  .want = "A:a1 A:FETCH A:1 A:BODY[HEADER.FIELDS ( A:From A:To )"
	    " A:]<0.100> E" },
	{ .in = "a1 X (a)(b)\r\n",
	  .want = "A:a1 A:X ( A:a ) !SYN:Missing space between arguments@a1" },
	{ .in = "a1 X (a)\"b\"\r\n",
	  .want = "A:a1 A:X ( A:a ) !SYN:Missing space between arguments@a1" },
	{ .in = "a1 X (a)\t\r\n",
	  .want = "A:a1 A:X ( A:a ) !SYN:Invalid control character@a1" },
	{ .in = "a1 X ( a)\r\n",
	  .want = "A:a1 A:X ( !SYN:Unexpected space@a1" },
	{ .in = "a1 X (a )\r\n",
	  .want = "A:a1 A:X ( A:a !SYN:Unexpected space before ')'@a1" },
	{ .in = "a1 X a)\r\na2 NOOP\r\n",
	  .want = "A:a1 A:X A:a !SYN:Unbalanced ')'@a1 A:a2 A:NOOP E" },
	{ .in = "a1 X (a))\r\n",
	  .want = "A:a1 A:X ( A:a ) !SYN:Unbalanced ')'@a1" },
	{ .in = "a1 X (a\r\na2 NOOP\r\n",
	  .want = "A:a1 A:X ( A:a !SYN:Unterminated list at end of line@a1"
	    " A:a2 A:NOOP E" },
	{ .in = "a1 X (\r\n",
	  .want = "A:a1 A:X ( !SYN:Unterminated list at end of line@a1" },
	{ .in = "a1 X ((a) (b)\n",
	  .want = "A:a1 A:X ( ( A:a ) ( A:b )"
	    " !SYN:Unterminated list at end of line@a1" },

	/* Spaces and line ends. */
	{ .in = "a1 NOOP  x\r\na2 NOOP\r\n",
	  .want = "A:a1 A:NOOP !SYN:Unexpected space@a1 A:a2 A:NOOP E" },
	{ .in = "a1  NOOP\r\n", .want = "A:a1 !SYN:Unexpected space@a1" },
	{ .in = "a1 NOOP \r\n",
	  .want = "A:a1 A:NOOP !SYN:Unexpected space at end of line@a1" },
	{ .in = "a1 NOOP\rx\r\na2 NOOP\r\n",
	  .want = "A:a1 A:NOOP !SYN:CR without LF@a1 A:a2 A:NOOP E" },
	{ .in = "a1 NOOP\r\r\na2 NOOP\r\n",
	  .want = "A:a1 A:NOOP !SYN:CR without LF@a1 A:a2 A:NOOP E" },
	{ .in = "a1 NOOP\na2 NOOP\n", .want = "A:a1 A:NOOP E A:a2 A:NOOP E" },
	{ BIN("a1 NO\0OP\r\na2 NOOP\r\n"),
	  .want = "A:a1 A:NO !NUL:NUL byte in command@a1 A:a2 A:NOOP E" },
	{ BIN("a\0 NOOP\r\n"), .want = "!NUL:NUL byte in command@" },

	/* Line length: bytes outside literal data, line ends excluded. */
	{ .in = "a1 NOOP\r\n", .line_max = 7, .want = "A:a1 A:NOOP E" },
	{ .in = "a1 NOOP\r\na2 NOOP\r\n", .line_max = 6,
	  .want = "A:a1 !LONG:Line too long@a1 A:a2 !LONG:Line too long@a2" },
	{ .in = "a1 X \"abcdef\"\r\na2 Y\r\n", .line_max = 12,
	  .want = "A:a1 A:X !LONG:Line too long@a1 A:a2 A:Y E" },
	{ .in = "a1 X \"abcdef\"\r\n", .line_max = 13,
	  .want = "A:a1 A:X Q:abcdef E" },
	{ .in = "a1 X \"a\\\\\"\r\n", .line_max = 9,
	  .want = "A:a1 A:X !LONG:Line too long@a1" },
	{ .in = "a1 X {3+}\r\nabc\r\n", .line_max = 9,
	  .want = "A:a1 A:X L{3+}:abc; E" },
	{ .in = "a1 X {3+}\r\nabc\r\na2 Y\r\n", .line_max = 8,
	  .want = "A:a1 A:X !LONG:Line too long@a1 A:a2 A:Y E" },
	{ .in = "a1 X {3+}\r\nabc\r\na2 Y\r\n", .line_max = 7,
	  .want = "A:a1 A:X !LONG:Line too long@a1 A:a2 A:Y E" },
	{ .in = "a1 X {3+}\r\nabc\r\na2 Y\r\n", .line_max = 6,
	  .want = "A:a1 A:X !LONG:Line too long@a1 A:a2 A:Y E" },
	{ .in = "a1 X {1}\r\nx {1}\r\ny\r\n", .line_max = 12,
	  .want = "A:a1 A:X L{1}:x; L{1}:y; E" },
	{ .in = "a1 X {1}\r\nx {1}\r\ny\r\n", .line_max = 11,
	  .want = "A:a1 A:X L{1}:x; !LONG:Line too long@a1"
	    " A:y !SYN:Missing command name@y" },
	{ .in = "a1 X aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "{3+}\r\nabc\r\na2 NOOP\r\n",
	  .want = "A:a1 A:X !LONG:Line too long@a1 A:a2 A:NOOP E" },

	/* Depth and token limits. */
	{ .in = "a1 X ((a))\r\n", .depth_max = 2,
	  .want = "A:a1 A:X ( ( A:a ) ) E" },
	{ .in = "a1 X (((a)))\r\na2 NOOP\r\n", .depth_max = 2,
	  .want = "A:a1 A:X ( ( !DEEP:Lists nested too deeply@a1"
	    " A:a2 A:NOOP E" },
	{ .in = "a1 X a b\r\n", .tokens_max = 4, .want = "A:a1 A:X A:a A:b E" },
	{ .in = "a1 X a b c\r\na2 NOOP\r\n", .tokens_max = 4,
	  .want = "A:a1 A:X A:a A:b !MANY:Too many arguments@a1"
	    " A:a2 A:NOOP E" },
	{ .in = "a1 X a b {3+}\r\nx\r\ny\r\na2 NOOP\r\n", .tokens_max = 4,
	  .want = "A:a1 A:X A:a A:b !MANY:Too many arguments@a1"
	    " A:a2 A:NOOP E" },
	{ .in = "a1 X (a)\r\n", .tokens_max = 3,
	  .want = "A:a1 A:X ( !MANY:Too many arguments@a1" },

	/* Skipping after an error. */
	{ .in = "a1 X  y {5+}\r\nab\r\nc\r\na2 NOOP\r\n",
	  .want = "A:a1 A:X !SYN:Unexpected space@a1 A:a2 A:NOOP E" },
	{ .in = "a1 X  y {5}\r\na2 NOOP\r\n",
	  .want = "A:a1 A:X !SYN:Unexpected space@a1 A:a2 A:NOOP E" },
	{ .in = "a1 X  {5+}\r\n\r\n\r\n\r\na2 NOOP\r\n",
	  .want = "A:a1 A:X !SYN:Unexpected space@a1 A:a2 A:NOOP E" },
	{ .in = "a1 X  {2+} {5+}\r\nab\r\nc\r\na2 NOOP\r\n",
	  .want = "A:a1 A:X !SYN:Unexpected space@a1 A:a2 A:NOOP E" },
	{ .in = "a1 X  {{{0+}\r\n\r\na2 NOOP\r\n",
	  .want = "A:a1 A:X !SYN:Unexpected space@a1 A:a2 A:NOOP E" },
	{ .in = "a1 X  {2+}\r\r\na2 NOOP\r\n",
	  .want = "A:a1 A:X !SYN:Unexpected space@a1 A:a2 A:NOOP E" },

	/* parse_abort_command. */
	{ .in = "a1 APPEND x {5}\r\na2 NOOP\r\n", .abort_after = 4,
	  .want = "A:a1 A:APPEND A:x L{5}: A:a2 A:NOOP E" },
	{ .in = "a1 APPEND x {0}\r\na2 NOOP\r\n", .abort_after = 4,
	  .want = "A:a1 A:APPEND A:x L{0}: A:a2 A:NOOP E" },
	{ .in = "a1 APPEND x {5+}\r\nhello more\r\na2 NOOP\r\n",
	  .abort_after = 4,
	  .want = "A:a1 A:APPEND A:x L{5+}: A:a2 A:NOOP E" },
	{ .in = "a1 FOO bar {3+}\r\nabc baz\r\na2 NOOP\r\n", .abort_after = 2,
	  .want = "A:a1 A:FOO A:a2 A:NOOP E" },
	{ .in = "a1 FOO\r\na2 NOOP\r\n", .abort_after = 3,
	  .want = "A:a1 A:FOO E A:a2 A:NOOP E" },
};

/* Serializes the tokens of one replay. */
struct replay {
	struct buf out;
	unsigned nondata;	/* non-data tokens so far */
	bool failed;
	char why[160];
};

static void
put_bytes(struct buf *b, const uint8_t *s, size_t n)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e)
			rc = buf_addf(b, "\\x%02x", s[i]);
		else
			rc = buf_addc(b, s[i]);
	}
	CU_ASSERT_EQUAL_FATAL(rc, 0);
}

static void
put_sep(struct buf *b)
{
	if (b->len > 0 && buf_addc(b, ' ') < 0)
		CU_FAIL_FATAL("output too long");
}

static const char *
code_name(enum parse_errcode c)
{
	switch (c) {
	case PARSE_ERR_NONE:
		return "NONE";
	case PARSE_ERR_SYNTAX:
		return "SYN";
	case PARSE_ERR_LINE_TOO_LONG:
		return "LONG";
	case PARSE_ERR_LITERAL_TOO_BIG:
		return "BIG";
	case PARSE_ERR_TOO_DEEP:
		return "DEEP";
	case PARSE_ERR_TOO_MANY_TOKENS:
		return "MANY";
	case PARSE_ERR_NUL:
		return "NUL";
	}
	return "?";
}

static void
put_token(struct replay *rp, const struct parse_token *t)
{
	struct buf *b = &rp->out;
	int rc = 0;

	if (t->type != PARSE_TOK_LITERAL_DATA &&
	    t->type != PARSE_TOK_LITERAL_END)
		put_sep(b);
	switch (t->type) {
	case PARSE_TOK_ATOM:
	case PARSE_TOK_QUOTED:
		rc = buf_adds(b, t->type == PARSE_TOK_ATOM ? "A:" : "Q:");
		put_bytes(b, t->data, t->len);
		break;
	case PARSE_TOK_LITERAL_BEGIN:
		rc = buf_addf(b, "L{%llu%s}:",
		    (unsigned long long)t->literal_size,
		    t->literal_nonsync ? "+" : "");
		break;
	case PARSE_TOK_LITERAL_DATA:
		put_bytes(b, t->data, t->len);
		break;
	case PARSE_TOK_LITERAL_END:
		rc = buf_addc(b, ';');
		break;
	case PARSE_TOK_LIST_OPEN:
		rc = buf_addc(b, '(');
		break;
	case PARSE_TOK_LIST_CLOSE:
		rc = buf_addc(b, ')');
		break;
	case PARSE_TOK_EOL:
		rc = buf_addc(b, 'E');
		break;
	}
	CU_ASSERT_EQUAL_FATAL(rc, 0);
}

/*
 * Feeds in[0..len) cut at the given chunk sizes (the last chunk takes the
 * rest), checking the iterator contract on every call.
 */
static void
replay(const struct pcase *c, const uint8_t *in, size_t len,
    const size_t *cuts, size_t ncuts, struct replay *rp)
{
	struct parse_limits lim = {
		c->line_max ? c->line_max : DEF_LINE,
		c->literal_max ? c->literal_max : DEF_LITERAL,
		c->depth_max ? c->depth_max : DEF_DEPTH,
		c->tokens_max ? c->tokens_max : DEF_TOKENS,
	};
	struct parser *p = parse_new(&lim);
	size_t pos = 0, k = 0;

	parse_set_allow_nul(p, c->allow_nul);
	buf_init(&rp->out, 1 << 16);
	rp->nondata = 0;
	rp->failed = false;
	CU_ASSERT_TRUE(parse_at_command_start(p));
	while (pos < len || k == 0) {
		size_t end = k < ncuts ? pos + cuts[k] : len;
		unsigned stalls = 0;

		if (end > len)
			end = len;
		k++;
		for (;;) {
			struct parse_token t;
			enum parse_result r;
			size_t used = (size_t)-1;

			r = parse_next(p, in + pos, end - pos, &used, &t);
			if (used > end - pos) {
				rp->failed = true;
				snprintf(rp->why, sizeof(rp->why),
				    "used %zu > len %zu", used, end - pos);
				goto done;
			}
			pos += used;
			stalls = used == 0 ? stalls + 1 : 0;
			if (stalls > 3) {
				rp->failed = true;
				snprintf(rp->why, sizeof(rp->why),
				    "no progress at offset %zu", pos);
				goto done;
			}
			if (r == PARSE_MORE) {
				if (pos != end) {
					rp->failed = true;
					snprintf(rp->why, sizeof(rp->why),
					    "MORE with %zu bytes left",
					    end - pos);
					goto done;
				}
				break;
			}
			if (r == PARSE_ERROR) {
				CU_ASSERT_NOT_EQUAL(parse_errcode(p),
				    PARSE_ERR_NONE);
				put_sep(&rp->out);
				if (buf_addf(&rp->out, "!%s:%s@%s",
				    code_name(parse_errcode(p)), parse_error(p),
				    parse_tag(p)) < 0)
					CU_FAIL_FATAL("output too long");
				rp->nondata++;
			} else {
				if (t.type == PARSE_TOK_ATOM ||
				    t.type == PARSE_TOK_QUOTED ||
				    t.type == PARSE_TOK_LITERAL_DATA)
					CU_ASSERT_PTR_NOT_NULL(t.data);
				if (t.type == PARSE_TOK_LITERAL_DATA) {
					/* Zero-copy: inside this chunk. */
					CU_ASSERT_PTR_EQUAL(t.data,
					    in + pos - t.len);
					CU_ASSERT_TRUE(t.len > 0);
				}
				put_token(rp, &t);
				if (t.type != PARSE_TOK_LITERAL_DATA)
					rp->nondata++;
				if (t.type == PARSE_TOK_EOL)
					CU_ASSERT_TRUE(
					    parse_at_command_start(p));
			}
			if (c->abort_after != 0 &&
			    rp->nondata == c->abort_after &&
			    (r == PARSE_ERROR ||
			    t.type != PARSE_TOK_LITERAL_DATA))
				parse_abort_command(p);
		}
	}
done:
	parse_free(&p);
	CU_ASSERT_PTR_NULL(p);
}

static void
check_case(size_t ci, const struct pcase *c, const char *mode,
    const size_t *cuts, size_t ncuts)
{
	size_t len = c->len != 0 ? c->len : strlen(c->in);
	uint8_t *copy = malloc(len + 1);	/* exact size, for ASan */
	struct replay rp;
	char msg[1024];
	bool ok;

	CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
	memcpy(copy, c->in, len);
	replay(c, copy, len, cuts, ncuts, &rp);
	ok = !rp.failed && strcmp(buf_cstr(&rp.out), c->want) == 0;
	if (!ok) {
		snprintf(msg, sizeof(msg),
		    "case %zu (%s): %s\n   got: \"%s\"\n  want: \"%s\"", ci,
		    mode, rp.failed ? rp.why : "stream differs",
		    buf_cstr(&rp.out), c->want);
		fprintf(stderr, "\n%s\n", msg);
	}
	CU_assertImplementation(ok, __LINE__, ok ? "ok" : msg, __FILE__, "",
	    CU_FALSE);
	buf_free(&rp.out);
	free(copy);
}

/* A small deterministic generator (xorshift32). */
static uint32_t
rnd(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

void test_parse_table_whole(void)
{
	size_t i;

	for (i = 0; i < N_ELEMENTS(parse_cases); i++)
		check_case(i, &parse_cases[i], "whole", NULL, 0);
}

void test_parse_table_bytewise(void)
{
	static size_t ones[512];
	size_t i;

	for (i = 0; i < N_ELEMENTS(ones); i++)
		ones[i] = 1;
	for (i = 0; i < N_ELEMENTS(parse_cases); i++) {
		size_t len = parse_cases[i].len != 0 ? parse_cases[i].len :
		    strlen(parse_cases[i].in);

		CU_ASSERT_FATAL(len <= N_ELEMENTS(ones));
		check_case(i, &parse_cases[i], "bytewise", ones, len);
	}
}

void test_parse_table_random_splits(void)
{
	uint32_t seed = 0x5eed1234;
	size_t cuts[64];
	size_t i, round, k;

	for (i = 0; i < N_ELEMENTS(parse_cases); i++) {
		for (round = 0; round < 16; round++) {
			char mode[32];
			size_t maxcut = 1 + (round % 8) * 3;

			for (k = 0; k < N_ELEMENTS(cuts); k++)
				cuts[k] = rnd(&seed) % (maxcut + 1);
			snprintf(mode, sizeof(mode), "random %zu", round);
			check_case(i, &parse_cases[i], mode, cuts,
			    N_ELEMENTS(cuts));
		}
	}
}

static struct parser *
new_default(void)
{
	struct parse_limits lim = { 1000, 1 << 20, 8, 100 };

	return parse_new(&lim);
}

/* Index and depth of each token, and the tag while parsing. */
void test_parse_index_depth(void)
{
	static const char in[] = "t7 FETCH 1 (FLAGS (X) {1}\r\nY) Z\r\n";
	static const struct {
		enum parse_tok_type type;
		unsigned index, depth;
	} want[] = {
		{ PARSE_TOK_ATOM, 0, 0 },	/* t7 */
		{ PARSE_TOK_ATOM, 1, 0 },	/* FETCH */
		{ PARSE_TOK_ATOM, 2, 0 },	/* 1 */
		{ PARSE_TOK_LIST_OPEN, 3, 0 },
		{ PARSE_TOK_ATOM, 4, 1 },	/* FLAGS */
		{ PARSE_TOK_LIST_OPEN, 5, 1 },
		{ PARSE_TOK_ATOM, 6, 2 },	/* X */
		{ PARSE_TOK_LIST_CLOSE, 7, 1 },
		{ PARSE_TOK_LITERAL_BEGIN, 7, 1 },
		{ PARSE_TOK_LITERAL_DATA, 7, 1 },
		{ PARSE_TOK_LITERAL_END, 7, 1 },
		{ PARSE_TOK_LIST_CLOSE, 8, 0 },
		{ PARSE_TOK_ATOM, 8, 0 },	/* Z */
		{ PARSE_TOK_EOL, 9, 0 },
	};
	struct parser *p = new_default();
	struct parse_token t;
	size_t pos = 0, used, k = 0, len = sizeof(in) - 1;

	CU_ASSERT_STRING_EQUAL(parse_tag(p), "");
	while (k < N_ELEMENTS(want)) {
		enum parse_result r;

		r = parse_next(p, (const uint8_t *)in + pos, len - pos, &used,
		    &t);
		pos += used;
		CU_ASSERT_EQUAL_FATAL(r, PARSE_TOKEN);
		CU_ASSERT_EQUAL(t.type, want[k].type);
		CU_ASSERT_EQUAL(t.index, want[k].index);
		CU_ASSERT_EQUAL(t.depth, want[k].depth);
		CU_ASSERT_STRING_EQUAL(parse_tag(p), "t7");
		CU_ASSERT_EQUAL(parse_at_command_start(p),
		    t.type == PARSE_TOK_EOL);
		k++;
	}
	CU_ASSERT_EQUAL(pos, len);
	/* The tag stays readable after EOL until the next command starts. */
	CU_ASSERT_STRING_EQUAL(parse_tag(p), "t7");
	CU_ASSERT_EQUAL(parse_next(p, (const uint8_t *)"x", 1, &used, &t),
	    PARSE_MORE);
	CU_ASSERT_STRING_EQUAL(parse_tag(p), "");
	parse_free(&p);
}

/* Whole atoms and quoted strings point into the input (no copy). */
void test_parse_zero_copy(void)
{
	static const uint8_t in[] = "a1 LOGIN \"u\" p\r\n";
	struct parser *p = new_default();
	struct parse_token t;
	size_t pos = 0, used;
	int n = 0;

	while (pos < sizeof(in) - 1) {
		CU_ASSERT_EQUAL_FATAL(parse_next(p, in + pos,
		    sizeof(in) - 1 - pos, &used, &t), PARSE_TOKEN);
		pos += used;
		if (t.type == PARSE_TOK_QUOTED ||
		    (t.type == PARSE_TOK_ATOM && t.index > 0)) {
			CU_ASSERT_TRUE(t.data >= in && t.data < in + pos);
			n++;
		}
	}
	CU_ASSERT_EQUAL(n, 3);
	parse_free(&p);
}

/* A big literal fed in 4 KB reads streams through in chunks. */
void test_parse_literal_stream(void)
{
	static const char head[] = "a1 APPEND INBOX {100000+}\r\n";
	static const char tail[] = " x\r\n";
	size_t hl = sizeof(head) - 1, tl = sizeof(tail) - 1;
	size_t len = hl + 100000 + tl, pos = 0, used, total = 0, chunks = 0;
	uint8_t *in = malloc(len);
	struct parser *p = new_default();
	struct parse_token t;
	bool begun = false, ended = false, eol = false;
	size_t i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(in);
	memcpy(in, head, hl);
	for (i = 0; i < 100000; i++)
		in[hl + i] = (uint8_t)(i % 251 + 1);
	memcpy(in + hl + 100000, tail, tl);
	while (pos < len || !eol) {
		size_t end = pos + 4096 < len ? pos + 4096 : len;
		enum parse_result r;

		r = parse_next(p, in + pos, end - pos, &used, &t);
		CU_ASSERT_NOT_EQUAL_FATAL(r, PARSE_ERROR);
		pos += used;
		if (r == PARSE_MORE)
			continue;
		switch (t.type) {
		case PARSE_TOK_LITERAL_BEGIN:
			CU_ASSERT_EQUAL(t.literal_size, 100000);
			CU_ASSERT_TRUE(t.literal_nonsync);
			begun = true;
			break;
		case PARSE_TOK_LITERAL_DATA:
			CU_ASSERT_TRUE(begun && !ended);
			CU_ASSERT_TRUE(t.data == in + pos - t.len);
			CU_ASSERT_EQUAL(memcmp(t.data, in + hl + total, t.len),
			    0);
			total += t.len;
			chunks++;
			break;
		case PARSE_TOK_LITERAL_END:
			ended = true;
			break;
		case PARSE_TOK_EOL:
			eol = true;
			break;
		default:
			break;
		}
	}
	CU_ASSERT_EQUAL(total, 100000);
	CU_ASSERT_TRUE(ended);
	/* One chunk per read (the first read also held the header). */
	CU_ASSERT_TRUE(chunks <= 100000 / 4096 + 2);
	parse_free(&p);

	/* Whole: a single chunk. */
	p = new_default();
	pos = 0;
	chunks = 0;
	while (pos < len) {
		enum parse_result r;

		r = parse_next(p, in + pos, len - pos, &used, &t);
		pos += used;
		CU_ASSERT_EQUAL_FATAL(r, PARSE_TOKEN);
		if (t.type == PARSE_TOK_LITERAL_DATA) {
			CU_ASSERT_EQUAL(t.len, 100000);
			chunks++;
		}
	}
	CU_ASSERT_EQUAL(chunks, 1);
	parse_free(&p);
	free(in);
}

/* An oversize nonsync literal's data is skipped without being held. */
void test_parse_big_nonsync_skipped(void)
{
	struct parse_limits lim = { 100, 1000, 8, 100 };
	static const char head[] = "a1 APPEND INBOX {50000+}\r\n";
	static const char tail[] = " more\r\na2 NOOP\r\n";
	size_t hl = sizeof(head) - 1, tl = sizeof(tail) - 1;
	size_t len = hl + 50000 + tl, pos = 0, used;
	uint8_t *in = malloc(len);
	struct parser *p = parse_new(&lim);
	struct parse_token t;
	enum parse_result r;
	int errors = 0, eols = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(in);
	memcpy(in, head, hl);
	/* Data that looks like commands must not be parsed. */
	for (pos = 0; pos < 50000; pos++)
		in[hl + pos] = (uint8_t)"b1 NOOP\r\n"[pos % 9];
	memcpy(in + hl + 50000, tail, tl);
	pos = 0;
	while (pos < len) {
		size_t end = pos + 1000 < len ? pos + 1000 : len;

		r = parse_next(p, in + pos, end - pos, &used, &t);
		pos += used;
		if (r == PARSE_ERROR) {
			CU_ASSERT_EQUAL(parse_errcode(p),
			    PARSE_ERR_LITERAL_TOO_BIG);
			CU_ASSERT_STRING_EQUAL(parse_error(p),
			    "Literal too big");
			CU_ASSERT_STRING_EQUAL(parse_tag(p), "a1");
			errors++;
		} else if (r == PARSE_TOKEN && t.type == PARSE_TOK_EOL) {
			CU_ASSERT_STRING_EQUAL(parse_tag(p), "a2");
			eols++;
		}
	}
	CU_ASSERT_EQUAL(errors, 1);
	CU_ASSERT_EQUAL(eols, 1);
	CU_ASSERT_TRUE(parse_at_command_start(p));
	parse_free(&p);
	free(in);
}

/* parse_abort_command in the middle of literal data skips the rest. */
void test_parse_abort_mid_literal(void)
{
	static const uint8_t in[] =
	    "a1 APPEND x {10}\r\n0123456789 rest\r\na2 NOOP\r\n";
	struct parser *p = new_default();
	struct parse_token t;
	size_t pos = 0, used;
	enum parse_result r;

	/* Up to the literal and its first 3 bytes. */
	while (pos < 18) {
		r = parse_next(p, in + pos, 18 - pos, &used, &t);
		pos += used;
	}
	r = parse_next(p, in + pos, 3, &used, &t);
	CU_ASSERT_EQUAL(r, PARSE_TOKEN);
	CU_ASSERT_EQUAL(t.type, PARSE_TOK_LITERAL_DATA);
	CU_ASSERT_EQUAL(t.len, 3);
	pos += used;
	parse_abort_command(p);
	CU_ASSERT_FALSE(parse_at_command_start(p));
	r = parse_next(p, in + pos, sizeof(in) - 1 - pos, &used, &t);
	CU_ASSERT_EQUAL(r, PARSE_TOKEN);
	CU_ASSERT_EQUAL(t.type, PARSE_TOK_ATOM);
	CU_ASSERT_EQUAL(t.len, 2);
	CU_ASSERT_EQUAL(memcmp(t.data, "a2", 2), 0);
	parse_free(&p);
}

/* New limits apply from the next command on; reset forgets everything. */
void test_parse_limits_and_reset(void)
{
	struct parse_limits small = { 10, 10, 1, 5 };
	struct parse_limits big = { 1000, 1000, 8, 100 };
	static const uint8_t l1[] = "a1 LOGIN u p\r\n";
	static const uint8_t l2[] = "a2 SELECT INBOXXXXXXXX\r\n";
	struct parser *p = parse_new(&small);
	struct parse_token t;
	size_t pos = 0, used;
	enum parse_result r;

	/* Raising the limit mid-command does not help this command. */
	r = parse_next(p, l1, 3, &used, &t);
	CU_ASSERT_EQUAL(r, PARSE_TOKEN);
	pos = used;
	parse_set_limits(p, &big);
	do {
		r = parse_next(p, l1 + pos, sizeof(l1) - 1 - pos, &used, &t);
		pos += used;
	} while (r == PARSE_TOKEN);
	CU_ASSERT_EQUAL(r, PARSE_ERROR);
	CU_ASSERT_EQUAL(parse_errcode(p), PARSE_ERR_LINE_TOO_LONG);
	CU_ASSERT_STRING_EQUAL(parse_error(p), "Line too long");
	r = parse_next(p, l1 + pos, sizeof(l1) - 1 - pos, &used, &t);
	CU_ASSERT_EQUAL(r, PARSE_MORE);
	CU_ASSERT_TRUE(parse_at_command_start(p));
	/* The next command has the new limits. */
	pos = 0;
	do {
		r = parse_next(p, l2 + pos, sizeof(l2) - 1 - pos, &used, &t);
		pos += used;
	} while (r == PARSE_TOKEN && t.type != PARSE_TOK_EOL);
	CU_ASSERT_EQUAL(r, PARSE_TOKEN);
	CU_ASSERT_EQUAL(t.type, PARSE_TOK_EOL);

	/* Reset in the middle of a line. */
	r = parse_next(p, (const uint8_t *)"a3 NO", 5, &used, &t);
	CU_ASSERT_EQUAL(r, PARSE_TOKEN);
	CU_ASSERT_FALSE(parse_at_command_start(p));
	parse_reset(p);
	CU_ASSERT_TRUE(parse_at_command_start(p));
	CU_ASSERT_STRING_EQUAL(parse_tag(p), "");
	CU_ASSERT_EQUAL(parse_errcode(p), PARSE_ERR_NONE);
	r = parse_next(p, (const uint8_t *)"b1 NOOP\r\n", 9, &used, &t);
	CU_ASSERT_EQUAL(r, PARSE_TOKEN);
	CU_ASSERT_EQUAL(t.len, 2);
	CU_ASSERT_EQUAL(memcmp(t.data, "b1", 2), 0);
	parse_free(&p);
}

/* An empty read and a NULL-safe free. */
void test_parse_empty_input(void)
{
	struct parser *p = new_default();
	struct parse_token t;
	size_t used = 99;

	CU_ASSERT_EQUAL(parse_next(p, (const uint8_t *)"", 0, &used, &t),
	    PARSE_MORE);
	CU_ASSERT_EQUAL(used, 0);
	CU_ASSERT_TRUE(parse_at_command_start(p));
	CU_ASSERT_STRING_EQUAL(parse_error(p), "");
	parse_free(&p);
	CU_ASSERT_PTR_NULL(p);
	parse_free(&p);
}
