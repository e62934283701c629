/*
 * test_store.c: the mailbox layer of the store against a real Berkeley DB
 * environment in a fresh temporary directory: CREATE, DELETE, RENAME
 * semantics (RFC 3501 §6.3.3-6.3.5), UIDVALIDITY growth, subscriptions,
 * users, injected faults, concurrent processes, and kill -9 recovery.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <CUnit/CUnit.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../lib/buf.h"
#include "../../lib/log.h"
#include "../../lib/xalloc.h"
#include "../../store/store.h"
#include "../../store/store_int.h"

/*
 * Prototypes for -Wmissing-prototypes. "extern" keeps gen_registry.sh,
 * which registers lines starting "void test_", from counting them twice.
 */
extern int store_suite_init(void);
extern int store_suite_clean(void);
extern void test_store_open_reopen(void);
extern void test_store_create_get_list(void);
extern void test_store_list_stop(void);
extern void test_store_create_superiors(void);
extern void test_store_create_exists(void);
extern void test_store_delete_leaf(void);
extern void test_store_delete_children(void);
extern void test_store_placeholder_reuse(void);
extern void test_store_delete_prune(void);
extern void test_store_rename_inferiors(void);
extern void test_store_rename_invalid(void);
extern void test_store_rename_exists(void);
extern void test_store_rename_inbox(void);
extern void test_store_uidvalidity_grows(void);
extern void test_store_subscriptions(void);
extern void test_store_user_init(void);
extern void test_store_user_delete(void);
extern void test_store_fault_injection(void);
extern void test_store_concurrent(void);
extern void test_store_kill_recovery(void);
extern void test_store_deadlock_retry(void);
extern void test_store_panic_reopen(void);
extern void test_store_recovery_after_one_died(void);

static char store_tmp[] = "/tmp/refimapd-test-store-XXXXXX";
static unsigned store_dirs;

int store_suite_init(void)
{
	return mkdtemp(store_tmp) == NULL ? -1 : 0;
}

static int
rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

