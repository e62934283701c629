/*
 * mbox.c: mailboxes (RFC 3501 §6.3.3-6.3.5 CREATE, DELETE, RENAME; LIST's
 * data), subscriptions (§6.3.6-6.3.7) and the per-user set-up and removal.
 *
 * The "mailboxes" record is packed big-endian behind a version byte:
 *   0      version (1)
 *   1..4   id            5..8  uidvalidity   9..12 uidnext
 *   13..20 highestmodseq 21..24 messages    25..28 unseen
 *   29..32 recent        33..36 flags
 * version 2 appends:
 *   37..40 recent_uid (the \Recent mark; version 1 records read as 1)
 * A later version appends fields; a reader accepts any longer record.
 *
 * Invariant kept by every write here: every superior of a mailbox exists
 * (selectable or a \Noselect placeholder), and a placeholder always has
 * inferiors.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/buf.h"
#include "../lib/log.h"
#include "../lib/xalloc.h"
#include "store_int.h"

#define MBOX_REC_VERSION	2
#define MBOX_REC_LEN_V1		37
#define MBOX_REC_LEN		41
#define MBOX_REC_BUFSIZE	256	/* room for records of later versions */
#define MBOX_SPECIAL_USE	(STORE_MBOX_DRAFTS | STORE_MBOX_SENT | \
	STORE_MBOX_TRASH | STORE_MBOX_JUNK | STORE_MBOX_ARCHIVE)
#define MBOX_COLLECT_MAX	(256u * 1024 * 1024)

static const char mbox_inbox[] = "INBOX";

static void
mbox_pack(const struct store_mbox *mb, uint8_t *p)
{
	p[0] = MBOX_REC_VERSION;
	store_be_put32(p + 1, mb->id);
	store_be_put32(p + 5, mb->uidvalidity);
	store_be_put32(p + 9, mb->uidnext);
	store_be_put64(p + 13, mb->highestmodseq);
	store_be_put32(p + 21, mb->messages);
	store_be_put32(p + 25, mb->unseen);
	store_be_put32(p + 29, mb->recent);
	store_be_put32(p + 33, mb->flags);
	store_be_put32(p + 37, mb->recent_uid);
}

bool
store_mbox_unpack(const uint8_t *p, size_t n, struct store_mbox *mb)
{
	if (n < MBOX_REC_LEN_V1 || p[0] < 1 ||
	    (p[0] >= 2 && n < MBOX_REC_LEN))
		return false;
	mb->id = store_be_get32(p + 1);
	mb->uidvalidity = store_be_get32(p + 5);
	mb->uidnext = store_be_get32(p + 9);
	mb->highestmodseq = store_be_get64(p + 13);
	mb->messages = store_be_get32(p + 21);
	mb->unseen = store_be_get32(p + 25);
	mb->recent = store_be_get32(p + 29);
	mb->flags = store_be_get32(p + 33);
	mb->recent_uid = p[0] >= 2 ? store_be_get32(p + 37) : 1;
	return true;
}

static enum store_err
mbox_bad_record(const DBT *k)
{
	char esc[128];

	log_msg(LOG_ERR, "store: corrupt mailbox record %s",
	    log_escape(k->data, k->size, esc, sizeof(esc)));
	return STORE_ERR_IO;
}

/* DB_RMW inside a write transaction: take the write lock at once. */
static u_int32_t
mbox_rmw(DB_TXN *txn)
{
	return txn != NULL ? DB_RMW : 0;
}

/* Reads one record; *found_r says whether there was one. */
static enum store_err
mbox_read(struct store *st, DB_TXN *txn, struct store_key *k,
    struct store_mbox *mb, bool *found_r)
{
	uint8_t buf[MBOX_REC_BUFSIZE];
	DBT kd, d;
	int ret;

	*found_r = false;
	store_key_dbt(k, &kd);
	memset(&d, 0, sizeof(d));
	d.data = buf;
	d.ulen = sizeof(buf);
	d.flags = DB_DBT_USERMEM;
	ret = store_db_get(st, st->mailboxes, txn, &kd, &d, mbox_rmw(txn));
	if (ret == DB_NOTFOUND)
		return STORE_OK;
	if (ret != 0)
		return store_dberr(st, ret, "mailbox get");
	if (!store_mbox_unpack(buf, d.size, mb))
		return mbox_bad_record(&kd);
	*found_r = true;
	return STORE_OK;
}

static enum store_err
mbox_write(struct store *st, DB_TXN *txn, struct store_key *k,
    const struct store_mbox *mb)
{
	uint8_t buf[MBOX_REC_LEN];
	DBT kd, d;
	int ret;

	mbox_pack(mb, buf);
	store_key_dbt(k, &kd);
	memset(&d, 0, sizeof(d));
	d.data = buf;
	d.size = sizeof(buf);
	ret = store_db_put(st, st->mailboxes, txn, &kd, &d, 0);
	return ret == 0 ? STORE_OK : store_dberr(st, ret, "mailbox put");
}

static enum store_err
mbox_remove_key(struct store *st, DB_TXN *txn, struct store_key *k)
{
	DBT kd;
	int ret;

	store_key_dbt(k, &kd);
	ret = store_db_del(st, st->mailboxes, txn, &kd);
	return ret == 0 ? STORE_OK : store_dberr(st, ret, "mailbox del");
}

