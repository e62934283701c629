/*
 * verify.c: store_verify (store/admin.h), the check behind `refimapctl
 * verify`: Berkeley DB's own structure check of every database file, then
 * every invariant that store/mbox.c and store/msg.c keep between their
 * records (the record formats are described at the top of those files).
 *
 * The databases are read with cursors in key order, once each; what is
 * compared across databases is gathered into sorted arrays and merged, so
 * the check costs a few sorts, not a lookup per record.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/buf.h"
#include "../lib/log.h"
#include "../lib/xalloc.h"
#include "admin.h"
#include "store_int.h"

/* As in store/msg.c: bodies are cut into chunks of this many bytes. */
#define VF_CHUNK		(64u * 1024)
#define VF_LABEL_MAX		300
#define VF_PATH_MAX		4096

struct vf_mbox {
	uint8_t *key;		/* user NUL name */
	size_t keylen;
	struct store_mbox mb;
	char label[VF_LABEL_MAX];	/* user "name" (id N), escaped */
	/* what the message records say */
	uint32_t count, unseen, recent, max_uid;
	uint64_t max_modseq;
	/* what the expunge records say */
	uint32_t max_exp_uid;
	uint64_t max_exp_modseq;
	uint64_t kw_defined, kw_used;
	bool v1;		/* a version 1 record: no recent mark */
};

/* One message, as the messages database holds it. */
struct vf_msg {
	uint32_t mbox_id, uid;
	uint64_t modseq, body_id, size;
};

/* One by_modseq entry. */
struct vf_idx {
	uint32_t mbox_id, uid;
	uint64_t modseq;
};

/* One body's chunks. */
struct vf_body {
	uint64_t id;
	uint64_t total;
	uint32_t chunks;
	bool gap;		/* chunk numbers not 0, 1, 2, ... */
	bool short_chunk;	/* a chunk but the last not full, or empty,
				   or too large */
};

struct vf_ref {
	uint64_t id;
	uint32_t count;
};

struct vf {
	struct store *st;
	store_verify_cb *cb;
	void *ctx;
	struct store_verify_stats *stats;
	struct vf_mbox *mboxes;	/* sorted by key, then by_id */
	size_t nmboxes;
	struct vf_mbox **by_id;	/* sorted by id */
	struct vf_msg *msgs;	/* in (mbox id, uid) order */
	size_t nmsgs;
	struct vf_idx *idx;
	size_t nidx;
	struct vf_body *bodies;
	size_t nbodies;
	struct vf_ref *refs;
	size_t nrefs;
	uint64_t *mime;
	size_t nmime;
	uint64_t max_body_id;
	uint32_t max_mbox_id, max_uidvalidity;
};

/* Grows *p (n elements of size sz, capacity *cap) for one more. */
static void *
vf_grow(void *p, size_t n, size_t *cap, size_t sz)
{
	if (n < *cap)
		return p;
	*cap = *cap < 64 ? 64 : *cap * 2;
	return xreallocarray(p, *cap, sz);
}

static void ATTR_PRINTF(2, 3)
vf_problem(struct vf *v, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		snprintf(line, sizeof(line), "(unprintable problem)");
	v->stats->problems++;
	v->cb(v->ctx, line);
}

static void
vf_dbt(DBT *d)
{
	memset(d, 0, sizeof(*d));
}

/* ---- mailboxes ---- */

static int
vf_id_cmp(const void *a, const void *b)
{
	const struct vf_mbox *x = *(struct vf_mbox *const *)a;
	const struct vf_mbox *y = *(struct vf_mbox *const *)b;

	return x->mb.id < y->mb.id ? -1 : x->mb.id > y->mb.id;
}

