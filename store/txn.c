/*
 * txn.c: the transaction helper every store operation goes through
 * (deadlock retries with a random backoff, reopening a panicked
 * environment), and the site-wide counters.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/log.h"
#include "store_int.h"

#define STORE_TXN_RETRIES	20
/* Checkpoint after a write once this much log (KB) has accumulated, so that
 * recovery stays short and old log files can go (store_log_prune, outside
 * a backup). */
#define STORE_CHECKPOINT_KB	1024

static volatile int64_t *store_watch_mark;

void
store_watch_set(volatile int64_t *mark)
{
	store_watch_mark = mark;
	if (mark != NULL)
		*mark = 0;
}

/* Marks the entry into a store call (the outermost one counts); returns
 * what store_watch_leave must restore. */
int64_t
store_watch_enter(void)
{
	struct timespec ts;
	int64_t saved;

	if (store_watch_mark == NULL)
		return 0;
	saved = *store_watch_mark;
	if (saved == 0 && clock_gettime(CLOCK_MONOTONIC, &ts) == 0)
		*store_watch_mark = ts.tv_sec > 0 ? (int64_t)ts.tv_sec : 1;
	return saved;
}

void
store_watch_leave(int64_t saved)
{
	if (store_watch_mark != NULL)
		*store_watch_mark = saved;
}

int64_t
store_watch_pause(void)
{
	int64_t saved;

	if (store_watch_mark == NULL)
		return 0;
	saved = *store_watch_mark;
	*store_watch_mark = 0;
	return saved;
}

void
store_watch_resume(int64_t saved)
{
	store_watch_leave(saved);
}

/* Sleeps a random time that grows with the attempt: up to 1 ms per try. */
static void
store_backoff(unsigned attempt)
{
	struct timespec ts;
	unsigned max_us = 1000 * (attempt < 10 ? attempt + 1 : 10);

	ts.tv_sec = 0;
	ts.tv_nsec = (long)arc4random_uniform(max_us) * 1000;
	(void)nanosleep(&ts, NULL);
}

/* One attempt: begin, run, commit or abort. */
static enum store_err
store_txn_once(struct store *st, enum store_txn_kind kind, store_txn_fn *fn,
    void *ctx)
{
	DB_TXN *txn = NULL;
	enum store_err e;
	int ret;

	if (kind == STORE_TXN_NONE)
		return fn(st, NULL, ctx);
	if ((ret = store_fault(st)) == 0)
		ret = st->env->txn_begin(st->env, NULL, &txn, 0);
	if (ret != 0)
		return store_dberr(st, ret, "txn_begin");
	e = fn(st, txn, ctx);
	if (e != STORE_OK) {
		if ((ret = txn->abort(txn)) != 0)
			(void)store_dberr(st, ret, "txn_abort");
		return e;
	}
	if ((ret = store_fault(st)) != 0) {
		(void)txn->abort(txn);
		return store_dberr(st, ret, "txn_commit");
	}
	/*
	 * A flag change is written to the operating system before the
	 * client hears OK, so killing any process loses nothing; its fsync
	 * comes with the next durable commit or checkpoint (the log is
	 * flushed in order). The handle is gone after commit, whatever it
	 * returns.
	 */
	if ((ret = txn->commit(txn, kind == STORE_TXN_FLAGS &&
	    !st->opt.nosync && !st->opt.sync_flags ? DB_TXN_WRITE_NOSYNC :
	    0)) != 0)
		return store_dberr(st, ret, "txn_commit");
	if (!st->opt.no_checkpoint &&
	    (ret = st->env->txn_checkpoint(st->env, STORE_CHECKPOINT_KB, 0,
	    0)) != 0)
		(void)store_dberr(st, ret, "txn_checkpoint");
	return STORE_OK;
}

static enum store_err store_txn_run_watched(struct store *st,
    enum store_txn_kind kind, store_txn_fn *fn, void *ctx);

enum store_err
store_txn_run(struct store *st, enum store_txn_kind kind, store_txn_fn *fn,
    void *ctx)
{
	int64_t saved = store_watch_enter();
	enum store_err e = store_txn_run_watched(st, kind, fn, ctx);

	store_watch_leave(saved);
	return e;
}

static enum store_err
store_txn_run_watched(struct store *st, enum store_txn_kind kind,
    store_txn_fn *fn, void *ctx)
{
	bool reopened = false;
	unsigned attempt;
	enum store_err e;

	/* Gone after a panic: the store needs recovery first. */
	if (st->env == NULL && store_env_reopen(st) < 0)
		return STORE_ERR_TRYAGAIN;
	for (attempt = 0;; attempt++) {
		st->retry = false;
		st->panic = false;
		e = store_txn_once(st, kind, fn, ctx);
		if (e == STORE_OK)
			return e;
		if (st->panic && !reopened) {
			/* Another process ran recovery under us. */
			reopened = true;
			if (store_env_reopen(st) < 0)
				return STORE_ERR_TRYAGAIN;
			continue;
		}
		if (!st->retry)
			return e;
		if (attempt + 1 >= STORE_TXN_RETRIES) {
			log_msg(LOG_WARNING, "store: still deadlocked after "
			    "%u attempts", attempt + 1);
			return STORE_ERR_TRYAGAIN;
		}
		store_backoff(attempt);
	}
}

enum store_err
store_counter_next(struct store *st, DB_TXN *txn, const char *name,
    uint64_t floor, uint64_t max, uint64_t *v_r)
{
	uint8_t buf[8];
	uint64_t last = 0, v;
	DBT k, d;
	int ret;

	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = (void *)(uintptr_t)name;
	k.size = (u_int32_t)strlen(name);
	d.data = buf;
	d.ulen = sizeof(buf);
	d.flags = DB_DBT_USERMEM;
	ret = store_db_get(st, st->counters, txn, &k, &d, DB_RMW);
	if (ret == 0) {
		if (d.size != sizeof(buf)) {
			log_msg(LOG_ERR, "store: counter %s: bad record", name);
			return STORE_ERR_IO;
		}
		last = store_be_get64(buf);
	} else if (ret != DB_NOTFOUND) {
		return store_dberr(st, ret, "counter get");
	}
	if (last >= max) {
		log_msg(LOG_ERR, "store: counter %s exhausted", name);
		return STORE_ERR_IO;
	}
	v = last + 1 > floor ? last + 1 : floor;
	if (v > max)
		v = max;
	store_be_put64(buf, v);
	d.size = sizeof(buf);
	d.flags = 0;
	if ((ret = store_db_put(st, st->counters, txn, &k, &d, 0)) != 0)
		return store_dberr(st, ret, "counter put");
	*v_r = v;
	return STORE_OK;
}

enum store_err
store_checkpoint(struct store *st)
{
	int ret;

	if (st->env == NULL)
		return STORE_ERR_IO;
	ret = st->env->txn_checkpoint(st->env, STORE_CHECKPOINT_KB, 0, 0);
	if (ret != 0)
		return store_dberr(st, ret, "txn_checkpoint");
	/*
	 * The checkpoint above waits for a megabyte of log: flag changes
	 * committed without fsync (STORE_TXN_FLAGS) are made durable here
	 * in any case, a no-op when the log on disk is already complete.
	 */
	if (!st->opt.nosync && (ret = st->env->log_flush(st->env, NULL)) != 0)
		return store_dberr(st, ret, "log_flush");
	return STORE_OK;
}