enum store_err
store_mbox_rec_read(struct store *st, DB_TXN *txn, struct store_key *k,
    struct store_mbox *mb, bool *found_r)
{
	return mbox_read(st, txn, k, mb, found_r);
}

enum store_err
store_mbox_rec_write(struct store *st, DB_TXN *txn, struct store_key *k,
    const struct store_mbox *mb)
{
	return mbox_write(st, txn, k, mb);
}

/*
 * Removes everything hanging off a mailbox's id (messages, their index
 * entries, the expunge log, keywords, unshared bodies). The one place
 * DELETE, the placeholder conversion and user removal go through.
 */
static enum store_err
mbox_purge_messages(struct store *st, DB_TXN *txn, const struct store_mbox *mb)
{
	return store_msg_purge(st, txn, mb->id);
}

/* A fresh, empty, selectable mailbox with a new id and UIDVALIDITY. */
static enum store_err
mbox_new(struct store *st, DB_TXN *txn, uint32_t flags, struct store_mbox *mb)
{
	uint64_t id, uidvalidity;
	enum store_err e;

	if ((e = store_counter_next(st, txn, "mailbox_id", 1, UINT32_MAX,
	    &id)) != STORE_OK)
		return e;
	if ((e = store_counter_next(st, txn, "uidvalidity",
	    (uint32_t)time(NULL), UINT32_MAX, &uidvalidity)) != STORE_OK)
		return e;
	memset(mb, 0, sizeof(*mb));
	mb->id = (uint32_t)id;
	mb->uidvalidity = (uint32_t)uidvalidity;
	mb->uidnext = 1;
	mb->recent_uid = 1;
	mb->highestmodseq = 1;	/* RFC 7162: mod-sequences are positive */
	mb->flags = flags & MBOX_SPECIAL_USE;
	return STORE_OK;
}

/*
 * Positions c at the first key beginning with prefix; *found_r false if
 * there is none. The key and data DBTs point into the cursor's memory.
 */
static int
mbox_cursor_first(struct store *st, DBC *c, struct store_key *prefix,
    DBT *kd, DBT *d, u_int32_t flags, bool *found_r)
{
	int ret;

	*found_r = false;
	store_key_dbt(prefix, kd);
	memset(d, 0, sizeof(*d));
	ret = store_cursor_get(st, c, kd, d, DB_SET_RANGE | flags);
	if (ret == DB_NOTFOUND)
		return 0;
	if (ret == 0)
		*found_r = store_key_is_prefix(prefix, kd);
	return ret;
}

static int
mbox_cursor_next(struct store *st, DBC *c, struct store_key *prefix,
    DBT *kd, DBT *d, u_int32_t flags, bool *found_r)
{
	int ret;

	*found_r = false;
	memset(kd, 0, sizeof(*kd));
	memset(d, 0, sizeof(*d));
	ret = store_cursor_get(st, c, kd, d, DB_NEXT | flags);
	if (ret == DB_NOTFOUND)
		return 0;
	if (ret == 0)
		*found_r = store_key_is_prefix(prefix, kd);
	return ret;
}

/* True in *r if some mailbox name begins with the name of k plus '/'. */
static enum store_err
mbox_children(struct store *st, DB_TXN *txn, const struct store_key *k,
    bool *r)
{
	struct store_key p = *k;
	const uint8_t delim = STORE_DELIM;
	DBC *c;
	DBT kd, d;
	int ret;

	*r = false;
	if (store_key_append(&p, &delim, 1) != STORE_OK)
		return STORE_OK;	/* too long to have inferiors */
	if ((ret = store_cursor_open(st, st->mailboxes, txn, &c)) != 0)
		return store_dberr(st, ret, "cursor");
	ret = mbox_cursor_first(st, c, &p, &kd, &d, mbox_rmw(txn), r);
	store_cursor_close(&c, &ret);
	return ret == 0 ? STORE_OK : store_dberr(st, ret, "mailbox children");
}

/* Creates the missing superiors of k, outermost first, as selectable. */
static enum store_err
mbox_make_superiors(struct store *st, DB_TXN *txn, const struct store_key *k)
{
	struct store_key sup = *k;
	struct store_mbox mb;
	enum store_err e;
	size_t i;
	bool found;

	for (i = k->name_off + 1; i < k->len; i++) {
		if (k->data[i] != STORE_DELIM)
			continue;
		sup.len = i;
		if ((e = mbox_read(st, txn, &sup, &mb, &found)) != STORE_OK)
			return e;
		if (found)
			continue;
		if ((e = mbox_new(st, txn, 0, &mb)) != STORE_OK ||
		    (e = mbox_write(st, txn, &sup, &mb)) != STORE_OK)
			return e;
	}
	return STORE_OK;
}

/* --- get --- */

struct mbox_get_ctx {
	struct store_key k;
	struct store_mbox *mb;
};

static enum store_err
mbox_get_fn(struct store *st, DB_TXN *txn, void *ctx)
{
	struct mbox_get_ctx *g = ctx;
	enum store_err e;
	bool found;

	if ((e = mbox_read(st, txn, &g->k, g->mb, &found)) != STORE_OK)
		return e;
	return found ? STORE_OK : STORE_ERR_NOTFOUND;
}

enum store_err
store_mbox_get(struct store *st, const char *user, const char *name,
    struct store_mbox *mb_r)
{
	struct mbox_get_ctx g;
	enum store_err e;

