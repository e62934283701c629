/*
 * test_msg.c: the message layer of the store against a real Berkeley DB
 * environment: APPEND (in memory and spooled), reading bodies in ranges,
 * UIDs and mailbox counters, flags and keywords with MODSEQ (RFC 7162),
 * COPY with shared bodies, EXPUNGE and the change log, \Recent, DELETE and
 * RENAME of mailboxes with messages, concurrent appenders and kill -9.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <CUnit/CUnit.h>
#include <dirent.h>
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

/* Prototypes for -Wmissing-prototypes ("extern": see test_store.c). */
extern int msg_suite_init(void);
extern int msg_suite_clean(void);
extern void test_msg_append_get_list(void);
extern void test_msg_append_sizes(void);
extern void test_msg_append_bad_size(void);
extern void test_msg_body_heads(void);
extern void test_msg_append_missing_mailbox(void);
extern void test_msg_append_free_uncommitted(void);
extern void test_msg_uidnext_after_reopen(void);
extern void test_msg_list_batches(void);
extern void test_msg_flags_modseq(void);
extern void test_msg_unchangedsince(void);
extern void test_msg_keywords(void);
extern void test_msg_copy_shares_body(void);
extern void test_msg_copy_missing_target(void);
extern void test_msg_expunge(void);
extern void test_msg_move(void);
extern void test_msg_changes(void);
extern void test_msg_claim_recent(void);
extern void test_msg_delete_mailbox(void);
extern void test_msg_rename_inbox(void);
extern void test_msg_id_mismatch(void);
extern void test_msg_append_faults(void);
extern void test_msg_flags_copy_expunge_faults(void);
extern void test_msg_concurrent_append(void);
extern void test_msg_kill_append(void);

#define U	"u"
#define CHUNK	(64u * 1024)
#define MIB	(1024u * 1024)

static char msg_tmp[] = "/tmp/refimapd-test-msg-XXXXXX";
static unsigned msg_dirs;

int msg_suite_init(void)
{
	return mkdtemp(msg_tmp) == NULL ? -1 : 0;
}

static int
rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

