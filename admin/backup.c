/*
 * backup.c: refimapctl's backup and restore verbs.
 *
 *   backup DIR             hot backup of the store (and the passwd file)
 *                          into DIR, while the server runs
 *   restore [--force] DIR  the backup in DIR becomes the store of the data
 *                          directory, through catastrophic recovery
 *
 * A backup directory holds:
 *   DIR/db/        the database and log files (store/admin.h)
 *   DIR/passwd     a copy of DATA_DIR/passwd, if there was one
 *   DIR/BACKUP     written last: what was copied, and when. A directory
 *                  without it is an interrupted backup; restore refuses
 *                  it.
 *
 * restore refuses while any process uses the store (a session, a deliver,
 * or the daemon's master, which visits the store every few seconds: it
 * watches DATA_DIR/db for a moment), and refuses to replace an existing
 * store or passwd file unless --force; even then the old store is kept,
 * renamed, not removed.
 */
#include <sys/inotify.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "../lib/registry.h"
#include "../store/admin.h"
#include "ctl.h"

#define CTL_BACKUP_MARK		"BACKUP"
/* The daemon's master opens the store at least this often. */
#define CTL_RESTORE_WATCH_MS	2500

static int ATTR_PRINTF(3, 4)
ctl_bpath(char *out, size_t outlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, outlen, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= outlen) {
		ctl_err("path too long: %s", fmt);
		return -1;
	}
	return 0;
}

/* Copies the file from into to (through to.tmp, then rename), mode 0600,
 * fsynced. 0; 1 when from does not exist; -1 with a message. */
static int
ctl_copy_file(const char *from, const char *to, uid_t uid, gid_t gid,
    bool chown_it)
{
	char tmp[PATH_MAX], buf[65536];
	int in, out, saved;
	ssize_t r;

	if ((in = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		if (errno == ENOENT)
			return 1;
		ctl_err("cannot read %s: %s", from, strerror(errno));
		return -1;
	}
	if (ctl_bpath(tmp, sizeof(tmp), "%s.tmp", to) < 0) {
		(void)close(in);
		return -1;
	}
	(void)unlink(tmp);
	out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (out < 0) {
		ctl_err("cannot create %s: %s", tmp, strerror(errno));
		(void)close(in);
		return -1;
	}
	while ((r = read(in, buf, sizeof(buf))) != 0) {
		ssize_t off = 0;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		while (off < r) {
			ssize_t w = write(out, buf + off, (size_t)(r - off));

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				goto fail;
			off += w;
		}
	}
	if ((chown_it && fchown(out, uid, gid) < 0) || fsync(out) < 0)
		goto fail;
	(void)close(in);
	if (close(out) < 0 || rename(tmp, to) < 0) {
		ctl_err("cannot write %s: %s", to, strerror(errno));
		(void)unlink(tmp);
		return -1;
	}
	return 0;
fail:
	saved = errno;
	ctl_err("cannot copy %s to %s: %s", from, tmp, strerror(saved));
	(void)close(in);
	(void)close(out);
	(void)unlink(tmp);
	return -1;
}

/* True if dir is missing or an empty directory. */
static bool
ctl_dir_empty(const char *dir, bool *exists_r)
{
	struct dirent *de;
	DIR *d;
	bool empty = true;

	*exists_r = false;
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT;
	*exists_r = true;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0) {
			empty = false;
			break;
		}
	}
	(void)closedir(d);
	return empty;
}