	if ((e = store_key_user_name(&g.k, user, name, false)) != STORE_OK)
		return e == STORE_ERR_INVALID ? STORE_ERR_NOTFOUND : e;
	g.mb = mb_r;
	return store_txn_run(st, STORE_TXN_NONE, mbox_get_fn, &g);
}

/* --- the UIDs of a mailbox as runs (SELECT) --- */

struct mbox_runs_ctx {
	struct store_key k;
	struct store_mbox mb;
	uint32_t first, last;	/* lowest and highest UID; 0, 0: none */
	struct buf gaps;	/* expunged ranges inside them: u32 pairs */
	uint32_t *runs;		/* the result: [first, last] pairs */
	size_t nruns;
};

/*
 * One cursor step on the messages database, keys only: the data is not
 * copied (a partial read of no bytes). 0, DB_NOTFOUND or an error.
 */
static int
mbox_msg_key_step(struct store *st, DBC *c, uint8_t kb[8], u_int32_t op)
{
	DBT k, d;

	memset(&k, 0, sizeof(k));
	k.data = kb;
	k.size = 8;
	k.ulen = 8;
	k.flags = DB_DBT_USERMEM;
	memset(&d, 0, sizeof(d));
	d.flags = DB_DBT_PARTIAL;
	return store_cursor_get(st, c, &k, &d, op);
}

/* The mailbox's lowest and highest UID (0, 0 when it has no message). */
static enum store_err
mbox_bounds_read(struct store *st, uint32_t id, uint32_t *first_r,
    uint32_t *last_r)
{
	uint8_t kb[8];
	DBC *c;
	int ret;

	*first_r = *last_r = 0;
	if ((ret = store_cursor_open(st, st->messages, NULL, &c)) != 0)
		return store_dberr(st, ret, "cursor");
	store_be_put32(kb, id);
	store_be_put32(kb + 4, 0);
	ret = mbox_msg_key_step(st, c, kb, DB_SET_RANGE);
	if (ret == 0 && store_be_get32(kb) == id) {
		*first_r = store_be_get32(kb + 4);
		/* The last record of the mailbox: just before the first key
		 * of the next id, or the last of all. */
		if (id < UINT32_MAX) {
			store_be_put32(kb, id + 1);
			store_be_put32(kb + 4, 0);
			ret = mbox_msg_key_step(st, c, kb, DB_SET_RANGE);
			ret = ret == 0 ? mbox_msg_key_step(st, c, kb, DB_PREV) :
			    ret == DB_NOTFOUND ?
			    mbox_msg_key_step(st, c, kb, DB_LAST) : ret;
		} else {
			ret = mbox_msg_key_step(st, c, kb, DB_LAST);
		}
		if (ret == 0 && store_be_get32(kb) == id)
			*last_r = store_be_get32(kb + 4);
		else if (ret == 0 || ret == DB_NOTFOUND)
			*first_r = 0;	/* gone meanwhile: not stable */
	}
	if (ret == DB_NOTFOUND)
		ret = 0;
	store_cursor_close(&c, &ret);
	return ret == 0 ? STORE_OK : store_dberr(st, ret, "message bounds");
}

/*
 * The expunged ranges of mailbox id that meet [first, last], clipped to
 * it, appended to gaps. The expunge log keeps every range since the
 * mailbox was made, so this costs what was expunged, not what is there.
 */
static enum store_err
mbox_gaps_read(struct store *st, uint32_t id, uint32_t first, uint32_t last,
    struct buf *gaps)
{
	uint8_t kb[12];
	uint32_t pair[2];
	u_int32_t op = DB_SET_RANGE;
	DBC *c;
	DBT k, d;
	int ret;

	buf_reset(gaps);
	if ((ret = store_cursor_open(st, st->expunged, NULL, &c)) != 0)
		return store_dberr(st, ret, "cursor");
	store_be_put32(kb, id);
	store_be_put64(kb + 4, 0);
	memset(&d, 0, sizeof(d));
	d.flags = DB_DBT_REALLOC;
	for (;;) {
		const uint8_t *p;
		size_t off;

		memset(&k, 0, sizeof(k));
		k.data = kb;
		k.size = sizeof(kb);
		k.ulen = sizeof(kb);
		k.flags = DB_DBT_USERMEM;
		if ((ret = store_cursor_get(st, c, &k, &d, op)) != 0)
			break;
		op = DB_NEXT;
		if (k.size != sizeof(kb) || store_be_get32(kb) != id)
			break;
		p = d.data;
		for (off = 0; off + 8 <= d.size; off += 8) {
			uint32_t lo = store_be_get32(p + off);
			uint32_t hi = store_be_get32(p + off + 4);

			if (lo > hi || hi < first || lo > last)
				continue;
			pair[0] = lo < first ? first : lo;
			pair[1] = hi > last ? last : hi;
			if (buf_add(gaps, pair, sizeof(pair)) < 0) {
				ret = ENOMEM;
				break;
			}
		}
		if (ret != 0)
			break;
	}
	free(d.data);
	if (ret == DB_NOTFOUND)
		ret = 0;
	store_cursor_close(&c, &ret);
	return ret == 0 ? STORE_OK : store_dberr(st, ret, "expunged ranges");
}

static int
mbox_pair_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * runs = [first, last] less the gaps, in order, as host-order u32 pairs.
 * The gaps (host-order pairs) come in the order of the expunges; that is
 * UID order when messages went oldest first, as they mostly do, and then
 * no sort is needed.
 */
