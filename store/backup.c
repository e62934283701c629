/*
 * backup.c: hot backup, restore with catastrophic recovery, log file
 * removal, and whether a store is in use (store/admin.h).
 *
 * The hot backup follows Berkeley DB's procedure: the database files
 * first, each page read through the environment's cache so that none is
 * copied while being written (DB_ENV->backup), then all the log files,
 * flushed first. The copies of the database files may hold any mixture of
 * old and new pages; the log holds every change since the checkpoint
 * taken just before, so catastrophic recovery of the copy gives the store
 * as it was at some moment while the log was being copied.
 *
 * That needs every log file from that checkpoint on to survive until it
 * is copied. Log files are removed only by store_log_prune, which takes
 * DATA_DIR/backup.lock exclusively without waiting and leaves the files
 * alone when it cannot; a backup holds the same lock shared for its whole
 * length.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/buf.h"
#include "../lib/log.h"
#include "../lib/xalloc.h"
#include "admin.h"
#include "store_int.h"

#define BACKUP_PATH_MAX		4096
#define BACKUP_COPY_BUF		(256u * 1024)
#define BACKUP_CACHE_BYTES	(4u * 1024 * 1024)
#define BACKUP_FILE_MODE	0600
#define BACKUP_DIR_MODE		0700
/* Opened read-only (flock needs no more). Every process that opens it
 * runs as the owner of DATA_DIR (refimapctl run by root takes that
 * owner's ids first), so nobody else needs to read it. */
#define BACKUP_LOCK_MODE	0600

static _Thread_local char backup_errbuf[512];

static enum store_err ATTR_PRINTF(2, 3)
backup_fail(enum store_err e, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(backup_errbuf, sizeof(backup_errbuf), fmt, ap);
	va_end(ap);
	if (n < 0)
		snprintf(backup_errbuf, sizeof(backup_errbuf), "failed");
	log_msg(LOG_ERR, "store: %s", backup_errbuf);
	return e;
}

static enum store_err
backup_errno_err(int err)
{
	return err == ENOSPC || err == EDQUOT ? STORE_ERR_NOSPACE :
	    STORE_ERR_IO;
}

/* The data directory of a store whose home is DATA_DIR/db, into out. */
static int
backup_data_dir(const char *home, char *out, size_t outlen)
{
	size_t n = strlen(home);

	if (n < 3 || strcmp(home + n - 3, "/db") != 0 || n - 3 >= outlen)
		return -1;
	memcpy(out, home, n - 3);
	out[n - 3] = '\0';
	if (out[0] == '\0')
		memcpy(out, "/", 2);
	return 0;
}

static int ATTR_PRINTF(3, 4)
backup_path(char *out, size_t outlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, outlen, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* Opens (creating) DATA_DIR/backup.lock for the store with home
 * DATA_DIR/db; -1 with errno. */
static int
backup_lock_open(const char *home)
{
	char dir[BACKUP_PATH_MAX], path[BACKUP_PATH_MAX];

	if (backup_data_dir(home, dir, sizeof(dir)) < 0) {
		errno = EINVAL;
		return -1;
	}
	if (backup_path(path, sizeof(path), "%s/%s", dir,
	    STORE_BACKUP_LOCK) < 0)
		return -1;
	return open(path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    BACKUP_LOCK_MODE);
}

/*
 * Whether enough log files have gathered to be worth a log_archive: most
 * closes then cost one directory read, and the log region sees the rare
 * removal only (a process killed inside it holds every writer up until
 * the store is recovered).
 */
#define BACKUP_PRUNE_FILES	3

static bool
backup_logs_to_prune(const char *home)
{
	struct dirent *de;
	unsigned n = 0;
	DIR *d;

	if ((d = opendir(home)) == NULL)
		return false;
	while (n < BACKUP_PRUNE_FILES && (de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "log.", 4) == 0)
			n++;
	closedir(d);
	return n >= BACKUP_PRUNE_FILES;
}

void
store_log_prune(struct store *st)
{
	int fd, ret;

	if (st == NULL || st->env == NULL || !backup_logs_to_prune(st->home))
		return;
	if ((fd = backup_lock_open(st->home)) < 0) {
		/* A process that may not write in DATA_DIR could not remove
		 * log files anyway (a reader run by another user). */
		log_msg(errno == EACCES || errno == EPERM || errno == EROFS ?
		    LOG_DEBUG : LOG_WARNING, "store: log files kept: cannot "
		    "open the backup lock: %s", strerror(errno));
		return;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		/* A backup is copying: it needs every log file. */
		log_msg(LOG_DEBUG, "store: log files kept while a backup "
		    "runs");
		(void)close(fd);
		return;
	}
	if ((ret = st->env->log_archive(st->env, NULL, DB_ARCH_REMOVE)) != 0)
		log_msg(LOG_WARNING, "store: removing old log files: %s",
		    db_strerror(ret));
	(void)close(fd);
}

bool
store_in_use(const char *data_dir, pid_t *pid_r)
{
	char path[BACKUP_PATH_MAX];
	struct flock fl;
	int fd;
	bool used = false;

	*pid_r = 0;
	if (backup_path(path, sizeof(path), "%s/db/__db.register",
	    data_dir) < 0)
		return false;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return false;
	/*
	 * Each process with the environment open holds a write lock on
	 * its slot of the register file (and one on byte 1 while it
	 * opens): any lock another process holds means the store is used.
	 */
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 0;
	if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) {
		used = true;
		*pid_r = fl.l_pid;
	}
	(void)close(fd);
	return used;
}

