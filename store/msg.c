/*
 * msg.c: messages of a mailbox (RFC 3501 §2.3): appending (spooled, then
 * stored in one transaction), listing, flags and keywords, COPY, EXPUNGE,
 * the change log for CONDSTORE/QRESYNC (RFC 7162) and \Recent.
 *
 * Records, all keys big-endian:
 *   messages   mbox id u32, uid u32 -> the message record below
 *   by_modseq  mbox id u32, modseq u64 -> uid u32 (each change takes its
 *              own modseq, so the key is unique)
 *   expunged   mbox id u32, modseq u64 -> uid ranges (first u32, last u32)
 *              removed by one EXPUNGE at that modseq
 *   bodies     body id u64, chunk u32 -> MSG_CHUNK bytes (less at the end)
 *   body_refs  body id u64 -> reference count u32
 *   keywords   mbox id u32, index u8 -> keyword name
 *   mime       body id u64 -> the MIME structure (store/mime.h)
 *   heads      body id u64 -> the message's header, blank line included:
 *              a copy of its first bytes, for SEARCH, when it is at most
 *              MSG_HEADS_MAX bytes (bodies stored before there was this
 *              database have none)
 * The message record (46 bytes):
 *   0 version (1)  1 flags  2..9 keywords  10..17 modseq
 *   18..25 internaldate  26..29 tzoff  30..37 size  38..45 body id
 * A later version appends fields; a reader accepts any longer record.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/buf.h"
#include "../lib/log.h"
#include "../lib/xalloc.h"
#include "mime.h"
#include "store_int.h"

#define MSG_REC_VERSION		1
#define MSG_REC_LEN		46
#define MSG_REC_BUFSIZE		128	/* room for later versions */
#define MSG_CHUNK		(64u * 1024)
/* Messages larger than this are spooled to a file. */
#define MSG_SPOOL_MEM		(1024u * 1024)
#define MSG_LIST_BATCH		4096	/* records per cursor pass */
#define MSG_COLLECT_MAX		(512u * 1024 * 1024)
/* Longest header copied into heads: with its key it stays on the page
 * (32 KiB pages: store_db_open). */
#define MSG_HEADS_MAX		8000

/* ---- packing ---- */

static void
msg_pack(const struct store_msg *m, uint8_t *p)
{
	p[0] = MSG_REC_VERSION;
	p[1] = (uint8_t)(m->flags & STORE_FLAGS_ALL);
	store_be_put64(p + 2, m->keywords);
	store_be_put64(p + 10, m->modseq);
	store_be_put64(p + 18, (uint64_t)m->internaldate);
	store_be_put32(p + 26, (uint32_t)m->tzoff);
	store_be_put64(p + 30, m->size);
	store_be_put64(p + 38, m->body_id);
}

bool
store_msg_unpack(uint32_t uid, const uint8_t *p, size_t n, struct store_msg *m)
{
	if (n < MSG_REC_LEN || p[0] < MSG_REC_VERSION)
		return false;
	m->uid = uid;
	m->flags = p[1];
	m->keywords = store_be_get64(p + 2);
	m->modseq = store_be_get64(p + 10);
	m->internaldate = (int64_t)store_be_get64(p + 18);
	m->tzoff = (int32_t)store_be_get32(p + 26);
	m->size = store_be_get64(p + 30);
	m->body_id = store_be_get64(p + 38);
	return true;
}

static void
msg_dbt(DBT *d, void *p, size_t n)
{
	memset(d, 0, sizeof(*d));
	d->data = p;
	d->size = (u_int32_t)n;
}

static void
msg_key(uint8_t *k, uint32_t mbox_id, uint32_t uid)
{
	store_be_put32(k, mbox_id);
	store_be_put32(k + 4, uid);
}

static void
msg_modseq_key(uint8_t *k, uint32_t mbox_id, uint64_t modseq)
{
	store_be_put32(k, mbox_id);
	store_be_put64(k + 4, modseq);
}

static void
msg_body_key(uint8_t *k, uint64_t body_id, uint32_t chunk)
{
	store_be_put64(k, body_id);
	store_be_put32(k + 8, chunk);
}

static enum store_err
msg_corrupt(const char *what, uint32_t a, uint64_t b)
{
	log_msg(LOG_ERR, "store: corrupt %s record %u/%llu", what, a,
	    (unsigned long long)b);
	return STORE_ERR_IO;
}

/* DB_RMW inside a write transaction. */
static u_int32_t
msg_rmw(DB_TXN *txn)
{
	return txn != NULL ? DB_RMW : 0;
}

/* ---- the mailbox a call is about ---- */

struct msg_target {
	struct store_key k;
	uint32_t mbox_id;	/* 0 = whichever holds the name */
};

static enum store_err
msg_target_init(struct msg_target *t, const char *user, const char *name,
    uint32_t mbox_id)
{
	enum store_err e;

	if ((e = store_key_user_name(&t->k, user, name, false)) != STORE_OK)
		return e == STORE_ERR_INVALID ? STORE_ERR_NOTFOUND : e;
	t->mbox_id = mbox_id;
	return STORE_OK;
}

/* Reads the target's record: NOTFOUND if missing, \Noselect or another
 * mailbox than the caller's. */
static enum store_err
msg_mbox(struct store *st, DB_TXN *txn, struct msg_target *t,
    struct store_mbox *mb)
{
	enum store_err e;
	bool found;

	if ((e = store_mbox_rec_read(st, txn, &t->k, mb, &found)) != STORE_OK)
		return e;
	if (!found || (mb->flags & STORE_MBOX_NOSELECT) != 0 ||
	    (t->mbox_id != 0 && mb->id != t->mbox_id))
		return STORE_ERR_NOTFOUND;
	return STORE_OK;
}

/* ---- message records and their index ---- */

static enum store_err
msg_read(struct store *st, DB_TXN *txn, uint32_t mbox_id, uint32_t uid,
    struct store_msg *m, bool *found_r)
{
	uint8_t kb[8], buf[MSG_REC_BUFSIZE];
	DBT k, d;
	int ret;

	*found_r = false;
	msg_key(kb, mbox_id, uid);
	msg_dbt(&k, kb, sizeof(kb));
	msg_dbt(&d, buf, 0);
	d.ulen = sizeof(buf);
	d.flags = DB_DBT_USERMEM;
	ret = store_db_get(st, st->messages, txn, &k, &d, msg_rmw(txn));
	if (ret == DB_NOTFOUND)
		return STORE_OK;
	if (ret != 0)
		return store_dberr(st, ret, "message get");
	if (!store_msg_unpack(uid, buf, d.size, m))
		return msg_corrupt("message", mbox_id, uid);
	*found_r = true;
	return STORE_OK;
}

/* Writes the record and its by_modseq entry (old entry removed first by
 * the caller when the modseq changes). */
static enum store_err
msg_write(struct store *st, DB_TXN *txn, uint32_t mbox_id,
    const struct store_msg *m)
{
	uint8_t kb[12], rec[MSG_REC_LEN], ub[4];
	DBT k, d;
	int ret;

	msg_key(kb, mbox_id, m->uid);
	msg_pack(m, rec);
	msg_dbt(&k, kb, 8);
	msg_dbt(&d, rec, sizeof(rec));
	if ((ret = store_db_put(st, st->messages, txn, &k, &d, 0)) != 0)
		return store_dberr(st, ret, "message put");
	msg_modseq_key(kb, mbox_id, m->modseq);
	store_be_put32(ub, m->uid);
	msg_dbt(&k, kb, 12);
	msg_dbt(&d, ub, sizeof(ub));
	if ((ret = store_db_put(st, st->by_modseq, txn, &k, &d, 0)) != 0)
		return store_dberr(st, ret, "modseq put");
	return STORE_OK;
}

static enum store_err
msg_index_del(struct store *st, DB_TXN *txn, uint32_t mbox_id,
    uint64_t modseq)
{
	uint8_t kb[12];
	DBT k;
	int ret;

	msg_modseq_key(kb, mbox_id, modseq);
	msg_dbt(&k, kb, sizeof(kb));
	ret = store_db_del(st, st->by_modseq, txn, &k);
	if (ret == DB_NOTFOUND) {
		/* Keep the mailbox usable: the new entry repairs it. */
		log_msg(LOG_WARNING, "store: mailbox %u: modseq %llu missing "
		    "from the index", mbox_id, (unsigned long long)modseq);
		return STORE_OK;
	}
	return ret == 0 ? STORE_OK : store_dberr(st, ret, "modseq del");
}

/* Deletes every key of db that begins with prefix. */
static enum store_err
msg_del_prefix(struct store *st, DB_TXN *txn, DB *db, const uint8_t *prefix,
    size_t plen, const char *what)
{
	uint8_t kb[16];
	DBC *c;
	DBT k, d;
	int ret;

	memcpy(kb, prefix, plen);
	if ((ret = store_cursor_open(st, db, txn, &c)) != 0)
		return store_dberr(st, ret, "cursor");
	msg_dbt(&k, kb, plen);
	msg_dbt(&d, NULL, 0);
	d.flags = DB_DBT_PARTIAL;	/* the keys are enough */
	ret = store_cursor_get(st, c, &k, &d, DB_SET_RANGE | DB_RMW);
	while (ret == 0 && k.size >= plen &&
	    memcmp(k.data, prefix, plen) == 0) {
		if ((ret = store_cursor_del(st, c)) != 0)
			break;
		msg_dbt(&k, NULL, 0);
		msg_dbt(&d, NULL, 0);
		d.flags = DB_DBT_PARTIAL;
		ret = store_cursor_get(st, c, &k, &d, DB_NEXT | DB_RMW);
	}
	if (ret == DB_NOTFOUND)
		ret = 0;
	store_cursor_close(&c, &ret);
	return ret == 0 ? STORE_OK : store_dberr(st, ret, what);
}

/* ---- bodies ---- */