int store_suite_clean(void)
{
	return nftw(store_tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A new, empty data directory name under the suite's temp dir. */
static void
new_dir(char *path, size_t len)
{
	int n = snprintf(path, len, "%s/d%u", store_tmp, store_dirs++);

	CU_ASSERT_FATAL(n > 0 && (size_t)n < len);
}

static struct store *
open_dir(const char *dir, bool create)
{
	struct store_options opt = { .create = create, .nosync = true };
	struct store *st = NULL;
	const char *error;
	enum store_err e;

	e = store_open(dir, &opt, &st, &error);
	CU_ASSERT_EQUAL_FATAL(e, STORE_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	return st;
}

static struct store *
open_fresh(char *dir, size_t len)
{
	new_dir(dir, len);
	return open_dir(dir, true);
}

static bool
exists(struct store *st, const char *user, const char *name,
    struct store_mbox *mb_r)
{
	struct store_mbox mb;
	enum store_err e = store_mbox_get(st, user, name, &mb);

	CU_ASSERT(e == STORE_OK || e == STORE_ERR_NOTFOUND);
	if (mb_r != NULL && e == STORE_OK)
		*mb_r = mb;
	return e == STORE_OK;
}

/* Collects "name" or "name(N)" (for \Noselect), space-separated. */
static int
list_cb(void *ctx, const char *name, const struct store_mbox *mb)
{
	struct buf *b = ctx;

	CU_ASSERT_FATAL(buf_adds(b, name) == 0);
	if (mb->flags & STORE_MBOX_NOSELECT)
		CU_ASSERT_FATAL(buf_adds(b, "(N)") == 0);
	CU_ASSERT_FATAL(buf_adds(b, " ") == 0);
	return 0;
}

/* The user's mailboxes as one string "a b(N) b/c ". */
static void
list_str(struct store *st, const char *user, const char *prefix,
    struct buf *b)
{
	buf_reset(b);
	CU_ASSERT_EQUAL(store_mbox_list(st, user, prefix, list_cb, b),
	    STORE_OK);
}

#define ASSERT_LIST(st, user, prefix, expect) do {			\
	struct buf lb_ = BUF_INITIALIZER(1 << 20);			\
	list_str((st), (user), (prefix), &lb_);				\
	CU_ASSERT_STRING_EQUAL(buf_cstr(&lb_), (expect));		\
	buf_free(&lb_);							\
} while (0)

void test_store_open_reopen(void)
{
	struct store_options opt = { .create = false, .nosync = true };
	char dir[512], path[600];
	struct store *st, *st2 = NULL;
	struct store_mbox a, b;
	struct stat sb;
	const char *error = NULL;

	new_dir(dir, sizeof(dir));
	/* Without create, a missing store is an error with a text. */
	st = NULL;
	log_set_level(LOG_CRIT);
	CU_ASSERT_EQUAL(store_open(dir, &opt, &st, &error), STORE_ERR_IO);
	log_set_level(LOG_WARNING);
	CU_ASSERT_PTR_NULL(st);
	CU_ASSERT_PTR_NOT_NULL(error);

	st = open_dir(dir, true);
	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "a", STORE_MBOX_SENT, &a),
	    STORE_OK);
	store_close(&st);
	CU_ASSERT_PTR_NULL(st);
	store_close(&st);	/* NULL is fine */

	snprintf(path, sizeof(path), "%s/db", dir);
	CU_ASSERT_EQUAL_FATAL(stat(path, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/db/mailboxes.db", dir);
	CU_ASSERT_EQUAL_FATAL(stat(path, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 0777, 0600);

	st = open_dir(dir, false);
	/* DB_REGISTER: one handle per process */
	log_set_level(LOG_CRIT);
	CU_ASSERT_EQUAL(store_open(dir, &opt, &st2, &error), STORE_ERR_IO);
	log_set_level(LOG_WARNING);
	CU_ASSERT_PTR_NULL(st2);
	CU_ASSERT_EQUAL(store_mbox_get(st, "u", "a", &b), STORE_OK);
	CU_ASSERT_EQUAL(b.id, a.id);
	CU_ASSERT_EQUAL(b.uidvalidity, a.uidvalidity);
	CU_ASSERT_EQUAL(b.uidnext, 1);
	CU_ASSERT_EQUAL(b.messages, 0);
	CU_ASSERT_EQUAL(b.flags, STORE_MBOX_SENT);
	store_close(&st);
}

void test_store_create_get_list(void)
{
	char dir[512];
	struct store *st = open_fresh(dir, sizeof(dir));
	struct store_mbox mb;

	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "b", 0, NULL), STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "a.b", 0, NULL), STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "a/x", 0, NULL), STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "B", 0, NULL), STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_create(st, "u2", "zz", 0, NULL), STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "Tr", STORE_MBOX_TRASH |
	    STORE_MBOX_NOSELECT, &mb), STORE_OK);
	CU_ASSERT_EQUAL(mb.flags, STORE_MBOX_TRASH);	/* no \Noselect */
	ASSERT_LIST(st, "u", "", "B Tr a a.b a/x b ");
	ASSERT_LIST(st, "u", "a", "a a.b a/x ");
	ASSERT_LIST(st, "u", "a/", "a/x ");
	ASSERT_LIST(st, "u", "nothing", "");
	ASSERT_LIST(st, "u2", "", "zz ");
	ASSERT_LIST(st, "u3", "", "");
	CU_ASSERT_EQUAL(store_mbox_get(st, "u", "c", &mb), STORE_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(store_mbox_get(st, "u2", "b", &mb),
	    STORE_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(store_mbox_create(st, "", "x", 0, NULL),
	    STORE_ERR_INVALID);
	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "", 0, NULL),
	    STORE_ERR_INVALID);
	store_close(&st);
}

static int
stop_cb(void *ctx, const char *name, const struct store_mbox *mb)
{
	unsigned *n = ctx;

	return ++*n == 2;
}

void test_store_list_stop(void)
{
	char dir[512];
	struct store *st = open_fresh(dir, sizeof(dir));
	unsigned n = 0;

	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "a/b/c", 0, NULL),
	    STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_list(st, "u", "", stop_cb, &n), STORE_OK);
	CU_ASSERT_EQUAL(n, 2);
	store_close(&st);
}

void test_store_create_superiors(void)
{
	char dir[512];
	struct store *st = open_fresh(dir, sizeof(dir));
	struct store_mbox p, pq, pqr;
	bool r;

	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "p/q/r", 0, &pqr),
	    STORE_OK);
	CU_ASSERT(exists(st, "u", "p", &p));
	CU_ASSERT(exists(st, "u", "p/q", &pq));
	CU_ASSERT_EQUAL(p.flags, 0);
	CU_ASSERT_EQUAL(pq.flags, 0);
	CU_ASSERT_EQUAL(pqr.uidnext, 1);
	CU_ASSERT(p.id < pq.id && pq.id < pqr.id);
	CU_ASSERT(p.uidvalidity < pq.uidvalidity &&
	    pq.uidvalidity < pqr.uidvalidity);
	CU_ASSERT_EQUAL(store_mbox_has_children(st, "u", "p", &r), STORE_OK);
	CU_ASSERT(r);
	CU_ASSERT_EQUAL(store_mbox_has_children(st, "u", "p/q/r", &r),
	    STORE_OK);
	CU_ASSERT(!r);
	/* "p/q" is a prefix of "p/qx" but not its superior */
	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "p/qx", 0, NULL), STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_has_children(st, "u", "p/qx", &r),
	    STORE_OK);
	CU_ASSERT(!r);
	ASSERT_LIST(st, "u", "", "p p/q p/q/r p/qx ");
	store_close(&st);
}

