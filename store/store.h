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
};

/* A short English text for an error (static). */
const char *store_strerror(enum store_err e);

struct store;

struct store_options {
	bool create;		/* create DATA_DIR/db and databases if missing */
	bool nosync;		/* test stores: commit without fsync */
};

/*
 * Opens (and if needed recovers) the environment in data_dir/db with
 * DB_INIT_TXN|DB_INIT_LOCK|DB_INIT_LOG|DB_INIT_MPOOL|DB_REGISTER|DB_RECOVER
 * and opens every database. On failure *error_r is a static or
 * thread-local text describing why (also logged).
 */
enum store_err store_open(const char *data_dir, const struct store_options *opt,
    struct store **st_r, const char **error_r) ATTR_WUR;
/* Closes all handles; sets *st to NULL. NULL is allowed. */
void store_close(struct store **st);

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
	uint32_t recent;
	uint32_t flags;		/* STORE_MBOX_* */
};

/*
 * UIDVALIDITY values come from one site-wide counter: each new value is
 * max(last + 1, time(NULL)), so it only grows, even across a rebuilt store.
 */

/* Reads one mailbox. STORE_ERR_NOTFOUND if there is none of that name. */
enum store_err store_mbox_get(struct store *st, const char *user,
    const char *name, struct store_mbox *mb_r) ATTR_WUR;

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

/* Creates INBOX for the user if it does not exist (on every login). */
enum store_err store_user_init(struct store *st, const char *user) ATTR_WUR;
/* Removes every mailbox and subscription of the user. */
enum store_err store_user_delete(struct store *st, const char *user) ATTR_WUR;

#endif