int msg_suite_clean(void)
{
	return nftw(msg_tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
new_dir(char *path, size_t len)
{
	int n = snprintf(path, len, "%s/d%u", msg_tmp, msg_dirs++);

	CU_ASSERT_FATAL(n > 0 && (size_t)n < len);
}

static struct store *
open_dir(const char *dir, bool create, bool nosync)
{
	struct store_options opt = { .create = create, .nosync = nosync };
	struct store *st = NULL;
	const char *error;

	CU_ASSERT_EQUAL_FATAL(store_open(dir, &opt, &st, &error), STORE_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	return st;
}

/* A fresh store with the user's INBOX; *id_r its mailbox id. */
static struct store *
open_fresh(char *dir, size_t len, uint32_t *id_r)
{
	struct store_mbox mb;
	struct store *st;

	new_dir(dir, len);
	st = open_dir(dir, true, true);
	CU_ASSERT_EQUAL_FATAL(store_mbox_create(st, U, "INBOX", 0, &mb),
	    STORE_OK);
	if (id_r != NULL)
		*id_r = mb.id;
	return st;
}

/* Byte i of test message number seed. */
static uint8_t
pattern(unsigned seed, uint64_t i)
{
	return (uint8_t)('A' + (i * 7 + seed * 13 + i / 65521) % 61);
}

static uint8_t *
make_body(unsigned seed, size_t n)
{
	uint8_t *p = xmalloc(n + 1);
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = pattern(seed, i);
	return p;
}

/* Appends p[0..n) in uneven pieces. */
static enum store_err
append(struct store *st, const char *name, uint32_t mbox_id,
    const uint8_t *p, size_t n, uint32_t flags, uint32_t *uid_r)
{
	struct store_append *ap = NULL;
	uint32_t uidv = 0, uid = 0;
	enum store_err e;
	size_t off = 0, piece = 7001;

	if ((e = store_append_begin(st, n, &ap)) != STORE_OK)
		return e;
	while (off < n) {
		size_t k = n - off < piece ? n - off : piece;

		e = store_append_data(ap, p + off, k);
		CU_ASSERT_EQUAL(e, STORE_OK);
		off += k;
		piece = piece * 3 % 90001 + 1;
	}
	e = store_append_commit(ap, U, name, mbox_id, flags, 0, 1700000000,
	    60, &uid, &uidv);
	store_append_free(&ap);
	CU_ASSERT_PTR_NULL(ap);
	if (e == STORE_OK) {
		CU_ASSERT(uidv != 0);
		if (uid_r != NULL)
			*uid_r = uid;
	}
	return e;
}

static uint32_t
append_text(struct store *st, const char *name, const char *text,
    uint32_t flags)
{
	uint32_t uid = 0;

	CU_ASSERT_EQUAL(append(st, name, 0, (const uint8_t *)text,
	    strlen(text), flags, &uid), STORE_OK);
	return uid;
}

/* Number of keys in a database. */
static unsigned
count_db(DB *db)
{
	unsigned n = 0;
	DBC *c;
	DBT k, d;

	CU_ASSERT_FATAL(db->cursor(db, NULL, &c, 0) == 0);
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	while (c->get(c, &k, &d, DB_NEXT) == 0)
		n++;
	(void)c->close(c);
	return n;
}

/* The reference count of a body (0 = none). */
static uint32_t
body_refs(struct store *st, uint64_t body_id)
{
	uint8_t kb[8];
	DBT k, d;

	store_be_put64(kb, body_id);
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = kb;
	k.size = sizeof(kb);
	if (st->body_refs->get(st->body_refs, NULL, &k, &d, 0) != 0)
		return 0;
	CU_ASSERT_EQUAL_FATAL(d.size, 4);
	return store_be_get32(d.data);
}

static struct store_mbox
mbox(struct store *st, const char *name)
{
	struct store_mbox mb;

	memset(&mb, 0, sizeof(mb));
	CU_ASSERT_EQUAL(store_mbox_get(st, U, name, &mb), STORE_OK);
	return mb;
}

static struct store_msg
get(struct store *st, const char *name, uint32_t uid)
{
	struct store_msg m;

	memset(&m, 0, sizeof(m));
	CU_ASSERT_EQUAL(store_msg_get(st, U, name, 0, uid, &m), STORE_OK);
	return m;
}

/* Collects the messages of a list or changes walk. */
struct coll {
	struct store_msg m[512];
	unsigned n;
	uint32_t uids[512];
	unsigned nuids;
	unsigned stop_at;	/* 0 = never */
};

static int
coll_msg(void *ctx, const struct store_msg *m)
{
	struct coll *c = ctx;

	CU_ASSERT_FATAL(c->n < N_ELEMENTS(c->m));
	c->m[c->n++] = *m;
	return c->stop_at != 0 && c->n >= c->stop_at;
}

static int
coll_uid(void *ctx, uint32_t uid)
{
	struct coll *c = ctx;

	CU_ASSERT_FATAL(c->nuids < N_ELEMENTS(c->uids));
	c->uids[c->nuids++] = uid;
	return 0;
}

/* The number of entries in DATA_DIR/tmp (spool files must not linger). */
static unsigned
tmp_entries(const char *dir)
{
	char path[600];
	struct dirent *de;
	unsigned n = 0;
	DIR *d;

	CU_ASSERT_FATAL(snprintf(path, sizeof(path), "%s/tmp", dir) > 0);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	(void)closedir(d);
	return n;
}

void test_msg_append_get_list(void)
{
	char dir[512];
	uint32_t id;
	struct store *st = open_fresh(dir, sizeof(dir), &id);
	struct store_mbox before = mbox(st, "INBOX"), mb;
	struct store_msg m;
	struct coll c;
	struct buf b = BUF_INITIALIZER(1 << 20);
	uint32_t u1, u2;

	CU_ASSERT_EQUAL(before.uidnext, 1);
	CU_ASSERT_EQUAL(before.messages, 0);
	u1 = append_text(st, "INBOX", "Subject: one\r\n\r\nhello\r\n", 0);
	u2 = append_text(st, "INBOX", "Subject: two\r\n\r\nworld!\r\n",
	    STORE_FLAG_SEEN | STORE_FLAG_FLAGGED);
	CU_ASSERT_EQUAL(u1, 1);
	CU_ASSERT_EQUAL(u2, 2);
	mb = mbox(st, "INBOX");
	CU_ASSERT_EQUAL(mb.uidnext, 3);
	CU_ASSERT_EQUAL(mb.messages, 2);
	CU_ASSERT_EQUAL(mb.unseen, 1);
	CU_ASSERT_EQUAL(mb.recent, 2);
	CU_ASSERT_EQUAL(mb.highestmodseq, before.highestmodseq + 2);

	m = get(st, "INBOX", 2);
	CU_ASSERT_EQUAL(m.uid, 2);
	CU_ASSERT_EQUAL(m.flags, STORE_FLAG_SEEN | STORE_FLAG_FLAGGED);
	CU_ASSERT_EQUAL(m.size, 24);
	CU_ASSERT_EQUAL(m.internaldate, 1700000000);
	CU_ASSERT_EQUAL(m.tzoff, 60);
	CU_ASSERT_EQUAL(m.modseq, mb.highestmodseq);
	CU_ASSERT_EQUAL(store_body_read(st, m.body_id, 0, 100, &b), STORE_OK);
	CU_ASSERT_STRING_EQUAL(buf_cstr(&b), "Subject: two\r\n\r\nworld!\r\n");
	buf_reset(&b);
	CU_ASSERT_EQUAL(store_body_read(st, m.body_id, 16, 5, &b), STORE_OK);
	CU_ASSERT_STRING_EQUAL(buf_cstr(&b), "world");
	buf_reset(&b);
	/* Past the end: nothing, but no error; unknown body: NOTFOUND. */
	CU_ASSERT_EQUAL(store_body_read(st, m.body_id, 500, 5, &b), STORE_OK);
	CU_ASSERT_EQUAL(b.len, 0);
	CU_ASSERT_EQUAL(store_body_read(st, 999999, 0, 5, &b),
	    STORE_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(store_msg_get(st, U, "INBOX", id, 3, &m),
	    STORE_ERR_NOTFOUND);

	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL(store_msg_list(st, U, "INBOX", id, 1, coll_msg, &c),
	    STORE_OK);
	CU_ASSERT_EQUAL(c.n, 2);
	CU_ASSERT_EQUAL(c.m[0].uid, 1);
	CU_ASSERT_EQUAL(c.m[0].size, 23);
	CU_ASSERT_EQUAL(c.m[1].uid, 2);
	CU_ASSERT(c.m[0].body_id != c.m[1].body_id);
	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL(store_msg_list(st, U, "INBOX", id, 2, coll_msg, &c),
	    STORE_OK);
	CU_ASSERT_EQUAL(c.n, 1);
	CU_ASSERT_EQUAL(c.m[0].uid, 2);
	/* An empty message is fine too. */
	CU_ASSERT_EQUAL(append(st, "INBOX", id, (const uint8_t *)"", 0, 0,
	    &u1), STORE_OK);
	CU_ASSERT_EQUAL(u1, 3);
	m = get(st, "INBOX", 3);
	CU_ASSERT_EQUAL(m.size, 0);
	buf_reset(&b);
	CU_ASSERT_EQUAL(store_body_read(st, m.body_id, 0, 10, &b), STORE_OK);
	CU_ASSERT_EQUAL(b.len, 0);
	buf_free(&b);
	store_close(&st);
}

/* Reads [off, off + n) and compares with the pattern. */
static void
check_range(struct store *st, uint64_t body_id, unsigned seed, size_t size,
    uint64_t off, size_t n)
{
	struct buf b = BUF_INITIALIZER(8 * MIB);
	size_t expect = off >= size ? 0 : (size - off < n ? size - off : n);
	size_t i, bad = 0;

	CU_ASSERT_EQUAL(store_body_read(st, body_id, off, n, &b), STORE_OK);
	CU_ASSERT_EQUAL(b.len, expect);
	for (i = 0; i < b.len && i < expect; i++)
		if (b.data[i] != pattern(seed, off + i))
			bad++;
	CU_ASSERT_EQUAL(bad, 0);
	buf_free(&b);
}

void test_msg_append_sizes(void)
{
	static const size_t sizes[] = { MIB, MIB + 1, 5 * MIB };
	char dir[512], path[600];
	struct stat sb;
	struct store *st = open_fresh(dir, sizeof(dir), NULL);
	struct store_msg m;
	unsigned i;
	uint32_t uid;

	for (i = 0; i < N_ELEMENTS(sizes); i++) {
		uint8_t *p = make_body(i, sizes[i]);

		CU_ASSERT_EQUAL(append(st, "INBOX", 0, p, sizes[i], 0, &uid),
		    STORE_OK);
		xfree(&p);
		m = get(st, "INBOX", uid);
		CU_ASSERT_EQUAL(m.size, sizes[i]);
		check_range(st, m.body_id, i, sizes[i], 0, sizes[i]);
		check_range(st, m.body_id, i, sizes[i], CHUNK - 3, 7);
		check_range(st, m.body_id, i, sizes[i], 3 * CHUNK - 1,
		    CHUNK + 2);
		check_range(st, m.body_id, i, sizes[i], sizes[i] - 10, 100);
		check_range(st, m.body_id, i, sizes[i], sizes[i], 100);
	}
	/* Crossing many chunks in the middle of the 5 MiB message. */
	check_range(st, m.body_id, 2, 5 * MIB, 2 * MIB - 12345,
	    3 * CHUNK + 777);
	check_range(st, m.body_id, 2, 5 * MIB, 4 * CHUNK, CHUNK);
	/* The spool files were unlinked at once, in a private directory. */
	CU_ASSERT_EQUAL(tmp_entries(dir), 0);
	CU_ASSERT_FATAL(snprintf(path, sizeof(path), "%s/tmp", dir) > 0);
	CU_ASSERT_EQUAL(stat(path, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 0777, 0700);
	CU_ASSERT_EQUAL(mbox(st, "INBOX").messages, 3);
	store_close(&st);
}

/* One request of test_msg_body_heads: message k, or a body that is not
 * there (-1 after the last, -2 before the first, -3 expunged), want
 * bytes. */
struct heads_req {
	int k;
	size_t want;
};

/* A message of test_msg_body_heads: its header pads a field to about
 * hdr bytes, then comes a body of body bytes. */
struct heads_msg {
	size_t hdr, body;
};

static uint8_t *
heads_message(unsigned k, const struct heads_msg *spec, size_t *len_r,
    size_t *hdr_r)
{
	struct buf b = BUF_INITIALIZER(16 * MIB);
	size_t i;

	*hdr_r = 0;
	if (spec->hdr > 0) {
		CU_ASSERT_EQUAL(buf_addf(&b, "Subject: m%u\r\nX-Pad: ", k),
		    0);
		for (i = 0; i < spec->hdr; i++)
			CU_ASSERT_EQUAL(buf_add(&b, "p", 1), 0);
		CU_ASSERT_EQUAL(buf_add(&b, "\r\n\r\n", 4), 0);
		*hdr_r = b.len;
	}
	for (i = 0; i < spec->body; i++) {
		uint8_t c = pattern(k, i);

		CU_ASSERT_EQUAL(buf_add(&b, &c, 1), 0);
	}
	*len_r = b.len;
	return b.data;
}

/*
 * store_body_heads against the stored bytes for every order its cursors
 * meet: ascending (stepping over the later chunks of large messages, a
 * few or too many), the same body twice in a row, bodies before the
 * first, after the last and an expunged one between two, descending, and
 * wants of 0, more than the message and more than a chunk. A short
 * header comes from its copy in heads (got ends with the header); a long
 * one, and one whose copy is missing (stored before there were copies),
 * from the body.
 */
void test_msg_body_heads(void)
{
	static const struct heads_msg specs[] = { { 10, 100 },
	    { 500, 3000 }, { 50, 3 * CHUNK + 5 }, { 9000, 5000 },
	    { 100, 7 * CHUNK }, { 1, 10 }, { 0, 0 }, { 200, 9000 },
	    { CHUNK + 100, 2 * CHUNK } };
	static const struct heads_req reqs[] = {
		{ 0, 4000 }, { 1, 4000 }, { 2, 4000 }, { 3, 4000 },
		{ 4, 4000 }, { 5, 4000 }, { 6, 4000 }, { 7, 4000 },
		{ 8, 4000 }, { -1, 4000 },
		/* The same body twice, then back, then a gap and descending. */
		{ 3, 1000 }, { 3, 1000 }, { 1, 0 }, { 1, 200 },
		{ -2, 100 }, { 8, CHUNK + 10 }, { 7, 50 }, { 4, 1 },
		{ 2, 3 * CHUNK }, { 0, 1000 }, { 2, 10 }, { -3, 4000 },
		{ 3, 10000 }, { 0, 100 },
		/* Past the last body, then the first again. */
		{ -1, 10 }, { 0, 10 },
	};
	char dir[512];
	struct store *st = open_fresh(dir, sizeof(dir), NULL);
	struct store_head v[N_ELEMENTS(reqs)];
	uint64_t ids[N_ELEMENTS(specs)], last = 0, gone = 0;
	uint8_t *msgs[N_ELEMENTS(specs)], *dst[N_ELEMENTS(reqs)];
	size_t lens[N_ELEMENTS(specs)], hdrs[N_ELEMENTS(specs)];
	unsigned i;
	uint32_t uid;
	uint8_t kb[8];
	DBT k;

	for (i = 0; i < N_ELEMENTS(specs); i++) {
		msgs[i] = heads_message(i, &specs[i], &lens[i], &hdrs[i]);
		CU_ASSERT_EQUAL_FATAL(append(st, "INBOX", 0, msgs[i], lens[i],
		    0, &uid), STORE_OK);
		ids[i] = get(st, "INBOX", uid).body_id;
		CU_ASSERT(ids[i] > last);	/* the order the requests need */
		last = ids[i];
		if (i == 2) {
			/* A body between 2 and 3 that is gone by then. */
			uint8_t *p = make_body(99, 2000);

			CU_ASSERT_EQUAL_FATAL(append(st, "INBOX", 0, p, 2000,
			    STORE_FLAG_DELETED, &uid), STORE_OK);
			xfree(&p);
			gone = get(st, "INBOX", uid).body_id;
		}
	}
	CU_ASSERT_EQUAL_FATAL(store_msg_expunge(st, U, "INBOX", 0, NULL, 0,
	    NULL, NULL), STORE_OK);
	CU_ASSERT(gone > ids[2] && gone < ids[3]);
	/* Copies of short headers only: none for 3, 6 (no header) and 8. */
	CU_ASSERT_EQUAL(count_db(st->heads), N_ELEMENTS(specs) - 3);
	/* Message 7 as if stored before there were copies. */
	store_be_put64(kb, ids[7]);
	memset(&k, 0, sizeof(k));
	k.data = kb;
	k.size = sizeof(kb);
	CU_ASSERT_EQUAL_FATAL(st->heads->del(st->heads, NULL, &k, 0), 0);
	hdrs[3] = hdrs[6] = hdrs[7] = hdrs[8] = 0;	/* read from the body */

	for (i = 0; i < N_ELEMENTS(reqs); i++) {
		int m = reqs[i].k;

		v[i].body_id = m >= 0 ? ids[m] : m == -1 ? last + 1 :
		    m == -2 ? 0 : gone;
		v[i].want = reqs[i].want;
		v[i].got = 12345;
		dst[i] = v[i].dst = xmalloc(reqs[i].want + 1);
	}
	CU_ASSERT_EQUAL(store_body_heads(st, v, N_ELEMENTS(v)), STORE_OK);
	for (i = 0; i < N_ELEMENTS(reqs); i++) {
		int m = reqs[i].k;
		size_t expect = 0;

		if (m >= 0) {
			expect = hdrs[m] != 0 ? hdrs[m] : lens[m];
			if (expect > reqs[i].want)
				expect = reqs[i].want;
			if (expect > CHUNK)
				expect = CHUNK;
		}
		if (v[i].got != expect)
			printf("\nrequest %u: got %zu, expected %zu\n", i,
			    v[i].got, expect);
		CU_ASSERT_EQUAL(v[i].got, expect);
		if (v[i].got == expect && expect > 0)
			CU_ASSERT_EQUAL(memcmp(dst[i], msgs[m], expect), 0);
		xfree(&dst[i]);
	}
	/* The copies go with their bodies. */
	{
		static const uint32_t all[] = { 1, 2, 3, 5, 6, 7, 8, 9, 10 };

		CU_ASSERT_EQUAL(store_msg_set_flags(st, U, "INBOX", 0, all,
		    N_ELEMENTS(all), STORE_FLAGS_ADD, STORE_FLAG_DELETED, 0, 0,
		    NULL, NULL), STORE_OK);
		CU_ASSERT_EQUAL(store_msg_expunge(st, U, "INBOX", 0, NULL, 0,
		    NULL, NULL), STORE_OK);
		CU_ASSERT_EQUAL(count_db(st->bodies), 0);
		CU_ASSERT_EQUAL(count_db(st->heads), 0);
	}
	for (i = 0; i < N_ELEMENTS(specs); i++)
		xfree(&msgs[i]);
	store_close(&st);
}

void test_msg_append_bad_size(void)
{
	char dir[512];
	struct store *st = open_fresh(dir, sizeof(dir), NULL);
	struct store_append *ap = NULL;
	uint32_t uid, uidv;

	CU_ASSERT_EQUAL(store_append_begin(st, 5, &ap), STORE_OK);
	CU_ASSERT_EQUAL(store_append_data(ap, (const uint8_t *)"abc", 3),
	    STORE_OK);
	/* Too few bytes: refused; too many: refused as they come. */
	CU_ASSERT_EQUAL(store_append_commit(ap, U, "INBOX", 0, 0, 0, 0, 0,
	    &uid, &uidv), STORE_ERR_INVALID);
	CU_ASSERT_EQUAL(store_append_data(ap, (const uint8_t *)"defg", 4),
	    STORE_ERR_INVALID);
	CU_ASSERT_EQUAL(store_append_data(ap, (const uint8_t *)"de", 2),
	    STORE_OK);
	CU_ASSERT_EQUAL(store_append_commit(ap, U, "INBOX", 0, 0, 0, 0, 0,
	    &uid, &uidv), STORE_OK);
	CU_ASSERT_EQUAL(uid, 1);
	/* Committed once only. */
	CU_ASSERT_EQUAL(store_append_commit(ap, U, "INBOX", 0, 0, 0, 0, 0,
	    &uid, &uidv), STORE_ERR_INVALID);
	store_append_free(&ap);
	CU_ASSERT_EQUAL(mbox(st, "INBOX").messages, 1);
	store_close(&st);
}

void test_msg_append_missing_mailbox(void)
{
	char dir[512];
	uint32_t id, uid = 0;
	struct store *st = open_fresh(dir, sizeof(dir), &id);
	uint8_t *big = make_body(1, 2 * MIB);

	CU_ASSERT_EQUAL(append(st, "nope", 0, big, 2 * MIB, 0, &uid),
	    STORE_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(append(st, "INBOX", id + 1, big, 100, 0, &uid),
	    STORE_ERR_NOTFOUND);
	/* A \Noselect placeholder takes no messages either. */
	CU_ASSERT_EQUAL(store_mbox_create(st, U, "a/b", 0, NULL), STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_delete(st, U, "a"), STORE_OK);
	CU_ASSERT_EQUAL(append(st, "a", 0, big, 100, 0, &uid),
	    STORE_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(count_db(st->bodies), 0);
	CU_ASSERT_EQUAL(count_db(st->body_refs), 0);
	CU_ASSERT_EQUAL(count_db(st->messages), 0);
	CU_ASSERT_EQUAL(count_db(st->by_modseq), 0);
	CU_ASSERT_EQUAL(tmp_entries(dir), 0);
	/* The body id counter was not consumed: the next one is 1. */
	CU_ASSERT_EQUAL(append(st, "INBOX", id, big, 100, 0, &uid), STORE_OK);
	CU_ASSERT_EQUAL(uid, 1);
	CU_ASSERT_EQUAL(get(st, "INBOX", 1).body_id, 1);
	xfree(&big);
	store_close(&st);
}

void test_msg_append_free_uncommitted(void)
{
	char dir[512];
	struct store *st = open_fresh(dir, sizeof(dir), NULL);
	struct store_append *ap = NULL;
	uint8_t *big = make_body(3, 3 * MIB);
	struct store_mbox mb;

	CU_ASSERT_EQUAL(store_append_begin(st, 3 * MIB, &ap), STORE_OK);
	CU_ASSERT_EQUAL(store_append_data(ap, big, 2 * MIB), STORE_OK);
	store_append_free(&ap);
	CU_ASSERT_PTR_NULL(ap);
	CU_ASSERT_EQUAL(store_append_begin(st, 10, &ap), STORE_OK);
	CU_ASSERT_EQUAL(store_append_data(ap, big, 10), STORE_OK);
	store_append_free(&ap);
	store_append_free(&ap);		/* NULL is fine */
	mb = mbox(st, "INBOX");
	CU_ASSERT_EQUAL(mb.messages, 0);
	CU_ASSERT_EQUAL(mb.uidnext, 1);
	CU_ASSERT_EQUAL(count_db(st->bodies), 0);
	CU_ASSERT_EQUAL(count_db(st->messages), 0);
	CU_ASSERT_EQUAL(tmp_entries(dir), 0);
	xfree(&big);
	store_close(&st);
}

void test_msg_uidnext_after_reopen(void)
{
	char dir[512];
	struct store *st = open_fresh(dir, sizeof(dir), NULL);
	uint32_t uids[3], i;
	struct store_mbox mb;
	uint64_t hms;

	for (i = 0; i < 3; i++)
		uids[i] = append_text(st, "INBOX", "x", 0);
	CU_ASSERT_EQUAL(uids[2], 3);
	CU_ASSERT_EQUAL(store_msg_set_flags(st, U, "INBOX", 0, &uids[2], 1,
	    STORE_FLAGS_ADD, STORE_FLAG_DELETED, 0, 0, NULL, NULL), STORE_OK);
	CU_ASSERT_EQUAL(store_msg_expunge(st, U, "INBOX", 0, NULL, 0, NULL,
	    NULL), STORE_OK);
	hms = mbox(st, "INBOX").highestmodseq;
	store_close(&st);
	st = open_dir(dir, false, true);
	mb = mbox(st, "INBOX");
	CU_ASSERT_EQUAL(mb.uidnext, 4);
	CU_ASSERT_EQUAL(mb.messages, 2);
	CU_ASSERT_EQUAL(mb.highestmodseq, hms);
	CU_ASSERT_EQUAL(append_text(st, "INBOX", "y", 0), 4);
	store_close(&st);
}

void test_msg_list_batches(void)
{
	char dir[512];
	uint32_t id;
	struct store *st = open_fresh(dir, sizeof(dir), &id);
	struct coll *c = xcalloc(1, sizeof(*c));
	unsigned i, n = 4100;

	for (i = 0; i < n; i++)
		CU_ASSERT_EQUAL_FATAL(append_text(st, "INBOX", "m", 0), i + 1);
	/* A walk longer than one batch, stopped by the callback. */
	c->stop_at = 300;
	CU_ASSERT_EQUAL(store_msg_list(st, U, "INBOX", id, 3950, coll_msg, c),
	    STORE_OK);
	CU_ASSERT_EQUAL(c->n, 151);
	CU_ASSERT_EQUAL(c->m[0].uid, 3950);
	CU_ASSERT_EQUAL(c->m[150].uid, n);
	for (i = 1; i < c->n; i++)
		CU_ASSERT_EQUAL(c->m[i].uid, c->m[i - 1].uid + 1);
	memset(c, 0, sizeof(*c));
	c->stop_at = 2;
	CU_ASSERT_EQUAL(store_msg_list(st, U, "INBOX", id, 1, coll_msg, c),
	    STORE_OK);
	CU_ASSERT_EQUAL(c->n, 2);
	CU_ASSERT_EQUAL(mbox(st, "INBOX").messages, n);
	xfree(&c);
	store_close(&st);
}

struct flag_seen {
	uint32_t uid[16];
	bool changed[16];
	uint64_t modseq[16];
	unsigned n;
};

static int
flag_cb(void *ctx, const struct store_msg *m, bool changed)
{
	struct flag_seen *f = ctx;

	CU_ASSERT_FATAL(f->n < 16);
	f->uid[f->n] = m->uid;
	f->changed[f->n] = changed;
	f->modseq[f->n] = m->modseq;
	f->n++;
	return 0;
}

void test_msg_flags_modseq(void)
{
	char dir[512];
	uint32_t id;
	struct store *st = open_fresh(dir, sizeof(dir), &id);
	uint32_t uids[3] = { 1, 2, 7 };
	struct flag_seen f;
	struct store_mbox mb;
	uint64_t hms;
	unsigned kw;

	append_text(st, "INBOX", "a", 0);
	append_text(st, "INBOX", "b", STORE_FLAG_SEEN);
	CU_ASSERT_EQUAL(mbox(st, "INBOX").unseen, 1);
	CU_ASSERT_EQUAL(store_keyword_index(st, U, "INBOX", id, "$Junk",
	    true, &kw), STORE_OK);
	hms = mbox(st, "INBOX").highestmodseq;

	/* +FLAGS (\Seen $Junk): only message 1 changes its \Seen, both
	 * gain the keyword; UID 7 does not exist and is skipped. */
	memset(&f, 0, sizeof(f));
	CU_ASSERT_EQUAL(store_msg_set_flags(st, U, "INBOX", id, uids, 3,
	    STORE_FLAGS_ADD, STORE_FLAG_SEEN, (uint64_t)1 << kw, 0, flag_cb,
	    &f), STORE_OK);
	CU_ASSERT_EQUAL(f.n, 2);
	CU_ASSERT(f.changed[0] && f.changed[1]);
	CU_ASSERT_EQUAL(f.modseq[0], hms + 1);
	CU_ASSERT_EQUAL(f.modseq[1], hms + 2);
	mb = mbox(st, "INBOX");
	CU_ASSERT_EQUAL(mb.highestmodseq, hms + 2);
	CU_ASSERT_EQUAL(mb.unseen, 0);
	CU_ASSERT_EQUAL(get(st, "INBOX", 1).flags, STORE_FLAG_SEEN);
	CU_ASSERT_EQUAL(get(st, "INBOX", 1).keywords, (uint64_t)1 << kw);

	/* The same again: no real change, no new MODSEQ. */
	memset(&f, 0, sizeof(f));
	CU_ASSERT_EQUAL(store_msg_set_flags(st, U, "INBOX", id, uids, 2,
	    STORE_FLAGS_ADD, STORE_FLAG_SEEN, (uint64_t)1 << kw, 0, flag_cb,
	    &f), STORE_OK);
	CU_ASSERT_EQUAL(f.n, 2);
	CU_ASSERT(!f.changed[0] && !f.changed[1]);
	CU_ASSERT_EQUAL(mbox(st, "INBOX").highestmodseq, hms + 2);
	CU_ASSERT_EQUAL(get(st, "INBOX", 2).modseq, hms + 2);

	/* -FLAGS \Seen on 2, then FLAGS (\Answered \Draft) on 1. */
	CU_ASSERT_EQUAL(store_msg_set_flags(st, U, "INBOX", id, &uids[1], 1,
	    STORE_FLAGS_REMOVE, STORE_FLAG_SEEN, 0, 0, NULL, NULL), STORE_OK);
	CU_ASSERT_EQUAL(get(st, "INBOX", 2).flags, 0);
	CU_ASSERT_EQUAL(get(st, "INBOX", 2).keywords, (uint64_t)1 << kw);
	CU_ASSERT_EQUAL(mbox(st, "INBOX").unseen, 1);
	CU_ASSERT_EQUAL(store_msg_set_flags(st, U, "INBOX", id, uids, 1,
	    STORE_FLAGS_SET, STORE_FLAG_ANSWERED | STORE_FLAG_DRAFT, 0, 0,
	    NULL, NULL), STORE_OK);
	CU_ASSERT_EQUAL(get(st, "INBOX", 1).flags,
	    STORE_FLAG_ANSWERED | STORE_FLAG_DRAFT);
	CU_ASSERT_EQUAL(get(st, "INBOX", 1).keywords, 0);
	CU_ASSERT_EQUAL(get(st, "INBOX", 1).modseq, hms + 4);
	mb = mbox(st, "INBOX");
	CU_ASSERT_EQUAL(mb.unseen, 2);
	CU_ASSERT_EQUAL(mb.highestmodseq, hms + 4);
	/* The index holds exactly one entry per message. */
	CU_ASSERT_EQUAL(count_db(st->by_modseq), 2);
	store_close(&st);
}

void test_msg_unchangedsince(void)
{
	char dir[512];
	uint32_t id;
	struct store *st = open_fresh(dir, sizeof(dir), &id);
	uint32_t uids[2] = { 1, 2 };
	struct flag_seen f;
	uint64_t m1;

	append_text(st, "INBOX", "a", 0);
	append_text(st, "INBOX", "b", 0);
	m1 = get(st, "INBOX", 1).modseq;
	CU_ASSERT(get(st, "INBOX", 2).modseq > m1);
	/* UNCHANGEDSINCE m1: message 2 is newer, left alone. */
	memset(&f, 0, sizeof(f));
	CU_ASSERT_EQUAL(store_msg_set_flags(st, U, "INBOX", id, uids, 2,
	    STORE_FLAGS_ADD, STORE_FLAG_FLAGGED, 0, m1, flag_cb, &f),
	    STORE_OK);
	CU_ASSERT_EQUAL(f.n, 2);
	CU_ASSERT(f.changed[0]);
	CU_ASSERT(!f.changed[1]);
	CU_ASSERT(f.modseq[1] > m1);
	CU_ASSERT_EQUAL(get(st, "INBOX", 1).flags, STORE_FLAG_FLAGGED);
	CU_ASSERT_EQUAL(get(st, "INBOX", 2).flags, 0);
	store_close(&st);
}

struct kw_list {
	char names[1024];
	unsigned n;
};

static int
kw_cb(void *ctx, unsigned index, const char *kw)
{
	struct kw_list *l = ctx;
	size_t len = strlen(l->names);

	CU_ASSERT_FATAL(snprintf(l->names + len, sizeof(l->names) - len,
	    "%u=%s ", index, kw) > 0);
	l->n++;
	return 0;
}

void test_msg_keywords(void)
{
	char dir[512], kw[32];
	uint32_t id;
	struct store *st = open_fresh(dir, sizeof(dir), &id);
	struct kw_list l;
	unsigned i, idx = 99;
	char longkw[STORE_KEYWORD_LEN_MAX + 2];

	CU_ASSERT_EQUAL(store_keyword_index(st, U, "INBOX", id, "$Junk",
	    false, &idx), STORE_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(store_keyword_index(st, U, "INBOX", id, "$Junk",
	    true, &idx), STORE_OK);
	CU_ASSERT_EQUAL(idx, 0);
	CU_ASSERT_EQUAL(store_keyword_index(st, U, "INBOX", id, "Work",
	    true, &idx), STORE_OK);
	CU_ASSERT_EQUAL(idx, 1);
	/* Case-insensitive, keeping the first spelling. */
	CU_ASSERT_EQUAL(store_keyword_index(st, U, "INBOX", id, "$JUNK",
	    false, &idx), STORE_OK);
	CU_ASSERT_EQUAL(idx, 0);
	CU_ASSERT_EQUAL(store_keyword_index(st, U, "INBOX", id, "work",
	    true, &idx), STORE_OK);
	CU_ASSERT_EQUAL(idx, 1);
	memset(&l, 0, sizeof(l));
	CU_ASSERT_EQUAL(store_keyword_list(st, U, "INBOX", id, kw_cb, &l),
	    STORE_OK);
	CU_ASSERT_STRING_EQUAL(l.names, "0=$Junk 1=Work ");
	/* Bad keywords. */
	CU_ASSERT_EQUAL(store_keyword_index(st, U, "INBOX", id, "", true,
	    &idx), STORE_ERR_INVALID);
	memset(longkw, 'k', sizeof(longkw) - 1);
	longkw[sizeof(longkw) - 1] = '\0';
	CU_ASSERT_EQUAL(store_keyword_index(st, U, "INBOX", id, longkw, true,
	    &idx), STORE_ERR_INVALID);
	/* 64 in all, then no more. */
	for (i = 2; i < STORE_KEYWORDS_MAX; i++) {
		CU_ASSERT_FATAL(snprintf(kw, sizeof(kw), "k%u", i) > 0);
		CU_ASSERT_EQUAL(store_keyword_index(st, U, "INBOX", id, kw,
		    true, &idx), STORE_OK);
		CU_ASSERT_EQUAL(idx, i);
	}
	CU_ASSERT_EQUAL(store_keyword_index(st, U, "INBOX", id, "extra",
	    true, &idx), STORE_ERR_INVALID);
	CU_ASSERT_EQUAL(store_keyword_index(st, U, "INBOX", id, "K63",
	    true, &idx), STORE_OK);
	CU_ASSERT_EQUAL(idx, 63);
	memset(&l, 0, sizeof(l));
	CU_ASSERT_EQUAL(store_keyword_list(st, U, "INBOX", id, kw_cb, &l),
	    STORE_OK);
	CU_ASSERT_EQUAL(l.n, 64);
	/* Another mailbox has its own set. */
	CU_ASSERT_EQUAL(store_mbox_create(st, U, "b", 0, NULL), STORE_OK);
	CU_ASSERT_EQUAL(store_keyword_index(st, U, "b", 0, "Work", true,
	    &idx), STORE_OK);
	CU_ASSERT_EQUAL(idx, 0);
	CU_ASSERT_EQUAL(store_keyword_list(st, U, "nope", 0, kw_cb, &l),
	    STORE_ERR_NOTFOUND);
	store_close(&st);
}

void test_msg_copy_shares_body(void)
{
	char dir[512];
	uint32_t id;
	struct store *st = open_fresh(dir, sizeof(dir), &id);
	uint32_t uids[3] = { 1, 2, 3 }, uidv = 0, first = 0;
	struct store_mbox dst;
	struct store_msg a, b;
	struct buf body = BUF_INITIALIZER(1 << 20);
	unsigned kw_src, kw_dst;
	size_t copied = 0;

	CU_ASSERT_EQUAL(store_mbox_create(st, U, "dst", 0, &dst), STORE_OK);
	/* dst knows "Other" as index 0, so "Work" must be remapped. */
	CU_ASSERT_EQUAL(store_keyword_index(st, U, "dst", 0, "Other", true,
	    &kw_dst), STORE_OK);
	CU_ASSERT_EQUAL(store_keyword_index(st, U, "INBOX", id, "$x", true,
	    &kw_src), STORE_OK);
	CU_ASSERT_EQUAL(store_keyword_index(st, U, "INBOX", id, "Work", true,
	    &kw_src), STORE_OK);
	CU_ASSERT_EQUAL(kw_src, 1);
	append_text(st, "INBOX", "first body", STORE_FLAG_SEEN);
	append_text(st, "INBOX", "second", STORE_FLAG_FLAGGED);
	CU_ASSERT_EQUAL(store_msg_set_flags(st, U, "INBOX", id, uids, 1,
	    STORE_FLAGS_ADD, 0, (uint64_t)1 << kw_src, 0, NULL, NULL),
	    STORE_OK);
	/* All or nothing: UID 3 does not exist, so nothing is copied. */
	CU_ASSERT_EQUAL(store_msg_copy(st, U, "INBOX", id, uids, 3, "dst",
	    &uidv, &first, &copied), STORE_ERR_EXPUNGED);
	CU_ASSERT_EQUAL(mbox(st, "dst").messages, 0);
	CU_ASSERT_EQUAL(mbox(st, "dst").uidnext, 1);
	CU_ASSERT_EQUAL(store_msg_copy(st, U, "INBOX", id, uids, 2, "dst",
	    &uidv, &first, &copied), STORE_OK);
	CU_ASSERT_EQUAL(copied, 2);
	CU_ASSERT_EQUAL(first, 1);
	CU_ASSERT_EQUAL(uidv, dst.uidvalidity);
	dst = mbox(st, "dst");
	CU_ASSERT_EQUAL(dst.messages, 2);
	CU_ASSERT_EQUAL(dst.unseen, 1);
	CU_ASSERT_EQUAL(dst.uidnext, 3);
	a = get(st, "INBOX", 1);
	b = get(st, "dst", 1);
	CU_ASSERT_EQUAL(a.body_id, b.body_id);
	CU_ASSERT_EQUAL(a.internaldate, b.internaldate);
	CU_ASSERT_EQUAL(b.flags, STORE_FLAG_SEEN);
	CU_ASSERT_EQUAL(store_keyword_index(st, U, "dst", 0, "work", false,
	    &kw_dst), STORE_OK);
	CU_ASSERT_EQUAL(kw_dst, 1);
	CU_ASSERT_EQUAL(b.keywords, (uint64_t)1 << kw_dst);
	CU_ASSERT_EQUAL(body_refs(st, a.body_id), 2);
	CU_ASSERT_EQUAL(count_db(st->body_refs), 2);
	CU_ASSERT_EQUAL(get(st, "dst", 2).flags, STORE_FLAG_FLAGGED);

	/* Copy into the same mailbox. */
	CU_ASSERT_EQUAL(store_msg_copy(st, U, "INBOX", id, uids, 1, "INBOX",
	    &uidv, &first, &copied), STORE_OK);
	CU_ASSERT_EQUAL(first, 3);
	CU_ASSERT_EQUAL(copied, 1);
	CU_ASSERT_EQUAL(body_refs(st, a.body_id), 3);
	CU_ASSERT_EQUAL(get(st, "INBOX", 3).keywords, (uint64_t)1 << kw_src);

	/* Expunging the copies: the body stays until the last goes. */
	CU_ASSERT_EQUAL(store_msg_set_flags(st, U, "INBOX", id, uids, 3,
	    STORE_FLAGS_ADD, STORE_FLAG_DELETED, 0, 0, NULL, NULL), STORE_OK);
	CU_ASSERT_EQUAL(store_msg_expunge(st, U, "INBOX", id, NULL, 0, NULL,
	    NULL), STORE_OK);
	CU_ASSERT_EQUAL(body_refs(st, a.body_id), 1);
	CU_ASSERT_EQUAL(store_body_read(st, b.body_id, 0, 100, &body),
	    STORE_OK);
	CU_ASSERT_STRING_EQUAL(buf_cstr(&body), "first body");
	CU_ASSERT_EQUAL(store_msg_set_flags(st, U, "dst", 0, uids, 2,
	    STORE_FLAGS_ADD, STORE_FLAG_DELETED, 0, 0, NULL, NULL), STORE_OK);
	CU_ASSERT_EQUAL(store_msg_expunge(st, U, "dst", 0, NULL, 0, NULL,
	    NULL), STORE_OK);
	CU_ASSERT_EQUAL(body_refs(st, a.body_id), 0);
	CU_ASSERT_EQUAL(count_db(st->bodies), 0);
	CU_ASSERT_EQUAL(count_db(st->body_refs), 0);
	CU_ASSERT_EQUAL(count_db(st->messages), 0);
	buf_reset(&body);
	CU_ASSERT_EQUAL(store_body_read(st, b.body_id, 0, 100, &body),
	    STORE_ERR_NOTFOUND);
	buf_free(&body);
	store_close(&st);
}

void test_msg_copy_missing_target(void)
{
	char dir[512];
	uint32_t id;
	struct store *st = open_fresh(dir, sizeof(dir), &id);
	uint32_t uids[1] = { 1 }, uidv = 0, first = 0;
	size_t copied = 7;
	uint64_t body;

	append_text(st, "INBOX", "m", 0);
	body = get(st, "INBOX", 1).body_id;
	CU_ASSERT_EQUAL(store_msg_copy(st, U, "INBOX", id, uids, 1, "nope",
	    &uidv, &first, &copied), STORE_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(copied, 0);
	CU_ASSERT_EQUAL(store_msg_copy(st, U, "INBOX", id + 5, uids, 1,
	    "INBOX", &uidv, &first, &copied), STORE_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(body_refs(st, body), 1);
	CU_ASSERT_EQUAL(count_db(st->messages), 1);
	CU_ASSERT_EQUAL(mbox(st, "INBOX").messages, 1);
	store_close(&st);
}

void test_msg_expunge(void)
{
	char dir[512];
	uint32_t id;
	struct store *st = open_fresh(dir, sizeof(dir), &id);
	uint32_t del[3] = { 2, 3, 5 }, some[3] = { 1, 2, 4 }, i;
	struct store_mbox mb;
	struct coll c;
	uint64_t hms;

	for (i = 0; i < 6; i++)
		append_text(st, "INBOX", "msg", i == 0 ? STORE_FLAG_SEEN : 0);
	CU_ASSERT_EQUAL(store_msg_set_flags(st, U, "INBOX", id, del, 3,
	    STORE_FLAGS_ADD, STORE_FLAG_DELETED, 0, 0, NULL, NULL), STORE_OK);
	hms = mbox(st, "INBOX").highestmodseq;
	/* By UID: only those that are \Deleted (2 of 1, 2, 4). */
	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL(store_msg_expunge(st, U, "INBOX", id, some, 3,
	    coll_uid, &c), STORE_OK);
	CU_ASSERT_EQUAL(c.nuids, 1);
	CU_ASSERT_EQUAL(c.uids[0], 2);
	mb = mbox(st, "INBOX");
	CU_ASSERT_EQUAL(mb.messages, 5);
	CU_ASSERT_EQUAL(mb.unseen, 4);
	CU_ASSERT_EQUAL(mb.highestmodseq, hms + 1);
	/* Nothing to expunge: no new MODSEQ. */
	CU_ASSERT_EQUAL(store_msg_expunge(st, U, "INBOX", id, some, 3, NULL,
	    NULL), STORE_OK);
	CU_ASSERT_EQUAL(mbox(st, "INBOX").highestmodseq, hms + 1);
	/* All the \Deleted ones. */
	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL(store_msg_expunge(st, U, "INBOX", id, NULL, 0,
	    coll_uid, &c), STORE_OK);
	CU_ASSERT_EQUAL(c.nuids, 2);
	CU_ASSERT_EQUAL(c.uids[0], 3);
	CU_ASSERT_EQUAL(c.uids[1], 5);
	mb = mbox(st, "INBOX");
	CU_ASSERT_EQUAL(mb.messages, 3);
	CU_ASSERT_EQUAL(mb.recent, 3);
	CU_ASSERT_EQUAL(mb.highestmodseq, hms + 2);
	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL(store_msg_list(st, U, "INBOX", id, 1, coll_msg, &c),
	    STORE_OK);
	CU_ASSERT_EQUAL(c.n, 3);
	CU_ASSERT_EQUAL(c.m[0].uid, 1);
	CU_ASSERT_EQUAL(c.m[1].uid, 4);
	CU_ASSERT_EQUAL(c.m[2].uid, 6);
	CU_ASSERT_EQUAL(count_db(st->bodies), 3);
	CU_ASSERT_EQUAL(count_db(st->by_modseq), 3);
	/* The expunge log, for VANISHED. */
	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL(store_changes(st, U, "INBOX", id, hms, NULL,
	    coll_uid, &c), STORE_OK);
	CU_ASSERT_EQUAL(c.nuids, 3);
	CU_ASSERT_EQUAL(c.uids[0], 2);
	CU_ASSERT_EQUAL(c.uids[1], 3);
	CU_ASSERT_EQUAL(c.uids[2], 5);
	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL(store_changes(st, U, "INBOX", id, hms + 1, NULL,
	    coll_uid, &c), STORE_OK);
	CU_ASSERT_EQUAL(c.nuids, 2);
	CU_ASSERT_EQUAL(c.uids[0], 3);
	/* A repeated UID is expunged once. */
	del[0] = del[1] = 4;
	CU_ASSERT_EQUAL(store_msg_set_flags(st, U, "INBOX", id, del, 2,
	    STORE_FLAGS_ADD, STORE_FLAG_DELETED, 0, 0, NULL, NULL), STORE_OK);
	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL(store_msg_expunge(st, U, "INBOX", id, del, 2,
	    coll_uid, &c), STORE_OK);
	CU_ASSERT_EQUAL(c.nuids, 1);
	CU_ASSERT_EQUAL(mbox(st, "INBOX").messages, 2);
	store_close(&st);
}

void test_msg_changes(void)
{
	char dir[512];
	uint32_t id;
	struct store *st = open_fresh(dir, sizeof(dir), &id);
	uint32_t uids[2] = { 2, 4 }, i;
	struct coll c;
	uint64_t hms;

	for (i = 0; i < 5; i++)
		append_text(st, "INBOX", "msg", 0);
	hms = mbox(st, "INBOX").highestmodseq;
	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL(store_changes(st, U, "INBOX", id, hms, coll_msg,
	    coll_uid, &c), STORE_OK);
	CU_ASSERT_EQUAL(c.n, 0);
	CU_ASSERT_EQUAL(c.nuids, 0);
	/* Change 4 then 2: reported in MODSEQ order. */
	CU_ASSERT_EQUAL(store_msg_set_flags(st, U, "INBOX", id, &uids[1], 1,
	    STORE_FLAGS_ADD, STORE_FLAG_ANSWERED, 0, 0, NULL, NULL),
	    STORE_OK);
	CU_ASSERT_EQUAL(store_msg_set_flags(st, U, "INBOX", id, uids, 1,
	    STORE_FLAGS_ADD, STORE_FLAG_SEEN, 0, 0, NULL, NULL), STORE_OK);
	append_text(st, "INBOX", "new", 0);
	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL(store_changes(st, U, "INBOX", id, hms, coll_msg,
	    coll_uid, &c), STORE_OK);
	CU_ASSERT_EQUAL(c.n, 3);
	CU_ASSERT_EQUAL(c.m[0].uid, 4);
	CU_ASSERT_EQUAL(c.m[0].flags, STORE_FLAG_ANSWERED);
	CU_ASSERT_EQUAL(c.m[1].uid, 2);
	CU_ASSERT_EQUAL(c.m[2].uid, 6);
	CU_ASSERT_EQUAL(c.m[2].modseq, hms + 3);
	CU_ASSERT_EQUAL(c.nuids, 0);
	/* Since the first change: two left; 4 changed again moves on. */
	CU_ASSERT_EQUAL(store_msg_set_flags(st, U, "INBOX", id, &uids[1], 1,
	    STORE_FLAGS_REMOVE, STORE_FLAG_ANSWERED, 0, 0, NULL, NULL),
	    STORE_OK);
	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL(store_changes(st, U, "INBOX", id, hms + 1, coll_msg,
	    NULL, &c), STORE_OK);
	CU_ASSERT_EQUAL(c.n, 3);
	CU_ASSERT_EQUAL(c.m[0].uid, 2);
	CU_ASSERT_EQUAL(c.m[1].uid, 6);
	CU_ASSERT_EQUAL(c.m[2].uid, 4);
	CU_ASSERT_EQUAL(c.m[2].flags, 0);
	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL(store_changes(st, U, "INBOX", id, hms + 4, coll_msg,
	    coll_uid, &c), STORE_OK);
	CU_ASSERT_EQUAL(c.n, 0);
	CU_ASSERT_EQUAL(store_changes(st, U, "INBOX", id + 1, 0, coll_msg,
	    coll_uid, &c), STORE_ERR_NOTFOUND);
	store_close(&st);
}

void test_msg_claim_recent(void)
{
	char dir[512];
	uint32_t id, first = 0;
	struct store *st = open_fresh(dir, sizeof(dir), &id);

	CU_ASSERT_EQUAL(store_mbox_claim_recent(st, U, "INBOX", id, &first, NULL),
	    STORE_OK);
	CU_ASSERT_EQUAL(first, 1);	/* none: UIDNEXT */
	append_text(st, "INBOX", "a", 0);
	append_text(st, "INBOX", "b", 0);
	CU_ASSERT_EQUAL(mbox(st, "INBOX").recent, 2);
	CU_ASSERT_EQUAL(store_mbox_claim_recent(st, U, "INBOX", id, &first, NULL),
	    STORE_OK);
	CU_ASSERT_EQUAL(first, 1);
	CU_ASSERT_EQUAL(mbox(st, "INBOX").recent, 0);
	CU_ASSERT_EQUAL(mbox(st, "INBOX").recent_uid, 3);
	/* A second session gets none of them. */
	CU_ASSERT_EQUAL(store_mbox_claim_recent(st, U, "INBOX", id, &first, NULL),
	    STORE_OK);
	CU_ASSERT_EQUAL(first, 3);
	append_text(st, "INBOX", "c", 0);
	CU_ASSERT_EQUAL(mbox(st, "INBOX").recent, 1);
	CU_ASSERT_EQUAL(store_mbox_claim_recent(st, U, "INBOX", id, &first, NULL),
	    STORE_OK);
	CU_ASSERT_EQUAL(first, 3);
	CU_ASSERT_EQUAL(store_mbox_claim_recent(st, U, "INBOX", id, &first, NULL),
	    STORE_OK);
	CU_ASSERT_EQUAL(first, 4);
	CU_ASSERT_EQUAL(store_mbox_claim_recent(st, U, "INBOX", id + 1,
	    &first, NULL), STORE_ERR_NOTFOUND);
	store_close(&st);
}

void test_msg_delete_mailbox(void)
{
	char dir[512];
	struct store *st = open_fresh(dir, sizeof(dir), NULL);
	struct store_mbox a, a2;
	uint32_t uids[1] = { 1 }, uidv, first;
	unsigned kw;
	size_t copied;

	CU_ASSERT_EQUAL(store_mbox_create(st, U, "a", 0, &a), STORE_OK);
	append_text(st, "a", "one", 0);
	append_text(st, "a", "two", 0);
	append_text(st, "INBOX", "kept", 0);
	CU_ASSERT_EQUAL(store_keyword_index(st, U, "a", 0, "k", true, &kw),
	    STORE_OK);
	CU_ASSERT_EQUAL(store_msg_copy(st, U, "a", 0, uids, 1, "INBOX",
	    &uidv, &first, &copied), STORE_OK);
	CU_ASSERT_EQUAL(count_db(st->bodies), 3);
	CU_ASSERT_EQUAL(store_mbox_delete(st, U, "a"), STORE_OK);
	/* The copy in INBOX keeps the shared body. */
	CU_ASSERT_EQUAL(count_db(st->messages), 2);
	CU_ASSERT_EQUAL(count_db(st->bodies), 2);
	CU_ASSERT_EQUAL(count_db(st->body_refs), 2);
	CU_ASSERT_EQUAL(count_db(st->by_modseq), 2);
	CU_ASSERT_EQUAL(count_db(st->keywords), 0);
	CU_ASSERT_EQUAL(body_refs(st, get(st, "INBOX", first).body_id), 1);
	/* Re-created: empty, new id. */
	CU_ASSERT_EQUAL(store_mbox_create(st, U, "a", 0, &a2), STORE_OK);
	CU_ASSERT(a2.id != a.id);
	CU_ASSERT_EQUAL(a2.messages, 0);
	CU_ASSERT_EQUAL(store_msg_get(st, U, "a", 0, 1, &(struct store_msg){
	    0 }), STORE_ERR_NOTFOUND);
	/* DELETE of a mailbox with inferiors drops its messages too. */
	append_text(st, "a", "three", 0);
	CU_ASSERT_EQUAL(store_mbox_create(st, U, "a/b", 0, NULL), STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_delete(st, U, "a"), STORE_OK);
	CU_ASSERT_EQUAL(count_db(st->messages), 2);
	CU_ASSERT_EQUAL(count_db(st->bodies), 2);
	/* User removal takes everything. */
	CU_ASSERT_EQUAL(store_user_delete(st, U), STORE_OK);
	CU_ASSERT_EQUAL(count_db(st->messages), 0);
	CU_ASSERT_EQUAL(count_db(st->bodies), 0);
	CU_ASSERT_EQUAL(count_db(st->body_refs), 0);
	CU_ASSERT_EQUAL(count_db(st->by_modseq), 0);
	CU_ASSERT_EQUAL(count_db(st->expunged), 0);
	store_close(&st);
}

void test_msg_rename_inbox(void)
{
	char dir[512];
	uint32_t id;
	struct store *st = open_fresh(dir, sizeof(dir), &id);
	struct store_mbox old, inbox;
	struct store_msg m;
	struct coll c;

	append_text(st, "INBOX", "one", 0);
	append_text(st, "INBOX", "two", 0);
	CU_ASSERT_EQUAL(store_mbox_rename(st, U, "INBOX", "old"), STORE_OK);
	old = mbox(st, "old");
	inbox = mbox(st, "INBOX");
	CU_ASSERT_EQUAL(old.id, id);
	CU_ASSERT_EQUAL(old.messages, 2);
	CU_ASSERT_EQUAL(old.uidnext, 3);
	CU_ASSERT(inbox.id != id);
	CU_ASSERT_EQUAL(inbox.messages, 0);
	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL(store_msg_list(st, U, "old", id, 1, coll_msg, &c),
	    STORE_OK);
	CU_ASSERT_EQUAL(c.n, 2);
	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL(store_msg_list(st, U, "INBOX", 0, 1, coll_msg, &c),
	    STORE_OK);
	CU_ASSERT_EQUAL(c.n, 0);
	/* A session that selected INBOX before: gone. */
	CU_ASSERT_EQUAL(store_msg_get(st, U, "INBOX", id, 1, &m),
	    STORE_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(append_text(st, "INBOX", "new", 0), 1);
	store_close(&st);
}

void test_msg_id_mismatch(void)
{
	char dir[512];
	struct store *st = open_fresh(dir, sizeof(dir), NULL);
	struct store_mbox a, a2;
	struct store_msg m;
	struct coll c;
	uint32_t uids[1] = { 1 }, uidv, first, rec;
	unsigned kw;
	size_t copied;

	CU_ASSERT_EQUAL(store_mbox_create(st, U, "a", 0, &a), STORE_OK);
	append_text(st, "a", "one", STORE_FLAG_DELETED);
	CU_ASSERT_EQUAL(store_mbox_delete(st, U, "a"), STORE_OK);
	CU_ASSERT_EQUAL(store_mbox_create(st, U, "a", 0, &a2), STORE_OK);
	append_text(st, "a", "two", STORE_FLAG_DELETED);
	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL(store_msg_list(st, U, "a", a.id, 1, coll_msg, &c),
	    STORE_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(c.n, 0);
	CU_ASSERT_EQUAL(store_msg_get(st, U, "a", a.id, 1, &m),
	    STORE_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(store_msg_set_flags(st, U, "a", a.id, uids, 1,
	    STORE_FLAGS_ADD, STORE_FLAG_SEEN, 0, 0, NULL, NULL),
	    STORE_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(store_msg_expunge(st, U, "a", a.id, NULL, 0, NULL,
	    NULL), STORE_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(store_msg_copy(st, U, "a", a.id, uids, 1, "INBOX",
	    &uidv, &first, &copied), STORE_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(store_keyword_index(st, U, "a", a.id, "k", true,
	    &kw), STORE_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(store_mbox_claim_recent(st, U, "a", a.id, &rec, NULL),
	    STORE_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(store_changes(st, U, "a", a.id, 0, coll_msg, NULL,
	    &c), STORE_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(append(st, "a", a.id, (const uint8_t *)"x", 1, 0,
	    &rec), STORE_ERR_NOTFOUND);
	/* Nothing was touched in the new mailbox. */
	m = get(st, "a", 1);
	CU_ASSERT_EQUAL(m.flags, STORE_FLAG_DELETED);
	CU_ASSERT_EQUAL(mbox(st, "a").messages, 1);
	CU_ASSERT_EQUAL(store_msg_get(st, U, "a", a2.id, 1, &m), STORE_OK);
	/* Another user's mailbox of the same name is another mailbox. */
	CU_ASSERT_EQUAL(store_msg_get(st, "v", "a", a2.id, 1, &m),
	    STORE_ERR_NOTFOUND);
	store_close(&st);
}

/*
 * Every database call of a spooled commit fails in turn: with EIO the
 * commit fails and leaves nothing; with a deadlock it is retried (the
 * spool re-read from the start) and stores the message exactly once.
 */
void test_msg_append_faults(void)
{
	char dir[512];
	uint32_t id;
	struct store *st = open_fresh(dir, sizeof(dir), &id);
	size_t size = 2 * MIB + 5;
	uint8_t *p = make_body(9, size);
	struct store_append *ap = NULL;
	unsigned n, failed = 0, stored = 0;
	uint32_t uid, uidv;
	enum store_err e;

	log_set_level(LOG_CRIT);
	for (n = 1; n < 80; n++) {
		unsigned before = count_db(st->bodies);

		CU_ASSERT_EQUAL_FATAL(store_append_begin(st, size, &ap),
		    STORE_OK);
		CU_ASSERT_EQUAL(store_append_data(ap, p, size), STORE_OK);
		store_debug_fail_after(st, n);
		e = store_append_commit(ap, U, "INBOX", id, 0, 0, 0, 0, &uid,
		    &uidv);
		store_debug_fail_after(st, 0);
		if (e == STORE_OK) {
			stored++;
			CU_ASSERT_EQUAL(count_db(st->bodies), before + 33);
		} else {
			failed++;
			CU_ASSERT_EQUAL(e, STORE_ERR_IO);
			CU_ASSERT_EQUAL(count_db(st->bodies), before);
		}
		store_append_free(&ap);
	}
	/* each call of the commit failed once */
	CU_ASSERT(failed >= 35);
	CU_ASSERT_EQUAL(mbox(st, "INBOX").messages, stored);
	CU_ASSERT_EQUAL(count_db(st->messages), stored);
	CU_ASSERT_EQUAL(count_db(st->body_refs), stored);

	/* Deadlocks: retried, each attempt reading the spool again. */
	for (n = 1; n < 40; n += 3) {
		struct store_msg m;

		CU_ASSERT_EQUAL_FATAL(store_append_begin(st, size, &ap),
		    STORE_OK);
		CU_ASSERT_EQUAL(store_append_data(ap, p, size), STORE_OK);
		store_debug_fail_with(st, n, DB_LOCK_DEADLOCK, false);
		e = store_append_commit(ap, U, "INBOX", id, 0, 0, 0, 0, &uid,
		    &uidv);
		store_debug_fail_after(st, 0);
		store_append_free(&ap);
		CU_ASSERT_EQUAL(e, STORE_OK);
		stored++;
		m = get(st, "INBOX", uid);
		check_range(st, m.body_id, 9, size, 0, size);
	}
	log_set_level(LOG_WARNING);
	CU_ASSERT_EQUAL(mbox(st, "INBOX").messages, stored);
	CU_ASSERT_EQUAL(count_db(st->messages), stored);
	CU_ASSERT_EQUAL(count_db(st->bodies), stored * 33);
	CU_ASSERT_EQUAL(tmp_entries(dir), 0);
	xfree(&p);
	store_close(&st);
}

/* The same for STORE, COPY and EXPUNGE: all or nothing. */
void test_msg_flags_copy_expunge_faults(void)
{
	char dir[512];
	uint32_t id;
	struct store *st = open_fresh(dir, sizeof(dir), &id);
	uint32_t uids[4] = { 1, 2, 3, 4 }, uidv, first;
	struct store_mbox before, after;
	unsigned n, kw;
	size_t copied;
	enum store_err e;

	CU_ASSERT_EQUAL(store_mbox_create(st, U, "dst", 0, NULL), STORE_OK);
	CU_ASSERT_EQUAL(store_keyword_index(st, U, "INBOX", id, "k", true,
	    &kw), STORE_OK);
	for (n = 0; n < 4; n++)
		append_text(st, "INBOX", "body", 0);
	log_set_level(LOG_CRIT);
	for (n = 1; n < 40; n++) {
		before = mbox(st, "INBOX");
		store_debug_fail_after(st, n);
		e = store_msg_set_flags(st, U, "INBOX", id, uids, 4,
		    STORE_FLAGS_SET, n % 2 ? STORE_FLAG_SEEN : 0,
		    (uint64_t)1 << kw, 0, NULL, NULL);
		store_debug_fail_after(st, 0);
		after = mbox(st, "INBOX");
		if (e != STORE_OK) {
			CU_ASSERT_EQUAL(after.highestmodseq,
			    before.highestmodseq);
			CU_ASSERT_EQUAL(after.unseen, before.unseen);
		} else {
			CU_ASSERT_EQUAL(after.unseen, n % 2 ? 0 : 4);
		}
		CU_ASSERT_EQUAL(count_db(st->by_modseq), 4);
	}
	for (n = 1; n < 40; n++) {
		before = mbox(st, "dst");
		store_debug_fail_after(st, n);
		e = store_msg_copy(st, U, "INBOX", id, uids, 4, "dst", &uidv,
		    &first, &copied);
		store_debug_fail_after(st, 0);
		after = mbox(st, "dst");
		CU_ASSERT_EQUAL(after.messages, before.messages +
		    (e == STORE_OK ? 4 : 0));
		CU_ASSERT_EQUAL(count_db(st->messages), 4 + after.messages);
		CU_ASSERT_EQUAL(body_refs(st, get(st, "INBOX", 1).body_id),
		    1 + after.messages / 4);
	}
	before = mbox(st, "dst");
	{
		struct coll *c = xcalloc(1, sizeof(*c));
		uint32_t *all = xcalloc(before.messages, sizeof(*all));
		unsigned i;

		CU_ASSERT_EQUAL(store_msg_list(st, U, "dst", 0, 1, coll_msg,
		    c), STORE_OK);
		for (i = 0; i < c->n; i++)
			all[i] = c->m[i].uid;
		CU_ASSERT_EQUAL(store_msg_set_flags(st, U, "dst", 0, all,
		    c->n, STORE_FLAGS_ADD, STORE_FLAG_DELETED, 0, 0, NULL,
		    NULL), STORE_OK);
		xfree(&all);
		xfree(&c);
	}
	for (n = 1; n < 200; n++) {
		store_debug_fail_after(st, n);
		e = store_msg_expunge(st, U, "dst", 0, NULL, 0, NULL, NULL);
		store_debug_fail_after(st, 0);
		after = mbox(st, "dst");
		if (e == STORE_OK)
			break;
		CU_ASSERT_EQUAL(after.messages, before.messages);
		CU_ASSERT_EQUAL(count_db(st->messages), 4 + before.messages);
	}
	log_set_level(LOG_WARNING);
	CU_ASSERT_EQUAL(e, STORE_OK);
	CU_ASSERT_EQUAL(mbox(st, "dst").messages, 0);
	CU_ASSERT_EQUAL(count_db(st->messages), 4);
	CU_ASSERT_EQUAL(count_db(st->bodies), 4);
	CU_ASSERT_EQUAL(body_refs(st, get(st, "INBOX", 1).body_id), 1);
	store_close(&st);
}

/* Appends n messages, each saying which child and number it is. */
static void
append_child(const char *dir, int gofd, unsigned who, unsigned n)
{
	struct store_options opt = { .create = false, .nosync = true };
	struct store *st;
	const char *error;
	unsigned i, tries = 0;
	char c, text[64];

	if (store_open(dir, &opt, &st, &error) != STORE_OK)
		_exit(2);
	if (read(gofd, &c, 1) != 0)
		_exit(5);
	for (i = 0; i < n; i++) {
		struct store_append *ap;
		uint32_t uid, uidv;
		enum store_err e;
		int len = snprintf(text, sizeof(text), "child %u msg %u\r\n",
		    who, i);

		if (len <= 0 || store_append_begin(st, (uint64_t)len, &ap) !=
		    STORE_OK || store_append_data(ap, (uint8_t *)text,
		    (size_t)len) != STORE_OK)
			_exit(3);
		e = store_append_commit(ap, U, "INBOX", 0, 0, 0, 0, 0, &uid,
		    &uidv);
		store_append_free(&ap);
		if (e == STORE_ERR_TRYAGAIN && tries++ < 100) {
			i--;
			continue;
		}
		if (e != STORE_OK)
			_exit(4);
	}
	store_close(&st);
	_exit(0);
}

void test_msg_concurrent_append(void)
{
	char dir[512];
	uint32_t id;
	struct store *st = open_fresh(dir, sizeof(dir), &id);
	struct coll *c = xcalloc(1, sizeof(*c));
	pid_t pids[2];
	int go[2], status;
	unsigned i;

	store_close(&st);
	CU_ASSERT_FATAL(pipe(go) == 0);
	for (i = 0; i < N_ELEMENTS(pids); i++) {
		pids[i] = fork();
		CU_ASSERT_FATAL(pids[i] >= 0);
		if (pids[i] == 0) {
			close(go[1]);
			append_child(dir, go[0], i, 100);
		}
	}
	close(go[0]);
	usleep(100 * 1000);
	close(go[1]);
	for (i = 0; i < N_ELEMENTS(pids); i++) {
		CU_ASSERT_EQUAL(waitpid(pids[i], &status, 0), pids[i]);
		CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	st = open_dir(dir, false, true);
	CU_ASSERT_EQUAL(mbox(st, "INBOX").messages, 200);
	CU_ASSERT_EQUAL(mbox(st, "INBOX").uidnext, 201);
	CU_ASSERT_EQUAL(store_msg_list(st, U, "INBOX", id, 1, coll_msg, c),
	    STORE_OK);
	CU_ASSERT_EQUAL(c->n, 200);
	for (i = 1; i < c->n; i++) {
		CU_ASSERT(c->m[i].uid > c->m[i - 1].uid);
		CU_ASSERT(c->m[i].body_id != c->m[i - 1].body_id);
	}
	CU_ASSERT_EQUAL(count_db(st->bodies), 200);
	xfree(&c);
	store_close(&st);
}

/* Appends forever with durable commits, reporting (number, uid) pairs of
 * acknowledged messages; message i is (i % 50) * 1000 + 1 bytes of
 * pattern(i). */
static void
kill_child(const char *dir, int wfd)
{
	struct store_options opt = { .create = false, .nosync = false };
	struct store *st;
	const char *error;
	unsigned i;

	if (store_open(dir, &opt, &st, &error) != STORE_OK)
		_exit(2);
	for (i = 1;; i++) {
		size_t n = (size_t)(i % 50) * 1000 + 1;
		uint8_t *p = make_body(i, n);
		uint32_t pair[2], uidv;
		enum store_err e;

		e = append(st, "INBOX", 0, p, n, 0, &pair[1]);
		free(p);
		if (e == STORE_ERR_TRYAGAIN)
			continue;
		if (e != STORE_OK)
			_exit(4);
		pair[0] = i;
		(void)uidv;
		if (write(wfd, pair, sizeof(pair)) != (ssize_t)sizeof(pair))
			_exit(3);
		if (i >= 400)	/* enough: wait for the signal */
			for (;;)
				pause();
	}
}

void test_msg_kill_append(void)
{
	char dir[512];
	uint32_t id, uid, pairs[512][2];
	struct store *st = open_fresh(dir, sizeof(dir), &id);
	struct coll *c = xcalloc(1, sizeof(*c));
	size_t got = 0, i;
	pid_t pid;
	int fds[2], status;

	store_close(&st);
	CU_ASSERT_FATAL(pipe(fds) == 0);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		kill_child(dir, fds[1]);
	}
	close(fds[1]);
	/* Let it acknowledge some, then kill it in the middle of more. */
	while (got < 30) {
		ssize_t r = read(fds[0], pairs[got], sizeof(pairs[0]));

		CU_ASSERT_FATAL(r == (ssize_t)sizeof(pairs[0]));
		got++;
	}
	usleep(arc4random_uniform(20000));
	CU_ASSERT_EQUAL(kill(pid, SIGKILL), 0);
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFSIGNALED(status));
	/* Acknowledgements written before the kill are still in the pipe. */
	for (;;) {
		ssize_t r;

		CU_ASSERT_FATAL(got < N_ELEMENTS(pairs));
		r = read(fds[0], pairs[got], sizeof(pairs[0]));
		if (r != (ssize_t)sizeof(pairs[0]))
			break;
		got++;
	}
	close(fds[0]);

	/* Recovery runs on open (the child died holding the environment). */
	st = open_dir(dir, false, false);
	CU_ASSERT_EQUAL(store_msg_list(st, U, "INBOX", id, 1, coll_msg, c),
	    STORE_OK);
	CU_ASSERT(c->n >= got);
	CU_ASSERT_EQUAL(mbox(st, "INBOX").messages, c->n);
	CU_ASSERT_EQUAL(count_db(st->body_refs), c->n);
	for (i = 0; i < got; i++) {
		struct store_msg m = get(st, "INBOX", pairs[i][1]);
		size_t n = (size_t)(pairs[i][0] % 50) * 1000 + 1;

		CU_ASSERT_EQUAL(m.size, n);
		check_range(st, m.body_id, pairs[i][0], n, 0, n);
	}
	/* Every stored message is whole: its bytes all there. */
	for (i = 0; i < c->n; i++) {
		struct buf b = BUF_INITIALIZER(1 << 20);

		CU_ASSERT_EQUAL(store_body_read(st, c->m[i].body_id, 0,
		    (size_t)c->m[i].size + 10, &b), STORE_OK);
		CU_ASSERT_EQUAL(b.len, c->m[i].size);
		CU_ASSERT_EQUAL(body_refs(st, c->m[i].body_id), 1);
		buf_free(&b);
	}
	/* And it keeps working. */
	uid = append_text(st, "INBOX", "after", 0);
	CU_ASSERT_EQUAL(uid, mbox(st, "INBOX").uidnext - 1);
	CU_ASSERT_EQUAL(mbox(st, "INBOX").messages, c->n + 1);
	xfree(&c);
	store_close(&st);
}

static int
move_uid_cb(void *ctx, uint32_t uid)
{
	struct buf *b = ctx;

	return buf_addf(b, "%u ", uid) < 0;
}

/* MOVE is one transaction: all of it, or none of it. */
void test_msg_move(void)
{
	char dir[512];
	uint32_t id, uids[3] = { 1, 2, 7 }, uidv = 0, first = 0;
	struct store *st = open_fresh(dir, sizeof(dir), &id);
	struct store_mbox src, dst;
	struct buf gone = BUF_INITIALIZER(256);
	struct store_msg m;
	uint64_t body;

	CU_ASSERT_EQUAL(store_mbox_create(st, U, "dst", 0, &dst), STORE_OK);
	append_text(st, "INBOX", "one", STORE_FLAG_SEEN);
	append_text(st, "INBOX", "two", 0);
	append_text(st, "INBOX", "three", 0);
	body = get(st, "INBOX", 2).body_id;
	/* UID 7 does not exist: nothing moves. */
	CU_ASSERT_EQUAL(store_msg_move(st, U, "INBOX", id, uids, 3, "dst",
	    &uidv, &first, move_uid_cb, &gone), STORE_ERR_EXPUNGED);
	CU_ASSERT_EQUAL(gone.len, 0);
	CU_ASSERT_EQUAL(mbox(st, "INBOX").messages, 3);
	CU_ASSERT_EQUAL(mbox(st, "dst").messages, 0);
	/* To a missing mailbox: nothing moves either. */
	CU_ASSERT_EQUAL(store_msg_move(st, U, "INBOX", id, uids, 2, "nope",
	    &uidv, &first, NULL, NULL), STORE_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(mbox(st, "INBOX").messages, 3);
	src = mbox(st, "INBOX");
	CU_ASSERT_EQUAL(store_msg_move(st, U, "INBOX", id, uids, 2, "dst",
	    &uidv, &first, move_uid_cb, &gone), STORE_OK);
	CU_ASSERT_STRING_EQUAL(buf_cstr(&gone), "1 2 ");
	CU_ASSERT_EQUAL(uidv, dst.uidvalidity);
	CU_ASSERT_EQUAL(first, 1);
	dst = mbox(st, "dst");
	CU_ASSERT_EQUAL(dst.messages, 2);
	CU_ASSERT_EQUAL(dst.unseen, 1);
	CU_ASSERT_EQUAL(mbox(st, "INBOX").messages, 1);
	CU_ASSERT_EQUAL(mbox(st, "INBOX").unseen, 1);
	CU_ASSERT(mbox(st, "INBOX").highestmodseq > src.highestmodseq);
	CU_ASSERT_EQUAL(store_msg_get(st, U, "INBOX", id, 1, &m),
	    STORE_ERR_NOTFOUND);
	/* The body moved with the message: one reference, same bytes. */
	CU_ASSERT_EQUAL(get(st, "dst", 2).body_id, body);
	CU_ASSERT_EQUAL(body_refs(st, body), 1);
	buf_free(&gone);
	store_close(&st);
}
