/*
 * search.c: the SEARCH program (RFC 3501 §6.4.4, search-key in §9):
 * parsing into a flat array of nodes in prefix order (each node knows
 * where its subtree ends), bounded in size and depth and built without
 * recursion, and matching one message at a time. No session, no store:
 * cmd_search.c feeds it.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/imapstr.h"
#include "../lib/num.h"
#include "../lib/xalloc.h"
#include "cmd.h"
#include "cmd_util.h"
#include "../store/mime_text.h"
#include "msgpart.h"
#include "resp.h"
#include "search.h"
#include "seqset.h"

enum search_op {
	SEARCH_OP_AND,		/* children up to end (the root, parens) */
	SEARCH_OP_OR,		/* two children */
	SEARCH_OP_NOT,		/* one child */
	SEARCH_OP_ALL,
	SEARCH_OP_NONE,		/* never matches */
	SEARCH_OP_SEQ,		/* set */
	SEARCH_OP_UID,		/* set */
	SEARCH_OP_FLAGS_ON,	/* every flag in num is set */
	SEARCH_OP_FLAGS_OFF,	/* every flag in num is clear */
	SEARCH_OP_RECENT,
	SEARCH_OP_NEW,
	SEARCH_OP_OLD,
	SEARCH_OP_KEYWORD,	/* str: name; num: bit index or -1 */
	SEARCH_OP_UNKEYWORD,
	SEARCH_OP_LARGER,	/* num: size */
	SEARCH_OP_SMALLER,
	SEARCH_OP_BEFORE,	/* num: day */
	SEARCH_OP_ON,
	SEARCH_OP_SINCE,
	SEARCH_OP_SENTBEFORE,
	SEARCH_OP_SENTON,
	SEARCH_OP_SENTSINCE,
	SEARCH_OP_HEADER,	/* field; str: lower-cased needle */
	SEARCH_OP_BODY,
	SEARCH_OP_TEXT,
	SEARCH_OP_MODSEQ,	/* num: at least this MODSEQ (RFC 7162) */
};

/* What follows a key's name. */
enum search_arg {
	SEARCH_ARG_NONE,
	SEARCH_ARG_SET,		/* sequence-set */
	SEARCH_ARG_NUMBER,
	SEARCH_ARG_DATE,
	SEARCH_ARG_STRING,	/* astring */
	SEARCH_ARG_FIELD,	/* header-fld-name SP astring */
	SEARCH_ARG_KEYWORD,	/* flag-keyword */
	SEARCH_ARG_MODSEQ,	/* [entry-name entry-type-req] mod-sequence */
};

struct search_keydef {
	const char *name;
	enum search_op op;
	enum search_arg arg;
	uint32_t flags;		/* FLAGS_ON / FLAGS_OFF */
	const char *field;	/* the header field of FROM, TO, ... */
};

/* Sorted by name for bsearch. NOT, OR and parentheses are handled by the
 * parser loop; sequence sets are recognised by their first character. */
