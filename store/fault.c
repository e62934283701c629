/*
 * fault.c: store changes made only by fault injection (see fault.h).
 *
 * fault uidvalidity moves a mailbox's messages to a new mailbox id under
 * the same name: message records (layout in msg.c: byte 1 flags, bytes
 * 10..17 modseq) are copied with new UIDs and MODSEQs, keywords keep
 * their indexes, bodies are shared as they were (each record moves, so no
 * reference count changes), and everything under the old id (records,
 * by_modseq, expunged, keywords) goes. A session holding the old id finds
 * the name bound to another mailbox and ends with BYE.
 */
#include <string.h>
#include <time.h>

#include "../lib/buf.h"
#include "../lib/log.h"
#include "fault.h"
#include "store_int.h"

#define FAULT_REC_MIN		46	/* msg.c's record, version 1 */
#define FAULT_REC_MAX		128
#define FAULT_COLLECT_MAX	(512u * 1024 * 1024)

struct fault_uv_ctx {
	struct store_key k;
	struct buf recs;	/* u8 length, record bytes, ... */
	struct buf kws;		/* u8 index, u8 length, name, ... */
	uint32_t old_uv, new_uv;
};

static void
fault_dbt(DBT *d, void *p, size_t n)
{
	memset(d, 0, sizeof(*d));
	d->data = p;
	d->size = (u_int32_t)n;
}

/* Deletes every key of db that begins with the 4-byte mailbox id. */
static enum store_err
fault_del_id(struct store *st, DB_TXN *txn, DB *db, uint32_t id)
{
	uint8_t kb[4];
	DBC *c;
	DBT k, d;
	int ret;

	store_be_put32(kb, id);
	if ((ret = store_cursor_open(st, db, txn, &c)) != 0)
		return store_dberr(st, ret, "cursor");
	fault_dbt(&k, kb, sizeof(kb));
	fault_dbt(&d, NULL, 0);
	d.flags = DB_DBT_PARTIAL;
	ret = store_cursor_get(st, c, &k, &d, DB_SET_RANGE | DB_RMW);
	while (ret == 0 && k.size >= 4 && memcmp(k.data, kb, 4) == 0) {
		if ((ret = store_cursor_del(st, c)) != 0)
			break;
		fault_dbt(&k, NULL, 0);
		fault_dbt(&d, NULL, 0);
		d.flags = DB_DBT_PARTIAL;
		ret = store_cursor_get(st, c, &k, &d, DB_NEXT | DB_RMW);
	}
	if (ret == DB_NOTFOUND)
		ret = 0;
	store_cursor_close(&c, &ret);
	return ret == 0 ? STORE_OK : store_dberr(st, ret, "fault purge");
}

/*
 * Appends, for each key of db under mailbox id whose key is klen bytes,
 * the key's tail byte (keywords: the index; ignored for messages when
 * with_tail is false), the value's length and the value to out.
 */
static enum store_err
fault_collect(struct store *st, DB_TXN *txn, DB *db, uint32_t id,
    size_t klen, size_t vmax, bool with_tail, struct buf *out)
{
	uint8_t kb[4];
	DBC *c;
	DBT k, d;
	int ret;

	store_be_put32(kb, id);
	if ((ret = store_cursor_open(st, db, txn, &c)) != 0)
		return store_dberr(st, ret, "cursor");
	fault_dbt(&k, kb, sizeof(kb));
	fault_dbt(&d, NULL, 0);
	ret = store_cursor_get(st, c, &k, &d, DB_SET_RANGE | DB_RMW);
	while (ret == 0 && k.size == klen && memcmp(k.data, kb, 4) == 0) {
		uint8_t head[2];

		if (d.size == 0 || d.size > vmax) {
			ret = 0;
			store_cursor_close(&c, &ret);
			log_msg(LOG_ERR, "store: corrupt record under mailbox "
			    "%u", id);
			return STORE_ERR_IO;
		}
		head[0] = with_tail ? ((uint8_t *)k.data)[klen - 1] : 0;
		head[1] = (uint8_t)d.size;
		if (buf_add(out, head, 2) < 0 ||
		    buf_add(out, d.data, d.size) < 0) {
			ret = 0;
			store_cursor_close(&c, &ret);
			return STORE_ERR_NOSPACE;
		}
		fault_dbt(&k, NULL, 0);
		fault_dbt(&d, NULL, 0);
		ret = store_cursor_get(st, c, &k, &d, DB_NEXT | DB_RMW);
	}
	if (ret == DB_NOTFOUND)
		ret = 0;
	store_cursor_close(&c, &ret);
	return ret == 0 ? STORE_OK : store_dberr(st, ret, "fault collect");
}

