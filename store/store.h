/*
 * store.h: the only door into the mail store.
 *
 * The store is one Berkeley DB transactional environment under
 * DATA_DIR/db. Nothing outside store/ sees a DB_ENV, DB, DBT or DB_TXN.
 * Every write is one transaction, retried a bounded number of times on
 * deadlock; when the retries run out the caller gets STORE_ERR_TRYAGAIN.
 *
 * A struct store is a per-process handle: open it after fork(), never carry
 * it across one.
 *
 * Names: mailbox names are byte strings as the client sends them (modified
 * UTF-7), hierarchy delimiter '/', INBOX already normalised to "INBOX" by the
 * caller. The store trusts nothing else about them beyond: non-empty, no NUL,
 * at most STORE_NAME_MAX bytes. User names: [A-Za-z0-9._@+-], at most
 * STORE_USER_MAX bytes (the caller validates).
 */
#ifndef REFIMAPD_STORE_H
#define REFIMAPD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"
#include "../lib/compat.h"

#define STORE_NAME_MAX	1024
#define STORE_USER_MAX	128
#define STORE_DELIM	'/'

enum store_err {
	STORE_OK = 0,
	STORE_ERR_NOTFOUND,	/* no such mailbox (RFC 5530 NONEXISTENT) */
	STORE_ERR_EXISTS,	/* target name exists (ALREADYEXISTS) */
	STORE_ERR_HASCHILDREN,	/* \Noselect with inferiors: cannot delete (INUSE) */
	STORE_ERR_INVALID,	/* e.g. rename a mailbox into its own inferior (CANNOT) */
	STORE_ERR_TRYAGAIN,	/* deadlock retries exhausted, lock busy (UNAVAILABLE) */
	STORE_ERR_NOSPACE,	/* disk full (OVERQUOTA / LIMIT) */
	STORE_ERR_IO,		/* any other failure, logged with detail (SERVERBUG) */
	STORE_ERR_EXPUNGED,	/* a message asked for is gone (EXPUNGEISSUED) */
};

/* A short English text for an error (static). */
const char *store_strerror(enum store_err e);

struct store;

struct store_options {
	bool create;		/* create DATA_DIR/db and databases if missing */
	bool nosync;		/* test stores: commit without fsync */
	/*
	 * Commits that change only flags, keywords and modseqs (STORE, the
	 * \Seen of FETCH BODY[]) are fsynced too. Without it (and without
	 * nosync) such a commit writes its log record to the operating
	 * system before it returns, so a killed process loses nothing
	 * acknowledged; only a power loss can lose the last ones, until
	 * the next fsynced commit or checkpoint, since the log is written
	 * in order.
	 */
	bool sync_flags;
	/*
	 * Checkpoints are taken by another process (the daemon's master):
	 * a process that may be killed at any moment then holds the
	 * checkpoint's region lock never.
	 */
	bool no_checkpoint;
	/*
	 * A check: open without the precheck and never run recovery here;
	 * when a process died with the store open (recovery is needed),
	 * store_open answers STORE_ERR_TRYAGAIN, and the caller must first
	 * make every other process close the store. The open may block on a
	 * lock the dead process held: run it in a process that can be
	 * killed after a while. (The name is older than the decision not to
	 * use Berkeley DB's failchk, store/env.c.)
	 */
	bool failchk_only;
	/*
	 * Never run recovery, answer STORE_ERR_TRYAGAIN instead: for the
	 * daemon's sessions, whose master watches for dead processes and
	 * recovers the store itself (one process recovering under the feet
	 * of others would leave them stuck).
	 */
	bool no_recovery;
	/*
	 * Only when no other process has the store open any more (the
	 * daemon ended every session): throw away the shared regions, which
	 * a process killed inside one of their locks left unusable, and
	 * rebuild them from the log (full recovery). Nothing committed is
	 * lost: the log holds it.
	 */
	bool force_recovery;
	/*
	 * Open only the mailboxes database now; the others at the first
	 * store_ready (a session: one that logs in and idles keeps no
	 * handle, no cached cursor and no mutex of them).
	 */
	bool lazy;
};

