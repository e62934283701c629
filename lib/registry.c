/*
 * registry.c: the session registry and the fault files under DATA_DIR/run
 * (see registry.h for the layout). Plain files, so that refimapctl needs
 * no connection to the server and a session that dies leaves at worst a
 * stale file that the next reader removes.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "num.h"
#include "registry.h"
#include "xalloc.h"

#define REGISTRY_FILE_MAX	4096

static const char *const registry_subdirs[] = {
	"run", "run/sessions", "run/faults", "run/actions",
};

/* DATA_DIR/SUB/NAME into out; -1 (ENAMETOOLONG) when it does not fit. */
static int
registry_path(char *out, size_t outlen, const char *data_dir,
    const char *sub, const char *name)
{
	int n = snprintf(out, outlen, "%s/%s%s%s", data_dir, sub,
	    name != NULL ? "/" : "", name != NULL ? name : "");

	if (n < 0 || (size_t)n >= outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
registry_mkdirs(const char *data_dir)
{
	char path[4096];
	size_t i;

	for (i = 0; i < sizeof(registry_subdirs) /
	    sizeof(registry_subdirs[0]); i++) {
		if (registry_path(path, sizeof(path), data_dir,
		    registry_subdirs[i], NULL) < 0)
			return -1;
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -1;
	}
	return 0;
}

unsigned long long
registry_proc_start(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long v = 0;
	ssize_t n;
	int fd, field;

	if (snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid) < 0 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* The command name may hold anything: fields count from its ')'. */
	if ((p = strrchr(buf, ')')) == NULL)
		return 0;
	/* After ')' come field 3 (state) ... field 22 (starttime). */
	for (field = 2; *p != '\0' && field < 22; p++) {
		if (*p == ' ')
			field++;
	}
	while (*p >= '0' && *p <= '9')
		v = v * 10 + (unsigned long long)(*p++ - '0');
	return v;
}

/* Copies text into a fixed field, replacing anything unprintable. */
static void
registry_copy(char *dst, size_t dstlen, const char *src)
{
	size_t i;

	for (i = 0; src[i] != '\0' && i + 1 < dstlen; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	dst[i] = '\0';
}

/* Writes buf to path through a temporary file and rename. */
static int
registry_put_file(const char *path, const char *buf, size_t len)
{
	char tmp[4200];
	int fd, saved;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd < 0)
		return -1;
	if (write(fd, buf, len) != (ssize_t)len || close(fd) < 0) {
		saved = errno;
		(void)unlink(tmp);
		errno = saved != 0 ? saved : EIO;
		return -1;
	}
	if (rename(tmp, path) < 0) {
		saved = errno;
		(void)unlink(tmp);
		errno = saved;
		return -1;
	}
	return 0;
}

int
registry_write(const char *data_dir, const struct registry_entry *e)
{
	char path[4096], name[32], buf[REGISTRY_FILE_MAX];
	char user[sizeof(e->user)], peer[sizeof(e->peer)];
	char mbox[sizeof(e->mailbox)], state[sizeof(e->state)];
	int n;

	registry_copy(user, sizeof(user), e->user);
	registry_copy(peer, sizeof(peer), e->peer);
	registry_copy(state, sizeof(state), e->state);
	registry_copy(mbox, sizeof(mbox), e->mailbox);
	(void)snprintf(name, sizeof(name), "%ld", (long)e->pid);
	if (registry_path(path, sizeof(path), data_dir, "run/sessions",
	    name) < 0)
		return -1;
	n = snprintf(buf, sizeof(buf), "pid=%ld\nstart=%llu\nuser=%s\n"
	    "peer=%s\nstate=%s\nmailbox=%s\n", (long)e->pid, e->start, user,
	    peer, state, mbox);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		errno = EOVERFLOW;
		return -1;
	}
	return registry_put_file(path, buf, (size_t)n);
}

void
registry_touch(const char *data_dir, pid_t pid)
{
	char path[4096], name[32];

	(void)snprintf(name, sizeof(name), "%ld", (long)pid);
	if (registry_path(path, sizeof(path), data_dir, "run/sessions",
	    name) == 0)
		(void)utimensat(AT_FDCWD, path, NULL, 0);
}

void
registry_remove(const char *data_dir, pid_t pid)
{
	char path[4096], name[32];

	(void)snprintf(name, sizeof(name), "%ld", (long)pid);
	if (registry_path(path, sizeof(path), data_dir, "run/sessions",
	    name) == 0)
		(void)unlink(path);
	if (registry_path(path, sizeof(path), data_dir, "run/actions",
	    name) == 0)
		(void)unlink(path);
}

/* Reads a small file into buf (NUL-terminated). 0, or -1 with errno. */
static int
registry_get_file(int fd, char *buf, size_t buflen)
{
	size_t len = 0;
	ssize_t n;

	while (len + 1 < buflen) {
		n = pread(fd, buf + len, buflen - 1 - len, (off_t)len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return 0;
}

/* The value of "key=" in a "key=value" text, copied into out. */
static bool
registry_field(const char *text, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key);
	const char *p = text;

	while (*p != '\0') {
		const char *eol = strchr(p, '\n');
		size_t len = eol != NULL ? (size_t)(eol - p) : strlen(p);

		if (len > klen && memcmp(p, key, klen) == 0 && p[klen] == '=') {
			size_t vlen = len - klen - 1;

			if (vlen >= outlen)
				vlen = outlen - 1;
			memcpy(out, p + klen + 1, vlen);
			out[vlen] = '\0';
			return true;
		}
		if (eol == NULL)
			break;
		p = eol + 1;
	}
	if (outlen > 0)
		out[0] = '\0';
	return false;
}

/* Parses one session file; false if it is malformed. */
static bool
registry_parse(const char *text, struct registry_entry *e)
{
	char num[32];
	uint64_t v;

	memset(e, 0, sizeof(*e));
	if (!registry_field(text, "pid", num, sizeof(num)) ||
	    !num_parse_u64((const uint8_t *)num, strlen(num), &v) || v == 0 ||
	    v > INT32_MAX)
		return false;
	e->pid = (pid_t)v;
	if (registry_field(text, "start", num, sizeof(num)) &&
	    num_parse_u64((const uint8_t *)num, strlen(num), &v))
		e->start = v;
	(void)registry_field(text, "user", e->user, sizeof(e->user));
	(void)registry_field(text, "peer", e->peer, sizeof(e->peer));
	(void)registry_field(text, "state", e->state, sizeof(e->state));
	(void)registry_field(text, "mailbox", e->mailbox, sizeof(e->mailbox));
	return e->user[0] != '\0';
}

/* Whether the entry's process is still the one that wrote it. */
static bool
registry_alive(const struct registry_entry *e)
{
	unsigned long long now;

	if (kill(e->pid, 0) < 0 && errno == ESRCH)
		return false;
	if (e->start != 0 && (now = registry_proc_start(e->pid)) != 0 &&
	    now != e->start)
		return false;	/* the pid was reused */
	return true;
}

static int
registry_pid_cmp(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

int
registry_list(const char *data_dir, registry_cb *cb, void *ctx)
{
	char dir[4096], path[4200], text[REGISTRY_FILE_MAX];
	long *pids = NULL;
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	DIR *d;
	int ret = 0;

	if (registry_path(dir, sizeof(dir), data_dir, "run/sessions",
	    NULL) < 0)
		return -1;
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		uint32_t v;

		/* Only the all-digit names: temporary files end in .tmp. */
		if (!num_parse_u32_str(de->d_name, &v) || v == 0)
			continue;
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			pids = xreallocarray(pids, cap, sizeof(*pids));
		}
		pids[n++] = (long)v;
	}
	closedir(d);
	if (n > 1)
		qsort(pids, n, sizeof(*pids), registry_pid_cmp);
	for (i = 0; i < n && ret == 0; i++) {
		struct registry_entry e;
		struct stat sb;
		int fd;

		if (snprintf(path, sizeof(path), "%s/%ld", dir, pids[i]) < 0 ||
		    (fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
			continue;
		if (fstat(fd, &sb) < 0 || registry_get_file(fd, text,
		    sizeof(text)) < 0) {
			close(fd);
			continue;
		}
		close(fd);
		if (!registry_parse(text, &e) || e.pid != (pid_t)pids[i] ||
		    !registry_alive(&e)) {
			registry_remove(data_dir, (pid_t)pids[i]);
			continue;
		}
		e.last = sb.st_mtime;
		ret = cb(ctx, &e);
	}
	free(pids);
	return 0;
}

/* ---- faults ---- */

static void
registry_fault_parse(const char *text, struct registry_fault *f)
{
	char num[32];
	uint32_t v;

	memset(f, 0, sizeof(*f));
	if (registry_field(text, "delay_ms", num, sizeof(num)) &&
	    num_parse_u32_str(num, &v))
		f->delay_ms = v;
	if (registry_field(text, "no", num, sizeof(num)) &&
	    num_parse_u32_str(num, &v))
		f->no = v;
	(void)registry_field(text, "code", f->code, sizeof(f->code));
}

static int
registry_fault_open(const char *data_dir, const char *user, bool create,
    int lock)
{
	char path[4096];
	int fd;

	if (user[0] == '\0' || user[0] == '.' || strchr(user, '/') != NULL) {
		errno = EINVAL;
		return -1;
	}
	if (registry_path(path, sizeof(path), data_dir, "run/faults",
	    user) < 0)
		return -1;
	for (;;) {
		struct stat a, b;

		fd = open(path, (create ? O_RDWR | O_CREAT : O_RDONLY) |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return -1;
		while (flock(fd, lock) < 0) {
			if (errno != EINTR) {
				int saved = errno;

				close(fd);
				errno = saved;
				return -1;
			}
		}
		/* The holder before us may have removed the file: then
		 * this lock guards nothing, open it again. */
		if (fstat(fd, &a) < 0)
			return fd;
		if (stat(path, &b) < 0) {
			if (errno != ENOENT)
				return fd;
			close(fd);
			if (!create) {
				errno = ENOENT;
				return -1;
			}
			continue;
		}
		if (a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			return fd;
		close(fd);
	}
}

int
registry_fault_read(const char *data_dir, const char *user,
    struct registry_fault *f)
{
	char text[REGISTRY_FILE_MAX];
	int fd, r;

	memset(f, 0, sizeof(*f));
	fd = registry_fault_open(data_dir, user, false, LOCK_SH);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	r = registry_get_file(fd, text, sizeof(text));
	close(fd);
	if (r < 0)
		return -1;
	registry_fault_parse(text, f);
	return 0;
}

int
registry_fault_update(const char *data_dir, const char *user,
    registry_fault_fn *fn, void *ctx)
{
	char text[REGISTRY_FILE_MAX], path[4096];
	struct registry_fault f;
	int fd, n, ret = 0;

	fd = registry_fault_open(data_dir, user, true, LOCK_EX);
	if (fd < 0)
		return -1;
	if (registry_get_file(fd, text, sizeof(text)) < 0) {
		close(fd);
		return -1;
	}
	registry_fault_parse(text, &f);
	if (!fn(ctx, &f) && text[0] != '\0') {
		close(fd);
		return 0;
	}
	f.code[sizeof(f.code) - 1] = '\0';
	/* All zero (or nothing asked of a file we just made): it goes. */
	if (f.delay_ms == 0 && f.no == 0) {
		/* Nothing left: the file goes (while we hold the lock, so a
		 * writer that opened it meanwhile finds it on its next open,
		 * and one that raced writes a fresh one). */
		if (registry_path(path, sizeof(path), data_dir, "run/faults",
		    user) == 0)
			(void)unlink(path);
		close(fd);
		return 0;
	}
	n = snprintf(text, sizeof(text), "delay_ms=%u\nno=%u\ncode=%s\n",
	    f.delay_ms, f.no, f.code);
	if (n < 0 || (size_t)n >= sizeof(text) || ftruncate(fd, 0) < 0 ||
	    pwrite(fd, text, (size_t)n, 0) != n)
		ret = -1;
	if (close(fd) < 0)
		ret = -1;
	return ret;
}

/* ---- one-shot orders ---- */

int
registry_action_put(const char *data_dir, pid_t pid, const char *action)
{
	char path[4096], name[32];

	(void)snprintf(name, sizeof(name), "%ld", (long)pid);
	if (registry_path(path, sizeof(path), data_dir, "run/actions",
	    name) < 0)
		return -1;
	return registry_put_file(path, action, strlen(action));
}

bool
registry_action_take(const char *data_dir, pid_t pid, char *out,
    size_t outlen)
{
	char path[4096], name[32];
	int fd, r;

	(void)snprintf(name, sizeof(name), "%ld", (long)pid);
	if (registry_path(path, sizeof(path), data_dir, "run/actions",
	    name) < 0)
		return false;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return false;
	r = registry_get_file(fd, out, outlen);
	close(fd);
	(void)unlink(path);
	return r == 0;
}
