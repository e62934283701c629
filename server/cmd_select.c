/*
 * cmd_select.c: choosing a mailbox and keeping the view of it current.
 *   SELECT (RFC 3501 §6.3.1), EXAMINE (§6.3.2): authenticated or selected;
 *   CLOSE (§6.4.2), UNSELECT (RFC 3691), CHECK (§6.4.1): selected only.
 * SELECT/EXAMINE take the CONDSTORE and QRESYNC parameters and answer
 * CLOSED, HIGHESTMODSEQ and the QRESYNC report (RFC 7162, cmd_resync.c).
 *
 * A selected session keeps the UIDs of the mailbox in order (its sequence
 * number map) and the MODSEQ it has reported up to; select_sync reads what
 * changed since then from the store's change index, so its cost follows the
 * changes, not the mailbox. SELECT builds that map from the runs of
 * consecutive UIDs the store derives from the mailbox's lowest and highest
 * UID and its expunge log, without reading the message records when the
 * runs add up to the message count (docs/PERFORMANCE.md). The map keeps
 * those runs as they are (uidmap.h), so its size and the time to build it
 * follow the runs, not the messages.
 */
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/xalloc.h"
#include "capa.h"
#include "cmd.h"
#include "cmd_util.h"
#include "flags.h"
#include "resp.h"
#include "resync.h"

/* Messages SELECT looks at one by one for [UNSEEN n] before it reads
 * them in batches. */
#define SELECT_UNSEEN_PROBE	8

#define SELECT_FLAGS "\\Answered \\Flagged \\Deleted \\Seen \\Draft"

static uint32_t select_seq(const struct session *s, uint32_t uid);

static void
select_leave(struct session *s)
{
	xfree(&s->selected);
	uidmap_free(&s->uidmap);
	xfree(&s->recent);
	s->nrecent = s->caprecent = 0;
	xfree(&s->pending);
	s->npending = s->cappending = 0;
	s->recent_reported = 0;
	s->nown = 0;
	s->nvanished = 0;
	s->mbox_id = 0;
	s->modseq = 0;
	s->readonly = false;
	s->state = SESSION_AUTH;
}