static enum store_err
msg_refs_get(struct store *st, DB_TXN *txn, uint64_t body_id, uint32_t *n_r)
{
	uint8_t kb[8], vb[4];
	DBT k, d;
	int ret;

	store_be_put64(kb, body_id);
	msg_dbt(&k, kb, sizeof(kb));
	msg_dbt(&d, vb, 0);
	d.ulen = sizeof(vb);
	d.flags = DB_DBT_USERMEM;
	ret = store_db_get(st, st->body_refs, txn, &k, &d, msg_rmw(txn));
	if (ret == DB_NOTFOUND) {
		*n_r = 0;
		return STORE_OK;
	}
	if (ret != 0)
		return store_dberr(st, ret, "body refs get");
	if (d.size != sizeof(vb))
		return msg_corrupt("body refs", 0, body_id);
	*n_r = store_be_get32(vb);
	return STORE_OK;
}

static enum store_err
msg_refs_put(struct store *st, DB_TXN *txn, uint64_t body_id, uint32_t n)
{
	uint8_t kb[8], vb[4];
	DBT k, d;
	int ret;

	store_be_put64(kb, body_id);
	store_be_put32(vb, n);
	msg_dbt(&k, kb, sizeof(kb));
	msg_dbt(&d, vb, sizeof(vb));
	ret = store_db_put(st, st->body_refs, txn, &k, &d, 0);
	return ret == 0 ? STORE_OK : store_dberr(st, ret, "body refs put");
}

static enum store_err
msg_body_ref(struct store *st, DB_TXN *txn, uint64_t body_id)
{
	enum store_err e;
	uint32_t n;

	if ((e = msg_refs_get(st, txn, body_id, &n)) != STORE_OK)
		return e;
	if (n == 0 || n == UINT32_MAX)
		return msg_corrupt("body refs", n, body_id);
	return msg_refs_put(st, txn, body_id, n + 1);
}

/* Drops one reference; the last one takes the bytes with it. */
static enum store_err
msg_body_unref(struct store *st, DB_TXN *txn, uint64_t body_id)
{
	uint8_t kb[8];
	enum store_err e;
	uint32_t n;
	DBT k;
	int ret;

	if ((e = msg_refs_get(st, txn, body_id, &n)) != STORE_OK)
		return e;
	if (n > 1)
		return msg_refs_put(st, txn, body_id, n - 1);
	if (n == 1) {
		store_be_put64(kb, body_id);
		msg_dbt(&k, kb, sizeof(kb));
		if ((ret = store_db_del(st, st->body_refs, txn, &k)) != 0)
			return store_dberr(st, ret, "body refs del");
	} else {
		log_msg(LOG_WARNING, "store: body %llu had no reference "
		    "count", (unsigned long long)body_id);
	}
	store_be_put64(kb, body_id);
	msg_dbt(&k, kb, sizeof(kb));
	if ((ret = store_db_del(st, st->mime, txn, &k)) != 0 &&
	    ret != DB_NOTFOUND)
		return store_dberr(st, ret, "mime del");
	if ((ret = store_db_del(st, st->heads, txn, &k)) != 0 &&
	    ret != DB_NOTFOUND)
		return store_dberr(st, ret, "heads del");
	return msg_del_prefix(st, txn, st->bodies, kb, sizeof(kb),
	    "body del");
}

static enum store_err msg_body_read(struct store *st, uint64_t body_id,
    uint64_t off, size_t n, struct buf *out);

enum store_err
store_body_read(struct store *st, uint64_t body_id, uint64_t off, size_t n,
    struct buf *out)
{
	int64_t saved = store_watch_enter();
	enum store_err e = msg_body_read(st, body_id, off, n, out);

	store_watch_leave(saved);
	return e;
}

static enum store_err
msg_body_read(struct store *st, uint64_t body_id, uint64_t off, size_t n,
    struct buf *out)
{
	uint8_t kb[12], *tmp;
	uint64_t end;
	uint32_t refs;
	size_t before = out->len;
	enum store_err e = STORE_OK;
	DBT k, d;
	int ret;

	/* Gone after a panic: the store needs recovery first. */
	if (st->env == NULL && store_env_reopen(st) < 0)
		return STORE_ERR_TRYAGAIN;
	if (n == 0)
		return STORE_OK;
	if (off > UINT64_MAX - n)
		n = (size_t)(UINT64_MAX - off);
	end = off + n;
	tmp = xmalloc(n < MSG_CHUNK ? n : MSG_CHUNK);
	while (off < end && off / MSG_CHUNK <= UINT32_MAX) {
		uint32_t in = (uint32_t)(off % MSG_CHUNK);
		uint64_t want = end - off;

		if (want > MSG_CHUNK - in)
			want = MSG_CHUNK - in;
		/* Only the bytes wanted from this chunk. */
		msg_body_key(kb, body_id, (uint32_t)(off / MSG_CHUNK));
		msg_dbt(&k, kb, sizeof(kb));
		msg_dbt(&d, tmp, 0);
		d.ulen = (u_int32_t)want;
		d.dlen = (u_int32_t)want;
		d.doff = in;
		d.flags = DB_DBT_USERMEM | DB_DBT_PARTIAL;
		ret = store_db_get(st, st->bodies, NULL, &k, &d, 0);
		if (ret == DB_NOTFOUND)
			break;
		if (ret != 0) {
			e = store_dberr(st, ret, "body get");
			break;
		}
		if (buf_add(out, tmp, d.size) < 0) {
			log_msg(LOG_ERR, "store: body read: buffer too small");
			e = STORE_ERR_IO;
			break;
		}
		st->body_bytes_read += d.size;
		off += d.size;
		if (d.size < want)
			break;	/* the end of the message */
	}
	xfree(&tmp);
	if (e != STORE_OK || out->len > before)
		return e;
	/* Nothing read: past the end, or no such body? */
	if ((e = msg_refs_get(st, NULL, body_id, &refs)) != STORE_OK)
		return e;
	return refs == 0 ? STORE_ERR_NOTFOUND : STORE_OK;
}

/* ---- the first bytes of many messages (SEARCH) ---- */

/* Records a cursor may step over to reach the next message's first chunk
 * (the rest of a large message) before a search from the root is
 * cheaper. */
#define MSG_HEADS_STEPS	4

/*
 * One pass of store_body_heads over db, heads (keys of 8 bytes) or
 * bodies (12: chunk 0), for the v[i] still left. The next message's key
 * usually follows the last one, so the cursor steps forward with DB_NEXT
 * and reads the data in the same call: one cursor operation a message,
 * and in heads no other page than the one the cursor is on. It searches
 * from the root (DB_SET) only when the key is behind it or too far ahead.
 */
static int
msg_heads_pass(struct store *st, DB *db, size_t klen, struct store_head *v,
    bool *left, size_t n)
{
	uint8_t kb[12], at[16];
	bool placed = false;	/* the cursor is on key at */
	DBC *c;
	DBT k, d;
	size_t i;
	int ret, cmp = 0;

	if ((ret = store_cursor_open(st, db, NULL, &c)) != 0)
		return ret;
	for (i = 0; i < n && ret == 0; i++) {
		unsigned step;

		if (!left[i])
			continue;
		store_be_put64(kb, v[i].body_id);
		store_be_put32(kb + 8, 0);
		/* Straight into the caller's memory: no copy of ours. */
		msg_dbt(&d, v[i].dst, 0);
		d.ulen = d.dlen = (u_int32_t)(v[i].want < MSG_CHUNK ?
		    v[i].want : MSG_CHUNK);
		d.flags = DB_DBT_USERMEM | DB_DBT_PARTIAL;
		msg_dbt(&k, at, 0);
		k.ulen = sizeof(at);
		k.flags = DB_DBT_USERMEM;
		if (placed && (cmp = memcmp(at, kb, klen)) == 0) {
			/* A step for an earlier message already got here. */
			ret = store_cursor_get(st, c, &k, &d, DB_CURRENT);
		} else if (placed && cmp < 0) {
			for (step = 0; step < MSG_HEADS_STEPS; step++) {
				ret = store_cursor_get(st, c, &k, &d, DB_NEXT);
				if (ret != 0 || k.size != klen ||
				    (cmp = memcmp(at, kb, klen)) >= 0)
					break;
			}
			if (ret == DB_NOTFOUND) {
				ret = 0;	/* nothing after the last */
				placed = false;
				continue;
			}
			if (ret != 0)
				break;
			if (k.size == klen && cmp > 0)
				continue;	/* not there */
			/* Too far (or an odd key): search. */
			placed = k.size == klen && cmp == 0;
		} else {
			placed = false;
		}
		if (!placed) {
			memcpy(at, kb, klen);
			k.size = (u_int32_t)klen;
			ret = store_cursor_get(st, c, &k, &d, DB_SET);
			if (ret == DB_NOTFOUND) {
				ret = 0;
				continue;
			}
			placed = ret == 0;
		}
		if (ret == 0) {
			v[i].got = d.size;
			left[i] = false;
			st->body_bytes_read += d.size;
		}
	}
	store_cursor_close(&c, &ret);
	return ret;
}

/* The header copies first; the bodies for those without one. */
static enum store_err
msg_body_heads(struct store *st, struct store_head *v, size_t n)
{
	bool *left;
	size_t i;
	int ret;

	if (st->env == NULL && store_env_reopen(st) < 0)
		return STORE_ERR_TRYAGAIN;
	left = xcalloc(n > 0 ? n : 1, sizeof(*left));
	for (i = 0; i < n; i++) {
		v[i].got = 0;
		left[i] = v[i].want > 0;
	}
	ret = msg_heads_pass(st, st->heads, 8, v, left, n);
	if (ret == 0)
		ret = msg_heads_pass(st, st->bodies, 12, v, left, n);
	free(left);
	return ret == 0 ? STORE_OK : store_dberr(st, ret, "body heads");
}

enum store_err
store_body_heads(struct store *st, struct store_head *v, size_t n)
{
	int64_t saved = store_watch_enter();
	enum store_err e = msg_body_heads(st, v, n);

	store_watch_leave(saved);
	return e;
}

/* ---- appending ---- */

/* Largest MIME structure kept for one message (10,000 parts fit). */
#define MSG_MIME_MAX	(16u << 20)

