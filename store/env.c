/*
 * env.c: the Berkeley DB environment: version check, opening (with
 * DB_REGISTER | DB_RECOVER, so that the open runs recovery exactly when a
 * process died holding the environment), error routing to the log, the
 * databases, closing, and reopening after another process ran recovery.
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/buf.h"
#include "../lib/log.h"
#include "../lib/xalloc.h"
#include "admin.h"
#include "store_int.h"

/*
 * One cache for the whole environment, shared by every process. Sessions
 * map only the pages they touch, and give them back when idle
 * (store_release_maps). 64 MiB holds the header pages of some 10,000
 * messages, or the message records and MIME structures of far more, so
 * that a repeated SEARCH HEADER or FETCH BODYSTRUCTURE does not read each
 * page from the kernel again (docs/PERFORMANCE.md).
 */
#define STORE_CACHE_BYTES	(64u * 1024 * 1024)
#define STORE_FILE_MODE		0600
#define STORE_DIR_MODE		0700

static _Thread_local char store_open_errbuf[512];

/*
 * DB_REGISTER allows one environment handle per process: the store open in
 * this process, if any (a child of fork() has another pid and may open its
 * own).
 */
static const struct store *store_opened;

/*
 * The process whose DB_REGISTER open found that recovery is needed: its
 * entry stays in Berkeley DB's registry, and any later open in it fails
 * ("BDB1528 DB_REGISTER limits processes to one open DB_ENV handle").
 * Such a process is told so at once, not after another try.
 */
static pid_t store_register_spent;

/* The region mappings of the store open in this process (one per process),
 * found by the first store_release_maps after the open. */
#define STORE_MAPS_MAX	8
static struct {
	void *addr;
	size_t len;
} store_maps[STORE_MAPS_MAX];
static size_t store_nmaps;
static bool store_maps_known;

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
	case EFBIG:	/* a file size limit (RLIMIT_FSIZE) is a full disk */
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

const char *const store_db_files[STORE_NDBS] = { "mailboxes.db",
	"subscriptions.db", "counters.db", "messages.db", "by_modseq.db",
	"expunged.db", "bodies.db", "body_refs.db", "keywords.db", "mime.db",
	"heads.db" };

void
store_db_slots(struct store *st, DB **slots[STORE_NDBS])
{
	DB **all[STORE_NDBS] = { &st->mailboxes, &st->subscriptions,
	    &st->counters, &st->messages, &st->by_modseq, &st->expunged,
	    &st->bodies, &st->body_refs, &st->keywords, &st->mime,
	    &st->heads };

	memcpy(slots, all, sizeof(all));
}

/*
 * Pages of the header copies: large enough that a header of up to
 * MSG_HEADS_MAX bytes stays on its leaf page beside its neighbours' (no
 * overflow page), so that SEARCH reads many from one page.
 */
#define STORE_HEADS_PAGESIZE	(32 * 1024)

static int
store_db_open(struct store *st, DB **db_r, const char *file)
{
	DB *db;
	int ret;

	*db_r = NULL;
	if ((ret = db_create(&db, st->env, 0)) != 0)
		return ret;
	/* For a new file only: an existing one keeps its page size. */
	if (db_r == &st->heads &&
	    (ret = db->set_pagesize(db, STORE_HEADS_PAGESIZE)) != 0) {
		(void)db->close(db, 0);
		return ret;
	}
	/*
	 * Databases are created when missing even without opt.create, so
	 * that a newer version opening an older store adds its databases.
	 * (Leaving DB_CREATE out for a database that is there saves
	 * nothing: Berkeley DB looks at the file the same way, and the
	 * auto-commit open of an existing database logs nothing, so its
	 * commit writes and syncs nothing either.)
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
	DB **dbs[STORE_NDBS];
	size_t i;
	int ret;

	store_db_slots(st, dbs);
	for (i = 0; i < N_ELEMENTS(dbs); i++) {
		if (*dbs[i] == NULL)
			continue;
		/*
		 * DB_NOSYNC: every change is in the log, written at commit,
		 * and the pages a handle leaves dirty stay in the shared
		 * cache, where the next checkpoint writes them (it opens a
		 * file no handle has open). Flushing and fsyncing each file
		 * here cost every logout two fsyncs and protected nothing
		 * that recovery does not. After a panic nothing may be
		 * written back anyway.
		 */
		if ((ret = (*dbs[i])->close(*dbs[i], DB_NOSYNC)) != 0 &&
		    ret != DB_RUNRECOVERY)
			log_msg(LOG_ERR, "store: close: %s", db_strerror(ret));
		*dbs[i] = NULL;
	}
	/* The regions are unmapped with the environment. */
	store_nmaps = 0;
	store_maps_known = false;
	if (st->env != NULL) {
		if ((ret = st->env->close(st->env, 0)) != 0 &&
		    ret != DB_RUNRECOVERY)
			log_msg(LOG_ERR, "store: close environment: %s",
			    db_strerror(ret));
		st->env = NULL;
	}
	store_lock_release(st->lockfd);
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

