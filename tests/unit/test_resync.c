/*
 * test_resync.c: the pieces of the resync extensions that can be tested
 * alone: mod-sequence arguments and FETCH modifiers (RFC 7162 §3.1.4.1,
 * §3.2.6, §7), the SEARCH MODSEQ key (§3.1.5), and the special-use
 * mailboxes of a new user (RFC 6154, store_user_init_special).
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <CUnit/CUnit.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/capa.h"
#include "../../server/resync.h"
#include "../../server/search.h"
#include "../../store/store.h"

extern int resync_suite_init(void);
extern int resync_suite_clean(void);
extern void test_resync_modseq_arg(void);
extern void test_resync_fetch_modifiers(void);
extern void test_resync_search_modseq(void);
extern void test_resync_user_init_special(void);

static char resync_tmp[] = "/tmp/refimapd-test-resync-XXXXXX";

int resync_suite_init(void)
{
	return mkdtemp(resync_tmp) == NULL ? -1 : 0;
}

static int
resync_rm(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

int resync_suite_clean(void)
{
	return nftw(resync_tmp, resync_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- arguments from a line: ( ) lists, "..." strings, atoms ---- */

#define R_ARGS_MAX	64

static struct arg r_argv[R_ARGS_MAX];
static char r_text[R_ARGS_MAX][64];
static struct args r_args;

static struct args *
r_args_of(const char *line)
{
	const char *p = line;
	size_t n = 0;

	while (*p != '\0') {
		struct arg *g = &r_argv[n];
		size_t len = 0;

		if (*p == ' ') {
			p++;
			continue;
		}
		CU_ASSERT_FATAL(n < R_ARGS_MAX);
		memset(g, 0, sizeof(*g));
		if (*p == '(' || *p == ')') {
			g->type = *p == '(' ? ARG_LIST_OPEN : ARG_LIST_CLOSE;
			p++;
			n++;
			continue;
		}
		if (*p == '"') {
			g->type = ARG_STRING;
			p++;
			while (p[len] != '"' && p[len] != '\0')
				len++;
		} else {
			g->type = ARG_ATOM;
			while (p[len] != '\0' && p[len] != ' ' &&
			    p[len] != '(' && p[len] != ')')
				len++;
		}
		CU_ASSERT_FATAL(len < sizeof(r_text[n]));
		memcpy(r_text[n], p, len);
		r_text[n][len] = '\0';
		g->data = (const uint8_t *)r_text[n];
		g->len = len;
		p += len;
		if (g->type == ARG_STRING && *p == '"')
			p++;
		n++;
	}
	r_args.v = r_argv;
	r_args.n = n;
	r_args.i = 0;
	return &r_args;
}

void
test_resync_modseq_arg(void)
{
	struct args *a;
	uint64_t v = 77;

	a = r_args_of("0");
	CU_ASSERT_FALSE(resync_modseq_arg(a, false, &v));
	CU_ASSERT_EQUAL(a->i, 0);	/* not advanced */
	CU_ASSERT_TRUE(resync_modseq_arg(a, true, &v));
	CU_ASSERT_EQUAL(v, 0);
	a = r_args_of("9223372036854775807");
	CU_ASSERT_TRUE(resync_modseq_arg(a, false, &v));
	CU_ASSERT_EQUAL(v, (uint64_t)INT64_MAX);
	/* 63 bits only (RFC 7162 §7) */
	a = r_args_of("9223372036854775808");
	CU_ASSERT_FALSE(resync_modseq_arg(a, true, &v));
	a = r_args_of("18446744073709551616");
	CU_ASSERT_FALSE(resync_modseq_arg(a, true, &v));
	a = r_args_of("12x");
	CU_ASSERT_FALSE(resync_modseq_arg(a, true, &v));
	a = r_args_of("\"12\"");
	CU_ASSERT_FALSE(resync_modseq_arg(a, true, &v));
	a = r_args_of("-1");
	CU_ASSERT_FALSE(resync_modseq_arg(a, true, &v));
}

