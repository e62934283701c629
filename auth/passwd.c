/*
 * passwd.c: the user file DATA_DIR/passwd and password checking.
 *
 * Format: one "user:hash" line per user; lines that are blank or start
 * with '#' are comments; a line without ':' is ignored. The hash is the
 * rest of the line (one trailing CR is dropped). The first line of a user
 * counts. Checking reads the file on every call: it is small and each
 * session is its own process, so changes need no reload.
 *
 * Writers (refimapctl) serialise on an exclusive flock of PATH.lock, build
 * the new contents in memory keeping every other line byte for byte, and
 * replace the file atomically: PATH.tmp written with mode 0600 and the old
 * file's owner, fsync, rename, fsync of the directory.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hashmem.h"
#include "passwd.h"
#include "../lib/buf.h"
#include "../lib/log.h"
#include "../lib/xalloc.h"

/* A passwd file larger than this is refused as broken. */
#define PASSWD_FILE_MAX	(16u * 1024 * 1024)

/*
 * Checked against for unknown users, so that they cost one yescrypt run
 * like known ones (libcrypt's default cost). Nobody knows its password,
 * and its result is never accepted anyway.
 */
static const char passwd_dummy_hash[] =
    "$y$j9T$G..RfoCkYIzbDAy8gzs06/$"
    "W303CeTJG6YtDRNNDEPW1DE3n64fT8BxHg.ZkKH/os3";

enum passwd_op {
	PASSWD_OP_ADD,
	PASSWD_OP_REPLACE,
	PASSWD_OP_DELETE,
};

bool
passwd_valid_user(const char *user)
{
	size_t i;

	if (user == NULL || user[0] == '\0' || user[0] == '.')
		return false;
	for (i = 0; user[i] != '\0'; i++) {
		char c = user[i];

		if (i >= PASSWD_USER_MAX)
			return false;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '@' || c == '+' || c == '-')
			continue;
		return false;
	}
	return true;
}

/* Logs a failed system call without losing errno. */
static void
passwd_log_errno(const char *what, const char *path)
{
	int saved = errno;

	log_msg(LOG_ERR, "passwd: %s %s: %s", what, path, strerror(saved));
	errno = saved;
}

/*
 * Reads the whole file into b. Returns 0, or -1 with errno set (ENOENT if
 * it does not exist, EFBIG if it is larger than PASSWD_FILE_MAX).
 */
static int
passwd_read(const char *path, struct buf *b)
{
	uint8_t chunk[4096];
	ssize_t n;
	int fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (buf_add(b, chunk, (size_t)n) < 0) {
			errno = EFBIG;
			n = -1;
			break;
		}
	}
	saved = errno;
	explicit_bzero(chunk, sizeof(chunk));
	close(fd);
	if (n < 0) {
		errno = saved;
		return -1;
	}
	return 0;
}

/* Wipes (the file holds hashes) and frees a file buffer. */
static void
passwd_buf_wipe(struct buf *b)
{
	if (b->data != NULL)
		explicit_bzero(b->data, b->cap);
	buf_free(b);
}

/*
 * Steps through the lines of b from *off: *line_r and *len_r get the line
 * without its '\n', *off moves past it. False at the end.
 */
static bool
passwd_next_line(const struct buf *b, size_t *off, const char **line_r,
    size_t *len_r)
{
	const char *start, *nl;
	size_t left;

	if (*off >= b->len)
		return false;
	start = (const char *)b->data + *off;
	left = b->len - *off;
	if ((nl = memchr(start, '\n', left)) != NULL) {
		*len_r = (size_t)(nl - start);
		*off += *len_r + 1;
	} else {
		*len_r = left;
		*off = b->len;
	}
	*line_r = start;
	return true;
}

/* Length of the user part of a line (before ':'), 0 for comments. */
static size_t
passwd_line_user(const char *line, size_t len)
{
	const char *colon;

	if (len == 0 || line[0] == '#')
		return 0;
	if ((colon = memchr(line, ':', len)) == NULL)
		return 0;
	return (size_t)(colon - line);
}

static bool
passwd_line_is(const char *line, size_t len, const char *user)
{
	size_t ulen = passwd_line_user(line, len);

	return ulen > 0 && ulen == strlen(user) &&
	    memcmp(line, user, ulen) == 0;
}