/*
 * Empties the DB_REGISTER file, under the exclusive recovery lock (no
 * process is attached, none is registering). With DB_REGISTER, DB_RECOVER
 * recovers only when the register shows a dead process or is new: after a
 * panic has emptied every slot, an open "with recovery" would build fresh
 * regions without replaying the log, losing what the old cache held. An
 * empty file is a new register, so recovery runs; the recovering open then
 * registers itself in it. This process must not have the register open
 * through Berkeley DB (closing it would drop that handle's locks).
 */
static enum store_err
store_register_reset(const struct store *st, bool recovered)
{
	/* One free slot, in Berkeley DB's format: "X", padding, "0\n". */
	static const char free_slot[] = "X                      0\n";
	char path[4096];
	int n = snprintf(path, sizeof(path), "%s/__db.register", st->home);
	int fd;

	if (n < 0 || (size_t)n >= sizeof(path))
		return store_open_fail(STORE_ERR_IO, "path too long");
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno != ENOENT)
		return store_open_fail(STORE_ERR_IO, "%s: %s", path,
		    strerror(errno));
	/* After a recovery without DB_REGISTER (catastrophic), a register
	 * that is not new, so that the next open does not recover again. */
	if (fd >= 0 && recovered &&
	    write(fd, free_slot, sizeof(free_slot) - 1) !=
	    (ssize_t)(sizeof(free_slot) - 1))
		log_msg(LOG_WARNING, "store: writing %s: %s", path,
		    strerror(errno));
	if (fd >= 0)
		(void)close(fd);
	return STORE_OK;
}

/* Whether name is one of the environment's region files, __db.NNN. */
static bool
store_region_name(const char *name)
{
	size_t i, n = strlen(name);

	if (n <= 5 || strncmp(name, "__db.", 5) != 0)
		return false;
	for (i = 5; i < n; i++)
		if (name[i] < '0' || name[i] > '9')
			return false;
	return true;
}

/*
 * Berkeley DB maps its shared regions from files it extends by writing
 * their last byte, so they have holes: on a full file system the first
 * touch of a page without a block behind it kills the process with SIGBUS,
 * in the middle of a transaction. Giving the files their blocks once after
 * the open turns that into STORE_ERR_NOSPACE here. fallocate(2), not
 * posix_fallocate: glibc's emulation writes into a region others may be
 * using; where fallocate is not supported nothing is done.
 */
