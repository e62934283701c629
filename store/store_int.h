/*
 * store_int.h: what the files of store/ share and nobody else sees.
 *
 * The handle, the database-call wrappers (each one a place where a test
 * build can make the N-th call fail), the transaction helper, key packing
 * and the site-wide counters.
 */
#ifndef REFIMAPD_STORE_INT_H
#define REFIMAPD_STORE_INT_H

#include <sys/types.h>

#include <db.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/* user NUL name, plus room for a trailing delimiter in prefix searches */
#define STORE_KEY_MAX	(STORE_USER_MAX + 1 + STORE_NAME_MAX + 1)

struct store {
	DB_ENV *env;
	DB *mailboxes;		/* user NUL name -> packed struct store_mbox */
	DB *subscriptions;	/* user NUL name -> empty */
	DB *counters;		/* counter name -> u64 big-endian */
	DB *messages;		/* mbox id, uid -> packed store_msg */
	DB *by_modseq;		/* mbox id, modseq -> uid */
	DB *expunged;		/* mbox id, modseq -> uid ranges */
	DB *bodies;		/* body id, chunk index -> raw bytes */
	DB *body_refs;		/* body id -> reference count u32 */
	DB *keywords;		/* mbox id, index u8 -> keyword name */
	DB *mime;		/* body id -> mime_parse blob (store/mime.h) */
	DB *heads;		/* body id -> its header, a copy of its first
				 * bytes (when short: store_body_heads) */
	char *home;		/* data_dir/db */
	int lockfd;		/* the recovery lock (store/lock.c); -1 */
	bool recover_fatal;	/* the next attach runs DB_RECOVER_FATAL */
	bool all_open;		/* every database, not just mailboxes */
	struct store_options opt;
	pid_t pid;		/* the process that opened it */
	unsigned fail_after;	/* fault injection: 0 = off */
	unsigned fail_n;
	int fail_ret;
	bool fail_repeat;
	bool retry;		/* the last failure is worth retrying */
	bool panic;		/* the environment must be reopened */
	bool quiet;		/* closing a panicked environment */
	uint64_t body_bytes_read;	/* by store_body_read, for stats */
};

/* Every database of a store: the handles' places in *st, mailboxes
 * first (a lazy open takes it alone), and their files. */
#define STORE_NDBS	11
void store_db_slots(struct store *st, DB **slots[STORE_NDBS]);
extern const char *const store_db_files[STORE_NDBS];

/*
 * Fault injection for tests, inert unless called: the n-th next database
 * call (n >= 1) fails with EIO, once; 0 disarms. store_debug_fail_with
 * chooses the error (e.g. DB_LOCK_DEADLOCK, DB_RUNRECOVERY) and whether the
 * fault re-arms itself after firing.
 */
void store_debug_fail_after(struct store *st, unsigned n);
void store_debug_fail_with(struct store *st, unsigned n, int ret,
    bool repeat);

/* The injected error for this call, or 0. */
static inline int
store_fault(struct store *st)
{
	if (st->fail_after == 0 || --st->fail_after != 0)
		return 0;
	if (st->fail_repeat)
		st->fail_after = st->fail_n;
	return st->fail_ret;
}

/*
 * Database-call wrappers: the Berkeley DB return value (0, DB_NOTFOUND,
 * DB_LOCK_DEADLOCK, an errno...). Turn a failure into a store error with
 * store_dberr.
 */
static inline int
store_db_get(struct store *st, DB *db, DB_TXN *txn, DBT *k, DBT *v,
    u_int32_t flags)
{
	int f = store_fault(st);

	return f != 0 ? f : db->get(db, txn, k, v, flags);
}

static inline int
store_db_put(struct store *st, DB *db, DB_TXN *txn, DBT *k, DBT *v,
    u_int32_t flags)
{
	int f = store_fault(st);

	return f != 0 ? f : db->put(db, txn, k, v, flags);
}

static inline int
store_db_del(struct store *st, DB *db, DB_TXN *txn, DBT *k)
{
	int f = store_fault(st);

	return f != 0 ? f : db->del(db, txn, k, 0);
}

static inline int
store_cursor_open(struct store *st, DB *db, DB_TXN *txn, DBC **c_r)
{
	int f = store_fault(st);

	*c_r = NULL;
	return f != 0 ? f : db->cursor(db, txn, c_r, 0);
}

static inline int
store_cursor_get(struct store *st, DBC *c, DBT *k, DBT *v, u_int32_t flags)
{
	int f = store_fault(st);

	return f != 0 ? f : c->get(c, k, v, flags);
}

static inline int
store_cursor_del(struct store *st, DBC *c)
{
	int f = store_fault(st);

	return f != 0 ? f : c->del(c, 0);
}

/* Closes *c if open and sets it to NULL; keeps the first error in *ret. */
void store_cursor_close(DBC **c, int *ret);