void test_store_create_exists(void)
{
	char dir[512];
	struct store *st = open_fresh(dir, sizeof(dir));
	struct store_mbox a, b;

	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "a/b", 0, &a), STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "a/b", 0, NULL),
	    STORE_ERR_EXISTS);
	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "a", 0, NULL),
	    STORE_ERR_EXISTS);
	CU_ASSERT(exists(st, "u", "a/b", &b));
	CU_ASSERT_EQUAL(a.id, b.id);
	CU_ASSERT_EQUAL(a.uidvalidity, b.uidvalidity);
	store_close(&st);
}

void test_store_delete_leaf(void)
{
	char dir[512];
	struct store *st = open_fresh(dir, sizeof(dir));

	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "x", 0, NULL), STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "y/z", 0, NULL), STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_delete(st, "u", "x"), STORE_OK);
	CU_ASSERT(!exists(st, "u", "x", NULL));
	CU_ASSERT_EQUAL(store_mbox_delete(st, "u", "x"), STORE_ERR_NOTFOUND);
	/* a selectable superior stays */
	CU_ASSERT_EQUAL(store_mbox_delete(st, "u", "y/z"), STORE_OK);
	ASSERT_LIST(st, "u", "", "y ");
	store_close(&st);
}

void test_store_delete_children(void)
{
	char dir[512];
	struct store *st = open_fresh(dir, sizeof(dir));
	struct store_mbox before, after;

	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "a/b", 0, NULL), STORE_OK);
	CU_ASSERT(exists(st, "u", "a", &before));
	CU_ASSERT_EQUAL(store_mbox_delete(st, "u", "a"), STORE_OK);
	CU_ASSERT(exists(st, "u", "a", &after));
	CU_ASSERT_EQUAL(after.flags, STORE_MBOX_NOSELECT);
	CU_ASSERT_EQUAL(after.messages, 0);
	ASSERT_LIST(st, "u", "", "a(N) a/b ");
	/* a placeholder with inferiors cannot go */
	CU_ASSERT_EQUAL(store_mbox_delete(st, "u", "a"),
	    STORE_ERR_HASCHILDREN);
	ASSERT_LIST(st, "u", "", "a(N) a/b ");
	store_close(&st);
}

void test_store_placeholder_reuse(void)
{
	char dir[512];
	struct store *st = open_fresh(dir, sizeof(dir));
	struct store_mbox old, now;

	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "a/b", 0, NULL), STORE_OK);
	CU_ASSERT(exists(st, "u", "a", &old));
	CU_ASSERT_EQUAL(store_mbox_delete(st, "u", "a"), STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "a", STORE_MBOX_DRAFTS,
	    &now), STORE_OK);
	CU_ASSERT_EQUAL(now.flags, STORE_MBOX_DRAFTS);
	CU_ASSERT(now.uidvalidity > old.uidvalidity);
	CU_ASSERT_NOT_EQUAL(now.id, old.id);
	ASSERT_LIST(st, "u", "", "a a/b ");
	store_close(&st);
}

void test_store_delete_prune(void)
{
	char dir[512];
	struct store *st = open_fresh(dir, sizeof(dir));

	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "a/b/c", 0, NULL),
	    STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "x/y/z", 0, NULL),
	    STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_delete(st, "u", "a"), STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_delete(st, "u", "a/b"), STORE_OK);
	ASSERT_LIST(st, "u", "a", "a(N) a/b(N) a/b/c ");
	/* the last inferior goes; the placeholders stay (RFC 3501 A685) */
	CU_ASSERT_EQUAL(store_mbox_delete(st, "u", "a/b/c"), STORE_OK);
	ASSERT_LIST(st, "u", "a", "a(N) a/b(N) ");
	/* a placeholder without inferiors can now be deleted, innermost
	 * first */
	CU_ASSERT_EQUAL(store_mbox_delete(st, "u", "a"), STORE_ERR_HASCHILDREN);
	CU_ASSERT_EQUAL(store_mbox_delete(st, "u", "a/b"), STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_delete(st, "u", "a"), STORE_OK);
	ASSERT_LIST(st, "u", "a", "");
	CU_ASSERT_EQUAL(store_mbox_delete(st, "u", "x/y"), STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_delete(st, "u", "x/y/z"), STORE_OK);
	ASSERT_LIST(st, "u", "", "x x/y(N) ");
	store_close(&st);
}