static const struct search_keydef search_keys[] = {
	{ "ALL", SEARCH_OP_ALL, SEARCH_ARG_NONE, 0, NULL },
	{ "ANSWERED", SEARCH_OP_FLAGS_ON, SEARCH_ARG_NONE,
	    STORE_FLAG_ANSWERED, NULL },
	{ "BCC", SEARCH_OP_HEADER, SEARCH_ARG_STRING, 0, "Bcc" },
	{ "BEFORE", SEARCH_OP_BEFORE, SEARCH_ARG_DATE, 0, NULL },
	{ "BODY", SEARCH_OP_BODY, SEARCH_ARG_STRING, 0, NULL },
	{ "CC", SEARCH_OP_HEADER, SEARCH_ARG_STRING, 0, "Cc" },
	{ "DELETED", SEARCH_OP_FLAGS_ON, SEARCH_ARG_NONE,
	    STORE_FLAG_DELETED, NULL },
	{ "DRAFT", SEARCH_OP_FLAGS_ON, SEARCH_ARG_NONE,
	    STORE_FLAG_DRAFT, NULL },
	{ "FLAGGED", SEARCH_OP_FLAGS_ON, SEARCH_ARG_NONE,
	    STORE_FLAG_FLAGGED, NULL },
	{ "FROM", SEARCH_OP_HEADER, SEARCH_ARG_STRING, 0, "From" },
	{ "HEADER", SEARCH_OP_HEADER, SEARCH_ARG_FIELD, 0, NULL },
	{ "KEYWORD", SEARCH_OP_KEYWORD, SEARCH_ARG_KEYWORD, 0, NULL },
	{ "LARGER", SEARCH_OP_LARGER, SEARCH_ARG_NUMBER, 0, NULL },
	{ "MODSEQ", SEARCH_OP_MODSEQ, SEARCH_ARG_MODSEQ, 0, NULL },
	{ "NEW", SEARCH_OP_NEW, SEARCH_ARG_NONE, 0, NULL },
	{ "OLD", SEARCH_OP_OLD, SEARCH_ARG_NONE, 0, NULL },
	{ "ON", SEARCH_OP_ON, SEARCH_ARG_DATE, 0, NULL },
	{ "RECENT", SEARCH_OP_RECENT, SEARCH_ARG_NONE, 0, NULL },
	{ "SEEN", SEARCH_OP_FLAGS_ON, SEARCH_ARG_NONE,
	    STORE_FLAG_SEEN, NULL },
	{ "SENTBEFORE", SEARCH_OP_SENTBEFORE, SEARCH_ARG_DATE, 0, NULL },
	{ "SENTON", SEARCH_OP_SENTON, SEARCH_ARG_DATE, 0, NULL },
	{ "SENTSINCE", SEARCH_OP_SENTSINCE, SEARCH_ARG_DATE, 0, NULL },
	{ "SINCE", SEARCH_OP_SINCE, SEARCH_ARG_DATE, 0, NULL },
	{ "SMALLER", SEARCH_OP_SMALLER, SEARCH_ARG_NUMBER, 0, NULL },
	{ "SUBJECT", SEARCH_OP_HEADER, SEARCH_ARG_STRING, 0, "Subject" },
	{ "TEXT", SEARCH_OP_TEXT, SEARCH_ARG_STRING, 0, NULL },
	{ "TO", SEARCH_OP_HEADER, SEARCH_ARG_STRING, 0, "To" },
	{ "UID", SEARCH_OP_UID, SEARCH_ARG_SET, 0, NULL },
	{ "UNANSWERED", SEARCH_OP_FLAGS_OFF, SEARCH_ARG_NONE,
	    STORE_FLAG_ANSWERED, NULL },
	{ "UNDELETED", SEARCH_OP_FLAGS_OFF, SEARCH_ARG_NONE,
	    STORE_FLAG_DELETED, NULL },
	{ "UNDRAFT", SEARCH_OP_FLAGS_OFF, SEARCH_ARG_NONE,
	    STORE_FLAG_DRAFT, NULL },
	{ "UNFLAGGED", SEARCH_OP_FLAGS_OFF, SEARCH_ARG_NONE,
	    STORE_FLAG_FLAGGED, NULL },
	{ "UNKEYWORD", SEARCH_OP_UNKEYWORD, SEARCH_ARG_KEYWORD, 0, NULL },
	{ "UNSEEN", SEARCH_OP_FLAGS_OFF, SEARCH_ARG_NONE,
	    STORE_FLAG_SEEN, NULL },
};

struct search_node {
	uint8_t op;		/* enum search_op */
	bool hdr;		/* the subtree reads the header */
	uint32_t end;		/* index just past the subtree */
	int64_t num;		/* flags, size, day, keyword index */
	char *field;		/* HEADER: the field name (owned) */
	uint8_t *str;		/* HEADER needle (lower case), KEYWORD name
				   (owned, NUL-terminated) */
	size_t len;
	struct seqset set;	/* SEQ, UID */
	struct search_textmatch *tm; /* HEADER, BODY, TEXT: the matcher */
};

struct search_program {
	struct search_node *v;
	uint32_t n, cap;
	bool needs_header, needs_body, needs_keywords, has_modseq;
	struct buf scratch;	/* an unfolded field value */
	struct buf dec;		/* the same with encoded words decoded */
};

/* An open NOT, OR or parenthesised list while parsing. */
struct search_frame {
	uint32_t node;
	unsigned want;		/* children: 1 (NOT), 2 (OR), 0 (up to ')') */
	unsigned have;
};

/* ---- Dates ---- */

static const char search_months[12][4] = {
	"jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec",
};

/* Days since 1970-01-01 of a Gregorian date (m 1..12), counting in eras
 * of 400 years so that dates before 1970 work too. */
static int64_t
search_civil_days(int64_t y, int m, int d)
{
	int64_t era, yoe, doy;

	if (m <= 2)
		y--;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static bool
search_valid_date(int64_t y, int m, int d)
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30,
	    31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	return m != 2 || d < 29 || leap;
}

/* The month (1..12) named by the 3 bytes at p, case-insensitively, or 0. */
static int
search_month(const uint8_t *p)
{
	int i;

	for (i = 0; i < 12; i++) {
		if (strncasecmp((const char *)p, search_months[i], 3) == 0)
			return i + 1;
	}
	return 0;
}

/* Reads up to max digits at p[*i..n) (at least one); false if none. */
static bool
search_digits(const uint8_t *p, size_t n, size_t *i, size_t max,
    int64_t *v_r, size_t *count_r)
{
	size_t k = 0;
	int64_t v = 0;

	while (*i < n && k < max && p[*i] >= '0' && p[*i] <= '9') {
		v = v * 10 + (p[*i] - '0');
		(*i)++;
		k++;
	}
	*v_r = v;
	if (count_r != NULL)
		*count_r = k;
	return k > 0;
}

