/*
 * cmd_resync.c: the resync extensions.
 *   ENABLE (RFC 5161 §3.1): authenticated state only, as §3.1 says
 *   ("before any mailbox is selected"); CONDSTORE and QRESYNC can be
 *   enabled, other names are ignored.
 * And the parts of CONDSTORE and QRESYNC (RFC 7162) that SELECT, FETCH,
 * STORE and EXPUNGE share (resync.h): modifiers and parameters, MODSEQ in
 * untagged FETCH, VANISHED and VANISHED (EARLIER), the QRESYNC report of a
 * SELECT.
 *
 * Expunges are read from the store's expunged records, which are kept for
 * as long as the mailbox exists: any client MODSEQ gets an exact answer,
 * so NOMODSEQ and the "too old" rules of RFC 7162 §3.2.5.2 never apply.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/log.h"
#include "../lib/num.h"
#include "../lib/xalloc.h"
#include "capa.h"
#include "cmd.h"
#include "cmd_util.h"
#include "resp.h"
#include "resync.h"
#include "seqset.h"

/* ---- ENABLE ---- */

void
cmd_enable(struct session *s, struct args *a)
{
	bool had_condstore = s->condstore, had_qresync = s->qresync;
	bool said_condstore = false, said_qresync = false;
	const uint8_t *p;
	size_t n, start = a->i;

	/* enable = "ENABLE" 1*(SP capability); capability is an atom. */
	if (args_end(a)) {
		cmd_bad_args(s, "capability names");
		return;
	}
	while (!args_end(a)) {
		if (!args_atom(a, &p, &n)) {
			cmd_bad_args(s, "capability names");
			return;
		}
	}
	a->i = start;
	resp_begin(s);
	resp_add(s, "ENABLED");
	while (args_atom(a, &p, &n)) {
		/* An extension removed by `capabilities` is not ours to
		 * enable either (capa.h). */
		if (n == 9 && capa_has(s->capa, CAPA_CONDSTORE) &&
		    strncasecmp((const char *)p, "CONDSTORE", 9) == 0) {
			s->condstore = true;
			if (!had_condstore && !said_condstore)
				resp_add(s, " CONDSTORE");
			said_condstore = true;
		} else if (n == 7 && capa_has(s->capa, CAPA_QRESYNC) &&
		    strncasecmp((const char *)p, "QRESYNC", 7) == 0) {
			/* QRESYNC implies CONDSTORE (RFC 7162 §3.2.3). */
			s->qresync = true;
			s->condstore = true;
			if (!had_qresync && !said_qresync)
				resp_add(s, " QRESYNC");
			said_qresync = true;
		}
		/* Anything else: not ours to enable, ignored (§3.1). */
	}
	resp_end(s);
	resp_ok(s, "ENABLE completed");
}

/* ---- shared helpers ---- */

bool
resync_modseq_arg(struct args *a, bool zero_ok, uint64_t *r)
{
	size_t save = a->i;
	const uint8_t *p;
	size_t n;
	uint64_t v;

	if (!args_atom(a, &p, &n) || !num_parse_u64(p, n, &v) ||
	    v > RESYNC_MODSEQ_MAX || (v == 0 && !zero_ok)) {
		a->i = save;
		return false;
	}
	*r = v;
	return true;
}

void
resync_enable_condstore(struct session *s)
{
	if (s->condstore)
		return;
	s->condstore = true;
	/* Not above an expunge held back (RFC 7162 §3.2). */
	if (s->state == SESSION_SELECTED)
		resp_untagged(s, "OK [HIGHESTMODSEQ %llu] Highest",
		    (unsigned long long)(s->npending > 0 ? s->pending_modseq :
		    s->modseq));
}

void
resync_fetch_flags(struct session *s, uint32_t seq, const struct store_msg *m,
    char ***kw)
{
	resp_begin(s);
	resp_add(s, "%u FETCH (UID %u FLAGS ", seq, m->uid);
	select_write_flags(s, m, kw);
	resp_add(s, " MODSEQ (%llu))", (unsigned long long)m->modseq);
	resp_end(s);
	resync_modseq_sent(s, m->modseq);
}