void test_store_rename_inferiors(void)
{
	char dir[512];
	struct store *st = open_fresh(dir, sizeof(dir));
	struct store_mbox a, abc, ad, t;

	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "a/b/c", 0, &abc),
	    STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "a/d", STORE_MBOX_JUNK,
	    &ad), STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "ab", 0, NULL), STORE_OK);
	CU_ASSERT(exists(st, "u", "a", &a));
	CU_ASSERT_EQUAL(store_mbox_rename(st, "u", "a", "z/y"), STORE_OK);
	ASSERT_LIST(st, "u", "", "ab z z/y z/y/b z/y/b/c z/y/d ");
	CU_ASSERT(exists(st, "u", "z/y", &t));
	CU_ASSERT_EQUAL(t.id, a.id);
	CU_ASSERT_EQUAL(t.uidvalidity, a.uidvalidity);
	CU_ASSERT(exists(st, "u", "z/y/b/c", &t));
	CU_ASSERT_EQUAL(t.id, abc.id);
	CU_ASSERT_EQUAL(t.uidvalidity, abc.uidvalidity);
	CU_ASSERT(exists(st, "u", "z/y/d", &t));
	CU_ASSERT_EQUAL(t.id, ad.id);
	CU_ASSERT_EQUAL(t.flags, STORE_MBOX_JUNK);
	/* moving out from under a placeholder leaves it there */
	CU_ASSERT_EQUAL(store_mbox_delete(st, "u", "z"), STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_rename(st, "u", "z/y", "y"), STORE_OK);
	ASSERT_LIST(st, "u", "", "ab y y/b y/b/c y/d z(N) ");
	store_close(&st);
}

void test_store_rename_invalid(void)
{
	char dir[512];
	struct store *st = open_fresh(dir, sizeof(dir));

	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "a/b", 0, NULL), STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_rename(st, "u", "a", "a/b/c"),
	    STORE_ERR_INVALID);
	CU_ASSERT_EQUAL(store_mbox_rename(st, "u", "a", "a/x"),
	    STORE_ERR_INVALID);
	CU_ASSERT_EQUAL(store_mbox_rename(st, "u", "a", "a"),
	    STORE_ERR_INVALID);
	CU_ASSERT_EQUAL(store_mbox_rename(st, "u", "nope", "x"),
	    STORE_ERR_NOTFOUND);
	/* "a" -> "ab" is not "under" it */
	CU_ASSERT_EQUAL(store_mbox_rename(st, "u", "a", "ab"), STORE_OK);
	ASSERT_LIST(st, "u", "", "ab ab/b ");
	store_close(&st);
}

void test_store_rename_exists(void)
{
	char dir[512];
	struct store *st = open_fresh(dir, sizeof(dir));

	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "a/b", 0, NULL), STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "c", 0, NULL), STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_rename(st, "u", "a", "c"),
	    STORE_ERR_EXISTS);
	CU_ASSERT_EQUAL(store_mbox_rename(st, "u", "c", "a/b"),
	    STORE_ERR_EXISTS);
	/* into its own superior: "a/b" -> "a" exists */
	CU_ASSERT_EQUAL(store_mbox_rename(st, "u", "a/b", "a"),
	    STORE_ERR_EXISTS);
	ASSERT_LIST(st, "u", "", "a a/b c ");
	store_close(&st);
}

void test_store_rename_inbox(void)
{
	char dir[512];
	struct store *st = open_fresh(dir, sizeof(dir));
	struct store_mbox inbox, moved, fresh, sub;

	CU_ASSERT_EQUAL(store_user_init(st, "u"), STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "INBOX/sub", 0, &sub),
	    STORE_OK);
	CU_ASSERT(exists(st, "u", "INBOX", &inbox));
	CU_ASSERT_EQUAL(store_mbox_rename(st, "u", "INBOX", "old/mail"),
	    STORE_OK);
	CU_ASSERT(exists(st, "u", "old/mail", &moved));
	CU_ASSERT_EQUAL(moved.id, inbox.id);
	CU_ASSERT_EQUAL(moved.uidvalidity, inbox.uidvalidity);
	CU_ASSERT_EQUAL(moved.uidnext, inbox.uidnext);
	CU_ASSERT(exists(st, "u", "INBOX", &fresh));
	CU_ASSERT_NOT_EQUAL(fresh.id, inbox.id);
	CU_ASSERT(fresh.uidvalidity > inbox.uidvalidity);
	CU_ASSERT_EQUAL(fresh.uidnext, 1);
	CU_ASSERT_EQUAL(fresh.messages, 0);
	CU_ASSERT_EQUAL(fresh.flags, 0);
	/* the inferiors of INBOX stay where they are */
	ASSERT_LIST(st, "u", "", "INBOX INBOX/sub old old/mail ");
	CU_ASSERT(exists(st, "u", "INBOX/sub", &moved));
	CU_ASSERT_EQUAL(moved.id, sub.id);
	/* INBOX can move under itself, since its inferiors do not move */
	CU_ASSERT_EQUAL(store_mbox_rename(st, "u", "INBOX", "INBOX/2"),
	    STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_rename(st, "u", "INBOX", "old/mail"),
	    STORE_ERR_EXISTS);
	CU_ASSERT_EQUAL(store_mbox_rename(st, "u", "INBOX", "INBOX"),
	    STORE_ERR_INVALID);
	ASSERT_LIST(st, "u", "", "INBOX INBOX/2 INBOX/sub old old/mail ");
	store_close(&st);
}