bool
search_parse_date(const uint8_t *p, size_t n, int64_t *day_r)
{
	size_t i = 0, nd;
	int64_t day, year;
	int mon;

	/* date-day "-" date-month "-" date-year: 1*2DIGIT, 3 letters, 4DIGIT */
	if (!search_digits(p, n, &i, 2, &day, NULL) || i >= n || p[i] != '-')
		return false;
	i++;
	if (n - i < 4 || (mon = search_month(p + i)) == 0 || p[i + 3] != '-')
		return false;
	i += 4;
	if (!search_digits(p, n, &i, 4, &year, &nd) || nd != 4 || i != n)
		return false;
	if (!search_valid_date(year, mon, (int)day))
		return false;
	*day_r = search_civil_days(year, mon, (int)day);
	return true;
}

/* Skips RFC 5322 CFWS: white space, line breaks and (nested) comments. */
static void
search_skip_cfws(const uint8_t *p, size_t n, size_t *i)
{
	size_t depth = 0;

	while (*i < n) {
		uint8_t c = p[*i];

		if (depth > 0) {
			if (c == '\\' && *i + 1 < n)
				(*i)++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
		} else if (c == '(') {
			depth++;
		} else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
			return;
		}
		(*i)++;
	}
}

static bool
search_is_alpha(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool
search_parse_sent_date(const uint8_t *p, size_t n, int64_t *day_r)
{
	size_t i = 0, nd, w;
	int64_t day, year, hh, mm, ss, zone;
	int mon;

	/* [day-of-week ","] */
	search_skip_cfws(p, n, &i);
	if (i < n && search_is_alpha(p[i])) {
		for (w = i; w < n && search_is_alpha(p[w]); w++)
			;
		if (w - i != 3)
			return false;
		i = w;
		search_skip_cfws(p, n, &i);
		if (i >= n || p[i] != ',')
			return false;
		i++;
		search_skip_cfws(p, n, &i);
	}
	/* day month year */
	if (!search_digits(p, n, &i, 2, &day, NULL))
		return false;
	search_skip_cfws(p, n, &i);
	if (n - i < 3 || (mon = search_month(p + i)) == 0 ||
	    (n - i > 3 && search_is_alpha(p[i + 3])))
		return false;
	i += 3;
	search_skip_cfws(p, n, &i);
	if (!search_digits(p, n, &i, 9, &year, &nd) || nd < 2)
		return false;
	/* obs-year (RFC 5322 §4.3) */
	if (nd == 2)
		year += year < 50 ? 2000 : 1900;
	else if (nd == 3)
		year += 1900;
	/* time: hour ":" minute [":" second] zone */
	search_skip_cfws(p, n, &i);
	if (!search_digits(p, n, &i, 2, &hh, NULL) || i >= n || p[i] != ':')
		return false;
	i++;
	if (!search_digits(p, n, &i, 2, &mm, &nd) || nd != 2)
		return false;
	if (i < n && p[i] == ':') {
		i++;
		if (!search_digits(p, n, &i, 2, &ss, &nd) || nd != 2)
			return false;
	} else {
		ss = 0;
	}
	if (hh > 23 || mm > 59 || ss > 60)
		return false;
	search_skip_cfws(p, n, &i);
	if (i < n && (p[i] == '+' || p[i] == '-')) {
		i++;
		if (!search_digits(p, n, &i, 4, &zone, &nd) || nd != 4)
			return false;
	} else if (i >= n || !search_is_alpha(p[i])) {
		return false;	/* obs-zone names are accepted */
	}
	if (!search_valid_date(year, mon, (int)day))
		return false;
	*day_r = search_civil_days(year, mon, (int)day);
	return true;
}

/* ---- Parsing ---- */

static int
search_keydef_cmp(const void *key, const void *elem)
{
	const struct search_keydef *d = elem;

	return strcasecmp(key, d->name);
}

static const struct search_keydef *
search_keydef_find(const uint8_t *p, size_t n)
{
	char name[16];

	if (n == 0 || n >= sizeof(name))
		return NULL;
	memcpy(name, p, n);
	name[n] = '\0';
	return bsearch(name, search_keys, N_ELEMENTS(search_keys),
	    sizeof(search_keys[0]), search_keydef_cmp);
}

static struct search_node *
search_add(struct search_program *prog, enum search_op op)
{
	struct search_node *nd;

	if (prog->n == prog->cap) {
		prog->cap = prog->cap == 0 ? 16 : prog->cap * 2;
		prog->v = xreallocarray(prog->v, prog->cap, sizeof(*prog->v));
	}
	nd = &prog->v[prog->n++];
	memset(nd, 0, sizeof(*nd));
	nd->op = (uint8_t)op;
	nd->end = prog->n;
	return nd;
}

/* Ends the subtree of node i: it spans up to the last node added. */
static void
search_close(struct search_program *prog, uint32_t i)
{
	struct search_node *nd = &prog->v[i];
	uint32_t k;

	nd->end = prog->n;
	for (k = i + 1; k < nd->end; k = prog->v[k].end)
		nd->hdr = nd->hdr || prog->v[k].hdr;
}

static uint8_t *
search_lower_dup(const uint8_t *p, size_t n)
{
	uint8_t *d = (uint8_t *)xmemdup0(p, n);
	size_t i;

	for (i = 0; i < n; i++) {
		if (d[i] >= 'A' && d[i] <= 'Z')
			d[i] = (uint8_t)(d[i] - 'A' + 'a');
	}
	return d;
}

/* True if the next argument is a literal (not allowed for a date). */
static bool
search_next_is_literal(const struct args *a)
{
	return a->i < a->n && a->v[a->i].literal;
}

/* Reads a key's argument into nd. */
static bool
search_parse_arg(struct args *a, const struct search_keydef *d,
    struct search_node *nd, const char **why_r)
{
	const uint8_t *p, *f;
	size_t n, fn, i;
	uint32_t num;
	uint64_t v;

	switch (d->arg) {
	case SEARCH_ARG_NONE:
		nd->num = d->flags;
		return true;
	case SEARCH_ARG_SET:
		if (!args_atom(a, &p, &n) || !seqset_parse(p, n, &nd->set)) {
			*why_r = "Invalid arguments: expected a sequence set "
			    "after UID";
			return false;
		}
		return true;
	case SEARCH_ARG_NUMBER:
		if (!args_number(a, &num)) {
			*why_r = "Invalid arguments: expected a number after "
			    "LARGER or SMALLER";
			return false;
		}
		nd->num = num;
		return true;
	case SEARCH_ARG_DATE:
		if (search_next_is_literal(a) || !args_astring(a, &p, &n) ||
		    !search_parse_date(p, n, &nd->num)) {
			*why_r = "Invalid date (want d-Mon-yyyy)";
			return false;
		}
		return true;
	case SEARCH_ARG_KEYWORD:
		if (!args_atom(a, &p, &n)) {
			*why_r = "Invalid arguments: expected a keyword";
			return false;
		}
		for (i = 0; i < n; i++) {
			if (!imapstr_is_atom_char(p[i])) {
				*why_r = "Invalid keyword";
				return false;
			}
		}
		nd->str = (uint8_t *)xmemdup0(p, n);
		nd->len = n;
		nd->num = -1;
		return true;
	case SEARCH_ARG_FIELD:
		if (!args_astring(a, &f, &fn) || !args_astring(a, &p, &n)) {
			*why_r = "Invalid arguments: expected HEADER "
			    "field-name string";
			return false;
		}
		/* RFC 5322 §3.6.8 ftext: a name with other bytes is no
		 * field of any message. */
		for (i = 0; i < fn; i++) {
			if (f[i] <= 32 || f[i] >= 127 || f[i] == ':')
				break;
		}
		if (fn == 0 || i < fn) {
			nd->op = SEARCH_OP_NONE;
			return true;
		}
		nd->field = xmemdup0(f, fn);
		nd->str = search_lower_dup(p, n);
		nd->len = n;
		nd->hdr = true;
		return true;
	case SEARCH_ARG_MODSEQ:
		/* RFC 7162 §3.1.5: a message has one MODSEQ here, so the
		 * entry name and type are checked, then ignored. */
		if (args_string(a, &p, &n)) {
			if (n < 8 || strncasecmp((const char *)p, "/flags/",
			    7) != 0) {
				*why_r = "Invalid MODSEQ entry name";
				return false;
			}
			if (!args_word(a, "priv") && !args_word(a, "shared") &&
			    !args_word(a, "all")) {
				*why_r = "Invalid arguments: expected priv, "
				    "shared or all";
				return false;
			}
		}
		if (!args_atom(a, &p, &n) || !num_parse_u64(p, n, &v) ||
		    v > (uint64_t)INT64_MAX) {
			*why_r = "Invalid arguments: expected a mod-sequence "
			    "after MODSEQ";
			return false;
		}
		nd->num = (int64_t)v;
		return true;
	case SEARCH_ARG_STRING:
		if (!args_astring(a, &p, &n)) {
			*why_r = "Invalid arguments: expected a string after "
			    "a search key";
			return false;
		}
		nd->str = search_lower_dup(p, n);
		nd->len = n;
		if (d->field != NULL) {
			nd->field = xstrdup(d->field);
			nd->hdr = true;
		}
		return true;
	}
	return false;
}

/* A leaf key (or a sequence set) at the current argument. */
static bool
search_parse_key(struct args *a, struct search_program *prog,
    const char **why_r)
{
	const struct search_keydef *d;
	struct search_node *nd;
	const uint8_t *p;
	size_t n;

	if (!args_atom(a, &p, &n)) {
		*why_r = "Invalid arguments: expected a search key";
		return false;
	}
	if (p[0] == '*' || (p[0] >= '0' && p[0] <= '9')) {
		nd = search_add(prog, SEARCH_OP_SEQ);
		if (!seqset_parse(p, n, &nd->set)) {
			*why_r = "Invalid sequence set";
			return false;
		}
		return true;
	}
	if ((d = search_keydef_find(p, n)) == NULL) {
		*why_r = "Unknown search key";
		return false;
	}
	nd = search_add(prog, d->op);
	if (!search_parse_arg(a, d, nd, why_r))
		return false;
	if (nd->op == SEARCH_OP_HEADER || nd->op == SEARCH_OP_SENTBEFORE ||
	    nd->op == SEARCH_OP_SENTON || nd->op == SEARCH_OP_SENTSINCE) {
		nd->hdr = true;
		prog->needs_header = true;
	}
	if (nd->op == SEARCH_OP_BODY || nd->op == SEARCH_OP_TEXT) {
		/* The most expensive keys: evaluated last, like headers. */
		nd->hdr = true;
		prog->needs_header = true;
		prog->needs_body = true;
	}
	if (nd->op == SEARCH_OP_HEADER || nd->op == SEARCH_OP_BODY ||
	    nd->op == SEARCH_OP_TEXT) {
		/* Prepared once for the whole mailbox. */
		nd->tm = xmalloc(sizeof(*nd->tm));
		search_textmatch_init(nd->tm, nd->str, nd->len);
	}
	if (nd->op == SEARCH_OP_KEYWORD || nd->op == SEARCH_OP_UNKEYWORD)
		prog->needs_keywords = true;
	if (nd->op == SEARCH_OP_MODSEQ)
		prog->has_modseq = true;
	return true;
}

/* "CHARSET astring" at the start of the program. */
static enum search_parse_result
search_parse_charset(struct args *a, const char **why_r)
{
	const uint8_t *p;
	size_t n;

	if (!args_word(a, "CHARSET"))
		return SEARCH_PARSE_OK;
	if (!args_astring(a, &p, &n)) {
		*why_r = "Invalid arguments: expected a charset name";
		return SEARCH_PARSE_BAD;
	}
	if ((n == 8 && strncasecmp((const char *)p, "US-ASCII", 8) == 0) ||
	    (n == 5 && strncasecmp((const char *)p, "UTF-8", 5) == 0))
		return SEARCH_PARSE_OK;
	return SEARCH_PARSE_BADCHARSET;
}

/*
 * A key is complete: count it in the innermost open frame and close the
 * NOT and OR frames that it completes.
 */
static void
search_child_done(struct search_program *prog, struct search_frame *frames,
    unsigned *depth)
{
	for (;;) {
		struct search_frame *f = &frames[*depth];

		f->have++;
		if (f->want == 0 || f->have < f->want)
			return;
		search_close(prog, f->node);
		(*depth)--;
	}
}

static bool
search_parse_program(struct args *a, struct search_program *prog,
    const char **why_r)
{
	struct search_frame frames[SEARCH_DEPTH_MAX + 1];
	unsigned depth = 0;

	search_add(prog, SEARCH_OP_AND);
	frames[0].node = 0;
	frames[0].want = 0;
	frames[0].have = 0;
	for (;;) {
		struct search_frame *f = &frames[depth];
		unsigned want;

		if (args_end(a)) {
			if (depth > 0) {
				*why_r = f->want == 0 ? "Missing ) in search "
				    "program" : "NOT and OR need search keys";
				return false;
			}
			if (f->have == 0) {
				*why_r = "Invalid arguments: expected a "
				    "search key";
				return false;
			}
			search_close(prog, 0);
			return true;
		}
		if (args_list_close(a)) {
			if (depth == 0 || f->want != 0 || f->have == 0) {
				*why_r = depth == 0 || f->want != 0 ?
				    "Unexpected ) in search program" :
				    "Empty parenthesised search key";
				return false;
			}
			search_close(prog, f->node);
			depth--;
			search_child_done(prog, frames, &depth);
			continue;
		}
		if (prog->n >= SEARCH_NODES_MAX) {
			*why_r = "Search program too complex";
			return false;
		}
		if (args_list_open(a)) {
			want = 0;
			search_add(prog, SEARCH_OP_AND);
		} else if (args_word(a, "NOT")) {
			want = 1;
			search_add(prog, SEARCH_OP_NOT);
		} else if (args_word(a, "OR")) {
			want = 2;
			search_add(prog, SEARCH_OP_OR);
		} else {
			if (!search_parse_key(a, prog, why_r))
				return false;
			search_child_done(prog, frames, &depth);
			continue;
		}
		if (depth == SEARCH_DEPTH_MAX) {
			*why_r = "Search program too complex";
			return false;
		}
		depth++;
		frames[depth].node = prog->n - 1;
		frames[depth].want = want;
		frames[depth].have = 0;
	}
}

enum search_parse_result
search_parse(struct args *a, struct search_program **prog_r,
    const char **why_r)
{
	struct search_program *prog;
	enum search_parse_result r;

	*prog_r = NULL;
	r = search_parse_charset(a, why_r);
	if (r != SEARCH_PARSE_OK)
		return r;
	prog = xcalloc(1, sizeof(*prog));
	buf_init(&prog->scratch, MSGPART_HEADER_MAX);
	buf_init(&prog->dec, 4 * MSGPART_HEADER_MAX);
	if (!search_parse_program(a, prog, why_r)) {
		search_free(&prog);
		return SEARCH_PARSE_BAD;
	}
	*prog_r = prog;
	return SEARCH_PARSE_OK;
}

void
search_free(struct search_program **progp)
{
	struct search_program *prog = *progp;
	uint32_t i;

	if (prog == NULL)
		return;
	for (i = 0; i < prog->n; i++) {
		free(prog->v[i].field);
		free(prog->v[i].str);
		seqset_free(&prog->v[i].set);
		if (prog->v[i].tm != NULL) {
			search_textmatch_free(prog->v[i].tm);
			free(prog->v[i].tm);
		}
	}
	free(prog->v);
	buf_free(&prog->scratch);
	buf_free(&prog->dec);
	free(prog);
	*progp = NULL;
}

bool
search_needs_header(const struct search_program *prog)
{
	return prog->needs_header;
}

bool
search_needs_body(const struct search_program *prog)
{
	return prog->needs_body;
}

bool
search_needs_keywords(const struct search_program *prog)
{
	return prog->needs_keywords;
}

bool
search_has_modseq(const struct search_program *prog)
{
	return prog->has_modseq;
}

bool
search_has_seqnums(const struct search_program *prog)
{
	uint32_t i;

	for (i = 0; i < prog->n; i++) {
		if (prog->v[i].op == SEARCH_OP_SEQ)
			return true;
	}
	return false;
}

void
search_resolve_keywords(struct search_program *prog, search_keyword_fn *fn,
    void *ctx)
{
	uint32_t i;

	for (i = 0; i < prog->n; i++) {
		struct search_node *nd = &prog->v[i];
		int k;

		if (nd->op != SEARCH_OP_KEYWORD &&
		    nd->op != SEARCH_OP_UNKEYWORD)
			continue;
		k = fn(ctx, (const char *)nd->str);
		nd->num = k >= 0 && k < STORE_KEYWORDS_MAX ? k : -1;
	}
}

void
search_prepare(struct search_program *prog, uint32_t nmsgs, uint32_t max_uid)
{
	uint32_t i;

	for (i = 0; i < prog->n; i++) {
		struct search_node *nd = &prog->v[i];

		if (nd->op == SEARCH_OP_SEQ)
			seqset_resolve(&nd->set, nmsgs);
		else if (nd->op == SEARCH_OP_UID)
			seqset_resolve(&nd->set, max_uid);
	}
}

void
search_bounds(const struct search_program *prog, uint32_t *min_seq_r,
    uint32_t *min_uid_r)
{
	const struct search_node *root = &prog->v[0];
	uint32_t k;

	*min_seq_r = 1;
	*min_uid_r = 1;
	for (k = 1; k < root->end; k = prog->v[k].end) {
		const struct search_node *nd = &prog->v[k];

		if (nd->set.n == 0)
			continue;
		if (nd->op == SEARCH_OP_SEQ && nd->set.r[0].lo > *min_seq_r)
			*min_seq_r = nd->set.r[0].lo;
		if (nd->op == SEARCH_OP_UID && nd->set.r[0].lo > *min_uid_r)
			*min_uid_r = nd->set.r[0].lo;
	}
}

/* ---- Case-insensitive text matching ---- */

/* ASCII letters to small; every other byte unchanged. */
static const uint8_t search_lower[256] = {
#define L4(c) (c), (c) + 1, (c) + 2, (c) + 3
#define L16(c) L4(c), L4((c) + 4), L4((c) + 8), L4((c) + 12)
	L16(0x00), L16(0x10), L16(0x20), L16(0x30),
	0x40, L4('a'), L4('e'), L4('i'), L4('m'), L4('q'), L4('u'), 'y', 'z',
	0x5b, 0x5c, 0x5d, 0x5e, 0x5f,
	L16(0x60), L16(0x70), L16(0x80), L16(0x90), L16(0xa0), L16(0xb0),
	L16(0xc0), L16(0xd0), L16(0xe0), L16(0xf0),
#undef L16
#undef L4
};

void
search_textmatch_init(struct search_textmatch *t, const uint8_t *needle,
    size_t n)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	t->needle = (uint8_t *)xmemdup0(needle, n);
	t->n = n;
	t->ascii = true;
	for (i = 0; i < n; i++) {
		if (needle[i] >= 0x80)
			t->ascii = false;
		t->needle[i] = search_lower[needle[i]];
	}
	search_textmatch_reset(t);
}

