/*
 * ctl.c: the helpers the refimapctl verbs share (admin/ctl.h): messages,
 * exit codes, and opening the store and the passwd file. Kept apart from
 * refimapctl.c's main() so that the unit tests can link the verbs.
 */
#include <sys/prctl.h>
#include <sys/stat.h>

#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "../auth/passwd.h"
#include "../lib/log.h"
#include "../store/store.h"
#include "ctl.h"

void
ctl_err(const char *fmt, ...)
{
	va_list ap;

	fputs("refimapctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

/* A printable, capped copy of an operand for messages. */
const char *
ctl_esc(const char *s, char *out, size_t outlen)
{
	return log_escape((const uint8_t *)s, strlen(s), out, outlen);
}

int
ctl_passwd_exit(enum passwd_result r)
{
	switch (r) {
	case PASSWD_OK:
		return 0;
	case PASSWD_NOUSER:
		return EX_NOUSER;
	case PASSWD_BADPASS:
	case PASSWD_EXISTS:
	case PASSWD_INVALID:
		return EX_DATAERR;
	case PASSWD_IOERR:
		return EX_IOERR;
	}
	return EX_SOFTWARE;
}

int
ctl_store_exit(enum store_err e)
{
	switch (e) {
	case STORE_OK:
		return 0;
	case STORE_ERR_TRYAGAIN:
	case STORE_ERR_NOSPACE:
		return EX_TEMPFAIL;
	default:
		return EX_SOFTWARE;
	}
}

/* ---- helpers shared by the verbs ---- */

/* EX_DATAERR with a message if the name is not a valid user name. */
int
ctl_check_name(const char *user)
{
	char esc[PASSWD_USER_MAX + 16];

	if (passwd_valid_user(user))
		return 0;
	ctl_err("invalid user name \"%s\" (letters, digits and ._@+- only, "
	    "no leading '.', at most %d bytes)", ctl_esc(user, esc,
	    sizeof(esc)), PASSWD_USER_MAX);
	return EX_DATAERR;
}

/* EX_CONFIG with a message unless init has made the store. */
int
ctl_need_store(const struct ctl *ctl)
{
	struct stat st;

	if (stat(ctl->db_path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	ctl_err("no store in %s: run refimapctl init first", ctl->db_path);
	return EX_CONFIG;
}

/*
 * Root becomes the owner of the data directory: the files it makes in the
 * store (Berkeley DB's regions and log files, the lock file) and under
 * run/ must stay writable by the daemon's sessions, which run as that
 * user. The drop is for good (real, effective and saved ids), so nothing
 * of root is left to a process that then reads the store; nothing is done
 * when the owner is root or we are not.
 */
int
ctl_act_as_owner(const struct ctl *ctl)
{
	struct stat sb;

	if (geteuid() != 0)
		return 0;
	if (stat(ctl->data_dir, &sb) < 0) {
		ctl_err("cannot use %s: %s", ctl->data_dir, strerror(errno));
		return EX_CONFIG;
	}
	if (sb.st_uid == 0)
		return 0;
	if (setgroups(0, NULL) < 0 ||
	    setresgid(sb.st_gid, sb.st_gid, sb.st_gid) < 0 ||
	    setresuid(sb.st_uid, sb.st_uid, sb.st_uid) < 0) {
		ctl_err("cannot act as the owner of %s: %s", ctl->data_dir,
		    strerror(errno));
		return EX_OSERR;
	}
	/* Changing ids made the process undumpable; with no privilege
	 * left, it may be dumpable like the owner's other processes (the
	 * sanitizers need that). */
	(void)prctl(PR_SET_DUMPABLE, 1);
	return 0;
}

/* Opens the existing store; an exit code with a message on failure. */
int
ctl_store_open(const struct ctl *ctl, struct store **st_r)
{
	struct store_options opt = { .create = false };
	const char *why = NULL;
	enum store_err e;
	int ret;

	if ((ret = ctl_act_as_owner(ctl)) != 0)
		return ret;
	e = store_open(ctl->data_dir, &opt, st_r, &why);
	if (e != STORE_OK) {
		ctl_err("cannot open the store in %s: %s", ctl->data_dir,
		    why != NULL ? why : store_strerror(e));
		return ctl_store_exit(e);
	}
	return 0;
}

struct ctl_find {
	const char *user;
	bool found;
};

static void
ctl_find_cb(void *ctx, const char *user)
{
	struct ctl_find *cf = ctx;

	if (strcmp(user, cf->user) == 0)
		cf->found = true;
}

/* Whether the passwd file has the user: 0 and *found_r, or an exit code. */
int
ctl_user_exists(const struct ctl *ctl, const char *user, bool *found_r)
{
	struct ctl_find cf = { user, false };
	enum passwd_result r;

	r = passwd_list(ctl->passwd_path, ctl_find_cb, &cf);
	if (r != PASSWD_OK) {
		ctl_err("cannot read %s: %s", ctl->passwd_path,
		    strerror(errno));
		return ctl_passwd_exit(r);
	}
	*found_r = cf.found;
	return 0;
}

/* fsyncs a directory; 0 or -1 with errno. */
int
ctl_sync_dir(const char *dir)
{
	int fd, r, saved;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	r = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}

/*
 * mkdir -p: missing parents with mode 0755, dir itself with mode. 0 or -1
 * with errno.
 */
int
ctl_mkdirs(const char *dir, mode_t mode)
{
	char p[PATH_MAX];
	size_t i, n = strlen(dir);

	if (n >= sizeof(p)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(p, dir, n + 1);
	for (i = 1; i < n; i++) {
		if (p[i] != '/' || p[i - 1] == '/')
			continue;
		p[i] = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -1;
		p[i] = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}