/*
 * Maps a Berkeley DB return value to a store error and logs what is worth
 * logging ("what" names the operation). Deadlocks set st->retry, a panicked
 * environment st->panic.
 */
enum store_err store_dberr(struct store *st, int ret, const char *what);

/* env.c: reopens the environment after a panic (another process ran
 * recovery). 0 or -1 (logged). */
int store_env_reopen(struct store *st);

/*
 * txn.c: the one way to touch the databases. Runs fn in a transaction of
 * the given kind; on STORE_OK commits, otherwise aborts. Deadlocks are
 * retried a bounded number of times with a small random backoff, then
 * STORE_ERR_TRYAGAIN; a panicked environment is reopened once. fn may run
 * more than once, so it must not leave effects outside the transaction
 * that a second run would not overwrite.
 */
enum store_txn_kind {
	STORE_TXN_WRITE,	/* a durable write transaction */
	/* a write that changes only flags, keywords and modseqs: written
	 * to the OS at commit, fsynced only with opt.sync_flags */
	STORE_TXN_FLAGS,
	STORE_TXN_NONE,		/* reads without a transaction (txn is NULL) */
};
/* Record decoders shared with verify.c: false when the bytes are no
 * record of a known version. */
bool store_mbox_unpack(const uint8_t *p, size_t n, struct store_mbox *mb);
bool store_msg_unpack(uint32_t uid, const uint8_t *p, size_t n,
    struct store_msg *m);

/* The recovery lock (store/lock.c): a descriptor for home's lock file
 * (-1 with errno), the shared and exclusive lock waiting up to wait_ms
 * (exclusive kills the holders that wait past it), and release. */
int store_lock_open(const char *home);
bool store_lock_shared(int fd, unsigned wait_ms);
bool store_lock_exclusive(int fd, unsigned wait_ms);
void store_lock_release(int fd);

/* The watchdog mark (store.h): enter returns what leave restores. */
int64_t store_watch_enter(void);
void store_watch_leave(int64_t saved);

typedef enum store_err store_txn_fn(struct store *st, DB_TXN *txn, void *ctx);
enum store_err store_txn_run(struct store *st, enum store_txn_kind kind,
    store_txn_fn *fn, void *ctx) ATTR_WUR;

/*
 * Site-wide counters, inside a write transaction: *v_r = max(last + 1,
 * floor), stored as the new last value. STORE_ERR_IO if it would pass max.
 */
enum store_err store_counter_next(struct store *st, DB_TXN *txn,
    const char *name, uint64_t floor, uint64_t max, uint64_t *v_r) ATTR_WUR;

struct store_key;

/*
 * mbox.c: the mailbox record of k inside txn (with DB_RMW when txn is not
 * NULL); *found_r says whether there was one.
 */
enum store_err store_mbox_rec_read(struct store *st, DB_TXN *txn,
    struct store_key *k, struct store_mbox *mb, bool *found_r) ATTR_WUR;
enum store_err store_mbox_rec_write(struct store *st, DB_TXN *txn,
    struct store_key *k, const struct store_mbox *mb) ATTR_WUR;

/*
 * msg.c: removes every message of mailbox id mbox_id, its index and
 * expunge-log entries and keywords; bodies lose a reference each.
 */
enum store_err store_msg_purge(struct store *st, DB_TXN *txn,
    uint32_t mbox_id) ATTR_WUR;

/* key.c: big-endian packing, so that btree cursors walk in numeric order. */
static inline void
store_be_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint32_t
store_be_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline void
store_be_put64(uint8_t *p, uint64_t v)
{
	store_be_put32(p, (uint32_t)(v >> 32));
	store_be_put32(p + 4, (uint32_t)v);
}

static inline uint64_t
store_be_get64(const uint8_t *p)
{
	return (uint64_t)store_be_get32(p) << 32 | store_be_get32(p + 4);
}

/* A "user NUL name" key; name_off is where the name starts. */
struct store_key {
	size_t len;
	size_t name_off;
	uint8_t data[STORE_KEY_MAX];
};

/*
 * Builds user NUL name. STORE_ERR_INVALID if the user is empty or longer
 * than STORE_USER_MAX, or the name longer than STORE_NAME_MAX, or empty
 * unless allow_empty (prefix searches).
 */
enum store_err store_key_user_name(struct store_key *k, const char *user,
    const char *name, bool allow_empty) ATTR_WUR;
/* Appends bytes to the name part. STORE_ERR_INVALID if the name would grow
 * past STORE_NAME_MAX (plus one byte of slack for a prefix delimiter). */
enum store_err store_key_append(struct store_key *k, const void *p,
    size_t n) ATTR_WUR;
/* A DBT pointing at the key (no copy). */
void store_key_dbt(struct store_key *k, DBT *d);
/* True if the DBT key begins with the whole of k. */
bool store_key_is_prefix(const struct store_key *k, const DBT *d);

#endif
