/*
 * cmd_store.c: changing messages of the selected mailbox (selected state):
 *   STORE and UID STORE (RFC 3501 §6.4.6, §6.4.8),
 *   COPY and UID COPY (§6.4.7, §6.4.8), MOVE and UID MOVE (RFC 6851),
 *   EXPUNGE (§6.4.3) and UID EXPUNGE (RFC 4315).
 * In a mailbox opened with EXAMINE they answer NO [READ-ONLY] (COPY reads
 * only, so it works there). CONDSTORE and QRESYNC (RFC 7162): STORE's
 * UNCHANGEDSINCE and MODIFIED, MODSEQ in its FETCH responses, VANISHED
 * for expunges, HIGHESTMODSEQ after EXPUNGE and MOVE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/log.h"
#include "../lib/xalloc.h"
#include "capa.h"
#include "cmd.h"
#include "cmd_util.h"
#include "flags.h"
#include "resp.h"
#include "resync.h"
#include "seqset.h"

/* Reads the sequence set argument and resolves it; answers on false. */
static bool
store_refs(struct session *s, struct args *a, struct msgref **refs,
    size_t *n)
{
	struct seqset set;
	const uint8_t *p;
	size_t len;
	const char *why;
	bool ok;

	if (!args_atom(a, &p, &len) || !seqset_parse(p, len, &set)) {
		cmd_bad_args(s, "a sequence set");
		return false;
	}
	ok = seqset_refs(s, &set, s->uid, refs, n, &why);
	seqset_free(&set);
	if (!ok) {
		resp_bad(s, "%s", why);
		session_count_bad(s);
	}
	return ok;
}

static uint32_t *
store_uids(const struct msgref *refs, size_t n)
{
	uint32_t *uids = xreallocarray(NULL, n + 1, sizeof(uint32_t));
	size_t i;

	for (i = 0; i < n; i++)
		uids[i] = refs[i].uid;
	return uids;
}

/* "COPYUID uidvalidity source-set dest-set" (RFC 4315 §3) into out. */
static int
store_copyuid(struct buf *out, uint32_t uidvalidity, const uint32_t *uids,
    size_t n, uint32_t first)
{
	if (buf_addf(out, "COPYUID %u ", uidvalidity) < 0 ||
	    seqset_format(out, uids, n) < 0)
		return -1;
	if (n == 1)
		return buf_addf(out, " %u", first);
	return buf_addf(out, " %u:%u", first, first + (uint32_t)(n - 1));
}

struct store_run {
	struct session *s;
	bool silent;
	char **kw;
	bool conditional;	/* UNCHANGEDSINCE given (RFC 7162 §3.1.3) */
	uint64_t unchangedsince;
	uint32_t *modified;	/* failed the test: numbers or UIDs */
	size_t nmodified, capmodified;
	size_t seen;		/* messages the store still had */
};

static void
store_add_modified(struct store_run *r, uint32_t v)
{
	if (r->nmodified == r->capmodified) {
		r->capmodified = r->capmodified == 0 ? 16 :
		    r->capmodified * 2;
		r->modified = xreallocarray(r->modified, r->capmodified,
		    sizeof(uint32_t));
	}
	r->modified[r->nmodified++] = v;
}

static int
store_changed_cb(void *ctx, const struct store_msg *m, bool changed)
{
	struct store_run *r = ctx;
	struct session *s = r->s;
	uint32_t seq;
	bool failed;

	r->seen++;
	if (changed)
		select_note_own(s, m->uid, m->modseq);
	failed = r->conditional && !changed && m->modseq > r->unchangedsince;
	/* With CONDSTORE even .SILENT reports the new MODSEQ of what
	 * changed (RFC 7162 §3.1.3). */
	if (r->silent && !(s->condstore && changed) && !failed)
		return 0;
	if ((seq = uidmap_seq(&s->uidmap, m->uid)) == 0)
		return 0;
	if (failed) {
		/* Its flags now, so the client need not ask (§3.1.3). */
		store_add_modified(r, s->uid ? m->uid : seq);
		select_note_own(s, m->uid, m->modseq);
	}
	if (r->silent && !failed) {
		resp_untagged(s, "%u FETCH (UID %u MODSEQ (%llu))", seq,
		    m->uid, (unsigned long long)m->modseq);
		resync_modseq_sent(s, m->modseq);
		return 0;
	}
	if (s->condstore) {
		resync_fetch_flags(s, seq, m, &r->kw);
		return 0;
	}
	resp_begin(s);
	resp_add(s, "%u FETCH (", seq);
	if (s->uid)
		resp_add(s, "UID %u ", m->uid);
	resp_add(s, "FLAGS ");
	select_write_flags(s, m, &r->kw);
	resp_add(s, ")");
	resp_end(s);
	return 0;
}