/*
 * Opens (and if needed recovers) the environment in data_dir/db with
 * DB_INIT_TXN|DB_INIT_LOCK|DB_INIT_LOG|DB_INIT_MPOOL|DB_REGISTER|DB_RECOVER
 * and opens every database (with opt.lazy only the mailboxes database:
 * store_ready opens the others). On failure *error_r is a static or
 * thread-local text describing why (also logged): thread-local, so a
 * caller on another thread must copy it before that thread ends.
 */
enum store_err store_open(const char *data_dir, const struct store_options *opt,
    struct store **st_r, const char **error_r) ATTR_WUR;
/* Writes a checkpoint (and lets old log files go) and, unless nosync,
 * fsyncs the log, so flag changes committed before it are durable. */
enum store_err store_checkpoint(struct store *st) ATTR_WUR;
/* Closes all handles; sets *st to NULL. NULL is allowed. */
void store_close(struct store **st);
/*
 * Opens what a store opened with opt.lazy left closed; STORE_OK at once
 * when everything is open. Call before anything but store_user_init.
 */
enum store_err store_ready(struct store *st) ATTR_WUR;
/*
 * False once this process found the store needing recovery as it opened
 * it: Berkeley DB then refuses it any other open (store/env.c). A session
 * should end, so that its client comes back in a new process.
 */
bool store_can_open(void);
/* Unmaps the pages of the shared regions this process has mapped (they
 * stay in the store; a later touch maps them again), so that a session
 * going idle does not keep a share of them. NULL is allowed. */
void store_release_maps(struct store *st);
/* The Berkeley DB library this process runs with (db_version()), as text. */
const char *store_db_version(void);

/*
 * The watchdog mark. While this process is inside a store call, *mark
 * holds the CLOCK_MONOTONIC second at which it entered, and 0 outside.
 * The daemon's master keeps the marks of its sessions in shared memory:
 * one that stays inside for too long waits on a lock or mutex that a
 * killed process held, which only recovery releases. Code that blocks on
 * something other than the store while a store call is open (writing to
 * a slow client from inside a callback) pauses the mark around it.
 */
void store_watch_set(volatile int64_t *mark);
int64_t store_watch_pause(void);
void store_watch_resume(int64_t saved);

/* Mailbox record flags */
#define STORE_MBOX_NOSELECT	0x0001u	/* placeholder kept for its inferiors */
#define STORE_MBOX_DRAFTS	0x0010u	/* RFC 6154 special-use attributes */
#define STORE_MBOX_SENT		0x0020u
#define STORE_MBOX_TRASH	0x0040u
#define STORE_MBOX_JUNK		0x0080u
#define STORE_MBOX_ARCHIVE	0x0100u

struct store_mbox {
	uint32_t id;		/* internal id, never reused; messages hang off it */
	uint32_t uidvalidity;	/* from the site-wide counter */
	uint32_t uidnext;
	uint64_t highestmodseq;
	uint32_t messages;
	uint32_t unseen;
	uint32_t recent;	/* messages with uid >= recent_uid */
	uint32_t flags;		/* STORE_MBOX_* */
	uint32_t recent_uid;	/* first UID not yet claimed as \Recent */
};

/*
 * UIDVALIDITY values come from one site-wide counter: each new value is
 * max(last + 1, time(NULL)), so it only grows, even across a rebuilt store.
 */

/* Reads one mailbox. STORE_ERR_NOTFOUND if there is none of that name. */
enum store_err store_mbox_get(struct store *st, const char *user,
    const char *name, struct store_mbox *mb_r) ATTR_WUR;