void
test_resync_fetch_modifiers(void)
{
	struct session s;
	struct resync_fetch_mod m;
	const char *why = NULL;
	struct args *a;

	memset(&s, 0, sizeof(s));
	s.capa = CAPA_ALL;	/* CONDSTORE on (server/capa.h) */
	/* No list: no modifiers, nothing read. */
	a = r_args_of("FLAGS");
	a->i = 1;
	CU_ASSERT_TRUE(resync_fetch_modifiers(&s, a, &m, &why));
	CU_ASSERT_FALSE(m.changedsince);
	a = r_args_of("(CHANGEDSINCE 12345)");
	CU_ASSERT_TRUE(resync_fetch_modifiers(&s, a, &m, &why));
	CU_ASSERT_TRUE(m.changedsince);
	CU_ASSERT_EQUAL(m.modseq, 12345);
	CU_ASSERT_FALSE(m.vanished);
	CU_ASSERT_TRUE(args_end(a));
	/* VANISHED: UID FETCH only, after ENABLE QRESYNC, with
	 * CHANGEDSINCE (§3.2.6). */
	a = r_args_of("(changedsince 5 vanished)");
	CU_ASSERT_FALSE(resync_fetch_modifiers(&s, a, &m, &why));
	CU_ASSERT_STRING_EQUAL(why, "VANISHED is allowed only in UID FETCH");
	s.uid = true;
	a = r_args_of("(CHANGEDSINCE 5 VANISHED)");
	CU_ASSERT_FALSE(resync_fetch_modifiers(&s, a, &m, &why));
	CU_ASSERT_STRING_EQUAL(why, "VANISHED needs ENABLE QRESYNC");
	s.qresync = true;
	a = r_args_of("(VANISHED CHANGEDSINCE 5)");
	CU_ASSERT_TRUE(resync_fetch_modifiers(&s, a, &m, &why));
	CU_ASSERT_TRUE(m.vanished);
	CU_ASSERT_EQUAL(m.modseq, 5);
	a = r_args_of("(VANISHED)");
	CU_ASSERT_FALSE(resync_fetch_modifiers(&s, a, &m, &why));
	CU_ASSERT_STRING_EQUAL(why, "VANISHED needs CHANGEDSINCE");
	/* Syntax: at least one modifier, no repeats, a mod-sequence-value. */
	a = r_args_of("()");
	CU_ASSERT_FALSE(resync_fetch_modifiers(&s, a, &m, &why));
	a = r_args_of("(CHANGEDSINCE 0)");
	CU_ASSERT_FALSE(resync_fetch_modifiers(&s, a, &m, &why));
	a = r_args_of("(CHANGEDSINCE)");
	CU_ASSERT_FALSE(resync_fetch_modifiers(&s, a, &m, &why));
	a = r_args_of("(CHANGEDSINCE 1 CHANGEDSINCE 2)");
	CU_ASSERT_FALSE(resync_fetch_modifiers(&s, a, &m, &why));
	a = r_args_of("(CHANGEDSINCE 1");
	CU_ASSERT_FALSE(resync_fetch_modifiers(&s, a, &m, &why));
}

/* Parses a SEARCH program and matches one record with that MODSEQ. */
static int
r_search(const char *line, uint64_t modseq)
{
	struct search_program *prog = NULL;
	struct store_msg rec;
	struct search_msg m;
	const char *why = NULL;
	int r;

	if (search_parse(r_args_of(line), &prog, &why) != SEARCH_PARSE_OK)
		return -1;
	memset(&rec, 0, sizeof(rec));
	rec.uid = 1;
	rec.modseq = modseq;
	m.rec = &rec;
	m.seq = 1;
	m.recent = false;
	search_prepare(prog, 1, 1);
	r = search_has_modseq(prog) ? 2 : 0;
	r |= search_match(prog, &m, NULL, NULL) ? 1 : 0;
	search_free(&prog);
	return r;
}