void
search_textmatch_reset(struct search_textmatch *t)
{
	t->wlen = 0;
	t->lead = 0;
	if (t->ascii) {
		t->found = t->n == 0;
		return;
	}
	/* The code-point matcher keeps its state private: start afresh. */
	if (t->slow_init)
		mime_text_match_free(&t->slow);
	mime_text_match_init(&t->slow, t->needle, t->n);
	t->slow_init = true;
	t->found = t->slow.found;
}

/*
 * The ASCII path. A character that mime_text_fold maps into ASCII is
 * written as that ASCII letter (U+0130 C4 B0 -> 'i', U+017F C5 BF -> 's');
 * ASCII letters are lowered; all other bytes are copied as they are: they
 * belong to characters (or invalid bytes) that fold to no ASCII code
 * point, so they cannot match a byte of the needle, and they break a
 * match exactly as the character they belong to does.
 */
static bool
search_textmatch_ascii(struct search_textmatch *t, const uint8_t *p, size_t n)
{
	size_t i = 0, keep;
	uint8_t *d;

	if (n == 0)
		return false;
	if (t->wcap - t->wlen < n + 1) {
		/* The window never holds more than n - 1 + one piece. */
		if (n + 1 > SIZE_MAX - t->wlen)
			return false;
		t->wcap = t->wlen + n + 1;
		t->win = xreallocarray(t->win, t->wcap, 1);
	}
	d = t->win + t->wlen;
	if (t->lead != 0) {
		/* The lead byte held back at the end of the last piece. */
		if (t->lead == 0xc4 && p[0] == 0xb0)
			*d++ = 'i', i = 1;
		else if (t->lead == 0xc5 && p[0] == 0xbf)
			*d++ = 's', i = 1;
		else
			*d++ = t->lead;
		t->lead = 0;
	}
	for (; i < n; i++) {
		uint8_t c = p[i];

		if (c != 0xc4 && c != 0xc5) {
			*d++ = search_lower[c];
			continue;
		}
		if (i + 1 == n) {
			t->lead = c;
			break;
		}
		if (c == 0xc4 && p[i + 1] == 0xb0)
			*d++ = 'i', i++;
		else if (c == 0xc5 && p[i + 1] == 0xbf)
			*d++ = 's', i++;
		else
			*d++ = c;
	}
	t->wlen = (size_t)(d - t->win);
	if (t->wlen >= t->n && memmem(t->win, t->wlen, t->needle, t->n) !=
	    NULL)
		return true;
	/* A match may still begin in the last n - 1 bytes. */
	keep = t->n - 1 < t->wlen ? t->n - 1 : t->wlen;
	memmove(t->win, t->win + t->wlen - keep, keep);
	t->wlen = keep;
	return false;
}

