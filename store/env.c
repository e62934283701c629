/*
 * env.c: the Berkeley DB environment: version check, opening (with
 * DB_REGISTER | DB_RECOVER, so that the open runs recovery exactly when a
 * process died holding the environment), error routing to the log, the
 * databases, closing, and reopening after another process ran recovery.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../lib/buf.h"
#include "../lib/log.h"
#include "../lib/xalloc.h"
#include "store_int.h"

/* One cache for the whole environment; each session maps it, so small. */
#define STORE_CACHE_BYTES	(2u * 1024 * 1024)
#define STORE_FILE_MODE		0600
#define STORE_DIR_MODE		0700

static _Thread_local char store_open_errbuf[512];

/*
 * DB_REGISTER allows one environment handle per process: the store open in
 * this process, if any (a child of fork() has another pid and may open its
 * own).
 */
static const struct store *store_opened;

const char *
store_strerror(enum store_err e)
{
	switch (e) {
	case STORE_OK:
		return "success";
	case STORE_ERR_NOTFOUND:
		return "no such mailbox";
	case STORE_ERR_EXISTS:
		return "mailbox already exists";
	case STORE_ERR_HASCHILDREN:
		return "mailbox has inferior hierarchical names";
	case STORE_ERR_INVALID:
		return "invalid mailbox name or operation";
	case STORE_ERR_TRYAGAIN:
		return "mail store busy, try again";
	case STORE_ERR_NOSPACE:
		return "mail store out of disk space";
	case STORE_ERR_IO:
		return "internal mail store error";
	case STORE_ERR_EXPUNGED:
		return "message no longer exists";
	}
	return "unknown mail store error";
}

void
store_debug_fail_with(struct store *st, unsigned n, int ret, bool repeat)
{
	st->fail_after = n;
	st->fail_n = n;
	st->fail_ret = ret;
	st->fail_repeat = repeat;
}

void
store_debug_fail_after(struct store *st, unsigned n)
{
	store_debug_fail_with(st, n, EIO, false);
}

static void
store_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	const struct store *st = env->app_private;

	/* Closing a panicked environment complains about every handle. */
	log_msg(st != NULL && st->quiet ? LOG_DEBUG : LOG_ERR, "db: %s", msg);
}

static void
store_msgcall(const DB_ENV *env, const char *msg)
{
	log_msg(LOG_INFO, "db: %s", msg);
}

void
store_cursor_close(DBC **c, int *ret)
{
	int r;

	if (*c == NULL)
		return;
	r = (*c)->close(*c);
	*c = NULL;
	if (r != 0 && *ret == 0)
		*ret = r;
}

enum store_err
store_dberr(struct store *st, int ret, const char *what)
{
	switch (ret) {
	case 0:
		return STORE_OK;
	case DB_LOCK_DEADLOCK:
	case DB_LOCK_NOTGRANTED:
		st->retry = true;
		log_msg(LOG_DEBUG, "store: %s: %s (retrying)", what,
		    db_strerror(ret));
		return STORE_ERR_TRYAGAIN;
	case ENOSPC:
		log_msg(LOG_ERR, "store: %s: %s", what, db_strerror(ret));
		return STORE_ERR_NOSPACE;
	case DB_RUNRECOVERY:
		st->panic = true;
		log_msg(LOG_WARNING, "store: %s: environment needs recovery",
		    what);
		return STORE_ERR_IO;
	default:
		log_msg(LOG_ERR, "store: %s: %s", what, db_strerror(ret));
		return STORE_ERR_IO;
	}
}

/* Sets the open error text; also logged. */
static enum store_err ATTR_PRINTF(2, 3)
store_open_fail(enum store_err e, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(store_open_errbuf, sizeof(store_open_errbuf), fmt, ap);
	va_end(ap);
	if (n < 0)
		snprintf(store_open_errbuf, sizeof(store_open_errbuf),
		    "cannot open the mail store");
	log_msg(LOG_ERR, "store: %s", store_open_errbuf);
	return e;
}

static enum store_err
store_open_dberr(const struct store *st, int ret, const char *what)
{
	switch (ret) {
	case DB_RUNRECOVERY:
		return store_open_fail(STORE_ERR_IO,
		    "%s %s: the database environment needs recovery "
		    "(run db_recover -h %s)", what, st->home, st->home);
	case DB_VERSION_MISMATCH:
		return store_open_fail(STORE_ERR_IO,
		    "%s %s: the environment was made by another Berkeley DB "
		    "version (run db_recover with that version, then "
		    "remove the __db.* files)", what, st->home);
	case ENOSPC:
		return store_open_fail(STORE_ERR_NOSPACE, "%s %s: %s", what,
		    st->home, db_strerror(ret));
	case DB_LOCK_DEADLOCK:
	case DB_LOCK_NOTGRANTED:
		return store_open_fail(STORE_ERR_TRYAGAIN, "%s %s: %s", what,
		    st->home, db_strerror(ret));
	default:
		return store_open_fail(STORE_ERR_IO, "%s %s: %s", what,
		    st->home, db_strerror(ret));
	}
}