static enum store_err
store_regions_allocate(const struct store *st)
{
	enum store_err e = STORE_OK;
	struct dirent *de;
	DIR *d;

	if ((d = opendir(st->home)) == NULL)
		return STORE_OK;
	while (e == STORE_OK && (de = readdir(d)) != NULL) {
		struct stat sb;
		int fd;

		if (!store_region_name(de->d_name))
			continue;
		/* Once a file has its blocks it keeps them: the common case,
		 * every open but the first, needs no open(2) here. */
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) ==
		    0 && S_ISREG(sb.st_mode) &&
		    (sb.st_size == 0 || sb.st_blocks * 512 >= sb.st_size))
			continue;
		if ((fd = openat(dirfd(d), de->d_name, O_RDWR | O_CLOEXEC |
		    O_NOFOLLOW)) < 0)
			continue;
		if (fstat(fd, &sb) == 0 && sb.st_size > 0 &&
		    fallocate(fd, 0, 0, sb.st_size) < 0 &&
		    (errno == ENOSPC || errno == EDQUOT || errno == EFBIG))
			e = store_open_fail(STORE_ERR_NOSPACE, "allocating "
			    "%s/%s: %s", st->home, de->d_name,
			    strerror(errno));
		(void)close(fd);
	}
	(void)closedir(d);
	return e;
}

/* A line of /proc/self/maps: "lo-hi perms offset dev inode path", of a
 * shared read-write mapping. (By
 * hand, not sscanf: this runs on an idle session's stack, which keeps
 * every page it ever used, and sscanf's frames are large.) */
static bool
store_maps_parse(const char *line, unsigned long *lo, unsigned long *hi,
    unsigned long long *ino)
{
	const char *p = line;
	char *end;
	int field;

	errno = 0;
	*lo = strtoul(p, &end, 16);
	if (end == p || *end != '-')
		return false;
	p = end + 1;
	*hi = strtoul(p, &end, 16);
	if (end == p || *end != ' ' || *hi <= *lo)
		return false;
	/* Only a shared mapping: MADV_DONTNEED on a private one would
	 * throw its contents away. */
	if (strncmp(end, " rw-s ", 6) != 0)
		return false;
	p = end;
	for (field = 0; field < 3; field++) {	/* perms, offset, dev */
		while (*p == ' ')
			p++;
		while (*p != ' ' && *p != '\0')
			p++;
	}
	*ino = strtoull(p, &end, 10);
	return end != p && errno == 0;
}

/*
 * Finds this process's mappings of the region files in /proc/self/maps
 * (matched by inode: the name there is the canonical path, which the
 * configured one need not be) and records them in store_maps.
 */