/* fsyncs path (a file or a directory). 0 or -1 with errno. */
static int
backup_fsync_path(const char *path, bool dir)
{
	int fd, r, saved;

	fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) |
	    O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	r = fsync(fd);
	saved = errno;
	(void)close(fd);
	errno = saved;
	return r;
}

/* "log." followed by ten digits: its number, else 0. */
static unsigned
backup_log_number(const char *name)
{
	unsigned long v = 0;
	size_t i;

	if (strncmp(name, "log.", 4) != 0 || strlen(name) != 14)
		return 0;
	for (i = 4; i < 14; i++) {
		if (name[i] < '0' || name[i] > '9')
			return 0;
		v = v * 10 + (unsigned long)(name[i] - '0');
	}
	return v > 0 && v <= 0x7fffffffUL ? (unsigned)v : 0;
}

static bool
backup_is_db_file(const char *name)
{
	size_t n = strlen(name);

	return n > 3 && strcmp(name + n - 3, ".db") == 0 &&
	    strncmp(name, "__db", 4) != 0 && name[0] != '.';
}

/* Counts and fsyncs what a backup wrote into dir. */
static enum store_err
backup_tally(const char *dir, struct store_backup_info *info)
{
	char path[BACKUP_PATH_MAX];
	struct dirent *de;
	struct stat sb;
	DIR *d;

	memset(info, 0, sizeof(*info));
	if ((d = opendir(dir)) == NULL)
		return backup_fail(STORE_ERR_IO, "%s: %s", dir,
		    strerror(errno));
	while ((de = readdir(d)) != NULL) {
		unsigned lognum = backup_log_number(de->d_name);

		if (lognum == 0 && !backup_is_db_file(de->d_name))
			continue;
		if (backup_path(path, sizeof(path), "%s/%s", dir,
		    de->d_name) < 0 || lstat(path, &sb) < 0 ||
		    !S_ISREG(sb.st_mode) ||
		    backup_fsync_path(path, false) < 0) {
			int saved = errno;

			(void)closedir(d);
			return backup_fail(backup_errno_err(saved), "%s/%s: %s",
			    dir, de->d_name, strerror(saved));
		}
		info->bytes += (uint64_t)sb.st_size;
		if (lognum == 0) {
			info->db_files++;
			continue;
		}
		info->log_files++;
		if (info->first_log == 0 || lognum < info->first_log)
			info->first_log = lognum;
		if (lognum > info->last_log)
			info->last_log = lognum;
	}
	(void)closedir(d);
	if (backup_fsync_path(dir, true) < 0)
		return backup_fail(backup_errno_err(errno), "%s: %s", dir,
		    strerror(errno));
	return STORE_OK;
}