void
cmd_store(struct session *s, struct args *a)
{
	struct msgref *refs = NULL;
	struct flags_list fl;
	struct store_run r = { .s = s };
	enum store_flag_op op;
	const uint8_t *p;
	size_t n, len, i;
	uint64_t keywords = 0;
	uint32_t *uids = NULL;
	const char *why, *item;
	enum store_err e;

	if (!store_refs(s, a, &refs, &n))
		return;
	if (!resync_store_modifiers(s, a, &r.conditional, &r.unchangedsince))
		goto out;
	if (!args_atom(a, &p, &len)) {
		cmd_bad_args(s, "FLAGS, +FLAGS or -FLAGS");
		goto out;
	}
	item = (const char *)p;
	op = STORE_FLAGS_SET;
	if (item[0] == '+' || item[0] == '-') {
		op = item[0] == '+' ? STORE_FLAGS_ADD : STORE_FLAGS_REMOVE;
		item++;
	}
	if (strcasecmp(item, "FLAGS.SILENT") == 0)
		r.silent = true;
	else if (strcasecmp(item, "FLAGS") != 0) {
		cmd_bad_args(s, "FLAGS, +FLAGS or -FLAGS");
		goto out;
	}
	/* The flags come as a list or, RFC 3501 §9 allows, bare. */
	if (args_peek_list(a)) {
		if (!flags_parse_list(a, &fl, &why)) {
			resp_bad(s, "Invalid flags: %s", why);
			session_count_bad(s);
			goto out;
		}
	} else {
		struct arg wrapped[STORE_KEYWORDS_MAX + 8];
		struct args w = { wrapped, 0, 0 };

		wrapped[w.n++] = (struct arg){ .type = ARG_LIST_OPEN };
		while (!args_end(a) && w.n < N_ELEMENTS(wrapped) - 1)
			wrapped[w.n++] = a->v[a->i++];
		wrapped[w.n++] = (struct arg){ .type = ARG_LIST_CLOSE };
		if (w.n == 2 || !flags_parse_list(&w, &fl, &why)) {
			resp_bad(s, "Invalid flags: %s", w.n == 2 ?
			    "expected flags" : why);
			session_count_bad(s);
			goto out;
		}
	}
	if (!cmd_args_end(s, a))
		goto out;
	if (s->readonly) {
		resp_no(s, "READ-ONLY", "Mailbox is read-only");
		goto out;
	}
	/* Others' changes first (no EXPUNGE during STORE, §7.4.1). */
	select_sync(s, s->uid);
	if (r.conditional)
		resync_enable_condstore(s);
	for (i = 0; i < fl.nkeywords; i++) {
		unsigned idx;

		e = store_keyword_index(s->store, s->user, s->selected,
		    s->mbox_id, fl.keywords[i], op != STORE_FLAGS_REMOVE, &idx);
		if (e == STORE_ERR_NOTFOUND && op == STORE_FLAGS_REMOVE)
			continue;	/* never used: nothing to remove */
		if (e == STORE_ERR_INVALID) {
			resp_no(s, "LIMIT", "Too many keywords in this "
			    "mailbox");
			goto out;
		}
		if (e != STORE_OK) {
			cmd_store_error(s, e);
			goto out;
		}
		keywords |= (uint64_t)1 << idx;
	}
	uids = store_uids(refs, n);
	if (r.conditional && r.unchangedsince == 0) {
		/* UNCHANGEDSINCE 0 fails for every message: each has a
		 * MODSEQ of at least 1 (RFC 7162 §3.1.3). */
		for (i = 0; i < n; i++)
			store_add_modified(&r, s->uid ? refs[i].uid :
			    refs[i].seq);
		e = STORE_OK;
	} else {
		e = n == 0 ? STORE_OK : store_msg_set_flags(s->store, s->user,
		    s->selected, s->mbox_id, uids, n, op, fl.system, keywords,
		    r.unchangedsince, store_changed_cb, &r);
	}
	if (e != STORE_OK) {
		cmd_store_error(s, e);
	} else if (r.nmodified > 0) {
		struct buf code = BUF_INITIALIZER(SIZE_MAX);

		if (buf_adds(&code, "MODIFIED ") == 0 &&
		    seqset_format(&code, r.modified, r.nmodified) == 0)
			resp_tagged(s, "OK", buf_cstr(&code),
			    "Conditional STORE failed");
		else
			resp_ok(s, "Conditional STORE failed");
		buf_free(&code);
	} else if (r.seen < n) {
		/* RFC 2180 §4.2.2: another session expunged some of them. */
		resp_no(s, "EXPUNGEISSUED", "Some of the requested messages "
		    "no longer exist");
	} else {
		resp_ok(s, "STORE completed");
	}
out:
	select_keywords_free(&r.kw);
	free(r.modified);
	free(uids);
	free(refs);
}