static void
store_regions_find(const struct store *st)
{
	char *line = NULL, *iobuf;
	size_t cap = 0;
	FILE *f;
	int dfd;

	store_nmaps = 0;
	store_maps_known = true;
	if ((dfd = open(st->home, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return;
	if ((f = fopen("/proc/self/maps", "re")) == NULL) {
		(void)close(dfd);
		return;
	}
	/* The whole file in a read or two, not stdio's 1 KiB at a time. */
	iobuf = xmalloc(16384);
	(void)setvbuf(f, iobuf, _IOFBF, 16384);
	while (getline(&line, &cap, f) > 0 && store_nmaps < STORE_MAPS_MAX) {
		unsigned long long ino;
		unsigned long lo, hi;
		char *path = strchr(line, '/'), *name, *end;
		struct stat sb;

		if (path == NULL)
			continue;
		if ((end = strchr(path, '\n')) != NULL)
			*end = '\0';
		name = strrchr(path, '/') + 1;
		if (!store_region_name(name) ||
		    !store_maps_parse(line, &lo, &hi, &ino) ||
		    fstatat(dfd, name, &sb, 0) < 0 ||
		    (unsigned long long)sb.st_ino != ino)
			continue;
		store_maps[store_nmaps].addr = (void *)lo;
		store_maps[store_nmaps].len = hi - lo;
		store_nmaps++;
	}
	(void)fclose(f);
	free(iobuf);
	free(line);
	(void)close(dfd);
}

/* Processes (one thread each) the environment tracks. */
#define STORE_THREADS	4096

/*
 * The shared regions are sized when they are made (the first open, and
 * every recovery), whoever makes them, so these hold for the most
 * sessions a daemon may serve at once, not for max_sessions as configured
 * now. Berkeley DB's defaults run out at about 130 concurrent sessions
 * (mutexes: each open database handle takes several) and a single EXPUNGE
 * of ~10,000 scattered messages ran out of lock entries. The mutex region
 * is made whole at its maximum; the lock and thread tables grow as needed
 * up to STORE_REGION_MAX.
 */
#define STORE_MUTEXES		65536
#define STORE_LOCKS		100000	/* locks, lock objects */
#define STORE_REGION_MAX	(512u * 1024 * 1024)

/* Whether a process that used the environment still runs (one process,
 * one thread, per handle here); Berkeley DB asks when it tracks threads. */
static int
store_isalive(DB_ENV *env, pid_t pid, db_threadid_t tid, u_int32_t flags)
{
	(void)env;
	(void)tid;
	(void)flags;
	return kill(pid, 0) == 0 || errno == EPERM;
}

/*
 * In a child forked for a store check or recovery: dies with its parent
 * (whose wait bounds it), so that a parent killed meanwhile leaves no
 * child spinning on a dead process's mutex with the store open.
 */
static void
store_child_init(pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(75);
}

/* Unlinks the region files (__db.001, ...) of home: the last resort. */
static void
store_env_unlink_regions(const char *home)
{
	struct dirent *de;
	DIR *d;

	if ((d = opendir(home)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		const char *p = de->d_name;

		if (strncmp(p, "__db.", 5) != 0 || p[5] < '0' || p[5] > '9')
			continue;
		if (unlinkat(dirfd(d), p, 0) < 0 && errno != ENOENT)
			log_msg(LOG_WARNING, "store: removing %s/%s: %s",
			    home, p, strerror(errno));
	}
	closedir(d);
}

#define STORE_REMOVE_WAIT_MS	2000

/*
 * Removes the environment's shared regions (not the databases, the log or
 * the register file), whatever state a dead process left them in.
 * DB_ENV->remove with DB_FORCE marks the regions dead, so that a process
 * still attached to them gets DB_RUNRECOVERY at its next call instead of
 * working on from a stale cache. It first joins the environment, though,
 * and a region that a process was killed while creating cannot be joined:
 * Berkeley DB then retries for some 18 seconds. So the remove runs in a
 * child, bounded in time; when it cannot finish, nobody can be attached
 * to such a region, and its files are unlinked directly. Recovery then
 * builds new regions from the log.
 */
static void
store_env_remove(const char *home)
{
	struct timespec tick = { 0, 20 * 1000 * 1000 };
	pid_t parent = getpid(), pid;
	unsigned waited;
	int status;

	if ((pid = fork()) == 0) {
		DB_ENV *env;

		store_child_init(parent);
		if (db_env_create(&env, 0) != 0)
			_exit(1);
		_exit(env->remove(env, home, DB_FORCE) == 0 ? 0 : 1);
	}
	for (waited = 0; pid > 0; waited += 20) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid) {
			if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
				log_msg(LOG_NOTICE, "store: regions removed "
				    "for recovery");
				return;
			}
			break;
		}
		if (r < 0 && errno != EINTR)
			break;
		if (waited >= STORE_REMOVE_WAIT_MS) {
			(void)kill(pid, SIGKILL);
			(void)waitpid(pid, NULL, 0);
			break;
		}
		(void)nanosleep(&tick, NULL);
	}
	store_env_unlink_regions(home);
	log_msg(LOG_NOTICE, "store: region files unlinked for recovery (the "
	    "regions could not be joined)");
}

/*
 * Opens the databases not open yet: the first `upto` of the list (the
 * mailboxes database comes first: a lazy open takes it alone). On failure
 * the environment stays as it is; those opened stay open.
 */
static enum store_err
store_dbs_open(struct store *st, size_t upto)
{
	DB **dbs[STORE_NDBS];
	const char *const *files = store_db_files;
	size_t i;
	int ret;

	store_db_slots(st, dbs);
	if (upto > N_ELEMENTS(dbs))
		upto = N_ELEMENTS(dbs);
	for (i = 0; i < upto; i++) {
		if (*dbs[i] != NULL)
			continue;
		if ((ret = store_db_open(st, dbs[i], files[i])) != 0) {
			if (ret == DB_RUNRECOVERY)
				st->panic = true;
			return store_open_dberr(st, ret, files[i]);
		}
	}
	if (upto == N_ELEMENTS(dbs))
		st->all_open = true;
	return STORE_OK;
}

/* Creates the environment handle, opens it and the databases. */
static enum store_err
store_env_attach(struct store *st)
{
	DB_ENV *env;
	enum store_err e;
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
	    (ret = env->mutex_set_max(env, STORE_MUTEXES)) != 0 ||
	    (ret = env->set_memory_max(env, 0, STORE_REGION_MAX)) != 0 ||
	    (ret = env->set_memory_init(env, DB_MEM_THREAD,
	    STORE_THREADS)) != 0 ||
	    (ret = env->set_lk_max_locks(env, STORE_LOCKS)) != 0 ||
	    (ret = env->set_lk_max_objects(env, STORE_LOCKS)) != 0 ||
	    (ret = env->set_lg_filemode(env, STORE_FILE_MODE)) != 0 ||
	    /* Log files go only at checkpoints, never under a running
	     * backup: store_log_prune (store/backup.c). */
	    (ret = env->log_set_config(env, DB_LOG_AUTO_REMOVE, 0)) != 0 ||
	    (st->opt.nosync &&
	    (ret = env->set_flags(env, DB_TXN_NOSYNC, 1)) != 0))
		goto fail;
	/*
	 * DB_REGISTER notices a process that died with the environment open;
	 * then DB_RECOVER runs recovery, and any other open fails: the
	 * daemon's master, or the precheck, recovers. Berkeley DB's failchk
	 * (DB_FAILCHK) is not used: it aborts the transaction of a process
	 * that died, before it looks whether the process died inside the
	 * library, and a process killed in the middle of txn_commit, after
	 * its commit record was written and synced, had its acknowledged
	 * transaction undone in the cache that way (seen under kill -9: an
	 * acknowledged EXPUNGE came back). Recovery replays the log, where
	 * that commit is, so it is the one way out of a dead process.
	 */
	/* Catastrophic recovery does not go with DB_REGISTER; it runs
	 * under the recovery lock, which keeps every process out. */
	ret = env->open(env, st->home, DB_CREATE | DB_INIT_TXN |
	    DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL |
	    (st->recover_fatal ? 0 : DB_REGISTER) |
	    (st->recover_fatal ? DB_RECOVER_FATAL :
	    st->opt.force_recovery ? DB_RECOVER : 0), STORE_FILE_MODE);
	if (ret == DB_RUNRECOVERY && !st->opt.force_recovery) {
		store_env_close(st);
		if (!st->recover_fatal)
			store_register_spent = getpid();
		return store_open_fail(STORE_ERR_TRYAGAIN, "recovery needed: "
		    "a process died inside the environment, or it is new");
	}
	if (ret != 0) {
		e = store_open_dberr(st, ret, "open");
		store_env_close(st);
		return e;
	}
	store_register_mode(st);
	/* The setting lives in the shared region: clear it there too, in
	 * case the region was made by an older version that set it. */
	(void)env->log_set_config(env, DB_LOG_AUTO_REMOVE, 0);
	if (store_regions_allocate(st) != STORE_OK) {
		store_env_close(st);
		return STORE_ERR_NOSPACE;
	}
	/* A reopen after recovery opens what was open before. */
	e = store_dbs_open(st, st->opt.lazy && !st->all_open ? 1 : SIZE_MAX);
	if (e != STORE_OK)
		store_env_close(st);
	return e;
fail:
	store_env_close(st);
	return store_open_dberr(st, ret, "configure");
}