static enum store_err
mbox_runs_make(struct mbox_runs_ctx *r)
{
	uint32_t next = r->first, *run;
	const uint32_t *g = (const uint32_t *)(void *)r->gaps.data;
	size_t i, n = r->gaps.len / 8, nruns = 0;

	r->nruns = 0;
	if (r->first == 0)
		return STORE_OK;
	for (i = 1; i < n; i++) {
		if (g[2 * i] < g[2 * i - 2]) {
			qsort(r->gaps.data, n, 8, mbox_pair_cmp);
			break;
		}
	}
	/* At most one run before each gap, and one after the last. */
	if (n + 1 > MBOX_COLLECT_MAX / 8)
		return STORE_ERR_IO;
	run = r->runs = xreallocarray(r->runs, n + 1, 8);
	for (i = 0; i < n; i++) {
		uint32_t lo = g[2 * i], hi = g[2 * i + 1];

		if (lo > next) {
			run[2 * nruns] = next;
			run[2 * nruns + 1] = lo - 1;
			nruns++;
		}
		if (hi >= next) {
			if (hi == r->last) {
				r->nruns = nruns;
				return STORE_OK;
			}
			next = hi + 1;
		}
	}
	run[2 * nruns] = next;
	run[2 * nruns + 1] = r->last;
	r->nruns = nruns + 1;
	return STORE_OK;
}

static bool
mbox_same(const struct store_mbox *a, const struct store_mbox *b)
{
	return a->id == b->id && a->highestmodseq == b->highestmodseq &&
	    a->messages == b->messages && a->uidnext == b->uidnext;
}

/*
 * The mailbox record read twice with the bounds and the gaps in between,
 * without a transaction (a reader holds no lock that would keep writers
 * out): when both reads agree, no change to the mailbox committed in
 * between, since every change raises HIGHESTMODSEQ, so what was read
 * belongs to that record.
 */
static enum store_err
mbox_runs_fn(struct store *st, DB_TXN *txn, void *ctx)
{
	struct mbox_runs_ctx *r = ctx;
	struct store_mbox again;
	enum store_err e;
	bool found;
	int tries;

	for (tries = 0; tries < 3; tries++) {
		if ((e = mbox_read(st, txn, &r->k, &r->mb, &found)) !=
		    STORE_OK)
			return e;
		if (!found)
			return STORE_ERR_NOTFOUND;
		if ((e = mbox_bounds_read(st, r->mb.id, &r->first,
		    &r->last)) != STORE_OK ||
		    (r->first != 0 && (e = mbox_gaps_read(st, r->mb.id,
		    r->first, r->last, &r->gaps)) != STORE_OK) ||
		    (e = mbox_read(st, txn, &r->k, &again, &found)) !=
		    STORE_OK)
			return e;
		if (!found)
			return STORE_ERR_NOTFOUND;
		if (mbox_same(&r->mb, &again) &&
		    (r->first != 0) == (r->mb.messages != 0))
			return mbox_runs_make(r);
	}
	return STORE_ERR_TRYAGAIN;
}

enum store_err
store_mbox_uid_runs(struct store *st, const char *user, const char *name,
    struct store_mbox *mb_r, uint32_t **runs_r, size_t *nruns_r)
{
	struct mbox_runs_ctx r;
	enum store_err e;

	*runs_r = NULL;
	*nruns_r = 0;
	if ((e = store_key_user_name(&r.k, user, name, false)) != STORE_OK)
		return e == STORE_ERR_INVALID ? STORE_ERR_NOTFOUND : e;
	buf_init(&r.gaps, MBOX_COLLECT_MAX);
	r.runs = NULL;
	r.nruns = 0;
	e = store_txn_run(st, STORE_TXN_NONE, mbox_runs_fn, &r);
	buf_free(&r.gaps);
	if (e != STORE_OK) {
		free(r.runs);
		return e;
	}
	*mb_r = r.mb;
	*runs_r = r.runs;	/* the caller frees */
	*nruns_r = r.nruns;
	return STORE_OK;
}

/* --- create --- */

struct mbox_create_ctx {
	struct store_key k;
	uint32_t flags;
	bool exist_ok;
	struct store_mbox mb;
};

static enum store_err
mbox_create_fn(struct store *st, DB_TXN *txn, void *ctx)
{
	struct mbox_create_ctx *c = ctx;
	enum store_err e;
	bool found;

	if ((e = mbox_read(st, txn, &c->k, &c->mb, &found)) != STORE_OK)
		return e;
	if (found && (c->mb.flags & STORE_MBOX_NOSELECT) == 0)
		return c->exist_ok ? STORE_OK : STORE_ERR_EXISTS;
	if (found && (e = mbox_purge_messages(st, txn, &c->mb)) != STORE_OK)
		return e;
	if ((e = mbox_make_superiors(st, txn, &c->k)) != STORE_OK ||
	    (e = mbox_new(st, txn, c->flags, &c->mb)) != STORE_OK)
		return e;
	return mbox_write(st, txn, &c->k, &c->mb);
}