int
ctl_backup(struct ctl *ctl, int argc, char **argv)
{
	const char *dir = argv[0];
	char partial[PATH_MAX], dbdir[PATH_MAX], path[PATH_MAX];
	char mark[PATH_MAX], when[64];
	struct store_backup_info info;
	struct store *st = NULL;
	const char *why = NULL;
	enum store_err e;
	bool exists, have_passwd;
	time_t now = time(NULL);
	struct tm tm;
	FILE *f;
	int ret, r;

	if ((ret = ctl_need_store(ctl)) != 0)
		return ret;
	if (!ctl_dir_empty(dir, &exists)) {
		ctl_err("%s is not empty: give a new or empty directory",
		    dir);
		return EX_CANTCREAT;
	}
	if (!exists && ctl_mkdirs(dir, 0700) < 0) {
		ctl_err("cannot create %s: %s", dir, strerror(errno));
		return EX_CANTCREAT;
	}
	if (ctl_bpath(partial, sizeof(partial), "%s/db.partial", dir) < 0 ||
	    ctl_bpath(dbdir, sizeof(dbdir), "%s/db", dir) < 0)
		return EX_USAGE;
	if ((ret = ctl_store_open(ctl, &st)) != 0)
		return ret;
	e = store_backup(st, partial, &info, &why);
	store_close(&st);
	if (e != STORE_OK) {
		ctl_err("backup failed: %s (the partial copy stays in %s)",
		    why != NULL ? why : store_strerror(e), partial);
		return e == STORE_ERR_NOSPACE ? EX_TEMPFAIL : EX_IOERR;
	}
	if (ctl_bpath(path, sizeof(path), "%s/passwd", dir) < 0)
		return EX_USAGE;
	if ((r = ctl_copy_file(ctl->passwd_path, path, 0, 0, false)) < 0)
		return EX_IOERR;
	have_passwd = r == 0;
	if (rename(partial, dbdir) < 0) {
		ctl_err("cannot rename %s to %s: %s", partial, dbdir,
		    strerror(errno));
		return EX_IOERR;
	}
	if (localtime_r(&now, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S%z", &tm) == 0)
		snprintf(when, sizeof(when), "%lld", (long long)now);
	if (ctl_bpath(path, sizeof(path), "%s/%s.tmp", dir,
	    CTL_BACKUP_MARK) < 0 ||
	    ctl_bpath(mark, sizeof(mark), "%s/%s", dir, CTL_BACKUP_MARK) < 0)
		return EX_USAGE;
	if ((f = fopen(path, "wxe")) == NULL) {
		ctl_err("cannot create %s: %s", path, strerror(errno));
		return EX_IOERR;
	}
	fprintf(f, "refimapd backup 1\ncreated %s\ndata_dir %s\n"
	    "database_files %u\nlog_files %u (log.%010u to log.%010u)\n"
	    "bytes %llu\npasswd %s\n", when, ctl->data_dir, info.db_files,
	    info.log_files, info.first_log, info.last_log,
	    (unsigned long long)info.bytes, have_passwd ? "yes" : "no");
	if (fflush(f) != 0 || fsync(fileno(f)) < 0 || ferror(f)) {
		ctl_err("cannot write %s: %s", path, strerror(errno));
		(void)fclose(f);
		return EX_IOERR;
	}
	if (fclose(f) != 0) {
		ctl_err("cannot write %s: %s", path, strerror(errno));
		return EX_IOERR;
	}
	if (rename(path, mark) < 0 || ctl_sync_dir(dir) < 0) {
		ctl_err("cannot write %s: %s", mark, strerror(errno));
		return EX_IOERR;
	}
	printf("backup of %s in %s: %u database files, %u log files, "
	    "%llu bytes%s\n", ctl->data_dir, dir, info.db_files,
	    info.log_files, (unsigned long long)info.bytes,
	    have_passwd ? ", passwd" : "");
	return 0;
}

/* ---- restore ---- */

static int
ctl_count_cb(void *ctx, const struct registry_entry *e)
{
	pid_t *pid = ctx;

	if (*pid == 0)
		*pid = e->pid;
	return 0;
}

/*
 * 0 if nothing uses the store in the data directory, else an exit code
 * with a message. The daemon's master opens the store only for moments,
 * every few seconds: DATA_DIR/db is watched for that long.
 */
static int
ctl_restore_idle(const struct ctl *ctl)
{
	struct pollfd pfd;
	struct timespec t0, t1;
	pid_t pid = 0;
	int fd;

	if (store_in_use(ctl->data_dir, &pid)) {
		ctl_err("the store in %s is in use (pid %ld): stop the "
		    "server (and every refimapctl) first", ctl->data_dir,
		    (long)pid);
		return EX_TEMPFAIL;
	}
	if (registry_list(ctl->data_dir, ctl_count_cb, &pid) == 0 &&
	    pid != 0) {
		ctl_err("a session (pid %ld) is logged in to %s: stop the "
		    "server first", (long)pid, ctl->data_dir);
		return EX_TEMPFAIL;
	}
	if ((fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) < 0)
		return 0;
	if (inotify_add_watch(fd, ctl->db_path, IN_OPEN | IN_MODIFY) < 0) {
		(void)close(fd);
		return 0;
	}
	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		long waited;
		int r;

		(void)clock_gettime(CLOCK_MONOTONIC, &t1);
		waited = (long)(t1.tv_sec - t0.tv_sec) * 1000 +
		    (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (waited >= CTL_RESTORE_WATCH_MS)
			break;
		pfd.fd = fd;
		pfd.events = POLLIN;
		r = poll(&pfd, 1, (int)(CTL_RESTORE_WATCH_MS - waited));
		if (r < 0 && errno == EINTR)
			continue;
		if (r > 0) {
			(void)close(fd);
			ctl_err("the store in %s is in use (a process opened "
			    "it just now): stop the server first",
			    ctl->data_dir);
			return EX_TEMPFAIL;
		}
		if (r <= 0)
			break;
	}
	(void)close(fd);
	return 0;
}

int
ctl_restore(struct ctl *ctl, int argc, char **argv)
{
	char bdb[PATH_MAX], mark[PATH_MAX], bpasswd[PATH_MAX];
	char replaced[PATH_MAX], old[PATH_MAX];
	const char *dir = NULL, *why = NULL;
	struct stat sb, dsb;
	enum store_err e;
	bool force = false, store_exists, passwd_exists;
	int i, ret, r;

	memset(&dsb, 0, sizeof(dsb));
	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0)
			force = true;
		else if (dir == NULL)
			dir = argv[i];
		else
			dir = "";
	}
	if (dir == NULL || dir[0] == '\0') {
		ctl_err("usage: refimapctl restore [--force] DIR");
		return EX_USAGE;
	}
	if (ctl_bpath(bdb, sizeof(bdb), "%s/db", dir) < 0 ||
	    ctl_bpath(mark, sizeof(mark), "%s/%s", dir, CTL_BACKUP_MARK) < 0 ||
	    ctl_bpath(bpasswd, sizeof(bpasswd), "%s/passwd", dir) < 0)
		return EX_USAGE;
	if (stat(bdb, &sb) < 0 || !S_ISDIR(sb.st_mode) ||
	    stat(mark, &sb) < 0) {
		ctl_err("%s holds no complete backup (%s/db and %s/%s are "
		    "made by refimapctl backup)", dir, dir, dir,
		    CTL_BACKUP_MARK);
		return EX_NOINPUT;
	}
	store_exists = lstat(ctl->db_path, &sb) == 0;
	passwd_exists = lstat(ctl->passwd_path, &sb) == 0 && sb.st_size > 0;
	if ((store_exists || passwd_exists) && !force) {
		ctl_err("%s already has a %s: restore replaces it only with "
		    "--force (the old one is kept beside it)", ctl->data_dir,
		    store_exists ? "store" : "passwd file");
		return EX_CANTCREAT;
	}
	if (store_exists && (ret = ctl_restore_idle(ctl)) != 0)
		return ret;
	e = store_restore(bdb, ctl->data_dir, force, replaced,
	    sizeof(replaced), &why);
	if (e != STORE_OK) {
		ctl_err("restore failed: %s", why != NULL ? why :
		    store_strerror(e));
		return e == STORE_ERR_EXISTS ? EX_CANTCREAT :
		    e == STORE_ERR_NOTFOUND ? EX_NOINPUT :
		    e == STORE_ERR_NOSPACE ? EX_TEMPFAIL : EX_IOERR;
	}
	if (replaced[0] != '\0')
		printf("the previous store was moved to %s\n", replaced);
	if (stat(bpasswd, &sb) == 0) {
		bool chown_it = geteuid() == 0 &&
		    stat(ctl->data_dir, &dsb) == 0 && dsb.st_uid != 0;

		if (passwd_exists) {
			if (ctl_bpath(old, sizeof(old), "%s.before-restore",
			    ctl->passwd_path) < 0)
				return EX_USAGE;
			if (rename(ctl->passwd_path, old) < 0) {
				ctl_err("cannot move %s aside: %s",
				    ctl->passwd_path, strerror(errno));
				return EX_IOERR;
			}
			printf("the previous passwd file was moved to %s\n",
			    old);
		}
		r = ctl_copy_file(bpasswd, ctl->passwd_path, dsb.st_uid,
		    dsb.st_gid, chown_it);
		if (r != 0 || ctl_sync_dir(ctl->data_dir) < 0)
			return EX_IOERR;
	}
	printf("restored %s into %s\n", dir, ctl->data_dir);
	return 0;
}