/* Every database the store has open must be in the copy. */
static enum store_err
backup_check_files(struct store *st, const char *dir)
{
	DB **slots[STORE_NDBS], *dbs[STORE_NDBS];
	char path[BACKUP_PATH_MAX];
	struct stat sb;
	size_t i;

	store_db_slots(st, slots);
	for (i = 0; i < N_ELEMENTS(dbs); i++)
		dbs[i] = *slots[i];
	for (i = 0; i < N_ELEMENTS(dbs); i++) {
		const char *file = NULL, *name = NULL;

		if (dbs[i] == NULL ||
		    dbs[i]->get_dbname(dbs[i], &file, &name) != 0 ||
		    file == NULL)
			return backup_fail(STORE_ERR_IO, "a database of the "
			    "store is not open");
		if (backup_path(path, sizeof(path), "%s/%s", dir, file) < 0 ||
		    stat(path, &sb) < 0)
			return backup_fail(STORE_ERR_IO, "the backup lacks %s",
			    file);
	}
	return STORE_OK;
}

enum store_err
store_backup(struct store *st, const char *target_db,
    struct store_backup_info *info_r, const char **error_r)
{
	int64_t saved;
	enum store_err e;
	int fd, ret;

	*error_r = backup_errbuf;
	memset(info_r, 0, sizeof(*info_r));
	if (st->env == NULL && store_env_reopen(st) < 0)
		return backup_fail(STORE_ERR_IO, "the store is not open");
	if (mkdir(target_db, BACKUP_DIR_MODE) < 0)
		return backup_fail(errno == EEXIST ? STORE_ERR_EXISTS :
		    backup_errno_err(errno), "%s: %s", target_db,
		    strerror(errno));
	if ((fd = backup_lock_open(st->home)) < 0)
		return backup_fail(STORE_ERR_IO, "cannot open the backup "
		    "lock: %s", strerror(errno));
	/* Log removal holds the lock only for moments: wait for it. */
	while (flock(fd, LOCK_SH) < 0) {
		if (errno != EINTR) {
			int err = errno;

			(void)close(fd);
			return backup_fail(STORE_ERR_IO, "cannot take the "
			    "backup lock: %s", strerror(err));
		}
	}
	saved = store_watch_enter();
	/* A fresh checkpoint keeps the log that recovery replays short. */
	ret = st->env->txn_checkpoint(st->env, 0, 0, DB_FORCE);
	if (ret != 0) {
		e = backup_fail(store_dberr(st, ret, "backup checkpoint"),
		    "checkpoint before the backup: %s", db_strerror(ret));
	} else if ((ret = st->env->backup(st->env, target_db, 0)) != 0) {
		e = backup_fail(ret == ENOSPC ? STORE_ERR_NOSPACE :
		    STORE_ERR_IO, "backup into %s: %s", target_db,
		    db_strerror(ret));
	} else {
		e = STORE_OK;
	}
	store_watch_leave(saved);
	(void)close(fd);	/* log files may go again */
	if (e == STORE_OK && (e = backup_tally(target_db, info_r)) ==
	    STORE_OK)
		e = backup_check_files(st, target_db);
	if (e == STORE_OK && info_r->log_files == 0)
		e = backup_fail(STORE_ERR_IO, "the backup holds no log file");
	if (e == STORE_OK)
		*error_r = NULL;
	return e;
}

/* ---- restore ---- */

static void
backup_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	(void)env;
	(void)pfx;
	log_msg(LOG_ERR, "db: %s", msg);
}

/* Catastrophic recovery (DB_RECOVER_FATAL) of the environment in dir. */
static enum store_err
backup_recover_fatal(const char *dir)
{
	DB_ENV *env;
	int ret;

	if ((ret = db_env_create(&env, 0)) != 0)
		return backup_fail(STORE_ERR_IO, "db_env_create: %s",
		    db_strerror(ret));
	env->set_errcall(env, backup_errcall);
	if ((ret = env->set_cachesize(env, 0, BACKUP_CACHE_BYTES, 1)) != 0 ||
	    (ret = env->set_lg_filemode(env, BACKUP_FILE_MODE)) != 0 ||
	    (ret = env->log_set_config(env, DB_LOG_AUTO_REMOVE, 0)) != 0) {
		(void)env->close(env, 0);
		return backup_fail(STORE_ERR_IO, "configure: %s",
		    db_strerror(ret));
	}
	/*
	 * A private environment: the regions live in this process only,
	 * so nothing of this run is left for the server to trip over.
	 */
	ret = env->open(env, dir, DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK |
	    DB_INIT_LOG | DB_INIT_MPOOL | DB_PRIVATE | DB_RECOVER_FATAL,
	    BACKUP_FILE_MODE);
	if (ret != 0) {
		(void)env->close(env, 0);
		return backup_fail(ret == ENOSPC ? STORE_ERR_NOSPACE :
		    STORE_ERR_IO, "catastrophic recovery in %s: %s", dir,
		    db_strerror(ret));
	}
	/* Recovery ends with a checkpoint: the older log files are no
	 * longer needed. */
	if ((ret = env->txn_checkpoint(env, 0, 0, DB_FORCE)) != 0 ||
	    (ret = env->log_archive(env, NULL, DB_ARCH_REMOVE)) != 0) {
		(void)env->close(env, 0);
		return backup_fail(STORE_ERR_IO, "after recovery in %s: %s",
		    dir, db_strerror(ret));
	}
	if ((ret = env->close(env, 0)) != 0)
		return backup_fail(STORE_ERR_IO, "closing %s: %s", dir,
		    db_strerror(ret));
	return STORE_OK;
}