bool
search_textmatch_feed(struct search_textmatch *t, const uint8_t *p, size_t n)
{
	if (t->found)
		return true;
	if (t->ascii)
		t->found = search_textmatch_ascii(t, p, n);
	else
		t->found = mime_text_match_feed(&t->slow, p, n);
	return t->found;
}

bool
search_textmatch_contains(struct search_textmatch *t, const uint8_t *hay,
    size_t n)
{
	search_textmatch_reset(t);
	return search_textmatch_feed(t, hay, n);
}

void
search_textmatch_free(struct search_textmatch *t)
{
	if (t->slow_init)
		mime_text_match_free(&t->slow);
	t->slow_init = false;
	xfree(&t->win);
	t->wlen = t->wcap = 0;
	xfree(&t->needle);
}

/* ---- Matching ---- */

struct search_eval {
	struct search_program *prog;
	const struct search_msg *m;
	search_header_fn *hdr_fn;
	void *hdr_ctx;
	bool hdr_loaded;
	const uint8_t *hdr;
	size_t hdrlen;
	int sent;		/* 0: not parsed yet, 1: sent_day, -1: none */
	int64_t sent_day;
	/* one HEADER key */
	const struct search_node *key;
	bool found;
};

static void
search_load_header(struct search_eval *ev)
{
	if (ev->hdr_loaded)
		return;
	ev->hdr_loaded = true;
	if (ev->hdr_fn == NULL ||
	    !ev->hdr_fn(ev->hdr_ctx, &ev->hdr, &ev->hdrlen)) {
		ev->hdr = NULL;
		ev->hdrlen = 0;
	}
}