void test_store_uidvalidity_grows(void)
{
	char dir[512];
	struct store *st = open_fresh(dir, sizeof(dir));
	struct store_mbox a, b;
	time_t now = time(NULL);
	unsigned i;

	/* A fresh store starts from the clock ... */
	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "m", 0, &a), STORE_OK);
	CU_ASSERT(a.uidvalidity >= (uint32_t)now);
	CU_ASSERT(a.uidvalidity <= (uint32_t)time(NULL));
	store_close(&st);

	/* ... so a store rebuilt in a new directory a second later still
	 * gives larger values. */
	while ((uint32_t)time(NULL) <= a.uidvalidity) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
	st = open_fresh(dir, sizeof(dir));
	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "m", 0, &b), STORE_OK);
	CU_ASSERT(b.uidvalidity > a.uidvalidity);
	a = b;

	/* Within a store: strictly growing across DELETE and CREATE, even
	 * many times in one second. */
	for (i = 0; i < 5; i++) {
		CU_ASSERT_EQUAL(store_mbox_delete(st, "u", "m"), STORE_OK);
		CU_ASSERT_EQUAL(store_mbox_create(st, "u", "m", 0, &b),
		    STORE_OK);
		CU_ASSERT(b.uidvalidity > a.uidvalidity);
		CU_ASSERT(b.id > a.id);
		a = b;
	}
	/* another user shares the site-wide counter */
	CU_ASSERT_EQUAL(store_mbox_create(st, "v", "m", 0, &b), STORE_OK);
	CU_ASSERT(b.uidvalidity > a.uidvalidity);
	store_close(&st);
}

static int
sub_cb(void *ctx, const char *name)
{
	struct buf *b = ctx;

	CU_ASSERT_FATAL(buf_adds(b, name) == 0 && buf_adds(b, " ") == 0);
	return 0;
}

void test_store_subscriptions(void)
{
	char dir[512];
	struct store *st = open_fresh(dir, sizeof(dir));
	struct buf b = BUF_INITIALIZER(4096);

	CU_ASSERT_EQUAL(store_sub_set(st, "u", "b", true), STORE_OK);
	CU_ASSERT_EQUAL(store_sub_set(st, "u", "a/x", true), STORE_OK);
	CU_ASSERT_EQUAL(store_sub_set(st, "u", "b", true), STORE_OK);
	CU_ASSERT_EQUAL(store_sub_set(st, "u2", "c", true), STORE_OK);
	CU_ASSERT_EQUAL(store_sub_list(st, "u", sub_cb, &b), STORE_OK);
	CU_ASSERT_STRING_EQUAL(buf_cstr(&b), "a/x b ");
	/* subscriptions are independent of existence */
	CU_ASSERT(!exists(st, "u", "a/x", NULL));
	CU_ASSERT_EQUAL(store_sub_set(st, "u", "b", false), STORE_OK);
	CU_ASSERT_EQUAL(store_sub_set(st, "u", "b", false),
	    STORE_ERR_NOTFOUND);
	buf_reset(&b);
	CU_ASSERT_EQUAL(store_sub_list(st, "u", sub_cb, &b), STORE_OK);
	CU_ASSERT_STRING_EQUAL(buf_cstr(&b), "a/x ");
	buf_reset(&b);
	CU_ASSERT_EQUAL(store_sub_list(st, "u2", sub_cb, &b), STORE_OK);
	CU_ASSERT_STRING_EQUAL(buf_cstr(&b), "c ");
	buf_free(&b);
	store_close(&st);
}

void test_store_user_init(void)
{
	char dir[512];
	struct store *st = open_fresh(dir, sizeof(dir));
	struct store_mbox a, b;

	CU_ASSERT_EQUAL(store_user_init(st, "u"), STORE_OK);
	CU_ASSERT(exists(st, "u", "INBOX", &a));
	CU_ASSERT_EQUAL(a.flags, 0);
	CU_ASSERT_EQUAL(store_user_init(st, "u"), STORE_OK);
	CU_ASSERT(exists(st, "u", "INBOX", &b));
	CU_ASSERT_EQUAL(a.id, b.id);
	CU_ASSERT_EQUAL(a.uidvalidity, b.uidvalidity);
	ASSERT_LIST(st, "u", "", "INBOX ");
	/* the fast path does not write: an injected failure of the second
	 * database call would show up as an error if it did */
	store_debug_fail_after(st, 2);
	CU_ASSERT_EQUAL(store_user_init(st, "u"), STORE_OK);
	store_debug_fail_after(st, 0);
	store_close(&st);
}