/*
 * Finds the user's hash in the file. Returns a fresh NUL-terminated copy
 * (the caller wipes and frees it), or NULL if the user has no line.
 */
static char *
passwd_find(const struct buf *b, const char *user)
{
	const char *line;
	size_t off = 0, len, ulen;

	while (passwd_next_line(b, &off, &line, &len)) {
		if (!passwd_line_is(line, len, user))
			continue;
		ulen = strlen(user) + 1;
		len -= ulen;
		if (len > 0 && line[ulen + len - 1] == '\r')
			len--;
		return xmemdup0(line + ulen, len);
	}
	return NULL;
}

/*
 * False for hashes that must never let anyone in: empty, "*..." (no
 * password, or libcrypt's failure tokens), "!..." (locked), DES (no '$'
 * prefix) and the broken MD5 ("$1$") and NT ("$3$") schemes.
 */
static bool
passwd_hash_usable(const char *hash)
{
	if (hash[0] == '\0' || hash[0] == '*' || hash[0] == '!')
		return false;
	if (hash[0] != '$')
		return false;
	if (strncmp(hash, "$1$", 3) == 0 || strncmp(hash, "$3$", 3) == 0)
		return false;
	return true;
}

/* Compares two strings in time that depends only on their lengths. */
static bool
passwd_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i;
	volatile uint8_t diff = 0;

	if (la != lb)
		return false;
	for (i = 0; i < la; i++)
		diff |= (uint8_t)a[i] ^ (uint8_t)b[i];
	return diff == 0;
}