void
cmd_copy(struct session *s, struct args *a)
{
	char dst[STORE_NAME_MAX + 1];
	struct msgref *refs = NULL;
	uint32_t *uids = NULL, uidvalidity, first;
	size_t n, copied = 0;
	enum store_err e;

	if (!store_refs(s, a, &refs, &n))
		return;
	if (!cmd_mailbox_arg(s, a, MBOXNAME_EXISTING, dst) ||
	    !cmd_args_end(s, a))
		goto out;
	uids = store_uids(refs, n);
	e = n == 0 ? STORE_OK : store_msg_copy(s->store, s->user, s->selected,
	    s->mbox_id, uids, n, dst, &uidvalidity, &first, &copied);
	if (e == STORE_ERR_NOTFOUND) {
		struct store_mbox mb;

		/* Which one is missing: the target, or our own mailbox? */
		if (store_mbox_get(s->store, s->user, dst, &mb) ==
		    STORE_ERR_NOTFOUND || (mb.flags & STORE_MBOX_NOSELECT))
			resp_no(s, "TRYCREATE", "Mailbox does not exist");
		else
			cmd_store_error(s, e);
		goto out;
	}
	if (e != STORE_OK) {
		cmd_store_error(s, e);
		goto out;
	}
	/* A copy into the selected mailbox is news to this session too. */
	if (strcmp(dst, s->selected) == 0)
		select_sync(s, false);
	if (copied < n) {
		resp_no(s, "EXPUNGEISSUED", "Some of the requested messages "
		    "no longer exist");
	} else if (n == 0) {
		resp_ok(s, "COPY completed");
	} else {
		/* RFC 4315 COPYUID: the new UIDs are consecutive. */
		struct buf code = BUF_INITIALIZER(SIZE_MAX);

		if (capa_has(s->capa, CAPA_UIDPLUS) &&
		    store_copyuid(&code, uidvalidity, uids, n, first) == 0)
			resp_tagged(s, "OK", buf_cstr(&code), "COPY completed");
		else
			resp_ok(s, "COPY completed");
		buf_free(&code);
	}
out:
	free(uids);
	free(refs);
}

static int
store_expunged_cb(void *ctx, uint32_t uid)
{
	struct session *s = ctx;
	uint32_t seq = uidmap_seq(&s->uidmap, uid);

	if (seq != 0)
		select_expunged(s, seq);
	return 0;
}

/* EXPUNGE (RFC 3501 §6.4.3) and UID EXPUNGE set (RFC 4315 §2.1), which
 * removes only the \Deleted messages among the given UIDs. */