/* How long an open waits for a recovery, and a recovery for the
 * processes still in the store, before killing those (store/lock.c). */
#define STORE_LOCK_WAIT_MS	5000

/*
 * The recovery mark, DATA_DIR/db/recovery.pending. Recovery removes the
 * shared regions, and with them the cache, which may hold the only copy of
 * pages that committed transactions changed (a commit writes the log, not
 * the pages). A process that created fresh regions without recovering
 * would lose those changes for good, and a later recovery would meet pages
 * that no longer follow the log. So the mark is made, and synced, before
 * the regions go, and removed only once recovery has finished: a recovery
 * killed half-way (it dies with its parent) leaves the mark, and no process
 * attaches until another recovery has run.
 */
#define STORE_RECOVERY_MARK	"recovery.pending"

static int
store_mark_path(const struct store *st, char *path, size_t size)
{
	int n = snprintf(path, size, "%s/" STORE_RECOVERY_MARK, st->home);

	return n > 0 && (size_t)n < size ? 0 : -1;
}

static int
store_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

	if (fd < 0)
		return -1;
	r = fsync(fd);
	(void)close(fd);
	return r;
}

static enum store_err
store_mark_set(const struct store *st)
{
	char path[4096];
	int fd;

	if (store_mark_path(st, path, sizeof(path)) < 0)
		return store_open_fail(STORE_ERR_IO, "path too long");
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    STORE_FILE_MODE);
	if (fd < 0 || fsync(fd) < 0 || store_fsync_dir(st->home) < 0) {
		int saved = errno;

		if (fd >= 0)
			(void)close(fd);
		return store_open_fail(saved == ENOSPC ? STORE_ERR_NOSPACE :
		    STORE_ERR_IO, "cannot mark %s for recovery: %s", st->home,
		    strerror(saved));
	}
	(void)close(fd);
	return STORE_OK;
}