struct store_append {
	struct store *st;
	uint64_t size;		/* announced */
	uint64_t got;		/* received */
	struct buf mime;	/* the MIME structure, parsed before commit */
	struct buf mem;		/* the bytes if size <= MSG_SPOOL_MEM */
	int fd;			/* else an unlinked temporary file */
	uint8_t *chunk;		/* scratch for reading the file back */
	bool done;		/* committed */
};

static enum store_err
msg_errno(const char *what, const char *path)
{
	int saved = errno;

	log_msg(LOG_ERR, "store: %s %s: %s", what, path, strerror(saved));
	return saved == ENOSPC || saved == EDQUOT || saved == EFBIG ?
	    STORE_ERR_NOSPACE : STORE_ERR_IO;
}

/* Opens an unlinked temporary file in DATA_DIR/tmp (home is DATA_DIR/db). */
static enum store_err
msg_spool_open(struct store *st, int *fd_r)
{
	size_t hlen = strlen(st->home);
	char dir[4096], path[4200];
	int n, fd;

	if (hlen < 3 || strcmp(st->home + hlen - 3, "/db") != 0)
		return STORE_ERR_IO;
	n = snprintf(dir, sizeof(dir), "%.*s/tmp", (int)(hlen - 3), st->home);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return STORE_ERR_IO;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return msg_errno("mkdir", dir);
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR ||
	    errno == EINVAL || errno == ENOENT)) {
		n = snprintf(path, sizeof(path), "%s/append.XXXXXX", dir);
		if (n < 0 || (size_t)n >= sizeof(path))
			return STORE_ERR_IO;
		if ((fd = mkostemp(path, O_CLOEXEC)) >= 0)
			(void)unlink(path);
	}
	if (fd < 0)
		return msg_errno("spool", dir);
	*fd_r = fd;
	return STORE_OK;
}

enum store_err
store_append_begin(struct store *st, uint64_t size, struct store_append **ap_r)
{
	struct store_append *ap;
	enum store_err e;
	int fd = -1;

	*ap_r = NULL;
	if (size / MSG_CHUNK >= UINT32_MAX)
		return STORE_ERR_INVALID;
	if (size > MSG_SPOOL_MEM &&
	    (e = msg_spool_open(st, &fd)) != STORE_OK)
		return e;
	ap = xcalloc(1, sizeof(*ap));
	ap->st = st;
	ap->size = size;
	ap->fd = fd;
	buf_init(&ap->mem, fd < 0 ? (size_t)size : 0);
	buf_init(&ap->mime, MSG_MIME_MAX);
	*ap_r = ap;
	return STORE_OK;
}