void
resync_modseq_sent(struct session *s, uint64_t m)
{
	if (m > s->modseq_sent)
		s->modseq_sent = m;
}

static int
resync_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* True if every MODSEQ in (from, to] is one of the session's own changes,
 * which it has reported itself (MODSEQs of a mailbox are consecutive). */
static bool
resync_own_run(const struct session *s, uint64_t from, uint64_t to)
{
	uint64_t *v, next = from + 1;
	size_t i, n = 0;

	if (to - from > s->nown)
		return false;
	v = xreallocarray(NULL, s->nown + 1, sizeof(*v));
	for (i = 0; i < s->nown; i++) {
		if (s->own[i].modseq > from && s->own[i].modseq <= to)
			v[n++] = s->own[i].modseq;
	}
	qsort(v, n, sizeof(*v), resync_u64_cmp);
	for (i = 0; i < n && next <= to; i++) {
		if (v[i] == next)
			next++;
		else if (v[i] > next)
			break;
	}
	free(v);
	return next > to;
}

void
resync_modseq_notice(struct session *s)
{
	uint64_t safe = s->npending > 0 ? s->pending_modseq : s->modseq;

	if (s->state == SESSION_SELECTED && s->condstore &&
	    s->modseq_sent > safe && (s->npending > 0 ||
	    !resync_own_run(s, safe, s->modseq_sent)))
		resp_untagged(s, "OK [HIGHESTMODSEQ %llu] Not all changes "
		    "reported yet", (unsigned long long)safe);
	s->modseq_sent = 0;
}

/* A growable list of UIDs, with an optional filter on what is added. */
struct resync_uids {
	uint32_t *v;
	size_t n, cap;
	const struct seqset *only;	/* NULL: no set filter */
	uint32_t min, max;		/* inclusive bounds */
	const struct session *s;	/* not UIDs it still counts */
};

static uint32_t resync_seq(const struct session *s, uint32_t uid);

static void
resync_uids_push(uint32_t **v, size_t *n, size_t *cap, uint32_t uid)
{
	if (*n == *cap) {
		*cap = *cap == 0 ? 64 : *cap * 2;
		*v = xreallocarray(*v, *cap, sizeof(uint32_t));
	}
	(*v)[(*n)++] = uid;
}

static int
resync_uids_cb(void *ctx, uint32_t uid)
{
	struct resync_uids *u = ctx;

	if (uid < u->min || uid > u->max ||
	    (u->only != NULL && !seqset_contains(u->only, uid)))
		return 0;
	/* Expunged after the session read its message list: VANISHED
	 * (EARLIER) would leave the client unable to count what EXISTS
	 * said; the next sync reports it with a plain VANISHED. */
	if (u->s != NULL && resync_seq(u->s, uid) != 0)
		return 0;
	resync_uids_push(&u->v, &u->n, &u->cap, uid);
	return 0;
}

static int
resync_u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Sends "* VANISHED [(EARLIER) ]set" for v[0..n) (any order, repeats
 * allowed); nothing when n is 0. */
static void
resync_send_vanished(struct session *s, uint32_t *v, size_t n, bool earlier)
{
	struct buf set = BUF_INITIALIZER(SIZE_MAX);
	size_t i, o = 0;

	if (n == 0)
		return;
	qsort(v, n, sizeof(*v), resync_u32_cmp);
	for (i = 0; i < n; i++) {
		if (o == 0 || v[i] != v[o - 1])
			v[o++] = v[i];
	}
	if (seqset_format(&set, v, o) == 0)
		resp_untagged(s, "VANISHED %s%s", earlier ? "(EARLIER) " : "",
		    buf_cstr(&set));
	buf_free(&set);
}