void test_store_user_delete(void)
{
	char dir[512];
	struct store *st = open_fresh(dir, sizeof(dir));
	struct buf b = BUF_INITIALIZER(4096);

	CU_ASSERT_EQUAL(store_user_init(st, "u"), STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "a/b", 0, NULL), STORE_OK);
	CU_ASSERT_EQUAL(store_sub_set(st, "u", "a", true), STORE_OK);
	CU_ASSERT_EQUAL(store_user_init(st, "u2"), STORE_OK);
	CU_ASSERT_EQUAL(store_sub_set(st, "u2", "a", true), STORE_OK);
	/* "u" is a prefix of "u2" and "u2" must not be touched */
	CU_ASSERT_EQUAL(store_user_delete(st, "u"), STORE_OK);
	ASSERT_LIST(st, "u", "", "");
	ASSERT_LIST(st, "u2", "", "INBOX ");
	CU_ASSERT_EQUAL(store_sub_list(st, "u", sub_cb, &b), STORE_OK);
	CU_ASSERT_STRING_EQUAL(buf_cstr(&b), "");
	CU_ASSERT_EQUAL(store_sub_list(st, "u2", sub_cb, &b), STORE_OK);
	CU_ASSERT_STRING_EQUAL(buf_cstr(&b), "a ");
	CU_ASSERT_EQUAL(store_user_delete(st, "nobody"), STORE_OK);
	buf_free(&b);
	store_close(&st);
}

/* Every database call of a write fails in turn: all or nothing. */
void test_store_fault_injection(void)
{
	char dir[512];
	struct store *st = open_fresh(dir, sizeof(dir));
	enum store_err e;
	unsigned n;
	bool done = false;

	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "keep", 0, NULL), STORE_OK);
	log_set_level(LOG_CRIT);	/* each injected failure is logged */
	for (n = 1; n < 100 && !done; n++) {
		store_debug_fail_after(st, n);
		e = store_mbox_create(st, "u", "f/g/h", 0, NULL);
		done = st->fail_after != 0;	/* fault never reached */
		store_debug_fail_after(st, 0);
		if (done) {
			CU_ASSERT_EQUAL(e, STORE_OK);
			break;
		}
		CU_ASSERT_EQUAL(e, STORE_ERR_IO);
		ASSERT_LIST(st, "u", "", "keep ");
	}
	CU_ASSERT(done);
	CU_ASSERT(n > 5);
	ASSERT_LIST(st, "u", "", "f f/g f/g/h keep ");

	for (n = 1, done = false; n < 100 && !done; n++) {
		store_debug_fail_after(st, n);
		e = store_mbox_rename(st, "u", "f", "r/s");
		done = st->fail_after != 0;
		store_debug_fail_after(st, 0);
		if (done) {
			CU_ASSERT_EQUAL(e, STORE_OK);
			break;
		}
		CU_ASSERT_EQUAL(e, STORE_ERR_IO);
		ASSERT_LIST(st, "u", "", "f f/g f/g/h keep ");
	}
	log_set_level(LOG_WARNING);
	CU_ASSERT(done);
	ASSERT_LIST(st, "u", "", "keep r r/s r/s/g r/s/g/h ");
	store_close(&st);
}

/* --- several processes --- */

struct child_result {
	unsigned ok, tryagain, failed;
};

static const char *const race_names[] = {
	"a", "a/b", "a/b/c", "a/d", "b", "b/a", "c", "c/a/b", "d/e",
};

static void
race_child(const char *dir, int wfd, int gofd)
{
	struct store_options opt = { .create = false, .nosync = true };
	struct child_result res = { 0, 0, 0 };
	struct store *st;
	const char *error;
	unsigned i;
	char c;

	if (store_open(dir, &opt, &st, &error) != STORE_OK)
		_exit(2);
	/* all start together: the parent closes the pipe */
	if (read(gofd, &c, 1) != 0)
		_exit(5);
	for (i = 0; i < 150; i++) {
		const char *x = race_names[arc4random_uniform(
		    N_ELEMENTS(race_names))];
		const char *y = race_names[arc4random_uniform(
		    N_ELEMENTS(race_names))];
		enum store_err e;

		switch (arc4random_uniform(3)) {
		case 0:
			e = store_mbox_create(st, "u", x, 0, NULL);
			break;
		case 1:
			e = store_mbox_delete(st, "u", x);
			break;
		default:
			e = store_mbox_rename(st, "u", x, y);
			break;
		}
		if (e == STORE_ERR_TRYAGAIN)
			res.tryagain++;
		else if (e == STORE_ERR_IO || e == STORE_ERR_NOSPACE)
			res.failed++;
		else
			res.ok++;
	}
	store_close(&st);
	if (write(wfd, &res, sizeof(res)) != (ssize_t)sizeof(res))
		_exit(3);
	_exit(0);
}

struct inv_ctx {
	struct store *st;
	char names[1024][64];
	struct store_mbox mb[1024];
	unsigned n;
};