/* Copies the regular file from to a new file to (mode 0600), fsynced. */
static enum store_err
backup_copy_file(const char *from, const char *to, uid_t uid, gid_t gid,
    bool chown_it)
{
	uint8_t *buf;
	int in, out, saved;
	enum store_err e = STORE_OK;

	if ((in = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return backup_fail(STORE_ERR_IO, "%s: %s", from,
		    strerror(errno));
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    BACKUP_FILE_MODE);
	if (out < 0) {
		saved = errno;
		(void)close(in);
		return backup_fail(backup_errno_err(saved), "%s: %s", to,
		    strerror(saved));
	}
	buf = xmalloc(BACKUP_COPY_BUF);
	for (;;) {
		ssize_t r = read(in, buf, BACKUP_COPY_BUF), off = 0;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = backup_fail(STORE_ERR_IO, "%s: %s", from,
			    strerror(errno));
			break;
		}
		if (r == 0)
			break;
		while (off < r) {
			ssize_t w = write(out, buf + off, (size_t)(r - off));

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				saved = w < 0 ? errno : EIO;
				e = backup_fail(backup_errno_err(saved),
				    "%s: %s", to, strerror(saved));
				break;
			}
			off += w;
		}
		if (e != STORE_OK)
			break;
	}
	xfree(&buf);
	if (e == STORE_OK && chown_it && fchown(out, uid, gid) < 0)
		e = backup_fail(STORE_ERR_IO, "chown %s: %s", to,
		    strerror(errno));
	if (e == STORE_OK && fsync(out) < 0)
		e = backup_fail(backup_errno_err(errno), "%s: %s", to,
		    strerror(errno));
	(void)close(in);
	if (close(out) < 0 && e == STORE_OK)
		e = backup_fail(backup_errno_err(errno), "%s: %s", to,
		    strerror(errno));
	return e;
}

/* Copies the database and log files of a backup's db directory. */
static enum store_err
backup_copy_dir(const char *from, const char *to, uid_t uid, gid_t gid,
    bool chown_it, unsigned *ndb_r, unsigned *nlog_r)
{
	char src[BACKUP_PATH_MAX], dst[BACKUP_PATH_MAX];
	struct dirent *de;
	enum store_err e = STORE_OK;
	struct stat sb;
	DIR *d;

	*ndb_r = *nlog_r = 0;
	if ((d = opendir(from)) == NULL)
		return backup_fail(STORE_ERR_NOTFOUND, "%s: %s", from,
		    strerror(errno));
	while (e == STORE_OK && (de = readdir(d)) != NULL) {
		bool log = backup_log_number(de->d_name) != 0;

		if (!log && !backup_is_db_file(de->d_name))
			continue;
		if (backup_path(src, sizeof(src), "%s/%s", from,
		    de->d_name) < 0 ||
		    backup_path(dst, sizeof(dst), "%s/%s", to,
		    de->d_name) < 0) {
			e = backup_fail(STORE_ERR_IO, "%s: path too long",
			    from);
			break;
		}
		if (lstat(src, &sb) < 0 || !S_ISREG(sb.st_mode))
			continue;
		e = backup_copy_file(src, dst, uid, gid, chown_it);
		if (log)
			(*nlog_r)++;
		else
			(*ndb_r)++;
	}
	(void)closedir(d);
	return e;
}

/* Removes a staging directory and the files in it (no subdirectories). */
static void
backup_remove_dir(const char *dir)
{
	char path[BACKUP_PATH_MAX];
	struct dirent *de;
	DIR *d;

	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			if (backup_path(path, sizeof(path), "%s/%s", dir,
			    de->d_name) == 0)
				(void)unlink(path);
		}
		(void)closedir(d);
	}
	(void)rmdir(dir);
}