/* msgpart_fields callback: one occurrence of a HEADER key's field. The
 * value is unfolded (CR and LF removed, RFC 5322 §2.2.3) into the scratch
 * buffer; what clients see is its RFC 2047 encoded words decoded to
 * UTF-8, matched case-insensitively on code points. Nothing is allocated
 * per field: both buffers belong to the program. */
static void
search_field_cb(void *ctx, const uint8_t *v, size_t n)
{
	struct search_eval *ev = ctx;
	struct buf *b = &ev->prog->scratch;
	const uint8_t *p = v, *end = v + n, *cr;

	if (ev->found)
		return;
	if (ev->key->len == 0) {
		ev->found = true;
		return;
	}
	buf_reset(b);
	/* Copy the runs between line ends; most values have none. */
	while (p < end) {
		const uint8_t *lf = memchr(p, '\n', (size_t)(end - p));
		const uint8_t *stop = lf != NULL ? lf : end;

		if ((cr = memchr(p, '\r', (size_t)(stop - p))) != NULL)
			stop = cr;
		if (buf_add(b, p, (size_t)(stop - p)) < 0)
			return;	/* within the header maximum: cannot be */
		p = stop < end ? stop + 1 : end;
	}
	if (b->len == 0)
		return;
	/* Without "=?" there is no encoded word, and decoding would copy
	 * the bytes unchanged. */
	if (memmem(b->data, b->len, "=?", 2) != NULL) {
		buf_reset(&ev->prog->dec);
		if (mime_text_decode_header(b->data, b->len,
		    &ev->prog->dec) == 0) {
			ev->found = search_textmatch_contains(ev->key->tm,
			    ev->prog->dec.data, ev->prog->dec.len);
			return;
		}
	}
	ev->found = search_textmatch_contains(ev->key->tm, b->data, b->len);
}