static struct vf_mbox *
vf_mbox_by_id(struct vf *v, uint32_t id)
{
	size_t lo = 0, hi = v->nmboxes;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t m = v->by_id[mid]->mb.id;

		if (m == id)
			return v->by_id[mid];
		if (m < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static bool
vf_mbox_by_key(struct vf *v, const uint8_t *key, size_t len)
{
	size_t lo = 0, hi = v->nmboxes;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct vf_mbox *m = &v->mboxes[mid];
		size_t n = m->keylen < len ? m->keylen : len;
		int c = memcmp(m->key, key, n);

		if (c == 0)
			c = m->keylen < len ? -1 : m->keylen > len;
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* A printable "user "name"" for a mailbox key. */
static void
vf_key_label(const uint8_t *key, size_t len, char *out, size_t outlen)
{
	const uint8_t *nul = memchr(key, '\0', len);
	char u[128], n[160];

	if (nul == NULL) {
		snprintf(out, outlen, "key \"%s\"",
		    log_escape(key, len, n, sizeof(n)));
		return;
	}
	snprintf(out, outlen, "%s \"%s\"",
	    log_escape(key, (size_t)(nul - key), u, sizeof(u)),
	    log_escape(nul + 1, len - (size_t)(nul - key) - 1, n, sizeof(n)));
}

static enum store_err
vf_walk_mailboxes(struct vf *v)
{
	struct store *st = v->st;
	size_t cap = 0, i;
	DBC *c;
	DBT k, d;
	int ret;

	if ((ret = store_cursor_open(st, st->mailboxes, NULL, &c)) != 0)
		return store_dberr(st, ret, "cursor");
	for (;;) {
		struct vf_mbox *m;
		char label[VF_LABEL_MAX - 20];

		vf_dbt(&k);
		vf_dbt(&d);
		if ((ret = store_cursor_get(st, c, &k, &d, DB_NEXT)) != 0)
			break;
		vf_key_label(k.data, k.size, label, sizeof(label));
		if (memchr(k.data, '\0', k.size) == NULL ||
		    ((const uint8_t *)k.data)[k.size - 1] == '\0') {
			vf_problem(v, "mailbox %s: malformed key (not "
			    "user NUL name)", label);
			continue;
		}
		v->mboxes = vf_grow(v->mboxes, v->nmboxes, &cap,
		    sizeof(*v->mboxes));
		m = &v->mboxes[v->nmboxes];
		memset(m, 0, sizeof(*m));
		if (!store_mbox_unpack(d.data, d.size, &m->mb)) {
			vf_problem(v, "mailbox %s: record cannot be decoded "
			    "(%u bytes)", label, d.size);
			continue;
		}
		m->v1 = ((const uint8_t *)d.data)[0] < 2;
		m->key = xmalloc(k.size);
		memcpy(m->key, k.data, k.size);
		m->keylen = k.size;
		snprintf(m->label, sizeof(m->label), "mailbox %s (id %u)",
		    label, m->mb.id);
		v->nmboxes++;
	}
	store_cursor_close(&c, &ret);
	if (ret != DB_NOTFOUND && ret != 0)
		return store_dberr(st, ret, "verify mailboxes");
	v->stats->mailboxes = v->nmboxes;
	v->by_id = xreallocarray(NULL, v->nmboxes + 1, sizeof(*v->by_id));
	for (i = 0; i < v->nmboxes; i++)
		v->by_id[i] = &v->mboxes[i];
	qsort(v->by_id, v->nmboxes, sizeof(*v->by_id), vf_id_cmp);
	for (i = 0; i < v->nmboxes; i++) {
		struct vf_mbox *m = v->by_id[i];

		if (i > 0 && v->by_id[i - 1]->mb.id == m->mb.id)
			vf_problem(v, "%s: the id is also that of %s",
			    m->label, v->by_id[i - 1]->label);
		if (m->mb.id > v->max_mbox_id)
			v->max_mbox_id = m->mb.id;
		if (m->mb.uidvalidity > v->max_uidvalidity)
			v->max_uidvalidity = m->mb.uidvalidity;
	}
	return STORE_OK;
}

/* Every superior of a mailbox exists (mbox.c's invariant). */
static void
vf_check_superiors(struct vf *v)
{
	size_t i, j;

	for (i = 0; i < v->nmboxes; i++) {
		const struct vf_mbox *m = &v->mboxes[i];
		size_t start = (size_t)((uint8_t *)memchr(m->key, '\0',
		    m->keylen) - m->key) + 1;

		for (j = start + 1; j < m->keylen; j++) {
			if (m->key[j] != STORE_DELIM)
				continue;
			if (!vf_mbox_by_key(v, m->key, j)) {
				char sup[VF_LABEL_MAX];

				vf_key_label(m->key, j, sup, sizeof(sup));
				vf_problem(v, "%s: its superior %s does not "
				    "exist", m->label, sup);
			}
		}
	}
}

/* ---- messages ---- */

static enum store_err
vf_walk_messages(struct vf *v)
{
	struct store *st = v->st;
	uint32_t prev_mbox = 0, prev_uid = 0;
	size_t cap = 0;
	bool first = true;
	DBC *c;
	DBT k, d;
	int ret;

	if ((ret = store_cursor_open(st, st->messages, NULL, &c)) != 0)
		return store_dberr(st, ret, "cursor");
	for (;;) {
		struct store_msg rec;
		struct vf_mbox *m;
		struct vf_msg *g;
		uint32_t mbox_id, uid, flags;
		uint64_t kw, modseq;

		vf_dbt(&k);
		vf_dbt(&d);
		if ((ret = store_cursor_get(st, c, &k, &d, DB_NEXT)) != 0)
			break;
		if (k.size != 8) {
			vf_problem(v, "messages: a key of %u bytes (not 8)",
			    k.size);
			continue;
		}
		mbox_id = store_be_get32(k.data);
		uid = store_be_get32((uint8_t *)k.data + 4);
		m = vf_mbox_by_id(v, mbox_id);
		if (uid == 0)
			vf_problem(v, "message UID 0 in mailbox id %u",
			    mbox_id);
		if (!first && mbox_id == prev_mbox && uid <= prev_uid)
			vf_problem(v, "mailbox id %u: UID %u follows UID %u "
			    "(not ascending)", mbox_id, uid, prev_uid);
		first = false;
		prev_mbox = mbox_id;
		prev_uid = uid;
		if (!store_msg_unpack(uid, d.data, d.size, &rec)) {
			vf_problem(v, "message UID %u of mailbox id %u: record "
			    "cannot be decoded (%u bytes)", uid, mbox_id,
			    d.size);
			continue;
		}
		flags = rec.flags;
		kw = rec.keywords;
		modseq = rec.modseq;
		v->msgs = vf_grow(v->msgs, v->nmsgs, &cap, sizeof(*v->msgs));
		g = &v->msgs[v->nmsgs++];
		g->mbox_id = mbox_id;
		g->uid = uid;
		g->modseq = modseq;
		g->size = rec.size;
		g->body_id = rec.body_id;
		if (g->body_id > v->max_body_id)
			v->max_body_id = g->body_id;
		if ((flags & ~STORE_FLAGS_ALL) != 0)
			vf_problem(v, "message UID %u of mailbox id %u: unknown "
			    "flag bits 0x%x", uid, mbox_id, flags);
		if (modseq == 0)
			vf_problem(v, "message UID %u of mailbox id %u: MODSEQ "
			    "0", uid, mbox_id);
		if (m == NULL) {
			vf_problem(v, "message UID %u belongs to mailbox id %u, "
			    "which does not exist", uid, mbox_id);
			continue;
		}
		m->count++;
		if ((flags & STORE_FLAG_SEEN) == 0)
			m->unseen++;
		if (uid >= m->mb.recent_uid)
			m->recent++;
		if (uid > m->max_uid)
			m->max_uid = uid;
		if (modseq > m->max_modseq)
			m->max_modseq = modseq;
		m->kw_used |= kw;
	}
	store_cursor_close(&c, &ret);
	if (ret != DB_NOTFOUND && ret != 0)
		return store_dberr(st, ret, "verify messages");
	v->stats->messages = v->nmsgs;
	return STORE_OK;
}

/* Is there a message of mailbox id with a UID in [first, last]? */
static bool
vf_has_uid_in(const struct vf *v, uint32_t id, uint32_t first, uint32_t last)
{
	size_t lo = 0, hi = v->nmsgs;

	/* msgs is in (mbox id, uid) order: the first >= (id, first). */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct vf_msg *g = &v->msgs[mid];

		if (g->mbox_id < id || (g->mbox_id == id && g->uid < first))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < v->nmsgs && v->msgs[lo].mbox_id == id &&
	    v->msgs[lo].uid <= last;
}

/* ---- by_modseq ---- */

static enum store_err
vf_walk_index(struct vf *v)
{
	struct store *st = v->st;
	size_t cap = 0;
	DBC *c;
	DBT k, d;
	int ret;

	if ((ret = store_cursor_open(st, st->by_modseq, NULL, &c)) != 0)
		return store_dberr(st, ret, "cursor");
	for (;;) {
		struct vf_idx *x;

		vf_dbt(&k);
		vf_dbt(&d);
		if ((ret = store_cursor_get(st, c, &k, &d, DB_NEXT)) != 0)
			break;
		if (k.size != 12 || d.size != 4) {
			vf_problem(v, "by_modseq: an entry of %u/%u bytes "
			    "(not 12/4)", k.size, d.size);
			continue;
		}
		v->idx = vf_grow(v->idx, v->nidx, &cap, sizeof(*v->idx));
		x = &v->idx[v->nidx++];
		x->mbox_id = store_be_get32(k.data);
		x->modseq = store_be_get64((uint8_t *)k.data + 4);
		x->uid = store_be_get32(d.data);
	}
	store_cursor_close(&c, &ret);
	if (ret != DB_NOTFOUND && ret != 0)
		return store_dberr(st, ret, "verify by_modseq");
	return STORE_OK;
}

static int
vf_idx_cmp(const void *a, const void *b)
{
	const struct vf_idx *x = a, *y = b;

	if (x->mbox_id != y->mbox_id)
		return x->mbox_id < y->mbox_id ? -1 : 1;
	if (x->modseq != y->modseq)
		return x->modseq < y->modseq ? -1 : 1;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* The index must hold exactly (mbox id, modseq) -> uid of each message. */
static void
vf_check_index(struct vf *v)
{
	struct vf_idx *want = xreallocarray(NULL, v->nmsgs + 1,
	    sizeof(*want));
	size_t i = 0, j = 0;

	for (i = 0; i < v->nmsgs; i++) {
		want[i].mbox_id = v->msgs[i].mbox_id;
		want[i].uid = v->msgs[i].uid;
		want[i].modseq = v->msgs[i].modseq;
	}
	qsort(want, v->nmsgs, sizeof(*want), vf_idx_cmp);
	i = 0;
	while (i < v->nmsgs || j < v->nidx) {
		int c = i == v->nmsgs ? 1 : j == v->nidx ? -1 :
		    vf_idx_cmp(&want[i], &v->idx[j]);

		if (c == 0) {
			i++;
			j++;
		} else if (c < 0) {
			vf_problem(v, "message UID %u of mailbox id %u "
			    "(MODSEQ %llu) is missing from the by_modseq "
			    "index", want[i].uid, want[i].mbox_id,
			    (unsigned long long)want[i].modseq);
			i++;
		} else {
			vf_problem(v, "by_modseq index entry mailbox id %u "
			    "MODSEQ %llu -> UID %u matches no message",
			    v->idx[j].mbox_id,
			    (unsigned long long)v->idx[j].modseq,
			    v->idx[j].uid);
			j++;
		}
	}
	xfree(&want);
}

/* ---- expunge log and keywords ---- */

static enum store_err
vf_walk_expunged(struct vf *v)
{
	struct store *st = v->st;
	DBC *c;
	DBT k, d;
	int ret;

	if ((ret = store_cursor_open(st, st->expunged, NULL, &c)) != 0)
		return store_dberr(st, ret, "cursor");
	for (;;) {
		struct vf_mbox *m;
		uint32_t id;
		uint64_t modseq;
		size_t off;

		vf_dbt(&k);
		vf_dbt(&d);
		if ((ret = store_cursor_get(st, c, &k, &d, DB_NEXT)) != 0)
			break;
		if (k.size != 12 || d.size == 0 || d.size % 8 != 0) {
			vf_problem(v, "expunged: an entry of %u/%u bytes "
			    "(not 12 / a multiple of 8)", k.size, d.size);
			continue;
		}
		id = store_be_get32(k.data);
		modseq = store_be_get64((uint8_t *)k.data + 4);
		if ((m = vf_mbox_by_id(v, id)) == NULL) {
			vf_problem(v, "expunge record MODSEQ %llu belongs to "
			    "mailbox id %u, which does not exist",
			    (unsigned long long)modseq, id);
			continue;
		}
		if (modseq > m->max_exp_modseq)
			m->max_exp_modseq = modseq;
		for (off = 0; off < d.size; off += 8) {
			uint32_t first = store_be_get32((uint8_t *)d.data +
			    off);
			uint32_t last = store_be_get32((uint8_t *)d.data +
			    off + 4);

			if (first == 0 || first > last) {
				vf_problem(v, "%s: expunge record MODSEQ %llu "
				    "holds the bad range %u:%u", m->label,
				    (unsigned long long)modseq, first, last);
				continue;
			}
			if (last > m->max_exp_uid)
				m->max_exp_uid = last;
			if (vf_has_uid_in(v, id, first, last))
				vf_problem(v, "%s: a message with a UID in "
				    "%u:%u exists, but MODSEQ %llu recorded "
				    "those UIDs as expunged", m->label, first,
				    last, (unsigned long long)modseq);
		}
	}
	store_cursor_close(&c, &ret);
	if (ret != DB_NOTFOUND && ret != 0)
		return store_dberr(st, ret, "verify expunged");
	return STORE_OK;
}

static enum store_err
vf_walk_keywords(struct vf *v)
{
	struct store *st = v->st;
	DBC *c;
	DBT k, d;
	int ret;

	if ((ret = store_cursor_open(st, st->keywords, NULL, &c)) != 0)
		return store_dberr(st, ret, "cursor");
	for (;;) {
		struct vf_mbox *m;
		uint32_t id;
		unsigned i;

		vf_dbt(&k);
		vf_dbt(&d);
		if ((ret = store_cursor_get(st, c, &k, &d, DB_NEXT)) != 0)
			break;
		if (k.size != 5) {
			vf_problem(v, "keywords: a key of %u bytes (not 5)",
			    k.size);
			continue;
		}
		id = store_be_get32(k.data);
		i = ((uint8_t *)k.data)[4];
		if ((m = vf_mbox_by_id(v, id)) == NULL) {
			vf_problem(v, "keyword %u belongs to mailbox id %u, "
			    "which does not exist", i, id);
			continue;
		}
		if (i >= STORE_KEYWORDS_MAX || d.size == 0 ||
		    d.size > STORE_KEYWORD_LEN_MAX ||
		    memchr(d.data, '\0', d.size) != NULL) {
			vf_problem(v, "%s: keyword %u is malformed "
			    "(%u bytes)", m->label, i, d.size);
			continue;
		}
		m->kw_defined |= (uint64_t)1 << i;
	}
	store_cursor_close(&c, &ret);
	if (ret != DB_NOTFOUND && ret != 0)
		return store_dberr(st, ret, "verify keywords");
	return STORE_OK;
}

/* The counters and flags of each mailbox against its records. */
static void
vf_check_mailboxes(struct vf *v)
{
	size_t i;

	for (i = 0; i < v->nmboxes; i++) {
		const struct vf_mbox *m = &v->mboxes[i];
		const struct store_mbox *mb = &m->mb;
		uint64_t undefined = m->kw_used & ~m->kw_defined;

		if (mb->uidvalidity == 0)
			vf_problem(v, "%s: UIDVALIDITY is 0", m->label);
		if (mb->uidnext == 0)
			vf_problem(v, "%s: UIDNEXT is 0", m->label);
		if ((mb->flags & STORE_MBOX_NOSELECT) != 0 && m->count > 0)
			vf_problem(v, "%s: \\Noselect but holds %u "
			    "message(s)", m->label, m->count);
		if (m->count > 0 && mb->uidnext <= m->max_uid)
			vf_problem(v, "%s: UIDNEXT %u is not above UID %u",
			    m->label, mb->uidnext, m->max_uid);
		if (m->max_exp_uid > 0 && mb->uidnext <= m->max_exp_uid)
			vf_problem(v, "%s: UIDNEXT %u is not above the "
			    "expunged UID %u", m->label, mb->uidnext,
			    m->max_exp_uid);
		if (mb->messages != m->count)
			vf_problem(v, "%s: MESSAGES says %u, the records "
			    "hold %u", m->label, mb->messages, m->count);
		if (mb->unseen != m->unseen)
			vf_problem(v, "%s: UNSEEN says %u, the records hold "
			    "%u unseen", m->label, mb->unseen, m->unseen);
		if (!m->v1 && mb->recent != m->recent)
			vf_problem(v, "%s: RECENT says %u, %u message(s) "
			    "have UIDs at or above the recent mark %u",
			    m->label, mb->recent, m->recent, mb->recent_uid);
		if (mb->recent_uid > mb->uidnext)
			vf_problem(v, "%s: the recent mark %u is above "
			    "UIDNEXT %u", m->label, mb->recent_uid,
			    mb->uidnext);
		if (mb->highestmodseq < m->max_modseq)
			vf_problem(v, "%s: HIGHESTMODSEQ %llu is below a "
			    "message's MODSEQ %llu", m->label,
			    (unsigned long long)mb->highestmodseq,
			    (unsigned long long)m->max_modseq);
		if (mb->highestmodseq < m->max_exp_modseq)
			vf_problem(v, "%s: HIGHESTMODSEQ %llu is below an "
			    "expunge record's MODSEQ %llu", m->label,
			    (unsigned long long)mb->highestmodseq,
			    (unsigned long long)m->max_exp_modseq);
		if (undefined != 0)
			vf_problem(v, "%s: messages use keyword(s) that are "
			    "not defined (bits 0x%llx)", m->label,
			    (unsigned long long)undefined);
	}
}

/* ---- bodies ---- */

static enum store_err
vf_walk_bodies(struct vf *v)
{
	struct store *st = v->st;
	struct vf_body *b = NULL;
	size_t cap = 0;
	DBC *c;
	DBT k, d;
	int ret;

	if ((ret = store_cursor_open(st, st->bodies, NULL, &c)) != 0)
		return store_dberr(st, ret, "cursor");
	for (;;) {
		uint64_t id;
		uint32_t chunk;

		vf_dbt(&k);
		vf_dbt(&d);
		if ((ret = store_cursor_get(st, c, &k, &d, DB_NEXT)) != 0)
			break;
		if (k.size != 12) {
			vf_problem(v, "bodies: a key of %u bytes (not 12)",
			    k.size);
			continue;
		}
		id = store_be_get64(k.data);
		chunk = store_be_get32((uint8_t *)k.data + 8);
		if (b == NULL || b->id != id) {
			v->bodies = vf_grow(v->bodies, v->nbodies, &cap,
			    sizeof(*v->bodies));
			b = &v->bodies[v->nbodies++];
			memset(b, 0, sizeof(*b));
			b->id = id;
			if (id > v->max_body_id)
				v->max_body_id = id;
		} else if (b->total % VF_CHUNK != 0 ||
		    b->total / VF_CHUNK != b->chunks) {
			/* The chunk before this one was not full. */
			b->short_chunk = true;
		}
		if (chunk != b->chunks)
			b->gap = true;
		if (d.size > VF_CHUNK || d.size == 0)
			b->short_chunk = true;
		b->chunks++;
		b->total += d.size;
	}
	store_cursor_close(&c, &ret);
	if (ret != DB_NOTFOUND && ret != 0)
		return store_dberr(st, ret, "verify bodies");
	v->stats->bodies = v->nbodies;
	return STORE_OK;
}

static enum store_err
vf_walk_refs(struct vf *v)
{
	struct store *st = v->st;
	size_t cap = 0;
	DBC *c;
	DBT k, d;
	int ret;

	if ((ret = store_cursor_open(st, st->body_refs, NULL, &c)) != 0)
		return store_dberr(st, ret, "cursor");
	for (;;) {
		struct vf_ref *r;

		vf_dbt(&k);
		vf_dbt(&d);
		if ((ret = store_cursor_get(st, c, &k, &d, DB_NEXT)) != 0)
			break;
		if (k.size != 8 || d.size != 4) {
			vf_problem(v, "body_refs: an entry of %u/%u bytes "
			    "(not 8/4)", k.size, d.size);
			continue;
		}
		v->refs = vf_grow(v->refs, v->nrefs, &cap, sizeof(*v->refs));
		r = &v->refs[v->nrefs++];
		r->id = store_be_get64(k.data);
		r->count = store_be_get32(d.data);
		if (r->id > v->max_body_id)
			v->max_body_id = r->id;
	}
	store_cursor_close(&c, &ret);
	if (ret != DB_NOTFOUND && ret != 0)
		return store_dberr(st, ret, "verify body_refs");
	return STORE_OK;
}

static enum store_err
vf_walk_mime(struct vf *v)
{
	struct store *st = v->st;
	size_t cap = 0;
	DBC *c;
	DBT k, d;
	int ret;

	if ((ret = store_cursor_open(st, st->mime, NULL, &c)) != 0)
		return store_dberr(st, ret, "cursor");
	for (;;) {
		uint64_t id;

		vf_dbt(&k);
		vf_dbt(&d);
		/* Only the keys: the structures can be large. */
		d.flags = DB_DBT_PARTIAL;
		if ((ret = store_cursor_get(st, c, &k, &d, DB_NEXT)) != 0)
			break;
		if (k.size != 8) {
			vf_problem(v, "mime: a key of %u bytes (not 8)",
			    k.size);
			continue;
		}
		id = store_be_get64(k.data);
		v->mime = vf_grow(v->mime, v->nmime, &cap, sizeof(*v->mime));
		v->mime[v->nmime++] = id;
		if (id > v->max_body_id)
			v->max_body_id = id;
	}
	store_cursor_close(&c, &ret);
	if (ret != DB_NOTFOUND && ret != 0)
		return store_dberr(st, ret, "verify mime");
	return STORE_OK;
}

/* Bytes compared at a time when a header copy is checked. */
#define VF_HEADS_BUF	8192

/*
 * Each header copy (heads) against its body: the body must be there and
 * begin with the same bytes. SEARCH trusts a copy as the first bytes of
 * the message.
 */
static enum store_err
vf_walk_heads(struct vf *v)
{
	struct store *st = v->st;
	uint8_t *body = xmalloc(VF_HEADS_BUF);
	uint8_t kb[12];
	DBC *c;
	DBT k, d, bk, bd;
	int ret, bret;

	if ((ret = store_cursor_open(st, st->heads, NULL, &c)) != 0) {
		free(body);
		return store_dberr(st, ret, "cursor");
	}
	for (;;) {
		uint64_t id;

		vf_dbt(&k);
		vf_dbt(&d);
		if ((ret = store_cursor_get(st, c, &k, &d, DB_NEXT)) != 0)
			break;
		if (k.size != 8) {
			vf_problem(v, "heads: a key of %u bytes (not 8)",
			    k.size);
			continue;
		}
		id = store_be_get64(k.data);
		memcpy(kb, k.data, 8);		/* chunk 0 of that body */
		store_be_put32(kb + 8, 0);
		vf_dbt(&bk);
		bk.data = kb;
		bk.size = sizeof(kb);
		vf_dbt(&bd);
		bd.data = body;
		bd.ulen = bd.dlen = VF_HEADS_BUF;
		bd.flags = DB_DBT_USERMEM | DB_DBT_PARTIAL;
		bret = store_db_get(st, st->bodies, NULL, &bk, &bd, 0);
		if (bret == DB_NOTFOUND) {
			vf_problem(v, "heads: a header copy for body %llu, "
			    "which is not stored", (unsigned long long)id);
		} else if (bret != 0) {
			ret = bret;
			break;
		} else if (d.size > bd.size ||
		    memcmp(d.data, body, d.size) != 0) {
			vf_problem(v, "heads: the header copy of body %llu "
			    "differs from its first bytes",
			    (unsigned long long)id);
		}
	}
	store_cursor_close(&c, &ret);
	free(body);
	if (ret != DB_NOTFOUND && ret != 0)
		return store_dberr(st, ret, "verify heads");
	return STORE_OK;
}

static int
vf_msg_body_cmp(const void *a, const void *b)
{
	const struct vf_msg *x = a, *y = b;

	if (x->body_id != y->body_id)
		return x->body_id < y->body_id ? -1 : 1;
	if (x->mbox_id != y->mbox_id)
		return x->mbox_id < y->mbox_id ? -1 : 1;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* Names the first message using a body, for the report. */
static void
vf_msg_label(const struct vf *v, const struct vf_msg *g, char *out,
    size_t outlen)
{
	const struct vf_mbox *m = vf_mbox_by_id((struct vf *)v, g->mbox_id);

	if (m != NULL)
		snprintf(out, outlen, "message UID %u of %s", g->uid,
		    m->label);
	else
		snprintf(out, outlen, "message UID %u of mailbox id %u",
		    g->uid, g->mbox_id);
}

/*
 * Merges, by body id, the messages (sorted by body here), the chunks, the
 * reference counts and the MIME records.
 */
static void
vf_check_bodies(struct vf *v)
{
	struct vf_msg *byb = xreallocarray(NULL, v->nmsgs + 1, sizeof(*byb));
	size_t im = 0, ib = 0, ir = 0, ix = 0;
	char who[VF_LABEL_MAX + 40];

	memcpy(byb, v->msgs, v->nmsgs * sizeof(*byb));
	qsort(byb, v->nmsgs, sizeof(*byb), vf_msg_body_cmp);
	for (;;) {
		uint64_t id = UINT64_MAX;
		const struct vf_body *b = NULL;
		const struct vf_ref *r = NULL;
		const struct vf_msg *g = NULL;
		bool mime = false, any = false;
		uint32_t users = 0;
		size_t k;

		if (im < v->nmsgs && byb[im].body_id <= id) {
			id = byb[im].body_id;
			any = true;
		}
		if (ib < v->nbodies && v->bodies[ib].id <= id) {
			id = v->bodies[ib].id;
			any = true;
		}
		if (ir < v->nrefs && v->refs[ir].id <= id) {
			id = v->refs[ir].id;
			any = true;
		}
		if (ix < v->nmime && v->mime[ix] <= id) {
			id = v->mime[ix];
			any = true;
		}
		if (!any)
			break;
		if (im < v->nmsgs && byb[im].body_id == id)
			g = &byb[im];
		while (im < v->nmsgs && byb[im].body_id == id) {
			if (byb[im].size != g->size) {
				vf_msg_label(v, &byb[im], who, sizeof(who));
				vf_problem(v, "%s: size %llu differs from "
				    "another message sharing body %llu "
				    "(%llu)", who,
				    (unsigned long long)byb[im].size,
				    (unsigned long long)id,
				    (unsigned long long)g->size);
			}
			users++;
			im++;
		}
		if (ib < v->nbodies && v->bodies[ib].id == id)
			b = &v->bodies[ib++];
		if (ir < v->nrefs && v->refs[ir].id == id)
			r = &v->refs[ir++];
		for (k = 0; ix < v->nmime && v->mime[ix] == id; k++)
			ix++;
		mime = k > 0;

		if (g == NULL) {
			if (b != NULL)
				vf_problem(v, "body %llu (%u chunk(s)) is an "
				    "orphan: no message uses it",
				    (unsigned long long)id, b->chunks);
			if (r != NULL)
				vf_problem(v, "body %llu has a reference count "
				    "of %u but no message uses it",
				    (unsigned long long)id, r->count);
			if (mime)
				vf_problem(v, "body %llu has a MIME record but "
				    "no message uses it",
				    (unsigned long long)id);
			continue;
		}
		vf_msg_label(v, g, who, sizeof(who));
		if (r == NULL)
			vf_problem(v, "body %llu (used by %s) has no reference "
			    "count; %u message(s) use it",
			    (unsigned long long)id, who, users);
		else if (r->count != users)
			vf_problem(v, "body %llu (used by %s): reference count "
			    "%u, but %u message(s) use it",
			    (unsigned long long)id, who, r->count, users);
		if (b == NULL) {
			if (g->size > 0)
				vf_problem(v, "body %llu (used by %s) has no "
				    "chunks: %llu bytes missing",
				    (unsigned long long)id, who,
				    (unsigned long long)g->size);
		} else {
			if (b->gap)
				vf_problem(v, "body %llu (used by %s): a chunk "
				    "is missing (chunk numbers are not "
				    "0..%u)", (unsigned long long)id, who,
				    b->chunks - 1);
			if (b->short_chunk)
				vf_problem(v, "body %llu (used by %s): a chunk "
				    "has the wrong size (each but the last "
				    "holds %u bytes)", (unsigned long long)id,
				    who, VF_CHUNK);
			if (b->total != g->size)
				vf_problem(v, "body %llu (used by %s): the "
				    "chunks hold %llu bytes, the message's "
				    "size is %llu", (unsigned long long)id,
				    who, (unsigned long long)b->total,
				    (unsigned long long)g->size);
		}
		if (!mime)
			vf_problem(v, "body %llu (used by %s) has no MIME "
			    "record", (unsigned long long)id, who);
	}
	xfree(&byb);
}

/* ---- counters ---- */

static enum store_err
vf_check_counters(struct vf *v)
{
	static const char *const names[] = { "mailbox_id", "body_id",
	    "uidvalidity" };
	uint64_t need[3];
	struct store *st = v->st;
	size_t i;

	need[0] = v->max_mbox_id;
	need[1] = v->max_body_id;
	need[2] = v->max_uidvalidity;
	for (i = 0; i < N_ELEMENTS(names); i++) {
		uint8_t buf[8];
		DBT k, d;
		int ret;

		vf_dbt(&k);
		vf_dbt(&d);
		k.data = (void *)(uintptr_t)names[i];
		k.size = (u_int32_t)strlen(names[i]);
		d.data = buf;
		d.ulen = sizeof(buf);
		d.flags = DB_DBT_USERMEM;
		ret = store_db_get(st, st->counters, NULL, &k, &d, 0);
		if (ret == DB_NOTFOUND) {
			if (need[i] > 0)
				vf_problem(v, "counter %s is missing, but %llu "
				    "has been handed out", names[i],
				    (unsigned long long)need[i]);
			continue;
		}
		if (ret == DB_BUFFER_SMALL || (ret == 0 && d.size != 8)) {
			vf_problem(v, "counter %s: a value of %u bytes (not 8)",
			    names[i], d.size);
			continue;
		}
		if (ret != 0)
			return store_dberr(st, ret, "verify counters");
		if (store_be_get64(buf) < need[i])
			vf_problem(v, "counter %s is %llu, below %llu, which "
			    "is in use (the next one would collide)",
			    names[i], (unsigned long long)store_be_get64(buf),
			    (unsigned long long)need[i]);
	}
	return STORE_OK;
}

/* ---- Berkeley DB's structure check ---- */

/* DB->verify on one file, its complaints reported one line each. */
static void
vf_db_verify(struct vf *v, const char *file)
{
	char path[VF_PATH_MAX], *text = NULL, *line, *next;
	size_t textlen = 0;
	FILE *errs;
	DB *db;
	int ret, n;

	n = snprintf(path, sizeof(path), "%s/%s", v->st->home, file);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		vf_problem(v, "%s: path too long to verify", file);
		return;
	}
	if ((ret = db_create(&db, NULL, 0)) != 0) {
		vf_problem(v, "%s: cannot verify: %s", file, db_strerror(ret));
		return;
	}
	if ((errs = open_memstream(&text, &textlen)) != NULL)
		db->set_errfile(db, errs);
	/* The handle is gone after verify, whatever it returns. */
	ret = db->verify(db, path, NULL, NULL, 0);
	if (errs != NULL)
		(void)fclose(errs);
	if (ret != 0) {
		bool said = false;

		for (line = text; line != NULL && *line != '\0'; line = next) {
			if ((next = strchr(line, '\n')) != NULL)
				*next++ = '\0';
			if (*line == '\0')
				continue;
			vf_problem(v, "%s: %s", file, line);
			said = true;
		}
		if (!said)
			vf_problem(v, "%s: Berkeley DB verify failed: %s",
			    file, db_strerror(ret));
	}
	free(text);
}

static enum store_err
vf_structure(struct vf *v)
{
	DB **slots[STORE_NDBS], *dbs[STORE_NDBS];
	DB_ENV *env = v->st->env;
	size_t i;
	int ret;

	store_db_slots(v->st, slots);
	for (i = 0; i < N_ELEMENTS(dbs); i++)
		dbs[i] = *slots[i];

	/* Everything this or an earlier process left in the cache goes to
	 * the files first: verify reads the files, not the cache. */
	if ((ret = env->txn_checkpoint(env, 0, 0, DB_FORCE)) != 0 ||
	    (ret = env->memp_sync(env, NULL)) != 0)
		return store_dberr(v->st, ret, "verify checkpoint");
	for (i = 0; i < N_ELEMENTS(dbs); i++) {
		const char *file = NULL, *name = NULL;

		if (dbs[i] == NULL ||
		    dbs[i]->get_dbname(dbs[i], &file, &name) != 0 ||
		    file == NULL)
			return STORE_ERR_IO;
		vf_db_verify(v, file);
	}
	v->stats->structure_checked = true;
	return STORE_OK;
}

/* ---- the whole check ---- */

static void
vf_free(struct vf *v)
{
	size_t i;

	for (i = 0; i < v->nmboxes; i++)
		xfree(&v->mboxes[i].key);
	xfree(&v->mboxes);
	xfree(&v->by_id);
	xfree(&v->msgs);
	xfree(&v->idx);
	xfree(&v->bodies);
	xfree(&v->refs);
	xfree(&v->mime);
}

enum store_err
store_verify(struct store *st, store_verify_cb *cb, void *ctx,
    struct store_verify_stats *stats_r)
{
	char data_dir[VF_PATH_MAX];
	size_t hlen = strlen(st->home);
	struct vf v;
	enum store_err e = STORE_OK;
	int64_t saved;
	pid_t pid;

	memset(stats_r, 0, sizeof(*stats_r));
	memset(&v, 0, sizeof(v));
	v.st = st;
	v.cb = cb;
	v.ctx = ctx;
	v.stats = stats_r;
	if (st->env == NULL && store_env_reopen(st) < 0)
		return STORE_ERR_IO;
	/* DB->verify takes no locks: only on files nobody else changes. */
	if (hlen < 3 || hlen - 3 >= sizeof(data_dir))
		return STORE_ERR_IO;
	memcpy(data_dir, st->home, hlen - 3);
	data_dir[hlen - 3] = '\0';
	saved = store_watch_enter();
	if (!store_in_use(data_dir, &pid))
		e = vf_structure(&v);
	if (e == STORE_OK)
		e = vf_walk_mailboxes(&v);
	if (e == STORE_OK) {
		vf_check_superiors(&v);
		e = vf_walk_messages(&v);
	}
	if (e == STORE_OK && (e = vf_walk_index(&v)) == STORE_OK)
		vf_check_index(&v);
	if (e == STORE_OK)
		e = vf_walk_expunged(&v);
	if (e == STORE_OK)
		e = vf_walk_keywords(&v);
	if (e == STORE_OK)
		vf_check_mailboxes(&v);
	if (e == STORE_OK && (e = vf_walk_bodies(&v)) == STORE_OK &&
	    (e = vf_walk_refs(&v)) == STORE_OK &&
	    (e = vf_walk_mime(&v)) == STORE_OK)
		vf_check_bodies(&v);
	if (e == STORE_OK)
		e = vf_walk_heads(&v);
	if (e == STORE_OK)
		e = vf_check_counters(&v);
	store_watch_leave(saved);
	vf_free(&v);
	return e;
}