enum store_err
store_mbox_create(struct store *st, const char *user, const char *name,
    uint32_t flags, struct store_mbox *mb_r)
{
	struct mbox_create_ctx c;
	enum store_err e;

	if ((e = store_key_user_name(&c.k, user, name, false)) != STORE_OK)
		return e;
	c.flags = flags;
	c.exist_ok = false;
	if ((e = store_txn_run(st, STORE_TXN_WRITE, mbox_create_fn, &c)) !=
	    STORE_OK)
		return e;
	if (mb_r != NULL)
		*mb_r = c.mb;
	return STORE_OK;
}

/* --- delete --- */

static enum store_err
mbox_delete_fn(struct store *st, DB_TXN *txn, void *ctx)
{
	struct store_key *k = ctx;
	struct store_mbox mb;
	enum store_err e;
	bool found, children;

	if ((e = mbox_read(st, txn, k, &mb, &found)) != STORE_OK)
		return e;
	if (!found)
		return STORE_ERR_NOTFOUND;
	if ((e = mbox_children(st, txn, k, &children)) != STORE_OK)
		return e;
	if (children) {
		/* RFC 3501 §6.3.4: keep the name as \Noselect. */
		if ((mb.flags & STORE_MBOX_NOSELECT) != 0)
			return STORE_ERR_HASCHILDREN;
		if ((e = mbox_purge_messages(st, txn, &mb)) != STORE_OK)
			return e;
		mb.flags = STORE_MBOX_NOSELECT;
		mb.messages = 0;
		mb.unseen = 0;
		mb.recent = 0;
		return mbox_write(st, txn, k, &mb);
	}
	/* A \Noselect superior left without inferiors stays until it is
	 * deleted itself (RFC 3501 §6.3.4, the example at A685-A686). */
	if ((e = mbox_purge_messages(st, txn, &mb)) != STORE_OK)
		return e;
	return mbox_remove_key(st, txn, k);
}

enum store_err
store_mbox_delete(struct store *st, const char *user, const char *name)
{
	struct store_key k;
	enum store_err e;

	if ((e = store_key_user_name(&k, user, name, false)) != STORE_OK)
		return e == STORE_ERR_INVALID ? STORE_ERR_NOTFOUND : e;
	return store_txn_run(st, STORE_TXN_WRITE, mbox_delete_fn, &k);
}

/* --- rename --- */

struct mbox_rename_ctx {
	struct store_key oldk;
	struct store_key newk;
	struct buf moved;	/* inferiors: u16 suffix length, suffix,
				   u16 record length, record */
};

static bool
mbox_is_inbox(const struct store_key *k)
{
	return k->len - k->name_off == sizeof(mbox_inbox) - 1 &&
	    memcmp(k->data + k->name_off, mbox_inbox,
	    sizeof(mbox_inbox) - 1) == 0;
}

/*
 * RFC 3501 §6.3.5: renaming INBOX moves its messages (its id) to the new
 * name and leaves an empty INBOX with a new id and UIDVALIDITY; INBOX's
 * inferiors stay.
 */
static enum store_err
mbox_rename_inbox(struct store *st, DB_TXN *txn, struct mbox_rename_ctx *r,
    const struct store_mbox *inbox)
{
	struct store_mbox mb;
	enum store_err e;
	bool found;

	if ((e = mbox_read(st, txn, &r->newk, &mb, &found)) != STORE_OK)
		return e;
	if (found)
		return STORE_ERR_EXISTS;
	if ((e = mbox_write(st, txn, &r->newk, inbox)) != STORE_OK ||
	    (e = mbox_make_superiors(st, txn, &r->newk)) != STORE_OK ||
	    (e = mbox_new(st, txn, 0, &mb)) != STORE_OK)
		return e;
	return mbox_write(st, txn, &r->oldk, &mb);
}

/* Removes the inferiors of oldk, remembering them in r->moved. */
static enum store_err
mbox_rename_take(struct store *st, DB_TXN *txn, struct mbox_rename_ctx *r)
{
	struct store_key p = r->oldk;
	const uint8_t delim = STORE_DELIM;
	DBC *c;
	DBT kd, d;
	bool found;
	int ret;

	if (store_key_append(&p, &delim, 1) != STORE_OK)
		return STORE_OK;	/* too long to have inferiors */
	if ((ret = store_cursor_open(st, st->mailboxes, txn, &c)) != 0)
		return store_dberr(st, ret, "cursor");
	ret = mbox_cursor_first(st, c, &p, &kd, &d, DB_RMW, &found);
	while (ret == 0 && found) {
		size_t slen = kd.size - r->oldk.len;
		uint8_t hdr[2];

		/* Both lengths fit: keys are under STORE_KEY_MAX, records
		 * under MBOX_REC_BUFSIZE (checked when put back). */
		hdr[0] = (uint8_t)(slen >> 8);
		hdr[1] = (uint8_t)slen;
		if (buf_add(&r->moved, hdr, 2) < 0 ||
		    buf_add(&r->moved, (uint8_t *)kd.data + r->oldk.len,
		    slen) < 0)
			goto toobig;
		hdr[0] = (uint8_t)(d.size >> 8);
		hdr[1] = (uint8_t)d.size;
		if (d.size > 0xffff || buf_add(&r->moved, hdr, 2) < 0 ||
		    buf_add(&r->moved, d.data, d.size) < 0)
			goto toobig;
		if ((ret = store_cursor_del(st, c)) != 0)
			break;
		ret = mbox_cursor_next(st, c, &p, &kd, &d, DB_RMW, &found);
	}
	store_cursor_close(&c, &ret);
	return ret == 0 ? STORE_OK : store_dberr(st, ret, "rename walk");
toobig:
	ret = 0;
	store_cursor_close(&c, &ret);
	log_msg(LOG_ERR, "store: rename: too many inferiors");
	return STORE_ERR_IO;
}