static enum store_err
fault_put(struct store *st, DB_TXN *txn, DB *db, uint8_t *kb, size_t klen,
    uint8_t *vb, size_t vlen, const char *what)
{
	DBT k, d;
	int ret;

	fault_dbt(&k, kb, klen);
	fault_dbt(&d, vb, vlen);
	ret = store_db_put(st, db, txn, &k, &d, 0);
	return ret == 0 ? STORE_OK : store_dberr(st, ret, what);
}

static enum store_err
fault_uv_fn(struct store *st, DB_TXN *txn, void *ctx)
{
	struct fault_uv_ctx *c = ctx;
	struct store_mbox mb, nb;
	uint64_t id, uv;
	enum store_err e;
	bool found;
	size_t off;
	uint32_t uid = 0;

	buf_reset(&c->recs);
	buf_reset(&c->kws);
	if ((e = store_mbox_rec_read(st, txn, &c->k, &mb, &found)) !=
	    STORE_OK)
		return e;
	if (!found || (mb.flags & STORE_MBOX_NOSELECT) != 0)
		return STORE_ERR_NOTFOUND;
	if ((e = store_counter_next(st, txn, "mailbox_id", 1, UINT32_MAX,
	    &id)) != STORE_OK ||
	    (e = store_counter_next(st, txn, "uidvalidity",
	    (uint32_t)time(NULL), UINT32_MAX, &uv)) != STORE_OK)
		return e;
	if ((e = fault_collect(st, txn, st->messages, mb.id, 8,
	    FAULT_REC_MAX, false, &c->recs)) != STORE_OK ||
	    (e = fault_collect(st, txn, st->keywords, mb.id, 5,
	    STORE_KEYWORD_LEN_MAX, true, &c->kws)) != STORE_OK)
		return e;
	nb = mb;
	nb.id = (uint32_t)id;
	nb.uidvalidity = (uint32_t)uv;
	nb.highestmodseq = 1;
	nb.messages = nb.unseen = nb.recent = 0;
	for (off = 0; off < c->recs.len;) {
		uint8_t rec[FAULT_REC_MAX], kb[12], ub[4];
		size_t len = c->recs.data[off + 1];

		if (len < FAULT_REC_MIN)
			return STORE_ERR_IO;
		memcpy(rec, c->recs.data + off + 2, len);
		off += 2 + len;
		uid++;
		nb.highestmodseq++;
		store_be_put64(rec + 10, nb.highestmodseq);
		store_be_put32(kb, nb.id);
		store_be_put32(kb + 4, uid);
		if ((e = fault_put(st, txn, st->messages, kb, 8, rec, len,
		    "message put")) != STORE_OK)
			return e;
		store_be_put64(kb + 4, nb.highestmodseq);
		store_be_put32(ub, uid);
		if ((e = fault_put(st, txn, st->by_modseq, kb, 12, ub,
		    sizeof(ub), "modseq put")) != STORE_OK)
			return e;
		nb.messages++;
		if ((rec[1] & STORE_FLAG_SEEN) == 0)
			nb.unseen++;
	}
	for (off = 0; off < c->kws.len;) {
		uint8_t kb[5];
		size_t len = c->kws.data[off + 1];

		store_be_put32(kb, nb.id);
		kb[4] = c->kws.data[off];
		if ((e = fault_put(st, txn, st->keywords, kb, 5,
		    c->kws.data + off + 2, len, "keyword put")) != STORE_OK)
			return e;
		off += 2 + len;
	}
	nb.uidnext = uid + 1;
	nb.recent_uid = nb.uidnext;
	if ((e = fault_del_id(st, txn, st->messages, mb.id)) != STORE_OK ||
	    (e = fault_del_id(st, txn, st->by_modseq, mb.id)) != STORE_OK ||
	    (e = fault_del_id(st, txn, st->expunged, mb.id)) != STORE_OK ||
	    (e = fault_del_id(st, txn, st->keywords, mb.id)) != STORE_OK)
		return e;
	c->old_uv = mb.uidvalidity;
	c->new_uv = nb.uidvalidity;
	return store_mbox_rec_write(st, txn, &c->k, &nb);
}

enum store_err
store_fault_uidvalidity(struct store *st, const char *user, const char *name,
    uint32_t *old_r, uint32_t *new_r)
{
	struct fault_uv_ctx c;
	enum store_err e;

	memset(&c, 0, sizeof(c));
	if ((e = store_key_user_name(&c.k, user, name, false)) != STORE_OK)
		return e == STORE_ERR_INVALID ? STORE_ERR_NOTFOUND : e;
	buf_init(&c.recs, FAULT_COLLECT_MAX);
	buf_init(&c.kws, 64 * (STORE_KEYWORD_LEN_MAX + 2));
	e = store_txn_run(st, STORE_TXN_WRITE, fault_uv_fn, &c);
	buf_free(&c.recs);
	buf_free(&c.kws);
	if (e == STORE_OK) {
		if (old_r != NULL)
			*old_r = c.old_uv;
		if (new_r != NULL)
			*new_r = c.new_uv;
	}
	return e;
}