enum store_err
store_restore(const char *backup_db, const char *data_dir, bool replace,
    char *replaced_r, size_t replaced_len, const char **error_r)
{
	char stage[BACKUP_PATH_MAX], live[BACKUP_PATH_MAX];
	char old[BACKUP_PATH_MAX], stamp[32];
	struct stat sb;
	unsigned ndb, nlog;
	enum store_err e;
	bool chown_it = false, exists;
	time_t now = time(NULL);
	struct tm tm;
	uid_t uid = 0;
	gid_t gid = 0;

	*error_r = backup_errbuf;
	if (replaced_len > 0)
		replaced_r[0] = '\0';
	if (backup_path(stage, sizeof(stage), "%s/db.restore.%ld", data_dir,
	    (long)getpid()) < 0 ||
	    backup_path(live, sizeof(live), "%s/db", data_dir) < 0)
		return backup_fail(STORE_ERR_IO, "data directory name too "
		    "long");
	exists = lstat(live, &sb) == 0;
	if (exists && !replace)
		return backup_fail(STORE_ERR_EXISTS, "%s exists", live);
	if (mkdir(data_dir, BACKUP_DIR_MODE) < 0 && errno != EEXIST)
		return backup_fail(backup_errno_err(errno), "mkdir %s: %s",
		    data_dir, strerror(errno));
	if (stat(data_dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return backup_fail(STORE_ERR_IO, "%s is not a directory",
		    data_dir);
	/* Root restores for the service user who owns the data directory. */
	if (geteuid() == 0 && sb.st_uid != 0) {
		chown_it = true;
		uid = sb.st_uid;
		gid = sb.st_gid;
	}
	if (mkdir(stage, BACKUP_DIR_MODE) < 0)
		return backup_fail(backup_errno_err(errno), "mkdir %s: %s",
		    stage, strerror(errno));
	if (chown_it && chown(stage, uid, gid) < 0) {
		e = backup_fail(STORE_ERR_IO, "chown %s: %s", stage,
		    strerror(errno));
		goto fail;
	}
	if ((e = backup_copy_dir(backup_db, stage, uid, gid, chown_it, &ndb,
	    &nlog)) != STORE_OK)
		goto fail;
	if (ndb == 0 || nlog == 0) {
		e = backup_fail(STORE_ERR_NOTFOUND, "%s holds no %s", backup_db,
		    ndb == 0 ? "database files" : "log files");
		goto fail;
	}
	if ((e = backup_recover_fatal(stage)) != STORE_OK)
		goto fail;
	/* Recovery wrote files of its own (the new log): theirs too. */
	if (chown_it) {
		char path[BACKUP_PATH_MAX];
		struct dirent *de;
		DIR *d = opendir(stage);

		while (d != NULL && (de = readdir(d)) != NULL) {
			if (de->d_name[0] != '.' &&
			    backup_path(path, sizeof(path), "%s/%s", stage,
			    de->d_name) == 0)
				(void)lchown(path, uid, gid);
		}
		if (d != NULL)
			(void)closedir(d);
	}
	if (backup_fsync_path(stage, true) < 0) {
		e = backup_fail(backup_errno_err(errno), "%s: %s", stage,
		    strerror(errno));
		goto fail;
	}
	if (exists) {
		if (localtime_r(&now, &tm) == NULL ||
		    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm) == 0 ||
		    backup_path(old, sizeof(old), "%s/db.replaced.%s", data_dir,
		    stamp) < 0 || rename(live, old) < 0) {
			e = backup_fail(STORE_ERR_IO, "cannot move %s aside: %s",
			    live, strerror(errno));
			goto fail;
		}
		if (replaced_len > 0 && strlen(old) < replaced_len)
			memcpy(replaced_r, old, strlen(old) + 1);
	}
	if (rename(stage, live) < 0) {
		e = backup_fail(STORE_ERR_IO, "rename %s to %s: %s", stage,
		    live, strerror(errno));
		if (exists)
			(void)rename(old, live);
		goto fail;
	}
	if (backup_fsync_path(data_dir, true) < 0)
		return backup_fail(backup_errno_err(errno), "%s: %s", data_dir,
		    strerror(errno));
	*error_r = NULL;
	return STORE_OK;
fail:
	backup_remove_dir(stage);
	return e;
}