/*
 * For SELECT: the mailbox and its UIDs as runs of consecutive UIDs
 * ((*runs_r)[2i] to (*runs_r)[2i + 1], ascending; the caller frees
 * *runs_r), from one moment (read between two reads of the record that
 * agree), without reading the message records: the lowest and the
 * highest UID less the ranges of the expunge log. Every message's UID is
 * in a run; when the runs hold mb_r->messages UIDs in all, every UID of
 * the runs is a message. STORE_ERR_TRYAGAIN when writers kept changing
 * the mailbox meanwhile.
 */
enum store_err store_mbox_uid_runs(struct store *st, const char *user,
    const char *name, struct store_mbox *mb_r, uint32_t **runs_r,
    size_t *nruns_r) ATTR_WUR;

/*
 * Creates a mailbox (flags: special-use bits) with a new id and
 * UIDVALIDITY, uidnext 1, and any missing superiors ("a" and "a/b" for
 * "a/b/c") as ordinary selectable mailboxes. An existing \Noselect
 * placeholder of that name becomes selectable with a new UIDVALIDITY.
 * STORE_ERR_EXISTS if a selectable mailbox of that name exists.
 * mb_r may be NULL.
 */
enum store_err store_mbox_create(struct store *st, const char *user,
    const char *name, uint32_t flags, struct store_mbox *mb_r) ATTR_WUR;

/*
 * RFC 3501 §6.3.4. Without inferiors: removes the mailbox (and its
 * messages). With inferiors: removes its messages and keeps the name as a
 * \Noselect placeholder (STORE_ERR_HASCHILDREN if it already is one).
 * A placeholder whose last inferior goes stays, as RFC 3501's example
 * shows, until it is deleted itself. The caller refuses INBOX.
 */
enum store_err store_mbox_delete(struct store *st, const char *user,
    const char *name) ATTR_WUR;

/*
 * RFC 3501 §6.3.5. Renames the mailbox and all its inferiors in one
 * transaction; ids, UIDVALIDITY and messages move with the names. Missing
 * superiors of the new name are created. STORE_ERR_NOTFOUND, EXISTS (new
 * name or one of the renamed inferiors' new names taken), INVALID (new name
 * equals or lies under the old one).
 * Renaming "INBOX" is special: the new mailbox takes INBOX's id and
 * messages, INBOX is re-created empty with a new id and UIDVALIDITY, and
 * INBOX's inferiors stay where they are.
 */
enum store_err store_mbox_rename(struct store *st, const char *user,
    const char *oldname, const char *newname) ATTR_WUR;

/* Called for each mailbox in byte order of name; return nonzero to stop. */
typedef int store_mbox_cb(void *ctx, const char *name,
    const struct store_mbox *mb);
/* Iterates the user's mailboxes whose names begin with prefix ("" = all). */
enum store_err store_mbox_list(struct store *st, const char *user,
    const char *prefix, store_mbox_cb *cb, void *ctx) ATTR_WUR;
/* True (in *r) if any mailbox name begins with name + "/". */
enum store_err store_mbox_has_children(struct store *st, const char *user,
    const char *name, bool *r) ATTR_WUR;

/* RFC 3501 §6.3.6-7: the subscription list, independent of existence. */
enum store_err store_sub_set(struct store *st, const char *user,
    const char *name, bool subscribed) ATTR_WUR;
typedef int store_sub_cb(void *ctx, const char *name);
enum store_err store_sub_list(struct store *st, const char *user,
    store_sub_cb *cb, void *ctx) ATTR_WUR;

/* ---- Messages (RFC 3501 §2.3) ----
 *
 * A mailbox is named by user and name as above, plus the id the caller
 * saw when it selected it: when the name now holds another mailbox (it was
 * deleted, or renamed and re-created), message calls answer
 * STORE_ERR_NOTFOUND. UIDs are assigned from the mailbox's UIDNEXT, only
 * ever grow and are never reused; every change to a message takes the
 * mailbox's next MODSEQ (HIGHESTMODSEQ + 1) in the same transaction.
 */