enum store_err
store_append_data(struct store_append *ap, const uint8_t *p, size_t n)
{
	if (ap->done || n > ap->size - ap->got)
		return STORE_ERR_INVALID;
	if (ap->fd < 0) {
		if (buf_add(&ap->mem, p, n) < 0)
			return STORE_ERR_INVALID;
		ap->got += n;
		return STORE_OK;
	}
	while (n > 0) {
		ssize_t w = write(ap->fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return msg_errno("write", "spool file");
		p += w;
		n -= (size_t)w;
		ap->got += (uint64_t)w;
	}
	return STORE_OK;
}

/* Parses the spooled message's MIME structure into ap->mime. */
static enum store_err
msg_spool_mime(struct store_append *ap)
{
	const uint8_t *p = ap->mem.data;
	void *map = NULL;
	int r;

	if (ap->fd >= 0 && ap->size > 0) {
		map = mmap(NULL, (size_t)ap->size, PROT_READ, MAP_PRIVATE,
		    ap->fd, 0);
		if (map == MAP_FAILED)
			return msg_errno("mmap", "spool file");
		p = map;
	}
	r = mime_parse(p != NULL ? p : (const uint8_t *)"", (size_t)ap->size,
	    &ap->mime);
	if (map != NULL)
		(void)munmap(map, (size_t)ap->size);
	if (r < 0) {
		log_msg(LOG_ERR, "store: MIME structure too large");
		return STORE_ERR_IO;
	}
	return STORE_OK;
}

/* Chunk i of the spooled bytes (re-read from the file on every run). */
static enum store_err
msg_spool_chunk(struct store_append *ap, uint32_t i, const uint8_t **p_r,
    size_t *n_r)
{
	uint64_t off = (uint64_t)i * MSG_CHUNK;
	size_t n = ap->size - off < MSG_CHUNK ? (size_t)(ap->size - off) :
	    MSG_CHUNK;
	size_t got = 0;

	*n_r = n;
	if (ap->fd < 0) {
		*p_r = ap->mem.data + off;
		return STORE_OK;
	}
	if (ap->chunk == NULL)
		ap->chunk = xmalloc(MSG_CHUNK);
	while (got < n) {
		ssize_t r = pread(ap->fd, ap->chunk + got, n - got,
		    (off_t)(off + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return msg_errno("read", "spool file");
		got += (size_t)r;
	}
	*p_r = ap->chunk;
	return STORE_OK;
}

struct msg_append_ctx {
	struct store_append *ap;
	struct msg_target t;
	uint32_t flags;
	uint64_t keywords;
	int64_t internaldate;
	int32_t tzoff;
	uint32_t uid;
	uint32_t uidvalidity;
};

/* The copy of a short header (p: the first n bytes of the message). */
static enum store_err
msg_heads_put(struct store *st, DB_TXN *txn, const struct store_append *ap,
    uint64_t body_id, const uint8_t *p, size_t n)
{
	struct mime_range r;
	uint8_t kb[8];
	DBT k, d;
	int ret;

	if (!mime_section(ap->mime.data, ap->mime.len, NULL, 0, &r) ||
	    r.hdr_off != 0 || r.hdr_len == 0 || r.hdr_len > MSG_HEADS_MAX ||
	    r.hdr_len > n)
		return STORE_OK;	/* SEARCH reads the body instead */
	store_be_put64(kb, body_id);
	msg_dbt(&k, kb, sizeof(kb));
	msg_dbt(&d, (void *)(uintptr_t)p, (size_t)r.hdr_len);
	if ((ret = store_db_put(st, st->heads, txn, &k, &d, 0)) != 0)
		return store_dberr(st, ret, "heads put");
	return STORE_OK;
}

static enum store_err
msg_append_fn(struct store *st, DB_TXN *txn, void *ctx)
{
	struct msg_append_ctx *a = ctx;
	struct store_append *ap = a->ap;
	struct store_mbox mb;
	struct store_msg m;
	uint64_t body_id, nchunks;
	uint8_t kb[12];
	enum store_err e;
	uint32_t i;
	DBT k, d;
	int ret;

	if ((e = msg_mbox(st, txn, &a->t, &mb)) != STORE_OK)
		return e;
	if (mb.uidnext == 0 || mb.uidnext == UINT32_MAX) {
		log_msg(LOG_ERR, "store: mailbox %u: UIDs exhausted", mb.id);
		return STORE_ERR_IO;
	}
	if ((e = store_counter_next(st, txn, "body_id", 1, UINT64_MAX,
	    &body_id)) != STORE_OK)
		return e;
	nchunks = (ap->size + MSG_CHUNK - 1) / MSG_CHUNK;
	for (i = 0; i < nchunks; i++) {
		const uint8_t *p = NULL;
		size_t n = 0;

		if ((e = msg_spool_chunk(ap, i, &p, &n)) != STORE_OK)
			return e;
		msg_body_key(kb, body_id, i);
		msg_dbt(&k, kb, sizeof(kb));
		msg_dbt(&d, (void *)(uintptr_t)p, n);
		if ((ret = store_db_put(st, st->bodies, txn, &k, &d, 0)) != 0)
			return store_dberr(st, ret, "body put");
		if (i == 0 && (e = msg_heads_put(st, txn, ap, body_id, p,
		    n)) != STORE_OK)
			return e;
	}
	if ((e = msg_refs_put(st, txn, body_id, 1)) != STORE_OK)
		return e;
	store_be_put64(kb, body_id);
	msg_dbt(&k, kb, 8);
	msg_dbt(&d, ap->mime.data, ap->mime.len);
	if ((ret = store_db_put(st, st->mime, txn, &k, &d, 0)) != 0)
		return store_dberr(st, ret, "mime put");
	memset(&m, 0, sizeof(m));
	m.uid = mb.uidnext;
	m.flags = a->flags & STORE_FLAGS_ALL;
	m.keywords = a->keywords;
	m.modseq = mb.highestmodseq + 1;
	m.internaldate = a->internaldate;
	m.tzoff = a->tzoff;
	m.size = ap->size;
	m.body_id = body_id;
	if ((e = msg_write(st, txn, mb.id, &m)) != STORE_OK)
		return e;
	mb.uidnext++;
	mb.highestmodseq = m.modseq;
	mb.messages++;
	if ((m.flags & STORE_FLAG_SEEN) == 0)
		mb.unseen++;
	mb.recent++;
	if ((e = store_mbox_rec_write(st, txn, &a->t.k, &mb)) != STORE_OK)
		return e;
	a->uid = m.uid;
	a->uidvalidity = mb.uidvalidity;
	return STORE_OK;
}

enum store_err
store_append_commit(struct store_append *ap, const char *user,
    const char *name, uint32_t mbox_id, uint32_t flags, uint64_t keywords,
    int64_t internaldate, int32_t tzoff, uint32_t *uid_r,
    uint32_t *uidvalidity_r)
{
	struct msg_append_ctx a;
	enum store_err e;

	if (ap->done || ap->got != ap->size)
		return STORE_ERR_INVALID;
	if ((e = msg_target_init(&a.t, user, name, mbox_id)) != STORE_OK)
		return e;
	/* The structure is parsed once, here, outside the transaction; a
	 * FETCH never parses again (the mime database keeps it). */
	if (ap->mime.len == 0 && (e = msg_spool_mime(ap)) != STORE_OK)
		return e;
	a.ap = ap;
	a.flags = flags;
	a.keywords = keywords;
	a.internaldate = internaldate;
	a.tzoff = tzoff;
	e = store_txn_run(ap->st, STORE_TXN_WRITE, msg_append_fn, &a);
	if (e != STORE_OK)
		return e;
	ap->done = true;
	*uid_r = a.uid;
	*uidvalidity_r = a.uidvalidity;
	return STORE_OK;
}

void
store_append_free(struct store_append **app)
{
	struct store_append *ap = *app;

	if (ap == NULL)
		return;
	if (ap->fd >= 0)
		(void)close(ap->fd);
	buf_free(&ap->mem);
	buf_free(&ap->mime);
	xfree(&ap->chunk);
	xfree(app);
}

/* ---- keywords ---- */

struct msg_kwset {
	uint64_t used;
	char name[STORE_KEYWORDS_MAX][STORE_KEYWORD_LEN_MAX + 1];
};

static bool
msg_kw_equal(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned char x = (unsigned char)*a, y = (unsigned char)*b;

		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y - 'A' + 'a');
		if (x != y)
			return false;
		if (x == '\0')
			return true;
	}
}

static enum store_err
msg_kw_load(struct store *st, DB_TXN *txn, uint32_t mbox_id,
    struct msg_kwset *ks)
{
	uint8_t kb[4];
	DBC *c;
	DBT k, d;
	int ret;

	ks->used = 0;
	store_be_put32(kb, mbox_id);
	if ((ret = store_cursor_open(st, st->keywords, txn, &c)) != 0)
		return store_dberr(st, ret, "cursor");
	msg_dbt(&k, kb, sizeof(kb));
	msg_dbt(&d, NULL, 0);
	ret = store_cursor_get(st, c, &k, &d, DB_SET_RANGE | msg_rmw(txn));
	while (ret == 0 && k.size == 5 && memcmp(k.data, kb, 4) == 0) {
		unsigned i = ((uint8_t *)k.data)[4];

		if (i >= STORE_KEYWORDS_MAX || d.size == 0 ||
		    d.size > STORE_KEYWORD_LEN_MAX) {
			ret = 0;
			store_cursor_close(&c, &ret);
			return msg_corrupt("keyword", mbox_id, i);
		}
		memcpy(ks->name[i], d.data, d.size);
		ks->name[i][d.size] = '\0';
		ks->used |= (uint64_t)1 << i;
		msg_dbt(&k, NULL, 0);
		msg_dbt(&d, NULL, 0);
		ret = store_cursor_get(st, c, &k, &d, DB_NEXT | msg_rmw(txn));
	}
	if (ret == DB_NOTFOUND)
		ret = 0;
	store_cursor_close(&c, &ret);
	return ret == 0 ? STORE_OK : store_dberr(st, ret, "keyword list");
}

static int
msg_kw_find(const struct msg_kwset *ks, const char *kw)
{
	unsigned i;

	for (i = 0; i < STORE_KEYWORDS_MAX; i++)
		if ((ks->used & (uint64_t)1 << i) != 0 &&
		    msg_kw_equal(ks->name[i], kw))
			return (int)i;
	return -1;
}

/* The index of kw, created if missing (INVALID when all are taken). */
static enum store_err
msg_kw_make(struct store *st, DB_TXN *txn, uint32_t mbox_id,
    struct msg_kwset *ks, const char *kw, unsigned *index_r)
{
	uint8_t kb[5];
	size_t len = strlen(kw);
	unsigned i;
	int f = msg_kw_find(ks, kw), ret;
	DBT k, d;

	if (f >= 0) {
		*index_r = (unsigned)f;
		return STORE_OK;
	}
	if (len == 0 || len > STORE_KEYWORD_LEN_MAX)
		return STORE_ERR_INVALID;
	for (i = 0; i < STORE_KEYWORDS_MAX; i++)
		if ((ks->used & (uint64_t)1 << i) == 0)
			break;
	if (i == STORE_KEYWORDS_MAX)
		return STORE_ERR_INVALID;
	store_be_put32(kb, mbox_id);
	kb[4] = (uint8_t)i;
	msg_dbt(&k, kb, sizeof(kb));
	msg_dbt(&d, (void *)(uintptr_t)kw, len);
	if ((ret = store_db_put(st, st->keywords, txn, &k, &d, 0)) != 0)
		return store_dberr(st, ret, "keyword put");
	memcpy(ks->name[i], kw, len + 1);
	ks->used |= (uint64_t)1 << i;
	*index_r = i;
	return STORE_OK;
}

struct msg_kw_ctx {
	struct msg_target t;
	const char *kw;
	bool list;		/* only load the set */
	bool create;
	unsigned index;
	struct msg_kwset ks;
};

static enum store_err
msg_kw_index_fn(struct store *st, DB_TXN *txn, void *ctx)
{
	struct msg_kw_ctx *c = ctx;
	struct store_mbox mb;
	enum store_err e;
	int f;

	if ((e = msg_mbox(st, txn, &c->t, &mb)) != STORE_OK ||
	    (e = msg_kw_load(st, txn, mb.id, &c->ks)) != STORE_OK ||
	    c->list)
		return e;
	if (!c->create) {
		if ((f = msg_kw_find(&c->ks, c->kw)) < 0)
			return STORE_ERR_NOTFOUND;
		c->index = (unsigned)f;
		return STORE_OK;
	}
	return msg_kw_make(st, txn, mb.id, &c->ks, c->kw, &c->index);
}

enum store_err
store_keyword_index(struct store *st, const char *user, const char *name,
    uint32_t mbox_id, const char *keyword, bool create, unsigned *index_r)
{
	struct msg_kw_ctx *c;
	enum store_err e;

	c = xmalloc(sizeof(*c));
	if ((e = msg_target_init(&c->t, user, name, mbox_id)) != STORE_OK) {
		xfree(&c);
		return e;
	}
	c->kw = keyword;
	c->list = false;
	/* A read first: most keywords exist already. */
	c->create = false;
	e = store_txn_run(st, STORE_TXN_NONE, msg_kw_index_fn, c);
	if (e == STORE_ERR_NOTFOUND && create) {
		c->create = true;
		/* A keyword's name is flag data: it commits like the STORE
		 * that follows it, and is logged before it. */
		e = store_txn_run(st, STORE_TXN_FLAGS, msg_kw_index_fn, c);
	}
	if (e == STORE_OK)
		*index_r = c->index;
	xfree(&c);
	return e;
}

enum store_err
store_keyword_list(struct store *st, const char *user, const char *name,
    uint32_t mbox_id, store_keyword_cb *cb, void *ctx)
{
	struct msg_kw_ctx *c;
	enum store_err e;
	unsigned i;

	c = xmalloc(sizeof(*c));
	if ((e = msg_target_init(&c->t, user, name, mbox_id)) != STORE_OK) {
		xfree(&c);
		return e;
	}
	c->kw = "";
	c->list = true;
	c->create = false;
	e = store_txn_run(st, STORE_TXN_NONE, msg_kw_index_fn, c);
	if (e == STORE_OK) {
		for (i = 0; i < STORE_KEYWORDS_MAX; i++)
			if ((c->ks.used & (uint64_t)1 << i) != 0 &&
			    cb(ctx, i, c->ks.name[i]) != 0)
				break;
	}
	xfree(&c);
	return e;
}

/* ---- listing ---- */

struct msg_list_ctx {
	struct msg_target t;
	uint32_t next_uid;
	bool done;
	struct buf out;		/* struct store_msg, ... */
	void *bulk;		/* MSG_LIST_BULK bytes for the cursor */
};

/*
 * Bytes of records one cursor call returns (DB_MULTIPLE_KEY): a call per
 * page of records rather than per record, which took most of the time of
 * a FETCH 1:* (FLAGS). A multiple of 1024, larger than any page.
 */
#define MSG_LIST_BULK		(256u * 1024)

static enum store_err
msg_list_fn(struct store *st, DB_TXN *txn, void *ctx)
{
	struct msg_list_ctx *l = ctx;
	struct store_mbox mb;
	struct store_msg m;
	uint8_t kb[8];
	enum store_err e;
	unsigned count = 0;
	u_int32_t op = DB_SET_RANGE;
	DBC *c;
	DBT k, d;
	int ret;

	buf_reset(&l->out);
	l->done = true;
	if ((e = msg_mbox(st, txn, &l->t, &mb)) != STORE_OK)
		return e;
	if ((ret = store_cursor_open(st, st->messages, txn, &c)) != 0)
		return store_dberr(st, ret, "cursor");
	msg_key(kb, mb.id, l->next_uid);
	for (;;) {
		void *pos, *kp, *dp;
		u_int32_t kn, dn;
		bool end = false;

		/* DB_SET_RANGE reads the key it lands on into k: it must
		 * have room for it. */
		msg_dbt(&k, kb, sizeof(kb));
		k.ulen = sizeof(kb);
		k.flags = DB_DBT_USERMEM;
		msg_dbt(&d, l->bulk, MSG_LIST_BULK);
		d.ulen = MSG_LIST_BULK;
		d.flags = DB_DBT_USERMEM;
		ret = store_cursor_get(st, c, &k, &d, op | DB_MULTIPLE_KEY);
		if (ret != 0)
			break;
		op = DB_NEXT;
		DB_MULTIPLE_INIT(pos, &d);
		for (;;) {
			uint32_t uid;

			DB_MULTIPLE_KEY_NEXT(pos, &d, kp, kn, dp, dn);
			if (pos == NULL)
				break;
			if (kn != 8 || store_be_get32(kp) != mb.id) {
				end = true;
				break;
			}
			uid = store_be_get32((uint8_t *)kp + 4);
			if (count == MSG_LIST_BATCH) {
				l->next_uid = uid;
				l->done = false;
				end = true;
				break;
			}
			if (!store_msg_unpack(uid, dp, dn, &m)) {
				ret = 0;
				store_cursor_close(&c, &ret);
				return msg_corrupt("message", mb.id, uid);
			}
			if (buf_add(&l->out, &m, sizeof(m)) < 0) {
				ret = 0;
				store_cursor_close(&c, &ret);
				return STORE_ERR_IO;
			}
			count++;
		}
		if (end)
			break;
	}
	if (ret == DB_NOTFOUND)
		ret = 0;
	store_cursor_close(&c, &ret);
	return ret == 0 ? STORE_OK : store_dberr(st, ret, "message list");
}

/*
 * Records are gathered a batch at a time and handed to cb with no cursor
 * open, so that cb holds no lock and may call the store itself.
 */
enum store_err
store_msg_list(struct store *st, const char *user, const char *name,
    uint32_t mbox_id, uint32_t from_uid, store_msg_cb *cb, void *ctx)
{
	struct msg_list_ctx l;
	enum store_err e;
	bool stop = false;
	size_t off;

	if ((e = msg_target_init(&l.t, user, name, mbox_id)) != STORE_OK)
		return e;
	l.next_uid = from_uid;
	buf_init(&l.out, MSG_COLLECT_MAX);
	l.bulk = xmalloc(MSG_LIST_BULK);
	do {
		if ((e = store_txn_run(st, STORE_TXN_NONE, msg_list_fn, &l)) !=
		    STORE_OK)
			break;
		for (off = 0; off < l.out.len && !stop; off += sizeof(
		    struct store_msg)) {
			struct store_msg m;

			memcpy(&m, l.out.data + off, sizeof(m));
			stop = cb(ctx, &m) != 0;
		}
	} while (!l.done && !stop);
	buf_free(&l.out);
	free(l.bulk);
	return e;
}

/* ---- bulk scan (SEARCH) ---- */

#define MSG_SCAN_BULK	(128u * 1024)	/* a few thousand records */

struct msg_scan_ctx {
	struct msg_target t;
	uint32_t next_uid;
	bool done;
	DBT bulk;		/* DB_MULTIPLE_KEY buffer, ours */
};

/*
 * One bulk read: as many records from next_uid on as fit in the buffer,
 * in one database call instead of one call per record. The cursor is
 * closed before the caller looks at them.
 */
static enum store_err
msg_scan_fn(struct store *st, DB_TXN *txn, void *ctx)
{
	struct msg_scan_ctx *x = ctx;
	struct store_mbox mb;
	uint8_t kb[8];
	enum store_err e;
	DBC *c;
	DBT k;
	int ret;

	x->done = true;
	x->bulk.size = 0;
	if ((e = msg_mbox(st, txn, &x->t, &mb)) != STORE_OK)
		return e;
	x->t.mbox_id = mb.id;
	if ((ret = store_cursor_open(st, st->messages, txn, &c)) != 0)
		return store_dberr(st, ret, "cursor");
	msg_key(kb, mb.id, x->next_uid);
	msg_dbt(&k, kb, sizeof(kb));
	ret = store_cursor_get(st, c, &k, &x->bulk,
	    DB_SET_RANGE | DB_MULTIPLE_KEY);
	if (ret == DB_NOTFOUND) {
		ret = 0;
		x->bulk.size = 0;
	}
	store_cursor_close(&c, &ret);
	return ret == 0 ? STORE_OK : store_dberr(st, ret, "message scan");
}

enum store_err
store_msg_scan(struct store *st, const char *user, const char *name,
    uint32_t mbox_id, uint32_t from_uid, store_msg_cb *cb, void *ctx)
{
	struct msg_scan_ctx x;
	struct store_msg m;
	enum store_err e;
	bool stop = false;

	if ((e = msg_target_init(&x.t, user, name, mbox_id)) != STORE_OK)
		return e;
	x.next_uid = from_uid;
	memset(&x.bulk, 0, sizeof(x.bulk));
	x.bulk.ulen = MSG_SCAN_BULK;
	x.bulk.data = xmalloc(x.bulk.ulen);
	x.bulk.flags = DB_DBT_USERMEM;
	do {
		void *p, *kp = NULL, *dp = NULL;
		u_int32_t kl = 0, dl = 0;

		if ((e = store_txn_run(st, STORE_TXN_NONE, msg_scan_fn, &x)) !=
		    STORE_OK)
			break;
		if (x.bulk.size == 0)
			break;
		DB_MULTIPLE_INIT(p, &x.bulk);
		for (;;) {
			uint32_t uid;

			DB_MULTIPLE_KEY_NEXT(p, &x.bulk, kp, kl, dp, dl);
			if (p == NULL)
				break;
			/* The buffer may run past this mailbox's records. */
			if (kl != 8 || store_be_get32(kp) != x.t.mbox_id) {
				x.done = true;
				break;
			}
			uid = store_be_get32((uint8_t *)kp + 4);
			if (!store_msg_unpack(uid, dp, dl, &m)) {
				e = msg_corrupt("message", x.t.mbox_id, uid);
				break;
			}
			if ((stop = cb(ctx, &m) != 0) || uid == UINT32_MAX) {
				x.done = true;
				break;
			}
			x.next_uid = uid + 1;
			x.done = false;
		}
	} while (e == STORE_OK && !x.done && !stop);
	free(x.bulk.data);
	return e;
}

struct msg_get_ctx {
	struct msg_target t;
	uint32_t uid;
	struct store_msg *m;
};

static enum store_err
msg_get_fn(struct store *st, DB_TXN *txn, void *ctx)
{
	struct msg_get_ctx *g = ctx;
	struct store_mbox mb;
	enum store_err e;
	bool found;

	if ((e = msg_mbox(st, txn, &g->t, &mb)) != STORE_OK ||
	    (e = msg_read(st, txn, mb.id, g->uid, g->m, &found)) != STORE_OK)
		return e;
	return found ? STORE_OK : STORE_ERR_NOTFOUND;
}

/* STORE_ERR_NOTFOUND also when there is no message of that UID. */
enum store_err
store_msg_get(struct store *st, const char *user, const char *name,
    uint32_t mbox_id, uint32_t uid, struct store_msg *msg_r)
{
	struct msg_get_ctx g;
	enum store_err e;

	if ((e = msg_target_init(&g.t, user, name, mbox_id)) != STORE_OK)
		return e;
	g.uid = uid;
	g.m = msg_r;
	return store_txn_run(st, STORE_TXN_NONE, msg_get_fn, &g);
}

/* ---- flags ---- */

struct msg_flag_res {
	struct store_msg m;
	bool changed;
};

struct msg_flags_ctx {
	struct msg_target t;
	const uint32_t *uids;
	size_t n;
	enum store_flag_op op;
	uint32_t flags;
	uint64_t keywords;
	uint64_t unchangedsince;
	struct buf out;		/* struct msg_flag_res, ... */
};

static enum store_err
msg_flags_fn(struct store *st, DB_TXN *txn, void *ctx)
{
	struct msg_flags_ctx *f = ctx;
	struct msg_flag_res r;
	struct store_mbox mb;
	enum store_err e;
	size_t i;
	bool found, dirty = false;

	buf_reset(&f->out);
	if ((e = msg_mbox(st, txn, &f->t, &mb)) != STORE_OK)
		return e;
	for (i = 0; i < f->n; i++) {
		struct store_msg *m = &r.m;
		uint32_t nf;
		uint64_t nk;

		if ((e = msg_read(st, txn, mb.id, f->uids[i], m, &found)) !=
		    STORE_OK)
			return e;
		if (!found)
			continue;
		r.changed = false;
		switch (f->op) {
		case STORE_FLAGS_SET:
			nf = f->flags & STORE_FLAGS_ALL;
			nk = f->keywords;
			break;
		case STORE_FLAGS_ADD:
			nf = m->flags | (f->flags & STORE_FLAGS_ALL);
			nk = m->keywords | f->keywords;
			break;
		default:
			nf = m->flags & ~f->flags;
			nk = m->keywords & ~f->keywords;
			break;
		}
		if ((f->unchangedsince == 0 ||
		    m->modseq <= f->unchangedsince) &&
		    (nf != m->flags || nk != m->keywords)) {
			if ((e = msg_index_del(st, txn, mb.id, m->modseq)) !=
			    STORE_OK)
				return e;
			if ((m->flags & STORE_FLAG_SEEN) != 0 &&
			    (nf & STORE_FLAG_SEEN) == 0)
				mb.unseen++;
			else if ((m->flags & STORE_FLAG_SEEN) == 0 &&
			    (nf & STORE_FLAG_SEEN) != 0 && mb.unseen > 0)
				mb.unseen--;
			m->flags = nf;
			m->keywords = nk;
			m->modseq = ++mb.highestmodseq;
			if ((e = msg_write(st, txn, mb.id, m)) != STORE_OK)
				return e;
			r.changed = true;
			dirty = true;
		}
		if (buf_add(&f->out, &r, sizeof(r)) < 0)
			return STORE_ERR_IO;
	}
	if (dirty)
		return store_mbox_rec_write(st, txn, &f->t.k, &mb);
	return STORE_OK;
}

enum store_err
store_msg_set_flags(struct store *st, const char *user, const char *name,
    uint32_t mbox_id, const uint32_t *uids, size_t n, enum store_flag_op op,
    uint32_t flags, uint64_t keywords, uint64_t unchangedsince,
    store_flag_cb *cb, void *ctx)
{
	struct msg_flags_ctx f;
	enum store_err e;
	size_t off;

	if ((e = msg_target_init(&f.t, user, name, mbox_id)) != STORE_OK)
		return e;
	f.uids = uids;
	f.n = n;
	f.op = op;
	f.flags = flags;
	f.keywords = keywords;
	f.unchangedsince = unchangedsince;
	buf_init(&f.out, MSG_COLLECT_MAX);
	/* Only flags, keywords and modseqs change: see STORE_TXN_FLAGS. */
	e = store_txn_run(st, STORE_TXN_FLAGS, msg_flags_fn, &f);
	for (off = 0; e == STORE_OK && cb != NULL && off < f.out.len;
	    off += sizeof(struct msg_flag_res)) {
		struct msg_flag_res r;

		memcpy(&r, f.out.data + off, sizeof(r));
		if (cb(ctx, &r.m, r.changed) != 0)
			break;
	}
	buf_free(&f.out);
	return e;
}

/* ---- copy ---- */

struct msg_copy_ctx {
	struct msg_target src;
	struct msg_target dst;
	const uint32_t *uids;
	size_t n;
	uint32_t uidvalidity;
	uint32_t first_uid;
	size_t copied;
	struct msg_kwset skw, dkw;
};

/* Maps keyword bits of the source mailbox to the destination's. */
static enum store_err
msg_copy_keywords(struct store *st, DB_TXN *txn, struct msg_copy_ctx *c,
    uint32_t dst_id, uint64_t kw, uint64_t *out_r)
{
	enum store_err e;
	unsigned i, di;

	*out_r = 0;
	for (i = 0; i < STORE_KEYWORDS_MAX; i++) {
		if ((kw & (uint64_t)1 << i) == 0 ||
		    (c->skw.used & (uint64_t)1 << i) == 0)
			continue;
		if ((e = msg_kw_make(st, txn, dst_id, &c->dkw, c->skw.name[i],
		    &di)) != STORE_OK)
			return e;
		*out_r |= (uint64_t)1 << di;
	}
	return STORE_OK;
}

static enum store_err
msg_copy_fn(struct store *st, DB_TXN *txn, void *ctx)
{
	struct msg_copy_ctx *c = ctx;
	struct store_mbox smb, dmb;
	struct store_msg m;
	enum store_err e;
	size_t i;
	bool found, same;

	c->copied = 0;
	c->first_uid = 0;
	if ((e = msg_mbox(st, txn, &c->src, &smb)) != STORE_OK ||
	    (e = msg_mbox(st, txn, &c->dst, &dmb)) != STORE_OK)
		return e;
	same = smb.id == dmb.id;
	if (!same && ((e = msg_kw_load(st, txn, smb.id, &c->skw)) != STORE_OK ||
	    (e = msg_kw_load(st, txn, dmb.id, &c->dkw)) != STORE_OK))
		return e;
	c->uidvalidity = dmb.uidvalidity;
	for (i = 0; i < c->n; i++) {
		if (i > 0 && c->uids[i] <= c->uids[i - 1])
			continue;	/* not ascending: skip */
		if ((e = msg_read(st, txn, smb.id, c->uids[i], &m, &found)) !=
		    STORE_OK)
			return e;
		if (!found)
			return STORE_ERR_EXPUNGED;	/* all or nothing */
		if (dmb.uidnext == 0 || dmb.uidnext == UINT32_MAX) {
			log_msg(LOG_ERR, "store: mailbox %u: UIDs exhausted",
			    dmb.id);
			return STORE_ERR_IO;
		}
		if (!same && (e = msg_copy_keywords(st, txn, c, dmb.id,
		    m.keywords, &m.keywords)) != STORE_OK)
			return e;
		if ((e = msg_body_ref(st, txn, m.body_id)) != STORE_OK)
			return e;
		m.uid = dmb.uidnext++;
		m.modseq = ++dmb.highestmodseq;
		if ((e = msg_write(st, txn, dmb.id, &m)) != STORE_OK)
			return e;
		if (c->copied++ == 0)
			c->first_uid = m.uid;
		dmb.messages++;
		if ((m.flags & STORE_FLAG_SEEN) == 0)
			dmb.unseen++;
		dmb.recent++;
	}
	if (c->copied == 0)
		return STORE_OK;
	return store_mbox_rec_write(st, txn, &c->dst.k, &dmb);
}

enum store_err
store_msg_copy(struct store *st, const char *user, const char *name,
    uint32_t mbox_id, const uint32_t *uids, size_t n, const char *dst,
    uint32_t *dst_uidvalidity_r, uint32_t *first_uid_r, size_t *copied_r)
{
	struct msg_copy_ctx *c;
	enum store_err e;

	*copied_r = 0;
	c = xmalloc(sizeof(*c));
	if ((e = msg_target_init(&c->src, user, name, mbox_id)) != STORE_OK ||
	    (e = msg_target_init(&c->dst, user, dst, 0)) != STORE_OK) {
		xfree(&c);
		return e;
	}
	c->uids = uids;
	c->n = n;
	e = store_txn_run(st, STORE_TXN_WRITE, msg_copy_fn, c);
	if (e == STORE_OK) {
		*dst_uidvalidity_r = c->uidvalidity;
		*first_uid_r = c->first_uid;
		*copied_r = c->copied;
	}
	xfree(&c);
	return e;
}

/* ---- expunge ---- */

struct msg_expunge_ctx {
	struct msg_target t;
	const uint32_t *uids;
	size_t n;
	struct buf gone;	/* struct store_msg of the \Deleted ones */
	struct buf ranges;	/* u32 first, u32 last, ... big-endian */
};

/* The \Deleted messages of the whole mailbox, into e->gone. */
static enum store_err
msg_expunge_scan(struct store *st, DB_TXN *txn, struct msg_expunge_ctx *x,
    uint32_t mbox_id)
{
	struct store_msg m;
	uint8_t kb[8];
	DBC *c;
	DBT k, d;
	int ret;

	if ((ret = store_cursor_open(st, st->messages, txn, &c)) != 0)
		return store_dberr(st, ret, "cursor");
	msg_key(kb, mbox_id, 0);
	msg_dbt(&k, kb, sizeof(kb));
	msg_dbt(&d, NULL, 0);
	ret = store_cursor_get(st, c, &k, &d, DB_SET_RANGE | DB_RMW);
	while (ret == 0 && k.size == 8 && store_be_get32(k.data) == mbox_id) {
		uint32_t uid = store_be_get32((uint8_t *)k.data + 4);

		if (!store_msg_unpack(uid, d.data, d.size, &m)) {
			ret = 0;
			store_cursor_close(&c, &ret);
			return msg_corrupt("message", mbox_id, uid);
		}
		if ((m.flags & STORE_FLAG_DELETED) != 0 &&
		    buf_add(&x->gone, &m, sizeof(m)) < 0) {
			ret = 0;
			store_cursor_close(&c, &ret);
			return STORE_ERR_IO;
		}
		msg_dbt(&k, NULL, 0);
		msg_dbt(&d, NULL, 0);
		ret = store_cursor_get(st, c, &k, &d, DB_NEXT | DB_RMW);
	}
	if (ret == DB_NOTFOUND)
		ret = 0;
	store_cursor_close(&c, &ret);
	return ret == 0 ? STORE_OK : store_dberr(st, ret, "expunge scan");
}

/* Removes one message record, its index entry and body reference. */
static enum store_err
msg_remove(struct store *st, DB_TXN *txn, struct store_mbox *mb,
    const struct store_msg *m)
{
	uint8_t kb[8];
	enum store_err e;
	DBT k;
	int ret;

	msg_key(kb, mb->id, m->uid);
	msg_dbt(&k, kb, sizeof(kb));
	if ((ret = store_db_del(st, st->messages, txn, &k)) != 0)
		return store_dberr(st, ret, "message del");
	if ((e = msg_index_del(st, txn, mb->id, m->modseq)) != STORE_OK ||
	    (e = msg_body_unref(st, txn, m->body_id)) != STORE_OK)
		return e;
	if (mb->messages > 0)
		mb->messages--;
	if ((m->flags & STORE_FLAG_SEEN) == 0 && mb->unseen > 0)
		mb->unseen--;
	if (m->uid >= mb->recent_uid && mb->recent > 0)
		mb->recent--;
	return STORE_OK;
}

static enum store_err
msg_add_range(struct buf *b, uint32_t uid)
{
	uint8_t r[8];

	if (b->len >= 8 && store_be_get32(b->data + b->len - 4) + 1 == uid) {
		store_be_put32(b->data + b->len - 4, uid);
		return STORE_OK;
	}
	store_be_put32(r, uid);
	store_be_put32(r + 4, uid);
	return buf_add(b, r, sizeof(r)) < 0 ? STORE_ERR_IO : STORE_OK;
}

/* Records an expunge (the UID ranges in x->ranges) under the mailbox's
 * next MODSEQ, for QRESYNC's VANISHED, and writes the mailbox record. */
static enum store_err
msg_record_expunge(struct store *st, DB_TXN *txn, struct msg_expunge_ctx *x,
    struct store_mbox *mb)
{
	uint8_t kb[12];
	DBT k, d;
	int ret;

	mb->highestmodseq++;
	msg_modseq_key(kb, mb->id, mb->highestmodseq);
	msg_dbt(&k, kb, sizeof(kb));
	msg_dbt(&d, x->ranges.data, x->ranges.len);
	if ((ret = store_db_put(st, st->expunged, txn, &k, &d, 0)) != 0)
		return store_dberr(st, ret, "expunged put");
	return store_mbox_rec_write(st, txn, &x->t.k, mb);
}

static enum store_err
msg_expunge_fn(struct store *st, DB_TXN *txn, void *ctx)
{
	struct msg_expunge_ctx *x = ctx;
	struct store_mbox mb;
	struct store_msg m;
	enum store_err e;
	size_t i, off;
	bool found;

	buf_reset(&x->gone);
	buf_reset(&x->ranges);
	if ((e = msg_mbox(st, txn, &x->t, &mb)) != STORE_OK)
		return e;
	if (x->uids == NULL) {
		if ((e = msg_expunge_scan(st, txn, x, mb.id)) != STORE_OK)
			return e;
	} else {
		for (i = 0; i < x->n; i++) {
			if (i > 0 && x->uids[i] <= x->uids[i - 1])
				continue;	/* not ascending: skip */
			if ((e = msg_read(st, txn, mb.id, x->uids[i], &m,
			    &found)) != STORE_OK)
				return e;
			if (found && (m.flags & STORE_FLAG_DELETED) != 0 &&
			    buf_add(&x->gone, &m, sizeof(m)) < 0)
				return STORE_ERR_IO;
		}
	}
	if (x->gone.len == 0)
		return STORE_OK;
	for (off = 0; off < x->gone.len; off += sizeof(m)) {
		memcpy(&m, x->gone.data + off, sizeof(m));
		if ((e = msg_remove(st, txn, &mb, &m)) != STORE_OK ||
		    (e = msg_add_range(&x->ranges, m.uid)) != STORE_OK)
			return e;
	}
	return msg_record_expunge(st, txn, x, &mb);
}

enum store_err
store_msg_expunge(struct store *st, const char *user, const char *name,
    uint32_t mbox_id, const uint32_t *uids, size_t n, store_uid_cb *cb,
    void *ctx)
{
	struct msg_expunge_ctx x;
	enum store_err e;
	size_t off;

	if ((e = msg_target_init(&x.t, user, name, mbox_id)) != STORE_OK)
		return e;
	x.uids = uids;
	x.n = n;
	buf_init(&x.gone, MSG_COLLECT_MAX);
	buf_init(&x.ranges, MSG_COLLECT_MAX);
	e = store_txn_run(st, STORE_TXN_WRITE, msg_expunge_fn, &x);
	for (off = 0; e == STORE_OK && cb != NULL && off < x.gone.len;
	    off += sizeof(struct store_msg)) {
		struct store_msg m;

		memcpy(&m, x.gone.data + off, sizeof(m));
		if (cb(ctx, m.uid) != 0)
			break;
	}
	buf_free(&x.gone);
	buf_free(&x.ranges);
	return e;
}

/* ---- move ---- */

struct msg_move_ctx {
	struct msg_copy_ctx copy;
	struct msg_expunge_ctx x;
};

static enum store_err
msg_move_fn(struct store *st, DB_TXN *txn, void *ctx)
{
	struct msg_move_ctx *mv = ctx;
	struct msg_expunge_ctx *x = &mv->x;
	struct store_mbox mb;
	struct store_msg m;
	enum store_err e;
	size_t i;
	bool found;

	buf_reset(&x->gone);
	buf_reset(&x->ranges);
	if ((e = msg_copy_fn(st, txn, &mv->copy)) != STORE_OK)
		return e;
	if (mv->copy.copied == 0)
		return STORE_OK;
	/* Read the source record after the copy: it may be the same
	 * mailbox. */
	if ((e = msg_mbox(st, txn, &x->t, &mb)) != STORE_OK)
		return e;
	for (i = 0; i < x->n; i++) {
		if (i > 0 && x->uids[i] <= x->uids[i - 1])
			continue;
		if ((e = msg_read(st, txn, mb.id, x->uids[i], &m, &found)) !=
		    STORE_OK)
			return e;
		if (!found)
			return STORE_ERR_EXPUNGED;
		if (buf_add(&x->gone, &m, sizeof(m)) < 0)
			return STORE_ERR_IO;
		if ((e = msg_remove(st, txn, &mb, &m)) != STORE_OK ||
		    (e = msg_add_range(&x->ranges, m.uid)) != STORE_OK)
			return e;
	}
	return msg_record_expunge(st, txn, x, &mb);
}

enum store_err
store_msg_move(struct store *st, const char *user, const char *name,
    uint32_t mbox_id, const uint32_t *uids, size_t n, const char *dst,
    uint32_t *dst_uidvalidity_r, uint32_t *first_uid_r, store_uid_cb *cb,
    void *ctx)
{
	struct msg_move_ctx *mv;
	enum store_err e;
	size_t off;

	mv = xcalloc(1, sizeof(*mv));
	if ((e = msg_target_init(&mv->copy.src, user, name, mbox_id)) !=
	    STORE_OK ||
	    (e = msg_target_init(&mv->copy.dst, user, dst, 0)) != STORE_OK ||
	    (e = msg_target_init(&mv->x.t, user, name, mbox_id)) != STORE_OK) {
		xfree(&mv);
		return e;
	}
	mv->copy.uids = uids;
	mv->copy.n = n;
	mv->x.uids = uids;
	mv->x.n = n;
	buf_init(&mv->x.gone, MSG_COLLECT_MAX);
	buf_init(&mv->x.ranges, MSG_COLLECT_MAX);
	e = store_txn_run(st, STORE_TXN_WRITE, msg_move_fn, mv);
	if (e == STORE_OK) {
		*dst_uidvalidity_r = mv->copy.uidvalidity;
		*first_uid_r = mv->copy.first_uid;
	}
	for (off = 0; e == STORE_OK && cb != NULL && off < mv->x.gone.len;
	    off += sizeof(struct store_msg)) {
		struct store_msg m;

		memcpy(&m, mv->x.gone.data + off, sizeof(m));
		if (cb(ctx, m.uid) != 0)
			break;
	}
	buf_free(&mv->x.gone);
	buf_free(&mv->x.ranges);
	xfree(&mv);
	return e;
}

/* ---- changes ---- */

struct msg_changes_ctx {
	struct msg_target t;
	uint64_t modseq;
	bool want_changed, want_expunged;
	struct buf changed;	/* struct store_msg, ... */
	struct buf expunged;	/* uint32_t, ... */
};

static enum store_err
msg_changes_walk(struct store *st, DB_TXN *txn, struct msg_changes_ctx *x,
    uint32_t mbox_id, DB *db, size_t unit, struct buf *out)
{
	uint8_t kb[12];
	DBC *c;
	DBT k, d;
	int ret;

	if (x->modseq == UINT64_MAX)
		return STORE_OK;
	if ((ret = store_cursor_open(st, db, txn, &c)) != 0)
		return store_dberr(st, ret, "cursor");
	msg_modseq_key(kb, mbox_id, x->modseq + 1);
	msg_dbt(&k, kb, sizeof(kb));
	msg_dbt(&d, NULL, 0);
	ret = store_cursor_get(st, c, &k, &d, DB_SET_RANGE);
	while (ret == 0 && k.size == 12 && store_be_get32(k.data) == mbox_id) {
		if (d.size == 0 || d.size % unit != 0 ||
		    buf_add(out, d.data, d.size) < 0) {
			ret = 0;
			store_cursor_close(&c, &ret);
			return msg_corrupt("change log", mbox_id,
			    store_be_get64((uint8_t *)k.data + 4));
		}
		msg_dbt(&k, NULL, 0);
		msg_dbt(&d, NULL, 0);
		ret = store_cursor_get(st, c, &k, &d, DB_NEXT);
	}
	if (ret == DB_NOTFOUND)
		ret = 0;
	store_cursor_close(&c, &ret);
	return ret == 0 ? STORE_OK : store_dberr(st, ret, "changes");
}

static enum store_err
msg_changes_fn(struct store *st, DB_TXN *txn, void *ctx)
{
	struct msg_changes_ctx *x = ctx;
	struct store_mbox mb;
	struct store_msg m;
	struct buf uids = BUF_INITIALIZER(MSG_COLLECT_MAX);
	enum store_err e = STORE_OK;
	size_t off;
	bool found;

	buf_reset(&x->changed);
	buf_reset(&x->expunged);
	if ((e = msg_mbox(st, txn, &x->t, &mb)) != STORE_OK)
		return e;
	if (x->want_changed && (e = msg_changes_walk(st, txn, x, mb.id,
	    st->by_modseq, 4, &uids)) == STORE_OK) {
		/* Ascending modseq; a record changed meanwhile is either
		 * returned with its newer modseq or gone. */
		for (off = 0; off + 4 <= uids.len; off += 4) {
			if ((e = msg_read(st, txn, mb.id,
			    store_be_get32(uids.data + off), &m, &found)) !=
			    STORE_OK)
				break;
			if (found && m.modseq > x->modseq &&
			    buf_add(&x->changed, &m, sizeof(m)) < 0) {
				e = STORE_ERR_IO;
				break;
			}
		}
	}
	buf_free(&uids);
	if (e == STORE_OK && x->want_expunged)
		e = msg_changes_walk(st, txn, x, mb.id, st->expunged, 8,
		    &x->expunged);
	return e;
}

enum store_err
store_changes(struct store *st, const char *user, const char *name,
    uint32_t mbox_id, uint64_t modseq, store_msg_cb *changed,
    store_uid_cb *expunged, void *ctx)
{
	struct msg_changes_ctx x;
	enum store_err e;
	size_t off;
	bool stop = false;

	if ((e = msg_target_init(&x.t, user, name, mbox_id)) != STORE_OK)
		return e;
	x.modseq = modseq;
	x.want_changed = changed != NULL;
	x.want_expunged = expunged != NULL;
	buf_init(&x.changed, MSG_COLLECT_MAX);
	buf_init(&x.expunged, MSG_COLLECT_MAX);
	e = store_txn_run(st, STORE_TXN_NONE, msg_changes_fn, &x);
	for (off = 0; e == STORE_OK && !stop && off < x.changed.len;
	    off += sizeof(struct store_msg)) {
		struct store_msg m;

		memcpy(&m, x.changed.data + off, sizeof(m));
		stop = changed(ctx, &m) != 0;
	}
	/* Ranges: first, last pairs, expanded in order. */
	for (off = 0; e == STORE_OK && !stop && off + 8 <= x.expunged.len;
	    off += 8) {
		uint32_t u = store_be_get32(x.expunged.data + off);
		uint32_t last = store_be_get32(x.expunged.data + off + 4);

		for (; !stop && u <= last; u++) {
			stop = expunged(ctx, u) != 0;
			if (u == UINT32_MAX)
				break;
		}
	}
	buf_free(&x.changed);
	buf_free(&x.expunged);
	return e;
}

/* ---- \Recent ---- */

struct msg_recent_ctx {
	struct msg_target t;
	uint32_t first;
	uint32_t end;
};

static enum store_err
msg_recent_fn(struct store *st, DB_TXN *txn, void *ctx)
{
	struct msg_recent_ctx *r = ctx;
	struct store_mbox mb;
	enum store_err e;

	if ((e = msg_mbox(st, txn, &r->t, &mb)) != STORE_OK)
		return e;
	r->first = mb.recent_uid < mb.uidnext ? mb.recent_uid : mb.uidnext;
	r->end = mb.uidnext;
	if (mb.recent_uid == mb.uidnext && mb.recent == 0)
		return STORE_OK;
	mb.recent_uid = mb.uidnext;
	mb.recent = 0;
	return store_mbox_rec_write(st, txn, &r->t.k, &mb);
}

enum store_err
store_mbox_claim_recent(struct store *st, const char *user, const char *name,
    uint32_t mbox_id, uint32_t *first_recent_uid_r, uint32_t *end_r)
{
	struct msg_recent_ctx r;
	enum store_err e;

	if ((e = msg_target_init(&r.t, user, name, mbox_id)) != STORE_OK)
		return e;
	if ((e = store_txn_run(st, STORE_TXN_WRITE, msg_recent_fn, &r)) ==
	    STORE_OK) {
		*first_recent_uid_r = r.first;
		if (end_r != NULL)
			*end_r = r.end;
	}
	return e;
}

/* ---- purge (DELETE, user removal) ---- */

enum store_err
store_msg_purge(struct store *st, DB_TXN *txn, uint32_t mbox_id)
{
	struct store_msg m;
	uint8_t kb[8];
	enum store_err e = STORE_OK;
	DBC *c;
	DBT k, d;
	int ret;

	if ((ret = store_cursor_open(st, st->messages, txn, &c)) != 0)
		return store_dberr(st, ret, "cursor");
	msg_key(kb, mbox_id, 0);
	msg_dbt(&k, kb, sizeof(kb));
	msg_dbt(&d, NULL, 0);
	ret = store_cursor_get(st, c, &k, &d, DB_SET_RANGE | DB_RMW);
	while (ret == 0 && k.size == 8 && store_be_get32(k.data) == mbox_id) {
		uint32_t uid = store_be_get32((uint8_t *)k.data + 4);

		if (!store_msg_unpack(uid, d.data, d.size, &m)) {
			e = msg_corrupt("message", mbox_id, uid);
			break;
		}
		if ((e = msg_body_unref(st, txn, m.body_id)) != STORE_OK)
			break;
		if ((ret = store_cursor_del(st, c)) != 0)
			break;
		msg_dbt(&k, NULL, 0);
		msg_dbt(&d, NULL, 0);
		ret = store_cursor_get(st, c, &k, &d, DB_NEXT | DB_RMW);
	}
	if (ret == DB_NOTFOUND)
		ret = 0;
	store_cursor_close(&c, &ret);
	if (e != STORE_OK)
		return e;
	if (ret != 0)
		return store_dberr(st, ret, "purge messages");
	store_be_put32(kb, mbox_id);
	if ((e = msg_del_prefix(st, txn, st->by_modseq, kb, 4,
	    "purge index")) != STORE_OK ||
	    (e = msg_del_prefix(st, txn, st->expunged, kb, 4,
	    "purge expunged")) != STORE_OK)
		return e;
	return msg_del_prefix(st, txn, st->keywords, kb, 4, "purge keywords");
}

/* ---- MIME structure ---- */

static enum store_err msg_mime_get(struct store *st, uint64_t body_id,
    uint64_t size, struct buf *out);

enum store_err
store_mime_get(struct store *st, uint64_t body_id, uint64_t size,
    struct buf *out)
{
	int64_t saved = store_watch_enter();
	enum store_err e = msg_mime_get(st, body_id, size, out);

	store_watch_leave(saved);
	return e;
}

static enum store_err
msg_mime_get(struct store *st, uint64_t body_id, uint64_t size,
    struct buf *out)
{
	struct buf raw = BUF_INITIALIZER(SIZE_MAX);
	uint8_t kb[8];
	enum store_err e;
	DBT k, d;
	int ret;

	store_be_put64(kb, body_id);
	msg_dbt(&k, kb, sizeof(kb));
	memset(&d, 0, sizeof(d));
	d.flags = DB_DBT_MALLOC;
	ret = store_db_get(st, st->mime, NULL, &k, &d, 0);
	if (ret == 0) {
		int r = buf_add(out, d.data, d.size);

		free(d.data);
		return r < 0 ? STORE_ERR_IO : STORE_OK;
	}
	if (ret != DB_NOTFOUND)
		return store_dberr(st, ret, "mime get");
	/* A body stored before its structure was kept: parse it now. */
	e = store_body_read(st, body_id, 0, (size_t)size, &raw);
	if (e == STORE_OK && mime_parse(raw.data != NULL ? raw.data :
	    (const uint8_t *)"", raw.len, out) < 0)
		e = STORE_ERR_IO;
	buf_free(&raw);
	return e;
}

/*
 * Several structures along one cursor, read a bufferful of records at a
 * time (DB_MULTIPLE_KEY). A FETCH walks messages in UID order, whose
 * bodies were mostly stored in the same order: the records wanted are
 * then next to each other, where a get per message paid a search from the
 * root of the tree, and its locks, for each (most of a FETCH 1:*
 * (BODYSTRUCTURE)). A body id far ahead of the buffer, or behind it, is
 * searched for.
 */
#define MSG_MIME_GAP	64	/* ids ahead worth reading through */
#define MSG_MIME_PER	2048	/* buffer bytes per message asked for */

struct msg_mime_many_ctx {
	const struct store_msg *msgs;
	size_t n;
	struct buf *out;
	size_t base;		/* out->len on entry */
	size_t *offs, *lens;	/* lens[i] SIZE_MAX: not found */
	void *bulk;
	size_t bulk_size;
};

/* The records in the buffer: the one pending, the last one passed. */
struct msg_mime_pos {
	DBT d;
	void *p;		/* DB_MULTIPLE_KEY_NEXT position; NULL: none */
	uint64_t key, prev;
	const void *data;
	size_t len;
	bool pending, eof;
};

/* Moves to the next record of the buffer; false when it is used up. */
static bool
msg_mime_next(struct msg_mime_pos *mp)
{
	void *kp = NULL, *dp = NULL;
	u_int32_t kn = 0, dn = 0;

	if (mp->pending)
		mp->prev = mp->key;
	mp->pending = false;
	if (mp->p == NULL)
		return false;
	DB_MULTIPLE_KEY_NEXT(mp->p, &mp->d, kp, kn, dp, dn);
	if (mp->p == NULL || kn != 8)
		return false;
	mp->key = store_be_get64(kp);
	mp->data = dp;
	mp->len = dn;
	mp->pending = true;
	return true;
}

/* Fills the buffer from the cursor: from want on, or (step) onwards. */
static int
msg_mime_fill(struct store *st, DBC *c, struct msg_mime_many_ctx *x,
    struct msg_mime_pos *mp, uint64_t want, bool step)
{
	uint8_t kb[8];
	DBT k;
	int ret;

	mp->p = NULL;
	mp->pending = false;
	for (;;) {
		store_be_put64(kb, want);
		msg_dbt(&k, kb, sizeof(kb));
		k.ulen = sizeof(kb);
		k.flags = DB_DBT_USERMEM;
		msg_dbt(&mp->d, x->bulk, x->bulk_size);
		mp->d.ulen = (u_int32_t)x->bulk_size;
		mp->d.flags = DB_DBT_USERMEM;
		ret = store_cursor_get(st, c, &k, &mp->d, (step ? DB_NEXT :
		    DB_SET_RANGE) | DB_MULTIPLE_KEY);
		if (ret != DB_BUFFER_SMALL)
			break;
		/* One record larger than the buffer: make room for it. */
		x->bulk_size = ((size_t)mp->d.size + 1023) / 1024 * 1024 +
		    x->bulk_size;
		x->bulk = xreallocarray(x->bulk, x->bulk_size, 1);
	}
	if (ret == DB_NOTFOUND) {
		mp->eof = true;
		return 0;
	}
	if (ret != 0)
		return ret;
	mp->eof = false;
	DB_MULTIPLE_INIT(mp->p, &mp->d);
	(void)msg_mime_next(mp);
	return 0;
}

static enum store_err
msg_mime_many_fn(struct store *st, DB_TXN *txn, void *ctx)
{
	struct msg_mime_many_ctx *x = ctx;
	struct msg_mime_pos mp;
	DBC *c;
	size_t i;
	int ret = 0;

	buf_truncate(x->out, x->base);
	memset(&mp, 0, sizeof(mp));
	if ((ret = store_cursor_open(st, st->mime, txn, &c)) != 0)
		return store_dberr(st, ret, "cursor");
	for (i = 0; i < x->n && ret == 0; i++) {
		uint64_t want = x->msgs[i].body_id;
		bool searched = false;

		x->lens[i] = SIZE_MAX;
		for (;;) {
			if (mp.pending && mp.key == want) {
				x->offs[i] = x->out->len;
				x->lens[i] = mp.len;
				if (buf_add(x->out, mp.data, mp.len) < 0) {
					store_cursor_close(&c, &ret);
					return STORE_ERR_IO;
				}
				break;
			}
			if (mp.pending && mp.key < want) {
				if (!msg_mime_next(&mp) && !mp.eof &&
				    want - mp.prev <= MSG_MIME_GAP &&
				    (ret = msg_mime_fill(st, c, x, &mp, want,
				    true)) != 0)
					break;
				continue;
			}
			/* Not where the buffer stands: none, or search. */
			if (searched || (mp.pending && want > mp.prev &&
			    mp.prev != 0))
				break;
			if (!mp.pending && mp.eof && want > mp.prev &&
			    mp.prev != 0)
				break;
			searched = true;
			mp.prev = 0;
			if ((ret = msg_mime_fill(st, c, x, &mp, want,
			    false)) != 0)
				break;
		}
	}
	store_cursor_close(&c, &ret);
	return ret == 0 ? STORE_OK : store_dberr(st, ret, "mime get");
}

enum store_err
store_mime_get_many(struct store *st, const struct store_msg *msgs,
    size_t n, struct buf *out, size_t *offs, size_t *lens)
{
	int64_t saved = store_watch_enter();
	struct msg_mime_many_ctx x;
	enum store_err e;
	size_t i;

	x.msgs = msgs;
	x.n = n;
	x.out = out;
	x.base = out->len;
	x.offs = offs;
	x.lens = lens;
	/* Enough for the batch, as a multiple of 1024 (DB_MULTIPLE_KEY). */
	x.bulk_size = n < 8 ? 16 * 1024 : n > 256 ? 512 * 1024 :
	    n * MSG_MIME_PER;
	x.bulk = xmalloc(x.bulk_size);
	e = store_txn_run(st, STORE_TXN_NONE, msg_mime_many_fn, &x);
	free(x.bulk);
	/* Bodies stored without a structure: parsed now, one by one. */
	for (i = 0; i < n && e == STORE_OK; i++) {
		if (lens[i] != SIZE_MAX)
			continue;
		offs[i] = out->len;
		e = msg_mime_get(st, msgs[i].body_id, msgs[i].size, out);
		lens[i] = out->len - offs[i];
	}
	store_watch_leave(saved);
	return e;
}

uint64_t
store_stats_body_bytes(const struct store *st)
{
	return st->body_bytes_read;
}