static int
store_db_open(struct store *st, DB **db_r, const char *file)
{
	DB *db;
	int ret;

	*db_r = NULL;
	if ((ret = db_create(&db, st->env, 0)) != 0)
		return ret;
	/*
	 * Databases are created when missing even without opt.create, so
	 * that a newer version opening an older store adds its databases.
	 */
	ret = db->open(db, NULL, file, NULL, DB_BTREE,
	    DB_CREATE | DB_AUTO_COMMIT, STORE_FILE_MODE);
	if (ret != 0) {
		(void)db->close(db, 0);
		return ret;
	}
	*db_r = db;
	return 0;
}

static void
store_env_close(struct store *st)
{
	DB **dbs[] = { &st->mailboxes, &st->subscriptions, &st->counters,
	    &st->messages, &st->by_modseq, &st->expunged, &st->bodies,
	    &st->body_refs, &st->keywords, &st->mime };
	size_t i;
	int ret;

	for (i = 0; i < N_ELEMENTS(dbs); i++) {
		if (*dbs[i] == NULL)
			continue;
		/* After a panic nothing may be written back. */
		if ((ret = (*dbs[i])->close(*dbs[i],
		    st->quiet ? DB_NOSYNC : 0)) != 0 &&
		    ret != DB_RUNRECOVERY)
			log_msg(LOG_ERR, "store: close: %s", db_strerror(ret));
		*dbs[i] = NULL;
	}
	if (st->env != NULL) {
		if ((ret = st->env->close(st->env, 0)) != 0 &&
		    ret != DB_RUNRECOVERY)
			log_msg(LOG_ERR, "store: close environment: %s",
			    db_strerror(ret));
		st->env = NULL;
	}
}

/* Berkeley DB creates its DB_REGISTER file 0660 less the umask; the other
 * files follow STORE_FILE_MODE, so this one does too. */
static void
store_register_mode(const struct store *st)
{
	char path[4096];
	int n = snprintf(path, sizeof(path), "%s/__db.register", st->home);

	if (n > 0 && (size_t)n < sizeof(path))
		(void)chmod(path, STORE_FILE_MODE);
}

/* Processes (one thread each) the environment tracks for failchk. */
#define STORE_THREADS	4096

/* DB_ENV->failchk asks whether a process that used the environment still
 * runs (one process, one thread, per handle here). */
static int
store_isalive(DB_ENV *env, pid_t pid, db_threadid_t tid, u_int32_t flags)
{
	(void)env;
	(void)tid;
	(void)flags;
	return kill(pid, 0) == 0 || errno == EPERM;
}

/* Removes the environment's shared regions (not the databases or the
 * log), whatever state a dead process left them in. */
static void
store_env_remove(const char *home)
{
	DB_ENV *env;
	int ret;

	if (db_env_create(&env, 0) != 0)
		return;
	if ((ret = env->remove(env, home, DB_FORCE)) != 0)
		log_msg(LOG_WARNING, "store: removing the regions of %s: %s",
		    home, db_strerror(ret));
	else
		log_msg(LOG_NOTICE, "store: regions removed for recovery");
}