static void
store_mark_clear(const struct store *st)
{
	char path[4096];

	if (store_mark_path(st, path, sizeof(path)) < 0)
		return;
	if (unlink(path) < 0 && errno != ENOENT)
		log_msg(LOG_ERR, "store: removing %s: %s", path,
		    strerror(errno));
	else
		(void)store_fsync_dir(st->home);
}

/*
 * Whether the store must be recovered before anyone attaches: the mark is
 * there, or the regions are gone while a log exists (they were removed and
 * nobody rebuilt them from the log). Called under the recovery lock.
 */
static bool
store_recovery_pending(const struct store *st)
{
	bool regions = false, log = false;
	char path[4096];
	struct dirent *de;
	DIR *d;

	if (store_mark_path(st, path, sizeof(path)) < 0 ||
	    access(path, F_OK) == 0)
		return true;
	if ((d = opendir(st->home)) == NULL)
		return false;
	while ((de = readdir(d)) != NULL) {
		if (store_region_name(de->d_name))
			regions = true;
		else if (strncmp(de->d_name, "log.", 4) == 0)
			log = true;
	}
	(void)closedir(d);
	return log && !regions;
}

/*
 * Attaches to the environment under the recovery lock (store/lock.c):
 * shared for every process; exclusive for one that recovers
 * (force_recovery), from before it removes the regions until it closes.
 */