/* Puts one moved record under newk + suffix, unless that name exists. */
static enum store_err
mbox_rename_put(struct store *st, DB_TXN *txn, struct mbox_rename_ctx *r,
    const uint8_t *suffix, size_t slen, const uint8_t *rec, size_t rlen)
{
	struct store_key t = r->newk;
	struct store_mbox mb;
	enum store_err e;
	DBT kd, d;
	bool found;
	int ret;

	if (store_key_append(&t, suffix, slen) != STORE_OK ||
	    t.len - t.name_off > STORE_NAME_MAX)
		return STORE_ERR_INVALID;
	if ((e = mbox_read(st, txn, &t, &mb, &found)) != STORE_OK)
		return e;
	if (found)
		return STORE_ERR_EXISTS;
	store_key_dbt(&t, &kd);
	memset(&d, 0, sizeof(d));
	d.data = (void *)(uintptr_t)rec;
	d.size = (u_int32_t)rlen;
	ret = store_db_put(st, st->mailboxes, txn, &kd, &d, 0);
	return ret == 0 ? STORE_OK : store_dberr(st, ret, "mailbox put");
}

static enum store_err
mbox_rename_fn(struct store *st, DB_TXN *txn, void *ctx)
{
	struct mbox_rename_ctx *r = ctx;
	struct store_mbox mb, other;
	enum store_err e;
	const uint8_t *p, *end;
	size_t nlen = r->newk.len - r->newk.name_off;
	size_t olen = r->oldk.len - r->oldk.name_off;
	bool found;

	buf_reset(&r->moved);
	if ((e = mbox_read(st, txn, &r->oldk, &mb, &found)) != STORE_OK)
		return e;
	if (!found)
		return STORE_ERR_NOTFOUND;
	if (nlen == olen && memcmp(r->newk.data + r->newk.name_off,
	    r->oldk.data + r->oldk.name_off, olen) == 0)
		return STORE_ERR_INVALID;
	if (mbox_is_inbox(&r->oldk))
		return mbox_rename_inbox(st, txn, r, &mb);
	if (nlen > olen && r->newk.data[r->newk.name_off + olen] ==
	    STORE_DELIM && memcmp(r->newk.data + r->newk.name_off,
	    r->oldk.data + r->oldk.name_off, olen) == 0)
		return STORE_ERR_INVALID;
	if ((e = mbox_read(st, txn, &r->newk, &other, &found)) != STORE_OK)
		return e;
	if (found)
		return STORE_ERR_EXISTS;

	/* Take everything away first, then put it back under new names. */
	if ((e = mbox_rename_take(st, txn, r)) != STORE_OK ||
	    (e = mbox_remove_key(st, txn, &r->oldk)) != STORE_OK ||
	    (e = mbox_write(st, txn, &r->newk, &mb)) != STORE_OK)
		return e;
	p = r->moved.data;
	end = r->moved.len > 0 ? p + r->moved.len : p;
	while (p < end) {
		size_t slen = (size_t)p[0] << 8 | p[1];
		const uint8_t *suffix = p + 2;
		size_t rlen = (size_t)suffix[slen] << 8 | suffix[slen + 1];
		const uint8_t *rec = suffix + slen + 2;

		if ((e = mbox_rename_put(st, txn, r, suffix, slen, rec,
		    rlen)) != STORE_OK)
			return e;
		p = rec + rlen;
	}
	return mbox_make_superiors(st, txn, &r->newk);
}

enum store_err
store_mbox_rename(struct store *st, const char *user, const char *oldname,
    const char *newname)
{
	struct mbox_rename_ctx r;
	enum store_err e;

	if ((e = store_key_user_name(&r.oldk, user, oldname, false)) !=
	    STORE_OK)
		return e == STORE_ERR_INVALID ? STORE_ERR_NOTFOUND : e;
	if ((e = store_key_user_name(&r.newk, user, newname, false)) !=
	    STORE_OK)
		return e;
	buf_init(&r.moved, MBOX_COLLECT_MAX);
	e = store_txn_run(st, STORE_TXN_WRITE, mbox_rename_fn, &r);
	buf_free(&r.moved);
	return e;
}

/* --- list, has_children --- */

struct mbox_list_ctx {
	struct store_key prefix;
	struct buf out;		/* name NUL, struct store_mbox, ... */
};

static enum store_err
mbox_list_fn(struct store *st, DB_TXN *txn, void *ctx)
{
	struct mbox_list_ctx *l = ctx;
	struct store_mbox mb;
	DBC *c;
	DBT kd, d;
	bool found;
	int ret;

	buf_reset(&l->out);
	if ((ret = store_cursor_open(st, st->mailboxes, txn, &c)) != 0)
		return store_dberr(st, ret, "cursor");
	ret = mbox_cursor_first(st, c, &l->prefix, &kd, &d, 0, &found);
	while (ret == 0 && found) {
		if (!store_mbox_unpack(d.data, d.size, &mb)) {
			ret = 0;
			store_cursor_close(&c, &ret);
			return mbox_bad_record(&kd);
		}
		if (buf_add(&l->out, (uint8_t *)kd.data + l->prefix.name_off,
		    kd.size - l->prefix.name_off) < 0 ||
		    buf_addc(&l->out, '\0') < 0 ||
		    buf_add(&l->out, &mb, sizeof(mb)) < 0) {
			ret = 0;
			store_cursor_close(&c, &ret);
			log_msg(LOG_ERR, "store: list: too many mailboxes");
			return STORE_ERR_IO;
		}
		ret = mbox_cursor_next(st, c, &l->prefix, &kd, &d, 0, &found);
	}
	store_cursor_close(&c, &ret);
	return ret == 0 ? STORE_OK : store_dberr(st, ret, "mailbox list");
}

