/*
 * resync.h: what the resync extensions share: ENABLE (RFC 5161), CONDSTORE
 * and QRESYNC (RFC 7162). Implemented in cmd_resync.c; SELECT, FETCH,
 * STORE, EXPUNGE, SEARCH and STATUS call in here.
 *
 * A session turns CONDSTORE on once (s->condstore) and then sees MODSEQ
 * (and UID) in every untagged FETCH; ENABLE QRESYNC (s->qresync) also
 * turns expunges into VANISHED responses. Neither is ever turned off.
 */
#ifndef REFIMAPD_RESYNC_H
#define REFIMAPD_RESYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../store/store.h"
#include "args.h"
#include "seqset.h"
#include "session.h"

/* RFC 7162 §7: mod-sequences are 63-bit. */
#define RESYNC_MODSEQ_MAX	((uint64_t)INT64_MAX)

/*
 * Reads a mod-sequence-valzer (0 allowed, zero_ok) or a
 * mod-sequence-value (at least 1) atom. False without advancing when the
 * next argument is not one.
 */
bool resync_modseq_arg(struct args *a, bool zero_ok, uint64_t *r);

/*
 * A CONDSTORE enabling command ran (RFC 7162 §3.1). The first one with a
 * mailbox selected sends "* OK [HIGHESTMODSEQ n]", n being the MODSEQ the
 * session has reported everything up to.
 */
void resync_enable_condstore(struct session *s);

/*
 * The untagged FETCH for a message whose flags changed, as a session with
 * CONDSTORE on must see it (RFC 7162 §3.2.4):
 * "* seq FETCH (UID u FLAGS (...) MODSEQ (m))". kw: as for
 * select_write_flags.
 */
void resync_fetch_flags(struct session *s, uint32_t seq,
    const struct store_msg *m, char ***kw);

/* A FETCH MODSEQ (m) went out: remembered until the tagged response. */
void resync_modseq_sent(struct session *s, uint64_t m);
/*
 * Before a tagged response (resp_tagged): if a FETCH MODSEQ sent since the
 * last one is above a change the client has not been told of (an expunge
 * held back, RFC 3501 §7.4.1, or another session's change that came after
 * the last report), sends "* OK [HIGHESTMODSEQ n]", n covering only what
 * was reported, so that a client that loses the connection resyncs from
 * there (RFC 7162 §3.2 and the example in §6). The session's own changes
 * right after what was reported need no such line.
 */
void resync_modseq_notice(struct session *s);

/* An expunged UID of the selected mailbox to report in the next VANISHED
 * (QRESYNC, RFC 7162 §3.2.10.2). */
void resync_vanished_add(struct session *s, uint32_t uid);
/* Sends "* VANISHED uid-set" for the pending UIDs, if any. */
void resync_vanished_flush(struct session *s);

/*
 * After expunging with QRESYNC on (RFC 7162 §3.2.7, §3.2.9): reports what
 * other sessions changed and returns, in *r, a HIGHESTMODSEQ that covers
 * only what this session has been told. False if none can be given (the
 * mailbox went away, or a store error, which is logged).
 */
bool resync_sync_highestmodseq(struct session *s, uint64_t *r);

/* FETCH modifiers (RFC 4466 §2.4): CHANGEDSINCE (RFC 7162 §3.1.4.1) and
 * VANISHED (§3.2.6). */
struct resync_fetch_mod {
	bool changedsince;	/* given */
	uint64_t modseq;	/* its value */
	bool vanished;
};

/*
 * Reads "(CHANGEDSINCE n [VANISHED])" when the next argument opens a list
 * (nothing otherwise). False with *why_r (our own words, for a BAD) on a
 * syntax error, VANISHED without CHANGEDSINCE, outside UID FETCH or
 * without ENABLE QRESYNC.
 */
bool resync_fetch_modifiers(struct session *s, struct args *a,
    struct resync_fetch_mod *m, const char **why_r);

/*
 * UID FETCH ... (CHANGEDSINCE m VANISHED): sends "* VANISHED (EARLIER)
 * uid-set" for the UIDs of the set (the atom p[0..n), '*' taken as
 * unbounded) expunged after modseq, if any.
 */
enum store_err resync_vanished_earlier(struct session *s, uint64_t modseq,
    const uint8_t *p, size_t n) ATTR_WUR;

/* Reads "(UNCHANGEDSINCE n)" (RFC 7162 §3.1.3) when the next argument
 * opens a list; answers BAD itself on false. */
bool resync_store_modifiers(struct session *s, struct args *a,
    bool *given_r, uint64_t *unchangedsince_r);

/* SELECT/EXAMINE parameters (RFC 4466 §2.1): CONDSTORE (RFC 7162
 * §3.1.8) and QRESYNC (§3.2.5). */
struct resync_select {
	bool condstore;
	bool qresync;
	uint32_t uidvalidity;
	uint64_t modseq;
	struct seqset known;	/* known-uids; empty: 1:UIDNEXT-1 */
	bool has_known;
	struct seqset match_seqs, match_uids;	/* seq-match-data */
	bool has_match;
};

/*
 * Reads the optional parameter list after the mailbox name into *p
 * (zeroed first; free with resync_select_free). False after answering
 * BAD (syntax, QRESYNC without ENABLE QRESYNC).
 */
bool resync_select_params(struct session *s, struct args *a,
    struct resync_select *p);
void resync_select_free(struct resync_select *p);

/*
 * With QRESYNC and a matching UIDVALIDITY, once the mailbox is selected:
 * "* VANISHED (EARLIER)" for the known UIDs expunged since the client's
 * MODSEQ, then FETCH (UID FLAGS MODSEQ) for the messages changed since
 * then. Reads only the change index, so the work and the bytes follow
 * the changes, not the mailbox.
 */
enum store_err resync_select_report(struct session *s,
    const struct resync_select *p, uint32_t uidvalidity,
    uint32_t uidnext) ATTR_WUR;

#endif