static enum store_err
store_env_open(struct store *st)
{
	enum store_err e;

	if (st->lockfd < 0 && (st->lockfd = store_lock_open(st->home)) < 0)
		return store_open_fail(STORE_ERR_IO, "cannot open the lock "
		    "file in %s: %s", st->home, strerror(errno));
	if (st->opt.force_recovery) {
		if (!store_lock_exclusive(st->lockfd, STORE_LOCK_WAIT_MS))
			return store_open_fail(STORE_ERR_TRYAGAIN, "other "
			    "processes keep the store open: no recovery");
		if ((e = store_mark_set(st)) != STORE_OK ||
		    (e = store_register_reset(st, false)) != STORE_OK) {
			store_lock_release(st->lockfd);
			return e;
		}
		store_env_remove(st->home);
	} else if (!store_lock_shared(st->lockfd, STORE_LOCK_WAIT_MS)) {
		return store_open_fail(STORE_ERR_TRYAGAIN, "the store is "
		    "being recovered");
	} else if (store_recovery_pending(st)) {
		store_lock_release(st->lockfd);
		return store_open_fail(STORE_ERR_TRYAGAIN, "recovery needed: "
		    "an earlier recovery did not finish");
	}
	e = store_env_attach(st);
	if (e != STORE_OK && e != STORE_ERR_TRYAGAIN && st->opt.force_recovery) {
		/*
		 * Normal recovery starts at the last checkpoint and trusts
		 * that pages older than it reached the files; when a page
		 * says otherwise ("Log sequence error"), catastrophic
		 * recovery replays every log file still there instead.
		 */
		log_msg(LOG_WARNING, "store: normal recovery failed; trying "
		    "catastrophic recovery from the whole log");
		store_env_remove(st->home);
		st->recover_fatal = true;
		e = store_env_attach(st);
		st->recover_fatal = false;
		if (e == STORE_OK) {
			(void)store_register_reset(st, true);
			log_msg(LOG_NOTICE, "store: catastrophic recovery "
			    "succeeded");
		}
	}
	/*
	 * The recovering process keeps the exclusive lock until it closes
	 * the store (it is a short-lived child: a check, a checkpoint, then
	 * the close). Going down to a shared lock would not be atomic:
	 * flock(2) drops a lock before it takes the new one, and another
	 * recovery could slip in between, replace the environment this
	 * process is attached to, and then have this process's log writes
	 * (a checkpoint, say) land over its own.
	 */
	if (e == STORE_OK && st->opt.force_recovery)
		store_mark_clear(st);
	if (e != STORE_OK)
		store_lock_release(st->lockfd);
	return e;
}

#define STORE_CHECK_WAIT_MS	3000

/*
 * For a process that may recover the store itself (refimapctl, inetd
 * sessions): Berkeley DB lets a process open an environment with
 * DB_REGISTER once only, and an open that finds a dead process inside
 * fails. So a child opens first; when it says that recovery is needed (a
 * process died with the store open), or hangs on a dead process's mutex,
 * another child recovers under the exclusive lock.
 */