/* System flags (RFC 3501 §2.3.2); \Recent is not stored per message. */
#define STORE_FLAG_SEEN		0x01u
#define STORE_FLAG_ANSWERED	0x02u
#define STORE_FLAG_FLAGGED	0x04u
#define STORE_FLAG_DELETED	0x08u
#define STORE_FLAG_DRAFT	0x10u
#define STORE_FLAGS_ALL		0x1fu

/* A mailbox has at most this many distinct keywords (bits in keywords). */
#define STORE_KEYWORDS_MAX	64
#define STORE_KEYWORD_LEN_MAX	128

struct store_msg {
	uint32_t uid;
	uint32_t flags;		/* STORE_FLAG_* */
	uint64_t keywords;	/* bit i: the mailbox's keyword i */
	uint64_t modseq;
	int64_t internaldate;	/* seconds since the epoch (UTC) */
	int32_t tzoff;		/* minutes east of UTC, as the client gave it */
	uint64_t size;		/* RFC822.SIZE: the bytes as stored */
	uint64_t body_id;	/* the stored bytes, shared by copies */
};

/*
 * Appending streams the message: begin, any number of data calls, then
 * commit (one transaction: body, message record, mailbox counters) or
 * free without commit (nothing is left behind). Bytes may be spooled to a
 * temporary file under DATA_DIR/tmp while they arrive; no transaction is
 * open while the client is still sending.
 */
struct store_append;
enum store_err store_append_begin(struct store *st, uint64_t size,
    struct store_append **ap_r) ATTR_WUR;
enum store_err store_append_data(struct store_append *ap, const uint8_t *p,
    size_t n) ATTR_WUR;
/*
 * Stores the message in user's mailbox name (any mailbox of the user, not
 * only a selected one; mbox_id 0 = whichever holds the name now). The
 * byte count must equal the size given to begin (else STORE_ERR_INVALID).
 * Returns the UID and the mailbox's UIDVALIDITY (for RFC 4315 APPENDUID).
 * STORE_ERR_NOTFOUND for a missing or \Noselect mailbox.
 */
enum store_err store_append_commit(struct store_append *ap, const char *user,
    const char *name, uint32_t mbox_id, uint32_t flags, uint64_t keywords,
    int64_t internaldate, int32_t tzoff, uint32_t *uid_r,
    uint32_t *uidvalidity_r) ATTR_WUR;
/* Releases the append (aborting it if not committed); *ap = NULL. */
void store_append_free(struct store_append **ap);

/* Keywords of a mailbox: index <-> name, case-insensitive names (RFC 3501
 * §2.3.2 flag-keyword is an atom). create: assign the next free index
 * (STORE_ERR_INVALID when all 64 are taken, or the keyword is empty or
 * longer than STORE_KEYWORD_LEN_MAX). Without create, an unknown keyword
 * gives STORE_ERR_NOTFOUND too (the mailbox may exist). */
enum store_err store_keyword_index(struct store *st, const char *user,
    const char *name, uint32_t mbox_id, const char *keyword, bool create,
    unsigned *index_r) ATTR_WUR;
typedef int store_keyword_cb(void *ctx, unsigned index, const char *keyword);
enum store_err store_keyword_list(struct store *st, const char *user,
    const char *name, uint32_t mbox_id, store_keyword_cb *cb, void *ctx)
    ATTR_WUR;

/* Messages with uid >= from_uid in UID order; return nonzero to stop. The
 * walk costs one cursor pass over the message records only (never
 * bodies). */
typedef int store_msg_cb(void *ctx, const struct store_msg *msg);
enum store_err store_msg_list(struct store *st, const char *user,
    const char *name, uint32_t mbox_id, uint32_t from_uid, store_msg_cb *cb,
    void *ctx) ATTR_WUR;