static int
inv_cb(void *ctx, const char *name, const struct store_mbox *mb)
{
	struct inv_ctx *c = ctx;

	CU_ASSERT_FATAL(c->n < N_ELEMENTS(c->names));
	CU_ASSERT_FATAL(strlen(name) < sizeof(c->names[0]));
	memcpy(c->names[c->n], name, strlen(name) + 1);
	c->mb[c->n++] = *mb;
	return 0;
}

/* Superiors exist, ids and UIDVALIDITYs unique. */
static void
check_invariants(struct store *st, const char *user)
{
	struct inv_ctx *c = xcalloc(1, sizeof(*c));
	unsigned i, j;

	c->st = st;
	CU_ASSERT_EQUAL_FATAL(store_mbox_list(st, user, "", inv_cb, c),
	    STORE_OK);
	for (i = 0; i < c->n; i++) {
		char sup[64];
		size_t k;

		for (k = 1; c->names[i][k] != '\0'; k++) {
			if (c->names[i][k] != '/')
				continue;
			memcpy(sup, c->names[i], k);
			sup[k] = '\0';
			CU_ASSERT(exists(st, user, sup, NULL));
		}
		for (j = i + 1; j < c->n; j++) {
			CU_ASSERT_NOT_EQUAL(c->mb[i].id, c->mb[j].id);
			CU_ASSERT_NOT_EQUAL(c->mb[i].uidvalidity,
			    c->mb[j].uidvalidity);
		}
	}
	xfree(&c);
}

void test_store_concurrent(void)
{
	char dir[512];
	struct store *st = open_fresh(dir, sizeof(dir));
	struct child_result res, total = { 0, 0, 0 };
	pid_t pids[3];
	int fds[2], go[2], status;
	unsigned i;

	store_close(&st);	/* nothing open across fork() */
	CU_ASSERT_FATAL(pipe(fds) == 0);
	CU_ASSERT_FATAL(pipe(go) == 0);
	for (i = 0; i < N_ELEMENTS(pids); i++) {
		pids[i] = fork();
		CU_ASSERT_FATAL(pids[i] >= 0);
		if (pids[i] == 0) {
			close(fds[0]);
			close(go[1]);
			race_child(dir, fds[1], go[0]);
		}
	}
	close(fds[1]);
	close(go[0]);
	usleep(100 * 1000);	/* let them open their environments */
	close(go[1]);
	for (i = 0; i < N_ELEMENTS(pids); i++) {
		CU_ASSERT_EQUAL(waitpid(pids[i], &status, 0), pids[i]);
		CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	while (read(fds[0], &res, sizeof(res)) == (ssize_t)sizeof(res)) {
		total.ok += res.ok;
		total.tryagain += res.tryagain;
		total.failed += res.failed;
	}
	close(fds[0]);
	CU_ASSERT_EQUAL(total.failed, 0);
	CU_ASSERT_EQUAL(total.ok + total.tryagain, 150 * N_ELEMENTS(pids));
	CU_ASSERT(total.tryagain <= 150 * N_ELEMENTS(pids) / 20);
	st = open_dir(dir, false);
	check_invariants(st, "u");
	store_close(&st);
}

/* The child creates mailboxes with durable commits and reports each name
 * once its commit returned; it is killed in the middle. */
static void
kill_child(const char *dir, int wfd)
{
	struct store_options opt = { .create = false, .nosync = false };
	struct store *st;
	const char *error;
	char name[64];
	unsigned i;

	if (store_open(dir, &opt, &st, &error) != STORE_OK)
		_exit(2);
	for (i = 0;; i++) {
		int n = snprintf(name, sizeof(name), "k/%u/m", i);

		if (store_mbox_create(st, "u", name, 0, NULL) != STORE_OK)
			_exit(3);
		if (write(wfd, name, (size_t)n + 1) != n + 1)
			_exit(4);
	}
}

void test_store_kill_recovery(void)
{
	char dir[512], got[8192];
	struct store *st = open_fresh(dir, sizeof(dir));
	size_t len = 0, off;
	unsigned names = 0;
	pid_t pid;
	int fds[2], status;
	ssize_t r;

	store_close(&st);
	CU_ASSERT_FATAL(pipe(fds) == 0);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		kill_child(dir, fds[1]);
	}
	close(fds[1]);
	/* Wait for some commits, then kill it mid-write. */
	while (len < 400 && (r = read(fds[0], got + len,
	    sizeof(got) - 1 - len)) > 0)
		len += (size_t)r;
	CU_ASSERT_EQUAL(kill(pid, SIGKILL), 0);
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	while ((r = read(fds[0], got + len, sizeof(got) - 1 - len)) > 0)
		len += (size_t)r;
	close(fds[0]);
	got[len] = '\0';

	/* The next open runs recovery (DB_REGISTER saw a dead process). */
	st = open_dir(dir, false);
	for (off = 0; off < len; off += strlen(got + off) + 1) {
		if (got[len - 1] != '\0' && off + strlen(got + off) == len)
			break;	/* a name cut short by the kill */
		CU_ASSERT(exists(st, "u", got + off, NULL));
		names++;
	}
	CU_ASSERT(names >= 10);
	check_invariants(st, "u");
	/* and the store is usable */
	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "after", 0, NULL),
	    STORE_OK);
	store_close(&st);
}