static enum store_err
store_precheck(const char *data_dir, const struct store_options *opt)
{
	struct store_options o = *opt;
	struct store *st = NULL;
	pid_t parent = getpid();
	const char *why;
	unsigned waited = 0;
	enum store_err e;
	int status;
	pid_t pid;

	o.failchk_only = true;
	if ((pid = fork()) < 0)
		return store_open_fail(STORE_ERR_IO, "fork: %s",
		    strerror(errno));
	if (pid == 0) {
		store_child_init(parent);
		/* Its answer is its exit status; "recovery needed" is what
		 * it is there to find, not news for the log. */
		log_set_level(LOG_CRIT);
		e = store_open(data_dir, &o, &st, &why);
		store_close(&st);
		_exit(e == STORE_OK ? 0 : e == STORE_ERR_TRYAGAIN ? 75 : 70);
	}
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return store_open_fail(STORE_ERR_IO, "waitpid: %s",
			    strerror(errno));
		if (waited >= STORE_CHECK_WAIT_MS) {
			(void)kill(pid, SIGKILL);
			(void)waitpid(pid, NULL, 0);
			status = 75 << 8;	/* stuck: recovery it is */
			break;
		}
		{
			struct timespec ts = { 0, 10 * 1000 * 1000 };

			(void)nanosleep(&ts, NULL);
		}
		waited += 10;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 75)
		return STORE_OK;	/* the real open says what is wrong */
	o.failchk_only = false;
	o.force_recovery = true;
	if ((pid = fork()) < 0)
		return store_open_fail(STORE_ERR_IO, "fork: %s",
		    strerror(errno));
	if (pid == 0) {
		store_child_init(parent);
		e = store_open(data_dir, &o, &st, &why);
		if (e == STORE_OK && store_checkpoint(st) != STORE_OK)
			log_msg(LOG_WARNING, "store: no checkpoint after "
			    "recovery");
		store_close(&st);
		_exit(e == STORE_OK ? 0 : 75);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return store_open_fail(STORE_ERR_TRYAGAIN, "the store needs "
		    "recovery, which failed (see the log)");
	return STORE_OK;
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

const char *
store_db_version(void)
{
	return db_version(NULL, NULL, NULL);
}

static enum store_err env_open_store(const char *data_dir,
    const struct store_options *opt, struct store **st_r,
    const char **error_r);

enum store_err
store_open(const char *data_dir, const struct store_options *opt,
    struct store **st_r, const char **error_r)
{
	int64_t saved = store_watch_enter();
	enum store_err e = env_open_store(data_dir, opt, st_r, error_r);

	store_watch_leave(saved);
	return e;
}

static enum store_err
env_open_store(const char *data_dir, const struct store_options *opt,
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
	if (store_register_spent == getpid()) {
		buf_free(&path);
		return store_open_fail(STORE_ERR_IO, "this process found the "
		    "store needing recovery and cannot open it again (Berkeley "
		    "DB keeps its registration): reconnect");
	}
	if (store_opened != NULL && store_opened->pid == getpid() &&
	    strcmp(store_opened->home, buf_cstr(&path)) == 0) {
		buf_free(&path);
		return store_open_fail(STORE_ERR_IO, "the store is already "
		    "open in this process");
	}
	if (!opt->failchk_only && !opt->no_recovery && !opt->force_recovery &&
	    (e = store_precheck(data_dir, opt)) != STORE_OK) {
		buf_free(&path);
		return e;
	}
	st = xcalloc(1, sizeof(*st));
	st->home = xstrdup(buf_cstr(&path));
	st->lockfd = -1;
	buf_free(&path);
	st->opt = *opt;
	st->pid = getpid();
	if ((e = store_env_open(st)) != STORE_OK) {
		if (st->lockfd >= 0)
			close(st->lockfd);
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

/*
 * A session maps the pages of the shared regions it touches, and its share
 * of each counts in its memory (PSS). Opening the environment touches far
 * more of them than the session goes on to use (the open walks the thread
 * table, and each read fault maps the pages around it too). MADV_DONTNEED on a shared file mapping only unmaps: the
 * data stays in the file and the page cache (nothing of the store changes;
 * the region mutexes are keyed by file and offset, not by address), and a
 * later touch maps a page again.
 */
void
store_release_maps(struct store *st)
{
	size_t i;

	if (st == NULL || st != store_opened || st->env == NULL ||
	    st->pid != getpid())
		return;
	if (!store_maps_known)
		store_regions_find(st);
	for (i = 0; i < store_nmaps; i++)
		(void)madvise(store_maps[i].addr, store_maps[i].len,
		    MADV_DONTNEED);
}

bool
store_can_open(void)
{
	return store_register_spent != getpid();
}

enum store_err
store_ready(struct store *st)
{
	int64_t saved;
	enum store_err e;

	if (st->all_open)
		return STORE_OK;
	saved = store_watch_enter();
	/* As a transaction does (store/txn.c): an environment that another
	 * process recovered under us is opened again, once. */
	st->panic = false;
	if (st->env == NULL && store_env_reopen(st) < 0)
		e = STORE_ERR_TRYAGAIN;
	else if ((e = store_dbs_open(st, SIZE_MAX)) != STORE_OK &&
	    st->panic)
		e = store_env_reopen(st) < 0 ? STORE_ERR_TRYAGAIN :
		    store_dbs_open(st, SIZE_MAX);
	store_watch_leave(saved);
	return e;
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
	if (st->pid == getpid()) {
		/* A process that takes checkpoints (the daemon's master at
		 * every visit, refimapctl, inetd sessions) also lets the log
		 * files the last one made unnecessary go. */
		if (!st->opt.no_checkpoint)
			store_log_prune(st);
		store_env_close(st);
	}
	if (st->lockfd >= 0)
		close(st->lockfd);
	if (store_opened == st)
		store_opened = NULL;
	xfree(&st->home);
	xfree(stp);
}