/* Creates the environment handle, opens it and every database. */
static enum store_err
store_env_open(struct store *st)
{
	DB **dbs[] = { &st->mailboxes, &st->subscriptions, &st->counters,
	    &st->messages, &st->by_modseq, &st->expunged, &st->bodies,
	    &st->body_refs, &st->keywords, &st->mime };
	static const char *const files[] = { "mailboxes.db",
	    "subscriptions.db", "counters.db", "messages.db", "by_modseq.db",
	    "expunged.db", "bodies.db", "body_refs.db", "keywords.db",
	    "mime.db" };
	DB_ENV *env;
	size_t i;
	int ret;

	if ((ret = db_env_create(&env, 0)) != 0)
		return store_open_dberr(st, ret, "db_env_create");
	st->env = env;
	env->app_private = st;
	env->set_errcall(env, store_errcall);
	env->set_msgcall(env, store_msgcall);
	if ((ret = env->set_cachesize(env, 0, STORE_CACHE_BYTES, 1)) != 0 ||
	    (ret = env->set_lk_detect(env, DB_LOCK_DEFAULT)) != 0 ||
	    (ret = env->set_isalive(env, store_isalive)) != 0 ||
	    (ret = env->set_thread_count(env, STORE_THREADS)) != 0 ||
	    (ret = env->set_lg_filemode(env, STORE_FILE_MODE)) != 0 ||
	    (ret = env->log_set_config(env, DB_LOG_AUTO_REMOVE, 1)) != 0 ||
	    (st->opt.nosync &&
	    (ret = env->set_flags(env, DB_TXN_NOSYNC, 1)) != 0))
		goto fail;
	/*
	 * DB_REGISTER notices a process that died with the environment open;
	 * then DB_RECOVER runs recovery, or (failchk_only) DB_FAILCHK
	 * releases its locks and aborts its transaction, or (no_recovery)
	 * the open fails and the daemon's master deals with it.
	 */
	ret = env->open(env, st->home, DB_CREATE | DB_INIT_TXN |
	    DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL | DB_REGISTER |
	    (st->opt.failchk_only ? DB_FAILCHK :
	    st->opt.no_recovery ? 0 : DB_RECOVER), STORE_FILE_MODE);
	if (ret == DB_RUNRECOVERY &&
	    (st->opt.failchk_only || st->opt.no_recovery)) {
		store_env_close(st);
		return store_open_fail(STORE_ERR_TRYAGAIN, "recovery needed: "
		    "a process died inside the environment");
	}
	if (ret != 0) {
		enum store_err e = store_open_dberr(st, ret, "open");

		store_env_close(st);
		return e;
	}
	store_register_mode(st);
	for (i = 0; i < N_ELEMENTS(files); i++) {
		if ((ret = store_db_open(st, dbs[i], files[i])) != 0) {
			enum store_err e = store_open_dberr(st, ret,
			    files[i]);

			store_env_close(st);
			return e;
		}
	}
	return STORE_OK;
fail:
	store_env_close(st);
	return store_open_dberr(st, ret, "configure");
}

static enum store_err
store_mkdir(const char *path, bool create)
{
	struct stat sb;

	if (create && mkdir(path, STORE_DIR_MODE) < 0 && errno != EEXIST)
		return store_open_fail(STORE_ERR_IO, "mkdir %s: %s", path,
		    strerror(errno));
	if (stat(path, &sb) < 0)
		return store_open_fail(STORE_ERR_IO, "%s: %s", path,
		    errno == ENOENT ? "no mail store here (not initialised?)" :
		    strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return store_open_fail(STORE_ERR_IO, "%s: not a directory",
		    path);
	return STORE_OK;
}

enum store_err
store_open(const char *data_dir, const struct store_options *opt,
    struct store **st_r, const char **error_r)
{
	struct store *st;
	struct buf path;
	enum store_err e;
	int major, minor, patch;

	*st_r = NULL;
	*error_r = store_open_errbuf;
	(void)db_version(&major, &minor, &patch);
	if (major != DB_VERSION_MAJOR || minor != DB_VERSION_MINOR)
		return store_open_fail(STORE_ERR_IO, "Berkeley DB library "
		    "%d.%d.%d does not match the headers %d.%d.%d used to "
		    "build refimapd", major, minor, patch, DB_VERSION_MAJOR,
		    DB_VERSION_MINOR, DB_VERSION_PATCH);
	buf_init(&path, 4096);
	if (buf_addf(&path, "%s/db", data_dir) < 0) {
		buf_free(&path);
		return store_open_fail(STORE_ERR_IO, "data directory name "
		    "too long");
	}
	if ((opt->create && (e = store_mkdir(data_dir, true)) != STORE_OK) ||
	    (e = store_mkdir(buf_cstr(&path), opt->create)) != STORE_OK) {
		buf_free(&path);
		return e;
	}
	if (store_opened != NULL && store_opened->pid == getpid() &&
	    strcmp(store_opened->home, buf_cstr(&path)) == 0) {
		buf_free(&path);
		return store_open_fail(STORE_ERR_IO, "the store is already "
		    "open in this process");
	}
	st = xcalloc(1, sizeof(*st));
	st->home = xstrdup(buf_cstr(&path));
	buf_free(&path);
	st->opt = *opt;
	st->pid = getpid();
	if (opt->force_recovery)
		store_env_remove(st->home);
	if ((e = store_env_open(st)) != STORE_OK) {
		xfree(&st->home);
		xfree(&st);
		return e;
	}
	store_opened = st;
	*st_r = st;
	*error_r = NULL;
	return STORE_OK;
}

int
store_env_reopen(struct store *st)
{
	st->quiet = true;
	store_env_close(st);
	st->quiet = false;
	if (store_env_open(st) != STORE_OK)
		return -1;
	log_msg(LOG_NOTICE, "store: environment reopened after recovery");
	return 0;
}

void
store_close(struct store **stp)
{
	struct store *st = *stp;

	if (st == NULL)
		return;
	/*
	 * A handle carried across fork() belongs to the parent: closing it
	 * here would unregister the parent's environment. Leave it alone.
	 */
	if (st->pid == getpid())
		store_env_close(st);
	if (store_opened == st)
		store_opened = NULL;
	xfree(&st->home);
	xfree(stp);
}