/*
 * The same walk for a scan of the whole mailbox (SEARCH): records are
 * read in bulk, a few thousand per database call, and cb sees them with
 * no cursor open (it may call the store). The mailbox found by the first
 * read must stay the one named for the rest of the walk.
 */
enum store_err store_msg_scan(struct store *st, const char *user,
    const char *name, uint32_t mbox_id, uint32_t from_uid, store_msg_cb *cb,
    void *ctx) ATTR_WUR;
/* One message; STORE_ERR_NOTFOUND also when no message has that UID. */
enum store_err store_msg_get(struct store *st, const char *user,
    const char *name, uint32_t mbox_id, uint32_t uid,
    struct store_msg *msg_r) ATTR_WUR;

/* Appends bytes [off, off + n) of a stored message to out (fewer at the
 * end of the message). Reads only those bytes from the store. */
enum store_err store_body_read(struct store *st, uint64_t body_id,
    uint64_t off, size_t n, struct buf *out) ATTR_WUR;

/*
 * SEARCH: the first bytes of many stored messages, read straight into the
 * caller's memory: for each v[i], bytes [0, want) of body_id into dst (at
 * most the first 64 KiB), and got says how many came. Fewer come at the
 * end of the message, and at the end of its header when the header is
 * short enough to have a copy of its own (stored with the message, read
 * many to a page); 0 for a body that is not there, which store_body_read
 * then explains. Faster in ascending body_id order.
 */
struct store_head {
	uint64_t body_id;
	uint8_t *dst;		/* room for want bytes */
	size_t want;
	size_t got;
};
enum store_err store_body_heads(struct store *st, struct store_head *v,
    size_t n) ATTR_WUR;

/*
 * Appends the MIME structure of a stored message (the blob of
 * store/mime.h: ENVELOPE, BODY, BODYSTRUCTURE and the byte range of every
 * part) to out. It was computed once when the message was stored; for a
 * body stored without one it is parsed now from the size bytes.
 */
enum store_err store_mime_get(struct store *st, uint64_t body_id,
    uint64_t size, struct buf *out) ATTR_WUR;
/*
 * store_mime_get for each of msgs[0..n) (body_id and size), appended to
 * out one after the other: the i-th is out->data[offs[i]..+lens[i]).
 * Cheapest when the body ids ascend, as they mostly do in UID order.
 */
enum store_err store_mime_get_many(struct store *st,
    const struct store_msg *msgs, size_t n, struct buf *out, size_t *offs,
    size_t *lens) ATTR_WUR;

/* Message bytes read from the store by this handle so far (for the
 * debug log and the tests that check partial reads stay partial). */
uint64_t store_stats_body_bytes(const struct store *st);

enum store_flag_op {
	STORE_FLAGS_SET,	/* FLAGS */
	STORE_FLAGS_ADD,	/* +FLAGS */
	STORE_FLAGS_REMOVE,	/* -FLAGS */
};

/*
 * Changes the flags of the given messages (uids ascending; missing UIDs
 * are skipped) in one transaction. Each message whose flags really change
 * gets a new MODSEQ; with unchangedsince != 0 (RFC 7162) a message whose
 * MODSEQ is greater is left alone and reported through cb with
 * changed = false. cb (may be NULL) sees every message considered, after
 * the change; changed is false also when the flags were already as asked
 * (then msg->modseq <= unchangedsince tells it from a conflict).
 */
typedef int store_flag_cb(void *ctx, const struct store_msg *msg,
    bool changed);
enum store_err store_msg_set_flags(struct store *st, const char *user,
    const char *name, uint32_t mbox_id, const uint32_t *uids, size_t n,
    enum store_flag_op op, uint32_t flags, uint64_t keywords,
    uint64_t unchangedsince, store_flag_cb *cb, void *ctx) ATTR_WUR;