bool
select_is_recent(const struct session *s, uint32_t uid)
{
	size_t lo = 0, hi = s->nrecent;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (uid < s->recent[mid].lo)
			hi = mid;
		else if (uid >= s->recent[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

/*
 * Claims the messages nobody has seen as \Recent yet. EXAMINE claims
 * nothing (RFC 3501 §6.3.2: \Recent must not be lost) but shows the
 * unclaimed ones as \Recent all the same.
 */
static enum store_err
select_claim_recent(struct session *s, const char *name, uint32_t mbox_id)
{
	uint32_t first, end;
	enum store_err e;

	if (s->readonly) {
		struct store_mbox mb;

		e = store_mbox_get(s->store, s->user, name, &mb);
		first = mb.recent_uid;
		end = mb.uidnext;
	} else {
		e = store_mbox_claim_recent(s->store, s->user, name, mbox_id,
		    &first, &end);
	}
	if (e != STORE_OK || first >= end)
		return e;
	if (s->nrecent > 0 && first <= s->recent[s->nrecent - 1].hi) {
		if (end > s->recent[s->nrecent - 1].hi)
			s->recent[s->nrecent - 1].hi = end;
		return STORE_OK;
	}
	if (s->nrecent == s->caprecent) {
		s->caprecent = s->caprecent == 0 ? 4 : s->caprecent * 2;
		s->recent = xreallocarray(s->recent, s->caprecent,
		    sizeof(*s->recent));
	}
	s->recent[s->nrecent].lo = first;
	s->recent[s->nrecent].hi = end;
	s->nrecent++;
	return STORE_OK;
}

/* How many messages of the map are \Recent here: for each range, the
 * difference of two positions in the map, whatever its size. */
static uint32_t
select_recent_count(const struct session *s)
{
	uint32_t n = 0;
	size_t i;

	for (i = 0; i < s->nrecent; i++)
		n += uidmap_lower(&s->uidmap, s->recent[i].hi) -
		    uidmap_lower(&s->uidmap, s->recent[i].lo);
	return n;
}

struct select_load {
	struct session *s;
	uint32_t first_unseen;	/* sequence number, 0 = none */
};

static int
select_load_cb(void *ctx, const struct store_msg *msg)
{
	struct select_load *sl = ctx;

	/* The list is in UID order, so this cannot fail. */
	if (uidmap_append(&sl->s->uidmap, msg->uid) < 0)
		return 0;
	if (sl->first_unseen == 0 && (msg->flags & STORE_FLAG_SEEN) == 0)
		sl->first_unseen = uidmap_count(&sl->s->uidmap);
	/* s->modseq stays the HIGHESTMODSEQ read before the list: the list
	 * is read in batches, not as one snapshot, so a later message's
	 * MODSEQ can be above an expunge of an earlier one it listed; the
	 * next sync reports from there (a change seen here may come again). */
	return 0;
}

/* Stops the walk at the first message without \Seen. */
static int
select_unseen_cb(void *ctx, const struct store_msg *msg)
{
	uint32_t *uid = ctx;

	if ((msg->flags & STORE_FLAG_SEEN) != 0)
		return 0;
	*uid = msg->uid;
	return 1;
}

/*
 * The session's UID map without reading the message records: the store
 * gives the mailbox's UIDs as runs (its lowest to its highest UID less
 * what its expunge log says is gone), and when the runs hold as many UIDs
 * as the mailbox has messages they are exactly its UIDs, and the map
 * takes them as they are: SELECT then costs the same at any size.
 * false when the counts disagree or writers kept changing the
 * mailbox: the caller walks the records. *mb is replaced by the record
 * the map belongs to.
 */
static bool
select_load_runs(struct session *s, const char *name, struct store_mbox *mb,
    uint32_t *first_unseen_r)
{
	struct store_mbox now;
	uint32_t *runs, unseen = 0, n, probe;
	uint64_t total = 0;
	size_t nruns, i;

	if (store_mbox_uid_runs(s->store, s->user, name, &now, &runs,
	    &nruns) != STORE_OK)
		return false;
	for (i = 0; i < nruns; i++)
		total += (uint64_t)runs[2 * i + 1] - runs[2 * i] + 1;
	if (now.id != mb->id || total != now.messages ||
	    uidmap_load_runs(&s->uidmap, runs, nruns) < 0) {
		free(runs);
		return false;
	}
	*mb = now;
	free(runs);
	n = uidmap_count(&s->uidmap);
	/*
	 * [UNSEEN n]: the first message without \Seen. The counters say
	 * when there is none, or when it is the first; otherwise the first
	 * few are read one at a time, then a walk stops at it, so it costs
	 * what comes before it.
	 */
	*first_unseen_r = 0;
	if (n == 0 || now.unseen == 0)
		return true;
	if (now.unseen == now.messages) {
		*first_unseen_r = 1;
		return true;
	}
	for (probe = 0; probe < n && probe < SELECT_UNSEEN_PROBE; probe++) {
		struct store_msg m;

		if (store_msg_get(s->store, s->user, name, now.id,
		    uidmap_uid(&s->uidmap, probe + 1), &m) == STORE_OK &&
		    (m.flags & STORE_FLAG_SEEN) == 0) {
			*first_unseen_r = probe + 1;
			return true;
		}
	}
	if (probe < n && store_msg_list(s->store, s->user, name, now.id,
	    uidmap_uid(&s->uidmap, probe + 1), select_unseen_cb, &unseen) ==
	    STORE_OK &&
	    unseen != 0)
		*first_unseen_r = select_seq(s, unseen);
	return true;
}

static void
select_open(struct session *s, struct args *a, bool readonly)
{
	char name[STORE_NAME_MAX + 1];
	struct select_load sl = { s, 0 };
	struct resync_select rp;
	struct store_mbox mb;
	uint32_t recent;
	enum store_err e;
	bool was_selected = s->state == SESSION_SELECTED;
	bool loaded;

	/* A failed SELECT leaves no mailbox selected (RFC 3501 §6.3.1). */
	select_leave(s);
	/* The boundary between the two mailboxes' responses (RFC 7162
	 * §3.2.11), whether or not CONDSTORE is on. */
	if (was_selected && capa_has(s->capa, CAPA_QRESYNC))
		resp_untagged(s, "OK [CLOSED] Previous mailbox closed");
	memset(&rp, 0, sizeof(rp));
	if (!cmd_mailbox_arg(s, a, MBOXNAME_EXISTING, name) ||
	    !resync_select_params(s, a, &rp) || !cmd_args_end(s, a)) {
		resync_select_free(&rp);
		return;
	}
	if (rp.condstore || rp.qresync)
		s->condstore = true;	/* RFC 7162 §3.1.8 */
	e = store_mbox_get(s->store, s->user, name, &mb);
	if (e == STORE_OK && (mb.flags & STORE_MBOX_NOSELECT)) {
		resync_select_free(&rp);
		resp_no(s, "NONEXISTENT", "Mailbox is not selectable");
		return;
	}
	/* The map from the store's UID runs, or else from the records. */
	loaded = e == STORE_OK &&
	    select_load_runs(s, name, &mb, &sl.first_unseen);
	s->modseq = mb.highestmodseq;
	if (e == STORE_OK && !loaded)
		e = store_msg_list(s->store, s->user, name, mb.id, 1,
		    select_load_cb, &sl);
	/* EXAMINE changes nothing, \Recent included (RFC 3501 §6.3.2). */
	s->readonly = readonly;
	if (e == STORE_OK)
		e = select_claim_recent(s, name, mb.id);
	if (e != STORE_OK) {
		resync_select_free(&rp);
		select_leave(s);
		cmd_store_error(s, e);
		return;
	}
	recent = select_recent_count(s);
	s->recent_reported = recent;
	resp_untagged(s, "FLAGS (" SELECT_FLAGS ")");
	if (readonly)
		resp_untagged(s, "OK [PERMANENTFLAGS ()] Read-only mailbox");
	else
		resp_untagged(s, "OK [PERMANENTFLAGS (" SELECT_FLAGS " \\*)] "
		    "Flags permitted");
	resp_untagged(s, "%u EXISTS", uidmap_count(&s->uidmap));
	resp_untagged(s, "%u RECENT", recent);
	if (sl.first_unseen != 0)
		resp_untagged(s, "OK [UNSEEN %u] First unseen",
		    sl.first_unseen);
	resp_untagged(s, "OK [UIDVALIDITY %u] UIDs valid", mb.uidvalidity);
	resp_untagged(s, "OK [UIDNEXT %u] Predicted next UID", mb.uidnext);
	/* Every mailbox keeps MODSEQs: never NOMODSEQ (RFC 7162 §3.1.2). */
	if (s->condstore)
		resp_untagged(s, "OK [HIGHESTMODSEQ %llu] Highest",
		    (unsigned long long)s->modseq);
	s->selected = xstrdup(name);
	s->mbox_id = mb.id;
	s->state = SESSION_SELECTED;
	e = resync_select_report(s, &rp, mb.uidvalidity, mb.uidnext);
	resync_select_free(&rp);
	if (e != STORE_OK) {
		select_leave(s);
		cmd_store_error(s, e);
		return;
	}
	resp_tagged(s, "OK", readonly ? "READ-ONLY" : "READ-WRITE",
	    "%s completed", readonly ? "EXAMINE" : "SELECT");
}

void
cmd_select(struct session *s, struct args *a)
{
	select_open(s, a, false);
}

void
cmd_examine(struct session *s, struct args *a)
{
	select_open(s, a, true);
}

/* The sequence number of uid (1-based), 0 if the session has none. */
static uint32_t
select_seq(const struct session *s, uint32_t uid)
{
	return uidmap_seq(&s->uidmap, uid);
}

struct select_sync_ctx {
	struct session *s;
	bool allow_expunge;
	size_t old_n;		/* messages the client knew of */
	uint32_t *fresh;	/* new UIDs, in the walk's MODSEQ order */
	size_t nfresh, capfresh;
	uint64_t limit;		/* HIGHESTMODSEQ read before the walks */
	char **keywords;	/* the mailbox's keyword names by index */
};

static int
select_keyword_cb(void *ctx, unsigned index, const char *keyword)
{
	char **kw = ctx;

	if (index < STORE_KEYWORDS_MAX && kw[index] == NULL)
		kw[index] = xstrdup(keyword);
	return 0;
}

void
select_keywords_free(char ***kw)
{
	size_t i;

	if (*kw == NULL)
		return;
	for (i = 0; i < STORE_KEYWORDS_MAX; i++)
		free((*kw)[i]);
	xfree(kw);
}

void
select_write_flags(struct session *s, const struct store_msg *m, char ***kw)
{
	const char *sep = "";
	size_t i;

	resp_add_str(s, "(");
	for (i = 0; i < FLAGS_NSYSTEM; i++) {
		if (m->flags & flags_system[i].bit) {
			resp_add_str(s, sep);
			resp_add_str(s, flags_system[i].name);
			sep = " ";
		}
	}
	if (select_is_recent(s, m->uid)) {
		resp_add_str(s, sep);
		resp_add_str(s, "\\Recent");
		sep = " ";
	}
	if (m->keywords != 0 && *kw == NULL) {
		*kw = xcalloc(STORE_KEYWORDS_MAX, sizeof(char *));
		if (store_keyword_list(s->store, s->user, s->selected,
		    s->mbox_id, select_keyword_cb, *kw) != STORE_OK)
			log_msg(LOG_WARNING, "cannot read the keywords");
	}
	for (i = 0; i < STORE_KEYWORDS_MAX && m->keywords != 0; i++) {
		if ((m->keywords & ((uint64_t)1 << i)) && (*kw)[i] != NULL) {
			resp_add_str(s, sep);
			resp_add_str(s, (*kw)[i]);
			sep = " ";
		}
	}
	resp_add_str(s, ")");
}

void
select_note_own(struct session *s, uint32_t uid, uint64_t modseq)
{
	if (s->nown == s->capown) {
		s->capown = s->capown == 0 ? 16 : s->capown * 2;
		s->own = xreallocarray(s->own, s->capown, sizeof(*s->own));
	}
	s->own[s->nown].uid = uid;
	s->own[s->nown].modseq = modseq;
	s->nown++;
}

static int
select_uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Forgets the own changes that the reported MODSEQ now covers. */
static void
select_prune_own(struct session *s)
{
	size_t i, o = 0;

	for (i = 0; i < s->nown; i++) {
		if (s->own[i].modseq > s->modseq)
			s->own[o++] = s->own[i];
	}
	s->nown = o;
}

static bool
select_is_own(const struct session *s, const struct store_msg *m)
{
	size_t i;

	for (i = 0; i < s->nown; i++) {
		if (s->own[i].uid == m->uid && s->own[i].modseq == m->modseq)
			return true;
	}
	return false;
}

void
select_expunged(struct session *s, uint32_t seq)
{
	/* With QRESYNC, one VANISHED for the lot, sent by the caller
	 * (RFC 7162 §3.2.10.2). */
	if (s->qresync)
		resync_vanished_add(s, uidmap_uid(&s->uidmap, seq));
	else
		resp_untagged(s, "%u EXPUNGE", seq);
	(void)uidmap_remove(&s->uidmap, seq);
}

static int
select_changed_cb(void *ctx, const struct store_msg *msg)
{
	struct select_sync_ctx *c = ctx;
	struct session *s = c->s;
	uint32_t seq;

	seq = select_seq(s, msg->uid);
	if (seq == 0) {
		/*
		 * New (an expunged message is no longer in the store): it
		 * is announced by EXISTS and its flags come with FETCH. One
		 * changed after the walk's limit is announced now all the
		 * same, so that no later UID gets a number before it; its
		 * change is not reported again next time. The map takes the
		 * new UIDs in order after the walk.
		 */
		if (c->nfresh == c->capfresh) {
			c->capfresh = c->capfresh == 0 ? 16 : c->capfresh * 2;
			c->fresh = xreallocarray(c->fresh, c->capfresh,
			    sizeof(uint32_t));
		}
		c->fresh[c->nfresh++] = msg->uid;
		if (msg->modseq > c->limit)
			select_note_own(s, msg->uid, msg->modseq);
		return 0;
	}
	/* Past the limit: the next sync reports it, after the expunges
	 * that may have come before it. */
	if (msg->modseq > c->limit || seq > c->old_n || select_is_own(s, msg))
		return 0;
	if (s->condstore) {
		resync_fetch_flags(s, seq, msg, &c->keywords);
		return 0;
	}
	resp_begin(s);
	resp_add(s, "%u FETCH (FLAGS ", seq);
	select_write_flags(s, msg, &c->keywords);
	resp_add(s, ")");
	resp_end(s);
	return 0;
}

static int
select_expunged_cb(void *ctx, uint32_t uid)
{
	struct select_sync_ctx *c = ctx;
	struct session *s = c->s;
	uint32_t seq;

	seq = select_seq(s, uid);
	if (seq == 0)
		return 0;	/* never known here, or already reported */
	if (!c->allow_expunge) {
		/* Remembered, and reported at the next command that allows
		 * it; the MODSEQ moves on regardless. */
		size_t i;

		for (i = 0; i < s->npending; i++) {
			if (s->pending[i] == uid)
				return 0;
		}
		if (s->npending == 0)
			s->pending_modseq = s->modseq;
		if (s->npending == s->cappending) {
			s->cappending = s->cappending == 0 ? 16 :
			    s->cappending * 2;
			s->pending = xreallocarray(s->pending, s->cappending,
			    sizeof(uint32_t));
		}
		s->pending[s->npending++] = uid;
		return 0;
	}
	select_expunged(s, seq);
	if (seq <= c->old_n)
		c->old_n--;
	return 0;
}

void
select_sync(struct session *s, bool allow_expunge)
{
	struct select_sync_ctx c;
	struct store_mbox mb;
	enum store_err e;
	size_t i;

	if (s->state != SESSION_SELECTED)
		return;
	memset(&c, 0, sizeof(c));
	c.s = s;
	c.allow_expunge = allow_expunge;
	c.old_n = uidmap_count(&s->uidmap);
	c.limit = s->modseq;
	/* Everything up to the mailbox's HIGHESTMODSEQ as read now is
	 * covered by the walks below: writers to a mailbox take turns, so
	 * every change at or below it has committed. */
	e = store_mbox_get(s->store, s->user, s->selected, &mb);
	if (e == STORE_OK && mb.id != s->mbox_id)
		e = STORE_ERR_NOTFOUND;
	if (e == STORE_OK && mb.highestmodseq > c.limit)
		c.limit = mb.highestmodseq;
	/* Held-back expunges first, then new ones, so that FETCH and EXISTS
	 * use the new numbers. */
	if (e == STORE_OK && allow_expunge && s->npending > 0) {
		size_t n = s->npending;

		s->npending = 0;
		for (i = 0; i < n; i++)
			(void)select_expunged_cb(&c, s->pending[i]);
	}
	if (e == STORE_OK)
		e = store_changes(s->store, s->user, s->selected, s->mbox_id,
	    s->modseq, NULL, select_expunged_cb, &c);
	resync_vanished_flush(s);
	if (e == STORE_OK)
		e = store_changes(s->store, s->user, s->selected, s->mbox_id,
		    s->modseq, select_changed_cb, NULL, &c);
	/* The walk goes in MODSEQ order: put the new UIDs in order. They
	 * are all above the ones the map holds (UIDs only grow), and each
	 * should come once (a repeat is skipped). */
	if (c.nfresh > 1)
		qsort(c.fresh, c.nfresh, sizeof(uint32_t), select_uid_cmp);
	for (i = 0; i < c.nfresh; i++) {
		if (i > 0 && c.fresh[i] == c.fresh[i - 1])
			continue;
		if (uidmap_append(&s->uidmap, c.fresh[i]) < 0)
			log_msg(LOG_WARNING, "mailbox sync: UID %u out of "
			    "order", c.fresh[i]);
	}
	free(c.fresh);
	if (e == STORE_ERR_NOTFOUND) {
		/* Deleted or renamed away under us: nothing sensible can be
		 * said about sequence numbers any more (RFC 2180 §3). */
		resp_untagged(s, "BYE Selected mailbox was deleted or "
		    "renamed");
		session_close(s);
	} else if (e != STORE_OK) {
		log_msg(LOG_WARNING, "mailbox sync: %s", store_strerror(e));
	} else {
		if (uidmap_count(&s->uidmap) != c.old_n) {
			uint32_t recent;

			/* RFC 3501 §5.5: EXISTS and RECENT together. */
			resp_untagged(s, "%u EXISTS",
			    uidmap_count(&s->uidmap));
			if (select_claim_recent(s, s->selected, s->mbox_id) ==
			    STORE_OK) {
				recent = select_recent_count(s);
				resp_untagged(s, "%u RECENT", recent);
				s->recent_reported = recent;
			}
		}
		s->modseq = c.limit;
	}
	select_keywords_free(&c.keywords);
	select_prune_own(s);
}

void
select_sync_if_changed(struct session *s)
{
	struct store_mbox mb;

	if (s->state != SESSION_SELECTED)
		return;
	/* Every change (new message, flags, expunge) raises HIGHESTMODSEQ;
	 * a deleted or renamed mailbox has another id or none. */
	if (store_mbox_get(s->store, s->user, s->selected, &mb) == STORE_OK &&
	    mb.id == s->mbox_id && mb.highestmodseq <= s->modseq)
		return;
	select_sync(s, true);
}

void
cmd_close(struct session *s, struct args *a)
{
	enum store_err e = STORE_OK;

	if (!cmd_args_end(s, a))
		return;
	/* CLOSE expunges \Deleted messages silently, unless read-only
	 * (RFC 3501 §6.4.2). */
	if (!s->readonly)
		e = store_msg_expunge(s->store, s->user, s->selected,
		    s->mbox_id, NULL, 0, NULL, NULL);
	select_leave(s);
	if (e != STORE_OK && e != STORE_ERR_NOTFOUND) {
		cmd_store_error(s, e);
		return;
	}
	resp_ok(s, "CLOSE completed");
}

void
cmd_unselect(struct session *s, struct args *a)
{
	if (!cmd_args_end(s, a))
		return;
	select_leave(s);
	resp_ok(s, "UNSELECT completed");
}

void
cmd_check(struct session *s, struct args *a)
{
	if (!cmd_args_end(s, a))
		return;
	select_sync(s, true);
	resp_ok(s, "CHECK completed");
}