void
resync_vanished_add(struct session *s, uint32_t uid)
{
	resync_uids_push(&s->vanished, &s->nvanished, &s->capvanished, uid);
}

void
resync_vanished_flush(struct session *s)
{
	resync_send_vanished(s, s->vanished, s->nvanished, false);
	s->nvanished = 0;
}

bool
resync_sync_highestmodseq(struct session *s, uint64_t *r)
{
	struct store_mbox mb;
	enum store_err e;

	/* Read first: everything up to mb.highestmodseq is then reported by
	 * the sync that follows, so the value loses the client nothing
	 * (RFC 7162 §3.2). */
	e = store_mbox_get(s->store, s->user, s->selected, &mb);
	if (e != STORE_OK || mb.id != s->mbox_id) {
		if (e != STORE_OK && e != STORE_ERR_NOTFOUND)
			log_msg(LOG_WARNING, "highestmodseq: %s",
			    store_strerror(e));
		return false;
	}
	select_sync(s, true);
	if (s->state != SESSION_SELECTED || s->closing)
		return false;
	*r = mb.highestmodseq;
	return true;
}

bool
resync_fetch_modifiers(struct session *s, struct args *a,
    struct resync_fetch_mod *m, const char **why_r)
{
	memset(m, 0, sizeof(*m));
	/* Without CONDSTORE, FETCH has no modifiers (RFC 3501 syntax). */
	if (!capa_has(s->capa, CAPA_CONDSTORE) || !args_list_open(a))
		return true;
	/* fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")" */
	do {
		if (args_word(a, "CHANGEDSINCE")) {
			if (m->changedsince) {
				*why_r = "CHANGEDSINCE given twice";
				return false;
			}
			if (!resync_modseq_arg(a, false, &m->modseq)) {
				*why_r = "CHANGEDSINCE needs a mod-sequence";
				return false;
			}
			m->changedsince = true;
		} else if (capa_has(s->capa, CAPA_QRESYNC) &&
		    args_word(a, "VANISHED")) {
			if (m->vanished) {
				*why_r = "VANISHED given twice";
				return false;
			}
			m->vanished = true;
		} else {
			*why_r = "unknown FETCH modifier";
			return false;
		}
	} while (!args_list_close(a));
	/* RFC 7162 §3.2.6 */
	if (m->vanished && !s->uid) {
		*why_r = "VANISHED is allowed only in UID FETCH";
		return false;
	}
	if (m->vanished && !s->qresync) {
		*why_r = "VANISHED needs ENABLE QRESYNC";
		return false;
	}
	if (m->vanished && !m->changedsince) {
		*why_r = "VANISHED needs CHANGEDSINCE";
		return false;
	}
	return true;
}

enum store_err
resync_vanished_earlier(struct session *s, uint64_t modseq, const uint8_t *p,
    size_t n)
{
	struct resync_uids u;
	struct seqset set;
	enum store_err e;

	memset(&u, 0, sizeof(u));
	if (!seqset_parse(p, n, &set))
		return STORE_OK;	/* checked by the caller already */
	/* '*' is the largest UID in use; UIDs above the last message that
	 * are gone must be reported too, so it is unbounded here. */
	seqset_resolve(&set, UINT32_MAX);
	u.only = &set;
	u.min = 1;
	u.max = UINT32_MAX;
	u.s = s;
	e = store_changes(s->store, s->user, s->selected, s->mbox_id, modseq,
	    NULL, resync_uids_cb, &u);
	if (e == STORE_OK)
		resync_send_vanished(s, u.v, u.n, true);
	free(u.v);
	seqset_free(&set);
	return e;
}