enum passwd_result
passwd_check(const char *path, const char *user, const uint8_t *pass,
    size_t passlen)
{
	struct buf file = BUF_INITIALIZER(PASSWD_FILE_MAX);
	struct crypt_data *cd;
	char phrase[CRYPT_MAX_PASSPHRASE_SIZE];
	char esc[PASSWD_USER_MAX * 4 + 8];
	char *hash = NULL;
	const char *setting, *res;
	bool known, usable, passok, match;

	if (passwd_read(path, &file) < 0) {
		passwd_log_errno("cannot read", path);
		passwd_buf_wipe(&file);
		return PASSWD_IOERR;
	}
	if (passwd_valid_user(user))
		hash = passwd_find(&file, user);
	passwd_buf_wipe(&file);
	known = hash != NULL;
	usable = known && passwd_hash_usable(hash);
	if (known && !usable) {
		log_msg(LOG_NOTICE, "passwd: user %s has a refused hash kind",
		    log_escape((const uint8_t *)user, strlen(user), esc,
		    sizeof(esc)));
	}

	/*
	 * Too long for libcrypt, or a NUL that would cut it short: hash a
	 * stand-in instead so the cost is the same, and fail.
	 */
	passok = passlen > 0 && passlen < sizeof(phrase) &&
	    passlen <= PASSWD_PASS_MAX && memchr(pass, '\0', passlen) == NULL;
	if (passok) {
		memcpy(phrase, pass, passlen);
		phrase[passlen] = '\0';
	} else {
		memcpy(phrase, "-", 2);
	}
	setting = usable ? hash : passwd_dummy_hash;

	cd = xcalloc(1, sizeof(*cd));
	hashmem_begin();
	res = crypt_r(phrase, setting, cd);
	hashmem_end();
	match = res != NULL && res[0] != '*' && passwd_equal(res, setting);
	if (usable && (res == NULL || res[0] == '*')) {
		log_msg(LOG_ERR, "passwd: crypt failed for the hash of %s",
		    log_escape((const uint8_t *)user, strlen(user), esc,
		    sizeof(esc)));
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	explicit_bzero(phrase, sizeof(phrase));
	if (hash != NULL) {
		explicit_bzero(hash, strlen(hash));
		free(hash);
	}

	if (!known)
		return PASSWD_NOUSER;
	if (!usable || !passok || !match)
		return PASSWD_BADPASS;
	return PASSWD_OK;
}

enum passwd_result
passwd_hash(const char *pass, const char *prefix, char *out, size_t outlen)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	const char *res;
	size_t len = strlen(pass), rlen;
	enum passwd_result ret = PASSWD_OK;
	int saved;

	if (len == 0 || len > PASSWD_PASS_MAX ||
	    len >= CRYPT_MAX_PASSPHRASE_SIZE || strpbrk(pass, "\r\n") != NULL)
		return PASSWD_INVALID;
	if (crypt_gensalt_rn(prefix, 0, NULL, 0, salt, sizeof(salt)) == NULL) {
		saved = errno;
		log_msg(LOG_ERR, "passwd: cannot make a salt for prefix %s: %s",
		    prefix == NULL ? "(default)" : prefix, strerror(saved));
		errno = saved;
		return PASSWD_IOERR;
	}
	cd = xcalloc(1, sizeof(*cd));
	hashmem_begin();
	res = crypt_r(pass, salt, cd);
	hashmem_end();
	if (res == NULL || res[0] == '*') {
		log_msg(LOG_ERR, "passwd: crypt failed for setting %s", salt);
		errno = EINVAL;
		ret = PASSWD_IOERR;
	} else if ((rlen = strlen(res)) >= outlen) {
		log_msg(LOG_ERR, "passwd: hash too long (%zu bytes)", rlen);
		errno = ERANGE;
		ret = PASSWD_IOERR;
	} else {
		memcpy(out, res, rlen + 1);
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ret;
}

/* Writes all of p to fd. 0 or -1 with errno. */
static int
passwd_write_all(int fd, const uint8_t *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* fsyncs the directory that holds path. 0 or -1 with errno. */
static int
passwd_sync_dir(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n;
	int fd, r, saved;

	if (slash == NULL) {
		memcpy(dir, ".", 2);
	} else {
		n = slash == path ? 1 : (size_t)(slash - path);
		if (n >= sizeof(dir)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	r = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}

/*
 * Writes contents to path through path.tmp: mode 0600, the owner of the
 * old file (st, if old is true), fsync, rename, fsync of the directory.
 */
static enum passwd_result
passwd_replace_file(const char *path, const struct buf *contents, bool old,
    const struct stat *st)
{
	char tmp[PATH_MAX];
	int fd, n;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		passwd_log_errno("path too long", path);
		return PASSWD_IOERR;
	}
	/* We hold the lock: a leftover is from a writer that died. */
	if (unlink(tmp) < 0 && errno != ENOENT) {
		passwd_log_errno("cannot remove", tmp);
		return PASSWD_IOERR;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd < 0) {
		passwd_log_errno("cannot create", tmp);
		return PASSWD_IOERR;
	}
	if (fchmod(fd, 0600) < 0) {
		passwd_log_errno("cannot chmod", tmp);
		goto fail;
	}
	/* A root admin must not leave a file the service user cannot read. */
	if (old && (st->st_uid != geteuid() || st->st_gid != getegid()) &&
	    fchown(fd, st->st_uid, st->st_gid) < 0) {
		passwd_log_errno("cannot give the old owner to", tmp);
		goto fail;
	}
	if (passwd_write_all(fd, contents->data, contents->len) < 0) {
		passwd_log_errno("cannot write", tmp);
		goto fail;
	}
	if (fsync(fd) < 0) {
		passwd_log_errno("cannot fsync", tmp);
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		passwd_log_errno("cannot close", tmp);
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		passwd_log_errno("cannot rename over", path);
		goto fail;
	}
	if (passwd_sync_dir(path) < 0) {
		passwd_log_errno("cannot fsync the directory of", path);
		return PASSWD_IOERR;
	}
	return PASSWD_OK;
fail:
	n = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = n;
	return PASSWD_IOERR;
}

/* Takes the writers' lock: returns its fd (closing it unlocks) or -1. */
static int
passwd_lock(const char *path)
{
	char lock[PATH_MAX];
	int fd, n;

	n = snprintf(lock, sizeof(lock), "%s.lock", path);
	if (n < 0 || (size_t)n >= sizeof(lock)) {
		errno = ENAMETOOLONG;
		passwd_log_errno("path too long", path);
		return -1;
	}
	fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		passwd_log_errno("cannot open", lock);
		return -1;
	}
	while (flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		passwd_log_errno("cannot lock", lock);
		n = errno;
		close(fd);
		errno = n;
		return -1;
	}
	return fd;
}

/* Adds, replaces or deletes the user's line under the lock. */
static enum passwd_result
passwd_edit(const char *path, const char *user, const char *hash,
    enum passwd_op op)
{
	struct buf file = BUF_INITIALIZER(PASSWD_FILE_MAX);
	struct buf out = BUF_INITIALIZER(PASSWD_FILE_MAX);
	enum passwd_result ret = PASSWD_OK;
	struct stat st;
	const char *line;
	size_t off = 0, len, lineend;
	bool old = true, found = false;
	int lockfd, saved;

	if (!passwd_valid_user(user))
		return PASSWD_INVALID;
	if (op != PASSWD_OP_DELETE && (hash[0] == '\0' ||
	    strlen(hash) >= PASSWD_HASH_MAX || strpbrk(hash, ":\r\n") != NULL))
		return PASSWD_INVALID;
	if ((lockfd = passwd_lock(path)) < 0)
		return PASSWD_IOERR;

	if (stat(path, &st) < 0) {
		if (errno != ENOENT) {
			passwd_log_errno("cannot stat", path);
			ret = PASSWD_IOERR;
			goto done;
		}
		old = false;
	} else if (passwd_read(path, &file) < 0) {
		passwd_log_errno("cannot read", path);
		ret = PASSWD_IOERR;
		goto done;
	}

	while (passwd_next_line(&file, &off, &line, &len)) {
		/* The line with its '\n', if it had one. */
		lineend = off - (size_t)(line - (const char *)file.data);
		if (!passwd_line_is(line, len, user)) {
			if (buf_add(&out, line, lineend) < 0)
				goto toobig;
			continue;
		}
		found = true;
		if (op == PASSWD_OP_ADD || op == PASSWD_OP_DELETE)
			continue;
		if (buf_addf(&out, "%s:%s\n", user, hash) < 0)
			goto toobig;
	}
	if (op == PASSWD_OP_ADD && found) {
		ret = PASSWD_EXISTS;
		goto done;
	}
	if (op != PASSWD_OP_ADD && !found) {
		ret = PASSWD_NOUSER;
		goto done;
	}
	if (op == PASSWD_OP_ADD) {
		/* The file passed through whole: keep it as it was. */
		buf_reset(&out);
		if (buf_add(&out, file.data, file.len) < 0 ||
		    (out.len > 0 && out.data[out.len - 1] != '\n' &&
		    buf_addc(&out, '\n') < 0) ||
		    buf_addf(&out, "%s:%s\n", user, hash) < 0)
			goto toobig;
	}
	ret = passwd_replace_file(path, &out, old, &st);
	goto done;
toobig:
	errno = EFBIG;
	passwd_log_errno("file too large", path);
	ret = PASSWD_IOERR;
done:
	saved = errno;
	passwd_buf_wipe(&file);
	passwd_buf_wipe(&out);
	close(lockfd);
	errno = saved;
	return ret;
}

enum passwd_result
passwd_set(const char *path, const char *user, const char *hash,
    bool replace)
{
	return passwd_edit(path, user, hash,
	    replace ? PASSWD_OP_REPLACE : PASSWD_OP_ADD);
}

enum passwd_result
passwd_delete(const char *path, const char *user)
{
	return passwd_edit(path, user, NULL, PASSWD_OP_DELETE);
}

enum passwd_result
passwd_list(const char *path, passwd_list_cb *cb, void *ctx)
{
	struct buf file = BUF_INITIALIZER(PASSWD_FILE_MAX);
	char name[PASSWD_USER_MAX + 1];
	const char *line;
	size_t off = 0, len, ulen;

	if (passwd_read(path, &file) < 0) {
		if (errno == ENOENT) {
			passwd_buf_wipe(&file);
			return PASSWD_OK;
		}
		passwd_log_errno("cannot read", path);
		passwd_buf_wipe(&file);
		return PASSWD_IOERR;
	}
	while (passwd_next_line(&file, &off, &line, &len)) {
		ulen = passwd_line_user(line, len);
		if (ulen == 0 || ulen > PASSWD_USER_MAX)
			continue;
		memcpy(name, line, ulen);
		name[ulen] = '\0';
		if (passwd_valid_user(name))
			cb(ctx, name);
	}
	passwd_buf_wipe(&file);
	return PASSWD_OK;
}