/*
 * The names are gathered first and handed to cb after the cursor is
 * closed, so that cb holds no lock and may call the store itself.
 */
enum store_err
store_mbox_list(struct store *st, const char *user, const char *prefix,
    store_mbox_cb *cb, void *ctx)
{
	struct mbox_list_ctx l;
	enum store_err e;
	size_t off = 0;

	if ((e = store_key_user_name(&l.prefix, user, prefix, true)) !=
	    STORE_OK)
		return e;
	buf_init(&l.out, MBOX_COLLECT_MAX);
	e = store_txn_run(st, STORE_TXN_NONE, mbox_list_fn, &l);
	while (e == STORE_OK && off < l.out.len) {
		const char *name = (const char *)l.out.data + off;
		struct store_mbox mb;

		off += strlen(name) + 1;
		memcpy(&mb, l.out.data + off, sizeof(mb));
		off += sizeof(mb);
		if (cb(ctx, name, &mb) != 0)
			break;
	}
	buf_free(&l.out);
	return e;
}

struct mbox_children_ctx {
	struct store_key k;
	bool *r;
};

static enum store_err
mbox_children_fn(struct store *st, DB_TXN *txn, void *ctx)
{
	struct mbox_children_ctx *h = ctx;

	return mbox_children(st, txn, &h->k, h->r);
}

enum store_err
store_mbox_has_children(struct store *st, const char *user, const char *name,
    bool *r)
{
	struct mbox_children_ctx h;
	enum store_err e;

	*r = false;
	if ((e = store_key_user_name(&h.k, user, name, false)) != STORE_OK)
		return e;
	h.r = r;
	return store_txn_run(st, STORE_TXN_NONE, mbox_children_fn, &h);
}

/* --- subscriptions --- */

struct sub_set_ctx {
	struct store_key k;
	bool subscribed;
};

static enum store_err
sub_set_fn(struct store *st, DB_TXN *txn, void *ctx)
{
	struct sub_set_ctx *s = ctx;
	DBT kd, d;
	int ret;

	store_key_dbt(&s->k, &kd);
	if (s->subscribed) {
		memset(&d, 0, sizeof(d));
		ret = store_db_put(st, st->subscriptions, txn, &kd, &d, 0);
	} else {
		ret = store_db_del(st, st->subscriptions, txn, &kd);
		if (ret == DB_NOTFOUND)
			return STORE_ERR_NOTFOUND;
	}
	return ret == 0 ? STORE_OK : store_dberr(st, ret, "subscription");
}

/* Subscribing twice is fine; unsubscribing a name that is not subscribed
 * gives STORE_ERR_NOTFOUND. */
enum store_err
store_sub_set(struct store *st, const char *user, const char *name,
    bool subscribed)
{
	struct sub_set_ctx s;
	enum store_err e;

	if ((e = store_key_user_name(&s.k, user, name, false)) != STORE_OK)
		return e;
	s.subscribed = subscribed;
	return store_txn_run(st, STORE_TXN_WRITE, sub_set_fn, &s);
}

static enum store_err
sub_list_fn(struct store *st, DB_TXN *txn, void *ctx)
{
	struct mbox_list_ctx *l = ctx;
	DBC *c;
	DBT kd, d;
	bool found;
	int ret;

	buf_reset(&l->out);
	if ((ret = store_cursor_open(st, st->subscriptions, txn, &c)) != 0)
		return store_dberr(st, ret, "cursor");
	ret = mbox_cursor_first(st, c, &l->prefix, &kd, &d, 0, &found);
	while (ret == 0 && found) {
		if (buf_add(&l->out, (uint8_t *)kd.data + l->prefix.name_off,
		    kd.size - l->prefix.name_off) < 0 ||
		    buf_addc(&l->out, '\0') < 0) {
			ret = 0;
			store_cursor_close(&c, &ret);
			log_msg(LOG_ERR, "store: too many subscriptions");
			return STORE_ERR_IO;
		}
		ret = mbox_cursor_next(st, c, &l->prefix, &kd, &d, 0, &found);
	}
	store_cursor_close(&c, &ret);
	return ret == 0 ? STORE_OK : store_dberr(st, ret, "subscription list");
}

enum store_err
store_sub_list(struct store *st, const char *user, store_sub_cb *cb,
    void *ctx)
{
	struct mbox_list_ctx l;
	enum store_err e;
	size_t off = 0;

	if ((e = store_key_user_name(&l.prefix, user, "", true)) != STORE_OK)
		return e;
	buf_init(&l.out, MBOX_COLLECT_MAX);
	e = store_txn_run(st, STORE_TXN_NONE, sub_list_fn, &l);
	while (e == STORE_OK && off < l.out.len) {
		const char *name = (const char *)l.out.data + off;

		off += strlen(name) + 1;
		if (cb(ctx, name) != 0)
			break;
	}
	buf_free(&l.out);
	return e;
}