static bool
search_header_key(struct search_eval *ev, const struct search_node *nd)
{
	search_load_header(ev);
	ev->key = nd;
	ev->found = false;
	(void)msgpart_fields(ev->hdr, ev->hdrlen, nd->field, search_field_cb,
	    ev);
	return ev->found;
}

static void
search_date_cb(void *ctx, const uint8_t *v, size_t n)
{
	struct search_eval *ev = ctx;

	/* Only the first Date: field counts. */
	if (ev->sent != 0)
		return;
	ev->sent = search_parse_sent_date(v, n, &ev->sent_day) ? 1 : -1;
}

/* The sent date of the message; false if it has none that parses. */
static bool
search_sent_day(struct search_eval *ev, int64_t *day_r)
{
	if (ev->sent == 0) {
		search_load_header(ev);
		(void)msgpart_fields(ev->hdr, ev->hdrlen, "Date",
		    search_date_cb, ev);
		if (ev->sent == 0)
			ev->sent = -1;
	}
	*day_r = ev->sent_day;
	return ev->sent == 1;
}

/* The INTERNALDATE's day in the zone it was given in. */
static int64_t
search_internal_day(const struct store_msg *r)
{
	int64_t local = r->internaldate + (int64_t)r->tzoff * 60;

	return local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
}