bool
resync_store_modifiers(struct session *s, struct args *a, bool *given_r,
    uint64_t *unchangedsince_r)
{
	*given_r = false;
	*unchangedsince_r = 0;
	if (!capa_has(s->capa, CAPA_CONDSTORE) || !args_list_open(a))
		return true;
	/* store-modifiers = SP "(" store-modifier *(SP store-modifier) ")";
	 * only one UNCHANGEDSINCE (RFC 7162 §7). */
	do {
		if (*given_r || !args_word(a, "UNCHANGEDSINCE") ||
		    !resync_modseq_arg(a, true, unchangedsince_r)) {
			cmd_bad_args(s, "(UNCHANGEDSINCE mod-sequence)");
			return false;
		}
		*given_r = true;
	} while (!args_list_close(a));
	return true;
}

/* ---- SELECT (QRESYNC ...) ---- */

/*
 * A set without '*' (RFC 7162 §7 known-uids, known-sequence-set,
 * known-uid-set); ascending: the ranges must already be in ascending
 * order, each one too. The set is resolved (merged) on success.
 */
static bool
resync_parse_set(const uint8_t *p, size_t n, bool ascending,
    struct seqset *set)
{
	size_t i;

	if (!seqset_parse(p, n, set))
		return false;
	for (i = 0; i < set->n; i++) {
		bool star = set->r[i].lo == SEQSET_STAR ||
		    set->r[i].hi == SEQSET_STAR;
		bool order = set->r[i].lo <= set->r[i].hi &&
		    (i == 0 || set->r[i].lo > set->r[i - 1].hi);

		if (star || (ascending && !order)) {
			seqset_free(set);
			return false;
		}
	}
	seqset_resolve(set, SEQSET_STAR);
	return true;
}

static uint64_t
resync_set_count(const struct seqset *set)
{
	uint64_t c = 0;
	size_t i;

	for (i = 0; i < set->n; i++)
		c += (uint64_t)set->r[i].hi - set->r[i].lo + 1;
	return c;
}

/* "(" uidvalidity SP mod-sequence-value [SP known-uids]
 * [SP seq-match-data] ")" after the word QRESYNC. */
static bool
resync_parse_qresync(struct args *a, struct resync_select *p)
{
	const uint8_t *q, *q2;
	size_t qn, q2n;

	if (!args_list_open(a) || !args_number(a, &p->uidvalidity) ||
	    p->uidvalidity == 0 || !resync_modseq_arg(a, false, &p->modseq))
		return false;
	if (args_atom(a, &q, &qn)) {
		if (!resync_parse_set(q, qn, false, &p->known))
			return false;
		p->has_known = true;
	}
	if (args_list_open(a)) {
		if (!args_atom(a, &q, &qn) || !args_atom(a, &q2, &q2n) ||
		    !args_list_close(a))
			return false;
		if (!resync_parse_set(q, qn, true, &p->match_seqs))
			return false;
		p->has_match = true;
		if (!resync_parse_set(q2, q2n, true, &p->match_uids)) {
			seqset_free(&p->match_seqs);
			p->has_match = false;
			return false;
		}
		if (resync_set_count(&p->match_seqs) !=
		    resync_set_count(&p->match_uids))
			return false;
	}
	return args_list_close(a);
}

bool
resync_select_params(struct session *s, struct args *a,
    struct resync_select *p)
{
	memset(p, 0, sizeof(*p));
	/* Without CONDSTORE, SELECT and EXAMINE take no parameters. */
	if (!capa_has(s->capa, CAPA_CONDSTORE) || !args_list_open(a))
		return true;
	/* select-params = SP "(" select-param *(SP select-param) ")" */
	do {
		if (!p->condstore && args_word(a, "CONDSTORE")) {
			p->condstore = true;
		} else if (!p->qresync && capa_has(s->capa, CAPA_QRESYNC) &&
		    args_word(a, "QRESYNC")) {
			p->qresync = true;
			if (!resync_parse_qresync(a, p)) {
				cmd_bad_args(s, "QRESYNC (uidvalidity "
				    "mod-sequence [known-uids "
				    "[(known-sequence-set known-uid-set)]])");
				return false;
			}
		} else {
			cmd_bad_args(s, capa_has(s->capa, CAPA_QRESYNC) ?
			    "CONDSTORE or QRESYNC parameters" :
			    "the CONDSTORE parameter");
			return false;
		}
	} while (!args_list_close(a));
	if (p->qresync && !s->qresync) {
		/* RFC 7162 §3.2.5 */
		resp_bad(s, "QRESYNC needs ENABLE QRESYNC first");
		session_count_bad(s);
		return false;
	}
	return true;
}