/* A deadlock is retried; one that never clears ends in TRYAGAIN. */
void test_store_deadlock_retry(void)
{
	char dir[512];
	struct store *st = open_fresh(dir, sizeof(dir));
	struct store_mbox mb;

	store_debug_fail_with(st, 3, DB_LOCK_DEADLOCK, false);
	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "a/b", 0, NULL), STORE_OK);
	CU_ASSERT_EQUAL(st->fail_after, 0);	/* it did fire */
	ASSERT_LIST(st, "u", "", "a a/b ");
	/* reads retry too */
	store_debug_fail_with(st, 1, DB_LOCK_DEADLOCK, false);
	CU_ASSERT_EQUAL(store_mbox_get(st, "u", "a", &mb), STORE_OK);

	log_set_level(LOG_ERR);
	store_debug_fail_with(st, 2, DB_LOCK_NOTGRANTED, true);
	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "c", 0, NULL),
	    STORE_ERR_TRYAGAIN);
	store_debug_fail_with(st, 0, 0, false);
	log_set_level(LOG_WARNING);
	ASSERT_LIST(st, "u", "", "a a/b ");

	/* ENOSPC has its own error */
	log_set_level(LOG_CRIT);
	store_debug_fail_with(st, 2, ENOSPC, false);
	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "c", 0, NULL),
	    STORE_ERR_NOSPACE);
	log_set_level(LOG_WARNING);
	store_close(&st);
}

/* Another process ran recovery under us: the handle reopens and the
 * operation goes through. */
void test_store_panic_reopen(void)
{
	char dir[512];
	struct store *st = open_fresh(dir, sizeof(dir));

	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "a", 0, NULL), STORE_OK);
	log_set_level(LOG_ERR);
	store_debug_fail_with(st, 2, DB_RUNRECOVERY, false);
	CU_ASSERT_EQUAL(store_mbox_create(st, "u", "b", 0, NULL), STORE_OK);
	store_debug_fail_with(st, 1, DB_RUNRECOVERY, false);
	CU_ASSERT(exists(st, "u", "a", NULL));
	log_set_level(LOG_WARNING);
	ASSERT_LIST(st, "u", "", "a b ");
	store_close(&st);
}

/* Forks a process that opens the store, runs what, and exits with its
 * result; kill9 makes it die holding the environment instead. */
static int
in_child(const char *dir, bool nosync, bool kill9,
    enum store_err (*what)(struct store *))
{
	pid_t pid = fork();
	int status;

	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		struct store_options opt = { .create = false,
		    .nosync = nosync };
		struct store *st;
		const char *error;
		enum store_err e;

		if (store_open(dir, &opt, &st, &error) != STORE_OK)
			_exit(100);
		e = what(st);
		if (kill9)
			raise(SIGKILL);
		store_close(&st);
		_exit((int)e);
	}
	CU_ASSERT_EQUAL_FATAL(waitpid(pid, &status, 0), pid);
	if (kill9)
		return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ?
		    0 : -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static enum store_err
do_create_child(struct store *st)
{
	return store_mbox_create(st, "u", "child", 0, NULL);
}

static char holder_dir[512];

/* Holds the store open while another process commits and then dies with
 * the store open; carries on with the same handle. */
static enum store_err
do_hold_while_one_dies(struct store *st)
{
	enum store_err e;

	if ((e = store_mbox_create(st, "u", "before", 0, NULL)) != STORE_OK)
		return e;
	/* All durable: a NOSYNC commit may sit in the log buffer, which
	 * recovery throws away. */
	if (in_child(holder_dir, false, true, do_create_child) != 0)
		return STORE_ERR_INVALID;
	return store_mbox_create(st, "u", "after", 0, NULL);
}

/*
 * A process has the store open and another dies with it open: nothing
 * stops the first (nobody has looked at the register yet), and the next
 * open after it has closed recovers the store (no failchk: store/env.c),
 * with every commit of all three in it. (The holder is a child: Berkeley
 * DB cannot free a panicked handle's memory, which a leak checker would
 * report.)
 */
void test_store_recovery_after_one_died(void)
{
	struct store *st = open_fresh(holder_dir, sizeof(holder_dir));

	store_close(&st);
	CU_ASSERT_EQUAL(in_child(holder_dir, false, false,
	    do_hold_while_one_dies), STORE_OK);
	st = open_dir(holder_dir, false);
	ASSERT_LIST(st, "u", "", "after before child ");
	store_close(&st);
}