void
test_resync_search_modseq(void)
{
	/* "equal to or greater than" (§3.1.5); bit 2: has MODSEQ */
	CU_ASSERT_EQUAL(r_search("MODSEQ 5", 4), 2);
	CU_ASSERT_EQUAL(r_search("MODSEQ 5", 5), 3);
	CU_ASSERT_EQUAL(r_search("MODSEQ 5", 6), 3);
	CU_ASSERT_EQUAL(r_search("MODSEQ 0", 1), 3);
	CU_ASSERT_EQUAL(r_search("NOT MODSEQ 5", 4), 3);
	CU_ASSERT_EQUAL(r_search("ALL", 4), 1);
	/* The entry-name form: checked, then ignored. */
	CU_ASSERT_EQUAL(r_search("MODSEQ \"/flags/\\\\draft\" all 7", 7), 3);
	CU_ASSERT_EQUAL(r_search("MODSEQ \"/flags/$MDNSent\" priv 7", 6), 2);
	CU_ASSERT_EQUAL(r_search("MODSEQ \"/flags/x\" shared 7", 8), 3);
	CU_ASSERT_EQUAL(r_search("MODSEQ \"/flags/x\" both 7", 8), -1);
	CU_ASSERT_EQUAL(r_search("MODSEQ \"/other/x\" all 7", 8), -1);
	CU_ASSERT_EQUAL(r_search("MODSEQ \"/flags/x\" all", 8), -1);
	CU_ASSERT_EQUAL(r_search("MODSEQ", 8), -1);
	CU_ASSERT_EQUAL(r_search("MODSEQ x", 8), -1);
	CU_ASSERT_EQUAL(r_search("MODSEQ 9223372036854775808", 8), -1);
}

struct r_list {
	char names[16][16];
	uint32_t flags[16];
	size_t n;
};

static int
r_list_cb(void *ctx, const char *name, const struct store_mbox *mb)
{
	struct r_list *l = ctx;

	if (l->n < 16) {
		(void)snprintf(l->names[l->n], sizeof(l->names[0]), "%s", name);
		l->flags[l->n] = mb->flags;
		l->n++;
	}
	return 0;
}

void
test_resync_user_init_special(void)
{
	static const struct {
		const char *name;
		uint32_t flags;
	} want[] = {
		{ "Archive", STORE_MBOX_ARCHIVE },
		{ "Drafts", STORE_MBOX_DRAFTS },
		{ "INBOX", 0 }, { "Junk", STORE_MBOX_JUNK },
		{ "Sent", STORE_MBOX_SENT }, { "Trash", STORE_MBOX_TRASH },
	};
	struct store_options opt = { .create = true, .nosync = true };
	struct store *st = NULL;
	struct store_mbox mb;
	struct r_list l;
	const char *error;
	char dir[256];
	size_t i;

	CU_ASSERT_FATAL(snprintf(dir, sizeof(dir), "%s/d", resync_tmp) > 0);
	CU_ASSERT_EQUAL_FATAL(store_open(dir, &opt, &st, &error), STORE_OK);
	/* A new user: INBOX and the five, with their flags. */
	CU_ASSERT_EQUAL(store_user_init_special(st, "u"), STORE_OK);
	memset(&l, 0, sizeof(l));
	CU_ASSERT_EQUAL(store_mbox_list(st, "u", "", r_list_cb, &l), STORE_OK);
	CU_ASSERT_EQUAL_FATAL(l.n, 6);
	for (i = 0; i < 6; i++) {
		CU_ASSERT_STRING_EQUAL(l.names[i], want[i].name);
		CU_ASSERT_EQUAL(l.flags[i], want[i].flags);
	}
	/* An existing user: nothing is created again, a deleted Trash
	 * stays deleted. */
	CU_ASSERT_EQUAL(store_mbox_delete(st, "u", "Trash"), STORE_OK);
	CU_ASSERT_EQUAL(store_user_init_special(st, "u"), STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_get(st, "u", "Trash", &mb),
	    STORE_ERR_NOTFOUND);
	/* A user whose INBOX came from store_user_init is an existing
	 * user too. */
	CU_ASSERT_EQUAL(store_user_init(st, "v"), STORE_OK);
	CU_ASSERT_EQUAL(store_user_init_special(st, "v"), STORE_OK);
	memset(&l, 0, sizeof(l));
	CU_ASSERT_EQUAL(store_mbox_list(st, "v", "", r_list_cb, &l), STORE_OK);
	CU_ASSERT_EQUAL(l.n, 1);
	/* A name the user already has is left as it is. */
	CU_ASSERT_EQUAL(store_mbox_create(st, "w", "Sent", 0, NULL), STORE_OK);
	CU_ASSERT_EQUAL(store_user_init_special(st, "w"), STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_get(st, "w", "Sent", &mb), STORE_OK);
	CU_ASSERT_EQUAL(mb.flags, 0);
	CU_ASSERT_EQUAL(store_mbox_get(st, "w", "Drafts", &mb), STORE_OK);
	CU_ASSERT_EQUAL(mb.flags, STORE_MBOX_DRAFTS);
	store_close(&st);
}