/*
 * Copies the given messages (uids ascending) into the mailbox dst of the
 * same user, all or nothing, in one transaction: new UIDs in order, flags
 * and INTERNALDATE kept (keywords mapped by name), bodies shared (a
 * reference count, not a second copy). first_uid_r is the first new UID;
 * the new UIDs are consecutive (RFC 4315 COPYUID). All or nothing
 * (RFC 3501 §6.4.7): STORE_ERR_EXPUNGED, with nothing copied, if a source
 * UID is missing; *copied_r says how many were copied.
 */
enum store_err store_msg_copy(struct store *st, const char *user,
    const char *name, uint32_t mbox_id, const uint32_t *uids, size_t n,
    const char *dst, uint32_t *dst_uidvalidity_r, uint32_t *first_uid_r,
    size_t *copied_r) ATTR_WUR;

typedef int store_uid_cb(void *ctx, uint32_t uid);

/*
 * RFC 6851 MOVE: store_msg_copy and the removal of the source messages
 * (whatever their flags) in one transaction, so that no other session
 * ever sees both or neither. All or nothing: STORE_ERR_EXPUNGED if a
 * source UID is missing. cb gets each moved source UID in ascending
 * order after the commit (for the EXPUNGE responses).
 */
enum store_err store_msg_move(struct store *st, const char *user,
    const char *name, uint32_t mbox_id, const uint32_t *uids, size_t n,
    const char *dst, uint32_t *dst_uidvalidity_r, uint32_t *first_uid_r,
    store_uid_cb *cb, void *ctx) ATTR_WUR;

/*
 * Removes messages in one transaction: the given UIDs (ascending) that are
 * \Deleted, or every \Deleted message when uids is NULL. Each removal is
 * recorded in the expunged database under the new MODSEQ (for QRESYNC's
 * VANISHED), bodies lose a reference and go with the last one. cb (may be
 * NULL) gets each expunged UID in ascending order after the commit.
 */
enum store_err store_msg_expunge(struct store *st, const char *user,
    const char *name, uint32_t mbox_id, const uint32_t *uids, size_t n,
    store_uid_cb *cb, void *ctx) ATTR_WUR;

/*
 * What changed since modseq (exclusive), for the untagged updates of a
 * session and for CONDSTORE/QRESYNC: messages whose MODSEQ is greater
 * (from the by_modseq index, not a scan of the mailbox), and UIDs
 * expunged since then. Either callback may be NULL.
 */
enum store_err store_changes(struct store *st, const char *user,
    const char *name, uint32_t mbox_id, uint64_t modseq,
    store_msg_cb *changed, store_uid_cb *expunged, void *ctx) ATTR_WUR;

/*
 * \Recent (RFC 3501 §2.3.2): claims the messages with UIDs at or above the
 * mailbox's recent mark for the calling session and moves the mark to
 * UIDNEXT, in one transaction, so each message is recent in exactly one
 * session. The caller's claim is the UIDs in [*first_recent_uid_r,
 * *end_r) (empty when they are equal); end_r may be NULL.
 */
enum store_err store_mbox_claim_recent(struct store *st, const char *user,
    const char *name, uint32_t mbox_id, uint32_t *first_recent_uid_r,
    uint32_t *end_r) ATTR_WUR;

/* Creates INBOX for the user if it does not exist (on every login). */
enum store_err store_user_init(struct store *st, const char *user) ATTR_WUR;
/*
 * The same, and when INBOX is created (a new user) also the RFC 6154
 * special-use mailboxes Drafts, Sent, Trash, Junk and Archive with their
 * STORE_MBOX_* flags, in the same transaction. Names that exist already
 * are left as they are. An existing INBOX means an existing user: nothing
 * is created then.
 */
enum store_err store_user_init_special(struct store *st, const char *user)
    ATTR_WUR;
/* Removes every mailbox and subscription of the user. */
enum store_err store_user_delete(struct store *st, const char *user) ATTR_WUR;

#endif