/*
 * Evaluates node i. Recursion follows the nesting of NOT, OR and
 * parentheses, which search_parse bounds by SEARCH_DEPTH_MAX.
 */
static bool
search_eval_node(struct search_eval *ev, uint32_t i)
{
	const struct search_node *nd = &ev->prog->v[i];
	const struct store_msg *r = ev->m->rec;
	uint32_t k, a, b;
	int64_t day;
	int pass;

	switch ((enum search_op)nd->op) {
	case SEARCH_OP_AND:
		/* Keys without the header first. */
		for (pass = 0; pass < 2; pass++) {
			for (k = i + 1; k < nd->end; k = ev->prog->v[k].end) {
				if (ev->prog->v[k].hdr != (pass == 1))
					continue;
				if (!search_eval_node(ev, k))
					return false;
			}
		}
		return true;
	case SEARCH_OP_OR:
		a = i + 1;
		b = ev->prog->v[a].end;
		if (ev->prog->v[a].hdr && !ev->prog->v[b].hdr) {
			k = a;
			a = b;
			b = k;
		}
		return search_eval_node(ev, a) || search_eval_node(ev, b);
	case SEARCH_OP_NOT:
		return !search_eval_node(ev, i + 1);
	case SEARCH_OP_ALL:
		return true;
	case SEARCH_OP_NONE:
		return false;
	case SEARCH_OP_SEQ:
		return seqset_contains(&nd->set, ev->m->seq);
	case SEARCH_OP_UID:
		return seqset_contains(&nd->set, r->uid);
	case SEARCH_OP_FLAGS_ON:
		return (r->flags & (uint32_t)nd->num) == (uint32_t)nd->num;
	case SEARCH_OP_FLAGS_OFF:
		return (r->flags & (uint32_t)nd->num) == 0;
	case SEARCH_OP_RECENT:
		return ev->m->recent;
	case SEARCH_OP_NEW:
		return ev->m->recent && (r->flags & STORE_FLAG_SEEN) == 0;
	case SEARCH_OP_OLD:
		return !ev->m->recent;
	case SEARCH_OP_KEYWORD:
		return nd->num >= 0 && (r->keywords >> nd->num) & 1;
	case SEARCH_OP_UNKEYWORD:
		return nd->num < 0 || ((r->keywords >> nd->num) & 1) == 0;
	case SEARCH_OP_LARGER:
		return r->size > (uint64_t)nd->num;
	case SEARCH_OP_SMALLER:
		return r->size < (uint64_t)nd->num;
	case SEARCH_OP_BEFORE:
		return search_internal_day(r) < nd->num;
	case SEARCH_OP_ON:
		return search_internal_day(r) == nd->num;
	case SEARCH_OP_SINCE:
		return search_internal_day(r) >= nd->num;
	case SEARCH_OP_SENTBEFORE:
		return search_sent_day(ev, &day) && day < nd->num;
	case SEARCH_OP_SENTON:
		return search_sent_day(ev, &day) && day == nd->num;
	case SEARCH_OP_SENTSINCE:
		return search_sent_day(ev, &day) && day >= nd->num;
	case SEARCH_OP_HEADER:
		return search_header_key(ev, nd);
	case SEARCH_OP_BODY:
	case SEARCH_OP_TEXT:
		return ev->m->body != NULL && ev->m->body(ev->m->body_ctx,
		    nd->tm, nd->op == SEARCH_OP_TEXT);
	case SEARCH_OP_MODSEQ:
		return r->modseq >= (uint64_t)nd->num;
	}
	return false;
}

bool
search_match(struct search_program *prog, const struct search_msg *m,
    search_header_fn *hdr, void *hdr_ctx)
{
	struct search_eval ev;

	memset(&ev, 0, sizeof(ev));
	ev.prog = prog;
	ev.m = m;
	ev.hdr_fn = hdr;
	ev.hdr_ctx = hdr_ctx;
	return search_eval_node(&ev, 0);
}