void
resync_select_free(struct resync_select *p)
{
	seqset_free(&p->known);
	seqset_free(&p->match_seqs);
	seqset_free(&p->match_uids);
}

/* The sequence number of uid in the session's map, 0 if none. */
static uint32_t
resync_seq(const struct session *s, uint32_t uid)
{
	return uidmap_seq(&s->uidmap, uid);
}

/*
 * RFC 7162 §3.2.5.2: the UIDs the client knows all expunges up to. Pairs
 * (sequence number, UID) are taken in order while they match the mailbox
 * as it is now; the first that does not ends the walk.
 */
static uint32_t
resync_match_floor(const struct session *s, const struct resync_select *p)
{
	const struct seqset *qs = &p->match_seqs, *us = &p->match_uids;
	size_t qi = 0, ui = 0;
	uint32_t q, u, floor = 1;

	if (!p->has_match || qs->n == 0 || us->n == 0)
		return 1;
	q = qs->r[0].lo;
	u = us->r[0].lo;
	for (;;) {
		if (q == 0 || q > uidmap_count(&s->uidmap) ||
		    uidmap_uid(&s->uidmap, q) != u)
			break;
		floor = u + 1;
		if (q == qs->r[qi].hi) {
			if (++qi == qs->n)
				break;
			q = qs->r[qi].lo;
		} else {
			q++;
		}
		if (u == us->r[ui].hi) {
			if (++ui == us->n)
				break;
			u = us->r[ui].lo;
		} else {
			u++;
		}
	}
	return floor;
}

struct resync_report {
	struct session *s;
	const struct seqset *only;	/* known-uids, or NULL */
	uint32_t max;		/* UIDNEXT - 1 without known-uids */
	char **kw;
};

static int
resync_report_changed(void *ctx, const struct store_msg *m)
{
	struct resync_report *r = ctx;
	uint32_t seq;

	if (m->uid > r->max || (r->only != NULL &&
	    !seqset_contains(r->only, m->uid)))
		return 0;
	if ((seq = resync_seq(r->s, m->uid)) == 0)
		return 0;	/* arrived after the map was read */
	resync_fetch_flags(r->s, seq, m, &r->kw);
	return 0;
}

enum store_err
resync_select_report(struct session *s, const struct resync_select *p,
    uint32_t uidvalidity, uint32_t uidnext)
{
	struct resync_report rep;
	struct resync_uids u;
	enum store_err e;

	/* A different UIDVALIDITY: as if nothing changed (§3.2.5). */
	if (!p->qresync || p->uidvalidity != uidvalidity)
		return STORE_OK;
	memset(&u, 0, sizeof(u));
	u.only = p->has_known ? &p->known : NULL;
	u.s = s;
	u.min = resync_match_floor(s, p);
	u.max = p->has_known ? UINT32_MAX : uidnext - 1;
	if (u.max == 0)
		return STORE_OK;	/* no UID was ever used */
	e = store_changes(s->store, s->user, s->selected, s->mbox_id,
	    p->modseq, NULL, resync_uids_cb, &u);
	if (e == STORE_OK)
		resync_send_vanished(s, u.v, u.n, true);
	free(u.v);
	if (e != STORE_OK)
		return e;
	memset(&rep, 0, sizeof(rep));
	rep.s = s;
	rep.only = u.only;
	rep.max = u.max;
	e = store_changes(s->store, s->user, s->selected, s->mbox_id,
	    p->modseq, resync_report_changed, NULL, &rep);
	select_keywords_free(&rep.kw);
	return e;
}