void
cmd_expunge(struct session *s, struct args *a)
{
	struct msgref *refs = NULL;
	uint32_t *uids = NULL;
	size_t n = 0, before;
	uint64_t hms;
	enum store_err e;

	if (s->uid && !store_refs(s, a, &refs, &n))
		return;
	if (!cmd_args_end(s, a)) {
		free(refs);
		return;
	}
	if (s->uid) {
		uids = store_uids(refs, n);
		free(refs);
		if (n == 0) {
			free(uids);
			resp_ok(s, "EXPUNGE completed");
			return;
		}
	}
	if (s->readonly) {
		free(uids);
		resp_no(s, "READ-ONLY", "Mailbox is read-only");
		return;
	}
	select_sync(s, true);
	before = uidmap_count(&s->uidmap);
	e = store_msg_expunge(s->store, s->user, s->selected, s->mbox_id,
	    uids, n, store_expunged_cb, s);
	free(uids);
	resync_vanished_flush(s);
	if (e != STORE_OK) {
		cmd_store_error(s, e);
		return;
	}
	/* With QRESYNC, the new HIGHESTMODSEQ when something went
	 * (RFC 7162 §3.2.7, §3.2.9). */
	if (s->qresync && uidmap_count(&s->uidmap) < before &&
	    resync_sync_highestmodseq(s, &hms)) {
		char code[48];

		if (snprintf(code, sizeof(code), "HIGHESTMODSEQ %llu",
		    (unsigned long long)hms) > 0) {
			resp_tagged(s, "OK", code, "EXPUNGE completed");
			return;
		}
	}
	if (!s->closing)
		resp_ok(s, "EXPUNGE completed");
}

/*
 * MOVE (RFC 6851): copy and expunge in one store transaction; the COPYUID
 * goes in an untagged OK before the EXPUNGE responses (§4.3).
 */
void
cmd_move(struct session *s, struct args *a)
{
	char dst[STORE_NAME_MAX + 1];
	struct msgref *refs = NULL;
	uint32_t *uids = NULL, uidvalidity = 0, first = 0;
	size_t n, i;
	uint64_t hms;
	enum store_err e;

	if (!store_refs(s, a, &refs, &n))
		return;
	if (!cmd_mailbox_arg(s, a, MBOXNAME_EXISTING, dst) ||
	    !cmd_args_end(s, a))
		goto out;
	if (s->readonly) {
		resp_no(s, "READ-ONLY", "Mailbox is read-only");
		goto out;
	}
	if (n == 0) {
		resp_ok(s, "MOVE completed");
		goto out;
	}
	uids = store_uids(refs, n);
	e = store_msg_move(s->store, s->user, s->selected, s->mbox_id, uids, n,
	    dst, &uidvalidity, &first, NULL, NULL);
	if (e == STORE_ERR_NOTFOUND) {
		struct store_mbox mb;

		if (store_mbox_get(s->store, s->user, dst, &mb) ==
		    STORE_ERR_NOTFOUND || (mb.flags & STORE_MBOX_NOSELECT))
			resp_no(s, "TRYCREATE", "Mailbox does not exist");
		else
			cmd_store_error(s, e);
		goto out;
	}
	if (e != STORE_OK) {
		cmd_store_error(s, e);
		goto out;
	}
	{
		struct buf code = BUF_INITIALIZER(SIZE_MAX);

		if (capa_has(s->capa, CAPA_UIDPLUS) &&
		    store_copyuid(&code, uidvalidity, uids, n, first) == 0)
			resp_untagged(s, "OK [%s] Moved", buf_cstr(&code));
		buf_free(&code);
	}
	for (i = 0; i < n; i++)
		(void)store_expunged_cb(s, uids[i]);
	resync_vanished_flush(s);	/* RFC 6851 §4.4 with QRESYNC */
	/*
	 * Something went (the move is all or nothing), so with QRESYNC the
	 * new HIGHESTMODSEQ goes in the tagged OK, as after EXPUNGE (RFC 6851
	 * §4.4, RFC 7162 §3.2). Its sync also reports what a move into the
	 * selected mailbox itself brought. A CONDSTORE-only session gets no
	 * code, as after EXPUNGE: RFC 7162 §3.2.7 makes it optional there.
	 */
	if (s->qresync && resync_sync_highestmodseq(s, &hms)) {
		char code[48];

		if (snprintf(code, sizeof(code), "HIGHESTMODSEQ %llu",
		    (unsigned long long)hms) > 0) {
			resp_tagged(s, "OK", code, "MOVE completed");
			goto out;
		}
	}
	/* A move into the selected mailbox itself brings new messages. */
	if (!s->closing && strcmp(dst, s->selected) == 0)
		select_sync(s, false);
	if (!s->closing)	/* not after a BYE from the sync */
		resp_ok(s, "MOVE completed");
out:
	free(uids);
	free(refs);
}