/* --- users --- */

enum store_err
store_user_init(struct store *st, const char *user)
{
	struct mbox_create_ctx c;
	struct mbox_get_ctx g;
	enum store_err e;

	if ((e = store_key_user_name(&g.k, user, mbox_inbox, false)) !=
	    STORE_OK)
		return e;
	/* The common case, on every login: a read, no write transaction. */
	g.mb = &c.mb;
	e = store_txn_run(st, STORE_TXN_NONE, mbox_get_fn, &g);
	if (e != STORE_ERR_NOTFOUND || (e = store_ready(st)) != STORE_OK)
		return e;
	c.k = g.k;
	c.flags = 0;
	c.exist_ok = true;
	return store_txn_run(st, STORE_TXN_WRITE, mbox_create_fn, &c);
}

/* RFC 6154 §2: the special-use mailboxes a new user starts with. */
static const struct {
	const char *name;
	uint32_t flags;
} mbox_special[] = {
	{ "Drafts", STORE_MBOX_DRAFTS },
	{ "Sent", STORE_MBOX_SENT },
	{ "Trash", STORE_MBOX_TRASH },
	{ "Junk", STORE_MBOX_JUNK },
	{ "Archive", STORE_MBOX_ARCHIVE },
};

struct mbox_user_init_ctx {
	const char *user;
};

static enum store_err
mbox_user_init_special_fn(struct store *st, DB_TXN *txn, void *ctx)
{
	struct mbox_user_init_ctx *u = ctx;
	struct mbox_create_ctx c;
	enum store_err e;
	size_t i;
	bool found;

	if ((e = store_key_user_name(&c.k, u->user, mbox_inbox, false)) !=
	    STORE_OK)
		return e;
	if ((e = mbox_read(st, txn, &c.k, &c.mb, &found)) != STORE_OK)
		return e;
	if (found && (c.mb.flags & STORE_MBOX_NOSELECT) == 0)
		return STORE_OK;	/* created meanwhile: not a new user */
	c.flags = 0;
	c.exist_ok = true;
	if ((e = mbox_create_fn(st, txn, &c)) != STORE_OK)
		return e;
	for (i = 0; i < N_ELEMENTS(mbox_special); i++) {
		if ((e = store_key_user_name(&c.k, u->user,
		    mbox_special[i].name, false)) != STORE_OK)
			return e;
		c.flags = mbox_special[i].flags;
		c.exist_ok = true;
		if ((e = mbox_create_fn(st, txn, &c)) != STORE_OK)
			return e;
	}
	return STORE_OK;
}

enum store_err
store_user_init_special(struct store *st, const char *user)
{
	struct mbox_user_init_ctx u = { user };
	struct store_mbox mb;
	struct mbox_get_ctx g;
	enum store_err e;

	if ((e = store_key_user_name(&g.k, user, mbox_inbox, false)) !=
	    STORE_OK)
		return e;
	g.mb = &mb;
	e = store_txn_run(st, STORE_TXN_NONE, mbox_get_fn, &g);
	if (e != STORE_ERR_NOTFOUND || (e = store_ready(st)) != STORE_OK)
		return e;
	return store_txn_run(st, STORE_TXN_WRITE, mbox_user_init_special_fn,
	    &u);
}

/* Deletes every key of db beginning with prefix; each mailbox record's
 * messages go first. */
static enum store_err
user_delete_db(struct store *st, DB_TXN *txn, DB *db,
    struct store_key *prefix, bool mailboxes)
{
	struct store_mbox mb;
	enum store_err e = STORE_OK;
	DBC *c;
	DBT kd, d;
	bool found;
	int ret;

	if ((ret = store_cursor_open(st, db, txn, &c)) != 0)
		return store_dberr(st, ret, "cursor");
	ret = mbox_cursor_first(st, c, prefix, &kd, &d, DB_RMW, &found);
	while (ret == 0 && found) {
		if (mailboxes) {
			if (!store_mbox_unpack(d.data, d.size, &mb)) {
				e = mbox_bad_record(&kd);
				break;
			}
			if ((e = mbox_purge_messages(st, txn, &mb)) !=
			    STORE_OK)
				break;
		}
		if ((ret = store_cursor_del(st, c)) != 0)
			break;
		ret = mbox_cursor_next(st, c, prefix, &kd, &d, DB_RMW, &found);
	}
	store_cursor_close(&c, &ret);
	if (e != STORE_OK)
		return e;
	return ret == 0 ? STORE_OK : store_dberr(st, ret, "user delete");
}

static enum store_err
user_delete_fn(struct store *st, DB_TXN *txn, void *ctx)
{
	struct store_key *prefix = ctx;
	enum store_err e;

	if ((e = user_delete_db(st, txn, st->mailboxes, prefix, true)) !=
	    STORE_OK)
		return e;
	return user_delete_db(st, txn, st->subscriptions, prefix, false);
}

enum store_err
store_user_delete(struct store *st, const char *user)
{
	struct store_key prefix;
	enum store_err e;

	if ((e = store_key_user_name(&prefix, user, "", true)) != STORE_OK)
		return e;
	return store_txn_run(st, STORE_TXN_WRITE, user_delete_fn, &prefix);
}
